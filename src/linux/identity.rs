//! Who the process runs as: supplementary groups, gid, uid; and no_new_privs. The data
//! (`Identity`, id maps, passwd lookup) is pure and lives in caps/identity.rs; this file
//! makes the syscalls.

pub use crate::caps::identity::{home_in_passwd, parse_id_map, Error, IdRange, Identity};
use nix::unistd::{Gid, Uid};

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

fn setgroups_denied() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny")
}

/// The name of `uid` in the host's /etc/passwd (the `owner` of a container, as runc's
/// `list` shows it), or "" when it is not listed there. The file is parsed here rather than
/// through NSS: getpwuid in a static glibc links NSS in (~75 KiB of code).
pub fn host_user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| crate::caps::identity::name_in_passwd(&p, uid))
        .unwrap_or_default()
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
    fn an_env_with_home_is_left_alone() {
        assert_eq!(env_with_home(&["HOME=/x".into()], 0), None);
    }
}
