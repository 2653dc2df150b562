//! Sandbox policy files: one TOML document that says everything the `nucleus run` flags
//! say (`nucleus run --policy FILE`), pinned by SHA-256. Pure: the caller reads the files
//! and hands their bytes in; this module parses, checks pins and maps a policy onto the
//! same `SandboxOptions` the flags fill, remembering which policy key set which option so
//! that a flag overriding it can be reported.
//!
//! ```toml
//! [mode]
//! mode = "production"            # or "agent" (the default)
//! [caps]
//! retain = ["net_bind_service"]  # or remove = [..], or the five OCI sets
//! [seccomp]
//! profile = "seccomp.json"       # relative to this file's directory
//! sha256 = "…"                   # or mode = "default" | "unconfined", or allow = [..]
//! [landlock]
//! ro = ["/usr"]
//! rw = ["/tmp"]
//! [network]
//! mode = "loopback"              # none | loopback | host
//! [limits]
//! memory = "64m"
//! pids = 64
//! [mounts]
//! read_only = true
//! ```

use super::sandbox::SandboxOptions;
use crate::caps::policy::{Policy, PolicyFile};
use serde::Deserialize;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A policy document. Every table refuses keys it does not know.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// The same model as `--caps-policy` JSON (caps::policy::PolicyFile).
    pub caps: Option<PolicyFile>,
    pub seccomp: Option<SeccompSection>,
    pub landlock: Option<LandlockSection>,
    pub network: Option<NetworkSection>,
    pub limits: Option<LimitsSection>,
    pub user: Option<UserSection>,
    pub env: Option<EnvSection>,
    pub mounts: Option<MountsSection>,
    pub process: Option<ProcessSection>,
    pub mode: Option<ModeSection>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SeccompSection {
    /// "default" (the built-in profile) or "unconfined".
    pub mode: Option<String>,
    /// An OCI seccomp profile (JSON), relative to the policy's directory.
    pub profile: Option<String>,
    /// The profile's SHA-256 (hex).
    pub sha256: Option<String>,
    /// An inline allow-list of syscall names; everything else fails with `errno`.
    pub allow: Option<Vec<String>>,
    /// The errno of syscalls the allow-list does not name (default EPERM).
    pub errno: Option<u32>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LandlockSection {
    #[serde(default)]
    pub ro: Vec<String>,
    #[serde(default)]
    pub rw: Vec<String>,
    #[serde(default)]
    pub exec: Vec<String>,
    #[serde(default)]
    pub bind: Vec<u16>,
    #[serde(default)]
    pub connect: Vec<u16>,
    /// Refuse to start when the kernel cannot enforce every requested right.
    pub strict: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    pub mode: String,
}

/// A number or a string (`memory = "64m"` or `memory = 67108864`).
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Scalar {
    Int(u64),
    Float(f64),
    Str(String),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(n) => write!(f, "{n}"),
            Scalar::Float(n) => write!(f, "{n}"),
            Scalar::Str(s) => write!(f, "{s}"),
        }
    }
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    pub memory: Option<Scalar>,
    pub pids: Option<u64>,
    pub cpus: Option<Scalar>,
    /// NAME = SOFT, or NAME = "SOFT:HARD" (`nofile = "1024:4096"`).
    #[serde(default)]
    pub rlimits: BTreeMap<String, Scalar>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct UserSection {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Root runs in a user namespace (container ids map to unprivileged host ids).
    pub userns: Option<bool>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct EnvSection {
    /// Names of the caller's variables passed through (when set).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Variables set explicitly.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct MountsSection {
    /// A root filesystem directory instead of the embedded one.
    pub rootfs: Option<String>,
    pub read_only: Option<bool>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// A directory copied into a writable tmpfs at /context.
    pub context: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub src: String,
    pub dst: String,
    /// "ro" (default) or "rw".
    pub mode: Option<String>,
}

#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ProcessSection {
    pub hostname: Option<String>,
    pub workdir: Option<String>,
    pub init: Option<bool>,
    /// Default true; false is `--allow-new-privs`.
    pub no_new_privs: Option<bool>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct ModeSection {
    pub mode: String,
}

/// Agent mode warns about degraded protections; production mode refuses to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Agent,
    Production,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("policy {}{}: unknown key '{}'{} (closest known key: '{}')", .0.file, .0.line, .0.key, .0.section, .0.closest)]
    UnknownKey(Box<UnknownKey>),
    #[error("policy {file}{line}: {why}")]
    Syntax {
        file: String,
        line: String,
        why: String,
    },
    #[error("policy {file}: {key}: {why}")]
    Invalid {
        file: String,
        key: String,
        why: String,
    },
    #[error("policy {file}: {key} = '{value}' is not a SHA-256: expected 64 hex digits")]
    BadPin {
        file: String,
        key: String,
        value: String,
    },
    #[error("{what} {path}: sha256 mismatch: pinned {expected}, file has {actual}")]
    Mismatch {
        what: String,
        path: String,
        expected: String,
        actual: String,
    },
    #[error("production mode refuses to start: {}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<super::production::Degradation>),
    #[error("{what} {path}: {why}")]
    Read {
        what: String,
        path: String,
        why: String,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::UnknownKey(u) => Some(format!("known keys here: {}", u.known.join(", "))),
            Error::Mismatch { .. } => Some(
                "the file changed since the policy was reviewed: review it again and update \
                 the pin (sha256sum FILE)"
                    .into(),
            ),
            Error::BadPin { .. } => Some("compute it with: sha256sum FILE".into()),
            Error::Read { what, .. } if what != "policy" => {
                Some("paths in a policy are relative to the policy file's directory".into())
            }
            Error::Refused(list) => Some(format!(
                "{}; or run in agent mode (no --production, [mode] mode = \"agent\"), which \
                 warns instead",
                list.iter()
                    .map(|d| super::production::fix(d))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            _ => None,
        }
    }
}

/// A key no table of the policy knows, where it is and what was meant.
#[derive(Debug)]
pub struct UnknownKey {
    pub file: String,
    /// " line N", or empty.
    pub line: String,
    pub key: String,
    /// " in [table]", or empty for a top-level key.
    pub section: String,
    pub closest: String,
    pub known: Vec<String>,
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Checks a pin: `expected` must be 64 hex digits (any case) and equal the file's hash.
pub fn check_pin(what: &str, path: &str, expected: &str, content: &[u8]) -> Result<(), Error> {
    let actual = sha256_hex(content);
    if expected.eq_ignore_ascii_case(&actual) {
        return Ok(());
    }
    Err(Error::Mismatch {
        what: what.into(),
        path: path.into(),
        expected: expected.to_ascii_lowercase(),
        actual,
    })
}

/// 64 hex digits.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The known key closest to `key` (by edit distance).
pub fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .min_by_key(|k| strsim::damerau_levenshtein(key, k))
        .copied()
}

/// `unknown field `x`, expected one of `a`, `b`` → ("x", ["a", "b"]).
fn unknown_field(msg: &str) -> Option<(String, Vec<String>)> {
    let rest = msg.strip_prefix("unknown field `")?;
    let (key, rest) = rest.split_once('`')?;
    let known = rest
        .split('`')
        .skip(1)
        .step_by(2)
        .map(String::from)
        .collect();
    Some((key.to_string(), known))
}

/// The line number (1-based) of byte `at`, and the table header in force there.
fn locate(text: &str, at: usize) -> (usize, Option<String>) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let header = before.lines().rev().find_map(|l| {
        let t = l.trim();
        t.starts_with('[').then(|| {
            t.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
    });
    (line, header)
}

/// Parses a policy's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<PolicyDoc, Error> {
    toml::from_str(text).map_err(|e| {
        let (line, header) = e
            .span()
            .map(|s| locate(text, s.start))
            .map_or((String::new(), None), |(l, h)| (format!(" line {l}"), h));
        let msg = e.message().trim().to_string();
        match unknown_field(&msg) {
            Some((key, known)) => {
                let refs: Vec<&str> = known.iter().map(String::as_str).collect();
                let closest = closest(&key, &refs).unwrap_or("").to_string();
                // A key at the top level is an unknown section.
                let section = match header {
                    Some(h)
                        if !(known.iter().any(|k| k == "caps")
                            && known.iter().any(|k| k == "limits")) =>
                    {
                        format!(" in [{h}]")
                    }
                    _ => String::new(),
                };
                Error::UnknownKey(Box::new(UnknownKey {
                    file: file.into(),
                    line,
                    key,
                    section,
                    closest,
                    known,
                }))
            }
            None => Error::Syntax {
                file: file.into(),
                line,
                why: msg.replace('\n', " "),
            },
        }
    })
}

/// A file the policy names, with its pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// The policy key that names it, e.g. "seccomp.profile".
    pub key: &'static str,
    pub path: PathBuf,
    pub sha256: Option<String>,
}

/// Resolves a policy path: relative paths are relative to the policy's directory.
pub fn resolve(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// The files the policy references (their content is read and pinned). Directories
/// (rootfs, volumes, context, Landlock paths) have no content to pin.
pub fn references(doc: &PolicyDoc, dir: &Path) -> Vec<Reference> {
    let mut out = vec![];
    if let Some(SeccompSection {
        profile: Some(p),
        sha256,
        ..
    }) = &doc.seccomp
    {
        out.push(Reference {
            key: "seccomp.profile",
            path: resolve(dir, p),
            sha256: sha256.clone(),
        });
    }
    out
}

/// The contents of the referenced files, by key (the caller reads and pins them).
pub type Files = BTreeMap<&'static str, String>;

/// What the policy resolved to: the options, which policy key set which flag (for
/// override notes), the mode and the Landlock paths to check for existence.
#[derive(Debug, Default)]
pub struct Resolved {
    pub opts: SandboxOptions,
    /// flag name ("--memory") → what the policy said ("limits.memory = 64m").
    pub origins: BTreeMap<&'static str, String>,
    pub mode: Option<Mode>,
    /// A user namespace for a rootful run ([user] userns).
    pub userns: Option<bool>,
    /// Landlock: paths (resolved), ports, strict.
    pub landlock: Landlock,
    /// The seccomp profile the policy generated from an allow-list (OCI JSON).
    pub seccomp_generated: bool,
    /// `[caps]` as the five explicit sets (the flags have no such form): applied to the
    /// built `Config` by `apply_caps`.
    pub caps_explicit: Option<Policy>,
}

/// The Landlock part of a policy, paths resolved against the policy's directory.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Landlock {
    pub ro: Vec<PathBuf>,
    pub rw: Vec<PathBuf>,
    pub exec: Vec<PathBuf>,
    pub bind: Vec<u16>,
    pub connect: Vec<u16>,
    pub strict: bool,
}

impl Landlock {
    pub fn is_empty(&self) -> bool {
        self.ro.is_empty()
            && self.rw.is_empty()
            && self.exec.is_empty()
            && self.bind.is_empty()
            && self.connect.is_empty()
    }

    /// The lowest Landlock ABI that enforces everything asked: filesystem rules 1, TCP
    /// bind/connect 4.
    pub fn abi_needed(&self) -> u32 {
        if !self.bind.is_empty() || !self.connect.is_empty() {
            4
        } else if self.is_empty() {
            0
        } else {
            1
        }
    }

    /// Every path, with the key that names it.
    pub fn paths(&self) -> impl Iterator<Item = (&'static str, &PathBuf)> {
        fn k<'a>(
            key: &'static str,
            v: &'a [PathBuf],
        ) -> impl Iterator<Item = (&'static str, &'a PathBuf)> {
            v.iter().map(move |p| (key, p))
        }
        k("landlock.ro", &self.ro)
            .chain(k("landlock.rw", &self.rw))
            .chain(k("landlock.exec", &self.exec))
    }
}

/// Syscalls every allow-list gets: nucleus loads its filters with seccomp(2) one after
/// the other (the next one must still be allowed) and then starts the program with execve.
pub const ALLOW_ALWAYS: [&str; 2] = ["execve", "seccomp"];

/// The OCI seccomp profile of an inline allow-list: the names allowed (plus
/// `ALLOW_ALWAYS`), `errno` for the rest.
pub fn allow_list_profile(names: &[String], errno: u32) -> String {
    let mut names = names.to_vec();
    for n in ALLOW_ALWAYS {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let arches = if cfg!(target_arch = "x86_64") {
        vec!["SCMP_ARCH_X86_64"]
    } else {
        vec!["SCMP_ARCH_AARCH64"]
    };
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno,
        "architectures": arches,
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }],
    })
    .to_string()
}

/// Maps a parsed policy onto sandbox options. `dir` is the policy file's directory,
/// `files` the referenced files' contents (pins already checked), `host_env` the caller's
/// environment (for `[env] allow`).
pub fn resolve_doc(
    doc: &PolicyDoc,
    file: &str,
    dir: &Path,
    files: &Files,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, Error> {
    let cx = Cx {
        file,
        dir,
        files,
        host_env,
    };
    let mut r = Resolved::default();
    resolve_caps(doc.caps.as_ref(), &cx, &mut r)?;
    resolve_seccomp(doc.seccomp.as_ref(), &cx, &mut r)?;
    resolve_landlock(doc.landlock.as_ref(), &cx, &mut r)?;
    resolve_network(doc.network.as_ref(), &cx, &mut r)?;
    resolve_limits(doc.limits.as_ref(), &cx, &mut r)?;
    resolve_user(doc.user.as_ref(), &cx, &mut r)?;
    resolve_env(doc.env.as_ref(), &cx, &mut r)?;
    resolve_mounts(doc.mounts.as_ref(), &cx, &mut r)?;
    resolve_process(doc.process.as_ref(), &mut r);
    resolve_mode(doc.mode.as_ref(), &cx, &mut r)?;
    Ok(r)
}

/// What every section of a policy file is resolved with.
struct Cx<'a> {
    file: &'a str,
    dir: &'a Path,
    files: &'a Files,
    host_env: &'a dyn Fn(&str) -> Option<String>,
}

impl Cx<'_> {
    fn invalid(&self, key: &str, why: String) -> Error {
        Error::Invalid {
            file: self.file.into(),
            key: key.into(),
            why,
        }
    }
}

/// The [caps] section.
fn resolve_caps(c: Option<&PolicyFile>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(c) = c else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    // Checked here (names, exclusive forms) so a bad list names the policy file.
    let policy = Policy::from_lists(c, &format!("{} [caps]", cx.file))
        .map_err(|e| cx.invalid("caps", e.to_string()))?;
    let text = serde_json::to_string(c).expect("lists serialize");
    match policy {
        Policy::Retain(_) => {
            o.caps_retain = c.retain.clone().unwrap_or_default();
            if o.caps_retain.is_empty() {
                // An explicit empty list: retain nothing (the default, stated).
            }
            origins.insert("--caps-retain", format!("caps = {text}"));
        }
        Policy::Remove(_) => {
            o.caps_remove = c.remove.clone().unwrap_or_default();
            origins.insert("--caps-remove", format!("caps = {text}"));
        }
        Policy::Explicit(_) => {
            r.caps_explicit = Some(policy);
            origins.insert("--caps-policy", format!("caps = {text}"));
        }
    }
    Ok(())
}

/// The [seccomp] section.
fn resolve_seccomp(s: Option<&SeccompSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(s) = s else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    let given = [s.mode.is_some(), s.profile.is_some(), s.allow.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(cx.invalid(
            "seccomp",
            "give exactly one of mode, profile or allow".into(),
        ));
    }
    if s.sha256.is_some() && s.profile.is_none() {
        return Err(cx.invalid("seccomp.sha256", "pins a profile: give profile too".into()));
    }
    if s.errno.is_some() && s.allow.is_none() {
        return Err(cx.invalid(
            "seccomp.errno",
            "is the errno of an allow-list: give allow too".into(),
        ));
    }
    if let Some(pin) = &s.sha256 {
        if !is_sha256(pin) {
            return Err(Error::BadPin {
                file: cx.file.into(),
                key: "seccomp.sha256".into(),
                value: pin.clone(),
            });
        }
    }
    if let Some(m) = &s.mode {
        match m.as_str() {
            "default" | "unconfined" => o.seccomp = Some(m.clone()),
            other => {
                return Err(cx.invalid(
                    "seccomp.mode",
                    format!("'{other}': expected \"default\" or \"unconfined\""),
                ))
            }
        }
        origins.insert("--seccomp", format!("seccomp.mode = {m}"));
    }
    if let Some(p) = &s.profile {
        let text = cx
            .files
            .get("seccomp.profile")
            .ok_or_else(|| cx.invalid("seccomp.profile", "was not read".into()))?;
        o.seccomp_profile = Some(text.clone());
        origins.insert(
            "--seccomp-profile",
            format!("seccomp.profile = {}", resolve(cx.dir, p).display()),
        );
    }
    if let Some(names) = &s.allow {
        if names.is_empty() {
            return Err(cx.invalid(
                "seccomp.allow",
                "is empty: the program could not even execve".into(),
            ));
        }
        let errno = s.errno.unwrap_or(libc::EPERM as u32);
        if errno == 0 || errno > 4095 {
            return Err(cx.invalid("seccomp.errno", format!("{errno} is not an errno (1-4095)")));
        }
        o.seccomp_profile = Some(allow_list_profile(names, errno));
        r.seccomp_generated = true;
        origins.insert(
            "--seccomp-profile",
            format!("seccomp.allow ({} syscalls)", names.len()),
        );
    }
    Ok(())
}

/// The [landlock] section.
fn resolve_landlock(l: Option<&LandlockSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(l) = l else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    // Landlock paths are paths inside the container (the init opens them after
    // pivot_root): absolute, never relative to the policy's directory.
    for (key, list) in [
        ("landlock.ro", &l.ro),
        ("landlock.rw", &l.rw),
        ("landlock.exec", &l.exec),
    ] {
        if let Some(p) = list.iter().find(|p| !Path::new(p).is_absolute()) {
            return Err(cx.invalid(
                key,
                format!(
                    "'{p}' is relative: Landlock paths are absolute paths inside the container"
                ),
            ));
        }
    }
    let paths = |v: &[String]| v.iter().map(PathBuf::from).collect::<Vec<_>>();
    r.landlock = Landlock {
        ro: paths(&l.ro),
        rw: paths(&l.rw),
        exec: paths(&l.exec),
        bind: l.bind.clone(),
        connect: l.connect.clone(),
        strict: l.strict.unwrap_or(false),
    };
    if r.landlock.is_empty() {
        return Err(cx.invalid(
            "landlock",
            "names no path and no port: remove the section or list what is allowed".into(),
        ));
    }
    if l.bind.contains(&0) || l.connect.contains(&0) {
        return Err(cx.invalid("landlock", "port 0 is not a port".into()));
    }
    o.landlock_ro = r.landlock.ro.clone();
    o.landlock_rw = r.landlock.rw.clone();
    o.landlock_exec = r.landlock.exec.clone();
    o.landlock_bind = r.landlock.bind.clone();
    o.landlock_connect = r.landlock.connect.clone();
    o.landlock_strict = r.landlock.strict;
    origins.insert("--landlock-*", "[landlock]".into());
    Ok(())
}

/// The [network] section.
fn resolve_network(n: Option<&NetworkSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(n) = n else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    match n.mode.as_str() {
        // Docker's "none" is the same: a private namespace with only lo.
        "none" | "loopback" => o.network_host = false,
        "host" => o.network_host = true,
        other => {
            return Err(cx.invalid(
                "network.mode",
                format!("'{other}': expected \"none\", \"loopback\" or \"host\""),
            ))
        }
    }
    origins.insert("--network", format!("network.mode = {}", n.mode));
    Ok(())
}

/// The [limits] section.
fn resolve_limits(l: Option<&LimitsSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(l) = l else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    if let Some(m) = &l.memory {
        o.memory = Some(match m {
            Scalar::Float(_) => {
                return Err(cx.invalid("limits.memory", "use bytes or a size like \"64m\"".into()))
            }
            other => other.to_string(),
        });
        origins.insert("--memory", format!("limits.memory = {m}"));
    }
    if let Some(p) = l.pids {
        o.pids = Some(p);
        origins.insert("--pids", format!("limits.pids = {p}"));
    }
    if let Some(c) = &l.cpus {
        o.cpus = Some(c.to_string());
        origins.insert("--cpus", format!("limits.cpus = {c}"));
    }
    for (name, v) in &l.rlimits {
        let spec = format!("{name}={v}");
        super::sandbox::parse_rlimit(&spec)
            .map_err(|e| cx.invalid(&format!("limits.rlimits.{name}"), e.to_string()))?;
        o.rlimits.push(spec);
    }
    if !l.rlimits.is_empty() {
        origins.insert(
            "--rlimit",
            format!("limits.rlimits = {}", o.rlimits.join(",")),
        );
    }
    Ok(())
}

/// The [user] section.
fn resolve_user(u: Option<&UserSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(u) = u else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    match (u.uid, u.gid) {
        (Some(uid), Some(gid)) => o.user = Some(format!("{uid}:{gid}")),
        (Some(uid), None) => o.user = Some(uid.to_string()),
        (None, Some(_)) => return Err(cx.invalid("user.gid", "give user.uid too".into())),
        (None, None) => {}
    }
    if let Some(user) = &o.user {
        origins.insert("--user", format!("user = {user}"));
    }
    r.userns = u.userns;
    if u.userns.is_some() {
        origins.insert(
            "--userns",
            format!("user.userns = {}", u.userns == Some(true)),
        );
    }
    Ok(())
}

/// The [env] section.
fn resolve_env(e: Option<&EnvSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(e) = e else {
        return Ok(());
    };
    let o = &mut r.opts;
    for name in &e.allow {
        if name.is_empty() || name.contains('=') {
            return Err(cx.invalid("env.allow", format!("'{name}' is not a variable name")));
        }
        if let Some(v) = (cx.host_env)(name) {
            o.env.push(format!("{name}={v}"));
        }
    }
    for (k, v) in &e.set {
        if k.is_empty() || k.contains('=') {
            return Err(cx.invalid("env.set", format!("'{k}' is not a variable name")));
        }
        o.env.push(format!("{k}={v}"));
    }
    Ok(())
}

/// The [mounts] section.
fn resolve_mounts(m: Option<&MountsSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(m) = m else {
        return Ok(());
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    if let Some(root) = &m.rootfs {
        o.rootfs = Some(resolve(cx.dir, root));
        origins.insert("--rootfs", format!("mounts.rootfs = {root}"));
    }
    if let Some(ro) = m.read_only {
        o.read_only = ro;
        origins.insert("--read-only", format!("mounts.read_only = {ro}"));
    }
    for v in &m.volumes {
        let mode = v.mode.as_deref().unwrap_or("ro");
        if mode != "ro" && mode != "rw" {
            return Err(cx.invalid(
                "mounts.volumes.mode",
                format!("'{mode}': expected \"ro\" or \"rw\""),
            ));
        }
        let src = resolve(cx.dir, &v.src);
        o.volumes
            .push(format!("{}:{}:{mode}", src.display(), v.dst));
    }
    if !m.volumes.is_empty() {
        origins.insert(
            "--volume",
            format!("mounts.volumes = {}", o.volumes.join(",")),
        );
    }
    if let Some(c) = &m.context {
        o.context = Some(resolve(cx.dir, c));
        origins.insert("--context", format!("mounts.context = {c}"));
    }
    Ok(())
}

/// The [process] section.
fn resolve_process(p: Option<&ProcessSection>, r: &mut Resolved) {
    let Some(p) = p else {
        return;
    };
    let o = &mut r.opts;
    let origins = &mut r.origins;
    if let Some(h) = &p.hostname {
        o.hostname = Some(h.clone());
        origins.insert("--hostname", format!("process.hostname = {h}"));
    }
    if let Some(w) = &p.workdir {
        o.workdir = Some(w.clone());
        origins.insert("--workdir", format!("process.workdir = {w}"));
    }
    if let Some(i) = p.init {
        o.init = i;
        origins.insert("--init", format!("process.init = {i}"));
    }
    if let Some(n) = p.no_new_privs {
        o.allow_new_privs = !n;
        origins.insert("--allow-new-privs", format!("process.no_new_privs = {n}"));
    }
}

/// The [mode] section.
fn resolve_mode(m: Option<&ModeSection>, cx: &Cx, r: &mut Resolved) -> Result<(), Error> {
    let Some(m) = m else {
        return Ok(());
    };
    r.mode = Some(match m.mode.as_str() {
        "production" => Mode::Production,
        "agent" => Mode::Agent,
        other => {
            return Err(cx.invalid(
                "mode.mode",
                format!("'{other}': expected \"production\" or \"agent\""),
            ))
        }
    });
    Ok(())
}

/// Lays the command line's options over the policy's: a flag given replaces what the
/// policy said, and each replacement is reported as a note. `flags` holds only what the
/// command line gave (unset options are None/empty/false). `--env` entries are added
/// after the policy's (a name set twice takes the flag's value).
pub fn overlay(r: &mut Resolved, mut flags: SandboxOptions) -> Vec<String> {
    every_flag_is_overlaid(&flags);
    let mut notes = vec![];
    let Resolved {
        opts: o,
        origins,
        caps_explicit,
        seccomp_generated,
        ..
    } = r;
    let mut note = |flag: &'static str, shown: String| {
        if let Some(from) = origins.get(flag) {
            notes.push(format!("{flag} {shown} overrides policy {from}"));
        }
    };
    macro_rules! opt {
        ($field:ident, $flag:literal) => {
            if let Some(v) = flags.$field.take() {
                note($flag, format!("{v}"));
                o.$field = Some(v);
            }
        };
    }
    opt!(memory, "--memory");
    opt!(pids, "--pids");
    opt!(cpus, "--cpus");
    opt!(user, "--user");
    opt!(hostname, "--hostname");
    opt!(workdir, "--workdir");
    if let Some(v) = flags.rootfs.take() {
        note("--rootfs", v.display().to_string());
        o.rootfs = Some(v);
    }
    if let Some(v) = flags.context.take() {
        note("--context", v.display().to_string());
        o.context = Some(v);
    }
    if flags.read_only && !o.read_only {
        note("--read-only", String::new());
        o.read_only = true;
    }
    if flags.init && !o.init {
        note("--init", String::new());
        o.init = true;
    }
    if flags.allow_new_privs && !o.allow_new_privs {
        note("--allow-new-privs", String::new());
        o.allow_new_privs = true;
    }
    if flags.network_host {
        note("--network", "host".into());
        o.network_host = true;
    }
    if !flags.volumes.is_empty() {
        note("--volume", flags.volumes.join(","));
        o.volumes = std::mem::take(&mut flags.volumes);
    }
    if !flags.rlimits.is_empty() {
        note("--rlimit", flags.rlimits.join(","));
        o.rlimits = std::mem::take(&mut flags.rlimits);
    }
    overlay_caps(o, origins, caps_explicit, &mut flags, &mut notes);
    overlay_landlock(o, origins, &mut flags, &mut notes);
    overlay_seccomp(o, origins, seccomp_generated, &mut flags, &mut notes);
    overlay_env(o, flags.env, &mut notes);
    // What the command line always decides.
    o.args = flags.args;
    o.rootless = flags.rootless;
    o.host_ids = flags.host_ids;
    o.passwd = flags.passwd;
    o.term = flags.term;
    notes
}

/// Capabilities: any capability flag replaces the policy's [caps] as a whole.
fn overlay_caps(
    o: &mut SandboxOptions,
    origins: &BTreeMap<&'static str, String>,
    caps_explicit: &mut Option<Policy>,
    flags: &mut SandboxOptions,
    notes: &mut Vec<String>,
) {
    let cap_flags = [
        ("--caps-retain", &flags.caps_retain),
        ("--caps-remove", &flags.caps_remove),
        ("--cap-add", &flags.cap_add),
        ("--cap-drop", &flags.cap_drop),
    ];
    // `--caps-policy FILE` is a capability flag too (its file replaces [caps]).
    let given = match &flags.caps_policy {
        Some((_, origin)) => Some(("--caps-policy", origin.clone())),
        None => cap_flags
            .iter()
            .find(|(_, v)| !v.is_empty())
            .map(|(flag, v)| (*flag, v.join(","))),
    };
    if let Some((flag, shown)) = given {
        if let Some(from) = ["--caps-retain", "--caps-remove", "--caps-policy"]
            .iter()
            .find_map(|k| origins.get(k))
        {
            notes.push(format!("{flag} {shown} overrides policy {from}"));
        }
        o.caps_retain = std::mem::take(&mut flags.caps_retain);
        o.caps_remove = std::mem::take(&mut flags.caps_remove);
        o.cap_add = std::mem::take(&mut flags.cap_add);
        o.cap_drop = std::mem::take(&mut flags.cap_drop);
        o.caps_policy = std::mem::take(&mut flags.caps_policy);
        *caps_explicit = None;
    }
}

/// Landlock: any --landlock-* flag replaces the policy's [landlock] as a whole.
fn overlay_landlock(
    o: &mut SandboxOptions,
    origins: &BTreeMap<&'static str, String>,
    flags: &mut SandboxOptions,
    notes: &mut Vec<String>,
) {
    let ll_given = !(flags.landlock_ro.is_empty()
        && flags.landlock_rw.is_empty()
        && flags.landlock_exec.is_empty()
        && flags.landlock_bind.is_empty()
        && flags.landlock_connect.is_empty())
        || flags.landlock_strict;
    if ll_given {
        if let Some(from) = origins.get("--landlock-*") {
            notes.push(format!("--landlock-* flags override policy {from}"));
        }
        o.landlock_ro = std::mem::take(&mut flags.landlock_ro);
        o.landlock_rw = std::mem::take(&mut flags.landlock_rw);
        o.landlock_exec = std::mem::take(&mut flags.landlock_exec);
        o.landlock_bind = std::mem::take(&mut flags.landlock_bind);
        o.landlock_connect = std::mem::take(&mut flags.landlock_connect);
        o.landlock_strict = flags.landlock_strict;
    }
}

/// Seccomp: either flag replaces the policy's [seccomp].
fn overlay_seccomp(
    o: &mut SandboxOptions,
    origins: &BTreeMap<&'static str, String>,
    seccomp_generated: &mut bool,
    flags: &mut SandboxOptions,
    notes: &mut Vec<String>,
) {
    if flags.seccomp.is_some() || flags.seccomp_profile.is_some() {
        let from = origins
            .get("--seccomp")
            .or_else(|| origins.get("--seccomp-profile"));
        if let Some(from) = from {
            let shown = match &flags.seccomp {
                Some(m) => format!("--seccomp {m}"),
                None => "--seccomp-profile".into(),
            };
            notes.push(format!("{shown} overrides policy {from}"));
        }
        o.seccomp = std::mem::take(&mut flags.seccomp);
        o.seccomp_profile = std::mem::take(&mut flags.seccomp_profile);
        *seccomp_generated = false;
    }
}

/// `--env` entries go after the policy's (a name set twice takes the flag's value).
fn overlay_env(o: &mut SandboxOptions, env: Vec<String>, notes: &mut Vec<String>) {
    for e in env {
        let name = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        if o.env
            .iter()
            .any(|x| x.split_once('=').map(|(k, _)| k) == Some(name))
        {
            notes.push(format!("--env {name}=… overrides policy env {name}"));
        }
        o.env.push(e);
    }
}

/// Exhaustive on purpose: a field added to SandboxOptions (a new run flag) stops this
/// from compiling until [`overlay`] says what the flag does to a policy — a flag must
/// never be dropped silently when a policy is given.
fn every_flag_is_overlaid(flags: &SandboxOptions) {
    let SandboxOptions {
        rootfs: _,
        read_only: _,
        volumes: _,
        context: _,
        hostname: _,
        network_host: _,
        user: _,
        env: _,
        workdir: _,
        caps_retain: _,
        caps_remove: _,
        cap_add: _,
        cap_drop: _,
        allow_new_privs: _,
        seccomp: _,
        seccomp_profile: _,
        memory: _,
        pids: _,
        cpus: _,
        rlimits: _,
        init: _,
        rootless: _,
        host_ids: _,
        passwd: _,
        term: _,
        args: _,
        landlock_ro: _,
        landlock_rw: _,
        landlock_exec: _,
        landlock_bind: _,
        landlock_connect: _,
        landlock_strict: _,
        caps_policy: _,
    } = flags;
}

/// Applies what the sandbox options cannot say to a built `Config`: `[caps]` as five
/// explicit sets.
pub fn apply_caps(cfg: &mut super::config::Config, r: &Resolved) -> Result<(), Error> {
    if let Some(p) = &r.caps_explicit {
        cfg.caps = p.target(cfg.user.uid != 0).map_err(|e| Error::Invalid {
            file: "".into(),
            key: "caps".into(),
            why: e.to_string(),
        })?;
    }
    Ok(())
}

/// The host ids a rootful sandbox's user namespace maps container ids 0… onto when
/// /etc/subuid (or /etc/subgid) names no range for root: useradd's first range.
pub const USERNS_DEFAULT_RANGE: (u32, u32) = (100_000, 65_536);

/// The first range of `user` in an /etc/subuid or /etc/subgid text (`name:start:count`).
pub fn subid_range(text: &str, user: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let mut f = l.trim().split(':');
        (f.next()? == user).then_some(())?;
        let start = f.next()?.parse().ok()?;
        let count: u32 = f.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

/// Puts a rootful sandbox into a user namespace (`--userns`, `[user] userns = true`):
/// container ids 0..count map onto host ids start..start+count, so root inside is an
/// unprivileged id outside. The runtime (root) still writes the maps and makes the cgroup.
pub fn apply_userns(
    cfg: &mut super::config::Config,
    uids: (u32, u32),
    gids: (u32, u32),
) -> Result<(), Error> {
    let invalid = |why: String| Error::Invalid {
        file: "--userns".into(),
        key: "user".into(),
        why,
    };
    if cfg.user.uid >= uids.1 || cfg.user.gid >= gids.1 {
        return Err(invalid(format!(
            "uid {} / gid {} is outside the {} / {} ids the user namespace maps",
            cfg.user.uid, cfg.user.gid, uids.1, gids.1
        )));
    }
    if cfg.id_maps.is_some() {
        // Rootless: the namespace exists already, mapping the caller.
        return Ok(());
    }
    cfg.namespaces.user = true;
    cfg.id_maps = Some((
        format!("0 {} {}\n", uids.0, uids.1),
        format!("0 {} {}\n", gids.0, gids.1),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn resolved(text: &str) -> Result<Resolved, Error> {
        let doc = parse(text, "p.toml")?;
        resolve_doc(
            &doc,
            "p.toml",
            Path::new("/etc/pol"),
            &Files::new(),
            &no_env,
        )
    }

    #[test]
    fn unknown_keys_name_the_closest_known_key() {
        let e = parse("[caps]\nretian = [\"kill\"]\n", "p.toml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("unknown key 'retian'"), "{s}");
        assert!(s.contains("closest known key: 'retain'"), "{s}");
        assert!(s.contains("line 2"), "{s}");
        assert!(s.contains("in [caps]"), "{s}");
        let e = parse("[limit]\nmemory = \"64m\"\n", "p.toml").unwrap_err();
        assert!(e.to_string().contains("'limit'"), "{e}");
        assert!(e.to_string().contains("closest known key: 'limits'"), "{e}");
        let e = parse(
            "[mounts]\nvolumes = [{ src = \"/a\", dts = \"/b\" }]\n",
            "p",
        )
        .unwrap_err();
        assert!(e.to_string().contains("closest known key: 'dst'"), "{e}");
        let e = parse("[seccomp]\nprofil = \"x\"\n", "p").unwrap_err();
        assert!(e.to_string().contains("'profile'"), "{e}");
        assert!(e.hint().unwrap().contains("sha256"));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let e = parse("[caps]\nretain = [\n", "p.toml").unwrap_err();
        assert!(matches!(e, Error::Syntax { .. }), "{e}");
        let e = parse("[limits]\npids = \"many\"\n", "p.toml").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn pins() {
        let h = sha256_hex(b"abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(check_pin("f", "x", &h.to_uppercase(), b"abc").is_ok());
        let e = check_pin("seccomp profile", "/p/s.json", &h, b"abd").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("/p/s.json") && s.contains(&h) && s.contains(&sha256_hex(b"abd")));
        let e = resolved("[seccomp]\nprofile = \"s.json\"\nsha256 = \"12\"\n").unwrap_err();
        assert!(matches!(e, Error::BadPin { .. }), "{e}");
    }

    #[test]
    fn sections_map_onto_the_run_options() {
        let r = resolved(
            r#"
[caps]
retain = ["net_bind_service"]
[seccomp]
mode = "default"
[network]
mode = "host"
[limits]
memory = "64m"
pids = 32
cpus = 0.5
rlimits = { nofile = "100:200", core = 0 }
[user]
uid = 1000
gid = 1000
[mounts]
rootfs = "root"
read_only = true
volumes = [{ src = "data", dst = "/data", mode = "rw" }]
[process]
no_new_privs = false
[mode]
mode = "production"
"#,
        )
        .unwrap();
        let o = &r.opts;
        assert_eq!(o.caps_retain, vec!["net_bind_service"]);
        assert_eq!(o.seccomp.as_deref(), Some("default"));
        assert!(o.network_host);
        assert_eq!(o.memory.as_deref(), Some("64m"));
        assert_eq!(o.pids, Some(32));
        assert_eq!(o.cpus.as_deref(), Some("0.5"));
        assert_eq!(o.rlimits, vec!["core=0", "nofile=100:200"]);
        assert_eq!(o.user.as_deref(), Some("1000:1000"));
        assert_eq!(o.rootfs.as_deref(), Some(Path::new("/etc/pol/root")));
        assert!(o.read_only && o.allow_new_privs);
        assert_eq!(o.volumes, vec!["/etc/pol/data:/data:rw"]);
        assert_eq!(r.mode, Some(Mode::Production));
    }

    #[test]
    fn the_five_sets_go_through_the_caps_policy_model() {
        let r = resolved("[caps]\nbounding = [\"kill\"]\npermitted = [\"kill\"]\n").unwrap();
        let p = r.caps_explicit.clone().unwrap();
        let t = p.target(false).unwrap();
        // The JSON form of the same lists is the same policy.
        let json = Policy::from_json(r#"{"bounding":["kill"],"permitted":["kill"]}"#, "p");
        assert_eq!(json.unwrap(), p);
        assert_eq!(t.bounding.bits(), 1 << 5);
        assert!(t.effective.is_empty());
        // The same mistakes as the JSON form.
        assert!(resolved("[caps]\nretain = [\"kill\"]\nremove = [\"chown\"]\n").is_err());
        assert!(resolved("[caps]\nretain = [\"nonsense\"]\n")
            .unwrap_err()
            .to_string()
            .contains("nonsense"));
    }

    #[test]
    fn seccomp_forms() {
        let r = resolved("[seccomp]\nallow = [\"read\", \"write\", \"execve\"]\n").unwrap();
        let p = r.opts.seccomp_profile.unwrap();
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["defaultErrnoRet"], 1);
        assert_eq!(v["syscalls"][0]["names"][2], "execve");
        assert!(r.seccomp_generated);
        for bad in [
            "[seccomp]\nmode = \"default\"\nallow = [\"read\"]\n",
            "[seccomp]\nmode = \"strict\"\n",
            "[seccomp]\n",
            "[seccomp]\nmode = \"default\"\nsha256 = \"00\"\n",
            "[seccomp]\nallow = []\n",
            "[seccomp]\nmode = \"default\"\nerrno = 1\n",
        ] {
            assert!(resolved(bad).is_err(), "{bad}");
        }
        // A profile needs its content (the caller reads and pins it).
        assert!(resolved("[seccomp]\nprofile = \"s.json\"\n").is_err());
        let doc = parse("[seccomp]\nprofile = \"s.json\"\n", "p").unwrap();
        let refs = references(&doc, Path::new("/etc/pol"));
        assert_eq!(refs[0].path, Path::new("/etc/pol/s.json"));
        assert_eq!(refs[0].sha256, None);
        let mut files = Files::new();
        files.insert("seccomp.profile", "{}".into());
        let r = resolve_doc(&doc, "p", Path::new("/etc/pol"), &files, &no_env).unwrap();
        assert_eq!(r.opts.seccomp_profile.as_deref(), Some("{}"));
    }

    #[test]
    fn landlock_env_network_and_bad_values() {
        let r = resolved(
            "[landlock]\nro = [\"/usr\", \"/lib\"]\nconnect = [443]\n[network]\nmode = \"none\"\n",
        )
        .unwrap();
        assert_eq!(
            r.opts.landlock_ro,
            vec![PathBuf::from("/usr"), "/lib".into()]
        );
        assert_eq!(r.opts.landlock_connect, vec![443]);
        assert!(resolved("[landlock]\nro = [\"lib\"]\n").is_err());
        assert_eq!(r.landlock.abi_needed(), 4);
        assert!(!r.opts.network_host);
        let doc = parse(
            "[env]\nallow = [\"LANG\", \"NOPE\"]\nset = { A = \"b\" }\n",
            "p",
        )
        .unwrap();
        let env = |k: &str| (k == "LANG").then(|| "C.UTF-8".to_string());
        let r = resolve_doc(&doc, "p", Path::new("/"), &Files::new(), &env).unwrap();
        assert_eq!(r.opts.env, vec!["LANG=C.UTF-8", "A=b"]);
        for bad in [
            "[network]\nmode = \"bridge\"\n",
            "[mode]\nmode = \"paranoid\"\n",
            "[limits]\nrlimits = { bogus = 1 }\n",
            "[limits]\nmemory = 1.5\n",
            "[user]\ngid = 5\n",
            "[landlock]\n",
            "[mounts]\nvolumes = [{ src = \"/a\", dst = \"/b\", mode = \"rx\" }]\n",
        ] {
            assert!(resolved(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_namespace_maps() {
        assert_eq!(
            subid_range("a:1:2\nroot:200000:65536\n", "root"),
            Some((200000, 65536))
        );
        assert_eq!(subid_range("root:x:1\n", "root"), None);
        let mut c = crate::spec::sandbox::build(&SandboxOptions {
            args: vec!["true".into()],
            ..Default::default()
        })
        .unwrap();
        apply_userns(&mut c, USERNS_DEFAULT_RANGE, USERNS_DEFAULT_RANGE).unwrap();
        assert!(c.namespaces.user);
        assert_eq!(c.id_maps.unwrap().0, "0 100000 65536\n");
        let mut c = crate::spec::sandbox::build(&SandboxOptions {
            args: vec!["true".into()],
            user: Some("70000".into()),
            ..Default::default()
        })
        .unwrap();
        assert!(apply_userns(&mut c, USERNS_DEFAULT_RANGE, USERNS_DEFAULT_RANGE).is_err());
    }

    #[test]
    fn flags_override_and_are_reported() {
        let mut r = resolved(
            "[limits]\nmemory = \"32m\"\n[caps]\nretain = [\"kill\"]\n[env]\nset = { A = \"1\" }\n",
        )
        .unwrap();
        let flags = SandboxOptions {
            memory: Some("64m".into()),
            caps_remove: vec!["net_raw".into()],
            env: vec!["A=2".into()],
            pids: Some(10),
            args: vec!["true".into()],
            ..Default::default()
        };
        let notes = overlay(&mut r, flags);
        assert!(
            notes.contains(&"--memory 64m overrides policy limits.memory = 32m".to_string()),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.starts_with("--caps-remove net_raw overrides policy caps")),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.starts_with("--env A=")), "{notes:?}");
        // --pids was not in the policy: no note.
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert_eq!(r.opts.memory.as_deref(), Some("64m"));
        assert!(r.opts.caps_retain.is_empty());
        assert_eq!(r.opts.caps_remove, vec!["net_raw"]);
        assert_eq!(r.opts.env, vec!["A=1", "A=2"]);
        assert_eq!(r.opts.args, vec!["true"]);
    }
}
