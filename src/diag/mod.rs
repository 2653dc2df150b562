//! Diagnostics, pure: the verdicts of `nucleus check` (what this machine lets nucleus do)
//! and the exposure score of `nucleus audit` (what a compromise of a process could reach).
//! The facts are gathered by `linux::check` and `linux::audit`; nothing here makes a
//! syscall, so every verdict and weight is unit-tested on made-up facts.

pub mod audit;
pub mod check;
pub mod mountinfo;
