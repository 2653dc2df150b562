//! Unit tests of the root filesystem code through the recording double (linux/sys.rs):
//! they run as a normal user. Path resolution is real, on a temporary directory tree (a
//! root with symlinks that try to leave it, and a "host" directory beside it that must stay
//! untouched); every mount, remount, pivot and mknod is recorded instead of made, and the
//! tests pin the exact sequence and flags.

use super::*;
use crate::linux::sys::{Call, Recorder};
use crate::spec::mount_options as o;
use nix::sys::statvfs::FsFlags;
use std::os::unix::fs::symlink;

struct Tmp(PathBuf);

impl Drop for Tmp {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).expect("remove test dir");
    }
}

/// `<tmp>/root` (the container's root, with /etc and /proc made) and `<tmp>/host`.
fn tree(tag: &str) -> (Tmp, PathBuf, PathBuf) {
    let base = std::env::temp_dir().join(format!("nucleus-rootfs-{tag}-{}", std::process::id()));
    match std::fs::remove_dir_all(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("remove {}: {e}", base.display()),
    }
    std::fs::create_dir_all(base.join("root/etc")).unwrap();
    std::fs::create_dir_all(base.join("host")).unwrap();
    let base = std::fs::canonicalize(&base).unwrap();
    let (root, host) = (base.join("root"), base.join("host"));
    (Tmp(base), root, host)
}

fn open_root(root: &Path) -> OwnedFd {
    open_path(root).unwrap()
}

fn host_is_empty(host: &Path) -> bool {
    std::fs::read_dir(host).unwrap().next().is_none()
}

/// A config from an OCI config.json: the default spec with `root` as its root and only
/// `mounts` (so nothing depends on the host's cgroup layout).
fn oci_config(root: &Path, mounts: serde_json::Value) -> Config {
    let mut v = crate::spec::default::default_spec(false);
    v["root"] = serde_json::json!({"path": root, "readonly": false});
    v["mounts"] = mounts;
    v["linux"]["resources"] = serde_json::json!({});
    v["linux"]["maskedPaths"] = serde_json::json!([]);
    v["linux"]["readonlyPaths"] = serde_json::json!([]);
    let text = serde_json::to_string(&v).unwrap();
    crate::spec::oci::translate(&text, root.parent().unwrap())
        .expect("config translates")
        .config
}

fn mount(source: Option<&str>, target: &str, fstype: Option<&str>, flags: MsFlags) -> Call {
    Call::Mount {
        source: source.map(str::to_string),
        target: target.to_string(),
        fstype: fstype.map(str::to_string),
        flags,
        data: None,
    }
}

fn with_data(c: Call, d: &str) -> Call {
    match c {
        Call::Mount {
            source,
            target,
            fstype,
            flags,
            ..
        } => Call::Mount {
            source,
            target,
            fstype,
            flags,
            data: Some(d.to_string()),
        },
        c => c,
    }
}

/// What `setup_with` records around the mounts of a --rootfs directory: the private
/// mount namespace and the root bound onto itself, nodev (strictatime: the double reports
/// no atime flag).
fn root_calls() -> Vec<Call> {
    let bind = MsFlags::MS_BIND;
    vec![
        mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE),
        mount(Some("/"), "/", None, bind | MsFlags::MS_REC),
        mount(
            None,
            "/",
            None,
            bind | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME,
        ),
    ]
}

fn pivot_calls() -> Vec<Call> {
    vec![
        Call::Chdir("/".into()),
        Call::PivotRoot(".".into(), ".".into()),
        Call::Umount(".".into(), MntFlags::MNT_DETACH),
        Call::Chdir("/".into()),
    ]
}

fn no_hooks() -> Result<(), Error> {
    Ok(())
}

#[test]
fn masked_paths_hide_and_readonly_paths_are_bound_read_only() {
    let (_t, root, _host) = tree("mask");
    std::fs::create_dir_all(root.join("proc/acpi")).unwrap();
    std::fs::write(root.join("proc/kcore"), "").unwrap();
    std::fs::create_dir_all(root.join("proc/sys")).unwrap();
    let mut cfg = oci_config(&root, serde_json::json!([]));
    let p = |s: &str| root.join(s);
    cfg.masked_paths = vec![p("proc/acpi"), p("proc/kcore"), p("proc/missing")];
    cfg.readonly_paths = vec![p("proc/sys"), p("proc/missing-too")];
    cfg.readonly_root = true;
    cfg.rootfs_propagation = Some("shared".into());
    let mut rec = Recorder::new(&root);
    // The filesystem below has nosuid and relatime locked: a remount must keep both.
    rec.flags = FsFlags::ST_NOSUID | FsFlags::ST_RELATIME;
    finish_with(&rec, &cfg).unwrap();
    let hide = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let kept = MsFlags::MS_NOSUID | MsFlags::MS_RELATIME;
    assert_eq!(
        rec.take(),
        vec![
            // A directory: an empty read-only tmpfs over it.
            with_data(
                mount(Some("tmpfs"), "/proc/acpi", Some("tmpfs"), hide),
                "size=0"
            ),
            // A file: /dev/null bound over it. A missing path: nothing.
            mount(Some("/dev/null"), "/proc/kcore", None, MsFlags::MS_BIND),
            // A read-only path: bound onto itself, then remounted ro,nosuid,nodev,noexec
            // with what the kernel locks kept.
            mount(
                Some("/proc/sys"),
                "/proc/sys",
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC
            ),
            mount(None, "/proc/sys", None, remount | hide | kept),
            // root.readonly, then the root's propagation, last.
            mount(None, "/", None, remount | MsFlags::MS_RDONLY | kept),
            mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SHARED),
        ]
    );
    // With no atime flag on the filesystem, strictatime must be said (mount(2) would
    // otherwise ask for relatime, which a user namespace may not change).
    let rec = Recorder::new(&root);
    cfg.masked_paths.clear();
    cfg.readonly_paths = vec![p("proc/sys")];
    cfg.readonly_root = false;
    cfg.rootfs_propagation = None;
    finish_with(&rec, &cfg).unwrap();
    assert_eq!(
        rec.take()[1],
        mount(
            None,
            "/proc/sys",
            None,
            remount | hide | MsFlags::MS_STRICTATIME
        )
    );
}

#[test]
fn oci_bind_options_become_bind_flags_and_mount_attributes() {
    let (_t, root, host) = tree("bind");
    std::fs::write(host.join("file"), "x").unwrap();
    let src = host.to_string_lossy().into_owned();
    let file = host.join("file").to_string_lossy().into_owned();
    // `data` is a symlink out of the root: the bind lands inside the root all the same.
    symlink(&host, root.join("data")).unwrap();
    let cfg = oci_config(
        &root,
        serde_json::json!([
            {"destination": "/data", "type": "bind", "source": src, "options": ["ro", "nosuid", "bind"]},
            {"destination": "/etc/app.conf", "type": "bind", "source": file, "options": ["rbind", "rw", "noatime", "rshared"]},
        ]),
    );
    let rec = Recorder::new(&root);
    setup_with(&rec, &cfg, &[], &[], &no_hooks).unwrap();
    let inside = Path::new("/").join(host.strip_prefix("/").unwrap());
    let data = inside.to_string_lossy().into_owned();
    let mut want = root_calls();
    want.extend([
        // `bind`: not recursive; ro and nosuid set with mount_setattr, nothing cleared (what
        // the kernel locks on the source stays).
        mount(Some(&src), &data, None, MsFlags::MS_BIND),
        Call::SetAttr {
            target: data.clone(),
            recursive: false,
            set: o::ATTR_RDONLY | o::ATTR_NOSUID,
            clear: 0,
        },
        // `rbind,rw,noatime,rshared`: recursive; rw cleared, the atime mode replaced; a
        // file is bound on a file; then the propagation of the whole tree.
        mount(
            Some(&file),
            "/etc/app.conf",
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
        ),
        Call::SetAttr {
            target: "/etc/app.conf".into(),
            recursive: false,
            set: o::ATTR_NOATIME,
            clear: o::ATTR_RDONLY | o::ATTR_ATIME_MASK,
        },
        mount(
            None,
            "/etc/app.conf",
            None,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
        ),
    ]);
    want.extend(pivot_calls());
    assert_eq!(rec.take(), want);
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1, "only `file`");
    assert!(root.join(inside.strip_prefix("/").unwrap()).is_dir());
    assert!(root.join("etc/app.conf").is_file());
}

#[test]
fn proc_goes_only_on_a_real_directory_and_sysfs_falls_back_to_a_bind() {
    let (_t, root, host) = tree("proc");
    symlink("/etc", root.join("proc")).unwrap();
    let mounts = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
    ]);
    let cfg = oci_config(&root, mounts);
    let rec = Recorder::new(&root);
    let e = setup_with(&rec, &cfg, &[], &[], &no_hooks).unwrap_err();
    assert!(e.to_string().contains("/proc is a symlink to /etc"), "{e}");
    assert_eq!(rec.take(), root_calls(), "nothing mounted on the symlink");
    assert!(host_is_empty(&host));

    std::fs::remove_file(root.join("proc")).unwrap();
    let mounts = serde_json::json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    ]);
    let cfg = oci_config(&root, mounts);
    let mut rec = Recorder::new(&root);
    // A user namespace without its own network namespace may not mount sysfs.
    rec.fail = Some(("sysfs", Errno::EPERM));
    setup_with(&rec, &cfg, &[], &[], &no_hooks).unwrap();
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut want = root_calls();
    want.extend([
        mount(Some("proc"), "/proc", Some("proc"), MsFlags::empty()),
        mount(Some("sysfs"), "/sys", Some("sysfs"), ro),
        // The fallback: the host's /sys bound, read-only.
        mount(
            Some("/sys"),
            "/sys",
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
        ),
        mount(
            None,
            "/sys",
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | ro | MsFlags::MS_STRICTATIME,
        ),
    ]);
    want.extend(pivot_calls());
    assert_eq!(rec.take(), want);
    assert!(root.join("proc").is_dir() && root.join("sys").is_dir());
}

#[test]
fn dev_gets_the_default_devices_and_linux_devices_are_made_inside_the_root() {
    let (_t, root, host) = tree("dev");
    std::fs::create_dir_all(root.join("dev")).unwrap();
    std::fs::write(root.join("dev/taken"), "").unwrap();
    let mut cfg = oci_config(
        &root,
        serde_json::json!([
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755"]},
        ]),
    );
    // `dev/fuse` is reached through `dev` of the root, whatever the host's /dev holds.
    let fuse = crate::spec::config::Device {
        path: PathBuf::from("/dev/fuse"),
        kind: 'c',
        major: 10,
        minor: 229,
        mode: 0o640,
        uid: 7,
        gid: 8,
    };
    cfg.devices = vec![fuse.clone()];
    let rec = Recorder::new(&root);
    setup_with(&rec, &cfg, &[], &[], &no_hooks).unwrap();
    let calls = rec.take();
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    assert_eq!(
        calls[3],
        with_data(
            mount(Some("tmpfs"), "/dev", Some("tmpfs"), flags),
            "mode=755"
        )
    );
    // Each default device that the host has is bound on a file of the same name.
    let binds: Vec<&Call> = calls[4..]
        .iter()
        .take_while(|c| matches!(c, Call::Mount { .. }))
        .collect();
    for (c, name) in binds
        .iter()
        .zip(["null", "zero", "full", "random", "urandom", "tty"])
    {
        let d = format!("/dev/{name}");
        assert_eq!(**c, mount(Some(&d), &d, None, MsFlags::MS_BIND));
        assert!(root.join("dev").join(name).is_file());
    }
    assert!(
        binds.len() >= 2,
        "the host has at least /dev/null and /dev/zero"
    );
    assert_eq!(
        calls[4 + binds.len()],
        Call::Mknod {
            path: "/dev/fuse".into(),
            kind: nix::sys::stat::SFlag::S_IFCHR,
            mode: 0o640,
            rdev: nix::sys::stat::makedev(10, 229),
            owner: (7, 8),
        }
    );
    assert_eq!(calls[5 + binds.len()..], pivot_calls());
    assert_eq!(
        std::fs::read_link(root.join("dev/stdout")).unwrap(),
        Path::new("/proc/self/fd/1")
    );
    // A different file already there is an error, and nothing is made.
    let fd = open_root(&root);
    let taken = crate::spec::config::Device {
        path: PathBuf::from("/dev/taken"),
        ..fuse
    };
    let rec = Recorder::new(&root);
    let e = make_device(&rec, &fd, &taken).unwrap_err();
    assert!(
        e.to_string().contains("a different file is already there"),
        "{e}"
    );
    assert_eq!(rec.take(), vec![]);
    assert!(host_is_empty(&host));
}

#[test]
fn resolve_create_and_real_dir_stay_inside_the_root() {
    let (_t, root, host) = tree("resolve");
    // A dangling absolute symlink as the last component names a path of the root.
    symlink(host.join("app.conf"), root.join("etc/app.conf")).unwrap();
    symlink("../../../..", root.join("up")).unwrap();
    symlink(&host, root.join("away")).unwrap();
    std::fs::write(root.join("plain"), "").unwrap();
    let fd = open_root(&root);
    let inside = root.join(host.strip_prefix("/").unwrap());
    resolve_create(&fd, Path::new("/etc/app.conf"), true).unwrap();
    assert!(inside.join("app.conf").is_file());
    resolve_create(&fd, Path::new("/up/made/deep"), false).unwrap();
    assert!(root.join("made/deep").is_dir());
    assert!(host_is_empty(&host), "nothing made outside the root");
    // The last component a file where a directory is asked for.
    let e = resolve_create(&fd, Path::new("/plain/x"), false).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Sys {
                what: "mkdir",
                errno: Errno::ENOTDIR,
                ..
            }
        ),
        "{e}"
    );

    real_dir(&fd, Path::new("/made/deep")).unwrap();
    for bad in ["/away", "/plain", "/up/made"] {
        let e = real_dir(&fd, Path::new(bad)).unwrap_err();
        assert!(
            e.to_string().contains("symlink or not a directory"),
            "{bad}: {e}"
        );
    }
    let e = refuse_symlinked(&fd, Path::new("/away"), "sysfs").unwrap_err();
    let want = format!("a symlink to {}", host.display());
    assert!(e.to_string().contains(&want), "{e}");
    refuse_symlinked(&fd, Path::new("/missing"), "proc").unwrap();
}
