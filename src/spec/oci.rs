//! OCI runtime-spec config.json (parsed with oci-spec) into the `Config` nucleus executes,
//! the same description the one-shot sandbox builds: one set-up path for both.
//!
//! What nucleus does not implement yet is refused at create time with a clear error, never
//! accepted silently. Capability names no kernel knows are warned about and skipped.

use super::config::*;
use crate::caps::{CapSet, Capability, Sets};
use crate::linux::identity::Identity;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The newest runtime-spec version nucleus implements (`features`' ociVersionMax and
/// `nucleus --version`). oci-spec 0.10 parses 1.2's fields although its VERSION constant
/// still says 1.1.0.
pub const SPEC_VERSION: &str = "1.2.0";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("cannot read {path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path}: invalid config: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("config.json: {0} is not supported by nucleus yet")]
    Unsupported(String),
    /// Invalid, with the fix for this particular setting.
    #[error("{path}: invalid config: {why}")]
    Rejected {
        path: PathBuf,
        why: String,
        hint: String,
    },
}

fn rejected(path: &Path, why: impl Into<String>, hint: impl Into<String>) -> OciError {
    OciError::Rejected {
        path: path.to_path_buf(),
        why: why.into(),
        hint: hint.into(),
    }
}

impl OciError {
    pub fn hint(&self) -> Option<String> {
        match self {
            OciError::Read { .. } => {
                Some("give the bundle directory with --bundle (it holds config.json)".into())
            }
            OciError::Invalid { .. } => {
                Some("`nucleus spec` writes a valid config.json to start from".into())
            }
            OciError::Unsupported(_) => Some("remove that setting from config.json".into()),
            OciError::Rejected { hint, .. } => Some(hint.clone()),
        }
    }
}

/// A translated bundle: what to run, plus what `state` reports.
#[derive(Debug)]
pub struct Bundle {
    pub config: Config,
    pub annotations: HashMap<String, String>,
    pub warnings: Vec<String>,
    pub oci_version: String,
}

/// Removes capability names nucleus does not know from process.capabilities, with a
/// warning each, so that oci-spec's parser accepts the rest. A number (`12` or `"12"`) or
/// anything else that is not a string is refused: OCI lists capabilities by name, and a
/// number that happened to parse would grant a capability nobody named.
fn strip_unknown_caps(
    v: &mut Value,
    warnings: &mut Vec<String>,
    path: &Path,
) -> Result<(), OciError> {
    let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    for (set, list) in caps.iter_mut() {
        let Some(arr) = list.as_array_mut() else {
            continue;
        };
        for n in arr.iter() {
            let number = match n {
                Value::String(s) => s.trim().parse::<i64>().ok(),
                Value::Number(x) => x.as_i64().or(Some(-1)),
                _ => {
                    return Err(rejected(
                        path,
                        format!("process.capabilities.{set}: {n} is not a capability name"),
                        "list capabilities by name, like \"CAP_NET_BIND_SERVICE\"",
                    ))
                }
            };
            if let Some(num) = number {
                let named = u8::try_from(num)
                    .ok()
                    .and_then(Capability::from_index)
                    .map_or(String::new(), |c| format!(" ({} is {num})", c.name()));
                return Err(rejected(
                    path,
                    format!(
                        "process.capabilities.{set}: '{}' is a number, not a capability name",
                        n.as_str().map_or_else(|| n.to_string(), str::to_string)
                    ),
                    format!("list capabilities by name{named}"),
                ));
            }
        }
        arr.retain(|n| {
            let name = n.as_str().unwrap_or("");
            let ok = Capability::parse(name).is_ok();
            if !ok {
                warnings.push(format!("unknown capability {name} in {set}: skipped"));
            }
            ok
        });
    }
    Ok(())
}

/// `ociVersion` must be a semantic version (MAJOR.MINOR.PATCH, optionally `-pre` and
/// `+build`) of runtime-spec 1.x: the major version is the compatibility promise, so a
/// 1.x that nucleus predates is still read, while `2.0.0`, `1.0` or `foo` are refused.
fn check_oci_version(path: &Path, v: &str) -> Result<(), OciError> {
    let core = v.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    let semver = parts.len() == 3
        && parts.iter().all(numeric)
        && v[core.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
        && !v.ends_with(['-', '+', '.']);
    if !semver {
        return Err(rejected(
            path,
            format!("ociVersion '{v}' is not a runtime-spec version (MAJOR.MINOR.PATCH)"),
            format!("set \"ociVersion\": \"{SPEC_VERSION}\""),
        ));
    }
    if parts[0] != "1" {
        return Err(rejected(
            path,
            format!("ociVersion {v}: nucleus implements runtime-spec 1.x (up to {SPEC_VERSION})"),
            format!("write the config for runtime-spec {SPEC_VERSION}"),
        ));
    }
    Ok(())
}

/// Refuses an argument or environment entry holding a NUL byte (execve() would cut it
/// short), naming its position.
fn check_nul(path: &Path, args: &[String], env: &[String]) -> Result<(), OciError> {
    let hint = "a program sees a string only up to its NUL byte: remove the NUL (\\u0000)";
    if let Some(i) = first_with_nul(args) {
        return Err(rejected(
            path,
            format!("argument {i} contains a NUL byte (process.args[{i}])"),
            hint,
        ));
    }
    if let Some(i) = first_with_nul(env) {
        return Err(rejected(
            path,
            format!("process.env[{i}] contains a NUL byte"),
            hint,
        ));
    }
    Ok(())
}

/// process.cwd must be absolute (OCI; runc refuses a relative one too).
fn check_cwd(path: &Path, cwd: &Path) -> Result<(), OciError> {
    if cwd.is_absolute() {
        return Ok(());
    }
    Err(rejected(
        path,
        format!("process.cwd '{}' must be an absolute path", cwd.display()),
        format!(
            "give the working directory as an absolute path inside the container, like '/{}'",
            cwd.display()
        ),
    ))
}

/// process.rlimits as setrlimit resources; an unknown type is refused.
fn rlimits_of(process: &oci_spec::runtime::Process) -> Result<Vec<Rlimit>, OciError> {
    let mut rlimits = Vec::new();
    for r in process.rlimits().clone().unwrap_or_default() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let resource = RLIMITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, r)| *r)
            .ok_or_else(|| OciError::Unsupported(format!("rlimit {name}")))?;
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(rlimits)
}

/// The kernel raises an ambient capability only when it is both permitted and inheritable
/// (`runc spec` lists ambient capabilities with no inheritable set). The others are
/// dropped from ambient with a warning naming them, rather than failing the container.
fn ambient_within(mut sets: Sets, warnings: &mut Vec<String>) -> Sets {
    let allowed = sets.permitted & sets.inheritable;
    let dropped = sets.ambient & !allowed;
    if dropped != CapSet::EMPTY {
        warnings.push(format!(
            "ambient {} skipped: an ambient capability must also be permitted and inheritable",
            dropped.names().join(",")
        ));
        sets.ambient = sets.ambient & allowed;
    }
    sets
}

fn caps_of(list: Option<&oci_spec::runtime::Capabilities>) -> CapSet {
    let mut s = CapSet::EMPTY;
    for c in list.into_iter().flatten() {
        // oci-spec prints the canonical CAP_ name.
        if let Ok(cap) = Capability::parse(&c.to_string()) {
            s.insert(cap);
        }
    }
    s
}

const RLIMITS: &[(&str, i32)] = &[
    ("RLIMIT_AS", libc::RLIMIT_AS as i32),
    ("RLIMIT_CORE", libc::RLIMIT_CORE as i32),
    ("RLIMIT_CPU", libc::RLIMIT_CPU as i32),
    ("RLIMIT_DATA", libc::RLIMIT_DATA as i32),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE as i32),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS as i32),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK as i32),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE as i32),
    ("RLIMIT_NICE", libc::RLIMIT_NICE as i32),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE as i32),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC as i32),
    ("RLIMIT_RSS", libc::RLIMIT_RSS as i32),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO as i32),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME as i32),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING as i32),
    ("RLIMIT_STACK", libc::RLIMIT_STACK as i32),
];

/// The config's hooks. A hook path must be absolute (it is not looked up in $PATH).
fn hooks_of(spec: &Spec) -> Result<Hooks, OciError> {
    let Some(h) = spec.hooks() else {
        return Ok(Hooks::default());
    };
    let conv = |name: &str, list: &Option<Vec<oci_spec::runtime::Hook>>| {
        list.clone()
            .unwrap_or_default()
            .into_iter()
            .map(|k| {
                if !k.path().is_absolute() {
                    return Err(OciError::Invalid {
                        path: "config.json".into(),
                        why: format!(
                            "hooks.{name} path '{}' must be absolute",
                            k.path().display()
                        ),
                    });
                }
                let timeout =
                    match k.timeout() {
                        Some(t) if t <= 0 => return Err(rejected(
                            Path::new("config.json"),
                            format!(
                                "hooks.{name} '{}': timeout {t} must be positive",
                                k.path().display()
                            ),
                            "give the timeout in seconds (at least 1), or leave it out for none",
                        )),
                        t => t.map(|t| t as u64),
                    };
                Ok(Hook {
                    path: k.path().clone(),
                    args: k.args().clone().unwrap_or_default(),
                    env: k.env().clone(),
                    timeout,
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    #[allow(deprecated)]
    let prestart = conv("prestart", h.prestart())?;
    Ok(Hooks {
        prestart,
        create_runtime: conv("createRuntime", h.create_runtime())?,
        create_container: conv("createContainer", h.create_container())?,
        start_container: conv("startContainer", h.start_container())?,
        poststart: conv("poststart", h.poststart())?,
        poststop: conv("poststop", h.poststop())?,
    })
}

/// Files inside /proc that may be mounted over (what lxcfs emulates), as runc allows.
const PROC_MOUNTABLE: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// runc's rule for /proc: at /proc only a proc filesystem (a fresh one, or a bind of the
/// host's /proc as rootless Podman makes with a host PID namespace); inside /proc only the
/// files lxcfs emulates. Anything else would hide the container's /proc from nucleus's own
/// set-up and from the masked paths.
fn check_proc_mount(
    dest: &Path,
    typ: &str,
    is_bind: bool,
    source: Option<&Path>,
) -> Result<(), OciError> {
    let config = Path::new("config.json");
    if dest == Path::new("/proc") {
        let proc_bind = is_bind && source == Some(Path::new("/proc"));
        if (typ == "proc" && !is_bind) || proc_bind {
            return Ok(());
        }
        let kind = if is_bind { "bind" } else { typ };
        return Err(rejected(
            config,
            format!("mounts: a {kind} mount at /proc: only a proc filesystem may go there"),
            "use {\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}, \
             or mount it elsewhere",
        ));
    }
    if dest.starts_with("/proc") && !PROC_MOUNTABLE.iter().any(|p| dest == Path::new(p)) {
        return Err(rejected(
            config,
            format!("mounts: {} is inside /proc", dest.display()),
            "inside /proc only lxcfs's files (/proc/cpuinfo, /proc/meminfo, …) may be \
             mounted; mount it elsewhere",
        ));
    }
    Ok(())
}

/// The uid_map/gid_map text of OCI id mappings ("inside outside count" lines).
fn id_map_text(m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>) -> String {
    m.iter()
        .flatten()
        .map(|r| format!("{} {} {}\n", r.container_id(), r.host_id(), r.size()))
        .collect()
}

/// A mount of config.json: its kind, and its options through the one option table
/// (`spec::mount_options::TABLE`): flags nucleus applies, the rest passed to the filesystem
/// as data. `container_maps`: the container's own id maps (an `idmap` option without
/// mappings of its own uses them).
fn mount_of(
    m: &oci_spec::runtime::Mount,
    container_maps: Option<&(String, String)>,
) -> Result<Mount, OciError> {
    use super::mount_options::{parse, IdMap};
    let dest = m.destination().display().to_string();
    let destination = super::sandbox::clean_abs(&dest).map_err(|_| OciError::Invalid {
        path: "config.json".into(),
        why: format!("mount destination '{dest}' must be absolute, without '..'"),
    })?;
    let config = Path::new("config.json");
    let opts: Vec<String> = m.options().clone().unwrap_or_default();
    let typ = m.typ().clone().unwrap_or_default();
    let parsed = parse(&opts, typ == "bind").map_err(|why| {
        rejected(
            config,
            format!("mounts: {dest}: {why}"),
            "see `nucleus features` for the mount options nucleus implements",
        )
    })?;
    let is_bind = typ == "bind" || parsed.bind.is_some();
    check_proc_mount(&destination, &typ, is_bind, m.source().as_deref())?;
    let kind = if is_bind {
        let source = m.source().clone().ok_or_else(|| OciError::Invalid {
            path: "config.json".into(),
            why: format!("bind mount {dest} has no source"),
        })?;
        MountKind::Bind {
            source,
            recursive: parsed.bind == Some(true),
        }
    } else {
        match typ.as_str() {
            "tmpfs" => MountKind::Tmpfs {
                copy_up: parsed.copy_up,
            },
            "proc" => MountKind::Proc,
            "sysfs" => MountKind::Sysfs,
            "devpts" => MountKind::Devpts,
            "mqueue" => MountKind::Mqueue,
            "cgroup" | "cgroup2" => MountKind::Cgroup,
            "overlay" => MountKind::Overlay,
            other => {
                return Err(OciError::Unsupported(format!(
                    "mount type '{other}' (at {dest})"
                )))
            }
        }
    };
    let mut attrs = parsed.attrs;
    let (uids, gids) = (m.uid_mappings(), m.gid_mappings());
    if parsed.idmap.is_some() || uids.is_some() || gids.is_some() {
        let refuse =
            |why: &str, hint: &str| rejected(config, format!("mounts: {dest}: {why}"), hint);
        if !is_bind {
            return Err(refuse(
                "only a bind mount can be id-mapped",
                "add \"bind\" or \"rbind\" to its options, or drop uidMappings/gidMappings",
            ));
        }
        let (uids, gids) = match (id_map_text(uids), id_map_text(gids)) {
            (u, g) if !u.is_empty() && !g.is_empty() => (u, g),
            (u, g) if u.is_empty() && g.is_empty() => match container_maps {
                Some((u, g)) => (u.clone(), g.clone()),
                None => {
                    return Err(refuse(
                        "an idmap mount without uidMappings/gidMappings takes the \
                         container's, and it has no user namespace",
                        "give the mount uidMappings and gidMappings",
                    ))
                }
            },
            _ => {
                return Err(refuse(
                    "uidMappings and gidMappings go together",
                    "give both, or neither",
                ))
            }
        };
        attrs.idmap = Some(IdMap {
            uids,
            gids,
            recursive: parsed.idmap == Some(true),
        });
    }
    use super::mount_options::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY};
    let has = |f: u64| attrs.set & f != 0;
    let mut mnt = Mount {
        kind,
        destination,
        readonly: has(MS_RDONLY),
        nosuid: has(MS_NOSUID),
        nodev: has(MS_NODEV),
        noexec: has(MS_NOEXEC),
        data: parsed.data.join(","),
        label: None,
        attrs,
    };
    if !is_bind {
        mnt.label = m.source().as_ref().map(|s| s.display().to_string());
    }
    Ok(mnt)
}

/// The device cgroup rules of a container: deny all, `config_rules`, the standard devices,
/// the config's linux.devices nodes.
fn default_device_rules(
    config_rules: Vec<(bool, String)>,
    linux: &oci_spec::runtime::Linux,
) -> Vec<(bool, String)> {
    let mut rules = vec![(false, "a".to_string())];
    rules.extend(config_rules);
    for rule in [
        // mknod of any node is allowed (as runc): opening it is what the rules decide.
        "c *:* m",
        "b *:* m",
        "c 1:3 rwm",
        "c 1:5 rwm",
        "c 1:7 rwm",
        "c 1:8 rwm",
        "c 1:9 rwm",
        "c 5:0 rwm",
        "c 5:1 rwm",
        "c 5:2 rwm",
        "c 136:* rwm",
    ] {
        rules.push((true, rule.to_string()));
    }
    for d in linux.devices().clone().unwrap_or_default() {
        use oci_spec::runtime::LinuxDeviceType as T;
        let kind = match d.typ() {
            T::B => "b",
            T::C | T::U => "c",
            _ => continue,
        };
        rules.push((true, format!("{kind} {}:{} rwm", d.major(), d.minor())));
    }
    rules
}

// ---- What `features` advertises (issue #14), from the parser's own tables ----

/// The hooks nucleus runs, by their config.json names; any other name is refused.
pub const HOOK_NAMES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Namespaces a config may create or join, by their config.json names ("time" is refused).
pub const NAMESPACE_NAMES: &[&str] = &["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];

/// Refuses a hook name nucleus would not run (oci-spec would drop it silently).
fn check_hook_names(path: &Path, v: &Value) -> Result<(), OciError> {
    let Some(hooks) = v.get("hooks").and_then(Value::as_object) else {
        return Ok(());
    };
    match hooks.keys().find(|k| !HOOK_NAMES.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) => Err(rejected(
            path,
            format!("hooks.{k} is not a hook nucleus knows"),
            format!("use one of {}", HOOK_NAMES.join(", ")),
        )),
    }
}

/// linux fields of newer runtime-spec versions that nucleus does not implement: refused
/// when present and not empty (oci-spec would parse some and nucleus would drop them).
const UNIMPLEMENTED_LINUX: &[(&str, &str)] = &[
    (
        "memoryPolicy",
        "set_mempolicy(2) for the container is not implemented; remove linux.memoryPolicy",
    ),
    (
        "netDevices",
        "moving host network devices into the container is not implemented; remove \
         linux.netDevices",
    ),
    (
        "timeOffsets",
        "time namespace offsets are not implemented; remove linux.timeOffsets",
    ),
];

/// Refuses the fields of [`UNIMPLEMENTED_LINUX`] rather than ignoring them.
fn check_unimplemented(path: &Path, v: &Value) -> Result<(), OciError> {
    let Some(linux) = v.get("linux").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, hint) in UNIMPLEMENTED_LINUX {
        let given = match linux.get(*key) {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if given {
            return Err(rejected(
                path,
                format!("linux.{key} is not supported by nucleus"),
                *hint,
            ));
        }
    }
    Ok(())
}

/// Reads and translates `bundle/config.json`.
pub fn load(bundle: &Path) -> Result<Bundle, OciError> {
    let path = bundle.join("config.json");
    let text = read_regular(&path)?;
    translate(&text, bundle)
}

/// Reads a file that must be a regular file. A FIFO would block the reader until someone
/// writes (a `create` that never returns), a device could be anything: both are refused.
/// Opened with O_NONBLOCK (no wait for a FIFO's writer), then checked with fstat.
fn read_regular(path: &Path) -> Result<String, OciError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let read_err = |e: std::io::Error| OciError::Read {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(read_err)?;
    let ft = f.metadata().map_err(read_err)?.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_dir() {
            "a directory"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(rejected(
            path,
            format!("not a regular file (it is {kind})"),
            "write the configuration into a regular file named config.json in the bundle",
        ));
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(read_err)?;
    Ok(text)
}

/// Translates the text of a config.json whose bundle directory is `bundle`.
pub fn translate(text: &str, bundle: &Path) -> Result<Bundle, OciError> {
    let path = bundle.join("config.json");
    let invalid = |why: String| OciError::Invalid {
        path: path.clone(),
        why,
    };
    let mut v: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut warnings = Vec::new();
    strip_unknown_caps(&mut v, &mut warnings, &path)?;
    // process.landlock (runtime-spec PR 1241) is not in oci-spec: read from the raw JSON.
    let landlock = landlock_of(v.pointer("/process/landlock"), &path)?;
    check_hook_names(&path, &v)?;
    check_unimplemented(&path, &v)?;
    let spec: Spec = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
    check_oci_version(&path, spec.version())?;

    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| invalid("no root".into()))?;
    let root_path = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("no process".into()))?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("process.args is empty".into()));
    }
    let env = process.env().clone().unwrap_or_default();
    check_nul(&path, &args, &env)?;
    check_cwd(&path, process.cwd())?;
    let user = process.user();
    let caps = process.capabilities().as_ref();
    let sets = Sets {
        bounding: caps_of(caps.and_then(|c| c.bounding().as_ref())),
        permitted: caps_of(caps.and_then(|c| c.permitted().as_ref())),
        effective: caps_of(caps.and_then(|c| c.effective().as_ref())),
        inheritable: caps_of(caps.and_then(|c| c.inheritable().as_ref())),
        ambient: caps_of(caps.and_then(|c| c.ambient().as_ref())),
    };
    let sets = ambient_within(sets, &mut warnings);
    let rlimits = rlimits_of(process)?;
    if landlock.is_some() && !process.no_new_privileges().unwrap_or(false) {
        return Err(rejected(
            &path,
            "process.landlock needs process.noNewPrivileges",
            "set \"noNewPrivileges\": true (nucleus applies Landlock after no_new_privs, as \
             the kernel requires once capabilities are dropped)",
        ));
    }

    let linux = spec.linux().clone().unwrap_or_default();
    let mut ns = Namespaces {
        mount: false,
        pid: false,
        uts: false,
        ipc: false,
        net: false,
        cgroup: false,
        user: false,
    };
    let mut join = Vec::new();
    let mut seen = Vec::new();
    for n in linux.namespaces().clone().unwrap_or_default() {
        if seen.contains(&n.typ()) {
            // As the config spells it (pid, network, mount, …).
            let name = serde_json::to_value(n.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_else(|| n.typ().to_string());
            return Err(rejected(
                &path,
                format!("linux.namespaces lists {name} twice"),
                format!(
                    "keep one {name} entry: with a path to join a namespace, without one to \
                     create it"
                ),
            ));
        }
        seen.push(n.typ());
        if let Some(p) = n.path() {
            let flag = match n.typ() {
                LinuxNamespaceType::Network => libc::CLONE_NEWNET,
                LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
                LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
                LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
                LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
                LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
                LinuxNamespaceType::User => libc::CLONE_NEWUSER,
                other => {
                    return Err(OciError::Unsupported(format!(
                        "joining an existing {other:?} namespace"
                    )))
                }
            };
            join.push((flag, p.clone()));
            continue;
        }
        match n.typ() {
            LinuxNamespaceType::Mount => ns.mount = true,
            LinuxNamespaceType::Pid => ns.pid = true,
            LinuxNamespaceType::Uts => ns.uts = true,
            LinuxNamespaceType::Ipc => ns.ipc = true,
            LinuxNamespaceType::Network => ns.net = true,
            LinuxNamespaceType::Cgroup => ns.cgroup = true,
            LinuxNamespaceType::User => ns.user = true,
            other => return Err(OciError::Unsupported(format!("namespace {other:?}"))),
        }
    }
    // Path lookups after joining a mount namespace resolve in it: that join goes last.
    // The user namespace goes first (it grants the capabilities for the others).
    join.sort_by_key(|(flag, _)| match *flag {
        libc::CLONE_NEWUSER => 0,
        libc::CLONE_NEWNS => 2,
        _ => 1,
    });
    if !ns.mount && !join.iter().any(|(f, _)| *f == libc::CLONE_NEWNS) {
        return Err(OciError::Unsupported(
            "running without a mount namespace".into(),
        ));
    }
    let map = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| -> String {
        m.iter()
            .flatten()
            .map(|r| format!("{} {} {}\n", r.container_id(), r.host_id(), r.size()))
            .collect()
    };
    let id_maps = if ns.user {
        let (u, g) = (map(linux.uid_mappings()), map(linux.gid_mappings()));
        if u.is_empty() || g.is_empty() {
            return Err(invalid(
                "a user namespace needs linux.uidMappings and linux.gidMappings".into(),
            ));
        }
        Some((u, g))
    } else {
        None
    };
    // Every OCI container gets a cgroup with a freezer, for pause/resume.
    let mut resources = Resources {
        cpu_period: 100_000,
        freezer: true,
        ..Resources::default()
    };
    if let Some(r) = linux.resources() {
        resources.memory = r
            .memory()
            .as_ref()
            .and_then(|m| m.limit())
            .filter(|l| *l > 0)
            .map(|l| l as u64);
        if let Some(l) = resources.memory.filter(|l| *l < MIN_MEMORY_LIMIT) {
            return Err(rejected(
                &path,
                format!(
                    "linux.resources.memory.limit {l} is below the {} MiB minimum (the \
                     container could not even start)",
                    MIN_MEMORY_LIMIT >> 20
                ),
                format!(
                    "set at least {MIN_MEMORY_LIMIT} ({} MiB), or -1 for no limit",
                    MIN_MEMORY_LIMIT >> 20
                ),
            ));
        }
        resources.pids = r
            .pids()
            .as_ref()
            .map(|p| p.limit())
            .filter(|l| *l > 0)
            .map(|l| l as u64);
        if let Some(m) = r.memory() {
            resources.memory_reservation = m.reservation().filter(|v| *v > 0).map(|v| v as u64);
            resources.memory_swap = m.swap().filter(|v| *v != 0);
            resources.memory_swappiness = m.swappiness();
        }
        if let Some(cpu) = r.cpu() {
            resources.cpu_quota = cpu.quota().filter(|q| *q > 0).map(|q| q as u64);
            resources.cpu_period = cpu.period().unwrap_or(100_000);
            resources.cpu_shares = cpu.shares().filter(|s| *s > 0);
            resources.cpuset_cpus = cpu.cpus().clone().filter(|c| !c.is_empty());
            resources.cpuset_mems = cpu.mems().clone().filter(|m| !m.is_empty());
        }
        if let Some(devs) = r.devices() {
            // Enforced on both versions: v1 devices cgroup, v2 eBPF (linux::devices_bpf).
            resources
                .devices
                .extend(super::devices_bpf::oci_rules(devs).map_err(invalid)?);
        }
        // blockIO, hugepageLimits, network, rdma, unified, realtime, disableOOMKiller:
        // translated here, checked against the host when the cgroup is made.
        warnings.extend(super::resources::from_oci(r, &mut resources).map_err(invalid)?);
    }
    let seccomp = match linux.seccomp() {
        None => Seccomp::Unconfined,
        Some(s) => Seccomp::Oci(serde_json::to_string(s).map_err(|e| invalid(e.to_string()))?),
    };
    let mut sysctl: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctl.sort();
    for (k, _) in &sysctl {
        let ipc = k.starts_with("kernel.shm")
            || k.starts_with("kernel.msg")
            || k == "kernel.sem"
            || k.starts_with("fs.mqueue.");
        let joined = |f: i32| join.iter().any(|(flag, _)| *flag == f);
        let own_net = ns.net || joined(libc::CLONE_NEWNET);
        let own_ipc = ns.ipc || joined(libc::CLONE_NEWIPC);
        let namespaced = (ipc && own_ipc)
            || (k.starts_with("net.") && own_net)
            || (matches!(k.as_str(), "kernel.hostname" | "kernel.domainname") && ns.uts);
        if !namespaced {
            return Err(OciError::Unsupported(format!(
                "sysctl {k} (not namespaced in this container)"
            )));
        }
    }
    let rootfs_propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(p) => {
            let base = p.strip_prefix('r').unwrap_or(p);
            if !["shared", "slave", "private", "unbindable"].contains(&base) {
                return Err(invalid(format!(
                    "linux.rootfsPropagation '{p}': use shared, slave, private or unbindable"
                )));
            }
            Some(base.to_string())
        }
    };
    // The device cgroup always applies, as runc's does (DESIGN.md §5.9): deny everything,
    // then the config's own rules, then the standard devices nucleus puts in /dev and
    // pseudo-terminals, then the nodes the config asks for. Without it a container that
    // keeps CAP_MKNOD could make and open any block device of the host.
    resources.devices = default_device_rules(std::mem::take(&mut resources.devices), &linux);
    let mut devices = Vec::new();
    for d in linux.devices().clone().unwrap_or_default() {
        use oci_spec::runtime::LinuxDeviceType as T;
        let shown = d.path().display().to_string();
        let path = super::sandbox::clean_abs(&shown).map_err(|_| {
            invalid(format!(
                "linux.devices path '{shown}' must be absolute, without '..'"
            ))
        })?;
        let kind = match d.typ() {
            T::C | T::U => 'c',
            T::B => 'b',
            T::P => 'p',
            T::A => {
                return Err(invalid(format!(
                    "linux.devices {shown}: type 'a' is not a device"
                )))
            }
        };
        devices.push(Device {
            path,
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    if let Some(p) = process.apparmor_profile() {
        warnings.push(format!(
            "AppArmor profile {p} is not applied: nucleus does not support AppArmor"
        ));
    }
    if let Some(l) = process.selinux_label() {
        warnings.push(format!(
            "SELinux label {l} is not applied: nucleus does not support SELinux"
        ));
    }
    let mounts = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .iter()
        .map(|m| mount_of(m, id_maps.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let attrs = attrs_of(&path, &spec, process, &linux, &ns, &sysctl)?;

    Ok(Bundle {
        config: Config {
            root: RootFs::Dir(root_path),
            readonly_root: root.readonly().unwrap_or(false),
            mounts,
            masked_paths: linux
                .masked_paths()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            readonly_paths: linux
                .readonly_paths()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            hostname: spec.hostname().clone(),
            namespaces: ns,
            args,
            env,
            cwd: process.cwd().clone(),
            user: Identity {
                uid: user.uid(),
                gid: user.gid(),
                groups: user.additional_gids().clone().unwrap_or_default(),
            },
            umask: user.umask(),
            caps: sets,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            rlimits,
            seccomp,
            resources,
            cgroups_path: linux
                .cgroups_path()
                .as_ref()
                .map(|p| p.display().to_string()),
            init: false,
            id_maps,
            join,
            sysctl,
            oom_score_adj: process.oom_score_adj(),
            devices,
            hooks: hooks_of(&spec)?,
            rootfs_propagation,
            terminal: process.terminal().unwrap_or(false),
            console_size: console_size_of(process, &path)?,
            preserve_fds: 0,
            landlock,
            attrs,
        },
        annotations: spec.annotations().clone().unwrap_or_default(),
        warnings,
        oci_version: spec.version().clone(),
    })
}

// ---- process.landlock ---------------------------------------------------------------------

/// The known keys of each object of process.landlock, by the object's name.
const LANDLOCK_KEYS: &[(&str, &[&str])] = &[
    (
        "process.landlock",
        &["ruleset", "rules", "disableBestEffort"],
    ),
    (
        "process.landlock.ruleset",
        &["handledAccessFS", "handledAccessNetwork"],
    ),
    ("process.landlock.rules", &["pathBeneath", "netPort"]),
    (
        "process.landlock.rules.pathBeneath[]",
        &["allowedAccess", "paths"],
    ),
    (
        "process.landlock.rules.netPort[]",
        &["allowedAccess", "ports"],
    ),
];

/// The object at `v`, whose keys must all be known (unknown keys are refused with the
/// closest known one, never ignored).
fn landlock_object<'a>(
    v: &'a Value,
    at: &'static str,
    path: &Path,
) -> Result<&'a serde_json::Map<String, Value>, OciError> {
    let known = LANDLOCK_KEYS
        .iter()
        .find(|(n, _)| *n == at)
        .map_or(&[][..], |(_, k)| *k);
    let obj = v
        .as_object()
        .ok_or_else(|| rejected(path, format!("{at} is not an object"), "write it as {…}"))?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        let near = known
            .iter()
            .min_by_key(|n| strsim::levenshtein(&k.to_lowercase(), &n.to_lowercase()))
            .copied()
            .unwrap_or("");
        return Err(rejected(
            path,
            format!("{at}: unknown key '{k}'"),
            format!(
                "did you mean '{near}'? known keys: {} (runtime-spec PR 1241)",
                known.join(", ")
            ),
        ));
    }
    Ok(obj)
}

/// A list of access-right names from `table` as bits.
fn landlock_rights(
    v: Option<&Value>,
    at: &str,
    table: &[(&str, u64, u8)],
    path: &Path,
) -> Result<u64, OciError> {
    let Some(v) = v else { return Ok(0) };
    let names = || {
        table
            .iter()
            .map(|(n, _, _)| *n)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let list = v.as_array().ok_or_else(|| {
        rejected(
            path,
            format!("{at} is not a list"),
            format!("list rights by name: {}", names()),
        )
    })?;
    let mut bits = 0;
    for r in list {
        let name = r.as_str().unwrap_or("");
        bits |= landlock_access(table, name).ok_or_else(|| {
            rejected(
                path,
                format!("{at}: unknown access right {r}"),
                format!("known rights: {}", names()),
            )
        })?;
    }
    Ok(bits)
}

/// process.landlock as a `Landlock`: handled rights, pathBeneath and netPort rules,
/// disableBestEffort. Paths are absolute paths inside the container.
fn landlock_of(v: Option<&Value>, path: &Path) -> Result<Option<Landlock>, OciError> {
    let Some(v) = v else { return Ok(None) };
    let top = landlock_object(v, "process.landlock", path)?;
    let mut ll = Landlock::default();
    if let Some(rs) = top.get("ruleset") {
        let rs = landlock_object(rs, "process.landlock.ruleset", path)?;
        ll.handled_fs = landlock_rights(
            rs.get("handledAccessFS"),
            "process.landlock.ruleset.handledAccessFS",
            LANDLOCK_FS,
            path,
        )?;
        ll.handled_net = landlock_rights(
            rs.get("handledAccessNetwork"),
            "process.landlock.ruleset.handledAccessNetwork",
            LANDLOCK_NET,
            path,
        )?;
    }
    let list = |v: Option<&Value>, at: &str| -> Result<Vec<Value>, OciError> {
        match v {
            None => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(rejected(
                path,
                format!("{at} is not a list"),
                "write it as [...]",
            )),
        }
    };
    if let Some(rules) = top.get("rules") {
        let rules = landlock_object(rules, "process.landlock.rules", path)?;
        for r in list(
            rules.get("pathBeneath"),
            "process.landlock.rules.pathBeneath",
        )? {
            let r = landlock_object(&r, "process.landlock.rules.pathBeneath[]", path)?;
            let access = landlock_rights(
                r.get("allowedAccess"),
                "process.landlock.rules.pathBeneath[].allowedAccess",
                LANDLOCK_FS,
                path,
            )?;
            for p in list(r.get("paths"), "process.landlock.rules.pathBeneath[].paths")? {
                let s = p.as_str().unwrap_or("");
                let clean = super::sandbox::clean_abs(s).map_err(|_| {
                    rejected(
                        path,
                        format!("process.landlock.rules.pathBeneath[].paths: {p} is not an absolute path without '..'"),
                        "give paths inside the container, like /usr",
                    )
                })?;
                ll.paths.push(LandlockPath {
                    path: clean,
                    access,
                });
            }
        }
        for r in list(rules.get("netPort"), "process.landlock.rules.netPort")? {
            let r = landlock_object(&r, "process.landlock.rules.netPort[]", path)?;
            let access = landlock_rights(
                r.get("allowedAccess"),
                "process.landlock.rules.netPort[].allowedAccess",
                LANDLOCK_NET,
                path,
            )?;
            for p in list(r.get("ports"), "process.landlock.rules.netPort[].ports")? {
                let port = p
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| {
                        rejected(
                            path,
                            format!(
                                "process.landlock.rules.netPort[].ports: {p} is not a TCP port"
                            ),
                            "give port numbers from 0 to 65535",
                        )
                    })?;
                ll.ports.push(LandlockPort { port, access });
            }
        }
    }
    match top.get("disableBestEffort") {
        None => {}
        Some(Value::Bool(b)) => ll.strict = *b,
        Some(other) => {
            return Err(rejected(
                path,
                format!("process.landlock.disableBestEffort: {other} is not true or false"),
                "write true or false",
            ))
        }
    }
    // A rule may only allow what the ruleset handles: the kernel refuses the rest.
    for r in &ll.paths {
        if r.access & !ll.handled_fs != 0 {
            return Err(rejected(
                path,
                format!(
                    "process.landlock: the rule for {} allows {} that ruleset.handledAccessFS does not handle",
                    r.path.display(),
                    landlock_names(LANDLOCK_FS, r.access & !ll.handled_fs).join(", ")
                ),
                "add those rights to ruleset.handledAccessFS or remove them from the rule",
            ));
        }
    }
    for r in &ll.ports {
        if r.access & !ll.handled_net != 0 {
            return Err(rejected(
                path,
                format!(
                    "process.landlock: the rule for port {} allows {} that ruleset.handledAccessNetwork does not handle",
                    r.port,
                    landlock_names(LANDLOCK_NET, r.access & !ll.handled_net).join(", ")
                ),
                "add those rights to ruleset.handledAccessNetwork or remove them from the rule",
            ));
        }
    }
    if ll.handled_fs == 0 && ll.handled_net == 0 {
        return Err(rejected(
            path,
            "process.landlock handles no access right",
            "list what to restrict in ruleset.handledAccessFS or ruleset.handledAccessNetwork",
        ));
    }
    Ok(Some(ll))
}

// ---- OCI 1.1/1.2 attributes (issue #14): scheduler, ioPriority, execCPUAffinity,
// personality, domainname; intelRdt refused ----

/// Scheduler policies by their OCI names (sched(7) numbers); SCHED_ISO is not in Linux.
pub const SCHED_POLICIES: &[(&str, u32)] = &[
    ("SCHED_OTHER", 0),
    ("SCHED_FIFO", 1),
    ("SCHED_RR", 2),
    ("SCHED_BATCH", 3),
    ("SCHED_IDLE", 5),
    ("SCHED_DEADLINE", 6),
];

/// Scheduler flags by their OCI names (sched_setattr(2)'s SCHED_FLAG_*).
pub const SCHED_FLAGS: &[(&str, u64)] = &[
    ("SCHED_FLAG_RESET_ON_FORK", 0x01),
    ("SCHED_FLAG_RECLAIM", 0x02),
    ("SCHED_FLAG_DL_OVERRUN", 0x04),
    ("SCHED_FLAG_KEEP_POLICY", 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", 0x10),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", 0x20),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", 0x40),
];

/// I/O priority classes by their OCI names (ioprio_set(2)).
pub const IOPRIO_CLASSES: &[(&str, u32)] = &[
    ("IOPRIO_CLASS_RT", 1),
    ("IOPRIO_CLASS_BE", 2),
    ("IOPRIO_CLASS_IDLE", 3),
];

/// personality(2) flags a config may name in linux.personality.flags.
pub const PERSONALITY_FLAGS: &[(&str, u32)] = &[
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

/// An enum value as the config spells it (serde's name).
fn spelled<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// process.scheduler into sched_setattr's arguments, checked as runc checks it: nice in
/// -20…19, a priority (1…99) only for SCHED_FIFO/SCHED_RR, runtime/deadline/period only for
/// SCHED_DEADLINE.
fn scheduler_of(path: &Path, s: &oci_spec::runtime::Scheduler) -> Result<SchedAttr, OciError> {
    let name = spelled(s.policy());
    let bad = |why: String, hint: &str| rejected(path, format!("process.scheduler: {why}"), hint);
    let policy = SCHED_POLICIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, p)| *p)
        .ok_or_else(|| {
            bad(
                format!("policy {name} is not a Linux scheduling policy"),
                "use SCHED_OTHER, SCHED_BATCH, SCHED_IDLE, SCHED_FIFO, SCHED_RR or SCHED_DEADLINE",
            )
        })?;
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(bad(
            format!("nice {nice} is outside -20…19"),
            "give a nice value from -20 to 19",
        ));
    }
    let realtime = matches!(name.as_str(), "SCHED_FIFO" | "SCHED_RR");
    let priority = s.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        return Err(bad(
            format!("{name} needs a priority from 1 to 99 (got {priority})"),
            "set process.scheduler.priority between 1 and 99",
        ));
    }
    if !realtime && priority != 0 {
        return Err(bad(
            format!("priority {priority} applies only to SCHED_FIFO and SCHED_RR"),
            "remove priority, or use a real-time policy",
        ));
    }
    let dl = [s.runtime(), s.deadline(), s.period()];
    if name != "SCHED_DEADLINE" && dl.iter().any(|v| v.is_some_and(|v| v != 0)) {
        return Err(bad(
            "runtime, deadline and period apply only to SCHED_DEADLINE".into(),
            "remove them, or use SCHED_DEADLINE",
        ));
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        let n = spelled(f);
        flags |= SCHED_FLAGS
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                bad(
                    format!("unknown flag {n}"),
                    "see sched_setattr(2) for SCHED_FLAG_*",
                )
            })?;
    }
    Ok(SchedAttr {
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime: dl[0].unwrap_or(0),
        deadline: dl[1].unwrap_or(0),
        period: dl[2].unwrap_or(0),
    })
}

/// A CPU list (`0-3,6`) into CPU numbers.
fn cpu_list(path: &Path, field: &str, s: &str) -> Result<Vec<usize>, OciError> {
    let bad = || {
        rejected(
            path,
            format!("process.execCPUAffinity.{field} '{s}' is not a CPU list"),
            "write CPUs as a list like 0-3,6",
        )
    };
    let mut cpus = Vec::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= 8192 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    Ok(cpus)
}

/// The OCI 1.1/1.2 attributes of a config; what nucleus cannot apply is refused.
fn attrs_of(
    path: &Path,
    spec: &Spec,
    process: &oci_spec::runtime::Process,
    linux: &oci_spec::runtime::Linux,
    ns: &Namespaces,
    sysctl: &[(String, String)],
) -> Result<Attrs, OciError> {
    if linux.intel_rdt().is_some() {
        return Err(rejected(
            path,
            "linux.intelRdt: nucleus does not manage Intel RDT (resctrl) groups",
            "remove linux.intelRdt (cache and memory-bandwidth allocation are not supported)",
        ));
    }
    let mut a = Attrs::default();
    if let Some(s) = process.scheduler() {
        a.scheduler = Some(scheduler_of(path, s)?);
    }
    if let Some(io) = process.io_priority() {
        let class = spelled(&io.class());
        let class = IOPRIO_CLASSES
            .iter()
            .find(|(n, _)| *n == class)
            .map_or(2, |(_, c)| *c);
        let level = io.priority();
        if !(0..=7).contains(&level) {
            return Err(rejected(
                path,
                format!("process.ioPriority.priority {level} is outside 0…7"),
                "give a priority from 0 (highest) to 7 (lowest)",
            ));
        }
        a.io_priority = Some(class << 13 | level as u32);
    }
    if let Some(aff) = process.exec_cpu_affinity() {
        a.affinity_initial = aff
            .initial()
            .as_deref()
            .map(|s| cpu_list(path, "initial", s))
            .transpose()?;
        a.affinity_final = aff
            .cpu_affinity_final()
            .as_deref()
            .map(|s| cpu_list(path, "final", s))
            .transpose()?;
    }
    if let Some(p) = linux.personality() {
        let mut v = match p.domain() {
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux => 0,
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
        };
        for f in p.flags().iter().flatten() {
            v |= PERSONALITY_FLAGS
                .iter()
                .find(|(n, _)| n == f)
                .map(|(_, b)| *b)
                .ok_or_else(|| {
                    rejected(
                        path,
                        format!("linux.personality.flags: unknown flag '{f}'"),
                        "use personality(2)'s names, like ADDR_NO_RANDOMIZE",
                    )
                })?;
        }
        a.personality = Some(v);
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !ns.uts {
            return Err(rejected(
                path,
                "domainname needs a new UTS namespace (the host's domain name is not the container's to set)",
                "add {\"type\": \"uts\"} to linux.namespaces, or remove domainname",
            ));
        }
        if let Some((_, v)) = sysctl
            .iter()
            .find(|(k, v)| k == "kernel.domainname" && v != d)
        {
            return Err(rejected(
                path,
                format!("domainname '{d}' and sysctl kernel.domainname '{v}' disagree"),
                "give the domain name once (domainname), or make both the same",
            ));
        }
        a.domainname = Some(d.to_string());
    }
    Ok(a)
}

/// process.consoleSize as (rows, columns); None when absent or 0×0 (the kernel's default).
fn console_size_of(
    p: &oci_spec::runtime::Process,
    path: &Path,
) -> Result<Option<(u16, u16)>, OciError> {
    let Some(b) = p.console_size() else {
        return Ok(None);
    };
    let (h, w) = (b.height(), b.width());
    if h == 0 && w == 0 {
        return Ok(None);
    }
    match (u16::try_from(h), u16::try_from(w)) {
        (Ok(h), Ok(w)) => Ok(Some((h, w))),
        _ => Err(OciError::Invalid {
            path: path.to_path_buf(),
            why: format!("process.consoleSize {h}x{w}: height and width must be at most 65535"),
        }),
    }
}

/// The process of `exec --process FILE` (an OCI process.json).
pub fn exec_process(text: &str) -> Result<(crate::linux::exec::ExecSpec, Vec<String>), OciError> {
    let path = PathBuf::from("process.json");
    let invalid = |why: String| OciError::Invalid {
        path: path.clone(),
        why,
    };
    let mut v: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut warnings = Vec::new();
    let mut wrapped = serde_json::json!({ "process": v.take() });
    strip_unknown_caps(&mut wrapped, &mut warnings, &path)?;
    let landlock = landlock_of(wrapped.pointer("/process/landlock"), &path)?;
    let p: oci_spec::runtime::Process =
        serde_json::from_value(wrapped["process"].take()).map_err(|e| invalid(e.to_string()))?;
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(invalid("args is empty".into()));
    }
    let env = p.env().clone().unwrap_or_default();
    check_nul(&path, &args, &env)?;
    check_cwd(&path, p.cwd())?;
    let caps = p.capabilities().as_ref();
    let rlimits = rlimits_of(&p)?;
    // As for create: labels nucleus cannot apply are said, not silently dropped.
    if let Some(a) = p.apparmor_profile() {
        warnings.push(format!(
            "AppArmor profile {a} is not applied: nucleus does not support AppArmor"
        ));
    }
    if let Some(l) = p.selinux_label() {
        warnings.push(format!(
            "SELinux label {l} is not applied: nucleus does not support SELinux"
        ));
    }
    let spec = crate::linux::exec::ExecSpec {
        args,
        env,
        cwd: p.cwd().clone(),
        user: Identity {
            uid: p.user().uid(),
            gid: p.user().gid(),
            groups: p.user().additional_gids().clone().unwrap_or_default(),
        },
        umask: p.user().umask(),
        oom_score_adj: p.oom_score_adj(),
        caps: ambient_within(
            Sets {
                bounding: caps_of(caps.and_then(|c| c.bounding().as_ref())),
                permitted: caps_of(caps.and_then(|c| c.permitted().as_ref())),
                effective: caps_of(caps.and_then(|c| c.effective().as_ref())),
                inheritable: caps_of(caps.and_then(|c| c.inheritable().as_ref())),
                ambient: caps_of(caps.and_then(|c| c.ambient().as_ref())),
            },
            &mut warnings,
        ),
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        rlimits,
        terminal: p.terminal().unwrap_or(false),
        console_size: console_size_of(&p, &path)?,
        preserve_fds: 0,
        landlock,
    };
    if spec.landlock.is_some() && !spec.no_new_privs {
        return Err(rejected(
            &path,
            "process.landlock needs noNewPrivileges",
            "set \"noNewPrivileges\": true",
        ));
    }
    Ok((spec, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs", "readonly": true},
            "process": {
                "args": ["sh"], "cwd": "/", "env": ["PATH=/bin"],
                "user": {"uid": 1000, "gid": 100, "additionalGids": [5]},
                "noNewPrivileges": true,
                "capabilities": {"bounding": ["CAP_CHOWN", "CAP_NO_SUCH_THING", "CAP_KILL"], "effective": ["CAP_KILL"],
                                 "permitted": ["CAP_KILL"], "inheritable": [], "ambient": []},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512}]
            },
            "hostname": "box",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro", "nosuid"]},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "network"}],
                "resources": {"memory": {"limit": 33554432}, "pids": {"limit": 20}},
                "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
                "sysctl": {"net.ipv4.ping_group_range": "0 0"}
            },
            "annotations": {"a": "b"}
        })
    }

    #[test]
    fn newer_linux_fields_nucleus_lacks_are_refused_not_dropped() {
        for (key, value) in [
            (
                "memoryPolicy",
                serde_json::json!({"mode": "MPOL_BIND", "nodes": "0"}),
            ),
            ("netDevices", serde_json::json!({"eth1": {"name": "eth1"}})),
            ("timeOffsets", serde_json::json!({"monotonic": {"secs": 1}})),
        ] {
            let mut v = base();
            v["linux"][key] = value;
            let e = translate(&v.to_string(), Path::new("/b")).unwrap_err();
            assert!(e.to_string().contains(&format!("linux.{key}")), "{e}");
            // An empty map is the same as none.
            if key != "memoryPolicy" {
                v["linux"][key] = serde_json::json!({});
                translate(&v.to_string(), Path::new("/b")).unwrap();
            }
        }
    }

    #[test]
    fn dockers_empty_block_io_is_accepted() {
        // What Docker sends for every container that has no blkio option.
        let mut v = base();
        v["linux"]["resources"]["blockIO"] = serde_json::json!({"weight": 0});
        translate(&v.to_string(), Path::new("/b")).unwrap();
        v["linux"]["resources"]["blockIO"] =
            serde_json::json!({"weight": 0, "weightDevice": [], "throttleReadBpsDevice": []});
        translate(&v.to_string(), Path::new("/b")).unwrap();
    }

    #[test]
    fn translates_a_config() {
        let b = translate(&base().to_string(), Path::new("/b")).unwrap();
        let c = &b.config;
        assert_eq!(c.root, RootFs::Dir(PathBuf::from("/b/rootfs")));
        assert!(c.readonly_root);
        assert_eq!(
            (c.user.uid, c.user.gid, c.user.groups.clone()),
            (1000, 100, vec![5])
        );
        assert_eq!(c.caps.bounding, CapSet::parse_list("chown,kill").unwrap());
        assert_eq!(c.caps.effective, CapSet::parse_list("kill").unwrap());
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        assert!(c.namespaces.pid && c.namespaces.mount && c.namespaces.net && !c.namespaces.uts);
        assert_eq!(c.resources.memory, Some(32 << 20));
        assert_eq!(c.resources.pids, Some(20));
        assert_eq!(c.rlimits[0].soft, 512);
        let data = &c.mounts[1];
        assert!(data.readonly && data.nosuid && !data.nodev);
        assert_eq!(
            data.kind,
            MountKind::Bind {
                source: "/srv".into(),
                recursive: true
            }
        );
        assert_eq!(c.mounts[2].data, "mode=755,size=65536k");
        assert_eq!(c.seccomp, Seccomp::Unconfined);
        assert_eq!(b.annotations["a"], "b");
        let mut v = base();
        v["linux"]["namespaces"] =
            serde_json::json!([{"type": "mount"}, {"type": "network", "path": "/run/netns/x"}]);
        let j = translate(&v.to_string(), Path::new("/b")).unwrap();
        assert_eq!(
            j.config.join,
            vec![(libc::CLONE_NEWNET, PathBuf::from("/run/netns/x"))]
        );
        assert!(!j.config.namespaces.net);
        assert_eq!(
            c.sysctl,
            vec![("net.ipv4.ping_group_range".to_string(), "0 0".to_string())]
        );
    }

    #[test]
    fn ambient_outside_permitted_and_inheritable_is_dropped_with_a_warning() {
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"], "inheritable": ["CAP_CHOWN"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"]
        });
        let b = translate(&v.to_string(), Path::new("/b")).unwrap();
        assert_eq!(b.config.caps.ambient.names(), ["CAP_CHOWN"]);
        assert!(
            b.warnings
                .iter()
                .any(|w| w.contains("ambient CAP_KILL skipped")),
            "{:?}",
            b.warnings
        );
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let cases: Vec<(&str, Value)> = vec![
            (
                "/linux/resources",
                serde_json::json!({"unified": {"../memory.max": "1"}}),
            ),
            (
                "/linux/namespaces",
                serde_json::json!([{"type": "mount"}, {"type": "pid", "path": "/proc/1/ns/pid"}]),
            ),
            (
                "/mounts",
                serde_json::json!([{"destination": "/x", "type": "nfs", "source": "srv:/"}]),
            ),
            (
                "/hooks",
                serde_json::json!({"prestart": [{"path": "bin/true"}]}),
            ),
            (
                "/mounts",
                serde_json::json!([{"destination": "rel", "type": "tmpfs"}]),
            ),
            ("/process/args", serde_json::json!([])),
            ("/linux/sysctl", serde_json::json!({"kernel.panic": "1"})),
            (
                "/linux/devices",
                serde_json::json!([{"path": "/dev/../fuse", "type": "c", "major": 10, "minor": 229}]),
            ),
            (
                "/linux/resources",
                serde_json::json!({"blockIO": {"weight": 5}}),
            ),
            (
                "/linux/resources",
                serde_json::json!({"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}),
            ),
        ];
        for (ptr, val) in cases {
            let mut v = base();
            let (parent, key) = ptr.rsplit_once('/').unwrap();
            let target = if parent.is_empty() {
                &mut v
            } else {
                v.pointer_mut(parent).unwrap()
            };
            target.as_object_mut().unwrap().insert(key.to_string(), val);
            assert!(translate(&v.to_string(), Path::new("/b")).is_err(), "{ptr}");
        }
        assert!(translate("{", Path::new("/b")).is_err());
    }

    /// `base()` with the JSON pointer `ptr` set to `val`, translated; the error's text
    /// and hint.
    fn refusal(ptr: &str, val: Value) -> (String, String) {
        let mut v = base();
        *v.pointer_mut(ptr).unwrap() = val;
        let e = translate(&v.to_string(), Path::new("/b")).unwrap_err();
        (e.to_string(), e.hint().unwrap_or_default())
    }

    /// `base()` with `process.landlock` set to `ll`.
    fn with_landlock(ll: Value) -> Result<Bundle, OciError> {
        let mut v = base();
        v["process"]["landlock"] = ll;
        translate(&v.to_string(), Path::new("/b"))
    }

    #[test]
    fn process_landlock_is_translated() {
        assert_eq!(
            translate(&base().to_string(), Path::new("/b"))
                .unwrap()
                .config
                .landlock,
            None
        );
        let b = with_landlock(serde_json::json!({
            "ruleset": {"handledAccessFS": ["execute", "write_file", "read_file", "read_dir"],
                        "handledAccessNetwork": ["bind_tcp"]},
            "rules": {"pathBeneath": [{"allowedAccess": ["execute", "read_file", "read_dir"],
                                       "paths": ["/usr", "/bin/"]}],
                      "netPort": [{"allowedAccess": ["bind_tcp"], "ports": [8080]}]},
            "disableBestEffort": true
        }))
        .unwrap();
        let ll = b.config.landlock.unwrap();
        assert_eq!(
            (ll.handled_fs, ll.handled_net, ll.strict),
            (0b1111, 1, true)
        );
        assert_eq!(
            ll.paths,
            [
                LandlockPath {
                    path: "/usr".into(),
                    access: 0b1101
                },
                LandlockPath {
                    path: "/bin".into(),
                    access: 0b1101
                }
            ]
        );
        assert_eq!(
            ll.ports,
            [LandlockPort {
                port: 8080,
                access: 1
            }]
        );
    }

    #[test]
    fn process_landlock_bad_input_is_refused() {
        let refused = |ll: Value| {
            let e = with_landlock(ll).unwrap_err();
            (e.to_string(), e.hint().unwrap_or_default())
        };
        // Unknown keys, at every level, with the closest known one.
        let (e, h) = refused(serde_json::json!({"ruleset": {"handledAccessFs": ["read_file"]}}));
        assert!(
            e.contains("process.landlock.ruleset: unknown key 'handledAccessFs'"),
            "{e}"
        );
        assert!(h.contains("did you mean 'handledAccessFS'"), "{h}");
        let (e, h) = refused(serde_json::json!({"disableBestEfort": true}));
        assert!(e.contains("unknown key 'disableBestEfort'"), "{e}");
        assert!(h.contains("'disableBestEffort'"), "{h}");
        let (e, _) = refused(serde_json::json!({
            "ruleset": {"handledAccessFS": ["read_file"]},
            "rules": {"pathBeneath": [{"allowedAccess": ["read_file"], "path": ["/"]}]}}));
        assert!(e.contains("pathBeneath[]: unknown key 'path'"), "{e}");
        // Unknown rights, relative paths, bad ports, rights the ruleset does not handle.
        let (e, h) = refused(serde_json::json!({"ruleset": {"handledAccessFS": ["read"]}}));
        assert!(e.contains("unknown access right \"read\""), "{e}");
        assert!(h.contains("read_file"), "{h}");
        let (e, _) = refused(serde_json::json!({
            "ruleset": {"handledAccessFS": ["read_file"]},
            "rules": {"pathBeneath": [{"allowedAccess": ["read_file"], "paths": ["usr"]}]}}));
        assert!(e.contains("\"usr\" is not an absolute path"), "{e}");
        let (e, _) = refused(serde_json::json!({
            "ruleset": {"handledAccessNetwork": ["bind_tcp"]},
            "rules": {"netPort": [{"allowedAccess": ["bind_tcp"], "ports": [70000]}]}}));
        assert!(e.contains("70000 is not a TCP port"), "{e}");
        let (e, _) = refused(serde_json::json!({
            "ruleset": {"handledAccessFS": ["read_file"]},
            "rules": {"pathBeneath": [{"allowedAccess": ["write_file"], "paths": ["/"]}]}}));
        assert!(
            e.contains("allows write_file that ruleset.handledAccessFS"),
            "{e}"
        );
        let (e, _) = refused(serde_json::json!({"disableBestEffort": "yes"}));
        assert!(e.contains("not true or false"), "{e}");
        let (e, _) = refused(serde_json::json!({}));
        assert!(e.contains("handles no access right"), "{e}");
        // Landlock needs no_new_privs.
        let mut v = base();
        v["process"]["noNewPrivileges"] = false.into();
        v["process"]["landlock"] =
            serde_json::json!({"ruleset": {"handledAccessFS": ["write_file"]}});
        let e = translate(&v.to_string(), Path::new("/b")).unwrap_err();
        assert!(
            e.to_string().contains("needs process.noNewPrivileges"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_namespaces_are_refused() {
        let (e, hint) = refusal(
            "/linux/namespaces",
            serde_json::json!([{"type": "mount"}, {"type": "pid"}, {"type": "pid"}]),
        );
        assert_eq!(
            e,
            "/b/config.json: invalid config: linux.namespaces lists pid twice"
        );
        assert!(hint.contains("keep one pid entry"), "{hint}");
        // Creating one and joining another of the same type is a duplicate too.
        let (e, _) = refusal(
            "/linux/namespaces",
            serde_json::json!([{"type": "mount"}, {"type": "network"},
                               {"type": "network", "path": "/run/netns/x"}]),
        );
        assert!(e.contains("lists network twice"), "{e}");
    }

    #[test]
    fn hooks_and_namespaces_are_the_advertised_ones() {
        for h in HOOK_NAMES {
            let mut v = base();
            v["hooks"] = serde_json::json!({ *h: [{"path": "/bin/true"}] });
            assert!(translate(&v.to_string(), Path::new("/b")).is_ok(), "{h}");
        }
        let mut v = base();
        v["hooks"] = serde_json::json!({"preStart": [{"path": "/bin/true"}]});
        let e = translate(&v.to_string(), Path::new("/b")).unwrap_err();
        let (e, hint) = (e.to_string(), e.hint().unwrap_or_default());
        assert!(
            e.ends_with("hooks.preStart is not a hook nucleus knows"),
            "{e}"
        );
        assert!(hint.contains("createRuntime"), "{hint}");
        for n in NAMESPACE_NAMES {
            let mut v = base();
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": n}]);
            v["linux"]["sysctl"] = serde_json::json!({});
            if *n == "user" {
                v["linux"]["uidMappings"] =
                    serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
                v["linux"]["gidMappings"] =
                    serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
            }
            let r = translate(&v.to_string(), Path::new("/b"));
            assert!(r.is_ok() || *n == "mount", "{n}: {:?}", r.err());
        }
        let (e, _) = refusal(
            "/linux/namespaces",
            serde_json::json!([{"type": "mount"}, {"type": "time"}]),
        );
        assert!(e.contains("time") || e.contains("Time"), "{e}");
    }

    #[test]
    fn oci_version_must_be_semver_1_x() {
        for ok in [
            "1.0.0",
            "1.0.2-dev",
            "1.2.0",
            "1.1.0-rc.1",
            "1.3.0",
            "1.0.0+x",
        ] {
            let mut v = base();
            v["ociVersion"] = serde_json::json!(ok);
            assert!(translate(&v.to_string(), Path::new("/b")).is_ok(), "{ok}");
        }
        for bad in ["foo", "", "1", "1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.x"] {
            let (e, hint) = refusal("/ociVersion", serde_json::json!(bad));
            assert!(
                e.ends_with(&format!(
                    "ociVersion '{bad}' is not a runtime-spec version (MAJOR.MINOR.PATCH)"
                )),
                "{e}"
            );
            assert!(hint.contains(SPEC_VERSION), "{hint}");
        }
        let (e, _) = refusal("/ociVersion", serde_json::json!("2.0.0"));
        assert!(
            e.ends_with("ociVersion 2.0.0: nucleus implements runtime-spec 1.x (up to 1.2.0)"),
            "{e}"
        );
    }

    #[test]
    fn relative_cwd_is_refused() {
        let (e, hint) = refusal("/process/cwd", serde_json::json!("tmp"));
        assert!(
            e.ends_with("process.cwd 'tmp' must be an absolute path"),
            "{e}"
        );
        assert!(hint.contains("'/tmp'"), "{hint}");
        let p = r#"{"args": ["sh"], "cwd": "work", "user": {"uid": 0, "gid": 0}}"#;
        let e = exec_process(p).unwrap_err().to_string();
        assert!(e.contains("process.cwd 'work'"), "{e}");
    }

    #[test]
    fn capability_numbers_are_refused() {
        let (e, hint) = refusal(
            "/process/capabilities/bounding",
            serde_json::json!(["CAP_CHOWN", "12"]),
        );
        assert!(
            e.ends_with("process.capabilities.bounding: '12' is a number, not a capability name"),
            "{e}"
        );
        assert!(hint.contains("CAP_NET_ADMIN is 12"), "{hint}");
        let (e, _) = refusal("/process/capabilities/permitted", serde_json::json!([13]));
        assert!(e.contains("permitted: '13' is a number"), "{e}");
        let (e, hint) = refusal("/process/capabilities/effective", serde_json::json!(["99"]));
        assert!(e.contains("'99' is a number"), "{e}");
        assert!(!hint.contains(" is 99"), "{hint}");
        let (e, _) = refusal("/process/capabilities/ambient", serde_json::json!([true]));
        assert!(e.contains("true is not a capability name"), "{e}");
        // A name nobody knows is still a warning (see translates_a_config), and so is
        // the same in process.json.
        let p = r#"{"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "capabilities": {"bounding": ["12"]}}"#;
        assert!(exec_process(p).is_err());
    }

    #[test]
    fn non_positive_hook_timeouts_are_refused() {
        for t in [-1, 0] {
            let mut v = base();
            v["hooks"] = serde_json::json!({"poststop": [{"path": "/bin/true", "timeout": t}]});
            let e = translate(&v.to_string(), Path::new("/b")).unwrap_err();
            assert!(
                e.to_string().ends_with(&format!(
                    "hooks.poststop '/bin/true': timeout {t} must be positive"
                )),
                "{e}"
            );
            assert!(e.hint().unwrap().contains("at least 1"));
        }
        let mut v = base();
        v["hooks"] = serde_json::json!({"poststop": [{"path": "/bin/true", "timeout": 3}]});
        let b = translate(&v.to_string(), Path::new("/b")).unwrap();
        assert_eq!(b.config.hooks.poststop[0].timeout, Some(3));
    }

    #[test]
    fn nul_bytes_in_args_and_env_are_refused() {
        let (e, _) = refusal(
            "/process/args",
            serde_json::json!(["sh", "-c", "echo\u{0}x"]),
        );
        assert!(
            e.ends_with("argument 2 contains a NUL byte (process.args[2])"),
            "{e}"
        );
        let (e, _) = refusal("/process/env", serde_json::json!(["A=1", "B=\u{0}"]));
        assert!(e.ends_with("process.env[1] contains a NUL byte"), "{e}");
        let p = "{\"args\": [\"a\\u0000\"], \"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0}}";
        let e = exec_process(p).unwrap_err().to_string();
        assert!(e.contains("argument 0 contains a NUL byte"), "{e}");
    }

    #[test]
    fn only_proc_goes_at_proc() {
        for (m, want) in [
            (
                serde_json::json!({"destination": "/proc", "type": "bind", "source": "/tmp", "options": ["rbind"]}),
                "a bind mount at /proc",
            ),
            (
                serde_json::json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}),
                "a tmpfs mount at /proc",
            ),
            (
                serde_json::json!({"destination": "/proc/sys", "type": "bind", "source": "/tmp", "options": ["bind"]}),
                "/proc/sys is inside /proc",
            ),
        ] {
            let (e, _) = refusal("/mounts/0", m);
            assert!(e.contains(want), "{e}");
        }
        // What runc allows: proc itself, a bind of the host's /proc, lxcfs's files.
        for m in [
            serde_json::json!({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}),
            serde_json::json!({"destination": "/proc/meminfo", "type": "bind", "source": "/var/lib/lxcfs/proc/meminfo", "options": ["bind"]}),
        ] {
            let mut v = base();
            v["mounts"][0] = m;
            assert!(translate(&v.to_string(), Path::new("/b")).is_ok());
        }
    }

    #[test]
    fn tiny_memory_limits_are_refused() {
        let (e, hint) = refusal("/linux/resources/memory/limit", serde_json::json!(1));
        assert!(
            e.contains("linux.resources.memory.limit 1 is below the 6 MiB minimum"),
            "{e}"
        );
        assert!(hint.contains("6291456"), "{hint}");
        for ok in [-1, 0, 6 << 20] {
            let mut v = base();
            v["linux"]["resources"]["memory"]["limit"] = serde_json::json!(ok);
            assert!(translate(&v.to_string(), Path::new("/b")).is_ok(), "{ok}");
        }
    }

    #[test]
    fn config_json_must_be_a_regular_file() {
        let dir = std::env::temp_dir().join(format!("nucleus-unit-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.json");
        nix::unistd::mkfifo(&cfg, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // Should a regression block on the FIFO, a writer that opens and closes it after
        // a few seconds gives the reader EOF: the test then fails instead of hanging.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let unblock = {
            let (done, cfg) = (done.clone(), cfg.clone());
            std::thread::spawn(move || {
                use std::os::unix::fs::OpenOptionsExt;
                // Wait 3 s, then try as a writer (ENXIO while no reader has it open).
                for tick in 0.. {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let opened = tick >= 60
                        && std::fs::OpenOptions::new()
                            .write(true)
                            .custom_flags(libc::O_NONBLOCK)
                            .open(&cfg)
                            .is_ok();
                    if opened {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            })
        };
        let e = load(&dir).map(|_| ()).unwrap_err().to_string();
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        unblock.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            e.ends_with("config.json: invalid config: not a regular file (it is a FIFO)"),
            "{e}"
        );
    }
}
