//! The OCI lifecycle with runc's semantics: create (set up, wait at the exec FIFO), start,
//! state, kill, delete, run, list, ps. Container set-up is `run::launch`, the same path the
//! one-shot sandbox uses.

use super::run::{self, Launch, Prepared};
use super::state::{self, live_start_time, now_rfc3339, State, Status, Store};
use crate::linux::hooks;
use crate::spec::oci::{self, OciError};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    Oci(#[from] OciError),
    #[error(transparent)]
    Run(#[from] run::Error),
    #[error("container '{id}' is {status}: {why}")]
    Status {
        id: String,
        status: &'static str,
        why: String,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::State(e) => e.hint(),
            Error::Oci(e) => e.hint(),
            Error::Run(e) => e.hint(),
            _ => None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Run(e) => e.exit_code(),
            _ => 1,
        }
    }
}

fn status_err(id: &str, status: Status, why: &str) -> Error {
    Error::Status {
        id: id.to_string(),
        status: status.as_str(),
        why: why.to_string(),
    }
}

/// Removes a half-made container (state directory, process, cgroups) unless disarmed.
struct CreateGuard<'a> {
    store: &'a Store,
    id: &'a str,
    pid: Option<Pid>,
    cgroup_dirs: Vec<PathBuf>,
    cgroup_made: Vec<PathBuf>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        remove_cgroups(&self.cgroup_dirs, &self.cgroup_made);
        let _ = self.store.remove(self.id);
    }
}

/// Removes what a container's create made of its cgroup (a state written before
/// `cgroup_made` existed lists only the leaves, which it made).
fn remove_cgroups(dirs: &[PathBuf], made: &[PathBuf]) {
    let mut cg = crate::linux::cgroups::Cgroup {
        dirs: dirs.to_vec(),
        made: if made.is_empty() { dirs } else { made }.to_vec(),
    };
    cg.remove();
}

/// Options of `create` (and `run`).
pub struct CreateOpts<'a> {
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    /// Where the pty master goes when process.terminal is set.
    pub console_socket: Option<&'a Path>,
    /// `--systemd-cgroup`: cgroupsPath is `slice:prefix:name`.
    pub systemd_cgroup: bool,
    /// Descriptors 3…3+N-1 go on to the process.
    pub preserve_fds: u32,
}

/// The console socket, connected, when the process gets a terminal; a terminal without a
/// socket (or a socket without a terminal) is refused, as runc does.
fn console_for(terminal: bool, socket: Option<&Path>) -> Result<Option<OwnedFd>, Error> {
    match (terminal, socket) {
        (true, Some(p)) => Ok(Some(
            crate::linux::terminal::connect(p).map_err(Error::Other)?,
        )),
        (false, None) => Ok(None),
        (true, None) => Err(Error::Other(
            "process.terminal is set but no --console-socket was given: pass one, or set \
             terminal to false"
                .into(),
        )),
        (false, Some(_)) => Err(Error::Other(
            "--console-socket needs process.terminal set to true (or --tty for exec)".into(),
        )),
    }
}

/// Where a container's cgroup goes: linux.cgroupsPath when set (absolute: below each
/// hierarchy's root; relative: below the runtime's own cgroup; with --systemd-cgroup,
/// `slice:prefix:name` laid out as systemd would), else `/nucleus-<id>`.
pub fn cgroup_place(
    id: &str,
    path: Option<&str>,
    systemd: bool,
) -> Result<crate::linux::cgroups::Place, Error> {
    use crate::linux::cgroups::Place;
    let bad = |why: &str| {
        Error::Oci(OciError::Invalid {
            path: "config.json".into(),
            why: format!("linux.cgroupsPath '{}': {why}", path.unwrap_or_default()),
        })
    };
    let Some(p) = path.filter(|p| !p.is_empty()) else {
        return Ok(Place::Root(format!("nucleus-{id}")));
    };
    let check = |p: &str| {
        if p.split('/').any(|c| c == ".." || c == ".") {
            Err(bad("'.' and '..' are not allowed"))
        } else {
            Ok(())
        }
    };
    if systemd && !p.starts_with('/') {
        let parts: Vec<&str> = p.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(bad("with --systemd-cgroup it must be slice:prefix:name"));
        };
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        let Some(stem) = slice.strip_suffix(".slice") else {
            return Err(bad("the slice must end in .slice"));
        };
        // a-b-c.slice lives in a.slice/a-b.slice/a-b-c.slice.
        let mut dirs = Vec::new();
        let mut acc = String::new();
        for part in stem.split('-') {
            if !acc.is_empty() {
                acc.push('-');
            }
            acc.push_str(part);
            if acc != "-" {
                dirs.push(format!("{acc}.slice"));
            }
        }
        let unit = if name.ends_with(".slice") {
            name.to_string()
        } else if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        dirs.push(unit);
        let joined = dirs.join("/");
        check(&joined)?;
        return Ok(Place::Root(joined));
    }
    check(p)?;
    let trimmed = p.trim_matches('/');
    if trimmed.is_empty() {
        return Err(bad("the hierarchy's root cannot be a container's cgroup"));
    }
    Ok(if p.starts_with('/') {
        Place::Root(trimmed.to_string())
    } else {
        Place::Own(trimmed.to_string())
    })
}

/// Loads and checks a bundle; nothing is created yet.
fn prepare(bundle: &Path) -> Result<(oci::Bundle, Prepared, PathBuf), Error> {
    let bundle = std::fs::canonicalize(bundle).map_err(|e| OciError::Read {
        path: bundle.to_path_buf(),
        why: e.to_string(),
    })?;
    let b = oci::load(&bundle)?;
    let prep = run::prepare(&b.config)?;
    Ok((b, prep, bundle))
}

/// `create`: the container's process is set up and waits at the exec FIFO; returns its
/// warnings (skipped capabilities and syscalls).
pub fn create(
    store: &Store,
    id: &str,
    o: &CreateOpts,
    foreground: bool,
) -> Result<(State, Vec<String>), Error> {
    Store::check_id(id)?;
    let (mut b, prep, bundle) = prepare(o.bundle)?;
    b.config.preserve_fds = o.preserve_fds;
    let console = console_for(b.config.terminal, o.console_socket)?;
    store.create_dir(id)?;
    let mut guard = CreateGuard {
        store,
        id,
        pid: None,
        cgroup_dirs: vec![],
        cgroup_made: vec![],
        armed: true,
    };
    let fifo = store.fifo(id);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .map_err(|e| Error::Other(format!("mkfifo {}: {e}", fifo.display())))?;
    // mkfifo honours the umask; the process may run as another user and must open it.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &fifo,
        nix::sys::stat::Mode::from_bits_truncate(0o622),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(|e| Error::Other(format!("chmod {}: {e}", fifo.display())))?;
    let mut st = State {
        oci_version: b.oci_version.clone(),
        id: id.to_string(),
        pid: 0,
        start_time: 0,
        bundle: bundle.clone(),
        rootfs: match &b.config.root {
            crate::spec::config::RootFs::Dir(d) => d.clone(),
            crate::spec::config::RootFs::Embedded => PathBuf::from("/"),
        },
        annotations: b.annotations.clone(),
        created: now_rfc3339(),
        owner: nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default(),
        cgroup_dirs: vec![],
        cgroup_made: vec![],
        poststart: b.config.hooks.poststart.clone(),
        poststop: b.config.hooks.poststop.clone(),
    };
    // prestart and createRuntime run here, in the runtime's namespaces, while the process
    // waits; it gets the state document for its createContainer/startContainer hooks.
    let config_hooks = &b.config.hooks;
    let on_spawn = |pid: Pid| -> Result<Vec<u8>, run::Error> {
        let mut s = st.clone();
        s.pid = pid.as_raw();
        // prestart predates the creating status: it was defined to see "created".
        let created = s.hook_input(Status::Created);
        hooks::run_all("prestart", &config_hooks.prestart, &created).map_err(run::Error::Setup)?;
        let creating = s.hook_input(Status::Creating);
        hooks::run_all("createRuntime", &config_hooks.create_runtime, &creating)
            .map_err(run::Error::Setup)?;
        Ok(s.hook_input(Status::Created))
    };
    let how = Launch {
        gate: Some(&fifo),
        detached: !foreground,
        cgroup: cgroup_place(id, b.config.cgroups_path.as_deref(), o.systemd_cgroup)?,
        on_spawn: Some(&on_spawn),
        console: console.as_ref().map(|c| c.as_raw_fd()),
    };
    let launched = run::launch(&b.config, &prep, &how)?;
    guard.pid = Some(launched.pid);
    (guard.cgroup_dirs, guard.cgroup_made) = launched.cgroup.map(|c| c.keep()).unwrap_or_default();
    let pid = launched.pid.as_raw();
    st.pid = pid;
    st.start_time = live_start_time(pid)
        .ok_or_else(|| Error::Other("the container process died during create".into()))?;
    st.cgroup_dirs = guard.cgroup_dirs.clone();
    st.cgroup_made = guard.cgroup_made.clone();
    store.save(&st)?;
    if let Some(p) = o.pid_file {
        std::fs::write(p, pid.to_string())
            .map_err(|e| Error::Other(format!("pid file {}: {e}", p.display())))?;
    }
    let mut warnings = b.warnings;
    warnings.extend(prep.warnings);
    guard.armed = false;
    Ok((st, warnings))
}

/// `start`: lets a created container's process continue to execve, then runs the
/// poststart hooks; returns their failures as warnings.
pub fn start(store: &Store, id: &str) -> Result<Vec<String>, Error> {
    let _lock = store.lock(id)?;
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let Some(st) = st.filter(|_| status == Status::Created) else {
        return Err(status_err(
            id,
            status,
            "only a created container can be started",
        ));
    };
    let fifo = store.fifo(id);
    let f = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::Other(format!("open {}: {e}", fifo.display())))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut fds = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
        let mut b = [0u8; 1];
        if let Ok(1) = nix::unistd::read(&f, &mut b) {
            break;
        }
        if live_start_time(st.pid) != Some(st.start_time) {
            return Err(Error::Other(format!(
                "container '{id}' exited before it could start"
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "container '{id}' did not reach its exec fifo in 10 s"
            )));
        }
    }
    std::fs::remove_file(&fifo)
        .map_err(|e| Error::Other(format!("remove {}: {e}", fifo.display())))?;
    Ok(hooks::run_all_warn(
        "poststart",
        &st.poststart,
        &st.hook_input(Status::Running),
    ))
}

/// The stored state with its live status.
pub fn state(store: &Store, id: &str) -> Result<(Option<State>, Status), Error> {
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    Ok((st, status))
}

/// Parses `TERM`, `SIGTERM`, `15`.
pub fn parse_signal(s: &str) -> Result<Signal, Error> {
    let bad = || {
        Error::Other(format!(
            "unknown signal '{s}' (use a name like TERM or KILL, or a number)"
        ))
    };
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>().map_err(|_| bad())
}

/// Processes in the container: those in the same PID namespace as its first process.
pub fn pids(st: &State) -> Vec<i32> {
    let Ok(ns) = std::fs::read_link(format!("/proc/{}/ns/pid", st.pid)) else {
        return vec![];
    };
    let mut out: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|n| n == ns))
        .collect();
    out.sort();
    out
}

/// `kill`: sends `sig` to the container's process (`all`: to every process in it).
pub fn kill(store: &Store, id: &str, sig: Signal, all: bool) -> Result<(), Error> {
    let _lock = store.lock(id)?;
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let st = match (st, status) {
        (Some(st), Status::Created | Status::Running | Status::Paused) => st,
        (_, s) => return Err(status_err(id, s, "there is no process to signal")),
    };
    let targets = if all { pids(&st) } else { vec![st.pid] };
    for p in targets {
        nix::sys::signal::kill(Pid::from_raw(p), sig)
            .map_err(|e| Error::Other(format!("kill {p}: {e}")))?;
    }
    Ok(())
}

fn wait_gone(pid: i32, start_time: u64, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while live_start_time(pid) == Some(start_time) {
        // Our own child (foreground run) must be reaped to disappear.
        let _ = nix::sys::wait::waitpid(
            Pid::from_raw(pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// `delete`: removes a stopped container; `force` kills a created, running or paused one
/// first. Then the poststop hooks run; their failures come back as warnings.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<Vec<String>, Error> {
    let lock = match store.lock(id) {
        // As runc: forcing the delete of a container that is already gone succeeds
        // (shims clean up twice).
        Err(state::Error::NotFound(_)) if force => return Ok(vec![]),
        r => r?,
    };
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    match (status, force) {
        // The runtime spec: deleting a container that is not stopped is an error (crun
        // agrees; runc deletes a created one silently).
        (Status::Created | Status::Running | Status::Paused, false) => {
            return Err(status_err(
                id,
                status,
                "stop it first (nucleus kill), or use delete --force",
            ));
        }
        (Status::Creating, false) => {
            return Err(status_err(
                id,
                status,
                "its create did not finish; use delete --force to clean it up",
            ));
        }
        _ => {}
    }
    if let Some(st) = &st {
        if status != Status::Stopped {
            for d in &st.cgroup_dirs {
                let _ = std::fs::write(d.join("freezer.state"), "THAWED");
                let _ = std::fs::write(d.join("cgroup.freeze"), "0");
            }
            let _ = nix::sys::signal::kill(Pid::from_raw(st.pid), Signal::SIGKILL);
            if !wait_gone(st.pid, st.start_time, Duration::from_secs(10)) {
                return Err(Error::Other(format!(
                    "container '{id}' did not die after SIGKILL"
                )));
            }
        }
        remove_cgroups(&st.cgroup_dirs, &st.cgroup_made);
    } else {
        // A crashed create: its cgroups carry the container's name.
        for v in ["memory", "pids", "cpu", "freezer", "unified", ""] {
            let d = Path::new("/sys/fs/cgroup")
                .join(v)
                .join(format!("nucleus-{id}"));
            if d.is_dir() {
                remove_cgroups(&[d], &[]);
            }
        }
    }
    drop(lock);
    store.remove(id)?;
    Ok(st
        .map(|st| hooks::run_all_warn("poststop", &st.poststop, &st.hook_input(Status::Stopped)))
        .unwrap_or_default())
}

/// `exec`: starts `spec` in a running container. Detached: returns its pid at once.
/// Otherwise waits and returns its exit status. Errors before the program runs are errors.
pub fn exec(
    store: &Store,
    id: &str,
    spec: &crate::linux::exec::ExecSpec,
    detach: bool,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<(i32, Vec<String>), Error> {
    let console = console_for(spec.terminal, console_socket)?;
    let st = {
        let _lock = store.lock(id)?;
        let st = store.load(id)?;
        let status = store.status(st.as_ref());
        match (st, status) {
            (Some(st), Status::Running) => st,
            (_, s) => return Err(status_err(id, s, "exec needs a running container")),
        }
    };
    let (_, prep, _) = prepare(&st.bundle)?;
    // The new process outlives its intermediate parent: adopt it.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::Other(format!("prctl(PR_SET_CHILD_SUBREAPER): {e}")))?;
    let set = crate::linux::init::supervised_set();
    let mut old = nix::sys::signal::SigSet::empty();
    if !detach {
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&set),
            Some(&mut old),
        )
        .map_err(|e| Error::Other(format!("sigprocmask: {e}")))?;
    }
    let console_fd = console.as_ref().map(|c| c.as_raw_fd());
    let pid =
        crate::linux::exec::exec_in(st.pid, &st.cgroup_dirs, spec, prep.filters(), console_fd)
            .map_err(|f| run::Error::Child {
                code: f.code,
                message: f.message,
                hint: f.hint,
            })?;
    if let Some(p) = pid_file {
        std::fs::write(p, pid.as_raw().to_string())
            .map_err(|e| Error::Other(format!("pid file {}: {e}", p.display())))?;
    }
    if detach {
        return Ok((0, prep.warnings));
    }
    let code = run::supervise(pid, &set, Duration::from_secs(10));
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&old), None);
    Ok((code, prep.warnings))
}

/// The container's config process, as the defaults of `exec` without --process.
pub fn config_process(store: &Store, id: &str) -> Result<crate::linux::exec::ExecSpec, Error> {
    let st = store
        .load(id)?
        .ok_or_else(|| Error::Other(format!("container '{id}' is being created")))?;
    let c = oci::load(&st.bundle)?.config;
    Ok(crate::linux::exec::ExecSpec {
        args: c.args,
        env: c.env,
        cwd: c.cwd,
        user: c.user,
        caps: c.caps,
        no_new_privs: c.no_new_privs,
        rlimits: vec![],
        terminal: false,
        preserve_fds: 0,
    })
}

/// `pause` (freeze every process of a running container) and `resume`.
pub fn set_paused(store: &Store, id: &str, pause: bool) -> Result<(), Error> {
    let _lock = store.lock(id)?;
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let st = match (st, status, pause) {
        (Some(st), Status::Running, true) | (Some(st), Status::Paused, false) => st,
        (_, s, true) => return Err(status_err(id, s, "only a running container can be paused")),
        (_, s, false) => return Err(status_err(id, s, "only a paused container can be resumed")),
    };
    crate::linux::cgroups::set_frozen(&st.cgroup_dirs, pause)
        .map_err(|e| Error::Other(e.to_string()))
}

/// `run`: create and start; in the foreground, wait and return the exit status, then
/// delete. Detached: return once started.
pub fn run_container(
    store: &Store,
    id: &str,
    o: &CreateOpts,
    detach: bool,
    grace: Duration,
) -> Result<(i32, Vec<String>), Error> {
    if detach {
        let (_, mut w) = create(store, id, o, false)?;
        w.extend(start(store, id)?);
        return Ok((0, w));
    }
    let set = crate::linux::init::supervised_set();
    let mut old = nix::sys::signal::SigSet::empty();
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&set),
        Some(&mut old),
    )
    .map_err(|e| Error::Other(format!("sigprocmask: {e}")))?;
    let result = (|| {
        let (st, mut w) = create(store, id, o, true)?;
        match start(store, id) {
            Ok(more) => w.extend(more),
            Err(e) => {
                let _ = delete(store, id, true);
                return Err(e);
            }
        }
        let code = run::supervise(Pid::from_raw(st.pid), &set, grace);
        w.extend(delete(store, id, true)?);
        Ok((code, w))
    })();
    let _ =
        nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&old), None);
    result
}

#[cfg(test)]
mod tests {
    use super::cgroup_place;
    use crate::linux::cgroups::Place;

    #[test]
    fn cgroups_path_forms() {
        let p = |path: Option<&str>, systemd| cgroup_place("c1", path, systemd);
        assert_eq!(p(None, false).unwrap(), Place::Root("nucleus-c1".into()));
        assert_eq!(p(Some(""), true).unwrap(), Place::Root("nucleus-c1".into()));
        assert_eq!(p(Some("/a/b/"), false).unwrap(), Place::Root("a/b".into()));
        assert_eq!(p(Some("a/b"), false).unwrap(), Place::Own("a/b".into()));
        assert_eq!(
            p(Some("machine.slice:libpod:abc"), true).unwrap(),
            Place::Root("machine.slice/libpod-abc.scope".into())
        );
        assert_eq!(
            p(Some("user-1000.slice:crio:x"), true).unwrap(),
            Place::Root("user.slice/user-1000.slice/crio-x.scope".into())
        );
        assert_eq!(
            p(Some(":prefix:n"), true).unwrap(),
            Place::Root("system.slice/prefix-n.scope".into())
        );
        // A systemd-style path with --systemd-cgroup off is an ordinary relative path.
        assert_eq!(
            p(Some("machine.slice:libpod:abc"), false).unwrap(),
            Place::Own("machine.slice:libpod:abc".into())
        );
        for bad in ["/a/../b", "/", "x:y", "a.scope:p:n"] {
            let e = p(Some(bad), true).unwrap_err().to_string();
            assert!(e.contains("cgroupsPath"), "{bad}: {e}");
        }
    }
}
