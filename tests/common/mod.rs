//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod bundle;

pub const NUCLEUS: &str = env!("CARGO_BIN_EXE_nucleus");

/// True when the test may change credentials: root with the capabilities the capability
/// tests use. Otherwise prints the SKIPPED line and returns false.
pub fn privileged(name: &str) -> bool {
    let st = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let eff = st
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).expect("hex CapEff"))
        .expect("CapEff line");
    // chown, dac_override, fowner, setgid, setuid, setpcap, net_raw, setfcap
    let needed: u64 =
        (1 << 0) | (1 << 1) | (1 << 3) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 13) | (1 << 31);
    if nix::unistd::geteuid().is_root() && eff & needed == needed {
        true
    } else {
        println!("SKIPPED (needs root): {name}");
        false
    }
}

pub fn nucleus(args: &[&str]) -> Output {
    Command::new(NUCLEUS)
        .args(args)
        .output()
        .expect("run nucleus")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs nucleus and insists on success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = nucleus(args);
    assert!(
        o.status.success(),
        "nucleus {args:?} failed ({:?}): {}",
        o.status,
        stderr(&o)
    );
    stdout(&o)
}

/// Parses the capability lines and ids of a /proc/PID/status text: CapInh..CapAmb as u64,
/// plus "Uid" (effective uid).
pub fn status_caps(text: &str) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for l in text.lines() {
        if let Some((k, v)) = l.split_once(':') {
            if k.starts_with("Cap") {
                m.insert(
                    k.to_string(),
                    u64::from_str_radix(v.trim(), 16).expect("hex"),
                );
            }
            if k == "Uid" {
                let euid = v.split_whitespace().nth(1).expect("euid");
                m.insert("Euid".to_string(), euid.parse().expect("uid"));
            }
        }
    }
    m
}

/// A world-readable temporary directory removed on drop (also when a test panics).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let base = std::env::temp_dir().join(format!(
            "nucleus-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir(&base).expect("create temp dir");
        set_mode(&base, 0o755);
        TempDir(base)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Copies `src` into the directory as `name`, mode 0755; returns the new path. The
    /// copy is written by a `cp` process, not here: a descriptor open for writing in this
    /// multi-threaded test process would be inherited by any child another test thread
    /// forks meanwhile, and executing the copy would then fail with ETXTBSY.
    pub fn copy(&self, src: &str, name: &str) -> PathBuf {
        let p = self.path(name);
        let st = Command::new("cp")
            .arg(src)
            .arg(&p)
            .status()
            .expect("run cp");
        assert!(st.success(), "cp {src} {}", p.display());
        set_mode(&p, 0o755);
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).expect("remove temp dir");
    }
}

/// Copies a file with a `cp` process: a descriptor this multi-threaded test process held
/// open for writing would be inherited by any child another test thread forks meanwhile,
/// and executing the copy (here or in a container) would fail with ETXTBSY.
pub fn copy_file(src: impl AsRef<Path>, dst: impl AsRef<Path>) {
    let (src, dst) = (src.as_ref(), dst.as_ref());
    let st = Command::new("cp")
        .arg(src)
        .arg(dst)
        .status()
        .expect("run cp");
    assert!(st.success(), "cp {} {}", src.display(), dst.display());
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Runs `setcap SPEC PATH` (libcap2-bin), insisting on success.
pub fn setcap(args: &[&str]) {
    let o = Command::new("setcap")
        .args(args)
        .output()
        .expect("run setcap");
    assert!(
        o.status.success(),
        "setcap {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Polls /proc/PID/status until the process runs `name` (up to 5 s). spawn() can
/// return before the kernel has renamed the child, so tests that inspect it wait here.
#[allow(dead_code)]
pub fn wait_for_comm(pid: u32, name: &str) -> bool {
    let want = format!("Name:\t{name}\n");
    (0..500).any(|_| {
        let done = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|s| s.starts_with(&want));
        if !done {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        done
    })
}

/// Polls (up to 5 s) for a descendant of `ancestor` named `name`; returns its PID.
#[allow(dead_code)]
pub fn wait_for_descendant(ancestor: u32, name: &str) -> Option<u32> {
    let field = |status: &str, key: &str| -> Option<String> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    for _ in 0..500 {
        let mut parents = std::collections::HashMap::new();
        let mut named = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
                continue;
            };
            if let Some(ppid) = field(&status, "PPid:").and_then(|p| p.parse::<u32>().ok()) {
                parents.insert(pid, ppid);
            }
            if field(&status, "Name:").as_deref() == Some(name) {
                named.push(pid);
            }
        }
        for pid in named {
            let mut p = pid;
            while let Some(&pp) = parents.get(&p) {
                if pp == ancestor {
                    return Some(pid);
                }
                if pp <= 1 {
                    break;
                }
                p = pp;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// Runs the shell script `script` inside an outer sandbox: new PID namespace (with its own
/// /proc) and a private mount namespace, so that a regression which signals "every"
/// process or mounts over host paths hurts only the sandbox. `NUCLEUS` is set to the
/// binary under test. Returns the output.
pub fn outer_sandbox(script: &str) -> Output {
    Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-euc",
            script,
        ])
        .env("NUCLEUS", NUCLEUS)
        .output()
        .expect("run unshare (util-linux)")
}

/// A busybox tree (every applet a symlink to the static busybox) packed as `tmp/img.tar`,
/// readable by everyone: the image Docker and Podman tests import.
pub fn busybox_tar(tmp: &TempDir) -> PathBuf {
    let root = tmp.path("img");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is installed by .ci/run");
    copy_file(bb, root.join("bin/busybox"));
    let list = Command::new(bb).arg("--list").output().unwrap();
    for app in String::from_utf8_lossy(&list.stdout).lines() {
        // The applet list names busybox itself: a link there would replace the binary.
        if app != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
        }
    }
    let tar = tmp.path("img.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    set_mode(&tar, 0o644);
    tar
}

/// Receives one pty master over a console socket (runc's protocol).
pub fn receive_master(listener: &std::os::unix::net::UnixListener) -> std::fs::File {
    use std::os::fd::{AsRawFd, FromRawFd};
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(f) => f.first().copied(),
            _ => None,
        })
        .expect("a descriptor");
    // SAFETY: the descriptor was just received and is owned by nobody else.
    unsafe { std::fs::File::from_raw_fd(fd) }
}

/// Reads a pty master until the slave side is gone (EIO).
pub fn read_all(mut master: std::fs::File) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).replace('\r', "")
}
