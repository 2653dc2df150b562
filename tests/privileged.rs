//! Privileged containers (`docker run --privileged`, `podman run --privileged`): the
//! config lists every host device (`/dev/ptmx` too, where the devpts mount already made
//! the `pts/ptmx` symlink) and every capability the client knows. A capability the
//! runtime's own bounding set lacks cannot be granted by anyone: nucleus warns and skips
//! it (runc fails the container), and reads back the reduced sets. Docker's side is in
//! tests/docker.rs. Needs root; capsh (libcap2-bin) and podman are installed by .ci/run.

mod common;
use common::bundle::Bundle;
use common::*;
use std::process::Command;

const SYS_RESOURCE: u64 = 1 << 24;

fn own_bounding() -> u64 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    status_caps(&st)["CapBnd"]
}

/// A bundle configured as Docker configures `--privileged`: all capabilities, every
/// device allowed, the given host devices listed.
fn privileged_bundle(tag: &str, script: &str, devices: serde_json::Value) -> Bundle {
    let b = Bundle::new(tag, &["sh", "-c", script]);
    b.edit(|c| {
        // Every capability name up to CAP_CHECKPOINT_RESTORE (40), as a privileged config
        // lists them; those beyond this kernel's cap_last_cap are skipped as unknown.
        let all: Vec<&str> = nucleus::caps::Capability::all().map(|c| c.name()).collect();
        let all = serde_json::json!(all);
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": all, "effective": all, "permitted": all,
        });
        c["linux"]["devices"] = devices;
        c["linux"]["resources"]["devices"] = serde_json::json!([{"allow": true, "access": "rwm"}]);
    });
    b
}

#[test]
fn privileged_config_gets_host_devices_and_the_runtimes_own_bounding_set() {
    if !privileged("privileged_config_gets_host_devices_and_the_runtimes_own_bounding_set") {
        return;
    }
    if Command::new("capsh").arg("--help").output().is_err() {
        panic!("capsh is not installed: .ci/run installs libcap2-bin");
    }
    let b = privileged_bundle(
        "priv-caps",
        "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status; \
         stat -c '%F %t:%T' /dev/kmsg /dev/null; readlink /dev/ptmx",
        serde_json::json!([
            {"path": "/dev/ptmx", "type": "c", "major": 5, "minor": 2, "fileMode": 438},
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 438},
        ]),
    );
    // nucleus runs with CAP_SYS_RESOURCE dropped from its own bounding set (as on hosts
    // whose sessions lack it), whatever this machine's set is.
    let script = format!(
        "exec {NUCLEUS} --root {} run -b {} p1",
        b.root().display(),
        b.bundle().display()
    );
    let o = Command::new("capsh")
        .args(["--drop=cap_sys_resource", "--", "-c", &script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let want = own_bounding() & !SYS_RESOURCE;
    let caps = status_caps(&stdout(&o));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(caps[set], want, "{set}: {}", stdout(&o));
    }
    assert!(
        stderr(&o).contains("capabilities CAP_SYS_RESOURCE skipped"),
        "{}",
        stderr(&o)
    );
    let out = stdout(&o);
    let rest: Vec<&str> = out.lines().skip(3).collect();
    assert_eq!(
        rest,
        [
            "character special file 1:b",
            "character special file 1:3",
            "pts/ptmx"
        ]
    );
}

#[test]
fn a_different_file_at_a_listed_device_is_still_refused() {
    if !privileged("a_different_file_at_a_listed_device_is_still_refused") {
        return;
    }
    // /dev/null is bound from the host (c 1:3): a config asking for c 1:5 there is wrong.
    let b = privileged_bundle(
        "priv-clash",
        "true",
        serde_json::json!([{"path": "/dev/null", "type": "c", "major": 1, "minor": 5}]),
    );
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "p2"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("linux.devices /dev/null: a different file is already there"),
        "{}",
        stderr(&o)
    );
    // /dev/ptmx with other numbers than the ptmx device does not pass for the symlink.
    let b = privileged_bundle(
        "priv-ptmx",
        "true",
        serde_json::json!([{"path": "/dev/ptmx", "type": "c", "major": 1, "minor": 5}]),
    );
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "p3"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("linux.devices /dev/ptmx: a different file is already there"),
        "{}",
        stderr(&o)
    );
}

/// `podman run --runtime nucleus --privileged`: Podman lists the host's devices and the
/// capabilities of its own bounding set.
#[test]
fn podman_privileged_runs_through_nucleus() {
    if !privileged("podman_privileged_runs_through_nucleus") {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        panic!("podman is not installed: .ci/run installs it");
    }
    let p = Podman::new();
    let o = p.run(
        &["--privileged"],
        "grep -E '^Cap(Eff|Bnd)' /proc/self/status; stat -c '%F %t:%T' /dev/kmsg; \
         readlink /dev/ptmx; mkdir -p /m; mount -t tmpfs none /m && echo mounted",
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let caps = status_caps(&out);
    assert_eq!(caps["CapBnd"], own_bounding(), "{out}");
    assert_eq!(caps["CapEff"], own_bounding(), "{out}");
    let rest: Vec<&str> = out.lines().skip(2).collect();
    assert_eq!(rest, ["character special file 1:b", "pts/ptmx", "mounted"]);
    // With a terminal too.
    let o = p.run(&["--privileged", "-t"], "tty");
    assert_eq!(
        stdout(&o).replace('\r', ""),
        "/dev/pts/0\n",
        "{}",
        stderr(&o)
    );
}

/// A busybox image imported into Podman, removed afterwards with every container and
/// anything Podman's cgroupfs manager and nucleus' default --root left because of it.
struct Podman {
    image: String,
    tmp: TempDir,
    root_existed: bool,
    libpod_cgroups: Vec<std::path::PathBuf>,
}

impl Podman {
    fn new() -> Podman {
        let tmp = TempDir::new("podman-priv");
        let tar = busybox_tar(&tmp);
        let image = format!("localhost/nucleus-priv-{}:latest", std::process::id());
        let o = Command::new("podman")
            .args(["import", "-q"])
            .arg(&tar)
            .arg(&image)
            .output()
            .unwrap();
        assert!(o.status.success(), "podman import: {}", stderr(&o));
        let libpod_cgroups = std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .chain([std::path::PathBuf::from("/sys/fs/cgroup")])
            .filter(|r| r.join("cgroup.procs").exists())
            .map(|r| r.join("libpod_parent"))
            .filter(|d| !d.exists())
            .collect();
        Podman {
            image,
            tmp,
            root_existed: std::path::Path::new("/run/nucleus").exists(),
            libpod_cgroups,
        }
    }

    /// `podman run --rm OPTS… IMAGE sh -c SCRIPT` with nucleus. This VM's sessions lack
    /// CAP_SYS_RESOURCE, so the rlimits Podman would raise are given explicitly.
    fn run(&self, opts: &[&str], script: &str) -> std::process::Output {
        Command::new("podman")
            .current_dir(&self.tmp.0)
            .arg("--runtime")
            .arg(NUCLEUS)
            .args(["run", "--rm", "--ulimit", "nofile=1024:1024"])
            .args(["--ulimit", "nproc=4096:4096"])
            .args(opts)
            .args([&self.image, "sh", "-c", script])
            .output()
            .unwrap()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
        if !self.root_existed {
            // Empty once every container is removed; remove_dir refuses otherwise.
            let _ = std::fs::remove_dir("/run/nucleus");
        }
        for d in self.libpod_cgroups.iter().filter(|d| d.exists()) {
            for _ in 0..50 {
                let _ = std::fs::remove_dir(d.join("conmon"));
                if std::fs::remove_dir(d).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}
