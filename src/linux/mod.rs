//! Kernel plumbing, one concern per file.

pub mod identity;
pub mod process;
