//! Reading and applying capabilities on the running kernel: /proc, capget/capset, prctl,
//! getxattr. Everything that is applied is read back and compared (fail closed).

use super::identity::{self, Identity};
use crate::caps::cap::Capability;
use crate::caps::execve::{Process, Program};
use crate::caps::file::{self, FileCaps};
use crate::caps::set::CapSet;
use crate::caps::sets::{ProcStatus, Sets, Which};
use nix::errno::Errno;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Status {
        path: PathBuf,
        source: crate::caps::sets::BadStatus,
    },
    #[error("{path}: {source}")]
    Xattr {
        path: PathBuf,
        source: crate::caps::file::BadXattr,
    },
    #[error("{what} failed: {errno}")]
    Syscall { what: String, errno: Errno },
    #[error("cannot grant {caps} ({set} set): this process does not hold it, and {why}")]
    CannotGrant {
        set: Which,
        caps: CapSet,
        why: &'static str,
    },
    #[error("verification failed: {cap} is {} the {set} set after applying the policy (expected it {})",
        if *.expected { "missing from" } else { "present in" },
        if *.expected { "present" } else { "absent" })]
    Mismatch {
        set: Which,
        cap: Capability,
        expected: bool,
    },
    #[error(transparent)]
    Identity(#[from] identity::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::CannotGrant { .. } => Some(
                "run nucleus as root (or with those capabilities) to grant them, or retain fewer"
                    .into(),
            ),
            Error::Syscall {
                errno: Errno::EPERM,
                what,
            } if what.contains("CAPBSET_DROP") => {
                Some("dropping from the bounding set needs CAP_SETPCAP; run as root".into())
            }
            Error::Identity(e) => e.hint(),
            _ => None,
        }
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap;
/// without /proc, as a container whose config mounts none: the highest number
/// PR_CAPBSET_READ accepts).
pub fn cap_last_cap() -> Result<u8, Error> {
    let path = Path::new("/proc/sys/kernel/cap_last_cap");
    let text = match read(path) {
        Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(last_cap_by_prctl());
        }
        r => r?,
    };
    text.trim().parse().map_err(|_| Error::Read {
        path: path.into(),
        source: std::io::Error::other(format!("'{}' is not a number", text.trim())),
    })
}

/// Every capability the running kernel knows.
pub fn kernel_caps() -> Result<CapSet, Error> {
    Ok(CapSet::up_to(cap_last_cap()?))
}

/// The highest capability number for which PR_CAPBSET_READ does not fail with EINVAL.
fn last_cap_by_prctl() -> u8 {
    let mut last = 0;
    for n in 0..64u8 {
        // SAFETY: PR_CAPBSET_READ takes an integer and only returns a value.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(n), 0, 0, 0) } < 0 {
            break;
        }
        last = n;
    }
    last
}

/// This thread's five sets from the kernel itself (capget, PR_CAPBSET_READ,
/// PR_CAP_AMBIENT_IS_SET): the read-back when /proc is not mounted.
fn own_sets_by_syscalls() -> Result<Sets, Error> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget reads one header and writes two data structs (version 3), all valid
    // for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::Syscall {
            what: "capget".into(),
            errno: Errno::last(),
        });
    }
    let join = |f: fn(&CapData) -> u32| u64::from(f(&data[0])) | (u64::from(f(&data[1])) << 32);
    let (mut bounding, mut ambient) = (0u64, 0u64);
    for n in 0..=last_cap_by_prctl() {
        let arg = libc::c_ulong::from(n);
        // SAFETY: PR_CAPBSET_READ takes an integer and only returns a value.
        let b = unsafe { libc::prctl(libc::PR_CAPBSET_READ, arg, 0, 0, 0) };
        let is_set = libc::PR_CAP_AMBIENT_IS_SET as libc::c_ulong;
        // SAFETY: PR_CAP_AMBIENT_IS_SET takes integers and only returns a value.
        let a = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, is_set, arg, 0, 0) };
        if b < 0 || a < 0 {
            return Err(Error::Syscall {
                what: format!("reading capability {n} back"),
                errno: Errno::last(),
            });
        }
        bounding |= u64::from(b == 1) << n;
        ambient |= u64::from(a == 1) << n;
    }
    Ok(Sets {
        bounding: CapSet::from_bits(bounding),
        permitted: CapSet::from_bits(join(|d| d.permitted)),
        effective: CapSet::from_bits(join(|d| d.effective)),
        inheritable: CapSet::from_bits(join(|d| d.inheritable)),
        ambient: CapSet::from_bits(ambient),
    })
}

/// This process's five sets: /proc/self/status, or the syscalls when /proc is not mounted
/// (a container whose config has no /proc mount).
fn own_sets() -> Result<Sets, Error> {
    match read_status(None) {
        Err(Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            own_sets_by_syscalls()
        }
        r => Ok(r?.sets),
    }
}

fn status_path(pid: Option<i32>) -> PathBuf {
    match pid {
        Some(p) => PathBuf::from(format!("/proc/{p}/status")),
        None => PathBuf::from("/proc/self/status"),
    }
}

/// The five sets, ids, no_new_privs and seccomp mode of `pid` (None: this process).
pub fn read_status(pid: Option<i32>) -> Result<ProcStatus, Error> {
    let path = status_path(pid);
    let text = read(&path)?;
    ProcStatus::parse(&text).map_err(|source| Error::Status { path, source })
}

/// This process's securebits (PR_GET_SECUREBITS). The kernel shows them for no other process.
pub fn securebits() -> Result<u32, Error> {
    // SAFETY: PR_GET_SECUREBITS takes no pointers and only returns a value.
    let r = unsafe { libc::prctl(libc::PR_GET_SECUREBITS, 0, 0, 0, 0) };
    if r < 0 {
        return Err(Error::Syscall {
            what: "prctl(PR_GET_SECUREBITS)".into(),
            errno: Errno::last(),
        });
    }
    Ok(r as u32)
}

/// The raw `security.capability` value of `path` (following symlinks, as execve does).
fn get_cap_xattr(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Read {
        path: path.into(),
        source: std::io::Error::other("path contains a NUL byte"),
    })?;
    let name = c"security.capability";
    let mut buf = [0u8; 64];
    // SAFETY: both strings are NUL-terminated and live across the call; the kernel writes at
    // most buf.len() bytes into buf.
    let n = unsafe {
        libc::getxattr(
            c_path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n >= 0 {
        return Ok(Some(buf[..n as usize].to_vec()));
    }
    match Errno::last() {
        Errno::ENODATA | Errno::EOPNOTSUPP => Ok(None),
        e => Err(Error::Read {
            path: path.into(),
            source: std::io::Error::from_raw_os_error(e as i32),
        }),
    }
}

/// The file capabilities of `path`, if it has any.
pub fn read_file_caps(path: &Path) -> Result<Option<FileCaps>, Error> {
    match get_cap_xattr(path)? {
        None => Ok(None),
        Some(raw) => FileCaps::parse(&raw)
            .map(Some)
            .map_err(|source| Error::Xattr {
                path: path.into(),
                source,
            }),
    }
}

/// Everything execve() looks at in `path`: file caps, set-id bits, nosuid mount.
/// `uid_map` is the caller's /proc/PID/uid_map (decides whether a v3 rootid applies).
pub fn program(path: &Path, uid_map: &str) -> Result<Program, Error> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })?;
    let caps = read_file_caps(path)?;
    let vfs = nix::sys::statvfs::statvfs(path).map_err(|errno| Error::Syscall {
        what: format!("statvfs({})", path.display()),
        errno,
    })?;
    let mode = meta.mode();
    Ok(Program {
        caps_apply: caps
            .and_then(|c| c.rootid)
            .is_none_or(|r| file::rootid_is_root(r, uid_map)),
        caps,
        setuid: (mode & libc::S_ISUID != 0).then_some(meta.uid()),
        setgid: (mode & libc::S_ISGID != 0 && mode & libc::S_IXGRP != 0).then_some(meta.gid()),
        nosuid: vfs.flags().contains(nix::sys::statvfs::FsFlags::ST_NOSUID),
    })
}

/// The execve() model's view of a running process (`None`: this one). Securebits are only
/// visible for this process; for another they are taken as 0.
pub fn process(pid: Option<i32>) -> Result<(Process, String), Error> {
    let st = read_status(pid)?;
    let bits = if pid.is_none() || pid == Some(std::process::id() as i32) {
        securebits()?
    } else {
        0
    };
    let map_path = match pid {
        Some(p) => PathBuf::from(format!("/proc/{p}/uid_map")),
        None => PathBuf::from("/proc/self/uid_map"),
    };
    let uid_map = read(&map_path)?;
    Ok((
        Process {
            sets: st.sets,
            ruid: st.uids[0],
            euid: st.uids[1],
            rgid: st.gids[0],
            egid: st.gids[1],
            securebits: bits,
            no_new_privs: st.no_new_privs,
        },
        uid_map,
    ))
}

/// Capabilities in `target` that this kernel does not know, to be skipped with a warning.
pub fn unknown_to_kernel(target: &Sets, known: CapSet) -> CapSet {
    Which::ALL
        .iter()
        .fold(CapSet::EMPTY, |acc, w| acc | (target.get(*w) - known))
}

/// Capabilities named in `target` that this process's own bounding set lacks: nothing
/// started from here can hold them. A privileged config (Docker's and Podman's
/// `--privileged`) lists every capability its client knows, and a host may run the runtime
/// with a reduced bounding set. One PR_CAPBSET_READ per capability named; capabilities the
/// kernel does not know are left to [`unknown_to_kernel`].
pub fn beyond_own_bounding(target: &Sets) -> CapSet {
    let named = Which::ALL
        .iter()
        .fold(CapSet::EMPTY, |acc, w| acc | target.get(*w));
    named
        .iter()
        .filter(|c| {
            let i = libc::c_ulong::from(c.index());
            // SAFETY: PR_CAPBSET_READ takes an integer and touches no memory of ours.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, i, 0, 0, 0) };
            r == 0
        })
        .collect()
}

fn sys<T>(what: impl FnOnce() -> String, r: Result<T, Errno>) -> Result<T, Error> {
    r.map_err(|errno| Error::Syscall {
        what: what(),
        errno,
    })
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// One capset(2) call for effective, permitted and inheritable together, so the kernel
/// checks the final combination (E ⊆ P) instead of whatever an ordering passes through.
pub(crate) fn capset(eff: CapSet, prm: CapSet, inh: CapSet) -> Result<(), Error> {
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    for (i, d) in data.iter_mut().enumerate() {
        let shift = 32 * i;
        d.effective = (eff.bits() >> shift) as u32;
        d.permitted = (prm.bits() >> shift) as u32;
        d.inheritable = (inh.bits() >> shift) as u32;
    }
    // SAFETY: capset reads one header and two data structs (version 3), all valid for the
    // duration of the call.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    if r != 0 {
        return Err(Error::Syscall {
            what: format!("capset(effective={eff}, permitted={prm}, inheritable={inh})"),
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// A prctl(2) operation that takes only integers; `what` names it in errors.
fn prctl(what: impl FnOnce() -> String, op: libc::c_int, a2: u64, a3: u64) -> Result<(), Error> {
    // SAFETY: the operations used here (capability bounding/ambient) take plain integers and
    // touch no memory of ours.
    let r = unsafe { libc::prctl(op, a2 as libc::c_ulong, a3 as libc::c_ulong, 0, 0) };
    if r != 0 {
        return Err(Error::Syscall {
            what: what(),
            errno: Errno::last(),
        });
    }
    Ok(())
}

/// What `apply` did besides the target: capabilities skipped because this kernel lacks them.
#[derive(Debug, Default)]
pub struct Applied {
    pub skipped: CapSet,
    pub sets: Sets,
}

/// Applies `target` to this process in the order of DESIGN.md §4 (bounding drop with
/// keep-caps, identity switch, capset, ambient), then reads all five sets back from
/// /proc/self/status: any difference is an error naming the set and the capability.
///
/// Single-threaded callers only: capabilities are per thread.
pub fn apply(target: &Sets, id: Option<&Identity>) -> Result<Applied, Error> {
    let known = kernel_caps()?;
    let skipped = unknown_to_kernel(target, known);
    let t = target.masked(known);
    let cur = own_sets()?;

    // Refuse up front what the kernel would refuse half-way.
    for (set, have, why) in [
        (
            Which::Bounding,
            cur.bounding,
            "the bounding set can only shrink",
        ),
        (
            Which::Permitted,
            cur.permitted,
            "the permitted set can only shrink",
        ),
    ] {
        let extra = t.get(set) - have;
        if !extra.is_empty() {
            return Err(Error::CannotGrant {
                set,
                caps: extra,
                why,
            });
        }
    }

    if id.is_some() {
        sys(
            || "prctl(PR_SET_KEEPCAPS, 1)".into(),
            nix::sys::prctl::set_keepcaps(true),
        )?;
    }
    for c in (cur.bounding - t.bounding).iter() {
        let i = u64::from(c.index());
        prctl(
            || format!("prctl(PR_CAPBSET_DROP, {c})"),
            libc::PR_CAPBSET_DROP,
            i,
            0,
        )?;
    }
    if let Some(id) = id {
        identity::switch(id)?;
        sys(
            || "prctl(PR_SET_KEEPCAPS, 0)".into(),
            nix::sys::prctl::set_keepcaps(false),
        )?;
        // setuid() to non-root cleared effective; restore it from permitted so CAP_SETPCAP
        // counts for the inheritable change below.
        let now = own_sets()?;
        capset(now.permitted, now.permitted, now.inheritable)?;
    }
    capset(t.effective, t.permitted, t.inheritable)?;
    let amb = libc::PR_CAP_AMBIENT;
    let (clear, raise) = (
        libc::PR_CAP_AMBIENT_CLEAR_ALL as u64,
        libc::PR_CAP_AMBIENT_RAISE as u64,
    );
    prctl(|| "prctl(PR_CAP_AMBIENT_CLEAR_ALL)".into(), amb, clear, 0)?;
    for c in t.ambient.iter() {
        let i = u64::from(c.index());
        prctl(
            || format!("prctl(PR_CAP_AMBIENT_RAISE, {c})"),
            amb,
            raise,
            i,
        )?;
    }

    let actual = own_sets()?;
    verify(&t, &actual)?;
    Ok(Applied {
        skipped,
        sets: actual,
    })
}

/// Compares what the kernel reports with what was asked: the first difference is an error.
pub fn verify(expected: &Sets, actual: &Sets) -> Result<(), Error> {
    match expected.differences(actual).first() {
        None => Ok(()),
        Some(&(set, cap, expected)) => Err(Error::Mismatch { set, cap, expected }),
    }
}

/// Every process visible in /proc, with its status (processes that vanish are skipped).
pub fn all_processes() -> Result<Vec<(ProcStatus, String)>, Error> {
    let dir = std::fs::read_dir("/proc").map_err(|source| Error::Read {
        path: "/proc".into(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // A process may exit between readdir and read: that is not an error.
        let Ok(st) = read_status(Some(pid)) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                b.split(|x| *x == 0)
                    .filter(|s| !s.is_empty())
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push((st, cmdline));
    }
    out.sort_by_key(|(st, _)| st.pid);
    Ok(out)
}

#[cfg(test)]
mod without_proc_tests {
    use super::*;

    /// The read-back used without /proc says what /proc/self/status says.
    #[test]
    fn syscall_read_back_matches_proc_status() {
        assert_eq!(
            u32::from(last_cap_by_prctl()),
            u32::from(cap_last_cap().unwrap())
        );
        assert_eq!(
            own_sets_by_syscalls().unwrap(),
            read_status(None).unwrap().sets
        );
    }
}
