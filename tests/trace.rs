//! `nucleus caps trace` and `caps exec --report-denials` (issue #11): the kernel's own
//! capability checks, recorded through a private tracefs instance. Each claim is proven by
//! the program's real outcome (the socket or bind that works or fails) and by tracefs
//! itself (no instance left behind). Needs root and Linux 6.14+; prints SKIPPED otherwise.

mod common;
use common::*;
use nucleus::linux::tracefs;
use serde_json::Value;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const PY: &str = "/usr/bin/python3";
const RAW: &str = "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, \
                   socket.IPPROTO_ICMP); print('raw ok')";

fn bind(port: u16, hold: f32) -> String {
    format!(
        "import socket, time; time.sleep({hold}); s = socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
         s.bind(('127.0.0.1', {port})); print('bound'); time.sleep({hold})"
    )
}

/// Root, and a kernel with the tracepoint (else SKIPPED with the reason).
fn traceable(name: &str) -> bool {
    if !privileged(name) {
        return false;
    }
    let o = nucleus(&["caps", "trace", "--", "/bin/true"]);
    if stderr(&o).contains("no capability:cap_capable tracepoint") {
        println!("SKIPPED (needs Linux 6.14+): {name}");
        return false;
    }
    true
}

/// The instances a nucleus process (by pid) left in tracefs.
fn left_by(pid: u32) -> Vec<String> {
    tracefs::instances(&format!("nucleus-{pid}-")).expect("list tracefs instances")
}

/// Runs nucleus to the end, then proves it left no tracing instance.
fn run_clean(args: &[&str]) -> Output {
    let child = Command::new(NUCLEUS)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nucleus");
    let pid = child.id();
    let o = child.wait_with_output().expect("wait nucleus");
    assert_eq!(left_by(pid), Vec::<String>::new(), "nucleus {args:?}");
    o
}

/// The JSON report: printed on stdout after whatever the program printed there.
fn json(o: &Output) -> Value {
    let out = stdout(o);
    let start = out.find("\n{\n").map(|i| i + 1).unwrap_or_else(|| {
        if out.starts_with('{') {
            0
        } else {
            out.len()
        }
    });
    serde_json::from_str(&out[start..])
        .unwrap_or_else(|e| panic!("{e}: {}\nstderr: {}", stdout(o), stderr(o)))
}

fn check<'a>(report: &'a Value, cap: &str) -> Option<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == cap && c["namespace"] == "init")
}

fn minimal(report: &Value) -> Vec<String> {
    report["minimal_retain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Kills a child on drop (a test that fails midway leaves nothing running).
struct Reap(Option<Child>);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            // Ignored: it may have exited already.
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn raw_socket_is_granted_then_denied_and_named() {
    if !traceable("raw_socket_is_granted_then_denied_and_named") {
        return;
    }
    let o = run_clean(&["caps", "trace", "--json", "--", PY, "-c", RAW]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json(&o);
    let raw = check(&r, "cap_net_raw").expect("cap_net_raw checked");
    assert!(raw["granted"].as_u64().unwrap() >= 1, "{raw}");
    assert_eq!(raw["first"]["comm"], "python3");
    assert!(minimal(&r).contains(&"net_raw".to_string()), "{r}");

    // As uid 1000 with nothing retained: the kernel refuses, and the trace says so.
    let args = ["--user", "1000", "--caps-retain", "", "--", PY, "-c", RAW];
    let o = run_clean(&[&["caps", "trace", "--json"][..], &args].concat());
    assert!(!o.status.success(), "the raw socket opened without net_raw");
    let r = json(&o);
    let raw = check(&r, "cap_net_raw").expect("cap_net_raw checked");
    assert_eq!(raw["granted"], 0, "{raw}");
    assert!(raw["denied"].as_u64().unwrap() >= 1, "{raw}");
    assert!(minimal(&r).is_empty(), "{r}");

    let o = run_clean(&[&["caps", "exec", "--report-denials"][..], &args].concat());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("denied cap_net_raw x1, first by python3["),
        "{}",
        stderr(&o)
    );
}

#[test]
fn port_80_as_uid_1000_round_trip() {
    if !traceable("port_80_as_uid_1000_round_trip") {
        return;
    }
    let dir = TempDir::new("trace80");
    let policy = dir.path("caps.json");
    let prog = bind(80, 0.0);
    let o = run_clean(&[
        "caps",
        "trace",
        "--json",
        "--policy-out",
        policy.to_str().unwrap(),
        "--user",
        "1000",
        "--caps-retain",
        "net_bind_service",
        "--",
        PY,
        "-c",
        &prog,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).matches("bound").count(), 1);
    let r = json(&o);
    // Exactly that: no sys_admin from the memory-reserve checks of every mmap.
    assert_eq!(minimal(&r), vec!["net_bind_service"], "{r}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&policy).unwrap()).unwrap();
    assert_eq!(written, serde_json::json!({"retain": ["net_bind_service"]}));

    // Enforcing the written policy, the program binds.
    let o = run_clean(&[
        "caps",
        "exec",
        "--caps-policy",
        policy.to_str().unwrap(),
        "--user",
        "1000",
        "--",
        PY,
        "-c",
        &prog,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "bound");

    // The policy minus that capability: the bind fails and the report names it.
    let less = dir.path("less.json");
    std::fs::write(&less, "{\"retain\": []}").unwrap();
    let o = run_clean(&[
        "caps",
        "exec",
        "--report-denials",
        "--caps-policy",
        less.to_str().unwrap(),
        "--user",
        "1000",
        "--",
        PY,
        "-c",
        &prog,
    ]);
    assert!(!o.status.success(), "bound without net_bind_service");
    assert!(stderr(&o).contains("PermissionError"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("denied cap_net_bind_service x1"),
        "{}",
        stderr(&o)
    );

    // --json: the same denial for a machine.
    let o = run_clean(&[
        "caps",
        "exec",
        "--report-denials",
        "--json",
        "--caps-policy",
        less.to_str().unwrap(),
        "--user",
        "1000",
        "--",
        PY,
        "-c",
        &prog,
    ]);
    let d = json(&o);
    assert!(
        d["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["capability"] == "cap_net_bind_service" && c["count"] == 1),
        "{d}"
    );
}

#[test]
fn parallel_traces_see_only_their_own_program() {
    if !traceable("parallel_traces_see_only_their_own_program") {
        return;
    }
    // Both programs run at the same time (each sleeps around its check).
    let spawn = |prog: &str| {
        Command::new(NUCLEUS)
            .args(["caps", "trace", "--json", "--", PY, "-c", prog])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run nucleus")
    };
    let raw = format!("import time; time.sleep(0.5); {RAW}; time.sleep(0.5)");
    let a = spawn(&bind(79, 0.5));
    let b = spawn(&raw);
    let (pa, pb) = (a.id(), b.id());
    let oa = a.wait_with_output().unwrap();
    let ob = b.wait_with_output().unwrap();
    assert!(oa.status.success() && ob.status.success());
    let (ra, rb) = (json(&oa), json(&ob));
    assert!(check(&ra, "cap_net_bind_service").is_some(), "{ra}");
    assert!(check(&ra, "cap_net_raw").is_none(), "{ra}");
    assert!(check(&rb, "cap_net_raw").is_some(), "{rb}");
    assert!(check(&rb, "cap_net_bind_service").is_none(), "{rb}");
    assert_eq!(minimal(&ra), vec!["net_bind_service"]);
    assert_eq!(minimal(&rb), vec!["net_raw"]);
    assert!(left_by(pa).is_empty() && left_by(pb).is_empty());
}

/// Starts `caps trace -- sleep 30` and waits until the sleep runs under the trace.
fn traced_sleep() -> (Reap, u32, u32) {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(NUCLEUS);
    c.args(["caps", "trace", "--", "sleep", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SIGINT as at a terminal: a test run started in the background by a non-interactive
    // shell inherits SIGINT ignored, and nucleus rightly passes that on to the program.
    // SAFETY: only signal(2), async-signal-safe, between fork and exec.
    unsafe {
        c.pre_exec(|| {
            if libc::signal(libc::SIGINT, libc::SIG_DFL) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let c = c.spawn().expect("run nucleus");
    let pid = c.id();
    let c = Reap(Some(c));
    let sleep = wait_for_descendant(pid, "sleep").expect("sleep started");
    assert_eq!(left_by(pid).len(), 1, "the trace's own instance exists");
    (c, pid, sleep)
}

#[test]
fn ctrl_c_is_forwarded_and_the_instance_removed() {
    if !traceable("ctrl_c_is_forwarded_and_the_instance_removed") {
        return;
    }
    let (mut c, pid, _sleep) = traced_sleep();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let o = c.0.take().unwrap().wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(stderr(&o).contains("minimal retain-set"), "{}", stderr(&o));
    assert!(left_by(pid).is_empty());
}

#[test]
fn sigkilled_trace_is_swept_by_the_next() {
    if !traceable("sigkilled_trace_is_swept_by_the_next") {
        return;
    }
    let (mut c, pid, sleep) = traced_sleep();
    let mut child = c.0.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    // Its program outlives it; stop it (our own descendant, by pid).
    // Ignored: it may be gone already.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleep as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert_eq!(left_by(pid).len(), 1, "a SIGKILLed trace cannot clean up");
    let o = run_clean(&["caps", "trace", "--", "/bin/true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(left_by(pid).is_empty(), "the next trace swept it");
}

#[test]
fn rootless_trace_names_the_requirement() {
    if !privileged("rootless_trace_names_the_requirement") {
        return;
    }
    let dir = TempDir::new("tracerootless");
    let bin = dir.copy(NUCLEUS, "nucleus");
    let o = Command::new("setpriv")
        .args(["--reuid", "1000", "--regid", "1000", "--clear-groups", "--"])
        .arg(&bin)
        .args(["caps", "trace", "--", "/bin/true"])
        .output()
        .expect("run setpriv");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.starts_with("nucleus: tracing needs CAP_SYS_ADMIN (root) for tracefs"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn exit_status_is_the_programs() {
    if !traceable("exit_status_is_the_programs") {
        return;
    }
    let o = run_clean(&["caps", "trace", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = run_clean(&["caps", "trace", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(o.status.code(), Some(128 + 15));
    std::thread::sleep(Duration::from_millis(1));
}

#[test]
fn detached_trace_follows_a_pid_and_is_collected() {
    if !traceable("detached_trace_follows_a_pid_and_is_collected") {
        return;
    }
    use std::io::Write;
    let name = format!("test-{}", std::process::id());
    let ev = tracefs::Events {
        caps: true,
        syscalls: true,
    };
    tracefs::start_detached(&name, ev).expect("start_detached");
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            tracefs::remove_detached(&self.0);
        }
    }
    let _gone = Gone(name.clone());
    // Followed before it executes the program (the program's exec starts it).
    let mut c = Command::new("sh")
        .args(["-c", &format!("read x; exec {PY} -c \"{RAW}\"")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    tracefs::follow_detached(&name, c.id() as i32, ev).expect("follow_detached");
    c.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(c.wait().unwrap().success());
    let r = tracefs::collect_detached(&name).expect("collect_detached");
    assert_eq!(r.minimal_retain, vec!["net_raw"], "{:?}", r.checks);
    assert!(r.syscalls.contains_key(&41), "socket(2) recorded");
    let inst = format!("nucleus-oci-{name}");
    assert!(!tracefs::instances(&inst).unwrap().contains(&inst));
}
