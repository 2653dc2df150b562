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

/// The home directory of `uid` in an /etc/passwd text: the sixth field of the first line
/// whose third field is `uid` (an empty field counts as "/").
pub fn home_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].trim().parse() == Ok(uid)).then(|| {
            if f[5].is_empty() {
                "/".to_string()
            } else {
                f[5].to_string()
            }
        })
    })
}

/// `env` with HOME added when it has none, as runc does: the home of `uid` in the
/// container's /etc/passwd, or `/` when the file or the entry is missing. The file is read
/// through a descriptor of this process's root (the container's, after pivot_root or
/// setns), resolved inside it: no symlink or magic link in the image leads elsewhere.
pub fn env_with_home(env: &[String], uid: u32) -> Option<Vec<String>> {
    use nix::fcntl::OFlag;
    use std::io::Read;
    use std::os::fd::AsFd;
    if env.iter().any(|e| e.starts_with("HOME=")) {
        return None;
    }
    let passwd = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .and_then(|root| {
        super::inroot::open(
            root.as_fd(),
            std::path::Path::new("/etc/passwd"),
            OFlag::O_RDONLY | OFlag::O_NONBLOCK,
        )
    })
    .ok()
    .and_then(|fd| {
        let mut f = std::fs::File::from(fd);
        // Only a regular file is read (not a FIFO or device planted there), and only so
        // much of it.
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return None;
        }
        let mut text = String::new();
        (&mut f).take(4 << 20).read_to_string(&mut text).ok()?;
        Some(text)
    });
    let home = passwd
        .as_deref()
        .and_then(|p| home_in_passwd(p, uid))
        .unwrap_or_else(|| "/".to_string());
    let mut out = env.to_vec();
    out.push(format!("HOME={home}"));
    Some(out)
}

/// PR_SET_NO_NEW_PRIVS: execve() can no longer add privileges (set-id bits, file caps).
pub fn set_no_new_privs() -> Result<(), Error> {
    nix::sys::prctl::set_no_new_privs().map_err(|errno| Error::Syscall {
        what: "prctl(PR_SET_NO_NEW_PRIVS)".into(),
        errno,
    })
}

/// Becomes root (uid and gid 0) of the user namespace this process is in, once its id
/// maps are written: files created while setting up the root filesystem then belong to a
/// mapped id. Without a mapping for 0 the process keeps its ids (EINVAL is not an error).
pub fn become_userns_root() -> Result<(), nix::errno::Errno> {
    use nix::unistd::{setresgid, setresuid, Gid, Uid};
    let root = (Gid::from_raw(0), Uid::from_raw(0));
    for r in [
        setresgid(root.0, root.0, root.0),
        setresuid(root.1, root.1, root.1),
    ] {
        match r {
            Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

    #[test]
    fn home_comes_from_the_uid_entry() {
        let p = "root:x:0:0:root:/root:/bin/sh\nbad line\nweb:x:33:33::/var/www:/bin/false\n\
                 nohome:x:7:7:::/bin/sh\n";
        assert_eq!(home_in_passwd(p, 0).as_deref(), Some("/root"));
        assert_eq!(home_in_passwd(p, 33).as_deref(), Some("/var/www"));
        assert_eq!(home_in_passwd(p, 7).as_deref(), Some("/"));
        assert_eq!(home_in_passwd(p, 1000), None);
        // An env with HOME is left alone.
        assert_eq!(env_with_home(&["HOME=/x".into()], 0), None);
    }
}
