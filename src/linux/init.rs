//! The container's init sequence (DESIGN.md §4), run in the cloned child, in this order:
//! namespaces and rootfs, hostname, loopback, rlimits, working directory, program lookup;
//! then capabilities (bounding drop, identity switch, capset, ambient, read-back),
//! no_new_privs, seccomp last, execve. Any failure is reported to the parent through a
//! close-on-exec pipe and the child exits; EOF on that pipe means execve() succeeded.

use super::hooks;
use super::{identity, namespaces, process, rootfs, seccomp};
use crate::linux::capset as capk;
use crate::spec::config::Config;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use nix::unistd::{Gid, Uid};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

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

/// A failure inside the child: exit status for nucleus, message, optional hint.
pub struct Failure {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
            hint: None,
        }
    }

    pub fn encode(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.code,
            self.message,
            self.hint.as_deref().unwrap_or("")
        )
    }

    pub fn decode(s: &str) -> Failure {
        let mut it = s.splitn(3, '\n');
        let code = it.next().and_then(|c| c.parse().ok()).unwrap_or(1);
        let message = it.next().unwrap_or("container set-up failed").to_string();
        let hint = it.next().filter(|h| !h.is_empty()).map(String::from);
        Failure {
            code,
            message,
            hint,
        }
    }
}

fn fail<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Failure {
    move |e| Failure::new(format!("{what}: {e}"))
}

/// The runtime's messages on the go pipe: GO, a u32 (little-endian) length and the state
/// document for the container's hooks; then JOINED once the process is in its cgroup.
/// EOF before either means the runtime died: the process leaves quietly.
pub const GO: u8 = b'1';
pub const JOINED: u8 = b'J';

/// Reads the go message; returns the state document.
fn wait_for_go(go: &mut std::fs::File) -> Vec<u8> {
    let mut head = [0u8; 5];
    if go.read_exact(&mut head).is_err() || head[0] != GO {
        // SAFETY: the runtime is gone; leave quietly.
        unsafe { libc::_exit(1) }
    }
    let mut state = vec![0u8; u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize];
    if go.read_exact(&mut state).is_err() {
        // SAFETY: as above.
        unsafe { libc::_exit(1) }
    }
    state
}

/// Waits until the runtime has put this process in its cgroup.
fn wait_joined(go: &mut std::fs::File) {
    let mut b = [0u8; 1];
    if go.read_exact(&mut b).is_err() || b[0] != JOINED {
        // SAFETY: the runtime died before the process was in its cgroup: it must not go on.
        unsafe { libc::_exit(1) }
    }
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
    let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| Failure {
        code: 1,
        message: format!("linux.seccomp.listenerPath {}: {e}", path.display()),
        hint: Some("start the seccomp agent listening on that unix socket first".into()),
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

/// What the child writes on the error pipe when it waits at the exec gate.
pub const READY: &str = "READY";

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
    go: OwnedFd,
    err: OwnedFd,
    close: &[i32],
    how: Handoff<'_>,
) -> isize {
    for fd in close {
        // SAFETY: these are the parent's ends of our pipes, duplicated by clone; closing
        // them here affects only this process.
        unsafe { libc::close(*fd) };
    }
    // Before anything else: no descriptor of whoever started nucleus survives, except the
    // ones --preserve-fds names for the program (DESIGN.md §5.5).
    let mut keep = vec![go.as_raw_fd(), err.as_raw_fd()];
    keep.extend(how.gate);
    keep.extend(how.console);
    keep.extend(how.trees.iter().flatten().map(|t| t.as_raw_fd()));
    let first = 3 + cfg.preserve_fds as i32;
    keep.extend(3..first);
    if let Err(e) = process::close_stray(3, &keep) {
        let f = Failure::new(format!("closing inherited descriptors: {e}"));
        // Ignored: the runtime sees the pipe close without a message and reports the
        // failure as a set-up error; there is no other channel.
        let _ = std::fs::File::from(err).write_all(f.encode().as_bytes());
        // SAFETY: leave without running the parent's destructors (this is a copy of it).
        unsafe { libc::_exit(1) }
    }
    let mut err = Some(err);
    // This copy of the runtime must not be reachable through /proc/PID/exe until the
    // program's execve makes it dumpable again (CVE-2019-5736; linux::selfexe): at once,
    // or, when the runtime has our id maps to write (a rootless one could not write them
    // to a non-dumpable process), in init() as soon as it has.
    let undumpable = match cfg.id_maps {
        None => nix::sys::prctl::set_dumpable(false).map_err(fail("prctl(PR_SET_DUMPABLE)")),
        Some(_) => Ok(()),
    };
    let Err(f) = undumpable.and_then(|()| init(cfg, filters, go, &mut err, how));
    match err {
        Some(e) => {
            // Ignored: if the runtime is gone nobody is left to tell; we exit either way.
            let _ = std::fs::File::from(e).write_all(f.encode().as_bytes());
        }
        // After the gate `create` has exited and the error pipe is closed: the reason goes
        // to the container's stderr, where whoever started it reads its output.
        None => {
            let _ = std::io::stderr().write_all(format!("nucleus: {}\n", f.message).as_bytes());
        }
    }
    // SAFETY: leave without running the parent's destructors (this is a copy of it).
    unsafe { libc::_exit(f.code) }
}

fn init(
    cfg: &Config,
    filters: &[seccompiler::BpfProgram],
    go: OwnedFd,
    err: &mut Option<OwnedFd>,
    how: Handoff<'_>,
) -> Result<std::convert::Infallible, Failure> {
    let Handoff {
        cgroup,
        gate,
        detached,
        console,
        trees,
    } = how;
    // Wait for the parent: id maps written, createRuntime hooks run (GO); the cgroup is
    // joined later (JOINED), see `launch`.
    let mut go = std::fs::File::from(go);
    let go_data = wait_for_go(&mut go);
    let hook_state = &go_data[..];
    let joined = std::cell::RefCell::new(Some(go));
    // In the cgroup before anything that must be: the cgroup namespace, hooks, pivot_root,
    // fork, exec.
    let join = || {
        if let Some(mut go) = joined.borrow_mut().take() {
            wait_joined(&mut go);
        }
    };
    nix::sys::prctl::set_dumpable(false).map_err(fail("prctl(PR_SET_DUMPABLE)"))?;
    // The program runs in a session of its own: it cannot reach the caller's terminal
    // (TIOCSTI needs it to be the controlling one). With a console the pty's set-up makes
    // the session.
    if console.is_none() {
        nix::unistd::setsid().map_err(fail("setsid"))?;
    }
    // Only now: a process made through a helper (joining a user namespace) has been
    // adopted by the runtime by the time it sends "go".
    if !detached {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(fail("prctl(PR_SET_PDEATHSIG)"))?;
    }
    if cfg.namespaces.user || cfg.joins(nix::sched::CloneFlags::CLONE_NEWUSER).is_some() {
        // Become the new namespace's root (its maps are written now): files created while
        // setting up the root filesystem then belong to a mapped id. Without a mapping for
        // 0 the process keeps its ids (EINVAL).
        for r in [
            nix::unistd::setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0)),
            nix::unistd::setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0)),
        ] {
            match r {
                Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
                Err(e) => {
                    return Err(Failure::new(format!(
                        "becoming root in the user namespace: {e}"
                    )))
                }
            }
        }
    }
    // A PID namespace is joined by the runtime before the clone (setns only moves
    // children): skip it here.
    // The user namespace was joined before the clone as well.
    use nix::sched::CloneFlags as F;
    let here = |f: F| f != F::CLONE_NEWPID && f != F::CLONE_NEWUSER;
    for (flag, path) in cfg.join.iter().filter(|(f, _)| here(*f)) {
        namespaces::join(flag.bits(), path).map_err(fail("namespace"))?;
    }
    // A cgroup namespace is rooted where the process is when it is made. On v2 the root
    // filesystem's cgroup2 mount shows that namespace's root, so both come first; on v1 the
    // view is bind mounts and the root is built while the cgroup write completes.
    let v1 = super::cgroups::detect(std::path::Path::new(super::cgroups::MOUNTPOINT))
        == super::cgroups::Version::V1;
    let enter_cgroup = || {
        join();
        super::attrs::apply_initial(&cfg.attrs).map_err(Failure::new)?;
        if cfg.namespaces.cgroup {
            namespaces::unshare_cgroup().map_err(fail("cgroup namespace"))?;
        }
        Ok::<(), Failure>(())
    };
    // Copies into the container's tmpfs (tmpcopyup, --context) are charged to the cgroup
    // that makes them: then the cgroup comes first too.
    let copies = cfg.mounts.iter().any(|m| {
        matches!(
            m.kind,
            crate::spec::config::MountKind::Tmpfs { copy_up: true }
                | crate::spec::config::MountKind::CopyOf { .. }
        )
    });
    let late = v1 && cfg.builds_root() && !copies;
    if !late {
        enter_cgroup()?;
    }
    keep_self_proc(cfg)?;
    connect_listener(cfg, hook_state)?;
    if cfg.builds_root() {
        let create_hooks = || {
            if late {
                enter_cgroup().map_err(|f| rootfs::Error::Other(f.message))?;
            }
            hooks::run_all_in(
                "createContainer",
                &cfg.hooks.create_container,
                hook_state,
                Some(&cfg.env),
            )
            .map_err(rootfs::Error::Other)
        };
        rootfs::setup(cfg, cgroup, trees, &create_hooks).map_err(|e| Failure {
            code: 1,
            message: format!("rootfs: {e}"),
            hint: e.hint(),
        })?;
    }
    if cfg.builds_root() {
        // A missing process.cwd is made as runc makes it: inside the root, by the runtime
        // (root in the container), before the root may turn read-only.
        process::make_cwd(&cfg.cwd).map_err(|e| {
            Failure::new(format!(
                "working directory {}: cannot create it: {e}",
                cfg.cwd.display()
            ))
        })?;
    }
    rootfs::sysctls(cfg).map_err(fail("sysctl"))?;
    if let Some(sock) = console {
        // After the root is built: the pty comes from the container's own devpts. Before
        // the root may turn read-only: its slave is bound at /dev/console, as runc does
        // (only in a mount namespace of the container's own, never the host's /dev).
        super::terminal::attach(sock, cfg.user.uid, cfg.console_size).map_err(Failure::new)?;
        if cfg.builds_root() {
            super::terminal::mount_console().map_err(Failure::new)?;
        }
    }
    if cfg.builds_root() {
        rootfs::finish(cfg).map_err(fail("rootfs"))?;
    }
    if let Some(adj) = cfg.oom_score_adj {
        open_self_proc("oom_score_adj", true)
            .map_err(std::io::Error::from)
            .and_then(|mut f| f.write_all(adj.to_string().as_bytes()))
            .map_err(fail("oom_score_adj"))?;
    }
    if let (true, Some(h)) = (cfg.namespaces.uts, &cfg.hostname) {
        rootfs::set_hostname(h).map_err(fail("hostname"))?;
    }
    super::attrs::apply_uts(&cfg.attrs).map_err(Failure::new)?;
    if cfg.namespaces.net {
        namespaces::loopback_up().map_err(fail("network"))?;
    }
    for r in &cfg.rlimits {
        let lim = libc::rlimit {
            rlim_cur: r.soft,
            rlim_max: r.hard,
        };
        // SAFETY: setrlimit reads one struct of the stated type.
        if unsafe { libc::setrlimit(r.resource as _, &lim) } != 0 {
            let e = nix::errno::Errno::last();
            return Err(Failure {
                code: 1,
                message: format!(
                    "setrlimit(resource {}, soft {}, hard {}): {e}",
                    r.resource, r.soft, r.hard
                ),
                hint: (e == nix::errno::Errno::EPERM).then(|| {
                    "raising a hard limit above the runtime's own needs CAP_SYS_RESOURCE; ask for less"
                        .into()
                }),
            });
        }
    }
    process::enter_cwd(&cfg.cwd)
        .map_err(|e| Failure::new(format!("working directory {}: {e}", cfg.cwd.display())))?;
    let path = cfg.env.iter().find_map(|e| e.strip_prefix("PATH="));
    let prog: PathBuf = process::resolve(&cfg.args[0], path).map_err(|e| Failure {
        code: e.exit_code(),
        message: e.to_string(),
        hint: Some("the command is looked up inside the container's root filesystem".into()),
    })?;

    if cfg.init {
        // SAFETY: single-threaded; the child continues the sequence, the parent becomes init.
        match unsafe { nix::unistd::fork() }.map_err(fail("fork"))? {
            nix::unistd::ForkResult::Parent { child } => {
                // The init outlives set-up: it keeps no descriptor of the host's /proc.
                drop(SELF_PROC.lock().unwrap_or_else(|e| e.into_inner()).take());
                drop(
                    SECCOMP_LISTENER
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take(),
                );
                run_init(child, err.take())
            }
            nix::unistd::ForkResult::Child => {}
        }
    }

    // No HOME in the config: the user's home in the container's /etc/passwd, as runc.
    let env = identity::env_with_home(&cfg.env, cfg.user.uid);
    super::attrs::apply_for_program(&cfg.attrs).map_err(Failure::new)?;
    let p = Program {
        prog: &prog,
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
    };
    finish(&p, filters, gate, detached, err)
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

/// The last steps, shared by a container's first process and `exec`: capabilities and
/// identity (applied and read back), no_new_privs, the exec gate, seccomp last, execve.
/// No stray descriptor reaches the program, and its signal mask is empty.
pub fn finish(
    p: &Program,
    filters: &[seccompiler::BpfProgram],
    gate: Option<i32>,
    detached: bool,
    err: &mut Option<OwnedFd>,
) -> Result<std::convert::Infallible, Failure> {
    // Both happen before any filter is loaded: the profile may deny close_range and
    // rt_sigprocmask, and the runtime's last steps must not depend on what it allows.
    // No descriptor of the runtime or of whoever started it reaches the program, except
    // stdin, stdout, stderr and the ones --preserve-fds names (the CVE-2024-21626 class).
    let first = 3 + p.preserve_fds;
    for fd in 3..first as i32 {
        // SAFETY: F_SETFD only clears the close-on-exec flag of a descriptor we were given.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } < 0 {
            return Err(Failure::new(format!(
                "--preserve-fds: descriptor {fd}: {}",
                nix::errno::Errno::last()
            )));
        }
    }
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } != 0
    {
        return Err(Failure::new(format!(
            "close_range: {}",
            nix::errno::Errno::last()
        )));
    }
    // The program starts with no signal ignored (see process::reset_signal_dispositions;
    // a lost forwarded SIGINT was the flaky `exit_status_and_signals_propagate`), before
    // its signals are unblocked. SIGPIPE stays ignored while startContainer hooks are fed
    // their stdin here (a hook that does not read it must not kill us); it is reset after
    // them.
    let keep_pipe = !p.start_hooks.is_empty();
    let keep: &[i32] = if keep_pipe { &[libc::SIGPIPE] } else { &[] };
    process::reset_signal_dispositions(keep).map_err(fail("resetting signal dispositions"))?;
    process::set_umask(p.umask);
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .map_err(fail("sigprocmask"))?;
    if !p.no_new_privs {
        // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while held.
        load_seccomp(filters)?;
    }
    capk::apply(p.caps, Some(p.user)).map_err(|e| Failure {
        code: 1,
        message: format!("capabilities: {e}"),
        hint: e.hint(),
    })?;
    if !detached {
        // Changing credentials cleared the parent-death signal: set it again.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(fail("prctl(PR_SET_PDEATHSIG)"))?;
    }
    if p.no_new_privs {
        identity::set_no_new_privs().map_err(fail("no_new_privs"))?;
    }
    // Landlock, part 1: the ruleset is built (rule paths opened inside the root) before the
    // gate, so that `create` reports a missing path.
    let landlock_failure = |e: super::landlock::Error| Failure {
        code: 1,
        message: e.to_string(),
        hint: e.hint(),
    };
    let landlock = match p.landlock {
        // The kernel requires no_new_privs once capabilities are gone; the spec refuses a
        // domain without it before launch, this is the fail-closed backstop.
        Some(_) if !p.no_new_privs => return Err(Failure::new("landlock: needs no_new_privs")),
        Some(ll) => Some(super::landlock::prepare(ll).map_err(landlock_failure)?),
        None => None,
    };
    if let Some(fd) = gate {
        wait_at_gate(fd, err)?;
    }
    hooks::run_all_in("startContainer", p.start_hooks, p.hook_state, Some(p.env))
        .map_err(Failure::new)?;
    if keep_pipe {
        process::default_signal(libc::SIGPIPE).map_err(fail("resetting SIGPIPE"))?;
    }
    // Landlock, part 2: the domain is entered as the last step before seccomp. Fail closed.
    if let Some(prepared) = landlock {
        super::landlock::restrict(prepared).map_err(landlock_failure)?;
    }
    if p.no_new_privs {
        load_seccomp(filters)?;
    }
    let e = process::exec(p.prog, p.args, Some(p.env)).unwrap_err();
    Err(Failure {
        code: e.exit_code(),
        message: e.to_string(),
        hint: None,
    })
}

/// Reports "ready" to the runtime (which then exits: `create` is done), and blocks until
/// `start` opens the exec FIFO for reading. The FIFO was opened O_PATH before pivot_root;
/// opening it for writing goes through /proc/self/fd.
fn wait_at_gate(fd: i32, err: &mut Option<OwnedFd>) -> Result<(), Failure> {
    if let Some(e) = err.take() {
        std::fs::File::from(e)
            .write_all(READY.as_bytes())
            .map_err(fail("reporting ready"))?;
    }
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
fn run_init(main: Pid, err: Option<OwnedFd>) -> ! {
    // Closing our copy of the error pipe lets the runtime see EOF at the program's exec.
    drop(err);
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
