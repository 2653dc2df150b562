//! OCI 1.1/1.2 attributes (issue #14): scheduler, ioPriority, execCPUAffinity,
//! personality, domainname; intelRdt refused.

use super::{lookup, rejected, spelled, OciError};
use crate::spec::config::{Attrs, Namespaces, SchedAttr};
use oci_spec::runtime::{Linux, Process, Spec};
use std::path::Path;

/// Scheduler policies by their OCI names (sched(7) numbers); SCHED_ISO is not in Linux.
pub const SCHED_POLICIES: &[(&str, u32)] = &[
    ("SCHED_OTHER", 0),
    ("SCHED_FIFO", 1),
    ("SCHED_RR", 2),
    ("SCHED_BATCH", 3),
    ("SCHED_IDLE", 5),
    ("SCHED_DEADLINE", 6),
];

/// Scheduler flags by their OCI names (sched_setattr(2)'s SCHED_FLAG_*).
pub const SCHED_FLAGS: &[(&str, u64)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", 0x01),
    ("SCHED_FLAG_RECLAIM", 0x02),
    ("SCHED_FLAG_DL_OVERRUN", 0x04),
    ("SCHED_FLAG_KEEP_POLICY", 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", 0x10),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", 0x20),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", 0x40),
];

/// I/O priority classes by their OCI names (ioprio_set(2)).
pub const IOPRIO_CLASSES: &[(&str, u32)] = &[
    ("IOPRIO_CLASS_RT", 1),
    ("IOPRIO_CLASS_BE", 2),
    ("IOPRIO_CLASS_IDLE", 3),
];

/// personality(2) flags a config may name in linux.personality.flags.
pub const PERSONALITY_FLAGS: &[(&str, u32)] = &[
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

/// process.scheduler into sched_setattr's arguments, checked as runc checks it: nice in
/// -20…19, a priority (1…99) only for SCHED_FIFO/SCHED_RR, runtime/deadline/period only for
/// SCHED_DEADLINE.
fn scheduler_of(path: &Path, s: &oci_spec::runtime::Scheduler) -> Result<SchedAttr, OciError> {
    let name = spelled(s.policy());
    let bad = |why: String, hint: &str| rejected(path, format!("process.scheduler: {why}"), hint);
    let policy = lookup(SCHED_POLICIES, &name).ok_or_else(|| {
        bad(
            format!("policy {name} is not a Linux scheduling policy"),
            "use SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR or SCHED_DEADLINE",
        )
    })?;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(bad(
            format!("nice {nice} is outside -20…19"),
            "give a nice value from -20 to 19",
        ));
    }
    let realtime = matches!(name.as_str(), "SCHED_FIFO" | "SCHED_RR");
    let priority = s.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(bad(
            format!("{name} needs a priority from 1 to 99 (got {priority})"),
            "set process.scheduler.priority between 1 and 99",
        ));
    }
    if !realtime && priority != 0 {
        return Err(bad(
            format!("priority {priority} applies only to SCHED_FIFO and SCHED_RR"),
            "remove priority, or use a real-time policy",
        ));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if name != "SCHED_DEADLINE" && dl.iter().any(|v| v.is_some_and(|v| v != 0)) {
        return Err(bad(
            "runtime, deadline and period apply only to SCHED_DEADLINE".into(),
            "remove them, or use SCHED_DEADLINE",
        ));
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        let n = spelled(f);
        flags |= lookup(SCHED_FLAGS, &n).ok_or_else(|| {
            bad(
                format!("unknown flag {n}"),
                "see sched_setattr(2) for SCHED_FLAG_*",
            )
        })?;
    }
    Ok(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: dl[0].unwrap_or(0),
        deadline: dl[1].unwrap_or(0),
        period: dl[2].unwrap_or(0),
    })
}

/// A CPU list (`0-3,6`) into CPU numbers.
fn cpu_list(path: &Path, field: &str, s: &str) -> Result<Vec<usize>, OciError> {
    let bad = || {
        rejected(
            path,
            format!("process.execCPUAffinity.{field} '{s}' is not a CPU list"),
            "write CPUs as a list like 0-3,6",
        )
    };
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= 8192 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// The OCI 1.1/1.2 attributes of a config; what nucleus cannot apply is refused.
pub(super) fn attrs_of(
    path: &Path,
    spec: &Spec,
    process: &Process,
    linux: &Linux,
    ns: &Namespaces,
    sysctl: &[(String, String)],
) -> Result<Attrs, OciError> {
    if linux.intel_rdt().is_some() {
        return Err(rejected(
            path,
            "linux.intelRdt: nucleus does not manage Intel RDT (resctrl) groups",
            "remove linux.intelRdt (cache and memory-bandwidth allocation are not supported)",
        ));
    }
    let mut a = Attrs::default();
    if let Some(s) = process.scheduler() {
        a.scheduler = Some(scheduler_of(path, s)?);
    }
    if let Some(io) = process.io_priority() {
        a.io_priority = Some(io_priority_of(path, io)?);
    }
    if let Some(aff) = process.exec_cpu_affinity() {
        a.affinity_initial = aff
            .initial()
            .as_deref()
            .map(|s| cpu_list(path, "initial", s))
            .transpose()?;
        a.affinity_final = aff
            .cpu_affinity_final()
            .as_deref()
            .map(|s| cpu_list(path, "final", s))
            .transpose()?;
    }
    if let Some(p) = linux.personality() {
        a.personality = Some(personality_of(path, p)?);
    }
    a.domainname = domainname_of(path, spec, ns, sysctl)?;
    Ok(a)
}

/// process.ioPriority as ioprio_set(2)'s value: (class << 13) | level.
fn io_priority_of(path: &Path, io: &oci_spec::runtime::LinuxIOPriority) -> Result<u32, OciError> {
    let class = spelled(&io.class());
    let class = lookup(IOPRIO_CLASSES, &class).unwrap_or(2);
    let level = io.priority();
    if !(0..=7).contains(&level) {
        return Err(rejected(
            path,
            format!("process.ioPriority.priority {level} is outside 0…7"),
            "give a priority from 0 (highest) to 7 (lowest)",
        ));
    }
    Ok(class << 13 | level as u32)
}

/// linux.personality as personality(2)'s argument (domain | flags).
fn personality_of(path: &Path, p: &oci_spec::runtime::LinuxPersonality) -> Result<u32, OciError> {
    let mut v = match p.domain() {
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
        oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    for f in p.flags().iter().flatten() {
        v |= lookup(PERSONALITY_FLAGS, f).ok_or_else(|| {
            rejected(
                path,
                format!("linux.personality.flags: unknown flag '{f}'"),
                "use personality(2)'s names, like ADDR_NO_RANDOMIZE",
            )
        })?;
    }
    Ok(v)
}

/// domainname: only in a new UTS namespace, and not contradicted by sysctl
/// kernel.domainname.
fn domainname_of(
    path: &Path,
    spec: &Spec,
    ns: &Namespaces,
    sysctl: &[(String, String)],
) -> Result<Option<String>, OciError> {
    let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) else {
        return Ok(None);
    };
    if !ns.uts {
        return Err(rejected(
            path,
            "domainname needs a new UTS namespace (the host's domain name is not the container's to set)",
            "add {\"type\": \"uts\"} to linux.namespaces, or remove domainname",
        ));
    }
    if let Some((_, v)) = sysctl
        .iter()
        .find(|(k, v)| k == "kernel.domainname" && v != d)
    {
        return Err(rejected(
            path,
            format!("domainname '{d}' and sysctl kernel.domainname '{v}' disagree"),
            "give the domain name once (domainname), or make both the same",
        ));
    }
    Ok(Some(d.to_string()))
}
