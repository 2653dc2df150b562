//! Landlock: `nucleus run --landlock-*` and OCI process.landlock, proven by the kernel.
//!
//! The proof that a domain is active: this kernel (6.18) shows no Landlock line in
//! /proc/self/status, so each test compares the same operations with and without the
//! domain. A write to a writable tmpfs (/dev/shm, mode 1777, as root), an execve of a copy
//! of /bin/true on an exec-able tmpfs, or a TCP bind that succeed without the options and
//! fail with EACCES with them can only be refused by an LSM: the options add nothing else.

mod common;
use common::bundle::Bundle;
use common::*;
use std::collections::BTreeSet;

/// A python3 script run in the container: each operation prints `NAME=0` on success or
/// `NAME=ERRNO`.
const PROBE: &str = r#"
import os, shutil, subprocess, sys
def try_(name, f):
    try:
        f(); print(f"{name}=0")
    except OSError as e:
        print(f"{name}={e.errno}")
def write(p):
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b"x"); os.close(fd)
def read(p):
    with open(p, "rb") as f:
        assert f.read(4) == b"root"
def run(p):
    r = subprocess.run([p]); assert r.returncode == 0
try_("read_etc", lambda: read("/etc/passwd"))
try_("list_root", lambda: os.listdir("/"))
try_("write_tmp", lambda: write("/tmp/ok"))
try_("write_shm", lambda: write("/dev/shm/no"))
try_("write_home", lambda: write("/root/no"))
try_("mkdir_shm", lambda: os.mkdir("/dev/shm/d"))
try_("exec_bin", lambda: run("/bin/true"))
shutil.copy("/bin/true", "/tmp/t")
try_("exec_tmp", lambda: run("/tmp/t"))
"#;

fn results(out: &str) -> std::collections::BTreeMap<String, i32> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().parse().unwrap_or(-1)))
        .collect()
}

const EACCES: i32 = 13;

#[test]
fn filesystem_rules_are_enforced_by_the_kernel() {
    if !privileged("filesystem_rules_are_enforced_by_the_kernel") {
        return;
    }
    // Control: the same operations without Landlock all succeed.
    let free = results(&ok(&["run", "--", "python3", "-c", PROBE]));
    for (k, v) in &free {
        assert_eq!(*v, 0, "{k} fails even without Landlock: {free:?}");
    }
    assert_eq!(free.len(), 8, "{free:?}");
    let o = nucleus(&[
        "run",
        "--landlock-ro",
        "/",
        "--landlock-rw",
        "/tmp",
        "--landlock-exec",
        "/bin,/usr,/lib,/lib64",
        "--",
        "python3",
        "-c",
        PROBE,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = results(&stdout(&o));
    let want = [
        ("read_etc", 0),
        ("list_root", 0),
        ("write_tmp", 0),
        ("write_shm", EACCES),
        ("write_home", EACCES),
        ("mkdir_shm", EACCES),
        ("exec_bin", 0),
        ("exec_tmp", EACCES),
    ];
    for (k, v) in want {
        assert_eq!(r.get(k), Some(&v), "{k}: {r:?}\n{}", stderr(&o));
    }
    // No warning on this kernel: every right is enforced.
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

#[test]
fn the_program_must_be_beneath_an_exec_path() {
    if !privileged("the_program_must_be_beneath_an_exec_path") {
        return;
    }
    // Reading is allowed everywhere, executing nowhere: the program's own execve fails.
    let o = nucleus(&["run", "--landlock-ro", "/", "--", "true"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
    // A single file can be a rule: /dev/null writable, nothing else under /dev.
    let o = nucleus(&[
        "run",
        "--landlock-ro",
        "/",
        "--landlock-exec",
        "/usr,/bin,/lib,/lib64",
        "--landlock-rw",
        "/dev/null",
        "--",
        "sh",
        "-c",
        "echo x >/dev/null && echo null=ok; echo x >/dev/zero || echo zero=denied",
    ]);
    let out = stdout(&o);
    assert!(
        out.contains("null=ok") && out.contains("zero=denied"),
        "{out}\n{}",
        stderr(&o)
    );
}

const NET_PROBE: &str = r#"
import socket
for p in (8080, 8081):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(f"bind{p}=0")
    except OSError as e:
        print(f"bind{p}={e.errno}")
    s.close()
for p in (9, 10):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", p)); print(f"connect{p}=0")
    except OSError as e:
        print(f"connect{p}={e.errno}")
"#;

#[test]
fn tcp_bind_and_connect_rules_are_enforced_by_the_kernel() {
    if !privileged("tcp_bind_and_connect_rules_are_enforced_by_the_kernel") {
        return;
    }
    const ECONNREFUSED: i32 = 111;
    let free = results(&ok(&["run", "--", "python3", "-c", NET_PROBE]));
    assert_eq!(
        (free["bind8080"], free["bind8081"], free["connect10"]),
        (0, 0, ECONNREFUSED),
        "{free:?}"
    );
    let r = results(&ok(&[
        "run",
        "--landlock-bind",
        "8080",
        "--landlock-connect",
        "9",
        "--",
        "python3",
        "-c",
        NET_PROBE,
    ]));
    assert_eq!(r["bind8080"], 0, "{r:?}");
    assert_eq!(r["bind8081"], EACCES, "{r:?}");
    // Port 9 may be connected to (nothing listens: refused); port 10 is denied first.
    assert_eq!(r["connect9"], ECONNREFUSED, "{r:?}");
    assert_eq!(r["connect10"], EACCES, "{r:?}");
    // Bind only: connect stays unrestricted.
    let r = results(&ok(&[
        "run",
        "--landlock-bind",
        "8080",
        "--",
        "python3",
        "-c",
        NET_PROBE,
    ]));
    assert_eq!(
        (r["bind8081"], r["connect10"]),
        (EACCES, ECONNREFUSED),
        "{r:?}"
    );
}

/// The one-shot cgroup directories (nucleus-run-*) under every v1 controller and the v2
/// root. (Only this file's leak test makes one: the others set no limit.)
fn nucleus_cgroups() -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dirs = std::iter::once(ctrl.path()).chain(
            std::fs::read_dir(ctrl.path())
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
        for d in dirs {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("nucleus-run-") {
                        s.insert(e.path().display().to_string());
                    }
                }
            }
        }
    }
    s
}

#[test]
fn a_landlock_path_that_does_not_exist_is_one_clear_error_and_leaves_nothing() {
    if !privileged("a_landlock_path_that_does_not_exist_is_one_clear_error_and_leaves_nothing") {
        return;
    }
    const MARK: &str = "nucleus-landlock-mark";
    let before = nucleus_cgroups();
    let o = nucleus(&[
        "run",
        "--memory",
        "64m",
        "--landlock-ro",
        "/",
        "--landlock-exec",
        "/no/such/dir",
        "--",
        "sh",
        "-c",
        &format!("echo ran {MARK}"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("ran"), "the program ran");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("hint:")).collect();
    assert_eq!(
        lines,
        ["nucleus: landlock: path /no/such/dir: ENOENT: No such file or directory"],
        "{err}"
    );
    assert!(
        err.contains("hint: Landlock paths are paths inside the container"),
        "{err}"
    );
    // Nothing left: no cgroup, no process.
    assert_eq!(nucleus_cgroups(), before, "cgroups left behind");
    let marked = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(MARK))
        })
        .count();
    assert_eq!(marked, 0, "processes left behind");
    // Refused before anything exists: a relative path, --allow-new-privs, strict alone.
    for args in [
        &["run", "--landlock-ro", "etc", "--", "true"][..],
        &[
            "run",
            "--allow-new-privs",
            "--landlock-ro",
            "/",
            "--",
            "true",
        ],
        &["run", "--landlock-strict", "--", "true"],
    ] {
        let o = nucleus(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).starts_with("nucleus: invalid "),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("hint: "), "{args:?}: {}", stderr(&o));
    }
}

/// process.landlock for the busybox bundle: read and execute everywhere, write nowhere.
fn read_only_landlock(strict: bool) -> serde_json::Value {
    serde_json::json!({
        "ruleset": {"handledAccessFS": [
            "execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file",
            "make_char", "make_dir", "make_reg", "make_sock", "make_fifo", "make_block",
            "make_sym", "refer", "truncate", "ioctl_dev"]},
        "rules": {"pathBeneath": [
            {"allowedAccess": ["execute", "read_file", "read_dir"], "paths": ["/"]}
        ]},
        "disableBestEffort": strict
    })
}

#[test]
fn oci_process_landlock_is_enforced() {
    if !privileged("oci_process_landlock_is_enforced") {
        return;
    }
    let b = Bundle::new("llocirun", &["true"]);
    // Control: without process.landlock the write works.
    b.edit(|c| {
        c["process"]["args"] =
            serde_json::json!(["sh", "-c", "echo hi >/dev/shm/x && echo write=ok"])
    });
    let bun = b.bundle();
    let o = b.nucleus(&["run", "-b", bun.to_str().unwrap(), "ll0"]);
    assert!(
        stdout(&o).contains("write=ok"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    for strict in [false, true] {
        b.edit(|c| {
            c["process"]["args"] = serde_json::json!(["sh", "-c", "echo hi >/dev/shm/x && echo write=ok || echo write=denied; grep -c ELF /bin/busybox"]);
            c["process"]["landlock"] = read_only_landlock(strict);
        });
        let id = if strict { "ll2" } else { "ll1" };
        let o = b.nucleus(&["run", "-b", bun.to_str().unwrap(), id]);
        let out = stdout(&o);
        assert!(
            out.contains("write=denied"),
            "strict {strict}: {out}{}",
            stderr(&o)
        );
        assert!(stderr(&o).contains("Permission denied"), "{}", stderr(&o));
        // Reading still works.
        assert!(
            out.lines()
                .any(|l| l.trim().parse::<u32>().is_ok_and(|n| n >= 1)),
            "{out}"
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn oci_process_landlock_bad_input_is_refused_at_create() {
    if !privileged("oci_process_landlock_bad_input_is_refused_at_create") {
        return;
    }
    let b = Bundle::new("llocibad", &["true"]);
    let bun = b.bundle();
    let cases: [(&str, serde_json::Value, &str); 3] = [
        (
            "unknown key",
            serde_json::json!({"ruleset": {"handledAccessFS": ["read_file"]}, "disableBestEfort": true}),
            "process.landlock: unknown key 'disableBestEfort'",
        ),
        (
            "unknown right",
            serde_json::json!({"ruleset": {"handledAccessFS": ["readfile"]}}),
            "unknown access right \"readfile\"",
        ),
        (
            "missing path",
            serde_json::json!({
                "ruleset": {"handledAccessFS": ["read_file", "execute"]},
                "rules": {"pathBeneath": [{"allowedAccess": ["read_file", "execute"], "paths": ["/", "/no/such"]}]}}),
            "landlock: path /no/such: ENOENT",
        ),
    ];
    for (what, ll, want) in cases {
        b.edit(|c| c["process"]["landlock"] = ll);
        let o = b.nucleus(&["create", "-b", bun.to_str().unwrap(), "llbad"]);
        assert!(!o.status.success(), "{what}: created");
        let err = stderr(&o);
        assert!(err.contains(want), "{what}: {err}");
        assert!(
            err.lines().next().unwrap().starts_with("nucleus: "),
            "{what}: {err}"
        );
        // Nothing recorded: the id is free again.
        let st = b.nucleus(&["state", "llbad"]);
        assert!(
            !st.status.success(),
            "{what}: state exists after a failed create"
        );
        let left: Vec<_> = std::fs::read_dir(b.root())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{what}: state left behind: {left:?}");
    }
    let hint = {
        b.edit(|c| {
            c["process"]["landlock"] = serde_json::json!({"ruleset": {"handledAccessFs": []}})
        });
        stderr(&b.nucleus(&["create", "-b", bun.to_str().unwrap(), "llbad"]))
    };
    assert!(hint.contains("did you mean 'handledAccessFS'"), "{hint}");
}

#[test]
fn exec_enters_the_containers_domain() {
    if !privileged("exec_enters_the_containers_domain") {
        return;
    }
    let b = Bundle::new("llociexec", &["sleep", "30"]);
    let bun = b.bundle();
    let probe = "echo hi >/dev/shm/x && echo write=ok || echo write=denied";
    // Control: a container without Landlock; exec'd processes can write /dev/shm.
    // Then the same with process.landlock: exec'd processes are denied.
    for (id, landlock, want) in [("e0", false, "write=ok"), ("e1", true, "write=denied")] {
        b.edit(|c| {
            if landlock {
                c["process"]["landlock"] = read_only_landlock(false);
            }
        });
        let st = b
            .cmd(&["run", "-d", "-b", bun.to_str().unwrap(), id])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{id}: run -d");
        let o = b.nucleus(&["exec", id, "sh", "-c", probe]);
        assert!(
            stdout(&o).contains(want),
            "{id}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(b.nucleus(&["delete", "-f", id]).status.success());
    }
}
