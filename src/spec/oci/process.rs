//! `process`: arguments, environment, identity, capabilities, rlimits, console; shared by
//! config.json (`create`) and process.json (`exec --process`).

use super::{rejected, OciError};
use crate::caps::{CapSet, Capability, Sets};
use crate::spec::config::{first_with_nul, Rlimit, RLIMITS};
use oci_spec::runtime::Process;
use serde_json::Value;
use std::path::Path;

/// Removes capability names nucleus does not know from process.capabilities, with a
/// warning each, so that oci-spec's parser accepts the rest. A number (`12` or `"12"`) or
/// anything else that is not a string is refused: OCI lists capabilities by name, and a
/// number that happened to parse would grant a capability nobody named.
pub(super) fn strip_unknown_caps(
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
            check_cap_name(path, set, n)?;
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

/// One entry of a capability list must be a string that is not a number.
fn check_cap_name(path: &Path, set: &str, n: &Value) -> Result<(), OciError> {
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
    let Some(num) = number else { return Ok(()) };
    let named = u8::try_from(num)
        .ok()
        .and_then(Capability::from_index)
        .map_or(String::new(), |c| format!(" ({} is {num})", c.name()));
    Err(rejected(
        path,
        format!(
            "process.capabilities.{set}: '{}' is a number, not a capability name",
            n.as_str().map_or_else(|| n.to_string(), str::to_string)
        ),
        format!("list capabilities by name{named}"),
    ))
}

/// Refuses an argument or environment entry holding a NUL byte (execve() would cut it
/// short), naming its position.
pub(super) fn check_nul(path: &Path, args: &[String], env: &[String]) -> Result<(), OciError> {
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
pub(super) fn check_cwd(path: &Path, cwd: &Path) -> Result<(), OciError> {
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
pub(super) fn rlimits_of(process: &Process) -> Result<Vec<Rlimit>, OciError> {
    let mut rlimits = Vec::new();
    for r in process.rlimits().clone().unwrap_or_default() {
        let name = super::spelled(&r.typ());
        let resource = super::lookup(RLIMITS, &name)
            .ok_or_else(|| OciError::Unsupported(format!("rlimit {name}")))?;
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    Ok(rlimits)
}

/// process.capabilities as the five sets, ambient kept within permitted ∩ inheritable.
pub(super) fn caps_of(process: &Process, warnings: &mut Vec<String>) -> Sets {
    let caps = process.capabilities().as_ref();
    let set = |list: Option<&oci_spec::runtime::Capabilities>| {
        let mut s = CapSet::EMPTY;
        for c in list.into_iter().flatten() {
            // oci-spec prints the canonical CAP_ name.
            if let Ok(cap) = Capability::parse(&c.to_string()) {
                s.insert(cap);
            }
        }
        s
    };
    let sets = Sets {
        bounding: set(caps.and_then(|c| c.bounding().as_ref())),
        permitted: set(caps.and_then(|c| c.permitted().as_ref())),
        effective: set(caps.and_then(|c| c.effective().as_ref())),
        inheritable: set(caps.and_then(|c| c.inheritable().as_ref())),
        ambient: set(caps.and_then(|c| c.ambient().as_ref())),
    };
    ambient_within(sets, warnings)
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

/// process.user as the identity the program runs as.
pub(super) fn user_of(process: &Process) -> crate::caps::identity::Identity {
    let user = process.user();
    crate::caps::identity::Identity {
        uid: user.uid(),
        gid: user.gid(),
        groups: user.additional_gids().clone().unwrap_or_default(),
    }
}

/// Labels nucleus cannot apply (AppArmor, SELinux) are said, not silently dropped.
pub(super) fn label_warnings(process: &Process, warnings: &mut Vec<String>) {
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
}

/// process.consoleSize as (rows, columns); None when absent or 0×0 (the kernel's default).
pub(super) fn console_size_of(p: &Process, path: &Path) -> Result<Option<(u16, u16)>, OciError> {
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

/// process.args and process.env, checked: args not empty, no NUL byte, cwd absolute.
pub(super) fn command_of(
    p: &Process,
    path: &Path,
    field: &str,
) -> Result<(Vec<String>, Vec<String>), OciError> {
    let args = p.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(OciError::Invalid {
            path: path.to_path_buf(),
            why: format!("{field} is empty"),
        });
    }
    let env = p.env().clone().unwrap_or_default();
    check_nul(path, &args, &env)?;
    check_cwd(path, p.cwd())?;
    Ok((args, env))
}

/// process.landlock needs process.noNewPrivileges.
pub(super) fn check_landlock(
    landlock: &Option<crate::spec::config::Landlock>,
    no_new_privs: bool,
    path: &Path,
) -> Result<(), OciError> {
    if landlock.is_none() || no_new_privs {
        return Ok(());
    }
    Err(rejected(
        path,
        "process.landlock needs process.noNewPrivileges",
        "set \"noNewPrivileges\": true (nucleus applies Landlock after no_new_privs, as \
         the kernel requires once capabilities are dropped)",
    ))
}

/// The process of `exec --process FILE` (an OCI process.json).
pub fn exec_process(text: &str) -> Result<(crate::spec::config::ExecSpec, Vec<String>), OciError> {
    let path = std::path::PathBuf::from("process.json");
    let invalid = |why: String| OciError::Invalid {
        path: path.clone(),
        why,
    };
    let mut v: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut warnings = Vec::new();
    let mut wrapped = serde_json::json!({ "process": v.take() });
    strip_unknown_caps(&mut wrapped, &mut warnings, &path)?;
    let landlock = super::landlock::landlock_of(wrapped.pointer("/process/landlock"), &path)?;
    let p: Process =
        serde_json::from_value(wrapped["process"].take()).map_err(|e| invalid(e.to_string()))?;
    let (args, env) = command_of(&p, &path, "args")?;
    let rlimits = rlimits_of(&p)?;
    // As for create: labels nucleus cannot apply are said, not silently dropped.
    label_warnings(&p, &mut warnings);
    let spec = crate::spec::config::ExecSpec {
        args,
        env,
        cwd: p.cwd().clone(),
        user: user_of(&p),
        umask: p.user().umask(),
        oom_score_adj: p.oom_score_adj(),
        caps: caps_of(&p, &mut warnings),
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
