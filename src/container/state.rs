//! Container state under the runtime root: one directory per container, created
//! atomically (a duplicate ID fails), a lock file for concurrent verbs, state.json, and the
//! exec FIFO while the container is `created`. The status is never stored: it is read from
//! the kernel each time (is the process alive, is it still the same process, is the FIFO
//! still there, is the cgroup frozen).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container '{0}' does not exist")]
    NotFound(String),
    #[error("container '{0}' already exists")]
    Exists(String),
    #[error(
        "invalid container ID '{0}': use letters, digits, '_', '-' and '.', not starting with '.'"
    )]
    BadId(String),
    #[error("{path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error("--root {} is not a directory", .0.display())]
    RootNotDir(PathBuf),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NotFound(_) => {
                Some("`nucleus list` shows the containers under this --root".into())
            }
            Error::Exists(_) => {
                Some("pick another ID, or `nucleus delete` the old container first".into())
            }
            Error::RootNotDir(_) => Some(
                "give --root a directory for container state (nucleus creates it when missing; \
                 the default is /run/nucleus)"
                    .into(),
            ),
            Error::Io { why, .. } if why.contains("Permission denied") => Some(
                "give --root a directory you may write (rootless, nucleus uses \
                 $XDG_RUNTIME_DIR/nucleus when XDG_RUNTIME_DIR is set)"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

/// What is stored about a container.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    /// The process's start time (field 22 of /proc/PID/stat): tells a reused PID apart.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// RFC 3339, UTC.
    pub created: String,
    pub owner: String,
    /// The cgroup's leaves (one per v1 controller, or the v2 one).
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The cgroup directories create made (leaves and missing parents): delete removes them.
    #[serde(default)]
    pub cgroup_made: Vec<PathBuf>,
    /// Written by `create` before it makes anything (the planned cgroups, then the pid the
    /// moment the process exists) and cleared when create has finished: a record that
    /// still says `creating` belongs to a create that was killed, and `delete --force`
    /// removes what it names.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// Hooks that run after create has finished (start and delete run them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<crate::spec::config::Hook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<crate::spec::config::Hook>,
    /// Capability tracing is on (annotation `run.nucleus.trace-caps`): recorded before the
    /// tracefs instance is made, so that `delete` (also after a killed create) collects
    /// the report and removes the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
    /// The resource limits in force on the container's cgroup (as created, then as
    /// `update` changed them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<crate::spec::config::Resources>,
    /// `--systemd-cgroup`: the transient unit systemd holds the container's cgroup in,
    /// recorded before it is asked for; `delete` stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<crate::linux::systemd::Recorded>,
}

/// A container's capability trace: its tracefs instance and where the report goes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Trace {
    pub instance: String,
    /// Absolute host path; written by `delete`.
    pub report: PathBuf,
}

impl State {
    /// The OCI state document with `status` (what `state` prints and hooks read).
    pub fn oci(&self, status: Status) -> OciState<'_> {
        OciState {
            oci_version: &self.oci_version,
            id: &self.id,
            status,
            pid: if status == Status::Stopped {
                0
            } else {
                self.pid
            },
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: &self.owner,
            annotations: &self.annotations,
        }
    }

    /// The state document as hooks get it on stdin.
    pub fn hook_input(&self, status: Status) -> Vec<u8> {
        serde_json::to_vec(&self.oci(status)).unwrap_or_default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// The OCI state document (`nucleus state`).
#[derive(Serialize)]
pub struct OciState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    pub pid: i32,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    pub owner: &'a str,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

pub use crate::linux::process::live_start_time;

/// The runtime root: where containers' state lives.
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(root: PathBuf) -> Store {
        Store { root }
    }

    /// The store at `root`, which must be a directory, or not exist yet (it is made on the
    /// first create), or lie behind a directory this process may not read (the verb then
    /// says so itself). A file, a FIFO or a path through a file is refused.
    pub fn open(root: PathBuf) -> Result<Store, Error> {
        match std::fs::metadata(&root) {
            Ok(m) if !m.is_dir() => Err(Error::RootNotDir(root)),
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => Err(Error::RootNotDir(root)),
            _ => Ok(Store { root }),
        }
    }

    /// Where containers are recorded without `--root`, as runc decides: `/run/nucleus` for
    /// root in the initial user namespace; `$XDG_RUNTIME_DIR/nucleus` when rootless (a
    /// non-root user, or root inside a user namespace such as rootless Podman's, unless
    /// `USER=root` says it is a root session inside a container); else `/run/nucleus` for
    /// root and `/tmp/nucleus-<euid>` for others.
    pub fn default_root() -> PathBuf {
        let euid = nix::unistd::geteuid();
        if euid.is_root() && crate::linux::userns::in_initial_userns() {
            return PathBuf::from("/run/nucleus");
        }
        let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
        let root_session = euid.is_root() && std::env::var_os("USER").is_some_and(|u| u == "root");
        match xdg {
            Some(d) if !root_session => PathBuf::from(d).join("nucleus"),
            _ if euid.is_root() => PathBuf::from("/run/nucleus"),
            _ => PathBuf::from(format!("/tmp/nucleus-{euid}")),
        }
    }

    pub fn check_id(id: &str) -> Result<(), Error> {
        let ok = !id.is_empty()
            && id.len() <= 1024
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if ok {
            Ok(())
        } else {
            Err(Error::BadId(id.to_string()))
        }
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Creates the container's directory (atomically: a second create of the ID fails).
    pub fn create_dir(&self, id: &str) -> Result<PathBuf, Error> {
        Store::check_id(id)?;
        std::fs::create_dir_all(&self.root).map_err(|e| io(&self.root, e))?;
        let d = self.dir(id);
        match std::fs::create_dir(&d) {
            Ok(()) => Ok(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(io(&d, e)),
        }
    }

    /// Takes the container's lock (blocking): verbs on one ID run one at a time.
    pub fn lock(&self, id: &str) -> Result<Lock, Error> {
        Store::check_id(id)?;
        let d = self.dir(id);
        if !d.is_dir() {
            return Err(Error::NotFound(id.to_string()));
        }
        let p = d.join("lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .map_err(|e| io(&p, e))?;
        let fd = OwnedFd::from(f);
        nix::fcntl::Flock::lock(fd, nix::fcntl::FlockArg::LockExclusive)
            .map(|l| Lock { _flock: l })
            .map_err(|(_, e)| io(&p, e))
    }

    pub fn save(&self, st: &State) -> Result<(), Error> {
        let d = self.dir(&st.id);
        let tmp = d.join("state.json.tmp");
        let text = serde_json::to_string(st).expect("state serializes");
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, d.join("state.json")).map_err(|e| io(&d, e))
    }

    /// The stored state; None while `create` has not written it yet (or crashed before).
    pub fn load(&self, id: &str) -> Result<Option<State>, Error> {
        Store::check_id(id)?;
        let d = self.dir(id);
        if !d.is_dir() {
            return Err(Error::NotFound(id.to_string()));
        }
        let p = d.join("state.json");
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| io(&p, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p, e)),
        }
    }

    pub fn ids(&self) -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
            Err(e) => return Err(io(&self.root, e)),
        };
        ids.sort();
        Ok(ids)
    }

    pub fn remove(&self, id: &str) -> Result<(), Error> {
        let d = self.dir(id);
        std::fs::remove_dir_all(&d).map_err(|e| io(&d, e))
    }

    /// The status, read from the kernel: the process alive and the same one, the FIFO,
    /// the freezer.
    pub fn status(&self, st: Option<&State>) -> Status {
        let Some(st) = st.filter(|st| !st.creating) else {
            return Status::Creating;
        };
        if st.pid <= 0 || live_start_time(st.pid) != Some(st.start_time) {
            return Status::Stopped;
        }
        if self.fifo(&st.id).exists() {
            return Status::Created;
        }
        if crate::linux::cgroups::is_frozen(&st.cgroup_dirs) {
            Status::Paused
        } else {
            Status::Running
        }
    }
}

/// An exclusive lock on one container, released on drop.
pub struct Lock {
    _flock: nix::fcntl::Flock<OwnedFd>,
}

/// Now, as RFC 3339 UTC (seconds), without a date crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times() {
        for ok in ["a", "web-1", "x.y_z", "ABC123"] {
            assert!(Store::check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "a/b", "../x", "a b", "é"] {
            assert!(Store::check_id(bad).is_err(), "{bad}");
        }
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
        let me = std::process::id() as i32;
        assert!(live_start_time(me).is_some());
        assert!(live_start_time(i32::MAX).is_none());
    }

    #[test]
    fn store_round_trip_and_duplicates() {
        let root = std::env::temp_dir().join(format!("nucleus-store-{}", std::process::id()));
        let s = Store::new(root.clone());
        s.create_dir("c1").unwrap();
        assert!(matches!(s.create_dir("c1"), Err(Error::Exists(_))));
        assert!(s.load("c1").unwrap().is_none());
        assert_eq!(s.status(None), Status::Creating);
        let st = State {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            pid: std::process::id() as i32,
            start_time: live_start_time(std::process::id() as i32).unwrap(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            annotations: HashMap::new(),
            created: now_rfc3339(),
            owner: "root".into(),
            cgroup_dirs: vec![],
            cgroup_made: vec![],
            creating: false,
            poststart: vec![],
            poststop: vec![],
            trace: Some(Trace {
                instance: "nucleus-oci-c1".into(),
                report: "/tmp/r.json".into(),
            }),
            resources: None,
            systemd: None,
        };
        s.save(&st).unwrap();
        let back = s.load("c1").unwrap().unwrap();
        assert_eq!(back.pid, st.pid);
        assert_eq!(back.trace, st.trace);
        assert_eq!(s.status(Some(&back)), Status::Running);
        let dead = State {
            start_time: back.start_time + 1,
            ..back
        };
        assert_eq!(
            s.status(Some(&dead)),
            Status::Stopped,
            "a reused pid is not our process"
        );
        let _l = s.lock("c1").unwrap();
        assert_eq!(s.ids().unwrap(), vec!["c1".to_string()]);
        assert!(matches!(s.load("nope"), Err(Error::NotFound(_))));
        s.remove("c1").unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
