//! A seccomp profile as nucleus applies it: typed, pure data. OCI profiles (linux.seccomp,
//! parsed by oci-spec; `--seccomp-profile` files, parsed the same way) become a
//! [`Profile`]; linux::seccomp compiles a `Profile` to BPF with seccompiler's typed API.
//! No JSON is carried past this module.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg, LinuxSeccompOperator as O,
};
use serde_json::Value;
use std::path::PathBuf;

/// A profile nucleus cannot apply, with what to change.
#[derive(Debug, thiserror::Error)]
#[error("seccomp profile: {0}")]
pub struct ProfileError(pub String);

fn refuse(why: impl Into<String>) -> ProfileError {
    ProfileError(why.into())
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Log,
    /// SECCOMP_RET_USER_NOTIF: the syscall waits for the listener (SCMP_ACT_NOTIFY).
    Notify,
}

/// How an argument is compared with a condition's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `arg & mask == value`.
    MaskedEq,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    /// For [`Op::MaskedEq`].
    pub mask: u64,
    pub value: u64,
    /// Compare only the low 32 bits (the kernel takes the argument as a 32-bit type, e.g.
    /// ioctl's `unsigned int cmd`). i386 conditions are always 32-bit.
    pub dword: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub action: Action,
    /// All must hold (AND); an empty list matches always.
    pub conds: Vec<Cond>,
}

/// Where the notification descriptor of SCMP_ACT_NOTIFY rules goes (listenerPath), and
/// what is sent with it (listenerMetadata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub path: PathBuf,
    pub metadata: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub default: Action,
    pub rules: Vec<Rule>,
    /// The rules apply to i386 syscalls too (SCMP_ARCH_X86 listed; x86_64 hosts only).
    /// Otherwise an i386 syscall kills the process.
    pub i386: bool,
    pub listener: Option<Listener>,
}

const EPERM: u32 = libc::EPERM as u32;

// ---- What `features` advertises (issue #14): exactly what `from_spec` accepts; the
// unit test `advertised_names_are_what_the_parser_accepts` keeps them equal ----

/// Actions an OCI profile may use.
pub const OCI_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// Argument comparisons an OCI profile may use.
pub const OCI_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

/// Architectures whose syscalls nucleus filters (others libseccomp knows are accepted in
/// a profile and never match here).
pub const OCI_ARCHES: &[&str] = if cfg!(target_arch = "x86_64") {
    &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
} else {
    &["SCMP_ARCH_AARCH64"]
};

/// Profile flags (SECCOMP_FILTER_FLAG_*) nucleus honours: none yet, and a profile naming
/// one is refused.
pub const OCI_FLAGS: &[&str] = &[];

/// An enum value as a profile spells it (serde's name).
fn spelled<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn action_of(a: A, errno: Option<u32>) -> Result<Action, ProfileError> {
    Ok(match a {
        A::ScmpActAllow => Action::Allow,
        A::ScmpActErrno => Action::Errno(errno.unwrap_or(EPERM)),
        A::ScmpActKill | A::ScmpActKillThread => Action::KillThread,
        A::ScmpActKillProcess => Action::KillProcess,
        A::ScmpActTrap => Action::Trap,
        A::ScmpActLog => Action::Log,
        A::ScmpActNotify => Action::Notify,
        A::ScmpActTrace => {
            return Err(refuse(format!(
                "action {} is not supported by nucleus",
                spelled(&a)
            )))
        }
    })
}

fn cond_of(a: &LinuxSeccompArg) -> Result<Cond, ProfileError> {
    let (op, mask, value) = match a.op() {
        O::ScmpCmpEq => (Op::Eq, 0, a.value()),
        O::ScmpCmpNe => (Op::Ne, 0, a.value()),
        O::ScmpCmpLt => (Op::Lt, 0, a.value()),
        O::ScmpCmpLe => (Op::Le, 0, a.value()),
        O::ScmpCmpGt => (Op::Gt, 0, a.value()),
        O::ScmpCmpGe => (Op::Ge, 0, a.value()),
        O::ScmpCmpMaskedEq => (Op::MaskedEq, a.value(), a.value_two().unwrap_or(0)),
    };
    let index = u8::try_from(a.index())
        .ok()
        .filter(|i| *i <= 5)
        .ok_or_else(|| refuse(format!("argument index {} is above 5", a.index())))?;
    Ok(Cond {
        index,
        op,
        mask,
        value,
        dword: false,
    })
}

/// Whether the profile's architectures include this machine's (none listed: yes), and
/// whether they list i386 (filtered for on x86_64 only). x32 is always denied and the
/// others are never this process's architecture: accepted and ignored.
fn arches_of(arches: &[Arch]) -> Result<bool, ProfileError> {
    let x86_64 = cfg!(target_arch = "x86_64");
    let native = if x86_64 {
        Arch::ScmpArchX86_64
    } else {
        Arch::ScmpArchAarch64
    };
    let has_native = arches.is_empty()
        || arches
            .iter()
            .any(|a| *a == native || *a == Arch::ScmpArchNative);
    if !has_native {
        let names: Vec<String> = arches.iter().map(spelled).collect();
        return Err(refuse(format!(
            "architectures {names:?} do not include {}",
            spelled(&native)
        )));
    }
    Ok(x86_64 && arches.contains(&Arch::ScmpArchX86))
}

/// The listener of a profile: listenerPath must be absolute, and SCMP_ACT_NOTIFY needs one.
fn listener_of(s: &LinuxSeccomp) -> Result<Option<Listener>, ProfileError> {
    if let Some(p) = s.listener_path().as_ref().filter(|p| !p.is_absolute()) {
        return Err(refuse(format!(
            "listenerPath '{}' must be an absolute path (the listener's unix socket)",
            p.display()
        )));
    }
    let notifies = s.default_action() == A::ScmpActNotify
        || s.syscalls()
            .iter()
            .flatten()
            .any(|r| r.action() == A::ScmpActNotify);
    if notifies && s.listener_path().is_none() {
        return Err(refuse(
            "SCMP_ACT_NOTIFY needs listenerPath: the unix socket the notification \
             descriptor is sent to",
        ));
    }
    Ok(s.listener_path().as_ref().map(|p| Listener {
        path: p.clone(),
        metadata: s.listener_metadata().clone().unwrap_or_default(),
    }))
}

/// Translates a parsed OCI profile.
pub fn from_spec(s: &LinuxSeccomp) -> Result<Profile, ProfileError> {
    if let Some(f) = s.flags().iter().flatten().next() {
        return Err(refuse(format!("flag {} is not supported", spelled(f))));
    }
    let i386 = arches_of(s.architectures().as_deref().unwrap_or_default())?;
    let default = action_of(s.default_action(), s.default_errno_ret())?;
    let listener = listener_of(s)?;
    let mut rules = Vec::new();
    for r in s.syscalls().iter().flatten() {
        let action = action_of(r.action(), r.errno_ret())?;
        let conds = r
            .args()
            .iter()
            .flatten()
            .map(cond_of)
            .collect::<Result<Vec<_>, _>>()?;
        rules.extend(r.names().iter().map(|n| Rule {
            name: n.clone(),
            action: action.clone(),
            conds: conds.clone(),
        }));
    }
    Ok(Profile {
        default,
        rules,
        i386,
        listener,
    })
}

/// Parses and translates an OCI `linux.seccomp` document (a `--seccomp-profile` file, a
/// policy's profile): its keys and names are checked first, so that Docker's fields or a
/// typo are refused by name rather than dropped.
pub fn parse(text: &str) -> Result<Profile, ProfileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| refuse(e.to_string()))?;
    check_keys(&doc)?;
    check_names(&doc)?;
    let s: LinuxSeccomp = serde_json::from_value(doc).map_err(|e| refuse(e.to_string()))?;
    from_spec(&s)
}

/// Whether `name` is a value of the enum `T` as profiles spell it.
fn known<T: serde::de::DeserializeOwned>(name: &Value) -> bool {
    serde_json::from_value::<T>(name.clone()).is_ok()
}

/// Names oci-spec's enums do not know, refused with what they are (action, operator,
/// architecture) rather than as a parse error.
fn check_names(doc: &Value) -> Result<(), ProfileError> {
    let quoted = |v: &Value| v.as_str().map_or_else(|| v.to_string(), String::from);
    let syscalls = doc.get("syscalls").and_then(Value::as_array);
    let actions = doc.get("defaultAction").into_iter().chain(
        syscalls
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("action")),
    );
    for a in actions {
        if !known::<A>(a) {
            return Err(refuse(format!("unknown action '{}'", quoted(a))));
        }
    }
    let args = syscalls
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("args").and_then(Value::as_array))
        .flatten();
    for op in args.filter_map(|a| a.get("op")) {
        if !known::<O>(op) {
            return Err(refuse(format!("unknown operator '{}'", quoted(op))));
        }
    }
    let arches = doc.get("architectures").and_then(Value::as_array);
    if let Some(a) = arches.into_iter().flatten().find(|a| !known::<Arch>(a)) {
        return Err(refuse(format!(
            "unknown architecture '{}' in 'architectures': use libseccomp's names, e.g. \
             SCMP_ARCH_X86_64",
            quoted(a)
        )));
    }
    Ok(())
}

/// Refuses the fields of Docker's profile format (which would otherwise be dropped and the
/// profile silently widened) and any other key the OCI runtime spec does not define, each
/// with the field's name and what to do instead.
fn check_keys(doc: &Value) -> Result<(), ProfileError> {
    let Some(top) = doc.as_object() else {
        return Err(ProfileError("expected a JSON object".into()));
    };
    const TOP: &[&str] = &[
        "defaultAction",
        "defaultErrnoRet",
        "architectures",
        "syscalls",
        "flags",
        "listenerPath",
        "listenerMetadata",
        "comment",
    ];
    for k in top.keys() {
        match k.as_str() {
            k if TOP.contains(&k) => {}
            "archMap" => {
                return Err(ProfileError(
                    "field 'archMap' (Docker's profile format) is not supported: list the \
                     architectures in 'architectures' instead, e.g. \
                     [\"SCMP_ARCH_X86_64\",\"SCMP_ARCH_X86\"]"
                        .into(),
                ))
            }
            other => {
                return Err(ProfileError(format!(
                    "unknown field '{other}' (not in the OCI runtime spec): remove it"
                )))
            }
        }
    }
    const SYSCALL: &[&str] = &["names", "action", "errnoRet", "args", "comment"];
    let syscalls = top.get("syscalls").and_then(Value::as_array);
    for (i, s) in syscalls.into_iter().flatten().enumerate() {
        for k in s.as_object().into_iter().flat_map(|o| o.keys()) {
            match k.as_str() {
                k if SYSCALL.contains(&k) => {}
                "includes" | "excludes" => {
                    return Err(ProfileError(format!(
                        "field 'syscalls[{i}].{k}' (Docker's conditional rules) is not \
                         supported; nucleus would apply the rule unconditionally: resolve \
                         the conditions for this container and remove the field (or use the \
                         OCI profile Docker writes into config.json)"
                    )))
                }
                other => {
                    return Err(ProfileError(format!(
                        "unknown field 'syscalls[{i}].{other}' (not in the OCI runtime spec): \
                         remove it"
                    )))
                }
            }
        }
    }
    const ARG: &[&str] = &["index", "value", "valueTwo", "op"];
    for (i, s) in syscalls.into_iter().flatten().enumerate() {
        let args = s.get("args").and_then(Value::as_array);
        for (j, a) in args.into_iter().flatten().enumerate() {
            let mut keys = a.as_object().into_iter().flat_map(|o| o.keys());
            if let Some(k) = keys.find(|k| !ARG.contains(&k.as_str())) {
                return Err(ProfileError(format!(
                    "unknown field 'syscalls[{i}].args[{j}].{k}' (not in the OCI runtime \
                     spec): remove it"
                )));
            }
        }
    }
    Ok(())
}
