//! `process.landlock` (runtime-spec PR 1241, not in oci-spec): read from the raw JSON.

use super::{rejected, OciError};
use crate::spec::config::{
    landlock_access, landlock_names, Landlock, LandlockPath, LandlockPort, LANDLOCK_FS,
    LANDLOCK_NET,
};
use serde_json::Value;
use std::path::Path;

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

/// A list at `at` (absent: empty).
fn list(v: Option<&Value>, at: &str, path: &Path) -> Result<Vec<Value>, OciError> {
    match v {
        None => Ok(vec![]),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(rejected(
            path,
            format!("{at} is not a list"),
            "write it as [...]",
        )),
    }
}

/// process.landlock as a `Landlock`: handled rights, pathBeneath and netPort rules,
/// disableBestEffort. Paths are absolute paths inside the container.
pub(super) fn landlock_of(v: Option<&Value>, path: &Path) -> Result<Option<Landlock>, OciError> {
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
    if let Some(rules) = top.get("rules") {
        let rules = landlock_object(rules, "process.landlock.rules", path)?;
        ll.paths = path_rules(rules.get("pathBeneath"), path)?;
        ll.ports = port_rules(rules.get("netPort"), path)?;
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
    check_handled(&ll, path)?;
    Ok(Some(ll))
}

/// The rules of the list `at` (`pathBeneath` or `netPort`): each rule's allowedAccess bits
/// (names from `table`) with the entries of its list `key` (`paths` or `ports`).
fn rules_of(
    v: Option<&Value>,
    at: &'static str,
    key: &str,
    table: &[(&str, u64, u8)],
    path: &Path,
) -> Result<Vec<(u64, Vec<Value>)>, OciError> {
    let item = LANDLOCK_KEYS
        .iter()
        .map(|(n, _)| *n)
        .find(|n| n.strip_suffix("[]") == Some(at))
        .unwrap_or(at);
    let mut out = Vec::new();
    for r in list(v, at, path)? {
        let r = landlock_object(&r, item, path)?;
        let access = landlock_rights(
            r.get("allowedAccess"),
            &format!("{item}.allowedAccess"),
            table,
            path,
        )?;
        out.push((access, list(r.get(key), &format!("{item}.{key}"), path)?));
    }
    Ok(out)
}

/// process.landlock.rules.pathBeneath: rights beneath absolute paths of the container.
fn path_rules(v: Option<&Value>, path: &Path) -> Result<Vec<LandlockPath>, OciError> {
    let at = "process.landlock.rules.pathBeneath";
    let rules = rules_of(v, at, "paths", LANDLOCK_FS, path)?;
    let rule = |access: u64, p: &Value| {
        let clean = crate::spec::sandbox::clean_abs(p.as_str().unwrap_or(""));
        let path_beneath = clean.map_err(|_| {
            rejected(
                path,
                format!("{at}[].paths: {p} is not an absolute path without '..'"),
                "give paths inside the container, like /usr",
            )
        })?;
        Ok(LandlockPath {
            path: path_beneath,
            access,
        })
    };
    rules
        .iter()
        .flat_map(|(access, paths)| paths.iter().map(move |p| rule(*access, p)))
        .collect()
}

/// process.landlock.rules.netPort: rights on TCP ports.
fn port_rules(v: Option<&Value>, path: &Path) -> Result<Vec<LandlockPort>, OciError> {
    let at = "process.landlock.rules.netPort";
    let mut out = Vec::new();
    for (access, ports) in rules_of(v, at, "ports", LANDLOCK_NET, path)? {
        for p in ports {
            let Some(port) = p.as_u64().and_then(|n| u16::try_from(n).ok()) else {
                return Err(rejected(
                    path,
                    format!("{at}[].ports: {p} is not a TCP port"),
                    "give port numbers from 0 to 65535",
                ));
            };
            out.push(LandlockPort { port, access });
        }
    }
    Ok(out)
}

/// A rule may only allow what the ruleset handles (the kernel refuses the rest), and a
/// ruleset must handle something.
fn check_handled(ll: &Landlock, path: &Path) -> Result<(), OciError> {
    let fs = ll
        .paths
        .iter()
        .map(|r| (r.path.display().to_string(), r.access));
    let net = ll
        .ports
        .iter()
        .map(|r| (format!("port {}", r.port), r.access));
    for (rules, handled, table, field) in [
        (
            fs.collect::<Vec<_>>(),
            ll.handled_fs,
            LANDLOCK_FS,
            "handledAccessFS",
        ),
        (
            net.collect(),
            ll.handled_net,
            LANDLOCK_NET,
            "handledAccessNetwork",
        ),
    ] {
        if let Some((what, access)) = rules.iter().find(|(_, a)| a & !handled != 0) {
            return Err(rejected(
                path,
                format!(
                    "process.landlock: the rule for {what} allows {} that ruleset.{field} does not handle",
                    landlock_names(table, access & !handled).join(", ")
                ),
                format!("add those rights to ruleset.{field} or remove them from the rule"),
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
    Ok(())
}
