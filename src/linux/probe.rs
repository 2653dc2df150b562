//! Proving capabilities: one real syscall per capability, in a forked child whose effective
//! set is narrowed to that one capability first (so `dac_override` cannot pass for
//! `dac_read_search`, nor `sys_admin` for anything). A probe never changes the host: it works
//! on files it creates in a private temporary directory, on its own sockets and limits, on
//! namespaces it makes for itself, or with arguments the kernel rejects right after the
//! permission check; the child then exits and the directory is removed.

use super::capset::{self as kernel, capset};
use crate::caps::cap::Capability;
use crate::caps::set::CapSet;
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use serde::Serialize;
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Held,
    Denied,
    NotProbed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Held => "held",
            Verdict::Denied => "denied",
            Verdict::NotProbed => "not-probed",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeResult {
    pub capability: Capability,
    pub verdict: Verdict,
    /// The errno the syscall returned, if any.
    pub errno: Option<String>,
    /// The syscall that was made, or why none was.
    pub detail: String,
}

/// What a probe observed, in the child.
enum Seen {
    Held(Option<Errno>),
    Denied(Option<Errno>),
    Skip(String),
}

/// The classic reading: success is held, EPERM/EACCES is denied, anything else unexpected.
fn perm<T>(r: Result<T, Errno>) -> Seen {
    match r {
        Ok(_) => Seen::Held(None),
        Err(e @ (Errno::EPERM | Errno::EACCES)) => Seen::Denied(Some(e)),
        Err(e) => Seen::Skip(format!("unexpected {e}")),
    }
}

/// For calls whose permission check comes before argument checks, and whose arguments are
/// deliberately invalid: EPERM is denied, any other error proves the check was passed.
fn perm_first(r: Result<libc::c_long, Errno>) -> Seen {
    match r {
        Err(Errno::EPERM) => Seen::Denied(Some(Errno::EPERM)),
        Err(e) => Seen::Held(Some(e)),
        Ok(_) => Seen::Held(None),
    }
}

fn ret(r: libc::c_long) -> Result<libc::c_long, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// Shared by every probe: a private directory, and a process of another user if one exists.
struct Ctx {
    dir: Option<PathBuf>,
    other: Option<Pid>,
    undumpable: Option<Pid>,
    uids: [u32; 4],
    gids: [u32; 4],
}

impl Ctx {
    fn file(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self
            .dir
            .as_ref()
            .ok_or("no writable temporary directory ($TMPDIR, /tmp, /dev/shm)")?;
        Ok(dir.join(name))
    }

    /// Creates `name` in the private directory with `mode` (exact, umask cleared).
    fn create(&self, name: &str, mode: u32) -> Result<PathBuf, String> {
        let p = self.file(name)?;
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let fd = nix::fcntl::open(
            &p,
            nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_WRONLY,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        )
        .map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        drop(fd);
        Ok(p)
    }

    /// A uid (or gid) that is none of `ids` and is mapped in this user namespace.
    fn other_id(ids: &[u32; 4], map: &str) -> Result<u32, String> {
        let text = std::fs::read_to_string(map).map_err(|e| format!("{map}: {e}"))?;
        let ranges = super::identity::parse_id_map(&text);
        let mapped = |id: u32| {
            let id = u64::from(id);
            ranges
                .iter()
                .any(|r| id >= r.inside && id < r.inside + r.count)
        };
        [65534u32, 65533, 1, 2, 1000, 1001]
            .into_iter()
            .find(|id| !ids.contains(id) && mapped(*id))
            .ok_or_else(|| format!("no id outside {ids:?} is mapped in this user namespace"))
    }

    fn other_uid(&self) -> Result<u32, String> {
        Ctx::other_id(&self.uids, "/proc/self/uid_map")
    }

    fn other_gid(&self) -> Result<u32, String> {
        Ctx::other_id(&self.gids, "/proc/self/gid_map")
    }

    fn target(&self) -> Result<Pid, String> {
        self.other
            .ok_or_else(|| "no process of another user to test against".to_string())
    }
}

/// Narrows the effective set to `c` (or to nothing when `c` is not effective).
fn isolate(c: Capability) -> Result<(), String> {
    let s = kernel::read_status(None).map_err(|e| e.to_string())?.sets;
    let only: CapSet = std::iter::once(c).collect();
    capset(s.effective & only, s.permitted, s.inheritable).map_err(|e| e.to_string())
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("probe paths have no NUL")
}

type ProbeFn = fn(&Ctx, Capability) -> Result<Seen, String>;

/// (capability, what is tried, probe).
const PROBES: &[(u8, &str, ProbeFn)] = &[
    (0, "chown(2) a file of its own to another uid", |ctx, c| {
        let f = ctx.create("chown", 0o600)?;
        let uid = ctx.other_uid()?;
        isolate(c)?;
        Ok(perm(nix::unistd::chown(
            &f,
            Some(nix::unistd::Uid::from_raw(uid)),
            None,
        )))
    }),
    (1, "open(2) a mode-000 file for writing", |ctx, c| {
        let f = ctx.create("dac_override", 0)?;
        isolate(c)?;
        Ok(perm(nix::fcntl::open(
            &f,
            nix::fcntl::OFlag::O_WRONLY,
            nix::sys::stat::Mode::empty(),
        )))
    }),
    (2, "open(2) a mode-000 file for reading", |ctx, c| {
        let f = ctx.create("dac_read_search", 0)?;
        isolate(c)?;
        Ok(perm(nix::fcntl::open(
            &f,
            nix::fcntl::OFlag::O_RDONLY,
            nix::sys::stat::Mode::empty(),
        )))
    }),
    (
        3,
        "open(2) with O_NOATIME a file another user owns",
        |ctx, c| {
            let f = fowner_target(ctx)?;
            isolate(c)?;
            let flags = nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_NOATIME;
            Ok(perm(nix::fcntl::open(
                &f,
                flags,
                nix::sys::stat::Mode::empty(),
            )))
        },
    ),
    (
        4,
        "write(2) to a set-uid file and see if the bit survives",
        |ctx, c| {
            let f = ctx.create("fsetid", 0o600)?;
            let mode = nix::sys::stat::Mode::from_bits_truncate(0o4600);
            nix::sys::stat::fchmodat(
                nix::fcntl::AT_FDCWD,
                &f,
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .map_err(|e| format!("chmod u+s: {e}"))?;
            isolate(c)?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&f)
                .map_err(|e| format!("open: {e}"))?;
            file.write_all(b"x").map_err(|e| format!("write: {e}"))?;
            let st = nix::sys::stat::fstat(&file).map_err(|e| format!("fstat: {e}"))?;
            Ok(if st.st_mode & libc::S_ISUID != 0 {
                Seen::Held(None)
            } else {
                Seen::Denied(None)
            })
        },
    ),
    (
        5,
        "kill(2) signal 0 to a process of another user",
        |ctx, c| {
            let pid = ctx.target()?;
            isolate(c)?;
            Ok(perm(nix::sys::signal::kill(pid, None)))
        },
    ),
    (6, "setresgid(2) to another gid", |ctx, c| {
        let g = nix::unistd::Gid::from_raw(ctx.other_gid()?);
        isolate(c)?;
        Ok(perm(nix::unistd::setresgid(g, g, g)))
    }),
    (7, "setresuid(2) to another uid", |ctx, c| {
        let u = nix::unistd::Uid::from_raw(ctx.other_uid()?);
        isolate(c)?;
        Ok(perm(nix::unistd::setresuid(u, u, u)))
    }),
    (8, "prctl(PR_CAPBSET_DROP) in the probe process", |_, c| {
        isolate(c)?;
        // SAFETY: integer-only prctl; it changes only this throw-away child.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, 0, 0, 0, 0) };
        Ok(perm(ret(r.into())))
    }),
    (
        10,
        "bind(2) a TCP socket to the highest privileged port on loopback",
        |_, c| {
            let start: u16 =
                std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .unwrap_or(1024);
            if start == 0 {
                return Err(
                    "every port is unprivileged here (net.ipv4.ip_unprivileged_port_start=0)"
                        .into(),
                );
            }
            // The highest privileged port: least likely to be in use by a real service.
            let port = start - 1;
            isolate(c)?;
            use nix::sys::socket::{bind, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
            let bind_on = |addr: [u8; 4]| {
                let s = socket(
                    AddressFamily::Inet,
                    SockType::Stream,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )?;
                let [a, b, c2, d] = addr;
                bind(s.as_raw_fd(), &SockaddrIn::new(a, b, c2, d, port))
            };
            // Loopback may be down in a fresh network namespace: fall back to the any-address.
            let r = match bind_on([127, 0, 0, 1]) {
                Err(Errno::EADDRNOTAVAIL) => bind_on([0, 0, 0, 0]),
                r => r,
            };
            Ok(match r {
                Err(Errno::EADDRINUSE) => Seen::Held(Some(Errno::EADDRINUSE)),
                r => perm(r),
            })
        },
    ),
    (
        12,
        "setsockopt(SO_RCVBUFFORCE) on its own socket",
        |_, c| {
            use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
            let s = socket(
                AddressFamily::Inet,
                SockType::Datagram,
                SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| format!("socket: {e}"))?;
            isolate(c)?;
            Ok(perm(nix::sys::socket::setsockopt(
                &s,
                nix::sys::socket::sockopt::RcvBufForce,
                &65536,
            )))
        },
    ),
    (13, "socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)", |_, c| {
        isolate(c)?;
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
        Ok(perm(socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::Icmp,
        )))
    }),
    (14, "mlock(2) a page with RLIMIT_MEMLOCK at 0", |_, c| {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (_, hard) = getrlimit(Resource::RLIMIT_MEMLOCK).map_err(|e| e.to_string())?;
        setrlimit(Resource::RLIMIT_MEMLOCK, 0, hard).map_err(|e| format!("setrlimit: {e}"))?;
        let page = [0u8; 4096];
        isolate(c)?;
        // SAFETY: mlock on a live stack buffer of the stated length; the child exits after.
        let r = unsafe { libc::mlock(page.as_ptr().cast(), page.len()) };
        Ok(perm(ret(r.into())))
    }),
    (16, "finit_module(2) on an invalid descriptor", |_, c| {
        if std::fs::read_to_string("/proc/sys/kernel/modules_disabled")
            .is_ok_and(|s| s.trim() == "1")
        {
            return Err("module loading is disabled (kernel.modules_disabled=1)".into());
        }
        isolate(c)?;
        // SAFETY: fd -1 and an empty argument string: the kernel checks the capability, then
        // fails on the descriptor. Nothing is loaded.
        let r = unsafe { libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0) };
        match ret(r) {
            Err(Errno::ENOSYS) => Err("kernel built without module support".into()),
            r => Ok(perm_first(r)),
        }
    }),
    (18, "chroot(\"/\") in the probe process", |_, c| {
        isolate(c)?;
        Ok(perm(nix::unistd::chroot("/")))
    }),
    (19, "kcmp(2) against a non-dumpable process", |ctx, c| {
        let pid = ctx
            .undumpable
            .ok_or("could not start a non-dumpable helper")?;
        isolate(c)?;
        const KCMP_VM: libc::c_long = 1;
        // SAFETY: kcmp compares kernel objects of two pids; it takes no pointers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_kcmp,
                std::process::id() as libc::c_long,
                pid.as_raw() as libc::c_long,
                KCMP_VM,
                0,
                0,
            )
        };
        Ok(match ret(r) {
            Err(Errno::ENOSYS) => return Err("kernel without kcmp(2)".into()),
            r => perm(r),
        })
    }),
    (21, "unshare(CLONE_NEWUTS) in the probe process", |_, c| {
        isolate(c)?;
        Ok(perm(nix::sched::unshare(
            nix::sched::CloneFlags::CLONE_NEWUTS,
        )))
    }),
    (22, "reboot(2) with invalid magic numbers", |_, c| {
        isolate(c)?;
        // SAFETY: magic 0 is never valid: the kernel checks the capability, then returns
        // EINVAL. Nothing reboots whatever the result.
        let r = unsafe { libc::syscall(libc::SYS_reboot, 0, 0, 0, 0usize) };
        Ok(perm_first(ret(r)))
    }),
    (
        23,
        "setpriority(2) one step nicer than now, with RLIMIT_NICE at 0",
        |_, c| {
            use nix::sys::resource::{getrlimit, setrlimit, Resource};
            let (_, hard) = getrlimit(Resource::RLIMIT_NICE).map_err(|e| e.to_string())?;
            setrlimit(Resource::RLIMIT_NICE, 0, hard).map_err(|e| format!("setrlimit: {e}"))?;
            Errno::clear();
            // SAFETY: getpriority/setpriority on this process only; plain integers.
            let now = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            if now <= -20 {
                return Err("already at the highest priority (nice -20)".into());
            }
            isolate(c)?;
            // SAFETY: as above.
            let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, now - 1) };
            Ok(perm(ret(r.into())))
        },
    ),
    (
        24,
        "setrlimit(2) raising its own hard RLIMIT_NOFILE",
        |_, c| {
            use nix::sys::resource::{getrlimit, setrlimit, Resource};
            let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
            let lower = hard.saturating_sub(1);
            setrlimit(Resource::RLIMIT_NOFILE, soft.min(lower), lower)
                .map_err(|e| format!("setrlimit: {e}"))?;
            isolate(c)?;
            Ok(perm(setrlimit(
                Resource::RLIMIT_NOFILE,
                soft.min(lower),
                hard,
            )))
        },
    ),
    (25, "adjtimex(2) with an out-of-range tick", |_, c| {
        isolate(c)?;
        // SAFETY: a zeroed timex with only ADJ_TICK and tick 0: the kernel checks
        // CAP_SYS_TIME, then rejects the tick as out of range. The clock is not touched.
        let r = unsafe {
            let mut t: libc::timex = std::mem::zeroed();
            t.modes = libc::ADJ_TICK;
            t.tick = 0;
            libc::adjtimex(&mut t)
        };
        Ok(perm_first(ret(r.into())))
    }),
    (
        27,
        "mknod(2) a character device in a private directory",
        |ctx, c| {
            let f = ctx.file("mknod")?;
            isolate(c)?;
            let kind = nix::sys::stat::SFlag::S_IFCHR;
            let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
            Ok(perm(nix::sys::stat::mknod(
                &f,
                kind,
                mode,
                nix::sys::stat::makedev(1, 3),
            )))
        },
    ),
    (
        29,
        "an empty AUDIT_USER message (logged nowhere)",
        |_, c| audit(c, AUDIT_USER),
    ),
    (30, "AUDIT_GET (reads the audit status)", |_, c| {
        audit(c, AUDIT_GET)
    }),
    (
        31,
        "setxattr(security.capability) on a file of its own",
        |ctx, c| {
            let f = ctx.create("setfcap", 0o600)?;
            let value =
                crate::caps::file::FileCaps::new(CapSet::from_bits(1), CapSet::EMPTY, false)
                    .encode();
            isolate(c)?;
            let (p, name) = (cpath(&f), c"security.capability");
            // SAFETY: NUL-terminated path and name, and a buffer of the stated length.
            let r = unsafe {
                libc::setxattr(
                    p.as_ptr(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            Ok(match ret(r.into()) {
                Err(Errno::EOPNOTSUPP) => {
                    return Err("the temporary filesystem has no xattrs".into())
                }
                r => perm(r),
            })
        },
    ),
    (34, "syslog(SYSLOG_ACTION_SIZE_UNREAD)", |_, c| {
        isolate(c)?;
        // SAFETY: action 9 only returns a count; no buffer is passed.
        let r = unsafe { libc::klogctl(9, std::ptr::null_mut(), 0) };
        Ok(perm(ret(r.into())))
    }),
];

const AUDIT_GET: u16 = 1000;
const AUDIT_USER: u16 = 1005;

/// Sends one audit netlink request with no payload and reads the kernel's acknowledgement.
/// An empty user message passes the permission check and is then dropped unlogged.
fn audit(c: Capability, kind: u16) -> Result<Seen, String> {
    use nix::sys::socket::{
        recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
        SockType,
    };
    let s = match socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkAudit,
    ) {
        Err(Errno::EPROTONOSUPPORT) => return Err("kernel without audit".into()),
        r => r.map_err(|e| format!("audit socket: {e}"))?,
    };
    let tv = nix::sys::time::TimeVal::new(2, 0);
    nix::sys::socket::setsockopt(&s, nix::sys::socket::sockopt::ReceiveTimeout, &tv)
        .map_err(|e| e.to_string())?;
    isolate(c)?;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    let mut msg = Vec::with_capacity(16);
    msg.extend_from_slice(&16u32.to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    match sendto(
        s.as_raw_fd(),
        &msg,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    ) {
        Err(e @ (Errno::EPERM | Errno::ECONNREFUSED)) => return Ok(Seen::Denied(Some(e))),
        r => r.map_err(|e| format!("send: {e}"))?,
    };
    // Replies until the acknowledgement: AUDIT_GET answers with its status first.
    let mut buf = [0u8; 8192];
    loop {
        let n =
            recv(s.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| format!("recv: {e}"))?;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if ty == libc::NLMSG_ERROR as u16 && off + 20 <= n {
                let err = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                return Ok(match err {
                    0 => Seen::Held(None),
                    e => match Errno::from_raw(-e) {
                        e @ (Errno::EPERM | Errno::ECONNREFUSED) => Seen::Denied(Some(e)),
                        // With auditing on, an empty user message is refused after the
                        // permission check, and nothing is logged.
                        Errno::EINVAL if kind == AUDIT_USER => Seen::Held(Some(Errno::EINVAL)),
                        e => Seen::Skip(format!("unexpected {e}")),
                    },
                });
            }
            if len < 16 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

/// A readable file this process does not own: one it chowns away when it may, else a
/// system file owned by someone else.
fn fowner_target(ctx: &Ctx) -> Result<PathBuf, String> {
    let fsuid = ctx.uids[3];
    if let Ok(uid) = ctx.other_uid() {
        let f = ctx.create("fowner", 0o644)?;
        if nix::unistd::chown(&f, Some(nix::unistd::Uid::from_raw(uid)), None).is_ok() {
            return Ok(f);
        }
    }
    ["/", "/etc/passwd", "/usr", "/bin"]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) != fsuid)
        })
        .ok_or_else(|| "no readable file of another owner".to_string())
}

/// Writes the child's finding to the pipe: "H", "D", "S" + errno/reason.
fn encode(seen: Result<Seen, String>) -> String {
    match seen {
        Ok(Seen::Held(e)) => format!("H{}", e.map(|e| e as i32).unwrap_or(0)),
        Ok(Seen::Denied(e)) => format!("D{}", e.map(|e| e as i32).unwrap_or(0)),
        Ok(Seen::Skip(r)) | Err(r) => format!("S{r}"),
    }
}

fn decode(cap: Capability, what: &str, msg: &str) -> ProbeResult {
    let errno = |s: &str| {
        s.parse::<i32>()
            .ok()
            .filter(|n| *n != 0)
            .map(|n| format!("{}", Errno::from_raw(n)))
    };
    let (verdict, errno, detail) = match msg.split_at(msg.len().min(1)) {
        ("H", rest) => (Verdict::Held, errno(rest), what.to_string()),
        ("D", rest) => (Verdict::Denied, errno(rest), what.to_string()),
        ("S", rest) => (Verdict::NotProbed, None, format!("{what}: {rest}")),
        _ => (
            Verdict::NotProbed,
            None,
            format!("{what}: the probe died without an answer"),
        ),
    };
    ProbeResult {
        capability: cap,
        verdict,
        errno,
        detail,
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), kernel::Error> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| kernel::Error::Syscall {
        what: "pipe2".into(),
        errno,
    })
}

/// Runs `f` in a forked child and returns what it wrote.
fn in_child(f: impl FnOnce() -> String) -> Result<String, kernel::Error> {
    let (r, w) = pipe()?;
    // SAFETY: nucleus is single-threaded when it probes; the child only makes syscalls,
    // writes to the pipe and leaves with _exit.
    match unsafe { fork() } {
        Err(errno) => Err(kernel::Error::Syscall {
            what: "fork".into(),
            errno,
        }),
        Ok(ForkResult::Child) => {
            drop(r);
            // SAFETY: alarm only arms a timer; a stuck probe is killed by SIGALRM.
            unsafe { libc::alarm(5) };
            let out = f();
            let mut w = std::fs::File::from(w);
            // A parent that stopped reading gets no result: it reports the probe as failed.
            let _ = w.write_all(out.as_bytes());
            // SAFETY: leave without running the parent's destructors or atexit handlers.
            unsafe { libc::_exit(0) }
        }
        Ok(ForkResult::Parent { child }) => {
            drop(w);
            let mut out = String::new();
            let mut r = std::fs::File::from(r);
            r.read_to_string(&mut out)
                .map_err(|e| kernel::Error::Syscall {
                    what: format!("reading the probe's answer: {e}"),
                    errno: Errno::EIO,
                })?;
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => {}
                Ok(WaitStatus::Signaled(_, sig, _)) => out = format!("Skilled by {sig}"),
                _ => {}
            }
            Ok(out)
        }
    }
}

/// A helper child that prepares itself with `setup`, reports readiness, and then blocks
/// until dropped. It is the target that kill(2) and kcmp(2) probes aim at.
struct Helper {
    pid: Pid,
    hold: Option<OwnedFd>,
}

impl Helper {
    /// None when `setup` fails in the child (e.g. no CAP_SETUID to become another user).
    fn spawn(setup: impl FnOnce() -> bool) -> Result<Option<Helper>, kernel::Error> {
        let (hold_r, hold_w) = pipe()?;
        let (ready_r, ready_w) = pipe()?;
        // SAFETY: as in `in_child`; the helper changes only itself and blocks on a pipe.
        match unsafe { fork() } {
            Err(errno) => Err(kernel::Error::Syscall {
                what: "fork".into(),
                errno,
            }),
            Ok(ForkResult::Child) => {
                drop((hold_w, ready_r));
                let ok = setup();
                // A parent that is gone cannot read it; it reads EOF as "not ready" otherwise.
                let _ = nix::unistd::write(&ready_w, if ok { b"1" } else { b"0" });
                drop(ready_w);
                if ok {
                    // Blocks until the parent closes its end (or dies).
                    let _ = nix::unistd::read(&hold_r, &mut [0u8; 1]);
                }
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            Ok(ForkResult::Parent { child }) => {
                drop((hold_r, ready_w));
                let mut b = [0u8; 1];
                let ready =
                    nix::unistd::read(&ready_r, &mut b).is_ok_and(|n| n == 1 && b[0] == b'1');
                let h = Helper {
                    pid: child,
                    hold: Some(hold_w),
                };
                Ok(ready.then_some(h))
            }
        }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.hold.take());
        // A helper forked later may hold a copy of our pipe end, so do not rely on EOF
        // alone; the kill may be refused (another user), then EOF ends it.
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// A process of another user: a helper that switches uid when this process may, else an
/// existing process of another user.
fn other_user_process(
    uids: &[u32; 4],
    gids: &[u32; 4],
) -> Result<(Option<Helper>, Option<Pid>), kernel::Error> {
    if let Ok(uid) = Ctx::other_id(uids, "/proc/self/uid_map") {
        let gid = Ctx::other_id(gids, "/proc/self/gid_map").ok();
        let helper = Helper::spawn(|| {
            // The gid switch is best effort: a different uid is what the probes need.
            if let Some(g) = gid.map(nix::unistd::Gid::from_raw) {
                let _ = nix::unistd::setgroups(&[]);
                let _ = nix::unistd::setresgid(g, g, g);
            }
            let u = nix::unistd::Uid::from_raw(uid);
            nix::unistd::setresuid(u, u, u).is_ok()
        })?;
        if let Some(h) = helper {
            let pid = h.pid;
            return Ok((Some(h), Some(pid)));
        }
    }
    let pid = kernel::all_processes()?
        .into_iter()
        .find(|(st, _)| {
            let (them, me) = (&st.uids, uids);
            ![them[0], them[1], them[2]]
                .iter()
                .any(|u| *u == me[0] || *u == me[1])
        })
        .map(|(st, _)| Pid::from_raw(st.pid));
    Ok((None, pid))
}

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Option<TempDir> {
        let pid = std::process::id();
        let bases = [
            std::env::temp_dir(),
            PathBuf::from("/tmp"),
            PathBuf::from("/dev/shm"),
        ];
        bases.iter().find_map(|b| {
            let d = b.join(format!("nucleus-probe-{pid}"));
            std::fs::create_dir(&d).ok().map(|_| TempDir(d))
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best-effort cleanup of the probes' private directory; nothing depends on it.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Probes every capability the running kernel knows.
pub fn probe_all() -> Result<Vec<ProbeResult>, kernel::Error> {
    let last = kernel::cap_last_cap()?;
    let st = kernel::read_status(None)?;
    let dir = TempDir::new();
    let (other_helper, other) = other_user_process(&st.uids, &st.gids)?;
    // Only CAP_SYS_PTRACE may inspect a non-dumpable process, even one of the same user.
    let undumpable = Helper::spawn(|| nix::sys::prctl::set_dumpable(false).is_ok())?;
    let ctx = Ctx {
        dir: dir.as_ref().map(|d| d.0.clone()),
        other,
        undumpable: undumpable.as_ref().map(|h| h.pid),
        uids: st.uids,
        gids: st.gids,
    };
    let mut out = Vec::new();
    for cap in Capability::all().filter(|c| c.index() <= last) {
        match PROBES.iter().find(|(i, _, _)| *i == cap.index()) {
            None => out.push(ProbeResult {
                capability: cap,
                verdict: Verdict::NotProbed,
                errno: None,
                detail: "no side-effect-free probe".into(),
            }),
            Some((_, what, f)) => {
                let msg = in_child(|| encode(f(&ctx, cap)))?;
                out.push(decode(cap, what, &msg));
            }
        }
    }
    // Reverse order of creation: a later helper holds copies of the earlier one's pipe.
    drop(undumpable);
    drop(other_helper);
    drop(dir);
    Ok(out)
}
