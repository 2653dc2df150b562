//! The foreground run: set everything up, start the program, forward signals, wait, and
//! leave nothing behind (the namespaces die with their last process; the cgroup is removed).

use crate::linux::init::{self, Failure};
use crate::linux::{cgroups, namespaces, rootfs, seccomp};
use crate::spec::config::{Config, Seccomp};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rootfs(#[from] rootfs::Error),
    #[error(transparent)]
    Namespaces(#[from] namespaces::Error),
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    #[error(transparent)]
    Seccomp(#[from] seccomp::Error),
    #[error("{message}")]
    Child {
        code: i32,
        message: String,
        hint: Option<String>,
    },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Landlock(#[from] crate::linux::landlock::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Child { hint, .. } => hint.clone(),
            Error::Cgroup(e) => e.hint(),
            Error::Landlock(e) => e.hint(),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Child { code, .. } => *code,
            _ => 1,
        }
    }
}

/// Warnings the caller should print (e.g. skipped seccomp syscall names).
pub struct Prepared {
    filters: Vec<seccompiler::BpfProgram>,
    pub warnings: Vec<String>,
}

impl Prepared {
    pub fn filters(&self) -> &[seccompiler::BpfProgram] {
        &self.filters
    }
}

/// Everything that can be checked or compiled before a process exists.
pub fn prepare(cfg: &Config) -> Result<Prepared, Error> {
    rootfs::check_root(cfg)?;
    let (filters, mut warnings) = match &cfg.seccomp {
        Seccomp::Unconfined => (vec![], vec![]),
        Seccomp::Default => (seccomp::default_compiled()?, vec![]),
        // Names this architecture lacks are skipped silently, as libseccomp does: OCI
        // profiles list several architectures' syscalls.
        Seccomp::Oci(text) => (seccomp::compile(&seccomp::from_oci(text)?)?.0, vec![]),
    };
    // Landlock: what this kernel cannot enforce is refused (strict) or warned about, before
    // any process exists. Nothing to do without a Landlock domain.
    if let Some(ll) = &cfg.landlock {
        warnings.extend(crate::linux::landlock::check(ll)?);
    }
    Ok(Prepared { filters, warnings })
}

/// Kills and reaps the child if set-up fails half-way.
struct ChildGuard(Option<Pid>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

fn clone_flags(cfg: &Config) -> CloneFlags {
    let n = &cfg.namespaces;
    let mut f = CloneFlags::empty();
    f.set(CloneFlags::CLONE_NEWNS, n.mount);
    f.set(CloneFlags::CLONE_NEWPID, n.pid);
    f.set(CloneFlags::CLONE_NEWUTS, n.uts);
    f.set(CloneFlags::CLONE_NEWIPC, n.ipc);
    f.set(CloneFlags::CLONE_NEWNET, n.net);
    f.set(CloneFlags::CLONE_NEWUSER, n.user);
    f
}

fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd), Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::Setup(format!("pipe: {e}")))
}

/// How the container's first process is started.
pub struct Launch<'a> {
    /// An exec FIFO: the process sets everything up, reports ready and waits there until
    /// `start` opens it (OCI create). None: straight on to execve (one-shot run).
    pub gate: Option<&'a Path>,
    /// The process outlives nucleus (no parent-death signal).
    pub detached: bool,
    /// Where the cgroup goes when the config has limits.
    pub cgroup: cgroups::Place,
    /// Runs in the runtime once the process exists (id maps written, cgroup joined) and
    /// before it builds its root: the OCI createRuntime hooks. What it returns is handed
    /// to the process (the state document its createContainer/startContainer hooks read).
    pub on_spawn: Option<&'a dyn Fn(Pid) -> Result<Vec<u8>, Error>>,
    /// A connected console socket: the process makes a pty and sends its master there.
    pub console: Option<i32>,
    /// Told what is about to exist before it exists (crash safety: OCI create writes it
    /// to the container's state, so that `delete --force` finds it after a SIGKILL).
    pub record: Option<&'a RecordFn<'a>>,
}

/// Receives what `launch` is about to make.
pub type RecordFn<'a> = dyn Fn(Record) -> Result<(), Error> + 'a;

/// What `launch` is about to make, reported before it is made.
pub enum Record<'a> {
    /// The cgroup directories: the leaves, and the ones to be made.
    Cgroup(&'a cgroups::Plan),
    /// The container's process, just cloned: it waits for the go message and dies with
    /// its pipe if the runtime dies before sending it.
    Pid(Pid),
}

/// A started container process and the cgroup it is in.
pub struct Launched {
    pub pid: Pid,
    pub cgroup: Option<cgroups::Cgroup>,
}

/// Creates the container's process and waits until it is at the gate (or has exec'd).
/// On failure nothing is left: the process is killed and the cgroup removed.
pub fn launch(cfg: &Config, prep: &Prepared, how: &Launch) -> Result<Launched, Error> {
    let cgroup = if cfg.resources.any() {
        let mp = Path::new(cgroups::MOUNTPOINT);
        let mut record = |plan: &cgroups::Plan| match how.record {
            Some(f) => f(Record::Cgroup(plan)).map_err(|e| cgroups::Error::Io {
                path: mp.to_path_buf(),
                why: format!("recording the cgroup before it is made: {e}"),
            }),
            None => Ok(()),
        };
        Some(cgroups::Cgroup::create_recorded(
            mp,
            &cgroups::detect(mp),
            &how.cgroup,
            &cfg.resources,
            &mut record,
        )?)
    } else {
        None
    };
    let gate = match how.gate {
        Some(p) => Some(
            nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::Setup(format!("open {}: {e}", p.display())))?,
        ),
        None => None,
    };
    let cgroup_leaves: &[std::path::PathBuf] = cgroup.as_ref().map_or(&[], |c| &c.dirs);
    let (go_r, go_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let close = [go_w.as_raw_fd(), err_r.as_raw_fd()];
    let mut slot = (Some(go_r), Some(err_w));
    let gate_fd = gate.as_ref().map(|g| g.as_raw_fd());
    let detached = how.detached;
    let console = how.console;
    // Building a root inside the runtime's own mount namespace would pivot the host's.
    if let Some(p) = cfg.joins(libc::CLONE_NEWNS) {
        if namespaces::is_own_mount_ns(p)? {
            return Err(Error::Setup(format!(
                "namespace {} is nucleus' own mount namespace: building the container's root \
                 there would replace the host's; give a mount namespace of its own",
                p.display()
            )));
        }
    }
    let mut spawn_child = || {
        namespaces::spawn(
            clone_flags(cfg),
            Box::new(|| {
                let (g, e) = (slot.0.take().expect("once"), slot.1.take().expect("once"));
                let how = init::Handoff {
                    cgroup: cgroup_leaves,
                    gate: gate_fd,
                    detached,
                    console,
                };
                init::child_main(cfg, &prep.filters, g, e, &close, how)
            }),
        )
        .map_err(|e| e.to_string())
    };
    let mut spawn = || match cfg.joins(libc::CLONE_NEWUSER) {
        None => spawn_child().map_err(Error::Setup),
        Some(p) => Ok(namespaces::spawn_in_user_ns(p, &mut spawn_child)?),
    };
    let spawned = match cfg.joins(libc::CLONE_NEWPID) {
        None => spawn(),
        Some(p) => namespaces::in_pid_ns(p, spawn)?,
    };
    let pid = spawned?;
    drop(slot);
    drop(gate);
    let mut guard = ChildGuard(Some(pid));
    if let Some(f) = how.record {
        f(Record::Pid(pid))?;
    }
    if let Some((uids, gids)) = &cfg.id_maps {
        namespaces::write_id_maps(pid, uids, gids)?;
    }
    // The go message (init::GO): "1", the state document's length and the document. On
    // cgroup v1 the first write to a cgroup.procs waits for an RCU grace period (several
    // ms): without prestart/createRuntime hooks (which must see the process in its
    // cgroup) the process gets "go" first and builds its root meanwhile; it waits for
    // "joined" before it pivots, runs a hook, forks or executes anything.
    let mut go_w = std::fs::File::from(go_w);
    let send = |go_w: &mut std::fs::File, msg: &[u8]| {
        go_w.write_all(msg)
            .map_err(|e| Error::Setup(format!("starting the container: {e}")))
    };
    let go = |state: Vec<u8>| {
        let mut m = vec![init::GO];
        m.extend((state.len() as u32).to_le_bytes());
        m.extend(state);
        m
    };
    let hooks_first = !cfg.hooks.prestart.is_empty() || !cfg.hooks.create_runtime.is_empty();
    let state = |pid| how.on_spawn.map_or(Ok(vec![]), |f| f(pid));
    if !hooks_first {
        send(&mut go_w, &go(state(pid)?))?;
    }
    if let Some(cg) = &cgroup {
        cg.add(pid.as_raw())?;
    }
    if hooks_first {
        send(&mut go_w, &go(state(pid)?))?;
    }
    // A process that failed meanwhile has closed its end (EPIPE): its report says why.
    match go_w.write_all(&[init::JOINED]) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
        Err(e) => return Err(Error::Setup(format!("starting the container: {e}"))),
    }
    drop(go_w);
    let mut msg = String::new();
    std::fs::File::from(err_r)
        .read_to_string(&mut msg)
        .map_err(|e| Error::Setup(format!("reading set-up result: {e}")))?;
    if !msg.is_empty() && msg != init::READY {
        let f = Failure::decode(&msg);
        return Err(Error::Child {
            code: f.code,
            message: f.message,
            hint: f.hint,
        });
    }
    guard.0 = None;
    Ok(Launched { pid, cgroup })
}

/// Runs the container in the foreground; returns the program's exit status (128+N when
/// killed by signal N).
pub fn run(cfg: &Config, prep: &Prepared, grace: Duration) -> Result<i32, Error> {
    let set = init::supervised_set();
    let mut old = nix::sys::signal::SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(|e| Error::Setup(format!("sigprocmask: {e}")))?;
    let how = Launch {
        gate: None,
        detached: false,
        cgroup: cgroups::Place::Root(one_shot_cgroup(cfg)?),
        on_spawn: None,
        console: None,
        record: None,
    };
    let result = launch(cfg, prep, &how).map(|mut l| {
        let code = supervise(l.pid, &set, grace);
        if let Some(cg) = l.cgroup.as_mut() {
            cg.remove();
        }
        code
    });
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

/// Names of one-shot runs' cgroups start with this.
const ONE_SHOT_PREFIX: &str = "nucleus-run-";

/// A unique cgroup name for a one-shot run (random: PIDs repeat across PID namespaces).
/// Empty cgroups that earlier runs left when they were killed are removed first.
fn one_shot_cgroup(cfg: &Config) -> Result<String, Error> {
    if cfg.resources.any() {
        let mp = Path::new(cgroups::MOUNTPOINT);
        cgroups::sweep_stale(
            mp,
            &cgroups::detect(mp),
            &cfg.resources,
            ONE_SHOT_PREFIX,
            Duration::from_secs(60),
        );
    }
    let mut id = [0u8; 8];
    // SAFETY: getrandom writes at most `id.len()` bytes into `id`.
    let n = unsafe { libc::getrandom(id.as_mut_ptr().cast(), id.len(), 0) };
    if n != id.len() as isize {
        return Err(Error::Setup(format!(
            "getrandom: {}",
            nix::errno::Errno::last()
        )));
    }
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{ONE_SHOT_PREFIX}{hex}"))
}

/// Forwards signals to `pid` until it exits; returns its status. After a forwarded
/// SIGTERM the program has `grace` to exit before it is killed (a PID 1 without a TERM
/// handler never sees the signal).
pub fn supervise(pid: Pid, set: &nix::sys::signal::SigSet, grace: Duration) -> i32 {
    let mut deadline: Option<Instant> = None;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return c,
            Ok(WaitStatus::Signaled(_, s, _)) => return 128 + s as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            // Not our child any more, or a PID that cannot be waited for: nothing to wait on.
            Err(_) => return 1,
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            deadline = None;
        }
        let wait = deadline.map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(Instant::now())
        });
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: sigtimedwait reads the set and the timeout, and may write nothing (null info).
        let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
        if sig <= 0 || sig == libc::SIGCHLD {
            continue;
        }
        if let Ok(sig) = Signal::try_from(sig) {
            let _ = nix::sys::signal::kill(pid, sig);
            if sig == Signal::SIGTERM && deadline.is_none() {
                deadline = Some(Instant::now() + grace);
            }
        }
    }
}
