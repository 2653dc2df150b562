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
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Io { why, .. } if why.contains("ermission") || why.contains("Read-only") => Some(
                "resource limits need root (or a delegated cgroup); drop --memory/--pids/--cpus to run rootless".into(),
            ),
            _ => None,
        }
    }
}

impl Error {
    /// Whether the kernel refused the write for want of rights (EACCES, EPERM, EROFS): what a
    /// rootless runtime meets on cgroups nobody delegated to it.
    pub fn is_denied(&self) -> bool {
        matches!(self, Error::Io { why, .. } if why.contains("ermission denied")
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
    fn walk(dir: &Path, out: &mut Vec<i32>) -> Result<(), Error> {
        let f = dir.join("cgroup.procs");
        let text = std::fs::read_to_string(&f).map_err(|e| io(&f, e))?;
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        for e in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
            let e = e.map_err(|e| io(dir, e))?;
            if e.file_type().map_err(|er| io(&e.path(), er))?.is_dir() {
                walk(&e.path(), out)?;
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for d in leaves {
        check_recorded(d)?;
        walk(d, &mut out)?;
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
    for d in leaves {
        check_recorded(d)?;
    }
    let v2_kill: Vec<&PathBuf> = leaves
        .iter()
        .filter(|d| d.join("cgroup.kill").exists())
        .collect();
    if sig == Signal::SIGKILL && !v2_kill.is_empty() {
        for d in v2_kill {
            write(&d.join("cgroup.kill"), "1")?;
        }
        return Ok(());
    }
    let frozen = sig != Signal::SIGCONT && set_frozen(leaves, true).is_ok();
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
    if frozen {
        set_frozen(leaves, false)?;
    }
    result
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
        self.mkdirs(mp, &rel, |d, _| {
            if !enable.is_empty() {
                write(&above.join("cgroup.subtree_control"), &enable)?;
            }
            above = d.to_path_buf();
            Ok(())
        })?;
        self.warnings
            .extend(apply(mp, &Version::V2, &self.dirs, &res.writes, false)?);
        attach_device_filter(&self.dirs, &r.devices)?;
        self.v2 = true;
        Ok(())
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
    let undo = |done: &mut Vec<(PathBuf, String)>, e: Error| -> Error {
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
    };
    for w in writes {
        let dir = match version {
            Version::V1 => {
                let base = mp.join(&w.controller);
                leaves.iter().find(|d| d.starts_with(&base))
            }
            Version::V2 => leaves.first(),
        };
        let Some(dir) = dir else {
            let e = Error::Field {
                field: w.field.clone(),
                why: format!(
                    "the container has no {} cgroup: nucleus makes one per hierarchy only for \
                     the limits set at create",
                    w.controller
                ),
            };
            return Err(undo(&mut done, e));
        };
        let (mut path, mut value) = (dir.join(&w.file), w.value.as_str());
        // A directory laid out like cgroupfs (tests) has no kernel files: writes make them.
        let kernel = nix::sys::statfs::statfs(dir.as_path()).is_ok_and(|s| {
            [CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC].contains(&s.filesystem_type().0)
        });
        if !kernel {
        } else if !path.exists() {
            if let Some((f, v)) = &w.alt {
                if dir.join(f).exists() {
                    (path, value) = (dir.join(f), v.as_str());
                }
            }
        }
        if kernel && !path.exists() {
            if w.optional {
                continue;
            }
            if w.default {
                warnings.push(format!(
                    "{} is ignored: this kernel has no {} (the value is the kernel's default)",
                    w.field, w.file
                ));
                continue;
            }
            let e = Error::Field {
                field: w.field.clone(),
                why: format!(
                    "this kernel has no {} in the {} cgroup (the feature is not built in or \
                     not enabled on this host)",
                    w.file, w.controller
                ),
            };
            return Err(undo(&mut done, e));
        }
        let old = if restore {
            std::fs::read_to_string(&path)
                .ok()
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty() && !o.contains('\n'))
        } else {
            None
        };
        if let Err(er) = std::fs::write(&path, value) {
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
            return Err(undo(&mut done, e));
        }
        if let Some(o) = old {
            done.push((path, o));
        }
    }
    Ok(warnings)
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
                    write(&dir.join("cgroup.subtree_control"), &missing.join(" "))?;
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
fn attach_device_filter(dirs: &[PathBuf], rules: &[(bool, String)]) -> Result<(), Error> {
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

/// Freezes (or thaws) the cgroups in `dirs` and waits until the kernel reports it done.
pub fn set_frozen(dirs: &[PathBuf], frozen: bool) -> Result<(), Error> {
    let mut found = false;
    for d in dirs {
        let (file, value, done_file, done): (_, _, _, &dyn Fn(&str) -> bool) =
            if d.join("freezer.state").exists() {
                let v = if frozen { "FROZEN" } else { "THAWED" };
                ("freezer.state", v, "freezer.state", &move |s: &str| {
                    s.trim() == v
                })
            } else if d.join("cgroup.freeze").exists() {
                let v = if frozen { "1" } else { "0" };
                let want = format!("frozen {v}");
                ("cgroup.freeze", v, "cgroup.events", &move |s: &str| {
                    s.lines().any(|l| l == want)
                })
            } else {
                continue;
            };
        found = true;
        write(&d.join(file), value)?;
        let mut ok = false;
        for _ in 0..400 {
            if std::fs::read_to_string(d.join(done_file)).is_ok_and(|s| done(&s)) {
                ok = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if !ok {
            return Err(Error::Io {
                path: d.clone(),
                why: format!("did not reach {value} within 2 s"),
            });
        }
    }
    if found {
        Ok(())
    } else {
        Err(Error::Missing("freezer"))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        self.remove();
    }
}
