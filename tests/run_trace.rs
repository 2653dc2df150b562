//! Tracing a sandboxed program (`nucleus run --trace-caps`, `--learn`, `--report-denials`)
//! and an OCI container (annotation run.nucleus.trace-caps): what the kernel checked and
//! refused is named, a learned policy and seccomp profile run the same workload again, and
//! no tracefs instance is left behind.
mod common;

use common::bundle::Bundle;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Lists tracefs instances whose names start with `prefix`, through a private tracefs
/// mount (the host's tracefs need not be mounted; instances are the kernel's, whichever
/// mount shows them). None when this kernel has no capability:cap_capable tracepoint.
fn instances(prefix: &str) -> Option<Vec<String>> {
    let script = r#"d=$(mktemp -d); mount -t tracefs nodev "$d" || exit 9
        if [ -d "$d/events/capability/cap_capable" ]; then echo TRACEPOINT; fi
        ls "$d/instances"; umount "$d"; rmdir "$d""#;
    let o = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", script])
        .output()
        .expect("run unshare");
    assert!(o.status.success(), "listing tracefs: {}", stderr(&o));
    let text = stdout(&o);
    let mut lines = text.lines();
    if lines.next() != Some("TRACEPOINT") {
        return None;
    }
    Some(
        lines
            .filter(|l| l.starts_with(prefix))
            .map(String::from)
            .collect(),
    )
}

/// Root and a kernel with the tracepoint (Linux 6.14+); otherwise prints SKIPPED.
fn can_trace(name: &str) -> bool {
    if !privileged(name) {
        return false;
    }
    if instances("nucleus-").is_none() {
        println!("SKIPPED (needs the capability:cap_capable tracepoint, Linux 6.14+): {name}");
        return false;
    }
    true
}

/// Runs nucleus, and afterwards insists that its tracefs instance (`nucleus-<pid>-*`) is
/// gone, whatever the outcome.
fn traced(args: &[&str]) -> Output {
    let child = Command::new(NUCLEUS)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run nucleus");
    let pid = child.id();
    let out = child.wait_with_output().expect("wait for nucleus");
    let left = instances(&format!("nucleus-{pid}-")).unwrap_or_default();
    assert!(left.is_empty(), "nucleus {args:?} left {left:?}");
    out
}

/// A busybox root with the applets the workloads use.
fn busybox_root(tmp: &TempDir) -> PathBuf {
    let r = tmp.path("root");
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed by .ci/run");
    copy_file(bb, r.join("bin/busybox"));
    for c in ["sh", "ls", "cat", "echo", "true", "unshare"] {
        std::os::unix::fs::symlink("busybox", r.join("bin").join(c)).unwrap();
    }
    set_mode(&r, 0o755);
    r
}

const WORKLOAD: &str = "echo hi > /tmp/x; cat /tmp/x; ls /";

#[test]
fn learned_policy_and_profile_run_the_workload_and_refuse_the_rest() {
    if !can_trace("learned_policy_and_profile_run_the_workload_and_refuse_the_rest") {
        return;
    }
    let tmp = TempDir::new("learn");
    let root = busybox_root(&tmp);
    let root = root.to_str().unwrap();
    let dir = tmp.path("learned");
    let learn = traced(&[
        "run",
        "--rootfs",
        root,
        "--learn",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        WORKLOAD,
    ]);
    assert!(learn.status.success(), "{}", stderr(&learn));
    let first = stdout(&learn);
    assert!(
        first.starts_with("hi\n") && first.contains("bin\n"),
        "{first}"
    );
    for f in ["caps.json", "seccomp.json", "report.json", "report.txt"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let caps: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("caps.json")).unwrap()).unwrap();
    assert_eq!(caps["retain"], serde_json::json!([]), "{caps}");
    let profile: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("seccomp.json")).unwrap()).unwrap();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(profile["defaultErrnoRet"], 1);
    let allowed: Vec<&str> = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|s| s["names"].as_array().unwrap())
        .map(|n| n.as_str().unwrap())
        .collect();
    for n in ["execve", "write", "openat", "getdents64"] {
        assert!(allowed.contains(&n), "{n} not allowed: {allowed:?}");
    }
    for n in ["unshare", "mount", "setns", "ptrace"] {
        assert!(!allowed.contains(&n), "{n} allowed: {allowed:?}");
    }

    // The same workload under what was learned: the same output.
    let policy = dir.join("caps.json");
    let seccomp = dir.join("seccomp.json");
    let enforce = |extra: &[&str], script: &str| {
        let mut a = vec![
            "run",
            "--rootfs",
            root,
            "--caps-policy",
            policy.to_str().unwrap(),
            "--seccomp-profile",
            seccomp.to_str().unwrap(),
        ];
        a.extend(extra);
        a.extend(["--", "sh", "-c", script]);
        traced(&a)
    };
    let again = nucleus(&[
        "run",
        "--rootfs",
        root,
        "--caps-policy",
        policy.to_str().unwrap(),
        "--seccomp-profile",
        seccomp.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        WORKLOAD,
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(stdout(&again), first);

    // What the workload never did is refused, and --report-denials names it.
    let refused = enforce(&["--report-denials"], "unshare -U true; echo rc=$?");
    assert!(refused.status.success(), "{}", stderr(&refused));
    assert!(stdout(&refused).contains("rc=1"), "{}", stdout(&refused));
    let err = stderr(&refused);
    assert!(
        err.lines()
            .any(|l| l.contains("seccomp refused unshare") && l.contains("EPERM")),
        "{err}"
    );
    let json = enforce(&["--report-denials", "--report-json"], "unshare -U true");
    let err = stderr(&json);
    let doc: Value = serde_json::from_str(err.lines().last().unwrap()).expect("JSON last line");
    let unshare = doc["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["syscall"] == "unshare")
        .unwrap_or_else(|| panic!("unshare not named: {doc}"));
    assert_eq!(unshare["errno"], 1);
    assert!(unshare["count"].as_u64().unwrap() >= 1);
}

const RAW_SOCKET: &str =
    "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)";

#[test]
fn trace_caps_names_a_granted_capability_and_report_denials_a_denied_one() {
    if !can_trace("trace_caps_names_a_granted_capability_and_report_denials_a_denied_one") {
        return;
    }
    let tmp = TempDir::new("tracecaps");
    let file = tmp.path("caps.json");
    let o = traced(&[
        "run",
        "--trace-caps",
        file.to_str().unwrap(),
        "--caps-retain",
        "net_raw",
        "--",
        "python3",
        "-c",
        RAW_SOCKET,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let net_raw = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == "cap_net_raw")
        .unwrap_or_else(|| panic!("cap_net_raw not in {report}"));
    assert!(net_raw["granted"].as_u64().unwrap() >= 1, "{net_raw}");
    assert_eq!(net_raw["first"]["comm"], "python3");
    assert_eq!(report["minimal_retain"], serde_json::json!(["net_raw"]));

    // Without the capability (nucleus run's default: none) the socket fails, and the
    // kernel's denial is named.
    let o = traced(&["run", "--report-denials", "--", "python3", "-c", RAW_SOCKET]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("PermissionError"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("cap_net_raw") && l.contains("python3")),
        "{err}"
    );
    let o = traced(&[
        "run",
        "--report-denials",
        "--report-json",
        "--",
        "python3",
        "-c",
        RAW_SOCKET,
    ]);
    let err = stderr(&o);
    let doc: Value = serde_json::from_str(err.lines().last().unwrap()).expect("JSON last line");
    assert!(
        doc["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["capability"] == "cap_net_raw" && c["count"].as_u64() >= Some(1)),
        "{doc}"
    );
}

#[test]
fn a_failing_program_still_gets_its_report_and_nothing_is_left() {
    if !can_trace("a_failing_program_still_gets_its_report_and_nothing_is_left") {
        return;
    }
    let tmp = TempDir::new("tracefail");
    let file = tmp.path("r.json");
    let o = traced(&[
        "run",
        "--trace-caps",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(file.is_file());
    // A program that cannot start: an error, no report, no instance (checked by traced).
    let file = tmp.path("none.json");
    let o = traced(&[
        "run",
        "--trace-caps",
        file.to_str().unwrap(),
        "--",
        "/nonexistent",
    ]);
    assert!(!o.status.success());
    assert!(!file.exists());
    // Killed by a signal (under --init: the program is PID 2, which SIGKILL reaches).
    let file = tmp.path("killed.json");
    let o = traced(&[
        "run",
        "--init",
        "--trace-caps",
        file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "kill -9 $$",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert!(file.is_file());
}

#[test]
fn caps_policy_file_is_enforced_and_excludes_the_flags() {
    if !privileged("caps_policy_file_is_enforced_and_excludes_the_flags") {
        return;
    }
    let tmp = TempDir::new("capspolicy");
    let p = tmp.path("p.json");
    std::fs::write(&p, r#"{"retain":["net_bind_service"]}"#).unwrap();
    let out = ok(&[
        "run",
        "--caps-policy",
        p.to_str().unwrap(),
        "--",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(out.trim(), "CapEff:\t0000000000000400");
    let o = nucleus(&[
        "run",
        "--caps-policy",
        p.to_str().unwrap(),
        "--cap-add",
        "chown",
        "--",
        "true",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--caps-policy"), "{}", stderr(&o));
    std::fs::write(&p, r#"{"retain":["no_such_cap"]}"#).unwrap();
    let o = nucleus(&["run", "--caps-policy", p.to_str().unwrap(), "--", "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("p.json"), "{}", stderr(&o));
}

#[test]
fn oci_annotation_traces_the_container_and_its_exec_processes() {
    if !can_trace("oci_annotation_traces_the_container_and_its_exec_processes") {
        return;
    }
    let b = Bundle::new("ocitrace", &["sleep", "100"]);
    let rootfs = b.bundle().join("rootfs");
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/chown")).unwrap();
    let name = format!("test-{}.caps.json", std::process::id());
    let report = Path::new("/var/log/nucleus/traces").join(&name);
    let _serial = TRACE_DIR.lock().unwrap_or_else(|e| e.into_inner());
    let _gone = Gone(report.clone());
    b.edit(|c| c["annotations"] = serde_json::json!({ "run.nucleus.trace-caps": name }));
    let id = format!("trace{}", std::process::id());
    let inst = format!("nucleus-oci-{id}-");
    let o = b.create(&id);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        instances(&inst).unwrap().len(),
        1,
        "one instance of its own"
    );
    let o = b.nucleus(&["start", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Only the exec'd process uses CAP_CHOWN: the report shows it was followed.
    let o = b.nucleus(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo x > /dev/shm/f && chown 5:5 /dev/shm/f",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.nucleus(&["delete", "--force", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(instances(&inst).unwrap().is_empty());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let chown = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["capability"] == "cap_chown")
        .unwrap_or_else(|| panic!("cap_chown not in {doc}"));
    assert!(chown["granted"].as_u64().unwrap() >= 1, "{chown}");
    assert_eq!(chown["first"]["comm"], "chown");
}

#[test]
fn oci_annotation_cannot_choose_where_the_report_goes() {
    if !can_trace("oci_annotation_cannot_choose_where_the_report_goes") {
        return;
    }
    // A report is a new file in /var/log/nucleus/traces: a path elsewhere, a way out of
    // that directory, or an existing file (which would be overwritten) are refused.
    let _serial = TRACE_DIR.lock().unwrap_or_else(|e| e.into_inner());
    let existing = format!("exists-{}.json", std::process::id());
    let dir = Path::new("/var/log/nucleus/traces");
    std::fs::create_dir_all(dir).unwrap();
    let existing_path = dir.join(&existing);
    std::fs::write(&existing_path, "keep me").unwrap();
    let _gone = Gone(existing_path.clone());
    for (i, value) in [
        "/etc/report.json".to_string(),
        "../report.json".to_string(),
        "/var/log/nucleus/traces/../x.json".to_string(),
        existing.clone(),
    ]
    .iter()
    .enumerate()
    {
        let b = Bundle::new("ocitracerel", &["true"]);
        b.edit(|c| c["annotations"] = serde_json::json!({ "run.nucleus.trace-caps": value }));
        let id = format!("tracerel{}-{i}", std::process::id());
        let o = b.create(&id);
        assert!(!o.status.success(), "{value} was accepted");
        let err = stderr(&o);
        assert!(err.contains("run.nucleus.trace-caps"), "{value}: {err}");
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| !l.starts_with("hint"))
                .count(),
            1,
            "{err}"
        );
        assert!(instances(&format!("nucleus-oci-{id}")).unwrap().is_empty());
        assert!(!b.root().join(&id).exists());
    }
    assert_eq!(std::fs::read_to_string(&existing_path).unwrap(), "keep me");
}

/// The OCI tests share /var/log/nucleus/traces, which each removes when it is empty.
static TRACE_DIR: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Removes a report, then the trace directories if nothing else is in them.
struct Gone(PathBuf);
impl Drop for Gone {
    fn drop(&mut self) {
        // The report may not exist when the test failed early.
        let _ = std::fs::remove_file(&self.0);
        // Only empty directories go; another report (not ours) keeps them.
        let _ = std::fs::remove_dir("/var/log/nucleus/traces");
        let _ = std::fs::remove_dir("/var/log/nucleus");
    }
}
