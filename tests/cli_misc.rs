//! The command line as a runc user meets it: output into a closed pipe ends quietly,
//! `--version` names the commit and the spec, `--log-format` is checked, and `features`
//! advertises exactly what the config parser accepts.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

/// Runs nucleus with stdout a pipe whose reader is already gone.
fn into_closed_pipe(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(NUCLEUS)
        .args(args)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn every_verb_ends_quietly_when_its_reader_is_gone() {
    let tmp = TempDir::new("pipe");
    let root = tmp.path("state");
    let root = root.to_str().unwrap();
    let mut verbs: Vec<Vec<&str>> = vec![
        vec!["caps", "ps"],
        vec!["caps", "ps", "--json"],
        vec!["caps", "decode", "0x3"],
        vec!["caps", "show"],
        vec!["features"],
        vec!["--root", root, "list"],
        vec!["--root", root, "list", "--format", "json"],
        vec!["check"],
    ];
    if nix::unistd::geteuid().is_root() {
        verbs.push(vec!["caps", "probe"]);
    }
    for v in &verbs {
        let o = into_closed_pipe(v);
        let quiet = o.status.signal() == Some(libc::SIGPIPE) || o.status.code() == Some(0);
        assert!(
            quiet,
            "nucleus {v:?}: {:?}, stderr: {}",
            o.status,
            stderr(&o)
        );
        assert_eq!(stderr(&o), "", "nucleus {v:?} printed on stderr");
    }
}

#[test]
fn the_cli_writes_stdout_only_through_the_quiet_helpers() {
    // println!/print! panic on a closed pipe; src/cli uses outln!/out! (cli/mod.rs).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cli");
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        for (i, line) in text.lines().enumerate() {
            let bad = ["println!(", "print!("].iter().any(|m| {
                line.match_indices(m)
                    .any(|(at, _)| !line[..at].ends_with('e') && !line[..at].ends_with("out"))
            });
            assert!(!bad, "{}:{}: use outln!/out!: {line}", p.display(), i + 1);
        }
    }
}

#[test]
fn version_names_commit_and_spec() {
    let o = ok(&["--version"]);
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(
        lines[0],
        format!("nucleus {}", env!("CARGO_PKG_VERSION")),
        "{o}"
    );
    let commit = lines[1].strip_prefix("commit: ").expect("commit line");
    assert!(!commit.is_empty() && !commit.contains(' '), "{o}");
    let f: Value = serde_json::from_str(&ok(&["features"])).unwrap();
    assert_eq!(
        lines[2],
        format!("spec: {}", f["ociVersionMax"].as_str().unwrap())
    );
}

#[test]
fn an_invalid_log_format_is_an_error() {
    let o = nucleus(&["--log-format", "xml", "list"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("'xml'") && stderr(&o).contains("--log-format"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn features_advertise_what_is_implemented() {
    let f: Value = serde_json::from_str(&ok(&["features"])).unwrap();
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&f["hooks"]),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    assert!(names(&f["linux"]["namespaces"]).contains(&"user".to_string()));
    assert!(names(&f["linux"]["seccomp"]["actions"]).contains(&"SCMP_ACT_NOTIFY".to_string()));
    assert!(!names(&f["linux"]["seccomp"]["actions"]).contains(&"SCMP_ACT_TRACE".to_string()));
    assert_eq!(f["linux"]["intelRdt"]["enabled"], false);
    assert!(f["annotations"]["run.nucleus.trace-caps"].is_string());
}

#[test]
fn every_advertised_hook_and_mount_option_is_accepted_and_others_refused() {
    if !privileged("every_advertised_hook_and_mount_option_is_accepted_and_others_refused") {
        return;
    }
    let f: Value = serde_json::from_str(&ok(&["features"])).unwrap();
    let b = Bundle::new("featok", &["true"]);
    let hooks: serde_json::Map<String, Value> = f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h.as_str().unwrap().to_string(),
                serde_json::json!([{"path": "/bin/true"}]),
            )
        })
        .collect();
    // Bind-only options go on a bind mount (with its own id mapping), the rest on a tmpfs.
    let bind_only = ["bind", "rbind", "idmap", "ridmap"];
    let all: Vec<String> = f["mountOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let (on_bind, on_tmpfs): (Vec<String>, Vec<String>) = all
        .into_iter()
        .partition(|o| bind_only.contains(&o.as_str()));
    assert_eq!(on_bind.len(), 4, "{on_bind:?}");
    let src = b.tmp.path("src");
    std::fs::create_dir(&src).unwrap();
    b.edit(|c| {
        c["hooks"] = Value::Object(hooks);
        let m = c["mounts"].as_array_mut().unwrap();
        m.push(serde_json::json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": on_tmpfs}));
        m.push(serde_json::json!({"destination": "/srv", "type": "bind", "source": src, "options": on_bind,
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}));
    });
    let o = b.create("f1");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.nucleus(&["delete", "--force", "f1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A hook name that is not advertised is refused, and nothing is left.
    b.edit(|c| c["hooks"] = serde_json::json!({"preStart": [{"path": "/bin/true"}]}));
    let o = b.create("f2");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("hooks.preStart is not a hook nucleus knows"),
        "{}",
        stderr(&o)
    );
    assert!(!b.root().join("f2").exists());
}
