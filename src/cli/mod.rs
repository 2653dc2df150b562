//! The command line: clap definitions and output formatting. No syscalls here.

pub mod caps;
pub mod oci;
pub mod run;

use clap::{Parser, Subcommand};

/// nucleus: a small, fast, daemonless container runtime with capabilities done right.
#[derive(Parser, Debug)]
#[command(name = "nucleus", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: oci::Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Capability toolkit: decode masks, show and prove what a process can do, run a host
    /// command under a capability policy.
    #[command(subcommand)]
    Caps(caps::CapsCmd),
    /// Run a command in a one-shot sandbox (`run [OPTIONS] -- CMD`, no image, no daemon),
    /// or an OCI bundle as runc does (`run [-b BUNDLE] [-d] ID`).
    Run(Box<run::RunArgs>),
    #[command(flatten)]
    Oci(oci::OciCmd),
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> crate::Result<i32> {
    match cli.command {
        Command::Caps(c) => caps::run(c),
        Command::Run(a) => run::run(&cli.global, *a),
        Command::Oci(c) => oci::run(&cli.global, c),
    }
}

/// Prints `v` as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("output types serialize")
    );
}
