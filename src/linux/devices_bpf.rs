//! Device rules on cgroup v2: load the filter `spec::devices_bpf` emits as a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program and attach it to the container's cgroup
//! (`BPF_CGROUP_DEVICE`, `BPF_F_ALLOW_MULTI`, as runc and crun do).
//!
//! The program's descriptor is closed once attached: the attachment keeps the program
//! alive until it is detached or the cgroup is removed. Programs nucleus attached are
//! named `nucleus_dev`; `replace` swaps only those.

use crate::spec::devices_bpf::{self, Insn};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Rules(String),
    #[error("{what}: {errno}{hint}")]
    Sys {
        what: &'static str,
        errno: Errno,
        hint: &'static str,
    },
    #[error("the kernel's verifier refused the device filter ({errno}): {log}")]
    Verifier { errno: Errno, log: String },
}

const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_ATTACH: u32 = 8;
const BPF_PROG_DETACH: u32 = 9;
const BPF_PROG_GET_FD_BY_ID: u32 = 13;
const BPF_OBJ_GET_INFO_BY_FD: u32 = 15;
const BPF_PROG_QUERY: u32 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;
const BPF_F_REPLACE: u32 = 4;

/// The name nucleus gives its programs (bpf_prog_info.name, at most 15 bytes).
pub const PROG_NAME: &str = "nucleus_dev";

// The parts of `union bpf_attr` each command reads, laid out without implicit padding
// (the kernel wants every byte it reads to be meant).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct Attach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

#[repr(C)]
#[derive(Default)]
struct Query {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetInfo {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// The head of `struct bpf_prog_info`, up to the name.
#[repr(C)]
#[derive(Default)]
struct ProgInfo {
    prog_type: u32,
    id: u32,
    tag: [u8; 8],
    jited_prog_len: u32,
    xlated_prog_len: u32,
    jited_prog_insns: u64,
    xlated_prog_insns: u64,
    load_time: u64,
    created_by_uid: u32,
    nr_map_ids: u32,
    map_ids: u64,
    name: [u8; 16],
}

/// The attribute structs above, each the layout of one bpf(2) command.
trait Attr {}
impl Attr for ProgLoad {}
impl Attr for Attach {}
impl Attr for Query {}
impl Attr for GetFdById {}
impl Attr for GetInfo {}

/// bpf(2): `cmd` with `attr`, returning the kernel's non-negative result.
fn bpf<A: Attr>(cmd: u32, attr: &mut A) -> Result<i32, Errno> {
    // SAFETY: `attr` is one of the repr(C) bpf_attr layouts above (Attr is implemented for
    // nothing else), fully initialised, and we pass its exact size, so the kernel reads and
    // writes only inside it; the addresses it holds (instructions, license, log buffer,
    // id array, info) point at buffers the caller keeps alive for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut A,
            std::mem::size_of::<A>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}

fn fd(r: i32) -> OwnedFd {
    // SAFETY: `r` is a descriptor bpf(2) just returned to us, owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(r) }
}

fn sys(what: &'static str, errno: Errno) -> Error {
    let hint = match errno {
        Errno::EPERM => " (loading and attaching device filters needs CAP_BPF and CAP_SYS_ADMIN in the initial user namespace: run as root)",
        Errno::ENOSYS => " (this kernel has no bpf(2): it needs CONFIG_BPF_SYSCALL and CONFIG_CGROUP_BPF for device rules on cgroup v2)",
        Errno::EINVAL if what == "attach" => " (this kernel cannot attach device programs to cgroups: CONFIG_CGROUP_BPF)",
        _ => "",
    };
    Error::Sys { what, errno, hint }
}

/// Loads `insns` as a cgroup device program. A refusal is retried once with a log buffer,
/// so the verifier's reason is in the error (the first try skips the log: it is slower).
fn load(insns: &[Insn]) -> Result<OwnedFd, Error> {
    let code: Vec<u8> = insns.iter().flat_map(|i| i.encode()).collect();
    let license = b"GPL\0";
    let mut name = [0u8; 16];
    name[..PROG_NAME.len()].copy_from_slice(PROG_NAME.as_bytes());
    let attr = |log: &mut [u8]| ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        prog_name: name,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr(&mut [])) {
        Ok(r) => return Ok(fd(r)),
        Err(e @ (Errno::EPERM | Errno::ENOSYS)) => return Err(sys("load", e)),
        Err(_) => {}
    }
    let mut log = vec![0u8; 64 * 1024];
    match bpf(BPF_PROG_LOAD, &mut attr(&mut log)) {
        Ok(r) => Ok(fd(r)),
        Err(errno) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            // The last lines say what failed; the whole log can be long.
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
            Err(Error::Verifier {
                errno,
                log: if tail.is_empty() {
                    "no log".into()
                } else {
                    tail
                },
            })
        }
    }
}

fn open_cgroup(dir: &Path) -> Result<OwnedFd, Error> {
    nix::fcntl::open(
        dir,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| sys("open the cgroup", e))
}

fn attach_fd(cgroup: &OwnedFd, prog: &OwnedFd, replace: Option<&OwnedFd>) -> Result<(), Errno> {
    let mut a = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    if let Some(old) = replace {
        a.attach_flags |= BPF_F_REPLACE;
        a.replace_bpf_fd = old.as_raw_fd() as u32;
    }
    bpf(BPF_PROG_ATTACH, &mut a).map(|_| ())
}

fn detach_fd(cgroup: &OwnedFd, prog: &OwnedFd) -> Result<(), Errno> {
    let mut a = Attach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut a).map(|_| ())
}

/// The ids of the device programs attached to the cgroup itself (not inherited).
fn query(cgroup: &OwnedFd) -> Result<Vec<u32>, Errno> {
    let mut ids = vec![0u32; 64];
    let mut q = Query {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut q)?;
    ids.truncate(q.prog_cnt.min(64) as usize);
    Ok(ids)
}

fn prog_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut a = GetFdById {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut a).map(fd)
}

fn prog_name(prog: &OwnedFd) -> Result<String, Errno> {
    let mut info = ProgInfo::default();
    let mut a = GetInfo {
        bpf_fd: prog.as_raw_fd() as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
    };
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    let end = info.name.iter().position(|b| *b == 0).unwrap_or(16);
    Ok(String::from_utf8_lossy(&info.name[..end]).into_owned())
}

/// Descriptors of the device programs nucleus attached to the cgroup itself.
fn own_programs(cgroup: &OwnedFd) -> Result<Vec<OwnedFd>, Error> {
    let mut out = Vec::new();
    for id in query(cgroup).map_err(|e| sys("query the cgroup's device programs", e))? {
        // A program detached meanwhile is gone: nothing to replace.
        let Ok(p) = prog_by_id(id) else { continue };
        if prog_name(&p).map_err(|e| sys("read a device program's name", e))? == PROG_NAME {
            out.push(p);
        }
    }
    Ok(out)
}

/// Attaches the filter for `rules` to the cgroup2 directory `dir` (a new container's).
pub fn attach(dir: &Path, rules: &[(bool, String)]) -> Result<(), Error> {
    let insns = devices_bpf::emit(rules).map_err(Error::Rules)?;
    let cgroup = open_cgroup(dir)?;
    let prog = load(&insns)?;
    attach_fd(&cgroup, &prog, None).map_err(|e| sys("attach", e))
}

/// Replaces the filter nucleus attached to `dir` with the one for `rules` (`update`): the
/// new one is attached before the old ones go (in one step with BPF_F_REPLACE when there
/// is one old program), so the container is never without a filter.
pub fn replace(dir: &Path, rules: &[(bool, String)]) -> Result<(), Error> {
    let insns = devices_bpf::emit(rules).map_err(Error::Rules)?;
    let cgroup = open_cgroup(dir)?;
    let prog = load(&insns)?;
    let mut old = own_programs(&cgroup)?;
    if old.len() == 1 {
        match attach_fd(&cgroup, &prog, old.first()) {
            Ok(()) => return Ok(()),
            // Kernels before 5.6 have no BPF_F_REPLACE: attach, then detach.
            Err(Errno::EINVAL) => {}
            Err(e) => return Err(sys("attach", e)),
        }
    }
    attach_fd(&cgroup, &prog, None).map_err(|e| sys("attach", e))?;
    for p in old.drain(..) {
        match detach_fd(&cgroup, &p) {
            // Detached meanwhile by someone else: the goal is reached.
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys("detach the old device program", e)),
        }
    }
    Ok(())
}

/// How many device programs nucleus attached to the cgroup `dir` itself.
pub fn attached(dir: &Path) -> Result<usize, Error> {
    Ok(own_programs(&open_cgroup(dir)?)?.len())
}
