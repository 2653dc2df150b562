//! Docker drives nucleus as an OCI runtime: a private dockerd (Debian's docker.io, its own
//! data-root, exec-root, socket and pidfile; no bridge, no iptables, the vfs storage driver)
//! with nucleus registered in its `runtimes`, and a busybox image made offline with
//! `docker import`. Each test starts its own daemon and stops it (by PID), with its managed
//! containerd and shims, and removes everything it made even when it fails. The host's own
//! docker, if one runs, is never contacted. Needs root and docker.io (installed by .ci/run).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Docker's default capabilities: chown, dac_override, fowner, fsetid, kill, setgid,
/// setuid, setpcap, net_bind_service, net_raw, sys_chroot, mknod, audit_write, setfcap.
const DOCKER_DEFAULT_CAPS: u64 = 0x0000_0000_a804_25fb;

/// The daemons share /run/containerd (shim sockets) and /run/docker: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Host directories dockerd or its shims create when they are missing; removed afterwards
/// if this test made them (and they are empty by then).
const HOST_DIRS: &[&str] = &[
    "/run/containerd/s",
    "/run/containerd",
    "/run/docker/plugins",
    "/run/docker",
];

struct Docker {
    daemon: Child,
    tmp: TempDir,
    sock: PathBuf,
    image: String,
    /// The cgroup parent given to dockerd (`--cgroup-parent`): its containers' cgroups go
    /// below it, and cleanup removes it in every hierarchy.
    cgroup_parent: String,
    host_dirs_made: Vec<&'static str>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Docker {
    fn start(tag: &str) -> Docker {
        for (prog, why) in [("dockerd", "the daemon"), ("docker", "the client")] {
            if Command::new(prog).arg("--version").output().is_err() {
                panic!("{prog} ({why}) is not installed: .ci/run installs docker.io");
            }
        }
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let host_dirs_made = HOST_DIRS
            .iter()
            .copied()
            .filter(|d| !Path::new(d).exists())
            .collect();
        // Short: containerd's sockets live below the exec-root (108-byte limit).
        let tmp = TempDir::new(tag);
        let sock = tmp.path("docker.sock");
        let cgroup_parent = format!("nucleus-docker-{}-{tag}", std::process::id());
        std::fs::write(
            tmp.path("daemon.json"),
            // Its identity key would go to /etc/docker/key.json otherwise.
            serde_json::json!({
                "runtimes": {"nucleus": {"path": NUCLEUS}},
                "deprecated-key-path": tmp.path("key.json"),
            })
            .to_string(),
        )
        .unwrap();
        let log = std::fs::File::create(tmp.path("dockerd.log")).unwrap();
        let daemon = Command::new("dockerd")
            .arg("--data-root")
            .arg(tmp.path("data"))
            .arg("--exec-root")
            .arg(tmp.path("exec"))
            .arg("--pidfile")
            .arg(tmp.path("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--config-file")
            .arg(tmp.path("daemon.json"))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip-masq=false",
                "--storage-driver",
                "vfs",
                "--cgroup-parent",
                &format!("/{cgroup_parent}"),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut d = Docker {
            daemon,
            tmp,
            sock,
            image: format!("nucleus-test-busybox:{}", std::process::id()),
            cgroup_parent,
            host_dirs_made,
            _serial: serial,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !(d.sock.exists() && d.docker(&["version"]).status.success()) {
            if Instant::now() > deadline || d.daemon.try_wait().unwrap().is_some() {
                panic!(
                    "dockerd did not come up: {}",
                    std::fs::read_to_string(d.tmp.path("dockerd.log")).unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        d.import_busybox();
        d
    }

    /// A busybox tree (every applet a symlink) imported as the test image.
    fn import_busybox(&mut self) {
        let tar = busybox_tar(&self.tmp);
        let o = self.docker(&[
            "import",
            "--change",
            "ENV PATH=/bin",
            tar.to_str().unwrap(),
            &self.image,
        ]);
        assert!(o.status.success(), "docker import: {}", stderr(&o));
    }

    /// `docker ARGS…` against this daemon only, with a 120 s limit.
    fn docker(&self, args: &[&str]) -> Output {
        self.try_docker(args)
            .unwrap_or_else(|| panic!("docker {args:?} did not finish in 120 s"))
    }

    /// `docker`, or None when it did not finish in 120 s (it is killed then).
    fn try_docker(&self, args: &[&str]) -> Option<Output> {
        let mut child = Command::new("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.tmp.path("cli"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        // Drained meanwhile: a full pipe would block the client.
        let (mut out, mut err) = (child.stdout.take()?, child.stderr.take()?);
        let t_out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut out, &mut v);
            v
        });
        let t_err = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut err, &mut v);
            v
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(s) = child.try_wait().ok()? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Some(Output {
            status,
            stdout: t_out.join().ok()?,
            stderr: t_err.join().ok()?,
        })
    }

    /// `docker run --rm --runtime nucleus OPTS… IMAGE CMD…`.
    fn run(&self, opts: &[&str], cmd: &[&str]) -> Output {
        let mut a = vec!["run", "--rm", "--runtime", "nucleus"];
        a.extend_from_slice(opts);
        a.push(&self.image);
        a.extend_from_slice(cmd);
        self.docker(&a)
    }

    /// stdout of a run that must succeed.
    fn run_ok(&self, opts: &[&str], cmd: &[&str]) -> String {
        let o = self.run(opts, cmd);
        assert!(
            o.status.success(),
            "docker run {opts:?} {cmd:?}: {:?}\n{}{}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// `docker run -d`: the container's id.
    fn detached(&self, opts: &[&str], cmd: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--runtime", "nucleus"];
        a.extend_from_slice(opts);
        a.push(&self.image);
        a.extend_from_slice(cmd);
        let o = self.docker(&a);
        assert!(o.status.success(), "docker run -d: {}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    fn inspect(&self, id: &str, format: &str) -> String {
        let o = self.docker(&["inspect", "--format", format, id]);
        assert!(o.status.success(), "docker inspect: {}", stderr(&o));
        stdout(&o).trim().to_string()
    }

    /// Processes whose command line names this daemon's exec-root (its containerd and the
    /// shims that containerd started).
    fn own_processes(&self) -> Vec<i32> {
        let exec = self.tmp.path("exec").to_string_lossy().into_owned();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&exec) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        // Never panic here (a second panic aborts without cleaning). A paused container is
        // resumed first, since a frozen process cannot die.
        if let Some(o) = self.try_docker(&["ps", "-aq"]) {
            for id in stdout(&o).split_whitespace() {
                let _ = self.try_docker(&["unpause", id]);
                let _ = self.try_docker(&["rm", "-f", id]);
            }
        }
        let _ = self.try_docker(&["rmi", "-f", &self.image]);
        // The daemon by its PID: TERM (it stops its containerd), KILL after 20 s.
        let pid = nix::unistd::Pid::from_raw(self.daemon.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // What it left running (its containerd, shims): named by our exec-root.
        for p in self.own_processes() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // Anything left mounted under the temp dir goes before the dir does.
        let base = self.tmp.0.to_string_lossy().into_owned();
        for _ in 0..3 {
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
        }
        // The cgroup parent in every hierarchy, with any container leaf left below it.
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = h.path().join(&self.cgroup_parent);
            if !parent.is_dir() {
                continue;
            }
            for _ in 0..50 {
                for leaf in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                    if leaf.path().is_dir() {
                        let _ = std::fs::remove_dir(leaf.path());
                    }
                }
                if std::fs::remove_dir(&parent).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if parent.exists() {
                eprintln!("docker test: could not remove {}", parent.display());
            }
        }
        for d in &self.host_dirs_made {
            // Only if empty: remove_dir refuses otherwise (someone else uses it now).
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The first number of a line `KEY: N…` of /proc/…/status, as hex.
fn status_hex(text: &str, key: &str) -> u64 {
    let v = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {text}"));
    u64::from_str_radix(v.trim_start_matches(':').trim(), 16).unwrap()
}

/// The value of a cgroup v1 file at the path a container sees, or its v2 equivalent.
const SEE_MEMORY: &str = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
     || cat /sys/fs/cgroup/memory.max";
const SEE_PIDS: &str =
    "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";

#[test]
fn docker_run_exit_codes_caps_user_limits_and_flags() {
    if !privileged("docker_run_exit_codes_caps_user_limits_and_flags") {
        return;
    }
    let d = Docker::start("dk-run");
    // Exit codes and output.
    assert_eq!(d.run(&[], &["sh", "-c", "exit 9"]).status.code(), Some(9));
    assert_eq!(d.run_ok(&[], &["echo", "hello"]), "hello\n");
    // A missing program: Docker's 127, with nucleus' reason.
    let o = d.run(&[], &["/no/such/program"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("/no/such/program"), "{}", stderr(&o));

    // Default capabilities, read by the process itself.
    let st = d.run_ok(&[], &["cat", "/proc/self/status"]);
    assert_eq!(status_hex(&st, "CapEff"), DOCKER_DEFAULT_CAPS, "{st}");
    assert_eq!(status_hex(&st, "CapBnd"), DOCKER_DEFAULT_CAPS, "{st}");
    assert_eq!(status_hex(&st, "CapInh"), 0, "{st}");
    // --cap-drop ALL --cap-add: exactly what was added.
    let net_bind_service = 1u64 << 10;
    let st = d.run_ok(
        &["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(status_hex(&st, "CapEff"), net_bind_service, "{st}");
    assert_eq!(status_hex(&st, "CapBnd"), net_bind_service, "{st}");
    let (chown, sys_admin) = (1u64 << 0, 1u64 << 21);
    let st = d.run_ok(
        &["--cap-drop", "CHOWN", "--cap-add", "SYS_ADMIN"],
        &["cat", "/proc/self/status"],
    );
    assert_eq!(
        status_hex(&st, "CapEff"),
        (DOCKER_DEFAULT_CAPS & !chown) | sys_admin
    );
    // …and the kernel agrees: chown is refused without CAP_CHOWN.
    let o = d.run(
        &["--cap-drop", "CHOWN"],
        &["sh", "-c", "touch /f && chown 1000 /f"],
    );
    assert!(!o.status.success(), "chown worked without CAP_CHOWN");
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );

    // --user
    assert_eq!(
        d.run_ok(&["--user", "1000:1000"], &["id"]),
        "uid=1000 gid=1000 groups=1000\n"
    );
    let st = d.run_ok(&["--user", "1000"], &["cat", "/proc/self/status"]);
    assert_eq!(
        status_hex(&st, "CapEff"),
        0,
        "a non-root user has no capabilities"
    );

    // --memory is visible inside at the container's own cgroup, and OOM gives 137.
    assert_eq!(
        d.run_ok(&["--memory", "64m"], &["sh", "-c", SEE_MEMORY])
            .trim(),
        "67108864"
    );
    let hog = ["sh", "-c", "head -c 200000000 /dev/zero | tail > /dev/null"];
    let o = d.run(&["--memory", "32m", "--memory-swap", "32m"], &hog);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(d.run(&["--memory", "512m"], &hog).status.code(), Some(0));

    // --pids-limit is visible inside and enforced.
    assert_eq!(
        d.run_ok(&["--pids-limit", "10"], &["sh", "-c", SEE_PIDS])
            .trim(),
        "10"
    );
    let bomb = [
        "sh",
        "-c",
        "for i in $(seq 40); do (sleep 2) & done; echo forked",
    ];
    let o = d.run(&["--pids-limit", "10"], &bomb);
    assert!(!stdout(&o).contains("forked"), "{}", stdout(&o));
    assert_eq!(d.run_ok(&["--pids-limit", "100"], &bomb), "forked\n");

    // --read-only: the root refuses writes; Docker's /dev/shm stays writable.
    let o = d.run(
        &["--read-only"],
        &["sh", "-c", "touch /x 2>&1; touch /dev/shm/y && echo shm-ok"],
    );
    assert_eq!(
        stdout(&o),
        "touch: /x: Read-only file system\nshm-ok\n",
        "{}",
        stderr(&o)
    );
    assert_eq!(d.run_ok(&[], &["sh", "-c", "touch /x && echo rw"]), "rw\n");

    // --security-opt no-new-privileges
    let nnp = |opts: &[&str]| d.run_ok(opts, &["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(
        nnp(&["--security-opt", "no-new-privileges"]),
        "NoNewPrivs:\t1\n"
    );
    assert_eq!(nnp(&[]), "NoNewPrivs:\t0\n");

    // -t: the process's stdio is a pty.
    let out = d.run_ok(&["-t"], &["sh", "-c", "tty; test -t 1 && echo out-is-tty"]);
    assert_eq!(out.replace('\r', ""), "/dev/pts/0\nout-is-tty\n");
}

/// The freezer state of the container whose init is `pid` (v1 freezer, or v2 cgroup.freeze).
fn frozen(pid: &str) -> bool {
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    if let Some(p) = cg
        .lines()
        .find_map(|l| l.split_once(":freezer:").map(|(_, p)| p.to_string()))
    {
        let st =
            std::fs::read_to_string(format!("/sys/fs/cgroup/freezer{p}/freezer.state")).unwrap();
        return st.trim() == "FROZEN";
    }
    let p = cg.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
    std::fs::read_to_string(format!("/sys/fs/cgroup{p}/cgroup.freeze"))
        .unwrap()
        .trim()
        == "1"
}

#[test]
fn docker_detached_exec_top_pause_stop_and_rm() {
    if !privileged("docker_detached_exec_top_pause_stop_and_rm") {
        return;
    }
    let d = Docker::start("dk-life");
    let c = d.detached(&["--memory", "64m"], &["sleep", "300"]);
    let pid = d.inspect(&c, "{{.State.Pid}}");
    assert!(wait_for_comm(pid.parse().unwrap(), "sleep"));
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_hex(&st, "CapEff"), DOCKER_DEFAULT_CAPS);

    // exec: output, exit status, --user.
    let o = d.docker(&[
        "exec",
        &c,
        "sh",
        "-c",
        "echo in-exec; cat /proc/1/comm; exit 6",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-exec\nsleep\n");
    let o = d.docker(&["exec", "--user", "1000:1000", &c, "id", "-u"]);
    assert_eq!(stdout(&o), "1000\n", "{}", stderr(&o));

    // top lists the container's process (nucleus ps).
    let o = d.docker(&["top", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.contains(&pid) && l.contains("sleep 300")),
        "{}",
        stdout(&o)
    );

    // pause/unpause: the kernel's freezer follows.
    let o = d.docker(&["pause", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.inspect(&c, "{{.State.Status}}"), "paused");
    assert!(frozen(&pid));
    let o = d.docker(&["unpause", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(d.inspect(&c, "{{.State.Status}}"), "running");
    assert!(!frozen(&pid));

    // stop: sleep ignores TERM as PID 1, so stop escalates to KILL.
    let o = d.docker(&["stop", "-t", "1", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        d.inspect(&c, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    // rm: Docker forgets it, and nucleus' state and cgroups are gone.
    let o = d.docker(&["rm", &c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&d.docker(&["ps", "-aq"])).contains(&c[..12]));
    let state_dirs: Vec<PathBuf> = std::fs::read_dir(d.tmp.path("exec"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("runtime-"))
        .flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten())
        .map(|ns| ns.path().join(&c))
        .collect();
    assert!(state_dirs.iter().all(|p| !p.exists()), "{state_dirs:?}");
    for ctl in ["memory", "pids", "freezer", "devices"] {
        let p = Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(&d.cgroup_parent)
            .join(&c);
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

/// `docker update` calls the runtime's `update --resources -`.
#[test]
fn docker_update_memory_is_seen_inside() {
    if !privileged("docker_update_memory_is_seen_inside") {
        return;
    }
    let d = Docker::start("dk-upd");
    // nucleus makes a cgroup only for the kinds of limit set at create: pids too here.
    let c = d.detached(
        &["--memory", "64m", "--pids-limit", "20"],
        &["sleep", "300"],
    );
    let o = d.docker(&["exec", &c, "sh", "-c", SEE_MEMORY]);
    assert_eq!(stdout(&o).trim(), "67108864", "{}", stderr(&o));
    let o = d.docker(&["update", "--memory", "128m", "--memory-swap", "256m", &c]);
    assert!(o.status.success(), "docker update: {}", stderr(&o));
    let o = d.docker(&["exec", &c, "sh", "-c", SEE_MEMORY]);
    assert_eq!(stdout(&o).trim(), "134217728", "{}", stderr(&o));
    let o = d.docker(&["update", "--pids-limit", "50", &c]);
    assert!(o.status.success(), "docker update: {}", stderr(&o));
    let o = d.docker(&["exec", &c, "sh", "-c", SEE_PIDS]);
    assert_eq!(stdout(&o).trim(), "50", "{}", stderr(&o));
}

#[test]
fn docker_privileged_gets_the_host_devices_and_the_runtimes_bounding_set() {
    if !privileged("docker_privileged_gets_the_host_devices_and_the_runtimes_bounding_set") {
        return;
    }
    let d = Docker::start("dk-priv");
    let own = std::fs::read_to_string("/proc/self/status").unwrap();
    let own_bnd = status_hex(&own, "CapBnd");
    // Docker 20.10 asks for every capability its library knows, up to CAP_AUDIT_READ (37);
    // what the runtime's own bounding set lacks is skipped with a warning.
    let asked = (1u64 << 38) - 1;
    let o = d.run(&["--privileged"], &["cat", "/proc/self/status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let st = stdout(&o);
    assert_eq!(status_hex(&st, "CapBnd"), own_bnd & asked, "{st}");
    assert_eq!(status_hex(&st, "CapEff"), own_bnd & asked, "{st}");
    // The skip is a warning in the runtime's --log (as runc's warnings are), never in the
    // container's own output.
    assert!(!stderr(&o).contains("nucleus: warning"), "{}", stderr(&o));
    // The host's devices are there (kmsg: c 1:11), /dev/ptmx is the devpts symlink, and
    // CAP_SYS_ADMIN really works: a mount succeeds.
    let probe = [
        "sh",
        "-c",
        "stat -c '%F %t:%T' /dev/kmsg; readlink /dev/ptmx; \
         mkdir -p /m; mount -t tmpfs none /m && echo mounted",
    ];
    assert_eq!(
        d.run_ok(&["--privileged"], &probe),
        "character special file 1:b\npts/ptmx\nmounted\n"
    );
    // Not privileged: neither the device nor the mount.
    let o = d.run(&[], &probe);
    assert!(!stdout(&o).contains("character special"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("mounted"), "{}", stdout(&o));
    // With a terminal too.
    let out = d.run_ok(&["--privileged", "-t"], &["sh", "-c", "tty"]);
    assert_eq!(out.replace('\r', ""), "/dev/pts/0\n");
}
