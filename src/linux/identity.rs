//! Who the process runs as: supplementary groups, gid, uid; and no_new_privs.

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};

/// A target identity: numeric ids only (names mean different things inside and outside a
/// container, so nucleus does not guess).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {what} '{input}': expected {expected}")]
    Parse {
        what: &'static str,
        input: String,
        expected: &'static str,
    },
    #[error("{what} failed: {errno}")]
    Syscall { what: String, errno: Errno },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Syscall {
                errno: Errno::EPERM,
                ..
            } => Some("changing user or groups needs CAP_SETUID/CAP_SETGID; run as root".into()),
            Error::Syscall {
                errno: Errno::EINVAL,
                ..
            } => Some("the id is not mapped in this user namespace".into()),
            _ => None,
        }
    }
}

fn id(what: &'static str, s: &str, input: &str) -> Result<u32, Error> {
    let bad = || Error::Parse {
        what,
        input: input.to_string(),
        expected: "UID[:GID] with numbers from 0 to 4294967294, like 1000:1000",
    };
    let n: u32 = s.trim().parse().map_err(|_| bad())?;
    // (uid_t)-1 means "unchanged" to the set*id calls; never accept it as an identity.
    if n == u32::MAX {
        return Err(bad());
    }
    Ok(n)
}

impl Identity {
    /// Parses `UID[:GID]` (GID defaults to UID) and a list of supplementary group ids.
    pub fn parse(user: &str, groups: &[String]) -> Result<Identity, Error> {
        let (u, g) = match user.split_once(':') {
            Some((u, g)) => (id("user", u, user)?, id("user", g, user)?),
            None => {
                let u = id("user", user, user)?;
                (u, u)
            }
        };
        let mut gs = Vec::new();
        for item in groups {
            for part in item.split(',').filter(|p| !p.trim().is_empty()) {
                gs.push(id("group", part, item).map_err(|_| Error::Parse {
                    what: "group",
                    input: item.clone(),
                    expected: "numeric group ids separated by commas, like 27,100",
                })?);
            }
        }
        Ok(Identity {
            uid: u,
            gid: g,
            groups: gs,
        })
    }
}

/// setgroups → setresgid → setresuid, in that order (each later step may remove the
/// privilege the earlier ones need).
pub fn switch(id: &Identity) -> Result<(), Error> {
    let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    match nix::unistd::setgroups(&groups) {
        Ok(()) => {}
        // In a user namespace with setgroups denied there are no supplementary groups to
        // clear: an empty list is already the state.
        Err(nix::errno::Errno::EPERM) if groups.is_empty() && setgroups_denied() => {}
        Err(errno) => {
            return Err(Error::Syscall {
                what: format!("setgroups({:?})", id.groups),
                errno,
            })
        }
    }
    let g = Gid::from_raw(id.gid);
    nix::unistd::setresgid(g, g, g).map_err(|errno| Error::Syscall {
        what: format!("setresgid({})", id.gid),
        errno,
    })?;
    let u = Uid::from_raw(id.uid);
    nix::unistd::setresuid(u, u, u).map_err(|errno| Error::Syscall {
        what: format!("setresuid({})", id.uid),
        errno,
    })?;
    Ok(())
}

/// One line of /proc/PID/uid_map or gid_map: ids `inside..inside+count` of the namespace
/// are `outside..outside+count` of its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u64,
    pub outside: u64,
    pub count: u64,
}

/// Parses the text of an id map (malformed lines are skipped).
pub fn parse_id_map(text: &str) -> Vec<IdRange> {
    text.lines()
        .filter_map(|l| {
            let n: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            match n.as_slice() {
                [inside, outside, count] => Some(IdRange {
                    inside: *inside,
                    outside: *outside,
                    count: *count,
                }),
                _ => None,
            }
        })
        .collect()
}

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// PR_SET_NO_NEW_PRIVS: execve() can no longer add privileges (set-id bits, file caps).
pub fn set_no_new_privs() -> Result<(), Error> {
    nix::sys::prctl::set_no_new_privs().map_err(|errno| Error::Syscall {
        what: "prctl(PR_SET_NO_NEW_PRIVS)".into(),
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_and_groups() {
        let i = Identity::parse("1000", &[]).unwrap();
        assert_eq!((i.uid, i.gid), (1000, 1000));
        let i = Identity::parse("1000:100", &["27,4".into(), "5".into()]).unwrap();
        assert_eq!((i.uid, i.gid, i.groups), (1000, 100, vec![27, 4, 5]));
        for bad in [
            "bob",
            "1000:staff",
            "",
            ":1",
            "1:",
            "-1",
            "4294967295",
            "1:2:3",
        ] {
            assert!(Identity::parse(bad, &[]).is_err(), "{bad}");
        }
        assert!(Identity::parse("1", &["wheel".into()]).is_err());
        let m = parse_id_map("         0       1000          1\n 1 100000 65536\nbad line\n");
        assert_eq!(m.len(), 2);
        assert_eq!((m[1].inside, m[1].outside, m[1].count), (1, 100000, 65536));
    }
}
