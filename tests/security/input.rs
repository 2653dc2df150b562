//! Bad input (issue #14): what runc rejects, nucleus rejects before it creates anything —
//! one `nucleus:` line naming the problem (plus an optional `hint:` line), a non-zero exit,
//! and no state directory, cgroup or process left behind.

use super::common::bundle::Bundle;
use super::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a refused command left: its exit status, its stderr and its PID.
struct Refusal {
    success: bool,
    stderr: String,
    pid: u32,
}

/// Runs `cmd` with stdio sent to files, killing it (and failing) after 5 s: a regression
/// that blocks (a FIFO for config.json) must not hang the suite.
fn run_bounded(mut cmd: Command, tmp: &TempDir, name: &str) -> Refusal {
    let out = tmp.path(&format!("{name}.stderr"));
    let err = std::fs::File::create(&out).unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(err.try_clone().unwrap()))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("spawn nucleus");
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            // Kill errors only if it exited meanwhile; wait() reaps it either way.
            child.kill().ok();
            child.wait().unwrap();
            panic!(
                "{name}: nucleus still running after 5 s; output: {}",
                std::fs::read_to_string(&out).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Refusal {
        success: status.success(),
        stderr: std::fs::read_to_string(&out).unwrap(),
        pid: child.id(),
    }
}

/// The refusal is one `nucleus:` line holding every word of `wants`, plus at most a
/// `hint:` line.
fn assert_one_clear_line(r: &Refusal, name: &str, wants: &[&str]) {
    assert!(!r.success, "{name}: accepted; stderr: {}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        matches!(lines.len(), 1 | 2)
            && lines[0].starts_with("nucleus: ")
            && lines.get(1).is_none_or(|h| h.starts_with("hint: ")),
        "{name}: not one error line (plus a hint):\n{}",
        r.stderr
    );
    for w in wants {
        assert!(
            lines[0].contains(w),
            "{name}: the error does not name {w:?}:\n{}",
            r.stderr
        );
    }
}

/// No cgroup named `leaf` in any hierarchy (v1 controllers and the unified mount).
fn assert_no_cgroup(leaf: &str) {
    let mut dirs = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") {
        dirs.extend(rd.flatten().map(|e| e.path()));
    }
    for d in dirs {
        let c = d.join(leaf);
        assert!(!c.exists(), "cgroup {} was left behind", c.display());
    }
}

/// The --root holds no container directory.
fn assert_no_state(root: &Path) {
    let left: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "state left under {}: {left:?}",
        root.display()
    );
}

/// `create` on a bundle whose config.json `edit` spoils must be refused cleanly.
fn create_refused(name: &str, edit: impl FnOnce(&mut Value), wants: &[&str]) {
    let b = Bundle::new(&format!("input-{name}"), &["true"]);
    b.edit(edit);
    let id = format!("input-{name}-{}", std::process::id());
    let bundle = b.bundle();
    let r = run_bounded(
        b.cmd(&["create", "-b", bundle.to_str().unwrap(), &id]),
        &b.tmp,
        name,
    );
    assert_one_clear_line(&r, name, wants);
    assert_no_state(&b.root());
    assert_no_cgroup(&format!("nucleus-{id}"));
}

/// A one-shot `nucleus run ARGS` must be refused cleanly.
fn sandbox_refused(name: &str, args: &[&str], wants: &[&str]) {
    let tmp = TempDir::new(&format!("input-{name}"));
    let mut cmd = Command::new(NUCLEUS);
    cmd.arg("run").args(args);
    let r = run_bounded(cmd, &tmp, name);
    assert_one_clear_line(&r, name, wants);
    // A one-shot run's cgroup is named after the nucleus process.
    assert_no_cgroup(&format!("nucleus-{}", r.pid));
}

#[test]
fn duplicate_namespace_is_refused() {
    if !privileged("duplicate_namespace_is_refused") {
        return;
    }
    create_refused(
        "dupns",
        |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "pid"}))
        },
        &["linux.namespaces", "pid", "twice"],
    );
}

#[test]
fn relative_cwd_is_refused() {
    if !privileged("relative_cwd_is_refused") {
        return;
    }
    create_refused(
        "relcwd",
        |c| c["process"]["cwd"] = json!("tmp"),
        &["process.cwd", "'tmp'", "absolute"],
    );
}

#[test]
fn capability_numbers_are_refused() {
    if !privileged("capability_numbers_are_refused") {
        return;
    }
    create_refused(
        "capnum",
        |c| c["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "12"]),
        &["process.capabilities.bounding", "'12'", "number"],
    );
    create_refused(
        "capbare",
        |c| c["process"]["capabilities"]["permitted"] = json!(["CAP_CHOWN", 12]),
        &["process.capabilities.permitted", "12", "number"],
    );
}

#[test]
fn non_positive_hook_timeout_is_refused() {
    if !privileged("non_positive_hook_timeout_is_refused") {
        return;
    }
    for t in [-1, 0] {
        create_refused(
            &format!("hook{}", t + 1),
            |c| c["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": t}]}),
            &["hooks.prestart", "timeout", &t.to_string(), "positive"],
        );
    }
}

#[test]
fn nul_byte_in_args_or_env_is_refused() {
    if !privileged("nul_byte_in_args_or_env_is_refused") {
        return;
    }
    create_refused(
        "nularg",
        |c| c["process"]["args"] = json!(["sh", "-c", "echo\u{0}x"]),
        &["argument 2", "NUL byte"],
    );
    create_refused(
        "nulenv",
        |c| {
            c["process"]["env"]
                .as_array_mut()
                .unwrap()
                .push(json!("A=b\u{0}c"))
        },
        &["process.env", "NUL byte"],
    );
}

#[test]
fn volumes_over_proc_sys_dev_are_refused() {
    if !privileged("volumes_over_proc_sys_dev_are_refused") {
        return;
    }
    for (i, dst) in ["/proc", "/proc/sys", "/sys", "/dev", "/dev/shm"]
        .iter()
        .enumerate()
    {
        let vol = format!("/tmp:{dst}");
        sandbox_refused(
            &format!("vol{i}"),
            &["-v", &vol, "--", "true"],
            &["volume", dst, "mounts"],
        );
    }
    // config.json: only a proc filesystem goes at /proc.
    create_refused(
        "procbind",
        |c| {
            c["mounts"].as_array_mut().unwrap().push(
                json!({"destination": "/proc", "type": "bind", "source": "/tmp", "options": ["rbind"]}),
            )
        },
        &["/proc", "proc"],
    );
}

#[test]
fn root_that_is_a_file_is_refused() {
    if !privileged("root_that_is_a_file_is_refused") {
        return;
    }
    let b = Bundle::new("input-rootfile", &["true"]);
    let file = b.tmp.path("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let bundle = b.bundle();
    let want = format!("--root {} is not a directory", file.display());
    for verb in [
        vec!["list"],
        vec!["create", "-b", bundle.to_str().unwrap(), "rootfile"],
    ] {
        let mut cmd = Command::new(NUCLEUS);
        cmd.arg("--root").arg(&file).args(&verb);
        let r = run_bounded(cmd, &b.tmp, verb[0]);
        assert_one_clear_line(&r, verb[0], &[&want]);
        assert!(r.stderr.contains("hint:"), "{}", r.stderr);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }
    assert_no_cgroup("nucleus-rootfile");
}

#[test]
fn tiny_memory_limit_is_refused() {
    if !privileged("tiny_memory_limit_is_refused") {
        return;
    }
    create_refused(
        "tinymem",
        |c| c["linux"]["resources"] = json!({"memory": {"limit": 1}}),
        &["linux.resources.memory.limit", "6 MiB"],
    );
}

#[test]
fn config_json_fifo_is_refused_without_hanging() {
    if !privileged("config_json_fifo_is_refused_without_hanging") {
        return;
    }
    let b = Bundle::new("input-fifo", &["true"]);
    let cfg = b.bundle().join("config.json");
    std::fs::remove_file(&cfg).unwrap();
    nix::unistd::mkfifo(&cfg, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    let id = format!("input-fifo-{}", std::process::id());
    let bundle = b.bundle();
    let r = run_bounded(
        b.cmd(&["create", "-b", bundle.to_str().unwrap(), &id]),
        &b.tmp,
        "fifo",
    );
    assert_one_clear_line(&r, "fifo", &["config.json", "not a regular file"]);
    assert_no_state(&b.root());
    assert_no_cgroup(&format!("nucleus-{id}"));
}
