//! Who a process is, as data: a numeric identity (uid, gid, supplementary groups), the id
//! maps of a user namespace, and the home directory of a uid in a passwd text. Pure: the
//! identity switch itself (setgroups/setresgid/setresuid) is linux/identity.rs.

use nix::errno::Errno;

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

/// The fields of the first line of an /etc/passwd text whose third field is `uid`.
fn passwd_entry(passwd: &str, uid: u32) -> Option<Vec<&str>> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].trim().parse() == Ok(uid)).then_some(f)
    })
}

/// The home directory of `uid` in an /etc/passwd text: the sixth field of the first line
/// whose third field is `uid` (an empty field counts as "/").
pub fn home_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd_entry(passwd, uid).map(|f| match f[5] {
        "" => "/".to_string(),
        h => h.to_string(),
    })
}

/// The name of `uid` in an /etc/passwd text.
pub fn name_in_passwd(passwd: &str, uid: u32) -> Option<String> {
    passwd_entry(passwd, uid).map(|f| f[0].to_string())
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
        assert_eq!(name_in_passwd(p, 33).as_deref(), Some("web"));
        assert_eq!(name_in_passwd(p, 1000), None);
    }
}
