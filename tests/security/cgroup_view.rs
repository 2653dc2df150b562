//! #9.3 and #9.13: a container sees only its own cgroup, read-only (its limits where
//! programs look for them), never the host's hierarchy; one-shot runs get unique cgroups
//! and a killed run's cgroup is removed by a later run.

use crate::common::bundle::Bundle;
use crate::common::*;
use std::process::{Command, Stdio};

#[test]
fn oci_container_sees_its_own_limits_and_cannot_leave_its_cgroup() {
    if !privileged("oci_container_sees_its_own_limits_and_cannot_leave_its_cgroup") {
        return;
    }
    let b = Bundle::new(
        "cgview",
        &[
            "sh",
            "-c",
            "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
             for c in memory pids devices freezer; do \
               echo $$ > /sys/fs/cgroup/$c/cgroup.procs && echo MOVED-$c; \
               echo $$ > /sys/fs/cgroup/$c/../cgroup.procs && echo ESCAPED-$c; \
             done; echo a > /sys/fs/cgroup/devices/devices.allow && echo DEVICES-LIFTED; \
             grep -c nucleus- /proc/self/mountinfo; true",
        ],
    );
    b.edit(|c| {
        c["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}});
    });
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "cgview"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.starts_with("67108864\n50\n"),
        "limits not visible inside:\n{out}"
    );
    for bad in ["MOVED", "ESCAPED", "DEVICES-LIFTED"] {
        assert!(!out.contains(bad), "{bad}:\n{out}");
    }
}

#[test]
fn sandbox_sees_its_own_limits() {
    if !privileged("sandbox_sees_its_own_limits") {
        return;
    }
    let out = ok(&[
        "run",
        "--memory",
        "32m",
        "--pids",
        "20",
        "--",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
         echo 1 > /sys/fs/cgroup/pids/pids.max && echo WROTE; true",
    ]);
    assert_eq!(out, "33554432\n20\n");
}

/// Two one-shot runs whose nucleus has the same PID (1, each in its own PID namespace)
/// must not share a cgroup: each sees its own memory limit.
#[test]
fn one_shot_runs_with_the_same_pid_get_their_own_cgroups() {
    if !privileged("one_shot_runs_with_the_same_pid_get_their_own_cgroups") {
        return;
    }
    let spawn = |mem: &str| {
        Command::new("unshare")
            .args([
                "--pid",
                "--fork",
                "--mount-proc",
                NUCLEUS,
                "run",
                "--memory",
                mem,
            ])
            .args([
                "--",
                "sh",
                "-c",
                "sleep 0.5; cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("32m"), spawn("48m"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(stdout(&a).trim(), (32u64 << 20).to_string());
    assert_eq!(stdout(&b).trim(), (48u64 << 20).to_string());
}

/// A SIGKILLed run leaves its (empty) cgroup; a later run removes it once it is stale.
#[test]
fn a_killed_runs_cgroup_is_removed_by_a_later_run() {
    if !privileged("a_killed_runs_cgroup_is_removed_by_a_later_run") {
        return;
    }
    /// Kills the run (SIGKILL: the attack on its clean-up) also when the test fails.
    struct Victim(std::process::Child);
    impl Drop for Victim {
        fn drop(&mut self) {
            // Ignored: it may be dead already; wait reaps it either way.
            let _ = self.0.kill();
            self.0.wait().expect("reap the run");
        }
    }
    let victim = Victim(
        Command::new(NUCLEUS)
            .args(["run", "--pids", "30", "--", "sleep", "100"])
            .spawn()
            .unwrap(),
    );
    let prog = wait_for_descendant(victim.0.id(), "sleep").expect("the run's program");
    let membership = std::fs::read_to_string(format!("/proc/{prog}/cgroup")).unwrap();
    let left: Vec<String> = membership
        .lines()
        .filter_map(|l| l.split_once(":pids:/").map(|(_, p)| p.to_string()))
        .collect();
    /// Removes the run's cgroup if the test fails before a later run has (its only process
    /// is this test's `sleep`).
    struct Leftover(std::path::PathBuf);
    impl Drop for Leftover {
        fn drop(&mut self) {
            for _ in 0..200 {
                if !self.0.exists() {
                    return;
                }
                let procs =
                    std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
                for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                    // Ignored: it may be exiting already.
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                if std::fs::remove_dir(&self.0).is_ok() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
    let _leftover = left
        .first()
        .map(|l| Leftover(std::path::Path::new("/sys/fs/cgroup/pids").join(l)));
    assert!(left[0].starts_with("nucleus-run-"), "{membership}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(victim);
    assert_eq!(left.len(), 1, "the run's cgroup: {left:?}");
    let dir = std::path::Path::new("/sys/fs/cgroup/pids").join(&left[0]);
    // Its program dies with it (parent-death signal); wait for the cgroup to empty.
    for _ in 0..500 {
        if std::fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|s| s.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        dir.exists(),
        "a SIGKILLed run cannot remove its cgroup itself"
    );
    // Age it past the sweep's threshold, as if it had been left an hour ago.
    let t = Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(t.success());
    ok(&["run", "--pids", "30", "--", "true"]);
    assert!(
        !dir.exists(),
        "a later run did not remove {}",
        dir.display()
    );
}
