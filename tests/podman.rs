//! Podman drives nucleus as its OCI runtime (`podman --runtime nucleus`), on a busybox image
//! made offline with `podman import`. Needs root and podman (installed by .ci/run).

mod common;
use common::*;
use std::process::{Command, Output};

struct Podman {
    image: String,
    containers: std::cell::RefCell<Vec<String>>,
    _tmp: TempDir,
    /// Podman runs nucleus with its default --root: removed afterwards unless it was there.
    root_existed: bool,
    /// The `libpod_parent` cgroups (conmon's, left by Podman's cgroupfs manager) this test
    /// makes appear: removed afterwards.
    libpod_cgroups: Vec<std::path::PathBuf>,
}

/// `libpod_parent` in every mounted cgroup hierarchy (v1 controllers and the v2 root).
fn libpod_parent_dirs() -> Vec<std::path::PathBuf> {
    let base = std::path::Path::new("/sys/fs/cgroup");
    let mut roots = vec![base.to_path_buf()];
    for e in std::fs::read_dir(base).unwrap().flatten() {
        roots.push(e.path());
    }
    roots
        .into_iter()
        .filter(|r| r.join("cgroup.procs").exists())
        .map(|r| r.join("libpod_parent"))
        .collect()
}

impl Podman {
    fn new() -> Option<Podman> {
        if Command::new("podman").arg("--version").output().is_err() {
            panic!("podman is not installed: .ci/run installs it");
        }
        let tmp = TempDir::new("podman");
        let root = tmp.path("img");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox");
        copy_file(bb, root.join("bin/busybox"));
        let list = Command::new(bb).arg("--list").output().unwrap();
        for app in String::from_utf8_lossy(&list.stdout).lines() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(app));
        }
        let tar = tmp.path("img.tar");
        assert!(Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success());
        let image = format!("localhost/nucleus-test-{}:latest", std::process::id());
        let o = Command::new("podman")
            .args(["import", "-q"])
            .arg(&tar)
            .arg(&image)
            .output()
            .unwrap();
        assert!(o.status.success(), "podman import: {}", stderr(&o));
        Some(Podman {
            image,
            containers: Default::default(),
            _tmp: tmp,
            root_existed: std::path::Path::new("/run/nucleus").exists(),
            libpod_cgroups: libpod_parent_dirs()
                .into_iter()
                .filter(|d| !d.exists())
                .collect(),
        })
    }

    fn podman(&self, args: &[&str]) -> Output {
        // In the test's own directory: conmon writes an `oom` file into its working
        // directory when a container is OOM-killed (it once landed in the repository).
        Command::new("podman")
            .current_dir(&self._tmp.0)
            .arg("--runtime")
            .arg(NUCLEUS)
            .args(args)
            .output()
            .unwrap()
    }

    /// `podman run --rm` with the given options and command. This VM's sessions lack
    /// CAP_SYS_RESOURCE, so Podman's default of raising nofile/nproc cannot work here (for
    /// runc either): the limits are given explicitly.
    fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        let mut a = vec![
            "run",
            "--rm",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
        ];
        a.extend_from_slice(opts);
        a.push(&self.image);
        a.extend_from_slice(cmd);
        self.podman(&a)
    }

    fn detached(&self, cmd: &[&str]) -> String {
        let mut a = vec![
            "run",
            "-d",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            &self.image,
        ];
        a.extend_from_slice(cmd);
        let o = self.podman(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let id = stdout(&o).trim().to_string();
        self.containers.borrow_mut().push(id.clone());
        id
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in self.containers.borrow().iter() {
            let _ = self.podman(&["rm", "-f", "-t", "0", c]);
        }
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
        if !self.root_existed {
            // Empty once every container is removed; remove_dir refuses otherwise.
            let _ = std::fs::remove_dir("/run/nucleus");
        }
        // conmon exits once its container is removed; a cgroup with a process in it cannot
        // be removed yet, so give it a moment.
        for d in self.libpod_cgroups.iter().filter(|d| d.exists()) {
            for _ in 0..50 {
                let _ = std::fs::remove_dir(d.join("conmon"));
                if std::fs::remove_dir(d).is_ok() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if d.exists() {
                eprintln!("podman test: could not remove {}", d.display());
            }
        }
    }
}

#[test]
fn podman_runs_containers_through_nucleus() {
    if !privileged("podman_runs_containers_through_nucleus") {
        return;
    }
    let p = Podman::new().unwrap();
    // Exit codes.
    assert_eq!(p.run(&[], &["sh", "-c", "exit 9"]).status.code(), Some(9));
    let o = p.run(&[], &["echo", "hello"]);
    assert_eq!(stdout(&o), "hello\n", "{}", stderr(&o));
    // -t: conmon receives the pty master over the console socket.
    let o = p.run(&["-t"], &["sh", "-c", "tty; test -t 1 && echo out-is-tty"]);
    assert_eq!(
        stdout(&o).replace('\r', ""),
        "/dev/pts/0\nout-is-tty\n",
        "{}",
        stderr(&o)
    );
    // Capabilities: Podman's default set, then --cap-drop/--cap-add.
    let eff = |opts: &[&str]| -> u64 {
        let out = stdout(&p.run(opts, &["grep", "CapEff", "/proc/self/status"]));
        u64::from_str_radix(out.split_whitespace().nth(1).expect("CapEff line"), 16).unwrap()
    };
    let base = eff(&[]);
    let (chown, net_raw, sys_admin) = (1u64 << 0, 1u64 << 13, 1u64 << 21);
    assert_ne!(base & chown, 0);
    assert_eq!(base & sys_admin, 0);
    assert_eq!(eff(&["--cap-drop", "chown"]), base & !chown);
    assert_eq!(
        eff(&["--cap-add", "sys_admin", "--cap-add", "net_raw"]),
        base | sys_admin | net_raw
    );
    // --user
    assert_eq!(
        stdout(&p.run(&["--user", "1000:1000"], &["id"])),
        "uid=1000 gid=1000 groups=1000\n"
    );
    // --security-opt no-new-privileges
    let nnp = |opts: &[&str]| stdout(&p.run(opts, &["grep", "NoNewPrivs", "/proc/self/status"]));
    assert_eq!(
        nnp(&["--security-opt", "no-new-privileges"]),
        "NoNewPrivs:\t1\n"
    );
    assert_eq!(nnp(&[]), "NoNewPrivs:\t0\n");
    // --read-only (with Podman's tmpcopyup tmpfs mounts at /tmp and /run)
    let o = p.run(
        &["--read-only"],
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo wrote-root; touch /tmp/y && echo tmp-ok",
        ],
    );
    assert_eq!(stdout(&o), "tmp-ok\n", "{}", stderr(&o));
    // --pids-limit: the fork loop fails at the limit, and succeeds without it.
    let bomb = [
        "sh",
        "-c",
        "for i in $(seq 40); do (sleep 2) & done; echo forked",
    ];
    let o = p.run(&["--pids-limit", "10"], &bomb);
    assert!(
        !o.status.success() && !stdout(&o).contains("forked"),
        "{}",
        stdout(&o)
    );
    assert_eq!(stdout(&p.run(&["--pids-limit", "100"], &bomb)), "forked\n");
    // --memory: a 100 MB buffer is OOM-killed at 32m (the OOM killer may take the shell
    // with it: the status is 137 either way), and survives at 256m.
    let hog = ["sh", "-c", "head -c 100000000 /dev/zero | tail > /dev/null"];
    assert_eq!(p.run(&["--memory", "32m"], &hog).status.code(), Some(137));
    assert_eq!(p.run(&["--memory", "256m"], &hog).status.code(), Some(0));

    // Detached, then exec, stop, kill, rm.
    let c = p.detached(&["sleep", "300"]);
    let o = p.podman(&["exec", &c, "sh", "-c", "echo in-exec; exit 6"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-exec\n");
    assert_eq!(
        stdout(&p.podman(&["exec", "--user", "1000:1000", &c, "id", "-u"])),
        "1000\n"
    );
    let o = p.podman(&["stop", "-t", "1", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let state = stdout(&p.podman(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        &c,
    ]));
    assert_eq!(
        state.trim(),
        "exited 137",
        "sleep ignores TERM as PID 1: stop escalates to KILL"
    );
    assert!(p.podman(&["rm", &c]).status.success());
    let c2 = p.detached(&["sleep", "300"]);
    assert!(p.podman(&["kill", &c2]).status.success());
    let o = p.podman(&["wait", &c2]);
    assert_eq!(stdout(&o).trim(), "137");
    assert!(p.podman(&["rm", &c2]).status.success());
    // Nothing of these containers is left in nucleus's state.
    let o = p.podman(&["ps", "-a", "-q"]);
    for id in [&c, &c2] {
        assert!(!stdout(&o).contains(&id[..12]), "{id} still listed");
    }
}
