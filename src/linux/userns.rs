//! Which user namespace nucleus itself runs in, and hence whether it is rootless.
//!
//! Rootless Podman (and `unshare -r`, rootlesskit, a container running a runtime) starts
//! the runtime as uid 0 inside a user namespace of its own: `geteuid()` says root, but the
//! capabilities are only over that namespace. Creating `/run/nucleus`, writing the host's
//! cgroup hierarchies or the device cgroup then fail with EACCES/EPERM. runc decides as
//! here (libcontainer/userns.RunningInUserNS): a process is in the initial user namespace
//! when `/proc/self/uid_map` is the identity map of every id, `0 0 4294967295`.
//!
//! Every "am I rootless?" question in nucleus goes through [`rootless`]; the answer is
//! computed once per process (the namespace of a process cannot change under it; nucleus
//! never calls setns(CLONE_NEWUSER) on itself before it asks).

use std::sync::OnceLock;

/// Whether a `/proc/PID/uid_map` text is the initial namespace's: one line mapping every
/// id (`0 0 4294967295`) onto itself.
pub fn is_initial_map(uid_map: &str) -> bool {
    let lines: Vec<Vec<&str>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| !f.is_empty())
        .collect();
    matches!(lines.as_slice(), [l] if l.as_slice() == ["0", "0", "4294967295"])
}

/// Whether this process runs in the initial user namespace. When /proc/self/uid_map cannot
/// be read (no /proc) the answer is yes, as runc's: nucleus then behaves as it always did,
/// and any privileged step that is refused says so itself.
pub fn in_initial_userns() -> bool {
    static INITIAL: OnceLock<bool> = OnceLock::new();
    *INITIAL.get_or_init(|| {
        std::fs::read_to_string("/proc/self/uid_map")
            .map(|m| is_initial_map(&m))
            .unwrap_or(true)
    })
}

/// Whether nucleus runs without root over the host: a non-root effective uid, or root
/// inside a user namespace other than the initial one (rootless Podman). Such a nucleus
/// keeps its state under `$XDG_RUNTIME_DIR`, runs a container without a cgroup when it
/// may not make one and the config asks for no limits, and does not use the device cgroup.
/// For non-root callers this costs nothing: /proc is read only for euid 0.
pub fn rootless() -> bool {
    !nix::unistd::geteuid().is_root() || !in_initial_userns()
}

#[cfg(test)]
mod tests {
    use super::is_initial_map;

    #[test]
    fn identity_map_of_every_id_is_the_initial_namespace() {
        assert!(is_initial_map("         0          0 4294967295\n"));
        assert!(is_initial_map("0 0 4294967295"));
    }

    #[test]
    fn any_other_map_is_a_user_namespace() {
        // Rootless Podman without subuids, with subuids, root's `unshare -U` (empty map),
        // a namespace mapping only part of the ids onto themselves.
        assert!(!is_initial_map("         0       1000          1\n"));
        assert!(!is_initial_map(
            "         0       1000          1\n         1     100000      65536\n"
        ));
        assert!(!is_initial_map(""));
        assert!(!is_initial_map("0 0 65536\n"));
        assert!(!is_initial_map("0 0 4294967295\n0 0 1\n"));
    }
}
