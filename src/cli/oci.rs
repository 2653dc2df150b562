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
    /// Also write errors and warnings to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Accepted for runc compatibility; cgroups are managed through cgroupfs.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Accepted for runc compatibility.
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
        let line = if self.log_format == "json" {
            serde_json::json!({"level": level, "msg": msg, "time": crate::container::state::now_rfc3339()}).to_string()
        } else {
            format!("{level}: {msg}")
        };
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    fn warn(&self, msg: &str) {
        eprintln!("nucleus: warning: {msg}");
        self.log("warning", msg);
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
    /// Not supported.
    Events {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Not supported.
    Update {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
        OciCmd::Events { .. } | OciCmd::Update { .. } => {
            Err(Error::Usage("not supported by nucleus".into()))
        }
    }
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
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
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
            crate::container::oci::TRACE_ANNOTATION: "supported: name of a capability trace report"
        }
    })
}
