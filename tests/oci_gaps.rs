//! Gaps of the runc drop-in (issue #14) as runc users meet them: an OCI container has a
//! cgroup in every v1 hierarchy (so `update` and stats work for kinds not limited at
//! create), `/dev/console` with a terminal, `exec` into a created container, exec's
//! console size.

mod common;
use common::bundle::Bundle;
use common::*;
use std::path::{Path, PathBuf};

/// The v1 hierarchies runc puts a container in and nucleus does too, when mounted here.
const EVERY: [&str; 8] = [
    "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices",
];

fn v1() -> bool {
    // This host drives v1 (hybrid); the v2 paths are covered by the VM lane.
    Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists()
}

/// `/proc/PID/cgroup` as (controller, path) pairs, one per v1 controller.
fn cgroups_of(pid: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mut out = Vec::new();
    for l in text.lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            out.push((c.to_string(), path.to_string()));
        }
    }
    out
}

fn path_in<'a>(cg: &'a [(String, String)], ctrl: &str) -> Option<&'a str> {
    cg.iter().find(|(c, _)| c == ctrl).map(|(_, p)| p.as_str())
}

/// The hierarchies of EVERY this host has mounted.
fn mounted() -> Vec<&'static str> {
    EVERY
        .into_iter()
        .filter(|c| {
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join("cgroup.procs")
                .exists()
        })
        .collect()
}

/// With `run.nucleus.cgroups=every-hierarchy`, a busy container created without any
/// linux.resources limit is in a cgroup of its own in every hierarchy; `update
/// --memory/--pids-limit` then works, `events --stats` counts its CPU time, and `delete`
/// removes every directory.
#[test]
fn oci_container_without_limits_gets_every_hierarchy() {
    if !privileged("oci_container_without_limits_gets_every_hierarchy") || !v1() {
        return;
    }
    let b = Bundle::new("gaps-every", &["sh", "-c", "while :; do :; done"]);
    b.edit(|c| {
        // Only the device rules nucleus' default spec has: no limit of any kind.
        c["linux"]["resources"] = serde_json::json!({
            "devices": [{"allow": false, "access": "rwm"}]
        });
        c["annotations"] = serde_json::json!({"run.nucleus.cgroups": "every-hierarchy"});
    });
    let id = "every1";
    let o = b.create(id);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(id)["pid"].to_string();
    let own = cgroups_of("self");
    let theirs = cgroups_of(&pid);
    let mine = path_in(&theirs, "memory").expect("memory line").to_string();
    assert!(mine.ends_with(id), "memory cgroup {mine}");
    let mut leaves: Vec<PathBuf> = Vec::new();
    for c in mounted() {
        let p = path_in(&theirs, c).unwrap_or_else(|| panic!("no {c} line: {theirs:?}"));
        assert_eq!(
            p, mine,
            "{c}: the container's own cgroup (runc places it in each)"
        );
        assert_ne!(Some(p), path_in(&own, c), "{c}: not the runtime's cgroup");
        leaves.push(
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(p.trim_start_matches('/')),
        );
    }
    assert!(b.nucleus(&["start", id]).status.success());
    // The view inside shows them (as the host names each hierarchy).
    let o = b.nucleus(&["exec", id, "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "max");

    // docker update --memory / --pids-limit on a container created without them.
    let o = b.nucleus(&["update", "--memory", "64m", "--pids-limit", "30", id]);
    assert!(o.status.success(), "update: {}", stderr(&o));
    let mem = Path::new("/sys/fs/cgroup/memory").join(mine.trim_start_matches('/'));
    let pids = Path::new("/sys/fs/cgroup/pids").join(mine.trim_start_matches('/'));
    let read = |p: PathBuf| std::fs::read_to_string(&p).unwrap().trim().to_string();
    assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
    assert_eq!(read(pids.join("pids.max")), "30");
    let o = b.nucleus(&[
        "exec",
        id,
        "cat",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/pids/pids.max",
    ]);
    assert!(o.status.success(), "exec: {}", stderr(&o));
    assert_eq!(
        stdout(&o).split_whitespace().collect::<Vec<_>>(),
        ["67108864", "30"]
    );

    // events --stats (docker stats): CPU time of the busy loop, from cpuacct.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let o = b.nucleus(&["events", "--stats", id]);
    assert!(o.status.success(), "events: {}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let total = r["data"]["cpu"]["usage"]["total"].as_u64().unwrap_or(0);
    assert!(total > 50_000_000, "cpu usage of a busy loop: {r}");
    assert_eq!(r["data"]["pids"]["limit"], 30, "{r}");

    let o = b.nucleus(&["delete", "--force", id]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
    for l in &leaves {
        assert!(!l.exists(), "{} left behind", l.display());
    }
}

/// The one-shot `nucleus run` keeps its fast path: a cgroup only in the hierarchies its
/// limits need.
#[test]
fn one_shot_run_makes_only_the_cgroups_its_limits_need() {
    if !privileged("one_shot_run_makes_only_the_cgroups_its_limits_need") || !v1() {
        return;
    }
    let o = nucleus(&[
        "run",
        "--memory",
        "64m",
        "--",
        "/bin/cat",
        "/proc/self/cgroup",
    ]);
    assert!(o.status.success(), "run: {}", stderr(&o));
    let own = cgroups_of("self");
    let mut theirs = Vec::new();
    for l in stdout(&o).lines() {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        for c in ctrls.split(',').filter(|c| !c.is_empty()) {
            theirs.push((c.to_string(), path.to_string()));
        }
    }
    assert_ne!(
        path_in(&theirs, "memory"),
        path_in(&own, "memory"),
        "{theirs:?}"
    );
    for c in ["pids", "blkio", "cpuacct"] {
        if mounted().contains(&c) {
            assert_eq!(path_in(&theirs, c), path_in(&own, c), "{c}: {theirs:?}");
        }
    }
}

/// Creates container `id` of `b` with a console socket; returns the pty master.
fn create_with_console(b: &Bundle, id: &str) -> (std::fs::File, PathBuf) {
    let sock = b.tmp.path(&format!("{id}.sock"));
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let bundle = b.bundle();
    let o = b
        .cmd(&[
            "create",
            "-b",
            bundle.to_str().unwrap(),
            "--console-socket",
            sock.to_str().unwrap(),
            id,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "create: {}", stderr(&o));
    (receive_master(&listener), sock)
}

/// process.terminal (`docker run -t`): /dev/console is the pty's slave bound there, as
/// runc does: a character device 136:N, the same inode as the process's stdin (`tty`).
/// The root stays read-only (the default spec's root.readonly).
#[test]
fn terminal_binds_the_pty_at_dev_console() {
    if !privileged("terminal_binds_the_pty_at_dev_console") {
        return;
    }
    let b = Bundle::new(
        "gaps-console",
        &[
            "sh",
            "-c",
            "stat -c 'console %F %t:%T %d:%i' /dev/console; \
             stat -L -c 'stdin %F %t:%T %d:%i' /proc/self/fd/0; \
             echo link $(busybox readlink /proc/self/fd/0) tty $(tty); \
             echo size $(stty size); \
             (: > /x) 2>/dev/null && echo root-writable",
        ],
    );
    b.edit(|c| {
        c["process"]["terminal"] = serde_json::json!(true);
        c["process"]["consoleSize"] = serde_json::json!({"height": 27, "width": 99});
        c["root"]["readonly"] = serde_json::json!(true);
    });
    let (master, _) = create_with_console(&b, "con1");
    assert!(b.nucleus(&["start", "con1"]).status.success());
    let out = read_all(master);
    let line = |k: &str| {
        out.lines()
            .find(|l| l.starts_with(k))
            .unwrap_or_else(|| panic!("no {k} line in:\n{out}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let console = line("console ");
    assert!(
        console.starts_with("character special file 88:"),
        "/dev/console is a pty (136 = 0x88): {out}"
    );
    assert_eq!(console, line("stdin ").replace("stdin ", ""), "{out}");
    let link = line("link ");
    assert_eq!(link, "/dev/pts/0 tty /dev/pts/0", "{out}");
    // process.consoleSize is the pty's window before the program runs.
    assert_eq!(line("size "), "27 99", "{out}");
    assert!(!out.contains("root-writable"), "{out}");
    b.wait_status("con1", "stopped");
    assert!(b.nucleus(&["delete", "con1"]).status.success());
}

/// `exec` into a created container (runc allows it): the process joins the namespaces,
/// root and cgroup of the one waiting at the exec FIFO; the container stays created and
/// starts afterwards as usual. A stopped container is still refused.
#[test]
fn exec_into_a_created_container() {
    if !privileged("exec_into_a_created_container") {
        return;
    }
    let b = Bundle::new(
        "gaps-execcr",
        &["sh", "-c", "echo first-ran > /first; sleep 30"],
    );
    b.edit(|c| c["root"]["readonly"] = serde_json::json!(false));
    std::fs::write(b.bundle().join("rootfs/marker"), "in-the-root\n").unwrap();
    let id = "execcr";
    let o = b.create(id);
    assert!(o.status.success(), "create: {}", stderr(&o));
    let pid = b.state(id)["pid"].to_string();
    let o = b.nucleus(&[
        "exec",
        id,
        "sh",
        "-c",
        "cat /marker; for n in pid mnt net uts ipc cgroup; do busybox readlink /proc/self/ns/$n; done; \
         cat /proc/self/cgroup; test -e /first && echo first-ran; true",
    ]);
    assert!(o.status.success(), "exec into created: {}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("in-the-root"), "{out}");
    for n in ["pid", "mnt", "net", "uts", "ipc", "cgroup"] {
        let host = std::fs::read_link(format!("/proc/{pid}/ns/{n}")).unwrap();
        assert_eq!(lines.next(), Some(host.to_str().unwrap()), "{n}: {out}");
    }
    // Its cgroup is the waiting process's: in the container's cgroup namespace (above) at
    // the namespace's root, where a process outside the container's cgroup shows `/..`.
    let which = if v1() { ":memory:" } else { "0::" };
    let inside: Vec<&str> = lines.clone().filter(|l| l.contains(which)).collect();
    assert_eq!(inside.len(), 1, "{out}");
    assert!(inside[0].ends_with(&format!("{which}/")), "{out}");
    assert!(
        !out.contains("first-ran"),
        "the first program has not run: {out}"
    );
    assert_eq!(b.state(id)["status"], "created");
    assert!(b.nucleus(&["start", id]).status.success());
    for _ in 0..200 {
        if b.bundle().join("rootfs/first").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        b.bundle().join("rootfs/first").exists(),
        "the program ran after start"
    );
    assert!(b.nucleus(&["kill", id, "KILL"]).status.success());
    b.wait_status(id, "stopped");
    let o = b.nucleus(&["exec", id, "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is stopped"), "{}", stderr(&o));
    assert!(b.nucleus(&["delete", id]).status.success());
}

/// exec with a terminal and a window size (`--console-size`, process.json consoleSize,
/// as containerd passes Docker's `exec -t`): the pty has that size before the program
/// runs (`stty size` reads it). Bad sizes are one clear error each.
#[test]
fn exec_console_size_sets_the_pty_window() {
    if !privileged("exec_console_size_sets_the_pty_window") {
        return;
    }
    let b = Bundle::new("gaps-winsz", &["sleep", "30"]);
    let id = "winsz";
    assert!(b.create(id).status.success(), "{}", b.output(id));
    assert!(b.nucleus(&["start", id]).status.success());
    let sock = b.tmp.path("winsz.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let o = b.nucleus(&[
        "exec",
        "--tty",
        "--console-size",
        "33,111",
        "--console-socket",
        sock.to_str().unwrap(),
        "-d",
        id,
        "busybox",
        "stty",
        "size",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_all(receive_master(&listener)).trim(), "33 111");

    let p = b.tmp.path("process.json");
    let process = serde_json::json!({
        "terminal": true,
        "consoleSize": {"height": 40, "width": 120},
        "user": {"uid": 0, "gid": 0},
        "args": ["busybox", "stty", "size"],
        "env": ["PATH=/bin"],
        "cwd": "/"
    });
    std::fs::write(&p, process.to_string()).unwrap();
    let o = b.nucleus(&[
        "exec",
        "--process",
        p.to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        "-d",
        id,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(read_all(receive_master(&listener)).trim(), "40 120");

    let mut big = process.clone();
    big["consoleSize"]["height"] = serde_json::json!(70000);
    std::fs::write(&p, big.to_string()).unwrap();
    let s = sock.to_str().unwrap();
    let pj = p.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "exec",
                "--tty",
                "--console-size",
                "0,80",
                "--console-socket",
                s,
                id,
                "true",
            ],
            "--console-size '0,80'",
        ),
        (
            &[
                "exec",
                "--tty",
                "--console-size",
                "big",
                "--console-socket",
                s,
                id,
                "true",
            ],
            "ROWS,COLUMNS",
        ),
        (
            &["exec", "--console-size", "24,80", id, "true"],
            "needs a terminal",
        ),
        (
            &["exec", "--process", pj, "--console-socket", s, id],
            "process.consoleSize 70000x120",
        ),
    ];
    for (args, want) in cases {
        let o = b.nucleus(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let e = stderr(&o);
        assert!(
            e.starts_with("nucleus: ") && e.contains(want),
            "{args:?}: {e}"
        );
    }
    assert!(b.nucleus(&["delete", "--force", id]).status.success());
}
