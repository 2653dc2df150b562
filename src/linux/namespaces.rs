//! Namespaces: creating the container's process in new ones, user id maps, loopback.

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::unistd::Pid;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what}: {errno}")]
    Sys { what: String, errno: Errno },
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
