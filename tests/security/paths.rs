//! #9.4 and #9.7: every path operation on the container's root is resolved inside it, and
//! the program's working directory cannot be outside it (CVE-2021-30465, CVE-2024-21626
//! classes). The image's symlinks are the attack; the host directory must stay untouched.

use crate::common::bundle::Bundle;
use crate::common::*;
use std::path::Path;

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

/// tmpcopyup onto a destination reached through `data -> <host dir>`: the copy must land
/// in the new tmpfs inside the container, not in the host directory.
#[test]
fn tmpcopyup_through_an_image_symlink_stays_in_the_root() {
    if !privileged("tmpcopyup_through_an_image_symlink_stays_in_the_root") {
        return;
    }
    let b = Bundle::new("copyup", &["cat", "/data/x/secret"]);
    let host = b.tmp.path("host");
    std::fs::create_dir_all(host.join("x")).unwrap();
    let rootfs = b.bundle().join("rootfs");
    std::os::unix::fs::symlink(&host, rootfs.join("data")).unwrap();
    // What the image holds at the symlink's target, inside the root: copied up.
    let inside = rootfs.join(host.strip_prefix("/").unwrap()).join("x");
    std::fs::create_dir_all(&inside).unwrap();
    std::fs::write(inside.join("secret"), "COPIED-UP").unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data/x", "type": "tmpfs", "source": "tmpfs",
            "options": ["tmpcopyup", "mode=755"]}));
    });
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "copyup"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "COPIED-UP");
    assert!(
        is_empty(&host.join("x")),
        "tmpcopyup wrote into the host directory"
    );
}

/// `--context` copied to `/context`, which the image made a symlink to a host directory.
#[test]
fn context_copy_through_an_image_symlink_stays_in_the_root() {
    if !privileged("context_copy_through_an_image_symlink_stays_in_the_root") {
        return;
    }
    let b = Bundle::new("context", &["true"]);
    let host = b.tmp.path("host");
    std::fs::create_dir_all(&host).unwrap();
    let rootfs = b.bundle().join("rootfs");
    std::os::unix::fs::symlink(&host, rootfs.join("context")).unwrap();
    let ctx = b.tmp.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("file"), "CONTEXT").unwrap();
    let out = ok(&[
        "run",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--context",
        ctx.to_str().unwrap(),
        "--",
        "cat",
        "/context/file",
    ]);
    assert_eq!(out, "CONTEXT");
    assert!(is_empty(&host), "--context wrote into the host directory");
}

/// A linux.devices node whose parent is `data -> <host dir>`: made inside the root.
#[test]
fn device_nodes_through_an_image_symlink_stay_in_the_root() {
    if !privileged("device_nodes_through_an_image_symlink_stay_in_the_root") {
        return;
    }
    let b = Bundle::new("devlink", &["true"]);
    let host = b.tmp.path("host");
    std::fs::create_dir_all(&host).unwrap();
    std::os::unix::fs::symlink(&host, b.bundle().join("rootfs/data")).unwrap();
    b.edit(|c| {
        c["linux"]["devices"] = serde_json::json!([
            {"path": "/data/null2", "type": "c", "major": 1, "minor": 3, "fileMode": 438}]);
    });
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "devlink"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        is_empty(&host),
        "mknod followed the image's symlink to the host"
    );
}

/// A directory of the host leaked to nucleus as descriptor 7 and `cwd: /proc/self/fd/7`
/// (run, OCI run, exec): the program never starts there.
#[test]
fn cwd_through_a_leaked_descriptor_is_refused() {
    if !privileged("cwd_through_a_leaked_descriptor_is_refused") {
        return;
    }
    let b = Bundle::new("cwdleak", &["sh", "-c", "pwd; ls"]);
    let host = b.tmp.path("host");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("HOST-SECRET"), "").unwrap();
    b.edit(|c| c["process"]["cwd"] = serde_json::json!("/proc/self/fd/7"));
    let leak = |cmd: &str| {
        std::process::Command::new("bash")
            .args(["-c", &format!("exec 7<{}; exec {cmd}", host.display())])
            .output()
            .unwrap()
    };
    let root = b.root();
    let cases = [
        format!("{NUCLEUS} run -w /proc/self/fd/7 -- sh -c 'pwd; ls'"),
        format!(
            "{NUCLEUS} --root {} run -b {} cwd1",
            root.display(),
            b.bundle().display()
        ),
    ];
    for cmd in &cases {
        let o = leak(cmd);
        assert!(!o.status.success(), "{cmd}: started: {}", stdout(&o));
        assert!(!stdout(&o).contains("HOST-SECRET"), "{cmd}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("working directory"),
            "{cmd}: {}",
            stderr(&o)
        );
    }
    // exec into a running container with --cwd through the leaked descriptor.
    b.edit(|c| {
        c["process"]["cwd"] = serde_json::json!("/");
        c["process"]["args"] = serde_json::json!(["sleep", "100"]);
    });
    let c = b.create("cwd2");
    assert!(c.status.success(), "{}", stderr(&c));
    assert!(b.nucleus(&["start", "cwd2"]).status.success());
    let o = leak(&format!(
        "{NUCLEUS} --root {} exec --cwd /proc/self/fd/7 cwd2 sh -c 'pwd; ls'",
        root.display()
    ));
    assert!(!o.status.success(), "exec started: {}", stdout(&o));
    assert!(!stdout(&o).contains("HOST-SECRET"), "{}", stdout(&o));
    assert!(b.nucleus(&["delete", "-f", "cwd2"]).status.success());
}
