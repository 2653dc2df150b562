//! Namespaces: creating the container's process in new ones, user id maps, loopback.

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {errno}")]
    Sys { what: String, errno: Errno },
    #[error("{0}")]
    Other(String),
}

fn sys<T>(what: impl Into<String>, r: Result<T, Errno>) -> Result<T, Error> {
    r.map_err(|errno| Error::Sys {
        what: what.into(),
        errno,
    })
}

/// Starts `child` in a new process created with `flags` (CLONE_NEW*), SIGCHLD on exit.
/// The child runs on its own stack in a copy of this address space, like fork().
pub fn spawn(flags: CloneFlags, child: Box<dyn FnMut() -> isize + '_>) -> Result<Pid, Error> {
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: without CLONE_VM the child gets a copy-on-write copy of this address space and
    // runs `child` on `stack`, which outlives the call in the parent; the caller is single-
    // threaded, so no lock can be held by another thread at the time of the copy.
    sys("clone", unsafe {
        nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD))
    })
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// As `spawn`, but the child is born in the cgroup2 directory `cgroup` (clone3 with
/// CLONE_INTO_CGROUP): it is never outside the container's limits and nothing writes
/// cgroup.procs. Like fork(), the child runs on a copy of this stack. `Ok(None)`: this
/// kernel (or a seccomp filter around nucleus) has no clone3 or CLONE_INTO_CGROUP (ENOSYS,
/// E2BIG, EINVAL); `child` has not run and the caller uses `spawn` and cgroup.procs.
pub fn spawn_into_cgroup(
    flags: CloneFlags,
    cgroup: std::os::fd::BorrowedFd<'_>,
    child: &mut dyn FnMut() -> isize,
) -> Result<Option<Pid>, Error> {
    use std::os::fd::AsRawFd;
    let mut args = CloneArgs {
        flags: flags.bits() as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM (and without a stack) gives the child a copy-on-write
    // copy of this address space, returning 0 there as fork() does; `args` is a complete
    // clone_args of the size passed. The caller is single-threaded, so no lock can be held
    // by another thread at the time of the copy.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match r {
        0 => {
            let code = child();
            // SAFETY: leave the child without the runtime's destructors (a copy of it), as
            // the clone() trampoline of `spawn` does when the closure returns.
            unsafe { libc::_exit(code as i32) }
        }
        r if r > 0 => Ok(Some(Pid::from_raw(r as i32))),
        _ => match Errno::last() {
            Errno::ENOSYS | Errno::E2BIG | Errno::EINVAL => Ok(None),
            Errno::EAGAIN => Err(Error::Other(
                "clone3 into the container's cgroup: EAGAIN: Resource temporarily unavailable \
                 (the cgroup's pids.max allows no more processes)"
                    .into(),
            )),
            errno => Err(Error::Sys {
                what: "clone3 into the container's cgroup".into(),
                errno,
            }),
        },
    }
}

fn open_ns(path: &Path) -> Result<std::fs::File, Error> {
    std::fs::File::open(path).map_err(|e| Error::Sys {
        what: format!("open namespace {}", path.display()),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })
}

/// Whether `path` names this process's own mount namespace.
pub fn is_own_mount_ns(path: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let target =
        id(path).map_err(|e| Error::Other(format!("namespace {}: {e}", path.display())))?;
    Ok(id(Path::new("/proc/self/ns/mnt")).ok() == Some(target))
}

/// Runs `spawn` with the children we create placed in the PID namespace at `path` (setns
/// only moves children); ours is restored afterwards, whatever `spawn` returned.
pub fn in_pid_ns<T>(path: &Path, spawn: impl FnOnce() -> T) -> Result<T, Error> {
    let (own, target) = (open_ns(Path::new("/proc/self/ns/pid"))?, open_ns(path)?);
    sys(
        format!("setns({})", path.display()),
        nix::sched::setns(&target, CloneFlags::CLONE_NEWPID),
    )?;
    let out = spawn();
    sys(
        "setns back to our PID namespace",
        nix::sched::setns(&own, CloneFlags::CLONE_NEWPID),
    )?;
    Ok(out)
}

/// Creates a process from inside the existing user namespace at `path`, so that the new
/// namespaces `spawn` asks for belong to that one: a helper forks, joins it (this process
/// could not come back), runs `spawn`, reports the PID and exits. This process becomes a
/// subreaper to adopt and wait for the new one.
pub fn spawn_in_user_ns(
    path: &Path,
    spawn: &mut dyn FnMut() -> Result<Pid, String>,
) -> Result<Pid, Error> {
    use super::channel::{self, Failure, FromChild};
    let target = open_ns(path)?;
    sys(
        "prctl(PR_SET_CHILD_SUBREAPER)",
        nix::sys::prctl::set_child_subreaper(true),
    )?;
    let (r, w) = sys("pipe", channel::pair::<FromChild>())?;
    // SAFETY: nucleus is single-threaded here; the helper only makes syscalls, clones
    // and exits without running destructors.
    match sys("fork", unsafe { nix::unistd::fork() })? {
        nix::unistd::ForkResult::Child => {
            drop(r);
            // Not dumpable, nor what it spawns (CVE-2019-5736; linux::selfexe).
            let report = nix::sys::prctl::set_dumpable(false)
                .map_err(|e| format!("prctl: {e}"))
                .and_then(|()| {
                    nix::sched::setns(&target, CloneFlags::CLONE_NEWUSER)
                        .map_err(|e| format!("setns({}): {e}", path.display()))
                })
                .and_then(|()| spawn());
            // One message: the new process keeps a copy of this pipe, so there is no EOF
            // to wait for.
            let (msg, code) = match report {
                Ok(pid) => (FromChild::Pid(pid.as_raw()), 0),
                Err(e) => (FromChild::Failed(Failure::new(e)), 1),
            };
            // Ignored: a runtime that cannot read it reports the helper as dead.
            let _ = w.send(&msg);
            // SAFETY: leave without the runtime's destructors (this is a copy of it).
            unsafe { libc::_exit(code) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let report = r.recv();
            // Ignored: reaping the helper; what it reported decides.
            let _ = nix::sys::wait::waitpid(child, None);
            match report {
                Ok(FromChild::Pid(pid)) => Ok(Pid::from_raw(pid)),
                Ok(FromChild::Failed(f)) => Err(Error::Other(f.message)),
                Ok(_) | Err(channel::Error::Eof) => {
                    Err(Error::Other("the user namespace helper died".into()))
                }
                Err(e) => Err(Error::Other(format!("user namespace helper: {e}"))),
            }
        }
    }
}

/// Writes the user namespace id maps of `pid` (uid_map/gid_map text), setgroups denied.
pub fn write_id_maps(pid: Pid, uid_map: &str, gid_map: &str) -> Result<(), Error> {
    let w = |file: &str, text: String| {
        let path = format!("/proc/{pid}/{file}");
        std::fs::write(&path, text).map_err(|e| Error::Sys {
            what: format!("write {path}"),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })
    };
    w("setgroups", "deny".into())?;
    w("uid_map", uid_map.to_string())?;
    w("gid_map", gid_map.to_string())
}

/// A new user namespace with the id maps `uid_map`/`gid_map`, as a descriptor (for
/// an id-mapped mount, mount_setattr(MOUNT_ATTR_IDMAP)). A short-lived child holds it while
/// the maps are written and the descriptor taken; it is reaped before this returns.
pub fn user_ns_with_maps(uid_map: &str, gid_map: &str) -> Result<std::os::fd::OwnedFd, Error> {
    use std::io::Read;
    let (r, w) = sys("pipe", nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC))?;
    let (mut r, mut w) = (Some(r), Some(w));
    let pid = spawn(
        CloneFlags::CLONE_NEWUSER,
        Box::new(|| {
            // Its copy of the write end goes: EOF then means the runtime closed its own.
            drop(w.take());
            // Waits until the runtime closes its end (EOF), then leaves.
            let mut b = [0u8; 1];
            let mut f = std::fs::File::from(r.take().expect("once"));
            // Ignored: EOF or an error both mean the runtime is done with us.
            let _ = f.read(&mut b);
            // SAFETY: leave without the runtime's destructors (this is a copy of it).
            unsafe { libc::_exit(0) }
        }),
    )?;
    drop(r);
    let ns = write_id_maps(pid, uid_map, gid_map).and_then(|()| {
        open_ns(Path::new(&format!("/proc/{pid}/ns/user"))).map(std::os::fd::OwnedFd::from)
    });
    drop(w);
    // Ignored: reaping the helper, which exits on its own once the pipe is closed.
    let _ = nix::sys::wait::waitpid(pid, None);
    ns
}

/// Joins the namespace at `path` (of kind `flag`, a CLONE_NEW* value).
pub fn join(flag: i32, path: &std::path::Path) -> Result<(), Error> {
    let f = std::fs::File::open(path).map_err(|e| Error::Sys {
        what: format!("open namespace {}", path.display()),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    sys(
        format!("setns({})", path.display()),
        nix::sched::setns(f, CloneFlags::from_bits_retain(flag)),
    )
}

/// Brings the loopback interface of this network namespace up.
pub fn loopback_up() -> Result<(), Error> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let s = sys(
        "socket",
        socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        ),
    )?;
    // SAFETY: a zeroed ifreq is valid; the name fits with its NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in req and fills its flags field.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return sys("SIOCGIFFLAGS lo", Err(Errno::last()));
    }
    // SAFETY: ifru_flags is the member SIOCGIFFLAGS filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads req.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return sys("SIOCSIFFLAGS lo", Err(Errno::last()));
    }
    Ok(())
}

/// Enters a new cgroup namespace rooted at the cgroup this process is in now.
pub fn unshare_cgroup() -> Result<(), Error> {
    sys(
        "unshare(CLONE_NEWCGROUP)",
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP),
    )
}
