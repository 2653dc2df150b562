//! tracefs: a private tracing instance that records capability checks (and syscalls) of
//! followed processes, for `nucleus caps trace`, `--report-denials` and `run --trace-caps`.
//!
//! - tracefs is reached through a **detached mount** (fsopen + fsconfig + fsmount): nothing
//!   is mounted on a host path and nothing needs /sys/kernel/tracing to be mounted. tracefs
//!   has one superblock, so an instance made here is the one under
//!   /sys/kernel/tracing/instances/ when that is mounted.
//! - Each trace owns an instance `instances/nucleus-<pid>-<start time>-<random>` (OCI
//!   containers: `nucleus-oci-<id>-<random>`), with its own pid filter (`set_event_pid` + `options/event-fork`),
//!   so two traces never see each other's events and global tracing state is untouched.
//! - Events are enabled only after the first pid is followed (an empty `set_event_pid`
//!   means "every process"). The reader thread starts then too: fork the processes you
//!   will follow *before* following them, so no fork happens while it runs.
//! - The instance is removed on every exit path: `finish`, `Drop`, and [`sweep_stale`] for
//!   instances whose nucleus was SIGKILLed.

use crate::caps::trace::{Event, Parser, Recorder, Report};
use nix::errno::Errno;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tracing needs CAP_SYS_ADMIN (root) for tracefs: {what}: {errno}")]
    NoAccess { what: &'static str, errno: Errno },
    #[error("this kernel ({kernel}) has no capability:cap_capable tracepoint (Linux 6.14+)")]
    NoTracepoint { kernel: String },
    #[error("tracefs {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("tracefs: {0}")]
    Other(String),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoAccess { .. } => Some(
                "run it as root (tracefs is not open to other users); `nucleus caps probe` \
                 still works without tracing"
                    .into(),
            ),
            Error::NoTracepoint { .. } => Some(
                "use a Linux 6.14 or newer kernel for tracing; `nucleus caps probe` still works"
                    .into(),
            ),
            _ => None,
        }
    }
}

fn io(path: &Path, err: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        err,
    }
}

/// Which events to record besides the process events (exec, fork) that are always on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    /// `capability:cap_capable` with a kernel stack per check.
    pub caps: bool,
    /// `raw_syscalls:sys_enter`/`sys_exit` (syscalls used, seccomp refusals).
    pub syscalls: bool,
}

impl Events {
    fn list(self) -> Vec<&'static str> {
        let mut v = vec!["sched/sched_process_exec", "sched/sched_process_fork"];
        if self.caps {
            v.push("capability/cap_capable");
        }
        if self.syscalls {
            v.push("raw_syscalls/sys_enter");
            v.push("raw_syscalls/sys_exit");
        }
        v
    }
}

const CAP_EVENT: &str = "events/capability/cap_capable";
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// A detached tracefs mount, reached as /proc/self/fd/N.
struct Mount {
    fd: OwnedFd,
}

impl Mount {
    fn new() -> Result<Mount, Error> {
        let name = c"tracefs";
        // SAFETY: fsopen takes a NUL-terminated name and flags; it returns a new fd or -1.
        let fc = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        if fc < 0 {
            let errno = Errno::last();
            return Err(match errno {
                Errno::EPERM | Errno::EACCES => Error::NoAccess {
                    what: "fsopen(tracefs)",
                    errno,
                },
                Errno::ENODEV => Error::Other("this kernel has no tracefs (CONFIG_TRACING)".into()),
                _ => Error::Other(format!("fsopen(tracefs): {errno}")),
            });
        }
        // SAFETY: fc was just returned by fsopen and is owned by nobody else.
        let fc = unsafe { OwnedFd::from_raw_fd(fc as i32) };
        // SAFETY: fsconfig on our fs context fd; the key/value pointers are unused (null).
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fc.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        if r < 0 {
            let errno = Errno::last();
            return Err(match errno {
                Errno::EPERM | Errno::EACCES => Error::NoAccess {
                    what: "fsconfig(tracefs)",
                    errno,
                },
                _ => Error::Other(format!("fsconfig(tracefs, CREATE): {errno}")),
            });
        }
        // SAFETY: fsmount on the created context; returns a new mount fd or -1.
        let m = unsafe { libc::syscall(libc::SYS_fsmount, fc.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
        if m < 0 {
            let errno = Errno::last();
            return Err(match errno {
                Errno::EPERM | Errno::EACCES => Error::NoAccess {
                    what: "fsmount(tracefs)",
                    errno,
                },
                _ => Error::Other(format!("fsmount(tracefs): {errno}")),
            });
        }
        // SAFETY: m was just returned by fsmount and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(m as i32) };
        Ok(Mount { fd })
    }

    fn path(&self, rel: &str) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}/{rel}", self.fd.as_raw_fd()))
    }
}

fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| {
            let r = u.release().to_string_lossy().into_owned();
            r.split('.').take(2).collect::<Vec<_>>().join(".")
        })
        .unwrap_or_else(|_| "unknown".into())
}

/// Mounts tracefs and checks the tracepoint is there.
fn open_checked() -> Result<Mount, Error> {
    let m = Mount::new()?;
    if !m.path(CAP_EVENT).exists() {
        return Err(Error::NoTracepoint {
            kernel: kernel_release(),
        });
    }
    Ok(m)
}

/// One instance directory.
struct Instance {
    mnt: Mount,
    name: String,
}

impl Instance {
    fn dir(&self) -> PathBuf {
        self.mnt.path(&format!("instances/{}", self.name))
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    fn write(&self, rel: &str, data: &str) -> Result<(), Error> {
        let p = self.file(rel);
        std::fs::write(&p, data).map_err(|e| io(&p, e))
    }

    /// Writes without truncating (set_event_pid: add to the list).
    fn append(&self, rel: &str, data: &str) -> Result<(), Error> {
        let p = self.file(rel);
        let mut f = OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(|e| io(&p, e))?;
        f.write_all(data.as_bytes()).map_err(|e| io(&p, e))
    }

    fn create(mnt: Mount, name: String, ev: Events, buffer_kb: u32) -> Result<Self, Error> {
        let inst = Instance { mnt, name };
        let d = inst.dir();
        std::fs::create_dir(&d).map_err(|e| io(&d, e))?;
        let set_up = || -> Result<(), Error> {
            inst.write("options/event-fork", "1")?;
            // Keep what was recorded first when the buffer fills (counted as dropped).
            inst.write("options/overwrite", "0")?;
            // buffer_size_kb is per CPU: share a total budget, within limits.
            let cpus = std::fs::read_dir(inst.file("per_cpu"))
                .map(|d| d.count() as u32)
                .unwrap_or(1)
                .max(1);
            let kb = (buffer_kb / cpus).clamp(MIN_BUFFER_KB, MAX_BUFFER_KB);
            inst.write("buffer_size_kb", &kb.to_string())?;
            if ev.caps {
                inst.write(&format!("{CAP_EVENT}/trigger"), "stacktrace")?;
            }
            Ok(())
        };
        if let Err(e) = set_up() {
            inst.remove();
            return Err(e);
        }
        Ok(inst)
    }

    /// Whether events are on (a pid has been followed).
    fn enabled(&self) -> bool {
        std::fs::read_to_string(self.file("events/sched/sched_process_exec/enable"))
            .map(|s| s.trim() == "1")
            .unwrap_or(false)
    }

    /// Adds a pid; the first one replaces the (empty = everyone) filter and turns the
    /// events on.
    fn follow(&self, pid: i32, ev: Events) -> Result<bool, Error> {
        if self.enabled() {
            self.append("set_event_pid", &format!("{pid}\n"))?;
            return Ok(false);
        }
        self.write("set_event_pid", &format!("{pid}\n"))?;
        for e in ev.list() {
            self.write(&format!("events/{e}/enable"), "1")?;
        }
        Ok(true)
    }

    /// Turns every event of the instance off (the stacktrace trigger goes with the
    /// instance at rmdir).
    fn disable(&self) {
        // Best effort: the instance is being torn down; rmdir reports what matters.
        let _ = self.write("events/enable", "0");
    }

    /// Lost events: per-cpu overrun + dropped.
    fn lost(&self) -> u64 {
        let mut n = 0;
        let Ok(rd) = std::fs::read_dir(self.file("per_cpu")) else {
            return 0;
        };
        for cpu in rd.flatten() {
            let Ok(s) = std::fs::read_to_string(cpu.path().join("stats")) else {
                continue;
            };
            for l in s.lines() {
                if let Some(v) = l
                    .strip_prefix("overrun:")
                    .or_else(|| l.strip_prefix("dropped events:"))
                {
                    n += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        n
    }

    /// Disables the events (unless `disabled`) and removes the instance.
    fn remove(&self) {
        self.disable();
        self.rmdir();
    }

    fn rmdir(&self) {
        // Best effort on cleanup paths; finish() checks the directory is gone.
        let _ = std::fs::remove_dir(self.dir());
    }
}

/// The reader thread's handle: a pipe to stop it and the thread.
struct Reader {
    stop: OwnedFd,
    handle: JoinHandle<Result<Recorder, Error>>,
}

/// A random suffix that keeps instance names unique (12 hex digits).
pub fn random_hex() -> String {
    let mut b = [0u8; 6];
    match File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Err(_) => format!(
            "{:012x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 & 0xffff_ffff_ffff)
                .unwrap_or(0)
        ),
    }
}

/// A running trace.
pub struct Tracer {
    inst: Option<Instance>,
    ev: Events,
    reader: std::sync::Mutex<Option<Reader>>,
}

impl Tracer {
    /// Checks tracefs access and the tracepoint, sweeps stale instances, creates this
    /// trace's instance (event-fork, the stacktrace trigger). Events and the reader thread
    /// start at the first [`Tracer::follow`].
    pub fn start(ev: Events) -> Result<Tracer, Error> {
        let mnt = open_checked()?;
        sweep_in(&mnt);
        let pid = std::process::id() as i32;
        let start = super::process::live_start_time(pid).unwrap_or(0);
        let name = format!("nucleus-{pid}-{start}-{}", random_hex());
        let inst = Instance::create(mnt, name, ev, PIPE_BUFFER_KB)?;
        Ok(Tracer {
            inst: Some(inst),
            ev,
            reader: std::sync::Mutex::new(None),
        })
    }

    /// The instance's name (`nucleus-<pid>-<start time>-<hex>`).
    pub fn name(&self) -> &str {
        self.inst.as_ref().map(|i| i.name.as_str()).unwrap_or("")
    }

    /// Adds pid to the followed set (its future children follow automatically). Call it
    /// before the pid executes its program; the first call starts recording.
    pub fn follow(&self, pid: i32) -> Result<(), Error> {
        let inst = self.inst.as_ref().expect("not finished");
        let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        if reader.is_none() {
            // Open the pipe before events flow, so nothing waits unread.
            let pipe = inst.file("trace_pipe");
            let f = OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&pipe)
                .map_err(|e| io(&pipe, e))?;
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| Error::Other(format!("pipe: {e}")))?;
            let handle = std::thread::Builder::new()
                .name("nucleus-trace".into())
                .spawn(move || read_loop(f, r))
                .map_err(|e| Error::Other(format!("reader thread: {e}")))?;
            *reader = Some(Reader { stop: w, handle });
        }
        inst.follow(pid, self.ev)?;
        Ok(())
    }

    /// Disables the events, drains the pipe, removes the instance, returns the report.
    pub fn finish(mut self) -> Result<Report, Error> {
        let inst = self.inst.take().expect("finish once");
        inst.disable();
        let rec = match self.take_reader() {
            Some(r) => stop_reader(r),
            None => Ok(Recorder::new()),
        };
        let lost = inst.lost();
        inst.rmdir();
        if inst.dir().exists() {
            return Err(Error::Other(format!(
                "instance {} could not be removed",
                inst.name
            )));
        }
        Ok(rec?.finish(lost))
    }

    fn take_reader(&mut self) -> Option<Reader> {
        self.reader
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

fn stop_reader(r: Reader) -> Result<Recorder, Error> {
    // One byte wakes the thread; it drains what is left and returns.
    // Ignored: if the write fails the thread still ends (its poll sees the pipe close).
    let _ = nix::unistd::write(&r.stop, b"x");
    drop(r.stop);
    r.handle
        .join()
        .unwrap_or_else(|_| Err(Error::Other("reader thread panicked".into())))
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(inst) = self.inst.take() {
            inst.disable();
            if let Some(r) = self.take_reader() {
                // Ignored: the trace is abandoned; the pipe must be closed before rmdir.
                let _ = stop_reader(r);
            }
            inst.rmdir();
        }
    }
}

/// Feeds the recorder from trace_pipe until told to stop, then drains the rest.
fn read_loop(mut pipe: File, stop: OwnedFd) -> Result<Recorder, Error> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut rec = Recorder::new();
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut partial: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut busy = false;
    loop {
        let stopping = {
            let mut fds = [
                PollFd::new(pipe.as_fd(), PollFlags::POLLIN),
                PollFd::new(stop.as_fd(), PollFlags::POLLIN),
            ];
            // trace_pipe's poll wakes late (per page); read again soon while events flow.
            let ms: u16 = if busy { 5 } else { 50 };
            // Ignored: a failed poll (EINTR) only means reading a little earlier.
            let _ = poll(&mut fds, PollTimeout::from(ms));
            fds[1].revents().is_some_and(|r| !r.is_empty())
        };
        busy = false;
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    busy = true;
                    partial.extend_from_slice(&buf[..n]);
                    if let Some(end) = partial.iter().rposition(|&b| b == b'\n') {
                        let text = String::from_utf8_lossy(&partial[..=end]).into_owned();
                        partial.drain(..=end);
                        for l in text.lines() {
                            parser.line(l, &mut events);
                        }
                        feed(&mut rec, &mut events);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Other(format!("reading trace_pipe: {e}"))),
            }
        }
        if stopping {
            let text = String::from_utf8_lossy(&partial).into_owned();
            for l in text.lines() {
                parser.line(l, &mut events);
            }
            parser.flush(&mut events);
            feed(&mut rec, &mut events);
            return Ok(rec);
        }
    }
}

/// Pushes events, naming each new user namespace from the live process.
fn feed(rec: &mut Recorder, events: &mut Vec<Event>) {
    for ev in events.drain(..) {
        if let Event::Cap { pid, target_ns, .. } = &ev {
            if rec.wants_name(target_ns) {
                if let Ok(l) = std::fs::read_link(format!("/proc/{pid}/ns/user")) {
                    rec.name_namespace(target_ns, l.to_string_lossy().into_owned());
                }
            }
        }
        rec.push(ev);
    }
}

/// Removes `nucleus-<pid>-<start time>-*` instances whose nucleus process is gone.
pub fn sweep_stale() {
    if let Ok(m) = Mount::new() {
        sweep_in(&m);
    }
}

fn sweep_in(m: &Mount) {
    let Ok(rd) = std::fs::read_dir(m.path("instances")) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // nucleus-<pid>-<start time>-<hex>: the owner is alive while a process with that
        // pid and start time exists (a name or comm check would be fooled by a reused pid
        // or a renamed binary). OCI instances (nucleus-oci-…) belong to their containers.
        let mut parts = name.strip_prefix("nucleus-").unwrap_or("").split('-');
        let (Some(Ok(pid)), Some(Ok(start))) = (
            parts.next().map(str::parse::<i32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            continue;
        };
        let alive = super::process::live_start_time(pid) == Some(start);
        if !alive {
            let dir = e.path();
            // Best effort: a stale instance that cannot go now is tried again next time.
            let _ = std::fs::write(dir.join("events/enable"), "0");
            // Best effort, as above.
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// Names of instances in tracefs starting with `prefix` (tests and diagnostics).
pub fn instances(prefix: &str) -> Result<Vec<String>, Error> {
    let m = Mount::new()?;
    let p = m.path("instances");
    let rd = std::fs::read_dir(&p).map_err(|e| io(&p, e))?;
    let mut v: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    Ok(v)
}

fn detached_name(name: &str) -> Result<String, Error> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(Error::Other(format!(
            "'{name}' cannot name a tracing instance"
        )));
    }
    Ok(format!("nucleus-oci-{name}"))
}

fn detached(name: &str) -> Result<Instance, Error> {
    let name = detached_name(name)?;
    let mnt = Mount::new()?;
    let inst = Instance { mnt, name };
    if !inst.dir().is_dir() {
        return Err(Error::Other(format!("no tracing instance {}", inst.name)));
    }
    Ok(inst)
}

/// Buffer (total over all CPUs) while a reader drains it. Every page a program maps, and every page it
/// writes to tmpfs/memfd, makes a (no-audit) CAP_SYS_ADMIN check with its stack, ~200 bytes
/// in the ring buffer: bursts of tens of thousands happen.
const PIPE_BUFFER_KB: u32 = 16384;
/// Per-CPU limits for the shares of the budgets (the kernel's default is 1408).
const MIN_BUFFER_KB: u32 = 1408;
const MAX_BUFFER_KB: u32 = 16384;

/// Buffer (total over all CPUs) for a detached trace (no reader: everything must fit).
const DETACHED_BUFFER_KB: u32 = 65536;

/// Creates the persistent instance `nucleus-oci-<name>` (no reader; a large buffer that
/// keeps the oldest events when full). Nothing is recorded until the first
/// [`follow_detached`]: an empty pid filter would mean every process of the machine, and
/// following the caller as a placeholder would record what it spawns meanwhile (hooks).
pub fn start_detached(name: &str, ev: Events) -> Result<(), Error> {
    let mnt = open_checked()?;
    sweep_in(&mnt);
    Instance::create(mnt, detached_name(name)?, ev, DETACHED_BUFFER_KB)?;
    Ok(())
}

/// Adds a pid to a detached trace (before it executes its program); the first pid turns
/// the events on.
pub fn follow_detached(name: &str, pid: i32, ev: Events) -> Result<(), Error> {
    detached(name)?.follow(pid, ev).map(|_| ())
}

/// Reads a detached trace, removes its instance and returns the report.
pub fn collect_detached(name: &str) -> Result<Report, Error> {
    let inst = detached(name)?;
    inst.disable();
    let p = inst.file("trace");
    let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e));
    let lost = inst.lost();
    inst.rmdir();
    let text = text?;
    let mut rec = Recorder::read_late();
    let mut parser = Parser::new();
    let mut events = Vec::new();
    for l in text.lines() {
        parser.line(l, &mut events);
    }
    parser.flush(&mut events);
    for ev in events {
        rec.push(ev);
    }
    Ok(rec.finish(lost + parser.lost))
}

/// Removes a detached trace's instance (best effort).
pub fn remove_detached(name: &str) {
    if let Ok(inst) = detached(name) {
        inst.remove();
    }
}

/// The name of a syscall number of this machine's architecture.
pub fn syscall_name(nr: i64) -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    let table = super::syscall_table::X86_64;
    #[cfg(not(target_arch = "x86_64"))]
    let table: &[(&str, u32)] = &[];
    table
        .iter()
        .find(|(_, n)| i64::from(*n) == nr)
        .map(|(s, _)| s.to_string())
}
