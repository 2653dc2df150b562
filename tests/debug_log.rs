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

/// `nucleus [--debug] --log F --log-format json run -b BUNDLE ID` of `true`; the log's
/// debug messages.
fn run_logged(tag: &str, debug: bool) -> Vec<String> {
    let b = Bundle::new(tag, &["true"]);
    let log = b.tmp.path("log.json");
    let (bundle, logs) = (b.bundle(), log.to_str().unwrap().to_string());
    let mut args = vec!["--log", &logs, "--log-format", "json"];
    if debug {
        args.insert(0, "--debug");
    }
    args.extend(["run", "-b", bundle.to_str().unwrap(), tag]);
    let o = b.nucleus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&log);
    if let Some(first) = lines.first() {
        let time = first["time"].as_str().unwrap();
        assert!(
            time.len() >= 20 && time.as_bytes()[10] == b'T' && time.ends_with('Z'),
            "not RFC 3339: {time}"
        );
    }
    debug_msgs(&lines)
}

#[test]
fn debug_records_from_runtime_and_init_are_json_lines() {
    if !privileged("debug_records_from_runtime_and_init_are_json_lines") {
        return;
    }
    let msgs = run_logged("dbglog", true);
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
}

#[test]
fn without_debug_there_are_no_debug_records() {
    if !privileged("without_debug_there_are_no_debug_records") {
        return;
    }
    let msgs = run_logged("dbgoff", false);
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
