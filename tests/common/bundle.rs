//! An OCI bundle for tests: a busybox rootfs, nucleus' default config, a private --root.
#![allow(dead_code)]

use super::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A bundle with a busybox rootfs and nucleus's default config, `args` as the program;
/// plus a private --root for state.
pub struct Bundle {
    pub tmp: TempDir,
}

impl Bundle {
    pub fn new(tag: &str, args: &[&str]) -> Bundle {
        let tmp = TempDir::new(tag);
        let rootfs = tmp.path("bundle/rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        let bb = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is installed by .ci/run");
        copy_file(bb, rootfs.join("bin/busybox"));
        for c in [
            "sh", "sleep", "cat", "echo", "id", "true", "grep", "stat", "tty",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(c)).unwrap();
        }
        let b = Bundle { tmp };
        let out = b.nucleus(&["spec", "-b", b.bundle().to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        b.edit(|c| c["process"]["args"] = serde_json::json!(args));
        b
    }

    pub fn bundle(&self) -> PathBuf {
        self.tmp.path("bundle")
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path("state")
    }

    pub fn edit(&self, f: impl FnOnce(&mut Value)) {
        let p = self.bundle().join("config.json");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&p, c.to_string()).unwrap();
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(NUCLEUS);
        c.arg("--root").arg(self.root()).args(args);
        c
    }

    pub fn nucleus(&self, args: &[&str]) -> std::process::Output {
        self.cmd(args).output().unwrap()
    }

    /// `create` with the container's stdio sent to a file (a created container keeps its
    /// stdio open, so the caller must not wait for EOF on it).
    pub fn create(&self, id: &str) -> std::process::Output {
        let log = std::fs::File::create(self.tmp.path(&format!("{id}.out"))).unwrap();
        let b = self.bundle();
        self.cmd(&["create", "-b", b.to_str().unwrap(), id])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .status()
            .map(|s| std::process::Output {
                status: s,
                stdout: vec![],
                stderr: self.output(id).into_bytes(),
            })
            .unwrap()
    }

    pub fn output(&self, id: &str) -> String {
        std::fs::read_to_string(self.tmp.path(&format!("{id}.out"))).unwrap_or_default()
    }

    pub fn state(&self, id: &str) -> Value {
        let o = self.nucleus(&["state", id]);
        assert!(o.status.success(), "state {id}: {}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    }

    pub fn wait_status(&self, id: &str, want: &str) {
        for _ in 0..500 {
            if self.state(id)["status"] == want {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("{id} never became {want}: {}", self.state(id));
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Whatever a failed test left running under this root goes.
        if let Ok(rd) = std::fs::read_dir(self.root()) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.nucleus(&["delete", "--force", &id]);
            }
        }
    }
}
