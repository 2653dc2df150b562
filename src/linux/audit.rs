//! `nucleus audit`'s reads: another process's /proc entries (status, uid_map, ns links,
//! mountinfo, cgroup) and its cgroup's limit files. Read only; the score is `diag::audit`.

use crate::diag::audit::{parse_limit, tighter, Limit, Namespace, Subject};
use crate::diag::mountinfo;
use crate::linux::capset as kernel;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no process with PID {0}")]
    NoProcess(i32),
    #[error("container '{0}' is {1}: it has no process to audit")]
    NotRunning(String, &'static str),
    #[error("cannot read /proc/{pid}: {source}")]
    Read { pid: i32, source: kernel::Error },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoProcess(_) => {
                Some("`nucleus caps ps` lists processes with capabilities; `ps` all of them".into())
            }
            Error::Read { .. } => Some("reading another user's process needs root".into()),
            Error::NotRunning(..) => {
                Some("`nucleus start` it first, or audit a running one".into())
            }
        }
    }
}

const NAMESPACES: [&str; 8] = ["mnt", "net", "pid", "ipc", "cgroup", "uts", "time", "user"];

/// The namespace reference: PID 1 as this process sees it (the host's init, unless
/// nucleus itself runs in a PID namespace) when its ns links are readable — the kernel
/// refuses them to a caller lacking a capability PID 1 holds — else nucleus itself.
fn reference() -> (i32, String) {
    if link(1, "mnt").is_some() {
        (1, "PID 1".into())
    } else {
        (
            std::process::id() as i32,
            "nucleus' own namespaces (PID 1's are unreadable here)".into(),
        )
    }
}

fn link(pid: i32, ns: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn root_mount(pid: i32) -> Option<mountinfo::Mount> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    mountinfo::root(&mountinfo::parse(&text)).cloned()
}

/// Reads everything `diag::audit::score` needs about `pid`.
pub fn read(pid: i32) -> Result<Subject, Error> {
    if pid <= 0 || !Path::new(&format!("/proc/{pid}")).exists() {
        return Err(Error::NoProcess(pid));
    }
    let (process, uid_map) = kernel::process(Some(pid)).map_err(|source| {
        match Path::new(&format!("/proc/{pid}")).exists() {
            true => Error::Read { pid, source },
            false => Error::NoProcess(pid),
        }
    })?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let (reference, reference_name) = reference();
    let namespaces = NAMESPACES
        .iter()
        .map(|n| Namespace {
            name: n.to_string(),
            own: link(pid, n),
            host: link(reference, n),
        })
        .collect();
    let (memory, pids) = limits(pid);
    Ok(Subject {
        pid,
        name: field("Name:").unwrap_or_default(),
        process,
        seccomp: field("Seccomp:").and_then(|v| v.parse().ok()).unwrap_or(0),
        seccomp_filters: field("Seccomp_filters:").and_then(|v| v.parse().ok()),
        uid_map,
        namespaces,
        is_reference: pid == reference,
        reference: reference_name,
        nspid_depth: field("NSpid:").map(|v| v.split_whitespace().count()),
        root: root_mount(pid),
        host_root: root_mount(1),
        memory,
        pids,
        kernel_caps: kernel::kernel_caps().unwrap_or_default(),
    })
}

/// The memory and pids limits binding `pid`: its cgroup's and every ancestor's, the
/// tightest wins. v2 when /sys/fs/cgroup is cgroup2, else the v1 hierarchies.
fn limits(pid: i32) -> (Limit, Limit) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        let u = || Limit::Unknown(format!("/proc/{pid}/cgroup unreadable"));
        return (u(), u());
    };
    let root = Path::new(super::cgroups::MOUNTPOINT);
    let v2 = super::cgroups::detect(root) == super::cgroups::Version::V2;
    let dir_of = |ctrl: &str| -> Option<PathBuf> {
        text.lines().find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let hit = if v2 {
                ctrls.is_empty()
            } else {
                ctrls.split(',').any(|c| c == ctrl)
            };
            hit.then(|| {
                let base = if v2 {
                    root.to_path_buf()
                } else {
                    root.join(ctrl)
                };
                base.join(path.trim_start_matches('/'))
            })
        })
    };
    let walk = |ctrl: &str, file: &str| -> Limit {
        let Some(mut dir) = dir_of(ctrl) else {
            return Limit::Unknown(format!("not in a {ctrl} cgroup"));
        };
        let top = if v2 {
            root.to_path_buf()
        } else {
            root.join(ctrl)
        };
        let mut best: Option<Limit> = None;
        loop {
            if let Some(l) = std::fs::read_to_string(dir.join(file))
                .ok()
                .and_then(|t| parse_limit(&t))
            {
                best = Some(match best {
                    Some(b) => tighter(b, l),
                    None => l,
                });
            }
            if dir == top || !dir.pop() || !dir.starts_with(&top) {
                break;
            }
        }
        // The root cgroup of a hierarchy has no limit file: no file anywhere means none.
        best.unwrap_or(if dir_of(ctrl).is_some_and(|d| d.exists()) {
            Limit::Unlimited
        } else {
            Limit::Unknown(format!("{ctrl} cgroup directory not found"))
        })
    };
    if v2 {
        (walk("memory", "memory.max"), walk("pids", "pids.max"))
    } else {
        (
            walk("memory", "memory.limit_in_bytes"),
            walk("pids", "pids.max"),
        )
    }
}
