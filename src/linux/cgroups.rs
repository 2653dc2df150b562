//! cgroups v1 and v2: create a cgroup with limits, put a process in it, remove it.
//!
//! v2 when /sys/fs/cgroup is a cgroup2 mount; otherwise v1 (including the hybrid layout,
//! whose v2 part at /sys/fs/cgroup/unified holds no memory/pids/cpu controllers). The mount
//! point is a parameter so that tests can run the writes against a directory laid out like
//! cgroupfs.

use crate::spec::config::Resources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error("cgroup controller '{0}' is not available here")]
    Missing(&'static str),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Io { why, .. } if why.contains("ermission") || why.contains("Read-only") => Some(
                "resource limits need root (or a delegated cgroup); drop --memory/--pids/--cpus to run rootless".into(),
            ),
            _ => None,
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|e| io(path, e))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Which hierarchy `mountpoint` (normally /sys/fs/cgroup) is.
pub fn detect(mountpoint: &Path) -> Version {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    match nix::sys::statfs::statfs(mountpoint) {
        Ok(s) if s.filesystem_type().0 == CGROUP2_SUPER_MAGIC => Version::V2,
        _ => Version::V1,
    }
}

/// A cgroup this process created (one directory per v1 controller, or one v2 directory).
#[derive(Debug)]
pub struct Cgroup {
    pub dirs: Vec<PathBuf>,
}

fn controllers_for(r: &Resources) -> Vec<&'static str> {
    let mut c = Vec::new();
    if r.memory.is_some() {
        c.push("memory");
    }
    if r.pids.is_some() {
        c.push("pids");
    }
    if r.cpu_quota.is_some() {
        c.push("cpu");
    }
    if r.freezer {
        c.push("freezer");
    }
    c
}

impl Cgroup {
    /// Creates cgroup `name` under `mountpoint` with the limits of `r`. On failure nothing
    /// created is left behind.
    pub fn create(
        mountpoint: &Path,
        version: &Version,
        name: &str,
        r: &Resources,
    ) -> Result<Cgroup, Error> {
        let mut cg = Cgroup { dirs: Vec::new() };
        let res = match version {
            Version::V1 => cg.create_v1(mountpoint, name, r),
            Version::V2 => cg.create_v2(mountpoint, name, r),
        };
        if let Err(e) = res {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn mkdir(&mut self, dir: PathBuf) -> Result<(), Error> {
        std::fs::create_dir(&dir).map_err(|e| io(&dir, e))?;
        self.dirs.push(dir);
        Ok(())
    }

    fn create_v1(&mut self, mp: &Path, name: &str, r: &Resources) -> Result<(), Error> {
        for ctrl in controllers_for(r) {
            let base = mp.join(ctrl);
            if !base.join("cgroup.procs").exists() {
                return Err(Error::Missing(ctrl));
            }
            let dir = base.join(name);
            self.mkdir(dir.clone())?;
            match ctrl {
                "memory" => {
                    let m = r.memory.unwrap_or_default().to_string();
                    write(&dir.join("memory.limit_in_bytes"), &m)?;
                    // Memory+swap at the same limit: the process cannot escape into swap.
                    let sw = dir.join("memory.memsw.limit_in_bytes");
                    if sw.exists() {
                        write(&sw, &m)?;
                    }
                }
                "freezer" => {}
                "pids" => write(
                    &dir.join("pids.max"),
                    &r.pids.unwrap_or_default().to_string(),
                )?,
                _ => {
                    write(&dir.join("cpu.cfs_period_us"), &r.cpu_period.to_string())?;
                    write(
                        &dir.join("cpu.cfs_quota_us"),
                        &r.cpu_quota.unwrap_or_default().to_string(),
                    )?;
                }
            }
        }
        Ok(())
    }

    fn create_v2(&mut self, mp: &Path, name: &str, r: &Resources) -> Result<(), Error> {
        // v2 freezes any cgroup through cgroup.freeze: no controller to enable.
        let wanted: Vec<&str> = controllers_for(r)
            .into_iter()
            .filter(|c| *c != "freezer")
            .collect();
        let available =
            std::fs::read_to_string(mp.join("cgroup.controllers")).map_err(|e| io(mp, e))?;
        for c in &wanted {
            if !available.split_whitespace().any(|a| a == *c) {
                return Err(Error::Missing(c));
            }
        }
        if !wanted.is_empty() {
            let enable: Vec<String> = wanted.iter().map(|c| format!("+{c}")).collect();
            write(&mp.join("cgroup.subtree_control"), &enable.join(" "))?;
        }
        let dir = mp.join(name);
        self.mkdir(dir.clone())?;
        if let Some(m) = r.memory {
            write(&dir.join("memory.max"), &m.to_string())?;
            let sw = dir.join("memory.swap.max");
            if sw.exists() {
                write(&sw, "0")?;
            }
        }
        if let Some(p) = r.pids {
            write(&dir.join("pids.max"), &p.to_string())?;
        }
        if let Some(q) = r.cpu_quota {
            write(&dir.join("cpu.max"), &format!("{q} {}", r.cpu_period))?;
        }
        Ok(())
    }

    /// Keeps the cgroup past this value (a created container owns it): returns its
    /// directories, which are then no longer removed on drop.
    pub fn keep(mut self) -> Vec<PathBuf> {
        std::mem::take(&mut self.dirs)
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), Error> {
        for d in &self.dirs {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Removes the cgroup directories. The kernel refuses while a process is still inside
    /// (it may be exiting): retry for up to a second.
    pub fn remove(&mut self) {
        for d in self.dirs.drain(..).rev() {
            for _ in 0..200 {
                match std::fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    // A directory made in a test tree holds plain files: remove them too.
                    Err(_) => {
                        let _ = std::fs::remove_dir_all(&d);
                        break;
                    }
                }
            }
        }
    }
}

/// Freezes (or thaws) the cgroups in `dirs` and waits until the kernel reports it done.
pub fn set_frozen(dirs: &[PathBuf], frozen: bool) -> Result<(), Error> {
    let mut found = false;
    for d in dirs {
        let (file, value, done_file, done): (_, _, _, &dyn Fn(&str) -> bool) =
            if d.join("freezer.state").exists() {
                let v = if frozen { "FROZEN" } else { "THAWED" };
                ("freezer.state", v, "freezer.state", &move |s: &str| {
                    s.trim() == v
                })
            } else if d.join("cgroup.freeze").exists() {
                let v = if frozen { "1" } else { "0" };
                let want = format!("frozen {v}");
                ("cgroup.freeze", v, "cgroup.events", &move |s: &str| {
                    s.lines().any(|l| l == want)
                })
            } else {
                continue;
            };
        found = true;
        write(&d.join(file), value)?;
        let mut ok = false;
        for _ in 0..400 {
            if std::fs::read_to_string(d.join(done_file)).is_ok_and(|s| done(&s)) {
                ok = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if !ok {
            return Err(Error::Io {
                path: d.clone(),
                why: format!("did not reach {value} within 2 s"),
            });
        }
    }
    if found {
        Ok(())
    } else {
        Err(Error::Missing("freezer"))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}
