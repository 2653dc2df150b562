//! Capability isolators: what a user asks for, turned into the five target sets.
//!
//! - retain-set: start from nothing, keep exactly these (rkt's `os/linux/capabilities-retain-set`);
//! - remove-set: start from the default set (0xa80425fb), remove these;
//! - explicit: all five sets given, as OCI `process.capabilities` does.

use super::set::{CapSet, ListError};
use super::sets::Sets;
use serde::Deserialize;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Policy {
    Retain(CapSet),
    Remove(CapSet),
    Explicit(Sets),
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("--caps-retain and --caps-remove are mutually exclusive")]
    BothIsolators,
    #[error(transparent)]
    List(#[from] ListError),
    #[error("capability policy {path}: {why}")]
    File { path: String, why: String },
    #[error("inconsistent capability sets: {0}")]
    Inconsistent(String),
}

impl PolicyError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            PolicyError::BothIsolators => Some(
                "use --caps-retain to list what to keep, or --caps-remove to list what to take \
                 from the default set, not both",
            ),
            PolicyError::File { .. } => Some(
                "a policy file is JSON: {\"retain\": [..]}, {\"remove\": [..]}, or the five OCI \
                 sets {\"bounding\": [..], \"permitted\": [..], \"effective\": [..], \
                 \"inheritable\": [..], \"ambient\": [..]}",
            ),
            _ => None,
        }
    }
}

/// The form of a policy file: the JSON document of `--caps-policy`, and the `[caps]`
/// section of a TOML sandbox policy (spec::policy) — one model, two syntaxes.
#[derive(Deserialize, serde::Serialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remove: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bounding: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inheritable: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ambient: Option<Vec<String>>,
}

impl PolicyFile {
    /// The field names, for "did you mean" suggestions.
    pub const KEYS: [&'static str; 7] = [
        "retain",
        "remove",
        "bounding",
        "permitted",
        "effective",
        "inheritable",
        "ambient",
    ];
}

impl Policy {
    /// From the two isolator flags (each a list of comma lists). Neither given: retain nothing.
    pub fn from_flags(retain: &[String], remove: &[String]) -> Result<Policy, PolicyError> {
        match (retain.is_empty(), remove.is_empty()) {
            (false, false) => Err(PolicyError::BothIsolators),
            (true, false) => Ok(Policy::Remove(CapSet::parse_lists(remove)?)),
            (_, true) => Ok(Policy::Retain(CapSet::parse_lists(retain)?)),
        }
    }

    /// Docker's flags: the default set, plus `add`, minus `drop`. As in Docker, `--cap-drop
    /// ALL` starts from nothing (then adds), and `--cap-add ALL` from everything (then drops).
    pub fn docker(add: &[String], drop: &[String]) -> Result<Policy, PolicyError> {
        let is_all = |v: &[String]| {
            v.iter()
                .any(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case("all")))
        };
        let (add_set, drop_set) = (CapSet::parse_lists(add)?, CapSet::parse_lists(drop)?);
        let set = if is_all(add) {
            let named: Vec<String> = drop
                .iter()
                .filter(|s| !s.eq_ignore_ascii_case("all"))
                .cloned()
                .collect();
            CapSet::all_known() - CapSet::parse_lists(&named)?
        } else if is_all(drop) {
            add_set
        } else {
            (CapSet::default_set() | add_set) - drop_set
        };
        Ok(Policy::Retain(set))
    }

    /// Parses the JSON text of a policy file; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let err = |why: String| PolicyError::File {
            path: origin.to_string(),
            why,
        };
        let f: PolicyFile = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
        Policy::from_lists(&f, origin)
    }

    /// The policy a parsed policy document describes (JSON or a TOML `[caps]` section);
    /// `origin` names it in errors.
    pub fn from_lists(f: &PolicyFile, origin: &str) -> Result<Policy, PolicyError> {
        let err = |why: String| PolicyError::File {
            path: origin.to_string(),
            why,
        };
        let list = |v: &Option<Vec<String>>| -> Result<Option<CapSet>, PolicyError> {
            v.as_ref()
                .map(|items| CapSet::parse_lists(items))
                .transpose()
                .map_err(|e| err(e.to_string()))
        };
        let explicit = [
            &f.bounding,
            &f.permitted,
            &f.effective,
            &f.inheritable,
            &f.ambient,
        ];
        let any_explicit = explicit.iter().any(|v| v.is_some());
        match (list(&f.retain)?, list(&f.remove)?, any_explicit) {
            (Some(_), Some(_), _) => Err(PolicyError::BothIsolators),
            (Some(r), None, false) => Ok(Policy::Retain(r)),
            (None, Some(r), false) => Ok(Policy::Remove(r)),
            (None, None, true) => {
                let sets = Sets {
                    bounding: list(&f.bounding)?.unwrap_or_default(),
                    permitted: list(&f.permitted)?.unwrap_or_default(),
                    effective: list(&f.effective)?.unwrap_or_default(),
                    inheritable: list(&f.inheritable)?.unwrap_or_default(),
                    ambient: list(&f.ambient)?.unwrap_or_default(),
                };
                Ok(Policy::Explicit(sets))
            }
            (None, None, false) => Err(err(
                "names no capabilities: it needs \"retain\", \"remove\" or the five OCI sets"
                    .into(),
            )),
            _ => Err(err(
                "mixes an isolator (retain/remove) with explicit OCI sets; use one form".into(),
            )),
        }
    }

    pub fn from_file(path: &Path) -> Result<Policy, PolicyError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::File {
            path: origin.clone(),
            why: e.to_string(),
        })?;
        Policy::from_json(&text, &origin)
    }

    /// The five sets a process should end with. `non_root`: the target uid is not 0, so
    /// retained capabilities must also go into inheritable and ambient to survive execve().
    /// For root they stay out of inheritable: root gets them from the bounding set, and a
    /// non-empty inheritable set would leak past a later bounding drop (CVE-2022-29162).
    pub fn target(&self, non_root: bool) -> Result<Sets, PolicyError> {
        let keep = match self {
            Policy::Explicit(s) => {
                check_consistent(s)?;
                return Ok(*s);
            }
            Policy::Retain(r) => *r,
            Policy::Remove(r) => CapSet::default_set() - *r,
        };
        let carried = if non_root { keep } else { CapSet::EMPTY };
        Ok(Sets {
            bounding: keep,
            permitted: keep,
            effective: keep,
            inheritable: carried,
            ambient: carried,
        })
    }
}

/// The rules capset(2) and PR_CAP_AMBIENT_RAISE enforce, checked before touching anything.
fn check_consistent(s: &Sets) -> Result<(), PolicyError> {
    let bad = s.effective - s.permitted;
    if !bad.is_empty() {
        return Err(PolicyError::Inconsistent(format!(
            "effective has {bad} which permitted lacks (effective must be a subset of permitted)"
        )));
    }
    let bad = s.ambient - (s.permitted & s.inheritable);
    if !bad.is_empty() {
        return Err(PolicyError::Inconsistent(format!(
            "ambient has {bad} which is not in both permitted and inheritable"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn isolators_are_exclusive() {
        assert!(matches!(
            Policy::from_flags(&strs(&["chown"]), &strs(&["net_raw"])),
            Err(PolicyError::BothIsolators)
        ));
        assert_eq!(
            Policy::from_flags(&[], &[]).unwrap(),
            Policy::Retain(CapSet::EMPTY)
        );
    }

    #[test]
    fn retain_for_non_root_goes_through_ambient() {
        let p = Policy::from_flags(&strs(&["net_bind_service"]), &[]).unwrap();
        let t = p.target(true).unwrap();
        for w in super::super::sets::Which::ALL {
            assert_eq!(t.get(w).bits(), 0x400, "{w}");
        }
        let root = p.target(false).unwrap();
        assert_eq!(root.bounding.bits(), 0x400);
        assert_eq!(root.effective.bits(), 0x400);
        assert!(root.inheritable.is_empty());
        assert!(root.ambient.is_empty());
    }

    #[test]
    fn remove_starts_from_the_default_set() {
        let p = Policy::from_flags(&[], &strs(&["net_raw,mknod"])).unwrap();
        let t = p.target(false).unwrap();
        assert_eq!(t.bounding.len(), 12);
        assert!(!t
            .bounding
            .contains(crate::caps::Capability::parse("net_raw").unwrap()));
        assert!(t
            .permitted
            .contains(crate::caps::Capability::parse("chown").unwrap()));
    }

    #[test]
    fn docker_flags() {
        let p = Policy::docker(&strs(&["sys_admin"]), &strs(&["net_raw"])).unwrap();
        let Policy::Retain(s) = p else { panic!() };
        assert_eq!(s.len(), 14);
        let p = Policy::docker(&[], &strs(&["ALL"])).unwrap();
        assert_eq!(p, Policy::Retain(CapSet::EMPTY));
        let p = Policy::docker(&strs(&["net_raw"]), &strs(&["ALL"])).unwrap();
        assert_eq!(p, Policy::Retain(CapSet::from_bits(1 << 13)));
        let p = Policy::docker(&strs(&["ALL"]), &strs(&["sys_admin"])).unwrap();
        let Policy::Retain(s) = p else { panic!() };
        assert_eq!(s.len(), 40);
    }

    #[test]
    fn policy_files() {
        assert_eq!(
            Policy::from_json(r#"{"retain":["net_raw"]}"#, "p").unwrap(),
            Policy::Retain(CapSet::from_bits(1 << 13))
        );
        let p = Policy::from_json(
            r#"{"bounding":["CAP_CHOWN","CAP_KILL"],"permitted":["CAP_KILL"],"effective":["CAP_KILL"]}"#,
            "p",
        )
        .unwrap();
        let t = p.target(true).unwrap();
        assert_eq!(t.bounding.bits(), 0b100001);
        assert!(t.ambient.is_empty());
        for bad in [
            r#"{"retain":["x_y_z"]}"#,
            r#"{"retain":[],"remove":[]}"#,
            r#"{"retain":["kill"],"bounding":["kill"]}"#,
            r#"{"retian":["kill"]}"#,
            r#"{}"#,
            "not json",
        ] {
            assert!(Policy::from_json(bad, "p").is_err(), "{bad}");
        }
        let inconsistent =
            Policy::from_json(r#"{"permitted":["kill"],"effective":["chown"]}"#, "p").unwrap();
        assert!(matches!(
            inconsistent.target(false),
            Err(PolicyError::Inconsistent(_))
        ));
        let amb = Policy::from_json(r#"{"permitted":["kill"],"ambient":["kill"]}"#, "p").unwrap();
        assert!(amb.target(true).is_err());
    }
}
