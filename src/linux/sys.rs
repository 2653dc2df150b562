//! The narrow syscall seam of the root filesystem code (rootfs.rs): the calls that need
//! privilege or change the whole process (mount, umount, pivot_root, chdir, mknod,
//! mount_setattr, move_mount, and the statvfs that tells which flags a remount must keep).
//!
//! `Real` makes the syscalls. The recording double (`Recorder`, tests only) makes none: it
//! writes each call down, with descriptors and `/proc/self/fd/N` paths turned back into
//! the paths they name, so a unit test running as a normal user can assert the exact
//! sequence of mounts and flags for a configuration. Path resolution is NOT behind the
//! seam: it needs no privilege (openat2 RESOLVE_IN_ROOT, mkdirat, symlinkat), so the tests
//! run it for real on a temporary directory tree.

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::SFlag;
use nix::sys::statvfs::FsFlags;
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// A device node to make: `name` in directory `dir`, exactly `mode` (no umask), owned by
/// `owner` (uid, gid).
pub struct Node<'a> {
    pub dir: BorrowedFd<'a>,
    pub name: &'a OsStr,
    pub kind: SFlag,
    pub mode: u32,
    pub rdev: libc::dev_t,
    pub owner: (u32, u32),
}

/// The syscalls rootfs.rs makes through the seam. Paths may be `/proc/self/fd/N` magic
/// links (inroot::fd_path) of descriptors resolved inside the container's root.
pub trait Sys {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno>;
    fn chdir(&self, dir: &Path) -> Result<(), Errno>;
    /// pivot_root(new_root, put_old).
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno>;
    /// The mount flags of the filesystem at `path` (statvfs).
    fn mount_flags(&self, path: &Path) -> Result<FsFlags, Errno>;
    /// mount_setattr(2) on the mount open as `fd` (`recursive`: AT_RECURSIVE).
    fn mount_setattr(
        &self,
        fd: BorrowedFd<'_>,
        recursive: bool,
        set: u64,
        clear: u64,
        userns: Option<BorrowedFd<'_>>,
    ) -> Result<(), Errno>;
    /// move_mount(2) of the detached tree `tree` onto the object open as `to`.
    fn move_mount(&self, tree: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno>;
    fn mknod(&self, node: &Node<'_>) -> Result<(), Errno>;
}

/// The kernel.
pub struct Real;

impl Sys for Real {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
        nix::mount::umount2(target, flags)
    }

    fn chdir(&self, dir: &Path) -> Result<(), Errno> {
        nix::unistd::chdir(dir)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
        nix::unistd::pivot_root(new_root, put_old)
    }

    fn mount_flags(&self, path: &Path) -> Result<FsFlags, Errno> {
        nix::sys::statvfs::statvfs(path).map(|s| s.flags())
    }

    fn mount_setattr(
        &self,
        fd: BorrowedFd<'_>,
        recursive: bool,
        set: u64,
        clear: u64,
        userns: Option<BorrowedFd<'_>>,
    ) -> Result<(), Errno> {
        super::rootfs::mount_setattr(fd, recursive, set, clear, userns)
    }

    fn move_mount(&self, tree: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
        super::rootfs::move_mount(tree, to)
    }

    fn mknod(&self, n: &Node<'_>) -> Result<(), Errno> {
        super::inroot::mknod(n.dir, n.name, n.kind, n.mode, n.rdev, n.owner)
    }
}

#[cfg(test)]
pub use double::{Call, Recorder};

#[cfg(test)]
mod double {
    use super::*;
    use std::cell::RefCell;
    use std::os::fd::AsRawFd;
    use std::path::PathBuf;

    /// One call the code under test made, with paths as the container sees them (relative
    /// to the recorder's root, written absolute) where they lie inside it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Call {
        Mount {
            source: Option<String>,
            target: String,
            fstype: Option<String>,
            flags: MsFlags,
            data: Option<String>,
        },
        Umount(String, MntFlags),
        Chdir(String),
        PivotRoot(String, String),
        SetAttr {
            target: String,
            recursive: bool,
            set: u64,
            clear: u64,
        },
        MoveMount(String),
        Mknod {
            path: String,
            kind: SFlag,
            mode: u32,
            rdev: libc::dev_t,
            owner: (u32, u32),
        },
    }

    /// The recording double: no syscall is made; `flags` is what `mount_flags` reports for
    /// every path (the flags a remount must keep), `fail` makes calls to mount with that
    /// fstype fail with the errno.
    pub struct Recorder {
        pub root: PathBuf,
        pub calls: RefCell<Vec<Call>>,
        pub flags: FsFlags,
        pub fail: Option<(&'static str, Errno)>,
    }

    impl Recorder {
        pub fn new(root: &Path) -> Recorder {
            Recorder {
                root: root.to_path_buf(),
                calls: RefCell::new(Vec::new()),
                flags: FsFlags::empty(),
                fail: None,
            }
        }

        pub fn take(&self) -> Vec<Call> {
            std::mem::take(&mut self.calls.borrow_mut())
        }

        /// `p` as the container names it: a `/proc/self/fd/N` magic link is read back to
        /// the path it stands for, and a path below the root is shown from the root.
        pub fn shown(&self, p: &Path) -> String {
            let real = match p.strip_prefix("/proc/self/fd") {
                Ok(_) => std::fs::read_link(p).unwrap_or_else(|_| p.to_path_buf()),
                Err(_) => p.to_path_buf(),
            };
            match real.strip_prefix(&self.root) {
                Ok(r) => Path::new("/").join(r).to_string_lossy().into_owned(),
                Err(_) => real.to_string_lossy().into_owned(),
            }
        }

        fn fd(&self, fd: BorrowedFd<'_>) -> String {
            self.shown(&PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd())))
        }

        fn record(&self, c: Call) {
            self.calls.borrow_mut().push(c);
        }
    }

    impl Sys for Recorder {
        fn mount(
            &self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> Result<(), Errno> {
            self.record(Call::Mount {
                source: source.map(|s| self.shown(s)),
                target: self.shown(target),
                fstype: fstype.map(str::to_string),
                flags,
                data: data.map(str::to_string),
            });
            match self.fail {
                Some((t, e)) if fstype == Some(t) => Err(e),
                _ => Ok(()),
            }
        }

        fn umount(&self, target: &Path, flags: MntFlags) -> Result<(), Errno> {
            self.record(Call::Umount(self.shown(target), flags));
            Ok(())
        }

        fn chdir(&self, dir: &Path) -> Result<(), Errno> {
            self.record(Call::Chdir(self.shown(dir)));
            Ok(())
        }

        fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<(), Errno> {
            let (n, o) = (self.shown(new_root), self.shown(put_old));
            self.record(Call::PivotRoot(n, o));
            Ok(())
        }

        fn mount_flags(&self, _: &Path) -> Result<FsFlags, Errno> {
            Ok(self.flags)
        }

        fn mount_setattr(
            &self,
            fd: BorrowedFd<'_>,
            recursive: bool,
            set: u64,
            clear: u64,
            _: Option<BorrowedFd<'_>>,
        ) -> Result<(), Errno> {
            self.record(Call::SetAttr {
                target: self.fd(fd),
                recursive,
                set,
                clear,
            });
            Ok(())
        }

        fn move_mount(&self, _: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
            self.record(Call::MoveMount(self.fd(to)));
            Ok(())
        }

        fn mknod(&self, n: &Node<'_>) -> Result<(), Errno> {
            let dir = self.fd(n.dir);
            self.record(Call::Mknod {
                path: Path::new(&dir).join(n.name).to_string_lossy().into_owned(),
                kind: n.kind,
                mode: n.mode,
                rdev: n.rdev,
                owner: n.owner,
            });
            Ok(())
        }
    }
}
