//! Sandbox policy files: `nucleus run --policy FILE` (loading, pins, overrides, production
//! mode) and `nucleus policy check FILE`. The model and every decision are pure
//! (spec::policy, spec::production); this file reads the files and the machine's facts
//! and prints.

use crate::caps::Sets;
use crate::linux::seccomp;
use crate::spec::config::{Config, Seccomp};
use crate::spec::policy::{self, Error, Files, Mode, Resolved};
use crate::spec::production::{self, Asked, Facts};
use crate::spec::sandbox::{self, SandboxOptions};
use crate::Result;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Validate a TOML sandbox policy and print the sandbox it gives on this machine: the
    /// five capability sets, the seccomp profile and its rule count, Landlock asked vs
    /// what this kernel enforces, limits, network, user, mode, and every degraded
    /// protection (production mode would refuse them). Exits 1 when the policy is invalid
    /// or its mode would refuse to start here.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The policy file (TOML).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The policy's expected SHA-256 (as `run --policy-sha256`).
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Check as `run --production` would.
    #[arg(long)]
    production: bool,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// What `nucleus run` was told about policies.
pub struct RunPolicy {
    pub file: Option<PathBuf>,
    pub sha256: Option<String>,
    pub production: bool,
    pub userns: bool,
    /// `--seccomp-profile FILE` given on the command line (never pinned).
    pub profile_flag: Option<PathBuf>,
}

impl RunPolicy {
    /// Whether any policy option was given (otherwise `run` takes its usual path).
    pub fn any(&self) -> bool {
        self.file.is_some() || self.production || self.userns
    }
}

/// A loaded policy: what it resolved to, and its file's name and hash.
struct Loaded {
    resolved: Resolved,
    file: String,
    sha256: String,
    pinned: bool,
    unpinned: Vec<(String, String)>,
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::Read {
        what: what.into(),
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Reads and checks a policy file, the files it references and their pins.
fn load(path: &Path, pin: Option<&str>) -> Result<Loaded, Error> {
    let file = path.display().to_string();
    let bytes = read("policy", path)?;
    let sha256 = policy::sha256_hex(&bytes);
    if let Some(p) = pin {
        if !policy::is_sha256(p.trim()) {
            return Err(Error::BadPin {
                file: file.clone(),
                key: "--policy-sha256".into(),
                value: p.into(),
            });
        }
        policy::check_pin("policy", &file, p.trim(), &bytes)?;
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Syntax {
        file: file.clone(),
        line: String::new(),
        why: "not UTF-8 text".into(),
    })?;
    let doc = policy::parse(&text, &file)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut files = Files::new();
    let mut unpinned = vec![];
    for r in policy::references(&doc, dir) {
        let what = r.key.replace('.', " ");
        let content = read(&what, &r.path)?;
        match &r.sha256 {
            Some(h) => policy::check_pin(&what, &r.path.display().to_string(), h, &content)?,
            None => unpinned.push((what.clone(), r.path.display().to_string())),
        }
        let text = String::from_utf8(content).map_err(|_| Error::Read {
            what: what.clone(),
            path: r.path.display().to_string(),
            why: "not UTF-8 text".into(),
        })?;
        files.insert(r.key, text);
    }
    let resolved = policy::resolve_doc(&doc, &file, dir, &files, &|k| std::env::var(k).ok())?;
    if let Some(names) = doc.seccomp.as_ref().and_then(|s| s.allow.as_ref()) {
        check_syscall_names(&file, names)?;
    }
    Ok(Loaded {
        resolved,
        file,
        sha256,
        pinned: pin.is_some(),
        unpinned,
    })
}

/// An allow-list names only syscalls this architecture has: a typo would silently allow
/// less (the OCI translation skips names an architecture lacks, as libseccomp does).
fn check_syscall_names(file: &str, names: &[String]) -> Result<(), Error> {
    let invalid = |why: String| Error::Invalid {
        file: file.into(),
        key: "seccomp.allow".into(),
        why,
    };
    let profile = seccomp::from_oci(&policy::allow_list_profile(names, 1))
        .map_err(|e| invalid(e.to_string()))?;
    seccomp::compile(&profile).map_err(|e| invalid(e.to_string()))?;
    match seccomp::unknown_names(&profile).first() {
        Some(n) => Err(invalid(format!(
            "unknown syscall '{n}' (not a syscall of this architecture)"
        ))),
        None => Ok(()),
    }
}

/// What the machine offers (files and one prctl-free look at /proc).
pub fn facts() -> Facts {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0);
    Facts {
        landlock_abi: u32::from(crate::linux::landlock::abi()),
        seccomp: status.lines().any(|l| l.starts_with("Seccomp:")),
        root: nix::unistd::geteuid().is_root(),
        userns,
    }
}

/// The id range of root's user namespace for a rootful `--userns` run.
fn userns_ranges() -> ((u32, u32), (u32, u32)) {
    let range = |f: &str| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|t| policy::subid_range(&t, "root"))
            .unwrap_or(policy::USERNS_DEFAULT_RANGE)
    };
    (range("/etc/subuid"), range("/etc/subgid"))
}

/// The sandbox of `nucleus run` with a policy, `--production` or `--userns`: the policy's
/// options with the command line's over them (each override noted on stderr), checked
/// for degradations (production: refused; agent: one warning).
pub fn build_run(flags: SandboxOptions, p: &RunPolicy) -> Result<Config> {
    let mut loaded = match &p.file {
        Some(f) => Some(load(f, p.sha256.as_deref())?),
        None => None,
    };
    let mut resolved = loaded
        .as_mut()
        .map(|l| std::mem::take(&mut l.resolved))
        .unwrap_or_default();
    let mut notes = policy::overlay(&mut resolved, flags);
    if p.production && resolved.mode == Some(Mode::Agent) {
        notes.push("--production overrides policy mode.mode = agent".into());
    }
    for n in &notes {
        eprintln!("nucleus: note: {n}");
    }
    let mode = if p.production {
        Mode::Production
    } else {
        resolved.mode.unwrap_or(Mode::Agent)
    };
    let mut cfg = sandbox::build(&resolved.opts)?;
    policy::apply_caps(&mut cfg, &resolved)?;
    if p.userns || resolved.userns == Some(true) {
        let (u, g) = userns_ranges();
        policy::apply_userns(&mut cfg, u, g)?;
    }
    let mut unpinned = loaded
        .as_ref()
        .map(|l| l.unpinned.clone())
        .unwrap_or_default();
    // A profile given on the command line has no pin; one the policy generated needs none.
    if let (Some(f), Some(_)) = (&p.profile_flag, &resolved.opts.seccomp_profile) {
        unpinned.push(("seccomp profile".into(), f.display().to_string()));
    }
    let asked = Asked {
        policy: loaded.as_ref().map(|l| l.pinned),
        unpinned,
    };
    let degraded = production::degradations(&cfg, &asked, &facts());
    match mode {
        Mode::Production if !degraded.is_empty() => Err(Error::Refused(degraded).into()),
        Mode::Agent if !degraded.is_empty() => {
            let list: Vec<String> = degraded.iter().map(|d| d.to_string()).collect();
            eprintln!(
                "nucleus: warning: degraded protections (agent mode; --production refuses \
                 them): {}",
                list.join("; ")
            );
            Ok(cfg)
        }
        _ => Ok(cfg),
    }
}

pub fn run(c: PolicyCmd) -> Result<i32> {
    match c {
        PolicyCmd::Check(a) => check(a),
    }
}

#[derive(serde::Serialize)]
struct CapsReport {
    bounding: Vec<&'static str>,
    permitted: Vec<&'static str>,
    effective: Vec<&'static str>,
    inheritable: Vec<&'static str>,
    ambient: Vec<&'static str>,
}

impl From<&Sets> for CapsReport {
    fn from(s: &Sets) -> Self {
        CapsReport {
            bounding: s.bounding.names(),
            permitted: s.permitted.names(),
            effective: s.effective.names(),
            inheritable: s.inheritable.names(),
            ambient: s.ambient.names(),
        }
    }
}

#[derive(serde::Serialize)]
struct SeccompReport {
    /// "default", "unconfined", "profile" or "allow-list".
    kind: &'static str,
    file: Option<String>,
    /// Rules in the profile (syscall names with their action and conditions).
    rules: usize,
    /// The profile's action for syscalls it does not name.
    default_action: String,
}

#[derive(serde::Serialize)]
struct LandlockReport {
    requested: policy::Landlock,
    abi_kernel: u32,
    /// The handled rights this kernel's ABI cannot enforce (empty: all enforced).
    not_enforced: Vec<&'static str>,
    enforceable: bool,
}

#[derive(serde::Serialize)]
struct DegradationReport {
    id: &'static str,
    what: String,
    fix: &'static str,
}

#[derive(serde::Serialize)]
struct CheckReport {
    policy: String,
    sha256: String,
    pinned: bool,
    mode: Mode,
    caps: CapsReport,
    seccomp: SeccompReport,
    landlock: Option<LandlockReport>,
    memory: Option<u64>,
    pids: Option<u64>,
    cpus: Option<f64>,
    rlimits: Vec<String>,
    network: &'static str,
    user: String,
    user_namespace: bool,
    read_only_root: bool,
    volumes: Vec<String>,
    env: Vec<String>,
    no_new_privs: bool,
    machine: Facts,
    degradations: Vec<DegradationReport>,
    /// Whether `nucleus run` would start with this policy here.
    would_start: bool,
}

fn seccomp_report(cfg: &Config, r: &Resolved, file: Option<String>) -> Result<SeccompReport> {
    let action = |a: &seccomp::Action| format!("{a:?}").to_lowercase();
    Ok(match &cfg.seccomp {
        Seccomp::Unconfined => SeccompReport {
            kind: "unconfined",
            file: None,
            rules: 0,
            default_action: "allow".into(),
        },
        Seccomp::Default => {
            let p = seccomp::default_profile();
            SeccompReport {
                kind: "default",
                file: None,
                rules: p.rules.len(),
                default_action: action(&p.default),
            }
        }
        Seccomp::Oci(p) => SeccompReport {
            kind: if r.seccomp_generated {
                "allow-list"
            } else {
                "profile"
            },
            file,
            rules: p.rules.len(),
            default_action: action(&p.default),
        },
    })
}

fn check(a: CheckArgs) -> Result<i32> {
    let loaded = load(&a.file, a.sha256.as_deref())?;
    let mut resolved = loaded.resolved;
    let facts = facts();
    // The sandbox as `nucleus run --policy FILE -- true` would build it here.
    let flags = SandboxOptions {
        rootless: !facts.root,
        args: vec!["true".into()],
        ..Default::default()
    };
    policy::overlay(&mut resolved, flags);
    let mut cfg = sandbox::build(&resolved.opts)?;
    policy::apply_caps(&mut cfg, &resolved)?;
    if resolved.userns == Some(true) {
        let (u, g) = userns_ranges();
        policy::apply_userns(&mut cfg, u, g)?;
    }
    let mode = if a.production {
        Mode::Production
    } else {
        resolved.mode.unwrap_or(Mode::Agent)
    };
    let asked = Asked {
        policy: Some(loaded.pinned),
        unpinned: loaded.unpinned.clone(),
    };
    let degraded = production::degradations(&cfg, &asked, &facts);
    let profile_file = resolved
        .origins
        .get("--seccomp-profile")
        .and_then(|o| o.strip_prefix("seccomp.profile = "))
        .map(String::from);
    let seccomp = seccomp_report(&cfg, &resolved, profile_file)?;
    let landlock = cfg.landlock.as_ref().map(|ll| {
        let gap = ll.gap(u8::try_from(facts.landlock_abi).unwrap_or(u8::MAX));
        LandlockReport {
            abi_kernel: facts.landlock_abi,
            enforceable: gap.is_empty() && facts.landlock_abi > 0,
            not_enforced: gap,
            requested: resolved.landlock.clone(),
        }
    });
    let would_start = mode == Mode::Agent || degraded.is_empty();
    let report = CheckReport {
        policy: loaded.file,
        sha256: loaded.sha256,
        pinned: loaded.pinned,
        mode,
        caps: (&cfg.caps).into(),
        seccomp,
        landlock,
        memory: cfg.resources.memory,
        pids: cfg.resources.pids,
        cpus: cfg
            .resources
            .cpu_quota
            .map(|q| q as f64 / cfg.resources.cpu_period as f64),
        rlimits: resolved.opts.rlimits.clone(),
        network: if cfg.namespaces.net {
            "loopback"
        } else {
            "host"
        },
        user: format!("{}:{}", cfg.user.uid, cfg.user.gid),
        user_namespace: cfg.namespaces.user,
        read_only_root: cfg.readonly_root,
        volumes: resolved.opts.volumes.clone(),
        env: resolved
            .opts
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.clone(), |(k, _)| k.to_string()))
            .collect(),
        no_new_privs: cfg.no_new_privs,
        machine: facts,
        degradations: degraded
            .iter()
            .map(|d| DegradationReport {
                id: d.id(),
                what: d.to_string(),
                fix: production::fix(d),
            })
            .collect(),
        would_start,
    };
    if a.json {
        super::print_json(&report);
    } else {
        print_check(&report);
    }
    Ok(if would_start { 0 } else { 1 })
}

fn names(v: &[&str]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(",")
    }
}

fn print_check(r: &CheckReport) {
    let pin = if r.pinned { "pinned" } else { "not pinned" };
    outln!("policy    {} (sha256 {}, {pin})", r.policy, r.sha256);
    let mode = match r.mode {
        Mode::Production => "production (every degradation refuses to start)",
        Mode::Agent => "agent (degradations are warned about)",
    };
    outln!("mode      {mode}");
    let c = &r.caps;
    outln!("caps      bounding    {}", names(&c.bounding));
    outln!("          permitted   {}", names(&c.permitted));
    outln!("          effective   {}", names(&c.effective));
    outln!("          inheritable {}", names(&c.inheritable));
    outln!("          ambient     {}", names(&c.ambient));
    let s = &r.seccomp;
    match s.kind {
        "unconfined" => outln!("seccomp   unconfined (no filter)"),
        kind => outln!(
            "seccomp   {kind}{} — {} rules, otherwise {}",
            s.file.as_ref().map_or(String::new(), |f| format!(" {f}")),
            s.rules,
            s.default_action
        ),
    }
    match &r.landlock {
        None => outln!("landlock  (no rules)"),
        Some(l) => {
            let q = &l.requested;
            let paths = |v: &[PathBuf]| {
                v.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            outln!(
                "landlock  ro [{}] rw [{}] exec [{}] bind {:?} connect {:?}{}",
                paths(&q.ro),
                paths(&q.rw),
                paths(&q.exec),
                q.bind,
                q.connect,
                if q.strict { " (strict)" } else { "" }
            );
            if l.enforceable {
                outln!(
                    "          kernel ABI {}: every right enforced",
                    l.abi_kernel
                );
            } else {
                outln!(
                    "          kernel ABI {}: NOT enforced here: {}",
                    l.abi_kernel,
                    l.not_enforced.join(", ")
                );
            }
        }
    }
    let mem = r
        .memory
        .map_or("none".into(), |m| format!("{} MiB", m >> 20));
    let pids = r.pids.map_or("none".into(), |p| p.to_string());
    let cpus = r.cpus.map_or("none".into(), |c| c.to_string());
    outln!("limits    memory {mem}, pids {pids}, cpus {cpus}");
    if !r.rlimits.is_empty() {
        outln!("          rlimits {}", r.rlimits.join(", "));
    }
    let net = match r.network {
        "host" => "host (shares the host's network)",
        _ => "loopback (private namespace, only lo)",
    };
    outln!("network   {net}");
    outln!(
        "user      {}{}",
        r.user,
        if r.user_namespace {
            ", in a user namespace"
        } else {
            ""
        }
    );
    outln!(
        "root      {}",
        if r.read_only_root {
            "read-only"
        } else {
            "writable"
        }
    );
    for v in &r.volumes {
        outln!("volume    {v}");
    }
    if !r.env.is_empty() {
        outln!("env       {}", r.env.join(", "));
    }
    outln!("no_new_privs {}", if r.no_new_privs { "on" } else { "OFF" });
    if r.degradations.is_empty() {
        outln!("degraded  nothing: production mode would start");
    } else {
        for d in &r.degradations {
            outln!("degraded  {} — {}", d.what, d.fix);
        }
        outln!(
            "verdict   {}",
            if r.would_start {
                "agent mode starts with a warning; production mode would refuse"
            } else {
                "production mode refuses to start"
            }
        );
    }
}
