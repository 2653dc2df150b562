//! Resource limits as cgroup file writes: the pure translation of `Resources` into the list
//! of (controller, file, value) that cgroups v1 or v2 take, in the order the kernel needs,
//! and the OCI `linux.resources` parts that map onto it (create and `update`). No syscalls:
//! linux::cgroups applies the list, which `create` and `update` share.

use super::config::{Rdma, Resources, Throttle, ThrottleKind, WeightDevice};
use oci_spec::runtime::LinuxResources;

/// Which cgroup hierarchy the writes are for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// "No limit" in a `Resources` count (memory, reservation, pids, cpu quota): v1's -1, v2's
/// `max`. OCI's -1 (and, for `update`, an explicit -1) translates to it.
pub const UNLIMITED: u64 = u64::MAX;

/// The kernel's default swappiness (vm.swappiness), which a cgroup starts with.
const DEFAULT_SWAPPINESS: u64 = 60;

/// One cgroup file write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// v1: the hierarchy (`memory`, `net_cls`…); v2: the controller to enable (`cgroup`
    /// for core files, which need none).
    pub controller: String,
    pub file: String,
    pub value: String,
    /// The OCI field it comes from, for errors (`linux.resources.blockIO.weight`).
    pub field: String,
    /// The value is the kernel's default: a host without the file skips it with a warning.
    pub default: bool,
    /// Implied, not configured (memory+swap at the memory limit): skipped silently when
    /// the host has no such file.
    pub optional: bool,
    /// Another file taking the same setting, used when `file` does not exist (BFQ's
    /// blkio.bfq.weight for blkio.weight), with its value.
    pub alt: Option<(String, String)>,
}

fn w(controller: &str, file: impl Into<String>, value: impl ToString, field: &str) -> Write {
    Write {
        controller: controller.into(),
        file: file.into(),
        value: value.to_string(),
        field: format!("linux.resources.{field}"),
        default: false,
        optional: false,
        alt: None,
    }
}

impl Write {
    fn default_if(mut self, d: bool) -> Write {
        self.default = d;
        self
    }
    fn optional(mut self) -> Write {
        self.optional = true;
        self
    }
    fn alt(mut self, file: &str, value: impl ToString) -> Write {
        self.alt = Some((file.into(), value.to_string()));
        self
    }
}

/// v1 count: -1 for unlimited.
fn v1(n: u64) -> String {
    if n == UNLIMITED {
        "-1".into()
    } else {
        n.to_string()
    }
}

/// v2 count: `max` for unlimited.
fn v2(n: u64) -> String {
    if n == UNLIMITED {
        "max".into()
    } else {
        n.to_string()
    }
}

/// The CFS period (0: the kernel's 100 ms).
fn period(r: &Resources) -> u64 {
    if r.cpu_period == 0 {
        100_000
    } else {
        r.cpu_period
    }
}

/// cpu.shares (2…262144) onto v2's cpu.weight (1…10000), as runc and crun map it.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// blkio weight (10…1000) onto v2's io.weight (1…10000), as runc and crun map it.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + (u64::from(weight).clamp(10, 1000) - 10) * 9999 / 990
}

/// OCI memory.swap (memory + swap) as v2's memory.swap.max (swap alone), as runc converts
/// it: None leaves it alone.
fn swap_v2(swap: Option<i64>, memory: Option<u64>) -> Result<Option<String>, String> {
    let field = "linux.resources.memory.swap";
    match (swap, memory) {
        (None | Some(0), Some(UNLIMITED)) => Ok(Some("max".into())),
        (None | Some(0), _) => Ok(None),
        (Some(-1), _) => Ok(Some("max".into())),
        (Some(s), _) if s < 0 => Err(format!("{field} {s}: use -1 for unlimited or a byte count")),
        (Some(s), None | Some(UNLIMITED)) => Err(format!(
            "{field} {s}: a swap limit needs a memory limit (memory.limit) on cgroup v2"
        )),
        (Some(s), Some(m)) if (s as u64) < m => Err(format!(
            "{field} {s} is below memory.limit {m}: it counts memory plus swap"
        )),
        (Some(s), Some(m)) => Ok(Some((s as u64 - m).to_string())),
    }
}

/// The page size of a hugepageLimits entry (`2MB`, `1GB`, `64KB`), checked: it names a file.
fn page_size(s: &str) -> Result<&str, String> {
    let digits = s.trim_end_matches(['K', 'M', 'G', 'B']);
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !["KB", "MB", "GB"].contains(&unit)
    {
        return Err(format!(
            "linux.resources.hugepageLimits pageSize '{s}': use a size such as 2MB or 1GB"
        ));
    }
    Ok(s)
}

/// A `unified` key: a file directly in the container's cgroup (`memory.high`), never a
/// path out of it, nor a core file nucleus itself drives.
fn unified_key(k: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("linux.resources.unified key '{k}': {why}"));
    if k.is_empty() || k.contains('/') || k.contains('\0') || k.starts_with('.') {
        return bad("must name a file of the container's cgroup, without '/' or '..'");
    }
    let Some((ctrl, _)) = k.split_once('.') else {
        return bad("must be a cgroup interface file such as memory.high");
    };
    if [
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.subtree_control",
    ]
    .contains(&k)
    {
        return bad("is managed by the runtime (it would move, freeze or kill processes)");
    }
    Ok(ctrl.to_string())
}

/// The writes that set `r` on a cgroup of `version`, in order, and the warnings for
/// settings this version cannot express but which are the kernel's default anyway.
/// `cur_memory` is the v1 memory limit in force (None for a new cgroup): the kernel
/// refuses a memory limit above memory+swap, so the order of the two depends on it.
/// Device rules and the freezer are not here: only `create` sets them.
pub fn writes(
    r: &Resources,
    version: &Version,
    cur_memory: Option<u64>,
) -> Result<(Vec<Write>, Vec<String>), String> {
    validate(r)?;
    let mut out = Vec::new();
    let mut warn = Vec::new();
    match version {
        Version::V1 => v1_writes(r, cur_memory, &mut out)?,
        Version::V2 => v2_writes(r, &mut out, &mut warn)?,
    }
    Ok((out, warn))
}

/// Checks that hold on every hierarchy.
fn validate(r: &Resources) -> Result<(), String> {
    let weight = |field: &str, v: Option<u16>| match v {
        Some(x) if !(10..=1000).contains(&x) => Err(format!(
            "linux.resources.blockIO.{field} {x}: use 10 to 1000 (0 leaves it unset)"
        )),
        _ => Ok(()),
    };
    weight("weight", r.blkio_weight)?;
    weight("leafWeight", r.blkio_leaf_weight)?;
    for d in &r.blkio_weight_devices {
        weight("weightDevice.weight", d.weight)?;
        weight("weightDevice.leafWeight", d.leaf_weight)?;
    }
    for (size, _) in &r.hugetlb {
        page_size(size)?;
    }
    for (name, _) in &r.net_priorities {
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('/') {
            return Err(format!(
                "linux.resources.network.priorities name '{name}': not an interface name"
            ));
        }
    }
    for d in &r.rdma {
        if d.device.is_empty() || d.device.contains(char::is_whitespace) {
            return Err(format!(
                "linux.resources.rdma device '{}': not a device name",
                d.device
            ));
        }
    }
    for (k, _) in &r.unified {
        unified_key(k)?;
    }
    if let Some(s) = r.memory_swap {
        if s < -1 {
            return Err(format!(
                "linux.resources.memory.swap {s}: use -1 for unlimited or a byte count"
            ));
        }
    }
    Ok(())
}

fn throttle_v1(k: ThrottleKind) -> (&'static str, &'static str) {
    match k {
        ThrottleKind::ReadBps => ("blkio.throttle.read_bps_device", "throttleReadBpsDevice"),
        ThrottleKind::WriteBps => ("blkio.throttle.write_bps_device", "throttleWriteBpsDevice"),
        ThrottleKind::ReadIops => ("blkio.throttle.read_iops_device", "throttleReadIOPSDevice"),
        ThrottleKind::WriteIops => (
            "blkio.throttle.write_iops_device",
            "throttleWriteIOPSDevice",
        ),
    }
}

/// The cgroup v1 writes of `r`, controller by controller. `cur_memory` is the memory limit
/// in force (None: a new cgroup), which decides the order of the memory writes.
fn v1_writes(r: &Resources, cur_memory: Option<u64>, out: &mut Vec<Write>) -> Result<(), String> {
    v1_memory(r, cur_memory, out)?;
    if let Some(p) = r.pids {
        out.push(w("pids", "pids.max", v2(p), "pids.limit"));
    }
    v1_cpu(r, out);
    v1_blkio(r, out);
    for (size, limit) in &r.hugetlb {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{size}.limit_in_bytes"),
            v1(*limit),
            "hugepageLimits",
        ));
    }
    if let Some(id) = r.net_class_id {
        out.push(w("net_cls", "net_cls.classid", id, "network.classID").default_if(id == 0));
    }
    for (name, prio) in &r.net_priorities {
        out.push(w(
            "net_prio",
            "net_prio.ifpriomap",
            format!("{name} {prio}"),
            "network.priorities",
        ));
    }
    rdma_writes(&r.rdma, out);
    if !r.unified.is_empty() {
        return Err(
            "linux.resources.unified needs cgroup v2, and this host drives cgroup v1 (use \
             the v1 fields of linux.resources instead)"
                .into(),
        );
    }
    Ok(())
}

/// memory: limit and memory+swap in the order the kernel accepts, reservation,
/// swappiness, the OOM killer.
fn v1_memory(r: &Resources, cur_memory: Option<u64>, out: &mut Vec<Write>) -> Result<(), String> {
    // memory: limit and memory+swap in the order the kernel accepts (runc's rule: swap
    // first when it is unlimited or above the limit in force).
    let mut mem = Vec::new();
    if let Some(m) = r.memory {
        mem.push(w("memory", "memory.limit_in_bytes", v1(m), "memory.limit"));
    }
    let swap = match (r.memory_swap, r.memory) {
        (Some(s), _) => Some(w("memory", "memory.memsw.limit_in_bytes", s, "memory.swap")),
        // Unlimited memory frees swap too; a limit without swap keeps the process out of
        // swap. Both only where the host accounts swap.
        (None, Some(UNLIMITED)) => {
            Some(w("memory", "memory.memsw.limit_in_bytes", -1, "memory.swap").optional())
        }
        (None, Some(m)) => {
            Some(w("memory", "memory.memsw.limit_in_bytes", m, "memory.swap").optional())
        }
        (None, None) => None,
    };
    if let Some(sw) = swap {
        let new_sw = sw.value.parse::<i64>().unwrap_or(-1);
        // A new cgroup (cur_memory None) takes the memory limit first.
        let first = cur_memory.is_some_and(|c| new_sw == -1 || new_sw as u64 > c);
        if first {
            mem.insert(0, sw);
        } else {
            mem.push(sw);
        }
    }
    out.extend(mem);
    if let Some(v) = r.memory_reservation {
        out.push(w(
            "memory",
            "memory.soft_limit_in_bytes",
            v1(v),
            "memory.reservation",
        ));
    }
    if let Some(v) = r.memory_swappiness {
        if v > 100 {
            return Err(format!(
                "linux.resources.memory.swappiness {v}: use 0 to 100"
            ));
        }
        out.push(
            w("memory", "memory.swappiness", v, "memory.swappiness")
                .default_if(v == DEFAULT_SWAPPINESS),
        );
    }
    if r.oom_kill_disable {
        out.push(w(
            "memory",
            "memory.oom_control",
            1,
            "memory.disableOOMKiller",
        ));
    }
    Ok(())
}

/// cpu and cpuset: shares, CFS and real-time bandwidth, the CPUs and memory nodes.
fn v1_cpu(r: &Resources, out: &mut Vec<Write>) {
    if let Some(sh) = r.cpu_shares {
        out.push(w("cpu", "cpu.shares", sh, "cpu.shares"));
    }
    if r.cpu_quota.is_some() || !matches!(r.cpu_period, 0 | 100_000) {
        out.push(w("cpu", "cpu.cfs_period_us", period(r), "cpu.period"));
    }
    if let Some(q) = r.cpu_quota {
        out.push(w("cpu", "cpu.cfs_quota_us", v1(q), "cpu.quota"));
    }
    // Real-time bandwidth: the period first (runc's order), both before any process joins.
    if let Some(p) = r.cpu_rt_period {
        out.push(w("cpu", "cpu.rt_period_us", p, "cpu.realtimePeriod").default_if(p == 1_000_000));
    }
    if let Some(rt) = r.cpu_rt_runtime {
        out.push(w("cpu", "cpu.rt_runtime_us", rt, "cpu.realtimeRuntime").default_if(rt == 0));
    }
    if let Some(c) = &r.cpuset_cpus {
        out.push(w("cpuset", "cpuset.cpus", c, "cpu.cpus"));
    }
    if let Some(m) = &r.cpuset_mems {
        out.push(w("cpuset", "cpuset.mems", m, "cpu.mems"));
    }
}

/// blkio: weights (CFQ's files, else BFQ's), per-device weights and throttles.
fn v1_blkio(r: &Resources, out: &mut Vec<Write>) {
    // blkio: CFQ's files, else BFQ's.
    if let Some(x) = r.blkio_weight {
        out.push(
            w("blkio", "blkio.weight", x, "blockIO.weight")
                .alt("blkio.bfq.weight", x)
                .default_if(x == 500),
        );
    }
    if let Some(x) = r.blkio_leaf_weight {
        out.push(w("blkio", "blkio.leaf_weight", x, "blockIO.leafWeight").default_if(x == 500));
    }
    for WeightDevice {
        major,
        minor,
        weight,
        leaf_weight,
    } in &r.blkio_weight_devices
    {
        if let Some(x) = weight {
            let v = format!("{major}:{minor} {x}");
            out.push(
                w("blkio", "blkio.weight_device", &v, "blockIO.weightDevice")
                    .alt("blkio.bfq.weight_device", &v),
            );
        }
        if let Some(x) = leaf_weight {
            out.push(w(
                "blkio",
                "blkio.leaf_weight_device",
                format!("{major}:{minor} {x}"),
                "blockIO.weightDevice.leafWeight",
            ));
        }
    }
    for t in &r.blkio_throttle {
        let (file, field) = throttle_v1(t.kind);
        out.push(w(
            "blkio",
            file,
            format!("{}:{} {}", t.major, t.minor, t.rate),
            &format!("blockIO.{field}"),
        ));
    }
}

fn rdma_writes(rdma: &[Rdma], out: &mut Vec<Write>) {
    for d in rdma {
        let n = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
        let value = format!(
            "{} hca_handle={} hca_object={}",
            d.device,
            n(d.hca_handles),
            n(d.hca_objects)
        );
        let default = d.hca_handles.is_none() && d.hca_objects.is_none();
        out.push(w("rdma", "rdma.max", value, "rdma").default_if(default));
    }
}

/// A setting cgroup v2 has no file for: a warning when it is the kernel's default (so
/// nothing is lost), else an error naming it.
fn no_v2(field: &str, default: bool, warn: &mut Vec<String>) -> Result<(), String> {
    if default {
        warn.push(format!(
            "linux.resources.{field} is ignored: cgroup v2 has no such setting (the value \
             is the kernel's default)"
        ));
        Ok(())
    } else {
        Err(format!(
            "linux.resources.{field}: cgroup v2 has no such setting (it exists on cgroup v1 \
             only); remove it from the config"
        ))
    }
}

/// The cgroup v2 writes of `r`; v1-only settings at their default are skipped, others
/// refused (`no_v2`).
fn v2_writes(r: &Resources, out: &mut Vec<Write>, warn: &mut Vec<String>) -> Result<(), String> {
    v2_memory(r, out, warn)?;
    if let Some(p) = r.pids {
        out.push(w("pids", "pids.max", v2(p), "pids.limit"));
    }
    v2_cpu(r, out, warn)?;
    v2_io(r, out, warn)?;
    for (size, limit) in &r.hugetlb {
        out.push(w(
            "hugetlb",
            format!("hugetlb.{size}.max"),
            v2(*limit),
            "hugepageLimits",
        ));
    }
    if let Some(id) = r.net_class_id {
        no_v2("network.classID", id == 0, warn)?;
    }
    if !r.net_priorities.is_empty() {
        no_v2("network.priorities", false, warn)?;
    }
    rdma_writes(&r.rdma, out);
    for (k, v) in &r.unified {
        let ctrl = unified_key(k)?;
        out.push(w(&ctrl, k.as_str(), v, &format!("unified.{k}")));
    }
    Ok(())
}

/// memory.max, memory.swap.max (swap alone), memory.low.
fn v2_memory(r: &Resources, out: &mut Vec<Write>, warn: &mut Vec<String>) -> Result<(), String> {
    if let Some(m) = r.memory {
        out.push(w("memory", "memory.max", v2(m), "memory.limit"));
    }
    match swap_v2(r.memory_swap, r.memory)? {
        Some(v) => out.push(w("memory", "memory.swap.max", v, "memory.swap")),
        // A limit without swap keeps the process out of swap, where the host has swap.
        None if r.memory.is_some_and(|m| m != UNLIMITED) && r.memory_swap.is_none() => {
            out.push(w("memory", "memory.swap.max", 0, "memory.swap").optional())
        }
        None => {}
    }
    if let Some(v) = r.memory_reservation {
        out.push(w("memory", "memory.low", v2(v), "memory.reservation"));
    }
    if let Some(v) = r.memory_swappiness {
        no_v2("memory.swappiness", v == DEFAULT_SWAPPINESS, warn)?;
    }
    if r.oom_kill_disable {
        no_v2("memory.disableOOMKiller", false, warn)?;
    }
    Ok(())
}

/// cpu.weight (from shares, as runc converts), cpu.max, cpuset.
fn v2_cpu(r: &Resources, out: &mut Vec<Write>, warn: &mut Vec<String>) -> Result<(), String> {
    if let Some(sh) = r.cpu_shares {
        out.push(w("cpu", "cpu.weight", shares_to_weight(sh), "cpu.shares"));
    }
    if r.cpu_quota.is_some() || !matches!(r.cpu_period, 0 | 100_000) {
        let q = r.cpu_quota.map_or("max".to_string(), v2);
        out.push(w(
            "cpu",
            "cpu.max",
            format!("{q} {}", period(r)),
            "cpu.quota",
        ));
    }
    if let Some(p) = r.cpu_rt_period {
        no_v2("cpu.realtimePeriod", p == 1_000_000, warn)?;
    }
    if let Some(rt) = r.cpu_rt_runtime {
        no_v2("cpu.realtimeRuntime", rt == 0, warn)?;
    }
    if let Some(c) = &r.cpuset_cpus {
        out.push(w("cpuset", "cpuset.cpus", c, "cpu.cpus"));
    }
    if let Some(m) = &r.cpuset_mems {
        out.push(w("cpuset", "cpuset.mems", m, "cpu.mems"));
    }
    Ok(())
}

/// io.weight (from blkio weights, as runc converts; BFQ's file as the alternative), io.max.
fn v2_io(r: &Resources, out: &mut Vec<Write>, warn: &mut Vec<String>) -> Result<(), String> {
    if let Some(x) = r.blkio_weight {
        let iw = blkio_to_io_weight(x);
        out.push(
            w("io", "io.weight", format!("default {iw}"), "blockIO.weight")
                .alt("io.bfq.weight", x)
                .default_if(iw == 100),
        );
    }
    if let Some(x) = r.blkio_leaf_weight {
        no_v2("blockIO.leafWeight", x == 500, warn)?;
    }
    for d in &r.blkio_weight_devices {
        if let Some(x) = d.weight {
            let (maj, min) = (d.major, d.minor);
            out.push(
                w(
                    "io",
                    "io.weight",
                    format!("{maj}:{min} {}", blkio_to_io_weight(x)),
                    "blockIO.weightDevice",
                )
                .alt("io.bfq.weight", format!("{maj}:{min} {x}")),
            );
        }
        if let Some(x) = d.leaf_weight {
            no_v2("blockIO.weightDevice.leafWeight", x == 500, warn)?;
        }
    }
    for t in &r.blkio_throttle {
        let key = match t.kind {
            ThrottleKind::ReadBps => "rbps",
            ThrottleKind::WriteBps => "wbps",
            ThrottleKind::ReadIops => "riops",
            ThrottleKind::WriteIops => "wiops",
        };
        let field = format!("blockIO.{}", throttle_v1(t.kind).1);
        out.push(w(
            "io",
            "io.max",
            format!("{}:{} {key}={}", t.major, t.minor, t.rate),
            &field,
        ));
    }
    Ok(())
}

/// The controllers `writes` use, in first-use order (v1 hierarchies or v2 controllers to
/// enable; v2's core `cgroup` files need none).
pub fn controllers(ws: &[Write]) -> Vec<String> {
    let mut c: Vec<String> = Vec::new();
    for x in ws {
        if x.controller != "cgroup" && !c.contains(&x.controller) {
            c.push(x.controller.clone());
        }
    }
    c
}

/// The OCI resources besides memory, cpu, pids and devices (which `spec::oci` reads):
/// blockIO, hugepageLimits, network, rdma, unified, cpu realtime, disableOOMKiller, and the
/// kernel memory settings Linux removed (ignored with a warning, as runc does).
pub fn from_oci(o: &LinuxResources, r: &mut Resources) -> Result<Vec<String>, String> {
    let mut warn = Vec::new();
    if let Some(b) = o.block_io() {
        r.blkio_weight = b.weight().filter(|x| *x != 0);
        r.blkio_leaf_weight = b.leaf_weight().filter(|x| *x != 0);
        for d in b.weight_device().iter().flatten() {
            let (major, minor) = dev("weightDevice", d.major(), d.minor())?;
            r.blkio_weight_devices.push(WeightDevice {
                major,
                minor,
                weight: d.weight().filter(|x| *x != 0),
                leaf_weight: d.leaf_weight().filter(|x| *x != 0),
            });
        }
        let lists = [
            (ThrottleKind::ReadBps, b.throttle_read_bps_device()),
            (ThrottleKind::WriteBps, b.throttle_write_bps_device()),
            (ThrottleKind::ReadIops, b.throttle_read_iops_device()),
            (ThrottleKind::WriteIops, b.throttle_write_iops_device()),
        ];
        for (kind, list) in lists {
            for d in list.iter().flatten() {
                let (major, minor) = dev(throttle_v1(kind).1, d.major(), d.minor())?;
                r.blkio_throttle.push(Throttle {
                    kind,
                    major,
                    minor,
                    rate: d.rate(),
                });
            }
        }
    }
    for h in o.hugepage_limits().iter().flatten() {
        let limit = if h.limit() < 0 {
            UNLIMITED
        } else {
            h.limit() as u64
        };
        r.hugetlb
            .push((page_size(h.page_size())?.to_string(), limit));
    }
    if let Some(n) = o.network() {
        r.net_class_id = n.class_id();
        for p in n.priorities().iter().flatten() {
            r.net_priorities.push((p.name().clone(), p.priority()));
        }
    }
    if let Some(rdma) = o.rdma() {
        let mut list: Vec<_> = rdma.iter().collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        for (device, l) in list {
            r.rdma.push(Rdma {
                device: device.clone(),
                hca_handles: l.hca_handles(),
                hca_objects: l.hca_objects(),
            });
        }
    }
    if let Some(u) = o.unified() {
        let mut list: Vec<(String, String)> =
            u.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        list.sort();
        r.unified = list;
    }
    if let Some(cpu) = o.cpu() {
        r.cpu_rt_runtime = cpu.realtime_runtime();
        r.cpu_rt_period = cpu.realtime_period().filter(|p| *p != 0);
    }
    if let Some(m) = o.memory() {
        r.oom_kill_disable = m.disable_oom_killer() == Some(true);
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            warn.push(
                "linux.resources.memory.kernel/kernelTCP is ignored (kernel memory limits \
                 were removed from Linux)"
                    .into(),
            );
        }
    }
    validate(r)?;
    Ok(warn)
}

fn dev(field: &str, major: i64, minor: i64) -> Result<(u64, u64), String> {
    if major < 0 || minor < 0 {
        return Err(format!(
            "linux.resources.blockIO.{field} {major}:{minor}: device numbers are not negative"
        ));
    }
    Ok((major as u64, minor as u64))
}

/// An OCI count as `update` reads it (runc's rule): 0 or absent leaves the setting as it
/// is, -1 lifts the limit.
fn count(v: Option<i64>, field: &str) -> Result<Option<u64>, String> {
    match v {
        None | Some(0) => Ok(None),
        Some(-1) => Ok(Some(UNLIMITED)),
        Some(n) if n < 0 => Err(format!(
            "{field} {n}: use a positive number, or -1 for no limit"
        )),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// Overlays an `update` request (OCI resources, as `runc update --resources` takes them)
/// on the container's resources: memory limit/reservation/swap, cpu shares/quota/period,
/// realtime runtime/period, cpuset cpus/mems, pids, blockIO weight and unified keys.
/// Other fields cannot be changed on a running container and are named in the warnings.
pub fn update_from_oci(o: &LinuxResources, r: &mut Resources) -> Result<Vec<String>, String> {
    let mut warn = Vec::new();
    if let Some(m) = o.memory() {
        update_memory(m, r, &mut warn)?;
    }
    if let Some(cpu) = o.cpu() {
        update_cpu(cpu, r)?;
    }
    if let Some(p) = o.pids() {
        if let Some(v) = count(Some(p.limit()), "pids.limit")? {
            r.pids = Some(v);
        }
    }
    if let Some(b) = o.block_io() {
        update_block_io(b, r, &mut warn);
    }
    if let Some(u) = o.unified() {
        for (k, v) in u {
            match r.unified.iter_mut().find(|(x, _)| x == k) {
                Some(e) => e.1 = v.clone(),
                None => r.unified.push((k.clone(), v.clone())),
            }
        }
        r.unified.sort();
    }
    for (what, set) in [
        ("hugepageLimits", o.hugepage_limits().is_some()),
        ("network", o.network().is_some()),
        ("rdma", o.rdma().is_some()),
    ] {
        if set {
            warn.push(format!("{what} cannot be updated: ignored"));
        }
    }
    // Device rules are appended to those in force, as writes to a v1 devices cgroup are.
    if let Some(devs) = o.devices() {
        r.devices.extend(super::devices_bpf::oci_rules(devs)?);
    }
    if let Some(m) = r
        .memory
        .filter(|m| *m != UNLIMITED && *m < super::config::MIN_MEMORY_LIMIT)
    {
        return Err(format!(
            "memory.limit {m} is below the {} MiB minimum",
            super::config::MIN_MEMORY_LIMIT >> 20
        ));
    }
    validate(r)?;
    Ok(warn)
}

/// `update` of memory: limit, reservation, swap; the rest is named in the warnings.
fn update_memory(
    m: &oci_spec::runtime::LinuxMemory,
    r: &mut Resources,
    warn: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(v) = count(m.limit(), "memory.limit")? {
        r.memory = Some(v);
    }
    if let Some(v) = count(m.reservation(), "memory.reservation")? {
        r.memory_reservation = Some(v);
    }
    match m.swap() {
        None | Some(0) => {}
        Some(s) if s < -1 => {
            return Err(format!(
                "memory.swap {s}: use a byte count, or -1 for unlimited swap"
            ))
        }
        Some(s) => r.memory_swap = Some(s),
    }
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        warn.push(
            "memory.kernel/kernelTCP is ignored (kernel memory limits were removed from \
             Linux)"
                .into(),
        );
    }
    if m.swappiness().is_some() || m.disable_oom_killer().is_some() {
        warn.push("memory.swappiness/disableOOMKiller cannot be updated: ignored".into());
    }
    Ok(())
}

/// `update` of cpu: shares, CFS and real-time bandwidth, cpuset.
fn update_cpu(cpu: &oci_spec::runtime::LinuxCpu, r: &mut Resources) -> Result<(), String> {
    if let Some(s) = cpu.shares().filter(|s| *s != 0) {
        r.cpu_shares = Some(s);
    }
    if let Some(q) = count(cpu.quota(), "cpu.quota")? {
        r.cpu_quota = Some(q);
    }
    if let Some(p) = cpu.period().filter(|p| *p != 0) {
        r.cpu_period = p;
    }
    if let Some(rt) = cpu.realtime_runtime().filter(|x| *x != 0) {
        r.cpu_rt_runtime = Some(rt);
    }
    if let Some(p) = cpu.realtime_period().filter(|x| *x != 0) {
        r.cpu_rt_period = Some(p);
    }
    if let Some(c) = cpu.cpus().clone().filter(|c| !c.is_empty()) {
        r.cpuset_cpus = Some(c);
    }
    if let Some(m) = cpu.mems().clone().filter(|m| !m.is_empty()) {
        r.cpuset_mems = Some(m);
    }
    Ok(())
}

/// `update` of blockIO: the weight; the rest is named in the warnings.
fn update_block_io(b: &oci_spec::runtime::LinuxBlockIo, r: &mut Resources, warn: &mut Vec<String>) {
    if let Some(x) = b.weight().filter(|x| *x != 0) {
        r.blkio_weight = Some(x);
    }
    let other = b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|v| !v.is_empty()));
    if other {
        warn.push("blockIO: only weight can be updated; the rest is ignored".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(r: &Resources, v: Version) -> Vec<(String, String)> {
        writes(r, &v, None)
            .unwrap()
            .0
            .into_iter()
            .map(|w| (w.file, w.value))
            .collect()
    }

    fn base() -> Resources {
        Resources {
            cpu_period: 100_000,
            ..Resources::default()
        }
    }

    fn oci(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn memory_cpu_pids_on_both_versions() {
        let r = Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            pids: Some(20),
            cpu_shares: Some(1024),
            cpu_quota: Some(50_000),
            ..base()
        };
        let f = files(&r, Version::V1);
        assert_eq!(
            f,
            [
                ("memory.limit_in_bytes", "67108864"),
                ("memory.memsw.limit_in_bytes", "67108864"),
                ("memory.soft_limit_in_bytes", "33554432"),
                ("pids.max", "20"),
                ("cpu.shares", "1024"),
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let f = files(&r, Version::V2);
        assert_eq!(
            f,
            [
                ("memory.max", "67108864"),
                ("memory.swap.max", "0"),
                ("memory.low", "33554432"),
                ("pids.max", "20"),
                ("cpu.weight", "39"),
                ("cpu.max", "50000 100000"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn unlimited_values() {
        let r = Resources {
            memory: Some(UNLIMITED),
            pids: Some(UNLIMITED),
            cpu_quota: Some(UNLIMITED),
            ..base()
        };
        let f = files(&r, Version::V1);
        assert!(f.contains(&("memory.limit_in_bytes".into(), "-1".into())));
        assert!(f.contains(&("memory.memsw.limit_in_bytes".into(), "-1".into())));
        assert!(f.contains(&("pids.max".into(), "max".into())));
        assert!(f.contains(&("cpu.cfs_quota_us".into(), "-1".into())));
        let f = files(&r, Version::V2);
        assert!(f.contains(&("memory.max".into(), "max".into())));
        assert!(f.contains(&("memory.swap.max".into(), "max".into())));
        assert!(f.contains(&("cpu.max".into(), "max 100000".into())));
    }

    #[test]
    fn v1_memory_and_swap_order_follows_the_limit_in_force() {
        let r = Resources {
            memory: Some(200 << 20),
            memory_swap: Some(400 << 20),
            ..base()
        };
        let order = |cur| -> Vec<String> {
            writes(&r, &Version::V1, cur)
                .unwrap()
                .0
                .into_iter()
                .map(|w| w.file)
                .collect()
        };
        // A new cgroup: the limit first.
        assert_eq!(order(None)[0], "memory.limit_in_bytes");
        // Raising above memsw in force: memsw first.
        assert_eq!(order(Some(100 << 20))[0], "memory.memsw.limit_in_bytes");
        // Lowering: the limit first.
        assert_eq!(order(Some(800 << 20))[0], "memory.limit_in_bytes");
    }

    #[test]
    fn v2_swap_conversion() {
        assert_eq!(swap_v2(Some(300), Some(100)), Ok(Some("200".into())));
        assert_eq!(swap_v2(Some(-1), Some(100)), Ok(Some("max".into())));
        assert_eq!(swap_v2(None, Some(UNLIMITED)), Ok(Some("max".into())));
        assert_eq!(swap_v2(None, Some(100)), Ok(None));
        assert!(swap_v2(Some(50), Some(100)).unwrap_err().contains("below"));
        assert!(swap_v2(Some(50), None)
            .unwrap_err()
            .contains("needs a memory"));
    }

    #[test]
    fn weight_conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn block_io_both_versions() {
        let mut r = base();
        let w = from_oci(
            &oci(serde_json::json!({"blockIO": {
                "weight": 300, "leafWeight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]
            }})),
            &mut r,
        )
        .unwrap();
        assert!(w.is_empty());
        let f = files(&r, Version::V1);
        assert_eq!(
            f,
            [
                ("blkio.weight", "300"),
                ("blkio.leaf_weight", "500"),
                ("blkio.weight_device", "8:0 200"),
                ("blkio.throttle.read_bps_device", "8:0 1048576"),
                ("blkio.throttle.write_iops_device", "8:16 100"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let (ws, warn) = writes(&r, &Version::V2, None).unwrap();
        let f: Vec<_> = ws
            .iter()
            .map(|w| (w.file.as_str(), w.value.as_str()))
            .collect();
        assert_eq!(
            f,
            [
                ("io.weight", "default 2930"),
                ("io.weight", "8:0 1920"),
                ("io.max", "8:0 rbps=1048576"),
                ("io.max", "8:16 wiops=100"),
            ]
        );
        assert_eq!(ws[0].alt, Some(("io.bfq.weight".into(), "300".into())));
        // leafWeight 500 is the kernel's default: v2 warns and goes on.
        assert_eq!(warn.len(), 1, "{warn:?}");
        assert!(warn[0].contains("blockIO.leafWeight"));
        r.blkio_leaf_weight = Some(700);
        let e = writes(&r, &Version::V2, None).unwrap_err();
        assert!(e.contains("linux.resources.blockIO.leafWeight"), "{e}");
    }

    #[test]
    fn docker_block_io_weight_zero_writes_nothing() {
        let mut r = base();
        from_oci(&oci(serde_json::json!({"blockIO": {"weight": 0}})), &mut r).unwrap();
        assert!(files(&r, Version::V1).is_empty());
        assert!(files(&r, Version::V2).is_empty());
        let mut r = base();
        let e = from_oci(&oci(serde_json::json!({"blockIO": {"weight": 5}})), &mut r).unwrap_err();
        assert!(e.contains("blockIO.weight 5"), "{e}");
    }

    #[test]
    fn hugetlb_network_rdma() {
        let mut r = base();
        from_oci(
            &oci(serde_json::json!({
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
                "rdma": {"mlx5_1": {"hcaHandles": 3}}
            })),
            &mut r,
        )
        .unwrap();
        let f = files(&r, Version::V1);
        assert_eq!(
            f,
            [
                ("hugetlb.2MB.limit_in_bytes", "4194304"),
                ("net_cls.classid", "1048577"),
                ("net_prio.ifpriomap", "eth0 5"),
                ("rdma.max", "mlx5_1 hca_handle=3 hca_object=max"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let e = writes(&r, &Version::V2, None).unwrap_err();
        assert!(e.contains("network.classID"), "{e}");
        r.net_class_id = Some(0);
        r.net_priorities.clear();
        let (ws, warn) = writes(&r, &Version::V2, None).unwrap();
        assert_eq!(ws[0].file, "hugetlb.2MB.max");
        assert_eq!(ws[1].file, "rdma.max");
        assert!(warn[0].contains("network.classID"));
        let mut r = base();
        let e = from_oci(
            &oci(serde_json::json!({"hugepageLimits": [{"pageSize": "2M/../x", "limit": 1}]})),
            &mut r,
        )
        .unwrap_err();
        assert!(e.contains("pageSize"), "{e}");
    }

    #[test]
    fn unified_v2_only_and_confined() {
        let mut r = base();
        from_oci(
            &oci(serde_json::json!({"unified": {"memory.high": "100000000", "pids.max": "7"}})),
            &mut r,
        )
        .unwrap();
        let (ws, _) = writes(&r, &Version::V2, None).unwrap();
        assert_eq!(ws[0].file, "memory.high");
        assert_eq!(ws[0].controller, "memory");
        assert_eq!(controllers(&ws), ["memory", "pids"]);
        let e = writes(&r, &Version::V1, None).unwrap_err();
        assert!(e.contains("unified needs cgroup v2"), "{e}");
        for bad in [
            "../x.max",
            "memory.high/..",
            "cgroup.procs",
            "nodot",
            ".x",
            "",
        ] {
            let mut r = base();
            let e = from_oci(&oci(serde_json::json!({"unified": {bad: "1"}})), &mut r).unwrap_err();
            assert!(e.contains("linux.resources.unified key"), "{bad}: {e}");
        }
    }

    #[test]
    fn realtime_and_oom_killer() {
        let mut r = base();
        from_oci(
            &oci(serde_json::json!({
                "cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000},
                "memory": {"disableOOMKiller": true, "kernel": 1}
            })),
            &mut r,
        )
        .unwrap();
        // swappiness comes from spec::oci with the memory limits.
        r.memory_swappiness = Some(10);
        let f = files(&r, Version::V1);
        assert_eq!(
            f,
            [
                ("memory.swappiness", "10"),
                ("memory.oom_control", "1"),
                ("cpu.rt_period_us", "1000000"),
                ("cpu.rt_runtime_us", "10000"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        let e = writes(&r, &Version::V2, None).unwrap_err();
        assert!(e.contains("swappiness"), "{e}");
        r.memory_swappiness = None;
        let e = writes(&r, &Version::V2, None).unwrap_err();
        assert!(e.contains("disableOOMKiller"), "{e}");
        r.oom_kill_disable = false;
        let e = writes(&r, &Version::V2, None).unwrap_err();
        assert!(e.contains("realtimeRuntime"), "{e}");
    }

    #[test]
    fn update_overlays_runc_fields() {
        let mut r = Resources {
            memory: Some(64 << 20),
            pids: Some(10),
            cpu_shares: Some(512),
            ..base()
        };
        let w = update_from_oci(
            &oci(serde_json::json!({
                "memory": {"limit": 0, "swap": -1},
                "cpu": {"quota": 20000, "period": 50000},
                "pids": {"limit": -1},
                "hugepageLimits": []
            })),
            &mut r,
        )
        .unwrap();
        assert_eq!(r.memory, Some(64 << 20), "0 leaves it");
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.pids, Some(UNLIMITED));
        assert_eq!((r.cpu_quota, r.cpu_period), (Some(20_000), 50_000));
        assert_eq!(r.cpu_shares, Some(512));
        assert!(w[0].contains("hugepageLimits"), "{w:?}");
        let e = update_from_oci(&oci(serde_json::json!({"memory": {"limit": 4096}})), &mut r)
            .unwrap_err();
        assert!(e.contains("minimum"), "{e}");
        let e =
            update_from_oci(&oci(serde_json::json!({"pids": {"limit": -5}})), &mut r).unwrap_err();
        assert!(e.contains("pids.limit -5"), "{e}");
    }
}
