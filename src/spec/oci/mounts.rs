//! `mounts`: each mount's kind and options, and runc's rule for /proc.

use super::{rejected, OciError};
use crate::spec::config::{Mount, MountKind};
use crate::spec::mount_options::{self, IdMap, Parsed};
use std::path::Path;

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
pub(super) fn id_map_text(m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>) -> String {
    m.iter()
        .flatten()
        .map(|r| format!("{} {} {}\n", r.container_id(), r.host_id(), r.size()))
        .collect()
}

/// The mounts of config.json, in order.
pub(super) fn mounts_of(
    spec: &oci_spec::runtime::Spec,
    container_maps: Option<&(String, String)>,
) -> Result<Vec<Mount>, OciError> {
    spec.mounts()
        .iter()
        .flatten()
        .map(|m| mount_of(m, container_maps))
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
    let dest = m.destination().display().to_string();
    let destination = crate::spec::sandbox::clean_abs(&dest).map_err(|_| OciError::Invalid {
        path: "config.json".into(),
        why: format!("mount destination '{dest}' must be absolute, without '..'"),
    })?;
    let opts: Vec<String> = m.options().clone().unwrap_or_default();
    let typ = m.typ().clone().unwrap_or_default();
    let parsed = mount_options::parse(&opts, typ == "bind").map_err(|why| {
        rejected(
            Path::new("config.json"),
            format!("mounts: {dest}: {why}"),
            "see `nucleus features` for the mount options nucleus implements",
        )
    })?;
    let is_bind = typ == "bind" || parsed.bind.is_some();
    check_proc_mount(&destination, &typ, is_bind, m.source().as_deref())?;
    let kind = kind_of(m, &typ, &dest, &parsed, is_bind)?;
    let mut attrs = parsed.attrs.clone();
    attrs.idmap = idmap_of(m, &dest, &parsed, is_bind, container_maps)?;
    use mount_options::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY};
    let has = |f: u64| attrs.set & f != 0;
    Ok(Mount {
        kind,
        destination,
        readonly: has(MS_RDONLY),
        nosuid: has(MS_NOSUID),
        nodev: has(MS_NODEV),
        noexec: has(MS_NOEXEC),
        data: parsed.data.join(","),
        label: (!is_bind)
            .then(|| m.source().as_ref().map(|s| s.display().to_string()))
            .flatten(),
        attrs,
    })
}

/// What a mount mounts: a bind of its source, or a filesystem of its type.
fn kind_of(
    m: &oci_spec::runtime::Mount,
    typ: &str,
    dest: &str,
    parsed: &Parsed,
    is_bind: bool,
) -> Result<MountKind, OciError> {
    if is_bind {
        let source = m.source().clone().ok_or_else(|| OciError::Invalid {
            path: "config.json".into(),
            why: format!("bind mount {dest} has no source"),
        })?;
        return Ok(MountKind::Bind {
            source,
            recursive: parsed.bind == Some(true),
        });
    }
    Ok(match typ {
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
    })
}

/// The id mapping of an id-mapped bind mount (`idmap`/`ridmap`, uidMappings/gidMappings);
/// without mappings of its own it takes the container's.
fn idmap_of(
    m: &oci_spec::runtime::Mount,
    dest: &str,
    parsed: &Parsed,
    is_bind: bool,
    container_maps: Option<&(String, String)>,
) -> Result<Option<IdMap>, OciError> {
    let (uids, gids) = (m.uid_mappings(), m.gid_mappings());
    if parsed.idmap.is_none() && uids.is_none() && gids.is_none() {
        return Ok(parsed.attrs.idmap.clone());
    }
    let refuse = |why: &str, hint: &str| {
        rejected(
            Path::new("config.json"),
            format!("mounts: {dest}: {why}"),
            hint,
        )
    };
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
    Ok(Some(IdMap {
        uids,
        gids,
        recursive: parsed.idmap == Some(true),
    }))
}
