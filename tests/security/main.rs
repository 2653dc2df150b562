//! Security regressions, written from the attacker's side: the attack runs inside a
//! container and the test observes the host (issue #9; README "Security"). One module per
//! class. Tests whose regression could hurt the machine (signals to many processes, cgroup
//! writes, mounts) run inside an outer sandbox (`common::outer_sandbox`).

#[path = "../common/mod.rs"]
mod common;

mod cgroup_view;
mod crash;
mod devices;
mod exe;
mod hygiene;
mod input;
mod paths;
mod processes;
mod seccomp;
mod terminal;
