//! The default config.json that `nucleus spec` writes: what `run` accepts as is.

use serde_json::{json, Value};

/// The 14 default capabilities, by name.
fn default_caps() -> Vec<&'static str> {
    crate::caps::CapSet::default_set().names()
}

/// A runc-like default spec. `rootless` adds a user namespace mapping the caller.
pub fn default_spec(rootless: bool) -> Value {
    let caps = default_caps();
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "network"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    let mut v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "nucleus",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": namespaces.clone(),
            "maskedPaths": crate::spec::config::MASKED_PATHS,
            "readonlyPaths": crate::spec::config::READONLY_PATHS
        }
    });
    if rootless {
        namespaces.push(json!({"type": "user"}));
        v["linux"]["namespaces"] = json!(namespaces);
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        // A user namespace cannot mount devpts with gid=5 unless that gid is mapped.
        v["mounts"][2]["options"] = json!([
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620"
        ]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_translates() {
        let b = crate::spec::oci::translate(
            &default_spec(false).to_string(),
            std::path::Path::new("/b"),
        )
        .unwrap();
        assert_eq!(b.config.caps.bounding, crate::caps::CapSet::default_set());
        assert!(b.config.caps.inheritable.is_empty());
        assert!(b.config.no_new_privs);
        assert!(b.warnings.is_empty());
        assert_eq!(b.config.mounts.len(), 7);
        let r = crate::spec::oci::translate(
            &default_spec(true).to_string(),
            std::path::Path::new("/b"),
        )
        .unwrap();
        let (uids, _) = r.config.id_maps.unwrap();
        assert!(uids.starts_with("0 "), "{uids}");
    }
}
