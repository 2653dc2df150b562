//! The OCI mount options nucleus understands: ONE table, read by the config parser
//! (`spec::oci`) and by `features` (DESIGN.md §8), so that what is accepted and what is
//! advertised cannot drift. Pure: flag values are the kernel's constants, nothing is called.
//!
//! Flags are the kernel's `MS_*` (mount(2)) values; the recursive attributes are its
//! `MOUNT_ATTR_*` (mount_setattr(2)) values, applied to a whole tree with AT_RECURSIVE.

/// What an option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Sets (true) or clears (false) a per-mount `MS_*` flag: applies to filesystems and to
    /// binds alike (ro, nosuid, nodev, noexec, nodiratime, nosymfollow).
    Flag(bool, u64),
    /// An access-time mode: `MS_NOATIME`, `MS_STRICTATIME` or `MS_RELATIME`.
    Atime(u64),
    /// A flag of the filesystem itself (the superblock): sync, dirsync, lazytime,
    /// iversion. A bind shares the host's filesystem, so on a bind these are refused.
    Superblock(bool, u64),
    /// A `MOUNT_ATTR_*` set (true) or cleared (false) on the mount and every mount below it.
    Recursive(bool, u64),
    /// A recursive access-time mode (`MOUNT_ATTR_NOATIME`, `_STRICTATIME`, `_RELATIME`).
    RecursiveAtime(u64),
    /// Propagation of the mount (`MS_SHARED`, …, with `MS_REC` for the r- forms).
    Propagation(u64),
    /// A bind mount (`rbind`: with the mounts below the source).
    Bind { recursive: bool },
    /// An id-mapped mount (`ridmap`: the mounts below too), with the mount's
    /// uidMappings/gidMappings or, without them, the container's.
    IdMap { recursive: bool },
    /// Fill a new tmpfs with what its mount point held (Podman's tmpcopyup).
    TmpCopyUp,
    /// Accepted, nothing to do (the kernel's default, or only about mount(8)'s messages).
    Nothing,
    /// Refused, for this reason.
    Refused(&'static str),
}

/// One option as config.json spells it.
#[derive(Clone, Copy, Debug)]
pub struct MountOption {
    pub name: &'static str,
    pub effect: Effect,
}

const fn opt(name: &'static str, effect: Effect) -> MountOption {
    MountOption { name, effect }
}

// mount(2) flags (uapi/linux/mount.h), as fixed numbers: this module calls nothing.
pub const MS_RDONLY: u64 = 1;
pub const MS_NOSUID: u64 = 2;
pub const MS_NODEV: u64 = 4;
pub const MS_NOEXEC: u64 = 8;
pub const MS_SYNCHRONOUS: u64 = 16;
pub const MS_DIRSYNC: u64 = 128;
pub const MS_NOSYMFOLLOW: u64 = 256;
pub const MS_NOATIME: u64 = 1024;
pub const MS_NODIRATIME: u64 = 2048;
pub const MS_REC: u64 = 16384;
pub const MS_UNBINDABLE: u64 = 1 << 17;
pub const MS_PRIVATE: u64 = 1 << 18;
pub const MS_SLAVE: u64 = 1 << 19;
pub const MS_SHARED: u64 = 1 << 20;
pub const MS_RELATIME: u64 = 1 << 21;
pub const MS_I_VERSION: u64 = 1 << 23;
pub const MS_STRICTATIME: u64 = 1 << 24;
pub const MS_LAZYTIME: u64 = 1 << 25;

// mount_setattr(2) attributes (MOUNT_ATTR_*).
pub const ATTR_RDONLY: u64 = 0x1;
pub const ATTR_NOSUID: u64 = 0x2;
pub const ATTR_NODEV: u64 = 0x4;
pub const ATTR_NOEXEC: u64 = 0x8;
/// The access-time bits of a mount attribute (relatime is 0 inside them).
pub const ATTR_ATIME_MASK: u64 = 0x70;
pub const ATTR_RELATIME: u64 = 0x0;
pub const ATTR_NOATIME: u64 = 0x10;
pub const ATTR_STRICTATIME: u64 = 0x20;
pub const ATTR_NODIRATIME: u64 = 0x80;
pub const ATTR_IDMAP: u64 = 0x0010_0000;
pub const ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

const MAND: &str = "mandatory locking was removed from Linux (5.15): drop the option";

/// Every option nucleus accepts or refuses by name. Anything else is filesystem data
/// (`size=64m`, `mode=755`, `lowerdir=…`) handed to the filesystem, which judges it.
pub const TABLE: &[MountOption] = &[
    opt("ro", Effect::Flag(true, MS_RDONLY)),
    opt("rw", Effect::Flag(false, MS_RDONLY)),
    opt("nosuid", Effect::Flag(true, MS_NOSUID)),
    opt("suid", Effect::Flag(false, MS_NOSUID)),
    opt("nodev", Effect::Flag(true, MS_NODEV)),
    opt("dev", Effect::Flag(false, MS_NODEV)),
    opt("noexec", Effect::Flag(true, MS_NOEXEC)),
    opt("exec", Effect::Flag(false, MS_NOEXEC)),
    opt("nodiratime", Effect::Flag(true, MS_NODIRATIME)),
    opt("diratime", Effect::Flag(false, MS_NODIRATIME)),
    opt("nosymfollow", Effect::Flag(true, MS_NOSYMFOLLOW)),
    opt("symfollow", Effect::Flag(false, MS_NOSYMFOLLOW)),
    opt("noatime", Effect::Atime(MS_NOATIME)),
    opt("atime", Effect::Atime(MS_RELATIME)),
    opt("relatime", Effect::Atime(MS_RELATIME)),
    opt("norelatime", Effect::Atime(MS_STRICTATIME)),
    opt("strictatime", Effect::Atime(MS_STRICTATIME)),
    opt("nostrictatime", Effect::Atime(MS_RELATIME)),
    opt("sync", Effect::Superblock(true, MS_SYNCHRONOUS)),
    opt("async", Effect::Superblock(false, MS_SYNCHRONOUS)),
    opt("dirsync", Effect::Superblock(true, MS_DIRSYNC)),
    opt("lazytime", Effect::Superblock(true, MS_LAZYTIME)),
    opt("nolazytime", Effect::Superblock(false, MS_LAZYTIME)),
    opt("iversion", Effect::Superblock(true, MS_I_VERSION)),
    opt("noiversion", Effect::Superblock(false, MS_I_VERSION)),
    opt("mand", Effect::Refused(MAND)),
    opt("nomand", Effect::Nothing),
    opt("defaults", Effect::Nothing),
    opt("remount", Effect::Nothing),
    opt("silent", Effect::Nothing),
    opt("loud", Effect::Nothing),
    opt("bind", Effect::Bind { recursive: false }),
    opt("rbind", Effect::Bind { recursive: true }),
    opt("private", Effect::Propagation(MS_PRIVATE)),
    opt("rprivate", Effect::Propagation(MS_PRIVATE | MS_REC)),
    opt("shared", Effect::Propagation(MS_SHARED)),
    opt("rshared", Effect::Propagation(MS_SHARED | MS_REC)),
    opt("slave", Effect::Propagation(MS_SLAVE)),
    opt("rslave", Effect::Propagation(MS_SLAVE | MS_REC)),
    opt("unbindable", Effect::Propagation(MS_UNBINDABLE)),
    opt("runbindable", Effect::Propagation(MS_UNBINDABLE | MS_REC)),
    opt("rro", Effect::Recursive(true, ATTR_RDONLY)),
    opt("rrw", Effect::Recursive(false, ATTR_RDONLY)),
    opt("rnosuid", Effect::Recursive(true, ATTR_NOSUID)),
    opt("rsuid", Effect::Recursive(false, ATTR_NOSUID)),
    opt("rnodev", Effect::Recursive(true, ATTR_NODEV)),
    opt("rdev", Effect::Recursive(false, ATTR_NODEV)),
    opt("rnoexec", Effect::Recursive(true, ATTR_NOEXEC)),
    opt("rexec", Effect::Recursive(false, ATTR_NOEXEC)),
    opt("rnodiratime", Effect::Recursive(true, ATTR_NODIRATIME)),
    opt("rdiratime", Effect::Recursive(false, ATTR_NODIRATIME)),
    opt("rnosymfollow", Effect::Recursive(true, ATTR_NOSYMFOLLOW)),
    opt("rsymfollow", Effect::Recursive(false, ATTR_NOSYMFOLLOW)),
    opt("rnoatime", Effect::RecursiveAtime(ATTR_NOATIME)),
    opt("ratime", Effect::RecursiveAtime(ATTR_RELATIME)),
    opt("rrelatime", Effect::RecursiveAtime(ATTR_RELATIME)),
    opt("rnorelatime", Effect::RecursiveAtime(ATTR_STRICTATIME)),
    opt("rstrictatime", Effect::RecursiveAtime(ATTR_STRICTATIME)),
    opt("rnostrictatime", Effect::RecursiveAtime(ATTR_RELATIME)),
    opt("idmap", Effect::IdMap { recursive: false }),
    opt("ridmap", Effect::IdMap { recursive: true }),
    opt("tmpcopyup", Effect::TmpCopyUp),
];

/// The effect of the option `name`, if it is in the table.
pub fn lookup(name: &str) -> Option<Effect> {
    TABLE.iter().find(|o| o.name == name).map(|o| o.effect)
}

/// The option names `features` advertises: every one in the table that is not refused.
pub fn supported() -> Vec<&'static str> {
    TABLE
        .iter()
        .filter(|o| !matches!(o.effect, Effect::Refused(_)))
        .map(|o| o.name)
        .collect()
}

/// An id mapping for a mount: uid_map and gid_map text ("inside outside count" lines) of
/// the user namespace the mount is mapped with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    pub uids: String,
    pub gids: String,
    /// The mounts below the source are mapped too (`ridmap`).
    pub recursive: bool,
}

/// What a mount's options ask for beyond `ro`/`nosuid`/`nodev`/`noexec` (which
/// `config::Mount` keeps as booleans).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Per-mount `MS_*` flags asked for (all of them, the four booleans' too).
    pub set: u64,
    /// Per-mount `MS_*` flags explicitly cleared (`rw`, `suid`, `dev`, `exec`, …): on a
    /// bind only these are cleared; others keep the source's value.
    pub clear: u64,
    /// The access-time mode asked for (`MS_NOATIME`/`MS_STRICTATIME`/`MS_RELATIME`); None:
    /// a bind keeps its source's, a filesystem gets the kernel's default (relatime).
    pub atime: Option<u64>,
    /// Superblock `MS_*` flags for a new filesystem (sync, dirsync, lazytime, iversion).
    pub superblock: u64,
    /// `MOUNT_ATTR_*` set and cleared on the whole tree (the r- options).
    pub rec_set: u64,
    pub rec_clear: u64,
    /// A recursive access-time mode (`MOUNT_ATTR_*` value).
    pub rec_atime: Option<u64>,
    /// Propagation (`MS_SHARED`… `| MS_REC`), 0 when not asked.
    pub propagation: u64,
    /// An id-mapped bind mount.
    pub idmap: Option<IdMap>,
}

impl Attrs {
    /// Whether anything must be applied recursively (mount_setattr with AT_RECURSIVE).
    pub fn recursive(&self) -> bool {
        self.rec_set != 0 || self.rec_clear != 0 || self.rec_atime.is_some()
    }
}

/// A mount's options, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub attrs: Attrs,
    /// `Some(recursive)` when an option asks for a bind.
    pub bind: Option<bool>,
    /// Id-mapping asked by option (`Some(recursive)`).
    pub idmap: Option<bool>,
    pub copy_up: bool,
    /// Everything else, for the filesystem (comma-joined as mount(2)'s data).
    pub data: Vec<String>,
}

/// Parses a mount's options in order (a later option wins over an earlier one). `bind`:
/// the mount is a bind (by type or by option), which refuses filesystem-only flags.
/// Errors name the option and say why.
pub fn parse(opts: &[String], bind: bool) -> Result<Parsed, String> {
    let mut p = Parsed::default();
    let bind = bind || opts.iter().any(|o| o == "bind" || o == "rbind");
    for o in opts {
        let Some(effect) = lookup(o) else {
            // Filesystem data; a bind has no filesystem of its own and ignores it, as
            // with runc (clients pass options such as `z` there).
            p.data.push(o.clone());
            continue;
        };
        let a = &mut p.attrs;
        match effect {
            Effect::Flag(true, f) => {
                a.set |= f;
                a.clear &= !f;
            }
            Effect::Flag(false, f) => {
                a.clear |= f;
                a.set &= !f;
            }
            Effect::Atime(t) => a.atime = Some(t),
            Effect::Superblock(on, f) => {
                if bind && on {
                    return Err(format!(
                        "option '{o}' is a property of a filesystem, and a bind mount shares \
                         the host's: mount a filesystem of its own (e.g. tmpfs) for it"
                    ));
                }
                if on {
                    a.superblock |= f;
                } else {
                    a.superblock &= !f;
                }
            }
            Effect::Recursive(true, f) => {
                a.rec_set |= f;
                a.rec_clear &= !f;
            }
            Effect::Recursive(false, f) => {
                a.rec_clear |= f;
                a.rec_set &= !f;
            }
            Effect::RecursiveAtime(t) => a.rec_atime = Some(t),
            Effect::Propagation(f) => a.propagation = f,
            Effect::Bind { recursive } => p.bind = Some(recursive || p.bind == Some(true)),
            Effect::IdMap { recursive } => p.idmap = Some(recursive),
            Effect::TmpCopyUp => p.copy_up = true,
            Effect::Nothing => {}
            Effect::Refused(why) => return Err(format!("option '{o}': {why}")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_are_the_kernels() {
        let pairs: [(u64, libc::c_ulong); 6] = [
            (MS_NOSYMFOLLOW, libc::MS_NOSYMFOLLOW),
            (MS_SHARED, libc::MS_SHARED),
            (MS_RELATIME, libc::MS_RELATIME),
            (MS_STRICTATIME, libc::MS_STRICTATIME),
            (MS_LAZYTIME, libc::MS_LAZYTIME),
            (MS_I_VERSION, libc::MS_I_VERSION),
        ];
        for (ours, kernel) in pairs {
            assert_eq!(ours.to_string(), kernel.to_string());
        }
    }

    #[test]
    fn names_are_unique_and_advertised_unless_refused() {
        for (i, a) in TABLE.iter().enumerate() {
            assert!(
                TABLE[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
        let sup = supported();
        assert!(sup.contains(&"rro") && sup.contains(&"nosymfollow") && sup.contains(&"idmap"));
        assert!(!sup.contains(&"mand"));
    }

    #[test]
    fn later_options_win_and_rw_is_an_explicit_clear() {
        let p = parse(&s(&["ro", "rw", "nosuid", "strictatime"]), true).unwrap();
        assert_eq!(p.attrs.set, MS_NOSUID);
        assert_eq!(p.attrs.clear, MS_RDONLY);
        assert_eq!(p.attrs.atime, Some(MS_STRICTATIME));
        assert_eq!(p.bind, None);
        let p = parse(&s(&["rbind", "rro", "rnoatime", "rprivate"]), false).unwrap();
        assert_eq!(p.bind, Some(true));
        assert_eq!(p.attrs.rec_set, ATTR_RDONLY);
        assert_eq!(p.attrs.rec_atime, Some(ATTR_NOATIME));
        assert_eq!(p.attrs.propagation, MS_PRIVATE | MS_REC);
        assert!(p.attrs.recursive());
    }

    #[test]
    fn filesystem_flags_on_binds_and_mand_are_refused() {
        let e = parse(&s(&["bind", "sync"]), false).unwrap_err();
        assert!(e.contains("'sync'") && e.contains("bind"), "{e}");
        let e = parse(&s(&["mand"]), false).unwrap_err();
        assert!(e.contains("5.15"), "{e}");
        let p = parse(&s(&["sync", "dirsync", "mode=700", "size=1m"]), false).unwrap();
        assert_eq!(p.attrs.superblock, MS_SYNCHRONOUS | MS_DIRSYNC);
        assert_eq!(p.data, s(&["mode=700", "size=1m"]));
    }
}
