//! Starting the user's program: finding it, then execve().

use nix::errno::Errno;
use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{cmd}: cannot execute: {errno}")]
    Exec { cmd: String, errno: Errno },
    /// `what`: "argument 2", "environment entry 0", "program path".
    #[error("{0} contains a NUL byte")]
    Nul(String),
}

impl Error {
    /// The shell's convention: 127 not found, 126 found but not executable.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::NotFound(_) => 127,
            _ => 126,
        }
    }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether descriptor `fd` is open in this process.
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Resolves `cmd` as execvp(3) would: a name with a slash is taken as is, otherwise each
/// directory of `path` (default: the usual system directories) is tried in order.
pub fn resolve(cmd: &str, path: Option<&str>) -> Result<PathBuf, Error> {
    if cmd.is_empty() {
        return Err(Error::NotFound(cmd.to_string()));
    }
    if cmd.contains('\0') {
        return Err(Error::Nul("argument 0".into()));
    }
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return if p.exists() {
            Ok(p)
        } else {
            Err(Error::NotFound(cmd.to_string()))
        };
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(cmd))
        .find(|p| executable(p))
        .ok_or_else(|| Error::NotFound(cmd.to_string()))
}

/// Replaces this process with `prog` (already resolved), arguments `argv` (argv[0]
/// first), and the environment `env` (NAME=VALUE) or, when None, this process's own.
pub fn exec(prog: &Path, argv: &[String], env: Option<&[String]>) -> Result<Infallible, Error> {
    let c = |s: &[u8], what: String| CString::new(s).map_err(|_| Error::Nul(what));
    let all = |v: &[String], what: &str| -> Result<Vec<CString>, Error> {
        v.iter()
            .enumerate()
            .map(|(i, a)| c(a.as_bytes(), format!("{what} {i}")))
            .collect()
    };
    let p = c(prog.as_os_str().as_bytes(), "program path".into())?;
    let args = all(argv, "argument")?;
    let errno = match env {
        Some(e) => nix::unistd::execve(&p, &args, &all(e, "environment entry")?).unwrap_err(),
        None => nix::unistd::execv(&p, &args).unwrap_err(),
    };
    Err(Error::Exec {
        cmd: prog.display().to_string(),
        errno,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_execvp() {
        assert_eq!(
            resolve("sh", Some("/nonexistent:/bin")).unwrap(),
            PathBuf::from("/bin/sh")
        );
        assert!(matches!(
            resolve("no-such-cmd-xyz", None),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            resolve("./no/such", None),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(resolve("", None), Err(Error::NotFound(_))));
        assert_eq!(
            resolve("s\0h", None).unwrap_err().to_string(),
            "argument 0 contains a NUL byte"
        );
        // /etc/passwd exists but is not executable: PATH search skips it.
        assert!(resolve("passwd", Some("/etc")).is_err());
        assert_eq!(Error::NotFound("x".into()).exit_code(), 127);
    }
}
