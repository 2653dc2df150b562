//! The container's filesystem: the root (embedded tmpfs or a directory), mounts whose
//! destinations are resolved inside the root without following symlinks out of it
//! (openat2 RESOLVE_IN_ROOT), /dev, pivot_root, masked and read-only paths.
//!
//! Runs in the container's init process, inside its private mount namespace.

use crate::spec::config::{Config, Mount, MountKind, RootFs};
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {path}: {errno}")]
    Sys {
        what: &'static str,
        path: PathBuf,
        errno: Errno,
    },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Sys {
                what: "mkdir" | "create",
                errno: Errno::EACCES | Errno::EPERM | Errno::EROFS,
                ..
            } => Some(
                "a mount point is missing and cannot be created there: add it to the root \
                 filesystem, mount somewhere writable, or (rootless) use a rootfs you own"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn sys<T>(what: &'static str, path: &Path, r: Result<T, Errno>) -> Result<T, Error> {
    r.map_err(|errno| Error::Sys {
        what,
        path: path.to_path_buf(),
        errno,
    })
}

/// The magic-link path of an open file: mount(2) follows it to the object itself.
fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn open_path(p: &Path) -> Result<OwnedFd, Error> {
    sys(
        "open",
        p,
        nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()),
    )
}

/// Opens `rel` (relative to `root`) as if `root` were `/`: `..` and symlinks, absolute or
/// not, cannot leave it.
fn open_in_root(root: &OwnedFd, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(root.as_fd(), rel, how)
}

/// Resolves `dest` inside `root`, creating missing components (directories, and a file as
/// the last one when `file` is set); returns an O_PATH descriptor of the result.
fn resolve_create(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd, Error> {
    let rel: PathBuf = dest.components().skip(1).collect();
    let comps: Vec<_> = rel.components().collect();
    let mut cur = PathBuf::new();
    for (i, c) in comps.iter().enumerate() {
        let parent = cur.clone();
        cur.push(c);
        match open_in_root(root, &cur, OFlag::O_PATH) {
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(sys("resolve", dest, Err(e))?),
        }
        let parent = if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent
        };
        let pfd = sys(
            "resolve",
            dest,
            open_in_root(root, &parent, OFlag::O_PATH | OFlag::O_DIRECTORY),
        )?;
        let last = i + 1 == comps.len();
        if last && file {
            let fd = nix::fcntl::openat(
                pfd.as_fd(),
                c.as_os_str(),
                OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            );
            match fd {
                Ok(_) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys("create", dest, Err(e))?),
            }
        } else {
            match nix::sys::stat::mkdirat(
                pfd.as_fd(),
                c.as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys("mkdir", dest, Err(e))?),
            }
        }
    }
    let rel = if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    };
    sys("resolve", dest, open_in_root(root, &rel, OFlag::O_PATH))
}

/// Refuses a destination reached through a symlink, or that is not a directory: procfs and
/// sysfs go only on real directories (the CVE-2019-16884 class).
fn real_dir(root: &OwnedFd, dest: &Path) -> Result<(), Error> {
    let rel: PathBuf = dest.components().skip(1).collect();
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
    match nix::fcntl::openat2(root.as_fd(), &rel, how) {
        Ok(_) => Ok(()),
        Err(Errno::ELOOP | Errno::ENOTDIR) => Err(Error::Other(format!(
            "refusing to mount on {}: it is a symlink or not a directory in the root filesystem",
            dest.display()
        ))),
        Err(e) => sys("resolve", dest, Err(e)),
    }
}

fn flags_of(m: &Mount) -> MsFlags {
    let mut f = MsFlags::empty();
    f.set(MsFlags::MS_RDONLY, m.readonly);
    f.set(MsFlags::MS_NOSUID, m.nosuid);
    f.set(MsFlags::MS_NODEV, m.nodev);
    f.set(MsFlags::MS_NOEXEC, m.noexec);
    f
}

/// Remounts the bind mount at `target` with `extra` flags, keeping the flags the kernel
/// locks on it (a user namespace may not clear nosuid/nodev/noexec/ro/atime of its source).
fn remount_bind(target: &Path, extra: MsFlags) -> Result<(), Error> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let have = sys("statvfs", target, statvfs(target))?.flags();
    let mut f = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
    for (st, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if have.contains(st) {
            f |= ms;
        }
    }
    sys(
        "remount",
        target,
        mount(None::<&str>, target, None::<&str>, f, None::<&str>),
    )
}

/// Bind-mounts the object open as `src` at `dest` inside `root` (created as a directory, or
/// a file when `file`), then applies `flags` with a remount.
fn bind(
    src: &OwnedFd,
    root: &OwnedFd,
    dest: &Path,
    file: bool,
    recursive: bool,
    flags: MsFlags,
) -> Result<(), Error> {
    let d = resolve_create(root, dest, file)?;
    let mut f = MsFlags::MS_BIND;
    f.set(MsFlags::MS_REC, recursive);
    sys(
        "bind",
        dest,
        mount(
            Some(&fd_path(src)),
            &fd_path(&d),
            None::<&str>,
            f,
            None::<&str>,
        ),
    )?;
    if !flags.is_empty() {
        // `d` still names the covered directory: resolve again to reach the new mount.
        let top = resolve_create(root, dest, file)?;
        remount_bind(&fd_path(&top), flags)?;
    }
    Ok(())
}

/// Host files the embedded root takes from /etc, read-only.
const ETC_FILES: &[&str] = &[
    "passwd",
    "group",
    "hosts",
    "resolv.conf",
    "nsswitch.conf",
    "host.conf",
    "ld.so.cache",
    "ld.so.conf",
    "localtime",
];
const ETC_DIRS: &[&str] = &["ld.so.conf.d", "alternatives", "ssl/certs"];
const SYSTEM_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"];
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Sources opened before anything is mounted, so later mounts cannot redirect them.
struct Sources {
    volumes: Vec<Option<OwnedFd>>,
    system: Vec<(&'static str, SystemEntry)>,
    etc: Vec<(&'static str, OwnedFd, bool)>,
    devices: Vec<(&'static str, OwnedFd)>,
}

enum SystemEntry {
    Dir(OwnedFd),
    Link(PathBuf),
}

fn open_sources(cfg: &Config) -> Result<Sources, Error> {
    let mut volumes = Vec::new();
    for m in &cfg.mounts {
        volumes.push(match &m.kind {
            MountKind::Bind { source, .. } | MountKind::CopyOf { source } => {
                Some(open_path(source).map_err(|_| {
                    Error::Other(format!(
                        "mount source {} does not exist (or is not reachable)",
                        source.display()
                    ))
                })?)
            }
            _ => None,
        });
    }
    let mut system = Vec::new();
    let mut etc = Vec::new();
    if cfg.root == RootFs::Embedded {
        for d in SYSTEM_DIRS {
            let host = Path::new("/").join(d);
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() => {
                    let t = sys("readlink", &host, nix::fcntl::readlink(&host))?;
                    system.push((*d, SystemEntry::Link(PathBuf::from(t))));
                }
                Ok(m) if m.is_dir() => system.push((*d, SystemEntry::Dir(open_path(&host)?))),
                _ => {}
            }
        }
        for f in ETC_FILES {
            let p = Path::new("/etc").join(f);
            if p.is_file() {
                etc.push((*f, open_path(&p)?, false));
            }
        }
        for d in ETC_DIRS {
            let p = Path::new("/etc").join(d);
            if p.is_dir() {
                etc.push((*d, open_path(&p)?, true));
            }
        }
    }
    let mut devices = Vec::new();
    for d in DEVICES {
        let p = Path::new("/dev").join(d);
        if p.exists() {
            devices.push((*d, open_path(&p)?));
        }
    }
    Ok(Sources {
        volumes,
        system,
        etc,
        devices,
    })
}

/// The directory the embedded root tmpfs is staged on, inside the private mount namespace.
/// Every bind source is opened before it is covered.
const STAGING: &str = "/tmp";

/// Builds the root filesystem and pivots into it. After this, `/` is the container's root.
/// `before_pivot` runs once everything is mounted (the createContainer hooks).
pub fn setup(cfg: &Config, before_pivot: &dyn Fn() -> Result<(), Error>) -> Result<(), Error> {
    let slash = Path::new("/");
    sys(
        "make private",
        slash,
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        ),
    )?;
    let src = open_sources(cfg)?;
    let root_path = match &cfg.root {
        RootFs::Embedded => {
            let p = PathBuf::from(STAGING);
            sys(
                "mount tmpfs on",
                &p,
                mount(
                    Some("tmpfs"),
                    &p,
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some("mode=755,size=65536k"),
                ),
            )?;
            p
        }
        RootFs::Dir(d) => {
            sys(
                "bind root",
                d,
                mount(
                    Some(d),
                    d,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                ),
            )?;
            // Device nodes in the image do not work: /dev is ours.
            remount_bind(d, MsFlags::MS_NODEV)?;
            d.clone()
        }
    };
    let root = open_path(&root_path)?;

    // The embedded root: host system directories read-only, a minimal /etc.
    for (name, entry) in &src.system {
        let dest = Path::new("/").join(name);
        match entry {
            SystemEntry::Link(t) => {
                sys(
                    "symlink",
                    &dest,
                    nix::unistd::symlinkat(t, root.as_fd(), *name),
                )?;
            }
            SystemEntry::Dir(fd) => {
                let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                bind(fd, &root, &dest, false, true, ro)?;
            }
        }
    }
    for (name, fd, dir) in &src.etc {
        let dest = Path::new("/etc").join(name);
        let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        bind(fd, &root, &dest, !dir, *dir, ro)?;
    }
    if let (RootFs::Embedded, Some(h)) = (&cfg.root, &cfg.hostname) {
        let path = Path::new("/etc/hostname");
        resolve_create(&root, path, true)?;
        let fd = sys(
            "open",
            path,
            open_in_root(
                &root,
                Path::new("etc/hostname"),
                OFlag::O_WRONLY | OFlag::O_TRUNC,
            ),
        )?;
        sys(
            "write",
            path,
            nix::unistd::write(&fd, format!("{h}\n").as_bytes()),
        )?;
    }

    for (m, source) in cfg.mounts.iter().zip(&src.volumes) {
        mount_one(&root, &root_path, m, source.as_ref(), &src.devices)?;
    }

    before_pivot()?;
    pivot(&root_path)?;
    Ok(())
}

/// Writes namespaced sysctls (/proc/sys is still writable here).
pub fn sysctls(cfg: &Config) -> Result<(), Error> {
    for (k, v) in &cfg.sysctl {
        let p = Path::new("/proc/sys").join(k.replace('.', "/"));
        std::fs::write(&p, v).map_err(|e| Error::Other(format!("sysctl {k}={v}: {e}")))?;
    }
    Ok(())
}

/// The last filesystem steps, after sysctls: masked paths, read-only paths, read-only root.
pub fn finish(cfg: &Config) -> Result<(), Error> {
    let slash = Path::new("/");
    // After pivot_root: paths resolve inside the container's root, whatever its symlinks.
    for d in &cfg.devices {
        make_device(d)?;
    }
    for p in &cfg.masked_paths {
        mask(p)?;
    }
    for p in &cfg.readonly_paths {
        if p.exists() {
            sys(
                "bind",
                p,
                mount(
                    Some(p),
                    p,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                ),
            )?;
            remount_bind(
                p,
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            )?;
        }
    }
    if cfg.readonly_root {
        remount_bind(slash, MsFlags::MS_RDONLY)?;
    }
    if let Some(p) = &cfg.rootfs_propagation {
        // Last: binds from an unbindable tree fail. The root is private until here (a copy
        // of nothing on the host), so shared makes a peer group of its own in the container.
        let flag = match p.as_str() {
            "shared" => MsFlags::MS_SHARED,
            "slave" => MsFlags::MS_SLAVE,
            "unbindable" => MsFlags::MS_UNBINDABLE,
            _ => MsFlags::MS_PRIVATE,
        };
        sys(
            "set propagation of",
            slash,
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | flag,
                None::<&str>,
            ),
        )?;
    }
    Ok(())
}

/// mknod of one linux.devices entry, then its mode and owner. A node already there with
/// the same type and numbers is kept (the default devices are bound from the host).
fn make_device(d: &crate::spec::config::Device) -> Result<(), Error> {
    use nix::sys::stat::{Mode, SFlag};
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let rdev = nix::sys::stat::makedev(d.major, d.minor);
    if let Ok(st) = nix::sys::stat::lstat(&d.path) {
        if st.st_mode & libc::S_IFMT == kind.bits() && (d.kind == 'p' || st.st_rdev == rdev) {
            return Ok(());
        }
        return Err(Error::Other(format!(
            "linux.devices {}: a different file is already there",
            d.path.display()
        )));
    }
    if let Some(parent) = d.path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Other(format!("linux.devices {}: {e}", d.path.display())))?;
    }
    sys(
        "mknod",
        &d.path,
        nix::sys::stat::mknod(&d.path, kind, Mode::from_bits_truncate(d.mode), rdev),
    )?;
    sys(
        "chmod",
        &d.path,
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &d.path,
            Mode::from_bits_truncate(d.mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        ),
    )?;
    sys(
        "chown",
        &d.path,
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &d.path,
            Some(nix::unistd::Uid::from_raw(d.uid)),
            Some(nix::unistd::Gid::from_raw(d.gid)),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ),
    )
}

fn mount_one(
    root: &OwnedFd,
    root_path: &Path,
    m: &Mount,
    source: Option<&OwnedFd>,
    devices: &[(&'static str, OwnedFd)],
) -> Result<(), Error> {
    let shown = root_path.join(m.destination.strip_prefix("/").unwrap_or(&m.destination));
    let fs = |fstype: &str, flags: MsFlags, data: &str| -> Result<(), Error> {
        let d = resolve_create(root, &m.destination, false)?;
        if matches!(m.kind, MountKind::Proc | MountKind::Sysfs) {
            real_dir(root, &m.destination)?;
        }
        let data = (!data.is_empty()).then_some(data);
        sys(
            "mount",
            &shown,
            mount(
                Some(m.label.as_deref().unwrap_or(fstype)),
                &fd_path(&d),
                Some(fstype),
                flags,
                data,
            ),
        )
    };
    match &m.kind {
        MountKind::Proc => fs("proc", flags_of(m), &m.data)?,
        MountKind::Tmpfs { copy_up } => {
            // What the directory holds now, still reachable once it is covered.
            let rel: PathBuf = m.destination.components().skip(1).collect();
            let below = if *copy_up {
                open_in_root(root, &rel, OFlag::O_PATH | OFlag::O_DIRECTORY).ok()
            } else {
                None
            };
            fs("tmpfs", flags_of(m), &m.data)?;
            if let Some(b) = below {
                copy_tree(&fd_path(&b), &shown)?;
            }
            if m.destination == Path::new("/dev") {
                populate_dev(root, &shown, devices)?;
            }
        }
        MountKind::Mqueue => fs("mqueue", flags_of(m), &m.data)?,
        MountKind::Cgroup => {
            if super::cgroups::detect(Path::new("/sys/fs/cgroup")) == super::cgroups::Version::V2 {
                fs("cgroup2", flags_of(m), "")?;
            } else {
                let host = open_path(Path::new("/sys/fs/cgroup"))?;
                let ro = flags_of(m) | MsFlags::MS_RDONLY;
                bind(&host, root, &m.destination, false, true, ro)?;
            }
        }
        MountKind::Devpts => {
            fs("devpts", flags_of(m), &m.data)?;
            let dev = sys(
                "open /dev",
                &shown,
                open_in_root(root, Path::new("dev"), OFlag::O_PATH | OFlag::O_DIRECTORY),
            )?;
            match nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx") {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys("symlink", Path::new("/dev/ptmx"), Err(e))?),
            }
        }
        MountKind::Sysfs => {
            if let Err(e) = fs("sysfs", flags_of(m), &m.data) {
                // Without its own network namespace a user namespace may not mount sysfs:
                // bind the host's read-only instead.
                let host = open_path(Path::new("/sys"))?;
                let ro = MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC;
                bind(&host, root, &m.destination, false, true, ro).map_err(|_| e)?;
            }
        }
        MountKind::Bind { recursive, .. } => {
            let src = source.expect("bind sources are opened in order");
            let is_dir = std::fs::metadata(fd_path(src))
                .map(|md| md.is_dir())
                .unwrap_or(true);
            bind(src, root, &m.destination, !is_dir, *recursive, flags_of(m))?;
        }
        MountKind::CopyOf { .. } => {
            let src = source.expect("copy sources are opened in order");
            fs("tmpfs", flags_of(m), &m.data)?;
            copy_tree(&fd_path(src), &shown)?;
        }
    }
    Ok(())
}

fn populate_dev(
    root: &OwnedFd,
    shown: &Path,
    devices: &[(&'static str, OwnedFd)],
) -> Result<(), Error> {
    for (name, fd) in devices {
        let dest = Path::new("/dev").join(name);
        bind(fd, root, &dest, true, false, MsFlags::empty())?;
    }
    let dev = sys(
        "open /dev",
        shown,
        open_in_root(root, Path::new("dev"), OFlag::O_PATH | OFlag::O_DIRECTORY),
    )?;
    for (target, link) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
        ("/proc/kcore", "core"),
    ] {
        match nix::unistd::symlinkat(target, dev.as_fd(), link) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(sys("symlink", &shown.join(link), Err(e))?),
        }
    }
    Ok(())
}

/// Copies a directory tree (files, directories, symlinks; modes kept).
fn copy_tree(from: &Path, to: &Path) -> Result<(), Error> {
    let err =
        |e: std::io::Error| Error::Other(format!("copying {} into /context: {e}", from.display()));
    for entry in std::fs::read_dir(from).map_err(err)? {
        let entry = entry.map_err(err)?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let ft = entry.file_type().map_err(err)?;
        if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).map_err(err)?, &dst)
                .map_err(err)?;
        } else if ft.is_dir() {
            std::fs::create_dir(&dst).map_err(err)?;
            copy_tree(&src, &dst)?;
            std::fs::set_permissions(&dst, std::fs::metadata(&src).map_err(err)?.permissions())
                .map_err(err)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(err)?;
        }
    }
    Ok(())
}

/// pivot_root into `new_root` and detach the old root (the pivot_root(".", ".") idiom).
fn pivot(new_root: &Path) -> Result<(), Error> {
    sys("chdir", new_root, nix::unistd::chdir(new_root))?;
    sys("pivot_root", new_root, nix::unistd::pivot_root(".", "."))?;
    sys(
        "detach old root",
        new_root,
        umount2(".", MntFlags::MNT_DETACH),
    )?;
    sys("chdir", Path::new("/"), nix::unistd::chdir("/"))
}

/// Hides `p`: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask(p: &Path) -> Result<(), Error> {
    match std::fs::symlink_metadata(p) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => sys(
            "mask",
            p,
            mount(
                Some("tmpfs"),
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=0"),
            ),
        ),
        Ok(_) => sys(
            "mask",
            p,
            mount(
                Some("/dev/null"),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            ),
        ),
    }
}

/// Sets the hostname of the (new) UTS namespace.
pub fn set_hostname(h: &str) -> Result<(), Error> {
    sys("sethostname", Path::new(h), nix::unistd::sethostname(h))
}

/// Checks before any namespace exists that a --rootfs directory is usable.
pub fn check_root(cfg: &Config) -> Result<(), Error> {
    if let RootFs::Dir(d) = &cfg.root {
        if !d.is_dir() {
            return Err(Error::Other(format!(
                "rootfs {} is not a directory",
                d.display()
            )));
        }
    }
    for m in &cfg.mounts {
        if let MountKind::Bind { source, .. } | MountKind::CopyOf { source } = &m.kind {
            if std::fs::metadata(source).is_err() {
                return Err(Error::Other(format!(
                    "volume source {} does not exist",
                    source.display()
                )));
            }
        }
    }
    Ok(())
}
