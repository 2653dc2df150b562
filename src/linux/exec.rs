//! Entering a running container (`exec`): join its cgroup and namespaces (user first), fork
//! once more so the PID namespace applies, then the same last steps as the container's
//! first process (linux::init::finish).

use super::init::{self, Failure, Program};
use nix::sched::CloneFlags;
use nix::unistd::{fork, ForkResult, Pid};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub use crate::spec::config::ExecSpec;

/// Namespace kinds in the order they are joined: the user namespace first (it grants the
/// capabilities the others need), the mount namespace last (it changes the root).
const KINDS: &[(&str, i32)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

/// The namespaces of `pid` that differ from this process's.
fn namespaces_of(pid: i32) -> Result<Vec<(i32, std::fs::File)>, Failure> {
    let mut out = Vec::new();
    for (name, flag) in KINDS {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let (a, b) = (
            std::fs::read_link(&theirs),
            std::fs::read_link(format!("/proc/self/ns/{name}")),
        );
        if a.is_ok() && a.ok() != b.ok() {
            let f = std::fs::File::open(&theirs)
                .map_err(|e| Failure::new(format!("open {theirs}: {e}")))?;
            out.push((*flag, f));
        }
    }
    Ok(out)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), Failure> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Failure::new(format!("pipe: {e}")))
}

/// Starts `spec` in the container whose first process is `pid`. The caller must be a
/// child subreaper: the new process becomes its child. Returns the new process's pid once
/// it has exec'd. `follow` (tracing on): told the new process's pid while the process
/// waits for it, before it does anything else; without it there is no such wait.
pub fn exec_in(
    pid: i32,
    cgroup_dirs: &[PathBuf],
    spec: &ExecSpec,
    filters: &[seccompiler::BpfProgram],
    console: Option<RawFd>,
    follow: Option<&dyn Fn(Pid) -> Result<(), Failure>>,
) -> Result<Pid, Failure> {
    let nss = namespaces_of(pid)?;
    let (pid_r, pid_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    // Tracing: the process reads one byte here before it goes on (EOF: leave).
    let (wait_r, wait_w) = match follow {
        Some(_) => {
            let (r, w) = pipe()?;
            (Some(r), Some(w))
        }
        None => (None, None),
    };
    // SAFETY: nucleus is single-threaded here; the child only makes syscalls and exits.
    let a = match unsafe { fork() } {
        Err(e) => return Err(Failure::new(format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop((pid_r, err_r, wait_w));
            // No descriptor of whoever started nucleus survives but the ones
            // --preserve-fds names (DESIGN.md §5.5). Not dumpable (inherited by the next
            // fork) until the program's execve (CVE-2019-5736; linux::selfexe).
            let mut keep: Vec<RawFd> = vec![pid_w.as_raw_fd(), err_w.as_raw_fd()];
            keep.extend(nss.iter().map(|(_, f)| f.as_raw_fd()));
            keep.extend(console);
            keep.extend(3..3 + spec.preserve_fds as RawFd);
            keep.extend(wait_r.as_ref().map(|r| r.as_raw_fd()));
            let entered = nix::sys::prctl::set_dumpable(false)
                .map_err(|e| Failure::new(format!("prctl(PR_SET_DUMPABLE): {e}")))
                .and_then(|()| {
                    super::process::close_stray(3, &keep)
                        .map_err(|e| Failure::new(format!("closing inherited descriptors: {e}")))
                })
                .and_then(|()| enter(&nss, cgroup_dirs));
            let code = match entered {
                Err(f) => {
                    // Ignored: a runtime that cannot read it sees the failed exit status.
                    let _ = std::fs::File::from(err_w).write_all(f.encode().as_bytes());
                    1
                }
                // SAFETY: as above; the grandchild runs in the container's PID namespace.
                Ok(()) => match unsafe { fork() } {
                    Ok(ForkResult::Child) => {
                        drop(pid_w);
                        if let Some(r) = wait_r {
                            let mut b = [0u8; 1];
                            if std::fs::File::from(r).read_exact(&mut b).is_err() {
                                // SAFETY: the runtime could not follow this process (or
                                // died): it must not run untraced; leave quietly.
                                unsafe { libc::_exit(1) }
                            }
                        }
                        let mut err = Some(err_w);
                        let Err(f) = start(spec, filters, console, &mut err);
                        if let Some(e) = err {
                            // Ignored: the runtime reports a start without a message.
                            let _ = std::fs::File::from(e).write_all(f.encode().as_bytes());
                        }
                        // SAFETY: leave without the parent's destructors.
                        unsafe { libc::_exit(f.code) }
                    }
                    Ok(ForkResult::Parent { child }) => {
                        drop(err_w);
                        // Ignored: without the pid the runtime reports that the exec
                        // process did not start.
                        let _ = std::fs::File::from(pid_w)
                            .write_all(child.as_raw().to_string().as_bytes());
                        0
                    }
                    Err(_) => 1,
                },
            };
            // SAFETY: leave without the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop((pid_w, err_w, wait_r));
    let mut text = String::new();
    // Ignored: an unreadable pid is a missing pid, reported below.
    let _ = std::fs::File::from(pid_r).read_to_string(&mut text);
    // Ignored: the intermediate child has exited or will; this only reaps it.
    let _ = nix::sys::wait::waitpid(a, None);
    // Without a pid the intermediate process failed: its report follows below.
    let started = text.trim().parse::<i32>().ok().map(Pid::from_raw);
    if let (Some(f), Some(w), Some(b)) = (follow, wait_w, started) {
        // Followed before it takes a step of its own; on failure closing `w` makes it leave.
        if let Err(f) = f(b) {
            drop(w);
            // Ignored: reaping the process that leaves at the closed pipe.
            let _ = nix::sys::wait::waitpid(b, None);
            return Err(f);
        }
        std::fs::File::from(w)
            .write_all(b"1")
            .map_err(|e| Failure::new(format!("starting the exec process: {e}")))?;
    }
    let mut msg = String::new();
    // Ignored: an unreadable report counts as none; the pid decides success.
    let _ = std::fs::File::from(err_r).read_to_string(&mut msg);
    let b = text.trim().parse::<i32>().ok().map(Pid::from_raw);
    if !msg.is_empty() {
        if let Some(b) = b {
            // Ignored: reaping a process that failed before its execve.
            let _ = nix::sys::wait::waitpid(b, None);
        }
        return Err(Failure::decode(&msg));
    }
    b.ok_or_else(|| Failure::new("the exec process did not start"))
}

fn enter(nss: &[(i32, std::fs::File)], cgroup_dirs: &[PathBuf]) -> Result<(), Failure> {
    let me = std::process::id().to_string();
    for d in cgroup_dirs {
        let p = d.join("cgroup.procs");
        std::fs::write(&p, &me)
            .map_err(|e| Failure::new(format!("join cgroup {}: {e}", p.display())))?;
    }
    for (flag, f) in nss {
        nix::sched::setns(f, CloneFlags::from_bits_retain(*flag))
            .map_err(|e| Failure::new(format!("setns({flag:#x}): {e}")))?;
    }
    Ok(())
}

fn start(
    spec: &ExecSpec,
    filters: &[seccompiler::BpfProgram],
    console: Option<RawFd>,
    err: &mut Option<OwnedFd>,
) -> Result<std::convert::Infallible, Failure> {
    match console {
        Some(sock) => {
            super::terminal::attach(sock, spec.user.uid, spec.console_size).map_err(Failure::new)?
        }
        // A session of its own: the program cannot reach the caller's terminal.
        None => {
            nix::unistd::setsid().map_err(|e| Failure::new(format!("setsid: {e}")))?;
        }
    }
    for r in &spec.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one struct of the stated type.
        if unsafe { libc::setrlimit(r.resource as _, &lim) } != 0 {
            return Err(Failure::new(format!(
                "setrlimit({}): {}",
                r.resource,
                nix::errno::Errno::last()
            )));
        }
    }
    if let Some(adj) = spec.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Failure::new(format!("oomScoreAdj {adj}: {e}")))?;
    }
    super::process::enter_cwd(&spec.cwd)
        .map_err(|e| Failure::new(format!("working directory {}: {e}", spec.cwd.display())))?;
    let path = spec.env.iter().find_map(|e| e.strip_prefix("PATH="));
    let prog = super::process::resolve(&spec.args[0], path).map_err(|e| Failure {
        code: e.exit_code(),
        message: e.to_string(),
        hint: None,
    })?;
    // No HOME given: the user's home in the container's /etc/passwd, as runc.
    let env = super::identity::env_with_home(&spec.env, spec.user.uid);
    let p = Program {
        prog: Path::new(&prog),
        args: &spec.args,
        env: env.as_deref().unwrap_or(&spec.env),
        umask: spec.umask,
        caps: &spec.caps,
        user: &spec.user,
        no_new_privs: spec.no_new_privs,
        start_hooks: &[],
        hook_state: &[],
        preserve_fds: spec.preserve_fds,
        landlock: spec.landlock.as_ref(),
    };
    init::finish(&p, filters, None, true, err)
}
