//! `nucleus events` as runc users know it: `--stats` prints one stats record with runc's
//! schema; without it, a stats record every `--interval`, an `oom` record when the
//! container's memory cgroup hits OOM, and the stream ends when the container stops.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A unique container ID (cgroups are named after it; other test binaries run at once).
fn cid(tag: &str) -> String {
    format!("ev-{tag}-{}", std::process::id())
}

/// The container's own memory cgroup directory (nucleus' default place, /nucleus-<id>).
fn memory_dir(id: &str) -> PathBuf {
    let v1 = PathBuf::from(format!("/sys/fs/cgroup/memory/nucleus-{id}"));
    if v1.exists() {
        v1
    } else {
        PathBuf::from(format!("/sys/fs/cgroup/nucleus-{id}"))
    }
}

/// An `events` process, killed (by its PID) and reaped if the test ends early.
struct Events {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl Events {
    fn spawn(b: &Bundle, args: &[&str]) -> Events {
        let mut child = b
            .cmd(&[&["events"], args].concat())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        Events { child, lines }
    }

    /// Waits up to `limit` for the process to end; its exit code, or None.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Every line printed so far (the reader thread ends at EOF).
    fn drain(&self) -> Vec<(Instant, Value)> {
        let mut v = Vec::new();
        while let Ok((t, l)) = self.lines.recv_timeout(Duration::from_millis(200)) {
            let j: Value = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"));
            v.push((t, j));
        }
        v
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // Ignored: the process may have ended in between; it is reaped below.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn events_stats_prints_one_record_with_the_limits() {
    if !privileged("events_stats_prints_one_record_with_the_limits") {
        return;
    }
    let id = cid("stats");
    let b = Bundle::new("evstats", &["sleep", "30"]);
    b.edit(|c| {
        c["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 33554432},
            "pids": {"limit": 20}
        });
    });
    assert!(b.create(&id).status.success(), "{}", b.output(&id));
    assert!(b.nucleus(&["start", &id]).status.success());
    let o = b.nucleus(&["events", "--stats", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "--stats prints one record: {text}");
    let r: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(r["type"], "stats");
    assert_eq!(r["id"], id.as_str());
    let d = &r["data"];
    // runc's schema: these keys are always there.
    for k in [
        "cpu",
        "cpuset",
        "memory",
        "pids",
        "blkio",
        "hugetlb",
        "intel_rdt",
        "network_interfaces",
    ] {
        assert!(d.get(k).is_some(), "no {k}: {d}");
    }
    for k in ["usage", "swap", "kernel", "kernelTCP"] {
        assert!(d["memory"][k]["limit"].is_u64(), "memory.{k}: {d}");
    }
    // The limits are the kernel's, read from the container's own cgroup.
    let kernel_limit: u64 = std::fs::read_to_string(memory_dir(&id).join(
        if memory_dir(&id).starts_with("/sys/fs/cgroup/memory") {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        },
    ))
    .unwrap()
    .trim()
    .parse()
    .unwrap();
    assert_eq!(kernel_limit, 33554432);
    assert_eq!(d["memory"]["usage"]["limit"], 33554432, "{d}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{d}");
    assert_eq!(d["pids"]["limit"], 20, "{d}");
    assert!(d["pids"]["current"].as_u64().unwrap() >= 1, "{d}");
    assert!(
        d["memory"]["raw"].is_object(),
        "memory.stat goes to raw: {d}"
    );

    // A paused container still has statistics (as runc).
    assert!(b.nucleus(&["pause", &id]).status.success());
    let o = b.nucleus(&["events", "--stats", &id]);
    assert!(o.status.success(), "paused: {}", stderr(&o));
    assert!(b.nucleus(&["resume", &id]).status.success());

    // Bad input: one clear line, non-zero exit.
    for (args, want) in [
        (vec!["events", "--stats", "no-such-ev"], "does not exist"),
        (
            vec!["events", "--interval", "5", &id],
            "invalid duration '5'",
        ),
        (vec!["events", "--interval", "0s", &id], "greater than 0"),
    ] {
        let o = b.nucleus(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).starts_with("nucleus: "),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    // A stopped container: an error, as runc's "is not running".
    assert!(b.nucleus(&["kill", &id, "KILL"]).status.success());
    b.wait_status(&id, "stopped");
    let o = b.nucleus(&["events", "--stats", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is stopped"), "{}", stderr(&o));
    assert!(b.nucleus(&["delete", &id]).status.success());
}

#[test]
fn events_streams_every_interval_and_ends_with_the_container() {
    if !privileged("events_streams_every_interval_and_ends_with_the_container") {
        return;
    }
    let id = cid("stream");
    let b = Bundle::new("evstream", &["sh", "-c", "sleep 2"]);
    b.edit(|c| c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 10}}));
    assert!(b.create(&id).status.success(), "{}", b.output(&id));
    assert!(b.nucleus(&["start", &id]).status.success());
    let started = Instant::now();
    let mut ev = Events::spawn(&b, &["--interval", "200ms", &id]);
    let code = ev.wait(Duration::from_secs(10));
    let ended = Instant::now();
    assert_eq!(
        code,
        Some(0),
        "events ends with exit 0 when the container stops"
    );
    let recs = ev.drain();
    let stats: Vec<&(Instant, Value)> = recs.iter().filter(|(_, r)| r["type"] == "stats").collect();
    let first_second = stats
        .iter()
        .filter(|(t, _)| t.duration_since(started) <= Duration::from_millis(1200))
        .count();
    assert!(
        first_second >= 2,
        "{first_second} records in the first ~1s: {recs:?}"
    );
    for (_, r) in &stats {
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["data"]["pids"]["limit"], 10);
    }
    // It ended because the container stopped (2 s), not long after.
    let lived = ended.duration_since(started);
    assert!(
        lived >= Duration::from_millis(1500) && lived < Duration::from_secs(5),
        "events lived {lived:?} for a 2 s container"
    );
    assert_eq!(b.state(&id)["status"], "stopped");
    assert!(b.nucleus(&["delete", &id]).status.success());
}

#[test]
fn events_reports_oom() {
    if !privileged("events_reports_oom") {
        return;
    }
    let id = cid("oom");
    // tail keeps a line-less input in memory: far beyond the 16 MiB limit.
    let b = Bundle::new(
        "evoom",
        &[
            "sh",
            "-c",
            "sleep 1; busybox head -c 64m /dev/zero | busybox tail >/dev/null; sleep 1",
        ],
    );
    b.edit(|c| {
        c["linux"]["resources"] = serde_json::json!({
            "memory": {"limit": 16777216, "swap": 16777216}
        })
    });
    assert!(b.create(&id).status.success(), "{}", b.output(&id));
    // Watching a created container is allowed: the watch is in place before it runs.
    let mut ev = Events::spawn(&b, &["--interval", "10s", &id]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(b.nucleus(&["start", &id]).status.success());
    let code = ev.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0));
    let recs = ev.drain();
    let ooms: Vec<&Value> = recs
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["type"] == "oom")
        .collect();
    assert!(!ooms.is_empty(), "no oom record: {recs:?}");
    assert_eq!(
        ooms[0],
        &serde_json::json!({"type": "oom", "id": id}),
        "runc's oom record has no data"
    );
    // The kernel agrees that the container's cgroup hit OOM.
    let d = memory_dir(&id);
    let (file, key) = if d.starts_with("/sys/fs/cgroup/memory") {
        ("memory.oom_control", "oom_kill")
    } else {
        ("memory.events", "oom_kill")
    };
    let text = std::fs::read_to_string(d.join(file)).unwrap();
    let kills: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(kills >= 1, "{file}: {text}");
    assert!(b.nucleus(&["delete", &id]).status.success());
}

#[test]
fn events_without_oom_prints_no_oom_record() {
    if !privileged("events_without_oom_prints_no_oom_record") {
        return;
    }
    let id = cid("nooom");
    let b = Bundle::new("evnooom", &["sh", "-c", "sleep 1"]);
    b.edit(|c| c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 67108864}}));
    assert!(b.create(&id).status.success(), "{}", b.output(&id));
    let mut ev = Events::spawn(&b, &["--interval", "300ms", &id]);
    assert!(b.nucleus(&["start", &id]).status.success());
    assert_eq!(ev.wait(Duration::from_secs(10)), Some(0));
    let recs = ev.drain();
    assert!(recs.iter().all(|(_, r)| r["type"] == "stats"), "{recs:?}");
    assert!(!recs.is_empty());
    assert!(b.nucleus(&["delete", &id]).status.success());
}
