//! `nucleus run`: the one-shot sandbox. Every claim is observed from inside the container
//! (/proc/self/status, the syscall that must fail) or from the host (files, cgroups).

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> std::process::Output {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    nucleus(&full)
}

fn run_ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "nucleus run {args:?}: {:?}\n{}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

#[test]
fn defaults_drop_everything() {
    if !privileged("defaults_drop_everything") {
        return;
    }
    let out = run_ok(&[
        "--",
        "sh",
        "-c",
        r#"grep -E "Cap|NoNewPrivs|Seccomp:" /proc/self/status; echo pid=$$; hostname"#,
    ]);
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{k}:\t0000000000000000")),
            "{k}\n{out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("pid=1\n"), "{out}");
    assert!(out.ends_with("nucleus\n"), "{out}");
    let out = run_ok(&["--hostname", "box", "--", "hostname"]);
    assert_eq!(out, "box\n");
}

#[test]
fn retained_capability_works_for_a_non_root_user_and_nothing_else_does() {
    if !privileged("retained_capability_works_for_a_non_root_user_and_nothing_else_does") {
        return;
    }
    let py = r#"
import socket
s = socket.socket(); s.bind(("127.0.0.1", 80)); print("bind80 ok")
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("raw ok")
except PermissionError:
    print("raw EPERM")
"#;
    let out = run_ok(&[
        "--caps-retain",
        "net_bind_service",
        "--user",
        "1000",
        "--",
        "/usr/bin/python3",
        "-c",
        py,
    ]);
    assert_eq!(out, "bind80 ok\nraw EPERM\n");
    let o = run(&["--user", "1000", "--", "/usr/bin/python3", "-c", py]);
    assert!(
        !o.status.success() && stderr(&o).contains("Permission denied"),
        "{}",
        stderr(&o)
    );
    // The probe, bind-mounted in, finds every probed capability denied.
    let tmp = TempDir::new("runprobe");
    let n = tmp.copy(NUCLEUS, "nucleus");
    let vol = format!("{}:/opt/nucleus", n.display());
    let out = run_ok(&["-v", &vol, "--", "/opt/nucleus", "caps", "probe", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let verdicts: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert!(!verdicts.contains(&"held"), "{out}");
    assert!(
        verdicts.iter().filter(|x| **x == "denied").count() >= 18,
        "{out}"
    );
}

#[test]
fn exit_status_and_signals_propagate() {
    if !privileged("exit_status_and_signals_propagate") {
        return;
    }
    assert_eq!(run(&["--", "sh", "-c", "exit 7"]).status.code(), Some(7));
    // With --init the program is PID 2 and dies of its own SIGTERM: 128+15.
    assert_eq!(
        run(&["--init", "--", "sh", "-c", "kill -TERM $$; sleep 5"])
            .status
            .code(),
        Some(143)
    );
    // Without --init, PID 1 ignores signals it has no handler for (kernel rule).
    let out = run_ok(&["--", "sh", "-c", "kill -TERM $$; echo survived"]);
    assert_eq!(out, "survived\n");
    // SIGINT to nucleus reaches the program.
    for init in [false, true] {
        let mut args = vec!["run"];
        if init {
            args.push("--init");
        }
        args.extend([
            "--",
            "sh",
            "-c",
            "trap 'echo got-INT; exit 3' INT; echo ready; sleep 10 & wait",
        ]);
        let mut child = Command::new(NUCLEUS)
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        assert_eq!(lines.next().unwrap().unwrap(), "got-INT");
        assert_eq!(child.wait().unwrap().code(), Some(3), "init={init}");
    }
}

#[test]
fn isolation_holds() {
    if !privileged("isolation_holds") {
        return;
    }
    let out = run_ok(&[
        "--",
        "sh",
        "-c",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
    ]);
    assert_eq!(out, "lo\n");
    let script = r#"
mount -t tmpfs none /tmp 2>/dev/null && echo mount-ok
unshare -U true 2>/dev/null && echo unshare-ok
swapoff /dev/null 2>/dev/null && echo swapoff-ok
echo x > /proc/sys/kernel/domainname 2>/dev/null && echo procsys-ok
echo x > /usr/nucleus-test 2>/dev/null && echo usr-ok
/usr/bin/python3 -c 'import ctypes,sys; r=ctypes.CDLL(None).syscall(169, 0, 0, 0, 0); sys.exit(0 if r == 0 else 1)' && echo reboot-ok
echo done
"#;
    assert_eq!(run_ok(&["--", "sh", "-c", script]), "done\n");
    // Masked paths read as empty (those this kernel has).
    for p in [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/sched_debug",
    ] {
        if std::path::Path::new(p).exists() {
            let out = run_ok(&["--", "sh", "-c", &format!("wc -c < {p}")]);
            assert_eq!(out.trim(), "0", "{p} is not masked");
        }
    }
    let out = run_ok(&[
        "--",
        "sh",
        "-c",
        "ls -A /proc/acpi /sys/firmware 2>/dev/null | grep -v : | grep -c . || true",
    ]);
    assert_eq!(out.trim(), "0");
}

/// A busybox root filesystem in a temporary directory.
fn busybox_root(tmp: &TempDir) -> std::path::PathBuf {
    let r = tmp.path("root");
    std::fs::create_dir_all(r.join("bin")).unwrap();
    std::fs::create_dir_all(r.join("etc")).unwrap();
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("busybox-static is installed by .ci/run");
    copy_file(bb, r.join("bin/busybox"));
    for c in [
        "sh", "ls", "cat", "echo", "touch", "id", "hostname", "wc", "sleep",
    ] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(c)).unwrap();
    }
    set_mode(&r, 0o755);
    r
}

#[test]
fn volumes_cannot_escape_the_rootfs_through_symlinks() {
    if !privileged("volumes_cannot_escape_the_rootfs_through_symlinks") {
        return;
    }
    let tmp = TempDir::new("escape");
    let root = busybox_root(&tmp);
    std::os::unix::fs::symlink("/etc", root.join("data")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc", root.join("rel")).unwrap();
    let vol = tmp.path("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("f"), "secret").unwrap();
    let name = format!("nucleus-escape-{}", std::process::id());
    let r = root.to_str().unwrap();
    let v1 = format!("{}:/data/{name}", vol.display());
    let v2 = format!("{}:/rel/{name}-2", vol.display());
    let out = run_ok(&[
        "--rootfs",
        r,
        "-v",
        &v1,
        "-v",
        &v2,
        "--",
        "sh",
        "-c",
        &format!("cat /etc/{name}/f /etc/{name}-2/f"),
    ]);
    assert_eq!(out, "secretsecret");
    assert!(
        !std::path::Path::new("/etc").join(&name).exists(),
        "a volume escaped onto the host's /etc"
    );
    assert!(
        root.join("etc").join(&name).is_dir(),
        "the mount point belongs inside the rootfs"
    );
    // Read-only by default, rw on request, and --read-only for the root.
    let o = run(&[
        "--rootfs",
        r,
        "-v",
        &v1,
        "--",
        "touch",
        &format!("/data/{name}/new"),
    ]);
    assert!(!o.status.success());
    let rw = format!("{}:/vol:rw", vol.display());
    run_ok(&["--rootfs", r, "-v", &rw, "--", "touch", "/vol/new"]);
    assert!(vol.join("new").exists());
    let o = run(&["--rootfs", r, "--read-only", "--", "touch", "/x"]);
    assert!(
        !o.status.success() && stderr(&o).contains("Read-only"),
        "{}",
        stderr(&o)
    );
    assert!(!root.join("x").exists());
}

#[test]
fn options_reach_the_program() {
    if !privileged("options_reach_the_program") {
        return;
    }
    let tmp = TempDir::new("opts");
    let ctx = tmp.path("ctx");
    std::fs::create_dir_all(ctx.join("sub")).unwrap();
    std::fs::write(ctx.join("sub/a.txt"), "context!").unwrap();
    let c = ctx.to_str().unwrap();
    let out = run_ok(&[
        "--context", c, "-e", "FOO=bar", "-w", "/tmp", "--rlimit", "nofile=123:456", "--",
        "sh", "-c", "cat /context/sub/a.txt; echo; echo $FOO; pwd; ulimit -n; ulimit -Hn; echo x > /context/w && echo writable",
    ]);
    assert_eq!(out, "context!\nbar\n/tmp\n123\n456\nwritable\n");
    assert!(!ctx.join("w").exists(), "--context is a copy");
}

#[test]
fn memory_and_pids_limits_are_enforced() {
    if !privileged("memory_and_pids_limits_are_enforced") {
        return;
    }
    let o = run(&[
        "--memory",
        "32m",
        "--",
        "/usr/bin/python3",
        "-c",
        "b = bytearray(100 * 1024 * 1024); print('allocated')",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stdout(&o));
    assert!(!stdout(&o).contains("allocated"));
    // Within the limit the same program runs.
    run_ok(&[
        "--memory",
        "256m",
        "--",
        "/usr/bin/python3",
        "-c",
        "b = bytearray(100 * 1024 * 1024)",
    ]);
    // A fork bomb stops at the limit: count the forks that succeed.
    let bomb = "import os, time\nn = 0\nfor i in range(60):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(2)\n        os._exit(0)\n    n += 1\nprint(n)\n";
    let out = run_ok(&["--pids", "20", "--", "/usr/bin/python3", "-c", bomb]);
    let forked: u32 = out.trim().parse().unwrap();
    assert!(
        (10..20).contains(&forked),
        "pids limit not enforced: {forked} forks succeeded"
    );
    let out = run_ok(&["--", "/usr/bin/python3", "-c", bomb]);
    assert_eq!(out.trim(), "60", "without the limit every fork succeeds");
    // The host can still fork.
    assert!(Command::new("true").status().unwrap().success());
}

#[test]
fn bad_input_fails_cleanly() {
    let cases: &[(&[&str], &str, i32)] = &[
        (&[], "no command given", 1),
        (
            &["--rootfs", "/no/such/dir", "--", "true"],
            "not a directory",
            1,
        ),
        (&["-v", "rel/src:/x", "--", "true"], "relative", 1),
        (&["-v", "/tmp:rel", "--", "true"], "destination", 1),
        (
            &["-v", "/no/such/src:/x", "--", "true"],
            "does not exist",
            1,
        ),
        (&["--memory", "lots", "--", "true"], "memory size", 1),
        (
            &["--caps-retain", "net_rwa", "--", "true"],
            "did you mean CAP_NET_RAW",
            1,
        ),
        (
            &[
                "--caps-retain",
                "chown",
                "--caps-remove",
                "kill",
                "--",
                "true",
            ],
            "mutually exclusive",
            1,
        ),
        (&["--user", "bob", "--", "true"], "invalid user", 1),
    ];
    for (args, needle, code) in cases {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(*code), "{args:?}: {err}");
        assert!(
            err.lines().next().unwrap_or("").starts_with("nucleus: ") && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let o = run(&["--network", "bogus", "--", "true"]);
    assert!(!o.status.success());
    if privileged("bad_input_fails_cleanly (missing command)") {
        let o = run(&["--", "/no/such/cmd"]);
        assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
        assert!(stderr(&o).contains("command not found"));
    }
}

#[test]
fn rootless_run_as_an_unprivileged_user() {
    if !privileged("rootless_run_as_an_unprivileged_user") {
        return;
    }
    let tmp = TempDir::new("rootless");
    let n = tmp.copy(NUCLEUS, "nucleus");
    let n = n.to_str().unwrap();
    let out = ok(&[
        "caps",
        "exec",
        "--user",
        "1000",
        "--",
        n,
        "run",
        "--",
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; grep CapEff /proc/self/status; echo $$; hostname",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "1000", "1"]
    );
    assert_eq!(lines[2], "CapEff:\t0000000000000000");
    assert_eq!(&lines[3..], ["1", "nucleus"]);
    // What needs real root says so in one line.
    let o = nucleus(&[
        "caps", "exec", "--user", "1000", "--", n, "run", "--memory", "32m", "--", "true",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("need root"), "{}", stderr(&o));
}

#[test]
fn seccomp_network_and_capability_styles() {
    if !privileged("seccomp_network_and_capability_styles") {
        return;
    }
    let status = |args: &[&str], key: &str| -> String {
        let mut a = args.to_vec();
        a.extend(["--", "grep", key, "/proc/self/status"]);
        run_ok(&a)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(status(&["--seccomp", "unconfined"], "Seccomp:"), "0");
    assert_eq!(status(&["--allow-new-privs"], "NoNewPrivs:"), "0");
    assert_eq!(status(&["--allow-new-privs"], "Seccomp:"), "2");
    assert_eq!(
        status(&["--cap-drop", "ALL", "--cap-add", "net_raw"], "CapEff:"),
        "0000000000002000"
    );
    assert_eq!(
        status(&["--cap-drop", "net_raw"], "CapEff:"),
        "00000000a80405fb"
    );
    assert_eq!(
        status(&["--caps-remove", "net_raw"], "CapBnd:"),
        "00000000a80405fb"
    );
    // An OCI profile: mkdir answers EACCES (13), the rest is allowed.
    let tmp = TempDir::new("seccomp");
    let prof = tmp.path("p.json");
    std::fs::write(&prof, r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#).unwrap();
    let o = run(&[
        "--seccomp-profile",
        prof.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "mkdir /tmp/d && echo made; echo ok",
    ]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "ok\n");
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    std::fs::write(&prof, r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap();
    let o = run(&["--seccomp-profile", prof.to_str().unwrap(), "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("SCMP_ACT_NOTIFY needs listenerPath"),
        "{}",
        stderr(&o)
    );
    // --network host sees the host's interfaces.
    let host_ifs = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count();
    let out = run_ok(&["--network", "host", "--", "cat", "/proc/net/dev"]);
    assert_eq!(out.lines().count(), host_ifs);
}

#[test]
fn sigterm_to_nucleus_ends_a_program_that_ignores_it() {
    if !privileged("sigterm_to_nucleus_ends_a_program_that_ignores_it") {
        return;
    }
    let mut child = Command::new(NUCLEUS)
        .args(["run", "--stop-timeout", "1", "--", "sleep", "60"])
        .spawn()
        .unwrap();
    assert!(
        common::wait_for_descendant(child.id(), "sleep").is_some(),
        "the contained sleep never started"
    );
    let start = std::time::Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(137));
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn init_reaps_orphaned_zombies() {
    if !privileged("init_reaps_orphaned_zombies") {
        return;
    }
    // python starts a shell that leaves an orphan `sleep 0.1` behind; the orphan is
    // re-parented to PID 1 and exits. python never waits for it, the init does.
    let py = "import os, time, glob\nos.system('(sleep 0.1 &)')\ntime.sleep(0.6)\nz = [p for p in glob.glob('/proc/[0-9]*/status') if 'State:\\tZ' in open(p).read()]\nprint(len(z))\n";
    assert_eq!(
        run_ok(&["--init", "--", "/usr/bin/python3", "-c", py]).trim(),
        "0",
        "the init left a zombie"
    );
    // Without --init python is PID 1 and the zombie stays: the check above can fail.
    assert_eq!(run_ok(&["--", "/usr/bin/python3", "-c", py]).trim(), "1");
    let out = run_ok(&[
        "--init",
        "--",
        "sh",
        "-c",
        "echo $$; cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert!(out.starts_with("2\n"), "{out}");
}

/// DESIGN.md §5: each item fails without its fix.
#[test]
fn security_checklist() {
    if !privileged("security_checklist") {
        return;
    }
    // No inherited descriptor reaches the program (fd 7 is open in the calling shell).
    let o = Command::new("bash")
        .args([
            "-c",
            &format!("exec 7</etc/hostname; {NUCLEUS} run -- sh -c 'ls /proc/$$/fd'"),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "0\n1\n2\n", "{}", stderr(&o));
    // The init (a copy of the runtime) cannot be reached through /proc/1/exe.
    let out = run_ok(&[
        "--init",
        "--",
        "sh",
        "-c",
        "cat /proc/1/exe > /dev/null 2>&1 && echo reachable; echo done",
    ]);
    assert_eq!(out, "done\n");
    // A device node made inside /dev or /tmp cannot be opened (nodev).
    let out = run_ok(&["--caps-retain", "mknod", "--", "sh", "-c",
        "mknod /dev/n c 1 3 && mknod /tmp/n c 1 3 && echo made; (echo x > /dev/n) 2>/dev/null && echo dev-open; (echo x > /tmp/n) 2>/dev/null && echo tmp-open; echo done"]);
    assert_eq!(out, "made\ndone\n");

    let tmp = TempDir::new("checklist");
    let root = busybox_root(&tmp);
    let r = root.to_str().unwrap();
    // procfs only on a real directory: a rootfs whose /proc is a symlink is refused.
    std::fs::create_dir(root.join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root.join("proc")).unwrap();
    let o = run(&["--rootfs", r, "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/proc is a symlink to /elsewhere in the root filesystem"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_file(root.join("proc")).unwrap();
    // A set-uid-root binary regains nothing, even without no_new_privs: the bounding set
    // is empty (and for a retained capability it is all there is). The binary is a copy of
    // nucleus (busybox would drop its set-uid privileges by itself).
    std::fs::create_dir(root.join("suid")).unwrap();
    let suid = root.join("suid/nucleus");
    copy_with_libs(NUCLEUS, &root, &suid);
    set_mode(&suid, 0o4755);
    let show = |extra: &[&str]| -> serde_json::Value {
        let mut a = vec!["--rootfs", r, "--user", "1000", "--allow-new-privs"];
        a.extend_from_slice(extra);
        a.extend(["--", "/suid/nucleus", "caps", "show", "--json"]);
        serde_json::from_str(&run_ok(&a)).unwrap()
    };
    let v = show(&[]);
    assert_eq!(
        v["uids"][1], 0,
        "the set-uid bit works without no_new_privs: {v}"
    );
    for set in ["permitted", "effective", "bounding"] {
        assert_eq!(v["sets"][set]["hex"], "0000000000000000", "{set}: {v}");
    }
    let v = show(&["--caps-retain", "chown"]);
    assert_eq!(v["sets"]["permitted"]["hex"], "0000000000000001", "{v}");
    assert_eq!(v["sets"]["effective"]["hex"], "0000000000000001", "{v}");
    // With no_new_privs (the default) the set-uid bit does nothing at all.
    let v: serde_json::Value = serde_json::from_str(&run_ok(&[
        "--rootfs",
        r,
        "--user",
        "1000",
        "--",
        "/suid/nucleus",
        "caps",
        "show",
        "--json",
    ]))
    .unwrap();
    assert_eq!(v["uids"][1], 1000, "{v}");
}

/// Copies a dynamically linked binary into `root` at `dest`, with the libraries ldd lists.
fn copy_with_libs(bin: &str, root: &std::path::Path, dest: &std::path::Path) {
    copy_file(bin, dest);
    let out = Command::new("ldd").arg(bin).output().expect("ldd");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) else {
            continue;
        };
        let target = root.join(lib.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        copy_file(lib, &target);
    }
}
