//! seccomp: the default profile and OCI profiles, compiled to classic BPF.
//!
//! A profile is a default action plus syscall rules, each with its own action. The kernel
//! runs every installed filter and keeps the most severe result (for equal actions, the
//! one of the most recently installed filter), so a profile becomes one filter per action:
//! - for each action A other than the default: rules of A → A, anything else → ALLOW;
//! - the default filter: any rule of any action → ALLOW, anything else → the default;
//! - last, the guard: an architecture the profile does not cover → KILL_PROCESS, and on
//!   x86_64 every x32 syscall number (bit 0x40000000) → EPERM, whatever the profile says.
//!
//! Each per-action filter dispatches on the audit architecture: the native part (built by
//! seccompiler from syscall numbers) and, on x86_64 when the profile lists SCMP_ARCH_X86
//! (the built-in profile does, as Docker's does), an i386 part: the same rules looked up in
//! the i386 table, argument conditions on the low 32 bits. Any other architecture passes
//! these filters and meets the guard. seccompiler only targets one 64-bit architecture per
//! program, so its programs are used without their architecture check (three instructions,
//! replaced by the dispatch) — `strip_arch_check` verifies that shape.
//!
//! A profile that does not list SCMP_ARCH_X86 kills a process making an i386 syscall, as
//! before. x32 syscalls are always denied with EPERM (also when SCMP_ARCH_X32 is listed):
//! nucleus has no x32 table, and a deny-list profile must not be bypassed through them.

use crate::linux::syscall_table;
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule,
};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("seccomp profile: {0}")]
    Profile(String),
    #[error("seccomp: {0}")]
    Compile(String),
    #[error("loading the seccomp filter failed: {0}")]
    Load(String),
}

pub use crate::spec::seccomp::{
    Action, Cond, Op, Profile, Rule, OCI_ACTIONS, OCI_ARCHES, OCI_FLAGS, OCI_OPERATORS,
};

impl From<crate::spec::seccomp::ProfileError> for Error {
    fn from(e: crate::spec::seccomp::ProfileError) -> Error {
        Error::Profile(e.0)
    }
}

/// seccompiler's action for a profile's.
fn seccompiler_action(a: &Action) -> SeccompAction {
    match a {
        Action::Allow => SeccompAction::Allow,
        Action::Errno(e) => SeccompAction::Errno(*e),
        Action::KillThread => SeccompAction::KillThread,
        Action::KillProcess => SeccompAction::KillProcess,
        Action::Trap => SeccompAction::Trap,
        Action::Log => SeccompAction::Log,
        Action::Notify => SeccompAction::Trace(NOTIFY_STANDIN),
    }
}

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

/// `#define AUDIT_ARCH_X86_64 (EM_X86_64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE)` (linux/audit.h)
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
/// `#define AUDIT_ARCH_I386 (EM_386|__AUDIT_ARCH_LE)`
const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
/// `#define AUDIT_ARCH_AARCH64 (EM_AARCH64|__AUDIT_ARCH_64BIT|__AUDIT_ARCH_LE)`
const AUDIT_ARCH_AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;
/// `__X32_SYSCALL_BIT` (asm/unistd.h): x32 syscalls are x86_64 numbers with this bit.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const NATIVE_AUDIT_ARCH: u32 = if cfg!(target_arch = "x86_64") {
    AUDIT_ARCH_X86_64
} else {
    AUDIT_ARCH_AARCH64
};

/// TIOCSTI (push a byte into a terminal's input) and TIOCLINUX (subcode 2/3 copy and paste
/// on a virtual console): both let a process type into the caller's terminal.
const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;

/// Namespace-creating clone flags, refused by the default profile.
const CLONE_NEW_MASK: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The ordinary syscalls the default profile allows (Docker's default, in spirit): all
/// but kernel modules, kexec, reboot, swap, mount and the new mount API, namespace
/// changes, ptrace and process_vm_*, bpf, perf_event_open, keyrings, open_by_handle_at,
/// clock/time setting, accounting, quotactl, userfaultfd, io_uring (blocked by Docker
/// since 25.0: a large attack surface that seccomp cannot see into) and obsolete calls.
/// ioctl is allowed with conditions (see `default_profile`).
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "alarm",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futex",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "sendfile",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "socket",
    "socketpair",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "tkill",
    "truncate",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "wait4",
    "waitid",
    "write",
    "writev",
    "uretprobe",
    "cachestat",
    "map_shadow_stack",
];

/// The i386-only names of the same calls (32-bit variants, multiplexers whose every
/// subcall is allowed above, and the *_time64 calls), allowed for i386 syscalls.
const ALLOWED_I386: &[&str] = &[
    "_llseek",
    "_newselect",
    "chown32",
    "clock_getres_time64",
    "clock_gettime64",
    "clock_nanosleep_time64",
    "fadvise64_64",
    "fchown32",
    "fcntl64",
    "fstat64",
    "fstatat64",
    "fstatfs64",
    "ftruncate64",
    "futex_time64",
    "getegid32",
    "geteuid32",
    "getgid32",
    "getgroups32",
    "getresgid32",
    "getresuid32",
    "getuid32",
    "io_pgetevents_time64",
    "ipc",
    "lchown32",
    "lstat64",
    "mmap2",
    "mq_timedreceive_time64",
    "mq_timedsend_time64",
    "ppoll_time64",
    "pselect6_time64",
    "recvmmsg_time64",
    "rt_sigtimedwait_time64",
    "sched_rr_get_interval_time64",
    "semtimedop_time64",
    "sendfile64",
    "setfsgid32",
    "setfsuid32",
    "setgid32",
    "setgroups32",
    "setregid32",
    "setresgid32",
    "setresuid32",
    "setreuid32",
    "setuid32",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "stat64",
    "statfs64",
    "timer_gettime64",
    "timer_settime64",
    "timerfd_gettime64",
    "timerfd_settime64",
    "truncate64",
    "ugetrlimit",
    "utimensat_time64",
    "waitpid",
];

fn allow(name: &str, conds: Vec<Cond>) -> Rule {
    Rule {
        name: name.to_string(),
        action: Action::Allow,
        conds,
    }
}

/// The built-in profile (x86_64 and i386 syscalls): the allowlist; ioctl except TIOCSTI
/// and TIOCLINUX; clone without namespace flags; clone3 answered with ENOSYS (so libc
/// falls back to clone, whose flags can be checked); EPERM for the rest.
pub fn default_profile() -> Profile {
    let mut rules: Vec<Rule> = ALLOWED
        .iter()
        .chain(ALLOWED_I386)
        .map(|n| allow(n, vec![]))
        .collect();
    let cmd_is_not = |value| Cond {
        index: 1,
        op: Op::Ne,
        mask: 0,
        value,
        dword: true,
    };
    rules.push(allow(
        "ioctl",
        vec![cmd_is_not(TIOCSTI), cmd_is_not(TIOCLINUX)],
    ));
    rules.push(allow(
        "clone",
        vec![Cond {
            index: 0,
            op: Op::MaskedEq,
            mask: CLONE_NEW_MASK,
            value: 0,
            dword: false,
        }],
    ));
    rules.push(Rule {
        name: "clone3".into(),
        action: Action::Errno(ENOSYS),
        conds: vec![],
    });
    Profile {
        default: Action::Errno(EPERM),
        rules,
        i386: cfg!(target_arch = "x86_64"),
        listener: None,
    }
}

/// Parses and translates an OCI `linux.seccomp` document (spec::seccomp::parse).
pub fn from_oci(text: &str) -> Result<Profile, Error> {
    Ok(crate::spec::seccomp::parse(text)?)
}

/// The native syscall number of `name`, if this architecture has it (a lookup in
/// nucleus's own tables, syscall_table).
fn native_nr(name: &str) -> Option<u32> {
    let table = if cfg!(target_arch = "x86_64") {
        syscall_table::X86_64
    } else {
        syscall_table::AARCH64
    };
    lookup(table, name)
}

fn lookup(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

// Classic BPF opcodes (linux/bpf_common.h) and seccomp_data offsets (linux/seccomp.h).
/// BPF_LD | BPF_W | BPF_ABS (0x00 | 0x00 | 0x20)
const LD_W_ABS: u16 = 0x20;
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA (0x00)
const JMP_JEQ_K: u16 = 0x05 | 0x10;
const JMP_JGE_K: u16 = 0x05 | 0x30;
const RET_K: u16 = 0x06;
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// One architecture's part of a filter: which table, whose arguments are 32-bit.
#[derive(Clone, Copy)]
enum Arch {
    Native,
    I386,
}

impl Arch {
    fn nr(self, name: &str) -> Option<u32> {
        match self {
            Arch::Native => native_nr(name),
            Arch::I386 => lookup(syscall_table::I386, name),
        }
    }
}

fn condition(c: &Cond, arch: Arch) -> Result<SeccompCondition, String> {
    let dword = c.dword || matches!(arch, Arch::I386);
    // 32-bit comparisons see the low half of the value (and mask), as libseccomp does for
    // 32-bit architectures.
    let low = |v: u64| if dword { v & 0xffff_ffff } else { v };
    let op = match c.op {
        Op::Eq => SeccompCmpOp::Eq,
        Op::Ne => SeccompCmpOp::Ne,
        Op::Lt => SeccompCmpOp::Lt,
        Op::Le => SeccompCmpOp::Le,
        Op::Gt => SeccompCmpOp::Gt,
        Op::Ge => SeccompCmpOp::Ge,
        Op::MaskedEq => SeccompCmpOp::MaskedEq(low(c.mask)),
    };
    let len = if dword {
        SeccompCmpArgLen::Dword
    } else {
        SeccompCmpArgLen::Qword
    };
    SeccompCondition::new(c.index, len, op, low(c.value)).map_err(|e| e.to_string())
}

/// seccompiler's program for `rules` (numbers of `arch`) without its architecture check.
fn arch_body(
    rules: &[&Rule],
    arch: Arch,
    mismatch: &Action,
    matched: &Action,
) -> Result<Vec<sock_filter>, String> {
    // None: matches unconditionally (one rule without conditions is enough).
    let mut by_nr: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for r in rules {
        let Some(nr) = arch.nr(&r.name) else { continue };
        let entry = by_nr.entry(nr.into()).or_insert_with(|| Some(vec![]));
        if r.conds.is_empty() {
            *entry = None;
        } else if let Some(chain) = entry {
            let conds = r
                .conds
                .iter()
                .map(|c| condition(c, arch))
                .collect::<Result<Vec<_>, _>>()?;
            chain.push(SeccompRule::new(conds).map_err(|e| e.to_string())?);
        }
    }
    let entries: Vec<(i64, Vec<SeccompRule>)> = by_nr
        .into_iter()
        .map(|(nr, chain)| (nr, chain.unwrap_or_default()))
        .collect();
    // seccompiler tests the numbers one after the other. Split them into ranges of CHUNK
    // numbers behind a range dispatch, so a syscall (and the kernel's emulation of every
    // filter for every number when it is attached) walks a short chain, not all of them.
    const CHUNK: usize = 16;
    let mut bodies = vec![];
    let mut bounds = vec![];
    for part in entries.chunks(CHUNK) {
        bounds.push(part[0].0 as u32);
        let filter = SeccompFilter::new(
            part.iter().cloned().collect(),
            seccompiler_action(mismatch),
            seccompiler_action(matched),
            seccompiler::TargetArch::x86_64,
        )
        .map_err(|e| e.to_string())?;
        let prog: BpfProgram = filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?;
        bodies.push(strip_arch_check(prog)?);
    }
    if bodies.len() <= 1 {
        return Ok(bodies
            .pop()
            .unwrap_or_else(|| vec![stmt(RET_K, u32::from(seccompiler_action(mismatch)))]));
    }
    // ld nr; for each later range: jge START,1,0 (on to the next test); ja BODY(previous);
    // and last ja BODY(last). Then the bodies (each loads nr again).
    let head = 1 + 2 * (bodies.len() - 1) + 1;
    let mut out = vec![stmt(LD_W_ABS, DATA_NR)];
    let mut start = head;
    for (i, body) in bodies.iter().enumerate() {
        if let Some(next) = bounds.get(i + 1) {
            out.push(jump(JMP_JGE_K, *next, 1, 0));
        }
        // A jump's offset counts from the instruction after it.
        out.push(stmt(JMP_JA, (start - (out.len() + 1)) as u32));
        start += body.len();
    }
    debug_assert_eq!(out.len(), head);
    out.extend(bodies.into_iter().flatten());
    Ok(out)
}

/// Removes seccompiler's leading `ld arch; jeq ARCH,1,0; ret KILL_PROCESS`. Nothing jumps
/// backwards in classic BPF, so the rest stands on its own.
fn strip_arch_check(mut prog: Vec<sock_filter>) -> Result<Vec<sock_filter>, String> {
    let shape = prog.len() > 3
        && (prog[0].code, prog[0].k) == (LD_W_ABS, DATA_ARCH)
        && (prog[1].code, prog[1].jt, prog[1].jf) == (JMP_JEQ_K, 1, 0)
        && (prog[2].code, prog[2].k) == (RET_K, libc::SECCOMP_RET_KILL_PROCESS);
    if !shape {
        return Err(
            "seccompiler's program does not start with the expected architecture \
                    check (a seccompiler update?)"
                .into(),
        );
    }
    prog.drain(..3);
    Ok(prog)
}

/// One filter: dispatch on the architecture to each part; other architectures → ALLOW
/// (the guard decides about them).
fn dispatch(
    native: Vec<sock_filter>,
    i386: Option<Vec<sock_filter>>,
) -> Result<BpfProgram, String> {
    let head = if i386.is_some() { 6 } else { 4 };
    let mut p = vec![
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JMP_JEQ_K, NATIVE_AUDIT_ARCH, 0, 1),
        stmt(JMP_JA, head - 3),
    ];
    if i386.is_some() {
        p.push(jump(JMP_JEQ_K, AUDIT_ARCH_I386, 0, 1));
        p.push(stmt(JMP_JA, head - 5 + native.len() as u32));
    }
    p.push(stmt(RET_K, libc::SECCOMP_RET_ALLOW));
    p.extend(native);
    p.extend(i386.into_iter().flatten());
    if p.len() > libc::BPF_MAXINSNS as usize {
        return Err(format!(
            "a filter has {} instructions, above the kernel's limit of {}: the profile has too \
             many rules for one action",
            p.len(),
            libc::BPF_MAXINSNS
        ));
    }
    Ok(p)
}

/// The last filter: architectures the profile does not cover → KILL_PROCESS; on x86_64,
/// x32 syscall numbers → EPERM (distinct from the kernel's ENOSYS for an unknown number).
fn guard(i386: bool) -> BpfProgram {
    let kill = stmt(RET_K, libc::SECCOMP_RET_KILL_PROCESS);
    let allow = stmt(RET_K, libc::SECCOMP_RET_ALLOW);
    if !cfg!(target_arch = "x86_64") {
        return vec![
            stmt(LD_W_ABS, DATA_ARCH),
            jump(JMP_JEQ_K, NATIVE_AUDIT_ARCH, 1, 0),
            kill,
            allow,
        ];
    }
    let mut p = vec![stmt(LD_W_ABS, DATA_ARCH)];
    if i386 {
        p.push(jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 3, 0));
        p.push(jump(JMP_JEQ_K, AUDIT_ARCH_I386, 0, 1));
        p.push(allow.clone());
    } else {
        p.push(jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0));
    }
    p.extend([
        kill,
        stmt(LD_W_ABS, DATA_NR),
        jump(JMP_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(RET_K, libc::SECCOMP_RET_ERRNO | EPERM),
        allow,
    ]);
    p
}

/// The syscall names of a profile that none of its architectures' tables has (sorted):
/// [`compile`] skips them, as libseccomp does (OCI profiles list several architectures'
/// syscalls). Found by lookup in nucleus's own tables.
pub fn unknown_names(p: &Profile) -> Vec<String> {
    let i386 = p.i386 && cfg!(target_arch = "x86_64");
    let mut unknown: Vec<String> = p
        .rules
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| Arch::Native.nr(n).is_none() && !(i386 && Arch::I386.nr(n).is_some()))
        .map(String::from)
        .collect();
    unknown.sort();
    unknown.dedup();
    unknown
}

/// Compiles a profile into the BPF programs to install, in order. Syscall names none of
/// the profile's architectures has are skipped (see [`unknown_names`]).
pub fn compile(p: &Profile) -> Result<Vec<BpfProgram>, Error> {
    let i386 = p.i386 && cfg!(target_arch = "x86_64");
    let mut groups: BTreeMap<&Action, Vec<&Rule>> = BTreeMap::new();
    for r in &p.rules {
        groups.entry(&r.action).or_default().push(r);
    }
    // (mismatch, match, rules) of each filter. The default filter: everything a rule with
    // another action names (with its conditions) is allowed there; rules whose action is
    // the default need no filter at all.
    let mut specs: Vec<(&Action, &Action, Vec<&Rule>)> = vec![];
    if p.default != Action::Allow {
        let named: Vec<&Rule> = p.rules.iter().filter(|r| r.action != p.default).collect();
        specs.push((&p.default, &Action::Allow, named));
    }
    for (action, rules) in groups {
        if *action != Action::Allow && *action != p.default {
            specs.push((&Action::Allow, action, rules));
        }
    }
    let mut progs = Vec::with_capacity(specs.len() + 1);
    for (mismatch, matched, rules) in specs {
        let native = arch_body(&rules, Arch::Native, mismatch, matched);
        let i386_body = i386
            .then(|| arch_body(&rules, Arch::I386, mismatch, matched))
            .transpose();
        let prog = native
            .and_then(|n| dispatch(n, i386_body?))
            .map_err(Error::Compile)?;
        progs.push(prog);
    }
    progs.push(guard(i386));
    progs.iter_mut().for_each(patch_notify);
    Ok(progs)
}

/// The default profile, compiled (names this architecture lacks are left out).
pub fn default_compiled() -> Result<Vec<BpfProgram>, Error> {
    compile(&default_profile())
}

/// Installs the programs on the calling thread. Needs no_new_privs or CAP_SYS_ADMIN; unlike
/// seccompiler's own loader it does not set no_new_privs (that is the caller's decision).
pub fn load(progs: &[BpfProgram]) -> Result<(), Error> {
    // Without a listener to send it to (`exec`), a notifying rule answers ENOSYS.
    load_listening(progs).map(drop)
}

/// `load`, returning the listener descriptor of the program that notifies (SCMP_ACT_NOTIFY),
/// if any: it is loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER.
pub fn load_listening(progs: &[BpfProgram]) -> Result<Option<std::os::fd::OwnedFd>, Error> {
    use std::os::fd::FromRawFd;
    let mut listener = None;
    for p in progs {
        let flags = if notifies(p) {
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            0
        };
        let prog = libc::sock_fprog {
            len: p.len() as libc::c_ushort,
            filter: p.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the kernel copies `len` instructions from `filter`, which lives through the
        // call; seccompiler's sock_filter has the kernel's layout.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(Error::Load(nix::errno::Errno::last().to_string()));
        }
        if flags != 0 {
            // SAFETY: with NEW_LISTENER the kernel returned a new (close-on-exec) descriptor.
            listener = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(r as i32) });
        }
    }
    Ok(listener)
}

// ---- Seccomp user notification (SCMP_ACT_NOTIFY, listenerPath; issue #14) ----

/// seccompiler cannot emit SECCOMP_RET_USER_NOTIF: a Notify rule is compiled with this
/// SECCOMP_RET_TRACE value as a stand-in (SCMP_ACT_TRACE itself is refused), and
/// `patch_notify` turns each such return into USER_NOTIF.
const NOTIFY_STANDIN: u32 = 0x4e4f;

fn patch_notify(prog: &mut BpfProgram) {
    for i in prog.iter_mut() {
        if i.code == RET_K && i.k == libc::SECCOMP_RET_TRACE | NOTIFY_STANDIN {
            i.k = libc::SECCOMP_RET_USER_NOTIF;
        }
    }
}

/// Whether a program can answer USER_NOTIF (it needs a listener).
fn notifies(prog: &BpfProgram) -> bool {
    prog.iter()
        .any(|i| i.code == RET_K && i.k == libc::SECCOMP_RET_USER_NOTIF)
}

/// The listener of an OCI profile: its socket path and the metadata passed on with the
/// descriptor (`listenerPath`, `listenerMetadata`).
pub fn listener_of(p: &Profile) -> Option<(std::path::PathBuf, String)> {
    p.listener
        .as_ref()
        .map(|l| (l.path.clone(), l.metadata.clone()))
}

/// Sends the listener descriptor to the listener's socket as runc does: one message whose
/// data is the container process state (`ociVersion`, `fds: ["seccompFd"]`, `pid`,
/// `metadata`, `state`) and whose SCM_RIGHTS carries the descriptor.
pub fn send_listener(
    sock: &std::os::unix::net::UnixStream,
    fd: &std::os::fd::OwnedFd,
    message: &[u8],
) -> Result<(), Error> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let fds = [fd.as_raw_fd()];
    let iov = [std::io::IoSlice::new(message)];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let sent = sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| Error::Load(format!("sending the listener descriptor: {e}")))?;
    if sent != message.len() {
        return Err(Error::Load(format!(
            "sending the listener descriptor: {sent} of {} bytes sent",
            message.len()
        )));
    }
    Ok(())
}

// ---- Learned profiles (`nucleus run --learn`) ----

/// Syscalls the runtime itself makes after it has loaded the filter and before the
/// program's execve, so a trace (which counts a process only from its execve on) never
/// sees them: the rest of the profile's filters are installed one by one (`seccomp`), then
/// `execve`. With `--allow-new-privs` the filter is loaded before the capabilities and the
/// identity are applied (it needs CAP_SYS_ADMIN then), so those calls follow it too
/// (`RUNTIME_TAIL_NEW_PRIVS`). The container's `--init` forks before any filter is loaded
/// and never loads one: it adds nothing here.
pub const RUNTIME_TAIL: &[&str] = &["execve", "seccomp"];
/// What `linux::init::finish` calls after the filter when no_new_privs is off:
/// capk::apply (prctl for keep-caps, the bounding set, securebits and ambient;
/// capget/capset; setgroups/setresgid/setresuid; the read-back of /proc/self/status and
/// the memory that takes) and prctl(PR_SET_PDEATHSIG).
pub const RUNTIME_TAIL_NEW_PRIVS: &[&str] = &[
    "brk",
    "capget",
    "capset",
    "close",
    "fstat",
    "lseek",
    "mmap",
    "munmap",
    "newfstatat",
    "openat",
    "prctl",
    "read",
    "setgroups",
    "setresgid",
    "setresuid",
    "statx",
];

/// An OCI seccomp profile that allows exactly `used` (syscall names), plus the runtime's
/// own tail (`RUNTIME_TAIL`, and `RUNTIME_TAIL_NEW_PRIVS` when `new_privs`): default
/// SCMP_ACT_ERRNO with EPERM, the architectures of the built-in profile. Syscalls the
/// learning run's filter refused with another errno (`refused`: name → errno, e.g. clone3
/// → ENOSYS, which makes libc fall back to clone) are refused the same way, so the program
/// meets the same answers. Two guards of the built-in profile stay: ioctl is allowed
/// except TIOCSTI and TIOCLINUX, clone only without namespace flags.
pub fn learned_profile(
    used: &std::collections::BTreeSet<String>,
    refused: &BTreeMap<String, u32>,
    new_privs: bool,
) -> Value {
    use serde_json::json;
    let mut names: std::collections::BTreeSet<&str> = used.iter().map(String::as_str).collect();
    names.extend(RUNTIME_TAIL);
    if new_privs {
        names.extend(RUNTIME_TAIL_NEW_PRIVS);
    }
    let guarded = ["ioctl", "clone"];
    let plain: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !guarded.contains(n) && !refused.contains_key(*n))
        .collect();
    let mut syscalls = vec![json!({ "names": plain, "action": "SCMP_ACT_ALLOW" })];
    if names.contains("ioctl") {
        let ne = |v: u64| json!({ "index": 1, "value": v, "op": "SCMP_CMP_NE" });
        syscalls.push(json!({
            "names": ["ioctl"],
            "action": "SCMP_ACT_ALLOW",
            "args": [ne(TIOCSTI), ne(TIOCLINUX)],
        }));
    }
    if names.contains("clone") {
        syscalls.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": CLONE_NEW_MASK, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }],
        }));
    }
    for (name, errno) in refused {
        if *errno != EPERM && !names.contains(name.as_str()) {
            syscalls.push(json!({
                "names": [name],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": errno,
            }));
        }
    }
    let arches: &[&str] = if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else {
        &["SCMP_ARCH_AARCH64"]
    };
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": arches,
        "syscalls": syscalls,
    })
}

#[cfg(test)]
mod learned_tests {
    use super::*;

    #[test]
    fn learned_profile_allows_exactly_what_was_used() {
        let used = ["read", "write", "ioctl", "clone", "exit_group"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let refused = BTreeMap::from([("clone3".to_string(), ENOSYS), ("unshare".into(), EPERM)]);
        let doc = learned_profile(&used, &refused, false);
        let p = from_oci(&doc.to_string()).unwrap();
        assert_eq!(p.default, Action::Errno(EPERM));
        assert!(p.i386);
        let allowed = |n: &str| {
            p.rules
                .iter()
                .any(|r| r.name == n && r.action == Action::Allow)
        };
        for n in [
            "read",
            "write",
            "exit_group",
            "execve",
            "seccomp",
            "ioctl",
            "clone",
        ] {
            assert!(allowed(n), "{n}");
        }
        for n in ["unshare", "mount", "capset", "openat"] {
            assert!(!p.rules.iter().any(|r| r.name == n), "{n}");
        }
        assert!(p
            .rules
            .iter()
            .any(|r| r.name == "clone3" && r.action == Action::Errno(ENOSYS)));
        let ioctl = p.rules.iter().find(|r| r.name == "ioctl").unwrap();
        assert_eq!(ioctl.conds.len(), 2);
        let clone = p.rules.iter().find(|r| r.name == "clone").unwrap();
        assert_eq!(
            (clone.conds[0].op, clone.conds[0].mask),
            (Op::MaskedEq, CLONE_NEW_MASK)
        );
        compile(&p).unwrap();
        let with = learned_profile(&used, &refused, true);
        assert!(with.to_string().contains("\"capset\""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const E_PERM: u32 = libc::SECCOMP_RET_ERRNO | EPERM;
    const E_NOSYS: u32 = libc::SECCOMP_RET_ERRNO | ENOSYS;
    const X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
    const I386: u32 = 3 | 0x4000_0000;

    /// `struct seccomp_data` as the kernel hands it to the filters.
    struct Data {
        arch: u32,
        nr: u32,
        args: [u64; 6],
    }

    fn call(arch: u32, nr: u32, args: &[u64]) -> Data {
        let mut a = [0; 6];
        a[..args.len()].copy_from_slice(args);
        Data { arch, nr, args: a }
    }

    /// A classic-BPF interpreter for the instructions seccomp filters use.
    fn run_one(prog: &[sock_filter], d: &Data) -> u32 {
        let word = |off: u32| -> u32 {
            match off {
                0 => d.nr,
                4 => d.arch,
                8 | 12 => 0, // instruction pointer
                16..=63 if off.is_multiple_of(4) => {
                    let arg = d.args[(off as usize - 16) / 8];
                    if off.is_multiple_of(8) {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                _ => panic!("load from offset {off}"),
            }
        };
        let (mut a, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            pc += 1;
            let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
            match i.code {
                0x20 => a = word(i.k),      // ld w abs
                0x54 => a &= i.k,           // alu and k
                0x05 => pc += i.k as usize, // ja
                0x15 => pc += cond(a == i.k),
                0x25 => pc += cond(a > i.k),
                0x35 => pc += cond(a >= i.k),
                0x06 => return i.k, // ret k
                c => panic!("opcode {c:#x} at {}", pc - 1),
            }
        }
    }

    /// What the kernel does with several filters: run all, most recent first, and keep the
    /// most severe action (the first seen among equals).
    fn verdict(progs: &[BpfProgram], d: &Data) -> u32 {
        let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
        let mut ret = ALLOW;
        for p in progs.iter().rev() {
            let cur = run_one(p, d);
            if action(cur) < action(ret) {
                ret = cur;
            }
        }
        ret
    }

    fn oci(text: &str) -> Vec<BpfProgram> {
        compile(&from_oci(text).unwrap()).unwrap()
    }

    const DENY_UNSHARE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}"#;
    const DENY_UNSHARE_X86: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}"#;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x32_syscall_numbers_are_denied_with_eperm() {
        for progs in [
            default_compiled().unwrap(),
            oci(DENY_UNSHARE),
            oci(DENY_UNSHARE_X86),
            oci(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#),
            oci(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38}"#),
        ] {
            for nr in [272, 39, 0, 0x3fff_ffff, 0xffff_ffff] {
                let nr = X32_SYSCALL_BIT | nr;
                assert_eq!(verdict(&progs, &call(X86_64, nr, &[])), E_PERM, "{nr:#x}");
            }
        }
        assert_eq!(verdict(&oci(DENY_UNSHARE), &call(X86_64, 272, &[])), E_PERM);
        assert_eq!(verdict(&oci(DENY_UNSHARE), &call(X86_64, 39, &[])), ALLOW);
        assert_eq!(
            verdict(&default_compiled().unwrap(), &call(X86_64, 39, &[])),
            ALLOW
        );
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn i386_syscalls_follow_the_profile_by_name() {
        let d = default_compiled().unwrap();
        let i = |nr, args: &[u64]| call(I386, nr, args);
        assert_eq!(verdict(&d, &i(20, &[])), ALLOW, "getpid");
        assert_eq!(verdict(&d, &i(192, &[])), ALLOW, "mmap2");
        assert_eq!(verdict(&d, &i(310, &[])), E_PERM, "unshare");
        assert_eq!(verdict(&d, &i(21, &[])), E_PERM, "mount");
        assert_eq!(verdict(&d, &i(425, &[])), E_PERM, "io_uring_setup");
        assert_eq!(verdict(&d, &i(435, &[])), E_NOSYS, "clone3");
        let newuser = libc::CLONE_NEWUSER as u64;
        assert_eq!(verdict(&d, &i(120, &[newuser])), E_PERM, "clone NEWUSER");
        assert_eq!(verdict(&d, &i(120, &[0x11])), ALLOW, "clone SIGCHLD");
        assert_eq!(verdict(&d, &i(54, &[0, TIOCSTI])), E_PERM, "ioctl TIOCSTI");
        assert_eq!(verdict(&d, &i(54, &[0, 0x5413])), ALLOW, "ioctl TIOCGWINSZ");
        // A deny-list profile that lists SCMP_ARCH_X86 filters i386 by name.
        let p = oci(DENY_UNSHARE_X86);
        assert_eq!(verdict(&p, &i(310, &[])), E_PERM);
        assert_eq!(verdict(&p, &i(20, &[])), ALLOW);
        assert_eq!(
            verdict(&p, &i(272, &[])),
            ALLOW,
            "272 is not unshare on i386"
        );
        assert_eq!(verdict(&p, &call(X86_64, 272, &[])), E_PERM);
        // Without SCMP_ARCH_X86, i386 syscalls kill the process (as before).
        assert_eq!(verdict(&oci(DENY_UNSHARE), &i(20, &[])), KILL);
        // Argument conditions are 32-bit on i386: -1 as a 64-bit value still matches.
        let p = oci(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],"syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":22,"args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}"#,
        );
        let einval = libc::SECCOMP_RET_ERRNO | 22;
        assert_eq!(verdict(&p, &i(136, &[0xffff_ffff])), einval);
        assert_eq!(verdict(&p, &i(136, &[8])), ALLOW);
        assert_eq!(verdict(&p, &call(X86_64, 135, &[0xffff_ffff])), ALLOW);
        assert_eq!(verdict(&p, &call(X86_64, 135, &[u64::MAX])), einval);
        // Other architectures are killed by every profile.
        let aarch64 = 183 | 0x8000_0000 | 0x4000_0000;
        for progs in [d, p] {
            assert_eq!(verdict(&progs, &call(aarch64, 172, &[])), KILL);
        }
    }

    /// Every number of both tables gets what the default profile says for its name.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn default_profile_verdict_for_every_syscall() {
        let d = default_compiled().unwrap();
        for (arch, table, extra) in [
            (X86_64, syscall_table::X86_64, &[][..]),
            (I386, syscall_table::I386, ALLOWED_I386),
        ] {
            for (name, nr) in table {
                let want = match *name {
                    "clone3" => E_NOSYS,
                    "clone" | "ioctl" => ALLOW, // with arguments 0
                    n if ALLOWED.contains(&n) || extra.contains(&n) => ALLOW,
                    _ => E_PERM,
                };
                assert_eq!(verdict(&d, &call(arch, *nr, &[])), want, "{arch:#x} {name}");
            }
            for nr in [1000, 0x3fff_ffff] {
                assert_eq!(verdict(&d, &call(arch, nr, &[])), E_PERM, "{arch:#x} {nr}");
            }
        }
    }

    #[test]
    fn io_uring_is_not_in_the_default_profile() {
        let p = default_profile();
        for n in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            assert!(
                !p.rules.iter().any(|r| r.name == n),
                "{n} must not be allowed"
            );
        }
        if cfg!(target_arch = "x86_64") {
            let d = default_compiled().unwrap();
            for nr in [425, 426, 427] {
                assert_eq!(verdict(&d, &call(X86_64, nr, &[])), E_PERM, "{nr}");
            }
        }
    }

    #[test]
    fn tiocsti_and_tioclinux_are_denied_other_ioctls_allowed() {
        let p = default_profile();
        let ioctl: Vec<&Rule> = p.rules.iter().filter(|r| r.name == "ioctl").collect();
        assert_eq!(ioctl.len(), 1);
        let conds = &ioctl[0].conds;
        for req in [TIOCSTI, TIOCLINUX] {
            assert!(
                conds
                    .iter()
                    .any(|c| c.index == 1 && c.op == Op::Ne && c.value == req && c.dword),
                "{conds:?}"
            );
        }
        if cfg!(target_arch = "x86_64") {
            let d = default_compiled().unwrap();
            let ioctl = |req: u64| verdict(&d, &call(X86_64, 16, &[0, req]));
            assert_eq!(ioctl(0x5412), E_PERM);
            assert_eq!(ioctl(0x541C), E_PERM);
            // The kernel takes `unsigned int cmd`: the upper half does not matter.
            assert_eq!(ioctl(0xdead_0000_0000_5412), E_PERM);
            assert_eq!(ioctl(0x5413), ALLOW, "TIOCGWINSZ");
            assert_eq!(ioctl(0x5401), ALLOW, "TCGETS");
            assert_eq!(ioctl(0x1_0000_5413), ALLOW);
        }
    }

    #[test]
    fn docker_fields_and_unknown_keys_are_refused() {
        for (bad, field) in [
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}]}"#,
                "archMap",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
                "syscalls[1].includes",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["ptrace"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"4.8"}}]}"#,
                "syscalls[0].excludes",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrno":"EPERM"}"#,
                "defaultErrno",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO"}]}"#,
                "syscalls[0].name",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ","valueTwoo":2}]}]}"#,
                "valueTwoo",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_PDP11"]}"#,
                "SCMP_ARCH_PDP11",
            ),
        ] {
            let e = from_oci(bad)
                .err()
                .unwrap_or_else(|| panic!("accepted: {bad}"));
            assert!(e.to_string().contains(field), "{bad}: {e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
        // Comments, the OCI fields and architectures nucleus never sees are accepted.
        let p = from_oci(r#"{"comment":"x","defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64","SCMP_ARCH_ARM","SCMP_ARCH_MIPSEL64N32"],"listenerMetadata":"m","flags":[],"syscalls":[{"comment":"y","names":["read"],"action":"SCMP_ACT_ALLOW","args":[]}]}"#).unwrap();
        assert_eq!(p.default, Action::Errno(1));
    }

    #[test]
    fn syscall_tables_are_sorted_and_right() {
        for t in [syscall_table::X86_64, syscall_table::I386] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0), "sorted, unique");
        }
        let i386 = |n| lookup(syscall_table::I386, n);
        assert_eq!(i386("getpid"), Some(20));
        assert_eq!(i386("unshare"), Some(310));
        assert_eq!(i386("ioctl"), Some(54));
        assert_eq!(i386("clone"), Some(120));
        assert_eq!(i386("socketcall"), Some(102));
        assert_eq!(i386("io_uring_setup"), Some(425));
        assert_eq!(i386("mseal"), Some(462));
        assert_eq!(i386("newfstatat"), None);
        let x64 = |n| lookup(syscall_table::X86_64, n);
        assert_eq!(x64("getpid"), Some(39));
        assert_eq!(x64("unshare"), Some(272));
        assert_eq!(x64("mmap2"), None);
        for n in ALLOWED_I386 {
            assert!(i386(n).is_some(), "{n}");
        }
    }

    /// Our x86_64 table agrees with seccompiler's for every name seccompiler knows.
    #[test]
    fn syscall_tables_match_seccompiler() {
        use seccompiler::TargetArch;
        for (table, arch, least) in [
            (syscall_table::X86_64, TargetArch::x86_64, 370),
            (syscall_table::AARCH64, TargetArch::aarch64, 290),
        ] {
            let mut known = 0;
            for (name, nr) in table {
                let doc = serde_json::json!({ "t": { "mismatch_action": "allow", "match_action": { "errno": 1 }, "filter": [{ "syscall": name }] } });
                let Ok(map) = seccompiler::compile_from_json(doc.to_string().as_bytes(), arch)
                else {
                    continue;
                };
                assert_eq!(map["t"][4].k, *nr, "{arch:?} {name}");
                known += 1;
            }
            assert!(known >= least, "{arch:?}: {known}");
        }
    }

    #[test]
    fn default_profile_compiles_and_knows_its_names() {
        let p = default_profile();
        let names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
        for denied in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "reboot",
            "swapon",
            "swapoff",
            "ptrace",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "init_module",
            "finit_module",
            "kexec_load",
            "open_by_handle_at",
        ] {
            assert!(!names.contains(&denied), "{denied} must not be allowed");
        }
        let progs = default_compiled().unwrap();
        assert_eq!(
            progs.len(),
            3,
            "an allow-list filter, the clone3 ENOSYS filter and the guard"
        );
        if cfg!(target_arch = "x86_64") {
            let skipped = unknown_names(&default_profile());
            assert!(skipped.is_empty(), "unknown names on x86_64: {skipped:?}");
            let d = &progs;
            assert_eq!(verdict(d, &call(X86_64, 0, &[])), ALLOW, "read");
            assert_eq!(verdict(d, &call(X86_64, 165, &[])), E_PERM, "mount");
            assert_eq!(verdict(d, &call(X86_64, 435, &[])), E_NOSYS, "clone3");
            let newns = libc::CLONE_NEWNS as u64;
            assert_eq!(verdict(d, &call(X86_64, 56, &[newns])), E_PERM);
            assert_eq!(verdict(d, &call(X86_64, 56, &[0x11])), ALLOW);
        }
    }

    #[test]
    fn oci_profiles_translate_or_fail_clearly() {
        let p = from_oci(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#).unwrap();
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.rules[0].action, Action::Errno(13));
        let progs = compile(&p).unwrap();
        assert_eq!(unknown_names(&p), vec!["no_such_syscall".to_string()]);
        assert_eq!(
            progs.len(),
            2,
            "one ERRNO filter (the default is ALLOW), the guard"
        );
        if cfg!(target_arch = "x86_64") {
            let eacces = libc::SECCOMP_RET_ERRNO | 13;
            assert_eq!(verdict(&progs, &call(X86_64, 83, &[])), eacces);
        }
        for bad in [
            r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#,
            r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"x"}"#,
            r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"]}"#,
            "not json",
        ] {
            assert!(from_oci(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn advertised_names_are_what_the_parser_accepts() {
        let prof = |action: &str, op: &str, arch: &str| {
            from_oci(&format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/l","architectures":["{arch}"],"syscalls":[{{"names":["getpid"],"action":"{action}","args":[{{"index":0,"value":1,"op":"{op}"}}]}}]}}"#
            ))
        };
        let native = OCI_ARCHES[0];
        for a in OCI_ACTIONS {
            assert!(prof(a, "SCMP_CMP_EQ", native).is_ok(), "{a}");
        }
        for o in OCI_OPERATORS {
            assert!(prof("SCMP_ACT_ERRNO", o, native).is_ok(), "{o}");
        }
        for a in OCI_ARCHES {
            let both = format!("{native}\",\"{a}");
            assert!(prof("SCMP_ACT_ERRNO", "SCMP_CMP_EQ", &both).is_ok(), "{a}");
        }
        for a in ["SCMP_ACT_TRACE", "SCMP_ACT_NOPE"] {
            assert!(prof(a, "SCMP_CMP_EQ", native).is_err(), "{a}");
        }
        assert!(prof("SCMP_ACT_ERRNO", "SCMP_CMP_NOPE", native).is_err());
        let flagged = r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#;
        assert!(OCI_FLAGS.is_empty() && from_oci(flagged).is_err());
        let e = from_oci(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("SCMP_ACT_NOTIFY needs listenerPath"), "{e}");
        // Notify rules come out as USER_NOTIF, in one program, and nothing else does.
        let p = from_oci(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","listenerPath":"/l","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_NOTIFY"},{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let progs = compile(&p).unwrap();
        assert_eq!(progs.iter().filter(|p| notifies(p)).count(), 1);
        let standin = libc::SECCOMP_RET_TRACE | NOTIFY_STANDIN;
        assert!(progs
            .iter()
            .flatten()
            .all(|i| i.code != RET_K || i.k != standin));
    }
}
