//! Starting the user's program: finding it, then execve().

use nix::errno::Errno;
use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// "no such file or directory" is what Docker looks for to answer 127 (runc's text).
    #[error("{0}: command not found (no such file or directory)")]
    NotFound(String),
    #[error("{cmd}: cannot execute: {errno}")]
    Exec { cmd: String, errno: Errno },
    /// `what`: "argument 2", "environment entry 0", "program path".
    #[error("{0} contains a NUL byte")]
    Nul(String),
}

impl Error {
    /// The shell's convention: 127 not found, 126 found but not executable.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotFound(_) => 127,
            _ => 126,
        }
    }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The process start time from /proc/PID/stat (field 22), if the process exists and is
/// not a zombie: it tells a reused PID apart.
pub fn live_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// pidfd_open's EINVAL for a valid pid means the PID names no process any more, only the
/// session or process group its dead leader left behind (Linux 6.1 says EINVAL there;
/// the VM lane meets it in `delete --force`): the process is gone.
fn gone_as_esrch(e: Errno) -> Errno {
    if e == Errno::EINVAL {
        Errno::ESRCH
    } else {
        e
    }
}

/// Sends `sig` to `pid` only while it is the process that started at `start_time`: a
/// pidfd pins the process first, then its start time is checked, so a PID reused in
/// between is never signalled (ESRCH instead).
pub fn signal_verified(
    pid: i32,
    start_time: u64,
    sig: nix::sys::signal::Signal,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let fd = pidfd_verified(pid, start_time)?;
    // SAFETY: pidfd_send_signal with a null siginfo and no flags sends `sig` like kill(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A pidfd for `pid` while it is the process that started at `start_time` (the pidfd
/// pins it first, then the start time is checked): it polls readable once the process
/// has exited. ESRCH when it is gone or the PID was reused.
pub fn pidfd_verified(pid: i32, start_time: u64) -> Result<std::os::fd::OwnedFd, Errno> {
    use std::os::fd::{FromRawFd, OwnedFd};
    if pid <= 0 {
        return Err(Errno::ESRCH);
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Err(gone_as_esrch(Errno::last()));
    }
    // SAFETY: `raw` is a descriptor the kernel just returned to us.
    let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    if live_start_time(pid) != Some(start_time) {
        return Err(Errno::ESRCH);
    }
    Ok(fd)
}

/// Closes every descriptor from `first` up except those in `keep`: whatever the caller of
/// nucleus leaked to it (a directory of the host above all, the CVE-2024-21626 class)
/// is gone before any path inside the container is resolved.
pub fn close_stray(first: i32, keep: &[i32]) -> Result<(), Errno> {
    let mut keep: Vec<i32> = keep.iter().copied().filter(|k| *k >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    let close = |lo: i32, hi: u32| {
        // SAFETY: close_range only closes descriptors of this process in [lo, hi].
        if unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi, 0) } != 0 {
            return Err(Errno::last());
        }
        Ok(())
    };
    for k in keep {
        if k > lo {
            close(lo, (k - 1) as u32)?;
        }
        lo = k + 1;
    }
    close(lo, u32::MAX)
}

/// Changes into `cwd`, resolved inside the container's root (this process's `/`) with no
/// symlink or `..` leading out of it and no magic link (`/proc/self/fd/N`), then checks
/// that the kernel can reach the new directory from the root (CVE-2024-21626 class).
pub fn enter_cwd(cwd: &Path) -> Result<(), Errno> {
    use nix::fcntl::OFlag;
    use std::os::fd::AsFd;
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let dir = super::inroot::open(root.as_fd(), cwd, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    nix::unistd::fchdir(&dir)?;
    // getcwd fails (or says "(unreachable)") for a directory outside the root.
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(_) => Err(Errno::EXDEV),
        Err(e) => Err(e),
    }
}

/// Makes the working directory `cwd` when it is missing, resolved inside the root (this
/// process's `/`), as runc does for the container's first process: every missing
/// component is a directory 0755 (less the umask) owned by the runtime's user in the
/// container (root), and symlinks on the way are expanded inside the root.
pub fn make_cwd(cwd: &Path) -> Result<(), Errno> {
    use nix::fcntl::OFlag;
    use std::os::fd::AsFd;
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    match super::inroot::open(root.as_fd(), cwd, OFlag::O_PATH) {
        Err(Errno::ENOENT) => super::inroot::mkdir_all(root.as_fd(), cwd).map(drop),
        r => r.map(drop),
    }
}

/// Every signal's disposition back to the default. Handlers are reset by execve anyway,
/// but an ignored signal stays ignored across it: without this the program would inherit
/// what whoever started nucleus ignored (SIGINT and SIGQUIT for a background job of a
/// non-interactive shell, SIGHUP under nohup) and what Rust's runtime ignores (SIGPIPE).
/// A shell cannot even trap a signal that was ignored when it started, so a forwarded
/// SIGINT would be lost. runc's processes start with no signal ignored either. Signals in
/// `except` keep their disposition.
pub fn reset_signal_dispositions(except: &[i32]) -> Result<(), Errno> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || except.contains(&sig) {
            continue;
        }
        default_signal(sig)?;
    }
    Ok(())
}

/// The kernel's `struct sigaction` for rt_sigaction (handler, flags, restorer, mask): the
/// C library's wrapper refuses the signals it keeps for itself (glibc's 32 and 33), which
/// may arrive ignored all the same.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets signal `sig`'s disposition to SIG_DFL.
pub fn default_signal(sig: i32) -> Result<(), Errno> {
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: rt_sigaction reads one kernel sigaction (SIG_DFL: no handler code runs, so
    // no restorer is needed) of the size given for its 64-bit mask; no old action is asked
    // for.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &default as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Sets the file mode creation mask (process.user.umask); None keeps the current one.
pub fn set_umask(mask: Option<u32>) {
    if let Some(m) = mask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m & 0o777));
    }
}

/// Whether descriptor `fd` is open in this process.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Resolves `cmd` as execvp(3) would: a name with a slash is taken as is, otherwise each
/// directory of `path` (default: the usual system directories) is tried in order.
pub fn resolve(cmd: &str, path: Option<&str>) -> Result<PathBuf, Error> {
    if cmd.is_empty() {
        return Err(Error::NotFound(cmd.to_string()));
    }
    if cmd.contains('\0') {
        return Err(Error::Nul("argument 0".into()));
    }
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return if p.exists() {
            Ok(p)
        } else {
            Err(Error::NotFound(cmd.to_string()))
        };
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(cmd))
        .find(|p| executable(p))
        .ok_or_else(|| Error::NotFound(cmd.to_string()))
}

/// Replaces this process with `prog` (already resolved), arguments `argv` (argv[0]
/// first), and the environment `env` (NAME=VALUE) or, when None, this process's own.
pub fn exec(prog: &Path, argv: &[String], env: Option<&[String]>) -> Result<Infallible, Error> {
    let c = |s: &[u8], what: String| CString::new(s).map_err(|_| Error::Nul(what));
    let all = |v: &[String], what: &str| -> Result<Vec<CString>, Error> {
        v.iter()
            .enumerate()
            .map(|(i, a)| c(a.as_bytes(), format!("{what} {i}")))
            .collect()
    };
    let p = c(prog.as_os_str().as_bytes(), "program path".into())?;
    let args = all(argv, "argument")?;
    let errno = match env {
        Some(e) => nix::unistd::execve(&p, &args, &all(e, "environment entry")?).unwrap_err(),
        None => nix::unistd::execv(&p, &args).unwrap_err(),
    };
    Err(Error::Exec {
        cmd: prog.display().to_string(),
        errno,
    })
}

/// Ends the process as if SIGPIPE had killed it (the shell sees 128+13, as for `ls | head`):
/// the default action is restored and the signal unblocked and raised. Used when stdout's
/// reader went away; nothing else of nucleus is running then.
pub fn end_as_sigpipe() -> ! {
    use nix::sys::signal::{self, SigHandler, SigSet, SigmaskHow, Signal};
    // SAFETY: SIG_DFL installs no handler code; the disposition change is process-wide,
    // which is the point (the process ends next).
    let restored = unsafe { signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) };
    if restored.is_ok() {
        let mut pipe = SigSet::empty();
        pipe.add(Signal::SIGPIPE);
        // Ignored: if SIGPIPE cannot be unblocked, raise() does not end us and the exit
        // below gives the same status a shell would show.
        let _ = signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&pipe), None);
        // Ignored: as above, the exit below is the fallback.
        let _ = signal::raise(Signal::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

// ---- Limits, descriptors and signal masks of the process being started ----

/// A resource limit the kernel refused.
#[derive(Debug, thiserror::Error)]
#[error("setrlimit(resource {resource}, soft {soft}, hard {hard}): {errno}")]
pub struct RlimitError {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
    pub errno: Errno,
}

/// Sets process.rlimits (the container's first process and `exec`).
pub fn apply_rlimits(rlimits: &[crate::spec::config::Rlimit]) -> Result<(), RlimitError> {
    for r in rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one struct of the stated type.
        if unsafe { libc::setrlimit(r.resource as _, &lim) } != 0 {
            return Err(RlimitError {
                resource: r.resource,
                soft: r.soft,
                hard: r.hard,
                errno: Errno::last(),
            });
        }
    }
    Ok(())
}

/// Clears descriptor `fd`'s close-on-exec flag (--preserve-fds).
pub fn keep_across_exec(fd: i32) -> Result<(), Errno> {
    // SAFETY: F_SETFD only clears the close-on-exec flag of a descriptor we were given.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Marks every descriptor from `first` up close-on-exec.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// An empty signal mask (the program's, before execve).
pub fn unblock_all_signals() -> Result<(), Errno> {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
}

/// Signals blocked (to be taken with sigwait) while this lives; the mask from before is
/// restored on drop.
pub struct SignalsBlocked {
    old: nix::sys::signal::SigSet,
}

impl SignalsBlocked {
    pub fn block(set: &nix::sys::signal::SigSet) -> Result<SignalsBlocked, Errno> {
        use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
        let mut old = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(set), Some(&mut old))?;
        Ok(SignalsBlocked { old })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        use nix::sys::signal::{sigprocmask, SigmaskHow};
        // Ignored: restoring the mask this process had; it was valid a moment ago.
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// A child process that set-up has not handed over yet: killed (SIGKILL) and reaped on
/// drop, so a launch that fails half-way leaves no process behind.
pub struct KillOnDrop(Option<nix::unistd::Pid>);

impl KillOnDrop {
    pub fn new(pid: nix::unistd::Pid) -> KillOnDrop {
        KillOnDrop(Some(pid))
    }

    pub fn pid(&self) -> nix::unistd::Pid {
        self.0.expect("not released")
    }

    /// Set-up succeeded: the process lives on.
    pub fn release(mut self) -> nix::unistd::Pid {
        self.0.take().expect("released once")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            // Ignored: the process may have exited already (ESRCH); it is reaped next.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            // Ignored: reaping our own child; nothing is left to do if that fails.
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(
            resolve("sh", Some("/nonexistent:/bin")).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert!(matches!(
            resolve("no-such-cmd-xyz", None),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            resolve("./no/such", None),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(resolve("", None), Err(Error::NotFound(_))));
        assert_eq!(
            resolve("s\0h", None).unwrap_err().to_string(),
            "argument 0 contains a NUL byte"
        );
        // /etc/passwd exists but is not executable: PATH search skips it.
        assert!(resolve("passwd", Some("/etc")).is_err());
        assert_eq!(Error::NotFound("x".into()).exit_code(), 127);
    }
}
