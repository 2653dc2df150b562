//! `nucleus audit`: exposure scores of real processes, compared with each other and with
//! what /proc says about them.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::Value;
use std::process::{Child, Command, Stdio};

/// A `nucleus run … -- sleep 1000` in the background and its program's PID. Drop kills
/// the program (the sandbox's only process), so `nucleus run` returns and cleans up.
struct Sandbox {
    run: Child,
    sleep: Option<u32>,
}

impl Sandbox {
    fn start(flags: &[&str]) -> Sandbox {
        let mut args = vec!["run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "sleep", "1000"]);
        let run = Command::new(NUCLEUS)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nucleus run");
        let mut s = Sandbox { run, sleep: None };
        s.sleep = wait_for_descendant(s.run.id(), "sleep");
        assert!(s.sleep.is_some(), "no sleep under nucleus run {flags:?}");
        s
    }

    fn pid(&self) -> String {
        self.sleep.unwrap().to_string()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        match self.sleep {
            Some(p) => {
                // The sleep is gone already when the test killed it; that is fine.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            None => {
                // No program found: stop the runtime we started.
                let _ = self.run.kill();
            }
        }
        // Reaping our own child; its status does not matter here.
        let _ = self.run.wait();
    }
}

fn audit_json(args: &[&str]) -> Value {
    let mut full = vec!["audit", "--json"];
    full.extend_from_slice(args);
    serde_json::from_str(&ok(&full)).expect("audit --json is JSON")
}

fn finding<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .unwrap_or_else(|| panic!("no finding {key} in {r}"))
}

fn exposure(r: &Value) -> f64 {
    r["exposure"].as_f64().unwrap()
}

fn status_field(pid: &str, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn default_sandbox_scores_best_sys_admin_unconfined_worse_host_init_worst() {
    if !privileged("default_sandbox_scores_best_sys_admin_unconfined_worse_host_init_worst") {
        return;
    }
    let good = Sandbox::start(&[]);
    let bad = Sandbox::start(&["--caps-retain", "sys_admin", "--seccomp", "unconfined"]);
    let g = audit_json(&[&good.pid()]);
    let b = audit_json(&[&bad.pid()]);
    let h = audit_json(&["1"]);
    let (eg, eb, eh) = (exposure(&g), exposure(&b), exposure(&h));
    assert!(
        eg < eb,
        "default {eg} must be below sys_admin+unconfined {eb}"
    );
    assert!(
        eb < eh,
        "sys_admin+unconfined {eb} must be below host PID 1 {eh}"
    );
    for r in [&g, &b, &h] {
        let e = exposure(r);
        assert!((0.0..=10.0).contains(&e), "{r}");
    }

    // Each finding agrees with what the kernel shows in /proc.
    for (r, pid) in [(&g, good.pid()), (&b, bad.pid())] {
        let seccomp = status_field(&pid, "Seccomp:");
        let f = finding(r, "seccomp");
        assert_eq!(
            f["exposure"] == 0.0,
            seccomp != "0",
            "{f} vs Seccomp: {seccomp}"
        );
        let nnp = status_field(&pid, "NoNewPrivs:") == "1";
        assert_eq!(finding(r, "no_new_privs")["exposure"] == 0.0, nnp);
        let eff = u64::from_str_radix(&status_field(&pid, "CapEff:"), 16).unwrap();
        let f = finding(r, "capabilities_effective");
        assert_eq!(f["exposure"] == 0.0, eff == 0, "{f} vs CapEff {eff:x}");
        // Own PID namespace: the program is PID 1 inside, so NSpid has two entries.
        let nspid = status_field(&pid, "NSpid:");
        assert_eq!(nspid.split_whitespace().count(), 2, "{nspid}");
        assert_eq!(finding(r, "host_binaries")["exposure"], 0.0);
        assert_eq!(finding(r, "namespace_pid")["exposure"], 0.0);
    }
    let eff_bad = u64::from_str_radix(&status_field(&bad.pid(), "CapEff:"), 16).unwrap();
    assert_eq!(eff_bad, 1 << 21, "sys_admin only");
    assert!(finding(&b, "capabilities_effective")["detail"]
        .as_str()
        .unwrap()
        .contains("dangerous: sys_admin"));
    assert_eq!(finding(&b, "seccomp")["exposure"], 1.0);

    // Host PID 1: every capability it holds, no seccomp, its own root filesystem.
    let f = finding(&h, "seccomp");
    assert_eq!(f["exposure"] == 1.0, status_field("1", "Seccomp:") == "0");
    assert_eq!(finding(&h, "host_binaries")["exposure"], 1.0);
    assert_eq!(h["pid"], 1);
    // Landlock is honestly not scored.
    assert!(finding(&g, "landlock")["exposure"].is_null());
}

#[test]
fn threshold_sets_the_exit_status() {
    if !privileged("threshold_sets_the_exit_status") {
        return;
    }
    let good = Sandbox::start(&[]);
    let e = exposure(&audit_json(&[&good.pid()]));
    let above = format!("{}", (e - 0.1).max(0.0));
    let o = nucleus(&["audit", &good.pid(), "--threshold", &above]);
    if e > 0.0 {
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(stderr(&o).contains("above the threshold"), "{}", stderr(&o));
    }
    let o = nucleus(&["audit", &good.pid(), "--threshold", &format!("{e}")]);
    assert_eq!(o.status.code(), Some(0), "at the threshold passes");
    let o = nucleus(&["audit", "1", "--threshold", "0"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).contains("exposure"),
        "the report is still printed"
    );
}

#[test]
fn audit_a_container_by_id() {
    if !privileged("audit_a_container_by_id") {
        return;
    }
    let b = Bundle::new("auditc", &["sleep", "1000"]);
    let bun = b.bundle();
    let o = b
        .cmd(&["run", "-d", "-b", bun.to_str().unwrap(), "a1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    let pid = b.state("a1")["pid"].as_i64().unwrap();
    // `run -d` returns once the program is let go, as runc's does: its execve may still
    // be on the way (until then the process is nucleus' init).
    assert!(
        wait_for_comm(pid as u32, "sleep"),
        "the program never started"
    );
    let o = b.nucleus(&["audit", "--json", "--container", "a1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["pid"], pid);
    assert_eq!(r["name"], "sleep");
    assert!(b.nucleus(&["kill", "a1", "KILL"]).status.success());
    b.wait_status("a1", "stopped");
    let o = b.nucleus(&["audit", "--container", "a1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'a1' is stopped"), "{}", stderr(&o));
    assert!(b.nucleus(&["delete", "a1"]).status.success());
}

#[test]
fn bad_input_is_one_clear_line() {
    // Needs no privileges: nothing is read but /proc and an empty state root.
    let o = nucleus(&["audit", "2147483647"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("nucleus: no process with PID 2147483647\n"),
        "{}",
        stderr(&o)
    );
    let tmp = TempDir::new("auditroot");
    let root = tmp.path("state");
    let o = nucleus(&[
        "--root",
        root.to_str().unwrap(),
        "audit",
        "--container",
        "nosuch",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("nucleus: container 'nosuch' does not exist\n"),
        "{}",
        stderr(&o)
    );
    assert!(!root.exists(), "audit creates no state root");
    let o = nucleus(&["audit"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "clap: PID or --container required"
    );
    let o = nucleus(&["audit", "1", "--threshold", "11"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("0 to 10"), "{}", stderr(&o));
}
