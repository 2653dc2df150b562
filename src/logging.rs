//! Debug logging (`--debug`), through the `log` facade and this tiny logger.
//!
//! Why `log` and not `tracing`: the runtime needs leveled one-line records, nothing more,
//! and `log` costs one relaxed atomic load per `debug!` while no logger is set (the
//! default: without --debug [`init`] does nothing and the level stays `Off`); `tracing`'s
//! subscriber, spans and callsite registry are more code in every page of a start.
//!
//! The runtime writes records to `--log` (else stderr), as runc does: with
//! `--log-format json` one `{"level","msg","time"}` object per line, else `LEVEL: msg`.
//! A child (the container's process, an `exec` child) cannot write there — it closes
//! every descriptor it was not given — so while it talks to the runtime it forwards its
//! records over its error channel ([`forward_to`]; `linux::channel::FromChild::Log`), and
//! the runtime logs them as its own ([`replay`]). After the exec gate nothing is
//! forwarded: the channel is closed and the container's stderr is the program's.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::Mutex;

enum Target {
    Off,
    /// The runtime: --log or stderr.
    Out {
        file: Option<std::fs::File>,
        json: bool,
    },
    /// A child: the write end of its error channel.
    Forward(RawFd),
}

static TARGET: Mutex<Target> = Mutex::new(Target::Off);

struct Logger;

static LOGGER: Logger = Logger;

/// Turns debug logging on (`--debug`): records go to `log` (appended) or stderr. Without
/// `debug` nothing is set up and `debug!` stays a single atomic load.
pub fn init(debug: bool, log: Option<&std::path::Path>, json: bool) {
    if !debug {
        return;
    }
    let file = log.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    *lock() = Target::Out { file, json };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Target> {
    TARGET.lock().unwrap_or_else(|e| e.into_inner())
}

/// In a child: records go over the error channel `fd` from now on. The runtime's --log
/// descriptor is forgotten, not closed (the child closes stray descriptors itself, and a
/// number closed twice could be someone else's by then).
pub fn forward_to(fd: RawFd) {
    if !log::log_enabled!(log::Level::Error) {
        return;
    }
    let old = std::mem::replace(&mut *lock(), Target::Forward(fd));
    if let Target::Out { file: Some(f), .. } = old {
        std::mem::forget(f);
    }
}

/// In a child: the error channel is about to close; records are dropped from now on.
pub fn stop_forwarding() {
    let mut t = lock();
    if let Target::Forward(_) = *t {
        *t = Target::Off;
        log::set_max_level(log::LevelFilter::Off);
    }
}

/// Logs a record a child forwarded.
pub fn replay(r: &crate::linux::channel::LogRecord) {
    let level = match r.level {
        1 => log::Level::Error,
        2 => log::Level::Warn,
        3 => log::Level::Info,
        4 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    log::log!(level, "{}", r.msg);
}

/// One --log line: runc's JSON object, or `level: msg`.
pub fn line(level: &str, msg: &str, json: bool) -> String {
    if json {
        serde_json::json!({"level": level, "msg": msg, "time": crate::container::state::now_rfc3339()})
            .to_string()
    } else {
        format!("{level}: {msg}")
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let msg = r.args().to_string();
        let mut t = lock();
        match &mut *t {
            Target::Off => {}
            Target::Forward(fd) => {
                let rec = crate::linux::channel::LogRecord {
                    level: r.level() as u8,
                    msg,
                };
                // Ignored: a debug record the runtime cannot take is not worth failing for.
                let _ = crate::linux::channel::send_raw(
                    *fd,
                    &crate::linux::channel::FromChild::Log(rec),
                );
            }
            Target::Out { file, json } => {
                let level = r.level().as_str().to_ascii_lowercase();
                let text = format!("{}\n", line(&level, &msg, *json));
                // Ignored: debug output is best effort; it must never fail a container.
                let _ = match file {
                    Some(f) => f.write_all(text.as_bytes()),
                    None => std::io::stderr().write_all(text.as_bytes()),
                };
            }
        }
    }

    fn flush(&self) {}
}
