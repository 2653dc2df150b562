//! `nucleus audit`: an exposure score for a live process or container.

use super::oci::Global;
use super::print_json;
use crate::container::state::{self, Status};
use crate::diag::audit;
use crate::linux::audit::Error;
use crate::Result;
use clap::Args;

/// Exit status when the exposure is above --threshold.
pub const ABOVE_THRESHOLD: i32 = 3;

/// Score what a compromise of a process could reach: 0 (nothing beyond the process) to
/// 10 (as exposed as the host's init), like systemd-analyze security's "exposure".
///
/// One line per finding with its weight: capabilities held and what execve could add,
/// no_new_privs, seccomp, namespaces shared with PID 1, the user namespace, Landlock
/// (unknown from outside), the root filesystem, memory and pids limits, and whether host
/// processes' /proc/PID/exe are reachable. Exits 3 when the score is above --threshold.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The process to audit.
    #[arg(required_unless_present = "container", conflicts_with = "container")]
    pid: Option<i32>,
    /// Audit this container's process (its state under --root).
    #[arg(long, value_name = "ID")]
    container: Option<String>,
    /// Exit 3 when the exposure is above N (0–10), for CI.
    #[arg(long, value_name = "N")]
    threshold: Option<f64>,
    #[arg(long)]
    json: bool,
}

pub fn run(g: &Global, a: AuditArgs) -> Result<i32> {
    let pid = match (&a.container, a.pid) {
        (Some(id), _) => {
            let store = g.store()?;
            state::Store::check_id(id)?;
            let st = store
                .load(id)?
                .ok_or_else(|| state::Error::NotFound(id.clone()))?;
            match store.status(Some(&st)) {
                Status::Running | Status::Paused | Status::Created => st.pid,
                other => {
                    return Err(Error::NotRunning(id.clone(), other.as_str()).into());
                }
            }
        }
        (None, Some(pid)) => pid,
        (None, None) => unreachable!("clap requires PID or --container"),
    };
    if let Some(t) = a.threshold {
        if !(0.0..=10.0).contains(&t) {
            return Err(crate::Error::Usage(format!(
                "--threshold {t}: the score runs from 0 to 10"
            )));
        }
    }
    let report = audit::score(&crate::linux::audit::read(pid)?);
    if a.json {
        print_json(&report);
    } else {
        out!("{}", audit::render(&report));
    }
    Ok(match a.threshold {
        Some(t) if report.exposure > t => {
            eprintln!(
                "nucleus: exposure {:.1} is above the threshold {t}",
                report.exposure
            );
            ABOVE_THRESHOLD
        }
        _ => 0,
    })
}
