//! After many runs, in a row and at once, the host has the same mounts, cgroups, network
//! namespaces and processes as before. (Its own test binary, so no other test's
//! containers are in flight while it compares.)

mod common;
use common::*;
use std::collections::BTreeSet;
use std::process::Command;

#[derive(Debug, PartialEq)]
struct HostState {
    mounts: BTreeSet<String>,
    cgroups: BTreeSet<String>,
    netns: BTreeSet<String>,
    marked: usize,
}

const MARK: &str = "nucleus-leak-mark";

fn snapshot() -> HostState {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| {
            l.split_whitespace()
                .skip(3)
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut cgroups = BTreeSet::new();
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        if let Ok(rd) = std::fs::read_dir(ctrl.path()) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("nucleus") {
                    cgroups.insert(e.path().display().to_string());
                }
            }
        }
    }
    let netns = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path().join("ns/net")).ok())
        .map(|l| l.display().to_string())
        .collect();
    let marked = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(MARK))
        })
        .count();
    HostState {
        mounts,
        cgroups,
        netns,
        marked,
    }
}

#[test]
fn two_hundred_runs_and_twenty_at_once_leave_nothing_behind() {
    if !privileged("two_hundred_runs_and_twenty_at_once_leave_nothing_behind") {
        return;
    }
    let before = snapshot();
    let script = format!("true {MARK}");
    for i in 0..200 {
        let limits: &[&str] = if i % 4 == 0 {
            &["--memory", "64m", "--pids", "50"]
        } else {
            &[]
        };
        let mut args = vec!["run"];
        args.extend_from_slice(limits);
        args.extend(["--", "sh", "-c", &script]);
        let o = nucleus(&args);
        assert!(o.status.success(), "run {i}: {}", stderr(&o));
    }
    // A failing set-up and a failing program leave nothing either.
    assert_eq!(
        nucleus(&["run", "--memory", "64m", "--", "/no/such/program"])
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        nucleus(&[
            "run",
            "--pids",
            "10",
            "--",
            "sh",
            "-c",
            &format!("exit 3 # {MARK}")
        ])
        .status
        .code(),
        Some(3)
    );
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut c = Command::new(NUCLEUS);
            c.args(["run"]);
            if i % 2 == 0 {
                c.args(["--memory", "64m"]);
            }
            c.args(["--", "sh", "-c", &format!("sleep 0.2; true {MARK}")]);
            c.stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let after = snapshot();
    assert_eq!(before.mounts, after.mounts, "mounts changed");
    assert_eq!(before.cgroups, after.cgroups, "cgroups left behind");
    assert_eq!(after.marked, 0, "container processes left behind");
    let new_ns: Vec<_> = after.netns.difference(&before.netns).collect();
    assert!(
        new_ns.is_empty(),
        "network namespaces left behind: {new_ns:?}"
    );
}
