use clap::Parser;

fn main() {
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
