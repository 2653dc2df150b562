//! runc's error semantics and the OCI 1.1/1.2 fields, as a runc user would check them:
//! kill/delete of what is not there, ociVersion, /proc and /sys symlinks in the rootfs, a
//! config without /proc, scheduler, I/O priority, CPU affinity, personality, domainname.

mod common;
use common::bundle::Bundle;
use common::*;

/// Runs the bundle in the foreground as `id`; returns the output.
fn run(b: &Bundle, id: &str) -> std::process::Output {
    b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), id])
}

/// A refused `run`: one error line naming `want`, nothing left under --root.
fn refused(b: &Bundle, id: &str, want: &str) {
    let o = run(b, id);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("nucleus: ") && err.contains(want), "{err}");
    assert!(!b.root().join(id).exists(), "{id} left state behind");
}

#[test]
fn kill_and_delete_of_what_is_not_there_are_errors() {
    if !privileged("kill_and_delete_of_what_is_not_there_are_errors") {
        return;
    }
    let b = Bundle::new("killdel", &["true"]);
    for (args, want) in [
        (vec!["kill", "nosuch"], "container 'nosuch' does not exist"),
        (vec!["kill", "nosuch", "KILL"], "does not exist"),
        (vec!["kill", ""], "invalid container ID ''"),
        (
            vec!["delete", "nosuch"],
            "container 'nosuch' does not exist",
        ),
        (vec!["delete", ""], "invalid container ID ''"),
    ] {
        let o = b.nucleus(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    // As runc: a forced delete of a container that is gone succeeds (shims clean up twice).
    assert!(b.nucleus(&["delete", "--force", "nosuch"]).status.success());
    // kill of a stopped container is an error; delete then works.
    assert!(b.create("k1").status.success());
    assert!(b.nucleus(&["start", "k1"]).status.success());
    b.wait_status("k1", "stopped");
    let o = b.nucleus(&["kill", "k1", "KILL"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("container 'k1' is stopped"),
        "{}",
        stderr(&o)
    );
    assert!(b.nucleus(&["delete", "k1"]).status.success());
}

#[test]
fn an_invalid_oci_version_is_refused() {
    if !privileged("an_invalid_oci_version_is_refused") {
        return;
    }
    let b = Bundle::new("ociver", &["true"]);
    for (v, want) in [
        ("foo", "ociVersion 'foo' is not a runtime-spec version"),
        ("1.0", "ociVersion '1.0' is not a runtime-spec version"),
        (
            "2.0.0",
            "ociVersion 2.0.0: nucleus implements runtime-spec 1.x",
        ),
    ] {
        b.edit(|c| c["ociVersion"] = serde_json::json!(v));
        refused(&b, "v1", want);
    }
    for v in ["1.0.2-dev", "1.2.0", "1.1.0"] {
        b.edit(|c| c["ociVersion"] = serde_json::json!(v));
        let o = run(&b, "v2");
        assert!(o.status.success(), "{v}: {}", stderr(&o));
    }
}

#[test]
fn proc_or_sys_as_a_symlink_in_the_rootfs_is_refused() {
    if !privileged("proc_or_sys_as_a_symlink_in_the_rootfs_is_refused") {
        return;
    }
    let b = Bundle::new("procsym", &["true"]);
    let rootfs = b.bundle().join("rootfs");
    for (name, fs) in [("proc", "proc"), ("sys", "sysfs")] {
        std::fs::create_dir_all(rootfs.join("proc")).unwrap();
        std::fs::remove_dir_all(rootfs.join(name)).ok();
        std::os::unix::fs::symlink("/elsewhere", rootfs.join(name)).unwrap();
        refused(
            &b,
            "p1",
            &format!(
                "/{name} is a symlink to /elsewhere in the root filesystem: {fs} is mounted only \
                 on a real directory"
            ),
        );
        // Nothing was made through the link.
        assert!(!rootfs.join("elsewhere").exists());
        std::fs::remove_file(rootfs.join(name)).unwrap();
    }
    // A file is refused too.
    std::fs::write(rootfs.join("sys"), "").unwrap();
    refused(&b, "p2", "/sys is not a directory in the root filesystem");
}

#[test]
fn a_config_without_a_proc_mount_runs() {
    if !privileged("a_config_without_a_proc_mount_runs") {
        return;
    }
    let b = Bundle::new(
        "noproc",
        &["sh", "-c", "test -e /proc/self && echo has-proc; echo ran"],
    );
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| m["destination"] != "/proc");
        c["process"]["oomScoreAdj"] = serde_json::json!(100);
    });
    // run = create (capabilities read back without /proc, exec gate) + start.
    let o = run(&b, "n1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ran\n");
}

/// The number in /proc/self/stat after the command name, counting from field 3.
fn stat_field(stat: &str, n: usize) -> String {
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(n - 3).unwrap().to_string()
}

#[test]
fn oci_1_2_process_attributes_are_applied() {
    if !privileged("oci_1_2_process_attributes_are_applied") {
        return;
    }
    let b = Bundle::new(
        "attrs",
        &[
            "sh",
            "-c",
            "cat /proc/self/stat; cat /proc/self/personality; \
             grep Cpus_allowed_list /proc/self/status; cat /proc/sys/kernel/domainname; ionice",
        ],
    );
    std::os::unix::fs::symlink("busybox", b.bundle().join("rootfs/bin/ionice")).unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get();
    let last = (cpus - 1).to_string();
    let initial = b.tmp.path("initial");
    b.edit(|c| {
        c["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_BATCH", "nice": 7});
        c["process"]["ioPriority"] =
            serde_json::json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
        c["process"]["execCPUAffinity"] = serde_json::json!({"initial": "0", "final": last});
        c["linux"]["personality"] =
            serde_json::json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
        c["domainname"] = serde_json::json!("example.org");
        // The runtime's set-up (a createContainer hook is part of it) runs on `initial`.
        c["hooks"] = serde_json::json!({"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("grep Cpus_allowed_list /proc/self/status > {}", initial.display())]}]});
    });
    let o = run(&b, "a1");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(stat_field(lines[0], 19), "7", "nice: {}", lines[0]);
    assert_eq!(
        stat_field(lines[0], 41),
        "3",
        "policy SCHED_BATCH: {}",
        lines[0]
    );
    assert_eq!(
        lines[1], "00040008",
        "personality LINUX32|ADDR_NO_RANDOMIZE"
    );
    assert_eq!(lines[2], format!("Cpus_allowed_list:\t{last}"));
    assert_eq!(lines[3], "example.org");
    assert_eq!(lines[4], "idle");
    let init = std::fs::read_to_string(&initial).unwrap();
    assert_eq!(init.trim(), "Cpus_allowed_list:\t0");
}

#[test]
fn attributes_nucleus_cannot_apply_are_refused() {
    if !privileged("attributes_nucleus_cannot_apply_are_refused") {
        return;
    }
    let b = Bundle::new("attrno", &["true"]);
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "linux.intelRdt: nucleus does not manage Intel RDT",
            Box::new(|c| c["linux"]["intelRdt"] = serde_json::json!({"closID": "x"})),
        ),
        (
            "domainname 'a.org' and sysctl kernel.domainname 'b.org' disagree",
            Box::new(|c| {
                c["domainname"] = serde_json::json!("a.org");
                c["linux"]["sysctl"] = serde_json::json!({"kernel.domainname": "b.org"});
            }),
        ),
        (
            "process.scheduler: SCHED_FIFO needs a priority from 1 to 99",
            Box::new(|c| c["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_FIFO"})),
        ),
        (
            "process.ioPriority.priority 9 is outside 0…7",
            Box::new(|c| {
                c["process"]["ioPriority"] =
                    serde_json::json!({"class": "IOPRIO_CLASS_BE", "priority": 9})
            }),
        ),
        (
            "linux.personality.flags: unknown flag 'NOPE'",
            Box::new(|c| {
                c["linux"]["personality"] =
                    serde_json::json!({"domain": "LINUX", "flags": ["NOPE"]})
            }),
        ),
        (
            "listenerPath 'x.sock' must be an absolute path",
            Box::new(|c| {
                c["linux"]["seccomp"] =
                    serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "x.sock"})
            }),
        ),
    ];
    for (want, edit) in cases {
        let p = b.bundle().join("config.json");
        let saved = std::fs::read_to_string(&p).unwrap();
        b.edit(|c| edit(c));
        refused(&b, "r1", want);
        std::fs::write(&p, saved).unwrap();
    }
    // The same domain name twice is fine, as runc.
    b.edit(|c| {
        c["domainname"] = serde_json::json!("a.org");
        c["linux"]["sysctl"] = serde_json::json!({"kernel.domainname": "a.org"});
    });
    let o = run(&b, "r2");
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A seccomp agent: takes the descriptor from the socket, writes the message it came with
/// to OUT, and answers every notified syscall with 4242 until the container is gone.
const AGENT: &str = r#"
import array, fcntl, os, select, socket, struct, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
msg, anc, _, _ = c.recvmsg(65536, socket.CMSG_SPACE(4))
fds = array.array("i")
for level, typ, data in anc:
    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
        fds.frombytes(data[:4])
fd = fds[0]
with open(out, "w") as f:
    f.write(msg.decode())
RECV, SEND = 0xC0502100, 0xC0182101
p = select.poll()
p.register(fd, select.POLLIN)
for _ in range(200):
    ev = p.poll(100)
    if any(e & select.POLLHUP for _, e in ev):
        break
    if not ev:
        continue
    buf = bytearray(80)
    fcntl.ioctl(fd, RECV, buf)
    nid = struct.unpack_from("=Q", buf)[0]
    fcntl.ioctl(fd, SEND, bytearray(struct.pack("=QqiI", nid, 4242, 0, 0)))
"#;

/// Kills the agent (by its pid) however the test ends.
struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        // Ignored: the agent may have exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn seccomp_notify_sends_the_listener_to_the_agent() {
    if !privileged("seccomp_notify_sends_the_listener_to_the_agent") {
        return;
    }
    let b = Bundle::new("notify", &["sh", "-c", "echo ppid=$PPID"]);
    let sock = b.tmp.path("agent.sock");
    let msg = b.tmp.path("agent.msg");
    let profile = |path: &std::path::Path| {
        serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path,
            "listenerMetadata": "meta-1",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})
    };
    // No agent listening: refused, nothing left.
    b.edit(|c| c["linux"]["seccomp"] = profile(&sock));
    refused(&b, "s0", "linux.seccomp.listenerPath");
    let mut child = std::process::Command::new("python3")
        .args(["-c", AGENT, sock.to_str().unwrap(), msg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _agent = Agent(child);
    assert_eq!(line, "listening\n");
    let o = run(&b, "s1");
    assert!(o.status.success(), "{}", stderr(&o));
    // getppid was answered by the agent through the descriptor nucleus sent it.
    assert_eq!(stdout(&o), "ppid=4242\n");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&msg).unwrap()).unwrap();
    assert_eq!(m["fds"], serde_json::json!(["seccompFd"]), "{m}");
    assert_eq!(m["metadata"], "meta-1");
    assert_eq!(m["state"]["id"], "s1");
    assert_eq!(m["state"]["status"], "creating");
    assert!(
        m["pid"].as_i64().unwrap() > 0 && m["pid"] == m["state"]["pid"],
        "{m}"
    );
    // NOTIFY without listenerPath is refused.
    b.edit(|c| {
        c["linux"]["seccomp"] = serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]})
    });
    refused(&b, "s2", "SCMP_ACT_NOTIFY needs listenerPath");
}
