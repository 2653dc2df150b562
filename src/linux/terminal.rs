//! process.terminal: a pseudo-terminal made inside the container, whose master goes to the
//! caller over a console socket (runc's protocol: one SCM_RIGHTS message).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Connects to the caller's console socket (in the runtime, before the process exists).
pub fn connect(path: &Path) -> Result<OwnedFd, String> {
    let s = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| format!("console socket {}: {e}", path.display()))?;
    Ok(OwnedFd::from(s))
}

/// In the container's process, with its /dev/pts mounted: a new session whose controlling
/// terminal is a fresh pty's slave (also stdin, stdout and stderr, owned by `uid`); the
/// master is sent over `sock`, then closed here. `size` (rows, columns): the window size
/// set on the pty before anything runs on it.
pub fn attach(sock: RawFd, uid: u32, size: Option<(u16, u16)>) -> Result<(), String> {
    use nix::fcntl::OFlag;
    let e = |what: &str| {
        let what = what.to_string();
        move |err: nix::errno::Errno| format!("terminal: {what}: {err}")
    };
    nix::unistd::setsid().map_err(e("setsid"))?;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(e("open /dev/ptmx"))?;
    nix::pty::grantpt(&master).map_err(e("grantpt"))?;
    nix::pty::unlockpt(&master).map_err(e("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(e("ptsname"))?;
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor (or -1).
    let raw = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(e("TIOCGPTPEER")(nix::errno::Errno::last()));
    }
    // SAFETY: `raw` is a descriptor the kernel just returned to us.
    let slave = unsafe { OwnedFd::from_raw_fd(raw) };
    nix::unistd::fchown(&slave, Some(nix::unistd::Uid::from_raw(uid)), None)
        .map_err(e("chown of the pty"))?;
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize struct from the pointer.
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(e("TIOCSWINSZ")(nix::errno::Errno::last()));
        }
    }
    // SAFETY: TIOCSCTTY with 0 makes the descriptor's tty our controlling terminal.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(e("TIOCSCTTY")(nix::errno::Errno::last()));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors; the new ones are not close-on-exec.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(e("dup2")(nix::errno::Errno::last()));
        }
    }
    let fds = [master.as_raw_fd()];
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    nix::sys::socket::sendmsg::<()>(
        sock,
        &iov,
        &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map_err(e("sending the pty master over the console socket"))?;
    // SAFETY: the socket is not used again by this process.
    unsafe { libc::close(sock) };
    Ok(())
}

/// In the container's process, after `attach` and with its own mount namespace and root:
/// the pty's slave (descriptor 0 by then) is bound at /dev/console, as runc does, on an
/// empty file made there if needed. The path is resolved inside the root (`inroot`): a
/// symlink planted at /dev/console cannot lead out of it.
pub fn mount_console() -> Result<(), String> {
    use nix::fcntl::OFlag;
    let e =
        |what: &'static str| move |err: nix::errno::Errno| format!("/dev/console: {what}: {err}");
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(e("open /"))?;
    let target = super::inroot::create(
        std::os::fd::AsFd::as_fd(&root),
        Path::new("/dev/console"),
        true,
    )
    .map_err(e("creating it"))?;
    let slave = std::io::stdin();
    nix::mount::mount(
        Some(&super::inroot::fd_path(&slave)),
        &super::inroot::fd_path(&target),
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(e("binding the pty there"))
}
