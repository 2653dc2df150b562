//! The container as nucleus executes it: one validated, explicit description that both the
//! one-shot sandbox (`nucleus run`) and OCI config.json translate into, so that container
//! set-up has exactly one code path (container::run::launch, then linux::init).

use crate::caps::identity::Identity;
use crate::caps::Sets;
use std::path::PathBuf;

/// The smallest memory limit nucleus accepts: 6 MiB, Docker's minimum. Below a few MiB the
/// kernel kills the container's own set-up (the runtime's child is charged to the cgroup)
/// before the program starts, which would be reported as a crash instead of bad input.
pub const MIN_MEMORY_LIMIT: u64 = 6 << 20;

/// The index of the first string holding a NUL byte: execve() would cut it there, so such
/// an argument or environment entry is refused before anything is created.
pub fn first_with_nul(list: &[String]) -> Option<usize> {
    list.iter().position(|s| s.contains('\0'))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootFs {
    /// A tmpfs root assembled from read-only binds of host directories.
    Embedded,
    /// An existing directory, pivoted into.
    Dir(PathBuf),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountKind {
    /// Bind `source` (recursively when `recursive`).
    Bind {
        source: PathBuf,
        recursive: bool,
    },
    /// `copy_up`: fill the new tmpfs with what the directory held (Podman's tmpcopyup).
    Tmpfs {
        copy_up: bool,
    },
    Proc,
    Sysfs,
    Devpts,
    Mqueue,
    /// The cgroup hierarchy: cgroup2 on a v2 host, else the host's v1 tree bound read-only.
    Cgroup,
    /// A tmpfs filled with a copy of `source` (the sandbox's --context).
    CopyOf {
        source: PathBuf,
    },
    /// An overlay filesystem; its layers (host paths) are in the mount's data.
    Overlay,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    /// Filesystem data, e.g. `mode=755,size=64m`.
    pub data: String,
    /// The source name a pseudo-filesystem is mounted with (mountinfo's "source" column,
    /// e.g. `shm`); None means the filesystem type's name.
    pub label: Option<String>,
    /// Every other option: atime, sync, recursive attributes, propagation, id mapping.
    pub attrs: super::mount_options::Attrs,
}

impl Mount {
    pub fn new(kind: MountKind, destination: &str) -> Mount {
        Mount {
            kind,
            destination: PathBuf::from(destination),
            readonly: false,
            nosuid: true,
            nodev: true,
            noexec: false,
            data: String::new(),
            label: None,
            attrs: Default::default(),
        }
    }

    pub fn ro(mut self) -> Mount {
        self.readonly = true;
        self
    }

    pub fn data(mut self, d: &str) -> Mount {
        self.data = d.to_string();
        self
    }

    pub fn noexec(mut self) -> Mount {
        self.noexec = true;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// Which namespaces are new (true) or shared with the host (false).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespaces {
    pub mount: bool,
    pub pid: bool,
    pub uts: bool,
    pub ipc: bool,
    pub net: bool,
    pub cgroup: bool,
    pub user: bool,
}

/// An OCI hook: a program run at a point of the container's life, with the container's
/// state on its stdin.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hook {
    pub path: PathBuf,
    /// argv, including argv[0] (the path when empty).
    pub args: Vec<String>,
    /// None (no `env` in the config): the environment of whoever runs the hook, as runc
    /// does — the runtime's own for hooks run by the runtime, the container process's for
    /// createContainer and startContainer.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Seconds before the hook is killed and counted as failed.
    pub timeout: Option<u64>,
}

/// The hooks of an OCI config, by the point they run at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Deprecated; run with createRuntime, before it.
    pub prestart: Vec<Hook>,
    /// In the runtime's namespaces, after the container's exist, before pivot_root.
    pub create_runtime: Vec<Hook>,
    /// In the container's namespaces, before pivot_root.
    pub create_container: Vec<Hook>,
    /// In the container, at start, before the program is executed.
    pub start_container: Vec<Hook>,
    /// In the runtime's namespaces after start (failures are warnings).
    pub poststart: Vec<Hook>,
    /// After delete (failures are warnings).
    pub poststop: Vec<Hook>,
}

/// A device node made with mknod inside the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// `c` (or `u`), `b` or `p`.
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    /// Permission bits (default 0666).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Resources {
    pub memory: Option<u64>,
    pub pids: Option<u64>,
    /// CPU quota in microseconds per `cpu_period`.
    pub cpu_quota: Option<u64>,
    pub cpu_period: u64,
    /// A freezer (v1 controller, or v2's cgroup.freeze) for pause/resume.
    pub freezer: bool,
    /// Relative CPU weight as v1 shares (v2's cpu.weight is derived from it).
    pub cpu_shares: Option<u64>,
    /// cpuset lists such as `0-1` or `0`.
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// Soft memory limit (v1 soft_limit_in_bytes, v2 memory.low).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap in bytes (-1: unlimited), as OCI's memory.swap.
    pub memory_swap: Option<i64>,
    pub memory_swappiness: Option<u64>,
    /// Device access rules (v1 devices cgroup), in order: `a`, `c 1:3 rwm`, `b *:* m`…
    /// with whether each allows or denies.
    pub devices: Vec<(bool, String)>,
    /// blkio weight 10…1000 (v2: io.weight, converted).
    pub blkio_weight: Option<u16>,
    pub blkio_leaf_weight: Option<u16>,
    pub blkio_weight_devices: Vec<WeightDevice>,
    pub blkio_throttle: Vec<Throttle>,
    /// (page size such as `2MB`, limit in bytes).
    pub hugetlb: Vec<(String, u64)>,
    pub net_class_id: Option<u32>,
    /// (interface, priority).
    pub net_priorities: Vec<(String, u32)>,
    pub rdma: Vec<Rdma>,
    /// cgroup v2 files and values, sorted by file.
    pub unified: Vec<(String, String)>,
    /// Real-time bandwidth (v1 cpu.rt_runtime_us / cpu.rt_period_us).
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_rt_period: Option<u64>,
    /// v1 memory.oom_control: processes wait instead of being killed.
    pub oom_kill_disable: bool,
    /// cgroup v1: a cgroup in every hierarchy of [`EVERY_V1_HIERARCHY`] the host has,
    /// limited or not, as runc places a container, so that `update` and stats work for
    /// any kind (OCI containers; one-shot runs make only what their limits need).
    pub every_hierarchy: bool,
}

/// The v1 hierarchies an OCI container gets a cgroup in (when the host has them).
pub const EVERY_V1_HIERARCHY: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices",
];

/// A block device's blkio weights.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WeightDevice {
    pub major: u64,
    pub minor: u64,
    pub weight: Option<u16>,
    pub leaf_weight: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ThrottleKind {
    ReadBps,
    WriteBps,
    ReadIops,
    WriteIops,
}

/// A block device's throttle (bytes or operations per second).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Throttle {
    pub kind: ThrottleKind,
    pub major: u64,
    pub minor: u64,
    pub rate: u64,
}

/// An RDMA device's limits (None: max).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rdma {
    pub device: String,
    pub hca_handles: Option<u32>,
    pub hca_objects: Option<u32>,
}

impl Config {
    /// Whether nucleus builds the root filesystem: in a new mount namespace, or in one it
    /// joins by path.
    pub fn builds_root(&self) -> bool {
        self.namespaces.mount || self.joins(libc::CLONE_NEWNS).is_some()
    }

    /// The path of the existing namespace of kind `flag` (CLONE_NEW*) to join, if any.
    pub fn joins(&self, flag: i32) -> Option<&std::path::Path> {
        self.join
            .iter()
            .find(|(f, _)| *f == flag)
            .map(|(_, p)| p.as_path())
    }
}

impl Resources {
    pub fn any(&self) -> bool {
        !self.controllers().is_empty()
    }

    /// The controllers these resources need (v1 names).
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut c = Vec::new();
        if self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.memory_swappiness.is_some()
        {
            c.push("memory");
        }
        if self.pids.is_some() {
            c.push("pids");
        }
        if self.oom_kill_disable && !c.contains(&"memory") {
            c.push("memory");
        }
        if self.cpu_quota.is_some()
            || self.cpu_shares.is_some()
            || !matches!(self.cpu_period, 0 | 100_000)
            || self.cpu_rt_runtime.is_some()
            || self.cpu_rt_period.is_some()
        {
            c.push("cpu");
        }
        if self.blkio_weight.is_some()
            || self.blkio_leaf_weight.is_some()
            || !self.blkio_weight_devices.is_empty()
            || !self.blkio_throttle.is_empty()
        {
            c.push("blkio");
        }
        if !self.hugetlb.is_empty() {
            c.push("hugetlb");
        }
        if self.net_class_id.is_some() {
            c.push("net_cls");
        }
        if !self.net_priorities.is_empty() {
            c.push("net_prio");
        }
        if !self.rdma.is_empty() {
            c.push("rdma");
        }
        if self.cpuset_cpus.is_some() || self.cpuset_mems.is_some() {
            c.push("cpuset");
        }
        if self.freezer {
            c.push("freezer");
        }
        if !self.devices.is_empty() {
            c.push("devices");
        }
        c
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seccomp {
    Unconfined,
    Default,
    /// An OCI `linux.seccomp` JSON document.
    Oci(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub root: RootFs,
    pub readonly_root: bool,
    /// In order; destinations are resolved inside the root without leaving it.
    pub mounts: Vec<Mount>,
    pub masked_paths: Vec<PathBuf>,
    pub readonly_paths: Vec<PathBuf>,
    pub hostname: Option<String>,
    pub namespaces: Namespaces,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub user: Identity,
    /// process.user.umask (None: the runtime's own umask is kept, as runc does).
    pub umask: Option<u32>,
    pub caps: Sets,
    pub no_new_privs: bool,
    pub rlimits: Vec<Rlimit>,
    pub seccomp: Seccomp,
    pub resources: Resources,
    /// OCI linux.cgroupsPath, as written (None: the runtime's default place).
    pub cgroups_path: Option<String>,
    /// A tiny PID 1 that reaps zombies and forwards signals.
    pub init: bool,
    /// uid_map and gid_map text for a new user namespace.
    pub id_maps: Option<(String, String)>,
    /// Existing namespaces to join (setns) instead of creating new ones: (CLONE_NEW* flag,
    /// path such as /proc/PID/ns/net or /run/netns/NAME).
    pub join: Vec<(i32, PathBuf)>,
    /// Namespaced sysctls, written in the container.
    pub sysctl: Vec<(String, String)>,
    pub oom_score_adj: Option<i32>,
    /// Device nodes to create in the container (OCI linux.devices).
    pub devices: Vec<Device>,
    pub hooks: Hooks,
    /// OCI linux.rootfsPropagation for the container's root after pivot_root (shared,
    /// slave, private or unbindable; None keeps it private).
    pub rootfs_propagation: Option<String>,
    /// process.terminal: the process gets a pty, whose master goes to --console-socket.
    pub terminal: bool,
    /// process.consoleSize (rows, columns) for that pty; None keeps the kernel's 0×0.
    pub console_size: Option<(u16, u16)>,
    /// Descriptors 3…3+N-1 of the runtime go on to the program (--preserve-fds).
    pub preserve_fds: u32,
    /// A Landlock domain the program runs in (None: no Landlock, no cost).
    pub landlock: Option<Landlock>,
    /// OCI 1.1/1.2 attributes: scheduler, I/O priority, CPU affinity, personality,
    /// domain name.
    pub attrs: Attrs,
}

// ---- OCI 1.1/1.2 process and kernel attributes (issue #14; applied by linux::attrs) ----

/// What the container's init applies besides the classic settings; all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// process.scheduler, as sched_setattr(2) takes it.
    pub scheduler: Option<SchedAttr>,
    /// process.ioPriority as ioprio_set(2)'s value: (class << 13) | level.
    pub io_priority: Option<u32>,
    /// process.execCPUAffinity.initial: the CPUs the runtime's set-up runs on (from the
    /// moment the process is in its cgroup).
    pub affinity_initial: Option<Vec<usize>>,
    /// process.execCPUAffinity.final: the CPUs the program runs on.
    pub affinity_final: Option<Vec<usize>>,
    /// linux.personality as personality(2)'s argument (domain | flags).
    pub personality: Option<u32>,
    /// The domain name of the container's new UTS namespace.
    pub domainname: Option<String>,
}

/// sched_setattr(2)'s arguments (struct sched_attr without the utilization clamps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// runc's masked paths: hidden behind /dev/null (files) or an empty read-only tmpfs (dirs).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's read-only paths.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

// ---- Landlock ----------------------------------------------------------------------------
// One table per kind feeds the OCI parser, the sandbox flags and the ABI gap report.

/// Landlock filesystem access rights: OCI name, kernel bit (LANDLOCK_ACCESS_FS_*), and the
/// Landlock ABI that introduced it.
pub const LANDLOCK_FS: &[(&str, u64, u8)] = &[
    ("execute", 1 << 0, 1),
    ("write_file", 1 << 1, 1),
    ("read_file", 1 << 2, 1),
    ("read_dir", 1 << 3, 1),
    ("remove_dir", 1 << 4, 1),
    ("remove_file", 1 << 5, 1),
    ("make_char", 1 << 6, 1),
    ("make_dir", 1 << 7, 1),
    ("make_reg", 1 << 8, 1),
    ("make_sock", 1 << 9, 1),
    ("make_fifo", 1 << 10, 1),
    ("make_block", 1 << 11, 1),
    ("make_sym", 1 << 12, 1),
    ("refer", 1 << 13, 2),
    ("truncate", 1 << 14, 3),
    ("ioctl_dev", 1 << 15, 5),
];

/// Landlock network access rights (LANDLOCK_ACCESS_NET_*), as `LANDLOCK_FS`.
pub const LANDLOCK_NET: &[(&str, u64, u8)] = &[("bind_tcp", 1 << 0, 4), ("connect_tcp", 1 << 1, 4)];

/// The filesystem rights that apply to a file (not only to a directory): a rule on a file
/// keeps only these.
pub const LANDLOCK_FILE_RIGHTS: u64 = 1 | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15);

/// The bits of every right in `table`.
pub fn landlock_all(table: &[(&str, u64, u8)]) -> u64 {
    table.iter().fold(0, |a, (_, b, _)| a | b)
}

/// The bit of the right called `name` in `table`.
pub fn landlock_access(table: &[(&str, u64, u8)], name: &str) -> Option<u64> {
    table
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, b, _)| *b)
}

/// The names of the rights in `bits`, in table order.
pub fn landlock_names(table: &[(&'static str, u64, u8)], bits: u64) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(_, b, _)| bits & b != 0)
        .map(|(n, _, _)| *n)
        .collect()
}

/// Rights allowed beneath one path of the container (resolved inside its root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockPath {
    pub path: PathBuf,
    /// LANDLOCK_ACCESS_FS_* bits.
    pub access: u64,
}

/// Rights allowed on one TCP port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LandlockPort {
    pub port: u16,
    /// LANDLOCK_ACCESS_NET_* bits.
    pub access: u64,
}

/// A Landlock domain: the handled rights are denied except where a rule allows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Landlock {
    /// Handled filesystem rights (LANDLOCK_ACCESS_FS_* bits).
    pub handled_fs: u64,
    /// Handled network rights (LANDLOCK_ACCESS_NET_* bits).
    pub handled_net: u64,
    pub paths: Vec<LandlockPath>,
    pub ports: Vec<LandlockPort>,
    /// Refuse to run when the kernel cannot enforce every handled right (OCI
    /// disableBestEffort, `--landlock-strict`); otherwise best effort with a warning.
    pub strict: bool,
}

/// What `--landlock-ro` allows: read files, list directories.
pub const LANDLOCK_RO: u64 = (1 << 2) | (1 << 3);
/// What `--landlock-exec` allows: execute, plus read.
pub const LANDLOCK_EXEC: u64 = 1 | LANDLOCK_RO;

impl Landlock {
    /// What `--landlock-rw` allows: every filesystem right except execute.
    pub fn rw() -> u64 {
        landlock_all(LANDLOCK_FS) & !1
    }

    /// The handled rights (by name) that a kernel with Landlock ABI `abi` cannot enforce
    /// (ABI 0: Landlock unavailable, nothing is enforced).
    pub fn gap(&self, abi: u8) -> Vec<&'static str> {
        let missing = |table: &[(&'static str, u64, u8)], handled: u64| {
            table
                .iter()
                .filter(move |(_, b, v)| handled & b != 0 && (abi == 0 || *v > abi))
                .map(|(n, _, _)| *n)
                .collect::<Vec<_>>()
        };
        let mut m = missing(LANDLOCK_FS, self.handled_fs);
        m.extend(missing(LANDLOCK_NET, self.handled_net));
        m
    }
}
