//! Container lifecycles. `run` is the foreground one-shot: create, start, wait, clean up.

pub mod run;
