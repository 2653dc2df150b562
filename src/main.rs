use clap::Parser;

fn main() {
    // First of all, before parsing: a verb that puts copies of nucleus into containers
    // re-executes it from a read-only image of itself (CVE-2019-5736; linux::selfexe), and
    // the sooner it does, the less work the first image did for nothing. `cli::run` checks
    // again after parsing, so a line this scan misreads is still covered.
    if nucleus::cli::may_place_runtime_in_containers(std::env::args_os()) {
        if let Err(e) = nucleus::linux::selfexe::ensure_read_only_image() {
            eprintln!("nucleus: {e}");
            std::process::exit(1);
        }
    }
    let cli = nucleus::cli::Cli::parse();
    match nucleus::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("nucleus: {e}");
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
            std::process::exit(e.exit_code());
        }
    }
}
