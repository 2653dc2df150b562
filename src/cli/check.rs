//! `nucleus check`: what nucleus can and cannot do on this machine.

use super::print_json;
use crate::diag::check;
use crate::Result;
use clap::Args;

/// Tell what nucleus can and cannot do on this machine, before a container fails.
///
/// One line per item (kernel, namespaces, user namespaces, cgroups and delegation,
/// seccomp, Landlock, capabilities, the cap_capable tracepoint, pivot_root, overlay,
/// idmapped mounts, WSL2): OK, degraded or missing, and what nucleus does about it. The
/// probes only read /proc and /sys or ask the kernel questions; nothing is changed.
/// Exits 1 only when nucleus cannot run containers here at all.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Print {"can_run_containers", "items": [{key, status, found, action, fatal, data}]}.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CheckArgs) -> Result<i32> {
    let report = check::evaluate(&crate::linux::check::gather());
    if a.json {
        print_json(&report);
    } else {
        out!("{}", check::render(&report));
    }
    Ok(if report.can_run_containers { 0 } else { 1 })
}
