//! Read-only access to a container's cgroup for `nucleus events`: the files a stats
//! record is made of, and OOM notifications (v1: `memory.oom_control` registered through
//! `cgroup.event_control` with an eventfd; v2: `memory.events` watched with inotify).
//! The files are returned as text; `container::stats` (pure) makes the record.
//! Only directories recorded in the container's state, and checked to be cgroups below
//! /sys/fs/cgroup ([`cgroups::check_recorded`]), are read; nothing is written except the
//! v1 event registration, which the kernel removes with the eventfd.

use super::cgroups::{self, Version};
use nix::errno::Errno;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error(transparent)]
    Cgroup(#[from] cgroups::Error),
    #[error("container's cgroup has no {0} controller")]
    NoController(&'static str),
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// The cgroup version of the host's hierarchy.
pub fn version() -> Version {
    cgroups::detect(Path::new(cgroups::MOUNTPOINT))
}

/// The container's cgroup, from its recorded leaves (each checked): on v1 one directory
/// per controller, on v2 the one directory.
#[derive(Debug, Clone)]
pub struct ContainerCgroup {
    pub version: Version,
    /// v1: (controller, directory) for every controller of every recorded hierarchy
    /// (`cpu,cpuacct` gives both); v2: ("", directory).
    dirs: Vec<(String, PathBuf)>,
}

impl ContainerCgroup {
    pub fn new(leaves: &[PathBuf]) -> Result<ContainerCgroup, Error> {
        let version = version();
        let mut dirs = Vec::new();
        for leaf in leaves.iter().filter(|d| d.exists()) {
            cgroups::check_recorded(leaf)?;
            match version {
                Version::V2 => dirs.push((String::new(), leaf.clone())),
                Version::V1 => {
                    // /sys/fs/cgroup/<hierarchy>/…; a hierarchy may be a symlink to a
                    // co-mounted one (cpu -> cpu,cpuacct): its real name lists them all.
                    let rest = leaf
                        .strip_prefix(cgroups::MOUNTPOINT)
                        .map_err(|e| io(leaf, e))?;
                    let Some(h) = rest.components().next() else {
                        continue;
                    };
                    let hier = Path::new(cgroups::MOUNTPOINT).join(h);
                    let real = std::fs::canonicalize(&hier).unwrap_or(hier);
                    let name = real
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    for c in name.split(',') {
                        if !dirs.iter().any(|(k, _)| k == c) {
                            dirs.push((c.to_string(), leaf.clone()));
                        }
                    }
                }
            }
        }
        Ok(ContainerCgroup { version, dirs })
    }

    /// The directory holding `file` (v1: by the controller its name starts with).
    fn dir_for(&self, file: &str) -> Option<&Path> {
        if self.version == Version::V2 || file.starts_with("cgroup.") {
            return self.dirs.first().map(|(_, d)| d.as_path());
        }
        let ctrl = file.split('.').next().unwrap_or_default();
        self.dirs
            .iter()
            .find(|(c, _)| c == ctrl)
            .map(|(_, d)| d.as_path())
    }

    /// The memory controller's directory (v2: the cgroup's, if memory is enabled there).
    pub fn memory_dir(&self) -> Option<&Path> {
        let d = self.dir_for("memory.stat")?;
        d.join(match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        })
        .exists()
        .then_some(d)
    }

    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// Reads `wanted` files; a file that does not exist here (controller not in this
    /// cgroup, kernel without it) is left out.
    pub fn snapshot(&self, wanted: &[String]) -> Result<BTreeMap<String, String>, Error> {
        let mut s = BTreeMap::new();
        for f in wanted {
            let Some(dir) = self.dir_for(f) else {
                continue;
            };
            let p = dir.join(f);
            match std::fs::read_to_string(&p) {
                Ok(t) => {
                    s.insert(f.clone(), t);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Files the kernel lists but cannot read in this configuration.
                Err(e)
                    if [libc::EOPNOTSUPP, libc::EINVAL, libc::ENODEV]
                        .contains(&e.raw_os_error().unwrap_or(0)) => {}
                Err(e) => return Err(io(&p, e)),
            }
        }
        Ok(s)
    }
}

/// The entries of /sys/kernel/mm/hugepages (`hugepages-2048kB`, …), sorted.
pub fn hugepage_dirs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// USER_HZ, the unit of cpuacct.stat.
pub fn clock_ticks() -> u64 {
    match nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK) {
        Ok(Some(v)) if v > 0 => v as u64,
        _ => 100,
    }
}

/// `/proc/<pid>/net/dev` when `pid` has a network namespace of its own (not this
/// process's): the container's interfaces. None when it shares ours or cannot be read.
pub fn net_dev(pid: i32) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let theirs = std::fs::metadata(format!("/proc/{pid}/ns/net")).ok()?;
    let ours = std::fs::metadata("/proc/self/ns/net").ok()?;
    if (theirs.dev(), theirs.ino()) == (ours.dev(), ours.ino()) {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()
}

// ---- OOM notifications ----

/// Notifies about OOM in a memory cgroup: poll [`OomWatch::as_fd`] for readability,
/// then [`OomWatch::take`] says what happened.
pub struct OomWatch {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    /// The eventfd registered for memory.oom_control; the control file stays open as
    /// long as the registration.
    V1 {
        _oom_control: std::fs::File,
        event_control: PathBuf,
    },
    /// inotify on memory.events.
    V2 { events: PathBuf },
}

/// What an [`OomWatch`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// v1: this many OOM notifications.
    Count(u64),
    /// v2: memory.events changed; its text now (the caller compares the counters).
    Events(String),
}

impl OomWatch {
    /// Watches the memory cgroup `dir` of a cgroup `version`. v2 also returns the text of
    /// memory.events when the watch began (the counters to compare against).
    pub fn new(version: &Version, dir: &Path) -> Result<(OomWatch, Option<String>), Error> {
        match version {
            Version::V1 => Ok((OomWatch::v1(dir)?, None)),
            Version::V2 => OomWatch::v2(dir).map(|(w, t)| (w, Some(t))),
        }
    }

    fn v1(dir: &Path) -> Result<OomWatch, Error> {
        let oc = dir.join("memory.oom_control");
        let oom_control = std::fs::File::open(&oc).map_err(|e| io(&oc, e))?;
        // SAFETY: eventfd takes an initial value and flags and returns a new descriptor.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io(Path::new("eventfd"), Errno::last()));
        }
        // SAFETY: `raw` is a descriptor the kernel just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let ec = dir.join("cgroup.event_control");
        let line = format!("{} {}", fd.as_raw_fd(), oom_control.as_raw_fd());
        std::fs::write(&ec, line).map_err(|e| io(&ec, e))?;
        Ok(OomWatch {
            fd,
            kind: Kind::V1 {
                _oom_control: oom_control,
                event_control: ec,
            },
        })
    }

    fn v2(dir: &Path) -> Result<(OomWatch, String), Error> {
        let events = dir.join("memory.events");
        // SAFETY: inotify_init1 takes flags and returns a new descriptor.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            return Err(io(Path::new("inotify"), Errno::last()));
        }
        // SAFETY: `raw` is a descriptor the kernel just returned to us.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|e| io(&events, e))?;
        // SAFETY: inotify_add_watch reads the NUL-terminated path and adds a watch to the
        // inotify descriptor we own.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
        if wd < 0 {
            return Err(io(&events, Errno::last()));
        }
        // Read after the watch exists: a change in between is seen either way.
        let text = std::fs::read_to_string(&events).map_err(|e| io(&events, e))?;
        Ok((
            OomWatch {
                fd,
                kind: Kind::V2 { events },
            },
            text,
        ))
    }

    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// What happened since the last call; None if nothing (never blocks). `force`: on
    /// v2, read memory.events even without a notification (the kernel rate-limits them).
    pub fn take(&mut self, force: bool) -> Result<Option<Notice>, Error> {
        let dup = self.fd.try_clone().map_err(|e| io(Path::new("fd"), e))?;
        let mut f = std::fs::File::from(dup);
        match &self.kind {
            Kind::V1 { event_control, .. } => {
                let mut b = [0u8; 8];
                match f.read(&mut b) {
                    Ok(8) => {}
                    Ok(_) => return Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                    Err(e) => return Err(io(Path::new("eventfd"), e)),
                }
                // The kernel also signals when the cgroup is removed: not an OOM.
                if !event_control.exists() {
                    return Ok(None);
                }
                Ok(Some(Notice::Count(u64::from_ne_bytes(b))))
            }
            Kind::V2 { events } => {
                // Drain the inotify queue; the counters say what happened.
                let mut b = [0u8; 4096];
                let mut any = false;
                loop {
                    match f.read(&mut b) {
                        Ok(0) => break,
                        Ok(_) => any = true,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(io(Path::new("inotify"), e)),
                    }
                }
                if !any && !force {
                    return Ok(None);
                }
                match std::fs::read_to_string(events) {
                    Ok(t) => Ok(Some(Notice::Events(t))),
                    // The cgroup was removed.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(io(events, e)),
                }
            }
        }
    }
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which are readable.
/// A signal that interrupts the wait is not an event: it waits again (for the time left).
pub fn wait_readable(fds: &[BorrowedFd<'_>], timeout: Duration) -> Result<Vec<bool>, Errno> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // Round up so that a sub-millisecond rest does not spin.
        let ms = if left > Duration::from_millis(ms as u64) {
            ms.saturating_add(1)
        } else {
            ms
        };
        let mut pfds: Vec<PollFd> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        let t = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        match poll(&mut pfds, t) {
            Ok(_) => {
                return Ok(pfds
                    .iter()
                    .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                    .collect())
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
