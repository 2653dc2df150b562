//! OCI runtime-spec config.json (parsed with oci-spec) into the `Config` nucleus executes,
//! the same description the one-shot sandbox builds: one set-up path for both.
//!
//! One module per section of the config, each translating and checking its part:
//! [`process`], [`mounts`], [`namespaces`] (with the sysctl policy), [`resources`] (cgroup
//! limits, the device cgroup and linux.devices), [`seccomp`], [`hooks`], [`landlock`] and
//! [`attrs`] (the OCI 1.1/1.2 attributes). `translate` reads the raw JSON first (what
//! oci-spec would drop silently), then calls each section in turn. Pure: facts about the
//! host are checked when the cgroup is made.
//!
//! What nucleus does not implement yet is refused at create time with a clear error, never
//! accepted silently. Capability names no kernel knows are warned about and skipped.

mod attrs;
mod hooks;
mod landlock;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod seccomp;

pub use attrs::{IOPRIO_CLASSES, PERSONALITY_FLAGS, SCHED_FLAGS, SCHED_POLICIES};
pub use hooks::HOOK_NAMES;
pub use namespaces::NAMESPACE_NAMES;
pub use process::exec_process;

use super::config::*;
use oci_spec::runtime::Spec;
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

/// The value of `name` in a (name, value) table.
fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// An enum value as the config spells it (serde's name).
fn spelled<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
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

/// The raw JSON's checks (what oci-spec would drop or refuse less clearly), then oci-spec's
/// parse. Returns the spec and process.landlock (not in oci-spec).
fn parse(
    text: &str,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Spec, Option<Landlock>), OciError> {
    let invalid = |why: String| OciError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let mut v: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    process::strip_unknown_caps(&mut v, warnings, path)?;
    let landlock = landlock::landlock_of(v.pointer("/process/landlock"), path)?;
    hooks::check_hook_names(path, &v)?;
    check_unimplemented(path, &v)?;
    let spec: Spec = serde_json::from_value(v).map_err(|e| invalid(e.to_string()))?;
    check_oci_version(path, spec.version())?;
    Ok((spec, landlock))
}

/// Translates the text of a config.json whose bundle directory is `bundle`.
pub fn translate(text: &str, bundle: &Path) -> Result<Bundle, OciError> {
    let path = bundle.join("config.json");
    let invalid = |why: &str| OciError::Invalid {
        path: path.clone(),
        why: why.into(),
    };
    let mut warnings = Vec::new();
    let (spec, landlock) = parse(text, &path, &mut warnings)?;
    let root = spec.root().as_ref().ok_or_else(|| invalid("no root"))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("no process"))?;
    let (args, env) = process::command_of(process, &path, "process.args")?;
    let caps = process::caps_of(process, &mut warnings);
    let rlimits = process::rlimits_of(process)?;
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    process::check_landlock(&landlock, no_new_privs, &path)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let (namespaces, join) = namespaces::namespaces_of(&linux, &path)?;
    let id_maps = namespaces::id_maps_of(&linux, &namespaces, &path)?;
    let resources = resources::resources_of(&linux, &path, &mut warnings)?;
    let seccomp = seccomp::seccomp_of(&linux, &path)?;
    let sysctl = namespaces::sysctl_of(&linux, &namespaces, &join)?;
    let rootfs_propagation = rootfs_propagation_of(&linux, &path)?;
    let devices = resources::devices_of(&linux, &path)?;
    process::label_warnings(process, &mut warnings);
    let mounts = mounts::mounts_of(&spec, id_maps.as_ref())?;
    let attrs = attrs::attrs_of(&path, &spec, process, &linux, &namespaces, &sysctl)?;
    let paths = |l: &Option<Vec<String>>| l.iter().flatten().map(PathBuf::from).collect();
    let config = Config {
        root: RootFs::Dir(bundle.join(root.path())),
        readonly_root: root.readonly().unwrap_or(false),
        mounts,
        masked_paths: paths(linux.masked_paths()),
        readonly_paths: paths(linux.readonly_paths()),
        hostname: spec.hostname().clone(),
        namespaces,
        args,
        env,
        cwd: process.cwd().clone(),
        user: process::user_of(process),
        umask: process.user().umask(),
        caps,
        no_new_privs,
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
        hooks: hooks::hooks_of(&spec)?,
        rootfs_propagation,
        terminal: process.terminal().unwrap_or(false),
        console_size: process::console_size_of(process, &path)?,
        preserve_fds: 0,
        landlock,
        attrs,
    };
    Ok(Bundle {
        config,
        annotations: spec.annotations().clone().unwrap_or_default(),
        warnings,
        oci_version: spec.version().clone(),
    })
}

/// linux.rootfsPropagation (`r` prefixes allowed); empty is none.
fn rootfs_propagation_of(
    linux: &oci_spec::runtime::Linux,
    path: &Path,
) -> Result<Option<Propagation>, OciError> {
    let Some(p) = linux
        .rootfs_propagation()
        .as_deref()
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    Ok(Some(match p.strip_prefix('r').unwrap_or(p) {
        "shared" => Propagation::Shared,
        "slave" => Propagation::Slave,
        "private" => Propagation::Private,
        "unbindable" => Propagation::Unbindable,
        _ => {
            return Err(OciError::Invalid {
                path: path.to_path_buf(),
                why: format!(
                    "linux.rootfsPropagation '{p}': use shared, slave, private or unbindable"
                ),
            })
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::CapSet;

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
            vec![(
                nix::sched::CloneFlags::CLONE_NEWNET,
                PathBuf::from("/run/netns/x")
            )]
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
