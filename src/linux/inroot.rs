//! Path operations inside a container's root filesystem (DESIGN.md §5.4).
//!
//! The image is the attacker's: any component of a path inside it may be a symlink
//! (`data -> /etc`, `x -> ../../..`) or, once /proc is mounted, a magic link into another
//! root (`/proc/1/root`, `/proc/self/fd/N`). So nothing here joins a container path onto a
//! host path. Each path is resolved by the kernel relative to a descriptor of the root,
//! as if that root were `/` (openat2 with RESOLVE_IN_ROOT and RESOLVE_NO_MAGICLINKS), and
//! every operation then works on the resulting descriptor (`*at` calls). It needs no
//! privilege, so it is unit tested as a normal user.

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// `path` (absolute inside the container, or relative to its root) as a relative path;
/// `.` for the root itself.
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `path` inside `root` as if `root` were `/`: `..` and symlinks, absolute or not,
/// cannot leave it, and magic links are refused (ELOOP).
pub fn open(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(root, &relative(path), how)
}

/// As `open`, but refuses any symlink on the way (ELOOP) — for places where only a real
/// directory will do (procfs and sysfs mount points, the CVE-2019-16884 class).
pub fn open_no_symlinks(root: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(root, &relative(path), how)
}

/// Resolves the parent of `path` inside `root`, making missing directories (mode 0755),
/// and returns it (O_PATH) with the last component's name. `path` must name something
/// below the root.
pub fn parent_of(root: BorrowedFd<'_>, path: &Path) -> Result<(OwnedFd, OsString), Errno> {
    let rel = relative(path);
    let name = match rel.components().next_back() {
        Some(Component::Normal(n)) => n.to_os_string(),
        // `.`, `..` as the last component, or the root itself: no name to create.
        _ => return Err(Errno::EINVAL),
    };
    let parent = rel.parent().unwrap_or(Path::new(""));
    Ok((mkdir_all(root, parent)?, name))
}

/// Makes every missing directory of `path` inside `root` (mode 0755) and returns the last
/// one, O_PATH. Symlinks met on the way are expanded inside the root (a dangling
/// `data -> /etc/app` makes `<root>/etc/app`), `..` stops at the root, and each step is
/// opened from the root again, so nothing is ever made outside it.
pub fn mkdir_all(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    use std::collections::VecDeque;
    let dir = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let mut todo: VecDeque<OsString> = relative(path)
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut cur = PathBuf::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            cur.pop();
            continue;
        }
        let parent = open(root, &cur, dir)?;
        let at = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
        match nix::sys::stat::fstatat(parent.as_fd(), c.as_os_str(), at) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                links += 1;
                if links > 40 {
                    return Err(Errno::ELOOP);
                }
                let target = PathBuf::from(nix::fcntl::readlinkat(parent.as_fd(), c.as_os_str())?);
                if target.is_absolute() {
                    cur = PathBuf::new();
                }
                for t in target.components().rev() {
                    if let Component::Normal(_) | Component::ParentDir = t {
                        todo.push_front(t.as_os_str().to_os_string());
                    }
                }
            }
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => cur.push(&c),
            Ok(_) => return Err(Errno::ENOTDIR),
            Err(Errno::ENOENT) => {
                match nix::sys::stat::mkdirat(
                    parent.as_fd(),
                    c.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) => cur.push(&c),
                    // Made by someone else meanwhile: look at it again.
                    Err(Errno::EEXIST) => todo.push_front(c),
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    }
    open(root, &cur, dir)
}

/// Resolves `path` inside `root`, making missing directories and, when `file` is set, an
/// empty file (0644) as the last component; returns an O_PATH descriptor of the result.
pub fn create(root: BorrowedFd<'_>, path: &Path, file: bool) -> Result<OwnedFd, Errno> {
    match open(root, path, OFlag::O_PATH) {
        Err(Errno::ENOENT) => {}
        r => return r,
    }
    if !file {
        return mkdir_all(root, path);
    }
    let (parent, name) = parent_of(root, path)?;
    // O_NOFOLLOW|O_CREAT: a dangling symlink planted as the last component fails (ELOOP)
    // instead of creating its target.
    match nix::fcntl::openat(
        parent.as_fd(),
        name.as_os_str(),
        OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open(root, path, OFlag::O_PATH)
}

/// `path` with symlinks as its last component replaced by their targets, each resolved
/// inside `root` as the kernel would (an absolute target from the root, a relative one
/// from the link's directory), until the last component is not a symlink. So a dangling
/// `etc/app.conf -> /data/app.conf` names `/data/app.conf` of the root, never the host's;
/// the caller then creates that inside the root.
pub fn follow_last(root: BorrowedFd<'_>, path: &Path) -> Result<PathBuf, Errno> {
    let mut p = relative(path);
    for _ in 0..40 {
        let (parent, name) = match p.components().next_back() {
            Some(Component::Normal(n)) => (
                p.parent().unwrap_or(Path::new("")).to_path_buf(),
                n.to_os_string(),
            ),
            _ => return Ok(p),
        };
        let dir = match open(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY) {
            Ok(d) => d,
            // Missing directories are made later, by the caller, inside the root.
            Err(Errno::ENOENT) => return Ok(p),
            Err(e) => return Err(e),
        };
        match nix::fcntl::readlinkat(dir.as_fd(), name.as_os_str()) {
            Ok(t) => {
                let t = PathBuf::from(t);
                p = if t.is_absolute() {
                    relative(&t)
                } else {
                    relative(&parent.join(t))
                };
            }
            // Not a symlink, or nothing there.
            Err(Errno::EINVAL | Errno::ENOENT) => return Ok(p),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ELOOP)
}

/// Makes a device node (or FIFO) `name` in directory `dir` with exactly `mode` (the umask
/// does not apply) and owner `uid:gid`, without following a symlink planted there.
pub fn mknod(
    dir: BorrowedFd<'_>,
    name: &std::ffi::OsStr,
    kind: SFlag,
    mode: u32,
    rdev: libc::dev_t,
    owner: (u32, u32),
) -> Result<(), Errno> {
    let perm = Mode::from_bits_truncate(mode);
    let old = nix::sys::stat::umask(Mode::empty());
    let made = nix::sys::stat::mknodat(dir, name, kind, perm, rdev);
    nix::sys::stat::umask(old);
    made?;
    nix::unistd::fchownat(
        dir,
        name,
        Some(nix::unistd::Uid::from_raw(owner.0)),
        Some(nix::unistd::Gid::from_raw(owner.1)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
}

/// Copies the tree below directory `src` into directory `dst` (files, directories and
/// symlinks, with their permission bits; other kinds are skipped). Both are descriptors;
/// every entry is opened relative to its parent's descriptor with O_NOFOLLOW, so neither
/// side's symlinks are followed, and nothing is resolved through a host path.
pub fn copy_tree(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> Result<(), Errno> {
    let reading = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let listing = nix::fcntl::openat(src, ".", reading, Mode::empty())?;
    let mut dir = nix::dir::Dir::from_fd(listing)?;
    let mut names: Vec<OsString> = Vec::new();
    for e in dir.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(std::ffi::OsStr::from_bytes(n).to_os_string());
        }
    }
    for name in names {
        let st = nix::sys::stat::fstatat(
            src,
            name.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match st.st_mode & libc::S_IFMT {
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(src, name.as_os_str())?;
                nix::unistd::symlinkat(target.as_os_str(), dst, name.as_os_str())?;
            }
            libc::S_IFDIR => {
                nix::sys::stat::mkdirat(dst, name.as_os_str(), Mode::from_bits_truncate(0o700))?;
                let flags = reading | OFlag::O_NOFOLLOW;
                let s = nix::fcntl::openat(src, name.as_os_str(), flags, Mode::empty())?;
                let d = nix::fcntl::openat(dst, name.as_os_str(), flags, Mode::empty())?;
                copy_tree(s.as_fd(), d.as_fd())?;
                nix::sys::stat::fchmod(d.as_fd(), perm)?;
            }
            libc::S_IFREG => {
                let s = nix::fcntl::openat(
                    src,
                    name.as_os_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                let d = nix::fcntl::openat(
                    dst,
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )?;
                let (mut from, mut to) = (std::fs::File::from(s), std::fs::File::from(d));
                std::io::copy(&mut from, &mut to)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
                nix::sys::stat::fchmod(to.as_fd(), perm)?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The magic-link path of an open descriptor: mount(2) and chdir follow it to the object
/// itself, so a mount lands exactly where the descriptor was resolved.
pub fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).expect("remove test dir");
        }
    }

    /// A root with escaping symlinks, and a "host" directory beside it that must stay
    /// untouched.
    fn tree(tag: &str) -> (Tmp, PathBuf, PathBuf, OwnedFd) {
        let base =
            std::env::temp_dir().join(format!("nucleus-inroot-{tag}-{}", std::process::id()));
        // A leftover of an earlier run with the same pid goes; none at all is the usual case.
        match std::fs::remove_dir_all(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove {}: {e}", base.display()),
        }
        let (root, host) = (base.join("root"), base.join("host"));
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        symlink(&host, root.join("abs")).unwrap();
        symlink("../host", root.join("up")).unwrap();
        symlink("../../../../../../../..", root.join("deep")).unwrap();
        symlink("/proc/self/root", root.join("magic")).unwrap();
        symlink(host.join("f"), root.join("dangling")).unwrap();
        let fd =
            nix::fcntl::open(&root, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        (Tmp(base), root, host, fd)
    }

    fn host_is_empty(host: &Path) -> bool {
        std::fs::read_dir(host).unwrap().next().is_none()
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let (_t, root, host, fd) = tree("resolve");
        for p in ["/abs/x/y", "/up/x", "/deep/x", "abs/z"] {
            mkdir_all(fd.as_fd(), Path::new(p)).unwrap();
            create(fd.as_fd(), Path::new(&format!("{p}/file")), true).unwrap();
        }
        assert!(
            host_is_empty(&host),
            "a path in the root reached the host dir"
        );
        // `abs -> /…/host` resolved as an absolute path inside the root.
        assert!(root
            .join(host.strip_prefix("/").unwrap())
            .join("x/y/file")
            .is_file());
        assert!(
            root.join("x/file").is_file(),
            "deep and up are clamped at the root"
        );
        // A symlink into /proc is just a path inside the root…
        assert_eq!(
            open(fd.as_fd(), Path::new("/magic/etc"), OFlag::O_PATH).unwrap_err(),
            Errno::ENOENT
        );
        // …and a real magic link (once a procfs is mounted there) is refused, not followed.
        let slash =
            nix::fcntl::open("/", OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        assert_eq!(
            open(
                slash.as_fd(),
                Path::new("/proc/self/root/etc"),
                OFlag::O_PATH
            )
            .unwrap_err(),
            Errno::ELOOP
        );
        // A dangling symlink as the last component is not created through…
        assert_eq!(
            create(fd.as_fd(), Path::new("/dangling"), true).unwrap_err(),
            Errno::ELOOP
        );
        // …but followed inside the root, it names a path there.
        let followed = follow_last(fd.as_fd(), Path::new("/dangling")).unwrap();
        assert_eq!(followed, relative(&host.join("f")));
        create(fd.as_fd(), &followed, true).unwrap();
        assert!(root
            .join(host.strip_prefix("/").unwrap())
            .join("f")
            .is_file());
        assert!(host_is_empty(&host));
        assert_eq!(
            open_no_symlinks(fd.as_fd(), Path::new("/abs"), OFlag::O_PATH).unwrap_err(),
            Errno::ELOOP
        );
        assert_eq!(
            parent_of(fd.as_fd(), Path::new("/")).unwrap_err(),
            Errno::EINVAL
        );
    }

    #[test]
    fn mknod_makes_exactly_the_mode_and_never_through_a_symlink() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let (_t, root, host, fd) = tree("mknod");
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        // A FIFO needs no privilege; the umask (022 or not) must not narrow the mode.
        let (dir, name) = parent_of(fd.as_fd(), Path::new("/dev/fifo")).unwrap();
        mknod(dir.as_fd(), &name, SFlag::S_IFIFO, 0o666, 0, me).unwrap();
        let m = std::fs::symlink_metadata(root.join("dev/fifo")).unwrap();
        assert!(m.file_type().is_fifo());
        assert_eq!(m.permissions().mode() & 0o7777, 0o666);
        // A symlink planted at the name is not followed: EEXIST, and nothing on the host.
        symlink(host.join("planted"), root.join("dev/link")).unwrap();
        let e = mknod(
            dir.as_fd(),
            std::ffi::OsStr::new("link"),
            SFlag::S_IFIFO,
            0o600,
            0,
            me,
        );
        assert_eq!(e.unwrap_err(), Errno::EEXIST);
        assert!(host_is_empty(&host));
    }

    #[test]
    fn copies_stay_inside_the_destination() {
        let (_t, root, host, fd) = tree("copy");
        let src = root.parent().unwrap().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/a"), "A").unwrap();
        symlink("/etc/passwd", src.join("link")).unwrap();
        std::fs::set_permissions(
            src.join("sub"),
            std::os::unix::fs::PermissionsExt::from_mode(0o750),
        )
        .unwrap();
        let s = nix::fcntl::open(&src, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        // The destination is reached through `abs -> host`: inside the root that is
        // <root>/<host path>, never the host directory itself.
        let d = mkdir_all(fd.as_fd(), Path::new("/abs/dest")).unwrap();
        copy_tree(s.as_fd(), d.as_fd()).unwrap();
        assert!(host_is_empty(&host));
        let inside = root.join(host.strip_prefix("/").unwrap()).join("dest");
        assert_eq!(std::fs::read_to_string(inside.join("sub/a")).unwrap(), "A");
        assert_eq!(
            std::fs::read_link(inside.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(inside.join("sub")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o7777, 0o750);
    }
}
