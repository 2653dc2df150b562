//! Records the git commit for `nucleus --version` ("unknown" outside a git checkout).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    startup_path_first();
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=NUCLEUS_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuilt when HEAD moves: HEAD itself, the branch it names, packed refs (worktrees too).
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(p) = git(&["rev-parse", "--git-path", name]) {
            if std::path::Path::new(&p).exists() {
                println!("cargo:rerun-if-changed={p}");
            }
        }
    }
}

/// Links the functions a container start executes (link/startup-path.ld, made by
/// tools/hot_text.sh) into one section ahead of the rest of the code. The kernel maps a
/// binary's code in 64 KiB windows around each page fault (fault-around), so scattered
/// start-up functions made nearly all 3 MB of .text resident; together they are ~0.7 MB.
/// The script only adds a section (INSERT), so a stale list costs memory, never correctness.
fn startup_path_first() {
    let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("link/startup-path.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    let linux_gnu = std::env::var("TARGET").is_ok_and(|t| t.ends_with("-linux-gnu"));
    if linux_gnu && script.exists() {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
