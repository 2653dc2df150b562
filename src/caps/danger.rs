//! The capabilities a confined program must not keep, and why (pure data).

use super::{CapSet, Capability};

/// Capabilities a production sandbox must not keep, each with why. One table feeds
/// production mode, `nucleus policy check`, `nucleus audit` and the README.
pub const DANGEROUS: &[(&str, &str)] = &[
    ("sys_admin", "mount, namespaces, BPF maps, keyrings: the catch-all; most container escapes go through it"),
    ("sys_module", "loads kernel modules: arbitrary kernel code"),
    ("sys_ptrace", "ptrace and /proc/PID/mem of any process it can see: reads and writes their memory"),
    ("sys_rawio", "iopl, ioperm, /dev/mem and raw block I/O: bypasses every kernel check"),
    ("sys_boot", "reboot and kexec_load: replaces or stops the running kernel"),
    ("bpf", "loads BPF programs and maps: kernel attack surface and data from other processes"),
    ("perfmon", "perf events and BPF tracing: observes the kernel and other processes"),
    ("net_admin", "routes, firewall, interfaces of its network namespace (the host's with host network)"),
    ("dac_read_search", "open_by_handle_at: opens host files by handle past the mount namespace (the shocker escape)"),
    ("sys_time", "sets the system clock for the whole host: breaks TLS, logs and timeouts"),
    ("mac_admin", "changes the MAC (SELinux, Smack) policy that confines everything"),
    ("mac_override", "bypasses the MAC policy"),
    ("syslog", "reads the kernel log and kernel addresses: defeats KASLR"),
    ("linux_immutable", "clears the immutable and append-only flags that protect files"),
    ("setfcap", "writes file capabilities: binaries that regain capabilities when run"),
    ("audit_control", "changes or disables the kernel audit rules that record what happens"),
    ("checkpoint_restore", "sets the PIDs of new processes and restores process state across checks"),
];

/// The dangerous capabilities as a set.
pub fn dangerous_set() -> CapSet {
    let mut s = CapSet::EMPTY;
    for (name, _) in DANGEROUS {
        s.insert(Capability::parse(name).expect("the table holds known names"));
    }
    s
}
