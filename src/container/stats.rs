//! `nucleus events`: runc's stats record, made from the text of a container's cgroup files.
//!
//! Pure: no syscalls and no `linux::` imports. `linux::cgroup_stats` reads the files this
//! module names ([`wanted_v1`], [`wanted_v2`]) into a [`Snapshot`]; [`from_v1`] and
//! [`from_v2`] turn it into [`Stats`], serialized with runc's field names and omissions
//! (runc's `types/events.go`), so that tools reading `runc events` read nucleus' too.

use serde::Serialize;
use std::collections::BTreeMap;

/// The contents of a container's cgroup files, by file name (`memory.stat`, …). A file
/// missing here does not exist for this container (controller absent, kernel without it).
pub type Snapshot = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("cgroup file {file}: cannot parse '{text}'")]
    Parse { file: String, text: String },
}

fn bad(file: &str, text: &str) -> Error {
    Error::Parse {
        file: file.to_string(),
        text: text.trim().chars().take(80).collect(),
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One `stats` record's data, as runc prints it.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub cpu: Cpu,
    pub cpuset: CpuSet,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    /// Intel RDT is not implemented; runc prints `{}` without it.
    pub intel_rdt: IntelRdt,
    /// The container's own network interfaces, loopback left out (None: it shares the
    /// runtime's network namespace, has only loopback, or it could not be read) — runc
    /// prints `null` then.
    pub network_interfaces: Option<Vec<NetworkInterface>>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct IntelRdt {}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct MemoryEntry {
    /// u64::MAX-like values mean "no limit" (v1: 9223372036854771712, v2: `max`).
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    /// v1: memory+swap (memsw); v2: swap plus memory, as runc reports it for v1
    /// compatibility.
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// 0: no limit.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Blkio {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_queued_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_wait_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_merged_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_time_recursive: Vec<BlkioEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sectors_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// runc's field names (its Go struct has no JSON tags).
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInterface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

// ---- Which files ----

/// v1 blkio files in runc's order of preference: the first group whose first file
/// exists is used (bfq with debug stats, bfq, cfq, throttle recursive, throttle).
const BLKIO_V1_GROUPS: &[&[&str]] = &[
    &[
        "blkio.bfq.sectors_recursive",
        "blkio.bfq.io_service_time_recursive",
        "blkio.bfq.io_wait_time_recursive",
        "blkio.bfq.io_merged_recursive",
        "blkio.bfq.io_queued_recursive",
        "blkio.bfq.time_recursive",
        "blkio.bfq.io_serviced_recursive",
        "blkio.bfq.io_service_bytes_recursive",
    ],
    &[
        "blkio.bfq.io_serviced_recursive",
        "blkio.bfq.io_service_bytes_recursive",
    ],
    &[
        "blkio.sectors_recursive",
        "blkio.io_service_time_recursive",
        "blkio.io_wait_time_recursive",
        "blkio.io_merged_recursive",
        "blkio.io_queued_recursive",
        "blkio.time_recursive",
        "blkio.io_serviced_recursive",
        "blkio.io_service_bytes_recursive",
    ],
    &[
        "blkio.throttle.io_serviced_recursive",
        "blkio.throttle.io_service_bytes_recursive",
    ],
    &[
        "blkio.throttle.io_serviced",
        "blkio.throttle.io_service_bytes",
    ],
];

const MEMORY_V1_PREFIXES: &[&str] = &["memory", "memory.memsw", "memory.kmem", "memory.kmem.tcp"];
const MEMORY_V1_SUFFIXES: &[&str] = &[
    "usage_in_bytes",
    "max_usage_in_bytes",
    "failcnt",
    "limit_in_bytes",
];

const CPUSET_V1: &[&str] = &[
    "cpuset.cpus",
    "cpuset.cpu_exclusive",
    "cpuset.mems",
    "cpuset.mem_hardwall",
    "cpuset.mem_exclusive",
    "cpuset.memory_migrate",
    "cpuset.memory_spread_page",
    "cpuset.memory_spread_slab",
    "cpuset.memory_pressure",
    "cpuset.sched_load_balance",
    "cpuset.sched_relax_domain_level",
];

/// The v1 files a stats record reads. On v1 a file's controller is the part of its name
/// before the first dot (`cpuacct.usage` is cpuacct's), except `cgroup.procs` (any).
/// `page_sizes` are hugetlb's names (`2MB`, …; see [`hugepage_name`]).
pub fn wanted_v1(page_sizes: &[String]) -> Vec<String> {
    let mut w: Vec<String> = [
        "cpu.stat",
        "cpuacct.usage",
        "cpuacct.usage_percpu",
        "cpuacct.usage_all",
        "cpuacct.stat",
        "memory.stat",
        "pids.current",
        "pids.max",
        "cgroup.procs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    w.extend(CPUSET_V1.iter().map(|s| s.to_string()));
    for p in MEMORY_V1_PREFIXES {
        w.extend(MEMORY_V1_SUFFIXES.iter().map(|s| format!("{p}.{s}")));
    }
    for g in BLKIO_V1_GROUPS {
        w.extend(g.iter().map(|s| s.to_string()));
    }
    for s in page_sizes {
        for f in ["usage_in_bytes", "max_usage_in_bytes", "failcnt"] {
            w.push(format!("hugetlb.{s}.{f}"));
        }
    }
    w.sort();
    w.dedup();
    w
}

/// The v2 files a stats record reads (all in the container's one cgroup directory).
pub fn wanted_v2(page_sizes: &[String]) -> Vec<String> {
    let mut w: Vec<String> = [
        "cpu.stat",
        "cpuset.cpus.effective",
        "cpuset.mems.effective",
        "memory.stat",
        "memory.current",
        "memory.max",
        "memory.peak",
        "memory.events",
        "memory.swap.current",
        "memory.swap.max",
        "memory.swap.peak",
        "memory.swap.events",
        "pids.current",
        "pids.max",
        "cgroup.procs",
        "io.stat",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for s in page_sizes {
        w.push(format!("hugetlb.{s}.current"));
        w.push(format!("hugetlb.{s}.max"));
        w.push(format!("hugetlb.{s}.events"));
    }
    w
}

/// hugetlb's name for a page size from `/sys/kernel/mm/hugepages/hugepages-<N>kB`: `2MB`,
/// `1GB`, `64KB` (binary units, as the kernel names the cgroup files).
pub fn hugepage_name(dir_name: &str) -> Option<String> {
    let kb: u64 = dir_name
        .strip_prefix("hugepages-")?
        .strip_suffix("kB")?
        .parse()
        .ok()?;
    let units = ["KB", "MB", "GB", "TB", "PB"];
    let (mut v, mut i) = (kb, 0);
    while v >= 1024 && v % 1024 == 0 && i + 1 < units.len() {
        v /= 1024;
        i += 1;
    }
    Some(format!("{v}{}", units[i]))
}

// ---- Parsing ----

/// A cgroup number: `max` is u64::MAX; a negative number (v1's `-1`) is 0, as runc does.
fn num(file: &str, text: &str) -> Result<u64, Error> {
    let t = text.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    if let Ok(v) = t.parse::<u64>() {
        return Ok(v);
    }
    match t.parse::<i64>() {
        Ok(v) if v < 0 => Ok(0),
        _ => Err(bad(file, text)),
    }
}

/// `key value` lines.
fn key_values(file: &str, text: &str) -> Result<Vec<(String, u64)>, Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(k), Some(v), None) => Ok((k.to_string(), num(file, v)?)),
                _ => Err(bad(file, l)),
            }
        })
        .collect()
}

fn get(s: &Snapshot, file: &str) -> Result<Option<u64>, Error> {
    s.get(file).map(|t| num(file, t)).transpose()
}

fn value_of(s: &Snapshot, file: &str, key: &str) -> Result<Option<u64>, Error> {
    let Some(t) = s.get(file) else {
        return Ok(None);
    };
    Ok(key_values(file, t)?
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v))
}

/// `0-3,5` → [0, 1, 2, 3, 5].
fn cpu_list(file: &str, text: &str) -> Result<Vec<u16>, Error> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let n = |x: &str| x.trim().parse::<u16>().map_err(|_| bad(file, text));
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (n(a)?, n(b)?);
                if a > b {
                    return Err(bad(file, text));
                }
                out.extend(a..=b);
            }
            None => out.push(n(part)?),
        }
    }
    Ok(out)
}

fn pids_from(s: &Snapshot) -> Result<Pids, Error> {
    let current = match get(s, "pids.current")? {
        Some(v) => v,
        // No pids controller: count the processes, as runc does on v2.
        None => s
            .get("cgroup.procs")
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count() as u64)
            .unwrap_or(0),
    };
    let limit = match get(s, "pids.max")? {
        Some(u64::MAX) | None => 0,
        Some(v) => v,
    };
    Ok(Pids { current, limit })
}

fn raw_map(s: &Snapshot, file: &str) -> Result<BTreeMap<String, u64>, Error> {
    match s.get(file) {
        Some(t) => Ok(key_values(file, t)?.into_iter().collect()),
        None => Ok(BTreeMap::new()),
    }
}

/// One v1 blkio file: `MAJ:MIN Op value` lines (or `MAJ:MIN value`); `Total` skipped.
fn blkio_v1_file(file: &str, text: &str) -> Result<Vec<BlkioEntry>, Error> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split([' ', ':']).filter(|x| !x.is_empty()).collect();
        if f.len() == 2 && f[0] == "Total" {
            continue;
        }
        let p = |x: &str| x.parse::<u64>().map_err(|_| bad(file, line));
        let (op, value) = match f.len() {
            3 => (String::new(), p(f[2])?),
            4 => (f[2].to_string(), p(f[3])?),
            _ => return Err(bad(file, line)),
        };
        out.push(BlkioEntry {
            major: p(f[0])?,
            minor: p(f[1])?,
            op,
            value,
        });
    }
    Ok(out)
}

fn blkio_v1(s: &Snapshot) -> Result<Blkio, Error> {
    let mut b = Blkio::default();
    for group in BLKIO_V1_GROUPS {
        if !s.contains_key(group[0]) {
            continue;
        }
        for file in group.iter() {
            let entries = match s.get(*file) {
                Some(t) => blkio_v1_file(file, t)?,
                None => vec![],
            };
            let name = file
                .trim_start_matches("blkio.")
                .trim_start_matches("bfq.")
                .trim_start_matches("throttle.");
            let slot = match name.trim_end_matches("_recursive") {
                "sectors" => &mut b.sectors_recursive,
                "io_service_time" => &mut b.io_service_time_recursive,
                "io_wait_time" => &mut b.io_wait_time_recursive,
                "io_merged" => &mut b.io_merged_recursive,
                "io_queued" => &mut b.io_queued_recursive,
                "time" => &mut b.io_time_recursive,
                "io_serviced" => &mut b.io_serviced_recursive,
                _ => &mut b.io_service_bytes_recursive,
            };
            *slot = entries;
        }
        break;
    }
    Ok(b)
}

fn memory_entry_v1(s: &Snapshot, prefix: &str) -> Result<MemoryEntry, Error> {
    let f = |suffix: &str| get(s, &format!("{prefix}.{suffix}"));
    Ok(MemoryEntry {
        limit: f("limit_in_bytes")?.unwrap_or(0),
        usage: f("usage_in_bytes")?.unwrap_or(0),
        max: f("max_usage_in_bytes")?.unwrap_or(0),
        failcnt: f("failcnt")?.unwrap_or(0),
    })
}

/// The stats record on cgroup v1. `clock_ticks` is USER_HZ (cpuacct.stat counts ticks).
pub fn from_v1(s: &Snapshot, page_sizes: &[String], clock_ticks: u64) -> Result<Stats, Error> {
    let mut st = Stats::default();
    // cpu
    for (k, v) in raw_map(s, "cpu.stat")? {
        match k.as_str() {
            "nr_periods" => st.cpu.throttling.periods = v,
            "nr_throttled" => st.cpu.throttling.throttled_periods = v,
            "throttled_time" => st.cpu.throttling.throttled_time = v,
            _ => {}
        }
    }
    let u = &mut st.cpu.usage;
    u.total = get(s, "cpuacct.usage")?.unwrap_or(0);
    if let Some(t) = s.get("cpuacct.usage_percpu") {
        u.percpu = t
            .split_whitespace()
            .map(|v| num("cpuacct.usage_percpu", v))
            .collect::<Result<_, _>>()?;
    }
    if let Some(t) = s.get("cpuacct.usage_all") {
        // "cpu user system" then one line per CPU.
        for line in t.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 3 {
                continue;
            }
            u.percpu_user.push(num("cpuacct.usage_all", f[1])?);
            u.percpu_kernel.push(num("cpuacct.usage_all", f[2])?);
        }
    }
    if s.contains_key("cpuacct.stat") {
        let ticks = clock_ticks.max(1);
        let to_ns = |v: u64| v.saturating_mul(1_000_000_000) / ticks;
        u.user = to_ns(value_of(s, "cpuacct.stat", "user")?.unwrap_or(0));
        u.kernel = to_ns(value_of(s, "cpuacct.stat", "system")?.unwrap_or(0));
    }
    // cpuset
    let c = &mut st.cpuset;
    if let Some(t) = s.get("cpuset.cpus") {
        c.cpus = cpu_list("cpuset.cpus", t)?;
    }
    if let Some(t) = s.get("cpuset.mems") {
        c.mems = cpu_list("cpuset.mems", t)?;
    }
    let g = |f: &str| get(s, f).map(|v| v.unwrap_or(0));
    c.cpu_exclusive = g("cpuset.cpu_exclusive")?;
    c.mem_hardwall = g("cpuset.mem_hardwall")?;
    c.mem_exclusive = g("cpuset.mem_exclusive")?;
    c.memory_migrate = g("cpuset.memory_migrate")?;
    c.memory_spread_page = g("cpuset.memory_spread_page")?;
    c.memory_spread_slab = g("cpuset.memory_spread_slab")?;
    c.memory_pressure = g("cpuset.memory_pressure")?;
    c.sched_load_balance = g("cpuset.sched_load_balance")?;
    if let Some(t) = s.get("cpuset.sched_relax_domain_level") {
        c.sched_relax_domain_level = t
            .trim()
            .parse()
            .map_err(|_| bad("cpuset.sched_relax_domain_level", t))?;
    }
    // memory
    let m = &mut st.memory;
    m.raw = raw_map(s, "memory.stat")?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    m.usage = memory_entry_v1(s, "memory")?;
    m.swap = memory_entry_v1(s, "memory.memsw")?;
    m.kernel = memory_entry_v1(s, "memory.kmem")?;
    m.kernel_tcp = memory_entry_v1(s, "memory.kmem.tcp")?;
    st.pids = pids_from(s)?;
    st.blkio = blkio_v1(s)?;
    for p in page_sizes {
        let f = |x: &str| get(s, &format!("hugetlb.{p}.{x}"));
        if let Some(usage) = f("usage_in_bytes")? {
            let h = Hugetlb {
                usage,
                max: f("max_usage_in_bytes")?.unwrap_or(0),
                failcnt: f("failcnt")?.unwrap_or(0),
            };
            st.hugetlb.insert(p.clone(), h);
        }
    }
    Ok(st)
}

/// The stats record on cgroup v2, mapped onto runc's (v1-shaped) record as runc does:
/// io.stat's rbytes/wbytes and rios/wios as Read/Write entries; swap as swap+memory.
pub fn from_v2(s: &Snapshot, page_sizes: &[String]) -> Result<Stats, Error> {
    let mut st = Stats::default();
    for (k, v) in raw_map(s, "cpu.stat")? {
        let (u, t) = (&mut st.cpu.usage, &mut st.cpu.throttling);
        match k.as_str() {
            "usage_usec" => u.total = v.saturating_mul(1000),
            "user_usec" => u.user = v.saturating_mul(1000),
            "system_usec" => u.kernel = v.saturating_mul(1000),
            "nr_periods" => t.periods = v,
            "nr_throttled" => t.throttled_periods = v,
            "throttled_usec" => t.throttled_time = v.saturating_mul(1000),
            _ => {}
        }
    }
    if let Some(t) = s.get("cpuset.cpus.effective") {
        st.cpuset.cpus = cpu_list("cpuset.cpus.effective", t)?;
    }
    if let Some(t) = s.get("cpuset.mems.effective") {
        st.cpuset.mems = cpu_list("cpuset.mems.effective", t)?;
    }
    let m = &mut st.memory;
    m.raw = raw_map(s, "memory.stat")?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage = MemoryEntry {
        limit: get(s, "memory.max")?.unwrap_or(u64::MAX),
        usage: get(s, "memory.current")?.unwrap_or(0),
        max: get(s, "memory.peak")?.unwrap_or(0),
        failcnt: value_of(s, "memory.events", "max")?.unwrap_or(0),
    };
    if let Some(usage) = get(s, "memory.swap.current")? {
        let limit = get(s, "memory.swap.max")?.unwrap_or(u64::MAX);
        m.swap = MemoryEntry {
            usage: usage.saturating_add(m.usage.usage),
            limit: if limit == u64::MAX {
                limit
            } else {
                limit.saturating_add(m.usage.limit)
            },
            max: get(s, "memory.swap.peak")?.unwrap_or(0),
            failcnt: value_of(s, "memory.swap.events", "max")?.unwrap_or(0),
        };
    }
    st.pids = pids_from(s)?;
    if let Some(t) = s.get("io.stat") {
        for line in t.lines() {
            let mut f = line.split_whitespace();
            let Some((maj, min)) = f.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let p = |x: &str| x.parse::<u64>().map_err(|_| bad("io.stat", line));
            let (major, minor) = (p(maj)?, p(min)?);
            for kv in f {
                let Some((k, v)) = kv.split_once('=') else {
                    continue;
                };
                let (op, table) = match k {
                    "rbytes" => ("Read", &mut st.blkio.io_service_bytes_recursive),
                    "wbytes" => ("Write", &mut st.blkio.io_service_bytes_recursive),
                    "rios" => ("Read", &mut st.blkio.io_serviced_recursive),
                    "wios" => ("Write", &mut st.blkio.io_serviced_recursive),
                    _ => continue,
                };
                table.push(BlkioEntry {
                    major,
                    minor,
                    op: op.into(),
                    value: p(v)?,
                });
            }
        }
    }
    for p in page_sizes {
        if let Some(usage) = get(s, &format!("hugetlb.{p}.current"))? {
            let failcnt = value_of(s, &format!("hugetlb.{p}.events"), "max")?.unwrap_or(0);
            let h = Hugetlb {
                usage,
                max: 0,
                failcnt,
            };
            st.hugetlb.insert(p.clone(), h);
        }
    }
    Ok(st)
}

/// v2 `memory.events`: the `oom` and `oom_kill` counters.
pub fn oom_counts_v2(text: &str) -> (u64, u64) {
    let mut out = (0, 0);
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let (k, v) = (f.next(), f.next().and_then(|v| v.parse().ok()));
        match (k, v) {
            (Some("oom"), Some(v)) => out.0 = v,
            (Some("oom_kill"), Some(v)) => out.1 = v,
            _ => {}
        }
    }
    out
}

/// How many OOM events v2's `memory.events` shows between two readings: the larger
/// increase of `oom` (the cgroup hit its limit and the OOM killer ran) and `oom_kill`
/// (a process was killed), so that one OOM that kills is one event.
pub fn new_ooms_v2(before: &str, after: &str) -> u64 {
    let (b, a) = (oom_counts_v2(before), oom_counts_v2(after));
    a.0.saturating_sub(b.0).max(a.1.saturating_sub(b.1))
}

/// v1 `memory.oom_control`: the `oom_kill` counter (kernels since 4.13).
pub fn oom_kills_v1(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|v| v.trim().parse().ok())
    })
}

/// `/proc/<pid>/net/dev` → the interfaces, without loopback (runc reports the
/// container's own links only).
pub fn net_dev(text: &str) -> Vec<NetworkInterface> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        if name == "lo" || v.len() < 12 {
            continue;
        }
        // receive: bytes packets errs drop fifo frame compressed multicast; transmit: bytes
        // packets errs drop …
        out.push(NetworkInterface {
            name: name.to_string(),
            rx_bytes: v[0],
            rx_packets: v[1],
            rx_errors: v[2],
            rx_dropped: v[3],
            tx_bytes: v[8],
            tx_packets: v[9],
            tx_errors: v[10],
            tx_dropped: v[11],
        });
    }
    out
}

/// Go's duration syntax as runc's `--interval` takes it: `5s`, `500ms`, `1m30s`, `1.5h`,
/// `250us`/`250µs`, `10ns`. A bare `0` is zero; anything else needs a unit.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let err = || {
        format!(
            "invalid duration '{text}': use a number with a unit (ns, us, ms, s, m, h), e.g. \
             5s or 500ms"
        )
    };
    let t = text.trim();
    if t == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(err());
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    let mut nanos: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (n, after) = rest.split_at(n_end);
        if n.is_empty() || n == "." {
            return Err(err());
        }
        let n: f64 = n.parse().map_err(|_| err())?;
        let u_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(u_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        nanos += n * scale;
        rest = next;
    }
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(err());
    }
    Ok(std::time::Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn snap(files: &[(&str, &str)]) -> Snapshot {
        files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn v1_record_matches_runc() {
        let s = snap(&[
            (
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
            ),
            ("cpuacct.usage", "19310348\n"),
            ("cpuacct.usage_percpu", "16140176 3170172 \n"),
            (
                "cpuacct.usage_all",
                "cpu user system\n0 12000000 8000000\n1 0 0\n",
            ),
            ("cpuacct.stat", "user 1\nsystem 2\n"),
            ("cpuset.cpus", "0-1\n"),
            ("cpuset.mems", "0\n"),
            ("cpuset.sched_load_balance", "1\n"),
            ("cpuset.sched_relax_domain_level", "-1\n"),
            ("memory.stat", "cache 4096\nrss 53248\ntotal_rss 53248\n"),
            ("memory.usage_in_bytes", "794624\n"),
            ("memory.max_usage_in_bytes", "2252800\n"),
            ("memory.failcnt", "3\n"),
            ("memory.limit_in_bytes", "33554432\n"),
            ("memory.memsw.usage_in_bytes", "794624\n"),
            ("memory.memsw.max_usage_in_bytes", "2252800\n"),
            ("memory.memsw.failcnt", "0\n"),
            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.tcp.usage_in_bytes", "0\n"),
            ("memory.kmem.tcp.max_usage_in_bytes", "0\n"),
            ("memory.kmem.tcp.failcnt", "0\n"),
            ("pids.current", "1\n"),
            ("pids.max", "20\n"),
            (
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n",
            ),
            (
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 1\n8:0 Write 0\nTotal 1\n",
            ),
            ("hugetlb.2MB.usage_in_bytes", "0\n"),
            ("hugetlb.2MB.max_usage_in_bytes", "0\n"),
            ("hugetlb.2MB.failcnt", "0\n"),
        ]);
        let st = from_v1(&s, &["2MB".into(), "1GB".into()], 100).unwrap();
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["cpu"]["usage"]["total"], 19310348);
        assert_eq!(
            v["cpu"]["usage"]["percpu"],
            serde_json::json!([16140176, 3170172])
        );
        assert_eq!(
            v["cpu"]["usage"]["percpu_kernel"],
            serde_json::json!([8000000, 0])
        );
        assert_eq!(
            v["cpu"]["usage"]["percpu_user"],
            serde_json::json!([12000000, 0])
        );
        assert_eq!(v["cpu"]["usage"]["user"], 10_000_000);
        assert_eq!(v["cpu"]["usage"]["kernel"], 20_000_000);
        assert_eq!(
            v["cpu"]["throttling"],
            serde_json::json!({"periods": 10, "throttledPeriods": 2, "throttledTime": 3000})
        );
        assert_eq!(v["cpuset"]["cpus"], serde_json::json!([0, 1]));
        assert_eq!(v["cpuset"]["sched_relax_domain_level"], -1);
        assert_eq!(v["cpuset"]["mem_exclusive"], 0);
        assert_eq!(v["memory"]["cache"], 4096);
        assert_eq!(
            v["memory"]["usage"],
            serde_json::json!({"limit": 33554432u64, "usage": 794624, "max": 2252800, "failcnt": 3})
        );
        assert_eq!(v["memory"]["swap"]["limit"], 9223372036854771712u64);
        // No kmem files: runc's zero entry, limit and failcnt still printed.
        assert_eq!(
            v["memory"]["kernel"],
            serde_json::json!({"limit": 0, "failcnt": 0})
        );
        assert_eq!(
            v["memory"]["kernelTCP"],
            serde_json::json!({"limit": 9223372036854771712u64, "failcnt": 0})
        );
        assert_eq!(v["memory"]["raw"]["total_rss"], 53248);
        assert_eq!(v["pids"], serde_json::json!({"current": 1, "limit": 20}));
        assert_eq!(
            v["blkio"]["ioServiceBytesRecursive"],
            serde_json::json!([{"major": 8, "op": "Read", "value": 4096}, {"major": 8, "op": "Write"}])
        );
        assert_eq!(v["blkio"]["ioServicedRecursive"][0]["value"], 1);
        assert_eq!(v["hugetlb"], serde_json::json!({"2MB": {"failcnt": 0}}));
        assert_eq!(v["intel_rdt"], serde_json::json!({}));
        assert!(v["network_interfaces"].is_null());
        // runc's key order.
        let text = serde_json::to_string(&st).unwrap();
        let keys = [
            "\"cpu\"",
            "\"cpuset\"",
            "\"memory\"",
            "\"pids\"",
            "\"blkio\"",
            "\"hugetlb\"",
            "\"intel_rdt\"",
            "\"network_interfaces\"",
        ];
        let pos: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn v1_without_controllers_and_unlimited_pids() {
        // Only a freezer and a memory cgroup: pids counted from cgroup.procs; empty
        // records where runc prints them empty.
        let s = snap(&[("cgroup.procs", "12\n13\n"), ("pids.max", "max\n")]);
        let st = from_v1(&s, &[], 100).unwrap();
        assert_eq!(
            st.pids,
            Pids {
                current: 2,
                limit: 0
            }
        );
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(
            v["cpu"],
            serde_json::json!({"usage": {"kernel": 0, "user": 0}, "throttling": {}})
        );
        assert_eq!(v["blkio"], serde_json::json!({}));
        assert_eq!(v["hugetlb"], serde_json::json!({}));
        assert!(v["memory"].get("raw").is_none());
        assert!(v["memory"].get("cache").is_none());
    }

    #[test]
    fn v1_blkio_prefers_cfq_and_parses_devices_without_op() {
        let s = snap(&[
            ("blkio.io_service_bytes_recursive", "8:16 Read 512\n"),
            ("blkio.sectors_recursive", "8:16 1\n"),
            ("blkio.throttle.io_service_bytes", "8:0 Read 9\n"),
        ]);
        let b = from_v1(&s, &[], 100).unwrap().blkio;
        assert_eq!(
            b.sectors_recursive[0],
            BlkioEntry {
                major: 8,
                minor: 16,
                op: String::new(),
                value: 1
            }
        );
        assert_eq!(b.io_service_bytes_recursive[0].value, 512);
        assert!(b.io_serviced_recursive.is_empty());
    }

    #[test]
    fn v1_bad_files_are_named() {
        let s = snap(&[("memory.limit_in_bytes", "lots\n")]);
        let e = from_v1(&s, &[], 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup file memory.limit_in_bytes: cannot parse 'lots'"
        );
        let s = snap(&[("memory.stat", "cache\n")]);
        assert!(from_v1(&s, &[], 100).is_err());
        let s = snap(&[("cpuset.cpus", "3-1\n")]);
        assert!(from_v1(&s, &[], 100).is_err());
        // A negative value is 0, as runc reads it.
        let s = snap(&[("memory.limit_in_bytes", "-1\n")]);
        assert_eq!(from_v1(&s, &[], 100).unwrap().memory.usage.limit, 0);
    }

    #[test]
    fn v2_record_matches_runc() {
        let s = snap(&[
            (
                "cpu.stat",
                "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 20\n",
            ),
            ("cpuset.cpus.effective", "0-3\n"),
            ("cpuset.mems.effective", "0\n"),
            ("memory.stat", "anon 8192\nfile 4096\n"),
            ("memory.current", "12288\n"),
            ("memory.max", "33554432\n"),
            ("memory.peak", "20000\n"),
            ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
            ("memory.swap.current", "100\n"),
            ("memory.swap.max", "max\n"),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "io.stat",
                "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
            ("hugetlb.2MB.current", "0\n"),
            ("hugetlb.2MB.events", "max 2\n"),
        ]);
        let st = from_v2(&s, &["2MB".into()]).unwrap();
        assert_eq!(st.cpu.usage.total, 1_500_000);
        assert_eq!(st.cpu.usage.user, 1_000_000);
        assert_eq!(st.cpu.usage.kernel, 500_000);
        assert!(st.cpu.usage.percpu.is_empty());
        assert_eq!(st.cpu.throttling.throttled_time, 20_000);
        assert_eq!(st.cpuset.cpus, vec![0, 1, 2, 3]);
        assert_eq!(st.memory.cache, 4096);
        assert_eq!(
            st.memory.usage,
            MemoryEntry {
                limit: 33554432,
                usage: 12288,
                max: 20000,
                failcnt: 7
            }
        );
        assert_eq!(
            st.memory.swap.usage, 12388,
            "swap is reported as swap+memory"
        );
        assert_eq!(st.memory.swap.limit, u64::MAX);
        assert_eq!(
            st.pids,
            Pids {
                current: 3,
                limit: 0
            }
        );
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(
            v["blkio"],
            serde_json::json!({
                "ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 4096}, {"major": 8, "op": "Write", "value": 8192}],
                "ioServicedRecursive": [{"major": 8, "op": "Read", "value": 1}, {"major": 8, "op": "Write", "value": 2}]
            })
        );
        assert_eq!(v["hugetlb"], serde_json::json!({"2MB": {"failcnt": 2}}));
        // A swap limit adds the memory limit.
        let mut s2 = s.clone();
        s2.insert("memory.swap.max".into(), "1000\n".into());
        assert_eq!(from_v2(&s2, &[]).unwrap().memory.swap.limit, 33555432);
        // No memory controller: memory.max missing means no limit.
        let st = from_v2(&snap(&[("cgroup.procs", "1\n")]), &[]).unwrap();
        assert_eq!(st.memory.usage.limit, u64::MAX);
        assert_eq!(st.pids.current, 1);
    }

    #[test]
    fn oom_counters() {
        assert_eq!(
            oom_counts_v2("low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\noom_group_kill 0\n"),
            (2, 1)
        );
        assert_eq!(oom_counts_v2(""), (0, 0));
        assert_eq!(new_ooms_v2("oom 1\noom_kill 1\n", "oom 2\noom_kill 2\n"), 1);
        assert_eq!(new_ooms_v2("oom 1\noom_kill 1\n", "oom 3\noom_kill 1\n"), 2);
        assert_eq!(new_ooms_v2("max 1\noom 0\n", "max 5\noom 0\n"), 0);
        assert_eq!(
            oom_kills_v1("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n"),
            Some(4)
        );
        assert_eq!(oom_kills_v1("oom_kill_disable 0\nunder_oom 0\n"), None);
    }

    #[test]
    fn net_dev_skips_loopback() {
        let t = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let n = net_dev(t);
        assert_eq!(n.len(), 1);
        assert_eq!(
            n[0],
            NetworkInterface {
                name: "eth0".into(),
                rx_bytes: 2000,
                rx_packets: 20,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 3000,
                tx_packets: 30,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
        let v = serde_json::to_value(&n[0]).unwrap();
        assert_eq!(v["RxBytes"], 2000);
        assert_eq!(v["Name"], "eth0");
    }

    #[test]
    fn hugepage_names() {
        assert_eq!(hugepage_name("hugepages-2048kB").as_deref(), Some("2MB"));
        assert_eq!(hugepage_name("hugepages-1048576kB").as_deref(), Some("1GB"));
        assert_eq!(hugepage_name("hugepages-64kB").as_deref(), Some("64KB"));
        assert_eq!(hugepage_name("hugepages-32768kB").as_deref(), Some("32MB"));
        assert_eq!(hugepage_name("other"), None);
        let w = wanted_v1(&["2MB".into()]);
        assert!(w.contains(&"hugetlb.2MB.usage_in_bytes".to_string()));
        assert!(w.contains(&"memory.kmem.tcp.failcnt".to_string()));
        assert!(!w.iter().any(|f| f == "cgroup.event_control"));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("250µs").unwrap(), Duration::from_micros(250));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "s", "-1s", "5 s", "1x", "1..5s", "ms5"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
