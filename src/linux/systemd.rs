//! The systemd cgroup driver (`--systemd-cgroup`): a container whose linux.cgroupsPath is
//! `slice:prefix:name` gets a transient unit from systemd, asked for over D-Bus as runc
//! asks, instead of directories written into systemd's tree behind its back.
//!
//! - `prefix-name.scope` in `slice` (`StartTransientUnit` with Delegate=yes, the container's
//!   first process in PIDs, and the limits systemd understands as properties: MemoryMax,
//!   MemoryHigh, MemoryLow, MemorySwapMax, CPUWeight, CPUQuotaPerSecUSec,
//!   CPUQuotaPeriodUSec, TasksMax, AllowedCPUs, AllowedMemoryNodes); once the job is done
//!   the scope's cgroup is read back from systemd and every limit is also written there as
//!   files (systemd knows no hugetlb, io.max…), as runc does. A `name` ending in `.slice`
//!   makes a transient slice instead, and the process is put in it.
//! - The system manager (/run/dbus/system_bus_socket) for root; the user's own manager
//!   (its session bus, `$XDG_RUNTIME_DIR/bus`) when nucleus is rootless, as rootless Podman.
//! - `delete` stops the unit (StopUnit, ResetFailedUnit); nucleus never removes systemd's
//!   directories itself.
//!
//! D-Bus (zbus) starts threads: it is used only after the container's process exists, in
//! the runtime (never before the clone), and only with `--systemd-cgroup`. The layout and
//! the property list are pure functions, unit tested here.

use crate::spec::config::Resources;
use crate::spec::resources::UNLIMITED;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("systemd cgroup driver: cannot reach {bus}: {why}")]
    NoBus { bus: String, why: String },
    #[error("systemd unit {0} already exists (another container, or a leftover, has this linux.cgroupsPath)")]
    Exists(String),
    #[error("systemd: {what} {unit}: {why}")]
    Call {
        what: &'static str,
        unit: String,
        why: String,
    },
    #[error("{field}: the {controller} controller is not delegated to {cgroup} (it is not in its cgroup.controllers)")]
    NotDelegated {
        field: String,
        controller: String,
        cgroup: String,
        user: bool,
    },
    #[error(transparent)]
    Cgroup(#[from] super::cgroups::Error),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoBus { .. } => Some(
                "drop --systemd-cgroup to manage cgroups through cgroupfs (or start systemd and \
                 dbus; rootless: the user's manager, systemctl --user, with XDG_RUNTIME_DIR set)"
                    .into(),
            ),
            Error::Exists(u) => Some(format!(
                "choose another name in linux.cgroupsPath, or stop the unit: systemctl stop {u}"
            )),
            Error::NotDelegated {
                user: true,
                controller,
                ..
            } => Some(format!(
                "the user's manager hands out only what user@.service delegates: `systemctl \
                 edit user@.service` with [Service] Delegate=cpu cpuset io memory pids (now \
                 missing: {controller}), or drop that limit"
            )),
            Error::NotDelegated { controller, .. } => Some(format!(
                "enable {controller} in the parent slice's cgroup.subtree_control (Delegate= \
                 of the slice), or drop that limit"
            )),
            Error::Cgroup(e) => e.hint(),
            _ => None,
        }
    }
}

/// A transient unit a container asks systemd for: laid out from `slice:prefix:name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unit {
    /// `prefix-name.scope` (`name.scope` without a prefix), or `name` when it ends in `.slice`.
    pub name: String,
    /// The slice the scope goes in (`system.slice` when the path leaves it empty).
    pub slice: String,
    /// Where systemd puts the unit's cgroup, relative to its manager's own cgroup:
    /// `a.slice/a-b.slice/prefix-name.scope`.
    pub path: String,
}

impl Unit {
    pub fn is_slice(&self) -> bool {
        self.name.ends_with(".slice")
    }
}

/// `a-b-c.slice` as systemd nests it: `a.slice/a-b.slice/a-b-c.slice` (`-.slice` is the
/// root: nothing).
fn expand_slice(slice: &str) -> Result<String, String> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("the slice must end in .slice".into());
    };
    if stem == "-" {
        return Ok(String::new());
    }
    if stem.is_empty() || stem.contains('/') || stem.starts_with('-') || stem.ends_with('-') {
        return Err(format!("'{slice}' is not a valid slice name"));
    }
    let mut dirs = Vec::new();
    let mut acc = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(format!("'{slice}' is not a valid slice name"));
        }
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        dirs.push(format!("{acc}.slice"));
    }
    Ok(dirs.join("/"))
}

/// Lays out linux.cgroupsPath `slice:prefix:name` as systemd (and runc) do.
pub fn parse(path: &str) -> Result<Unit, String> {
    let parts: Vec<&str> = path.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err("with --systemd-cgroup it must be slice:prefix:name".into());
    };
    if name.is_empty() || name.contains('/') || prefix.contains('/') {
        return Err("the name must be non-empty and neither part may contain '/'".into());
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let parent = expand_slice(slice)?;
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    let path = if parent.is_empty() {
        unit.clone()
    } else {
        format!("{parent}/{unit}")
    };
    Ok(Unit {
        name: unit,
        slice: slice.to_string(),
        path,
    })
}

/// What the state record keeps of a container's unit: enough for `delete` to stop it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    pub unit: String,
    /// On the user's own manager (rootless) rather than the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
    /// The unit's Description: `delete` stops a unit only when it is still the one this
    /// container made (a create that failed because the name was taken must not stop the
    /// other owner's unit).
    pub description: String,
}

impl Recorded {
    /// The unit of container `id`; `user`: on the user's own manager (nucleus is rootless).
    pub fn new(unit: &Unit, id: &str, user: bool) -> Recorded {
        Recorded {
            unit: unit.name.clone(),
            user,
            description: description(id),
        }
    }
}

/// What `launch` needs to ask systemd for a container's unit.
#[derive(Clone, Debug)]
pub struct Request {
    pub unit: Unit,
    pub recorded: Recorded,
}

/// The Description nucleus gives a container's unit.
pub fn description(id: &str) -> String {
    format!("nucleus container {id}")
}

/// A property value, as systemd types it (the pure side of the D-Bus call).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    Str(String),
    Bool(bool),
    /// `t`
    U64(u64),
    /// `au`
    Pids(Vec<u32>),
    /// `ay` (a CPU or NUMA-node bitmask)
    Bytes(Vec<u8>),
}

/// A cpuset list (`0-3,8`) as systemd's bitmask: bit N of byte N/8 for CPU N.
pub fn cpuset_mask(list: &str) -> Option<Vec<u8>> {
    let mut mask = Vec::new();
    let mut set = |n: usize| {
        if mask.len() <= n / 8 {
            mask.resize(n / 8 + 1, 0u8);
        }
        mask[n / 8] |= 1 << (n % 8);
    };
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let n: usize = part.trim().parse().ok()?;
                (n, n)
            }
        };
        if a > b || b >= 8192 {
            return None;
        }
        (a..=b).for_each(&mut set);
    }
    (!mask.is_empty()).then_some(mask)
}

/// The properties of `StartTransientUnit` for `unit` with `r` (runc's translation): the
/// unit's description and place, Delegate=yes and the container's process for a scope, and
/// the limits systemd knows. Limits it does not know are written as files afterwards.
pub fn properties(
    unit: &Unit,
    r: &Resources,
    pid: u32,
    description: &str,
) -> Vec<(&'static str, Prop)> {
    let mut p = vec![("Description", Prop::Str(description.to_string()))];
    if !unit.is_slice() {
        p.push(("Slice", Prop::Str(unit.slice.clone())));
        p.push(("Delegate", Prop::Bool(true)));
        p.push(("PIDs", Prop::Pids(vec![pid])));
    }
    // As runc: no implicit ordering on shutdown targets, accounting on so that systemd
    // enables the controllers the limits need.
    p.push(("DefaultDependencies", Prop::Bool(false)));
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "TasksAccounting",
        "IOAccounting",
    ] {
        p.push((a, Prop::Bool(true)));
    }
    if let Some(m) = r.memory {
        p.push(("MemoryMax", Prop::U64(m)));
    }
    let high = r
        .unified
        .iter()
        .find(|(k, _)| k == "memory.high")
        .and_then(|(_, v)| match v.trim() {
            "max" => Some(UNLIMITED),
            v => v.parse().ok(),
        });
    if let Some(h) = high {
        p.push(("MemoryHigh", Prop::U64(h)));
    }
    if let Some(l) = r.memory_reservation {
        p.push(("MemoryLow", Prop::U64(l)));
    }
    // OCI's swap is memory+swap; systemd's (and v2's) is swap alone.
    match (r.memory_swap, r.memory) {
        (Some(-1), _) => p.push(("MemorySwapMax", Prop::U64(UNLIMITED))),
        (Some(s), Some(m)) if s > 0 && m != UNLIMITED && s as u64 >= m => {
            p.push(("MemorySwapMax", Prop::U64(s as u64 - m)))
        }
        _ => {}
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        p.push((
            "CPUWeight",
            Prop::U64(crate::spec::resources::shares_to_weight(s)),
        ));
    }
    let period = if r.cpu_period == 0 {
        100_000
    } else {
        r.cpu_period
    };
    if let Some(q) = r.cpu_quota {
        // systemd keeps the quota per second, in steps of 10 ms (runc rounds up likewise).
        let per_sec = if q == UNLIMITED {
            UNLIMITED
        } else {
            (q.saturating_mul(1_000_000) / period).div_ceil(10_000) * 10_000
        };
        p.push(("CPUQuotaPerSecUSec", Prop::U64(per_sec)));
    }
    if r.cpu_quota.is_some() || period != 100_000 {
        p.push(("CPUQuotaPeriodUSec", Prop::U64(period)));
    }
    if let Some(t) = r.pids {
        p.push(("TasksMax", Prop::U64(t)));
    }
    if let Some(m) = r.cpuset_cpus.as_deref().and_then(cpuset_mask) {
        p.push(("AllowedCPUs", Prop::Bytes(m)));
    }
    if let Some(m) = r.cpuset_mems.as_deref().and_then(cpuset_mask) {
        p.push(("AllowedMemoryNodes", Prop::Bytes(m)));
    }
    p
}

/// Where the manager that will hold the unit keeps its own units, relative to the cgroup2
/// root: the system manager's is the root; the user's manager is
/// `user.slice/user-UID.slice/user@UID.service`, read from this process's cgroup when it
/// runs below it (`systemd-run --user --scope`), else that default.
fn manager_base(user: bool, own_cgroup: &str) -> String {
    if !user {
        return String::new();
    }
    let uid = nix::unistd::getuid().as_raw();
    let service = format!("user@{uid}.service");
    for line in own_cgroup.lines() {
        if let Some(path) = line.strip_prefix("0::/") {
            let parts: Vec<&str> = path.split('/').collect();
            if let Some(i) = parts.iter().position(|p| *p == service) {
                return parts[..=i].join("/");
            }
        }
    }
    format!("user.slice/user-{uid}.slice/{service}")
}

/// A unit being made for a container: planned before the container's process exists (no
/// D-Bus yet), started once it does. Dropped while armed (the unit was started but the
/// container's set-up failed), it stops the unit.
pub struct Scope {
    unit: Unit,
    rec: Recorded,
    /// The cgroup systemd will give the unit (host path).
    pub leaf: PathBuf,
    bus: Option<zbus::blocking::Connection>,
    armed: bool,
}

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PROPS: &str = "org.freedesktop.DBus.Properties";

fn bus_name(user: bool) -> String {
    if user {
        "the user's systemd (session bus; $XDG_RUNTIME_DIR/bus)".into()
    } else {
        "systemd on the system bus (/run/dbus/system_bus_socket)".into()
    }
}

fn connect(user: bool) -> Result<zbus::blocking::Connection, Error> {
    let c = if user {
        zbus::blocking::Connection::session()
    } else {
        zbus::blocking::Connection::system()
    };
    c.map_err(|e| Error::NoBus {
        bus: bus_name(user),
        why: e.to_string(),
    })
}

/// The D-Bus error's name and message, or the transport error.
fn why(e: &zbus::Error) -> (String, String) {
    match e {
        zbus::Error::MethodError(name, msg, _) => {
            (name.to_string(), msg.clone().unwrap_or_default())
        }
        e => (String::new(), e.to_string()),
    }
}

fn call<B, R>(
    bus: &zbus::blocking::Connection,
    path: &str,
    iface: &str,
    method: &str,
    body: &B,
) -> Result<R, zbus::Error>
where
    B: serde::Serialize + zbus::zvariant::DynamicType,
    R: for<'d> serde::Deserialize<'d> + zbus::zvariant::Type,
{
    let m = bus.call_method(Some(DEST), path, Some(iface), method, body)?;
    m.body().deserialize::<R>()
}

/// The object path of a loaded unit; None when systemd does not know it.
fn unit_path(bus: &zbus::blocking::Connection, unit: &str) -> Result<Option<String>, Error> {
    match call::<_, zbus::zvariant::OwnedObjectPath>(bus, PATH, MANAGER, "GetUnit", &(unit,)) {
        Ok(p) => Ok(Some(p.as_str().to_string())),
        Err(e) if why(&e).0 == "org.freedesktop.systemd1.NoSuchUnit" => Ok(None),
        Err(e) => Err(Error::Call {
            what: "GetUnit",
            unit: unit.into(),
            why: why(&e).1,
        }),
    }
}

fn get_str(
    bus: &zbus::blocking::Connection,
    path: &str,
    iface: &str,
    prop: &str,
) -> Result<String, zbus::Error> {
    let v: zbus::zvariant::OwnedValue = call(bus, path, PROPS, "Get", &(iface, prop))?;
    String::try_from(v).map_err(zbus::Error::Variant)
}

fn to_value(p: Prop) -> zbus::zvariant::Value<'static> {
    use zbus::zvariant::Value;
    match p {
        Prop::Str(s) => Value::from(s),
        Prop::Bool(b) => Value::from(b),
        Prop::U64(n) => Value::from(n),
        Prop::Pids(v) => Value::from(v),
        Prop::Bytes(v) => Value::from(v),
    }
}

impl Scope {
    /// Plans the unit: where its cgroup will be. Nothing is asked of systemd yet.
    pub fn plan(req: &Request) -> Scope {
        let unit = &req.unit;
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let base = manager_base(req.recorded.user, &own);
        let mut leaf = PathBuf::from(super::cgroups::MOUNTPOINT);
        if !base.is_empty() {
            leaf.push(base);
        }
        leaf.push(&unit.path);
        Scope {
            unit: unit.clone(),
            rec: req.recorded.clone(),
            leaf,
            bus: None,
            armed: false,
        }
    }

    /// Asks systemd for the unit with `pid` in it and the limits of `r`, waits until it is
    /// active, checks that its cgroup is the planned one and writes the limits there (v2;
    /// on v1 nucleus has written them in its own per-hierarchy cgroups already). Returns
    /// warnings (limits this host cannot apply but which are the kernel's defaults).
    pub fn start(&mut self, pid: i32, r: &Resources, v2: bool) -> Result<Vec<String>, Error> {
        let bus = connect(self.rec.user)?;
        let props: Vec<(&str, zbus::zvariant::Value)> =
            properties(&self.unit, r, pid as u32, &self.rec.description)
                .into_iter()
                .map(|(k, v)| (k, to_value(v)))
                .collect();
        let aux: Vec<(&str, Vec<(&str, zbus::zvariant::Value)>)> = vec![];
        let started: Result<zbus::zvariant::OwnedObjectPath, _> = call(
            &bus,
            PATH,
            MANAGER,
            "StartTransientUnit",
            &(self.unit.name.as_str(), "replace", props, aux),
        );
        if let Err(e) = started {
            let (name, msg) = why(&e);
            return Err(if name == "org.freedesktop.systemd1.UnitExists" {
                Error::Exists(self.unit.name.clone())
            } else {
                Error::Call {
                    what: "StartTransientUnit",
                    unit: self.unit.name.clone(),
                    why: msg,
                }
            });
        }
        self.armed = true;
        let bus = self.bus.insert(bus);
        let call_err = |what, e: zbus::Error| Error::Call {
            what,
            unit: self.unit.name.clone(),
            why: why(&e).1,
        };
        // The job runs after the call returns: wait until the unit is active.
        let path = Self::wait_active(bus, &self.unit.name)?;
        let iface = if self.unit.is_slice() {
            "org.freedesktop.systemd1.Slice"
        } else {
            "org.freedesktop.systemd1.Scope"
        };
        let cg = get_str(bus, &path, iface, "ControlGroup")
            .map_err(|e| call_err("reading ControlGroup of", e))?;
        let actual = Path::new(super::cgroups::MOUNTPOINT).join(cg.trim_start_matches('/'));
        if v2 && actual != self.leaf {
            return Err(Error::Call {
                what: "placing",
                unit: self.unit.name.clone(),
                why: format!(
                    "systemd put its cgroup at {}, not at {} where nucleus expected it",
                    actual.display(),
                    self.leaf.display()
                ),
            });
        }
        if !v2 {
            return Ok(vec![]);
        }
        // A transient slice takes no PIDs property: the process is put in it.
        if self.unit.is_slice() {
            std::fs::write(self.leaf.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                super::cgroups::Error::Io {
                    path: self.leaf.join("cgroup.procs"),
                    why: e.to_string(),
                }
            })?;
        }
        let warnings = self.apply(r)?;
        // The device allow-list always applies (DESIGN.md §5.9): the eBPF program goes on
        // the unit's cgroup as on one nucleus made, before the process is let go. Not for a
        // rootless container (the user's manager): loading it needs CAP_BPF and
        // CAP_SYS_ADMIN in the initial user namespace, and such a container cannot make a
        // device node the host would honour anyway (the cgroupfs path drops the rules too).
        if !self.rec.user {
            super::cgroups::attach_device_filter(std::slice::from_ref(&self.leaf), &r.devices)?;
        }
        Ok(warnings)
    }

    /// Polls the unit until it is active (10 s at most); its object path.
    fn wait_active(bus: &zbus::blocking::Connection, unit: &str) -> Result<String, Error> {
        let call_err = |what, e: zbus::Error| Error::Call {
            what,
            unit: unit.to_string(),
            why: why(&e).1,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let Some(p) = unit_path(bus, unit)? else {
                return Err(Error::Call {
                    what: "starting",
                    unit: unit.to_string(),
                    why: "the unit is gone: it failed to start (see the journal)".into(),
                });
            };
            let state = get_str(bus, &p, "org.freedesktop.systemd1.Unit", "ActiveState")
                .map_err(|e| call_err("reading ActiveState of", e))?;
            match state.as_str() {
                "active" => return Ok(p),
                "failed" => {
                    return Err(Error::Call {
                        what: "starting",
                        unit: unit.to_string(),
                        why: format!("the unit failed (journalctl -u {unit})"),
                    })
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(Error::Call {
                    what: "starting",
                    unit: unit.to_string(),
                    why: format!("the unit is still {state} after 10 s"),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Writes every limit of `r` into the unit's cgroup, after checking that each
    /// controller it needs reached the cgroup (systemd delegates them; a user's manager
    /// only what user@.service delegates).
    fn apply(&self, r: &Resources) -> Result<Vec<String>, Error> {
        use super::cgroups::{self, Version};
        let mp = Path::new(cgroups::MOUNTPOINT);
        let res = cgroups::resolve(mp, &Version::V2, r, None)?;
        let have = std::fs::read_to_string(self.leaf.join("cgroup.controllers")).map_err(|e| {
            cgroups::Error::Io {
                path: self.leaf.join("cgroup.controllers"),
                why: e.to_string(),
            }
        })?;
        let mut writes = Vec::new();
        for w in res.writes {
            if w.controller == "cgroup" || have.split_whitespace().any(|c| c == w.controller) {
                writes.push(w);
            } else if !w.optional && !w.default {
                return Err(Error::NotDelegated {
                    field: w.field,
                    controller: w.controller,
                    cgroup: self.leaf.display().to_string(),
                    user: self.rec.user,
                });
            }
        }
        let mut warnings = res.warnings;
        warnings.extend(cgroups::apply(
            mp,
            &Version::V2,
            std::slice::from_ref(&self.leaf),
            &writes,
            false,
        )?);
        Ok(warnings)
    }

    /// The unit's cgroup as nucleus' own cgroup type (v2): it makes and removes nothing
    /// (systemd does). The record is told of no directory: until systemd has made the
    /// unit for this container, that path may be another owner's (a taken name), whose
    /// processes `delete --force` must not kill; the unit's name is in the record already
    /// (`delete` kills and stops the unit itself), and the leaf is recorded once create
    /// has finished.
    pub fn cgroup(
        &self,
        record: &mut dyn FnMut(&super::cgroups::Plan) -> Result<(), super::cgroups::Error>,
    ) -> Result<super::cgroups::Cgroup, super::cgroups::Error> {
        record(&super::cgroups::Plan::default())?;
        Ok(super::cgroups::Cgroup::adopted(self.leaf.clone()))
    }

    /// The container owns the unit from now on (`delete` stops it).
    pub fn keep(&mut self) {
        self.armed = false;
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if let Some(bus) = &self.bus {
            // Best effort on a path that is already failing: the record names the unit, and
            // `delete --force` stops it; a scope whose processes are gone ends by itself.
            let _ = stop_on(bus, &self.rec);
        }
    }
}

fn stop_on(bus: &zbus::blocking::Connection, r: &Recorded) -> Result<(), Error> {
    let Some(path) = unit_path(bus, &r.unit)? else {
        return Ok(());
    };
    let call_err = |what, e: zbus::Error| Error::Call {
        what,
        unit: r.unit.clone(),
        why: why(&e).1,
    };
    // Only the unit this container made: a name taken by another owner stays.
    let desc = get_str(bus, &path, "org.freedesktop.systemd1.Unit", "Description")
        .map_err(|e| call_err("reading Description of", e))?;
    if desc != r.description {
        return Ok(());
    }
    // Every process of the unit first (a scope's stop would wait TimeoutStopSec for those
    // that ignore SIGTERM); a unit whose processes are gone already is fine.
    match call::<_, ()>(
        bus,
        PATH,
        MANAGER,
        "KillUnit",
        &(r.unit.as_str(), "all", libc::SIGKILL),
    ) {
        Ok(()) => {}
        Err(e) if why(&e).0 == "org.freedesktop.systemd1.NoSuchUnit" => return Ok(()),
        Err(e) if why(&e).0 == "org.freedesktop.systemd1.UnitInactive" => {}
        Err(e) => return Err(call_err("KillUnit", e)),
    }
    match call::<_, zbus::zvariant::OwnedObjectPath>(
        bus,
        PATH,
        MANAGER,
        "StopUnit",
        &(r.unit.as_str(), "replace"),
    ) {
        Ok(_) => {}
        Err(e) if why(&e).0 == "org.freedesktop.systemd1.NoSuchUnit" => return Ok(()),
        Err(e) => return Err(call_err("StopUnit", e)),
    }
    // Wait until systemd has let it go (its cgroup removed), so that delete leaves nothing.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Some(p) = unit_path(bus, &r.unit)? else {
            return Ok(());
        };
        let state =
            get_str(bus, &p, "org.freedesktop.systemd1.Unit", "ActiveState").unwrap_or_default();
        if state == "failed" {
            // Ignored: a unit that is already gone was reset by someone else.
            let _ = call::<_, ()>(bus, PATH, MANAGER, "ResetFailedUnit", &(r.unit.as_str(),));
            return Ok(());
        }
        if state == "inactive" || state.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Call {
                what: "stopping",
                unit: r.unit.clone(),
                why: format!("the unit is still {state} after 10 s"),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The properties of `properties` that are limits (what `update` changes on a live unit).
pub fn limit_properties(r: &Resources) -> Vec<(&'static str, Prop)> {
    let unit = Unit {
        name: String::new(),
        slice: String::new(),
        path: String::new(),
    };
    properties(&unit, r, 0, "")
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("Memory") && !k.ends_with("Accounting")
                || k.starts_with("CPUQuota")
                || matches!(
                    *k,
                    "CPUWeight" | "TasksMax" | "AllowedCPUs" | "AllowedMemoryNodes"
                )
        })
        .collect()
}

/// `update`: tells systemd the container's new limits (SetUnitProperties, runtime only),
/// so that it keeps them (a daemon-reload re-applies a unit's properties to its cgroup).
/// The files are written by the caller.
pub fn set_limits(rec: &Recorded, r: &Resources) -> Result<(), Error> {
    let bus = connect(rec.user)?;
    let props: Vec<(&str, zbus::zvariant::Value)> = limit_properties(r)
        .into_iter()
        .map(|(k, v)| (k, to_value(v)))
        .collect();
    call::<_, ()>(
        &bus,
        PATH,
        MANAGER,
        "SetUnitProperties",
        &(rec.unit.as_str(), true, props),
    )
    .map_err(|e| Error::Call {
        what: "SetUnitProperties",
        unit: rec.unit.clone(),
        why: why(&e).1,
    })
}

/// `delete`: stops the unit a container's record names (when it is still that container's)
/// and waits until systemd has removed it. A unit that is gone already is fine.
pub fn stop(r: &Recorded) -> Result<(), Error> {
    stop_on(&connect(r.user)?, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(p: &str) -> Unit {
        parse(p).unwrap()
    }

    #[test]
    fn layout_follows_systemd_nesting() {
        assert_eq!(
            unit("machine.slice:libpod:abc"),
            Unit {
                name: "libpod-abc.scope".into(),
                slice: "machine.slice".into(),
                path: "machine.slice/libpod-abc.scope".into(),
            }
        );
        assert_eq!(
            unit("user-1000.slice:crio:x").path,
            "user.slice/user-1000.slice/crio-x.scope"
        );
        assert_eq!(unit(":prefix:n").path, "system.slice/prefix-n.scope");
        assert_eq!(unit("system.slice::n").name, "n.scope");
        assert_eq!(unit("-.slice:p:n").path, "p-n.scope");
        let s = unit("machine.slice:p:pod-x.slice");
        assert!(s.is_slice());
        assert_eq!(s.name, "pod-x.slice");
        for bad in [
            "x:y",
            "a.scope:p:n",
            "a:b:c:d",
            "machine.slice:p:",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            "machine.slice:p/q:n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpuset_lists_become_bitmasks() {
        assert_eq!(cpuset_mask("0"), Some(vec![1]));
        assert_eq!(cpuset_mask("0-3,5"), Some(vec![0b0010_1111]));
        assert_eq!(cpuset_mask("9"), Some(vec![0, 2]));
        assert_eq!(cpuset_mask("3-1"), None);
        assert_eq!(cpuset_mask("x"), None);
        assert_eq!(cpuset_mask(""), None);
    }

    fn get<'a>(p: &'a [(&str, Prop)], k: &str) -> Option<&'a Prop> {
        p.iter().find(|(n, _)| *n == k).map(|(_, v)| v)
    }

    #[test]
    fn a_scope_is_delegated_and_holds_the_process() {
        let p = properties(
            &unit("machine.slice:libpod:c"),
            &Resources::default(),
            42,
            "d",
        );
        assert_eq!(get(&p, "Description"), Some(&Prop::Str("d".into())));
        assert_eq!(get(&p, "Slice"), Some(&Prop::Str("machine.slice".into())));
        assert_eq!(get(&p, "Delegate"), Some(&Prop::Bool(true)));
        assert_eq!(get(&p, "PIDs"), Some(&Prop::Pids(vec![42])));
        for k in [
            "MemoryMax",
            "TasksMax",
            "CPUWeight",
            "CPUQuotaPerSecUSec",
            "CPUQuotaPeriodUSec",
        ] {
            assert_eq!(get(&p, k), None, "{k}");
        }
        // A slice has neither a Slice= nor processes of its own.
        let s = properties(
            &unit("machine.slice:p:pod.slice"),
            &Resources::default(),
            42,
            "d",
        );
        assert_eq!(get(&s, "PIDs"), None);
        assert_eq!(get(&s, "Delegate"), None);
    }

    #[test]
    fn limits_become_systemd_properties() {
        let r = Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(16 << 20),
            memory_swap: Some(96 << 20),
            pids: Some(20),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            cpu_period: 100_000,
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            unified: vec![("memory.high".into(), "33554432".into())],
            ..Default::default()
        };
        let p = properties(&unit("machine.slice:libpod:c"), &r, 1, "d");
        assert_eq!(get(&p, "MemoryMax"), Some(&Prop::U64(64 << 20)));
        assert_eq!(get(&p, "MemoryLow"), Some(&Prop::U64(16 << 20)));
        assert_eq!(get(&p, "MemoryHigh"), Some(&Prop::U64(32 << 20)));
        // OCI's swap counts memory too; systemd's is swap alone.
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Prop::U64(32 << 20)));
        assert_eq!(get(&p, "TasksMax"), Some(&Prop::U64(20)));
        // runc's mapping of shares onto weights: 1024 → 39.
        assert_eq!(get(&p, "CPUWeight"), Some(&Prop::U64(39)));
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(500_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Prop::U64(100_000)));
        assert_eq!(get(&p, "AllowedCPUs"), Some(&Prop::Bytes(vec![0b11])));
        assert_eq!(get(&p, "AllowedMemoryNodes"), Some(&Prop::Bytes(vec![1])));
    }

    #[test]
    fn update_sends_only_limits() {
        let r = Resources {
            memory: Some(64 << 20),
            pids: Some(5),
            ..Default::default()
        };
        let names: Vec<&str> = limit_properties(&r).iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["MemoryMax", "TasksMax"]);
    }

    #[test]
    fn quota_rounds_up_to_systemd_steps_and_unlimited_is_infinity() {
        let r = Resources {
            cpu_quota: Some(12_345),
            cpu_period: 50_000,
            memory: Some(UNLIMITED),
            memory_swap: Some(-1),
            pids: Some(UNLIMITED),
            ..Default::default()
        };
        let p = properties(&unit("a.slice:p:c"), &r, 1, "d");
        // 12345 µs per 50 ms = 246900 µs/s, rounded up to 250 ms.
        assert_eq!(get(&p, "CPUQuotaPerSecUSec"), Some(&Prop::U64(250_000)));
        assert_eq!(get(&p, "CPUQuotaPeriodUSec"), Some(&Prop::U64(50_000)));
        assert_eq!(get(&p, "MemoryMax"), Some(&Prop::U64(u64::MAX)));
        assert_eq!(get(&p, "MemorySwapMax"), Some(&Prop::U64(u64::MAX)));
        assert_eq!(get(&p, "TasksMax"), Some(&Prop::U64(u64::MAX)));
    }

    #[test]
    fn the_users_manager_is_found_from_the_own_cgroup() {
        let uid = nix::unistd::getuid().as_raw();
        let own =
            format!("0::/user.slice/user-{uid}.slice/user@{uid}.service/app.slice/run-r1.scope\n");
        assert_eq!(
            manager_base(true, &own),
            format!("user.slice/user-{uid}.slice/user@{uid}.service")
        );
        assert_eq!(
            manager_base(true, "0::/init.scope\n"),
            format!("user.slice/user-{uid}.slice/user@{uid}.service")
        );
        assert_eq!(manager_base(false, &own), "");
    }
}
