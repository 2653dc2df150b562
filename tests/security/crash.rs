//! #9.8 and #9.12: `create` killed at any point leaves nothing `delete --force` cannot
//! remove (no cgroup, no state, no process waiting forever at its exec FIFO); `delete`
//! removes only cgroup directories, and only by rmdir, whatever state.json says.

use crate::common::bundle::Bundle;
use crate::common::*;

/// SIGKILL `create` after 0–12 ms, 60 times, then `delete --force`: nothing is left. Runs
/// in an outer PID namespace so that an orphan cannot outlive the test.
#[test]
fn killed_creates_leave_nothing_behind() {
    if !privileged("killed_creates_leave_nothing_behind") {
        return;
    }
    let b = Bundle::new("crash", &["sleep", "1000"]);
    let tag = format!("crash{}", std::process::id());
    let script = format!(
        r#"
        R="$NUCLEUS --root {root}"
        for i in $(seq 60); do
          $R create -b {bundle} {tag}-$i >/dev/null 2>&1 &
          p=$!
          sleep 0.$(printf %03d $(( (i * 7) % 13 )))
          kill -9 $p 2>/dev/null || true
          wait $p 2>/dev/null || true
          $R delete --force {tag}-$i 2>&1 || echo "DELETE-FAILED $i"
        done
        for d in /sys/fs/cgroup/*/nucleus-{tag}-*; do [ -e "$d" ] && echo "CGROUP-LEFT $d"; done
        for s in {root}/*; do [ -e "$s" ] && echo "STATE-LEFT $s"; done
        for p in /proc/[0-9]*; do
          [ "$(readlink $p/exe 2>/dev/null)" = "$NUCLEUS" ] && echo "PROCESS-LEFT $p $(tr '\0' ' ' < $p/cmdline)"
        done
        echo DONE
        "#,
        root = b.root().display(),
        bundle = b.bundle().display(),
    );
    let o = outer_sandbox(&script);
    let out = stdout(&o);
    assert!(out.contains("DONE"), "{out}\n{}", stderr(&o));
    for bad in ["DELETE-FAILED", "CGROUP-LEFT", "STATE-LEFT", "PROCESS-LEFT"] {
        assert!(!out.contains(bad), "{bad}:\n{out}\n{}", stderr(&o));
    }
}

/// A state.json that names a host directory as the container's cgroup: `delete` must not
/// remove it (nor anything in it).
#[test]
fn delete_does_not_trust_cgroup_paths_in_state() {
    if !privileged("delete_does_not_trust_cgroup_paths_in_state") {
        return;
    }
    let b = Bundle::new("statetrust", &["true"]);
    let victim = b.tmp.path("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("precious"), "x").unwrap();
    let o = b.create("st");
    assert!(o.status.success(), "{}", stderr(&o));
    let state = b.root().join("st/state.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let real = v["cgroup_made"].clone();
    let mut made = real.as_array().unwrap().clone();
    made.push(serde_json::json!(victim));
    made.push(serde_json::json!(format!(
        "/sys/fs/cgroup/memory/../../../{}",
        victim.display()
    )));
    v["cgroup_made"] = serde_json::json!(made);
    std::fs::write(&state, v.to_string()).unwrap();
    let d = b.nucleus(&["delete", "--force", "st"]);
    assert!(
        victim.join("precious").exists(),
        "delete removed a host directory"
    );
    assert!(!d.status.success(), "a forged record must be reported");
    assert!(stderr(&d).contains("refusing"), "{}", stderr(&d));
    // The real cgroups went all the same.
    for p in real.as_array().unwrap() {
        assert!(!std::path::Path::new(p.as_str().unwrap()).exists(), "{p}");
    }
    // Clean up the record the refused delete kept.
    std::fs::remove_dir_all(b.root().join("st")).unwrap();
}
