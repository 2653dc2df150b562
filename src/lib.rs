//! nucleus: a daemonless Linux container runtime whose headline is capabilities done right.
//!
//! `caps` is the capability model (pure: no syscalls), `linux` the kernel plumbing
//! (`linux::capset` reads and applies capability sets, `linux::probe` proves them), `cli`
//! the command line (no syscalls of its own).

pub mod caps;
pub mod cli;
pub mod container;
pub mod diag;
pub mod error;
pub mod linux;
pub mod logging;
pub mod spec;

pub use error::{Error, Result};
