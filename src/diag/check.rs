//! `nucleus check`: from the facts `linux::check` gathered, one verdict per item — OK,
//! degraded or missing — with what nucleus will do about it. Pure.

use super::mountinfo::Mount;
use crate::caps::{CapSet, Capability};
use serde::Serialize;
use serde_json::{json, Value};

/// What `linux::check::gather` found on this machine. `None` / `Err` mean the kernel did
/// not say (file absent, syscall refused); the verdicts say so instead of guessing.
#[derive(Clone, Debug)]
pub struct Facts {
    /// `uname -r`.
    pub release: String,
    /// `/proc/version`.
    pub proc_version: String,
    /// WSL_DISTRO_NAME is set.
    pub wsl_env: bool,
    pub euid: u32,
    /// Entries of /proc/self/ns (mnt, pid, net, …).
    pub namespaces: Vec<String>,
    /// kernel.unprivileged_userns_clone (Debian/Ubuntu patch).
    pub userns_clone: Option<u64>,
    /// user.max_user_namespaces.
    pub max_user_namespaces: Option<u64>,
    /// kernel.apparmor_restrict_unprivileged_userns (Ubuntu 23.10+).
    pub apparmor_restrict_userns: Option<u64>,
    /// This process's mounts.
    pub mounts: Vec<Mount>,
    /// The hierarchy nucleus drives (`linux::cgroups::detect` of /sys/fs/cgroup): "v1"/"v2".
    pub nucleus_cgroup: String,
    /// cgroup.controllers at the root of the cgroup2 mount, if there is one.
    pub v2_controllers: Option<String>,
    /// For the current user: (controller or "unified", this process's cgroup dir, writable).
    pub delegation: Vec<(String, String, bool)>,
    /// /proc/sys/kernel/seccomp/actions_avail.
    pub seccomp_actions: Option<String>,
    /// /proc/self/status has a `Seccomp:` line (CONFIG_SECCOMP).
    pub seccomp_status_line: bool,
    /// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): ABI or errno name.
    pub landlock: Result<u32, String>,
    pub cap_last_cap: u8,
    /// This process's bounding set.
    pub bounding: CapSet,
    /// This process's effective set.
    pub effective: CapSet,
    pub tracepoint: Tracepoint,
    /// /proc/filesystems.
    pub filesystems: String,
    /// mount_setattr(-1, NULL, 0, NULL, 0): Ok when the syscall exists (it answers EINVAL),
    /// Err(errno name) otherwise.
    pub mount_setattr: Result<(), String>,
}

impl Default for Facts {
    /// Nothing known: every probe failed.
    fn default() -> Facts {
        Facts {
            release: String::new(),
            proc_version: String::new(),
            wsl_env: false,
            euid: 0,
            namespaces: Vec::new(),
            userns_clone: None,
            max_user_namespaces: None,
            apparmor_restrict_userns: None,
            mounts: Vec::new(),
            nucleus_cgroup: String::new(),
            v2_controllers: None,
            delegation: Vec::new(),
            seccomp_actions: None,
            seccomp_status_line: false,
            landlock: Err("unknown".into()),
            cap_last_cap: 0,
            bounding: CapSet::EMPTY,
            effective: CapSet::EMPTY,
            tracepoint: Tracepoint::Unknown,
            filesystems: String::new(),
            mount_setattr: Err("unknown".into()),
        }
    }
}

/// How the cap_capable tracepoint was found, or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Tracepoint {
    /// events/capability/cap_capable exists under a mounted tracefs at this path.
    Mounted(String),
    /// Found in a detached tracefs mount (fsopen/fsmount, never attached to any path).
    Detached,
    /// tracefs is not reachable, but the kernel's symbol table has the tracepoint.
    Kallsyms,
    /// Looked everywhere it could be; not there.
    Absent(String),
    #[default]
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Missing,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Degraded => "degraded",
            Status::Missing => "missing",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// Stable key (`kernel`, `user_namespaces`, …).
    pub key: &'static str,
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What nucleus does about it.
    pub action: String,
    /// True when this alone stops nucleus from running containers.
    pub fatal: bool,
    /// The raw values behind the verdict, for machines.
    pub data: Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// False when nucleus cannot run containers at all here.
    pub can_run_containers: bool,
    pub items: Vec<Item>,
}

fn item(key: &'static str, status: Status, found: String, action: &str, data: Value) -> Item {
    Item {
        key,
        status,
        found,
        action: action.to_string(),
        fatal: false,
        data,
    }
}

/// (major, minor) of a release string like "6.18.44-fc".
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

/// The cgroup layout from the mount table: "v2" (cgroup2 at /sys/fs/cgroup), "hybrid"
/// (v1 hierarchies and a cgroup2 mount elsewhere), "v1", or "none".
pub fn cgroup_layout(mounts: &[Mount]) -> &'static str {
    let v2_root = mounts
        .iter()
        .any(|m| m.fstype == "cgroup2" && m.mount_point == "/sys/fs/cgroup");
    let v1 = mounts.iter().any(|m| m.fstype == "cgroup");
    let v2 = mounts.iter().any(|m| m.fstype == "cgroup2");
    match (v2_root, v1, v2) {
        (true, _, _) => "v2",
        (false, true, true) => "hybrid",
        (false, true, false) => "v1",
        (false, false, true) => "v2",
        _ => "none",
    }
}

const V1_CONTROLLERS: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Controllers mounted as v1 hierarchies (from their mount options).
pub fn v1_controllers(mounts: &[Mount]) -> Vec<String> {
    let mut out: Vec<String> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup")
        .flat_map(|m| m.super_options.iter().chain(m.options.iter()))
        .filter(|o| V1_CONTROLLERS.contains(&o.as_str()))
        .cloned()
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The verdicts, in the order a user debugs: kernel, namespaces, cgroups, then isolators.
pub fn evaluate(f: &Facts) -> Report {
    let mut items = vec![
        kernel(f),
        namespaces(f),
        user_namespaces(f),
        cgroups(f),
        delegation(f),
        seccomp(f),
        landlock(f),
        capabilities(f),
        tracepoint(f),
        pivot_root(f),
        overlay(f),
        idmapped(f),
        wsl(f),
    ];
    for it in &mut items {
        it.fatal = it.fatal && it.status == Status::Missing;
    }
    Report {
        can_run_containers: !items.iter().any(|i| i.fatal),
        items,
    }
}

fn kernel(f: &Facts) -> Item {
    let v = kernel_version(&f.release);
    let data = json!({"release": f.release, "version": v.map(|(a, b)| format!("{a}.{b}"))});
    match v {
        Some(v) if v >= (5, 6) => item(
            "kernel",
            Status::Ok,
            format!("Linux {}", f.release),
            "none needed (openat2 RESOLVE_IN_ROOT, pidfd and clone3 are there)",
            data,
        ),
        Some(_) => Item {
            fatal: true,
            ..item(
                "kernel",
                Status::Missing,
                format!("Linux {} is older than 5.6", f.release),
                "cannot confine path operations to the container's root (openat2 needs 5.6): \
                 containers fail; upgrade the kernel",
                data,
            )
        },
        None => item(
            "kernel",
            Status::Degraded,
            format!("unrecognised release '{}'", f.release),
            "assumes a recent kernel; container start fails if openat2 is missing",
            data,
        ),
    }
}

const NEEDED_NS: [&str; 6] = ["mnt", "pid", "uts", "ipc", "net", "cgroup"];

fn namespaces(f: &Facts) -> Item {
    let missing: Vec<&str> = NEEDED_NS
        .iter()
        .copied()
        .filter(|n| !f.namespaces.iter().any(|x| x == n))
        .collect();
    let data = json!({"present": f.namespaces, "missing": missing});
    if missing.is_empty() {
        return item(
            "namespaces",
            Status::Ok,
            format!("{} (from /proc/self/ns)", f.namespaces.join(" ")),
            "none needed",
            data,
        );
    }
    let fatal = missing.contains(&"mnt") || missing.contains(&"pid");
    Item {
        fatal,
        ..item(
            "namespaces",
            if fatal {
                Status::Missing
            } else {
                Status::Degraded
            },
            format!("missing: {}", missing.join(" ")),
            if fatal {
                "cannot isolate mounts or processes: containers cannot run"
            } else {
                "containers that ask for the missing namespaces fail at start"
            },
            data,
        )
    }
}

fn user_namespaces(f: &Facts) -> Item {
    let present = f.namespaces.iter().any(|n| n == "user");
    let mut blockers = Vec::new();
    if f.max_user_namespaces == Some(0) {
        blockers.push("user.max_user_namespaces = 0".to_string());
    }
    if f.userns_clone == Some(0) {
        blockers.push("kernel.unprivileged_userns_clone = 0".to_string());
    }
    if f.apparmor_restrict_userns == Some(1) {
        blockers.push(
            "kernel.apparmor_restrict_unprivileged_userns = 1 (no capabilities inside unless \
             an AppArmor profile allows)"
                .to_string(),
        );
    }
    let data = json!({
        "present": present,
        "max_user_namespaces": f.max_user_namespaces,
        "unprivileged_userns_clone": f.userns_clone,
        "apparmor_restrict_unprivileged_userns": f.apparmor_restrict_userns,
        "unprivileged_allowed": present && blockers.is_empty(),
    });
    let sysctls = format!(
        "max_user_namespaces={}, unprivileged_userns_clone={}, apparmor_restrict_unprivileged_userns={}",
        opt(f.max_user_namespaces),
        opt(f.userns_clone),
        opt(f.apparmor_restrict_userns)
    );
    let root = f.euid == 0;
    if !present || f.max_user_namespaces == Some(0) {
        return Item {
            fatal: !root,
            ..item(
                "user_namespaces",
                Status::Missing,
                format!(
                    "{}; {sysctls}",
                    if present {
                        "disabled"
                    } else {
                        "not in this kernel"
                    }
                ),
                if root {
                    "rootful containers work; rootless ones (and Podman rootless) cannot"
                } else {
                    "rootless containers cannot run: run nucleus as root, or raise user.max_user_namespaces"
                },
                data,
            )
        };
    }
    if blockers.is_empty() {
        return item(
            "user_namespaces",
            Status::Ok,
            format!("unprivileged allowed; {sysctls}"),
            "rootless containers use a user namespace mapping the caller",
            data,
        );
    }
    Item {
        fatal: !root,
        ..item(
            "user_namespaces",
            if root {
                Status::Degraded
            } else {
                Status::Missing
            },
            format!("unprivileged blocked: {}", blockers.join("; ")),
            if root {
                "rootful containers work (root may create user namespaces); rootless callers are refused"
            } else {
                "rootless containers cannot run: run nucleus as root, or lift the sysctl"
            },
            data,
        )
    }
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "absent".to_string(), |v| v.to_string())
}

fn cgroups(f: &Facts) -> Item {
    let layout = cgroup_layout(&f.mounts);
    let v1 = v1_controllers(&f.mounts);
    let v2: Vec<String> = f
        .v2_controllers
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let data = json!({
        "layout": layout,
        "v1_controllers": v1,
        "v2_controllers": v2,
        "nucleus_uses": f.nucleus_cgroup,
    });
    let used: &Vec<String> = if f.nucleus_cgroup == "v2" { &v2 } else { &v1 };
    let wanted: &[&str] = if f.nucleus_cgroup == "v2" {
        &["memory", "pids", "cpu"]
    } else {
        &["memory", "pids", "cpu", "devices", "freezer"]
    };
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|c| !used.iter().any(|u| u == c))
        .collect();
    let found = match layout {
        "hybrid" => format!(
            "hybrid: v1 controllers {} under /sys/fs/cgroup/<controller>; cgroup2 controllers: {}",
            v1.join(","),
            if v2.is_empty() {
                "none".to_string()
            } else {
                v2.join(",")
            }
        ),
        "v1" => format!("v1: {}", v1.join(",")),
        "v2" => format!("v2: {}", v2.join(",")),
        _ => "no cgroup filesystem mounted".to_string(),
    };
    if layout == "none" {
        return item(
            "cgroups",
            Status::Missing,
            found,
            "containers run without a cgroup: no limits, no pause, `kill --all` cannot find them",
            data,
        );
    }
    if missing.is_empty() {
        item(
            "cgroups",
            Status::Ok,
            found,
            &format!(
                "uses the {} hierarchy for limits, devices and freeze",
                f.nucleus_cgroup
            ),
            data,
        )
    } else {
        item(
            "cgroups",
            Status::Degraded,
            format!(
                "{found}; missing in {}: {}",
                f.nucleus_cgroup,
                missing.join(",")
            ),
            "limits on the missing controllers fail with a clear error; the rest work",
            data,
        )
    }
}

fn delegation(f: &Facts) -> Item {
    let writable: Vec<&str> = f
        .delegation
        .iter()
        .filter(|d| d.2)
        .map(|d| d.0.as_str())
        .collect();
    let data = json!({
        "euid": f.euid,
        "dirs": f.delegation.iter().map(|(c, p, w)| json!({"controller": c, "path": p, "writable": w})).collect::<Vec<_>>(),
    });
    if f.euid == 0 {
        return item(
            "cgroup_delegation",
            Status::Ok,
            "running as root: every cgroup is writable".to_string(),
            "creates one cgroup per container",
            data,
        );
    }
    if !f.delegation.is_empty() && writable.len() == f.delegation.len() {
        item(
            "cgroup_delegation",
            Status::Ok,
            format!("this user's cgroup is delegated ({})", writable.join(",")),
            "rootless containers can have limits",
            data,
        )
    } else {
        item(
            "cgroup_delegation",
            Status::Degraded,
            if writable.is_empty() {
                "no cgroup is delegated to this user".to_string()
            } else {
                format!("only partly delegated: {}", writable.join(","))
            },
            "rootless containers run without limits; --memory/--pids/--cpus are refused",
            data,
        )
    }
}

fn seccomp(f: &Facts) -> Item {
    let actions: Vec<String> = f
        .seccomp_actions
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let data = json!({"actions_avail": actions, "enabled": f.seccomp_status_line});
    if !f.seccomp_status_line && f.seccomp_actions.is_none() {
        return item(
            "seccomp",
            Status::Missing,
            "the kernel has no seccomp".to_string(),
            "`nucleus run` fails unless --seccomp unconfined; OCI configs with a seccomp profile fail",
            data,
        );
    }
    let needed = ["kill_process", "errno", "allow"];
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|a| !actions.iter().any(|x| x == a))
        .collect();
    if f.seccomp_actions.is_some() && missing.is_empty() {
        let no_log = !actions.iter().any(|x| x == "log");
        item(
            "seccomp",
            if no_log { Status::Degraded } else { Status::Ok },
            format!("actions: {}", actions.join(" ")),
            if no_log {
                "the default profile works; profiles using SCMP_ACT_LOG are refused"
            } else {
                "the default profile loads; SCMP_ACT_NOTIFY profiles are refused (nucleus has no notify agent)"
            },
            data,
        )
    } else {
        item(
            "seccomp",
            Status::Degraded,
            match &f.seccomp_actions {
                Some(_) => format!("missing actions: {}", missing.join(" ")),
                None => "seccomp present, actions_avail unreadable".to_string(),
            },
            "filters are built from the basic actions; a load that the kernel rejects fails the start",
            data,
        )
    }
}

fn landlock(f: &Facts) -> Item {
    match &f.landlock {
        Ok(abi) => {
            // The rights this ABI cannot enforce, with the ABI and kernel that brought each.
            let lacking: Vec<String> = crate::spec::config::LANDLOCK_FS
                .iter()
                .chain(crate::spec::config::LANDLOCK_NET)
                .filter(|(_, _, v)| u32::from(*v) > *abi)
                .map(|(n, _, v)| format!("{n} (ABI {v}, Linux {})", landlock_kernel(*v)))
                .collect();
            item(
                "landlock",
                Status::Ok,
                if lacking.is_empty() {
                    format!("ABI {abi}")
                } else {
                    format!("ABI {abi}: cannot enforce {}", lacking.join(", "))
                },
                &if lacking.is_empty() {
                    "filesystem rules and TCP bind/connect rules can be enforced".to_string()
                } else {
                    "rules on the rights listed are not enforced: best effort warns, \
                     --landlock-strict and production mode refuse"
                        .to_string()
                },
                json!({"abi": abi, "unenforceable": crate::spec::config::LANDLOCK_FS
                    .iter()
                    .chain(crate::spec::config::LANDLOCK_NET)
                    .filter(|(_, _, v)| u32::from(*v) > *abi)
                    .map(|(n, _, _)| *n)
                    .collect::<Vec<_>>()}),
            )
        }
        Err(e) => item(
            "landlock",
            Status::Missing,
            match e.as_str() {
                "EOPNOTSUPP" => "built in but disabled at boot (add landlock to lsm=)".to_string(),
                "ENOSYS" => "not in this kernel".to_string(),
                other => format!("landlock_create_ruleset failed: {other}"),
            },
            "Landlock rules are reported unenforced (best effort); production mode refuses them",
            json!({"abi": null, "error": e}),
        ),
    }
}

/// The first Linux release with Landlock ABI `abi`.
fn landlock_kernel(abi: u8) -> &'static str {
    match abi {
        0 | 1 => "5.13",
        2 => "5.19",
        3 => "6.2",
        4 => "6.7",
        5 => "6.10",
        6 => "6.12",
        _ => "6.15",
    }
}

fn capabilities(f: &Facts) -> Item {
    let known = CapSet::up_to(f.cap_last_cap);
    let missing = known - f.bounding;
    let names: Vec<String> = missing.iter().map(|c| c.lower_name()).collect();
    let data = json!({
        "cap_last_cap": f.cap_last_cap,
        "bounding": f.bounding.hex(),
        "missing_from_bounding": names,
    });
    if missing.is_empty() {
        return item(
            "capabilities",
            Status::Ok,
            format!(
                "cap_last_cap {}; nucleus' bounding set holds all {} capabilities",
                f.cap_last_cap,
                known.len()
            ),
            "any capability can be granted to containers",
            data,
        );
    }
    let mut action = format!(
        "cannot grant {}: configs asking for every capability (--privileged-like) fail",
        names.join(",")
    );
    if let Some(sr) = Capability::from_index(24) {
        if missing.contains(sr) {
            action.push_str("; rlimits above the hard limit cannot be raised");
        }
    }
    item(
        "capabilities",
        Status::Degraded,
        format!(
            "cap_last_cap {}; missing from nucleus' own bounding set: {}",
            f.cap_last_cap,
            names.join(",")
        ),
        &action,
        data,
    )
}

fn tracepoint(f: &Facts) -> Item {
    let (status, found, method) = match &f.tracepoint {
        Tracepoint::Mounted(p) => (
            Status::Ok,
            format!("{p}/events/capability/cap_capable"),
            "tracefs",
        ),
        Tracepoint::Detached => (
            Status::Ok,
            "events/capability/cap_capable in a detached tracefs mount (tracefs is not mounted)"
                .to_string(),
            "detached-tracefs",
        ),
        Tracepoint::Kallsyms => (
            Status::Degraded,
            "compiled in (/proc/kallsyms has trace_event_raw_event_cap_capable), but tracefs \
             is not reachable from here"
                .to_string(),
            "kallsyms",
        ),
        Tracepoint::Absent(why) => (Status::Missing, why.clone(), "none"),
        Tracepoint::Unknown => (
            Status::Degraded,
            "could not look (no tracefs, no readable /proc/kallsyms)".to_string(),
            "none",
        ),
    };
    item(
        "cap_capable_tracepoint",
        status,
        found,
        match status {
            Status::Ok => "capability checks can be recorded (needs root)",
            Status::Degraded => {
                "recording capability checks needs tracefs: mount it at /sys/kernel/tracing"
            }
            Status::Missing => {
                "capability checks cannot be recorded (the capability:cap_capable tracepoint \
                 is in Linux 6.14 and newer); `nucleus caps probe` still works"
            }
        },
        json!({"present": status == Status::Ok || method == "kallsyms", "method": method}),
    )
}

fn pivot_root(f: &Facts) -> Item {
    let root = super::mountinfo::root(&f.mounts);
    let fstype = root.map(|m| m.fstype.clone()).unwrap_or_default();
    let data = json!({"root_fstype": fstype, "possible": fstype != "rootfs" && root.is_some()});
    match root {
        Some(m) if m.fstype == "rootfs" => Item {
            fatal: true,
            ..item(
                "pivot_root",
                Status::Missing,
                "/ is the initramfs (rootfs), which pivot_root cannot move".to_string(),
                "containers cannot start (nucleus always uses pivot_root): switch_root to a real root, or mount a tmpfs and chroot into it first",
                data,
            )
        },
        Some(m) => item(
            "pivot_root",
            Status::Ok,
            format!("/ is {} ({})", m.fstype, m.source),
            "uses pivot_root and detaches the old root",
            data,
        ),
        None => item(
            "pivot_root",
            Status::Degraded,
            "no / in /proc/self/mountinfo".to_string(),
            "will try pivot_root; the start fails if the kernel refuses",
            data,
        ),
    }
}

fn has_fs(f: &Facts, name: &str) -> bool {
    f.filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some(name))
}

fn overlay(f: &Facts) -> Item {
    let present = has_fs(f, "overlay");
    item(
        "overlay",
        if present {
            Status::Ok
        } else {
            Status::Degraded
        },
        if present {
            "overlay in /proc/filesystems".to_string()
        } else {
            "overlay not in /proc/filesystems (the module may still load on first mount)"
                .to_string()
        },
        if present {
            "overlay mounts in configs (and Podman's overlay storage) work"
        } else {
            "nucleus itself does not need overlay; configs with overlay mounts may fail"
        },
        json!({"present": present}),
    )
}

fn idmapped(f: &Facts) -> Item {
    let new_enough = kernel_version(&f.release).is_some_and(|v| v >= (5, 12));
    let syscall = f.mount_setattr.is_ok();
    let ok = new_enough && syscall;
    item(
        "idmapped_mounts",
        if ok { Status::Ok } else { Status::Missing },
        match &f.mount_setattr {
            Ok(()) if new_enough => "kernel ≥ 5.12 and mount_setattr is available".to_string(),
            Ok(()) => "mount_setattr answers, but the kernel is older than 5.12".to_string(),
            Err(e) => format!("mount_setattr: {e}"),
        },
        if ok {
            "idmapped mounts in configs (uidMappings on mounts) can be honoured"
        } else {
            "configs with idmapped mounts fail; rootless containers use chown-free mappings only"
        },
        json!({"kernel_5_12": new_enough, "mount_setattr": syscall}),
    )
}

/// WSL2: the kernel string says "microsoft", or WSL sets WSL_DISTRO_NAME.
pub fn is_wsl(proc_version: &str, env: bool) -> bool {
    env || proc_version.to_ascii_lowercase().contains("microsoft")
}

fn wsl(f: &Facts) -> Item {
    let on = is_wsl(&f.proc_version, f.wsl_env);
    item(
        "wsl",
        if on { Status::Degraded } else { Status::Ok },
        if on {
            "WSL2 kernel detected".to_string()
        } else {
            "not WSL".to_string()
        },
        if on {
            "known quirk: capset of the permitted set fails with EPERM while bounding drops \
             work; a failed capset stops the start (fail closed) — retain fewer capabilities \
             or run as root without a capability change"
        } else {
            "none needed"
        },
        json!({"wsl": on}),
    )
}

/// The human report: one line per item.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    for i in &r.items {
        out.push_str(&format!(
            "{:<9} {:<23} {} → {}{}\n",
            i.status.label(),
            i.key,
            i.found,
            i.action,
            if i.fatal { " [fatal]" } else { "" }
        ));
    }
    out.push_str(if r.can_run_containers {
        "nucleus can run containers here\n"
    } else {
        "nucleus CANNOT run containers here (see the fatal items above)\n"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::mountinfo::parse;
    use super::*;

    fn good() -> Facts {
        Facts {
            release: "6.18.44-fc".into(),
            proc_version: "Linux version 6.18.44".into(),
            euid: 0,
            namespaces: ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
                .map(String::from)
                .to_vec(),
            max_user_namespaces: Some(1000),
            mounts: parse(
                "1 0 254:0 / / rw - ext4 /dev/vda rw\n\
                 2 1 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                 3 1 0:31 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n\
                 4 1 0:32 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n\
                 5 1 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n\
                 6 1 0:34 / /sys/fs/cgroup/freezer rw - cgroup cgroup rw,freezer\n\
                 7 1 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
            ),
            nucleus_cgroup: "v1".into(),
            v2_controllers: Some("hugetlb\n".into()),
            seccomp_actions: Some(
                "kill_process kill_thread trap errno user_notif trace log allow".into(),
            ),
            seccomp_status_line: true,
            landlock: Ok(7),
            cap_last_cap: 40,
            bounding: CapSet::up_to(40),
            effective: CapSet::up_to(40),
            tracepoint: Tracepoint::Detached,
            filesystems: "nodev\ttmpfs\nnodev\toverlay\n".into(),
            mount_setattr: Ok(()),
            ..Facts::default()
        }
    }

    fn find<'a>(r: &'a Report, key: &str) -> &'a Item {
        r.items.iter().find(|i| i.key == key).unwrap()
    }

    #[test]
    fn a_good_machine_is_all_ok_and_can_run() {
        let r = evaluate(&good());
        assert!(r.can_run_containers);
        for i in &r.items {
            assert_eq!(i.status, Status::Ok, "{i:?}");
        }
        assert_eq!(find(&r, "cgroups").data["layout"], "hybrid");
    }

    #[test]
    fn layouts() {
        assert_eq!(
            cgroup_layout(&parse("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 c rw\n")),
            "v2"
        );
        assert_eq!(
            cgroup_layout(&parse(
                "1 0 0:1 / /sys/fs/cgroup/memory rw - cgroup c rw,memory\n"
            )),
            "v1"
        );
        assert_eq!(cgroup_layout(&[]), "none");
    }

    #[test]
    fn missing_sys_resource_is_degraded_and_named() {
        let mut f = good();
        f.bounding.remove(Capability::from_index(24).unwrap());
        let r = evaluate(&f);
        let c = find(&r, "capabilities");
        assert_eq!(c.status, Status::Degraded);
        assert!(c.found.contains("cap_sys_resource"), "{}", c.found);
        assert!(c.action.contains("rlimit"));
        assert!(r.can_run_containers);
    }

    #[test]
    fn no_mount_namespace_or_initramfs_root_is_fatal() {
        let mut f = good();
        f.namespaces.retain(|n| n != "mnt");
        assert!(!evaluate(&f).can_run_containers);
        let mut f = good();
        f.mounts = parse("1 0 0:2 / / rw - rootfs rootfs rw\n");
        let r = evaluate(&f);
        assert!(!r.can_run_containers);
        assert!(find(&r, "pivot_root").fatal);
    }

    #[test]
    fn blocked_userns_is_fatal_only_for_non_root() {
        let mut f = good();
        f.apparmor_restrict_userns = Some(1);
        let r = evaluate(&f);
        assert_eq!(find(&r, "user_namespaces").status, Status::Degraded);
        assert!(r.can_run_containers);
        f.euid = 1000;
        f.delegation = vec![("memory".into(), "/x".into(), false)];
        let r = evaluate(&f);
        assert_eq!(find(&r, "user_namespaces").status, Status::Missing);
        assert!(!r.can_run_containers);
        assert_eq!(find(&r, "cgroup_delegation").status, Status::Degraded);
    }

    #[test]
    fn old_kernel_and_no_landlock_and_wsl() {
        let mut f = good();
        f.release = "5.4.0-generic".into();
        f.landlock = Err("ENOSYS".into());
        f.mount_setattr = Err("ENOSYS".into());
        f.proc_version = "Linux version 5.15.90.1-microsoft-standard-WSL2".into();
        let r = evaluate(&f);
        assert!(!r.can_run_containers);
        assert_eq!(find(&r, "landlock").status, Status::Missing);
        assert_eq!(find(&r, "idmapped_mounts").status, Status::Missing);
        assert_eq!(find(&r, "wsl").status, Status::Degraded);
        assert!(find(&r, "wsl").action.contains("EPERM"));
        assert_eq!(kernel_version("6.18.44-fc"), Some((6, 18)));
        assert_eq!(kernel_version("x"), None);
    }

    #[test]
    fn seccomp_without_log_or_at_all() {
        let mut f = good();
        f.seccomp_actions = Some("kill_process errno allow".into());
        assert_eq!(find(&evaluate(&f), "seccomp").status, Status::Degraded);
        f.seccomp_actions = None;
        f.seccomp_status_line = false;
        assert_eq!(find(&evaluate(&f), "seccomp").status, Status::Missing);
        let mut f = good();
        f.tracepoint = Tracepoint::Kallsyms;
        assert_eq!(
            find(&evaluate(&f), "cap_capable_tracepoint").status,
            Status::Degraded
        );
        assert!(render(&evaluate(&f)).contains("degraded"));
    }
}
