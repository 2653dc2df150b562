//! Kernel plumbing, one concern per file.

pub mod attrs;
pub mod audit;
pub mod capset;
pub mod cgroup_stats;
pub mod cgroups;
pub mod channel;
pub mod check;
pub mod devices_bpf;
pub mod exec;
pub mod hooks;
pub mod identity;
pub mod init;
pub mod inroot;
pub mod landlock;
pub mod namespaces;
pub mod probe;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod sys;
mod syscall_table;
pub mod systemd;
pub mod terminal;
pub mod traced;
pub mod tracefs;
pub mod userns;
