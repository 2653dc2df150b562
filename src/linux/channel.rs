//! The one protocol between the runtime and the processes it starts (the container's
//! first process, the `exec` children, the user-namespace helper).
//!
//! Every message is one frame on a close-on-exec pipe ([`pair`]):
//!
//! ```text
//!   tag: u8 | length: u32 little-endian | body: `length` bytes
//! ```
//!
//! written with a single write(2) (frames under PIPE_BUF, 4096 bytes, are atomic even when
//! two processes share a pipe). Bodies are hand-rolled: integers little-endian, strings as
//! a u32 length and UTF-8 bytes. Hand-rolled rather than serde_json: the six messages are
//! fixed, the child sends them on the hot path of every container start, and it costs no
//! serializer code in the copy of the runtime that runs in the container. The types are
//! per direction — [`ToChild`] on the go channel, [`FromChild`] back — so a process cannot
//! be sent what it does not understand. A length over [`MAX_FRAME`], an unknown tag, a
//! body that does not parse and EOF inside a frame are errors ([`Error`]); EOF before a
//! frame is [`Error::Eof`], which each side gives its own meaning below.
//!
//! ## create → start (`container::run::launch`, `linux::init`)
//! ```text
//!   runtime                                   container process
//!   clone ──────────────────────────────────▶ (waits on the go channel)
//!   record pid, write id maps,
//!   createRuntime hooks (if any)
//!   Go{state} ──────────────────────────────▶ becomes userns root, joins namespaces,
//!   write cgroup.procs                         builds its root (up to pivot_root)
//!   Joined ─────────────────────────────────▶ enters its cgroup namespace, pivots,
//!                                              hostname, rlimits, cwd, capabilities
//!            ◀────────────────────────────── Log{…} (only with --debug), any number
//!            ◀────────────────────────────── Ready       (create: at the exec FIFO)
//!   `create` exits                             … `start` opens the FIFO … execve
//!            ◀────────────────────────────── EOF         (one-shot run: execve done)
//!            ◀────────────────────────────── Failed{…}   (instead, on any failure)
//! ```
//! EOF on the go channel before Go or Joined means the runtime died: the process exits
//! at once (crash safety: nothing runs that `delete -f` could not find). After Ready the
//! error channel is closed; later failures go to the container's stderr ([`Sink`]).
//!
//! ## exec (`linux::exec::exec_in`)
//! ```text
//!   runtime            intermediate (joins cgroup, namespaces)     exec'd process
//!   fork ─────────────▶ fork ──────────────────────────────────────▶
//!            ◀──────── Pid(n) on the pid channel, then exits
//!   (tracing: follow n)
//!   Go{} ─────────────────────────────────────────────────────────▶ (only when traced)
//!            ◀───────────────────────────────────────────────────── Log / Failed / EOF
//! ```
//!
//! ## user-namespace helper (`linux::namespaces::spawn_in_user_ns`)
//! ```text
//!   runtime                helper
//!   fork ─────────────────▶ setns(user), clone the container process
//!            ◀──────────── Pid(n) | Failed{…}  (exactly one frame: the new process keeps
//!                                               a copy of the pipe, so no EOF comes)
//! ```

use std::io::{Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// The largest body accepted: the state document on the go channel is the big one.
pub const MAX_FRAME: u32 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the other side closed the channel")]
    Eof,
    #[error("the channel closed inside a message")]
    Truncated,
    #[error("unknown message tag {0:#04x}")]
    UnknownTag(u8),
    #[error("message of {0} bytes is over the limit ({MAX_FRAME})")]
    Oversized(u32),
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A failure inside a child: exit status for nucleus, message, optional hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(message: impl std::fmt::Display) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
            hint: None,
        }
    }

    /// A failure with a hint.
    pub fn hinted(message: impl std::fmt::Display, hint: Option<String>) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
            hint,
        }
    }
}

/// The runtime to its child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToChild {
    /// Go on: id maps written, createRuntime hooks run. `state` is the state document the
    /// container's hooks read (empty for `exec`).
    Go { state: Vec<u8> },
    /// The process is in its cgroup.
    Joined,
}

/// A debug record from a child, shown by the runtime's logger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// `log::Level` as its number (1 error … 5 trace).
    pub level: u8,
    pub msg: String,
}

/// A child to the runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromChild {
    /// At the exec gate: set-up is done (`create` may exit).
    Ready,
    /// Set-up failed; the process exits with `code`.
    Failed(Failure),
    /// A process was started (the `exec` intermediate, the user-namespace helper).
    Pid(i32),
    /// A debug record (only sent with --debug).
    Log(LogRecord),
}

/// A message type of one direction.
pub trait Message: Sized {
    /// Appends the body to `out`; returns the tag.
    fn encode(&self, out: &mut Vec<u8>) -> u8;
    fn decode(tag: u8, body: &mut Body<'_>) -> Result<Self, Error>;
}

const TAG_GO: u8 = b'G';
const TAG_JOINED: u8 = b'J';
const TAG_READY: u8 = b'R';
const TAG_FAILED: u8 = b'F';
const TAG_PID: u8 = b'P';
const TAG_LOG: u8 = b'L';

impl Message for ToChild {
    fn encode(&self, out: &mut Vec<u8>) -> u8 {
        match self {
            ToChild::Go { state } => {
                out.extend_from_slice(state);
                TAG_GO
            }
            ToChild::Joined => TAG_JOINED,
        }
    }

    fn decode(tag: u8, body: &mut Body<'_>) -> Result<Self, Error> {
        match tag {
            TAG_GO => Ok(ToChild::Go {
                state: body.rest().to_vec(),
            }),
            TAG_JOINED => Ok(ToChild::Joined),
            t => Err(Error::UnknownTag(t)),
        }
    }
}

impl Message for FromChild {
    fn encode(&self, out: &mut Vec<u8>) -> u8 {
        match self {
            FromChild::Ready => TAG_READY,
            FromChild::Failed(f) => {
                out.extend_from_slice(&f.code.to_le_bytes());
                put_str(out, &f.message);
                match &f.hint {
                    Some(h) => {
                        out.push(1);
                        put_str(out, h);
                    }
                    None => out.push(0),
                }
                TAG_FAILED
            }
            FromChild::Pid(p) => {
                out.extend_from_slice(&p.to_le_bytes());
                TAG_PID
            }
            FromChild::Log(r) => {
                out.push(r.level);
                put_str(out, &r.msg);
                TAG_LOG
            }
        }
    }

    fn decode(tag: u8, body: &mut Body<'_>) -> Result<Self, Error> {
        match tag {
            TAG_READY => Ok(FromChild::Ready),
            TAG_FAILED => {
                let code = body.i32()?;
                let message = body.str()?;
                let hint = match body.u8()? {
                    0 => None,
                    _ => Some(body.str()?),
                };
                Ok(FromChild::Failed(Failure {
                    code,
                    message,
                    hint,
                }))
            }
            TAG_PID => Ok(FromChild::Pid(body.i32()?)),
            TAG_LOG => Ok(FromChild::Log(LogRecord {
                level: body.u8()?,
                msg: body.str()?,
            })),
            t => Err(Error::UnknownTag(t)),
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A frame's body being read.
pub struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        if self.0.len() < n {
            return Err(Error::Malformed("body too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self) -> Result<i32, Error> {
        Ok(self.u32()? as i32)
    }

    fn str(&mut self) -> Result<String, Error> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| Error::Malformed("not UTF-8"))
    }

    fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }
}

/// One frame of `msg`: tag, length, body.
pub fn frame<M: Message>(msg: &M) -> Vec<u8> {
    let mut out = vec![0u8; 5];
    out[0] = msg.encode(&mut out);
    let len = (out.len() - 5) as u32;
    out[1..5].copy_from_slice(&len.to_le_bytes());
    out
}

/// Reads one frame from `r`.
pub fn read<M: Message>(r: &mut impl Read) -> Result<M, Error> {
    let mut head = [0u8; 5];
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Err(Error::Eof),
            Ok(0) => return Err(Error::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
    if len > MAX_FRAME {
        return Err(Error::Oversized(len));
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Truncated,
        _ => Error::Io(e),
    })?;
    let mut b = Body(&body);
    let msg = M::decode(head[0], &mut b)?;
    if !b.0.is_empty() {
        return Err(Error::Malformed("trailing bytes"));
    }
    Ok(msg)
}

/// Sends `msg` on the channel whose write end is descriptor `fd` (the debug logger's
/// forwarding, which holds the number while a [`Sink`] owns the descriptor).
pub fn send_raw(fd: RawFd, msg: &FromChild) -> std::io::Result<()> {
    let bytes = frame(msg);
    // SAFETY: write(2) reads `bytes.len()` bytes from a live buffer; `fd` is the error
    // channel, open until the Sink that owns it stops the forwarding before closing it.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    match n {
        n if n < 0 => Err(std::io::Error::last_os_error()),
        n if n as usize != bytes.len() => Err(std::io::ErrorKind::WriteZero.into()),
        _ => Ok(()),
    }
}

/// The sending end of a channel of `M`.
pub struct Sender<M> {
    fd: std::fs::File,
    _m: PhantomData<fn(M)>,
}

/// The receiving end of a channel of `M`.
pub struct Receiver<M> {
    fd: std::fs::File,
    _m: PhantomData<fn() -> M>,
}

/// A close-on-exec pipe carrying `M`: (receiver, sender).
pub fn pair<M: Message>() -> Result<(Receiver<M>, Sender<M>), nix::errno::Errno> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((Receiver::from(r), Sender::from(w)))
}

impl<M: Message> Sender<M> {
    /// Sends `msg` as one write.
    pub fn send(&self, msg: &M) -> std::io::Result<()> {
        (&self.fd).write_all(&frame(msg))
    }
}

impl<M: Message> Receiver<M> {
    /// Waits for the next message.
    pub fn recv(&self) -> Result<M, Error> {
        read(&mut &self.fd)
    }
}

impl<M> From<OwnedFd> for Sender<M> {
    fn from(fd: OwnedFd) -> Self {
        Sender {
            fd: fd.into(),
            _m: PhantomData,
        }
    }
}

impl<M> From<OwnedFd> for Receiver<M> {
    fn from(fd: OwnedFd) -> Self {
        Receiver {
            fd: fd.into(),
            _m: PhantomData,
        }
    }
}

impl<M> AsFd for Sender<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<M> AsFd for Receiver<M> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<M> AsRawFd for Sender<M> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl<M> AsRawFd for Receiver<M> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Where a child's failure goes. Until the exec gate reports Ready it is the runtime (the
/// error channel); after that `create` has exited and the channel is closed, so the
/// reason goes to the container's stderr, where whoever started it reads its output.
pub enum Sink {
    Runtime(Sender<FromChild>),
    Stderr,
}

impl Sink {
    /// Reports Ready and switches to stderr (the error channel closes).
    pub fn ready(&mut self) -> std::io::Result<()> {
        match std::mem::replace(self, Sink::Stderr) {
            Sink::Runtime(s) => {
                crate::logging::stop_forwarding();
                s.send(&FromChild::Ready)
            }
            Sink::Stderr => Ok(()),
        }
    }

    /// Gives up the channel without a message (the --init process keeps no copy).
    pub fn close(&mut self) {
        if let Sink::Runtime(_) = self {
            crate::logging::stop_forwarding();
        }
        *self = Sink::Stderr;
    }

    /// Reports `f` where it goes now.
    pub fn fail(self, f: &Failure) {
        match self {
            Sink::Runtime(s) => {
                crate::logging::stop_forwarding();
                // Ignored: if the runtime is gone nobody is left to tell; the child exits
                // with the failure's code either way.
                let _ = s.send(&FromChild::Failed(f.clone()));
            }
            Sink::Stderr => {
                // Ignored: stderr is the last channel; the exit status says it failed.
                let _ = std::io::stderr().write_all(format!("nucleus: {}\n", f.message).as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round<M: Message + PartialEq + std::fmt::Debug>(m: M) {
        let bytes = frame(&m);
        assert_eq!(read::<M>(&mut &bytes[..]).unwrap(), m);
    }

    #[test]
    fn every_message_round_trips() {
        round(ToChild::Go { state: vec![] });
        round(ToChild::Go {
            state: b"{\"id\":\"x\"}".to_vec(),
        });
        round(ToChild::Joined);
        round(FromChild::Ready);
        round(FromChild::Pid(4242));
        round(FromChild::Pid(-1));
        round(FromChild::Failed(Failure::new(
            "rootfs: mount /proc: EPERM",
        )));
        round(FromChild::Failed(Failure {
            code: 127,
            message: "sh: command not found\nsecond line".into(),
            hint: Some("look inside the root".into()),
        }));
        round(FromChild::Failed(Failure {
            code: 1,
            message: String::new(),
            hint: Some(String::new()),
        }));
        round(FromChild::Log(LogRecord {
            level: 4,
            msg: "init: mounts done ✓".into(),
        }));
    }

    #[test]
    fn messages_follow_each_other_on_one_stream() {
        let mut bytes = frame(&FromChild::Log(LogRecord {
            level: 4,
            msg: "a".into(),
        }));
        bytes.extend(frame(&FromChild::Ready));
        let mut r = &bytes[..];
        assert!(matches!(read::<FromChild>(&mut r), Ok(FromChild::Log(_))));
        assert_eq!(read::<FromChild>(&mut r).unwrap(), FromChild::Ready);
        assert!(matches!(read::<FromChild>(&mut r), Err(Error::Eof)));
    }

    #[test]
    fn eof_before_a_message_is_eof() {
        assert!(matches!(read::<ToChild>(&mut &[][..]), Err(Error::Eof)));
    }

    #[test]
    fn truncated_frames_are_refused() {
        let bytes = frame(&FromChild::Failed(Failure::new("boom")));
        for cut in 1..bytes.len() {
            let r = read::<FromChild>(&mut &bytes[..cut]);
            assert!(matches!(r, Err(Error::Truncated)), "cut at {cut}: {r:?}");
        }
    }

    #[test]
    fn unknown_tags_are_refused() {
        let bytes = [b'Z', 0, 0, 0, 0];
        assert!(matches!(
            read::<FromChild>(&mut &bytes[..]),
            Err(Error::UnknownTag(b'Z'))
        ));
        // A message of the other direction is unknown too.
        let go = frame(&ToChild::Joined);
        assert!(matches!(
            read::<FromChild>(&mut &go[..]),
            Err(Error::UnknownTag(TAG_JOINED))
        ));
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocating() {
        let mut bytes = vec![TAG_GO];
        bytes.extend(u32::MAX.to_le_bytes());
        assert!(matches!(
            read::<ToChild>(&mut &bytes[..]),
            Err(Error::Oversized(u32::MAX))
        ));
    }

    #[test]
    fn malformed_bodies_are_refused() {
        // A Pid with two bytes, a Failed whose string is longer than its frame, a Joined
        // with a body.
        let cases: [&[u8]; 3] = [
            &[TAG_PID, 2, 0, 0, 0, 1, 2],
            &[TAG_FAILED, 8, 0, 0, 0, 1, 0, 0, 0, 200, 0, 0, 0],
            &[TAG_READY, 1, 0, 0, 0, 0],
        ];
        for c in cases {
            assert!(
                matches!(read::<FromChild>(&mut &c[..]), Err(Error::Malformed(_))),
                "{c:?}"
            );
        }
    }

    #[test]
    fn a_pipe_pair_carries_messages_and_is_close_on_exec() {
        let (r, w) = pair::<FromChild>().unwrap();
        for fd in [r.as_fd(), w.as_fd()] {
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
            assert_ne!(flags & libc::FD_CLOEXEC, 0);
        }
        w.send(&FromChild::Pid(7)).unwrap();
        drop(w);
        assert_eq!(r.recv().unwrap(), FromChild::Pid(7));
        assert!(matches!(r.recv(), Err(Error::Eof)));
    }
}
