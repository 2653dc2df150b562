//! `hooks`: the programs run at points of the container's life.

use super::{rejected, OciError};
use crate::spec::config::{Hook, Hooks};
use oci_spec::runtime::Spec;
use serde_json::Value;
use std::path::Path;

/// The hooks nucleus runs, by their config.json names; any other name is refused.
pub const HOOK_NAMES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Refuses a hook name nucleus would not run (oci-spec would drop it silently).
pub(super) fn check_hook_names(path: &Path, v: &Value) -> Result<(), OciError> {
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

/// One hook of the list `name`: its path must be absolute (it is not looked up in $PATH),
/// its timeout positive.
fn hook_of(name: &str, k: &oci_spec::runtime::Hook) -> Result<Hook, OciError> {
    if !k.path().is_absolute() {
        return Err(OciError::Invalid {
            path: "config.json".into(),
            why: format!(
                "hooks.{name} path '{}' must be absolute",
                k.path().display()
            ),
        });
    }
    let timeout = match k.timeout() {
        Some(t) if t <= 0 => {
            return Err(rejected(
                Path::new("config.json"),
                format!(
                    "hooks.{name} '{}': timeout {t} must be positive",
                    k.path().display()
                ),
                "give the timeout in seconds (at least 1), or leave it out for none",
            ))
        }
        t => t.map(|t| t as u64),
    };
    Ok(Hook {
        path: k.path().clone(),
        args: k.args().clone().unwrap_or_default(),
        env: k.env().clone(),
        timeout,
    })
}

/// The config's hooks.
pub(super) fn hooks_of(spec: &Spec) -> Result<Hooks, OciError> {
    let Some(h) = spec.hooks() else {
        return Ok(Hooks::default());
    };
    let conv = |name: &str, list: &Option<Vec<oci_spec::runtime::Hook>>| {
        list.iter()
            .flatten()
            .map(|k| hook_of(name, k))
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
