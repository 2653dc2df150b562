//! OCI 1.1/1.2 process and kernel attributes, applied in the container's init: scheduler
//! (sched_setattr), I/O priority (ioprio_set), CPU affinity (sched_setaffinity),
//! personality and the UTS namespace's domain name. Each is applied only when the config
//! asks for it, and each failure names the field and the errno.

use crate::spec::config::{Attrs, SchedAttr};
use nix::errno::Errno;

fn failed(field: &str, what: &str, e: Errno) -> String {
    let hint = match e {
        Errno::EPERM => " (it needs a privilege the runtime does not have, e.g. CAP_SYS_NICE)",
        Errno::EINVAL => " (the kernel refuses these values)",
        _ => "",
    };
    format!("{field}: {what}: {e}{hint}")
}

/// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER1, utilization clamps zero).
#[repr(C)]
struct KernelSchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// sched_setattr(2) on this process.
fn set_scheduler(s: &SchedAttr) -> Result<(), String> {
    let attr = KernelSchedAttr {
        size: std::mem::size_of::<KernelSchedAttr>() as u32,
        policy: s.policy,
        flags: s.flags,
        nice: s.nice,
        priority: s.priority,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: sched_setattr reads one struct sched_attr of the size it states, valid for
    // the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0,
            &attr as *const KernelSchedAttr,
            0,
        )
    };
    if r != 0 {
        return Err(failed("process.scheduler", "sched_setattr", Errno::last()));
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self, value).
fn set_io_priority(value: u32) -> Result<(), String> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set takes integers only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            value as libc::c_int,
        )
    };
    if r != 0 {
        return Err(failed("process.ioPriority", "ioprio_set", Errno::last()));
    }
    Ok(())
}

/// sched_setaffinity(2) on this process.
fn set_affinity(field: &str, cpus: &[usize]) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    for c in cpus {
        set.set(*c)
            .map_err(|e| failed(field, &format!("CPU {c}"), e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| failed(field, "sched_setaffinity", e))
}

/// personality(2).
fn set_personality(value: u32) -> Result<(), String> {
    // SAFETY: personality takes an integer only.
    if unsafe { libc::personality(libc::c_ulong::from(value)) } < 0 {
        return Err(failed("linux.personality", "personality", Errno::last()));
    }
    Ok(())
}

/// setdomainname(2) in the container's new UTS namespace.
fn set_domainname(d: &str) -> Result<(), String> {
    // SAFETY: setdomainname reads `len` bytes of the string, valid for the call.
    if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
        return Err(failed("domainname", "setdomainname", Errno::last()));
    }
    Ok(())
}

/// As soon as the process is in its cgroup (which may have reset its CPUs): the initial
/// CPU affinity the runtime's set-up runs with.
pub fn apply_initial(a: &Attrs) -> Result<(), String> {
    match &a.affinity_initial {
        Some(cpus) => set_affinity("process.execCPUAffinity.initial", cpus),
        None => Ok(()),
    }
}

/// With the hostname: the domain name of the new UTS namespace.
pub fn apply_uts(a: &Attrs) -> Result<(), String> {
    match &a.domainname {
        Some(d) => set_domainname(d),
        None => Ok(()),
    }
}

/// Before the capabilities are dropped (real-time policies need CAP_SYS_NICE): scheduler,
/// I/O priority, personality and the final CPU affinity, which the program inherits.
pub fn apply_for_program(a: &Attrs) -> Result<(), String> {
    if let Some(s) = &a.scheduler {
        set_scheduler(s)?;
    }
    if let Some(v) = a.io_priority {
        set_io_priority(v)?;
    }
    if let Some(p) = a.personality {
        set_personality(p)?;
    }
    if let Some(cpus) = &a.affinity_final {
        set_affinity("process.execCPUAffinity.final", cpus)?;
    }
    Ok(())
}
