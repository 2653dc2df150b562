//! seccomp: the default profile and OCI profiles, compiled to BPF with seccompiler.
//!
//! A profile is a default action plus syscall rules, each with its own action. seccompiler
//! builds filters with one match action, so a profile becomes one filter per action:
//! - for each action A other than the default: rules of A → A, anything else → ALLOW;
//! - the default filter: any rule of any action → ALLOW, anything else → the default.
//!
//! The kernel runs every installed filter and keeps the most severe result, so a syscall
//! gets its rule's action when a rule matches and the default action otherwise.

use serde::Deserialize;
use serde_json::{json, Value};
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

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
}

impl Action {
    fn json(&self) -> Value {
        match self {
            Action::Allow => json!("allow"),
            Action::Errno(e) => json!({ "errno": e }),
            Action::KillThread => json!("kill_thread"),
            Action::KillProcess => json!("kill_process"),
            Action::Trap => json!("trap"),
            Action::Log => json!("log"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    /// "eq", "ne", "lt", "le", "gt", "ge" or "masked_eq"
    pub op: &'static str,
    pub mask: u64,
    pub value: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    /// All must hold (AND); an empty list matches always.
    pub conds: Vec<Cond>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    pub rules: Vec<Rule>,
}

const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

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
/// clock/time setting, accounting, quotactl, userfaultfd and obsolete calls.
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
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
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

/// The built-in profile: the allowlist, clone without namespace flags, clone3 answered
/// with ENOSYS (so libc falls back to clone, whose flags can be checked), EPERM for the rest.
pub fn default_profile() -> Profile {
    let mut rules: Vec<Rule> = ALLOWED
        .iter()
        .map(|n| Rule {
            name: n.to_string(),
            action: Action::Allow,
            conds: vec![],
        })
        .collect();
    rules.push(Rule {
        name: "clone".into(),
        action: Action::Allow,
        conds: vec![Cond {
            index: 0,
            op: "masked_eq",
            mask: CLONE_NEW_MASK,
            value: 0,
        }],
    });
    rules.push(Rule {
        name: "clone3".into(),
        action: Action::Errno(ENOSYS),
        conds: vec![],
    });
    Profile {
        default: Action::Errno(EPERM),
        rules,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciSeccomp {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    syscalls: Vec<OciSyscall>,
    #[serde(default)]
    flags: Vec<String>,
    listener_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciSyscall {
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<OciArg>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciArg {
    index: u8,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

fn oci_action(a: &str, errno: Option<u32>) -> Result<Action, Error> {
    Ok(match a {
        "SCMP_ACT_ALLOW" => Action::Allow,
        "SCMP_ACT_ERRNO" => Action::Errno(errno.unwrap_or(EPERM)),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
        "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
        "SCMP_ACT_TRAP" => Action::Trap,
        "SCMP_ACT_LOG" => Action::Log,
        "SCMP_ACT_NOTIFY" | "SCMP_ACT_TRACE" => {
            return Err(Error::Profile(format!(
                "action {a} is not supported by nucleus"
            )))
        }
        other => return Err(Error::Profile(format!("unknown action '{other}'"))),
    })
}

/// Translates an OCI `linux.seccomp` document.
pub fn from_oci(text: &str) -> Result<Profile, Error> {
    let o: OciSeccomp = serde_json::from_str(text).map_err(|e| Error::Profile(e.to_string()))?;
    if o.listener_path.is_some() {
        return Err(Error::Profile(
            "listenerPath (seccomp notify) is not supported".into(),
        ));
    }
    if let Some(f) = o.flags.first() {
        return Err(Error::Profile(format!("flag {f} is not supported")));
    }
    let native = if cfg!(target_arch = "x86_64") {
        "SCMP_ARCH_X86_64"
    } else {
        "SCMP_ARCH_AARCH64"
    };
    if !o.architectures.is_empty() && !o.architectures.iter().any(|a| a == native) {
        return Err(Error::Profile(format!(
            "architectures {:?} do not include {native}",
            o.architectures
        )));
    }
    let default = oci_action(&o.default_action, o.default_errno_ret)?;
    let mut rules = Vec::new();
    for s in &o.syscalls {
        let action = oci_action(&s.action, s.errno_ret)?;
        let mut conds = Vec::new();
        for a in &s.args {
            let (op, mask, value) = match a.op.as_str() {
                "SCMP_CMP_EQ" => ("eq", 0, a.value),
                "SCMP_CMP_NE" => ("ne", 0, a.value),
                "SCMP_CMP_LT" => ("lt", 0, a.value),
                "SCMP_CMP_LE" => ("le", 0, a.value),
                "SCMP_CMP_GT" => ("gt", 0, a.value),
                "SCMP_CMP_GE" => ("ge", 0, a.value),
                "SCMP_CMP_MASKED_EQ" => ("masked_eq", a.value, a.value_two),
                other => return Err(Error::Profile(format!("unknown operator '{other}'"))),
            };
            if a.index > 5 {
                return Err(Error::Profile(format!(
                    "argument index {} is above 5",
                    a.index
                )));
            }
            conds.push(Cond {
                index: a.index,
                op,
                mask,
                value,
            });
        }
        for n in &s.names {
            rules.push(Rule {
                name: n.clone(),
                action: action.clone(),
                conds: conds.clone(),
            });
        }
    }
    Ok(Profile { default, rules })
}

fn arch() -> seccompiler::TargetArch {
    if cfg!(target_arch = "aarch64") {
        seccompiler::TargetArch::aarch64
    } else {
        seccompiler::TargetArch::x86_64
    }
}

fn rule_json(r: &Rule) -> Value {
    let args: Vec<Value> = r
        .conds
        .iter()
        .map(|c| {
            let op = if c.op == "masked_eq" {
                json!({ "masked_eq": c.mask })
            } else {
                json!(c.op)
            };
            json!({ "index": c.index, "type": "qword", "op": op, "val": c.value })
        })
        .collect();
    if args.is_empty() {
        json!({ "syscall": r.name })
    } else {
        json!({ "syscall": r.name, "args": args })
    }
}

/// Compiles a profile into the BPF programs to install, in order. Syscall names this
/// architecture does not have are skipped, as libseccomp does, and returned.
pub fn compile(p: &Profile) -> Result<(Vec<seccompiler::BpfProgram>, Vec<String>), Error> {
    let first = match compile_all(p) {
        Ok(progs) => return Ok((progs, vec![])),
        Err(msg) => msg,
    };
    // seccompiler stops at the first unknown name: check each name once, on its own, and
    // compile again without the unknown ones (a multi-arch profile names many).
    if !first.contains("Invalid syscall name: ") {
        return Err(Error::Compile(first));
    }
    let mut names: Vec<&str> = p.rules.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    names.dedup();
    let skipped: Vec<String> = names
        .into_iter()
        .filter(|n| !known(n))
        .map(String::from)
        .collect();
    let mut kept = p.clone();
    kept.rules.retain(|r| !skipped.contains(&r.name));
    compile_all(&kept)
        .map(|progs| (progs, skipped))
        .map_err(Error::Compile)
}

/// Whether this architecture has a syscall called `name`.
fn known(name: &str) -> bool {
    let doc = json!({ "t": { "mismatch_action": "allow", "match_action": { "errno": 1 }, "filter": [{ "syscall": name }] } });
    seccompiler::compile_from_json(doc.to_string().as_bytes(), arch()).is_ok()
}

fn compile_all(p: &Profile) -> Result<Vec<seccompiler::BpfProgram>, String> {
    let mut groups: BTreeMap<Action, Vec<&Rule>> = BTreeMap::new();
    for r in &p.rules {
        groups.entry(r.action.clone()).or_default().push(r);
    }
    let mut doc = serde_json::Map::new();
    // The default filter: everything a rule with another action names (with its conditions)
    // is allowed here; rules whose action is the default need no filter at all.
    let all: Vec<Value> = p
        .rules
        .iter()
        .filter(|r| r.action != p.default)
        .map(rule_json)
        .collect();
    if all.is_empty() || p.default == Action::Allow {
        if p.default != Action::Allow {
            doc.insert("f0".into(), json!({ "mismatch_action": p.default.json(), "match_action": "allow", "filter": [{ "syscall": "exit_group" }] }));
        }
    } else {
        doc.insert(
            "f0".into(),
            json!({ "mismatch_action": p.default.json(), "match_action": "allow", "filter": all }),
        );
    }
    for (i, (action, rules)) in groups.iter().enumerate() {
        if *action == Action::Allow || *action == p.default {
            continue;
        }
        let filter: Vec<Value> = rules.iter().map(|r| rule_json(r)).collect();
        doc.insert(
            format!("f{}", i + 1),
            json!({ "mismatch_action": "allow", "match_action": action.json(), "filter": filter }),
        );
    }
    let text = Value::Object(doc).to_string();
    let mut map =
        seccompiler::compile_from_json(text.as_bytes(), arch()).map_err(|e| e.to_string())?;
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    Ok(keys.iter().filter_map(|k| map.remove(k)).collect())
}

/// The default profile, compiled (names this architecture lacks are left out).
pub fn default_compiled() -> Result<Vec<seccompiler::BpfProgram>, Error> {
    Ok(compile(&default_profile())?.0)
}

/// Installs the programs on the calling thread. Needs no_new_privs or CAP_SYS_ADMIN; unlike
/// seccompiler's own loader it does not set no_new_privs (that is the caller's decision).
pub fn load(progs: &[seccompiler::BpfProgram]) -> Result<(), Error> {
    for p in progs {
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
                0,
                &prog as *const libc::sock_fprog,
            )
        };
        if r != 0 {
            return Err(Error::Load(nix::errno::Errno::last().to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
            2,
            "an allow-list filter and the clone3 ENOSYS filter"
        );
        if cfg!(target_arch = "x86_64") {
            let (_, skipped) = compile(&default_profile()).unwrap();
            assert!(skipped.is_empty(), "unknown names on x86_64: {skipped:?}");
        }
    }

    #[test]
    fn oci_profiles_translate_or_fail_clearly() {
        let p = from_oci(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["mkdir","no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
            {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#).unwrap();
        assert_eq!(p.rules.len(), 3);
        assert_eq!(p.rules[0].action, Action::Errno(13));
        let (progs, skipped) = compile(&p).unwrap();
        assert_eq!(skipped, vec!["no_such_syscall".to_string()]);
        assert_eq!(progs.len(), 1, "one ERRNO filter; the default is ALLOW");
        for bad in [
            r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x"}"#,
            r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#,
            "not json",
        ] {
            assert!(from_oci(bad).is_err(), "{bad}");
        }
    }
}
