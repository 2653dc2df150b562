//! `linux.namespaces`: the namespaces to create or join, the user namespace's id maps, and
//! which sysctls the container's namespaces own.

use super::{rejected, OciError};
use crate::spec::config::Namespaces;
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType as T};
use std::path::{Path, PathBuf};

/// Namespaces a config may create or join, by their config.json names ("time" is refused).
pub const NAMESPACE_NAMES: &[&str] = &["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];

/// The CLONE_NEW* flag of a namespace kind nucleus can join.
fn clone_flag(t: T) -> Option<CloneFlags> {
    Some(match t {
        T::Network => CloneFlags::CLONE_NEWNET,
        T::Ipc => CloneFlags::CLONE_NEWIPC,
        T::Uts => CloneFlags::CLONE_NEWUTS,
        T::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        T::Pid => CloneFlags::CLONE_NEWPID,
        T::Mount => CloneFlags::CLONE_NEWNS,
        T::User => CloneFlags::CLONE_NEWUSER,
        _ => return None,
    })
}

/// The namespaces to create, and those to join (flag, path) in the order they are joined:
/// the user namespace first (it grants the capabilities for the others), the mount
/// namespace last (path lookups after joining it resolve in it). A kind listed twice is
/// refused, and so is a container without a mount namespace of its own.
pub(super) fn namespaces_of(
    linux: &Linux,
    path: &Path,
) -> Result<(Namespaces, Vec<(CloneFlags, PathBuf)>), OciError> {
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
    for n in linux.namespaces().iter().flatten() {
        if seen.contains(&n.typ()) {
            // As the config spells it (pid, network, mount, …).
            let name = Some(super::spelled(&n.typ()))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| n.typ().to_string());
            return Err(rejected(
                path,
                format!("linux.namespaces lists {name} twice"),
                format!(
                    "keep one {name} entry: with a path to join a namespace, without one to \
                     create it"
                ),
            ));
        }
        seen.push(n.typ());
        if let Some(p) = n.path() {
            let flag = clone_flag(n.typ()).ok_or_else(|| {
                OciError::Unsupported(format!("joining an existing {:?} namespace", n.typ()))
            })?;
            join.push((flag, p.clone()));
            continue;
        }
        match n.typ() {
            T::Mount => ns.mount = true,
            T::Pid => ns.pid = true,
            T::Uts => ns.uts = true,
            T::Ipc => ns.ipc = true,
            T::Network => ns.net = true,
            T::Cgroup => ns.cgroup = true,
            T::User => ns.user = true,
            other => return Err(OciError::Unsupported(format!("namespace {other:?}"))),
        }
    }
    join.sort_by_key(|(flag, _)| match *flag {
        CloneFlags::CLONE_NEWUSER => 0,
        CloneFlags::CLONE_NEWNS => 2,
        _ => 1,
    });
    if !ns.mount && !join.iter().any(|(f, _)| *f == CloneFlags::CLONE_NEWNS) {
        return Err(OciError::Unsupported(
            "running without a mount namespace".into(),
        ));
    }
    Ok((ns, join))
}

/// The uid_map and gid_map text of a new user namespace; both are required.
pub(super) fn id_maps_of(
    linux: &Linux,
    ns: &Namespaces,
    path: &Path,
) -> Result<Option<(String, String)>, OciError> {
    if !ns.user {
        return Ok(None);
    }
    let map = super::mounts::id_map_text;
    let (u, g) = (map(linux.uid_mappings()), map(linux.gid_mappings()));
    if u.is_empty() || g.is_empty() {
        return Err(OciError::Invalid {
            path: path.to_path_buf(),
            why: "a user namespace needs linux.uidMappings and linux.gidMappings".into(),
        });
    }
    Ok(Some((u, g)))
}

/// linux.sysctl, sorted by name. Only what the container's own namespaces hold may be set:
/// IPC keys with a new or joined IPC namespace, `net.*` with a network namespace, the host
/// and domain name with a new UTS namespace.
pub(super) fn sysctl_of(
    linux: &Linux,
    ns: &Namespaces,
    join: &[(CloneFlags, PathBuf)],
) -> Result<Vec<(String, String)>, OciError> {
    let mut sysctl: Vec<(String, String)> = linux
        .sysctl()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    sysctl.sort();
    let joined = |f: CloneFlags| join.iter().any(|(flag, _)| *flag == f);
    let own_net = ns.net || joined(CloneFlags::CLONE_NEWNET);
    let own_ipc = ns.ipc || joined(CloneFlags::CLONE_NEWIPC);
    for (k, _) in &sysctl {
        let ipc = k.starts_with("kernel.shm")
            || k.starts_with("kernel.msg")
            || k == "kernel.sem"
            || k.starts_with("fs.mqueue.");
        let namespaced = (ipc && own_ipc)
            || (k.starts_with("net.") && own_net)
            || (matches!(k.as_str(), "kernel.hostname" | "kernel.domainname") && ns.uts);
        if !namespaced {
            return Err(OciError::Unsupported(format!(
                "sysctl {k} (not namespaced in this container)"
            )));
        }
    }
    Ok(sysctl)
}
