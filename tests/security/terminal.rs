//! #9.5: the program runs in a new session and cannot type into the caller's terminal.
//! nucleus is started on a pty that is its controlling terminal; inside, with seccomp off
//! (so the kernel alone answers), TIOCSTI on stdin and opening /dev/tty must fail.

use crate::common::*;

#[test]
fn program_cannot_reach_the_callers_terminal() {
    if !privileged("program_cannot_reach_the_callers_terminal") {
        return;
    }
    let inner = r#"
import errno, fcntl, os, termios
r = {"session_leader": os.getsid(0) == os.getpid()}
try:
    fcntl.ioctl(0, termios.TIOCSTI, b"X")
    r["tiocsti"] = "ok"
except OSError as e:
    r["tiocsti"] = errno.errorcode[e.errno]
try:
    os.open("/dev/tty", os.O_RDWR)
    r["dev_tty"] = "ok"
except OSError as e:
    r["dev_tty"] = errno.errorcode[e.errno]
print("RESULT", r)
"#;
    let harness = r#"
import fcntl, os, pty, subprocess, sys, termios
m, s = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=s, stdout=s, stderr=s, start_new_session=True,
                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
os.close(s)
out = b""
while True:
    try:
        chunk = os.read(m, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait()
sys.stdout.write(out.decode(errors="replace"))
"#;
    let o = std::process::Command::new("python3")
        .args([
            "-c",
            harness,
            NUCLEUS,
            "run",
            "--seccomp",
            "unconfined",
            "--",
        ])
        .args(["python3", "-c", inner])
        .output()
        .unwrap();
    let out = stdout(&o);
    let line = out
        .lines()
        // An injected character would land before it on the same line.
        .find(|l| l.contains("RESULT {"))
        .unwrap_or_else(|| panic!("no result: {out}\n{}", stderr(&o)));
    assert!(line.contains("'session_leader': True"), "{line}");
    assert!(line.contains("'tiocsti': 'EPERM'"), "{line}");
    assert!(line.contains("'dev_tty': 'ENXIO'"), "{line}");
}
