//! Capability tests that change credentials: apply + verify, probe, explain against the
//! real execve(). Each proves its claim by reading the kernel (/proc/self/status) or by a
//! syscall that must succeed or fail. Needs root; prints SKIPPED otherwise.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn bit(name: &str) -> u64 {
    let out = ok(&["caps", "encode", "--json", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    u64::from_str_radix(v["mask"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn exec_status(policy: &[&str]) -> BTreeMap<String, u64> {
    let mut args = vec!["caps", "exec"];
    args.extend_from_slice(policy);
    args.extend(["--", "cat", "/proc/self/status"]);
    status_caps(&ok(&args))
}

#[test]
fn retain_for_non_root_puts_the_cap_in_all_five_sets_and_it_works() {
    if !privileged("retain_for_non_root_puts_the_cap_in_all_five_sets_and_it_works") {
        return;
    }
    let st = exec_status(&["--caps-retain", "net_bind_service", "--user", "1000:1000"]);
    for k in ["CapEff", "CapPrm", "CapAmb", "CapBnd"] {
        assert_eq!(st[k], 0x400, "{k}: {st:?}");
    }
    assert_eq!(st["CapInh"] & 0x400, 0x400, "{st:?}");
    assert_eq!(st["Euid"], 1000);

    // Independent of nucleus's own probe: bind port 80 works, a raw socket does not.
    let py = r#"
import socket, errno
s = socket.socket(); s.bind(("127.0.0.1", 80)); s.close(); print("bind80 ok")
try:
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); print("raw ok")
except PermissionError:
    print("raw EPERM")
"#;
    let o = nucleus(&[
        "caps",
        "exec",
        "--caps-retain",
        "net_bind_service",
        "--user",
        "1000:1000",
        "--",
        "/usr/bin/python3",
        "-c",
        py,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "bind80 ok\nraw EPERM\n");
    // And without the capability the bind fails: the check above can fail.
    let o = nucleus(&[
        "caps",
        "exec",
        "--user",
        "1000:1000",
        "--",
        "/usr/bin/python3",
        "-c",
        py,
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("Permission denied"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn root_keeps_inheritable_and_ambient_empty_and_groups_are_set() {
    if !privileged("root_keeps_inheritable_and_ambient_empty_and_groups_are_set") {
        return;
    }
    let st = exec_status(&["--caps-retain", "chown,net_raw"]);
    let want = bit("chown") | bit("net_raw");
    assert_eq!(
        (st["CapBnd"], st["CapPrm"], st["CapEff"]),
        (want, want, want)
    );
    assert_eq!(
        (st["CapInh"], st["CapAmb"]),
        (0, 0),
        "inheritable must stay empty for root"
    );
    // No policy flag: nothing at all.
    let st = exec_status(&[]);
    assert!(
        st.iter()
            .filter(|(k, _)| k.starts_with("Cap"))
            .all(|(_, v)| *v == 0),
        "{st:?}"
    );
    // Identity: uid, gid and supplementary groups as asked.
    let out = ok(&[
        "caps",
        "exec",
        "--user",
        "1234:4321",
        "--groups",
        "27,100",
        "--",
        "cat",
        "/proc/self/status",
    ]);
    assert!(out.contains("Uid:\t1234\t1234\t1234\t1234"), "{out}");
    assert!(out.contains("Gid:\t4321\t4321\t4321\t4321"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("Groups:") && l.split_whitespace().skip(1).eq(["27", "100"])),
        "{out}"
    );
    // no_new_privs is applied and visible.
    let out = ok(&[
        "caps",
        "exec",
        "--no-new-privs",
        "--",
        "cat",
        "/proc/self/status",
    ]);
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
}

#[test]
fn a_process_cannot_grant_what_it_does_not_hold() {
    if !privileged("a_process_cannot_grant_what_it_does_not_hold") {
        return;
    }
    let tmp = TempDir::new("grant");
    let n = tmp.copy(NUCLEUS, "nucleus");
    let n = n.to_str().unwrap();
    let marker = tmp.path("ran");
    let o = nucleus(&[
        "caps",
        "exec",
        "--user",
        "1000",
        "--",
        n,
        "caps",
        "exec",
        "--caps-retain",
        "chown",
        "--",
        "touch",
        marker.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot grant chown"), "{}", stderr(&o));
    assert!(!marker.exists());
}

#[test]
fn remove_net_raw_is_proved_by_the_probe() {
    if !privileged("remove_net_raw_is_proved_by_the_probe") {
        return;
    }
    let verdicts = |policy: &[&str]| -> BTreeMap<String, String> {
        let mut args = vec!["caps", "exec"];
        args.extend_from_slice(policy);
        args.extend(["--", NUCLEUS, "caps", "probe", "--json"]);
        let v: Value = serde_json::from_str(&ok(&args)).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["capability"].as_str().unwrap().to_string(),
                    r["verdict"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let before = verdicts(&["--caps-retain", "net_raw,chown"]);
    assert_eq!(before["CAP_NET_RAW"], "held");
    let after = verdicts(&["--caps-remove", "net_raw"]);
    assert_eq!(after["CAP_NET_RAW"], "denied");
    assert_eq!(after["CAP_CHOWN"], "held");
    // Every capability the issue names is really probed (not skipped) here.
    for c in [
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "NET_ADMIN",
        "IPC_LOCK",
        "SYS_CHROOT",
        "SYS_ADMIN",
        "SYS_PTRACE",
        "MKNOD",
        "SETFCAP",
        "AUDIT_WRITE",
        "SYS_NICE",
        "SYS_RESOURCE",
    ] {
        let v = &after[&format!("CAP_{c}")];
        assert!(v == "held" || v == "denied", "CAP_{c} was {v}");
    }
}

/// The strongest probe check: under many policies, as root and not, every capability that
/// is probed is reported held exactly when it is in the effective set.
#[test]
fn probe_verdicts_equal_the_effective_set_under_many_policies() {
    if !privileged("probe_verdicts_equal_the_effective_set_under_many_policies") {
        return;
    }
    let tmp = TempDir::new("probe");
    let n = tmp.copy(NUCLEUS, "nucleus");
    let n = n.to_str().unwrap();
    let bounding = status_caps(&std::fs::read_to_string("/proc/self/status").unwrap())["CapBnd"];
    // Lists restricted to what this process holds, so every policy is grantable here.
    let list = |names: &str| -> String {
        names
            .split(',')
            .filter(|c| bit(c) & bounding != 0)
            .collect::<Vec<_>>()
            .join(",")
    };
    let odd = list("chown,fowner,kill,setuid,net_bind_service,net_admin,sys_chroot,sys_ptrace,sys_nice,mknod,audit_write,syslog");
    let even = list("dac_override,dac_read_search,fsetid,setgid,setpcap,net_raw,ipc_lock,sys_admin,sys_boot,sys_resource,sys_time,audit_control,setfcap");
    let policies: Vec<Vec<String>> = vec![
        vec![],
        vec!["--caps-remove".into(), "net_raw".into()],
        vec!["--caps-retain".into(), odd.clone()],
        vec!["--caps-retain".into(), even.clone()],
        vec!["--user".into(), "1000".into()],
        vec!["--user".into(), "1000".into(), "--caps-retain".into(), odd],
        vec!["--user".into(), "1000".into(), "--caps-retain".into(), even],
    ];
    let mut checked = 0;
    for p in &policies {
        let mut args: Vec<&str> = vec!["caps", "exec"];
        args.extend(p.iter().map(|s| s.as_str()));
        let mut status_args = args.clone();
        status_args.extend(["--", "cat", "/proc/self/status"]);
        let eff = status_caps(&ok(&status_args))["CapEff"];
        args.extend(["--", n, "caps", "probe", "--json"]);
        let v: Value = serde_json::from_str(&ok(&args)).unwrap();
        for r in v.as_array().unwrap() {
            let name = r["capability"].as_str().unwrap();
            let verdict = r["verdict"].as_str().unwrap();
            if verdict == "not-probed" {
                continue;
            }
            let held = eff & bit(name) != 0;
            assert_eq!(
                verdict == "held",
                held,
                "policy {p:?}: {name} probed {verdict}, effective={eff:#x}: {r}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 7 * 18, "only {checked} verdicts were checked");
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// `explain` predicts what the kernel really does: for each program and starting state, the
/// prediction is compared with /proc/self/status as read by the program after the exec.
#[test]
fn explain_predicts_the_real_execve() {
    if !privileged("explain_predicts_the_real_execve") {
        return;
    }
    let tmp = TempDir::new("explain");
    let n = tmp.copy(NUCLEUS, "nucleus");
    let n = n.to_str().unwrap().to_string();
    let plain = tmp.copy("/bin/cat", "plain");
    let fcap_ep = tmp.copy("/bin/cat", "fcap_ep");
    setcap(&["cap_net_raw,cap_kill+ep", fcap_ep.to_str().unwrap()]);
    let fcap_pi = tmp.copy("/bin/cat", "fcap_pi");
    setcap(&[
        "cap_kill+p cap_net_bind_service+i",
        fcap_pi.to_str().unwrap(),
    ]);
    let fcap_v3 = tmp.copy("/bin/cat", "fcap_v3");
    setcap(&["-n", "1000", "cap_net_raw+ep", fcap_v3.to_str().unwrap()]);
    let suid = tmp.copy("/bin/cat", "suid");
    set_mode(&suid, 0o4755);
    let explicit = tmp.path("explicit.json");
    write(
        &explicit,
        r#"{"bounding":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE"],"permitted":["CAP_CHOWN","CAP_KILL","CAP_NET_BIND_SERVICE"],
            "effective":["CAP_CHOWN"],"inheritable":["CAP_NET_BIND_SERVICE"],"ambient":[]}"#,
    );
    let ex = explicit.to_str().unwrap().to_string();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    let scenarios: Vec<Vec<String>> = vec![
        s(&["--caps-retain", "chown,net_raw"]),
        s(&["--caps-remove", "net_raw"]),
        s(&["--caps-retain", "chown", "--no-new-privs"]),
        s(&["--caps-policy", &ex]),
        s(&["--user", "1000", "--caps-retain", "net_bind_service"]),
        s(&["--user", "1000"]),
        s(&[
            "--user",
            "1000",
            "--caps-retain",
            "net_bind_service",
            "--no-new-privs",
        ]),
        s(&[
            "--user",
            "1000",
            "--caps-retain",
            "net_raw,kill,net_bind_service",
        ]),
        s(&["--user", "1000", "--caps-policy", &ex]),
        s(&[
            "--user",
            "1000",
            "--no-new-privs",
            "--caps-retain",
            "net_raw,kill",
        ]),
    ];
    let programs = [&plain, &fcap_ep, &fcap_pi, &fcap_v3, &suid];
    let keys = [
        ("CapBnd", "bounding"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapInh", "inheritable"),
        ("CapAmb", "ambient"),
    ];
    let (mut runs, mut fails) = (0, 0);
    for sc in &scenarios {
        for prog in programs {
            let prog = prog.to_str().unwrap();
            let mut pred_args: Vec<&str> = vec!["caps", "exec"];
            pred_args.extend(sc.iter().map(|x| x.as_str()));
            let mut real_args = pred_args.clone();
            pred_args.extend(["--", &n, "caps", "explain", "--json", prog]);
            real_args.extend(["--", prog, "/proc/self/status"]);
            let pred: Value = serde_json::from_str(&ok(&pred_args)).unwrap();
            let real = nucleus(&real_args);
            let ctx = format!("scenario {sc:?}, program {prog}");
            match pred["after"]["result"].as_str().unwrap() {
                "fails" => {
                    assert_eq!(
                        real.status.code(),
                        Some(126),
                        "{ctx}: predicted failure, got {:?}",
                        real.status
                    );
                    assert!(stderr(&real).contains("EPERM"), "{ctx}: {}", stderr(&real));
                    fails += 1;
                }
                "runs" => {
                    assert!(
                        real.status.success(),
                        "{ctx}: predicted success: {}",
                        stderr(&real)
                    );
                    let st = status_caps(&stdout(&real));
                    for (k, set) in keys {
                        let hex = pred["after"]["sets"][set]["hex"].as_str().unwrap();
                        assert_eq!(
                            u64::from_str_radix(hex, 16).unwrap(),
                            st[k],
                            "{ctx}: {set}\n{pred:#}"
                        );
                    }
                    assert_eq!(
                        pred["after"]["euid"].as_u64().unwrap(),
                        st["Euid"],
                        "{ctx}: euid"
                    );
                    runs += 1;
                }
                other => panic!("{ctx}: unknown result {other}"),
            }
        }
    }
    assert_eq!(runs + fails, scenarios.len() * programs.len());
    assert!(fails >= 1, "no scenario exercised the EPERM refusal");
}

#[test]
fn file_reads_v2_and_v3_xattrs_like_getcap() {
    if !privileged("file_reads_v2_and_v3_xattrs_like_getcap") {
        return;
    }
    let tmp = TempDir::new("file");
    let a = tmp.copy("/bin/true", "a");
    let b = tmp.copy("/bin/true", "b");
    let c = tmp.copy("/bin/true", "c");
    setcap(&["cap_net_raw,cap_kill+ep cap_chown+ei", a.to_str().unwrap()]);
    setcap(&["-n", "1000", "cap_net_admin+p", b.to_str().unwrap()]);
    let out = ok(&[
        "caps",
        "file",
        "--json",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let fa = &v[0]["capabilities"];
    assert_eq!(fa["version"], 2);
    assert_eq!(fa["effective"], true);
    assert_eq!(
        fa["permitted"]["names"],
        serde_json::json!(["CAP_KILL", "CAP_NET_RAW"])
    );
    assert_eq!(fa["inheritable"]["names"], serde_json::json!(["CAP_CHOWN"]));
    let fb = &v[1]["capabilities"];
    assert_eq!(
        (fb["version"].as_u64(), fb["rootid"].as_u64()),
        (Some(3), Some(1000))
    );
    assert!(v[2]["capabilities"].is_null());
    // Text mode: what getcap lists, in setcap syntax; files without caps are left out.
    let text = ok(&["caps", "file", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(
        text,
        format!("{} cap_chown=ei cap_kill,cap_net_raw=ep\n", a.display())
    );
    // The text is valid setcap input that reproduces the same xattr.
    setcap(&["cap_chown=ei cap_kill,cap_net_raw=ep", c.to_str().unwrap()]);
    let again = ok(&["caps", "file", c.to_str().unwrap()]);
    assert_eq!(
        again,
        format!("{} cap_chown=ei cap_kill,cap_net_raw=ep\n", c.display())
    );
    let getcap = Command::new("getcap").arg(&a).output().unwrap();
    assert!(String::from_utf8_lossy(&getcap.stdout).contains("cap_net_raw"));
}

#[test]
fn ps_lists_a_process_holding_capabilities() {
    if !privileged("ps_lists_a_process_holding_capabilities") {
        return;
    }
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i64;
    // spawn() returns once the child is forked; wait until it has exec'd sleep.
    let execd = wait_for_comm(child.id(), "sleep");
    let out = ok(&["caps", "ps", "--json"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(execd, "sleep never exec'd");
    let v: Value = serde_json::from_str(&out).unwrap();
    let row = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pid"].as_i64() == Some(pid))
        .expect("sleep listed");
    assert_eq!(row["name"], "sleep");
    assert_ne!(row["sets"]["effective"]["hex"], "0000000000000000");
    // A process with no capabilities is not listed.
    let mut bare = Command::new(NUCLEUS)
        .args(["caps", "exec", "--user", "1000", "--", "sleep", "30"])
        .spawn()
        .unwrap();
    let bare_pid = bare.id();
    let exec_done = wait_for_comm(bare_pid, "sleep");
    let text = ok(&["caps", "ps"]);
    bare.kill().unwrap();
    bare.wait().unwrap();
    assert!(exec_done, "the capability-less sleep never started");
    assert!(text.lines().next().unwrap().contains("CAPABILITIES"));
    assert!(
        !text
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&bare_pid.to_string())),
        "{text}"
    );
}
