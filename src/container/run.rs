//! The foreground run: set everything up, start the program, forward signals, wait, and
//! leave nothing behind (the namespaces die with their last process; the cgroup is removed).

use crate::caps::trace;
use crate::linux::channel::{self, FromChild, ToChild};
use crate::linux::init::{self, Failure};
use crate::linux::process::{KillOnDrop, SignalsBlocked};
use crate::linux::{cgroups, namespaces, rootfs, seccomp, tracefs};
use crate::spec::config::{Config, Seccomp};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
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
    Trace(#[from] tracefs::Error),
    #[error(transparent)]
    Landlock(#[from] crate::linux::landlock::Error),
    #[error(transparent)]
    Systemd(#[from] crate::linux::systemd::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Child { hint, .. } => hint.clone(),
            Error::Cgroup(e) => e.hint(),
            Error::Trace(e) => e.hint(),
            Error::Landlock(e) => e.hint(),
            Error::Systemd(e) => e.hint(),
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

/// The compiled filters, and warnings the caller should print: what this kernel's
/// Landlock cannot enforce (best effort), capabilities beyond the runtime's own bounding
/// set (`exec`).
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
        // profiles list several architectures' syscalls (seccomp::unknown_names).
        Seccomp::Oci(profile) => (seccomp::compile(profile)?, vec![]),
    };
    // Landlock: what this kernel cannot enforce is refused (strict) or warned about, before
    // any process exists. Nothing to do without a Landlock domain.
    if let Some(ll) = &cfg.landlock {
        warnings.extend(crate::linux::landlock::check(ll)?);
    }
    Ok(Prepared { filters, warnings })
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

fn pair<M: channel::Message>() -> Result<(channel::Receiver<M>, channel::Sender<M>), Error> {
    channel::pair().map_err(|e| Error::Setup(format!("pipe: {e}")))
}

impl From<Failure> for Error {
    fn from(f: Failure) -> Error {
        Error::Child {
            code: f.code,
            message: f.message,
            hint: f.hint,
        }
    }
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
    /// Tracing (`--trace-caps`, `--learn`, `--report-denials`, the OCI trace annotation):
    /// told the process's pid before it is let go, so it is observed from before its
    /// program's execve. None: no tracing, nothing extra happens.
    pub follow: Option<&'a FollowFn<'a>>,
    /// `--systemd-cgroup` with a `slice:prefix:name` cgroupsPath: the cgroup is a transient
    /// unit systemd makes (linux/systemd.rs). None: cgroupfs, and no D-Bus code runs.
    pub systemd: Option<&'a crate::linux::systemd::Request>,
}

/// Starts observing a container process (see `Launch::follow`).
pub type FollowFn<'a> = dyn Fn(Pid) -> Result<(), Error> + 'a;

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

/// The cgroup of a rootless nucleus (non-root, or root in a user namespace such as
/// rootless Podman's) after the kernel refused the full one, as runc's rootless cgroup
/// manager decides: the device rules are left out (only the initial namespace's root may
/// write them; a user namespace cannot make device nodes and reaches only the devices
/// its mount namespace gives it), and when even that cgroup may not be made and the
/// config asks for no limits (only for what nucleus adds itself: the freezer for pause),
/// the container runs without a cgroup: it cannot be paused, and `ps`/`kill --all` refuse.
/// Limits that cannot be applied stay a clear error. root in the initial namespace never
/// gets here: the hot path is unchanged, and /proc/self/uid_map is read only after a
/// refusal.
fn rootless_cgroup(
    r: &crate::spec::config::Resources,
    place: &cgroups::Place,
    record: &mut dyn FnMut(&cgroups::Plan) -> Result<(), cgroups::Error>,
) -> Result<Option<cgroups::Cgroup>, Error> {
    let mut r = r.clone();
    r.devices.clear();
    let mp = Path::new(cgroups::MOUNTPOINT);
    let only_freezer = r.controllers().iter().all(|c| *c == "freezer");
    let res = if r.any() {
        cgroups::Cgroup::create_recorded(mp, &cgroups::detect(mp), place, &r, record)
    } else {
        Err(cgroups::Error::Missing("freezer"))
    };
    match res {
        Ok(c) => Ok(Some(c)),
        Err(e) if only_freezer && (e.is_denied() || matches!(e, cgroups::Error::Missing(_))) => {
            // Nothing was made (create_recorded removed it): the record says so.
            record(&cgroups::Plan::default())?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// The cgroup2 leaf the container's process is born in (clone3 CLONE_INTO_CGROUP), when
/// there is one: pure v2 only (v1 and hybrid hosts need cgroup.procs writes), and not when
/// a user namespace is joined (a helper process clones there; it writes cgroup.procs).
/// NUCLEUS_CLONE_INTO_CGROUP=0 turns it off (measurements, or a kernel that misbehaves).
fn birth_cgroup(cfg: &Config, cgroup: Option<&cgroups::Cgroup>) -> Option<std::os::fd::OwnedFd> {
    if cfg.joins(CloneFlags::CLONE_NEWUSER).is_some()
        || std::env::var_os("NUCLEUS_CLONE_INTO_CGROUP").is_some_and(|v| v == "0")
    {
        return None;
    }
    cgroup?.birth_dir()
}

/// Creates the container's process and waits until it is at the gate (or has exec'd).
/// On failure nothing is left: the process is killed and the cgroup removed.
/// The container's cgroup, when the config has limits; recorded before it is made.
/// With --systemd-cgroup on v2 (`scope`) it is the unit's, which systemd makes once the
/// process exists (it goes in with it); on v1 nucleus places it in its hierarchies as
/// before and systemd adds its own.
fn make_cgroup(
    cfg: &Config,
    how: &Launch,
    scope: Option<&crate::linux::systemd::Scope>,
) -> Result<Option<cgroups::Cgroup>, Error> {
    if !cfg.resources.any() && scope.is_none() {
        return Ok(None);
    }
    {
        let mp = Path::new(cgroups::MOUNTPOINT);
        let mut record = |plan: &cgroups::Plan| match how.record {
            Some(f) => f(Record::Cgroup(plan)).map_err(|e| cgroups::Error::Io {
                path: mp.to_path_buf(),
                why: format!("recording the cgroup before it is made: {e}"),
            }),
            None => Ok(()),
        };
        if let Some(s) = scope {
            return Ok(Some(s.cgroup(&mut record)?));
        }
        match cgroups::Cgroup::create_recorded(
            mp,
            &cgroups::detect(mp),
            &how.cgroup,
            &cfg.resources,
            &mut record,
        ) {
            Ok(c) => Ok(Some(c)),
            Err(e) if e.is_denied() && crate::linux::userns::rootless() => {
                rootless_cgroup(&cfg.resources, &how.cgroup, &mut record)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The exec FIFO, opened O_PATH (the process reopens it for writing at the gate).
fn open_gate(gate: Option<&Path>) -> Result<Option<std::os::fd::OwnedFd>, Error> {
    Ok(match gate {
        Some(p) => Some(
            nix::fcntl::open(
                p,
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::Setup(format!("open {}: {e}", p.display())))?,
        ),
        None => None,
    })
}

pub fn launch(cfg: &Config, prep: &Prepared, how: &Launch) -> Result<Launched, Error> {
    // --systemd-cgroup: dropped on an error below, the scope stops its unit.
    let mut scope = how.systemd.map(crate::linux::systemd::Scope::plan);
    let sd_v2 =
        scope.is_some() && cgroups::detect(Path::new(cgroups::MOUNTPOINT)) == cgroups::Version::V2;
    let mut cgroup = make_cgroup(cfg, how, scope.as_ref().filter(|_| sd_v2))?;
    let gate = open_gate(how.gate)?;
    let cgroup_leaves: &[std::path::PathBuf] = cgroup.as_ref().map_or(&[], |c| &c.dirs);
    refuse_own_mount_ns(cfg)?;
    // Made with the runtime's host identity, before the container's process exists.
    let trees = rootfs::premount(cfg)?;
    // A systemd unit's cgroup exists only once systemd has made it, after the clone.
    let birth = birth_cgroup(cfg, cgroup.as_ref().filter(|_| scope.is_none()));
    let born_in_cgroup = std::cell::Cell::new(false);
    let (go_r, go_w) = pair::<ToChild>()?;
    let (err_r, err_w) = pair::<FromChild>()?;
    let close = [go_w.as_raw_fd(), err_r.as_raw_fd()];
    let mut slot = (Some(go_r), Some(err_w));
    let handoff = init::Handoff {
        cgroup: cgroup_leaves,
        gate: gate.as_ref().map(|g| g.as_raw_fd()),
        detached: how.detached,
        console: how.console,
        trees: &trees,
    };
    let mut spawn_child = || {
        let mut child = || {
            let (g, e) = (slot.0.take().expect("once"), slot.1.take().expect("once"));
            init::child_main(cfg, &prep.filters, g, e, &close, handoff)
        };
        if let Some(dir) = &birth {
            use std::os::fd::AsFd;
            match namespaces::spawn_into_cgroup(clone_flags(cfg), dir.as_fd(), &mut child) {
                Ok(Some(pid)) => {
                    born_in_cgroup.set(true);
                    return Ok(pid);
                }
                // No clone3 here: the child did not run; clone and cgroup.procs below.
                Ok(None) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        namespaces::spawn(clone_flags(cfg), Box::new(child)).map_err(|e| e.to_string())
    };
    let mut spawn = || match cfg.joins(CloneFlags::CLONE_NEWUSER) {
        None => spawn_child().map_err(Error::Setup),
        Some(p) => Ok(namespaces::spawn_in_user_ns(p, &mut spawn_child)?),
    };
    let spawned = match cfg.joins(CloneFlags::CLONE_NEWPID) {
        None => spawn(),
        Some(p) => namespaces::in_pid_ns(p, spawn)?,
    };
    let pid = spawned?;
    log::debug!("launch: container process {pid} cloned");
    drop(slot);
    drop(gate);
    let guard = KillOnDrop::new(pid);
    if let Some(f) = how.record {
        f(Record::Pid(pid))?;
    }
    if let Some((uids, gids)) = &cfg.id_maps {
        namespaces::write_id_maps(pid, uids, gids)?;
    }
    // The process waits for Go: following it now sees everything its program does.
    if let Some(f) = how.follow {
        f(pid)?;
    }
    let placed = Placed {
        born_in_cgroup: born_in_cgroup.get(),
        sd_v2,
    };
    let_go(cfg, how, pid, cgroup.as_mut(), placed, scope.as_mut(), go_w)?;
    log::debug!("launch: go and joined sent");
    set_up_result(&err_r)?;
    if let Some(s) = scope.as_mut() {
        s.keep();
    }
    Ok(Launched {
        pid: guard.release(),
        cgroup,
    })
}

/// How the process got into its cgroup before Joined: born there (CLONE_INTO_CGROUP), or
/// put there by systemd (a v2 unit's cgroup, `sd_v2`); otherwise through cgroup.procs.
#[derive(Clone, Copy)]
struct Placed {
    born_in_cgroup: bool,
    sd_v2: bool,
}

/// Sends Go (with the state document for the container's hooks) and, once the process
/// is in its cgroup, Joined. On cgroup v1 the first write to a cgroup.procs waits for an
/// RCU grace period (several ms): without prestart/createRuntime hooks (which must see
/// the process in its cgroup) the process gets Go first and builds its root meanwhile;
/// it waits for Joined before it pivots, runs a hook, forks or executes anything.
fn let_go(
    cfg: &Config,
    how: &Launch,
    pid: Pid,
    mut cgroup: Option<&mut cgroups::Cgroup>,
    placed: Placed,
    scope: Option<&mut crate::linux::systemd::Scope>,
    go_w: channel::Sender<ToChild>,
) -> Result<(), Error> {
    let hooks_first = !cfg.hooks.prestart.is_empty() || !cfg.hooks.create_runtime.is_empty();
    let state = |pid| how.on_spawn.map_or(Ok(vec![]), |f| f(pid));
    let go = |state: Vec<u8>| {
        go_w.send(&ToChild::Go { state })
            .map_err(|e| Error::Setup(format!("starting the container: {e}")))
    };
    if !hooks_first {
        go(state(pid)?)?;
    }
    if let Some(cg) = cgroup
        .as_deref()
        .filter(|_| !placed.born_in_cgroup && !placed.sd_v2)
    {
        cg.add(pid.as_raw())?;
    }
    if let Some(s) = scope {
        let w = s.start(pid.as_raw(), &cfg.resources, placed.sd_v2)?;
        if let Some(cg) = cgroup.as_mut() {
            cg.warnings.extend(w);
        }
    }
    if hooks_first {
        go(state(pid)?)?;
    }
    // A process that failed meanwhile has closed its end (EPIPE): its report says why.
    match go_w.send(&ToChild::Joined) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
        Err(e) => return Err(Error::Setup(format!("starting the container: {e}"))),
    }
    drop(go_w);
    Ok(())
}

/// Building a root inside the runtime's own mount namespace would pivot the host's.
fn refuse_own_mount_ns(cfg: &Config) -> Result<(), Error> {
    if let Some(p) = cfg.joins(CloneFlags::CLONE_NEWNS) {
        if namespaces::is_own_mount_ns(p)? {
            return Err(Error::Setup(format!(
                "namespace {} is nucleus' own mount namespace: building the container's root \
                 there would replace the host's; give a mount namespace of its own",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Reads the child's reports until it is at the gate (Ready) or has exec'd (EOF); its
/// debug records are logged on the way.
pub(crate) fn set_up_result(err: &channel::Receiver<FromChild>) -> Result<(), Error> {
    loop {
        match err.recv() {
            Ok(FromChild::Log(r)) => crate::logging::replay(&r),
            Ok(FromChild::Ready) => {
                log::debug!("launch: the container process is at the exec gate");
                return Ok(());
            }
            Err(channel::Error::Eof) => return Ok(()),
            Ok(FromChild::Failed(f)) => return Err(f.into()),
            Ok(FromChild::Pid(_)) => {
                return Err(Error::Setup("reading set-up result: unexpected pid".into()))
            }
            Err(e) => return Err(Error::Setup(format!("reading set-up result: {e}"))),
        }
    }
}

/// Runs the container in the foreground; returns the program's exit status (128+N when
/// killed by signal N) and, when `trace` asks, what was recorded and written.
pub fn run(
    cfg: &Config,
    prep: &Prepared,
    grace: Duration,
    trace: &Tracing,
) -> Result<Outcome, Error> {
    let set = init::supervised_set();
    let blocked =
        SignalsBlocked::block(&set).map_err(|e| Error::Setup(format!("sigprocmask: {e}")))?;
    // After the mask: the tracer's reader thread inherits it, so the forwarded signals
    // reach the supervisor's sigtimedwait, and a Ctrl-C still ends in the cleanup below.
    let result = start_tracer(trace).and_then(|tracer| {
        let follow = |pid: Pid| match &tracer {
            Some(t) => t.follow(pid.as_raw()).map_err(Error::from),
            None => Ok(()),
        };
        let how = Launch {
            gate: None,
            detached: false,
            cgroup: cgroups::Place::Root(one_shot_cgroup(cfg)?),
            on_spawn: None,
            console: None,
            record: None,
            follow: tracer.is_some().then_some(&follow as &FollowFn),
            systemd: None,
        };
        let code = launch(cfg, prep, &how).map(|mut l| {
            let code = supervise(l.pid, &set, grace);
            if let Some(cg) = l.cgroup.as_mut() {
                cg.remove();
            }
            code
        })?;
        Ok((code, tracer))
    });
    drop(blocked);
    // On any error the tracer is dropped on the way out, which removes its instance.
    let (code, tracer) = result?;
    let mut out = Outcome {
        code,
        denials: None,
        warnings: vec![],
    };
    if let Some(t) = tracer {
        let report = t.finish()?;
        out.warnings = save_trace(cfg, &report, trace)?;
        out.denials = trace.denials.map(|f| render_denials(&report, f));
    }
    Ok(out)
}

// ---- Tracing a one-shot run (--trace-caps, --learn, --report-denials) ----

/// What to record while the program runs and where it goes. All empty: nothing is traced
/// and tracefs is never touched.
#[derive(Debug, Default)]
pub struct Tracing {
    /// --trace-caps FILE: the full report as JSON.
    pub report: Option<std::path::PathBuf>,
    /// --learn DIR: caps.json, seccomp.json, report.json, report.txt.
    pub learn: Option<std::path::PathBuf>,
    /// --report-denials: what the kernel refused, printed when the program has ended.
    pub denials: Option<DenialFormat>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialFormat {
    Text,
    Json,
}

impl Tracing {
    /// The events to record: capability checks always; syscalls for a seccomp profile
    /// (--learn) and for seccomp refusals (--report-denials).
    fn events(&self) -> Option<tracefs::Events> {
        let syscalls = self.learn.is_some() || self.denials.is_some();
        (self.report.is_some() || syscalls).then_some(tracefs::Events {
            caps: true,
            syscalls,
        })
    }
}

/// A finished run.
pub struct Outcome {
    pub code: i32,
    /// The denial report (--report-denials), to print.
    pub denials: Option<String>,
    /// Things the learned profile could not say (e.g. a syscall number without a name).
    pub warnings: Vec<String>,
}

fn start_tracer(trace: &Tracing) -> Result<Option<tracefs::Tracer>, Error> {
    match trace.events() {
        Some(ev) => Ok(Some(tracefs::Tracer::start(ev)?)),
        None => Ok(None),
    }
}

fn syscall_name(nr: i64) -> Option<String> {
    tracefs::syscall_name(nr)
}

/// Seccomp refusals are seen on the raw_syscalls tracepoints as a `sys_exit` without a
/// `sys_enter`: the kernel runs the filter (`secure_computing`) before the enter
/// tracepoint and, when the filter refuses, skips the syscall and its enter event but
/// still reports the exit with the filter's errno. That is exact (every refusal, with its
/// errno, attributed to its process) and needs nothing from the program's side. The
/// alternatives were worse: SECCOMP_RET_LOG goes to the global audit log (needs auditd or
/// the kernel log, is rate limited and mixes every container's lines, and a filter that
/// logs instead of refusing changes what the program sees); a user-notification supervisor
/// (SECCOMP_RET_USER_NOTIF) changes the semantics (the supervisor answers in place of the
/// kernel) and costs a round trip per refused call.
fn render_denials(report: &trace::Report, format: DenialFormat) -> String {
    match format {
        DenialFormat::Text => report.render_denials(&syscall_name),
        DenialFormat::Json => {
            let syscalls: Vec<serde_json::Value> = report
                .seccomp_refused
                .iter()
                .map(|(nr, r)| {
                    serde_json::json!({
                        "syscall": syscall_name(*nr).unwrap_or_else(|| format!("#{nr}")),
                        "nr": nr,
                        "errno": r.errno,
                        "count": r.count,
                        "first": r.first,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "capabilities": report.denied_caps(),
                "syscalls": syscalls,
                "lost_events": report.lost_events,
            });
            format!("{doc}\n")
        }
    }
}

/// Writes what the trace asked for; returns warnings.
fn save_trace(cfg: &Config, report: &trace::Report, trace: &Tracing) -> Result<Vec<String>, Error> {
    let json = serde_json::to_string_pretty(report).expect("a report serializes");
    if let Some(path) = &trace.report {
        save(path, &json)?;
    }
    let Some(dir) = &trace.learn else {
        return Ok(vec![]);
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Setup(format!("--learn {}: {e}", dir.display())))?;
    let (profile, warnings) = learned_seccomp(cfg, report);
    save(&dir.join("caps.json"), &report.minimal_policy_json())?;
    save(
        &dir.join("seccomp.json"),
        &serde_json::to_string_pretty(&profile).expect("a profile serializes"),
    )?;
    save(&dir.join("report.json"), &json)?;
    let mut text = report.render_text(&syscall_name);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    save(&dir.join("report.txt"), &text)?;
    Ok(warnings)
}

/// The learned OCI seccomp profile: the program's own syscalls (recorded from its execve
/// on), refused ones answered as they were, plus the runtime's tail (seccomp::RUNTIME_TAIL).
fn learned_seccomp(cfg: &Config, report: &trace::Report) -> (serde_json::Value, Vec<String>) {
    let mut warnings = vec![];
    let mut used = std::collections::BTreeSet::new();
    for nr in report.syscalls.keys() {
        match syscall_name(*nr) {
            Some(n) => {
                used.insert(n);
            }
            None => warnings.push(format!(
                "--learn: syscall number {nr} has no name in nucleus' table: not in seccomp.json"
            )),
        }
    }
    let refused = report
        .seccomp_refused
        .iter()
        .filter_map(|(nr, r)| Some((syscall_name(*nr)?, u32::try_from(r.errno).ok()?)))
        .collect();
    let profile = seccomp::learned_profile(&used, &refused, !cfg.no_new_privs);
    (profile, warnings)
}

fn save(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::Setup(format!("writing {}: {e}", path.display())))
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
            // Ignored: ESRCH means it exited meanwhile; waitpid above sees it next.
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
            // Ignored: ESRCH means it is exiting, and its SIGCHLD comes next.
            let _ = nix::sys::signal::kill(pid, sig);
            if sig == Signal::SIGTERM && deadline.is_none() {
                deadline = Some(Instant::now() + grace);
            }
        }
    }
}
