//! Production mode: which protections of a sandbox are degraded on this machine. Pure: the
//! input is the built `Config`, what the policy asked for and facts about the machine; the
//! output is the list of degradations. Production mode refuses to start when the list is
//! not empty; agent mode (the default) warns once.
//!
//! A capability the policy drops but that is still present after apply is not in this
//! list because it is never tolerated, in either mode: `linux::capset::apply` reads all
//! five sets back from the kernel after applying them and fails closed on any difference
//! (`verify`, called by the container's init before no_new_privs, seccomp and execve).

use super::config::{Config, Seccomp};
use crate::caps::Capability;

// One list of dangerous capabilities for production mode, `policy check`, `nucleus audit`
// and the README.
pub use crate::caps::danger::{dangerous_set, DANGEROUS};

/// What the machine offers, found by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Facts {
    /// The Landlock ABI version the kernel supports (0: none).
    pub landlock_abi: u32,
    /// The kernel can filter syscalls (seccomp mode 2).
    pub seccomp: bool,
    /// nucleus runs as root.
    pub root: bool,
    /// A user namespace can be created here (max_user_namespaces > 0).
    pub userns: bool,
}

/// What the sandbox will be, besides its `Config`.
#[derive(Clone, Debug, Default)]
pub struct Asked {
    /// A policy file was given, and whether it was pinned (`--policy-sha256`).
    pub policy: Option<bool>,
    /// Referenced files without a pin (policy key or flag, path).
    pub unpinned: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Degradation {
    LandlockUnavailable,
    /// The kernel's ABI cannot enforce these handled rights.
    LandlockAbiTooLow {
        have: u32,
        missing: Vec<String>,
    },
    SeccompUnavailable,
    SeccompUnconfined,
    NewPrivsAllowed,
    DangerousCap(Capability),
    UnpinnedPolicy,
    UnpinnedFile {
        what: String,
        path: String,
    },
    WritableRoot,
    NoMemoryLimit,
    NoPidsLimit,
    HostNetwork,
    RootfulWithoutUserns,
}

impl Degradation {
    /// A short, stable name (`--json`, tests).
    pub fn id(&self) -> &'static str {
        match self {
            Degradation::LandlockUnavailable => "landlock-unavailable",
            Degradation::LandlockAbiTooLow { .. } => "landlock-abi-too-low",
            Degradation::SeccompUnavailable => "seccomp-unavailable",
            Degradation::SeccompUnconfined => "seccomp-unconfined",
            Degradation::NewPrivsAllowed => "new-privs-allowed",
            Degradation::DangerousCap(_) => "dangerous-capability",
            Degradation::UnpinnedPolicy => "unpinned-policy",
            Degradation::UnpinnedFile { .. } => "unpinned-file",
            Degradation::WritableRoot => "writable-root",
            Degradation::NoMemoryLimit => "no-memory-limit",
            Degradation::NoPidsLimit => "no-pids-limit",
            Degradation::HostNetwork => "host-network",
            Degradation::RootfulWithoutUserns => "rootful-without-userns",
        }
    }
}

impl std::fmt::Display for Degradation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Degradation::LandlockUnavailable => write!(
                f,
                "Landlock is unavailable on this kernel (the rules would not be enforced)"
            ),
            Degradation::LandlockAbiTooLow { have, missing } => write!(
                f,
                "Landlock ABI {have} cannot enforce {}",
                missing.join(", ")
            ),
            Degradation::SeccompUnavailable => write!(f, "seccomp is unavailable on this kernel"),
            Degradation::SeccompUnconfined => write!(f, "seccomp is unconfined"),
            Degradation::NewPrivsAllowed => write!(
                f,
                "no_new_privs is off (set-uid binaries and file capabilities work)"
            ),
            Degradation::DangerousCap(c) => {
                let why = DANGEROUS
                    .iter()
                    .find(|(n, _)| *n == c.short_name())
                    .map_or("", |(_, w)| w);
                write!(
                    f,
                    "dangerous capability {} retained ({why})",
                    c.short_name()
                )
            }
            Degradation::UnpinnedPolicy => {
                write!(f, "the policy file is not pinned (--policy-sha256)")
            }
            Degradation::UnpinnedFile { what, path } => {
                write!(f, "{what} {path} is not pinned (sha256)")
            }
            Degradation::WritableRoot => write!(f, "the root filesystem is writable"),
            Degradation::NoMemoryLimit => write!(f, "no memory limit"),
            Degradation::NoPidsLimit => write!(f, "no pids limit"),
            Degradation::HostNetwork => write!(f, "the host's network is shared"),
            Degradation::RootfulWithoutUserns => write!(
                f,
                "runs as real root without a user namespace (one is available)"
            ),
        }
    }
}

/// Every degraded protection of `cfg` on a machine with `facts`, in a fixed order.
pub fn degradations(cfg: &Config, asked: &Asked, facts: &Facts) -> Vec<Degradation> {
    let mut out = vec![];
    if let Some(ll) = &cfg.landlock {
        let abi = u8::try_from(facts.landlock_abi).unwrap_or(u8::MAX);
        let missing = ll.gap(abi);
        if abi == 0 {
            out.push(Degradation::LandlockUnavailable);
        } else if !missing.is_empty() {
            out.push(Degradation::LandlockAbiTooLow {
                have: facts.landlock_abi,
                missing: missing.into_iter().map(String::from).collect(),
            });
        }
    }
    match cfg.seccomp {
        Seccomp::Unconfined => out.push(Degradation::SeccompUnconfined),
        _ if !facts.seccomp => out.push(Degradation::SeccompUnavailable),
        _ => {}
    }
    if !cfg.no_new_privs {
        out.push(Degradation::NewPrivsAllowed);
    }
    // Whatever the process could hold or regain: bounding limits exec, permitted and
    // ambient are held.
    let held = cfg.caps.bounding | cfg.caps.permitted | cfg.caps.ambient;
    for c in (held & dangerous_set()).iter() {
        out.push(Degradation::DangerousCap(c));
    }
    if asked.policy == Some(false) {
        out.push(Degradation::UnpinnedPolicy);
    }
    for (what, path) in &asked.unpinned {
        out.push(Degradation::UnpinnedFile {
            what: what.clone(),
            path: path.clone(),
        });
    }
    if !cfg.readonly_root {
        out.push(Degradation::WritableRoot);
    }
    if cfg.resources.memory.is_none() {
        out.push(Degradation::NoMemoryLimit);
    }
    if cfg.resources.pids.is_none() {
        out.push(Degradation::NoPidsLimit);
    }
    if !cfg.namespaces.net && cfg.joins(libc::CLONE_NEWNET).is_none() {
        out.push(Degradation::HostNetwork);
    }
    if facts.root
        && facts.userns
        && !cfg.namespaces.user
        && cfg.joins(libc::CLONE_NEWUSER).is_none()
    {
        out.push(Degradation::RootfulWithoutUserns);
    }
    out
}

/// What to do about each degradation (for hints).
pub fn fix(d: &Degradation) -> &'static str {
    match d {
        Degradation::LandlockUnavailable | Degradation::LandlockAbiTooLow { .. } => {
            "use a kernel whose Landlock ABI enforces every right asked (ABI 4, Linux 6.7, for \
             ports), or drop the rules"
        }
        Degradation::SeccompUnavailable => "use a kernel built with CONFIG_SECCOMP_FILTER",
        Degradation::SeccompUnconfined => "use [seccomp] mode = \"default\" or a pinned profile",
        Degradation::NewPrivsAllowed => "remove --allow-new-privs / process.no_new_privs = false",
        Degradation::DangerousCap(_) => "drop it from [caps] (see the dangerous list)",
        Degradation::UnpinnedPolicy => "pass --policy-sha256 $(sha256sum FILE)",
        Degradation::UnpinnedFile { .. } => "add its sha256 next to it in the policy",
        Degradation::WritableRoot => "set [mounts] read_only = true (or --read-only)",
        Degradation::NoMemoryLimit => "set [limits] memory (or --memory)",
        Degradation::NoPidsLimit => "set [limits] pids (or --pids)",
        Degradation::HostNetwork => "use [network] mode = \"loopback\"",
        Degradation::RootfulWithoutUserns => "set [user] userns = true (or --userns)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::sandbox::{build, SandboxOptions};

    const GOOD: Facts = Facts {
        landlock_abi: 6,
        seccomp: true,
        root: true,
        userns: true,
    };

    /// A sandbox with no degradation: read-only root, limits, a user namespace.
    fn good() -> Config {
        let mut c = build(&SandboxOptions {
            args: vec!["true".into()],
            read_only: true,
            memory: Some("64m".into()),
            pids: Some(64),
            ..Default::default()
        })
        .unwrap();
        c.namespaces.user = true;
        c
    }

    fn ids(cfg: &Config, asked: &Asked, facts: &Facts) -> Vec<&'static str> {
        degradations(cfg, asked, facts)
            .iter()
            .map(Degradation::id)
            .collect()
    }

    #[test]
    fn a_tight_sandbox_has_none() {
        assert!(ids(&good(), &Asked::default(), &GOOD).is_empty());
        // Pinned policy, Landlock the kernel enforces fully: still none.
        let mut c = good();
        c.landlock = build(&SandboxOptions {
            args: vec!["true".into()],
            landlock_ro: vec!["/usr".into()],
            ..Default::default()
        })
        .unwrap()
        .landlock;
        let asked = Asked {
            policy: Some(true),
            unpinned: vec![],
        };
        assert!(ids(&c, &asked, &GOOD).is_empty());
    }

    #[test]
    fn landlock_unavailable_or_too_old() {
        let with = |o: SandboxOptions| {
            let mut c = good();
            c.landlock = build(&SandboxOptions {
                args: vec!["true".into()],
                ..o
            })
            .unwrap()
            .landlock;
            c
        };
        let fs = with(SandboxOptions {
            landlock_rw: vec!["/tmp".into()],
            ..Default::default()
        });
        let net = with(SandboxOptions {
            landlock_connect: vec![443],
            ..Default::default()
        });
        let abi = |landlock_abi| Facts {
            landlock_abi,
            ..GOOD
        };
        let none = Asked::default();
        assert_eq!(ids(&fs, &none, &abi(0)), ["landlock-unavailable"]);
        assert_eq!(ids(&net, &none, &abi(0)), ["landlock-unavailable"]);
        // ABI 3 lacks the network rights (4) and newer filesystem ones (ioctl_dev, 5).
        let d = degradations(&net, &none, &abi(3));
        assert_eq!(d.len(), 1);
        let Degradation::LandlockAbiTooLow { have: 3, missing } = &d[0] else {
            panic!("{d:?}")
        };
        assert!(missing.iter().any(|m| m.contains("connect")), "{missing:?}");
        assert_eq!(ids(&fs, &none, &abi(3)), ["landlock-abi-too-low"]);
        assert!(ids(&fs, &none, &abi(7)).is_empty());
        // No rules asked: no Landlock needed.
        assert!(ids(&good(), &none, &abi(0)).is_empty());
    }

    #[test]
    fn seccomp_unavailable_or_unconfined() {
        let no = Facts {
            seccomp: false,
            ..GOOD
        };
        assert_eq!(
            ids(&good(), &Asked::default(), &no),
            ["seccomp-unavailable"]
        );
        let mut c = good();
        c.seccomp = Seccomp::Unconfined;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["seccomp-unconfined"]);
    }

    #[test]
    fn new_privs() {
        let mut c = good();
        c.no_new_privs = false;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["new-privs-allowed"]);
    }

    #[test]
    fn every_dangerous_capability_is_named() {
        assert_eq!(dangerous_set().len(), DANGEROUS.len());
        for (name, _) in DANGEROUS {
            let mut c = good();
            let cap = Capability::parse(name).unwrap();
            c.caps.bounding.insert(cap);
            let d = degradations(&c, &Asked::default(), &GOOD);
            assert_eq!(d, [Degradation::DangerousCap(cap)], "{name}");
            assert!(d[0].to_string().contains(name), "{}", d[0]);
        }
        // A harmless one is fine.
        let mut c = good();
        c.caps
            .bounding
            .insert(Capability::parse("net_bind_service").unwrap());
        assert!(ids(&c, &Asked::default(), &GOOD).is_empty());
    }

    #[test]
    fn unpinned_policy_and_files() {
        let asked = Asked {
            policy: Some(false),
            unpinned: vec![("seccomp profile".into(), "/p/s.json".into())],
        };
        let d = degradations(&good(), &asked, &GOOD);
        assert_eq!(
            d.iter().map(Degradation::id).collect::<Vec<_>>(),
            ["unpinned-policy", "unpinned-file"]
        );
        assert!(d[1].to_string().contains("/p/s.json"));
    }

    #[test]
    fn writable_root_limits_network_userns() {
        let mut c = good();
        c.readonly_root = false;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["writable-root"]);
        let mut c = good();
        c.resources.memory = None;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["no-memory-limit"]);
        let mut c = good();
        c.resources.pids = None;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["no-pids-limit"]);
        let mut c = good();
        c.namespaces.net = false;
        assert_eq!(ids(&c, &Asked::default(), &GOOD), ["host-network"]);
        let mut c = good();
        c.namespaces.user = false;
        assert_eq!(
            ids(&c, &Asked::default(), &GOOD),
            ["rootful-without-userns"]
        );
        // Not root, or no user namespaces on this machine: nothing better to do.
        for f in [
            Facts {
                root: false,
                ..GOOD
            },
            Facts {
                userns: false,
                ..GOOD
            },
        ] {
            assert!(ids(&c, &Asked::default(), &f).is_empty());
        }
    }

    #[test]
    fn the_default_sandbox_lists_its_degradations() {
        let c = build(&SandboxOptions {
            args: vec!["true".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ids(&c, &Asked::default(), &GOOD),
            [
                "writable-root",
                "no-memory-limit",
                "no-pids-limit",
                "rootful-without-userns"
            ]
        );
    }
}
