//! The container's init sequence (DESIGN.md §4), run in the cloned child. [`init`] is the
//! whole sequence as a flat list of named steps; each step is a function here or in the
//! module that owns its concern. The runtime talks to this process over the typed
//! channels of `linux::channel` (its doc draws the sequence): a failure before the exec
//! gate goes back as `FromChild::Failed`, one after it to the container's stderr
//! ([`Sink`]); EOF on the error channel means execve() succeeded.

use super::channel::{FromChild, Receiver, Sender, Sink, ToChild};
use super::hooks;
use super::{identity, namespaces, process, rootfs, seccomp};
use crate::linux::capset as capk;
use crate::spec::config::Config;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

pub use super::channel::Failure;

/// Signals nucleus forwards to the container (and the init forwards to the program).
pub const FORWARDED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The forwarded signals plus SIGCHLD: blocked in the parent before clone and waited for
/// with sigwait.
pub fn supervised_set() -> SigSet {
    let mut s = SigSet::empty();
    for sig in FORWARDED {
        s.add(*sig);
    }
    s.add(Signal::SIGCHLD);
    s
}

fn fail<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Failure {
    move |e| Failure::new(format!("{what}: {e}"))
}

impl From<rootfs::Error> for Failure {
    fn from(e: rootfs::Error) -> Failure {
        Failure::hinted(format!("rootfs: {e}"), e.hint())
    }
}

impl From<capk::Error> for Failure {
    fn from(e: capk::Error) -> Failure {
        Failure::hinted(format!("capabilities: {e}"), e.hint())
    }
}

impl From<super::landlock::Error> for Failure {
    fn from(e: super::landlock::Error) -> Failure {
        Failure::hinted(&e, e.hint())
    }
}

impl From<process::Error> for Failure {
    /// The shell's exit codes: 127 not found, 126 not executable.
    fn from(e: process::Error) -> Failure {
        Failure {
            code: e.exit_code(),
            message: e.to_string(),
            hint: None,
        }
    }
}

impl From<process::RlimitError> for Failure {
    fn from(e: process::RlimitError) -> Failure {
        let hint = (e.errno == nix::errno::Errno::EPERM).then(|| {
            "raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE; ask for less"
                .into()
        });
        Failure::hinted(&e, hint)
    }
}

/// How the child ends its set-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Handoff<'a> {
    /// The container's cgroup leaves (host paths): what its /sys/fs/cgroup shows.
    pub cgroup: &'a [PathBuf],
    /// An O_PATH descriptor of the exec FIFO to wait at before execve.
    pub gate: Option<i32>,
    /// No parent-death signal: the process outlives the runtime.
    pub detached: bool,
    /// A connected console socket: make a pty and send its master there.
    pub console: Option<i32>,
    /// Detached mount trees the runtime made for the mounts (rootfs::premount).
    pub trees: &'a [Option<OwnedFd>],
}

/// Entry point of the cloned child. Only returns by exiting.
pub fn child_main(
    cfg: &Config,
    filters: &[seccompiler::BpfProgram],
    go: Receiver<ToChild>,
    err: Sender<FromChild>,
    close: &[i32],
    how: Handoff<'_>,
) -> isize {
    crate::logging::forward_to(err.as_raw_fd());
    for fd in close {
        // SAFETY: these are the parent's ends of our pipes, duplicated by clone; closing
        // them here affects only this process.
        unsafe { libc::close(*fd) };
    }
    let keep = [go.as_raw_fd(), err.as_raw_fd()];
    let mut sink = Sink::Runtime(err);
    let Err(f) = close_inherited(cfg, &keep, &how)
        .and_then(|()| hide_from_proc(cfg))
        .and_then(|()| init(cfg, filters, go, &mut sink, how));
    sink.fail(&f);
    // SAFETY: leave without running the parent's destructors (this is a copy of it).
    unsafe { libc::_exit(f.code) }
}

/// The sequence, in the kernel's order (DESIGN.md §4).
fn init(
    cfg: &Config,
    filters: &[seccompiler::BpfProgram],
    go: Receiver<ToChild>,
    sink: &mut Sink,
    how: Handoff<'_>,
) -> Result<std::convert::Infallible, Failure> {
    let hook_state = wait_for_go(&go);
    let cgroup = CgroupEntry::new(cfg, go);
    leave_callers_session(how.console.is_some(), how.detached)?;
    become_userns_root(cfg)?;
    join_namespaces(cfg)?;
    cgroup.enter_early()?;
    keep_self_proc(cfg)?;
    connect_listener(cfg, &hook_state)?;
    build_root(cfg, &how, &hook_state, &cgroup)?;
    apply_sysctls(cfg)?;
    attach_console(cfg, how.console)?;
    finish_root(cfg)?;
    set_oom_score_adj(cfg.oom_score_adj)?;
    set_hostname(cfg)?;
    process::apply_rlimits(&cfg.rlimits)?;
    enter_cwd(&cfg.cwd)?;
    let prog = find_program(&cfg.args[0], &cfg.env)?;
    if cfg.init {
        fork_init(sink)?;
    }
    let env = program_env(cfg)?;
    let program = Program::of(cfg, &prog, &env, &hook_state);
    finish(&program, filters, how.gate, how.detached, sink)
}

/// Before anything else: no descriptor of whoever started nucleus survives, except the
/// channels and the ones --preserve-fds names for the program (DESIGN.md §5.5).
fn close_inherited(cfg: &Config, channels: &[i32], how: &Handoff) -> Result<(), Failure> {
    let mut keep = channels.to_vec();
    keep.extend(how.gate);
    keep.extend(how.console);
    keep.extend(how.trees.iter().flatten().map(|t| t.as_raw_fd()));
    keep.extend(3..3 + cfg.preserve_fds as i32);
    process::close_stray(3, &keep).map_err(fail("closing inherited descriptors"))
}

/// This copy of the runtime must not be reachable through /proc/PID/exe until the
/// program's execve makes it dumpable again (CVE-2019-5736; linux::selfexe): at once, or,
/// when the runtime has our id maps to write (a rootless one could not write them to a
/// non-dumpable process), in [`leave_callers_session`] as soon as it has.
fn hide_from_proc(cfg: &Config) -> Result<(), Failure> {
    match cfg.id_maps {
        None => nix::sys::prctl::set_dumpable(false).map_err(fail("prctl(PR_SET_DUMPABLE)")),
        Some(_) => Ok(()),
    }
}

/// Waits for the go message (id maps written, createRuntime hooks run); returns the state
/// document for the container's hooks. EOF or anything else means the runtime died: the
/// process leaves quietly (crash safety).
fn wait_for_go(go: &Receiver<ToChild>) -> Vec<u8> {
    match go.recv() {
        Ok(ToChild::Go { state }) => {
            log::debug!("init: go received");
            state
        }
        _ => exit_now(1),
    }
}

/// The process's own cgroup namespace and the attributes set where it runs, entered once
/// the runtime reports the process in its cgroup (`ToChild::Joined`). A cgroup namespace
/// is rooted where the process is when it is made. On v2 the root filesystem's cgroup2
/// mount shows that namespace's root, so both come first; on v1 the view is bind mounts
/// and the root is built while the cgroup write completes ("late"), unless copies into
/// the container's tmpfs (tmpcopyup, --context) must be charged to the cgroup.
struct CgroupEntry<'a> {
    cfg: &'a Config,
    go: std::cell::RefCell<Option<Receiver<ToChild>>>,
    late: bool,
}

impl<'a> CgroupEntry<'a> {
    fn new(cfg: &'a Config, go: Receiver<ToChild>) -> CgroupEntry<'a> {
        use crate::spec::config::MountKind;
        let v1 = super::cgroups::detect(std::path::Path::new(super::cgroups::MOUNTPOINT))
            == super::cgroups::Version::V1;
        let copies = cfg.mounts.iter().any(|m| {
            matches!(
                m.kind,
                MountKind::Tmpfs { copy_up: true } | MountKind::CopyOf { .. }
            )
        });
        CgroupEntry {
            cfg,
            go: std::cell::RefCell::new(Some(go)),
            late: v1 && cfg.builds_root() && !copies,
        }
    }

    fn enter_early(&self) -> Result<(), Failure> {
        match self.late {
            true => Ok(()),
            false => self.enter(),
        }
    }

    /// Waits for Joined (EOF: the runtime died before the process was in its cgroup; it
    /// must not go on), then the cgroup namespace.
    fn enter(&self) -> Result<(), Failure> {
        if let Some(go) = self.go.borrow_mut().take() {
            match go.recv() {
                Ok(ToChild::Joined) => log::debug!("init: in the container's cgroup"),
                _ => exit_now(1),
            }
        }
        super::attrs::apply_initial(&self.cfg.attrs).map_err(Failure::new)?;
        if self.cfg.namespaces.cgroup {
            namespaces::unshare_cgroup().map_err(fail("cgroup namespace"))?;
        }
        Ok(())
    }
}

/// Not dumpable; a session of its own (the program cannot reach the caller's terminal:
/// TIOCSTI needs it to be the controlling one; with a console the pty's set-up makes the
/// session); dies with the runtime unless detached. Only now: a process made through a
/// helper (joining a user namespace) has been adopted by the runtime by the time it sends
/// Go.
fn leave_callers_session(console: bool, detached: bool) -> Result<(), Failure> {
    nix::sys::prctl::set_dumpable(false).map_err(fail("prctl(PR_SET_DUMPABLE)"))?;
    if !console {
        nix::unistd::setsid().map_err(fail("setsid"))?;
    }
    if !detached {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(fail("prctl(PR_SET_PDEATHSIG)"))?;
    }
    Ok(())
}

/// In a user namespace: become its root (its maps are written now), so that files
/// created while setting up the root filesystem belong to a mapped id.
fn become_userns_root(cfg: &Config) -> Result<(), Failure> {
    if cfg.namespaces.user || cfg.joins(libc::CLONE_NEWUSER).is_some() {
        identity::become_userns_root().map_err(fail("becoming root in the user namespace"))?;
    }
    Ok(())
}

/// The namespaces the config names by path. The PID and user namespaces were joined by
/// the runtime before the clone (setns only moves children for PID): skipped here.
fn join_namespaces(cfg: &Config) -> Result<(), Failure> {
    let here = |f: i32| f != libc::CLONE_NEWPID && f != libc::CLONE_NEWUSER;
    for (flag, path) in cfg.join.iter().filter(|(f, _)| here(*f)) {
        namespaces::join(*flag, path).map_err(fail("namespace"))?;
    }
    log::debug!("init: namespaces joined");
    Ok(())
}

/// The root filesystem up to pivot_root; the createContainer hooks run before the pivot
/// (in the cgroup). A missing process.cwd is made as runc makes it: inside the root, by
/// the runtime (root in the container), before the root may turn read-only.
fn build_root(
    cfg: &Config,
    how: &Handoff,
    hook_state: &[u8],
    cgroup: &CgroupEntry,
) -> Result<(), Failure> {
    if !cfg.builds_root() {
        return Ok(());
    }
    let create_hooks = || {
        if cgroup.late {
            cgroup
                .enter()
                .map_err(|f| rootfs::Error::Other(f.message))?;
        }
        let hooks = &cfg.hooks.create_container;
        hooks::run_all_in("createContainer", hooks, hook_state, Some(&cfg.env))
            .map_err(rootfs::Error::Other)
    };
    rootfs::setup(cfg, how.cgroup, how.trees, &create_hooks)?;
    process::make_cwd(&cfg.cwd).map_err(|e| {
        let cwd = cfg.cwd.display();
        Failure::new(format!("working directory {cwd}: cannot create it: {e}"))
    })?;
    log::debug!("init: mounts done");
    Ok(())
}

/// linux.sysctl, written through the container's /proc.
fn apply_sysctls(cfg: &Config) -> Result<(), Failure> {
    rootfs::sysctls(cfg).map_err(fail("sysctl"))
}

/// After the root is built: the pty comes from the container's own devpts. Before the
/// root may turn read-only: its slave is bound at /dev/console, as runc does (only in a
/// mount namespace of the container's own, never the host's /dev).
fn attach_console(cfg: &Config, console: Option<i32>) -> Result<(), Failure> {
    let Some(sock) = console else { return Ok(()) };
    super::terminal::attach(sock, cfg.user.uid, cfg.console_size).map_err(Failure::new)?;
    if cfg.builds_root() {
        super::terminal::mount_console().map_err(Failure::new)?;
    }
    Ok(())
}

/// Masked and read-only paths, the root read-only: after everything that writes in it.
fn finish_root(cfg: &Config) -> Result<(), Failure> {
    if cfg.builds_root() {
        rootfs::finish(cfg).map_err(fail("rootfs"))?;
    }
    Ok(())
}

fn set_oom_score_adj(adj: Option<i32>) -> Result<(), Failure> {
    let Some(adj) = adj else { return Ok(()) };
    open_self_proc("oom_score_adj", true)
        .map_err(std::io::Error::from)
        .and_then(|mut f| f.write_all(adj.to_string().as_bytes()))
        .map_err(fail("oom_score_adj"))
}

/// Hostname and domain name (in a UTS namespace of its own), loopback up (in a network
/// namespace of its own).
fn set_hostname(cfg: &Config) -> Result<(), Failure> {
    if let (true, Some(h)) = (cfg.namespaces.uts, &cfg.hostname) {
        rootfs::set_hostname(h).map_err(fail("hostname"))?;
    }
    super::attrs::apply_uts(&cfg.attrs).map_err(Failure::new)?;
    if cfg.namespaces.net {
        namespaces::loopback_up().map_err(fail("network"))?;
    }
    Ok(())
}

/// The working directory, resolved inside the root (CVE-2024-21626 class).
fn enter_cwd(cwd: &std::path::Path) -> Result<(), Failure> {
    process::enter_cwd(cwd)
        .map_err(|e| Failure::new(format!("working directory {}: {e}", cwd.display())))
}

/// The program, looked up in the container's PATH inside its root.
fn find_program(cmd: &str, env: &[String]) -> Result<PathBuf, Failure> {
    let path = env.iter().find_map(|e| e.strip_prefix("PATH="));
    process::resolve(cmd, path).map_err(|e| Failure {
        hint: Some("the command is looked up inside the container's root filesystem".into()),
        ..Failure::from(e)
    })
}

/// --init: fork; the parent becomes the container's PID 1 ([`run_init`]), the child goes
/// on to the program.
fn fork_init(sink: &mut Sink) -> Result<(), Failure> {
    // SAFETY: single-threaded; the child continues the sequence, the parent becomes init.
    match unsafe { nix::unistd::fork() }.map_err(fail("fork"))? {
        nix::unistd::ForkResult::Child => Ok(()),
        nix::unistd::ForkResult::Parent { child } => {
            // The init outlives set-up: it keeps no descriptor of the host's /proc.
            drop(SELF_PROC.lock().unwrap_or_else(|e| e.into_inner()).take());
            drop(
                SECCOMP_LISTENER
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take(),
            );
            // Closing our copy of the error channel lets the runtime see EOF at the
            // program's exec.
            sink.close();
            run_init(child)
        }
    }
}

/// The program's environment: no HOME in the config gives the user's home in the
/// container's /etc/passwd, as runc. The scheduling attributes are set for it here too.
fn program_env(cfg: &Config) -> Result<Option<Vec<String>>, Failure> {
    let env = identity::env_with_home(&cfg.env, cfg.user.uid);
    super::attrs::apply_for_program(&cfg.attrs).map_err(Failure::new)?;
    Ok(env)
}

// ---- A container without a /proc mount (issue #14) ----

/// The runtime's /proc/self (host /proc), opened before pivot_root when the config mounts
/// no /proc: the exec gate is reopened and oom_score_adj written through it afterwards.
/// Close-on-exec, and dropped at the gate, before any hook or the program runs.
static SELF_PROC: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// Keeps /proc/self for later when the container will have no /proc of its own.
fn keep_self_proc(cfg: &Config) -> Result<(), Failure> {
    let mounts_proc = cfg.mounts.iter().any(|m| {
        m.kind == crate::spec::config::MountKind::Proc
            && m.destination == std::path::Path::new("/proc")
    });
    if mounts_proc || !cfg.builds_root() {
        return Ok(());
    }
    let fd = nix::fcntl::open(
        "/proc/self",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(fail("open /proc/self (the config mounts no /proc)"))?;
    *SELF_PROC.lock().unwrap_or_else(|e| e.into_inner()) = Some(fd);
    Ok(())
}

/// Opens `name` below this process's /proc/self: the container's /proc, or the one kept
/// by `keep_self_proc` when there is none.
fn open_self_proc(name: &str, write: bool) -> Result<std::fs::File, nix::errno::Errno> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_CLOEXEC
        | if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        };
    let kept = SELF_PROC.lock().unwrap_or_else(|e| e.into_inner());
    let fd = match kept.as_ref() {
        Some(dir) => nix::fcntl::openat(dir, name, flags, nix::sys::stat::Mode::empty())?,
        None => nix::fcntl::open(
            &std::path::Path::new("/proc/self").join(name),
            flags,
            nix::sys::stat::Mode::empty(),
        )?,
    };
    Ok(std::fs::File::from(fd))
}

// ---- Seccomp user notification (SCMP_ACT_NOTIFY; issue #14) ----

/// The listener's socket, connected before pivot_root (its path is the host's), and the
/// message that goes with the listener descriptor once the filter is loaded.
static SECCOMP_LISTENER: std::sync::Mutex<Option<(std::os::unix::net::UnixStream, Vec<u8>)>> =
    std::sync::Mutex::new(None);

/// Connects to linux.seccomp.listenerPath when the profile has one; the message is runc's
/// container process state: the state document with status "creating", the process's pid
/// and listenerMetadata.
fn connect_listener(cfg: &Config, hook_state: &[u8]) -> Result<(), Failure> {
    let crate::spec::config::Seccomp::Oci(text) = &cfg.seccomp else {
        return Ok(());
    };
    let Some((path, metadata)) = seccomp::listener_of(text) else {
        return Ok(());
    };
    let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        Failure::hinted(
            format!("linux.seccomp.listenerPath {}: {e}", path.display()),
            Some("start the seccomp agent listening on that unix socket first".into()),
        )
    })?;
    let mut state: serde_json::Value =
        serde_json::from_slice(hook_state).unwrap_or_else(|_| serde_json::json!({}));
    state["status"] = "creating".into();
    let pid = state["pid"].as_i64().unwrap_or(0);
    let msg = serde_json::json!({
        "ociVersion": crate::spec::oci::SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": state,
    });
    *SECCOMP_LISTENER.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((sock, msg.to_string().into_bytes()));
    Ok(())
}

/// Loads the filters; a notifying one's listener descriptor goes to the listener (or,
/// without one, e.g. for `exec`, is closed: those syscalls then fail with ENOSYS).
fn load_seccomp(filters: &[seccompiler::BpfProgram]) -> Result<(), Failure> {
    let listener = seccomp::load_listening(filters).map_err(fail("seccomp"))?;
    let conn = SECCOMP_LISTENER
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let (Some(fd), Some((sock, msg))) = (listener, conn) {
        seccomp::send_listener(&sock, &fd, &msg).map_err(fail("seccomp"))?;
    }
    Ok(())
}

/// What the last steps need to know about the program.
pub struct Program<'a> {
    pub prog: &'a std::path::Path,
    pub args: &'a [String],
    pub env: &'a [String],
    /// process.user.umask; None keeps the runtime's.
    pub umask: Option<u32>,
    pub caps: &'a crate::caps::Sets,
    pub user: &'a crate::linux::identity::Identity,
    pub no_new_privs: bool,
    /// startContainer hooks, run after the gate opens, and their stdin.
    pub start_hooks: &'a [crate::spec::config::Hook],
    pub hook_state: &'a [u8],
    /// Descriptors 3…3+N-1 stay open across execve.
    pub preserve_fds: u32,
    /// The Landlock domain to enter last before seccomp (needs no_new_privs).
    pub landlock: Option<&'a crate::spec::config::Landlock>,
}

impl<'a> Program<'a> {
    /// The container's first process.
    fn of(
        cfg: &'a Config,
        prog: &'a std::path::Path,
        env: &'a Option<Vec<String>>,
        hook_state: &'a [u8],
    ) -> Program<'a> {
        Program {
            prog,
            args: &cfg.args,
            env: env.as_deref().unwrap_or(&cfg.env),
            umask: cfg.umask,
            caps: &cfg.caps,
            user: &cfg.user,
            no_new_privs: cfg.no_new_privs,
            start_hooks: &cfg.hooks.start_container,
            hook_state,
            preserve_fds: cfg.preserve_fds,
            landlock: cfg.landlock.as_ref(),
        }
    }
}

/// The last steps, shared by a container's first process and `exec`: capabilities and
/// identity (applied and read back), no_new_privs, the exec gate, seccomp last, execve.
/// No stray descriptor reaches the program, and its signal mask is empty.
pub fn finish(
    p: &Program,
    filters: &[seccompiler::BpfProgram],
    gate: Option<i32>,
    detached: bool,
    sink: &mut Sink,
) -> Result<std::convert::Infallible, Failure> {
    // Both happen before any filter is loaded: the profile may deny close_range and
    // rt_sigprocmask, and the runtime's last steps must not depend on what it allows.
    mark_runtime_fds_cloexec(p.preserve_fds)?;
    let keep_pipe = !p.start_hooks.is_empty();
    reset_signals(keep_pipe, p.umask)?;
    if !p.no_new_privs {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while held.
        load_seccomp(filters)?;
    }
    capk::apply(p.caps, Some(p.user))?;
    log::debug!("init: capabilities applied");
    if !detached {
        // Changing credentials cleared the parent-death signal: set it again.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(fail("prctl(PR_SET_PDEATHSIG)"))?;
    }
    if p.no_new_privs {
        identity::set_no_new_privs().map_err(fail("no_new_privs"))?;
    }
    let landlock = prepare_landlock(p)?;
    if let Some(fd) = gate {
        wait_at_gate(fd, sink)?;
    }
    hooks::run_all_in("startContainer", p.start_hooks, p.hook_state, Some(p.env))
        .map_err(Failure::new)?;
    if keep_pipe {
        process::default_signal(libc::SIGPIPE).map_err(fail("resetting SIGPIPE"))?;
    }
    // Landlock, part 2: the domain is entered as the last step before seccomp. Fail closed.
    if let Some(prepared) = landlock {
        super::landlock::restrict(prepared)?;
    }
    if p.no_new_privs {
        load_seccomp(filters)?;
    }
    log::debug!("init: execve {}", p.prog.display());
    Err(process::exec(p.prog, p.args, Some(p.env))
        .unwrap_err()
        .into())
}

/// No descriptor of the runtime or of whoever started it reaches the program, except
/// stdin, stdout, stderr and the ones --preserve-fds names (the CVE-2024-21626 class).
fn mark_runtime_fds_cloexec(preserve_fds: u32) -> Result<(), Failure> {
    let first = 3 + preserve_fds;
    for fd in 3..first as i32 {
        process::keep_across_exec(fd)
            .map_err(|e| Failure::new(format!("--preserve-fds: descriptor {fd}: {e}")))?;
    }
    process::cloexec_from(first).map_err(fail("close_range"))
}

/// The program starts with no signal ignored (see process::reset_signal_dispositions; a
/// lost forwarded SIGINT was the flaky `exit_status_and_signals_propagate`), before its
/// signals are unblocked. SIGPIPE stays ignored while startContainer hooks are fed their
/// stdin (`keep_pipe`: a hook that does not read it must not kill us); it is reset after
/// them. Then the umask and an empty signal mask.
fn reset_signals(keep_pipe: bool, umask: Option<u32>) -> Result<(), Failure> {
    let keep: &[i32] = if keep_pipe { &[libc::SIGPIPE] } else { &[] };
    process::reset_signal_dispositions(keep).map_err(fail("resetting signal dispositions"))?;
    process::set_umask(umask);
    process::unblock_all_signals().map_err(fail("sigprocmask"))
}

/// Landlock, part 1: the ruleset is built (rule paths opened inside the root) before the
/// gate, so that `create` reports a missing path.
fn prepare_landlock(p: &Program) -> Result<Option<super::landlock::Prepared>, Failure> {
    match p.landlock {
        // The kernel requires no_new_privs once capabilities are gone; the spec refuses a
        // domain without it before launch, this is the fail-closed backstop.
        Some(_) if !p.no_new_privs => Err(Failure::new("landlock: needs no_new_privs")),
        Some(ll) => Ok(Some(super::landlock::prepare(ll)?)),
        None => Ok(None),
    }
}

/// Reports Ready to the runtime (which then exits: `create` is done; from now on failures
/// go to stderr), and blocks until `start` opens the exec FIFO for reading. The FIFO was
/// opened O_PATH before pivot_root; opening it for writing goes through /proc/self/fd.
fn wait_at_gate(fd: i32, sink: &mut Sink) -> Result<(), Failure> {
    log::debug!("init: waiting at the exec gate");
    sink.ready().map_err(fail("reporting ready"))?;
    let mut fifo =
        open_self_proc(&format!("fd/{fd}"), true).map_err(fail("opening the exec fifo"))?;
    // The host's /proc is not needed any more: it goes before any hook or the program.
    drop(SELF_PROC.lock().unwrap_or_else(|e| e.into_inner()).take());
    fifo.write_all(b"0")
        .map_err(fail("writing the exec fifo"))?;
    // SAFETY: the O_PATH descriptor is not needed any more; nothing else uses this number.
    unsafe { libc::close(fd) };
    Ok(())
}

extern "C" fn noop(_: libc::c_int) {}

/// PID 1 of the container with --init: forwards signals to `main`, reaps every child, and
/// exits with `main`'s status (128+N when it was killed by signal N).
fn run_init(main: Pid) -> ! {
    // The init is a copy of the runtime: the program must not reach it through /proc/1
    // (its exe is the runtime's binary, the CVE-2019-5736 class). Fail closed.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        init_fails(main, &format!("prctl(PR_SET_DUMPABLE): {e}"));
    }
    // The kernel drops default-action signals sent to a namespace's init: install handlers
    // (the signals stay blocked and are taken with sigwait).
    let handler = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(noop),
        nix::sys::signal::SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in FORWARDED {
        // SAFETY: a handler that does nothing is async-signal-safe.
        if let Err(e) = unsafe { nix::sys::signal::sigaction(*sig, &handler) } {
            init_fails(main, &format!("sigaction({sig}): {e}"));
        }
    }
    // The init keeps no capabilities. Fail closed.
    if let Err(e) = capk::apply(&crate::caps::Sets::default(), None) {
        init_fails(main, &format!("dropping the init's capabilities: {e}"));
    }
    let set = supervised_set();
    loop {
        let Ok(sig) = set.wait() else { continue };
        if sig != Signal::SIGCHLD {
            // Ignored: ESRCH means the program is exiting, and its SIGCHLD comes next.
            let _ = nix::sys::signal::kill(main, sig);
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == main => exit_now(code),
                Ok(WaitStatus::Signaled(p, s, _)) if p == main => exit_now(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

/// The init could not make itself safe: the program must not run under it.
fn init_fails(main: Pid, why: &str) -> ! {
    // Ignored: the process may already be gone; either way nothing runs under this init.
    let _ = nix::sys::signal::kill(main, Signal::SIGKILL);
    // Ignored: stderr is the only channel left, and the exit status says it failed.
    let _ = std::io::stderr().write_all(format!("nucleus: init: {why}\n").as_bytes());
    exit_now(1)
}

fn exit_now(code: i32) -> ! {
    // SAFETY: plain process exit; the namespace's other processes are killed by the kernel.
    unsafe { libc::_exit(code) }
}
