//! linux.resources kinds at create, on this host's cgroup v1 hierarchies: what the host
//! can apply is applied (and read back inside the container), a kernel default the host
//! cannot apply is skipped with a warning, anything else is one clear error naming the
//! field, with nothing left behind.

mod common;
use common::bundle::Bundle;
use common::*;
use std::path::Path;

fn v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// Creates `id` with `resources`; returns create's output.
fn create(b: &Bundle, id: &str, resources: serde_json::Value) -> std::process::Output {
    b.edit(|c| c["linux"]["resources"] = resources);
    b.create(id)
}

fn cg(ctrl: &str, id: &str, file: &str) -> String {
    let p = format!("/sys/fs/cgroup/{ctrl}/nucleus-{id}/{file}");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

/// Nothing of a refused create remains: no state, no cgroup in any hierarchy.
fn nothing_left(b: &Bundle, id: &str) {
    let o = b.nucleus(&["state", id]);
    assert!(!o.status.success(), "state of a refused container exists");
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = h.path().join(format!("nucleus-{id}"));
        assert!(!d.exists(), "{} left behind", d.display());
    }
}

#[test]
fn docker_block_io_and_host_limits_apply_and_read_back_inside() {
    if !privileged("docker_block_io_and_host_limits_apply_and_read_back_inside") || !v1() {
        return;
    }
    let b = Bundle::new("res-docker", &["sleep", "1000"]);
    // What Docker 20.10 sends for a plain `docker run --memory 64m --cpus .5 ...`.
    let o = create(
        &b,
        "r1",
        serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 64u64 << 20, "reservation": 16u64 << 20, "swappiness": 10,
                       "disableOOMKiller": false},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000},
            "pids": {"limit": 40},
            "blockIO": {"weight": 0}
        }),
    );
    assert!(o.status.success(), "create: {}", stderr(&o));
    let o = b.nucleus(&["start", "r1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.nucleus(&[
        "exec",
        "r1",
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
        "/sys/fs/cgroup/memory/memory.swappiness",
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
        "/sys/fs/cgroup/cpu/cpu.shares",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<String> = stdout(&o).lines().map(|l| l.trim().into()).collect();
    assert_eq!(
        got,
        ["67108864", "16777216", "10", "50000", "100000", "512", "40"],
        "inside"
    );
    // The host's own files agree (the container sees its own cgroup, not a copy).
    assert_eq!(cg("memory", "r1", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg("pids", "r1", "pids.max"), "40");
}

#[test]
fn v1_only_kinds_apply() {
    if !privileged("v1_only_kinds_apply") || !v1() {
        return;
    }
    let b = Bundle::new("res-v1", &["sleep", "1000"]);
    // vda (or whichever disk) as the throttled device.
    let dev = std::fs::read_to_string("/sys/block/vda/dev")
        .or_else(|_| std::fs::read_to_string("/sys/block/sda/dev"))
        .unwrap_or_else(|_| "254:0".into());
    let (maj, min) = dev.trim().split_once(':').unwrap();
    let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
    let o = create(
        &b,
        "r2",
        serde_json::json!({
            "memory": {"limit": 64u64 << 20, "disableOOMKiller": true},
            "cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000},
            "blockIO": {
                "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": 100}]
            },
            // classID 0 and no limits are kernel defaults: skipped with a warning when the
            // host lacks net_cls / rdma.
            "network": {"classID": 0},
        }),
    );
    assert!(o.status.success(), "create: {}", stderr(&o));
    let out = stderr(&o);
    if !Path::new("/sys/fs/cgroup/net_cls").exists() {
        assert!(out.contains("network.classID is ignored"), "{out}");
    }
    assert!(cg("memory", "r2", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(cg("cpu", "r2", "cpu.rt_runtime_us"), "10000");
    assert_eq!(
        cg("blkio", "r2", "blkio.throttle.read_bps_device"),
        format!("{maj}:{min} 1048576")
    );
    assert_eq!(
        cg("blkio", "r2", "blkio.throttle.write_iops_device"),
        format!("{maj}:{min} 100")
    );
    let o = b.nucleus(&["delete", "--force", "r2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    nothing_left(&b, "r2");
}

#[test]
fn what_the_host_cannot_apply_is_one_clear_error_and_nothing_is_left() {
    if !privileged("what_the_host_cannot_apply_is_one_clear_error_and_nothing_is_left") || !v1() {
        return;
    }
    let b = Bundle::new("res-bad", &["true"]);
    let mut cases = vec![
        (
            serde_json::json!({"unified": {"memory.high": "100000000"}}),
            "linux.resources.unified needs cgroup v2",
        ),
        (
            serde_json::json!({"unified": {"../../memory.max": "1"}}),
            "linux.resources.unified key",
        ),
        (
            serde_json::json!({"blockIO": {"weight": 2000}}),
            "linux.resources.blockIO.weight 2000",
        ),
        (
            serde_json::json!({"memory": {"swappiness": 101}}),
            "linux.resources.memory.swappiness 101",
        ),
    ];
    if !Path::new("/sys/fs/cgroup/net_cls/cgroup.procs").exists() {
        cases.push((
            serde_json::json!({"network": {"classID": 1048577}}),
            "linux.resources.network.classID: this host has no net_cls cgroup controller",
        ));
    }
    if !Path::new("/sys/fs/cgroup/hugetlb/cgroup.procs").exists() {
        cases.push((
            serde_json::json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
            "linux.resources.hugepageLimits: this host has no hugetlb cgroup controller",
        ));
    }
    if !Path::new("/sys/fs/cgroup/rdma/cgroup.procs").exists() {
        cases.push((
            serde_json::json!({"rdma": {"mlx5_0": {"hcaHandles": 2}}}),
            "linux.resources.rdma: this host has no rdma cgroup controller",
        ));
    }
    for (i, (res, want)) in cases.into_iter().enumerate() {
        let id = format!("bad{i}");
        let o = create(&b, &id, res.clone());
        assert!(!o.status.success(), "{res} was accepted");
        let e = stderr(&o);
        assert!(e.contains(want), "{res}: want '{want}' in: {e}");
        assert!(e.starts_with("nucleus: "), "{res}: {e}");
        nothing_left(&b, &id);
    }
}
