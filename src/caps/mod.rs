//! The capability model: pure data and logic, no syscalls (reading and applying sets on the
//! kernel is linux/capset.rs; proving them with real syscalls is linux/probe.rs).

pub mod cap;
pub mod danger;
pub mod execve;
pub mod file;
pub mod identity;
pub mod policy;
pub mod set;
pub mod sets;
pub mod trace;

pub use cap::Capability;
pub use policy::Policy;
pub use set::CapSet;
pub use sets::{ProcStatus, Sets, Which};
