//! cgroups v1 and v2: create a cgroup with limits, put a process in it, remove it.
//!
//! v2 when /sys/fs/cgroup is a cgroup2 mount; otherwise v1 (including the hybrid layout,
//! whose v2 part at /sys/fs/cgroup/unified holds no memory/pids/cpu controllers). The mount
//! point is a parameter so that tests can run the writes against a directory laid out like
//! cgroupfs.

use crate::spec::config::Resources;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {why}")]
    Io { path: PathBuf, why: String },
    #[error("cgroup controller '{0}' is not available here")]
    Missing(&'static str),
    /// A setting that cannot be applied, by its OCI field.
    #[error("{field}: {why}")]
    Field { field: String, why: String },
    /// A setting refused before anything was written.
    #[error("{0}")]
    Refused(String),
    /// A limit needs a controller the host's hierarchy does not offer.
    #[error("{field}: this host's cgroup v2 hierarchy has no {controller} controller ({why})")]
    NoController {
        field: String,
        controller: String,
        why: String,
        fix: String,
    },
    /// A hugepageLimits entry for a page size this host does not have.
    #[error("{field}: this host has no {size} huge pages (no hugetlb.{size}.* in the cgroup); page sizes here: {sizes}")]
    PageSize {
        field: String,
        size: String,
        sizes: String,
    },
    /// v2: this user may not make a cgroup where the container's goes (no delegation).
    #[error("{0}")]
    NotDelegated(String),
    /// The kernel refused to hand controllers down to a cgroup's children.
    #[error("cannot enable the {controllers} cgroup controller for the cgroups below {}: {why}", dir.display())]
    Enable {
        controllers: String,
        dir: PathBuf,
        why: String,
        fix: String,
        denied: bool,
    },
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Io { why, .. } if why.contains("ermission") || why.contains("Read-only") => Some(
                "resource limits need root (or a delegated cgroup); drop --memory/--pids/--cpus to run rootless".into(),
            ),
            Error::NoController { fix, .. } | Error::Enable { fix, .. } => Some(fix.clone()),
            Error::NotDelegated(_) => Some(
                "run as root, or in a cgroup delegated to you (systemd-run --user --scope -p \
                 Delegate=yes …); or drop the limits to run without a cgroup"
                    .into(),
            ),
            Error::PageSize { field, .. } => Some(format!(
                "drop the {field} entry for that size, or use one of the sizes listed"
            )),
            _ => None,
        }
    }
}

impl Error {
    /// Whether the kernel refused the write for want of rights (EACCES, EPERM, EROFS): what a
    /// rootless runtime meets on cgroups nobody delegated to it.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            Error::Enable { denied: true, .. } | Error::NotDelegated(_)
        ) || matches!(self, Error::Io { why, .. } if why.contains("ermission denied")
            || why.contains("Operation not permitted")
            || why.contains("Read-only file system"))
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        why: e.to_string(),
    }
}

fn write(path: &Path, value: &str) -> Result<(), Error> {
    std::fs::write(path, value).map_err(|e| io(path, e))
}

pub use crate::spec::resources::Version;

/// statfs f_type of cgroup v1 and cgroup2 filesystems.
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// Which hierarchy `mountpoint` (normally /sys/fs/cgroup) is.
pub fn detect(mountpoint: &Path) -> Version {
    match nix::sys::statfs::statfs(mountpoint) {
        Ok(s) if s.filesystem_type().0 == CGROUP2_SUPER_MAGIC => Version::V2,
        _ => Version::V1,
    }
}

/// Where the host's cgroup hierarchies are mounted.
pub const MOUNTPOINT: &str = "/sys/fs/cgroup";

/// Checks that `dir`, read from a state file, names a cgroup directory nucleus may touch:
/// absolute, below /sys/fs/cgroup, no `.`/`..`, not a hierarchy's root, and on a cgroup
/// filesystem (v1 or v2). State files are data, never trusted to name host paths.
pub fn check_recorded(dir: &Path) -> Result<(), Error> {
    use std::path::Component;
    let bad = |why: &str| Error::Io {
        path: dir.to_path_buf(),
        why: format!("refusing to use a recorded cgroup: {why}"),
    };
    let Ok(rest) = dir.strip_prefix(MOUNTPOINT) else {
        return Err(bad("it is not below /sys/fs/cgroup"));
    };
    if rest
        .components()
        .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(bad("it contains '.' or '..'"));
    }
    // v1: /sys/fs/cgroup/<controller>/<cgroup…>; v2: /sys/fs/cgroup/<cgroup…>. Either way
    // a hierarchy's root is never a container's own cgroup.
    let depth = rest.components().count();
    if depth == 0 || (depth == 1 && detect(Path::new(MOUNTPOINT)) == Version::V1) {
        return Err(bad("it is a hierarchy's root"));
    }
    match nix::sys::statfs::statfs(dir) {
        Ok(s) if [CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC].contains(&s.filesystem_type().0) => {
            Ok(())
        }
        Ok(_) => Err(bad("it is not on a cgroup filesystem")),
        Err(e) => Err(Error::Io {
            path: dir.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

/// Removes the cgroup directories a state file recorded (`made`: what create made, in
/// creation order; `leaves`: the container's leaves), deepest first, with rmdir only: the
/// kernel refuses a cgroup that still has processes or children, and nothing that is not a
/// checked cgroup directory is touched. Directories already gone are fine.
pub fn remove_recorded(leaves: &[PathBuf], made: &[PathBuf]) -> Result<(), Error> {
    let mut first_err = None;
    for d in made.iter().rev() {
        if !d.exists() {
            continue;
        }
        if let Err(e) = check_recorded(d) {
            first_err.get_or_insert(e);
            continue;
        }
        let tries = if leaves.contains(d) { 200 } else { 1 };
        for i in 0..tries {
            match nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                d.as_path(),
                nix::unistd::UnlinkatFlags::RemoveDir,
            ) {
                Ok(()) | Err(nix::errno::Errno::ENOENT) => break,
                // A leaf whose last process is still exiting: retry for up to a second.
                Err(nix::errno::Errno::EBUSY) if i + 1 < tries => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                // A parent that holds other cgroups stays.
                Err(nix::errno::Errno::EBUSY | nix::errno::Errno::ENOTEMPTY)
                    if !leaves.contains(d) =>
                {
                    break
                }
                Err(e) => {
                    first_err.get_or_insert(Error::Io {
                        path: d.clone(),
                        why: format!("rmdir: {e}"),
                    });
                    break;
                }
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Removes the empty cgroups named `prefix…` directly below the hierarchy roots that `r`
/// uses and older than `min_age` (one-shot runs that were killed before they could remove
/// theirs; a live run joins its cgroup milliseconds after making it). rmdir only: the
/// kernel refuses a cgroup that holds a process or a child. Best effort by design: a
/// cgroup that cannot be removed now is tried again by the next run.
pub fn sweep_stale(
    mountpoint: &Path,
    version: &Version,
    r: &Resources,
    prefix: &str,
    min_age: std::time::Duration,
) {
    let roots: Vec<PathBuf> = match version {
        Version::V1 => r.controllers().iter().map(|c| mountpoint.join(c)).collect(),
        Version::V2 => vec![mountpoint.to_path_buf()],
    };
    for root in roots {
        let Ok(rd) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in rd.flatten() {
            let stale = e.file_name().to_string_lossy().starts_with(prefix)
                && e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= min_age));
            if stale {
                // Ignored: EBUSY/ENOTEMPTY mean it is in use, which is the answer we want.
                let _ = nix::unistd::unlinkat(
                    nix::fcntl::AT_FDCWD,
                    &e.path(),
                    nix::unistd::UnlinkatFlags::RemoveDir,
                );
            }
        }
    }
}

/// Every process in the cgroups `leaves` and in the cgroups below them, sorted (v1: the
/// union over the hierarchies). The container's processes are found here, never through
/// a namespace: a container may share the host's PID namespace.
pub fn procs(leaves: &[PathBuf]) -> Result<Vec<i32>, Error> {
    // A cgroup removed meanwhile (ENOENT) or being removed (ENODEV: its files are already
    // deactivated, e.g. systemd tearing down an ended unit) holds no process: the kernel
    // removes only empty cgroups.
    let gone = |e: &std::io::Error| matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV));
    fn walk(
        dir: &Path,
        out: &mut Vec<i32>,
        gone: &dyn Fn(&std::io::Error) -> bool,
    ) -> Result<(), Error> {
        let f = dir.join("cgroup.procs");
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(io(&f, e)),
        };
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        let entries = match std::fs::read_dir(dir) {
            Ok(it) => it,
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(io(dir, e)),
        };
        for e in entries {
            let e = e.map_err(|e| io(dir, e))?;
            if e.file_type().map_err(|er| io(&e.path(), er))?.is_dir() {
                walk(&e.path(), out, gone)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    // A leaf that no longer exists (e.g. a systemd unit's, removed with the unit) is empty.
    for d in leaves.iter().filter(|d| d.exists()) {
        check_recorded(d)?;
        walk(d, &mut out, &gone)?;
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Sends `sig` to every process of the cgroups `leaves` (see `procs`). The cgroup is
/// frozen meanwhile when it has a freezer, so that no process forks past the signal; on
/// v2 SIGKILL goes through cgroup.kill, which the kernel applies atomically.
pub fn signal_all(leaves: &[PathBuf], sig: nix::sys::signal::Signal) -> Result<(), Error> {
    use nix::sys::signal::Signal;
    // A leaf that no longer exists holds no process (see `procs`).
    let leaves: Vec<PathBuf> = leaves.iter().filter(|d| d.exists()).cloned().collect();
    let leaves = &leaves[..];
    if leaves.is_empty() {
        return Ok(());
    }
    for d in leaves {
        check_recorded(d)?;
    }
    let v2_kill: Vec<&PathBuf> = leaves
        .iter()
        .filter(|d| d.join("cgroup.kill").exists())
        .collect();
    if sig == Signal::SIGKILL && !v2_kill.is_empty() {
        for d in v2_kill {
            let f = d.join("cgroup.kill");
            match std::fs::write(&f, "1") {
                Ok(()) => {}
                // Removed or being removed meanwhile: the kernel removes only empty
                // cgroups, so nothing is left in it to kill.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENODEV)) => {}
                Err(e) => return Err(io(&f, e)),
            }
        }
        return Ok(());
    }
    // Held still so that no process forks past the signal (a cgroup without a freezer is
    // signalled as it is). SIGKILL must reach paused processes too: a v1 freezer holds it
    // back until thawed, so they are thawed after; other signals leave a paused container
    // paused. SIGCONT needs no freeze.
    let hold = if sig == Signal::SIGCONT {
        None
    } else {
        Frozen::hold(leaves, sig == Signal::SIGKILL).ok()
    };
    let result = (|| {
        for pid in procs(leaves)? {
            match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(e) => {
                    return Err(Error::Io {
                        path: leaves[0].clone(),
                        why: format!("kill({pid}, {sig}): {e}"),
                    })
                }
            }
        }
        Ok(())
    })();
    let released = hold.map_or(Ok(()), Frozen::release);
    result.and(released)
}

/// Where a cgroup goes in each hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A path below the hierarchy's root (`a/b`).
    Root(String),
    /// A path below the cgroup this process is in (per v1 controller).
    Own(String),
}

/// A cgroup this process created or joined: one leaf per v1 controller, or one v2 leaf.
/// `made` lists the directories it created (leaves and missing parents, in order): only
/// those are removed.
#[derive(Debug, Default)]
pub struct Cgroup {
    pub dirs: Vec<PathBuf>,
    pub made: Vec<PathBuf>,
    /// Settings skipped because this host cannot apply them (kernel defaults only).
    pub warnings: Vec<String>,
    /// Made on a pure cgroup v2 host (one cgroup2 leaf): a process can be born in it.
    v2: bool,
}

/// What creating a cgroup will use and make (plain data: dropping it removes nothing).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The leaves, one per v1 controller or the v2 one.
    pub dirs: Vec<PathBuf>,
    /// The directories that do not exist yet and will be made, parents first.
    pub made: Vec<PathBuf>,
}

/// This process's cgroup in the hierarchy of `controller` (None: the v2 one), relative.
fn own_cgroup(controller: Option<&str>) -> Result<PathBuf, Error> {
    let p = Path::new("/proc/self/cgroup");
    let text = std::fs::read_to_string(p).map_err(|e| io(p, e))?;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, ctrls, path) = (f.next(), f.next().unwrap_or(""), f.next().unwrap_or(""));
        let hit = match controller {
            None => ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        if hit {
            return Ok(PathBuf::from(path.trim_start_matches('/')));
        }
    }
    Err(Error::Field {
        field: controller.unwrap_or("cgroup2").to_string(),
        why: "this process is in no cgroup of that hierarchy (/proc/self/cgroup)".into(),
    })
}

fn relative(place: &Place, controller: Option<&str>) -> Result<PathBuf, Error> {
    Ok(match place {
        Place::Root(p) => PathBuf::from(p.trim_start_matches('/')),
        Place::Own(p) => own_cgroup(controller)?.join(p),
    })
}

impl Cgroup {
    /// Creates cgroup `name` (below the hierarchy's root) under `mountpoint` with the
    /// limits of `r`. On failure nothing created is left behind.
    pub fn create(
        mountpoint: &Path,
        version: &Version,
        name: &str,
        r: &Resources,
    ) -> Result<Cgroup, Error> {
        Cgroup::create_at(mountpoint, version, &Place::Root(name.to_string()), r)
    }

    /// Creates (or joins) the cgroup at `place`, creating missing parents, with the limits
    /// of `r`. On failure nothing created is left behind.
    pub fn create_at(
        mountpoint: &Path,
        version: &Version,
        place: &Place,
        r: &Resources,
    ) -> Result<Cgroup, Error> {
        Cgroup::create_recorded(mountpoint, version, place, r, &mut |_| Ok(()))
    }

    /// As `create_at`, but first hands `record` the plan (the leaves, and every directory
    /// that does not exist yet and will be made, parents first), so that a caller can
    /// write it down before anything exists: whatever is made can then be found and
    /// removed even if this process is killed half-way.
    pub fn create_recorded(
        mountpoint: &Path,
        version: &Version,
        place: &Place,
        r: &Resources,
        record: &mut dyn FnMut(&Plan) -> Result<(), Error>,
    ) -> Result<Cgroup, Error> {
        let res = resolve(mountpoint, version, r, None)?;
        let plan = Cgroup::plan_for(mountpoint, version, place, &res.controllers)?;
        record(&plan)?;
        let mut cg = Cgroup::default();
        cg.warnings.clone_from(&res.warnings);
        let made = match version {
            Version::V1 => cg.create_v1(mountpoint, place, r, &res),
            Version::V2 => cg.create_v2(mountpoint, place, r, &res),
        };
        if let Err(e) = made {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    /// What `create_at` would use and make, without making anything: `dirs` the leaves,
    /// `made` the directories missing today, parents first.
    pub fn plan(
        mountpoint: &Path,
        version: &Version,
        place: &Place,
        r: &Resources,
    ) -> Result<Plan, Error> {
        let res = resolve(mountpoint, version, r, None)?;
        Cgroup::plan_for(mountpoint, version, place, &res.controllers)
    }

    fn plan_for(
        mountpoint: &Path,
        version: &Version,
        place: &Place,
        controllers: &[String],
    ) -> Result<Plan, Error> {
        let mut plan = Plan::default();
        let mut add = |base: &Path, rel: &Path| {
            let mut dir = base.to_path_buf();
            for c in rel.components() {
                dir.push(c);
                if !dir.exists() && !plan.made.contains(&dir) {
                    plan.made.push(dir.clone());
                }
            }
            plan.dirs.push(dir);
        };
        match version {
            Version::V1 => {
                for ctrl in controllers {
                    add(
                        &mountpoint.join(ctrl),
                        &relative(place, Some(ctrl.as_str()))?,
                    );
                }
            }
            Version::V2 => add(mountpoint, &relative(place, None)?),
        }
        Ok(plan)
    }

    /// Makes `base/rel` and any missing parent; `each` runs on every directory on the way
    /// below `base` (existing or new), parents first, with whether it was just made.
    fn mkdirs(
        &mut self,
        base: &Path,
        rel: &Path,
        mut each: impl FnMut(&Path, bool) -> Result<(), Error>,
    ) -> Result<PathBuf, Error> {
        let mut dir = base.to_path_buf();
        for c in rel.components() {
            dir.push(c);
            let made = match std::fs::create_dir(&dir) {
                Ok(()) => {
                    self.made.push(dir.clone());
                    true
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(e) => return Err(io(&dir, e)),
            };
            each(&dir, made)?;
        }
        if dir == base {
            return Err(Error::Io {
                path: dir,
                why: "is the hierarchy's root, not a cgroup of its own".into(),
            });
        }
        self.dirs.push(dir.clone());
        Ok(dir)
    }

    fn create_v1(
        &mut self,
        mp: &Path,
        place: &Place,
        r: &Resources,
        res: &Resolved,
    ) -> Result<(), Error> {
        for ctrl in &res.controllers {
            let base = mp.join(ctrl);
            let rel = relative(place, Some(ctrl.as_str()))?;
            let leaf = base.join(&rel);
            let dir = self.mkdirs(&base, &rel, |d, made| {
                // Real-time time is handed down: a parent nucleus makes here gets what its
                // child asks for (a parent that existed before is left to its owner).
                if let (true, "cpu", Some(rt)) =
                    (made && d != leaf, ctrl.as_str(), r.cpu_rt_runtime)
                {
                    if rt > 0 {
                        write(&d.join("cpu.rt_runtime_us"), &rt.to_string())?;
                    }
                }
                // A new cpuset is empty and takes no task: start from the parent's sets.
                if ctrl == "cpuset" && made {
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let parent = d.parent().unwrap_or(d).join(f);
                        let v = std::fs::read_to_string(&parent).map_err(|e| io(&parent, e))?;
                        write(&d.join(f), v.trim())?;
                    }
                }
                Ok(())
            })?;
            if ctrl == "devices" {
                for (allow, rule) in &r.devices {
                    let f = if *allow {
                        "devices.allow"
                    } else {
                        "devices.deny"
                    };
                    write(&dir.join(f), rule)?;
                }
            }
        }
        self.warnings
            .extend(apply(mp, &Version::V1, &self.dirs, &res.writes, false)?);
        Ok(())
    }

    fn create_v2(
        &mut self,
        mp: &Path,
        place: &Place,
        r: &Resources,
        res: &Resolved,
    ) -> Result<(), Error> {
        // v2 freezes any cgroup through cgroup.freeze: no controller to enable. Device
        // rules on v2 are an eBPF program attached to the leaf (attach_device_filter).
        let enable: Vec<String> = res.controllers.iter().map(|c| format!("+{c}")).collect();
        let enable = enable.join(" ");
        // Each level above the leaf delegates the controllers to the next.
        let mut above = mp.to_path_buf();
        let rel = relative(place, None)?;
        let made = self.mkdirs(mp, &rel, |d, _| {
            if !enable.is_empty() {
                let f = above.join("cgroup.subtree_control");
                if let Err(e) = std::fs::write(&f, &enable) {
                    return Err(enable_error(&above, &res.controllers, e));
                }
            }
            above = d.to_path_buf();
            Ok(())
        });
        if let Err(e) = made {
            return Err(not_delegated(e, &res.controllers));
        }
        self.warnings
            .extend(apply(mp, &Version::V2, &self.dirs, &res.writes, false)?);
        attach_device_filter(&self.dirs, &r.devices)?;
        self.v2 = true;
        Ok(())
    }

    /// A cgroup someone else made and owns (a systemd unit's): nucleus writes limits in it
    /// but never removes it.
    pub fn adopted(leaf: PathBuf) -> Cgroup {
        Cgroup {
            dirs: vec![leaf],
            made: vec![],
            warnings: vec![],
            v2: false,
        }
    }

    /// Keeps the cgroup past this value (a created container owns it): returns its leaves
    /// and the directories it made, which are then no longer removed on drop.
    pub fn keep(mut self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        (
            std::mem::take(&mut self.dirs),
            std::mem::take(&mut self.made),
        )
    }

    /// The v2 leaf as a descriptor to be born in (clone3 CLONE_INTO_CGROUP), when this
    /// cgroup is one cgroup2 directory; None on v1 and hybrid hosts, which need
    /// cgroup.procs writes (`add`).
    pub fn birth_dir(&self) -> Option<std::os::fd::OwnedFd> {
        let [leaf] = self.dirs.as_slice() else {
            return None;
        };
        if !self.v2 {
            return None;
        }
        // Not there (a test tree, or removed meanwhile): cgroup.procs says why.
        nix::fcntl::open(
            leaf.as_path(),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), Error> {
        for d in &self.dirs {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Removes the directories this cgroup made, deepest first. The kernel refuses a leaf
    /// while a process is still inside (it may be exiting): retry for up to a second. A
    /// parent may hold other cgroups: one try.
    pub fn remove(&mut self) {
        let leaves = std::mem::take(&mut self.dirs);
        for d in self.made.drain(..).rev() {
            let tries = if leaves.contains(&d) { 200 } else { 1 };
            for _ in 0..tries {
                match std::fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    // A directory made in a test tree (not cgroupfs) holds plain files.
                    Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
                        let plain = std::fs::read_dir(&d)
                            .is_ok_and(|mut r| r.all(|e| e.is_ok_and(|e| e.path().is_file())));
                        if plain {
                            // Ignored: a test tree that cannot be removed is its test's
                            // failure to see; this path never runs on cgroupfs.
                            let _ = std::fs::remove_dir_all(&d);
                        }
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// The writes for some resources on this host: the translation (spec::resources) minus
/// what the host lacks but which is the kernel's default anyway (a warning), and the
/// controllers they need (v1: plus the freezer and devices hierarchies).
pub struct Resolved {
    pub writes: Vec<crate::spec::resources::Write>,
    pub controllers: Vec<String>,
    pub warnings: Vec<String>,
}

/// Translates `r` for `version` at `mp` and drops the settings whose controller the host
/// does not have: kernel defaults with a warning, anything else is an error naming the
/// field. `cur_memory`: the v1 memory limit in force (None for a new cgroup).
pub fn resolve(
    mp: &Path,
    version: &Version,
    r: &Resources,
    cur_memory: Option<u64>,
) -> Result<Resolved, Error> {
    use crate::spec::resources;
    let (ws, mut warnings) = resources::writes(r, version, cur_memory).map_err(Error::Refused)?;
    let v2_available = match version {
        Version::V1 => String::new(),
        Version::V2 => {
            let f = mp.join("cgroup.controllers");
            std::fs::read_to_string(&f).map_err(|e| io(&f, e))?
        }
    };
    let available = |c: &str| match version {
        Version::V1 => mp.join(c).join("cgroup.procs").exists(),
        Version::V2 => c == "cgroup" || v2_available.split_whitespace().any(|a| a == c),
    };
    let mut writes = Vec::new();
    for w in ws {
        if available(&w.controller) {
            writes.push(w);
        } else if w.optional {
        } else if w.default {
            warnings.push(format!(
                "{} is ignored: this host has no {} controller (the value is the kernel's \
                 default)",
                w.field, w.controller
            ));
        } else if *version == Version::V2 {
            return Err(no_v2_controller(mp, &w.controller, w.field));
        } else {
            return Err(Error::Field {
                why: format!(
                    "this host has no {} cgroup controller {}",
                    w.controller,
                    match version {
                        Version::V1 => format!(
                            "(nothing is mounted at {})",
                            mp.join(&w.controller).display()
                        ),
                        Version::V2 => format!("(not in {}/cgroup.controllers)", mp.display()),
                    }
                ),
                field: w.field,
            });
        }
    }
    let mut controllers = resources::controllers(&writes);
    if *version == Version::V1 {
        for (c, wanted) in [("freezer", r.freezer), ("devices", !r.devices.is_empty())] {
            if wanted {
                if !available(c) {
                    return Err(Error::Missing(c));
                }
                controllers.push(c.to_string());
            }
        }
        if r.every_hierarchy {
            add_every_hierarchy(mp, &mut controllers, &available);
        }
    }
    Ok(Resolved {
        writes,
        controllers,
        warnings,
    })
}

/// Adds to `controllers` each hierarchy of `EVERY_V1_HIERARCHY` the host has and that is
/// not there yet, once per hierarchy: co-mounted controllers (`cpu,cpuacct`, reached as
/// `cpu` and `cpuacct`) are one hierarchy, named by the first one listed.
fn add_every_hierarchy(mp: &Path, controllers: &mut Vec<String>, available: &dyn Fn(&str) -> bool) {
    use std::os::unix::fs::MetadataExt;
    let dev = |c: &str| std::fs::metadata(mp.join(c)).map(|m| m.dev()).ok();
    let mut seen: Vec<u64> = controllers.iter().filter_map(|c| dev(c)).collect();
    for c in crate::spec::config::EVERY_V1_HIERARCHY {
        if controllers.iter().any(|x| x == c) || !available(c) {
            continue;
        }
        match dev(c) {
            Some(d) if seen.contains(&d) => {}
            d => {
                seen.extend(d);
                controllers.push(c.to_string());
            }
        }
    }
}

/// Writes `writes` into the cgroup `leaves` (v1: the leaf of each write's hierarchy; v2:
/// the one leaf). A file the kernel does not offer is skipped when it is implied (silently)
/// or the kernel's default (with a warning, returned), else an error naming the field.
/// With `restore`, the value each write replaces is read first, and a failure writes the
/// earlier values back (last first) and says whether that worked.
pub fn apply(
    mp: &Path,
    version: &Version,
    leaves: &[PathBuf],
    writes: &[crate::spec::resources::Write],
    restore: bool,
) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    let mut done: Vec<(PathBuf, String)> = Vec::new();
    for w in writes {
        let (path, value) = match write_target(mp, version, leaves, w, &mut warnings) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => return Err(undo_writes(&mut done, e, restore)),
        };
        let old = if restore {
            std::fs::read_to_string(&path)
                .ok()
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty() && !o.contains('\n'))
        } else {
            None
        };
        if let Err(er) = std::fs::write(&path, &value) {
            let mut why = format!("writing '{value}' to {}: {er}", path.display());
            if w.file == "cpu.rt_runtime_us" && er.raw_os_error() == Some(libc::EINVAL) {
                why.push_str(
                    " (the parent cgroup leaves less real-time time per period than this: \
                     raise the parent's cpu.rt_runtime_us first, or ask for less)",
                );
            }
            let e = Error::Field {
                field: w.field.clone(),
                why,
            };
            return Err(undo_writes(&mut done, e, restore));
        }
        if let Some(o) = old {
            done.push((path, o));
        }
    }
    Ok(warnings)
}

/// The file and value one write goes to: its own leaf (v1: of its hierarchy), the
/// alternative file when the kernel lacks the first; None when the kernel lacks both and
/// the write is implied or the kernel's default (then with a warning); else why not.
fn write_target(
    mp: &Path,
    version: &Version,
    leaves: &[PathBuf],
    w: &crate::spec::resources::Write,
    warnings: &mut Vec<String>,
) -> Result<Option<(PathBuf, String)>, Error> {
    let dir = match version {
        Version::V1 => {
            let base = mp.join(&w.controller);
            leaves.iter().find(|d| d.starts_with(&base))
        }
        Version::V2 => leaves.first(),
    };
    let Some(dir) = dir else {
        return Err(Error::Field {
            field: w.field.clone(),
            why: format!(
                "the container has no {} cgroup: nucleus makes one per hierarchy only for \
                 the limits set at create",
                w.controller
            ),
        });
    };
    let (mut path, mut value) = (dir.join(&w.file), w.value.as_str());
    // A directory laid out like cgroupfs (tests) has no kernel files: writes make them.
    let kernel = nix::sys::statfs::statfs(dir.as_path())
        .is_ok_and(|s| [CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC].contains(&s.filesystem_type().0));
    if !kernel {
        return Ok(Some((path, value.to_string())));
    }
    if !path.exists() {
        if let Some((f, v)) = &w.alt {
            if dir.join(f).exists() {
                (path, value) = (dir.join(f), v.as_str());
            }
        }
    }
    if path.exists() {
        return Ok(Some((path, value.to_string())));
    }
    if w.optional {
        return Ok(None);
    }
    if w.default {
        warnings.push(format!(
            "{} is ignored: this kernel has no {} (the value is the kernel's default)",
            w.field, w.file
        ));
        return Ok(None);
    }
    Err(match w.controller.as_str() {
        "hugetlb" => no_page_size(dir, &w.field, &w.file),
        _ => Error::Field {
            field: w.field.clone(),
            why: format!(
                "this kernel has no {} in the {} cgroup (the feature is not built in or not \
                 enabled on this host)",
                w.file, w.controller
            ),
        },
    })
}

/// With `restore`, writes the values `done` replaced back (last first) and says in `e`
/// whether that worked.
fn undo_writes(done: &mut Vec<(PathBuf, String)>, e: Error, restore: bool) -> Error {
    if !restore {
        return e;
    }
    let mut failed = Vec::new();
    for (path, old) in done.drain(..).rev() {
        if let Err(er) = std::fs::write(&path, &old) {
            failed.push(format!("{} ({er})", path.display()));
        }
    }
    let note = if failed.is_empty() {
        "; nothing was changed (the values written before it were restored)".to_string()
    } else {
        format!(
            "; restoring the previous values failed for {}",
            failed.join(", ")
        )
    };
    match e {
        Error::Field { field, why } => Error::Field {
            field,
            why: why + &note,
        },
        other => Error::Refused(format!("{other}{note}")),
    }
}

// ---- Bad input on a host that cannot apply a limit: say which controller, and the fix ----

/// The error for a limit (`field`) whose `controller` is not in the v2 root's
/// cgroup.controllers, with why (read only now, on the error path): bound to a v1
/// hierarchy, disabled at boot, or not built into the kernel.
fn no_v2_controller(mp: &Path, controller: &str, field: String) -> Error {
    let v1_mount = std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[2] == "cgroup" && f[3].split(',').any(|o| o == controller))
                .then(|| f[1].to_string())
        });
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let disabled = cmdline.split_whitespace().any(|a| {
        a.strip_prefix("cgroup_disable=")
            .is_some_and(|v| v.split(',').any(|c| c == controller))
    });
    let known = std::fs::read_to_string("/proc/cgroups")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(controller));
    let (why, fix) = if let Some(m) = v1_mount {
        (
            format!("it is bound to the cgroup v1 hierarchy mounted at {m}"),
            format!(
                "unmount that v1 hierarchy (umount {m}) so that cgroup v2 gets the {controller} \
                 controller back, or drop {field}"
            ),
        )
    } else if disabled {
        (
            format!("the kernel command line has cgroup_disable={controller}"),
            format!("boot without cgroup_disable={controller}, or drop {field}"),
        )
    } else if !known {
        (
            "this kernel is built without it (not in /proc/cgroups)".to_string(),
            format!("use a kernel with the {controller} controller, or drop {field}"),
        )
    } else {
        (
            format!("not in {}/cgroup.controllers", mp.display()),
            format!(
                "make the {controller} controller available to cgroup v2 (it may be bound to \
                 a v1 hierarchy elsewhere), or drop {field}"
            ),
        )
    };
    Error::NoController {
        field,
        controller: controller.to_string(),
        why,
        fix,
    }
}

/// v2: a cgroup directory this user may not make (mkdir refused) becomes an error naming
/// the controllers the limits needed and where; any other error is returned as it is.
fn not_delegated(e: Error, controllers: &[String]) -> Error {
    match &e {
        Error::Io { path, why } if e.is_denied() => {
            let parent = path.parent().unwrap_or(path);
            let what = if controllers.is_empty() {
                String::new()
            } else {
                format!(" for the {} controller", controllers.join(", "))
            };
            Error::NotDelegated(format!(
                "cannot make the container's cgroup {}{what}: {} is not delegated to this \
                 user ({why})",
                path.display(),
                parent.display()
            ))
        }
        _ => e,
    }
}

/// The error for a failed write of `+controller…` to `dir`/cgroup.subtree_control, naming
/// the controllers concerned (read only now, on the error path) and the fix.
fn enable_error(dir: &Path, controllers: &[String], e: std::io::Error) -> Error {
    let read_set = |f: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    let (offered, enabled) = (
        read_set("cgroup.controllers"),
        read_set("cgroup.subtree_control"),
    );
    let pending: Vec<&String> = controllers
        .iter()
        .filter(|c| !enabled.contains(c))
        .collect();
    let unoffered: Vec<&String> = pending
        .iter()
        .copied()
        .filter(|c| !offered.contains(c))
        .collect();
    let names = |v: &[&String]| v.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
    let errno = e.raw_os_error().unwrap_or(0);
    let (list, why, fix, denied) = if errno == libc::ENOENT && !unoffered.is_empty() {
        (
            names(&unoffered),
            format!(
                "{} does not offer it (not in its cgroup.controllers): its parent did not \
                 delegate it",
                dir.display()
            ),
            format!(
                "enable it in the cgroup.subtree_control of every cgroup above {} (systemd: \
                 Delegate=yes on the unit), or drop the limit",
                dir.display()
            ),
            false,
        )
    } else if errno == libc::EBUSY {
        (
            names(&pending),
            format!(
                "{} holds processes of its own, and cgroup v2 hands controllers down only \
                 from a cgroup without processes (the no-internal-processes rule)",
                dir.display()
            ),
            format!(
                "put the container in a cgroup whose parent holds no processes (cgroupsPath), \
                 or move the processes in {} into a child cgroup first",
                dir.display()
            ),
            false,
        )
    } else if matches!(errno, libc::EACCES | libc::EPERM | libc::EROFS) {
        (
            names(&pending),
            format!("{} is not delegated to this user ({e})", dir.display()),
            "run as root, or in a cgroup delegated to you (systemd-run --user --scope -p \
             Delegate=yes …); or drop the limits to run without a cgroup"
                .to_string(),
            true,
        )
    } else {
        (
            names(&pending),
            format!("writing cgroup.subtree_control: {e}"),
            "drop the limit that needs it".to_string(),
            false,
        )
    };
    Error::Enable {
        controllers: if list.is_empty() {
            controllers.join(", ")
        } else {
            list
        },
        dir: dir.to_path_buf(),
        why,
        fix,
        denied,
    }
}

/// The error for a hugetlb `file` (`hugetlb.<size>.max`) missing from `dir`: no such page
/// size here. Lists the sizes the cgroup offers.
fn no_page_size(dir: &Path, field: &str, file: &str) -> Error {
    let size = file
        .strip_prefix("hugetlb.")
        .and_then(|r| r.split('.').next())
        .unwrap_or(file);
    let mut sizes: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let rest = n.strip_prefix("hugetlb.")?;
                    let (sz, f) = rest.split_once('.')?;
                    matches!(f, "max" | "limit_in_bytes").then(|| sz.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    sizes.sort();
    sizes.dedup();
    Error::PageSize {
        field: field.to_string(),
        size: size.to_string(),
        sizes: if sizes.is_empty() {
            "none".to_string()
        } else {
            sizes.join(", ")
        },
    }
}

/// `update`: sets `r` (the container's whole resources, old and new) on the cgroup
/// `leaves` recorded for it, and nothing else. Every write is computed and checked
/// first; a write that fails midway restores the ones before it. Returns warnings.
pub fn update(leaves: &[PathBuf], r: &Resources) -> Result<Vec<String>, Error> {
    for d in leaves {
        check_recorded(d)?;
    }
    let mp = Path::new(MOUNTPOINT);
    let version = detect(mp);
    let cur_memory = match version {
        Version::V1 => leaves
            .iter()
            .find(|d| d.starts_with(mp.join("memory")))
            .and_then(|d| std::fs::read_to_string(d.join("memory.limit_in_bytes")).ok())
            .and_then(|t| t.trim().parse::<u64>().ok()),
        Version::V2 => None,
    };
    let res = resolve(mp, &version, r, cur_memory)?;
    match version {
        Version::V1 => {
            for w in &res.writes {
                if !leaves.iter().any(|d| d.starts_with(mp.join(&w.controller))) {
                    return Err(Error::Field {
                        field: w.field.clone(),
                        why: format!(
                            "the container was created without a {} cgroup (this host has \
                             no such hierarchy, or an older nucleus made one only for the \
                             kinds of limit set at create); set one in linux.resources \
                             when creating the container",
                            w.controller
                        ),
                    });
                }
            }
        }
        Version::V2 => {
            let Some(leaf) = leaves.first() else {
                return Err(Error::Refused(
                    "the container has no cgroup of its own to update".into(),
                ));
            };
            // A controller the leaf does not have yet is delegated down to it.
            let have = std::fs::read_to_string(leaf.join("cgroup.controllers"))
                .map_err(|e| io(leaf, e))?;
            let missing: Vec<String> = res
                .controllers
                .iter()
                .filter(|c| !have.split_whitespace().any(|h| h == c.as_str()))
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty() {
                let rel = leaf.strip_prefix(mp).map_err(|_| Error::Io {
                    path: leaf.clone(),
                    why: "is not below /sys/fs/cgroup".into(),
                })?;
                let mut dir = mp.to_path_buf();
                for c in rel.components() {
                    if let Err(e) =
                        std::fs::write(dir.join("cgroup.subtree_control"), missing.join(" "))
                    {
                        return Err(enable_error(&dir, &res.controllers, e));
                    }
                    dir.push(c);
                }
            }
        }
    }
    let mut warnings = res.warnings;
    warnings.extend(apply(mp, &version, leaves, &res.writes, true)?);
    Ok(warnings)
}

/// v2: attaches the eBPF device filter for `rules` (none: nothing) to the leaf `dirs[0]`.
pub fn attach_device_filter(dirs: &[PathBuf], rules: &[(bool, String)]) -> Result<(), Error> {
    match (rules.is_empty(), dirs.first()) {
        (false, Some(leaf)) => super::devices_bpf::attach(leaf, rules).map_err(|e| Error::Io {
            path: leaf.clone(),
            why: format!("eBPF device filter: {e}"),
        }),
        _ => Ok(()),
    }
}

/// `update` of device rules: `all` is the container's whole rule list after the update,
/// `added` the rules the update appended to it. v1: `added` is written to the devices
/// cgroup (the kernel applies it to the rules in force); v2: the eBPF filter for `all`
/// replaces the one nucleus attached.
pub fn update_devices(
    leaves: &[PathBuf],
    all: &[(bool, String)],
    added: &[(bool, String)],
) -> Result<(), Error> {
    for d in leaves {
        check_recorded(d)?;
    }
    let mp = Path::new(MOUNTPOINT);
    match detect(mp) {
        Version::V1 => {
            let Some(dir) = leaves.iter().find(|d| d.starts_with(mp.join("devices"))) else {
                return Err(Error::Field {
                    field: "linux.resources.devices".into(),
                    why: "the container was created without a devices cgroup".into(),
                });
            };
            for (allow, rule) in added {
                let f = if *allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                write(&dir.join(f), rule)?;
            }
            Ok(())
        }
        Version::V2 => {
            let Some(leaf) = leaves.first() else {
                return Err(Error::Refused(
                    "the container has no cgroup of its own to update".into(),
                ));
            };
            super::devices_bpf::replace(leaf, all).map_err(|e| Error::Io {
                path: leaf.clone(),
                why: format!("eBPF device filter: {e}"),
            })
        }
    }
}

// ---- The freezer: pause/resume, and holding a cgroup still while it is signalled ----
//
// One place for it: `pause`/`resume` (set_frozen), `kill --all` (Frozen, in signal_all) and
// the container's status (is_frozen) all go through these functions.

/// How long a freeze (or thaw) may take before it is reported as failed and undone.
const FREEZE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The freezer interface of one cgroup directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freezer {
    /// v1: `freezer.state` takes FROZEN/THAWED and reads FREEZING until it is done.
    V1,
    /// v2: `cgroup.freeze` takes 1/0; `cgroup.events` says `frozen 1` once it is done.
    V2,
}

impl Freezer {
    fn of(dir: &Path) -> Option<Freezer> {
        if dir.join("freezer.state").exists() {
            Some(Freezer::V1)
        } else if dir.join("cgroup.freeze").exists() {
            Some(Freezer::V2)
        } else {
            None
        }
    }

    /// The file written to freeze or thaw, and the value.
    fn request(self, frozen: bool) -> (&'static str, &'static str) {
        match (self, frozen) {
            (Freezer::V1, true) => ("freezer.state", "FROZEN"),
            (Freezer::V1, false) => ("freezer.state", "THAWED"),
            (Freezer::V2, true) => ("cgroup.freeze", "1"),
            (Freezer::V2, false) => ("cgroup.freeze", "0"),
        }
    }

    /// Whether `dir` was asked to be frozen (v1: and is; v2: cgroup.freeze says 1).
    fn requested(self, dir: &Path) -> bool {
        let (file, value) = self.request(true);
        std::fs::read_to_string(dir.join(file)).is_ok_and(|s| s.trim() == value)
    }

    /// Whether the kernel reports `dir` done: frozen (or thawed) for every process.
    fn reached(self, dir: &Path, frozen: bool) -> bool {
        match self {
            Freezer::V1 => {
                let (_, want) = self.request(frozen);
                std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() == want)
            }
            Freezer::V2 => {
                let want = if frozen { "frozen 1" } else { "frozen 0" };
                std::fs::read_to_string(dir.join("cgroup.events"))
                    .is_ok_and(|s| s.lines().any(|l| l.trim() == want))
            }
        }
    }

    /// What the kernel says about `dir` now, for an error message.
    fn report(self, dir: &Path) -> String {
        let (file, text) = match self {
            Freezer::V1 => (
                "freezer.state",
                std::fs::read_to_string(dir.join("freezer.state")),
            ),
            Freezer::V2 => (
                "cgroup.events",
                std::fs::read_to_string(dir.join("cgroup.events")),
            ),
        };
        match text {
            Ok(t) => match t.lines().find(|l| l.starts_with("frozen")) {
                Some(l) => format!("{file} says '{}'", l.trim()),
                None => format!("{file} says '{}'", t.trim()),
            },
            Err(e) => format!("{file}: {e}"),
        }
    }
}

/// Whether the container whose cgroup `dirs` records is paused: any of its cgroups frozen.
pub fn is_frozen(dirs: &[PathBuf]) -> bool {
    dirs.iter()
        .any(|d| Freezer::of(d).is_some_and(|f| f.requested(d)))
}

/// Writes the freezer of `dir` and waits (bounded) until the kernel reports it done.
fn freeze_one(f: Freezer, dir: &Path, frozen: bool) -> Result<(), Error> {
    let (file, value) = f.request(frozen);
    write(&dir.join(file), value)?;
    let deadline = std::time::Instant::now() + FREEZE_WAIT;
    let mut pause = std::time::Duration::from_micros(200);
    loop {
        if f.reached(dir, frozen) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                why: format!(
                    "{} did not complete within {} s ({}): a process may be stuck in the \
                     kernel (uninterruptible sleep, e.g. on a hung mount or device)",
                    if frozen { "freezing" } else { "thawing" },
                    FREEZE_WAIT.as_secs(),
                    f.report(dir)
                ),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(10));
    }
}

/// Freezes (or thaws) the cgroups in `dirs` and waits until the kernel reports it done
/// (v2: `frozen 1` in cgroup.events), at most 2 s each. A freeze that does not complete is
/// undone: every cgroup goes back to how it was, and the error says what the kernel said.
pub fn set_frozen(dirs: &[PathBuf], frozen: bool) -> Result<(), Error> {
    let found: Vec<(&PathBuf, Freezer)> = dirs
        .iter()
        .filter_map(|d| Freezer::of(d).map(|f| (d, f)))
        .collect();
    if found.is_empty() {
        return Err(Error::Missing("freezer"));
    }
    let mut changed: Vec<(&PathBuf, Freezer)> = Vec::new();
    for (d, f) in &found {
        let before = f.requested(d);
        if let Err(e) = freeze_one(*f, d, frozen) {
            if before != frozen {
                changed.push((d, *f));
            }
            for (d, f) in changed.iter().rev() {
                let (file, value) = f.request(!frozen);
                // Ignored: best effort to undo; the error returned is the one that matters.
                let _ = std::fs::write(d.join(file), value);
            }
            return Err(e);
        }
        if before != frozen {
            changed.push((d, *f));
        }
    }
    Ok(())
}

/// The cgroups of a container held frozen, so that no process forks while they are
/// signalled. `release` (or drop) puts them back: thawed, unless they were paused before
/// and `thaw_paused` is false.
pub struct Frozen<'a> {
    dirs: &'a [PathBuf],
    thaw: bool,
}

impl<'a> Frozen<'a> {
    /// Freezes `dirs` (already frozen: left so). `thaw_paused`: thaw at the end even a
    /// container that was paused before (a v1 freezer holds back SIGKILL until then).
    pub fn hold(dirs: &'a [PathBuf], thaw_paused: bool) -> Result<Frozen<'a>, Error> {
        let paused = is_frozen(dirs);
        if !paused {
            set_frozen(dirs, true)?;
        }
        Ok(Frozen {
            dirs,
            thaw: !paused || thaw_paused,
        })
    }

    /// Puts the cgroups back, reporting a thaw that fails.
    pub fn release(mut self) -> Result<(), Error> {
        let thaw = std::mem::take(&mut self.thaw);
        if thaw {
            set_frozen(self.dirs, false)
        } else {
            Ok(())
        }
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        if self.thaw {
            // Ignored: a drop without `release` is an error path already being reported;
            // a cgroup left frozen shows as paused and `resume` thaws it.
            let _ = set_frozen(self.dirs, false);
        }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}
