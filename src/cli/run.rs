//! `nucleus run [OPTIONS] -- CMD…`: the one-shot sandbox.

use crate::container::run;
use crate::spec::sandbox::{self, SandboxOptions};
use crate::Result;
use clap::Args;
use std::path::PathBuf;

/// Run CMD in a fresh container in the foreground and exit with its status.
///
/// No image needed: without --rootfs the root is a tmpfs holding read-only binds of the
/// host's /usr, /bin, /sbin, /lib* and a minimal /etc. All capabilities are dropped unless
/// retained, no_new_privs is set, a default seccomp profile is loaded, and the program gets
/// new mount, pid, uts, ipc, network (only lo) and cgroup namespaces. When it returns,
/// nothing is left behind.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Use this directory as the root filesystem (e.g. a busybox tree) instead of the
    /// embedded default.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Make the root filesystem read-only.
    #[arg(long)]
    read_only: bool,
    /// Bind mount SRC (host, absolute) at DST (container, absolute); read-only unless :rw.
    #[arg(long, short = 'v', value_name = "SRC:DST[:ro|rw]")]
    volume: Vec<String>,
    /// Copy DIR into a writable tmpfs at /context.
    #[arg(long, value_name = "DIR")]
    context: Option<PathBuf>,
    /// Hostname inside the container (default: nucleus).
    #[arg(long)]
    hostname: Option<String>,
    /// `host` shares the host's network; the default is a private namespace with only lo.
    #[arg(long, value_name = "MODE", value_parser = ["host", "none"])]
    network: Option<String>,
    /// Run as UID[:GID] inside the container (default 0:0).
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    user: Option<String>,
    /// Set an environment variable (repeatable).
    #[arg(long, short = 'e', value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Working directory inside the container (default /).
    #[arg(long, short = 'w', value_name = "DIR")]
    workdir: Option<String>,
    /// Keep only these capabilities (retain-set; comma list, repeatable).
    #[arg(long, value_name = "CAPS")]
    caps_retain: Vec<String>,
    /// Start from the default set (0xa80425fb) and remove these (remove-set).
    #[arg(long, value_name = "CAPS")]
    caps_remove: Vec<String>,
    /// Docker style: start from the default set and add these.
    #[arg(long, value_name = "CAP")]
    cap_add: Vec<String>,
    /// Docker style: start from the default set and drop these (ALL for every one).
    #[arg(long, value_name = "CAP")]
    cap_drop: Vec<String>,
    /// Do not set no_new_privs (set-uid binaries and file capabilities work again).
    #[arg(long)]
    allow_new_privs: bool,
    /// `unconfined` disables seccomp; `default` is the built-in profile.
    #[arg(long, value_name = "MODE")]
    seccomp: Option<String>,
    /// An OCI seccomp profile (JSON) instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    seccomp_profile: Option<PathBuf>,
    /// Memory limit (e.g. 32m); the program is OOM-killed above it.
    #[arg(long, value_name = "SIZE")]
    memory: Option<String>,
    /// Maximum number of processes and threads.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    /// CPU limit in CPUs (e.g. 0.5).
    #[arg(long, value_name = "N")]
    cpus: Option<String>,
    /// Resource limit NAME=SOFT[:HARD] (nofile, nproc, core, stack, as, cpu, fsize, …).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    rlimit: Vec<String>,
    /// Run a tiny PID 1 that reaps zombies and forwards signals; CMD becomes PID 2.
    #[arg(long)]
    init: bool,
    /// OCI form: the bundle directory (holds config.json).
    #[arg(long, short = 'b', value_name = "DIR")]
    bundle: Option<PathBuf>,
    /// OCI form: return once the container is started.
    #[arg(long, short = 'd')]
    detach: bool,
    /// OCI form: write the container process's PID here.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// OCI form: Unix socket that receives the terminal's master (needs process.terminal).
    #[arg(long, value_name = "SOCK")]
    console_socket: Option<PathBuf>,
    /// OCI form: accepted for runc compatibility.
    #[arg(long)]
    no_pivot: bool,
    /// OCI form: accepted for runc compatibility.
    #[arg(long)]
    no_new_keyring: bool,
    /// OCI form: pass N extra descriptors (3…3+N-1) on to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// OCI form: the container ID (run the bundle's config.json instead of -- CMD).
    #[arg(value_name = "ID")]
    id: Option<String>,
    /// Seconds a program has to exit after nucleus forwards it SIGTERM, before SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    stop_timeout: u64,
    // ---- Least privilege, computed (capability policy files, tracing) ----
    /// A JSON capability policy file: {"retain": [..]}, {"remove": [..]} or the five OCI
    /// sets (what `caps trace --policy-out` and --learn write).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["caps_retain", "caps_remove", "cap_add", "cap_drop"])]
    caps_policy: Option<PathBuf>,
    /// Record every capability check of every process of the container (from its
    /// program's execve on) and write the report to FILE as JSON: each capability checked,
    /// granted or denied, how often, by which program, and the minimal retain-set. Needs
    /// root and Linux 6.14+ (tracepoint capability:cap_capable).
    #[arg(long, value_name = "FILE")]
    trace_caps: Option<PathBuf>,
    /// Learn what the program needs: record its capability checks and syscalls and write
    /// DIR/caps.json (the minimal policy, for --caps-policy), DIR/seccomp.json (an OCI
    /// profile allowing exactly the syscalls used, for --seccomp-profile), DIR/report.json
    /// and DIR/report.txt. Learn under a generous policy (e.g. --cap-add ALL) to see every
    /// capability the program would use.
    #[arg(long, value_name = "DIR")]
    learn: Option<PathBuf>,
    /// When the program ends, print on stderr each capability the kernel denied it (name,
    /// count, program) and each syscall the seccomp filter refused (name, count).
    #[arg(long)]
    report_denials: bool,
    /// With --report-denials: print the denials as one JSON document (on stderr).
    #[arg(long, requires = "report_denials")]
    report_json: bool,
    // ---- Landlock ----
    /// Landlock: allow reading files and listing directories beneath PATH (a path inside
    /// the container; comma list, repeatable). With any of --landlock-ro/-rw/-exec, every
    /// filesystem access no rule allows is denied (EACCES).
    #[arg(
        long,
        value_name = "PATH",
        value_delimiter = ',',
        help_heading = "Landlock"
    )]
    landlock_ro: Vec<PathBuf>,
    /// Landlock: allow reading and writing (create, remove, rename, truncate) beneath PATH,
    /// but not executing. A file works too: shells need `--landlock-rw /dev/null` for
    /// redirections to it.
    #[arg(
        long,
        value_name = "PATH",
        value_delimiter = ',',
        help_heading = "Landlock"
    )]
    landlock_rw: Vec<PathBuf>,
    /// Landlock: allow executing and reading beneath PATH. The program itself, its
    /// interpreter (e.g. /lib64/ld-linux*.so) and any program it runs must be beneath one,
    /// or execve fails with EACCES ("Permission denied").
    #[arg(
        long,
        value_name = "PATH",
        value_delimiter = ',',
        help_heading = "Landlock"
    )]
    landlock_exec: Vec<PathBuf>,
    /// Landlock (ABI 4): allow binding TCP PORT; with this option every other TCP bind is
    /// denied.
    #[arg(
        long,
        value_name = "PORT",
        value_delimiter = ',',
        help_heading = "Landlock"
    )]
    landlock_bind: Vec<u16>,
    /// Landlock (ABI 4): allow connecting to TCP PORT; with this option every other TCP
    /// connect is denied.
    #[arg(
        long,
        value_name = "PORT",
        value_delimiter = ',',
        help_heading = "Landlock"
    )]
    landlock_connect: Vec<u16>,
    /// Landlock: refuse to run when the kernel cannot enforce every right asked for (the
    /// default is best effort with a warning naming what is not enforced). Landlock needs
    /// no_new_privs: it cannot be combined with --allow-new-privs.
    #[arg(long, help_heading = "Landlock")]
    landlock_strict: bool,
    // ---- end Landlock ----
    // ---- Policy files and production mode (cli::policy) ----
    /// A TOML sandbox policy (see README "Policy files"): caps, seccomp, landlock, network,
    /// limits, user, env, mounts, mode. Relative paths in it are relative to its directory.
    /// Flags given here override it, and each override is reported on stderr.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// The policy file's expected SHA-256 (hex): any other content refuses to start.
    #[arg(long, value_name = "HEX", requires = "policy")]
    policy_sha256: Option<String>,
    /// Refuse to start when any protection is degraded (writable root, no memory or pids
    /// limit, host network, seccomp unconfined, a dangerous capability, unpinned files,
    /// Landlock missing, root without a user namespace…), naming each.
    #[arg(long)]
    production: bool,
    /// When run as root: put the sandbox in a user namespace, container ids 0..65535 on
    /// unprivileged host ids (root's /etc/subuid range, else 100000..165535).
    #[arg(long)]
    userns: bool,
    /// The command and its arguments.
    #[arg(last = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub fn run(g: &super::oci::Global, a: RunArgs) -> Result<i32> {
    match (&a.id, a.cmd.is_empty()) {
        (Some(_), false) => {
            return Err(crate::Error::Usage(
                "give either a container ID (OCI bundle) or -- CMD (sandbox), not both".into(),
            ))
        }
        (Some(_), true)
            if a.trace_caps.is_some()
                || a.learn.is_some()
                || a.report_denials
                || a.caps_policy.is_some() =>
        {
            return Err(crate::Error::Usage(
                "--caps-policy, --trace-caps, --learn and --report-denials are for -- CMD; an \
                 OCI bundle traces with the annotation run.nucleus.trace-caps=/abs/path"
                    .into(),
            ));
        }
        (Some(id), true) => {
            super::oci::check_preserve(a.preserve_fds)?;
            let bundle = a.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            let o = crate::container::oci::CreateOpts {
                bundle: &bundle,
                pid_file: a.pid_file.as_deref(),
                console_socket: a.console_socket.as_deref(),
                preserve_fds: a.preserve_fds,
                systemd_cgroup: g.systemd_cgroup,
            };
            return super::oci::run_oci(g, id, &o, a.detach);
        }
        (None, _) if a.bundle.is_some() || a.detach || a.pid_file.is_some() => {
            return Err(crate::Error::Usage(
                "--bundle, --detach and --pid-file need a container ID".into(),
            ));
        }
        _ => {}
    }
    // Root inside a user namespace (`unshare -r`, a rootless Podman container) is rootless
    // too: it may not mount devpts with the host's tty group, make devices or write cgroups.
    let rootless = crate::linux::userns::rootless();
    let passwd_path = match &a.rootfs {
        Some(r) => r.join("etc/passwd"),
        None => PathBuf::from("/etc/passwd"),
    };
    let seccomp_profile =
        match &a.seccomp_profile {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                crate::Error::Usage(format!("seccomp profile {}: {e}", p.display()))
            })?),
            None => None,
        };
    let grace = std::time::Duration::from_secs(a.stop_timeout);
    let caps_policy = match &a.caps_policy {
        Some(p) => Some((
            std::fs::read_to_string(p).map_err(|e| crate::caps::policy::PolicyError::File {
                path: p.display().to_string(),
                why: e.to_string(),
            })?,
            p.display().to_string(),
        )),
        None => None,
    };
    let policy = super::policy::RunPolicy {
        file: a.policy,
        sha256: a.policy_sha256,
        production: a.production,
        userns: a.userns,
        profile_flag: a.seccomp_profile.clone(),
    };
    let opts = SandboxOptions {
        rootfs: a.rootfs,
        read_only: a.read_only,
        volumes: a.volume,
        context: a.context,
        hostname: a.hostname,
        network_host: a.network.as_deref() == Some("host"),
        user: a.user,
        env: a.env,
        workdir: a.workdir,
        caps_retain: a.caps_retain,
        caps_remove: a.caps_remove,
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        allow_new_privs: a.allow_new_privs,
        seccomp: a.seccomp,
        seccomp_profile,
        memory: a.memory,
        pids: a.pids,
        cpus: a.cpus,
        rlimits: a.rlimit,
        init: a.init,
        rootless,
        host_ids: (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ),
        passwd: std::fs::read_to_string(passwd_path).unwrap_or_default(),
        term: std::env::var("TERM").ok(),
        args: a.cmd,
        caps_policy,
        // Landlock
        landlock_ro: a.landlock_ro,
        landlock_rw: a.landlock_rw,
        landlock_exec: a.landlock_exec,
        landlock_bind: a.landlock_bind,
        landlock_connect: a.landlock_connect,
        landlock_strict: a.landlock_strict,
    };
    let cfg = if policy.any() {
        super::policy::build_run(opts, &policy)?
    } else {
        sandbox::build(&opts)?
    };
    let prep = run::prepare(&cfg)?;
    for w in &prep.warnings {
        eprintln!("nucleus: warning: {w}");
    }
    let trace = run::Tracing {
        report: a.trace_caps,
        learn: a.learn,
        denials: a.report_denials.then_some(if a.report_json {
            run::DenialFormat::Json
        } else {
            run::DenialFormat::Text
        }),
    };
    let out = run::run(&cfg, &prep, grace, &trace)?;
    for w in &out.warnings {
        eprintln!("nucleus: warning: {w}");
    }
    if let Some(d) = &out.denials {
        eprint!("{d}");
    }
    Ok(out.code)
}
