//! cgroups v1 and v2: limit writes, joining, removal.

mod common;
use common::*;
use nucleus::linux::cgroups::{detect, Cgroup, Version};
use nucleus::spec::config::Resources;
use std::path::Path;

fn limits() -> Resources {
    Resources {
        memory: Some(32 << 20),
        pids: Some(20),
        cpu_quota: Some(50_000),
        cpu_period: 100_000,
        ..Resources::default()
    }
}

/// v2 limit writes against a directory laid out like a cgroup2 mount (this host's v2
/// hierarchy has no memory/pids/cpu controllers).
#[test]
fn v2_limits_are_written_where_cgroup2_expects_them() {
    let tmp = TempDir::new("cg2");
    std::fs::write(
        tmp.path("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    )
    .unwrap();
    std::fs::write(tmp.path("cgroup.subtree_control"), "").unwrap();
    let mut cg = Cgroup::create(&tmp.0, &Version::V2, "nucleus-t", &limits()).unwrap();
    let dir = tmp.path("nucleus-t");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("memory.max"), (32u64 << 20).to_string());
    assert_eq!(read("pids.max"), "20");
    assert_eq!(read("cpu.max"), "50000 100000");
    let enabled = std::fs::read_to_string(tmp.path("cgroup.subtree_control")).unwrap();
    assert_eq!(enabled, "+memory +pids +cpu");
    cg.add(4242).unwrap();
    assert_eq!(read("cgroup.procs"), "4242");
    cg.remove();
    assert!(!dir.exists());
    // A controller the hierarchy lacks is a clear error, and nothing is left.
    std::fs::write(tmp.path("cgroup.controllers"), "cpu io\n").unwrap();
    let e = Cgroup::create(&tmp.0, &Version::V2, "nucleus-u", &limits()).unwrap_err();
    assert!(
        e.to_string().contains(
            "linux.resources.memory.limit: this host's cgroup v2 hierarchy has no memory \
             controller"
        ),
        "{e}"
    );
    // The hint names the fix (drop the setting, or give the controller to v2).
    let hint = e.hint().unwrap_or_default();
    assert!(hint.contains("linux.resources.memory.limit"), "{hint}");
    assert!(!tmp.path("nucleus-u").exists());
}

#[test]
fn v1_limits_apply_on_the_real_hierarchy() {
    if !privileged("v1_limits_apply_on_the_real_hierarchy") {
        return;
    }
    let mp = Path::new("/sys/fs/cgroup");
    if detect(mp) != Version::V1 {
        println!("SKIPPED (needs a v1 hierarchy): v1_limits_apply_on_the_real_hierarchy");
        return;
    }
    let name = format!("nucleus-test-{}", std::process::id());
    let mut cg = Cgroup::create(mp, &Version::V1, &name, &limits()).unwrap();
    let read = |c: &str, f: &str| std::fs::read_to_string(mp.join(c).join(&name).join(f)).unwrap();
    assert_eq!(
        read("memory", "memory.limit_in_bytes").trim(),
        (32u64 << 20).to_string()
    );
    assert_eq!(read("pids", "pids.max").trim(), "20");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    cg.add(child.id() as i32).unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        membership.contains(&format!("memory:/{name}")),
        "{membership}"
    );
    cg.remove();
    for c in ["memory", "pids", "cpu"] {
        assert!(!mp.join(c).join(&name).exists());
    }
}

/// Creating and joining a v2 cgroup, on this host's real (hugetlb-only) v2 hierarchy.
#[test]
fn v2_create_and_join_on_the_unified_hierarchy() {
    if !privileged("v2_create_and_join_on_the_unified_hierarchy") {
        return;
    }
    let mp = Path::new("/sys/fs/cgroup/unified");
    if !mp.join("cgroup.controllers").exists() {
        println!("SKIPPED (needs a cgroup2 mount at /sys/fs/cgroup/unified): v2_create_and_join_on_the_unified_hierarchy");
        return;
    }
    assert_eq!(detect(mp), Version::V2);
    let name = format!("nucleus-test-{}", std::process::id());
    let mut cg = Cgroup::create(mp, &Version::V2, &name, &Resources::default()).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    cg.add(child.id() as i32).unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{}/cgroup", child.id())).unwrap();
    let procs = std::fs::read_to_string(mp.join(&name).join("cgroup.procs")).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        membership.lines().any(|l| l == format!("0::/{name}")),
        "{membership}"
    );
    assert_eq!(procs.trim(), child.id().to_string());
    cg.remove();
    assert!(!mp.join(&name).exists());
}

// ---- The freezer (one implementation: pause/resume, kill --all, status) ----

/// A directory laid out like a v2 cgroup's freezer files: `cgroup.freeze` and
/// `cgroup.events` (which the kernel would update; here the test writes it).
fn v2_freezer(tmp: &TempDir, freeze: &str, frozen: &str) -> std::path::PathBuf {
    let d = tmp.path("c");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("cgroup.freeze"), freeze).unwrap();
    std::fs::write(
        d.join("cgroup.events"),
        format!("populated 1\nfrozen {frozen}\n"),
    )
    .unwrap();
    d
}

#[test]
fn v2_freeze_waits_for_frozen_1_in_cgroup_events() {
    use nucleus::linux::cgroups::{is_frozen, set_frozen};
    let tmp = TempDir::new("frz");
    // The kernel reports the freeze done: set_frozen returns, the status reads paused.
    let d = v2_freezer(&tmp, "0", "1");
    let dirs = vec![d.clone()];
    set_frozen(&dirs, true).unwrap();
    assert_eq!(
        std::fs::read_to_string(d.join("cgroup.freeze")).unwrap(),
        "1"
    );
    assert!(is_frozen(&dirs));

    // The kernel never reports `frozen 1`: a bounded wait, an error saying what
    // cgroup.events said, and the freeze undone (the container is not left half-paused).
    let d = v2_freezer(&tmp, "0", "0");
    let t = std::time::Instant::now();
    let e = set_frozen(&dirs, true).unwrap_err().to_string();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(4),
        "{:?}",
        t.elapsed()
    );
    assert!(e.contains("freezing did not complete within 2 s"), "{e}");
    assert!(e.contains("cgroup.events says 'frozen 0'"), "{e}");
    assert_eq!(
        std::fs::read_to_string(d.join("cgroup.freeze")).unwrap(),
        "0"
    );
    assert!(!is_frozen(&dirs));

    // No freezer at all: an error naming it.
    let none = vec![tmp.path("none")];
    std::fs::create_dir_all(&none[0]).unwrap();
    assert!(set_frozen(&none, true)
        .unwrap_err()
        .to_string()
        .contains("freezer"));
    assert!(!is_frozen(&none));
}

#[test]
fn holding_a_cgroup_frozen_puts_it_back_as_it_was() {
    use nucleus::linux::cgroups::Frozen;
    let tmp = TempDir::new("hold");
    let freeze = |d: &std::path::Path| std::fs::read_to_string(d.join("cgroup.freeze")).unwrap();
    let events = |d: &std::path::Path, v: &str| {
        std::fs::write(
            d.join("cgroup.events"),
            format!("populated 1\nfrozen {v}\n"),
        )
        .unwrap()
    };
    // A running container: frozen while held, thawed after.
    let d = v2_freezer(&tmp, "0", "1");
    let dirs = vec![d.clone()];
    let h = Frozen::hold(&dirs, false).unwrap();
    assert_eq!(freeze(&d), "1");
    events(&d, "0");
    h.release().unwrap();
    assert_eq!(freeze(&d), "0");

    // A paused container: left paused (a signal other than SIGKILL does not thaw it).
    let d = v2_freezer(&tmp, "1", "1");
    Frozen::hold(&dirs, false).unwrap().release().unwrap();
    assert_eq!(freeze(&d), "1", "a paused container was thawed");

    // SIGKILL: thawed after even when paused (a v1 freezer holds SIGKILL back).
    let h = Frozen::hold(&dirs, true).unwrap();
    assert_eq!(freeze(&d), "1");
    events(&d, "0");
    h.release().unwrap();
    assert_eq!(freeze(&d), "0");

    // Dropped without release (an error path): still thawed.
    let d = v2_freezer(&tmp, "0", "1");
    {
        let _h = Frozen::hold(&dirs, false).unwrap();
        events(&d, "0");
    }
    assert_eq!(freeze(&d), "0");
}
