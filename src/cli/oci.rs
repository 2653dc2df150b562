//! runc's command line: the OCI verbs, so Podman and containerd can drive nucleus.

use super::print_json;
use crate::container::oci::{self, CreateOpts};
use crate::container::state::{Status, Store};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// runc's global flags.
#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Root directory for container state (default /run/nucleus, or
    /// $XDG_RUNTIME_DIR/nucleus when not root).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write warnings to FILE instead of stderr, and errors to both.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Let systemd manage the cgroup: with linux.cgroupsPath `slice:prefix:name`, ask
    /// systemd over D-Bus (rootless: the user's own manager) for the transient unit
    /// prefix-name.scope in that slice, with Delegate=yes and the limits as properties
    /// (the rest are written into its cgroup); delete stops the unit. Other
    /// cgroupsPaths are managed through cgroupfs, as without this flag.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Debug records of the runtime and of the container's set-up (up to its exec gate)
    /// to --log (else stderr), in --log-format.
    #[arg(long, global = true)]
    pub debug: bool,
}

impl Global {
    /// The state store under --root, which must be a directory or not exist yet (create
    /// makes it). Anything else is refused here, before any verb touches it.
    pub fn store(&self) -> Result<Store> {
        let root = self.root.clone().unwrap_or_else(Store::default_root);
        Ok(Store::open(root)?)
    }

    /// Appends one record to --log (what containerd and Podman read errors from).
    pub fn log(&self, level: &str, msg: &str) {
        let Some(path) = &self.log else { return };
        let line = crate::logging::line(level, msg, self.log_format == "json");
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            // Best effort: the line also went to stderr, and a log that cannot be written
            // must not turn a warning into a failure.
            let _ = writeln!(f, "{line}");
        }
    }

    /// A warning goes to --log when there is one (as runc's do: clients such as Docker
    /// copy the runtime's stderr into the container's output), else to stderr.
    fn warn(&self, msg: &str) {
        match &self.log {
            Some(_) => self.log("warning", msg),
            None => eprintln!("nucleus: warning: {msg}"),
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The bundle directory (holds config.json).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// Write the container process's PID here.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master (needs process.terminal).
    #[arg(long, value_name = "SOCK")]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility (nucleus always uses pivot_root).
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility (nucleus creates no session keyring).
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass N extra descriptors (3…3+N-1) on to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container ID.
    id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// An OCI process.json describing the process (instead of the options below).
    #[arg(long, short = 'p', value_name = "FILE")]
    process: Option<PathBuf>,
    /// Allocate a terminal; its master goes to --console-socket.
    #[arg(long, short = 't')]
    tty: bool,
    /// Return once the process has started.
    #[arg(long, short = 'd')]
    detach: bool,
    /// Write the new process's PID here.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master (with --tty).
    #[arg(long, value_name = "SOCK")]
    console_socket: Option<PathBuf>,
    /// The terminal's window size, set before the program runs (with --tty; in a
    /// process.json: consoleSize).
    #[arg(long, value_name = "ROWS,COLUMNS")]
    console_size: Option<String>,
    /// Run as UID[:GID] (default: the container's user).
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    user: Option<String>,
    /// Working directory (default: the container's).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable).
    #[arg(long, short = 'e', value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Add a capability (to bounding, permitted and effective).
    #[arg(long, short = 'c', value_name = "CAP")]
    cap: Vec<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    no_new_privs: bool,
    /// Pass N extra descriptors (3…3+N-1) on to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Container ID.
    id: String,
    /// The command (without --process).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// runc's `update` flags. Byte counts take runc's suffixes (k, m, g, t, p; `100m`);
/// -1 lifts a limit; 0 or absent leaves a setting as it is.
#[derive(Args, Debug)]
#[command(
    after_help = "With --resources (a JSON file of OCI linux.resources, or '-' for \
stdin: memory limit/reservation/swap, cpu shares/quota/period/realtimeRuntime/\
realtimePeriod/cpus/mems, pids limit, blockIO weight, unified) no other flag may be given. \
Only the container's own cgroup is written; the new values are saved in its state."
)]
pub struct UpdateArgs {
    /// OCI linux.resources JSON to apply, from FILE or '-' (stdin).
    #[arg(long, short = 'r', value_name = "FILE|-")]
    resources: Option<PathBuf>,
    /// Memory limit in bytes (suffixes k, m, g…; -1: unlimited).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory: Option<String>,
    /// Memory plus swap in bytes; -1: unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory reservation (soft limit) in bytes.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    memory_reservation: Option<String>,
    /// Ignored with a warning: Linux removed kernel memory limits.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    kernel_memory: Option<String>,
    /// Ignored with a warning: Linux removed kernel memory limits.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    kernel_memory_tcp: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share", alias = "cpu-shares", value_name = "N")]
    cpu_share: Option<u64>,
    /// CFS quota in microseconds per period (-1: unlimited).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long, value_name = "US")]
    cpu_period: Option<u64>,
    /// Real-time runtime in microseconds per real-time period (cgroup v1).
    #[arg(long, value_name = "US")]
    cpu_rt_runtime: Option<i64>,
    /// Real-time period in microseconds (cgroup v1).
    #[arg(long, value_name = "US")]
    cpu_rt_period: Option<u64>,
    /// CPUs to use (`0-1`, `0,2`).
    #[arg(long, value_name = "LIST")]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long, value_name = "LIST")]
    cpuset_mems: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Block IO weight, 10 to 1000.
    #[arg(long, value_name = "N")]
    blkio_weight: Option<u16>,
    /// Refused: nucleus does not drive Intel RDT.
    #[arg(long, value_name = "SCHEMA")]
    l3_cache_schema: Option<String>,
    /// Refused: nucleus does not drive Intel RDT.
    #[arg(long, value_name = "SCHEMA")]
    mem_bw_schema: Option<String>,
    /// Container ID.
    id: String,
}

#[derive(Subcommand, Debug)]
pub enum OciCmd {
    /// Write a default config.json into the bundle directory (runc spec).
    Spec {
        /// A spec for a non-root user: a user namespace maps the caller to root.
        #[arg(long)]
        rootless: bool,
        #[arg(long, short = 'b', default_value = ".")]
        bundle: PathBuf,
    },
    /// Create a container: set everything up and wait before running the program.
    Create(CreateArgs),
    /// Run the program of a created container.
    Start { id: String },
    /// Print the OCI state of a container (JSON).
    State { id: String },
    /// List containers.
    List {
        /// table or json
        #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Only the IDs.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Send a signal (default TERM) to a container.
    Kill {
        /// To every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a container (--force: kill it first if it runs).
    Delete {
        #[arg(long, short = 'f')]
        force: bool,
        id: String,
    },
    /// List the processes of a container.
    Ps {
        /// table or json
        #[arg(long, short = 'f', default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        /// Accepted for runc compatibility.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print the features this runtime supports (OCI features JSON).
    Features,
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Run a new process in a running container.
    Exec(ExecArgs),
    /// Print a container's events as JSON lines, as runc does: a stats record every
    /// --interval and an `oom` record whenever its memory cgroup hits OOM, until the
    /// container stops (or --stats: one stats record, then exit).
    Events {
        /// Print one stats record and exit.
        #[arg(long)]
        stats: bool,
        /// Time between stats records (Go duration syntax: 5s, 500ms, 1m).
        #[arg(long, value_name = "DURATION", default_value = "5s")]
        interval: String,
        /// Container ID.
        id: String,
    },
    /// Change the resource limits of a created, running or paused container (runc's
    /// update): its own cgroup and its saved state.
    Update(UpdateArgs),
}

fn create_opts<'a>(g: &Global, a: &'a CreateArgs) -> Result<CreateOpts<'a>> {
    check_preserve(a.preserve_fds)?;
    Ok(CreateOpts {
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        systemd_cgroup: g.systemd_cgroup,
        preserve_fds: a.preserve_fds,
    })
}

/// `--preserve-fds N`: descriptors 3…3+N-1 must be open here to be passed on.
pub fn check_preserve(n: u32) -> Result<()> {
    for fd in 3..3 + n as i32 {
        if !crate::linux::process::fd_is_open(fd) {
            return Err(Error::Usage(format!(
                "--preserve-fds {n}: descriptor {fd} is not open in nucleus (pass only \
                 descriptors the caller holds open)"
            )));
        }
    }
    Ok(())
}

/// OCI `run ID`: create and start; wait for the container unless `detach`.
pub fn run_oci(g: &Global, id: &str, o: &CreateOpts, detach: bool) -> Result<i32> {
    let store = g.store().inspect_err(|e| g.log("error", &e.to_string()))?;
    let r = oci::run_container(&store, id, o, detach, std::time::Duration::from_secs(10));
    match r {
        Ok((code, warnings)) => {
            warnings.iter().for_each(|w| g.warn(w));
            Ok(code)
        }
        Err(e) => {
            g.log("error", &e.to_string());
            Err(e.into())
        }
    }
}

fn print_state(st: &crate::container::state::State, status: Status) {
    print_json(&st.oci(status));
}

/// Runs one OCI verb; errors are also written to --log.
pub fn run(g: &Global, cmd: OciCmd) -> Result<i32> {
    let r = run_inner(g, cmd);
    if let Err(e) = &r {
        g.log("error", &e.to_string());
    }
    r
}

fn run_inner(g: &Global, cmd: OciCmd) -> Result<i32> {
    // `spec` and `features` need no state: a bad --root does not stop them.
    let store = || g.store();
    match cmd {
        OciCmd::Spec { rootless, bundle } => {
            let path = bundle.join("config.json");
            if path.exists() {
                return Err(Error::Usage(format!(
                    "{} already exists; remove it first",
                    path.display()
                )));
            }
            let text = serde_json::to_string_pretty(&crate::spec::default::default_spec(rootless))
                .expect("serializes");
            std::fs::write(&path, text + "\n")
                .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
            Ok(0)
        }
        OciCmd::Create(a) => {
            let (_, warnings) = oci::create(&store()?, &a.id, &create_opts(g, &a)?, false)?;
            warnings.iter().for_each(|w| g.warn(w));
            Ok(0)
        }
        OciCmd::Start { id } => {
            oci::start(&store()?, &id)?.iter().for_each(|w| g.warn(w));
            Ok(0)
        }
        OciCmd::State { id } => {
            let (st, status) = oci::state(&store()?, &id)?;
            match st {
                Some(st) => print_state(&st, status),
                None => print_json(
                    &serde_json::json!({"ociVersion": "1.0.2", "id": id, "status": "creating", "pid": 0, "bundle": ""}),
                ),
            }
            Ok(0)
        }
        OciCmd::List { format, quiet } => {
            let mut rows = Vec::new();
            let store = store()?;
            for id in store.ids()? {
                if let Ok((Some(st), status)) = oci::state(&store, &id) {
                    rows.push((st, status));
                }
            }
            if quiet {
                rows.iter().for_each(|(st, _)| outln!("{}", st.id));
            } else if format == "json" {
                let v: Vec<_> = rows
                    .iter()
                    .map(|(st, status)| serde_json::json!({"ociVersion": st.oci_version, "id": st.id, "pid": if *status == Status::Stopped { 0 } else { st.pid }, "status": status, "bundle": st.bundle, "rootfs": st.rootfs, "created": st.created, "owner": st.owner, "annotations": st.annotations}))
                    .collect();
                print_json(&v);
            } else {
                outln!(
                    "{:<20} {:<8} {:<10} {:<40} {:<22} OWNER",
                    "ID",
                    "PID",
                    "STATUS",
                    "BUNDLE",
                    "CREATED"
                );
                for (st, status) in &rows {
                    let pid = if *status == Status::Stopped {
                        0
                    } else {
                        st.pid
                    };
                    outln!(
                        "{:<20} {:<8} {:<10} {:<40} {:<22} {}",
                        st.id,
                        pid,
                        status.as_str(),
                        st.bundle.display(),
                        st.created,
                        st.owner
                    );
                }
            }
            Ok(0)
        }
        OciCmd::Kill { all, id, signal } => {
            let sig = oci::parse_signal(&signal)?;
            oci::kill(&store()?, &id, sig, all)?;
            Ok(0)
        }
        OciCmd::Delete { force, id } => {
            oci::delete(&store()?, &id, force)?
                .iter()
                .for_each(|w| g.warn(w));
            Ok(0)
        }
        OciCmd::Ps { format, id, .. } => {
            let (st, status) = oci::state(&store()?, &id)?;
            let pids = match (st, status) {
                (Some(st), Status::Created | Status::Running | Status::Paused) => oci::pids(&st)?,
                _ => vec![],
            };
            if format == "json" {
                print_json(&pids);
            } else {
                outln!("{:>8} CMD", "PID");
                for p in pids {
                    let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
                    let cmd: Vec<String> = cmd
                        .split(|b| *b == 0)
                        .filter(|s| !s.is_empty())
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect();
                    outln!("{p:>8} {}", cmd.join(" "));
                }
            }
            Ok(0)
        }
        OciCmd::Features => {
            print_json(&features());
            Ok(0)
        }
        OciCmd::Exec(a) => exec(g, &store()?, a),
        OciCmd::Pause { id } => {
            oci::set_paused(&store()?, &id, true)?;
            Ok(0)
        }
        OciCmd::Resume { id } => {
            oci::set_paused(&store()?, &id, false)?;
            Ok(0)
        }
        OciCmd::Events {
            stats,
            interval,
            id,
        } => events(g, &store()?, &id, stats, &interval),
        OciCmd::Update(a) => update(g, &store()?, a),
    }
}

/// `events`: one JSON record per line on stdout, flushed as it is made; a closed stdout
/// ends the stream quietly.
fn events(g: &Global, store: &Store, id: &str, stats: bool, interval: &str) -> Result<i32> {
    use std::io::Write;
    let interval = crate::container::stats::parse_duration(interval)
        .map_err(|e| Error::Usage(format!("--interval: {e}")))?;
    let opts = crate::container::events::Opts {
        stats_only: stats,
        interval,
    };
    let mut out = std::io::stdout().lock();
    let mut emit = |e: &crate::container::events::Event| {
        let line = serde_json::to_string(e).expect("events serialize");
        writeln!(out, "{line}")?;
        out.flush()
    };
    crate::container::events::events(store, id, opts, &mut emit, &mut |w| g.warn(w))?;
    Ok(0)
}

fn exec(g: &Global, store: &Store, a: ExecArgs) -> Result<i32> {
    check_preserve(a.preserve_fds)?;
    let (spec, mut warnings) = match &a.process {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| Error::Usage(format!("{}: {e}", f.display())))?;
            crate::spec::oci::exec_process(&text).map_err(oci::Error::from)?
        }
        None => {
            if a.cmd.is_empty() {
                return Err(Error::Usage(
                    "give the command to run after the container ID (or --process FILE)".into(),
                ));
            }
            let mut s = oci::config_process(store, &a.id)?;
            s.args = a.cmd.clone();
            for e in &a.env {
                let Some((k, _)) = e.split_once('=') else {
                    return Err(Error::Usage(format!(
                        "invalid env '{e}': expected NAME=VALUE"
                    )));
                };
                s.env.retain(|x| !x.starts_with(&format!("{k}=")));
                s.env.push(e.clone());
            }
            if let Some(c) = &a.cwd {
                s.cwd = c.clone();
            }
            if let Some(u) = &a.user {
                s.user = crate::linux::identity::Identity::parse(u, &[])?;
            }
            let add = crate::caps::CapSet::parse_lists(&a.cap)?;
            s.caps.bounding = s.caps.bounding | add;
            s.caps.permitted = s.caps.permitted | add;
            s.caps.effective = s.caps.effective | add;
            s.no_new_privs |= a.no_new_privs;
            (s, vec![])
        }
    };
    let mut spec = spec;
    spec.terminal |= a.tty;
    spec.preserve_fds = a.preserve_fds;
    if let Some(s) = &a.console_size {
        spec.console_size = Some(console_size(s, spec.terminal)?);
    }
    let (code, w) = oci::exec(
        store,
        &a.id,
        &spec,
        a.detach,
        a.pid_file.as_deref(),
        a.console_socket.as_deref(),
    )?;
    warnings.extend(w);
    warnings.iter().for_each(|w| g.warn(w));
    Ok(code)
}

/// `--console-size ROWS,COLUMNS` (a terminal's window size; it needs a terminal).
fn console_size(s: &str, terminal: bool) -> Result<(u16, u16)> {
    let bad = || {
        Error::Usage(format!(
            "--console-size '{s}': expected ROWS,COLUMNS, each 1 to 65535 (e.g. 24,80)"
        ))
    };
    let (r, c) = s.split_once([',', 'x']).ok_or_else(bad)?;
    let (r, c): (u16, u16) = (
        r.trim().parse().map_err(|_| bad())?,
        c.trim().parse().map_err(|_| bad())?,
    );
    if r == 0 || c == 0 {
        return Err(bad());
    }
    if !terminal {
        return Err(Error::Usage(
            "--console-size needs a terminal: add --tty (or process.terminal in --process)".into(),
        ));
    }
    Ok((r, c))
}

/// The OCI features document: what config.json settings this runtime implements, built
/// from the tables the config parser and the seccomp translation use (they cannot drift).
pub fn features() -> serde_json::Value {
    use crate::linux::seccomp;
    use crate::spec::oci as spec;
    let caps: Vec<&str> = crate::caps::CapSet::all_known().names();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": spec::SPEC_VERSION,
        "hooks": spec::HOOK_NAMES,
        "mountOptions": crate::spec::mount_options::supported(),
        "linux": {
            "namespaces": spec::NAMESPACE_NAMES,
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::OCI_ACTIONS,
                "operators": seccomp::OCI_OPERATORS,
                "archs": seccomp::OCI_ARCHES,
                "knownFlags": seccomp::OCI_FLAGS,
                "supportedFlags": seccomp::OCI_FLAGS
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "run.nucleus.version": env!("CARGO_PKG_VERSION"),
            "run.nucleus.commit": env!("NUCLEUS_COMMIT"),
            crate::container::oci::TRACE_ANNOTATION: "supported: name of a capability trace report",
            crate::container::oci::CGROUPS_ANNOTATION: "supported: every-hierarchy (cgroup v1: a cgroup in every hierarchy, as runc)"
        }
    })
}

/// A byte count as runc's update takes it: `-1`, or a number with an optional binary
/// suffix (k, m, g, t, p; optionally followed by b or ib), e.g. `100m`, `1.5g`.
pub fn parse_bytes(flag: &str, v: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "--{flag} '{v}': give bytes, optionally with a suffix such as 100m or 1g (-1: \
             unlimited)"
        ))
    };
    let t = v.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let t = t
        .strip_suffix("ib")
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(&t);
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if "kmgtp".contains(c) => {
            let p = "kmgtp".find(c).unwrap_or(0) as u32 + 1;
            (&t[..i], 1024f64.powi(p as i32))
        }
        _ => (t, 1.0),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 || num.starts_with(['+', '-']) {
        return Err(bad());
    }
    let bytes = n * mult;
    if bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// `update`: runc's flags (or --resources) as an OCI linux.resources document.
fn update_request(a: &UpdateArgs) -> Result<(oci_spec::runtime::LinuxResources, Vec<String>)> {
    use serde_json::{json, Map, Value};
    let mut warnings = Vec::new();
    for (flag, set) in [
        ("l3-cache-schema", a.l3_cache_schema.is_some()),
        ("mem-bw-schema", a.mem_bw_schema.is_some()),
    ] {
        if set {
            return Err(Error::Usage(format!(
                "--{flag}: nucleus does not drive Intel RDT (linux.intelRdt)"
            )));
        }
    }
    let flags_given = a.memory.is_some()
        || a.memory_swap.is_some()
        || a.memory_reservation.is_some()
        || a.kernel_memory.is_some()
        || a.kernel_memory_tcp.is_some()
        || a.cpu_share.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some()
        || a.pids_limit.is_some()
        || a.blkio_weight.is_some();
    if let Some(f) = &a.resources {
        if flags_given {
            return Err(Error::Usage(
                "--resources and the other update flags exclude each other (runc would \
                 silently ignore the flags): put every value in the JSON"
                    .into(),
            ));
        }
        let text = if f.as_os_str() == "-" {
            let mut t = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                .map_err(|e| Error::Usage(format!("--resources -: reading stdin: {e}")))?;
            t
        } else {
            std::fs::read_to_string(f)
                .map_err(|e| Error::Usage(format!("--resources {}: {e}", f.display())))?
        };
        let r = serde_json::from_str(&text).map_err(|e| {
            Error::Usage(format!(
                "--resources {}: not an OCI linux.resources document: {e}",
                f.display()
            ))
        })?;
        return Ok((r, warnings));
    }
    if !flags_given {
        return Err(Error::Usage(
            "nothing to update: give --resources FILE|- or a flag such as --memory 100m \
             (see nucleus update --help)"
                .into(),
        ));
    }
    if a.kernel_memory.is_some() || a.kernel_memory_tcp.is_some() {
        warnings.push(
            "--kernel-memory/--kernel-memory-tcp are ignored (kernel memory limits were \
             removed from Linux)"
                .into(),
        );
    }
    let mut memory = Map::new();
    for (key, flag, v) in [
        ("limit", "memory", &a.memory),
        ("swap", "memory-swap", &a.memory_swap),
        ("reservation", "memory-reservation", &a.memory_reservation),
    ] {
        if let Some(v) = v {
            memory.insert(key.into(), json!(parse_bytes(flag, v)?));
        }
    }
    let mut cpu = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(k.into(), v);
        }
    };
    put("shares", a.cpu_share.map(|v| json!(v)));
    put("quota", a.cpu_quota.map(|v| json!(v)));
    put("period", a.cpu_period.map(|v| json!(v)));
    put("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v)));
    put("realtimePeriod", a.cpu_rt_period.map(|v| json!(v)));
    put("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("mems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    let mut doc = Map::new();
    if !memory.is_empty() {
        doc.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        doc.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = a.pids_limit {
        doc.insert("pids".into(), json!({ "limit": p }));
    }
    if let Some(w) = a.blkio_weight {
        doc.insert("blockIO".into(), json!({ "weight": w }));
    }
    let r = serde_json::from_value(Value::Object(doc))
        .map_err(|e| Error::Usage(format!("update: {e}")))?;
    Ok((r, warnings))
}

fn update(g: &Global, store: &Store, a: UpdateArgs) -> Result<i32> {
    let (r, mut warnings) = update_request(&a)?;
    warnings.extend(oci::update(store, &a.id, &r)?);
    warnings.iter().for_each(|w| g.warn(w));
    Ok(0)
}

#[cfg(test)]
mod update_tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_take_runc_suffixes() {
        assert_eq!(parse_bytes("memory", "-1").unwrap(), -1);
        assert_eq!(parse_bytes("memory", "1048576").unwrap(), 1 << 20);
        assert_eq!(parse_bytes("memory", "100m").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("memory", "100MB").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("memory", "1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("memory", "1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("memory", "64b").unwrap(), 64);
        for bad in ["", "m", "-2", "ten", "1x", "-5m", "1e400"] {
            assert!(parse_bytes("memory", bad).is_err(), "{bad}");
        }
    }
}
