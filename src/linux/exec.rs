//! Entering a running container (`exec`): join its cgroup and namespaces (user first), fork
//! once more so the PID namespace applies, then the same last steps as the container's
//! first process (linux::init::finish).

use super::channel::{self, FromChild, Receiver, Sender, Sink, ToChild};
use super::init::{self, Failure, Program};
use super::process::KillOnDrop;
use crate::caps::Sets;
use crate::linux::identity::Identity;
use crate::spec::config::Rlimit;
use nix::sched::CloneFlags;
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The process to start in the container.
#[derive(Clone, Debug)]
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub user: Identity,
    /// process.user.umask; None keeps the runtime's.
    pub umask: Option<u32>,
    /// process.oomScoreAdj.
    pub oom_score_adj: Option<i32>,
    pub caps: Sets,
    pub no_new_privs: bool,
    pub rlimits: Vec<Rlimit>,
    /// A pty for the process, its master sent over the console socket.
    pub terminal: bool,
    /// The pty's window size (rows, columns), set before the program runs
    /// (process.consoleSize).
    pub console_size: Option<(u16, u16)>,
    /// Descriptors 3…3+N-1 go on to the process.
    pub preserve_fds: u32,
    /// The Landlock domain the process enters (the container's, or process.json's).
    pub landlock: Option<crate::spec::config::Landlock>,
}

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

fn pair<M: channel::Message>() -> Result<(Receiver<M>, Sender<M>), Failure> {
    channel::pair().map_err(|e| Failure::new(format!("pipe: {e}")))
}

/// The child's ends of its channels (see `linux::channel`): the pid of the process that
/// runs the program, its failure (or EOF at its execve), and, when traced, the Go it
/// waits for.
struct Ends {
    pid: Sender<FromChild>,
    err: Sender<FromChild>,
    wait: Option<Receiver<ToChild>>,
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
    let (pid_r, pid_w) = pair::<FromChild>()?;
    let (err_r, err_w) = pair::<FromChild>()?;
    let (wait_r, wait_w) = match follow {
        Some(_) => pair::<ToChild>().map(|(r, w)| (Some(r), Some(w)))?,
        None => (None, None),
    };
    // SAFETY: nucleus is single-threaded here; the child only makes syscalls and exits.
    let a = match unsafe { fork() } {
        Err(e) => return Err(Failure::new(format!("fork: {e}"))),
        Ok(ForkResult::Child) => {
            drop((pid_r, err_r, wait_w));
            let ends = Ends {
                pid: pid_w,
                err: err_w,
                wait: wait_r,
            };
            intermediate(ends, &nss, cgroup_dirs, spec, filters, console)
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop((pid_w, err_w, wait_r));
    let started = pid_r.recv();
    // Ignored: the intermediate child has exited or will; this only reaps it.
    let _ = nix::sys::wait::waitpid(a, None);
    // Without a pid the intermediate process failed: its report follows below.
    let b = match started {
        Ok(FromChild::Pid(b)) => Some(KillOnDrop::new(Pid::from_raw(b))),
        _ => None,
    };
    if let (Some(f), Some(w), Some(b)) = (follow, wait_w, b.as_ref()) {
        // Followed before it takes a step of its own; on failure the guard kills it.
        f(b.pid())?;
        w.send(&ToChild::Go { state: vec![] })
            .map_err(|e| Failure::new(format!("starting the exec process: {e}")))?;
    }
    match (report(&err_r), b) {
        (Ok(()), Some(b)) => Ok(b.release()),
        (Ok(()), None) => Err(Failure::new("the exec process did not start")),
        (Err(f), _) => Err(f),
    }
}

/// The exec process's reports until its execve (EOF); its debug records are logged.
fn report(err: &Receiver<FromChild>) -> Result<(), Failure> {
    loop {
        match err.recv() {
            Ok(FromChild::Log(r)) => crate::logging::replay(&r),
            Ok(FromChild::Failed(f)) => return Err(f),
            // An unreadable report counts as none; the pid decides success.
            Ok(_) | Err(_) => return Ok(()),
        }
    }
}

/// The intermediate child: joins the container's cgroup and namespaces, forks the process
/// that runs the program (so that the PID namespace applies), reports its pid and exits.
fn intermediate(
    ends: Ends,
    nss: &[(i32, std::fs::File)],
    cgroup_dirs: &[PathBuf],
    spec: &ExecSpec,
    filters: &[seccompiler::BpfProgram],
    console: Option<RawFd>,
) -> ! {
    crate::logging::forward_to(ends.err.as_raw_fd());
    // No descriptor of whoever started nucleus survives but the ones --preserve-fds
    // names (DESIGN.md §5.5). Not dumpable (inherited by the next fork) until the
    // program's execve (CVE-2019-5736; linux::selfexe).
    let mut keep: Vec<RawFd> = vec![ends.pid.as_raw_fd(), ends.err.as_raw_fd()];
    keep.extend(nss.iter().map(|(_, f)| f.as_raw_fd()));
    keep.extend(console);
    keep.extend(3..3 + spec.preserve_fds as RawFd);
    keep.extend(ends.wait.as_ref().map(|r| r.as_raw_fd()));
    let entered = nix::sys::prctl::set_dumpable(false)
        .map_err(|e| Failure::new(format!("prctl(PR_SET_DUMPABLE): {e}")))
        .and_then(|()| {
            super::process::close_stray(3, &keep)
                .map_err(|e| Failure::new(format!("closing inherited descriptors: {e}")))
        })
        .and_then(|()| enter(nss, cgroup_dirs));
    let code = match entered {
        Err(f) => {
            Sink::Runtime(ends.err).fail(&f);
            1
        }
        // SAFETY: as above; the grandchild runs in the container's PID namespace.
        Ok(()) => match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                drop(ends.pid);
                exec_process(ends.err, ends.wait, spec, filters, console)
            }
            Ok(ForkResult::Parent { child }) => {
                drop(ends.err);
                // Ignored: without the pid the runtime reports that the exec process
                // did not start.
                let _ = ends.pid.send(&FromChild::Pid(child.as_raw()));
                0
            }
            Err(_) => 1,
        },
    };
    // SAFETY: leave without the parent's destructors.
    unsafe { libc::_exit(code) }
}

/// The process that runs the program: waits for Go when traced, then the last steps.
fn exec_process(
    err: Sender<FromChild>,
    wait: Option<Receiver<ToChild>>,
    spec: &ExecSpec,
    filters: &[seccompiler::BpfProgram],
    console: Option<RawFd>,
) -> ! {
    if let Some(r) = wait {
        if !matches!(r.recv(), Ok(ToChild::Go { .. })) {
            // SAFETY: the runtime could not follow this process (or died): it must not
            // run untraced; leave quietly.
            unsafe { libc::_exit(1) }
        }
    }
    let mut sink = Sink::Runtime(err);
    let Err(f) = start(spec, filters, console, &mut sink);
    sink.fail(&f);
    // SAFETY: leave without the parent's destructors.
    unsafe { libc::_exit(f.code) }
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
    sink: &mut Sink,
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
    super::process::apply_rlimits(&spec.rlimits)?;
    if let Some(adj) = spec.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Failure::new(format!("oomScoreAdj {adj}: {e}")))?;
    }
    super::process::enter_cwd(&spec.cwd)
        .map_err(|e| Failure::new(format!("working directory {}: {e}", spec.cwd.display())))?;
    let path = spec.env.iter().find_map(|e| e.strip_prefix("PATH="));
    let prog = super::process::resolve(&spec.args[0], path)?;
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
    init::finish(&p, filters, None, true, sink)
}
