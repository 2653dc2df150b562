//! Landlock (the `landlock` crate): the kernel ABI and what it can enforce (read in the
//! runtime before anything is created), and the domain itself, entered by the container's
//! init as its last step before seccomp.
//!
//! Rules name paths inside the container: the init opens each one O_PATH after pivot_root,
//! so a path resolves in the container's root, never on the host.

use crate::spec::config::{landlock_names, Landlock, LANDLOCK_FILE_RIGHTS, LANDLOCK_FS};
use landlock::{
    AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("landlock: this kernel cannot enforce {}", .missing.join(", "))]
    NotEnforceable { missing: Vec<&'static str>, abi: u8 },
    #[error("landlock: path {}: {errno}", .path.display())]
    Path {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("landlock: {0}")]
    Ruleset(String),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotEnforceable { abi: 0, .. } => Some(
                "Landlock is not enabled in this kernel (add landlock to the lsm= boot \
                 parameter), or drop --landlock-strict / disableBestEffort to run without it"
                    .into(),
            ),
            Error::NotEnforceable { abi, .. } => Some(format!(
                "this kernel has Landlock ABI {abi}: drop those rights, or drop \
                 --landlock-strict / disableBestEffort to run with what it enforces"
            )),
            Error::Path { .. } => Some(
                "Landlock paths are paths inside the container: give one that exists there".into(),
            ),
            Error::Ruleset(_) => None,
        }
    }
}

/// The kernel's Landlock ABI version; 0 when Landlock is not built in or not enabled.
pub fn abi() -> u8 {
    // SAFETY: with LANDLOCK_CREATE_RULESET_VERSION the kernel reads no attribute (NULL, 0)
    // and returns the ABI version or an error; it creates no descriptor.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            1u32, // LANDLOCK_CREATE_RULESET_VERSION
        )
    };
    u8::try_from(v).unwrap_or(0)
}

/// How much of a Landlock domain this kernel enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// The kernel's Landlock ABI (0: unavailable).
    pub abi: u8,
    /// The handled rights it cannot enforce, by name (OCI spelling).
    pub missing: Vec<&'static str>,
}

impl Status {
    /// Every right the domain handles is enforced.
    pub fn full(&self) -> bool {
        self.missing.is_empty()
    }
}

/// What this kernel enforces of `ll`.
pub fn status(ll: &Landlock) -> Status {
    let abi = abi();
    Status {
        abi,
        missing: ll.gap(abi),
    }
}

/// The handled rights this kernel cannot enforce (empty: fully enforced).
pub fn landlock_gap(ll: &Landlock) -> Vec<String> {
    status(ll).missing.into_iter().map(String::from).collect()
}

/// The runtime's check before anything is created: strict refuses what the kernel cannot
/// enforce; best effort returns a warning naming it.
pub fn check(ll: &Landlock) -> Result<Option<String>, Error> {
    let st = status(ll);
    if st.full() {
        return Ok(None);
    }
    if ll.strict {
        return Err(Error::NotEnforceable {
            missing: st.missing,
            abi: st.abi,
        });
    }
    Ok(Some(if st.abi == 0 {
        "Landlock is not available on this kernel: the --landlock rules are not enforced".into()
    } else {
        format!(
            "Landlock ABI {} cannot enforce {}: those rights stay unrestricted (--landlock-strict refuses instead)",
            st.abi,
            st.missing.join(", ")
        )
    }))
}

/// Opens `path` (inside the container's root: the init has pivoted) O_PATH, following
/// symlinks as the program would.
fn open_path(path: &Path) -> Result<OwnedFd, Error> {
    let err = |errno| Error::Path {
        path: path.to_path_buf(),
        errno,
    };
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| err(nix::errno::Errno::EINVAL))?;
    // SAFETY: open reads one NUL-terminated path; O_PATH needs no mode argument.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(err(nix::errno::Errno::last()));
    }
    // SAFETY: fd was just returned by open and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ruleset_err(e: impl std::fmt::Display) -> Error {
    Error::Ruleset(e.to_string())
}

/// Enters the Landlock domain `ll` (irreversible; inherited by the program across execve).
/// The caller has set no_new_privs. Strict: anything the kernel cannot enforce is an error;
/// best effort: enforce what the kernel knows (the runtime warned about the rest).
pub fn enforce(ll: &Landlock) -> Result<(), Error> {
    let level = if ll.strict {
        CompatLevel::HardRequirement
    } else {
        CompatLevel::BestEffort
    };
    let mut rs = Ruleset::default().set_compatibility(level);
    if ll.handled_fs != 0 {
        rs = rs
            .handle_access(BitFlags::<AccessFs>::from_bits_truncate(ll.handled_fs))
            .map_err(ruleset_err)?;
    }
    if ll.handled_net != 0 {
        rs = rs
            .handle_access(BitFlags::<AccessNet>::from_bits_truncate(ll.handled_net))
            .map_err(ruleset_err)?;
    }
    // no_new_privs is nucleus' own step (and already set): the crate must not set it again.
    let mut created = rs.create().map_err(ruleset_err)?.no_new_privs(false);
    for r in &ll.paths {
        let fd = open_path(&r.path)?;
        let st = nix::sys::stat::fstat(&fd).map_err(|errno| Error::Path {
            path: r.path.clone(),
            errno,
        })?;
        let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
        // A rule on a file can only carry the rights that apply to files.
        let access = if is_dir {
            r.access
        } else {
            r.access & LANDLOCK_FILE_RIGHTS
        };
        if access == 0 {
            continue;
        }
        created = created
            .add_rule(PathBeneath::new(
                fd,
                BitFlags::<AccessFs>::from_bits_truncate(access),
            ))
            .map_err(|e| {
                Error::Ruleset(format!(
                    "rule for {} ({}): {e}",
                    r.path.display(),
                    landlock_names(LANDLOCK_FS, access).join(", ")
                ))
            })?;
    }
    for p in &ll.ports {
        created = created
            .add_rule(NetPort::new(
                p.port,
                BitFlags::<AccessNet>::from_bits_truncate(p.access),
            ))
            .map_err(|e| Error::Ruleset(format!("rule for port {}: {e}", p.port)))?;
    }
    let st = created.restrict_self().map_err(ruleset_err)?;
    if ll.strict && st.ruleset != RulesetStatus::FullyEnforced {
        return Err(Error::Ruleset(format!(
            "the domain is {:?}, and disableBestEffort asks for all of it",
            st.ruleset
        )));
    }
    Ok(())
}
