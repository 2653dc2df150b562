//! #9.15: security-relevant calls fail closed. The build denies unsafe blocks without a
//! SAFETY comment, and no result is dropped with `let _ =` in the kernel-facing code
//! without a comment right above saying why ignoring it is safe.

#[test]
fn unsafe_blocks_are_documented_by_lint() {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    assert!(
        toml.contains("undocumented_unsafe_blocks = \"deny\""),
        "Cargo.toml must deny clippy::undocumented_unsafe_blocks"
    );
}

#[test]
fn no_silently_ignored_results_in_kernel_code() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<_> = std::fs::read_dir(base.join("linux"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.push(base.join("caps/kernel.rs"));
    let mut bad = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if !l.contains("let _ =") || l.contains("//") {
                continue;
            }
            // A comment on one of the lines just above (the statement's own comment).
            let explained = lines[i.saturating_sub(3)..i]
                .iter()
                .any(|p| p.trim_start().starts_with("//"));
            if !explained {
                bad.push(format!("{}:{}: {}", f.display(), i + 1, l.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "ignored results without a reason:\n{}",
        bad.join("\n")
    );
}
