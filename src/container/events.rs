//! `events`: runc's event stream for one container. `--stats` gives one stats record;
//! otherwise a stats record every interval and an `oom` record whenever the container's
//! memory cgroup hits OOM, until the container's process exits.
//!
//! Only the container's own cgroup, as its state records it, is read
//! ([`crate::linux::cgroup_stats`]); [`super::stats`] makes the record from the files.

use super::oci::Error;
use super::state::{Status, Store};
use super::stats::{self, Stats};
use crate::linux::cgroup_stats::{self, ContainerCgroup, Notice, OomWatch};
use crate::linux::cgroups::Version;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One line of output: `{"type":"stats","id":…,"data":{…}}` or `{"type":"oom","id":…}`.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

#[derive(Debug, Clone, Copy)]
pub struct Opts {
    /// Print one stats record and return.
    pub stats_only: bool,
    /// Time between stats records when streaming.
    pub interval: Duration,
}

/// The stats record of a container's cgroup (and its network namespace, if it has one
/// of its own).
fn record(cg: &ContainerCgroup, pid: i32, start_time: u64) -> Result<Stats, String> {
    let sizes: Vec<String> = cgroup_stats::hugepage_dirs()
        .iter()
        .filter_map(|d| stats::hugepage_name(d))
        .collect();
    let snap_err = |e: cgroup_stats::Error| e.to_string();
    let (st, snap) = match cg.version {
        Version::V1 => {
            let mut wanted = stats::wanted_v1(&sizes);
            wanted.push("memory.oom_control".into());
            let snap = cg.snapshot(&wanted).map_err(snap_err)?;
            (
                stats::from_v1(&snap, &sizes, cgroup_stats::clock_ticks()),
                snap,
            )
        }
        Version::V2 => {
            let snap = cg.snapshot(&stats::wanted_v2(&sizes)).map_err(snap_err)?;
            (stats::from_v2(&snap, &sizes), snap)
        }
    };
    let mut st = st.map_err(|e| e.to_string())?;
    st.memory.raw.extend(oom_counters(&cg.version, &snap));
    if let Some(text) = cgroup_stats::net_dev(pid) {
        // Read by PID: only if it is still the container's process afterwards.
        if crate::linux::process::live_start_time(pid) == Some(start_time) {
            let links = stats::net_dev(&text);
            // Loopback only: runc's `null`.
            st.network_interfaces = (!links.is_empty()).then_some(links);
        }
    }
    Ok(st)
}

/// The OOM counters of the container's memory cgroup, for the stats record's `memory.raw`
/// (runc's record has no field for them; `raw` is its map of the cgroup's counters): v2
/// `oom` and `oom_kill` from memory.events, v1 `oom_kill` from memory.oom_control (kernels
/// since 4.13). None without a memory cgroup.
fn oom_counters(
    version: &Version,
    snap: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, u64)> {
    match version {
        Version::V2 => snap
            .get("memory.events")
            .map(|t| {
                let (oom, kill) = stats::oom_counts_v2(t);
                vec![("oom".to_string(), oom), ("oom_kill".to_string(), kill)]
            })
            .unwrap_or_default(),
        Version::V1 => snap
            .get("memory.oom_control")
            .and_then(|t| stats::oom_kills_v1(t))
            .map(|kill| vec![("oom_kill".to_string(), kill)])
            .unwrap_or_default(),
    }
}

type Watch = Option<(OomWatch, Option<String>)>;

/// How many OOM events the watch saw since the last call. `now`: read the counters even
/// without a notification (v2 rate-limits its notifications; the container has ended).
fn take_ooms(oom: &mut Watch, now: bool, warn: &mut dyn FnMut(&str)) -> u64 {
    let Some((w, last)) = oom else { return 0 };
    match w.take(now) {
        // v1 signals every charge that fails while the cgroup is out of memory: one
        // wake-up is one event, as runc counts them.
        Ok(Some(Notice::Count(_))) => 1,
        Ok(Some(Notice::Events(text))) => {
            let n = stats::new_ooms_v2(last.as_deref().unwrap_or(""), &text);
            *last = Some(text);
            n
        }
        Ok(None) => 0,
        Err(e) => {
            warn(&format!("OOM events: {e}"));
            0
        }
    }
}

/// Runs `events` for container `id`. `emit` writes one record (an error there, such as
/// a closed pipe, ends the stream quietly); `warn` reports what is left out.
pub fn events(
    store: &Store,
    id: &str,
    opts: Opts,
    emit: &mut dyn FnMut(&Event) -> std::io::Result<()>,
    warn: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    if opts.interval.is_zero() {
        return Err(Error::Other(
            "--interval must be greater than 0 (e.g. 5s or 500ms)".into(),
        ));
    }
    let st = store.load(id)?;
    let status = store.status(st.as_ref());
    let st = match (st, status) {
        (Some(st), Status::Created | Status::Running | Status::Paused) => st,
        (_, s) => {
            return Err(Error::Status {
                id: id.to_string(),
                status: s.as_str(),
                why: "events needs a container that is running (or created or paused)".into(),
            })
        }
    };
    let other = |e: cgroup_stats::Error| Error::Other(format!("container '{id}': {e}"));
    let cg = ContainerCgroup::new(&st.cgroup_dirs).map_err(other)?;
    if cg.is_empty() {
        return Err(Error::Other(format!(
            "container '{id}' has no cgroup of its own, so it has no statistics"
        )));
    }
    let stats_event = |data| Event {
        kind: "stats",
        id,
        data: Some(data),
    };
    if opts.stats_only {
        let data = record(&cg, st.pid, st.start_time)
            .map_err(|e| Error::Other(format!("container '{id}': {e}")))?;
        // A closed output ends the verb quietly.
        if emit(&stats_event(data)).is_err() {
            return Ok(());
        }
        return Ok(());
    }

    // Streaming. The container stops when its process exits: a pidfd says when.
    let pidfd = match crate::linux::process::pidfd_verified(st.pid, st.start_time) {
        Ok(fd) => fd,
        // It stopped since the status was read: nothing more to report.
        Err(nix::errno::Errno::ESRCH) => return Ok(()),
        Err(e) => return Err(Error::Other(format!("pidfd_open {}: {e}", st.pid))),
    };
    let mut oom: Watch = match cg.memory_dir() {
        Some(dir) => match OomWatch::new(&cg.version, dir) {
            Ok(w) => Some(w),
            Err(e) => {
                warn(&format!("OOM events are not reported: {e}"));
                None
            }
        },
        None => {
            warn(&format!(
                "container '{id}' has no memory cgroup (no memory limit): OOM events are not \
                 reported"
            ));
            None
        }
    };
    let oom_event = Event {
        kind: "oom",
        id,
        data: None,
    };
    let mut next = Instant::now() + opts.interval;
    loop {
        let now = Instant::now();
        let left = next.saturating_duration_since(now);
        let ready = {
            use std::os::fd::AsFd;
            let mut fds = vec![pidfd.as_fd()];
            if let Some((w, _)) = &oom {
                fds.push(w.as_fd());
            }
            cgroup_stats::wait_readable(&fds, left)
                .map_err(|e| Error::Other(format!("poll: {e}")))?
        };
        let exited = ready[0];
        // An OOM that killed the container's process comes before its end.
        if exited || ready.get(1).copied().unwrap_or(false) {
            for _ in 0..take_ooms(&mut oom, exited, warn) {
                if emit(&oom_event).is_err() {
                    return Ok(());
                }
            }
        }
        if exited {
            return Ok(());
        }
        if Instant::now() >= next {
            match record(&cg, st.pid, st.start_time) {
                Ok(data) => {
                    if emit(&stats_event(data)).is_err() {
                        return Ok(());
                    }
                }
                // As runc: a record that cannot be read is reported and the stream goes on.
                Err(e) => warn(&format!("stats of container '{id}': {e}")),
            }
            next += opts.interval;
            if next < Instant::now() {
                next = Instant::now() + opts.interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn snap(file: &str, text: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(file.to_string(), text.to_string())])
    }

    #[test]
    fn oom_counters_in_the_stats_record() {
        let v2 = snap(
            "memory.events",
            "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n",
        );
        assert_eq!(
            oom_counters(&Version::V2, &v2),
            vec![("oom".to_string(), 2), ("oom_kill".to_string(), 1)]
        );
        let v1 = snap(
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        assert_eq!(
            oom_counters(&Version::V1, &v1),
            vec![("oom_kill".to_string(), 3)]
        );
        // No memory cgroup (or a kernel before 4.13): nothing is made up.
        assert!(oom_counters(&Version::V2, &BTreeMap::new()).is_empty());
        assert!(
            oom_counters(&Version::V1, &snap("memory.oom_control", "under_oom 0\n")).is_empty()
        );
    }
}
