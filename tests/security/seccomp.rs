//! seccomp from the attacker's side: a program in `nucleus run` makes the raw syscall and
//! prints what the kernel answered. Each denial is checked against an errno the kernel
//! itself would not give (EPERM where the kernel says ENOSYS/EFAULT/ENOTTY), and each
//! test first shows, unconfined, what the kernel says without the filter.

use crate::common::{self, nucleus, privileged, stderr, stdout, TempDir};
use std::process::Command;

/// `python3 /t/probe.py WHAT`: prints `ok` or `errno=N`.
const PROBE: &str = r#"
import ctypes, fcntl, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def syscall(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else "errno=%d" % ctypes.get_errno()
def ioctl(req):
    # On a descriptor that is no terminal: the kernel answers ENOTTY, the filter EPERM.
    fd = os.open("/dev/null", os.O_RDWR)
    try:
        fcntl.ioctl(fd, req, b"\0" * 8)
        return "ok"
    except OSError as e:
        return "errno=%d" % e.errno
what = sys.argv[1]
print({
    "x32_unshare": lambda: syscall(0x40000000 | 272, 0),
    "x32_getpid": lambda: syscall(0x40000000 | 39),
    "io_uring_setup": lambda: syscall(425, 1, 0),
    "tiocsti": lambda: ioctl(0x5412),
    "tioclinux": lambda: ioctl(0x541C),
    "tiocgwinsz": lambda: ioctl(0x5413),
}[what]())
"#;

/// `/t/int80 NR`: makes i386 syscall NR (arguments 0) with `int $0x80` from a 64-bit
/// process and prints the raw result (a value, or -errno).
const INT80: &str = r#"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long ret, nr = strtol(argv[1], 0, 0);
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(0L), "c"(0L), "d"(0L) : "memory");
    printf("%ld\n", ret);
    return 0;
}
"#;

const DENY_UNSHARE: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}"#;
const DENY_UNSHARE_X86: &str = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO"}]}"#;

struct Probe {
    dir: TempDir,
}

impl Probe {
    fn new() -> Probe {
        let dir = TempDir::new("seccomp");
        std::fs::write(dir.path("probe.py"), PROBE).unwrap();
        for (name, text) in [
            ("deny.json", DENY_UNSHARE),
            ("deny86.json", DENY_UNSHARE_X86),
        ] {
            std::fs::write(dir.path(name), text).unwrap();
        }
        common::set_mode(&dir.path("probe.py"), 0o644);
        Probe { dir }
    }

    fn profile(&self, name: &str) -> Vec<String> {
        let p = self.dir.path(name);
        vec!["--seccomp-profile".into(), p.to_str().unwrap().into()]
    }

    /// Runs `cmd` in the sandbox with /t = the temp dir; returns (exit code, stdout).
    fn run(&self, seccomp: &[String], cmd: &[&str]) -> (Option<i32>, String) {
        let vol = format!("{}:/t", self.dir.0.display());
        let mut args: Vec<&str> = vec!["run", "-v", &vol];
        args.extend(seccomp.iter().map(String::as_str));
        args.push("--");
        args.extend(cmd);
        let o = nucleus(&args);
        (o.status.code(), stdout(&o).trim().to_string())
    }

    fn python(&self, seccomp: &[String], what: &str) -> String {
        let (code, out) = self.run(seccomp, &["python3", "/t/probe.py", what]);
        assert_eq!(code, Some(0), "probe {what} with {seccomp:?}: {out}");
        out
    }
}

fn mode(m: &str) -> Vec<String> {
    vec!["--seccomp".into(), m.into()]
}

#[test]
fn x32_syscalls_are_denied_by_the_filter() {
    if !privileged("x32_syscalls_are_denied_by_the_filter") {
        return;
    }
    let p = Probe::new();
    // This kernel has no x32: without a filter the number is unknown (ENOSYS)...
    assert_eq!(p.python(&mode("unconfined"), "x32_unshare"), "errno=38");
    // ...and every profile's filter answers EPERM first, even one that allows by default.
    for prof in [
        mode("default"),
        p.profile("deny.json"),
        p.profile("deny86.json"),
    ] {
        assert_eq!(p.python(&prof, "x32_unshare"), "errno=1", "{prof:?}");
        assert_eq!(p.python(&prof, "x32_getpid"), "errno=1", "{prof:?}");
    }
}

#[test]
fn i386_syscalls_are_filtered_by_name_not_killed() {
    if !privileged("i386_syscalls_are_filtered_by_name_not_killed") {
        return;
    }
    let p = Probe::new();
    let src = p.dir.path("int80.c");
    std::fs::write(&src, INT80).unwrap();
    let out = Command::new("gcc")
        .args(["-static", "-O2", "-o"])
        .arg(p.dir.path("int80"))
        .arg(&src)
        .output()
        .expect("gcc (the i386 test builds its helper with gcc -static)");
    assert!(out.status.success(), "gcc: {}", stderr(&out));
    let int80 = |seccomp: &[String], nr: &str| p.run(seccomp, &["/t/int80", nr]);
    // i386 getpid is 20, unshare is 310; the program is PID 1 of its namespace.
    assert_eq!(int80(&mode("unconfined"), "310"), (Some(0), "0".into()));
    assert_eq!(int80(&mode("default"), "20"), (Some(0), "1".into()));
    assert_eq!(int80(&mode("default"), "310"), (Some(0), "-1".into()));
    let x86 = p.profile("deny86.json");
    assert_eq!(int80(&x86, "20"), (Some(0), "1".into()));
    assert_eq!(int80(&x86, "310"), (Some(0), "-1".into()));
    // A profile that does not list SCMP_ARCH_X86: any i386 syscall kills (SIGSYS).
    let native_only = p.profile("deny.json");
    assert_eq!(int80(&native_only, "20"), (Some(128 + 31), "".into()));
}

#[test]
fn io_uring_is_denied_by_default() {
    if !privileged("io_uring_is_denied_by_default") {
        return;
    }
    let p = Probe::new();
    // The kernel rejects the NULL params with EFAULT; the filter never lets it get there.
    assert_eq!(p.python(&mode("unconfined"), "io_uring_setup"), "errno=14");
    assert_eq!(p.python(&mode("default"), "io_uring_setup"), "errno=1");
}

#[test]
fn tiocsti_and_tioclinux_are_denied_by_default() {
    if !privileged("tiocsti_and_tioclinux_are_denied_by_default") {
        return;
    }
    let p = Probe::new();
    for req in ["tiocsti", "tioclinux", "tiocgwinsz"] {
        assert_eq!(p.python(&mode("unconfined"), req), "errno=25", "{req}");
    }
    assert_eq!(p.python(&mode("default"), "tiocsti"), "errno=1");
    assert_eq!(p.python(&mode("default"), "tioclinux"), "errno=1");
    // Other ioctls still reach the kernel.
    assert_eq!(p.python(&mode("default"), "tiocgwinsz"), "errno=25");
}

#[test]
fn docker_format_profiles_are_refused() {
    if !privileged("docker_format_profiles_are_refused") {
        return;
    }
    let p = Probe::new();
    for (text, field) in [
        (
            r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]}],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
            "archMap",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["unshare"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_SYS_ADMIN"]}}]}"#,
            "syscalls[0].excludes",
        ),
        (
            r#"{"defaultAction":"SCMP_ACT_ALLOW","defaultErrno":"EPERM"}"#,
            "defaultErrno",
        ),
    ] {
        std::fs::write(p.dir.path("docker.json"), text).unwrap();
        let path = p.dir.path("docker.json");
        let o = nucleus(&[
            "run",
            "--seccomp-profile",
            path.to_str().unwrap(),
            "--",
            "true",
        ]);
        assert_eq!(o.status.code(), Some(1), "{text}");
        let err = stderr(&o);
        assert!(err.contains(field), "{field}: {err}");
    }
}
