//! `nucleus caps` verbs that need no privileges: decode/encode (against capsh), show, errors.

mod common;
use common::*;
use std::process::Command;

fn capsh_decode(mask: u64) -> Vec<String> {
    let o = Command::new("capsh")
        .arg(format!("--decode={mask:#x}"))
        .output()
        .expect("capsh (libcap2-bin) must be installed: .ci/run installs it");
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let names = text.trim().split_once('=').expect("capsh output").1;
    names
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn decode_agrees_with_capsh_for_every_single_bit_and_many_masks() {
    let mut masks: Vec<u64> = (0..64).map(|b| 1u64 << b).collect();
    masks.extend([
        0,
        0xa80425fb,
        0x1ffffffffff,
        0x3ffffffffff,
        u64::MAX,
        0x8000_0000_0000_0001,
    ]);
    // A fixed pseudo-random walk, so failures are reproducible.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..200 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        masks.push(x & 0x1ffffffffff);
    }
    for m in masks {
        let out = ok(&["caps", "decode", "--json", &format!("{m:#x}")]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut ours: Vec<String> = v["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        ours.extend(
            v["unknown_bits"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.to_string()),
        );
        assert_eq!(ours, capsh_decode(m), "mask {m:#x}");
        assert_eq!(v["mask"], format!("0x{m:016x}"));
    }
}

#[test]
fn decode_text_is_capsh_text_and_encode_inverts_it() {
    let text = ok(&["caps", "decode", "0xa80425fb"]);
    let expected = Command::new("capsh")
        .arg("--decode=0xa80425fb")
        .output()
        .unwrap();
    assert_eq!(text, String::from_utf8(expected.stdout).unwrap());
    let names = text.trim().split_once('=').unwrap().1;
    assert_eq!(names.split(',').count(), 14);
    assert_eq!(ok(&["caps", "encode", names]).trim(), "0x00000000a80425fb");
    assert_eq!(ok(&["caps", "encode", "ALL"]).trim(), "0x000001ffffffffff");
    assert_eq!(
        ok(&["caps", "encode", "NET_RAW", "13", "cap_chown"]).trim(),
        "0x0000000000002001"
    );
}

#[test]
fn show_matches_the_kernel_view_of_a_process() {
    let me = std::process::id().to_string();
    let out = ok(&["caps", "show", "--json", &me]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let st = status_caps(&std::fs::read_to_string("/proc/self/status").unwrap());
    for (key, set) in [
        ("CapBnd", "bounding"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapInh", "inheritable"),
        ("CapAmb", "ambient"),
    ] {
        let hex = v["sets"][set]["hex"].as_str().unwrap();
        assert_eq!(u64::from_str_radix(hex, 16).unwrap(), st[key], "{set}");
    }
    assert_eq!(v["pid"].as_i64().unwrap(), std::process::id() as i64);
    assert!(
        v["securebits"].is_null(),
        "securebits are not visible for another process"
    );
    // Its own view has securebits and the same text layout.
    let text = ok(&["caps", "show"]);
    assert!(text.contains("securebits 0x"), "{text}");
    for set in [
        "bounding",
        "permitted",
        "effective",
        "inheritable",
        "ambient",
    ] {
        assert!(text.contains(set), "{text}");
    }
}

/// One error line (plus an optional hint line), exit status 1, and nothing run.
fn assert_rejected(args: &[&str], needle: &str) {
    let marker = TempDir::new("rejected");
    let m = marker.path("ran");
    let mut full: Vec<&str> = args.to_vec();
    let ms = m.to_str().unwrap().to_string();
    full.extend(["--", "touch", &ms]);
    let o = nucleus(&full);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("nucleus: ") && lines[0].contains(needle),
        "{args:?}: {err}"
    );
    assert!(
        lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
        "{err}"
    );
    assert!(!m.exists(), "the command ran despite the error");
}

#[test]
fn bad_input_is_one_clear_error_and_nothing_runs() {
    assert_rejected(
        &[
            "caps",
            "exec",
            "--caps-retain",
            "chown",
            "--caps-remove",
            "net_raw",
        ],
        "mutually exclusive",
    );
    assert_rejected(
        &["caps", "exec", "--caps-retain", "net_rwa"],
        "did you mean CAP_NET_RAW",
    );
    assert_rejected(
        &["caps", "exec", "--caps-remove", "bogus_cap"],
        "unknown capability 'bogus_cap'",
    );
    assert_rejected(&["caps", "exec", "--user", "bob"], "invalid user 'bob'");
    assert_rejected(&["caps", "exec", "--user", "1000:staff"], "invalid user");
    assert_rejected(
        &["caps", "exec", "--user", "1000", "--groups", "wheel"],
        "invalid group",
    );
    let policy = TempDir::new("policy");
    let p = policy.path("p.json");
    std::fs::write(&p, r#"{"retain":["chown"],"remove":["kill"]}"#).unwrap();
    assert_rejected(
        &["caps", "exec", "--caps-policy", p.to_str().unwrap()],
        "mutually exclusive",
    );
    std::fs::write(&p, r#"{"permitted":["kill"],"effective":["chown"]}"#).unwrap();
    assert_rejected(
        &["caps", "exec", "--caps-policy", p.to_str().unwrap()],
        "effective",
    );

    let o = nucleus(&["caps", "decode", "zz"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("'zz' is not a capability mask"));
    let o = nucleus(&["caps", "exec", "--", "/no/such/program"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(stderr(&o).contains("command not found"));
    let o = nucleus(&["caps", "file", "/no/such/file"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/no/such/file"));
}

#[test]
fn explain_of_a_plain_program_keeps_bounding_for_root_and_ambient_for_others() {
    // Pure prediction from explicit sets: needs no privileges.
    let out = ok(&[
        "caps",
        "explain",
        "--json",
        "--user",
        "1000",
        "--bounding",
        "ALL",
        "--permitted",
        "net_raw,kill",
        "--effective",
        "net_raw",
        "--inheritable",
        "kill",
        "--ambient",
        "kill",
        "--no-new-privs",
        "true",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["after"]["result"], "runs");
    assert_eq!(
        v["after"]["sets"]["permitted"]["names"],
        serde_json::json!(["CAP_KILL"])
    );
    assert_eq!(
        v["after"]["sets"]["effective"]["names"],
        serde_json::json!(["CAP_KILL"])
    );
    let out = ok(&[
        "caps",
        "explain",
        "--json",
        "--user",
        "0",
        "--bounding",
        "0xa80425fb",
        "--permitted",
        "0",
        "--effective",
        "0",
        "--inheritable",
        "0",
        "--ambient",
        "0",
        "true",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["after"]["sets"]["effective"]["hex"], "00000000a80425fb");
}
