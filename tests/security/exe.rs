//! Invariant 1 (DESIGN.md §5, the CVE-2019-5736 class): no process in a container can
//! obtain a writable reference to the host's nucleus binary, even with CAP_SYS_PTRACE.
//!
//! The attacker is a small static C program running in a container that keeps
//! CAP_SYS_PTRACE (seccomp unconfined): it watches `/proc/*/exe` of the processes it can
//! see that do not run its own binary, opens them O_PATH and O_RDONLY and keeps the
//! descriptors; once told that nucleus is gone, it reopens each one through
//! `/proc/self/fd/N` with O_WRONLY (no O_TRUNC, nothing is written) and reports the errno.
//! The tests drive a *copy* of the binary under test, in a temporary directory, so a
//! regression can at worst reach that copy; the attacker sees only its own PID namespace.

use crate::common::bundle::Bundle;
use crate::common::{privileged, stderr, TempDir, NUCLEUS};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ATTACKER: &str = r#"
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX 1000
static int fds[MAX], nfds;
static int seen_pid[MAX]; static unsigned long seen_ino[MAX]; static int nseen;

static void path(char *buf, const char *dir, const char *name) {
    snprintf(buf, 512, "%s/%s", dir, name);
}

int main(int argc, char **argv) {
    const char *dir = argv[1];
    char go[512], heldp[512], tmp[512], res[512], p[64];
    path(go, dir, "go"); path(heldp, dir, "held");
    path(tmp, dir, "result.tmp"); path(res, dir, "result");
    struct stat self;
    if (stat("/proc/self/exe", &self) != 0) return 2;
    FILE *held = fopen(heldp, "a");
    if (!held) return 3;
    fprintf(held, "ready\n"); fflush(held);
    while (access(go, F_OK) != 0) {
        DIR *d = opendir("/proc");
        if (!d) return 4;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && nfds < MAX - 2 && nseen < MAX) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == getpid()) continue;
            snprintf(p, sizeof p, "/proc/%d/exe", pid);
            int a = open(p, O_PATH | O_CLOEXEC);
            if (a < 0) continue;
            struct stat st;
            int known = fstat(a, &st) != 0
                || (st.st_dev == self.st_dev && st.st_ino == self.st_ino);
            for (int i = 0; !known && i < nseen; i++)
                known = seen_pid[i] == pid && seen_ino[i] == (unsigned long)st.st_ino;
            if (known) { close(a); continue; }
            seen_pid[nseen] = pid; seen_ino[nseen++] = st.st_ino;
            fds[nfds++] = a;
            int b = open(p, O_RDONLY | O_CLOEXEC);
            if (b >= 0) fds[nfds++] = b;
            fprintf(held, "%d %lu %lu\n", pid, (unsigned long)st.st_dev,
                    (unsigned long)st.st_ino);
            fflush(held);
        }
        closedir(d);
    }
    FILE *r = fopen(tmp, "w");
    if (!r) return 5;
    for (int i = 0; i < nfds; i++) {
        struct stat st;
        if (fstat(fds[i], &st) != 0) continue;
        snprintf(p, sizeof p, "/proc/self/fd/%d", fds[i]);
        int w = open(p, O_WRONLY | O_CLOEXEC);
        fprintf(r, "%lu %lu %s\n", (unsigned long)st.st_dev, (unsigned long)st.st_ino,
                w >= 0 ? "OPENED" : strerrorname_np(errno));
        if (w >= 0) close(w);
    }
    fclose(r);
    rename(tmp, res);
    pause();
    return 0;
}
"#;

/// The binary copy the test drives, its attacker-facing bundle and the shared directory.
struct Scene {
    tmp: TempDir,
    nucleus: PathBuf,
    shared: PathBuf,
    attacker: PathBuf,
    /// (st_dev, st_ino) of the copy, as the attacker's fstat reports them.
    id: (u64, u64),
    content: Vec<u8>,
}

impl Scene {
    fn new(tag: &str) -> Scene {
        let tmp = TempDir::new(tag);
        let nucleus = tmp.copy(NUCLEUS, "nucleus");
        let shared = tmp.path("shared");
        std::fs::create_dir(&shared).unwrap();
        let src = tmp.path("attacker.c");
        std::fs::write(&src, ATTACKER).unwrap();
        let attacker = tmp.path("attacker");
        let o = Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&attacker)
            .arg(&src)
            .output()
            .expect("run gcc (it links nucleus too)");
        assert!(o.status.success(), "gcc: {}", stderr(&o));
        // The copy was written by a `cp` process (TempDir::copy), so no descriptor open for
        // writing can be inherited by a child another test thread forks: it runs at once.
        let v = Command::new(&nucleus).arg("--version").output();
        assert!(
            v.is_ok_and(|o| o.status.success()),
            "the copy of nucleus does not run"
        );
        let m = std::fs::metadata(&nucleus).unwrap();
        let content = std::fs::read(&nucleus).unwrap();
        Scene {
            id: (m.dev(), m.ino()),
            tmp,
            nucleus,
            shared,
            attacker,
            content,
        }
    }

    /// A bundle whose program is the attacker, keeping CAP_SYS_PTRACE in every set but
    /// ambient, seccomp unconfined, the shared directory at /shared.
    fn attacker_bundle(&self, tag: &str) -> Bundle {
        let b = Bundle::new(tag, &["/attacker", "/shared"]);
        // Written by `cp`, not here (see TempDir::copy: ETXTBSY under parallel forks).
        let cp = Command::new("cp")
            .arg(&self.attacker)
            .arg(b.bundle().join("rootfs/attacker"))
            .status()
            .unwrap();
        assert!(cp.success());
        let shared = self.shared.to_str().unwrap().to_string();
        b.edit(|c| {
            for set in ["bounding", "effective", "permitted", "inheritable"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(serde_json::json!("CAP_SYS_PTRACE"));
            }
            c["linux"].as_object_mut().unwrap().remove("seccomp");
            c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
                "destination": "/shared", "type": "bind", "source": shared,
                "options": ["rbind", "rw"]
            }));
        });
        b
    }

    /// Runs the copy of nucleus with `b`'s state root.
    fn nucleus(&self, b: &Bundle, args: &[&str]) -> Output {
        Command::new(&self.nucleus)
            .arg("--root")
            .arg(b.root())
            .args(args)
            .output()
            .unwrap()
    }

    fn held(&self) -> String {
        std::fs::read_to_string(self.shared.join("held")).unwrap_or_default()
    }

    /// Whether the attacker holds a descriptor of the copy.
    fn holds_nucleus(&self) -> bool {
        let want = format!(" {} {}", self.id.0, self.id.1);
        self.held().lines().any(|l| l.ends_with(&want))
    }

    fn wait_for(&self, what: &str, mut ok: impl FnMut() -> bool) {
        let t = Instant::now();
        while !ok() {
            assert!(t.elapsed() < Duration::from_secs(10), "timed out: {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Tells the attacker nucleus is gone; checks every reopen of the copy failed and the
    /// copy is unchanged.
    fn verdict(&self) {
        std::fs::write(self.shared.join("go"), "").unwrap();
        let result = self.shared.join("result");
        self.wait_for("the attacker's result", || result.exists());
        let text = std::fs::read_to_string(&result).unwrap();
        println!("nucleus is {:?}; the attacker's reopens:\n{text}", self.id);
        let prefix = format!("{} {} ", self.id.0, self.id.1);
        let ours: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        assert!(
            !ours.is_empty(),
            "the attacker kept no descriptor of nucleus: {text}"
        );
        for r in &ours {
            assert!(
                ["EROFS", "ETXTBSY", "EACCES"].contains(r),
                "the container reopened the runtime's binary for writing ({r}); all: {text}"
            );
        }
        assert!(
            std::fs::read(&self.nucleus).unwrap() == self.content,
            "the runtime's binary changed"
        );
    }
}

fn pid_of(s: &Scene, b: &Bundle, id: &str) -> u32 {
    let o = s.nucleus(b, &["state", id]);
    assert!(o.status.success(), "state {id}: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["pid"].as_u64().unwrap() as u32
}

fn create_and_start(s: &Scene, b: &Bundle, id: &str) {
    let bundle = b.bundle();
    let log = std::fs::File::create(s.tmp.path(&format!("{id}.out"))).unwrap();
    let st = Command::new(&s.nucleus)
        .arg("--root")
        .arg(b.root())
        .args(["create", "-b", bundle.to_str().unwrap(), id])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let out = || std::fs::read_to_string(s.tmp.path(&format!("{id}.out"))).unwrap_or_default();
    assert!(st.success(), "create {id}: {}", out());
    let o = s.nucleus(b, &["start", id]);
    assert!(o.status.success(), "start {id}: {}", stderr(&o));
}

/// `nucleus exec` into a running container: its forked copies appear in the container's
/// PID namespace until they execve the program; the attacker grabs their exe.
#[test]
fn exec_copies_give_no_writable_binary() {
    if !privileged("exec_copies_give_no_writable_binary") {
        return;
    }
    let s = Scene::new("exe-exec");
    let b = s.attacker_bundle("exe-exec-b");
    create_and_start(&s, &b, "attacker");
    s.wait_for("the attacker to start", || s.held().starts_with("ready"));
    // The window (fork to execve) is short: exec until the attacker has caught one.
    for _ in 0..200 {
        let o = s.nucleus(&b, &["exec", "attacker", "/bin/true"]);
        assert!(o.status.success(), "exec: {}", stderr(&o));
        if s.holds_nucleus() {
            break;
        }
    }
    s.verdict();
    let _ = s.nucleus(&b, &["delete", "--force", "attacker"]);
}

/// A created container's init (a copy of nucleus waiting at the exec FIFO) is seen by a
/// second container that joins its PID namespace; the attacker there keeps its exe while
/// the first container is started and nucleus exits.
#[test]
fn created_init_in_a_shared_pid_namespace_gives_no_writable_binary() {
    if !privileged("created_init_in_a_shared_pid_namespace_gives_no_writable_binary") {
        return;
    }
    let s = Scene::new("exe-shared");
    let victim = Bundle::new("exe-shared-v", &["sleep", "300"]);
    let vb = victim.bundle();
    let log = std::fs::File::create(s.tmp.path("victim.out")).unwrap();
    let st = Command::new(&s.nucleus)
        .arg("--root")
        .arg(victim.root())
        .args(["create", "-b", vb.to_str().unwrap(), "victim"])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    assert!(st.success(), "create victim");
    let vpid = pid_of(&s, &victim, "victim");
    let b = s.attacker_bundle("exe-shared-a");
    b.edit(|c| {
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != "pid");
        list.push(serde_json::json!({"type": "pid", "path": format!("/proc/{vpid}/ns/pid")}));
    });
    create_and_start(&s, &b, "attacker");
    s.wait_for("the attacker to hold the waiting init", || {
        s.holds_nucleus()
    });
    let o = s.nucleus(&victim, &["start", "victim"]);
    assert!(o.status.success(), "start victim: {}", stderr(&o));
    s.wait_for("the victim's program", || {
        std::fs::read_to_string(format!("/proc/{vpid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    s.verdict();
    let _ = s.nucleus(&b, &["delete", "--force", "attacker"]);
    let _ = s.nucleus(&victim, &["delete", "--force", "victim"]);
}
