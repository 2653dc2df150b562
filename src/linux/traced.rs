//! A host command run under a tracer (`nucleus caps trace`, `caps exec --report-denials`):
//! the child is forked first and held on a pipe until the tracer follows it, then it runs;
//! the parent forwards INT/TERM/HUP/QUIT/USR1/USR2 to it and waits.

use super::init::supervised_set;
use super::tracefs::Error;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::io::Read;
use std::os::fd::OwnedFd;

fn sys(what: &str, e: Errno) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A forked child that waits for [`Held::release`].
pub struct Held {
    pid: Pid,
    go: Option<OwnedFd>,
    saved: SigSet,
}

/// Blocks the forwarded signals and SIGCHLD (they are taken with sigwait), then forks a
/// child that waits until released and then runs `child` (which execs, or returns the
/// exit status to leave with). Call it while the process is single-threaded.
pub fn fork_held(child: impl FnOnce() -> i32) -> Result<Held, Error> {
    let mut saved = SigSet::empty();
    nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&supervised_set()),
        Some(&mut saved),
    )
    .map_err(|e| sys("sigprocmask", e))?;
    let restore = |saved: &SigSet| {
        // Ignored: restoring the mask this process had; it was valid a moment ago.
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(saved), None);
    };
    let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            restore(&saved);
            return Err(sys("pipe", e));
        }
    };
    // SAFETY: the caller is single-threaded (the tracer's reader starts after this); the
    // child runs nucleus code and then execs or exits.
    match unsafe { fork() } {
        Err(e) => {
            restore(&saved);
            Err(sys("fork", e))
        }
        Ok(ForkResult::Child) => {
            drop(w);
            let mut b = [0u8; 1];
            let released = std::fs::File::from(r).read(&mut b).is_ok_and(|n| n == 1);
            let code = if released {
                restore(&saved);
                child()
            } else {
                // The parent gave up (or died) before following this process.
                1
            };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(r);
            Ok(Held {
                pid: child,
                go: Some(w),
                saved,
            })
        }
    }
}

impl Held {
    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    /// Lets the child run its command.
    pub fn release(mut self) -> Result<Running, Error> {
        let go = self.go.take().expect("released once");
        nix::unistd::write(&go, b"g").map_err(|e| sys("releasing the traced process", e))?;
        drop(go);
        let r = Running {
            pid: self.pid,
            saved: self.saved,
        };
        std::mem::forget(self);
        Ok(r)
    }
}

impl Drop for Held {
    /// Not released: the child sees the pipe close and exits; reap it.
    fn drop(&mut self) {
        drop(self.go.take());
        // Ignored: reaping our own child, which exits on its own.
        let _ = waitpid(self.pid, None);
        // Ignored: restoring the mask this process had.
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.saved), None);
    }
}

/// A released child.
pub struct Running {
    pid: Pid,
    saved: SigSet,
}

impl Running {
    /// Waits for the child, forwarding signals to it; returns its exit code, or 128+signal
    /// when a signal ended it.
    pub fn wait(self) -> Result<i32, Error> {
        let set = supervised_set();
        let code = loop {
            let sig = set.wait().map_err(|e| sys("sigwait", e))?;
            if sig != Signal::SIGCHLD {
                // Ignored: the child may have just exited; SIGCHLD comes next.
                let _ = kill(self.pid, sig);
                continue;
            }
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => break c,
                Ok(WaitStatus::Signaled(_, s, _)) => break 128 + s as i32,
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys("waitpid", e)),
            }
        };
        // Ignored: restoring the mask this process had.
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.saved), None);
        Ok(code)
    }
}
