//! The process semantics runc users rely on: process.user.umask, HOME from the
//! container's /etc/passwd, a missing cwd made inside the root, no signal ignored by the
//! caller reaching the program, every field of `exec --process`, hooks' environment, and
//! what a failing hook leaves behind.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// `nucleus run` of the bundle; returns (exit code, stdout), stderr in the message.
fn run(b: &Bundle, id: &str) -> (i32, String) {
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), id]);
    (o.status.code().unwrap_or(-1), stdout(&o))
}

fn run_ok(b: &Bundle, id: &str) -> String {
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), id]);
    assert!(o.status.success(), "run {id}: {}", stderr(&o));
    stdout(&o)
}

/// A created and started container running `sleep 100`, for exec.
fn started(b: &Bundle, id: &str) {
    assert!(b.create(id).status.success(), "{}", b.output(id));
    let o = b.nucleus(&["start", id]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// `exec --process FILE` with `process` written to FILE; returns (code, stdout, stderr).
fn exec_process(b: &Bundle, id: &str, process: &Value) -> (i32, String, String) {
    let f = b.tmp.path(&format!("{id}-process.json"));
    std::fs::write(&f, process.to_string()).unwrap();
    let o = b.nucleus(&["exec", "--process", f.to_str().unwrap(), id]);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

fn with_passwd(b: &Bundle) {
    let etc = b.bundle().join("rootfs/etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000:user:/home/u:/bin/sh\n",
    )
    .unwrap();
}

/// The container's cgroup directories (`nucleus-<id>` below any hierarchy) that exist.
fn cgroups_of(id: &str) -> Vec<String> {
    let mut found = vec![];
    let name = format!("nucleus-{id}");
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        for h in rd.flatten() {
            for p in [
                h.path().join(&name),
                Path::new("/sys/fs/cgroup").join(&name),
            ] {
                if p.exists() {
                    found.push(p.display().to_string());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

fn gone(pid: i64) -> bool {
    // A zombie still has a /proc entry: it counts as gone only once reaped or dead.
    for _ in 0..500 {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z') =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
    false
}

#[test]
fn process_user_umask_is_applied_on_run_and_exec() {
    if !privileged("process_user_umask_is_applied_on_run_and_exec") {
        return;
    }
    let b = Bundle::new("procumask", &["sh", "-c", "umask"]);
    b.edit(|c| c["process"]["user"]["umask"] = json!(0o027));
    assert_eq!(run_ok(&b, "u1"), "0027\n");
    // Without a umask the runtime's own is kept (runc does the same): 0022 here.
    b.edit(|c| c["process"]["user"] = json!({"uid": 0, "gid": 0}));
    let o = b
        .cmd(&["run", "-b", b.bundle().to_str().unwrap(), "u2"])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), format!("{:04o}\n", current_umask()));

    // exec: the config's umask without --process, process.json's with it.
    b.edit(|c| {
        c["process"]["args"] = json!(["sleep", "100"]);
        c["process"]["user"]["umask"] = json!(0o027);
    });
    started(&b, "u3");
    let o = b.nucleus(&["exec", "u3", "sh", "-c", "umask"]);
    assert_eq!(stdout(&o), "0027\n", "{}", stderr(&o));
    let (code, out, err) = exec_process(
        &b,
        "u3",
        &json!({"args": ["sh", "-c", "umask"], "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0, "umask": 0o077}}),
    );
    assert_eq!((code, out.as_str()), (0, "0077\n"), "{err}");
    assert!(b.nucleus(&["delete", "--force", "u3"]).status.success());
}

fn current_umask() -> u32 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let v = st
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask line");
    u32::from_str_radix(v.trim(), 8).unwrap()
}

#[test]
fn home_comes_from_the_containers_passwd() {
    if !privileged("home_comes_from_the_containers_passwd") {
        return;
    }
    let b = Bundle::new("prochome", &["sh", "-c", "echo $HOME"]);
    with_passwd(&b);
    b.edit(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000}));
    assert_eq!(run_ok(&b, "h1"), "/home/u\n");
    // root: its entry; a uid without one: "/", as runc.
    b.edit(|c| c["process"]["user"] = json!({"uid": 0, "gid": 0}));
    assert_eq!(run_ok(&b, "h2"), "/root\n");
    b.edit(|c| c["process"]["user"] = json!({"uid": 2000, "gid": 2000}));
    assert_eq!(run_ok(&b, "h3"), "/\n");
    // HOME in the config wins.
    b.edit(|c| {
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["env"] = json!(["PATH=/bin", "HOME=/custom"]);
    });
    assert_eq!(run_ok(&b, "h4"), "/custom\n");

    // exec, with and without --process.
    b.edit(|c| {
        c["process"]["args"] = json!(["sleep", "100"]);
        c["process"]["env"] = json!(["PATH=/bin"]);
    });
    started(&b, "h5");
    let o = b.nucleus(&["exec", "h5", "sh", "-c", "echo $HOME"]);
    assert_eq!(stdout(&o), "/home/u\n", "{}", stderr(&o));
    let (_, out, err) = exec_process(
        &b,
        "h5",
        &json!({"args": ["sh", "-c", "echo $HOME"], "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 0, "gid": 0}}),
    );
    assert_eq!(out, "/root\n", "{err}");
    assert!(b.nucleus(&["delete", "--force", "h5"]).status.success());

    // The file is read inside the root: an /etc/passwd symlink to a host file reaches the
    // path of that name inside the root (missing), not the host's file.
    let host = b.tmp.path("host-passwd");
    std::fs::write(&host, "u:x:1000:1000::/escaped:/bin/sh\n").unwrap();
    let passwd = b.bundle().join("rootfs/etc/passwd");
    std::fs::remove_file(&passwd).unwrap();
    std::os::unix::fs::symlink(&host, &passwd).unwrap();
    b.edit(|c| c["process"]["args"] = json!(["sh", "-c", "echo $HOME"]));
    assert_eq!(run_ok(&b, "h6"), "/\n");
}

#[test]
fn a_missing_cwd_is_made_inside_the_root() {
    if !privileged("a_missing_cwd_is_made_inside_the_root") {
        return;
    }
    // The root is read-only (nucleus spec's default): the directory is made before.
    let b = Bundle::new(
        "proccwd",
        &["sh", "-c", "pwd; stat -c '%u %g %a' /work/sub /work"],
    );
    b.edit(|c| {
        assert_eq!(c["root"]["readonly"], json!(true));
        c["process"]["cwd"] = json!("/work/sub");
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    });
    // As runc: made by root, 0755.
    assert_eq!(run_ok(&b, "c1"), "/work/sub\n0 0 755\n0 0 755\n");
    assert!(b.bundle().join("rootfs/work/sub").is_dir());

    // Through a symlink to a host path: made at that path inside the root, never on the
    // host.
    let outside = b.tmp.path("outside");
    std::os::unix::fs::symlink(&outside, b.bundle().join("rootfs/link")).unwrap();
    b.edit(|c| {
        c["process"]["cwd"] = json!("/link/x");
        c["process"]["args"] = json!(["sh", "-c", "pwd"]);
    });
    let (code, out) = run(&b, "c2");
    assert_eq!(code, 0);
    assert!(out.ends_with("/outside/x\n"), "{out}");
    assert!(!outside.exists(), "the cwd was made on the host");
    let inside = b
        .bundle()
        .join("rootfs")
        .join(outside.strip_prefix("/").unwrap())
        .join("x");
    assert!(inside.is_dir(), "{}", inside.display());

    // exec does not make it (runc neither): a clear error.
    b.edit(|c| {
        c["process"]["args"] = json!(["sleep", "100"]);
        c["process"]["cwd"] = json!("/");
    });
    started(&b, "c3");
    let o = b.nucleus(&["exec", "--cwd", "/nonexistent", "c3", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("working directory /nonexistent"),
        "{}",
        stderr(&o)
    );
    assert!(!b.bundle().join("rootfs/nonexistent").exists());
    assert!(b.nucleus(&["delete", "--force", "c3"]).status.success());
}

/// A Command that starts with SIGINT, SIGQUIT and SIGHUP ignored, as a background job of a
/// non-interactive shell (or nohup) does.
fn ignoring_signals(mut c: Command) -> Command {
    // SAFETY: between fork and exec only async-signal-safe signal() calls run.
    unsafe {
        c.pre_exec(|| {
            for s in [libc::SIGINT, libc::SIGQUIT, libc::SIGHUP] {
                if libc::signal(s, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        })
    };
    c
}

fn sig_ign(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// Signals ignored by whoever started nucleus (or by nucleus itself: Rust ignores SIGPIPE)
/// do not reach the program. This was the flaky `exit_status_and_signals_propagate`: run
/// as a background job, the test's SIGINT was ignored on entry, so `sh` could not trap it
/// and the forwarded SIGINT was lost.
#[test]
fn signals_the_caller_ignores_are_not_ignored_by_the_program() {
    if !privileged("signals_the_caller_ignores_are_not_ignored_by_the_program") {
        return;
    }
    let b = Bundle::new("procsig", &["cat", "/proc/self/status"]);
    let o = ignoring_signals(b.cmd(&["run", "-b", b.bundle().to_str().unwrap(), "s1"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sig_ign(&stdout(&o)), "0000000000000000");

    // exec too.
    b.edit(|c| c["process"]["args"] = json!(["sleep", "100"]));
    started(&b, "s2");
    let o = ignoring_signals(b.cmd(&["exec", "s2", "cat", "/proc/self/status"]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sig_ign(&stdout(&o)), "0000000000000000");
    assert!(b.nucleus(&["delete", "--force", "s2"]).status.success());

    // The one-shot sandbox, with and without --init: the forwarded SIGINT is trapped.
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
        let mut c = Command::new(NUCLEUS);
        c.args(&args).stdout(Stdio::piped());
        let mut child = ignoring_signals(c).spawn().unwrap();
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap();
        let next = lines.next().map(|l| l.unwrap());
        let code = child.wait().unwrap().code();
        assert_eq!(
            (next.as_deref(), code),
            (Some("got-INT"), Some(3)),
            "init={init}"
        );
    }
}

/// `exec --process`: every field of process.json reaches the process, which leads its own
/// session and process group (as runc's exec processes do).
#[test]
fn exec_process_honours_every_field() {
    if !privileged("exec_process_honours_every_field") {
        return;
    }
    let b = Bundle::new("procexec", &["sleep", "100"]);
    with_passwd(&b);
    b.edit(|c| c["root"]["readonly"] = json!(false));
    std::fs::create_dir_all(b.bundle().join("rootfs/tmp")).unwrap();
    started(&b, "e1");
    let script = "read -r _ _ _ _ pgid sid _ < /proc/$$/stat; echo pid=$$ pgid=$pgid sid=$sid; \
                  grep -E '^(Uid|Gid|Groups|NoNewPrivs|CapEff|CapBnd|CapPrm):' /proc/$$/status; \
                  echo oom=$(cat /proc/$$/oom_score_adj) nofile=$(ulimit -n) cwd=$(pwd) \
                  foo=$FOO home=$HOME umask=$(umask)";
    let process = json!({
        "args": ["sh", "-c", script],
        "env": ["PATH=/bin", "FOO=bar"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 6], "umask": 0o007},
        "noNewPrivileges": true,
        "oomScoreAdj": 321,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 100, "soft": 50}],
        "capabilities": {"bounding": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"],
                         "effective": ["CAP_CHOWN"], "inheritable": [], "ambient": []}
    });
    let (code, out, err) = exec_process(&b, "e1", &process);
    assert_eq!(code, 0, "{err}");
    let field = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let first = out.lines().next().unwrap();
    let ids: Vec<&str> = first
        .split_whitespace()
        .map(|kv| kv.split_once('=').unwrap().1)
        .collect();
    assert_eq!(ids[0], ids[1], "not its own process group: {first}");
    assert_eq!(ids[0], ids[2], "not its own session: {first}");
    assert_eq!(field("Uid"), "1000 1000 1000 1000");
    assert_eq!(field("Gid"), "1000 1000 1000 1000");
    assert_eq!(field("Groups"), "5 6");
    assert_eq!(field("NoNewPrivs"), "1");
    // CAP_CHOWN in the bounding set; a non-root user keeps nothing permitted without
    // ambient (as runc).
    assert_eq!(field("CapBnd"), "0000000000000001");
    assert_eq!(field("CapEff"), "0000000000000000");
    assert!(
        out.contains("oom=321 nofile=50 cwd=/tmp foo=bar home=/home/u umask=0007"),
        "{out}"
    );
    // Without noNewPrivileges the process does not have it.
    let mut p = process.clone();
    p["noNewPrivileges"] = json!(false);
    let (code, out, err) = exec_process(&b, "e1", &p);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NoNewPrivs:\t0"), "{out}");
    assert!(b.nucleus(&["delete", "--force", "e1"]).status.success());
}

#[test]
fn exec_into_a_stopped_container_is_an_error() {
    if !privileged("exec_into_a_stopped_container_is_an_error") {
        return;
    }
    let b = Bundle::new("procstopped", &["true"]);
    started(&b, "x1");
    b.wait_status("x1", "stopped");
    let o = b.nucleus(&["exec", "x1", "true"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("nucleus: container 'x1' is stopped: exec needs a running container"),
        "{err}"
    );
    assert!(b.nucleus(&["delete", "x1"]).status.success());
}

/// A hook without `env` gets what runc's get: the runtime's environment for the hooks the
/// runtime runs, the container process's for createContainer (runc's init has that
/// environment by then). A hook with `env` gets exactly that.
#[test]
fn hook_environment_is_runcs() {
    if !privileged("hook_environment_is_runcs") {
        return;
    }
    let b = Bundle::new("prochookenv", &["true"]);
    let file = |name: &str| b.tmp.path(&format!("{name}.env"));
    let hook = |name: &str, env: Option<Vec<&str>>| {
        let mut h = json!({"path": "/bin/sh",
            "args": ["sh", "-c", format!("/usr/bin/env > {}", file(name).display())]});
        if let Some(e) = env {
            h["env"] = json!(e);
        }
        h
    };
    b.edit(|c| {
        c["process"]["env"] = json!(["PATH=/bin", "PROCVAR=1"]);
        c["hooks"] = json!({
            "prestart": [hook("prestart", None)],
            "createRuntime": [hook("createRuntime", Some(vec!["ONLY=this"]))],
            "createContainer": [hook("createContainer", None)],
            "poststart": [hook("poststart", None)],
            "poststop": [hook("poststop", None)]
        });
    });
    let o = b
        .cmd(&["run", "-b", b.bundle().to_str().unwrap(), "k1"])
        .env("CALLER_VAR", "from-caller")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap_or_default();
    for name in ["prestart", "poststart", "poststop"] {
        let e = read(name);
        assert!(e.contains("CALLER_VAR=from-caller\n"), "{name}: {e}");
        assert!(!e.contains("PROCVAR"), "{name}: {e}");
    }
    let e = read("createRuntime");
    assert!(e.contains("ONLY=this\n"), "{e}");
    assert!(!e.contains("CALLER_VAR"), "{e}");
    let e = read("createContainer");
    assert!(e.contains("PROCVAR=1\n"), "{e}");
    assert!(!e.contains("CALLER_VAR"), "{e}");
}

/// A failing poststart hook fails `start`; the container is stopped and deleted (its
/// poststop hooks run), as runc does.
#[test]
fn a_failing_poststart_hook_stops_and_deletes_the_container() {
    if !privileged("a_failing_poststart_hook_stops_and_deletes_the_container") {
        return;
    }
    let b = Bundle::new("procpoststart", &["sleep", "100"]);
    let stopped = b.tmp.path("poststop.ran");
    b.edit(|c| {
        c["hooks"] = json!({
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}],
            "poststop": [{"path": "/bin/sh",
                          "args": ["sh", "-c", format!("touch {}", stopped.display())]}]
        })
    });
    assert!(b.create("p1").status.success(), "{}", b.output("p1"));
    let pid = b.state("p1")["pid"].as_i64().unwrap();
    assert!(!cgroups_of("p1").is_empty(), "the test needs a cgroup");
    let o = b.nucleus(&["start", "p1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("nucleus: poststart hook #0 (/bin/sh): failed")
            && err.contains("the container was stopped and deleted"),
        "{err}"
    );
    assert!(gone(pid), "the container's process {pid} is still running");
    assert!(!b.root().join("p1").exists(), "its state is left");
    assert_eq!(cgroups_of("p1"), Vec::<String>::new());
    assert!(stopped.exists(), "poststop did not run");
}

/// A failing prestart or createRuntime hook fails create and leaves nothing: no state, no
/// cgroup, no process.
#[test]
fn a_failing_create_time_hook_leaves_nothing() {
    if !privileged("a_failing_create_time_hook_leaves_nothing") {
        return;
    }
    let b = Bundle::new("proccreatehook", &["sleep", "100"]);
    for (stage, id) in [("prestart", "f1"), ("createRuntime", "f2")] {
        let seen = b.tmp.path(&format!("{id}.state"));
        b.edit(|c| {
            c["hooks"] = json!({
                stage: [{"path": "/bin/sh",
                         "args": ["sh", "-c", format!("cat > {}; exit 5", seen.display())]}]
            })
        });
        let o = b.create(id);
        assert_eq!(o.status.code(), Some(1), "{stage}");
        assert!(
            b.output(id)
                .contains(&format!("{stage} hook #0 (/bin/sh): failed")),
            "{stage}: {}",
            b.output(id)
        );
        let st: Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
        let pid = st["pid"].as_i64().unwrap();
        assert!(pid > 0);
        assert!(gone(pid), "{stage}: process {pid} is left");
        assert!(!b.root().join(id).exists(), "{stage}: state is left");
        assert_eq!(cgroups_of(id), Vec::<String>::new(), "{stage}");
        let o = b.nucleus(&["list", "-q"]);
        assert!(!stdout(&o).contains(id), "{stage}: {}", stdout(&o));
    }
}
