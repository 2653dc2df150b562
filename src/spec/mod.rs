//! Container descriptions: the internal `Config`, and the builders that produce it.

pub mod config;
pub mod default;
pub mod devices_bpf;
pub mod mount_options;
pub mod oci;
pub mod policy;
pub mod production;
pub mod resources;
pub mod sandbox;
