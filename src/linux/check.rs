//! `nucleus check`'s probes: cheap, side-effect-free reads of /proc and /sys and a few
//! syscalls that only answer questions (landlock_create_ruleset's version query, an
//! invalid mount_setattr, a tracefs mount that is never attached to any path). The
//! verdicts are in `diag::check`.

use crate::diag::check::{Facts, Tracepoint};
use crate::diag::mountinfo;
use crate::linux::capset as kernel;
use nix::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_num(path: &str) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// Gathers everything `nucleus check` judges. Never fails: what cannot be read is left
/// empty and the verdict says so.
pub fn gather() -> Facts {
    let mounts = mountinfo::parse(&read("/proc/self/mountinfo").unwrap_or_default());
    let status = kernel::read_status(None).ok();
    let mut namespaces: Vec<String> = std::fs::read_dir("/proc/self/ns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with("_for_children"))
                .collect()
        })
        .unwrap_or_default();
    namespaces.sort();
    let euid = nix::unistd::geteuid().as_raw();
    let filesystems = read("/proc/filesystems").unwrap_or_default();
    Facts {
        release: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        proc_version: read("/proc/version").unwrap_or_default(),
        wsl_env: std::env::var_os("WSL_DISTRO_NAME").is_some(),
        euid,
        namespaces,
        userns_clone: read_num("/proc/sys/kernel/unprivileged_userns_clone"),
        max_user_namespaces: read_num("/proc/sys/user/max_user_namespaces"),
        apparmor_restrict_userns: read_num(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
        nucleus_cgroup: match super::cgroups::detect(Path::new(super::cgroups::MOUNTPOINT)) {
            super::cgroups::Version::V1 => "v1".into(),
            super::cgroups::Version::V2 => "v2".into(),
        },
        v2_controllers: mounts
            .iter()
            .find(|m| m.fstype == "cgroup2")
            .and_then(|m| read(&format!("{}/cgroup.controllers", m.mount_point))),
        delegation: delegation(&mounts),
        seccomp_actions: read("/proc/sys/kernel/seccomp/actions_avail"),
        seccomp_status_line: read("/proc/self/status").is_some_and(|s| s.contains("\nSeccomp:")),
        landlock: landlock_abi().map_err(|e| format!("{e:?}")),
        cap_last_cap: kernel::cap_last_cap().unwrap_or(0),
        bounding: status.as_ref().map(|s| s.sets.bounding).unwrap_or_default(),
        effective: status
            .as_ref()
            .map(|s| s.sets.effective)
            .unwrap_or_default(),
        tracepoint: tracepoint(&mounts, &filesystems),
        filesystems,
        mount_setattr: mount_setattr_exists().map_err(|e| format!("{e:?}")),
        mounts,
    }
}

/// For each cgroup hierarchy this process is in: its directory, and whether the current
/// user may write there (access(2) W_OK, which honours the mount's ro flag).
fn delegation(mounts: &[mountinfo::Mount]) -> Vec<(String, String, bool)> {
    let own = read("/proc/self/cgroup").unwrap_or_default();
    let mut out = Vec::new();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mount = if ctrls.is_empty() {
            mounts.iter().find(|m| m.fstype == "cgroup2")
        } else {
            let wanted: Vec<&str> = ctrls.split(',').collect();
            if !wanted.iter().any(|c| ["memory", "pids", "cpu"].contains(c)) {
                continue;
            }
            mounts.iter().find(|m| {
                m.fstype == "cgroup"
                    && wanted
                        .iter()
                        .all(|c| m.super_options.iter().any(|o| o == c))
            })
        };
        let Some(m) = mount else { continue };
        let dir = format!("{}{}", m.mount_point, path.trim_end_matches('/'));
        let writable = nix::unistd::access(Path::new(&dir), nix::unistd::AccessFlags::W_OK).is_ok();
        out.push((
            if ctrls.is_empty() {
                "unified".to_string()
            } else {
                ctrls.to_string()
            },
            dir,
            writable,
        ));
    }
    out
}

/// LANDLOCK_CREATE_RULESET_VERSION: ask for the ABI instead of creating a ruleset.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The Landlock ABI version (ENOSYS: not built in; EOPNOTSUPP: disabled at boot).
pub fn landlock_abi() -> Result<u32, Errno> {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag the kernel reads
    // nothing and creates nothing; it returns the ABI version or -1.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as u32)
    }
}

/// Whether mount_setattr(2) exists: called with size 0 it fails with EINVAL before it
/// looks at anything; ENOSYS means the kernel (or a seccomp filter) does not have it.
fn mount_setattr_exists() -> Result<(), Errno> {
    // SAFETY: an invalid dirfd, a null path, no attributes and size 0: the kernel rejects
    // the size (EINVAL) before it reads any pointer or changes any mount.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            -1,
            std::ptr::null::<libc::c_char>(),
            0u32,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    match (r, Errno::last()) {
        (0, _) | (_, Errno::EINVAL) => Ok(()),
        (_, e) => Err(e),
    }
}

const CAP_CAPABLE: &str = "events/capability/cap_capable";

/// Where the capability:cap_capable tracepoint is, cheapest look first: a mounted tracefs;
/// then a detached tracefs mount (needs CAP_SYS_ADMIN; it is never attached to a path and
/// vanishes when closed); then the kernel's symbol table.
fn tracepoint(mounts: &[mountinfo::Mount], filesystems: &str) -> Tracepoint {
    let mut places: Vec<String> = mounts
        .iter()
        .filter(|m| m.fstype == "tracefs")
        .map(|m| m.mount_point.clone())
        .collect();
    places.extend([
        "/sys/kernel/tracing".into(),
        "/sys/kernel/debug/tracing".into(),
    ]);
    if let Some(p) = places
        .into_iter()
        .find(|p| Path::new(p).join(CAP_CAPABLE).exists())
    {
        return Tracepoint::Mounted(p);
    }
    if filesystems.lines().any(|l| l.ends_with("\ttracefs")) {
        if let Ok(found) = detached_tracefs_has(CAP_CAPABLE) {
            return if found {
                Tracepoint::Detached
            } else {
                Tracepoint::Absent("tracefs has no events/capability/cap_capable".into())
            };
        }
    }
    kallsyms_has("trace_event_raw_event_cap_capable")
}

/// Looks `sym` up in /proc/kallsyms, a line at a time (the file is large).
fn kallsyms_has(sym: &str) -> Tracepoint {
    use std::io::BufRead;
    let Ok(f) = std::fs::File::open("/proc/kallsyms") else {
        return Tracepoint::Unknown;
    };
    let mut any = false;
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        any = true;
        if line.split_whitespace().nth(2) == Some(sym) {
            return Tracepoint::Kallsyms;
        }
    }
    if any {
        Tracepoint::Absent("not in /proc/kallsyms (no tracepoint compiled in)".into())
    } else {
        Tracepoint::Unknown
    }
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// Whether `rel` exists in a tracefs mount made with fsopen/fsmount and never attached:
/// nothing appears in any mount table, and the mount goes when its descriptor closes.
fn detached_tracefs_has(rel: &str) -> Result<bool, Errno> {
    let name = c"tracefs";
    // SAFETY: fsopen reads the NUL-terminated name and returns a new descriptor or -1.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsopen returned a descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    use std::os::fd::AsRawFd;
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux; it only acts on `fs`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsmount takes the configured context and returns a detached mount's fd.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if m < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsmount returned a descriptor that nothing else owns.
    let m = unsafe { OwnedFd::from_raw_fd(m as i32) };
    match nix::unistd::faccessat(
        &m,
        Path::new(rel),
        nix::unistd::AccessFlags::F_OK,
        nix::fcntl::AtFlags::empty(),
    ) {
        Ok(()) => Ok(true),
        Err(Errno::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}
