//! containerd drives nucleus through its runc shim (`ctr run --runc-binary nucleus`), the
//! path Kubernetes takes. Each test starts a private containerd (its own root, state and
//! socket in a temp dir) and stops it, its shims and its mounts afterwards, even on failure.
//! Needs root and containerd (installed by .ci/run).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The capabilities containerd's default spec grants (`ctr run` with no options): chown,
/// dac_override, fowner, fsetid, kill, setgid, setuid, setpcap, net_bind_service, net_raw,
/// sys_chroot, mknod, audit_write, setfcap.
const CONTAINERD_DEFAULT_CAPS: u64 = 0x0000_0000_a804_25fb;

/// The tests share /run/containerd (shim sockets, fifos, runc state): one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Containerd {
    daemon: Child,
    /// Whether /run/containerd existed before: if not, cleanup removes it.
    run_dir_existed: bool,
    _serial: std::sync::MutexGuard<'static, ()>,
    sock: PathBuf,
    ids: Vec<String>,
    tmp: TempDir,
}

impl Containerd {
    fn start(tag: &str) -> Containerd {
        if Command::new("containerd")
            .arg("--version")
            .output()
            .is_err()
        {
            panic!("containerd is not installed: .ci/run installs it");
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let run_dir_existed = Path::new("/run/containerd").exists();
        let tmp = TempDir::new(tag);
        let sock = tmp.path("c.sock");
        let config = tmp.path("config.toml");
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = {:?}\nstate = {:?}\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = {:?}\n[ttrpc]\n  address = {:?}\n\
                 [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
                tmp.path("root"),
                tmp.path("state"),
                sock,
                tmp.path("c.sock.ttrpc"),
            ),
        )
        .unwrap();
        let log = std::fs::File::create(tmp.path("containerd.log")).unwrap();
        let daemon = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            daemon,
            run_dir_existed,
            _serial: serial,
            sock,
            ids: Vec::new(),
            tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(c.sock.exists() && c.ctr(&["version"]).status.success()) {
            assert!(
                Instant::now() < deadline,
                "containerd did not come up: {}",
                std::fs::read_to_string(c.tmp.path("containerd.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    /// A unique container id, remembered so that cleanup can remove its state.
    fn id(&mut self, name: &str) -> String {
        let id = format!("nucleus-{name}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// A busybox rootfs for `ctr run --rootfs`.
    fn rootfs(&self) -> PathBuf {
        let root = self.tmp.path("rootfs");
        if !root.exists() {
            std::fs::create_dir_all(root.join("bin")).unwrap();
            let bb = ["/bin/busybox", "/usr/bin/busybox"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .expect("busybox-static is installed by .ci/run");
            copy_file(bb, root.join("bin/busybox"));
            for c in ["sh", "sleep", "cat", "echo", "grep", "true"] {
                std::os::unix::fs::symlink("busybox", root.join("bin").join(c)).unwrap();
            }
        }
        root
    }

    /// Runs `ctr --address SOCK ARGS…` with a 60 s limit.
    fn ctr(&self, args: &[&str]) -> Output {
        self.try_ctr(args)
            .unwrap_or_else(|| panic!("ctr {args:?} did not finish in 60 s"))
    }

    /// `ctr`, or None when it did not finish in 60 s (it is killed then).
    fn try_ctr(&self, args: &[&str]) -> Option<Output> {
        let mut child = Command::new("ctr")
            .arg("--address")
            .arg(&self.sock)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while child.try_wait().ok()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().ok()
    }

    /// `ctr run` with nucleus as the runtime.
    fn run(&self, opts: &[&str], id: &str, cmd: &[&str]) -> Output {
        let rootfs = self.rootfs();
        // `--rootfs` is a flag: the directory takes the image's place after the options.
        let mut a = vec!["run", "--runc-binary", NUCLEUS, "--rootfs"];
        a.extend_from_slice(opts);
        a.push(rootfs.to_str().unwrap());
        a.push(id);
        a.extend_from_slice(cmd);
        self.ctr(&a)
    }

    /// The task's status column in `ctr task ls` (RUNNING, PAUSED, STOPPED…).
    fn task_status(&self, id: &str) -> Option<String> {
        let o = self.ctr(&["task", "ls"]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| f.last().unwrap().to_string())
        })
    }

    fn wait_status(&self, id: &str, want: &str) -> bool {
        (0..250).any(|_| {
            let s = self.task_status(id);
            if s.as_deref() != Some(want) {
                std::thread::sleep(Duration::from_millis(20));
            }
            s.as_deref() == Some(want)
        })
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Never panic here (a second panic aborts without cleaning): a paused task is
        // resumed first, since a frozen process cannot die.
        for id in self.ids.clone() {
            let _ = self.try_ctr(&["task", "resume", &id]);
            let _ = self.try_ctr(&["task", "kill", "-s", "KILL", &id]);
            let _ = self.try_ctr(&["task", "rm", "-f", &id]);
            let _ = self.try_ctr(&["container", "rm", &id]);
        }
        // Shims this daemon started name its socket on their command line.
        let sock = self.sock.to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args
                .first()
                .is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"))
                && args.contains(&sock.as_bytes())
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // Anything containerd left mounted under the temp dir goes before the dir does.
        let base = self.tmp.0.to_string_lossy().into_owned();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut left: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&base))
            .collect();
        left.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in left {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        // The runc shim keeps runtime state under /run/containerd/runc/<namespace>.
        for id in &self.ids {
            let _ = std::fs::remove_dir_all(Path::new("/run/containerd/runc/default").join(id));
        }
        // ctr's fifos and the shims' sockets live under /run/containerd too.
        if !self.run_dir_existed {
            let _ = std::fs::remove_dir_all("/run/containerd");
        }
    }
}

/// No nucleus state, cgroup or mount is left for the container.
fn assert_gone(c: &Containerd, id: &str) {
    assert!(
        !Path::new("/run/containerd/runc/default").join(id).exists(),
        "state dir left behind"
    );
    for ctl in ["memory", "pids", "freezer"] {
        let p = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(format!("nucleus-{id}"));
        assert!(!p.exists(), "{} left behind", p.display());
    }
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let base = c.tmp.0.to_string_lossy().into_owned();
    assert!(
        !mounts.lines().any(|l| l.contains(&base) && l.contains(id)),
        "mount left behind:\n{mounts}"
    );
}

#[test]
fn ctr_run_propagates_output_exit_status_and_default_capabilities() {
    if !privileged("ctr_run_propagates_output_exit_status_and_default_capabilities") {
        return;
    }
    let mut c = Containerd::start("ctrd-run");
    let id = c.id("run");
    let o = c.run(
        &["--rm"],
        &id,
        &[
            "sh",
            "-c",
            "echo hello from nucleus; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; exit 7",
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(7), "{out}{}", stderr(&o));
    assert!(out.contains("hello from nucleus"), "{out}");
    let caps = status_caps(&out);
    assert_eq!(caps["CapEff"], CONTAINERD_DEFAULT_CAPS, "{out}");
    assert_eq!(caps["CapBnd"], CONTAINERD_DEFAULT_CAPS, "{out}");
    // --rm removed the task and the container.
    assert_eq!(c.task_status(&id), None);
    let list = stdout(&c.ctr(&["container", "ls", "-q"]));
    assert!(!list.lines().any(|l| l == id), "{list}");
    assert_gone(&c, &id);
}

#[test]
fn ctr_detached_task_exec_pause_resume_kill_and_remove() {
    if !privileged("ctr_detached_task_exec_pause_resume_kill_and_remove") {
        return;
    }
    let mut c = Containerd::start("ctrd-task");
    let id = c.id("task");
    let o = c.run(&["-d"], &id, &["sleep", "300"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(c.wait_status(&id, "RUNNING"));

    // The task's PID, as containerd reports it, is a real process running sleep whose
    // capabilities are the default set.
    let ls = stdout(&c.ctr(&["task", "ls"]));
    let pid: u32 = ls
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id.as_str())).then(|| f[1].parse().unwrap())
        })
        .expect("task listed");
    assert!(wait_for_comm(pid, "sleep"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_caps(&status)["CapEff"], CONTAINERD_DEFAULT_CAPS);

    // exec: a second process in the same container; its exit status comes back.
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "sh",
        "-c",
        "echo exec-ok; cat /proc/1/comm; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "exec-ok\nsleep\n");

    // pause/resume: the kernel's freezer state follows.
    let o = c.ctr(&["task", "pause", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(c.task_status(&id).as_deref(), Some("PAUSED"));
    let state = |p: u32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .unwrap()
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    // The task sits in the cgroup containerd asked for (cgroupsPath /<namespace>/<id>).
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("/default/{id}");
    let fz = cgroups
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string()))
        .expect("in a freezer cgroup");
    assert_eq!(fz, want, "{cgroups}");
    let freezer =
        std::fs::read_to_string(format!("/sys/fs/cgroup/freezer{want}/freezer.state")).unwrap();
    assert_eq!(freezer.trim(), "FROZEN");
    let o = c.ctr(&["task", "resume", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(c.task_status(&id).as_deref(), Some("RUNNING"));
    assert_eq!(state(pid), "S");

    // kill, then remove task and container: nothing is left.
    let o = c.ctr(&["task", "kill", "-s", "KILL", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(c.wait_status(&id, "STOPPED"));
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || state(pid) == "Z");
    let o = c.ctr(&["task", "rm", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = c.ctr(&["container", "rm", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_gone(&c, &id);
}

#[test]
fn ctr_run_of_a_missing_binary_fails_cleanly() {
    if !privileged("ctr_run_of_a_missing_binary_fails_cleanly") {
        return;
    }
    let mut c = Containerd::start("ctrd-bad");
    let id = c.id("bad");
    let o = c.run(&["--rm"], &id, &["/no/such/program"]);
    assert!(!o.status.success());
    // nucleus' one-line reason reaches the ctr user through the shim.
    let err = stderr(&o);
    assert!(err.contains("/no/such/program"), "{err}");
    // --rm removed the container record after the failed start.
    let list = stdout(&c.ctr(&["container", "ls", "-q"]));
    assert!(!list.lines().any(|l| l == id), "{list}");
    assert_eq!(c.task_status(&id), None);
    assert_gone(&c, &id);
}
