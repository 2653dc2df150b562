//! The eBPF device filter (cgroup v2 device rules) enforced by the kernel on this host.
//!
//! This host is hybrid, but a cgroup2 cgroup made under /sys/fs/cgroup/unified runs the
//! device programs attached to it for the processes inside, whatever v1 says. Each test
//! makes its own `nucleus-test-…` cgroup there and removes it; the processes that join it
//! live in an outer sandbox (a PID namespace whose end kills them).

mod common;

use common::bundle::Bundle;
use common::{outer_sandbox, privileged, stderr, stdout, TempDir};
use nucleus::linux::devices_bpf;
use std::path::{Path, PathBuf};

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A cgroup2 cgroup this test made; removed on drop (its processes are gone by then).
struct TestCgroup(PathBuf);

impl TestCgroup {
    fn new(tag: &str) -> Option<TestCgroup> {
        let is_v2 =
            nix::sys::statfs::statfs(UNIFIED).is_ok_and(|s| s.filesystem_type().0 == 0x6367_7270);
        if !is_v2 {
            println!("SKIPPED (no cgroup2 mount at {UNIFIED}): {tag}");
            return None;
        }
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            Path::new(UNIFIED).join(format!("nucleus-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).expect("make the test cgroup");
        Some(TestCgroup(dir))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for _ in 0..200 {
            match std::fs::remove_dir(&self.0) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                _ => return,
            }
        }
    }
}

/// A block device of this host that this process may open (without the filter): the
/// host's disk when the machine allows it, else another one (a loop device): (major, minor).
/// Tried through a node made in `tmp`, read-only, nothing read.
fn host_block_device(tmp: &TempDir) -> (u32, u32) {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let mut found: Vec<(u64, (u32, u32))> = Vec::new();
    for e in std::fs::read_dir("/sys/dev/block").unwrap().flatten() {
        let size = std::fs::read_to_string(e.path().join("size")).unwrap_or_default();
        let name = e.file_name().to_string_lossy().into_owned();
        let (a, b) = name.split_once(':').unwrap();
        let size = size.trim().parse::<u64>().unwrap_or(0);
        found.push((size, (a.parse().unwrap(), b.parse().unwrap())));
    }
    // Disks with a size first.
    found.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    for (_, (ma, mi)) in found {
        let node = tmp.path(&format!("try-{ma}-{mi}"));
        mknod(
            &node,
            SFlag::S_IFBLK,
            Mode::from_bits_truncate(0o600),
            makedev(u64::from(ma), u64::from(mi)),
        )
        .expect("mknod in the test's directory");
        let opens = std::fs::File::open(&node).is_ok();
        std::fs::remove_file(&node).unwrap();
        if opens {
            return (ma, mi);
        }
    }
    panic!("no block device of this host can be opened (see /sys/dev/block)");
}

/// The default list nucleus gives an OCI container (deny all, then the standard devices).
fn default_rules() -> Vec<(bool, String)> {
    let mut r = vec![(false, "a".to_string())];
    for rule in nucleus::spec::devices_bpf::STANDARD_RULES {
        r.push((true, rule.to_string()));
    }
    r
}

/// Runs, inside the cgroup `cg` (the shell moves itself there first): mknod of the disk in
/// `tmp`, a read of one block from it, and reads of /dev/null and /dev/zero. One line each:
/// `mknod ok|fail: why`, `disk …`, `null …`, `zero …`.
fn probe(cg: &Path, tmp: &TempDir, disk: (u32, u32)) -> String {
    let node = tmp.path(&format!("disk-{}", rand_tag()));
    let script = format!(
        "echo $$ > {cg}/cgroup.procs
         try() {{ name=$1; shift; if out=$(\"$@\" 2>&1); then echo \"$name ok\"; else echo \"$name fail: $out\"; fi; }}
         try mknod mknod {node} b {ma} {mi}
         try disk dd if={node} of=/dev/null bs=512 count=1
         try null sh -c 'cat /dev/null'
         try zero dd if=/dev/zero of=/dev/null bs=1 count=1
         rm -f {node}",
        cg = cg.display(),
        node = node.display(),
        ma = disk.0,
        mi = disk.1,
    );
    let out = outer_sandbox(&script);
    assert!(out.status.success(), "probe: {}", stderr(&out));
    stdout(&out)
}

fn rand_tag() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} line in: {out}"))
}

#[test]
fn default_filter_denies_opening_a_host_block_device_but_not_dev_null() {
    if !privileged("default_filter_denies_opening_a_host_block_device_but_not_dev_null") {
        return;
    }
    let Some(cg) = TestCgroup::new("bpf-default") else {
        return;
    };
    let tmp = TempDir::new("bpf-default");
    let disk = host_block_device(&tmp);
    // Without a filter the same steps succeed: what follows is the program's doing.
    let before = probe(&cg.0, &tmp, disk);
    for name in ["mknod", "disk", "null", "zero"] {
        assert_eq!(line(&before, name), format!("{name} ok"), "{before}");
    }
    devices_bpf::attach(&cg.0, &default_rules()).expect("attach the device filter");
    assert_eq!(devices_bpf::attached(&cg.0).unwrap(), 1);
    let after = probe(&cg.0, &tmp, disk);
    // mknod of any node is allowed (b *:* m, as runc); opening the disk is not.
    assert_eq!(line(&after, "mknod"), "mknod ok", "{after}");
    let denied = line(&after, "disk");
    assert!(
        denied.starts_with("disk fail") && denied.contains("Operation not permitted"),
        "{after}"
    );
    assert_eq!(line(&after, "null"), "null ok", "{after}");
    assert_eq!(line(&after, "zero"), "zero ok", "{after}");
}

#[test]
fn replace_swaps_the_filter_in_place() {
    if !privileged("replace_swaps_the_filter_in_place") {
        return;
    }
    let Some(cg) = TestCgroup::new("bpf-replace") else {
        return;
    };
    let tmp = TempDir::new("bpf-replace");
    let disk = host_block_device(&tmp);
    devices_bpf::attach(&cg.0, &default_rules()).expect("attach");
    // Without `b *:* m`, even making the node is refused.
    let strict = vec![
        (false, "a".to_string()),
        (true, "c 1:3 rwm".to_string()),
        (true, "c 1:5 rwm".to_string()),
    ];
    devices_bpf::replace(&cg.0, &strict).expect("replace");
    assert_eq!(
        devices_bpf::attached(&cg.0).unwrap(),
        1,
        "the old one is gone"
    );
    let out = probe(&cg.0, &tmp, disk);
    let mknod = line(&out, "mknod");
    assert!(
        mknod.starts_with("mknod fail") && mknod.contains("Operation not permitted"),
        "{out}"
    );
    assert_eq!(line(&out, "null"), "null ok", "{out}");
    // Allowing the one disk (mknod and read) lets it be read.
    let mut one = default_rules();
    one.push((true, format!("b {}:{} rm", disk.0, disk.1)));
    devices_bpf::replace(&cg.0, &one).expect("replace again");
    assert_eq!(devices_bpf::attached(&cg.0).unwrap(), 1);
    let out = probe(&cg.0, &tmp, disk);
    assert_eq!(line(&out, "mknod"), "mknod ok", "{out}");
    assert_eq!(line(&out, "disk"), "disk ok", "{out}");
}

#[test]
fn a_bad_rule_is_refused_before_anything_is_attached() {
    if !privileged("a_bad_rule_is_refused_before_anything_is_attached") {
        return;
    }
    let Some(cg) = TestCgroup::new("bpf-bad") else {
        return;
    };
    let e = devices_bpf::attach(&cg.0, &[(true, "x 1:3 rwm".to_string())]).unwrap_err();
    assert!(e.to_string().contains("x 1:3 rwm"), "{e}");
    assert_eq!(devices_bpf::attached(&cg.0).unwrap(), 0);
}

/// `update` with linux.resources.devices changes a running container's rules: appended to
/// those in force, on this host through the v1 devices cgroup (on v2 the filter is replaced;
/// the VM lane's 10-devices-bpf proves that).
#[test]
fn update_changes_the_device_rules_of_a_running_container() {
    if !privileged("update_changes_the_device_rules_of_a_running_container") {
        return;
    }
    let b = Bundle::new("devupd", &["sleep", "1000"]);
    let disk = host_block_device(&b.tmp);
    for applet in ["dd", "mknod"] {
        std::os::unix::fs::symlink("busybox", b.bundle().join("rootfs/bin").join(applet)).unwrap();
    }
    let o = b.create("devupd");
    assert!(o.status.success(), "create: {}", stderr(&o));
    let o = b.nucleus(&["start", "devupd"]);
    assert!(o.status.success(), "start: {}", stderr(&o));
    let exec = |args: &[&str]| {
        let mut a = vec!["exec", "devupd"];
        a.extend_from_slice(args);
        b.nucleus(&a)
    };
    let node = format!("{} {}", disk.0, disk.1);
    let (ma, mi) = node.split_once(' ').unwrap();
    let o = exec(&["mknod", "/dev/disk", "b", ma, mi]);
    assert!(o.status.success(), "mknod: {}", stderr(&o));
    let read = || exec(&["dd", "if=/dev/disk", "of=/dev/null", "count=1"]);
    let o = read();
    assert!(
        !o.status.success() && stderr(&o).contains("Operation not permitted"),
        "the block device opened before the update: {}",
        stderr(&o)
    );
    let update = |doc: serde_json::Value| {
        let f = b.tmp.path("resources.json");
        std::fs::write(&f, doc.to_string()).unwrap();
        let o = b.nucleus(&["update", "--resources", f.to_str().unwrap(), "devupd"]);
        assert!(o.status.success(), "update: {}", stderr(&o));
    };
    update(serde_json::json!({"devices": [
        {"allow": true, "type": "b", "major": disk.0, "minor": disk.1, "access": "r"}
    ]}));
    let o = read();
    assert!(o.status.success(), "the allowed device: {}", stderr(&o));
    update(serde_json::json!({"devices": [
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]}));
    let o = exec(&["sh", "-c", "echo x > /dev/null"]);
    assert!(
        !o.status.success() && stderr(&o).contains("Operation not permitted"),
        "/dev/null after denying c 1:3: {}",
        stderr(&o)
    );
    let o = b.nucleus(&["delete", "--force", "devupd"]);
    assert!(o.status.success(), "delete: {}", stderr(&o));
}
