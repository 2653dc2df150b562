//! `nucleus check`: each item's data is compared with what the kernel says, read here
//! independently (uname, /proc, a Landlock syscall from python3, a private tracefs mount).
//! Nothing about this machine is hard-coded.

mod common;
use common::*;
use serde_json::Value;
use std::process::Command;

fn report() -> Value {
    let o = nucleus(&["check", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&o)).expect("check --json is JSON");
    assert_eq!(
        o.status.success(),
        v["can_run_containers"] == true,
        "exit status follows can_run_containers: {v}"
    );
    v
}

fn item<'a>(r: &'a Value, key: &str) -> &'a Value {
    r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no item {key}"))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh").args(["-c", cmd]).output().unwrap()
}

#[test]
fn every_item_is_there_with_a_known_status() {
    let r = report();
    let keys: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    for k in [
        "kernel",
        "namespaces",
        "user_namespaces",
        "cgroups",
        "cgroup_delegation",
        "seccomp",
        "landlock",
        "capabilities",
        "cap_capable_tracepoint",
        "pivot_root",
        "overlay",
        "idmapped_mounts",
        "wsl",
    ] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    for i in r["items"].as_array().unwrap() {
        assert!(
            ["ok", "degraded", "missing"].contains(&i["status"].as_str().unwrap()),
            "{i}"
        );
        assert!(!i["action"].as_str().unwrap().is_empty(), "{i}");
    }
    // The human form: one line per item, then the conclusion.
    let text = ok(&["check"]);
    assert_eq!(text.lines().count(), keys.len() + 1, "{text}");
    for k in keys {
        assert!(text.contains(&format!(" {k} ")), "{k} in\n{text}");
    }
}

#[test]
fn kernel_namespaces_and_sysctls_match_proc() {
    let r = report();
    let uname =
        String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    assert_eq!(item(&r, "kernel")["data"]["release"], uname.trim());

    let mut ns: Vec<String> = std::fs::read_dir("/proc/self/ns")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("_for_children"))
        .collect();
    ns.sort();
    assert_eq!(
        item(&r, "namespaces")["data"]["present"],
        serde_json::json!(ns)
    );

    let u = &item(&r, "user_namespaces")["data"];
    let num = |p: &str| read(p).trim().parse::<u64>().ok();
    assert_eq!(
        u["max_user_namespaces"],
        serde_json::json!(num("/proc/sys/user/max_user_namespaces"))
    );
    assert_eq!(
        u["unprivileged_userns_clone"],
        serde_json::json!(num("/proc/sys/kernel/unprivileged_userns_clone"))
    );
    assert_eq!(
        u["apparmor_restrict_unprivileged_userns"],
        serde_json::json!(num(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns"
        ))
    );

    let wsl = read("/proc/version").to_lowercase().contains("microsoft")
        || std::env::var_os("WSL_DISTRO_NAME").is_some();
    assert_eq!(item(&r, "wsl")["data"]["wsl"], wsl);
    let overlay = read("/proc/filesystems")
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    assert_eq!(item(&r, "overlay")["data"]["present"], overlay);
}

#[test]
fn capabilities_match_cap_last_cap_and_the_bounding_set() {
    let r = report();
    let c = &item(&r, "capabilities");
    let last: u64 = read("/proc/sys/kernel/cap_last_cap")
        .trim()
        .parse()
        .unwrap();
    assert_eq!(c["data"]["cap_last_cap"], last);
    // nucleus inherits this test's bounding set.
    let bnd = status_caps(&read("/proc/self/status"))["CapBnd"];
    let missing: Vec<u64> = (0..=last).filter(|b| bnd & (1 << b) == 0).collect();
    let names = c["data"]["missing_from_bounding"].as_array().unwrap();
    assert_eq!(names.len(), missing.len(), "{c}");
    // CAP_SYS_RESOURCE is bit 24: named exactly when the kernel says it is absent.
    let sys_resource_absent = bnd & (1 << 24) == 0;
    assert_eq!(
        names.iter().any(|n| n == "cap_sys_resource"),
        sys_resource_absent,
        "{c}"
    );
    assert_eq!(c["status"] == "ok", missing.is_empty(), "{c}");
    if sys_resource_absent {
        assert!(c["action"].as_str().unwrap().contains("rlimit"), "{c}");
    }
}

#[test]
fn seccomp_and_landlock_match_the_kernel() {
    let r = report();
    let want: Vec<String> = read("/proc/sys/kernel/seccomp/actions_avail")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(
        item(&r, "seccomp")["data"]["actions_avail"],
        serde_json::json!(want)
    );
    // landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION), asked by python.
    let o = Command::new("python3")
        .args([
            "-c",
            "import ctypes; l = ctypes.CDLL(None, use_errno=True); \
             print(l.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint(1)))",
        ])
        .output()
        .expect("python3");
    let abi: i64 = String::from_utf8(o.stdout).unwrap().trim().parse().unwrap();
    let l = &item(&r, "landlock");
    if abi > 0 {
        assert_eq!(l["data"]["abi"], abi, "{l}");
        assert_eq!(l["status"], "ok");
    } else {
        assert!(l["data"]["abi"].is_null(), "{l}");
        assert_eq!(l["status"], "missing");
    }
}

#[test]
fn cgroup_layout_and_root_match_the_mount_table() {
    let r = report();
    let mounts = read("/proc/self/mounts");
    let fields: Vec<Vec<&str>> = mounts
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let v1 = fields.iter().any(|f| f[2] == "cgroup");
    let v2_root = fields
        .iter()
        .any(|f| f[2] == "cgroup2" && f[1] == "/sys/fs/cgroup");
    let v2 = fields.iter().any(|f| f[2] == "cgroup2");
    let layout = if v2_root || (v2 && !v1) {
        "v2"
    } else if v1 && v2 {
        "hybrid"
    } else if v1 {
        "v1"
    } else {
        "none"
    };
    let c = &item(&r, "cgroups");
    assert_eq!(c["data"]["layout"], layout, "{c}");
    for f in fields.iter().filter(|f| f[2] == "cgroup") {
        for opt in f[3].split(',') {
            if ["memory", "pids", "cpu", "devices", "freezer"].contains(&opt) {
                assert!(
                    c["data"]["v1_controllers"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|x| x == opt),
                    "{opt}: {c}"
                );
            }
        }
    }
    let root_fs = fields.iter().rev().find(|f| f[1] == "/").unwrap()[2];
    let p = &item(&r, "pivot_root");
    assert_eq!(p["data"]["root_fstype"], root_fs);
    assert_eq!(p["data"]["possible"], root_fs != "rootfs");
}

#[test]
fn tracepoint_matches_a_tracefs_mounted_here() {
    if !privileged("tracepoint_matches_a_tracefs_mounted_here") {
        return;
    }
    let r = report();
    // The truth, independently: tracefs mounted in a private mount namespace (gone with it).
    let tmp = TempDir::new("tracefs");
    let o = sh(&format!(
        "unshare --mount --propagation private sh -c 'mount -t tracefs none {0} && test -e {0}/events/capability/cap_capable'",
        tmp.0.display()
    ));
    let present = o.status.success();
    let t = &item(&r, "cap_capable_tracepoint");
    assert_eq!(t["data"]["present"], present, "{t}");
    assert!(
        ["tracefs", "detached-tracefs"].contains(&t["data"]["method"].as_str().unwrap())
            || !present
    );
    assert_eq!(t["status"] == "ok", present, "{t}");
}

#[test]
fn idmapped_mounts_follow_the_kernel_version() {
    let r = report();
    let uname =
        String::from_utf8(Command::new("uname").arg("-r").output().unwrap().stdout).unwrap();
    let mut it = uname.trim().split(|c: char| !c.is_ascii_digit());
    let v: (u32, u32) = (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    );
    let i = &item(&r, "idmapped_mounts");
    assert_eq!(i["data"]["kernel_5_12"], v >= (5, 12), "{i}");
    if v < (5, 12) {
        assert_eq!(i["status"], "missing");
    }
}
