//! Podman drives nucleus as its OCI runtime (`podman --runtime nucleus`), on a busybox image
//! made offline with `podman import`, rootful and rootless. Every Podman here has its own
//! `--root`, `--runroot` and `--tmpdir` in a temporary directory (vfs storage, `--network
//! none`), so nothing touches the machine's Podman storage or networks. Needs root (the
//! rootless part switches to uid 1000 itself), podman, conmon and catatonit (installed with
//! podman by .ci/run), setpriv and unshare (util-linux).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `libpod_parent` in every mounted cgroup hierarchy (v1 controllers and the v2 root).
fn libpod_parent_dirs() -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
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

/// The user rootless Podman runs as: uid 1000 (the machine's, or one this test creates
/// and deletes), with a subordinate id range in /etc/subuid and /etc/subgid (added by the
/// test when the user has none, and the files restored byte for byte afterwards).
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    /// The user was made by this test (userdel afterwards).
    created: bool,
    /// The original /etc/subuid and /etc/subgid (None: the file did not exist), when the
    /// test changed them.
    restore: Vec<(&'static str, Option<String>)>,
    /// The first subordinate uid and gid, and how many.
    sub: (u32, u32, u32),
}

const SUB_COUNT: u32 = 65536;

impl TestUser {
    fn new() -> TestUser {
        let mut created = false;
        let user = match nix::unistd::User::from_uid(1000.into()).unwrap() {
            Some(u) => u,
            None => {
                let name = "nucleus-podman-test";
                let o = Command::new("useradd")
                    .args(["-u", "1000", "-U", "-M", "-s", "/usr/sbin/nologin", name])
                    .output()
                    .expect("run useradd");
                assert!(o.status.success(), "useradd: {}", stderr(&o));
                created = true;
                nix::unistd::User::from_name(name)
                    .unwrap()
                    .expect("new user")
            }
        };
        let mut u = TestUser {
            name: user.name.clone(),
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            created,
            restore: vec![],
            sub: (0, 0, SUB_COUNT),
        };
        let mut firsts = [0u32; 2];
        for (i, file) in ["/etc/subuid", "/etc/subgid"].into_iter().enumerate() {
            let orig = std::fs::read_to_string(file).ok();
            let text = orig.clone().unwrap_or_default();
            let mine = text.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() == 3 && (f[0] == u.name || f[0] == u.uid.to_string()))
                    .then(|| (f[1].parse::<u32>().ok(), f[2].parse::<u32>().ok()))
            });
            firsts[i] = match mine {
                Some((Some(first), Some(count))) if count >= SUB_COUNT => first,
                Some(_) => panic!(
                    "{file}: {}'s range is unreadable or under {SUB_COUNT}",
                    u.name
                ),
                None => {
                    // Above every range already given out.
                    let first = text
                        .lines()
                        .filter_map(|l| {
                            let f: Vec<&str> = l.split(':').collect();
                            Some(f.get(1)?.parse::<u32>().ok()? + f.get(2)?.parse::<u32>().ok()?)
                        })
                        .max()
                        .unwrap_or(0)
                        .max(100_000);
                    u.restore.push((file, orig));
                    let mut new = text.clone();
                    if !new.is_empty() && !new.ends_with('\n') {
                        new.push('\n');
                    }
                    new.push_str(&format!("{}:{first}:{SUB_COUNT}\n", u.name));
                    std::fs::write(file, new).unwrap();
                    set_mode(Path::new(file), 0o644);
                    first
                }
            };
        }
        u.sub = (firsts[0], firsts[1], SUB_COUNT);
        u
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for (file, orig) in self.restore.drain(..) {
            match orig {
                Some(text) => std::fs::write(file, text).unwrap(),
                None => std::fs::remove_file(file).unwrap(),
            }
        }
        if self.created {
            let o = Command::new("userdel").arg(&self.name).output().unwrap();
            assert!(o.status.success(), "userdel: {}", stderr(&o));
        }
    }
}

/// A private Podman: storage, run root and tmpdir in a temporary directory, the busybox
/// image imported there. Rootless when given a user: Podman then runs as that user (with
/// `HOME` and `XDG_RUNTIME_DIR` in the temporary directory) and starts nucleus as root in
/// its user namespace.
struct Podman {
    image: String,
    containers: std::cell::RefCell<Vec<String>>,
    pods: std::cell::RefCell<Vec<String>>,
    tmp: TempDir,
    /// --runroot: conmon's socket paths limit it to 50 characters, so it is a short
    /// directory of its own.
    runroot: TempDir,
    user: Option<(u32, u32, String)>,
    /// nucleus's default --root (Podman passes none): removed afterwards unless it was
    /// there.
    root_existed: bool,
    /// The `libpod_parent` cgroups (conmon's, left by Podman's cgroupfs manager) this test
    /// makes appear: removed afterwards.
    libpod_cgroups: Vec<PathBuf>,
    /// Podman runs one test at a time: this VM has two cores, and a container start under
    /// load must not be what a test measures. Last: released after everything is removed.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Podman {
    fn new() -> Podman {
        Podman::with_user(None)
    }

    fn rootless(u: &TestUser) -> Podman {
        Podman::with_user(Some((u.uid, u.gid, u.name.clone())))
    }

    fn with_user(user: Option<(u32, u32, String)>) -> Podman {
        if Command::new("podman").arg("--version").output().is_err() {
            panic!("podman is not installed: .ci/run installs it");
        }
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = TempDir::new("podman");
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let runroot = TempDir(std::env::temp_dir().join(format!("np{}-{n}", std::process::id())));
        std::fs::create_dir(&runroot.0).unwrap();
        if let Some((uid, gid, _)) = &user {
            std::os::unix::fs::chown(&runroot.0, Some(*uid), Some(*gid)).unwrap();
        }
        // This VM's sessions lack CAP_SYS_RESOURCE, so Podman's default of raising
        // nofile/nproc cannot work here (for runc either): the limits are configured for
        // every container, a pod's infra container too.
        std::fs::write(
            tmp.path("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n",
        )
        .unwrap();
        for d in ["storage", "libpod", "home", "xdg"] {
            std::fs::create_dir(tmp.path(d)).unwrap();
            if let Some((uid, gid, _)) = &user {
                std::os::unix::fs::chown(tmp.path(d), Some(*uid), Some(*gid)).unwrap();
            }
        }
        set_mode(&tmp.path("xdg"), 0o700);
        let tar = busybox_tar(&tmp);
        let image = format!("localhost/nucleus-test-{}:latest", std::process::id());
        let p = Podman {
            _serial: serial,
            runroot,
            image,
            containers: Default::default(),
            pods: Default::default(),
            tmp,
            root_existed: Path::new("/run/nucleus").exists(),
            libpod_cgroups: libpod_parent_dirs()
                .into_iter()
                .filter(|d| !d.exists())
                .collect(),
            user,
        };
        let o = p.podman(&["import", "-q", tar.to_str().unwrap(), &p.image]);
        assert!(o.status.success(), "podman import: {}", stderr(&o));
        p
    }

    /// `podman` with the private storage and nucleus as the runtime (as the test user when
    /// rootless), in the test's own directory: conmon writes an `oom` file into its
    /// working directory when a container is OOM-killed (it once landed in the repository).
    fn command(&self) -> Command {
        let mut c = match &self.user {
            None => {
                let mut c = Command::new("podman");
                c.env("CONTAINERS_CONF", self.tmp.path("containers.conf"));
                c
            }
            Some((uid, gid, name)) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
                    .args(["--init-groups", "podman"])
                    .env_clear()
                    .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
                    .env("HOME", self.tmp.path("home"))
                    .env("XDG_RUNTIME_DIR", self.tmp.path("xdg"))
                    .env("USER", name)
                    .env("LOGNAME", name)
                    .env("CONTAINERS_CONF", self.tmp.path("containers.conf"));
                c
            }
        };
        c.current_dir(&self.tmp.0)
            .arg("--root")
            .arg(self.tmp.path("storage"))
            .arg("--runroot")
            .arg(&self.runroot.0)
            .arg("--tmpdir")
            .arg(self.tmp.path("libpod"))
            .args(["--storage-driver", "vfs", "--runtime", NUCLEUS]);
        c
    }

    fn podman(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    /// `podman run FIRST… OPTS…` with `--network none` (no host networking is set up)
    /// unless the container joins a pod's network.
    fn run_args<'a>(&self, first: &[&'a str], opts: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["run"];
        a.extend_from_slice(first);
        if !opts.contains(&"--pod") {
            a.extend_from_slice(&["--network", "none"]);
        }
        a.extend_from_slice(opts);
        a
    }

    /// `podman run --rm` with the given options and command.
    fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        let mut a = self.run_args(&["--rm"], opts);
        a.push(&self.image);
        a.extend_from_slice(cmd);
        self.podman(&a)
    }

    /// `podman run -d` with the given options and command; returns the container's ID.
    fn detached_with(&self, opts: &[&str], cmd: &[&str]) -> String {
        let mut a = self.run_args(&["-d"], opts);
        a.push(&self.image);
        a.extend_from_slice(cmd);
        let o = self.podman(&a);
        assert!(o.status.success(), "{}", stderr(&o));
        let id = stdout(&o).trim().to_string();
        self.containers.borrow_mut().push(id.clone());
        id
    }

    fn detached(&self, cmd: &[&str]) -> String {
        self.detached_with(&[], cmd)
    }

    fn inspect(&self, c: &str, format: &str) -> String {
        let o = self.podman(&["inspect", "--format", format, c]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    /// The rootless pause process Podman keeps its user namespace in (catatonit), if any.
    fn pause_pid(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.tmp.path("libpod/pause.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        self.user.as_ref()?;
        // Only ours: the process with this test's XDG_RUNTIME_DIR.
        let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let want = format!("XDG_RUNTIME_DIR={}", self.tmp.path("xdg").display());
        let ours = env.split(|b| *b == 0).any(|v| v == want.as_bytes());
        ours.then_some(pid)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for c in self.containers.borrow().iter() {
            let _ = self.podman(&["rm", "-f", "-t", "0", c]);
        }
        for p in self.pods.borrow().iter() {
            let _ = self.podman(&["pod", "rm", "-f", "-t", "0", p]);
        }
        let _ = self.podman(&["rmi", "-a", "-f"]);
        // Rootless: Podman's pause process outlives every podman command; it is ours.
        if let Some(pid) = self.pause_pid() {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            for _ in 0..250 {
                if nix::sys::signal::kill(pid, None).is_err() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
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

/// CapEff of `podman run` with `opts`.
fn cap_eff(p: &Podman, opts: &[&str]) -> u64 {
    let o = p.run(opts, &["grep", "CapEff", "/proc/self/status"]);
    let out = stdout(&o);
    let v = out.split_whitespace().nth(1);
    u64::from_str_radix(
        v.unwrap_or_else(|| panic!("CapEff line: {}", stderr(&o))),
        16,
    )
    .unwrap()
}

#[test]
fn podman_runs_containers_through_nucleus() {
    if !privileged("podman_runs_containers_through_nucleus") {
        return;
    }
    let p = Podman::new();
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

/// Rootless Podman: Podman (uid 1000, with a subordinate id range) starts nucleus as uid 0
/// of its own user namespace, without --root. nucleus must see that it is rootless: state
/// under $XDG_RUNTIME_DIR/nucleus (not /run/nucleus, which it may not create: that was
/// "Permission denied" before), and no cgroup it may not make (v1 here: none is delegated;
/// the config asks for no limits).
#[test]
fn podman_rootless_runs_containers_through_nucleus() {
    if !privileged("podman_rootless_runs_containers_through_nucleus") {
        return;
    }
    let user = TestUser::new();
    let p = Podman::rootless(&user);
    let xdg_state = p.tmp.path("xdg/nucleus");

    // The container's ids are Podman's user namespace: root is the user, the rest the
    // subordinate range.
    let o = p.run(&[], &["cat", "/proc/self/uid_map"]);
    let map: Vec<Vec<String>> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    let want = |a: u32, b: u32, c: u32| vec![a.to_string(), b.to_string(), c.to_string()];
    assert_eq!(
        map,
        [want(0, user.uid, 1), want(1, user.sub.0, user.sub.2)],
        "{}",
        stderr(&o)
    );
    // Exit codes and output.
    assert_eq!(p.run(&[], &["sh", "-c", "exit 9"]).status.code(), Some(9));
    let o = p.run(&[], &["echo", "hello"]);
    assert_eq!(stdout(&o), "hello\n", "{}", stderr(&o));
    // -t
    let o = p.run(&["-t"], &["sh", "-c", "tty; test -t 1 && echo out-is-tty"]);
    assert_eq!(
        stdout(&o).replace('\r', ""),
        "/dev/pts/0\nout-is-tty\n",
        "{}",
        stderr(&o)
    );
    // Capabilities (Podman's rootless default set), --cap-drop, --user.
    let (chown, sys_admin) = (1u64 << 0, 1u64 << 21);
    let base = cap_eff(&p, &[]);
    assert_ne!(base & chown, 0);
    assert_eq!(base & sys_admin, 0);
    assert_eq!(cap_eff(&p, &["--cap-drop", "chown"]), base & !chown);
    assert_eq!(
        stdout(&p.run(&["--user", "1000:1000"], &["id"])),
        "uid=1000 gid=1000 groups=1000\n"
    );
    // --read-only, no-new-privileges
    let o = p.run(
        &["--read-only", "--security-opt", "no-new-privileges"],
        &[
            "sh",
            "-c",
            "touch /x 2>/dev/null && echo wrote-root; touch /tmp/y && echo tmp-ok; \
             grep NoNewPrivs /proc/self/status",
        ],
    );
    assert_eq!(stdout(&o), "tmp-ok\nNoNewPrivs:\t1\n", "{}", stderr(&o));

    // Detached: the state is under $XDG_RUNTIME_DIR, and the container's process runs as
    // the user on the host (the kernel's view from outside: truly rootless).
    let c = p.detached(&["sleep", "300"]);
    assert!(xdg_state.join(&c).join("state.json").exists());
    assert!(!Path::new("/run/nucleus").join(&c).exists());
    let pid = p.inspect(&c, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uids.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec![user.uid.to_string(); 4],
        "{status}"
    );
    let o = p.podman(&["exec", &c, "sh", "-c", "echo in-exec; exit 6"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-exec\n");
    assert_eq!(
        stdout(&p.podman(&["exec", "--user", "1000:1000", &c, "id", "-u"])),
        "1000\n"
    );
    // No cgroup here, so no freezer: pause is refused (by Podman on cgroup v1, by nucleus
    // on v2 without delegation), and the container keeps running.
    assert!(!p.podman(&["pause", &c]).status.success());
    assert_eq!(p.inspect(&c, "{{.State.Status}}"), "running");
    let o = p.podman(&["stop", "-t", "1", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        p.inspect(&c, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(p.podman(&["rm", &c]).status.success());
    let c2 = p.detached(&["sleep", "300"]);
    assert!(p.podman(&["kill", &c2]).status.success());
    assert_eq!(stdout(&p.podman(&["wait", &c2])).trim(), "137");
    assert!(p.podman(&["rm", &c2]).status.success());
    // Nothing is left in nucleus's state.
    let left: Vec<_> = std::fs::read_dir(&xdg_state).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `podman run --privileged`: the host's devices and the runtime's own bounding set (this
/// host lacks CAP_SYS_RESOURCE in it: skipped with a warning, not fatal).
#[test]
fn podman_privileged() {
    if !privileged("podman_privileged") {
        return;
    }
    let p = Podman::new();
    let o = p.run(
        &["--privileged"],
        &[
            "sh",
            "-c",
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status; test -c /dev/kmsg && echo kmsg; \
             mkdir -p /m && mount -t tmpfs none /m && echo mounted",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let own = status_caps(&std::fs::read_to_string("/proc/self/status").unwrap())["CapBnd"];
    let out = stdout(&o);
    let caps = status_caps(&out);
    assert_eq!((caps["CapEff"], caps["CapBnd"]), (own, own), "{out}");
    assert!(out.ends_with("kmsg\nmounted\n"), "{out}");
    // Without --privileged: neither the device nor the mount.
    let o = p.run(
        &[],
        &[
            "sh",
            "-c",
            "test -e /dev/kmsg && echo kmsg; mkdir -p /m; mount -t tmpfs none /m 2>/dev/null \
             && echo mounted; true",
        ],
    );
    assert_eq!(stdout(&o), "", "{}", stderr(&o));
}

/// `--pid host` + `podman stop`: the container shares the PID namespace, so stopping it
/// must find its processes through its cgroup, never "everything in the namespace". Run
/// in an outer sandbox (own PID namespace): a regression kills only the sandbox, and the
/// bystander there shows it.
#[test]
fn podman_pid_host_stop_kills_only_the_container() {
    if !privileged("podman_pid_host_stop_kills_only_the_container") {
        return;
    }
    let p = Podman::new();
    let podman = format!(
        "podman --root {0}/storage --runroot {1} --tmpdir {0}/libpod --storage-driver vfs \
         --runtime {NUCLEUS}",
        p.tmp.0.display(),
        p.runroot.0.display()
    );
    let script = format!(
        r#"
P="{podman}"
cd {tmp}
export CONTAINERS_CONF={tmp}/containers.conf
sleep 301 & BY=$!
c=$($P run -d --network none --pid host {image} sh -c 'sleep 302 & exec sleep 303')
echo "pid1: $($P exec $c cat /proc/1/cmdline | tr '\0' ' ')"
$P stop -t 1 $c >/dev/null
echo "state: $($P inspect --format '{{{{.State.Status}}}}' $c)"
kill -0 $BY && echo bystander-alive
for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' < $f 2>/dev/null; echo; done | grep -c '^sleep 30[23]' || true
$P rm -f $c >/dev/null
kill $BY
"#,
        tmp = p.tmp.0.display(),
        image = p.image,
    );
    let o = outer_sandbox(&script);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    // The container saw the sandbox's PID 1 (the script's shell): it shared the namespace.
    assert!(out.starts_with("pid1: sh -euc"), "{out}");
    assert!(
        out.ends_with("state: exited\nbystander-alive\n0\n"),
        "{out}{}",
        stderr(&o)
    );
}

/// Two containers in one pod share the infra container's network, IPC and UTS namespaces
/// (and not the host's).
#[test]
fn podman_pod_shares_namespaces() {
    if !privileged("podman_pod_shares_namespaces") {
        return;
    }
    let p = Podman::new();
    let pod = format!("nucleus-test-pod-{}", std::process::id());
    let o = p.podman(&["pod", "create", "--network", "none", "--name", &pod]);
    assert!(o.status.success(), "{}", stderr(&o));
    p.pods.borrow_mut().push(pod.clone());
    let ns = [
        "sh",
        "-c",
        "for n in net ipc uts; do readlink /proc/self/ns/$n; done",
    ];
    let c1 = p.detached_with(&["--pod", &pod], &["sleep", "300"]);
    let o = p.podman(&["exec", &c1, ns[0], ns[1], ns[2]]);
    let first = stdout(&o);
    assert_eq!(first.lines().count(), 3, "{}", stderr(&o));
    let o = p.run(&["--pod", &pod], &ns);
    assert_eq!(stdout(&o), first, "{}", stderr(&o));
    // Not the host's, and a container outside the pod has others.
    for (l, kind) in first.lines().zip(["net", "ipc", "uts"]) {
        let host = std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        assert_ne!(Path::new(l), host, "{kind}");
    }
    let other = stdout(&p.run(&[], &ns));
    for (a, b) in first.lines().zip(other.lines()) {
        assert_ne!(a, b);
    }
    // IPC for real: a POSIX message queue made in one (a file created in its mqueue
    // mount) is seen by the other, and not by a container outside the pod.
    let o = p.podman(&["exec", &c1, "touch", "/dev/mqueue/nucleus-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = p.run(&["--pod", &pod], &["ls", "/dev/mqueue"]);
    assert_eq!(stdout(&o), "nucleus-q\n", "{}", stderr(&o));
    assert_eq!(stdout(&p.run(&[], &["ls", "/dev/mqueue"])), "");
}

/// `podman update` changes a running container's limits through `nucleus update`; they
/// are read back inside the container.
#[test]
fn podman_update_changes_limits() {
    if !privileged("podman_update_changes_limits") {
        return;
    }
    let p = Podman::new();
    let c = p.detached_with(&["--memory", "64m", "--cpus", "0.5"], &["sleep", "300"]);
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let (mem, cpu) = if v2 {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.max")
    } else {
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        )
    };
    let read = |f: &str| {
        let o = p.podman(&["exec", &c, "cat", f]);
        assert!(o.status.success(), "{f}: {}", stderr(&o));
        stdout(&o).split_whitespace().next().unwrap().to_string()
    };
    assert_eq!(read(mem), (64u64 << 20).to_string());
    assert_eq!(read(cpu), "50000");
    let o = p.podman(&["update", "--memory", "128m", "--cpus", "1.5", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read(mem), (128u64 << 20).to_string());
    assert_eq!(read(cpu), "150000");
}

/// What rootless Podman relies on, without Podman: nucleus started as root of a user
/// namespace (`unshare -r`) is rootless. Run without --root, its state goes under
/// $XDG_RUNTIME_DIR/nucleus. As uid 1000's namespace root (no cgroup it may write) a
/// container without limits runs without a cgroup, and a memory limit is one clear error
/// that leaves nothing behind. As the host root's namespace root (which may make cgroups
/// but not write device rules), the limit applies without the device rules.
#[test]
fn root_in_a_user_namespace_is_rootless() {
    if !privileged("root_in_a_user_namespace_is_rootless") {
        return;
    }
    let b = common::bundle::Bundle::new("userns-root", &["sh", "-c", "echo ran"]);
    // As Podman's rootless configs: devpts without the host's tty group (unmapped here).
    b.edit(|c| {
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "devpts" {
                let opts = m["options"].as_array_mut().unwrap();
                opts.retain(|o| o != "gid=5");
            }
        }
    });
    // uid 1000 may not make mount points in root's rootfs: they are there already, as in
    // an image.
    for d in ["proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(bundle_rootfs(&b).join(d)).unwrap();
    }
    let xdg = b.tmp.path("xdg");
    std::fs::create_dir(&xdg).unwrap();
    std::os::unix::fs::chown(&xdg, Some(1000), Some(1000)).unwrap();
    set_mode(&xdg, 0o700);
    let bundle = b.bundle();
    // `nucleus run` as root of a new user namespace, as `uid` on the host.
    let run = |uid: u32, id: &str| -> Output {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &uid.to_string(), "--regid", &uid.to_string()])
            .args(["--clear-groups", "unshare", "-r", NUCLEUS, "run", "-b"])
            .arg(&bundle)
            .arg(id)
            .env_remove("USER")
            // Each user's own runtime directory (another's 0700 one is closed to it).
            .env(
                "XDG_RUNTIME_DIR",
                if uid == 0 {
                    b.tmp.path("xdg0")
                } else {
                    xdg.clone()
                },
            );
        c.output().unwrap()
    };
    let o = run(1000, "u1");
    assert_eq!(stdout(&o), "ran\n", "{}", stderr(&o));
    assert!(o.status.success());
    assert!(xdg.join("nucleus").is_dir());
    assert!(!Path::new("/run/nucleus/u1").exists());

    b.edit(|c| {
        c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64 << 20});
        c["process"]["args"] =
            serde_json::json!(["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    });
    let o = run(1000, "u2");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.starts_with("nucleus: cgroup /sys/fs/cgroup/memory/nucleus-u2")
            && err.contains("Permission denied"),
        "{err}"
    );
    assert!(!Path::new("/sys/fs/cgroup/memory/nucleus-u2").exists());
    assert_eq!(std::fs::read_dir(xdg.join("nucleus")).unwrap().count(), 0);

    // Host root's namespace root: the limit applies (v1 here; the v2 lane has its own).
    if !Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() {
        return;
    }
    std::fs::create_dir(b.tmp.path("xdg0")).unwrap();
    let o = run(0, "r1");
    assert_eq!(stdout(&o), format!("{}\n", 64 << 20), "{}", stderr(&o));
    assert!(!Path::new("/sys/fs/cgroup/memory/nucleus-r1").exists());
    assert!(!Path::new("/sys/fs/cgroup/devices/nucleus-r1").exists());
}

fn bundle_rootfs(b: &common::bundle::Bundle) -> PathBuf {
    b.bundle().join("rootfs")
}
