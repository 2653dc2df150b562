//! #9.9: the default device allow-list applies to every OCI container, also when the
//! config has no linux.resources.devices: a container keeping CAP_MKNOD (the default set)
//! can make a node of the host's disk or of /dev/kmsg, but not open it.

use crate::common::bundle::Bundle;
use crate::common::*;
use std::os::unix::fs::MetadataExt;

#[test]
fn made_device_nodes_cannot_be_opened_without_device_rules() {
    if !privileged("made_device_nodes_cannot_be_opened_without_device_rules") {
        return;
    }
    // The block device holding the host's root filesystem.
    let dev = std::fs::metadata("/").unwrap().dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let script = format!(
        "busybox mknod /dev/disk b {major} {minor} && echo MKNOD-OK; \
         busybox head -c 16 /dev/disk >/dev/null && echo READ-HOST-DISK; \
         busybox mknod /dev/kmsg2 c 1 11 && echo MKNOD-OK; \
         echo nucleus-test > /dev/kmsg2 && echo WROTE-KMSG; true"
    );
    let b = Bundle::new("devrules", &["sh", "-c", &script]);
    b.edit(|c| {
        if let Some(r) = c["linux"].get_mut("resources") {
            r.as_object_mut().unwrap().remove("devices");
        }
    });
    let o = b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), "devrules"]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert_eq!(
        out.matches("MKNOD-OK").count(),
        2,
        "the attack could not even start:\n{out}"
    );
    assert!(!out.contains("READ-HOST-DISK"), "{out}");
    assert!(!out.contains("WROTE-KMSG"), "{out}");
}
