//! The container's filesystem: the root (embedded tmpfs or a directory), mounts whose
//! destinations are resolved inside the root without following symlinks out of it
//! (openat2 RESOLVE_IN_ROOT), /dev, pivot_root, masked and read-only paths.
//!
//! Runs in the container's init process, inside its private mount namespace.

use super::sys::{Node, Real, Sys};
use crate::spec::config::{Config, Mount, MountKind, RootFs};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

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

use super::inroot::fd_path;

fn open_path(p: &Path) -> Result<OwnedFd, Error> {
    sys(
        "open",
        p,
        nix::fcntl::open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()),
    )
}

/// Opens `rel` inside `root` (see `inroot::open`).
fn open_in_root(root: &OwnedFd, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    super::inroot::open(root.as_fd(), rel, flags)
}

/// Resolves `dest` inside `root`, creating missing components (directories, and a file as
/// the last one when `file` is set); returns an O_PATH descriptor of the result.
/// A symlink as the last component (dangling or not) is followed inside the root.
fn resolve_create(root: &OwnedFd, dest: &Path, file: bool) -> Result<OwnedFd, Error> {
    let followed = if file {
        super::inroot::follow_last(root.as_fd(), dest)
    } else {
        Ok(dest.to_path_buf())
    };
    followed
        .and_then(|d| super::inroot::create(root.as_fd(), &d, file))
        .map_err(|errno| Error::Sys {
            what: if file { "create" } else { "mkdir" },
            path: dest.to_path_buf(),
            errno,
        })
}

/// Refuses a destination reached through a symlink, or that is not a directory: procfs and
/// sysfs go only on real directories (the CVE-2019-16884 class).
fn real_dir(root: &OwnedFd, dest: &Path) -> Result<(), Error> {
    match super::inroot::open_no_symlinks(root.as_fd(), dest, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(_) => Ok(()),
        Err(Errno::ELOOP | Errno::ENOTDIR) => Err(Error::Other(format!(
            "refusing to mount on {}: it is a symlink or not a directory in the root filesystem",
            dest.display()
        ))),
        Err(e) => sys("resolve", dest, Err(e)),
    }
}

/// Refuses, before anything is created through it, a /proc or /sys (any procfs or sysfs
/// destination) that the root filesystem has as a symlink or a non-directory: the
/// CVE-2019-16884 class, named with where the link points. A missing one is fine (it is
/// made as a directory).
fn refuse_symlinked(root: &OwnedFd, dest: &Path, fstype: &str) -> Result<(), Error> {
    let what = match super::inroot::open_no_symlinks(root.as_fd(), dest, OFlag::O_PATH) {
        Ok(fd) if std::fs::metadata(fd_path(&fd)).is_ok_and(|m| m.is_dir()) => return Ok(()),
        Err(Errno::ENOENT) => return Ok(()),
        Ok(_) | Err(Errno::ENOTDIR) => "not a directory".to_string(),
        Err(Errno::ELOOP) => {
            let target = super::inroot::parent_of(root.as_fd(), dest)
                .and_then(|(dir, name)| nix::fcntl::readlinkat(&dir, name.as_os_str()));
            match target {
                Ok(t) => format!("a symlink to {}", t.to_string_lossy()),
                // A component above it is the symlink.
                Err(_) => "reached through a symlink".to_string(),
            }
        }
        Err(e) => return sys("resolve", dest, Err(e)),
    };
    Err(Error::Other(format!(
        "{} is {what} in the root filesystem: {fstype} is mounted only on a real directory \
         (make {} an empty directory in the image)",
        dest.display(),
        dest.display()
    )))
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
fn remount_bind(os: &dyn Sys, target: &Path, extra: MsFlags) -> Result<(), Error> {
    use nix::sys::statvfs::FsFlags;
    let have = sys("statvfs", target, os.mount_flags(target))?;
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
    // Neither noatime nor relatime: strictatime, which mount(2) must be told (it defaults
    // to relatime, and a locked atime mode may not change: EPERM in a user namespace).
    if !have.intersects(FsFlags::ST_NOATIME | FsFlags::ST_RELATIME)
        && !extra.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME)
    {
        f |= MsFlags::MS_STRICTATIME;
    }
    sys("remount", target, os.mount(None, target, None, f, None))
}

/// Bind-mounts the object open as `src` at `dest` inside `root` (created as a directory, or
/// a file when `file`), then applies `flags` with a remount.
fn bind(
    os: &dyn Sys,
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
    let source = fd_path(src);
    let r = os.mount(Some(&source), &fd_path(&d), None, f, None);
    sys("bind", dest, r)?;
    if !flags.is_empty() {
        // `d` still names the covered directory: resolve again to reach the new mount.
        let top = resolve_create(root, dest, file)?;
        remount_bind(os, &fd_path(&top), flags)?;
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

/// What the container's /sys/fs/cgroup shows.
enum CgroupView {
    /// cgroup v2 with a cgroup namespace: a fresh cgroup2 mount's root is the container's
    /// own cgroup.
    Fresh,
    /// cgroup v2 without a cgroup namespace: the container's leaf, bound.
    Leaf(OwnedFd),
    /// cgroup v1: for each hierarchy the container has a cgroup in, that leaf (named as
    /// the host names the hierarchy, e.g. `cpu,cpuacct`), plus the host's alias symlinks
    /// to them (`cpu -> cpu,cpuacct`). No leaf at all: an empty directory.
    Hierarchies {
        dirs: Vec<(String, OwnedFd)>,
        links: Vec<(String, String)>,
    },
}

/// Opens the container's cgroup leaves (host paths, made by the runtime) for its view.
fn open_cgroup_view(cfg: &Config, leaves: &[PathBuf]) -> Result<CgroupView, Error> {
    use super::cgroups::{detect, Version, MOUNTPOINT};
    if !cfg.mounts.iter().any(|m| m.kind == MountKind::Cgroup) {
        return Ok(CgroupView::Hierarchies {
            dirs: vec![],
            links: vec![],
        });
    }
    let mp = Path::new(MOUNTPOINT);
    if detect(mp) == Version::V2 {
        return Ok(match leaves.first() {
            _ if cfg.namespaces.cgroup => CgroupView::Fresh,
            Some(leaf) => CgroupView::Leaf(open_path(leaf)?),
            None => CgroupView::Hierarchies {
                dirs: vec![],
                links: vec![],
            },
        });
    }
    let mut dirs = Vec::new();
    for leaf in leaves {
        let Some(Component::Normal(first)) = leaf
            .strip_prefix(mp)
            .ok()
            .and_then(|r| r.components().next())
        else {
            continue;
        };
        // `cpu` may be the host's alias of `cpu,cpuacct`: name the directory after the
        // hierarchy's mount itself.
        let entry = mp.join(first);
        let name = match std::fs::read_link(&entry) {
            Ok(t) if t.components().count() == 1 => t.to_string_lossy().into_owned(),
            _ => first.to_string_lossy().into_owned(),
        };
        if !dirs.iter().any(|(n, _)| *n == name) {
            dirs.push((name, open_path(leaf)?));
        }
    }
    let mut links = Vec::new();
    if let Ok(rd) = std::fs::read_dir(mp) {
        for e in rd.flatten() {
            let link = e.file_name().to_string_lossy().into_owned();
            if let Ok(t) = std::fs::read_link(e.path()) {
                let t = t.to_string_lossy().into_owned();
                if dirs.iter().any(|(n, _)| *n == t) {
                    links.push((link, t));
                }
            }
        }
    }
    Ok(CgroupView::Hierarchies { dirs, links })
}

/// Sources opened before anything is mounted, so later mounts cannot redirect them.
struct Sources<'a> {
    cgroup: CgroupView,
    volumes: Vec<Option<Volume<'a>>>,
    system: Vec<Named<SystemEntry>>,
    etc: Vec<EtcEntry>,
    devices: Vec<(&'static str, OwnedFd)>,
}

/// A host entry the embedded root shows under its name.
type Named<T> = (&'static str, T);
/// An /etc entry of the host: name, opened, whether it is a directory.
type EtcEntry = (&'static str, OwnedFd, bool);

enum SystemEntry {
    Dir(OwnedFd),
    Link(PathBuf),
}

fn open_sources<'a>(
    cfg: &Config,
    cgroup_leaves: &[PathBuf],
    trees: &'a [Option<OwnedFd>],
) -> Result<Sources<'a>, Error> {
    let mut volumes = Vec::new();
    for (i, m) in cfg.mounts.iter().enumerate() {
        let tree = trees.get(i).and_then(Option::as_ref);
        volumes.push(match &m.kind {
            // An id-mapped mount is only ever the runtime's tree.
            MountKind::Bind { .. } if m.attrs.idmap.is_some() => {
                Some(Volume::Tree(tree.map(|t| t.as_fd()).ok_or_else(|| {
                    Error::Other(format!(
                        "mount {}: the runtime made no id-mapped tree for it",
                        m.destination.display()
                    ))
                })?))
            }
            MountKind::Bind { source, .. } | MountKind::CopyOf { source } => {
                // Opened here, in the container's mount namespace, so that its binds are
                // copies that keep the host mount's locked flags; the runtime's tree (taken
                // with the host identity) only for a source this process cannot reach.
                match (open_path(source), tree) {
                    (Ok(fd), _) => Some(Volume::Path(fd)),
                    (Err(_), Some(t)) => Some(Volume::Tree(t.as_fd())),
                    (Err(_), None) => {
                        return Err(Error::Other(format!(
                            "mount source {} does not exist (or is not reachable)",
                            source.display()
                        )))
                    }
                }
            }
            _ => None,
        });
    }
    let (system, etc) = if cfg.root == RootFs::Embedded {
        embedded_sources()?
    } else {
        (Vec::new(), Vec::new())
    };
    let mut devices = Vec::new();
    for d in DEVICES {
        let p = Path::new("/dev").join(d);
        if p.exists() {
            devices.push((*d, open_path(&p)?));
        }
    }
    Ok(Sources {
        cgroup: open_cgroup_view(cfg, cgroup_leaves)?,
        volumes,
        system,
        etc,
        devices,
    })
}

/// The host directories and /etc entries the embedded root shows, opened.
fn embedded_sources() -> Result<(Vec<Named<SystemEntry>>, Vec<EtcEntry>), Error> {
    let mut system = Vec::new();
    let mut etc = Vec::new();
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
    Ok((system, etc))
}

/// The directory the embedded root tmpfs is staged on, inside the private mount namespace.
/// Every bind source is opened before it is covered.
const STAGING: &str = "/tmp";

/// Builds the root filesystem and pivots into it. After this, `/` is the container's root.
/// `before_pivot` runs once everything is mounted (the createContainer hooks).
/// `cgroup` lists the container's cgroup leaves (host paths): its /sys/fs/cgroup shows them.
/// `trees`: what `premount` made in the runtime, by index of `cfg.mounts`.
pub fn setup(
    cfg: &Config,
    cgroup: &[PathBuf],
    trees: &[Option<OwnedFd>],
    before_pivot: &dyn Fn() -> Result<(), Error>,
) -> Result<(), Error> {
    setup_with(&Real, cfg, cgroup, trees, before_pivot)
}

/// `setup` through the syscall seam `os`.
fn setup_with(
    os: &dyn Sys,
    cfg: &Config,
    cgroup: &[PathBuf],
    trees: &[Option<OwnedFd>],
    before_pivot: &dyn Fn() -> Result<(), Error>,
) -> Result<(), Error> {
    let slash = Path::new("/");
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    sys(
        "make private",
        slash,
        os.mount(None, slash, None, private, None),
    )?;
    let src = open_sources(cfg, cgroup, trees)?;
    let root_path = mount_root(os, &cfg.root)?;
    let root = open_path(&root_path)?;
    fill_embedded(os, cfg, &root, &src)?;
    for (m, source) in cfg.mounts.iter().zip(&src.volumes) {
        mount_one(os, &root, &root_path, m, source.as_ref(), &src)?;
    }
    for d in &cfg.devices {
        make_device(os, &root, d)?;
    }
    before_pivot()?;
    pivot(os, &root_path)
}

/// Mounts what becomes the container's `/`: a fresh tmpfs staged on STAGING (the embedded
/// root), or the --rootfs directory bound onto itself (nodev: device nodes in the image do
/// not work, /dev is ours). Returns where it is.
fn mount_root(os: &dyn Sys, root: &RootFs) -> Result<PathBuf, Error> {
    match root {
        RootFs::Embedded => {
            let p = PathBuf::from(STAGING);
            let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            let tmpfs = Some(Path::new("tmpfs"));
            let r = os.mount(
                tmpfs,
                &p,
                Some("tmpfs"),
                flags,
                Some("mode=755,size=65536k"),
            );
            sys("mount tmpfs on", &p, r)?;
            Ok(p)
        }
        RootFs::Dir(d) => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            sys("bind root", d, os.mount(Some(d), d, None, flags, None))?;
            remount_bind(os, d, MsFlags::MS_NODEV)?;
            Ok(d.clone())
        }
    }
}

/// The embedded root: host system directories read-only, a minimal /etc (and its
/// /etc/hostname). Nothing for a --rootfs directory (its sources lists are empty).
fn fill_embedded(os: &dyn Sys, cfg: &Config, root: &OwnedFd, src: &Sources) -> Result<(), Error> {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    for (name, entry) in &src.system {
        let dest = Path::new("/").join(name);
        match entry {
            SystemEntry::Link(t) => {
                let r = nix::unistd::symlinkat(t, root.as_fd(), *name);
                sys("symlink", &dest, r)?;
            }
            SystemEntry::Dir(fd) => bind(os, fd, root, &dest, false, true, ro)?,
        }
    }
    for (name, fd, dir) in &src.etc {
        let dest = Path::new("/etc").join(name);
        bind(os, fd, root, &dest, !dir, *dir, ro)?;
    }
    if let (RootFs::Embedded, Some(h)) = (&cfg.root, &cfg.hostname) {
        let path = Path::new("/etc/hostname");
        resolve_create(root, path, true)?;
        let flags = OFlag::O_WRONLY | OFlag::O_TRUNC;
        let fd = sys("open", path, open_in_root(root, path, flags))?;
        let r = nix::unistd::write(&fd, format!("{h}\n").as_bytes());
        sys("write", path, r)?;
    }
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
    finish_with(&Real, cfg)
}

/// `finish` through the syscall seam `os`.
fn finish_with(os: &dyn Sys, cfg: &Config) -> Result<(), Error> {
    let slash = Path::new("/");
    // After pivot_root: the mounts below land in this mount namespace only (the kernel
    // refuses targets in another one).
    for p in &cfg.masked_paths {
        mask(os, p)?;
    }
    for p in &cfg.readonly_paths {
        if p.exists() {
            let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
            sys("bind", p, os.mount(Some(p), p, None, rec, None))?;
            let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            remount_bind(os, p, ro | MsFlags::MS_NOEXEC)?;
        }
    }
    if cfg.readonly_root {
        remount_bind(os, slash, MsFlags::MS_RDONLY)?;
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
        let r = os.mount(None, slash, None, MsFlags::MS_REC | flag, None);
        sys("set propagation of", slash, r)?;
    }
    Ok(())
}

/// mknod of one linux.devices entry with its mode and owner, resolved inside the root. A
/// node already there with the same type and numbers is kept (the default devices are
/// bound from the host).
fn make_device(os: &dyn Sys, root: &OwnedFd, d: &crate::spec::config::Device) -> Result<(), Error> {
    use nix::sys::stat::SFlag;
    let kind = match d.kind {
        'b' => SFlag::S_IFBLK,
        'p' => SFlag::S_IFIFO,
        _ => SFlag::S_IFCHR,
    };
    let rdev = nix::sys::stat::makedev(d.major, d.minor);
    let (dir, name) = super::inroot::parent_of(root.as_fd(), &d.path)
        .map_err(|e| Error::Other(format!("linux.devices {}: {e}", d.path.display())))?;
    let at = nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW;
    if let Ok(st) = nix::sys::stat::fstatat(dir.as_fd(), name.as_os_str(), at) {
        if st.st_mode & libc::S_IFMT == kind.bits() && (d.kind == 'p' || st.st_rdev == rdev) {
            return Ok(());
        }
        if is_ptmx_link(&dir, &name, d, st.st_mode) {
            return Ok(());
        }
        return Err(Error::Other(format!(
            "linux.devices {}: a different file is already there",
            d.path.display()
        )));
    }
    let node = Node {
        dir: dir.as_fd(),
        name: &name,
        kind,
        mode: d.mode,
        rdev,
        owner: (d.uid, d.gid),
    };
    sys("mknod", &d.path, os.mknod(&node))
}

/// `/dev/ptmx` (c 5:2) in linux.devices, where the devpts mount already made the
/// `pts/ptmx` symlink: a privileged container's list (Docker, Podman) names every host
/// device, ptmx too. The symlink stays, as runc leaves it: it reaches the container's own
/// devpts instance, which the host's node would not.
fn is_ptmx_link(
    dir: &OwnedFd,
    name: &std::ffi::OsStr,
    d: &crate::spec::config::Device,
    mode: u32,
) -> bool {
    d.path == Path::new("/dev/ptmx")
        && d.kind == 'c'
        && (d.major, d.minor) == (5, 2)
        && mode & libc::S_IFMT == libc::S_IFLNK
        && nix::fcntl::readlinkat(dir.as_fd(), name).is_ok_and(|t| t == "pts/ptmx")
}

/// Mounts one entry of `cfg.mounts` at its destination inside the root (`shown`: where
/// that is on the host, for messages), then applies its whole-tree attributes.
fn mount_one(
    os: &dyn Sys,
    root: &OwnedFd,
    root_path: &Path,
    m: &Mount,
    source: Option<&Volume>,
    src: &Sources,
) -> Result<(), Error> {
    let shown = root_path.join(m.destination.strip_prefix("/").unwrap_or(&m.destination));
    let at = Target {
        os,
        root,
        m,
        shown: &shown,
    };
    let flags = fs_flags_of(m);
    match &m.kind {
        MountKind::Proc => at.fs("proc", flags, &m.data)?,
        MountKind::Overlay => at.fs("overlay", flags, &m.data)?,
        MountKind::Tmpfs { copy_up } => mount_tmpfs(&at, *copy_up, &src.devices)?,
        MountKind::Mqueue => at.fs("mqueue", flags, &m.data)?,
        // The container sees only its own cgroup (DESIGN.md §5.3), never the host's tree.
        MountKind::Cgroup => match &src.cgroup {
            CgroupView::Fresh => at.fs("cgroup2", flags, "")?,
            CgroupView::Leaf(leaf) => bind(os, leaf, root, &m.destination, false, false, flags)?,
            CgroupView::Hierarchies { dirs, links } => mount_cgroup_v1(&at, dirs, links)?,
        },
        MountKind::Devpts => {
            at.fs("devpts", flags, &m.data)?;
            let dev = sys(
                "open /dev",
                &shown,
                open_in_root(root, Path::new("dev"), DIR),
            )?;
            match nix::unistd::symlinkat("pts/ptmx", dev.as_fd(), "ptmx") {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(sys("symlink", Path::new("/dev/ptmx"), Err(e))?),
            }
        }
        MountKind::Sysfs => {
            refuse_symlinked(root, &m.destination, "sysfs")?;
            if let Err(e) = at.fs("sysfs", flags, &m.data) {
                // Without its own network namespace a user namespace may not mount sysfs:
                // bind the host's read-only instead.
                let host = open_path(Path::new("/sys"))?;
                let ro = MsFlags::MS_RDONLY
                    | MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC;
                bind(os, &host, root, &m.destination, false, true, ro).map_err(|_| e)?;
            }
        }
        MountKind::Bind { recursive, .. } => {
            let src = source.expect("bind sources are opened in order");
            bind_volume(os, root, m, src, *recursive)?;
        }
        MountKind::CopyOf { .. } => {
            let src = source.expect("copy sources are opened in order");
            at.fs("tmpfs", flags, &m.data)?;
            copy_into(root, &m.destination, src.fd())?;
        }
    }
    tree_attrs(os, root, m, &shown)
}

const DIR: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY);

/// Where one mount goes: its entry, the root it is resolved in, and the seam.
struct Target<'a> {
    os: &'a dyn Sys,
    root: &'a OwnedFd,
    m: &'a Mount,
    shown: &'a Path,
}

impl Target<'_> {
    /// Mounts a new `fstype` filesystem at the destination (made as a directory inside the
    /// root); procfs and sysfs only on a real directory.
    fn fs(&self, fstype: &str, flags: MsFlags, data: &str) -> Result<(), Error> {
        let (root, m) = (self.root, self.m);
        let pseudo = matches!(m.kind, MountKind::Proc | MountKind::Sysfs);
        if pseudo {
            refuse_symlinked(root, &m.destination, fstype)?;
        }
        let d = resolve_create(root, &m.destination, false)?;
        if pseudo {
            real_dir(root, &m.destination)?;
        }
        let data = (!data.is_empty()).then_some(data);
        let source = Path::new(m.label.as_deref().unwrap_or(fstype));
        let r = self
            .os
            .mount(Some(source), &fd_path(&d), Some(fstype), flags, data);
        sys("mount", self.shown, r)
    }
}

/// A tmpfs; with `copy_up` filled with what the directory held (still reachable once it
/// is covered); at /dev, the default devices bound into it.
fn mount_tmpfs(
    at: &Target,
    copy_up: bool,
    devices: &[(&'static str, OwnedFd)],
) -> Result<(), Error> {
    let (root, m) = (at.root, at.m);
    let below = if copy_up {
        open_in_root(root, &m.destination, DIR).ok()
    } else {
        None
    };
    at.fs("tmpfs", fs_flags_of(m), &m.data)?;
    if let Some(b) = below {
        copy_into(root, &m.destination, b.as_fd())?;
    }
    if m.destination == Path::new("/dev") {
        populate_dev(at.os, root, at.shown, devices)?;
    }
    Ok(())
}

/// cgroup v1: a tmpfs holding one directory per hierarchy, each the container's leaf
/// bound there, plus the host's alias symlinks; read-only when the mount is.
fn mount_cgroup_v1(
    at: &Target,
    dirs: &[(String, OwnedFd)],
    links: &[(String, String)],
) -> Result<(), Error> {
    let (os, root, m, shown) = (at.os, at.root, at.m, at.shown);
    let tmpfs = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    at.fs("tmpfs", tmpfs, "mode=755")?;
    let top = sys("open", shown, open_in_root(root, &m.destination, DIR))?;
    for (name, leaf) in dirs {
        let dest = m.destination.join(name);
        bind(os, leaf, root, &dest, false, false, fs_flags_of(m))?;
    }
    for (link, target) in links {
        let r = nix::unistd::symlinkat(target.as_str(), top.as_fd(), link.as_str());
        sys("symlink", &shown.join(link), r)?;
    }
    if m.readonly {
        let top = resolve_create(root, &m.destination, false)?;
        let ro = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | tmpfs;
        let r = os.mount(None, &fd_path(&top), None, ro, Some("mode=755"));
        sys("remount read-only", shown, r)?;
    }
    Ok(())
}

/// A bind source: opened by the container's process in its own mount namespace, or a
/// detached tree the runtime made with its host identity (`premount`).
enum Volume<'a> {
    Path(OwnedFd),
    Tree(std::os::fd::BorrowedFd<'a>),
}

impl Volume<'_> {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Volume::Path(fd) => fd.as_fd(),
            Volume::Tree(fd) => *fd,
        }
    }
}

/// The per-mount flags for a new filesystem: the four booleans, the other per-mount flags,
/// the superblock flags (sync, dirsync, …) and the access-time mode asked for.
fn fs_flags_of(m: &Mount) -> MsFlags {
    let a = &m.attrs;
    let bits = a.set | a.superblock | a.atime.unwrap_or(0);
    flags_of(m) | MsFlags::from_bits_retain(bits as libc::c_ulong)
}

/// MOUNT_ATTR_* of per-mount MS_* flags (the access-time mode apart).
fn attr_of(ms: u64) -> u64 {
    use crate::spec::mount_options as o;
    [
        (o::MS_RDONLY, o::ATTR_RDONLY),
        (o::MS_NOSUID, o::ATTR_NOSUID),
        (o::MS_NODEV, o::ATTR_NODEV),
        (o::MS_NOEXEC, o::ATTR_NOEXEC),
        (o::MS_NODIRATIME, o::ATTR_NODIRATIME),
        (o::MS_NOSYMFOLLOW, o::ATTR_NOSYMFOLLOW),
    ]
    .iter()
    .filter(|(f, _)| ms & f != 0)
    .fold(0, |acc, (_, a)| acc | a)
}

/// mount_setattr(2) on the mount open as `fd` (AT_RECURSIVE: and every mount below it).
pub(super) fn mount_setattr(
    fd: std::os::fd::BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    userns: Option<std::os::fd::BorrowedFd<'_>>,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let mut attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: userns.map_or(0, |u| u.as_raw_fd() as u64),
    };
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr reads `attr` (a live, correctly sized mount_attr) and the
    // empty C string; it changes only the mount open as `fd`.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &mut attr as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    Errno::result(r).map(drop)
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (with the
/// mounts below it when `recursive`).
fn open_tree_clone(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    use std::os::fd::FromRawFd;
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| Errno::EINVAL)?;
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | if recursive {
            libc::AT_RECURSIVE as u32
        } else {
            0
        };
    // SAFETY: open_tree reads the NUL-terminated `c`; a non-negative result is a new
    // descriptor that nothing else owns.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    Errno::result(r).map(|fd| {
        // SAFETY: `fd` was just returned by open_tree and is owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd as i32) }
    })
}

/// move_mount(2) of the detached tree `tree` onto the object open as `to`.
pub(super) fn move_mount(
    tree: std::os::fd::BorrowedFd<'_>,
    to: std::os::fd::BorrowedFd<'_>,
) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: move_mount reads two empty C strings; it attaches the tree open as `tree` on
    // the object open as `to` (both resolved already, inside the root for `to`).
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    Errno::result(r).map(drop)
}

/// Detached trees the runtime makes BEFORE the container's process exists, while it has
/// its host identity, by index of `cfg.mounts` (DESIGN.md §5: the paths are the config's
/// host paths; nothing inside the root is resolved here):
/// - an id-mapped bind: the source's tree, mapped with a user namespace made from the
///   mount's maps (mount_setattr(MOUNT_ATTR_IDMAP)); failure is an error;
/// - with a new user namespace, as root: every bind source, for the container to use when
///   the namespace's root cannot reach it itself (a source below a 0700 directory).
///
/// Nothing is done (no syscall) for a container without either: the default path stays
/// as it was.
pub fn premount(cfg: &Config) -> Result<Vec<Option<OwnedFd>>, Error> {
    let userns_root = cfg.namespaces.user && nix::unistd::geteuid().is_root();
    let wanted = |m: &Mount| {
        matches!(m.kind, MountKind::Bind { .. }) && (userns_root || m.attrs.idmap.is_some())
    };
    if !cfg.mounts.iter().any(wanted) {
        return Ok(Vec::new());
    }
    let mut trees = Vec::with_capacity(cfg.mounts.len());
    for m in &cfg.mounts {
        let MountKind::Bind { source, recursive } = &m.kind else {
            trees.push(None);
            continue;
        };
        if !wanted(m) {
            trees.push(None);
            continue;
        }
        let tree = open_tree_clone(source, *recursive);
        let Some(map) = &m.attrs.idmap else {
            // Only a fallback: the container opens the source itself when it can, and
            // reports a source that neither could open.
            trees.push(tree.ok());
            continue;
        };
        let what = |e: String| {
            Error::Other(format!(
                "id-mapped mount {} of {}: {e}",
                m.destination.display(),
                source.display()
            ))
        };
        let tree = tree.map_err(|e| what(format!("open_tree: {e}")))?;
        let ns = super::namespaces::user_ns_with_maps(&map.uids, &map.gids)
            .map_err(|e| what(e.to_string()))?;
        use crate::spec::mount_options::ATTR_IDMAP;
        mount_setattr(tree.as_fd(), map.recursive, ATTR_IDMAP, 0, Some(ns.as_fd())).map_err(
            |e| match e {
                Errno::EINVAL => what(format!(
                    "{e}: the filesystem cannot be id-mapped (or the maps are invalid)"
                )),
                e => what(format!("mount_setattr(MOUNT_ATTR_IDMAP): {e}")),
            },
        )?;
        trees.push(Some(tree));
    }
    Ok(trees)
}

/// Binds a volume at `m.destination` (resolved inside the root; a dangling symlink there
/// is followed inside the root) and applies its per-mount flags with mount_setattr: only
/// what the options set or clear changes, so flags the kernel locks on the source in a
/// user namespace (nosuid, nodev, noexec, ro, atime) are kept.
fn bind_volume(
    os: &dyn Sys,
    root: &OwnedFd,
    m: &Mount,
    src: &Volume,
    recursive: bool,
) -> Result<(), Error> {
    let st = sys("stat", &m.destination, nix::sys::stat::fstat(src.fd()))?;
    let file = st.st_mode & libc::S_IFMT != libc::S_IFDIR;
    let d = resolve_create(root, &m.destination, file)?;
    match src {
        Volume::Path(fd) => {
            let mut f = MsFlags::MS_BIND;
            f.set(MsFlags::MS_REC, recursive);
            let r = os.mount(Some(&fd_path(fd)), &fd_path(&d), None, f, None);
            sys("bind", &m.destination, r)?
        }
        Volume::Tree(t) => sys("move_mount", &m.destination, os.move_mount(*t, d.as_fd()))?,
    }
    // `d` still names the covered object: resolve again to reach the new mount.
    let top = resolve_create(root, &m.destination, file)?;
    let a = &m.attrs;
    use crate::spec::mount_options as o;
    let mut asked = a.set;
    for (on, f) in [
        (m.readonly, o::MS_RDONLY),
        (m.nosuid, o::MS_NOSUID),
        (m.nodev, o::MS_NODEV),
        (m.noexec, o::MS_NOEXEC),
    ] {
        if on {
            asked |= f;
        }
    }
    let (mut set, mut clear) = (attr_of(asked), attr_of(a.clear));
    if let Some(t) = a.atime {
        clear |= o::ATTR_ATIME_MASK;
        set |= match t {
            o::MS_NOATIME => o::ATTR_NOATIME,
            o::MS_STRICTATIME => o::ATTR_STRICTATIME,
            _ => o::ATTR_RELATIME,
        };
    }
    if set == 0 && clear == 0 {
        return Ok(());
    }
    match os.mount_setattr(top.as_fd(), false, set, clear, None) {
        Ok(()) => Ok(()),
        // Before Linux 5.12: a remount that keeps what the kernel locks.
        Err(Errno::ENOSYS) => remount_bind(os, &fd_path(&top), fs_flags_of(m)),
        Err(e) => sys("mount_setattr", &m.destination, Err(e)),
    }
}

/// What applies to the whole tree of a mount once it is there: the recursive attributes
/// (rro, rnosuid, …: mount_setattr with AT_RECURSIVE) and its propagation.
fn tree_attrs(os: &dyn Sys, root: &OwnedFd, m: &Mount, shown: &Path) -> Result<(), Error> {
    let a = &m.attrs;
    if !a.recursive() && a.propagation == 0 {
        return Ok(());
    }
    let top = sys(
        "open",
        shown,
        open_in_root(root, &m.destination, OFlag::O_PATH),
    )?;
    if a.recursive() {
        use crate::spec::mount_options::ATTR_ATIME_MASK;
        let (mut set, mut clear) = (a.rec_set, a.rec_clear);
        if let Some(t) = a.rec_atime {
            clear |= ATTR_ATIME_MASK;
            set |= t;
        }
        sys(
            "mount_setattr(AT_RECURSIVE)",
            shown,
            os.mount_setattr(top.as_fd(), true, set, clear, None),
        )?;
    }
    if a.propagation != 0 {
        let flags = MsFlags::from_bits_retain(a.propagation as libc::c_ulong);
        let r = os.mount(None, &fd_path(&top), None, flags, None);
        sys("set propagation of", shown, r)?;
    }
    Ok(())
}

fn populate_dev(
    os: &dyn Sys,
    root: &OwnedFd,
    shown: &Path,
    devices: &[(&'static str, OwnedFd)],
) -> Result<(), Error> {
    for (name, fd) in devices {
        let dest = Path::new("/dev").join(name);
        bind(os, fd, root, &dest, true, false, MsFlags::empty())?;
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

/// Copies the tree below `from` into the directory `dest` of the container (just mounted
/// there, resolved inside the root again), by descriptors on both sides.
fn copy_into(root: &OwnedFd, dest: &Path, from: std::os::fd::BorrowedFd<'_>) -> Result<(), Error> {
    let to = sys(
        "open",
        dest,
        open_in_root(root, dest, OFlag::O_RDONLY | OFlag::O_DIRECTORY),
    )?;
    super::inroot::copy_tree(from, to.as_fd())
        .map_err(|e| Error::Other(format!("copying into {}: {e}", dest.display())))
}

/// pivot_root into `new_root` and detach the old root (the pivot_root(".", ".") idiom).
fn pivot(os: &dyn Sys, new_root: &Path) -> Result<(), Error> {
    let (dot, slash) = (Path::new("."), Path::new("/"));
    sys("chdir", new_root, os.chdir(new_root))?;
    sys("pivot_root", new_root, os.pivot_root(dot, dot))?;
    let r = os.umount(dot, MntFlags::MNT_DETACH);
    sys("detach old root", new_root, r)?;
    sys("chdir", slash, os.chdir(slash))
}

/// Hides `p`: /dev/null over a file, an empty read-only tmpfs over a directory.
fn mask(os: &dyn Sys, p: &Path) -> Result<(), Error> {
    let r = match std::fs::symlink_metadata(p) {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => {
            let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            let tmpfs = Some(Path::new("tmpfs"));
            os.mount(
                tmpfs,
                p,
                Some("tmpfs"),
                ro | MsFlags::MS_NOEXEC,
                Some("size=0"),
            )
        }
        Ok(_) => {
            let null = Some(Path::new("/dev/null"));
            os.mount(null, p, None, MsFlags::MS_BIND, None)
        }
    };
    sys("mask", p, r)
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

#[cfg(test)]
#[path = "rootfs_tests.rs"]
mod tests;
