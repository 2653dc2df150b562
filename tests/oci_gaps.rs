//! Gaps of the runc drop-in (issue #14) as runc users meet them: an OCI container has a
//! cgroup in every v1 hierarchy (so `update` and stats work for kinds not limited at
//! create), `/dev/console` with a terminal, `exec` into a created container, exec's
//! console size.

mod common;
use common::bundle::Bundle;
use common::*;
use std::path::{Path, PathBuf};

/// The v1 hierarchies runc puts a container in and nucleus does too, when mounted here.
const EVERY: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices",
];

fn v1() -> bool {
    // This host drives v1 (hybrid); the v2 paths are covered by the VM lane.
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// `/proc/PID/cgroup` as (controller, path) pairs, one per v1 controller.
fn cgroups_of(pid: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = Vec::new();
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.push((c.to_string(), path.to_string()));
        }
    }
    out
}

fn path_in<'a>(cg: &'a [(String, String)], ctrl: &str) -> Option<&'a str> {
    cg.iter().find(|(c, _)| c == ctrl).map(|(_, p)| p.as_str())
}

/// The hierarchies of EVERY this host has mounted.
fn mounted() -> Vec<&'static str> {
    EVERY
        .into_iter()
        .filter(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join("cgroup.procs")
                .exists()
        })
        .collect()
}

/// A busy container created without any linux.resources limit is in a cgroup of its own
/// in every hierarchy; `update --memory/--pids-limit` then works, `events --stats` counts
/// its CPU time, and `delete` removes every directory.
#[test]
fn oci_container_without_limits_gets_every_hierarchy() {
    if !privileged("oci_container_without_limits_gets_every_hierarchy") || !v1() {
        return;
    }
    let b = Bundle::new("gaps-every", &["sh", "-c", "while :; do :; done"]);
    b.edit(|c| {
        // Only the device rules nucleus' default spec has: no limit of any kind.
        c["linux"]["resources"] = serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}]
        });
    });
    let id = "every1";
    let o = b.create(id);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(id)["pid"].to_string();
    let own = cgroups_of("self");
    let theirs = cgroups_of(&pid);
    let mine = path_in(&theirs, "memory").expect("memory line").to_string();
    assert!(mine.ends_with(id), "memory cgroup {mine}");
    let mut leaves: Vec<PathBuf> = Vec::new();
    for c in mounted() {
        let p = path_in(&theirs, c).unwrap_or_else(|| panic!("no {c} line: {theirs:?}"));
        assert_eq!(
            p, mine,
            "{c}: the container's own cgroup (runc places it in each)"
        );
        assert_ne!(Some(p), path_in(&own, c), "{c}: not the runtime's cgroup");
        leaves.push(
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(p.trim_start_matches('/')),
        );
    }
    assert!(b.nucleus(&["start", id]).status.success());
    // The view inside shows them (as the host names each hierarchy).
    let o = b.nucleus(&["exec", id, "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "max");

    // docker update --memory / --pids-limit on a container created without them.
    let o = b.nucleus(&["update", "--memory", "64m", "--pids-limit", "30", id]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    let mem = Path::new("/sys/fs/cgroup/memory").join(mine.trim_start_matches('/'));
    let pids = Path::new("/sys/fs/cgroup/pids").join(mine.trim_start_matches('/'));
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap().trim().to_string();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(pids.join("pids.max")), "30");
    let o = b.nucleus(&[
        "exec",
        id,
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["67108864", "30"]
    );

    // events --stats (docker stats): CPU time of the busy loop, from cpuacct.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = b.nucleus(&["events", "--stats", id]);
    assert!(o.status.success(), "events: {}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let total = r["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    assert!(total > 50_000_000, "cpu usage of a busy loop: {r}");
    assert_eq!(r["data"]["pids"]["limit"], 30, "{r}");

    let o = b.nucleus(&["delete", "--force", id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
    for l in &leaves {
        assert!(!l.exists(), "{} left behind", l.display());
    }
}

/// The one-shot `nucleus run` keeps its fast path: a cgroup only in the hierarchies its
/// limits need.
#[test]
fn one_shot_run_makes_only_the_cgroups_its_limits_need() {
    if !privileged("one_shot_run_makes_only_the_cgroups_its_limits_need") || !v1() {
        return;
    }
    let o = nucleus(&[
        "run",
        "--memory",
        "64m",
        "--",
        "/bin/cat",
        "/proc/self/cgroup",
    ]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let own = cgroups_of("self");
    let mut theirs = Vec::new();
    for l in stdout(&o).lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            theirs.push((c.to_string(), path.to_string()));
        }
    }
    assert_ne!(
        path_in(&theirs, "memory"),
        path_in(&own, "memory"),
        "{theirs:?}"
    );
    for c in ["pids", "blkio", "cpuacct"] {
        if mounted().contains(&c) {
            assert_eq!(path_in(&theirs, c), path_in(&own, c), "{c}: {theirs:?}");
        }
    }
}
