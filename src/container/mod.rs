//! Container lifecycles. `run` is the foreground one-shot (and the shared launch path);
//! `oci` the runc-compatible verbs over the state in `state`.

pub mod events;
pub mod oci;
pub mod run;
pub mod state;
pub mod stats;
