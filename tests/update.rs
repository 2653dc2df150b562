//! `nucleus update` as runc users drive it: flags and `--resources FILE|-` change the
//! limits of a running container's own cgroup, read back from the host's cgroup files and
//! from inside the container; bad input changes nothing.

mod common;
use common::bundle::Bundle;
use common::*;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

/// A running busybox container with memory, pids and cpu limits (and a cpuset).
fn running(tag: &str, id: &str) -> Bundle {
    let b = Bundle::new(tag, &["sleep", "1000"]);
    b.edit(|c| {
        c["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 64u64 << 20, "reservation": 32u64 << 20},
            "pids": {"limit": 50},
            "cpu": {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"},
            "blockIO": {"weight": 0}
        })
    });
    let o = b.create(id);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let o = b.nucleus(&["start", id]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    b
}

/// The container's leaf in v1 hierarchy `ctrl`, from its state record.
fn leaf(b: &Bundle, id: &str, ctrl: &str) -> PathBuf {
    let p = b.root().join(id).join("state.json");
    let st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let base = format!("/sys/fs/cgroup/{ctrl}/");
    st["cgroup_dirs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| PathBuf::from(d.as_str().unwrap()))
        .find(|d| d.to_string_lossy().starts_with(&base))
        .unwrap_or_else(|| panic!("no {ctrl} leaf in {st}"))
}

fn host(b: &Bundle, id: &str, ctrl: &str, file: &str) -> String {
    let p = leaf(b, id, ctrl).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// `cat` of cgroup files inside the container (its own cgroup, at the usual paths).
fn inside(b: &Bundle, id: &str, files: &[&str]) -> Vec<String> {
    let mut args = vec!["exec", id, "cat"];
    let paths: Vec<String> = files
        .iter()
        .map(|f| format!("/sys/fs/cgroup/{f}"))
        .collect();
    args.extend(paths.iter().map(|s| s.as_str()));
    let o = b.nucleus(&args);
    assert!(o.status.success(), "exec cat: {}", stderr(&o));
    stdout(&o).lines().map(|l| l.trim().to_string()).collect()
}

const LIMITS: &[(&str, &str)] = &[
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.soft_limit_in_bytes"),
    ("pids", "pids.max"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpu", "cpu.shares"),
];

fn v1() -> bool {
    // This host drives v1 (hybrid); the v2 paths are covered by the VM lane.
    std::fs::metadata("/sys/fs/cgroup/memory/cgroup.procs").is_ok()
}

/// Both views, host files and the container's own, in LIMITS order.
fn both(b: &Bundle, id: &str) -> (Vec<String>, Vec<String>) {
    let h: Vec<String> = LIMITS.iter().map(|(c, f)| host(b, id, c, f)).collect();
    let files: Vec<String> = LIMITS.iter().map(|(c, f)| format!("{c}/{f}")).collect();
    let files: Vec<&str> = files.iter().map(|s| s.as_str()).collect();
    (h, inside(b, id, &files))
}

#[test]
fn update_flags_change_memory_pids_cpu_seen_on_host_and_inside() {
    if !privileged("update_flags_change_memory_pids_cpu_seen_on_host_and_inside") || !v1() {
        return;
    }
    let b = running("upd-flags", "u1");
    let (h, i) = both(&b, "u1");
    let created = ["67108864", "33554432", "50", "50000", "100000", "512"];
    assert_eq!(h, created, "host files after create");
    assert_eq!(i, created, "inside after create");
    let o = b.nucleus(&[
        "update",
        "--memory",
        "128m",
        "--memory-reservation",
        "48m",
        "--pids-limit",
        "100",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "50000",
        "--cpu-share",
        "256",
        "--kernel-memory",
        "10m",
        "u1",
    ]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    assert!(
        stderr(&o).contains("kernel-memory") && stderr(&o).contains("ignored"),
        "kernel memory is ignored with a warning: {}",
        stderr(&o)
    );
    let (h, i) = both(&b, "u1");
    let updated = ["134217728", "50331648", "100", "20000", "50000", "256"];
    assert_eq!(h, updated, "host files after update");
    assert_eq!(i, updated, "inside after update");
    // memory+swap followed the limit (where the host accounts swap).
    if leaf(&b, "u1", "memory")
        .join("memory.memsw.limit_in_bytes")
        .exists()
    {
        assert_eq!(
            host(&b, "u1", "memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
        let o = b.nucleus(&["update", "--memory-swap", "-1", "u1"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let sw: u64 = host(&b, "u1", "memory", "memory.memsw.limit_in_bytes")
            .parse()
            .unwrap();
        assert!(sw > 1 << 60, "memory-swap -1 is unlimited: {sw}");
    }
    // Real-time bandwidth (v1): the container's cgroup sits below the root, which has
    // real-time time to hand down.
    let o = b.nucleus(&[
        "update",
        "--cpu-rt-period",
        "1000000",
        "--cpu-rt-runtime",
        "10000",
        "u1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(host(&b, "u1", "cpu", "cpu.rt_runtime_us"), "10000");
    assert_eq!(inside(&b, "u1", &["cpu/cpu.rt_runtime_us"]), ["10000"]);
    // Lowering below the old limit works too (memory first, then memsw).
    let o = b.nucleus(&["update", "--memory", "80m", "--pids-limit", "-1", "u1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        host(&b, "u1", "memory", "memory.limit_in_bytes"),
        "83886080"
    );
    assert_eq!(host(&b, "u1", "pids", "pids.max"), "max");
    assert_eq!(inside(&b, "u1", &["pids/pids.max"]), ["max"]);
    // The saved state agrees with the cgroup.
    let st = std::fs::read_to_string(b.root().join("u1/state.json")).unwrap();
    let st: serde_json::Value = serde_json::from_str(&st).unwrap();
    assert_eq!(st["resources"]["memory"], 80u64 << 20, "{st}");
    assert_eq!(st["resources"]["cpu_quota"], 20000, "{st}");
}

#[test]
fn update_resources_from_stdin_and_file() {
    if !privileged("update_resources_from_stdin_and_file") || !v1() {
        return;
    }
    let b = running("upd-json", "u2");
    let mut child = b
        .cmd(&["update", "--resources", "-", "u2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            br#"{"memory": {"limit": 100663296}, "pids": {"limit": 30}, "cpu": {"shares": 300}}"#,
        )
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "update -r -: {}", stderr(&o));
    assert_eq!(
        host(&b, "u2", "memory", "memory.limit_in_bytes"),
        "100663296"
    );
    assert_eq!(host(&b, "u2", "pids", "pids.max"), "30");
    assert_eq!(
        inside(
            &b,
            "u2",
            &[
                "memory/memory.limit_in_bytes",
                "pids/pids.max",
                "cpu/cpu.shares"
            ]
        ),
        ["100663296", "30", "300"]
    );
    // Values not in the document stay as they were.
    assert_eq!(host(&b, "u2", "cpu", "cpu.cfs_quota_us"), "50000");
    let f = b.tmp.path("res.json");
    std::fs::write(&f, r#"{"cpu": {"quota": 25000}}"#).unwrap();
    let o = b.nucleus(&["update", "-r", f.to_str().unwrap(), "u2"]);
    assert!(o.status.success(), "update -r FILE: {}", stderr(&o));
    assert_eq!(host(&b, "u2", "cpu", "cpu.cfs_quota_us"), "25000");
}

#[test]
fn update_refuses_bad_input_and_changes_nothing() {
    if !privileged("update_refuses_bad_input_and_changes_nothing") || !v1() {
        return;
    }
    let b = running("upd-bad", "u3");
    let before = both(&b, "u3").0;
    let f = b.tmp.path("res.json");
    std::fs::write(&f, "{}").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["update", "--memory", "12x", "u3"], "--memory '12x'"),
        (&["update", "--memory", "4096", "u3"], "minimum"),
        (&["update", "--pids-limit", "-7", "u3"], "pids.limit -7"),
        (&["update", "--blkio-weight", "5", "u3"], "blockIO.weight 5"),
        (&["update", "u3"], "nothing to update"),
        (
            &[
                "update",
                "-r",
                f.to_str().unwrap(),
                "--memory",
                "100m",
                "u3",
            ],
            "exclude each other",
        ),
        (
            &["update", "--l3-cache-schema", "L3:0=f", "u3"],
            "Intel RDT",
        ),
        (&["update", "--memory", "100m", "nosuch"], "does not exist"),
    ];
    for (args, want) in cases {
        let o = b.nucleus(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert!(e.contains(want), "{args:?}: want '{want}' in: {e}");
        assert!(e.starts_with("nucleus: "), "{args:?}: one clear line: {e}");
    }
    let r = b.tmp.path("bad.json");
    std::fs::write(&r, "{\"memory\": 5}").unwrap();
    let o = b.nucleus(&["update", "-r", r.to_str().unwrap(), "u3"]);
    assert!(
        stderr(&o).contains("not an OCI linux.resources document"),
        "{}",
        stderr(&o)
    );
    // A write that fails midway (cpuset 999 does not exist) restores the ones before it.
    let o = b.nucleus(&["update", "--memory", "200m", "--cpuset-cpus", "999", "u3"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("linux.resources.cpu.cpus") && e.contains("restored"),
        "{e}"
    );
    assert_eq!(both(&b, "u3").0, before, "nothing half-applied");
    assert_eq!(host(&b, "u3", "cpuset", "cpuset.cpus"), "0");
    // A stopped container cannot be updated.
    let o = b.nucleus(&["kill", "u3", "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    b.wait_status("u3", "stopped");
    let o = b.nucleus(&["update", "--memory", "100m", "u3"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is stopped"), "{}", stderr(&o));
}

#[test]
fn update_help_lists_runc_flags() {
    let h = ok(&["update", "--help"]);
    for flag in [
        "--resources",
        "--memory",
        "--memory-swap",
        "--memory-reservation",
        "--kernel-memory",
        "--cpu-share",
        "--cpu-quota",
        "--cpu-period",
        "--cpu-rt-runtime",
        "--cpu-rt-period",
        "--cpuset-cpus",
        "--cpuset-mems",
        "--pids-limit",
        "--blkio-weight",
    ] {
        assert!(h.contains(flag), "{flag} missing from:\n{h}");
    }
}
