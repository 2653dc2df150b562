//! #9.1: a container's processes are found through its own cgroup, never through a PID
//! namespace (a container may share the host's). `kill --all` and `ps` must not reach a
//! process outside the container; without a cgroup of its own `--all` is refused.

use crate::common::bundle::Bundle;
use crate::common::*;

/// A container in the (sandbox's) host PID namespace: `kill --all` must spare the host's
/// other processes, and `ps` must list only the container's. Runs in an outer PID
/// namespace: on regression the signal reaches that sandbox only.
#[test]
fn kill_all_and_ps_spare_processes_outside_a_host_pid_container() {
    if !privileged("kill_all_and_ps_spare_processes_outside_a_host_pid_container") {
        return;
    }
    let b = Bundle::new("killall", &["sleep", "1000"]);
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
    });
    let script = format!(
        r#"
        sleep 1000 & victim=$!
        R="$NUCLEUS --root {root}"
        $R create -b {bundle} hostpid >{out} 2>&1
        $R start hostpid
        echo "PS $($R ps --format json hostpid | tr -d ' \n')"
        echo "INIT $($R state hostpid | tr -d '\n' | sed 's/.*"pid": *\([0-9]*\).*/\1/')"
        $R kill --all hostpid KILL
        sleep 0.3
        if kill -0 $victim 2>/dev/null; then echo VICTIM_ALIVE; fi
        echo "AFTER $($R state hostpid | tr -d '\n')"
        $R delete -f hostpid
        kill $victim
        "#,
        root = b.root().display(),
        bundle = b.bundle().display(),
        out = b.tmp.path("hostpid.out").display(),
    );
    let o = outer_sandbox(&script);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(
        out.contains("VICTIM_ALIVE"),
        "kill --all killed a process outside the container:\n{out}"
    );
    assert!(
        out.contains(r#""status":"stopped""#) || out.contains(r#""status": "stopped""#),
        "{out}"
    );
    let ps = out.lines().find_map(|l| l.strip_prefix("PS ")).unwrap();
    let init = out.lines().find_map(|l| l.strip_prefix("INIT ")).unwrap();
    assert_eq!(
        ps.trim(),
        format!("[{}]", init.trim()),
        "ps lists only the container: {out}"
    );
}

/// A container whose record names no cgroup: `kill --all` is refused rather than guessed.
#[test]
fn kill_all_without_a_cgroup_of_its_own_is_refused() {
    if !privileged("kill_all_without_a_cgroup_of_its_own_is_refused") {
        return;
    }
    let b = Bundle::new("killall-nocg", &["sleep", "1000"]);
    let o = b.create("nocg");
    assert!(o.status.success(), "{}", stderr(&o));
    let state = b.root().join("nocg/state.json");
    let original = std::fs::read_to_string(&state).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    v["cgroup_dirs"] = serde_json::json!([]);
    v["cgroup_made"] = serde_json::json!([]);
    std::fs::write(&state, v.to_string()).unwrap();
    let k = b.nucleus(&["kill", "--all", "nocg", "KILL"]);
    let ps = b.nucleus(&["ps", "nocg"]);
    std::fs::write(&state, &original).unwrap();
    assert!(!k.status.success());
    assert!(
        stderr(&k).contains("no cgroup of its own"),
        "{}",
        stderr(&k)
    );
    assert!(!ps.status.success(), "ps guessed: {}", stdout(&ps));
    assert_eq!(
        b.state("nocg")["status"],
        "created",
        "the refused kill signalled nothing"
    );
    let d = b.nucleus(&["delete", "--force", "nocg"]);
    assert!(d.status.success(), "{}", stderr(&d));
}
