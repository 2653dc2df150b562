//! The command line: clap definitions and output formatting. No syscalls here.

// ---- Standard output (issue #14): every verb writes through these, never println! ----

/// `println!` for the CLI: a reader that went away (`nucleus caps ps | head -1`) ends
/// nucleus quietly, as `ls | head` ends (see [`write_stdout`]).
macro_rules! outln {
    () => { $crate::cli::write_stdout(format_args!("\n")) };
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!("{}\n", format_args!($($t)*))) };
}

/// `print!` for the CLI (see [`outln!`]).
macro_rules! out {
    ($($t:tt)*) => { $crate::cli::write_stdout(format_args!($($t)*)) };
}

/// Writes to stdout. A closed pipe (EPIPE) ends the process as SIGPIPE would have killed
/// it, with no message: nucleus ignores SIGPIPE (Rust's default, and the launch protocol
/// relies on EPIPE from its pipes), so this is the one place that turns it back into the
/// shell's convention. Any other write error is reported and ends with status 1. Only
/// final output goes through here: nothing is left half-made when it ends the process.
pub(crate) fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            crate::linux::process::end_as_sigpipe();
        }
        // Ignored: stderr is where this would go, and it is failing as well then.
        let _ = writeln!(std::io::stderr(), "nucleus: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `nucleus --version`, as runc prints it: the version, the commit (from build.rs), and
/// the newest runtime-spec version nucleus implements (`spec::oci::SPEC_VERSION`; a unit
/// test keeps the two equal).
pub const VERSION_TEXT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ncommit: ",
    env!("NUCLEUS_COMMIT"),
    "\nspec: 1.2.0"
);

pub mod audit;
pub mod caps;
pub mod check;
pub mod oci;
pub mod policy;
pub mod run;

use clap::{Parser, Subcommand};

/// nucleus: a small, fast, daemonless container runtime with capabilities done right.
#[derive(Parser, Debug)]
#[command(name = "nucleus", version = VERSION_TEXT, about, long_about = None)]
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
    /// Sandbox policy files (TOML): `policy check FILE` validates one and prints the
    /// sandbox it gives on this machine.
    #[command(subcommand)]
    Policy(policy::PolicyCmd),
    #[command(flatten)]
    Oci(oci::OciCmd),
    /// What nucleus can and cannot do on this machine (kernel, namespaces, cgroups,
    /// seccomp, Landlock, capabilities, …), one verdict per line.
    Check(check::CheckArgs),
    /// Exposure score (0–10) of a live process or container, one finding per line.
    Audit(audit::AuditArgs),
}

/// Whether a raw command line may name a verb that puts copies of nucleus into
/// containers (`run`, `create`, `exec`): any such word before `--`. A container ID that
/// happens to be such a word only costs a re-execution.
pub fn may_place_runtime_in_containers(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "run" || a == "create" || a == "exec")
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> crate::Result<i32> {
    // --debug: records to --log (runc's JSON with --log-format json) or stderr. Without it
    // nothing is set up (crate::logging).
    let g = &cli.global;
    crate::logging::init(g.debug, g.log.as_deref(), g.log_format == "json");
    if cli.command.places_runtime_in_containers() {
        // Before anything else: these verbs put copies of nucleus into containers, which
        // must not be able to reach a writable binary (CVE-2019-5736; linux::selfexe).
        crate::linux::selfexe::ensure_read_only_image()?;
    }
    match cli.command {
        Command::Caps(c) => caps::run(c),
        Command::Run(a) => run::run(&cli.global, *a),
        Command::Oci(c) => oci::run(&cli.global, c),
        Command::Check(a) => check::run(a),
        Command::Audit(a) => audit::run(&cli.global, a),
        Command::Policy(c) => policy::run(c),
    }
}

impl Command {
    /// `run` (both forms), `create` and `exec` put copies of nucleus into a container
    /// (its first process until execve, the `exec` children); the others do not.
    fn places_runtime_in_containers(&self) -> bool {
        matches!(
            self,
            Command::Run(_) | Command::Oci(oci::OciCmd::Create(_) | oci::OciCmd::Exec(_))
        )
    }
}

/// Prints `v` as pretty JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("output types serialize")
    );
}

#[cfg(test)]
mod version_tests {
    #[test]
    fn version_names_the_spec_nucleus_implements() {
        let spec = format!("\nspec: {}", crate::spec::oci::SPEC_VERSION);
        assert!(
            super::VERSION_TEXT.ends_with(&spec),
            "{}",
            super::VERSION_TEXT
        );
    }
}
