//! `--debug`: debug records of the runtime and of the container's set-up (carried over
//! the launch channel from the child) go to `--log`, as runc's JSON lines with
//! `--log-format json`; without `--debug` there are none.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::Value;

/// The --log file's lines, each parsed as a JSON object with level, msg and time.
fn json_lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
            for key in ["level", "msg", "time"] {
                assert!(v[key].is_string(), "no {key} in {l}");
            }
            v
        })
        .collect()
}

fn debug_msgs(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .filter(|v| v["level"] == "debug")
        .map(|v| v["msg"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn debug_records_from_runtime_and_init_are_json_lines() {
    if !privileged("debug_records_from_runtime_and_init_are_json_lines") {
        return;
    }
    let b = Bundle::new("dbglog", &["true"]);
    let log = b.tmp.path("log.json");
    let (bundle, logs) = (b.bundle(), log.to_str().unwrap().to_string());
    let args = [
        "--debug",
        "--log",
        &logs,
        "--log-format",
        "json",
        "run",
        "-b",
        bundle.to_str().unwrap(),
        "dbg1",
    ];
    let o = b.nucleus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let msgs = debug_msgs(&json_lines(&log));
    // The runtime's own, and the init's, forwarded over the channel.
    assert!(
        msgs.iter().any(|m| m.starts_with("launch: ")),
        "no runtime record: {msgs:?}"
    );
    for want in [
        "init: go received",
        "init: mounts done",
        "init: capabilities applied",
    ] {
        assert!(msgs.iter().any(|m| m == want), "no {want:?}: {msgs:?}");
    }
    let time = json_lines(&log)[0]["time"].as_str().unwrap().to_string();
    assert!(
        time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
        "not RFC 3339: {time}"
    );
}

#[test]
fn without_debug_there_are_no_debug_records() {
    if !privileged("without_debug_there_are_no_debug_records") {
        return;
    }
    let b = Bundle::new("dbgoff", &["true"]);
    let log = b.tmp.path("log.json");
    let (bundle, logs) = (b.bundle(), log.to_str().unwrap().to_string());
    let args = [
        "--log",
        &logs,
        "--log-format",
        "json",
        "run",
        "-b",
        bundle.to_str().unwrap(),
        "dbg2",
    ];
    let o = b.nucleus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let msgs = debug_msgs(&json_lines(&log));
    assert!(msgs.is_empty(), "debug records without --debug: {msgs:?}");
}

#[test]
fn debug_text_format_and_exec_records() {
    if !privileged("debug_text_format_and_exec_records") {
        return;
    }
    let b = Bundle::new("dbgexec", &["sleep", "30"]);
    let log = b.tmp.path("log.txt");
    let logs = log.to_str().unwrap().to_string();
    let o = b.create("dbg3");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.nucleus(&["start", "dbg3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = b.nucleus(&["--debug", "--log", &logs, "exec", "dbg3", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&log).unwrap();
    // The exec'd process's records come over its channel too.
    assert!(
        text.lines()
            .any(|l| l == "debug: init: capabilities applied"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.starts_with("debug: ")), "{text}");
    let o = b.nucleus(&["delete", "--force", "dbg3"]);
    assert!(o.status.success(), "{}", stderr(&o));
}
