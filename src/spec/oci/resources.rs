//! `linux.resources` (the cgroup limits and the device cgroup) and `linux.devices` (the
//! nodes made in the container).

use super::{rejected, OciError};
use crate::spec::config::{Device, Resources, MIN_MEMORY_LIMIT};
use oci_spec::runtime::{Linux, LinuxDeviceType, LinuxResources};
use std::path::Path;

/// A device type as the device cgroup and mknod spell it: `c` (also for `u`, unbuffered
/// character), `b`, `p` (FIFO) or `a` (all).
fn type_letter(t: LinuxDeviceType) -> char {
    match t {
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::P => 'p',
        LinuxDeviceType::A => 'a',
    }
}

/// linux.resources (and a freezer: every OCI container gets a cgroup with one, for
/// pause/resume), with the device cgroup completed by [`device_rules`].
pub(super) fn resources_of(
    linux: &Linux,
    path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Resources, OciError> {
    let mut resources = Resources {
        cpu_period: 100_000,
        freezer: true,
        ..Resources::default()
    };
    if let Some(r) = linux.resources() {
        limits_of(r, path, &mut resources)?;
        // Enforced on both versions: v1 devices cgroup, v2 eBPF (linux::devices_bpf).
        if let Some(devs) = r.devices() {
            resources.devices =
                crate::spec::devices_bpf::oci_rules(devs).map_err(|why| OciError::Invalid {
                    path: path.to_path_buf(),
                    why,
                })?;
        }
        // blockIO, hugepageLimits, network, rdma, unified, realtime, disableOOMKiller:
        // translated here, checked against the host when the cgroup is made.
        warnings.extend(
            crate::spec::resources::from_oci(r, &mut resources).map_err(|why| {
                OciError::Invalid {
                    path: path.to_path_buf(),
                    why,
                }
            })?,
        );
    }
    resources.devices = device_rules(std::mem::take(&mut resources.devices), linux);
    Ok(resources)
}

/// Memory, pids and CPU limits; a memory limit under [`MIN_MEMORY_LIMIT`] is refused.
fn limits_of(r: &LinuxResources, path: &Path, resources: &mut Resources) -> Result<(), OciError> {
    // A limit of 0 or -1 is no limit.
    let positive = |v: Option<i64>| v.filter(|l| *l > 0).map(|l| l as u64);
    resources.memory = positive(r.memory().as_ref().and_then(|m| m.limit()));
    if let Some(l) = resources.memory.filter(|l| *l < MIN_MEMORY_LIMIT) {
        return Err(rejected(
            path,
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
    resources.pids = positive(r.pids().as_ref().map(|p| p.limit()));
    if let Some(m) = r.memory() {
        resources.memory_reservation = positive(m.reservation());
        resources.memory_swap = m.swap().filter(|v| *v != 0);
        resources.memory_swappiness = m.swappiness();
    }
    if let Some(cpu) = r.cpu() {
        resources.cpu_quota = positive(cpu.quota());
        resources.cpu_period = cpu.period().unwrap_or(100_000);
        resources.cpu_shares = cpu.shares().filter(|s| *s > 0);
        resources.cpuset_cpus = cpu.cpus().clone().filter(|c| !c.is_empty());
        resources.cpuset_mems = cpu.mems().clone().filter(|m| !m.is_empty());
    }
    Ok(())
}

/// The device cgroup rules of a container. They always apply, as runc's do (DESIGN.md
/// §5.9): deny everything, then the config's own rules, then the standard devices, then the
/// nodes of linux.devices. Without them a container that keeps CAP_MKNOD could make and
/// open any block device of the host.
fn device_rules(config_rules: Vec<(bool, String)>, linux: &Linux) -> Vec<(bool, String)> {
    let mut rules = vec![(false, "a".to_string())];
    rules.extend(config_rules);
    rules.extend(
        crate::spec::devices_bpf::STANDARD_RULES
            .iter()
            .map(|r| (true, r.to_string())),
    );
    for d in linux.devices().iter().flatten() {
        let kind = type_letter(d.typ());
        if matches!(kind, 'b' | 'c') {
            rules.push((true, format!("{kind} {}:{} rwm", d.major(), d.minor())));
        }
    }
    rules
}

/// linux.devices: the nodes to make in the container.
pub(super) fn devices_of(linux: &Linux, path: &Path) -> Result<Vec<Device>, OciError> {
    let invalid = |why: String| OciError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let mut devices = Vec::new();
    for d in linux.devices().iter().flatten() {
        let shown = d.path().display().to_string();
        let node = crate::spec::sandbox::clean_abs(&shown).map_err(|_| {
            invalid(format!(
                "linux.devices path '{shown}' must be absolute, without '..'"
            ))
        })?;
        let kind = type_letter(d.typ());
        if kind == 'a' {
            return Err(invalid(format!(
                "linux.devices {shown}: type 'a' is not a device"
            )));
        }
        devices.push(Device {
            path: node,
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(devices)
}
