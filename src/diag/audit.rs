//! `nucleus audit`: an exposure score for a live process, from what `linux::audit` read
//! about it. Pure.
//!
//! The score runs from 0 (nothing a compromise could reach beyond the process itself) to
//! 10 (as exposed as the host's init), like `systemd-analyze security`'s "exposure". Each
//! finding has a weight (its share of the total) and an exposure from 0 to 1; the score is
//! 10 × Σ weight·exposure / Σ weight over the findings that could be judged. Findings that
//! cannot be judged from outside (Landlock) are listed and not scored.

use super::mountinfo::Mount;
use crate::caps::danger::dangerous_set;
use crate::caps::execve::{self, Outcome, Process, Program};
use crate::caps::CapSet;
use serde::Serialize;

/// One namespace of the process next to the reference's (PID 1 as the auditor sees it).
#[derive(Clone, Debug, Serialize)]
pub struct Namespace {
    pub name: String,
    /// `mnt:[4026531841]`, or None when unreadable.
    pub own: Option<String>,
    pub host: Option<String>,
}

/// A cgroup limit, after walking the process's cgroup and its ancestors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum Limit {
    Unlimited,
    Max(u64),
    /// No controller or unreadable.
    Unknown(String),
}

/// Parses a cgroup limit file: "max" (v2), or a number where values ≥ 2^62 mean no limit
/// (v1's memory.limit_in_bytes reads 9223372036854771712 when unset).
pub fn parse_limit(text: &str) -> Option<Limit> {
    let t = text.trim();
    if t == "max" {
        return Some(Limit::Unlimited);
    }
    let n: u64 = t.parse().ok()?;
    Some(if n >= 1 << 62 {
        Limit::Unlimited
    } else {
        Limit::Max(n)
    })
}

/// The tighter of two limits (a parent's limit binds its children).
pub fn tighter(a: Limit, b: Limit) -> Limit {
    match (a, b) {
        (Limit::Max(x), Limit::Max(y)) => Limit::Max(x.min(y)),
        (Limit::Max(x), _) | (_, Limit::Max(x)) => Limit::Max(x),
        (Limit::Unlimited, _) | (_, Limit::Unlimited) => Limit::Unlimited,
        (a, _) => a,
    }
}

/// What was read about the process.
#[derive(Clone, Debug)]
pub struct Subject {
    pub pid: i32,
    pub name: String,
    /// Sets, ids, no_new_privs (securebits are invisible from outside: taken as 0).
    pub process: Process,
    /// `Seccomp:` (0 off, 1 strict, 2 filter).
    pub seccomp: u8,
    /// `Seccomp_filters:` (5.9+), when present.
    pub seccomp_filters: Option<u32>,
    /// The process's own user namespace maps uid 0 to host root (`0 0 …` in uid_map).
    pub uid_map: String,
    pub namespaces: Vec<Namespace>,
    /// The reference for "host" namespaces is this very process (auditing PID 1).
    pub is_reference: bool,
    /// What the namespaces are compared with ("PID 1", or nucleus itself when PID 1's
    /// are unreadable).
    pub reference: String,
    /// Entries on the `NSpid:` line: 1 when the process is in the auditor's PID
    /// namespace (readable without ptrace access, unlike /proc/PID/ns).
    pub nspid_depth: Option<usize>,
    /// The process's `/` mount and the reference's.
    pub root: Option<Mount>,
    pub host_root: Option<Mount>,
    pub memory: Limit,
    pub pids: Limit,
    /// The capabilities this kernel knows.
    pub kernel_caps: CapSet,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable key.
    pub key: &'static str,
    /// Share of the total, in points.
    pub weight: u32,
    /// 0 (closed) … 1 (fully exposed); None when it cannot be judged (not scored).
    pub exposure: Option<f64>,
    pub detail: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub pid: i32,
    pub name: String,
    /// 0.0 … 10.0; higher is more exposed.
    pub exposure: f64,
    pub verdict: &'static str,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

fn f(key: &'static str, weight: u32, exposure: f64, detail: String) -> Finding {
    Finding {
        key,
        weight,
        exposure: Some(exposure),
        detail,
    }
}

fn names(s: CapSet) -> String {
    let all = CapSet::up_to(crate::caps::cap::CAP_MAX);
    if s.is_empty() {
        "none".into()
    } else if s.len() > all.len() / 2 {
        let rest = all - s;
        if rest.is_empty() {
            "all".into()
        } else {
            format!("all except {}", names(rest))
        }
    } else {
        s.iter()
            .map(|c| c.short_name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// 1.0 when `s` holds a dangerous capability, else a share growing with the count.
fn cap_exposure(s: CapSet) -> f64 {
    if !(s & dangerous_set()).is_empty() {
        1.0
    } else if s.is_empty() {
        0.0
    } else {
        (0.3 + 0.05 * s.len() as f64).min(0.8)
    }
}

/// Whether uid 0 of the process's user namespace is the host's root.
pub fn maps_host_root(uid_map: &str) -> bool {
    uid_map.lines().any(|l| {
        let v: Vec<&str> = l.split_whitespace().collect();
        v.len() == 3 && v[0] == "0" && v[1] == "0"
    })
}

fn ns<'a>(s: &'a Subject, name: &str) -> Option<&'a Namespace> {
    s.namespaces.iter().find(|n| n.name == name)
}

/// Some(true) when shared with the reference, None when unreadable. The PID namespace
/// falls back on `NSpid:` (the reference is always in the auditor's PID namespace).
fn shared(s: &Subject, name: &str) -> Option<bool> {
    let n = ns(s, name)?;
    match (&n.own, &n.host) {
        (Some(a), Some(b)) => Some(a == b),
        _ if name == "pid" => s.nspid_depth.map(|d| d == 1),
        _ => None,
    }
}

/// What execve could give this process: the union of the permitted sets after executing
/// a plain program, a set-uid-root one and one with every file capability (the worst the
/// process could find on a mount without nosuid).
pub fn regainable(p: &Process, known: CapSet) -> CapSet {
    let programs = [
        Program {
            caps_apply: true,
            ..Program::default()
        },
        Program {
            setuid: Some(0),
            caps_apply: true,
            ..Program::default()
        },
        Program {
            caps: Some(crate::caps::file::FileCaps::new(known, known, true)),
            caps_apply: true,
            ..Program::default()
        },
    ];
    programs
        .iter()
        .filter_map(|prog| match execve::execve(p, prog) {
            Outcome::Runs(a) => Some(a.sets.permitted),
            Outcome::Fails { .. } => None,
        })
        .fold(CapSet::EMPTY, |a, b| a | b)
}

const NS_WEIGHTS: [(&str, u32, &str); 7] = [
    ("mnt", 8, "the host's files and mounts"),
    ("net", 8, "the host's network interfaces and ports"),
    ("pid", 6, "the host's processes (signals, /proc/PID)"),
    ("ipc", 3, "the host's System V IPC and POSIX queues"),
    ("cgroup", 2, "the host's cgroup paths"),
    ("uts", 1, "the host's hostname"),
    ("time", 1, "the host's clock offsets"),
];

/// Scores `s`.
pub fn score(s: &Subject) -> Report {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let p = &s.process;
    let userns_shared = shared(s, "user");
    let host_root_user = userns_shared == Some(true) || maps_host_root(&s.uid_map);
    // Capabilities in a user namespace of its own act on what that namespace owns; they
    // still widen the kernel's attack surface, so they count half.
    let ns_factor = if userns_shared == Some(false) && !host_root_user {
        0.5
    } else {
        1.0
    };

    let eff = p.sets.effective;
    out.push(f(
        "capabilities_effective",
        20,
        cap_exposure(eff) * ns_factor,
        format!(
            "effective: {}{}",
            names(eff),
            if (eff & dangerous_set()).is_empty() {
                String::new()
            } else {
                format!(" (dangerous: {})", names(eff & dangerous_set()))
            }
        ),
    ));

    let reach = regainable(p, s.kernel_caps) | p.sets.permitted;
    out.push(f(
        "capabilities_reachable",
        15,
        cap_exposure(reach) * ns_factor,
        format!(
            "permitted or regained by execve: {}; execve adds {} (bounding {}, inheritable {}, \
             ambient {}; securebits assumed 0)",
            names(reach),
            names(reach - p.sets.permitted),
            names(p.sets.bounding),
            names(p.sets.inheritable),
            names(p.sets.ambient)
        ),
    ));

    out.push(f(
        "no_new_privs",
        5,
        if p.no_new_privs { 0.0 } else { 1.0 },
        if p.no_new_privs {
            "set: set-uid and file capabilities grant nothing".into()
        } else {
            "not set: set-uid and file-capability programs can raise privileges".into()
        },
    ));

    let (sc, sd) = match (s.seccomp, s.seccomp_filters) {
        (0, _) => (1.0, "disabled: every system call is reachable".to_string()),
        (1, _) => (
            0.0,
            "strict mode: read, write, exit, sigreturn only".to_string(),
        ),
        (_, Some(n)) => (
            0.0,
            format!("filter mode, {n} filter(s) (their rules are not judged)"),
        ),
        (_, None) => (0.0, "filter mode (their rules are not judged)".to_string()),
    };
    out.push(f("seccomp", 15, sc, sd));

    if s.is_reference {
        notes.push(format!(
            "this is the reference process ({}): its namespaces are the host's by definition",
            s.reference
        ));
    } else {
        notes.push(format!("namespaces are compared with {}", s.reference));
    }
    for (name, w, what) in NS_WEIGHTS {
        // A namespace type this kernel lacks on both sides is not a finding.
        if ns(s, name).is_none_or(|n| n.own.is_none() && n.host.is_none())
            && !(name == "pid" && s.nspid_depth.is_some())
        {
            continue;
        }
        match shared(s, name) {
            Some(true) => out.push(f(
                ns_key(name),
                w,
                1.0,
                format!("{name} namespace shared with the host: reaches {what}"),
            )),
            Some(false) => out.push(f(ns_key(name), w, 0.0, format!("own {name} namespace"))),
            None => out.push(Finding {
                key: ns_key(name),
                weight: w,
                exposure: None,
                detail: format!("{name} namespace: unreadable"),
            }),
        }
    }

    let root_uid = p.euid == 0 || p.ruid == 0;
    let (ue, ud) = match userns_shared {
        Some(true) if root_uid => (1.0, "host user namespace, uid 0: host root".to_string()),
        Some(true) => (
            0.3,
            format!("host user namespace, uid {}: a host user", p.euid),
        ),
        Some(false) if host_root_user => (
            0.8,
            "own user namespace, but it maps uid 0 to host root".to_string(),
        ),
        Some(false) => (
            0.0,
            "own user namespace; root inside is not host root".to_string(),
        ),
        None if root_uid && maps_host_root(&s.uid_map) => (
            1.0,
            "uid 0, and its uid_map maps 0 to host root".to_string(),
        ),
        None if maps_host_root(&s.uid_map) => (
            0.3,
            format!("uid {}, uid_map is the host's: a host user", p.euid),
        ),
        None => (0.5, "user namespace unreadable".to_string()),
    };
    out.push(f("user_namespace", 10, ue, ud));

    out.push(Finding {
        key: "landlock",
        weight: 0,
        exposure: None,
        detail: "unknown from outside: the kernel shows no Landlock domain in /proc (not scored)"
            .into(),
    });

    match &s.root {
        Some(r) => {
            let host = s.host_root.as_ref().is_some_and(|h| h.device == r.device);
            let (e, d) = match (r.writable(), host) {
                (true, true) => (
                    1.0,
                    format!(
                        "/ is writable and on the host's root filesystem ({} {})",
                        r.fstype, r.device
                    ),
                ),
                (true, false) => (
                    0.3,
                    format!(
                        "/ is writable, a filesystem of its own ({} {})",
                        r.fstype, r.device
                    ),
                ),
                (false, _) => (0.0, format!("/ is read-only ({})", r.fstype)),
            };
            out.push(f("root_filesystem", 6, e, d));
        }
        None => out.push(Finding {
            key: "root_filesystem",
            weight: 6,
            exposure: None,
            detail: "mountinfo unreadable".into(),
        }),
    }

    for (key, lim, what) in [
        ("memory_limit", &s.memory, "memory"),
        ("pids_limit", &s.pids, "pids"),
    ] {
        out.push(match lim {
            Limit::Max(n) => f(key, 3, 0.0, format!("{what} limited to {n}")),
            Limit::Unlimited => f(key, 3, 1.0, format!("no {what} limit in its cgroup")),
            Limit::Unknown(why) => Finding {
                key,
                weight: 3,
                exposure: None,
                detail: format!("{what} limit unknown: {why}"),
            },
        });
    }

    let (he, hd) = match shared(s, "pid") {
        Some(true) => (
            1.0,
            "host PID namespace: /proc/<host pid>/exe of host processes is reachable \
             (ptrace access rules apply)"
                .to_string(),
        ),
        Some(false) => (
            0.0,
            "own PID namespace: no host process's /proc/PID/exe is reachable".to_string(),
        ),
        None => (0.5, "PID namespace unreadable".to_string()),
    };
    out.push(f("host_binaries", 5, he, hd));

    let (sum, total) = out.iter().fold((0.0, 0.0), |(s, t), x| match x.exposure {
        Some(e) => (s + e * x.weight as f64, t + x.weight as f64),
        None => (s, t),
    });
    let exposure = if total > 0.0 {
        (100.0 * sum / total).round() / 10.0
    } else {
        10.0
    };
    Report {
        pid: s.pid,
        name: s.name.clone(),
        exposure,
        verdict: verdict(exposure),
        findings: out,
        notes,
    }
}

fn ns_key(name: &str) -> &'static str {
    match name {
        "mnt" => "namespace_mnt",
        "net" => "namespace_net",
        "pid" => "namespace_pid",
        "ipc" => "namespace_ipc",
        "cgroup" => "namespace_cgroup",
        "uts" => "namespace_uts",
        _ => "namespace_time",
    }
}

/// systemd-analyze's words for the bands.
pub fn verdict(score: f64) -> &'static str {
    match score {
        s if s < 1.0 => "SAFE",
        s if s < 3.0 => "OK",
        s if s < 6.0 => "MEDIUM",
        s if s < 9.0 => "EXPOSED",
        _ => "UNSAFE",
    }
}

/// One line per finding, then the score.
pub fn render(r: &Report) -> String {
    let mut out = format!("PID {} ({})\n", r.pid, r.name);
    for x in &r.findings {
        let (mark, pts) = match x.exposure {
            Some(0.0) => ("✓", format!("0/{}", x.weight)),
            Some(e) => ("✗", format!("{:.1}/{}", e * x.weight as f64, x.weight)),
            None => ("?", "n/a".to_string()),
        };
        out.push_str(&format!("{mark} {:<24} {:>8}  {}\n", x.key, pts, x.detail));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&format!(
        "→ exposure {:.1}/10 {} (0 = nothing beyond the process, 10 = host root)\n",
        r.exposure, r.verdict
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{Capability, Sets};

    fn nsl(shared: bool) -> Vec<Namespace> {
        ["mnt", "net", "pid", "ipc", "cgroup", "uts", "time", "user"]
            .iter()
            .map(|n| Namespace {
                name: n.to_string(),
                own: Some(format!("{n}:[{}]", if shared { 1 } else { 2 })),
                host: Some(format!("{n}:[1]")),
            })
            .collect()
    }

    fn sandbox() -> Subject {
        let m = super::super::mountinfo::parse("1 0 0:50 / / rw - tmpfs tmpfs rw\n");
        Subject {
            pid: 42,
            name: "sleep".into(),
            process: Process {
                sets: Sets::default(),
                ruid: 0,
                euid: 0,
                rgid: 0,
                egid: 0,
                securebits: 0,
                no_new_privs: true,
            },
            seccomp: 2,
            seccomp_filters: Some(3),
            uid_map: "0 0 4294967295".into(),
            namespaces: {
                let mut v = nsl(false);
                v.iter_mut().find(|n| n.name == "user").unwrap().own = Some("user:[1]".into());
                v
            },
            is_reference: false,
            reference: "PID 1".into(),
            nspid_depth: Some(2),
            root: m.first().cloned(),
            host_root: super::super::mountinfo::parse("1 0 254:0 / / rw - ext4 /dev/vda rw\n")
                .first()
                .cloned(),
            memory: Limit::Max(1 << 20),
            pids: Limit::Max(100),
            kernel_caps: CapSet::up_to(40),
        }
    }

    fn host_init() -> Subject {
        let mut s = sandbox();
        s.pid = 1;
        s.is_reference = true;
        s.namespaces = nsl(true);
        s.process.sets = Sets {
            bounding: CapSet::up_to(40),
            permitted: CapSet::up_to(40),
            effective: CapSet::up_to(40),
            ..Sets::default()
        };
        s.process.no_new_privs = false;
        s.seccomp = 0;
        s.seccomp_filters = Some(0);
        s.root = s.host_root.clone();
        s.memory = Limit::Unlimited;
        s.pids = Limit::Unlimited;
        s
    }

    #[test]
    fn default_sandbox_scores_low_and_host_init_high() {
        let low = score(&sandbox());
        let high = score(&host_init());
        assert!(low.exposure < 2.5, "{}", render(&low));
        assert!(high.exposure >= 9.0, "{}", render(&high));
        assert!(render(&high).contains("reference process"));
    }

    #[test]
    fn sys_admin_and_no_seccomp_raise_the_score() {
        let base = score(&sandbox()).exposure;
        let mut s = sandbox();
        let sa = Capability::parse("sys_admin").unwrap();
        s.process.sets.effective.insert(sa);
        s.process.sets.permitted.insert(sa);
        s.process.sets.bounding.insert(sa);
        s.seccomp = 0;
        let r = score(&s);
        assert!(r.exposure > base + 3.0, "{}", render(&r));
        let eff = r
            .findings
            .iter()
            .find(|x| x.key == "capabilities_effective")
            .unwrap();
        assert_eq!(eff.exposure, Some(1.0));
        assert!(eff.detail.contains("dangerous: sys_admin"));
    }

    #[test]
    fn execve_regain_follows_the_model() {
        // Root without no_new_privs and a full bounding set regains everything by execve.
        let mut p = sandbox().process;
        p.no_new_privs = false;
        p.sets.bounding = CapSet::up_to(40);
        assert_eq!(regainable(&p, CapSet::up_to(40)), CapSet::up_to(40));
        // no_new_privs: nothing beyond what is already permitted.
        p.no_new_privs = true;
        assert_eq!(regainable(&p, CapSet::up_to(40)), CapSet::EMPTY);
        // A non-root user with an empty bounding set gains nothing even from set-uid root.
        p.no_new_privs = false;
        p.sets.bounding = CapSet::EMPTY;
        p.ruid = 1000;
        p.euid = 1000;
        assert_eq!(regainable(&p, CapSet::up_to(40)), CapSet::EMPTY);
    }

    #[test]
    fn limits_and_user_namespace() {
        assert_eq!(parse_limit("max\n"), Some(Limit::Unlimited));
        assert_eq!(parse_limit("9223372036854771712"), Some(Limit::Unlimited));
        assert_eq!(parse_limit("1048576"), Some(Limit::Max(1 << 20)));
        assert_eq!(parse_limit("x"), None);
        assert_eq!(tighter(Limit::Unlimited, Limit::Max(5)), Limit::Max(5));
        assert_eq!(tighter(Limit::Max(9), Limit::Max(5)), Limit::Max(5));
        assert!(maps_host_root("         0          0 4294967295\n"));
        assert!(!maps_host_root("0 100000 65536\n"));
        let mut s = sandbox();
        s.uid_map = "0 100000 65536".into();
        let r = score(&s);
        let u = r
            .findings
            .iter()
            .find(|x| x.key == "user_namespace")
            .unwrap();
        assert_eq!(
            u.exposure,
            Some(1.0),
            "own uid_map ignored when userns is the host's"
        );
        assert_eq!(verdict(0.0), "SAFE");
        assert_eq!(verdict(9.5), "UNSAFE");
    }
}
