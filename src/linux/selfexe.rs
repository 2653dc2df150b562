//! Running the runtime from an image of itself that nobody can write (DESIGN.md §5.1, the
//! CVE-2019-5736 class).
//!
//! Copies of nucleus live inside containers between clone/fork and the program's execve
//! (the container's first process, the `exec` children, the user namespace helper). A
//! process in the container that can open `/proc/PID/exe` of such a copy (O_PATH is
//! enough) keeps a reference to the runtime's binary and, once nucleus has exited, reopens
//! `/proc/self/fd/N` for writing: the host's next `nucleus` runs the attacker's code.
//! Non-dumpable copies stop that only for attackers without CAP_SYS_PTRACE in the initial
//! user namespace, and only once the copy has made itself non-dumpable. So the verbs that
//! put copies into containers first re-execute nucleus from a binary whose every reference
//! is read-only:
//! 1. a detached read-only bind mount of the binary (`open_tree(OPEN_TREE_CLONE)`,
//!    `mount_setattr(MOUNT_ATTR_RDONLY)`, `execveat(AT_EMPTY_PATH)`): no copy of the file,
//!    the mount is in no namespace, so nobody can reach it to remount it, and opening any
//!    reference to it for writing fails with EROFS. Costs an execve (well under 1 ms);
//! 2. where that is unavailable (kernels before 5.12, no CAP_SYS_ADMIN over our mount
//!    namespace, a binary outside it): a sealed memfd copy (runc's approach), which is not
//!    the host's binary at all and cannot be changed.
//!
//! Without root (rootless), open_tree is refused (it needs CAP_SYS_ADMIN) and nothing is
//! re-executed: the copies are made non-dumpable right after clone/fork, and their memory
//! belongs to the initial user namespace, whereas the container's processes hold
//! capabilities only in the container's own user namespace, so the ptrace access check
//! that guards `/proc/PID/exe` of a non-dumpable process (CAP_SYS_PTRACE over the
//! process's mm user namespace) fails for all of them.
//!
//! Root inside a user namespace (rootless Podman runs the runtime so; see `userns`) is not
//! that case: nucleus's memory then belongs to the same namespace in which the container's
//! processes hold their capabilities (Podman does not give the container a user namespace
//! of its own), so a container with CAP_SYS_PTRACE would pass that check. The decision
//! below is therefore made on the effective uid alone, not on `userns::rootless()`: root in
//! a user namespace re-executes as root does. open_tree and mount_setattr work there (the
//! namespace owns its mount namespace; measured under rootless Podman 4.3), and where they
//! do not, the sealed copy needs no privilege.

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

#[derive(Debug, thiserror::Error)]
#[error("protecting the runtime's binary (CVE-2019-5736): {what}: {errno}")]
pub struct Error {
    what: &'static str,
    errno: Errno,
}

fn err(what: &'static str) -> impl Fn(Errno) -> Error {
    move |errno| Error { what, errno }
}

/// `struct mount_attr` of <linux/mount.h> (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const OPEN_TREE_CLONE: libc::c_uint = 0x1;
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Makes sure this process runs from a read-only image of nucleus; re-executes it (same
/// argv and environment) when it does not. Returns only when it does, or, without root,
/// at once (see the module's comment). Fails closed: an error means nucleus must not go on.
pub fn ensure_read_only_image() -> Result<(), Error> {
    // Not `userns::rootless()`: root in a user namespace must re-execute too (see above).
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let exe = nix::fcntl::open(
        c"/proc/self/exe",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(err("open /proc/self/exe"))?;
    if is_read_only(&exe)? {
        restore_comm();
        return Ok(());
    }
    let (args, env) = (args(), env());
    let image = match read_only_mount() {
        Ok(fd) => fd,
        // ENOSYS: before 5.2/5.12; EINVAL: the binary is not in our mount namespace;
        // EPERM: no CAP_SYS_ADMIN over it (or a seccomp profile refusing the call).
        Err(Errno::ENOSYS | Errno::EINVAL | Errno::EPERM) => sealed_copy(&exe)?,
        Err(e) => return Err(err("open_tree /proc/self/exe")(e)),
    };
    drop(exe);
    let e = nix::unistd::execveat(&image, c"", &args, &env, AtFlags::AT_EMPTY_PATH);
    Err(err("re-executing nucleus")(e.unwrap_err()))
}

/// Whether `exe` cannot be written through any reference: on a read-only mount, or a
/// memfd sealed against writes (what `ensure_read_only_image` re-executes from).
fn is_read_only(exe: &OwnedFd) -> Result<bool, Error> {
    let st = nix::sys::statvfs::fstatvfs(exe).map_err(err("fstatvfs /proc/self/exe"))?;
    if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
        return Ok(true);
    }
    // SAFETY: F_GET_SEALS only reads the seals of a descriptor we own; EINVAL on files
    // that are not memfds (no seals: not read-only).
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    Ok(seals >= 0 && seals & SEALS == SEALS)
}

/// A detached read-only bind mount of our binary: reachable from no mount namespace, so
/// it can never be made writable again; it goes away with its last user.
fn read_only_mount() -> Result<OwnedFd, Errno> {
    // SAFETY: open_tree only reads the path and returns a new descriptor (or -1).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c"/proc/self/exe".as_ptr(),
            OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr reads `attr` (its size passed along) and changes only the
    // detached mount `fd` refers to.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(fd)
}

/// A memfd holding a copy of our binary, sealed against every change (runc's approach).
fn sealed_copy(exe: &OwnedFd) -> Result<OwnedFd, Error> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (6.3+): executable even under vm.memfd_noexec=1; older kernels say EINVAL.
    let mut fd = -1;
    for flags in [flags | libc::MFD_EXEC, flags] {
        // SAFETY: memfd_create reads the name and returns a new descriptor (or -1).
        fd = unsafe { libc::memfd_create(c"nucleus".as_ptr(), flags) };
        if fd >= 0 || Errno::last() != Errno::EINVAL {
            break;
        }
    }
    if fd < 0 {
        return Err(err("memfd_create")(Errno::last()));
    }
    // SAFETY: memfd_create returned a new descriptor that nothing else owns.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut src = std::fs::File::from(exe.try_clone().map_err(|e| Error {
        what: "dup /proc/self/exe",
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?);
    let mut dst = std::fs::File::from(mem);
    std::io::copy(&mut src, &mut dst).map_err(|e| Error {
        what: "copying nucleus into a memfd",
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    })?;
    // SAFETY: F_ADD_SEALS only changes the seals of the memfd we own.
    if unsafe { libc::fcntl(dst.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } < 0 {
        return Err(err("sealing the memfd")(Errno::last()));
    }
    Ok(dst.into())
}

/// execveat(AT_EMPTY_PATH) names the process after the descriptor's number on kernels
/// before 6.14: give it its name back (what `ps` and tests look for).
fn restore_comm() {
    let Ok(name) = nix::sys::prctl::get_name() else {
        return;
    };
    let digits = name.to_bytes();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return;
    }
    let Some(arg0) = std::env::args_os().next() else {
        return;
    };
    let arg0 = arg0.into_vec();
    let base = arg0.rsplit(|b| *b == b'/').next().unwrap_or(&arg0);
    if let Ok(c) = CString::new(&base[..base.len().min(15)]) {
        // Cosmetic: a failure leaves the number, nothing else depends on the name.
        let _ = nix::sys::prctl::set_name(&c);
    }
}

fn args() -> Vec<CString> {
    std::env::args_os()
        .filter_map(|a| CString::new(a.into_vec()).ok())
        .collect()
}

fn env() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            CString::new(kv).ok()
        })
        .collect()
}
