//! The capability model. Everything here is pure data and logic except `kernel` (reads and
//! applies sets) and `probe` (proves them with real syscalls).

pub mod cap;
pub mod danger;
pub mod execve;
pub mod file;
pub mod kernel;
pub mod policy;
pub mod probe;
pub mod set;
pub mod sets;
pub mod trace;

pub use cap::Capability;
pub use policy::Policy;
pub use set::CapSet;
pub use sets::{ProcStatus, Sets, Which};
