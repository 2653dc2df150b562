//! OCI `mounts` as runc/crun users expect them: options applied on every mount type (also
//! in a user namespace, keeping what the kernel locks), recursive attributes, id-mapped
//! and overlay mounts, bind sources the container's root cannot reach, and mount targets
//! that are dangling symlinks inside the root. Each case is read back from inside the
//! container (its /proc/self/mountinfo, the syscall that must fail) or from the host.

mod common;
use common::bundle::Bundle;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// The container's user namespace maps 0..65536 to host 100000..165536.
const BASE: u32 = 100_000;

/// Puts the container in a new user namespace (root = host uid 100000) and hands it its
/// root filesystem, as an image unpacked for that range would be.
fn userns(b: &Bundle) {
    b.edit(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
    });
    let rootfs = b.bundle().join("rootfs");
    let st = std::process::Command::new("chown")
        .args(["-R", &format!("{BASE}:{BASE}")])
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
}

fn add_mount(b: &Bundle, m: Value) {
    b.edit(|c| c["mounts"].as_array_mut().unwrap().push(m));
}

fn run(b: &Bundle, id: &str) -> std::process::Output {
    b.nucleus(&["run", "-b", b.bundle().to_str().unwrap(), id])
}

/// The per-mount options (field 6) and the filesystem's options (after " - ") of the
/// mount at `point` in a mountinfo text.
fn mount_line<'a>(mountinfo: &'a str, point: &str) -> (&'a str, &'a str) {
    let l = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point} in:\n{mountinfo}"));
    let f: Vec<&str> = l.split(' ').collect();
    let sb = l.split(" - ").nth(1).unwrap().split(' ').nth(2).unwrap();
    (f[5], sb)
}

fn has(opts: &str, o: &str) -> bool {
    opts.split(',').any(|x| x == o)
}

/// In a user namespace the kernel locks the flags a bind's source mount has (nosuid, nodev,
/// noexec, its atime mode): `ro` must be added without clearing them (runc 1.1's plain
/// MS_REMOUNT|MS_BIND|MS_RDONLY gets EPERM here). The source is a strictatime tmpfs, which
/// statvfs reports with no atime flag at all.
#[test]
fn ro_bind_in_a_user_namespace_keeps_the_locked_flags() {
    if !privileged("ro_bind_in_a_user_namespace_keeps_the_locked_flags") {
        return;
    }
    let b = Bundle::new(
        "mntlock",
        &[
            "sh",
            "-c",
            "cat /proc/self/mountinfo; echo x > /vol/new && echo WROTE; true",
        ],
    );
    userns(&b);
    let src = b.tmp.path("src");
    std::fs::create_dir(&src).unwrap();
    add_mount(
        &b,
        json!({"destination": "/vol", "type": "bind", "source": src, "options": ["bind", "ro"]}),
    );
    let script = format!(
        "mount -t tmpfs -o nosuid,nodev,noexec,strictatime,mode=755 t {src}\n\
         \"$NUCLEUS\" --root {root} run -b {bundle} lock1",
        src = src.display(),
        root = b.root().display(),
        bundle = b.bundle().display()
    );
    let o = outer_sandbox(&script);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let (opts, _) = mount_line(&out, "/vol");
    for f in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(has(opts, f), "{f} missing on /vol: {opts}");
    }
    assert!(!has(opts, "relatime") && !has(opts, "noatime"), "{opts}");
    assert!(!out.contains("WROTE"), "wrote to a read-only bind");
}

/// A bind source below a 0700 root-owned directory: the container's root (host uid
/// 100000) cannot reach it, the runtime can; the source is taken by the runtime before the
/// container's process exists (runc 1.1: "no such file or directory"/EACCES).
#[test]
fn bind_source_the_mapped_root_cannot_reach_still_works() {
    if !privileged("bind_source_the_mapped_root_cannot_reach_still_works") {
        return;
    }
    let b = Bundle::new("mntreach", &["cat", "/vol/secret"]);
    userns(&b);
    let locked = b.tmp.path("locked");
    std::fs::create_dir_all(locked.join("src")).unwrap();
    std::fs::write(locked.join("src/secret"), "reached\n").unwrap();
    set_mode(&locked.join("src/secret"), 0o644);
    set_mode(&locked, 0o700);
    add_mount(
        &b,
        json!({"destination": "/vol", "type": "bind", "source": locked.join("src"),
               "options": ["rbind", "ro"]}),
    );
    let o = run(&b, "reach1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "reached\n");
}

/// mounts[].uidMappings/gidMappings: an id-mapped bind (open_tree + mount_setattr
/// MOUNT_ATTR_IDMAP + move_mount). The mount maps on-disk id 1234 to host 101234, which
/// the container's namespace shows as 1234; without the mapping the file is nobody's.
#[test]
fn idmapped_bind_shows_the_mapped_owner() {
    if !privileged("idmapped_bind_shows_the_mapped_owner") {
        return;
    }
    let b = Bundle::new(
        "mntidmap",
        &["stat", "-c", "%u:%g", "/plain/f", "/mapped/f"],
    );
    userns(&b);
    let src = b.tmp.path("owned");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    std::os::unix::fs::chown(src.join("f"), Some(1234), Some(1234)).unwrap();
    add_mount(
        &b,
        json!({"destination": "/plain", "type": "bind", "source": src, "options": ["bind"]}),
    );
    let map = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
    add_mount(
        &b,
        json!({"destination": "/mapped", "type": "bind", "source": src, "options": ["bind"],
               "uidMappings": map, "gidMappings": map}),
    );
    let o = run(&b, "idmap1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "65534:65534\n1234:1234\n");
    // The host's view is unchanged.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(src.join("f")).unwrap().uid(), 1234);

    // `idmap` without mappings takes the container's; half a mapping is refused.
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap().last_mut().unwrap();
        m.as_object_mut().unwrap().remove("uidMappings");
        m.as_object_mut().unwrap().remove("gidMappings");
        m["options"] = json!(["bind", "idmap"]);
    });
    let o = run(&b, "idmap2");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "65534:65534\n1234:1234\n");
    b.edit(|c| {
        let m = c["mounts"].as_array_mut().unwrap().last_mut().unwrap();
        m["uidMappings"] = json!([{"containerID": 0, "hostID": BASE, "size": 1}]);
    });
    let o = run(&b, "idmap3");
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("/mapped") && e.contains("gidMappings") && e.lines().count() <= 2,
        "{e}"
    );
    assert!(!b.root().join("idmap3").exists());
}

/// `overlay` in mounts, its layers given as host paths (as runc passes them through):
/// the lower layer shows, writes land in the upper layer on the host.
#[test]
fn overlay_mount_with_host_layers() {
    if !privileged("overlay_mount_with_host_layers") {
        return;
    }
    let b = Bundle::new(
        "mntovl",
        &["sh", "-c", "cat /ov/low && echo new > /ov/made"],
    );
    let (low, up, work) = (b.tmp.path("low"), b.tmp.path("up"), b.tmp.path("work"));
    for d in [&low, &up, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(low.join("low"), "from lower\n").unwrap();
    add_mount(
        &b,
        json!({"destination": "/ov", "type": "overlay", "source": "overlay", "options": [
            format!("lowerdir={}", low.display()),
            format!("upperdir={}", up.display()),
            format!("workdir={}", work.display()),
        ]}),
    );
    let o = run(&b, "ovl1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "from lower\n");
    assert_eq!(std::fs::read_to_string(up.join("made")).unwrap(), "new\n");
    assert!(!low.join("made").exists());
}

/// A mount target that is a dangling symlink in the image (`etc/app.conf -> <host path>`,
/// `data -> <host dir>`) is created where the symlink points INSIDE the root; nothing
/// appears at the host path (DESIGN.md §5.4; the CVE-2021-30465 class).
#[test]
fn dangling_symlink_targets_are_created_inside_the_root() {
    if !privileged("dangling_symlink_targets_are_created_inside_the_root") {
        return;
    }
    let b = Bundle::new("mntlink", &["sh", "-c", "cat /etc/app.conf /data/f"]);
    let host = b.tmp.path("hostside");
    std::fs::create_dir(&host).unwrap();
    let rootfs = b.bundle().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::os::unix::fs::symlink(host.join("app.conf"), rootfs.join("etc/app.conf")).unwrap();
    std::os::unix::fs::symlink(host.join("datadir"), rootfs.join("data")).unwrap();
    let (file, dir) = (b.tmp.path("app.conf"), b.tmp.path("datasrc"));
    std::fs::write(&file, "conf\n").unwrap();
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("f"), "data\n").unwrap();
    add_mount(
        &b,
        json!({"destination": "/etc/app.conf", "type": "bind", "source": file, "options": ["bind", "ro"]}),
    );
    add_mount(
        &b,
        json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind"]}),
    );
    let o = run(&b, "link1");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "conf\ndata\n");
    assert!(
        std::fs::read_dir(&host).unwrap().next().is_none(),
        "a mount target was made on the host"
    );
    let inside = rootfs.join(host.strip_prefix("/").unwrap());
    assert!(inside.join("app.conf").is_file() && inside.join("datadir").is_dir());
}

/// tmpfs `mode=` and `size=`, and the flag options on a filesystem (nodev, ro, rw, sync,
/// dirsync, noatime, nodiratime, nosymfollow), in a user namespace, read back from the
/// container's mountinfo; a symlink on the nosymfollow mount does not resolve.
#[test]
fn filesystem_options_in_a_user_namespace() {
    if !privileged("filesystem_options_in_a_user_namespace") {
        return;
    }
    let b = Bundle::new(
        "mntfsopt",
        &[
            "sh",
            "-c",
            "stat -c %a /t; echo hi > /t/x; ln -s /t/x /t/l; ln -s /t/x /nsf/l; \
             cat /t/l; cat /nsf/l || echo NOFOLLOW; cat /proc/self/mountinfo",
        ],
    );
    userns(&b);
    add_mount(
        &b,
        json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "ro", "rw", "sync", "dirsync", "noatime",
                           "nodiratime", "mode=1770", "size=1m"]}),
    );
    add_mount(
        &b,
        json!({"destination": "/nsf", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosymfollow", "strictatime"]}),
    );
    let o = run(&b, "fsopt1");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("1770\nhi\nNOFOLLOW\n"), "{out}");
    let (opts, sb) = mount_line(&out, "/t");
    for f in ["rw", "nosuid", "nodev", "noatime", "nodiratime"] {
        assert!(has(opts, f), "{f} missing on /t: {opts}");
    }
    for f in ["sync", "dirsync", "size=1024k", "mode=1770"] {
        assert!(has(sb, f), "{f} missing on /t's filesystem: {sb}");
    }
    let (opts, _) = mount_line(&out, "/nsf");
    assert!(has(opts, "nosymfollow") && !has(opts, "relatime"), "{opts}");
}

/// OCI 1.1 recursive attributes on a bind of a host directory that has a submount: `rro`
/// makes the submount read-only too (plain `ro` does not), `rnosymfollow` and `rnoatime`
/// reach it as well. The submount is a tmpfs made inside an outer mount namespace.
#[test]
fn recursive_attributes_reach_submounts() {
    if !privileged("recursive_attributes_reach_submounts") {
        return;
    }
    let b = Bundle::new(
        "mntrec",
        &[
            "sh",
            "-c",
            "cat /proc/self/mountinfo; \
             echo x > /plain/sub/w && echo PLAIN-SUB-WRITABLE; \
             echo x > /rec/sub/w2 || echo REC-SUB-READONLY; \
             cat /rec/sub/link || echo REC-NOFOLLOW",
        ],
    );
    let src = b.tmp.path("tree");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    add_mount(
        &b,
        json!({"destination": "/plain", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    add_mount(
        &b,
        json!({"destination": "/rec", "type": "bind", "source": src,
               "options": ["rbind", "rro", "rnosymfollow", "rnoatime", "rnodev"]}),
    );
    let script = format!(
        "mount -t tmpfs -o mode=755 sub {sub}\n\
         echo target > {sub}/t; ln -s t {sub}/link\n\
         \"$NUCLEUS\" --root {root} run -b {bundle} rec1",
        sub = src.join("sub").display(),
        root = b.root().display(),
        bundle = b.bundle().display()
    );
    let o = outer_sandbox(&script);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("PLAIN-SUB-WRITABLE"), "{out}");
    assert!(out.contains("REC-SUB-READONLY"), "{out}");
    assert!(out.contains("REC-NOFOLLOW"), "{out}");
    let (plain_top, _) = mount_line(&out, "/plain");
    let (plain_sub, _) = mount_line(&out, "/plain/sub");
    assert!(
        has(plain_top, "ro") && has(plain_sub, "rw"),
        "{plain_top} {plain_sub}"
    );
    let (rec_sub, _) = mount_line(&out, "/rec/sub");
    for f in ["ro", "nosymfollow", "noatime", "nodev"] {
        assert!(has(rec_sub, f), "{f} missing on /rec/sub: {rec_sub}");
    }
}

/// Options nucleus refuses, each with one line naming the mount and the option, and nothing
/// left behind: `mand` (removed from Linux), `sync` on a bind (it would change the host's
/// filesystem), an id mapping on a tmpfs.
#[test]
fn refused_options_are_clear_errors() {
    if !privileged("refused_options_are_clear_errors") {
        return;
    }
    let b = Bundle::new("mntbad", &["true"]);
    let src = b.tmp.path("s");
    std::fs::create_dir(&src).unwrap();
    let map = json!([{"containerID": 0, "hostID": BASE, "size": 1}]);
    for (i, (m, want)) in [
        (json!({"destination": "/m", "type": "tmpfs", "options": ["mand"]}), "'mand'"),
        (
            json!({"destination": "/s", "type": "bind", "source": src, "options": ["bind", "sync"]}),
            "'sync'",
        ),
        (
            json!({"destination": "/i", "type": "tmpfs", "options": ["idmap"],
                   "uidMappings": map, "gidMappings": map}),
            "id-mapped",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        b.edit(|c| {
            let ms = c["mounts"].as_array_mut().unwrap();
            ms.retain(|x| !["/m", "/s", "/i"].contains(&x["destination"].as_str().unwrap()));
            ms.push(m.clone());
        });
        let id = format!("bad{i}");
        let o = run(&b, &id);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{e}");
        let dest = m["destination"].as_str().unwrap();
        assert!(e.contains(want) && e.contains(dest), "{want}: {e}");
        assert!(e.lines().next().unwrap().starts_with("nucleus: "), "{e}");
        assert!(!b.root().join(&id).exists());
    }
    assert!(
        !Path::new(&b.bundle().join("rootfs/m")).exists(),
        "a refused config made a mount point"
    );
}
