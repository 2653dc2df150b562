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

/// Removes a half-made container (its processes, the cgroups its record names, the state
/// directory) unless disarmed.
struct CreateGuard<'a> {
    store: &'a Store,
    id: &'a str,
    st: &'a std::cell::RefCell<State>,
    armed: bool,
}

impl Drop for CreateGuard<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Best effort on a path that is already failing: the record stays (and `delete
        // --force` can finish the job) when something cannot be removed.
        // Nothing ran: a trace instance is removed without a report.
        if let Some(t) = &self.st.borrow().trace {
            crate::linux::tracefs::remove_detached(&t.instance);
        }
        if destroy(&self.st.borrow()).is_ok() {
            // Ignored: the error create returns is the one to report; a state directory
            // left here is removed by `delete --force`.
            let _ = self.store.remove(self.id);
        }
    }
}

/// The container's cgroup leaves that nucleus made itself (a leaf that existed before is
/// shared with others and is never swept). State written before `cgroup_made` existed
/// lists only leaves, all of which create made.
fn own_leaves(st: &State) -> Vec<PathBuf> {
    st.cgroup_dirs
        .iter()
        .filter(|d| st.cgroup_made.is_empty() || st.cgroup_made.contains(d))
        .filter(|d| d.exists())
        .cloned()
        .collect()
}

/// Kills every process of the container — all of its own cgroup (found there, never
/// through a namespace) and its first process if that is still the same process — waits
/// until they are gone, and removes the cgroup directories its record names.
fn destroy(st: &State) -> Result<(), Error> {
    use crate::linux::cgroups;
    let leaves = own_leaves(st);
    let cg = |e: cgroups::Error| Error::Other(e.to_string());
    if !leaves.is_empty() && !cgroups::procs(&leaves).map_err(cg)?.is_empty() {
        cgroups::signal_all(&leaves, Signal::SIGKILL).map_err(cg)?;
    }
    if st.pid > 0 {
        match crate::linux::process::signal_verified(st.pid, st.start_time, Signal::SIGKILL) {
            // ESRCH: gone already (or a zombie about to be reaped).
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(Error::Other(format!("kill {}: {e}", st.pid))),
        }
    }
    if st.pid > 0 && !wait_gone(st.pid, st.start_time, Duration::from_secs(10)) {
        return Err(Error::Other(format!(
            "container '{}' did not die after SIGKILL",
            st.id
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !leaves.is_empty() && !cgroups::procs(&leaves).map_err(cg)?.is_empty() {
        if Instant::now() > deadline {
            return Err(Error::Other(format!(
                "container '{}': processes are left in its cgroup after SIGKILL",
                st.id
            )));
        }
        // A process forked between the listing and the signal: signal again.
        cgroups::signal_all(&leaves, Signal::SIGKILL).map_err(cg)?;
        std::thread::sleep(Duration::from_millis(2));
    }
    // A systemd unit is stopped, and systemd removes its cgroup; nucleus removes only the
    // directories it made itself (v1 hierarchies systemd does not manage).
    if let Some(unit) = &st.systemd {
        match crate::linux::systemd::stop(unit) {
            // No manager to ask (create failed for that very reason, or it went away): the
            // processes are gone (above), and a scope without processes ends by itself.
            Ok(()) | Err(crate::linux::systemd::Error::NoBus { .. }) => {}
            Err(e) => return Err(Error::Other(e.to_string())),
        }
        return cgroups::remove_recorded(&st.cgroup_dirs, &st.cgroup_made).map_err(cg);
    }
    cgroups::remove_recorded(&st.cgroup_dirs, made_or_leaves(st)).map_err(cg)
}

fn made_or_leaves(st: &State) -> &[PathBuf] {
    if st.cgroup_made.is_empty() {
        &st.cgroup_dirs
    } else {
        &st.cgroup_made
    }
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
/// `slice:prefix:name`: where systemd puts that unit, see [`systemd_unit`]), else
/// `/nucleus-<id>`.
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
        // Laid out as systemd nests it (linux/systemd.rs), which makes the unit there.
        let unit = crate::linux::systemd::parse(p).map_err(|why| bad(&why))?;
        check(&unit.path)?;
        return Ok(Place::Root(unit.path));
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

/// With --systemd-cgroup and linux.cgroupsPath `slice:prefix:name`: the transient unit
/// systemd makes for the container (other paths stay cgroupfs paths, as `cgroup_place`).
pub fn systemd_unit(path: Option<&str>, systemd: bool) -> Option<crate::linux::systemd::Unit> {
    let p = path.filter(|p| systemd && !p.is_empty() && !p.starts_with('/'))?;
    crate::linux::systemd::parse(p).ok()
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

// ---- Capability tracing of OCI containers (annotation run.nucleus.trace-caps) ----

/// The annotation that turns tracing on; its value names the report, a new file in
/// [`trace_dir`].
pub const TRACE_ANNOTATION: &str = "run.nucleus.trace-caps";

/// `run.nucleus.cgroups=every-hierarchy`: on cgroup v1, place the container in every
/// hierarchy as runc does (see `create`).
pub const CGROUPS_ANNOTATION: &str = "run.nucleus.cgroups";

/// What an OCI container's trace records: capability checks (syscalls would flood a
/// buffer that is only read at delete).
const TRACE_EVENTS: crate::linux::tracefs::Events = crate::linux::tracefs::Events {
    caps: true,
    syscalls: false,
};

/// Where OCI trace reports go: `/var/log/nucleus/traces` for root, else
/// `$XDG_RUNTIME_DIR/nucleus/traces`. Annotations can come from people who may not write
/// to the host (e.g. Kubernetes pod annotations passed on by CRI-O), so a report is never
/// written to a path they choose: only a new file (O_EXCL, no symlinks) in this directory.
pub fn trace_dir() -> Result<PathBuf, Error> {
    if !crate::linux::userns::rootless() {
        return Ok(PathBuf::from("/var/log/nucleus/traces"));
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => Ok(Path::new(&d).join("nucleus/traces")),
        _ => Err(Error::Other(format!(
            "annotation {TRACE_ANNOTATION}: rootless traces go to $XDG_RUNTIME_DIR/nucleus/traces, \
             and XDG_RUNTIME_DIR is not set to an absolute path"
        ))),
    }
}

/// The report's file name from the annotation: a plain name, or an absolute path whose
/// directory is exactly [`trace_dir`].
fn report_name(value: &str, dir: &Path) -> Option<String> {
    let p = Path::new(value);
    let name = match p.parent() {
        Some(parent) if p.is_absolute() && parent == dir => p.file_name()?.to_str()?,
        _ if !value.contains('/') => value,
        _ => return None,
    };
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then(|| name.to_string())
}

/// The trace a container asks for, checked before anything is made.
fn trace_of(
    id: &str,
    annotations: &std::collections::HashMap<String, String>,
) -> Result<Option<state::Trace>, Error> {
    let Some(value) = annotations.get(TRACE_ANNOTATION) else {
        return Ok(None);
    };
    let dir = trace_dir()?;
    let Some(name) = report_name(value, &dir) else {
        return Err(Error::Oci(OciError::Invalid {
            path: "config.json".into(),
            why: format!(
                "annotation {TRACE_ANNOTATION}='{value}': name the report with letters, digits, \
                 '.', '_' and '-' (e.g. {id}.caps.json); it is written to {}",
                dir.display()
            ),
        }));
    };
    let report = dir.join(&name);
    if report.symlink_metadata().is_ok() {
        return Err(Error::Oci(OciError::Invalid {
            path: "config.json".into(),
            why: format!(
                "annotation {TRACE_ANNOTATION}: {} exists; reports are never overwritten \
                 (remove it or choose another name)",
                report.display()
            ),
        }));
    }
    // tracefs names the instance nucleus-oci-<id>-<random>: ids repeat across --root.
    Ok(Some(state::Trace {
        instance: format!("{id}-{}", crate::linux::tracefs::random_hex()),
        report,
    }))
}

/// Writes a report as a new file: the directory is made (0700) if missing and opened
/// without following symlinks; the file is created exclusively (0600).
fn write_report(path: &Path, text: &str) -> Result<(), String> {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (d, n),
        _ => return Err(format!("{}: not a file path", path.display())),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let root = nix::fcntl::open("/", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("open /: {e}"))?;
    let dirfd = crate::linux::inroot::open_no_symlinks(
        root.as_fd(),
        dir,
        OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
    )
    .map_err(|e| format!("opening {} (no symlinks): {e}", dir.display()))?;
    let fd = nix::fcntl::openat(
        &dirfd,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| format!("creating {}: {e}", path.display()))?;
    std::fs::File::from(fd)
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Collects a container's trace (its processes are gone), writes the report and removes
/// the instance; what fails comes back as a warning (delete goes on).
fn finish_trace(t: &state::Trace) -> Option<String> {
    let report = match crate::linux::tracefs::collect_detached(&t.instance) {
        Ok(r) => r,
        Err(e) => {
            crate::linux::tracefs::remove_detached(&t.instance);
            return Some(format!("capability trace: {e}"));
        }
    };
    let json = serde_json::to_string_pretty(&report).expect("a report serializes");
    write_report(&t.report, &json)
        .err()
        .map(|e| format!("capability trace: {e}"))
}

/// Drops from every set the capabilities nucleus's own bounding set lacks, with one
/// warning naming them: a privileged config asks for every capability, and no runtime
/// started here can grant one its bounding set lacks (runc fails the container; nucleus
/// runs it with what exists). The read-back then checks the reduced sets.
fn within_own_bounding(caps: &mut crate::caps::Sets, warnings: &mut Vec<String>) {
    let lacking = crate::linux::capset::beyond_own_bounding(caps);
    if !lacking.is_empty() {
        *caps = caps.masked(!lacking);
        warnings.push(format!(
            "capabilities {} skipped: the runtime's own bounding set lacks them",
            lacking.names().join(",")
        ));
    }
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
    // On request, as runc always does: a cgroup in every v1 hierarchy, so that update and
    // stats work for kinds not limited here. Not by default: each hierarchy costs a
    // cgroup, a cgroup.procs write, a bind in the container's /sys/fs/cgroup and an rmdir
    // (~2 ms per container for the 6 extra ones, measured with bench/run.sh).
    b.config.resources.every_hierarchy = match b.annotations.get(CGROUPS_ANNOTATION) {
        None => false,
        Some(v) if v == "every-hierarchy" => true,
        Some(v) => {
            return Err(Error::Oci(OciError::Invalid {
                path: o.bundle.join("config.json"),
                why: format!(
                    "annotation {CGROUPS_ANNOTATION}='{v}': the only value is every-hierarchy"
                ),
            }))
        }
    };
    within_own_bounding(&mut b.config.caps, &mut b.warnings);
    let console = console_for(b.config.terminal, o.console_socket)?;
    let trace = trace_of(id, &b.annotations)?;
    // --systemd-cgroup: the unit is named in the record before systemd is asked for it.
    let systemd = systemd_unit(b.config.cgroups_path.as_deref(), o.systemd_cgroup).map(|unit| {
        let user = crate::linux::userns::rootless();
        crate::linux::systemd::Request {
            recorded: crate::linux::systemd::Recorded::new(&unit, id, user),
            unit,
        }
    });
    store.create_dir(id)?;
    let st = std::cell::RefCell::new(State {
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
        owner: crate::linux::identity::host_user_name(nix::unistd::geteuid().as_raw()),
        cgroup_dirs: vec![],
        cgroup_made: vec![],
        creating: true,
        poststart: b.config.hooks.poststart.clone(),
        poststop: b.config.hooks.poststop.clone(),
        trace: trace.clone(),
        resources: Some(b.config.resources.clone()),
        systemd: systemd.as_ref().map(|r| r.recorded.clone()),
    });
    let mut guard = CreateGuard {
        store,
        id,
        st: &st,
        armed: true,
    };
    // Each step that makes something outside the state directory is written to the
    // record before it is taken (DESIGN.md §5.10): the cgroup plan, then (when there is
    // no cgroup) the pid. A directory without a record holds only the FIFO.
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
    let record = |r: run::Record| -> Result<(), run::Error> {
        let mut s = st.borrow_mut();
        match r {
            run::Record::Cgroup(plan) => {
                s.cgroup_dirs = plan.dirs.clone();
                s.cgroup_made = plan.made.clone();
            }
            run::Record::Pid(pid) => {
                s.pid = pid.as_raw();
                s.start_time = live_start_time(s.pid).unwrap_or(0);
                // A process that can outlive create is in the recorded cgroup by then
                // (it waits for JOINED), where `delete --force` finds it: the pid needs
                // writing down only when there is no cgroup.
                if !s.cgroup_dirs.is_empty() {
                    return Ok(());
                }
            }
        }
        store
            .save(&s)
            .map_err(|e| run::Error::Setup(format!("recording the container: {e}")))
    };
    // prestart and createRuntime run here, in the runtime's namespaces, while the process
    // waits; it gets the state document for its createContainer/startContainer hooks.
    let config_hooks = &b.config.hooks;
    let on_spawn = |pid: Pid| -> Result<Vec<u8>, run::Error> {
        let mut s = st.borrow().clone();
        s.pid = pid.as_raw();
        // prestart predates the creating status: it was defined to see "created".
        let created = s.hook_input(Status::Created);
        hooks::run_all("prestart", &config_hooks.prestart, &created).map_err(run::Error::Setup)?;
        let creating = s.hook_input(Status::Creating);
        hooks::run_all("createRuntime", &config_hooks.create_runtime, &creating)
            .map_err(run::Error::Setup)?;
        Ok(s.hook_input(Status::Created))
    };
    // Tracing: the instance is recorded (above) before it is made; the process is followed
    // before it is let go (it then waits at the exec FIFO, long before its execve).
    if let Some(t) = &trace {
        store.save(&st.borrow())?;
        crate::linux::tracefs::start_detached(&t.instance, TRACE_EVENTS)
            .map_err(run::Error::from)?;
    }
    let follow = |pid: Pid| -> Result<(), run::Error> {
        match &trace {
            Some(t) => Ok(crate::linux::tracefs::follow_detached(
                &t.instance,
                pid.as_raw(),
                TRACE_EVENTS,
            )?),
            None => Ok(()),
        }
    };
    let how = Launch {
        gate: Some(&fifo),
        detached: !foreground,
        cgroup: cgroup_place(id, b.config.cgroups_path.as_deref(), o.systemd_cgroup)?,
        on_spawn: Some(&on_spawn),
        console: console.as_ref().map(|c| c.as_raw_fd()),
        record: Some(&record),
        follow: trace.is_some().then_some(&follow as &run::FollowFn),
        systemd: systemd.as_ref(),
    };
    let launched = run::launch(&b.config, &prep, &how)?;
    let pid = launched.pid.as_raw();
    let mut cgroup_warnings = Vec::new();
    {
        let mut s = st.borrow_mut();
        if let Some(c) = &launched.cgroup {
            cgroup_warnings.clone_from(&c.warnings);
        }
        (s.cgroup_dirs, s.cgroup_made) = launched.cgroup.map(|c| c.keep()).unwrap_or_default();
        s.pid = pid;
        s.start_time = live_start_time(pid)
            .ok_or_else(|| Error::Other("the container process died during create".into()))?;
    }
    if let Some(p) = o.pid_file {
        std::fs::write(p, pid.to_string())
            .map_err(|e| Error::Other(format!("pid file {}: {e}", p.display())))?;
    }
    st.borrow_mut().creating = false;
    store.save(&st.borrow())?;
    let mut warnings = b.warnings;
    warnings.extend(prep.warnings);
    warnings.extend(cgroup_warnings);
    guard.armed = false;
    drop(guard);
    Ok((st.into_inner(), warnings))
}

/// `start`: lets a created container's process continue to execve, then runs the
/// poststart hooks. A failing poststart hook fails `start`, and the container is stopped
/// and deleted (its poststop hooks run), as runc does; their warnings come back.
pub fn start(store: &Store, id: &str) -> Result<Vec<String>, Error> {
    let (st, lock) = open_gate(store, id)?;
    let Err(e) = hooks::run_all("poststart", &st.poststart, &st.hook_input(Status::Running)) else {
        return Ok(vec![]);
    };
    drop(lock);
    let warnings = delete(store, id, true).map_err(|d| {
        Error::Other(format!(
            "{e}; deleting the container failed too: {d} (run delete --force)"
        ))
    })?;
    let also = if warnings.is_empty() {
        String::new()
    } else {
        format!(" ({})", warnings.join("; "))
    };
    Err(Error::Other(format!(
        "{e}: the container was stopped and deleted{also}"
    )))
}

/// The first half of `start`: the process is let through the exec FIFO. Returns the state
/// and the lock, still held.
fn open_gate(store: &Store, id: &str) -> Result<(State, state::Lock), Error> {
    let lock = store.lock(id)?;
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
        // A timeout or EINTR is the same as no event: the loop checks again either way.
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
    Ok((st, lock))
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

/// The container's processes: every process in the cgroup nucleus made for it (never
/// chosen by namespace: a container may share the host's PID namespace). A container
/// without a cgroup of its own is an error rather than a guess.
pub fn pids(st: &State) -> Result<Vec<i32>, Error> {
    let leaves = own_leaves(st);
    if leaves.is_empty() {
        return Err(Error::Other(format!(
            "container '{}' has no cgroup of its own, so its processes cannot be told apart \
             from others",
            st.id
        )));
    }
    crate::linux::cgroups::procs(&leaves).map_err(|e| Error::Other(e.to_string()))
}

/// `kill`: sends `sig` to the container's process (`all`: to every process of its cgroup).
pub fn kill(store: &Store, id: &str, sig: Signal, all: bool) -> Result<(), Error> {
    let _lock = store.lock(id)?;
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let st = match (st, status) {
        (Some(st), Status::Created | Status::Running | Status::Paused) => st,
        (_, s) => return Err(status_err(id, s, "there is no process to signal")),
    };
    if all {
        let leaves = own_leaves(&st);
        if leaves.is_empty() {
            return Err(Error::Other(format!(
                "container '{id}' has no cgroup of its own: refusing --all (its processes \
                 cannot be told apart from the host's); signal its first process without --all"
            )));
        }
        return crate::linux::cgroups::signal_all(&leaves, sig)
            .map_err(|e| Error::Other(e.to_string()));
    }
    crate::linux::process::signal_verified(st.pid, st.start_time, sig)
        .map_err(|e| Error::Other(format!("kill {}: {e}", st.pid)))
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
    // Stopped or not, whatever is left of the container goes: processes still in its
    // cgroup (a container without its own PID namespace outlives its first process), its
    // cgroup directories; a record of a killed create names what it had made.
    if let Some(st) = &st {
        destroy(st)?;
    }
    // Every process is gone: the trace is complete.
    let mut warnings: Vec<String> = st
        .as_ref()
        .and_then(|st| st.trace.as_ref())
        .and_then(finish_trace)
        .into_iter()
        .collect();
    drop(lock);
    store.remove(id)?;
    warnings.extend(
        st.map(|st| hooks::run_all_warn("poststop", &st.poststop, &st.hook_input(Status::Stopped)))
            .unwrap_or_default(),
    );
    Ok(warnings)
}

/// `exec`: starts `spec` in a running (or created) container. Detached: returns its pid
/// at once. Otherwise waits and returns its exit status. Errors before the program runs
/// are errors.
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
            // A created container's process waits at the exec FIFO with its namespaces,
            // root and cgroup in place: an exec'd process joins them as for a running
            // one (runc allows it too).
            (Some(st), Status::Running | Status::Created) => st,
            (_, s) => {
                return Err(status_err(
                    id,
                    s,
                    "exec needs a running container (or a created one)",
                ))
            }
        }
    };
    let (_, mut prep, _) = prepare(&st.bundle)?;
    let mut reduced = None;
    if !crate::linux::capset::beyond_own_bounding(&spec.caps).is_empty() {
        let mut s = spec.clone();
        within_own_bounding(&mut s.caps, &mut prep.warnings);
        reduced = Some(s);
    }
    let spec = reduced.as_ref().unwrap_or(spec);
    // The new process outlives its intermediate parent: adopt it.
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| Error::Other(format!("prctl(PR_SET_CHILD_SUBREAPER): {e}")))?;
    let set = crate::linux::init::supervised_set();
    let blocked = match detach {
        true => None,
        false => Some(block_signals(&set)?),
    };
    let console_fd = console.as_ref().map(|c| c.as_raw_fd());
    // A traced container: the exec'd process is followed before it goes on.
    let follow = |pid: Pid| -> Result<(), crate::linux::init::Failure> {
        let t = st.trace.as_ref().expect("only with a trace");
        crate::linux::tracefs::follow_detached(&t.instance, pid.as_raw(), TRACE_EVENTS)
            .map_err(|e| crate::linux::init::Failure::new(format!("capability trace: {e}")))
    };
    let follow = st
        .trace
        .is_some()
        .then_some(&follow as &dyn Fn(Pid) -> Result<(), crate::linux::init::Failure>);
    let pid = crate::linux::exec::exec_in(
        st.pid,
        &st.cgroup_dirs,
        spec,
        prep.filters(),
        console_fd,
        follow,
    )
    .map_err(run::Error::from)?;
    if let Some(p) = pid_file {
        std::fs::write(p, pid.as_raw().to_string())
            .map_err(|e| Error::Other(format!("pid file {}: {e}", p.display())))?;
    }
    if detach {
        return Ok((0, prep.warnings));
    }
    let code = run::supervise(pid, &set, Duration::from_secs(10));
    drop(blocked);
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
        umask: c.umask,
        oom_score_adj: c.oom_score_adj,
        caps: c.caps,
        no_new_privs: c.no_new_privs,
        rlimits: c.rlimits,
        terminal: false,
        console_size: None,
        preserve_fds: 0,
        // An exec'd process stays inside the container's Landlock domain.
        landlock: c.landlock,
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
    if st.cgroup_dirs.is_empty() {
        return Err(Error::Other(format!(
            "container '{id}' has no cgroup (a rootless nucleus may not make one here and the \
             config asked for no limits), so it cannot be frozen"
        )));
    }
    crate::linux::cgroups::set_frozen(&st.cgroup_dirs, pause)
        .map_err(|e| Error::Other(e.to_string()))
}

/// `update`: overlays `change` (runc's `update --resources` document) on the container's
/// resources and applies the result to its own recorded cgroup, never any other. Every
/// value is checked before the first write; a write that fails midway restores those
/// before it. The new resources are saved so that later reads agree. Returns warnings.
pub fn update(
    store: &Store,
    id: &str,
    change: &oci_spec::runtime::LinuxResources,
) -> Result<Vec<String>, Error> {
    let _lock = store.lock(id)?;
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let mut st = match (st, status) {
        (Some(st), Status::Created | Status::Running | Status::Paused) => st,
        (_, s) => {
            return Err(status_err(
                id,
                s,
                "only a created, running or paused container can be updated",
            ))
        }
    };
    if st.cgroup_dirs.is_empty() {
        return Err(Error::Other(format!(
            "container '{id}' has no cgroup of its own to update"
        )));
    }
    let mut r = match st.resources.clone() {
        Some(r) => r,
        // A record from before resources were saved: the bundle's config says.
        None => oci::load(&st.bundle)?.config.resources,
    };
    let rules_before = r.devices.len();
    let mut warnings = crate::spec::resources::update_from_oci(change, &mut r)
        .map_err(|e| Error::Other(format!("update: {e}")))?;
    // Device rules first: a refused filter leaves every other setting as it was.
    if r.devices.len() > rules_before {
        crate::linux::cgroups::update_devices(
            &st.cgroup_dirs,
            &r.devices,
            &r.devices[rules_before..],
        )
        .map_err(|e| Error::Other(format!("update: {e}")))?;
    }
    warnings.extend(
        crate::linux::cgroups::update(&st.cgroup_dirs, &r)
            .map_err(|e| Error::Other(format!("update: {e}")))?,
    );
    // --systemd-cgroup: systemd keeps the unit's limits too (or would put back the old ones).
    if let Some(unit) = &st.systemd {
        if let Err(e) = crate::linux::systemd::set_limits(unit, &r) {
            warnings.push(format!(
                "the new limits are in force, but systemd was not told: {e}"
            ));
        }
    }
    st.resources = Some(r);
    store.save(&st)?;
    Ok(warnings)
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
    let blocked = block_signals(&set)?;
    let result = (|| {
        let (st, mut w) = create(store, id, o, true)?;
        match start(store, id) {
            Ok(more) => w.extend(more),
            Err(e) => {
                // Best-effort cleanup: the start error is what the caller must see; a
                // container left behind is reported by `list` and removed by delete -f.
                let _ = delete(store, id, true);
                return Err(e);
            }
        }
        let code = run::supervise(Pid::from_raw(st.pid), &set, grace);
        w.extend(delete(store, id, true)?);
        Ok((code, w))
    })();
    drop(blocked);
    result
}

/// Blocks the supervised signals until the guard drops (they are taken with sigwait).
fn block_signals(
    set: &nix::sys::signal::SigSet,
) -> Result<crate::linux::process::SignalsBlocked, Error> {
    crate::linux::process::SignalsBlocked::block(set)
        .map_err(|e| Error::Other(format!("sigprocmask: {e}")))
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
