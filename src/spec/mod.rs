//! Container descriptions: the internal `Config`, and the builders that produce it.

pub mod config;
pub mod default;
pub mod oci;
pub mod resources;
pub mod sandbox;
