//! The one-shot sandbox (`nucleus run`): command-line options into a `Config`. Pure: every
//! check that needs no kernel happens here, before anything is created.

use super::config::*;
use crate::caps::identity::{self, Identity};
use crate::caps::policy::{Policy, PolicyError};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    pub rootfs: Option<PathBuf>,
    pub read_only: bool,
    pub volumes: Vec<String>,
    pub context: Option<PathBuf>,
    pub hostname: Option<String>,
    pub network_host: bool,
    pub user: Option<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub caps_retain: Vec<String>,
    pub caps_remove: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub allow_new_privs: bool,
    pub seccomp: Option<String>,
    pub seccomp_profile: Option<String>,
    pub memory: Option<String>,
    pub pids: Option<u64>,
    pub cpus: Option<String>,
    pub rlimits: Vec<String>,
    pub init: bool,
    /// nucleus runs without root: a user namespace maps the caller.
    pub rootless: bool,
    /// The caller's effective uid and gid (mapped into the user namespace when rootless).
    pub host_ids: (u32, u32),
    /// The text of the root's /etc/passwd, to find the user's home.
    pub passwd: String,
    /// The host's TERM, passed on when set.
    pub term: Option<String>,
    pub args: Vec<String>,
    /// `--caps-policy FILE`: the policy file's text and its name (for errors); excludes the
    /// other capability flags.
    pub caps_policy: Option<(String, String)>,
    // Landlock (`--landlock-*`): paths inside the container, TCP ports. Any of them turns
    // Landlock on; see `landlock_of`.
    pub landlock_ro: Vec<PathBuf>,
    pub landlock_rw: Vec<PathBuf>,
    pub landlock_exec: Vec<PathBuf>,
    pub landlock_bind: Vec<u16>,
    pub landlock_connect: Vec<u16>,
    /// Refuse to run unless the kernel enforces every right (OCI disableBestEffort).
    pub landlock_strict: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no command given")]
    NoCommand,
    #[error("invalid {what} '{value}': {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },
    /// `what` is e.g. "argument 2" or "environment entry 0".
    #[error("{0} contains a NUL byte")]
    Nul(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Identity(#[from] identity::Error),
}

impl SpecError {
    pub fn hint(&self) -> Option<String> {
        match self {
            SpecError::NoCommand => {
                Some("put the command after --: nucleus run -- sh -c 'echo hi'".into())
            }
            SpecError::Nul(_) => {
                Some("a program sees a string only up to its NUL byte: remove the NUL".into())
            }
            SpecError::Invalid { what, .. } => Some(match *what {
                "volume" => "use --volume /abs/host/path:/abs/container/path[:ro|rw]".into(),
                "volume destination" => {
                    "mount the volume elsewhere, like /mnt/data (nucleus sets up /proc, /sys \
                     and /dev itself)"
                        .into()
                }
                "memory size" => format!(
                    "use a byte count with an optional k, m or g suffix, at least {}m, like 32m",
                    MIN_MEMORY_LIMIT >> 20
                ),
                "cpus" => "use a positive number of CPUs, like 0.5 or 2".into(),
                "rlimit" => {
                    "use NAME=SOFT[:HARD], like nofile=1024:4096 (names: see --help)".into()
                }
                "env" => "use --env NAME=VALUE".into(),
                "path" => "give an absolute path with no '..' components".into(),
                "landlock" => "add a rule: --landlock-ro, --landlock-rw, --landlock-exec, \
                               --landlock-bind or --landlock-connect"
                    .into(),
                "landlock options" => {
                    "drop --allow-new-privs: Landlock is applied after no_new_privs".into()
                }
                _ => return None,
            }),
            SpecError::Policy(e) => e.hint().map(String::from),
            SpecError::Identity(e) => e.hint(),
        }
    }
}

fn invalid(what: &'static str, value: &str, why: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        what,
        value: value.to_string(),
        why: why.into(),
    }
}

/// An absolute, normal path (no `..`, no `.`), as a container destination must be.
pub fn clean_abs(p: &str) -> Result<PathBuf, SpecError> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return Err(invalid("path", p, "it is relative"));
    }
    for c in path.components() {
        if matches!(c, Component::ParentDir | Component::CurDir) {
            return Err(invalid("path", p, "it contains '.' or '..'"));
        }
    }
    Ok(path.components().collect())
}

/// `32m`, `1g`, `6291456`, `8192k` → bytes; at least `MIN_MEMORY_LIMIT`.
pub fn parse_size(s: &str) -> Result<u64, SpecError> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1u64 << 10),
        Some((i, 'm')) => (&t[..i], 1 << 20),
        Some((i, 'g')) => (&t[..i], 1 << 30),
        Some((i, 'b')) => (&t[..i], 1),
        _ => (&t[..], 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| invalid("memory size", s, "not a number"))?;
    n.checked_mul(mult)
        .filter(|v| *v >= MIN_MEMORY_LIMIT)
        .ok_or_else(|| {
            invalid(
                "memory size",
                s,
                format!("must be at least {}m", MIN_MEMORY_LIMIT >> 20),
            )
        })
}

const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// `nofile=1024:4096` (also `RLIMIT_NOFILE=…`; `unlimited` allowed).
pub fn parse_rlimit(s: &str) -> Result<Rlimit, SpecError> {
    let (name, vals) = s
        .split_once('=')
        .ok_or_else(|| invalid("rlimit", s, "expected NAME=SOFT[:HARD]"))?;
    let key = name.trim().to_ascii_lowercase();
    let key = key.strip_prefix("rlimit_").unwrap_or(&key);
    let resource = RLIMITS
        .iter()
        .find(|(n, _)| *n == key)
        .map(|(_, r)| *r as i32)
        .ok_or_else(|| invalid("rlimit", s, format!("unknown limit '{name}'")))?;
    let num = |v: &str| -> Result<u64, SpecError> {
        if v == "unlimited" || v == "-1" {
            Ok(libc::RLIM_INFINITY)
        } else {
            v.parse()
                .map_err(|_| invalid("rlimit", s, format!("'{v}' is not a number")))
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        return Err(invalid(
            "rlimit",
            s,
            "the soft limit is above the hard limit",
        ));
    }
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

/// The home directory of `uid` in an /etc/passwd text, if listed there.
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse() == Ok(uid) && f[5].starts_with('/')).then(|| f[5].to_string())
    })
}

/// Trees the sandbox mounts itself; no volume goes at or below them.
const RUNTIME_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

fn volume(spec: &str) -> Result<Mount, SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, "ro"),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(invalid("volume", spec, "expected SRC:DST[:ro|rw]")),
    };
    let readonly = match mode {
        "ro" => true,
        "rw" => false,
        m => {
            return Err(invalid(
                "volume",
                spec,
                format!("unknown mode '{m}' (ro or rw)"),
            ))
        }
    };
    if !Path::new(src).is_absolute() {
        return Err(invalid(
            "volume",
            spec,
            format!("source '{src}' is relative"),
        ));
    }
    let destination = clean_abs(dst).map_err(|_| {
        invalid(
            "volume",
            spec,
            format!("destination '{dst}' must be absolute, without '..'"),
        )
    })?;
    if destination == Path::new("/") {
        return Err(invalid("volume", spec, "cannot mount over the root"));
    }
    // The runtime mounts these itself (and masks parts of /proc and /sys): a volume there
    // would hide them from the runtime's own set-up, or unmask what is masked.
    if let Some(own) = RUNTIME_TREES
        .iter()
        .find(|t| destination.starts_with(Path::new(t)))
    {
        return Err(invalid(
            "volume destination",
            spec,
            format!("nucleus mounts {own} itself: no volume can go at or below it"),
        ));
    }
    Ok(Mount {
        kind: MountKind::Bind {
            source: PathBuf::from(src),
            recursive: true,
        },
        destination,
        readonly,
        nosuid: true,
        nodev: true,
        noexec: false,
        data: String::new(),
        label: None,
        attrs: Default::default(),
    })
}

/// Builds the container description of a sandbox run.
pub fn build(o: &SandboxOptions) -> Result<Config, SpecError> {
    if o.args.is_empty() || o.args[0].is_empty() {
        return Err(SpecError::NoCommand);
    }
    if let Some(i) = first_with_nul(&o.args) {
        return Err(SpecError::Nul(format!("argument {i}")));
    }
    if let Some(i) = first_with_nul(&o.env) {
        return Err(SpecError::Nul(format!("--env {i}")));
    }
    let docker = !o.cap_add.is_empty() || !o.cap_drop.is_empty();
    let isolator = !o.caps_retain.is_empty() || !o.caps_remove.is_empty();
    if docker && isolator {
        return Err(invalid(
            "capability options",
            "--cap-add/--cap-drop with --caps-retain/--caps-remove",
            "use one style: rkt's isolators or Docker's add/drop",
        ));
    }
    // --caps-policy: a policy file replaces the capability flags.
    if o.caps_policy.is_some() && (docker || isolator) {
        return Err(invalid(
            "capability options",
            "--caps-policy with --caps-retain/--caps-remove/--cap-add/--cap-drop",
            "the policy file says which capabilities to keep: give it alone",
        ));
    }
    let policy = if let Some((text, origin)) = &o.caps_policy {
        Policy::from_json(text, origin)?
    } else if docker {
        Policy::docker(&o.cap_add, &o.cap_drop)?
    } else {
        Policy::from_flags(&o.caps_retain, &o.caps_remove)?
    };
    let user = match &o.user {
        Some(u) => Identity::parse(u, &[])?,
        None => Identity {
            uid: 0,
            gid: 0,
            groups: vec![],
        },
    };
    let caps = policy.target(user.uid != 0)?;

    let mut env =
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    let home = if user.uid == 0 {
        "/root".to_string()
    } else {
        home_of(&o.passwd, user.uid).unwrap_or_else(|| format!("/home/{}", user.uid))
    };
    let home = clean_abs(&home).unwrap_or_else(|_| PathBuf::from("/tmp"));
    env.push(format!("HOME={}", home.display()));
    if let Some(t) = &o.term {
        env.push(format!("TERM={t}"));
    }
    for e in &o.env {
        match e.split_once('=') {
            Some((k, _)) if !k.is_empty() && !k.contains('\0') => {
                env.retain(|x| !x.starts_with(&format!("{k}=")));
                env.push(e.clone());
            }
            _ => return Err(invalid("env", e, "expected NAME=VALUE")),
        }
    }

    let mut mounts = vec![
        Mount::new(MountKind::Proc, "/proc").noexec(),
        // nodev: only the bind-mounted devices work (their binds keep the host's flags);
        // a node made with mknod inside cannot be opened.
        Mount::new(MountKind::Tmpfs { copy_up: false }, "/dev")
            .noexec()
            .data("mode=755,size=65536k"),
        // Not nodev: the ptys of its own devpts instance are the program's terminals.
        Mount {
            nodev: false,
            ..Mount::new(MountKind::Devpts, "/dev/pts")
                .noexec()
                .data(if o.rootless {
                    "newinstance,ptmxmode=0666,mode=0620"
                } else {
                    "newinstance,ptmxmode=0666,mode=0620,gid=5"
                })
        },
        Mount::new(MountKind::Tmpfs { copy_up: false }, "/dev/shm")
            .noexec()
            .data("mode=1777,size=65536k"),
        Mount::new(MountKind::Mqueue, "/dev/mqueue").noexec(),
        Mount::new(MountKind::Sysfs, "/sys").noexec().ro(),
        Mount::new(MountKind::Tmpfs { copy_up: false }, "/tmp").data("mode=1777"),
    ];
    let home_str = home.display().to_string();
    if home_str != "/tmp" {
        mounts.push(
            Mount::new(MountKind::Tmpfs { copy_up: false }, &home_str)
                .data(&format!("mode=700,uid={},gid={}", user.uid, user.gid)),
        );
    }
    for v in &o.volumes {
        mounts.push(volume(v)?);
    }
    if let Some(c) = &o.context {
        if !c.is_absolute() {
            return Err(invalid(
                "path",
                &c.display().to_string(),
                "--context needs an absolute path",
            ));
        }
        mounts
            .push(Mount::new(MountKind::CopyOf { source: c.clone() }, "/context").data("mode=755"));
    }

    let root = match &o.rootfs {
        None => RootFs::Embedded,
        Some(p) if p.is_absolute() => RootFs::Dir(p.clone()),
        Some(p) => {
            return Err(invalid(
                "path",
                &p.display().to_string(),
                "--rootfs needs an absolute path",
            ));
        }
    };

    let resources = Resources {
        memory: o.memory.as_deref().map(parse_size).transpose()?,
        pids: match o.pids {
            Some(0) => return Err(invalid("pids", "0", "must be at least 1")),
            p => p,
        },
        cpu_quota: o
            .cpus
            .as_deref()
            .map(|c| {
                let f: f64 = c.parse().map_err(|_| invalid("cpus", c, "not a number"))?;
                if !(f > 0.0 && f <= 1024.0) {
                    return Err(invalid("cpus", c, "must be above 0"));
                }
                Ok((f * 100_000.0).round() as u64)
            })
            .transpose()?,
        cpu_period: 100_000,
        ..Resources::default()
    };

    if resources.any() {
        // The program sees its own cgroup (its limits), read-only, where programs look.
        let after_sys = mounts
            .iter()
            .position(|m| m.kind == MountKind::Sysfs)
            .map_or(mounts.len(), |i| i + 1);
        mounts.insert(
            after_sys,
            Mount::new(MountKind::Cgroup, "/sys/fs/cgroup")
                .noexec()
                .ro(),
        );
    }

    let seccomp = match (o.seccomp.as_deref(), &o.seccomp_profile) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "seccomp",
                "--seccomp with --seccomp-profile",
                "give one of them",
            ));
        }
        (Some("unconfined"), None) => Seccomp::Unconfined,
        (Some("default"), None) | (None, None) => Seccomp::Default,
        (Some(other), None) => {
            return Err(invalid(
                "seccomp",
                other,
                "expected 'unconfined' or 'default' (or --seccomp-profile FILE)",
            ));
        }
        (None, Some(text)) => Seccomp::Oci(text.clone()),
    };

    let cwd = match &o.workdir {
        Some(w) => clean_abs(w)?,
        None => PathBuf::from("/"),
    };
    let id_maps = o.rootless.then(|| {
        (
            format!("{} {} 1\n", user.uid, o.host_ids.0),
            format!("{} {} 1\n", user.gid, o.host_ids.1),
        )
    });
    Ok(Config {
        root,
        readonly_root: o.read_only,
        mounts,
        masked_paths: MASKED_PATHS.iter().map(PathBuf::from).collect(),
        readonly_paths: READONLY_PATHS.iter().map(PathBuf::from).collect(),
        hostname: Some(o.hostname.clone().unwrap_or_else(|| "nucleus".into())),
        namespaces: Namespaces {
            mount: true,
            pid: true,
            uts: true,
            ipc: true,
            net: !o.network_host,
            cgroup: true,
            user: o.rootless,
        },
        args: o.args.clone(),
        env,
        cwd,
        user,
        caps,
        no_new_privs: !o.allow_new_privs,
        rlimits: o
            .rlimits
            .iter()
            .map(|r| parse_rlimit(r))
            .collect::<Result<_, _>>()?,
        seccomp,
        resources,
        cgroups_path: None,
        init: o.init,
        id_maps,
        join: vec![],
        sysctl: vec![],
        oom_score_adj: None,
        devices: Vec::new(),
        hooks: Default::default(),
        rootfs_propagation: None,
        terminal: false,
        console_size: None,
        preserve_fds: 0,
        landlock: landlock_of(o)?,
        umask: None,
        attrs: Default::default(),
    })
}

/// The Landlock domain the `--landlock-*` options ask for, None when none is given.
/// ro: read files and list directories; exec: that plus execute; rw: every filesystem right
/// but execute. Filesystem rights are handled when any path option is given, TCP bind or
/// connect when a port for it is.
fn landlock_of(o: &SandboxOptions) -> Result<Option<Landlock>, SpecError> {
    let ports = |list: &[u16], access: u64| {
        list.iter()
            .map(|&port| LandlockPort { port, access })
            .collect::<Vec<_>>()
    };
    let mut paths = Vec::new();
    for (list, access) in [
        (&o.landlock_ro, LANDLOCK_RO),
        (&o.landlock_rw, Landlock::rw()),
        (&o.landlock_exec, LANDLOCK_EXEC),
    ] {
        for p in list {
            let path = clean_abs(&p.to_string_lossy())?;
            paths.push(LandlockPath { path, access });
        }
    }
    let mut ll = Landlock {
        handled_fs: if paths.is_empty() {
            0
        } else {
            landlock_all(LANDLOCK_FS)
        },
        handled_net: 0,
        paths,
        ports: ports(&o.landlock_bind, 1),
        strict: o.landlock_strict,
    };
    ll.ports.extend(ports(&o.landlock_connect, 2));
    if !o.landlock_bind.is_empty() {
        ll.handled_net |= 1;
    }
    if !o.landlock_connect.is_empty() {
        ll.handled_net |= 2;
    }
    if ll.handled_fs == 0 && ll.handled_net == 0 {
        if o.landlock_strict {
            return Err(invalid(
                "landlock",
                "--landlock-strict",
                "there is no Landlock rule to enforce",
            ));
        }
        return Ok(None);
    }
    if o.allow_new_privs {
        return Err(invalid(
            "landlock options",
            "--allow-new-privs with --landlock-*",
            "Landlock needs no_new_privs: nucleus applies it after the capabilities are \
             dropped",
        ));
    }
    Ok(Some(ll))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> SandboxOptions {
        SandboxOptions {
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn landlock_flags_make_one_domain() {
        // No flag: no domain, nothing to do at run time.
        assert_eq!(build(&opts(&["sh"])).unwrap().landlock, None);
        let mut o = opts(&["sh"]);
        o.landlock_ro = vec!["/".into()];
        o.landlock_rw = vec!["/tmp/".into()];
        o.landlock_exec = vec!["/usr".into()];
        let ll = build(&o).unwrap().landlock.unwrap();
        assert_eq!(ll.handled_fs, landlock_all(LANDLOCK_FS));
        assert_eq!(ll.handled_net, 0);
        assert_eq!(ll.paths.len(), 3);
        assert_eq!(ll.paths[0].access, LANDLOCK_RO);
        assert_eq!(ll.paths[1].path, PathBuf::from("/tmp"));
        assert_eq!(
            landlock_names(LANDLOCK_FS, ll.paths[1].access),
            [
                "write_file",
                "read_file",
                "read_dir",
                "remove_dir",
                "remove_file",
                "make_char",
                "make_dir",
                "make_reg",
                "make_sock",
                "make_fifo",
                "make_block",
                "make_sym",
                "refer",
                "truncate",
                "ioctl_dev"
            ]
        );
        assert_eq!(
            landlock_names(LANDLOCK_FS, ll.paths[2].access),
            ["execute", "read_file", "read_dir"]
        );
        // Ports alone: only TCP is handled, the filesystem is left alone.
        let mut o = opts(&["sh"]);
        o.landlock_bind = vec![8080];
        let ll = build(&o).unwrap().landlock.unwrap();
        assert_eq!((ll.handled_fs, ll.handled_net), (0, 1));
        assert_eq!(
            ll.ports,
            [LandlockPort {
                port: 8080,
                access: 1
            }]
        );
        o.landlock_connect = vec![443];
        assert_eq!(build(&o).unwrap().landlock.unwrap().handled_net, 3);
    }

    #[test]
    fn landlock_bad_input_is_refused() {
        let mut o = opts(&["sh"]);
        o.landlock_ro = vec!["etc".into()];
        assert!(build(&o).unwrap_err().to_string().contains("relative"));
        o.landlock_ro = vec!["/etc/../root".into()];
        assert!(build(&o).is_err());
        let mut o = opts(&["sh"]);
        o.landlock_strict = true;
        let e = build(&o).unwrap_err();
        assert!(e.to_string().contains("no Landlock rule"), "{e}");
        assert!(e.hint().unwrap().contains("--landlock-ro"));
        let mut o = opts(&["sh"]);
        o.landlock_rw = vec!["/tmp".into()];
        o.allow_new_privs = true;
        let e = build(&o).unwrap_err();
        assert!(e.to_string().contains("needs no_new_privs"), "{e}");
        assert!(e.hint().unwrap().contains("drop --allow-new-privs"));
    }

    #[test]
    fn defaults_are_least_privilege() {
        let c = build(&opts(&["sh"])).unwrap();
        assert!(c.caps.bounding.is_empty() && c.caps.permitted.is_empty());
        assert!(c.no_new_privs);
        assert_eq!(c.seccomp, Seccomp::Default);
        assert_eq!(c.hostname.as_deref(), Some("nucleus"));
        assert!(c.namespaces.net && c.namespaces.pid && !c.namespaces.user);
        assert_eq!(c.root, RootFs::Embedded);
        assert!(c.env.iter().any(|e| e == "HOME=/root"));
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(matches!(build(&opts(&[])), Err(SpecError::NoCommand)));
        let mut o = opts(&["sh"]);
        o.volumes = vec!["rel/path:/x".into()];
        assert!(build(&o).is_err());
        o.volumes = vec!["/abs:rel".into()];
        assert!(build(&o).is_err());
        o.volumes = vec!["/abs:/x/../etc".into()];
        assert!(build(&o).is_err());
        o.volumes = vec!["/abs:/x:rx".into()];
        assert!(build(&o).is_err());
        o.volumes = vec!["/abs:/x:rw".into()];
        let c = build(&o).unwrap();
        assert!(!c.mounts.last().unwrap().readonly);
        let mut o = opts(&["sh"]);
        o.caps_retain = vec!["chown".into()];
        o.cap_drop = vec!["kill".into()];
        assert!(build(&o).is_err());
        let mut o = opts(&["sh"]);
        o.memory = Some("lots".into());
        assert!(build(&o).is_err());
        let mut o = opts(&["sh"]);
        o.rootfs = Some("relative/dir".into());
        assert!(build(&o).is_err());
        let mut o = opts(&["sh"]);
        o.seccomp = Some("strict".into());
        assert!(build(&o).is_err());
        let mut o = opts(&["sh"]);
        o.env = vec!["NOEQUALS".into()];
        assert!(build(&o).is_err());
    }

    #[test]
    fn volumes_cannot_cover_what_the_runtime_mounts() {
        for dst in [
            "/proc",
            "/proc/sys",
            "/sys",
            "/sys/fs/cgroup",
            "/dev",
            "/dev/shm",
        ] {
            let mut o = opts(&["true"]);
            o.volumes = vec![format!("/tmp:{dst}")];
            let e = build(&o).unwrap_err();
            assert!(e.to_string().contains("nucleus mounts /"), "{dst}: {e}");
            assert!(e.hint().unwrap().contains("elsewhere"), "{dst}");
        }
        // Only whole components count: /device and /system are ordinary destinations.
        for dst in ["/device", "/system", "/procs"] {
            let mut o = opts(&["true"]);
            o.volumes = vec![format!("/tmp:{dst}")];
            assert!(build(&o).is_ok(), "{dst}");
        }
    }

    #[test]
    fn nul_bytes_are_refused_by_position() {
        let mut o = opts(&["sh", "-c", "echo\0x"]);
        let e = build(&o).unwrap_err();
        assert_eq!(e.to_string(), "argument 2 contains a NUL byte");
        o.args = vec!["sh".into()];
        o.env = vec!["A=b".into(), "B=c\0d".into()];
        assert_eq!(
            build(&o).unwrap_err().to_string(),
            "--env 1 contains a NUL byte"
        );
    }

    #[test]
    fn memory_below_the_minimum_is_refused() {
        assert!(parse_size("5m").is_err());
        assert!(parse_size("1").is_err());
        assert_eq!(parse_size("6m").unwrap(), MIN_MEMORY_LIMIT);
        let e = parse_size("1m").unwrap_err();
        assert!(e.to_string().contains("at least 6m"), "{e}");
    }

    #[test]
    fn sizes_rlimits_and_users() {
        assert_eq!(parse_size("32m").unwrap(), 32 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert!(parse_size("100").is_err());
        let r = parse_rlimit("nofile=1024:4096").unwrap();
        assert_eq!(
            (r.resource, r.soft, r.hard),
            (libc::RLIMIT_NOFILE as i32, 1024, 4096)
        );
        assert_eq!(
            parse_rlimit("RLIMIT_CORE=unlimited").unwrap().hard,
            libc::RLIM_INFINITY
        );
        assert!(parse_rlimit("nofile=10:5").is_err());
        assert!(parse_rlimit("bogus=1").is_err());
        let mut o = opts(&["id"]);
        o.user = Some("1000".into());
        o.caps_retain = vec!["net_bind_service".into()];
        o.passwd = "root:x:0:0::/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n".into();
        let c = build(&o).unwrap();
        assert_eq!(c.caps.ambient.bits(), 0x400);
        // The same from a policy file (--caps-policy), which excludes the flags.
        o.caps_retain = vec![];
        o.caps_policy = Some((r#"{"retain":["net_bind_service"]}"#.into(), "p.json".into()));
        assert_eq!(build(&o).unwrap().caps.ambient.bits(), 0x400);
        o.cap_drop = vec!["ALL".into()];
        assert!(build(&o).is_err());
        o.cap_drop = vec![];
        o.caps_policy = Some((r#"{"retain":["nonsense"]}"#.into(), "p.json".into()));
        assert!(build(&o).unwrap_err().to_string().contains("p.json"));
        assert!(c.env.iter().any(|e| e == "HOME=/home/u"));
        let mut o = opts(&["id"]);
        o.cpus = Some("0.5".into());
        assert_eq!(build(&o).unwrap().resources.cpu_quota, Some(50_000));
    }
}
