//! The runc-compatible verbs: spec, create, start, state, run, list, kill, delete, ps,
//! features; errors leave nothing behind.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn spec_writes_a_config_run_accepts() {
    if !privileged("spec_writes_a_config_run_accepts") {
        return;
    }
    let b = Bundle::new("ocispec", &["sh", "-c", "echo hi; exit 4"]);
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "s1"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
    assert!(
        !b.root().join("s1").exists(),
        "a foreground run deletes its state"
    );
    // spec does not overwrite.
    let o = b.nucleus(&["spec", "-b", b.bundle().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"));
}

#[test]
fn create_start_state_delete() {
    if !privileged("create_start_state_delete") {
        return;
    }
    let b = Bundle::new(
        "ocilife",
        &[
            "sh",
            "-c",
            "echo started; grep -E 'CapEff|CapBnd|CapInh' /proc/self/status; sleep 1",
        ],
    );
    b.edit(|c| {
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": ["CAP_CHOWN", "CAP_NET_RAW", "CAP_NO_SUCH_CAP"],
            "permitted": ["CAP_CHOWN", "CAP_NET_RAW"], "effective": ["CAP_CHOWN"], "inheritable": [], "ambient": []});
    });
    let pid_file = b.tmp.path("pid");
    let log = std::fs::File::create(b.tmp.path("c1.out")).unwrap();
    let st = b
        .cmd(&[
            "create",
            "-b",
            b.bundle().to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            "c1",
        ])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .status()
        .unwrap();
    assert!(st.success(), "{}", b.output("c1"));
    assert!(
        b.output("c1")
            .contains("unknown capability CAP_NO_SUCH_CAP"),
        "{}",
        b.output("c1")
    );
    let s = b.state("c1");
    assert_eq!(s["status"], "created");
    assert_eq!(s["ociVersion"], "1.0.2");
    let pid = s["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        !b.output("c1").contains("started"),
        "the program must not run before start"
    );
    let o = b.nucleus(&["start", "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(b.state("c1")["status"], "running");
    let o = b.nucleus(&["start", "c1"]);
    assert_eq!(o.status.code(), Some(1), "a second start fails");
    let ps = b.nucleus(&["ps", "--format", "json", "c1"]);
    let pids: Vec<i64> = serde_json::from_str(&stdout(&ps)).unwrap();
    assert!(pids.contains(&pid), "{pids:?}");
    let o = b.nucleus(&["delete", "c1"]);
    assert_eq!(o.status.code(), Some(1), "running: delete needs --force");
    b.wait_status("c1", "stopped");
    let out = b.output("c1");
    assert!(out.contains("started"), "{out}");
    // Root's execve() makes permitted and effective the bounding set (capabilities(7)):
    // the program has both bounding capabilities although effective listed one.
    assert!(out.contains("CapEff:\t0000000000002001"), "{out}");
    assert!(out.contains("CapBnd:\t0000000000002001"), "{out}");
    assert!(out.contains("CapInh:\t0000000000000000"), "{out}");
    let o = b.nucleus(&["delete", "c1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!b.root().join("c1").exists());
    let o = b.nucleus(&["state", "c1"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn detached_run_kill_and_forced_delete() {
    if !privileged("detached_run_kill_and_forced_delete") {
        return;
    }
    let b = Bundle::new("ocikill", &["sleep", "60"]);
    let bun = b.bundle();
    let o = b
        .cmd(&["run", "-d", "-b", bun.to_str().unwrap(), "k1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    assert_eq!(b.state("k1")["status"], "running");
    let o = b.nucleus(&["kill", "k1", "KILL"]);
    assert!(o.status.success(), "{}", stderr(&o));
    b.wait_status("k1", "stopped");
    let o = b.nucleus(&["kill", "k1"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "nothing to signal in a stopped container"
    );
    assert!(b.nucleus(&["delete", "k1"]).status.success());
    // pause freezes every process (the kernel's freezer says so), resume thaws.
    let o = b
        .cmd(&["run", "-d", "-b", bun.to_str().unwrap(), "p1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    assert!(b.nucleus(&["pause", "p1"]).status.success());
    assert_eq!(b.state("p1")["status"], "paused");
    let pid = b.state("p1")["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let frozen = cg.lines().any(|l| {
        let (ctrl, path) = l
            .split_once(':')
            .map(|(_, r)| r.split_once(':').unwrap())
            .unwrap();
        let base = if ctrl.is_empty() {
            "/sys/fs/cgroup/unified".to_string()
        } else {
            format!("/sys/fs/cgroup/{ctrl}")
        };
        std::fs::read_to_string(format!("{base}{path}/freezer.state"))
            .is_ok_and(|s| s.trim() == "FROZEN")
            || std::fs::read_to_string(format!("{base}{path}/cgroup.events"))
                .is_ok_and(|s| s.contains("frozen 1"))
    });
    assert!(frozen, "no frozen cgroup in {cg}");
    assert_eq!(
        b.nucleus(&["pause", "p1"]).status.code(),
        Some(1),
        "already paused"
    );
    assert!(b.nucleus(&["resume", "p1"]).status.success());
    assert_eq!(b.state("p1")["status"], "running");
    assert_eq!(
        b.nucleus(&["resume", "p1"]).status.code(),
        Some(1),
        "not paused"
    );
    assert!(b.nucleus(&["pause", "p1"]).status.success());
    assert!(
        b.nucleus(&["delete", "--force", "p1"]).status.success(),
        "a paused container is thawed and killed"
    );
    assert!(!b.root().join("p1").exists());
    // delete --force kills a running container.
    let o = b
        .cmd(&["run", "-d", "-b", bun.to_str().unwrap(), "k2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(o.success());
    let pid = b.state("k2")["pid"].as_i64().unwrap();
    let list = stdout(&b.nucleus(&["list", "--format", "json"]));
    let v: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v[0]["id"], "k2");
    assert!(b.nucleus(&["delete", "--force", "k2"]).status.success());
    assert!(
        !Path::new(&format!("/proc/{pid}/status")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap()
                .contains("State:\tZ")
    );
    assert!(!b.root().join("k2").exists());
    // Signals by name and number.
    let o = b.create("k3");
    assert!(o.status.success(), "{}", b.output("k3"));
    assert!(b.nucleus(&["kill", "k3", "9"]).status.success());
    b.wait_status("k3", "stopped");
    assert_eq!(b.nucleus(&["kill", "k3", "BOGUS"]).status.code(), Some(1));
    assert!(b.nucleus(&["delete", "k3"]).status.success());
}

#[test]
fn bad_input_leaves_nothing_behind() {
    let b = Bundle::new("ocibad", &["true"]);
    assert!(
        b.nucleus(&["delete", "--force", "ghost"]).status.success(),
        "as runc: a forced delete of a missing container succeeds"
    );
    for verb in [
        &["start", "ghost"][..],
        &["state", "ghost"],
        &["kill", "ghost"],
        &["delete", "ghost"],
        &["ps", "ghost"],
    ] {
        let o = b.nucleus(verb);
        assert_eq!(o.status.code(), Some(1), "{verb:?}");
        assert!(
            stderr(&o).starts_with("nucleus: container 'ghost' does not exist"),
            "{verb:?}: {}",
            stderr(&o)
        );
    }
    let bun = b.bundle();
    let bun = bun.to_str().unwrap();
    // Malformed config.
    let good = std::fs::read_to_string(b.bundle().join("config.json")).unwrap();
    std::fs::write(b.bundle().join("config.json"), "{not json").unwrap();
    let o = b.nucleus(&["create", "-b", bun, "m1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid config"), "{}", stderr(&o));
    assert!(!b.root().join("m1").exists());
    std::fs::write(b.bundle().join("config.json"), &good).unwrap();
    // Unsupported settings are refused, not ignored.
    // (`unified` needs cgroup v2; this host's hierarchies are v1.)
    b.edit(|c| c["linux"]["resources"] = serde_json::json!({"unified": {"memory.high": "1m"}}));
    let o = b.nucleus(&["create", "-b", bun, "m2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unified"), "{}", stderr(&o));
    assert!(!b.root().join("m2").exists());
    std::fs::write(b.bundle().join("config.json"), &good).unwrap();
    // Missing rootfs.
    b.edit(|c| c["root"]["path"] = Value::String("no-such-rootfs".into()));
    let o = b.nucleus(&["create", "-b", bun, "m3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such-rootfs"), "{}", stderr(&o));
    assert!(!b.root().join("m3").exists());
    std::fs::write(b.bundle().join("config.json"), &good).unwrap();
    // Invalid IDs.
    assert!(stderr(&b.nucleus(&["create", "-b", bun, "../x"])).contains("invalid container ID"));
    // The sandbox and the OCI form do not mix.
    let o = b.nucleus(&["run", "x", "--", "true"]);
    assert_eq!(o.status.code(), Some(1));
    // --log json records the error for containerd/Podman.
    let log = b.tmp.path("log.json");
    let o = b.nucleus(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "start",
        "ghost",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("ghost"));
    // Features: every capability nucleus knows.
    let f: Value = serde_json::from_str(&stdout(&b.nucleus(&["features"]))).unwrap();
    assert_eq!(f["linux"]["capabilities"].as_array().unwrap().len(), 41);
    // update is implemented (tests/update.rs): an unknown container is an error.
    let o = b.nucleus(&["update", "--memory", "1m", "x"]);
    assert_eq!(o.status.code(), Some(1), "update");
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    // events is implemented (tests/events.rs): an unknown container is an error.
    let o = b.nucleus(&["events", "x"]);
    assert_eq!(o.status.code(), Some(1), "events");
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn duplicates_and_crashed_creates() {
    if !privileged("duplicates_and_crashed_creates") {
        return;
    }
    let b = Bundle::new("ocidup", &["sleep", "30"]);
    assert!(b.create("d1").status.success(), "{}", b.output("d1"));
    let pid = b.state("d1")["pid"].as_i64().unwrap();
    let o = b.create("d1");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        b.output("d1").contains("already exists"),
        "{}",
        b.output("d1")
    );
    assert_eq!(
        b.state("d1")["pid"].as_i64().unwrap(),
        pid,
        "the first container is untouched"
    );
    // A created container is not stopped: delete refuses (runtime spec), --force kills
    // its waiting process and removes it.
    let o = b.nucleus(&["delete", "d1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(b.state("d1")["status"], "created");
    assert!(b.nucleus(&["delete", "--force", "d1"]).status.success());
    assert!(!b.root().join("d1").exists());
    // A create that died before writing its state: delete needs --force, then cleans.
    std::fs::create_dir_all(b.root().join("crashed")).unwrap();
    let o = b.nucleus(&["delete", "crashed"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(b
        .nucleus(&["delete", "--force", "crashed"])
        .status
        .success());
    assert!(!b.root().join("crashed").exists());
}

/// linux.cgroupsPath: an absolute path is created below each hierarchy's root with the
/// configured limits, the process is in it, and delete removes it with the parents it made.
#[test]
fn cgroups_path_is_honoured_and_removed() {
    if !privileged("cgroups_path_is_honoured_and_removed") {
        return;
    }
    if nucleus::linux::cgroups::detect(Path::new("/sys/fs/cgroup"))
        != nucleus::linux::cgroups::Version::V1
    {
        println!("SKIPPED (needs the v1 hierarchy): cgroups_path_is_honoured_and_removed");
        return;
    }
    let parent = format!("nucleus-ocitest-{}", std::process::id());
    let b = Bundle::new("ocicg", &["sleep", "30"]);
    let path = format!("/{parent}/c1");
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = serde_json::json!(path);
        c["linux"]["resources"] = serde_json::json!({
            "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 33},
            "memory": {"limit": 67108864, "reservation": 33554432}
        });
    });
    assert!(b.create("cg1").status.success(), "{}", b.output("cg1"));
    let pid = b.state("cg1")["pid"].as_i64().unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let root = Path::new("/sys/fs/cgroup");
    let read = |c: &str, f: &str| {
        std::fs::read_to_string(root.join(c).join(&parent).join("c1").join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let checks = [
        ("cpu", "cpu.shares", "512"),
        ("cpu", "cpu.cfs_quota_us", "20000"),
        ("cpuset", "cpuset.cpus", "0"),
        ("pids", "pids.max", "33"),
        ("memory", "memory.limit_in_bytes", "67108864"),
        ("memory", "memory.soft_limit_in_bytes", "33554432"),
    ];
    let values: Vec<String> = checks.iter().map(|(c, f, _)| read(c, f)).collect();
    assert!(b.nucleus(&["delete", "--force", "cg1"]).status.success());
    for ((c, f, want), got) in checks.iter().zip(&values) {
        assert_eq!(got, want, "{c}/{f}");
    }
    for c in ["cpu", "cpuset", "pids", "memory", "freezer"] {
        assert!(
            membership
                .lines()
                .any(|l| l.contains(c) && l.ends_with(&path)),
            "{c} not at {path}: {membership}"
        );
        assert!(
            !root.join(c).join(&parent).exists(),
            "{c}/{parent} left behind"
        );
    }
}

/// linux.devices: nodes made with the configured type, numbers, mode and owner; a device in
/// a user namespace (where mknod is not allowed) is a clear create error.
#[test]
fn linux_devices_are_created() {
    if !privileged("linux_devices_are_created") {
        return;
    }
    let b = Bundle::new(
        "ocidev",
        &[
            "stat",
            "-c",
            "%n %F %t:%T %a %u:%g",
            "/dev/extra/null2",
            "/dev/fifo1",
        ],
    );
    b.edit(|c| {
        c["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/extra/null2", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/fifo1", "type": "p", "fileMode": 0o600}
        ]);
    });
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "dev1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "/dev/extra/null2 character special file 1:3 640 1000:1001\n\
         /dev/fifo1 fifo 0:0 600 0:0\n"
    );
    // A path that leaves the root is refused before anything is made.
    b.edit(|c| c["linux"]["devices"][0]["path"] = serde_json::json!("/dev/../../x"));
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "dev2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("linux.devices"), "{}", stderr(&o));
    assert!(!b.root().join("dev2").exists());
}

/// Hooks: each kind runs at its point, in the runtime's or the container's namespaces, with
/// the state document on stdin; a failing or hanging create-time hook fails create and
/// leaves nothing; a failing poststart hook fails start.
#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    if !privileged("hooks_run_in_order_with_the_state_on_stdin") {
        return;
    }
    let b = Bundle::new("ocihook", &["true"]);
    let log = b.tmp.path("hooks.log");
    let hook = |name: &str, log: &str| {
        serde_json::json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo {name} $(cat) >> {log}")]
        })
    };
    let l = log.to_str().unwrap();
    b.edit(|c| {
        c["root"]["readonly"] = serde_json::json!(false);
        c["hooks"] = serde_json::json!({
            "prestart": [hook("prestart", l)],
            "createRuntime": [hook("createRuntime", l)],
            // Before pivot_root, in the container's mount namespace: the host is visible.
            "createContainer": [hook("createContainer", l)],
            // Inside the container: its own sh, writing into its root.
            "startContainer": [hook("startContainer", "/started")],
            "poststart": [hook("poststart", l)],
            "poststop": [hook("poststop", l)]
        });
    });
    assert!(b.create("h1").status.success(), "{}", b.output("h1"));
    let pid = b.state("h1")["pid"].as_i64().unwrap();
    let lines = |p: &Path| -> Vec<(String, Value)> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (name, json) = l.split_once(' ').unwrap();
                (name.to_string(), serde_json::from_str(json).unwrap())
            })
            .collect()
    };
    let names = |v: &[(String, Value)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    let got = lines(&log);
    assert_eq!(
        names(&got),
        ["prestart", "createRuntime", "createContainer"]
    );
    for (name, st) in &got {
        assert_eq!(st["id"], "h1", "{name}");
        assert_eq!(st["pid"].as_i64(), Some(pid), "{name}");
        assert_eq!(
            st["bundle"].as_str(),
            Some(b.bundle().to_str().unwrap()),
            "{name}"
        );
    }
    assert_eq!(got[0].1["status"], "created");
    assert_eq!(got[1].1["status"], "creating");
    assert!(
        !b.bundle().join("rootfs/started").exists(),
        "startContainer ran early"
    );
    let o = b.nucleus(&["start", "h1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The hook runs in the container's process after start has released it: look once
    // the program has run.
    b.wait_status("h1", "stopped");
    let started = lines(&b.bundle().join("rootfs/started"));
    assert_eq!(names(&started), ["startContainer"]);
    assert_eq!(started[0].1["pid"].as_i64(), Some(pid));
    assert!(b.nucleus(&["delete", "h1"]).status.success());
    let got = lines(&log);
    assert_eq!(
        names(&got),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "poststop"
        ]
    );
    assert_eq!(got[3].1["status"], "running");
    assert_eq!(got[4].1["status"], "stopped");

    // A failing createRuntime hook: create fails naming it, and nothing is left.
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]
        })
    });
    let o = b.create("h2");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        b.output("h2")
            .contains("createRuntime hook #0 (/bin/sh): failed"),
        "{}",
        b.output("h2")
    );
    assert!(!b.root().join("h2").exists());
    assert!(!Path::new("/sys/fs/cgroup/freezer/nucleus-h2").exists());
    // A hanging one is killed at its timeout.
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]
        })
    });
    let t = std::time::Instant::now();
    let o = b.create("h3");
    assert_eq!(o.status.code(), Some(1));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        b.output("h3").contains("timed out after 1 s"),
        "{}",
        b.output("h3")
    );
    assert!(!b.root().join("h3").exists());
    // A failing poststart hook fails start, and the container is deleted (as runc;
    // tests/oci_process.rs looks closer).
    b.edit(|c| {
        c["hooks"] = serde_json::json!({
            "poststart": [{"path": "/bin/false"}]
        })
    });
    assert!(b.create("h4").status.success(), "{}", b.output("h4"));
    let o = b.nucleus(&["start", "h4"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("poststart hook #0"), "{}", stderr(&o));
    assert!(!b.root().join("h4").exists());
}

/// linux.rootfsPropagation is what the container's root mount reports in mountinfo; an
/// unknown value is a create error.
#[test]
fn rootfs_propagation_is_applied() {
    if !privileged("rootfs_propagation_is_applied") {
        return;
    }
    // The root mount's line: field 5 (the mount point) is "/".
    let b = Bundle::new(
        "ociprop",
        &[
            "grep",
            "-E",
            "^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ",
            "/proc/self/mountinfo",
        ],
    );
    for (value, want) in [
        ("shared", Some("shared:")),
        ("rslave", None),
        ("unbindable", Some("unbindable")),
    ] {
        b.edit(|c| c["linux"]["rootfsPropagation"] = serde_json::json!(value));
        let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "p1"]);
        assert!(o.status.success(), "{value}: {}", stderr(&o));
        let line = stdout(&o);
        match want {
            Some(w) => assert!(line.contains(w), "{value}: {line}"),
            // The root was private before: a slave of nothing is private.
            None => assert!(
                !line.contains("shared:") && !line.contains("master:"),
                "{value}: {line}"
            ),
        }
    }
    b.edit(|c| c["linux"]["rootfsPropagation"] = serde_json::json!("sideways"));
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "p2"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("rootfsPropagation"), "{}", stderr(&o));
}

/// process.terminal: the master arrives on --console-socket and the process's stdio is
/// the pty's slave, its controlling terminal; the same for exec --tty. A terminal without
/// a socket is a clear error.
#[test]
fn terminal_master_goes_to_the_console_socket() {
    if !privileged("terminal_master_goes_to_the_console_socket") {
        return;
    }
    let b = Bundle::new(
        "ocitty",
        &["sh", "-c", "tty; test -t 0 && echo stdin-tty; sleep 30"],
    );
    b.edit(|c| c["process"]["terminal"] = serde_json::json!(true));
    let o = b.create("t0");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        b.output("t0").contains("--console-socket"),
        "{}",
        b.output("t0")
    );
    assert!(!b.root().join("t0").exists());

    let sock = b.tmp.path("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let bundle = b.bundle();
    let o = b
        .cmd(&[
            "create",
            "-b",
            bundle.to_str().unwrap(),
            "--console-socket",
            sock.to_str().unwrap(),
            "t1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let master = receive_master(&listener);
    assert!(b.nucleus(&["start", "t1"]).status.success());
    // exec --tty gets a pty of its own.
    let o = b
        .cmd(&[
            "exec",
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            "-d",
            "t1",
            "sh",
            "-c",
            "tty; echo exec-done",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let exec_out = read_all(receive_master(&listener));
    assert_eq!(exec_out, "/dev/pts/1\nexec-done\n");
    assert!(b.nucleus(&["kill", "t1", "KILL"]).status.success());
    let out = read_all(master);
    assert_eq!(out, "/dev/pts/0\nstdin-tty\n");
    b.wait_status("t1", "stopped");
    assert!(b.nucleus(&["delete", "t1"]).status.success());
}

/// linux.resources.devices on the v1 devices cgroup: a denied device can be made (mknod is
/// always allowed, as runc does) but not opened, even by root; an allow rule lets it
/// through; the standard devices and the config's own linux.devices stay usable under a
/// deny-all.
#[test]
fn device_cgroup_rules_are_enforced() {
    if !privileged("device_cgroup_rules_are_enforced") {
        return;
    }
    if !Path::new("/sys/fs/cgroup/devices/devices.allow").exists() {
        println!("SKIPPED (needs the v1 devices controller): device_cgroup_rules_are_enforced");
        return;
    }
    let b = Bundle::new(
        "ocidevcg",
        &[
            "sh",
            "-c",
            "mknod /dev/k c 1 11 && echo made; (: > /dev/k) && echo opened-k; \
             echo x > /dev/null && echo null-ok; echo x > /dev/mine && echo mine-ok",
        ],
    );
    let run = |rules: Value| {
        b.edit(|c| {
            c["linux"]["devices"] =
                serde_json::json!([{"path": "/dev/mine", "type": "c", "major": 1, "minor": 3}]);
            c["linux"]["resources"] = serde_json::json!({ "devices": rules });
        });
        let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "dc"]);
        (stdout(&o), stderr(&o))
    };
    let (out, err) = run(serde_json::json!([{"allow": false, "access": "rwm"}]));
    assert_eq!(out, "made\nnull-ok\nmine-ok\n", "{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    let (out, err) = run(serde_json::json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]));
    assert_eq!(out, "made\nopened-k\nnull-ok\nmine-ok\n", "{err}");
    // A bad access string is refused before anything is made.
    let (_, err) = run(serde_json::json!([{"allow": true, "access": "rwx"}]));
    assert!(err.contains("access 'rwx'"), "{err}");
    assert!(!b.root().join("dc").exists());
}

/// --preserve-fds N: the caller's descriptors 3…3+N-1 reach the program, the next ones do
/// not; asking for a descriptor the caller does not hold is an error.
#[test]
fn preserve_fds_passes_exactly_the_named_descriptors() {
    if !privileged("preserve_fds_passes_exactly_the_named_descriptors") {
        return;
    }
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let b = Bundle::new(
        "ocifds",
        &[
            "sh",
            "-c",
            "cat <&3; if [ -e /proc/self/fd/4 ]; then echo leaked-4; else echo no-4; fi",
        ],
    );
    std::fs::write(b.tmp.path("secret"), "passed-on\n").unwrap();
    let f3 = std::fs::File::open(b.tmp.path("secret")).unwrap();
    let f4 = std::fs::File::open(b.tmp.path("secret")).unwrap();
    let (r3, r4) = (f3.as_raw_fd(), f4.as_raw_fd());
    let run = |n: &str, with4: bool| {
        let mut c = b.cmd(&[
            "run",
            "--preserve-fds",
            n,
            "-b",
            b.bundle().to_str().unwrap(),
            "f1",
        ]);
        // SAFETY: dup2 between descriptors this test owns, in the child before exec.
        unsafe {
            c.pre_exec(move || {
                // Through numbers above 10 first: dup2 onto itself would keep CLOEXEC.
                let (t3, t4) = (
                    libc::fcntl(r3, libc::F_DUPFD, 10),
                    libc::fcntl(r4, libc::F_DUPFD, 10),
                );
                if t3 < 0 || t4 < 0 || libc::dup2(t3, 3) < 0 || (with4 && libc::dup2(t4, 4) < 0) {
                    return Err(std::io::Error::last_os_error());
                }
                if !with4 {
                    libc::close(4);
                }
                Ok(())
            });
        }
        c.output().unwrap()
    };
    let o = run("1", true);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "passed-on\nno-4\n");
    let o = run("2", false);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("descriptor 4 is not open"),
        "{}",
        stderr(&o)
    );
    assert!(!b.root().join("f1").exists());
}

/// Joining existing PID and mount namespaces by path: the container's process is in
/// exactly those namespaces (read back from /proc), and is not PID 1 there; joining
/// nucleus' own mount namespace (which would replace the host's root) is refused.
#[test]
fn joins_pid_and_mount_namespaces_by_path() {
    if !privileged("joins_pid_and_mount_namespaces_by_path") {
        return;
    }
    let b = Bundle::new("ocinsjoin", &["sh", "-c", "echo $$; sleep 30"]);
    let mut holder = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "sleep", "60"])
        .spawn()
        .unwrap();
    let Some(h) = wait_for_descendant(holder.id(), "sleep") else {
        let _ = holder.kill();
        let _ = holder.wait();
        panic!("the namespace holder did not start");
    };
    let ns = |pid: u32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    b.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid" && n["type"] != "mount");
        list.push(serde_json::json!({"type": "pid", "path": format!("/proc/{h}/ns/pid")}));
        list.push(serde_json::json!({"type": "mount", "path": format!("/proc/{h}/ns/mnt")}));
    });
    let created = b.create("j1");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(created.status.success(), "{}", b.output("j1"));
        let pid = b.state("j1")["pid"].as_i64().unwrap() as u32;
        assert_eq!(ns(pid, "pid_for_children"), ns(h, "pid"));
        assert_eq!(ns(pid, "mnt"), ns(h, "mnt"));
        assert_ne!(ns(pid, "mnt"), ns(std::process::id(), "mnt"));
        assert!(b.nucleus(&["start", "j1"]).status.success());
        b.wait_status("j1", "running");
        // The holder's sleep is PID 1 of that namespace: the container's shell is not.
        let mut out = String::new();
        for _ in 0..200 {
            out = b.output("j1");
            if !out.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let inner: u32 = out.trim().parse().unwrap();
        assert!(inner > 1, "{out}");
    }));
    let _ = b.nucleus(&["delete", "--force", "j1"]);
    let _ = holder.kill();
    let _ = holder.wait();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(h as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    // nucleus' own mount namespace is refused, and nothing is left.
    b.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid" && n["type"] != "mount");
        list.push(serde_json::json!({"type": "pid"}));
        list.push(serde_json::json!({"type": "mount", "path": "/proc/self/ns/mnt"}));
    });
    let o = b.create("j2");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        b.output("j2").contains("own mount namespace"),
        "{}",
        b.output("j2")
    );
    assert!(!b.root().join("j2").exists());
}

/// Joining an existing user namespace by path: the process is in it (read back from
/// /proc), its other namespaces are new and owned by it (so /proc and the rest mount),
/// and it is root there through that namespace's own map.
#[test]
fn joins_a_user_namespace_by_path() {
    if !privileged("joins_a_user_namespace_by_path") {
        return;
    }
    let b = Bundle::new(
        "ociuserns",
        &["sh", "-c", "cat /proc/self/uid_map; id -u; sleep 30"],
    );
    let mut holder = Command::new("unshare")
        .args(["--user", "--map-root-user", "sleep", "60"])
        .spawn()
        .unwrap();
    let h = holder.id();
    let ready = wait_for_comm(h, "sleep");
    let ns = |pid: u32, kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    b.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "user");
        list.push(serde_json::json!({"type": "user", "path": format!("/proc/{h}/ns/user")}));
        c["linux"].as_object_mut().unwrap().remove("uidMappings");
        c["linux"].as_object_mut().unwrap().remove("gidMappings");
        // The holder maps only id 0: devpts cannot take gid=5 there.
        for m in c["mounts"].as_array_mut().unwrap() {
            if m["type"] == "devpts" {
                m["options"] = serde_json::json!(["nosuid", "noexec", "newinstance", "mode=0620"]);
            }
        }
    });
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(ready, "the namespace holder did not start");
        assert!(b.create("u1").status.success(), "{}", b.output("u1"));
        let pid = b.state("u1")["pid"].as_i64().unwrap() as u32;
        assert_eq!(ns(pid, "user"), ns(h, "user"));
        assert_ne!(ns(pid, "mnt"), ns(h, "mnt"));
        assert!(b.nucleus(&["start", "u1"]).status.success());
        let mut out = String::new();
        for _ in 0..300 {
            out = b.output("u1");
            if out.lines().count() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["0", "0", "1"],
            "{out}"
        );
        assert_eq!(lines[1], "0", "{out}");
    }));
    let _ = b.nucleus(&["delete", "--force", "u1"]);
    let _ = holder.kill();
    let _ = holder.wait();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
