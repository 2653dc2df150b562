//! Capability checks (and syscalls) recorded from tracefs, turned into a report.
//!
//! Pure: this file parses the text tracefs prints (`trace`, `trace_pipe`) and aggregates it;
//! `linux::tracefs` owns the instance and feeds a [`Recorder`].
//!
//! Events used (Linux 6.14+ for the first):
//! - `capability:cap_capable` — `cred %p, target_ns %p, capable_ns %p, cap %d, ret %d`, one
//!   per capability check (ret 0 = granted, negative = denied). The tracepoint has **no**
//!   `opts`/no-audit field, so each event carries a kernel stack (a `stacktrace` trigger on
//!   the event prints a `<stack trace>` record right after it) and the no-audit checks are
//!   recognised by their callers ([`NO_AUDIT_CALLERS`]).
//! - `raw_syscalls:sys_enter` / `sys_exit` — `NR %ld (…)` / `NR %ld = %ld`. seccomp runs
//!   before the enter tracepoint, so a syscall refused by a filter (`SECCOMP_RET_ERRNO`)
//!   shows as a `sys_exit` with no `sys_enter` before it.
//! - `sched:sched_process_exec` / `sched_process_fork` — the "started" rule below.
//!
//! **Started rule.** The traced process is followed before nucleus has finished setting it
//! up (its own capset/setuid calls must not count). A pid's events count only once it is
//! started: a pid becomes started at its exec; a child forked by a started pid is started;
//! a child forked by a pid that is not started is not, until its own exec. Events of pids
//! that are not started only teach the recorder the initial user namespace and pending
//! syscall entries.

use super::cap::Capability;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One record of the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Cap {
        pid: i32,
        comm: String,
        cap: u8,
        granted: bool,
        target_ns: String,
        capable_ns: String,
        /// Kernel functions, innermost first (`cap_capable`, `security_capable`, …).
        stack: Vec<String>,
    },
    SysEnter {
        pid: i32,
        nr: i64,
    },
    SysExit {
        pid: i32,
        nr: i64,
        ret: i64,
    },
    Exec {
        pid: i32,
        /// The program's name: the file's base name, cut to 15 bytes.
        comm: String,
        /// The name tracefs showed for the process at the exec (its name before it).
        before: String,
    },
    Fork {
        parent: i32,
        child: i32,
    },
}

/// Callers whose capability checks are made without auditing (`CAP_OPT_NOAUDIT`): the kernel
/// asks opportunistically and a "no" does not fail the operation (or a "yes" only relaxes a
/// heuristic). A check whose stack holds a frame containing one of these is *opportunistic*:
/// reported apart, never part of the minimal set.
pub const NO_AUDIT_CALLERS: &[(&str, &str)] = &[
    (
        "noaudit",
        "ns_capable_noaudit, has_capability_noaudit, has_ns_capability_noaudit: the caller \
         asked not to be audited because a refusal has a fallback (e.g. seccomp filters without \
         no_new_privs, ptrace access with PTRACE_MODE_NOAUDIT from /proc)",
    ),
    (
        "vm_enough_memory",
        "security_vm_enough_memory_mm / cap_vm_enough_memory / __vm_enough_memory: every \
         mmap, brk, fork and exec asks whether CAP_SYS_ADMIN may use the admin memory reserve \
         under strict overcommit; without it the allocation still succeeds normally",
    ),
];

/// Narrow capabilities the kernel tries before a broader alternative in the same place:
/// (narrow, broad, where). When the narrow check is denied and the broad one granted right
/// after, the narrow check is "satisfied by" the broad one, not a denial, and holding the
/// narrow one alone would have passed (the kernel checks it first), so the minimal set
/// takes the narrow one.
pub const FALLBACKS: &[(u8, u8, &str)] = &[
    (
        2,
        1,
        "generic_permission: dac_read_search before dac_override",
    ),
    (38, 21, "perfmon_capable: perfmon before sys_admin"),
    (39, 21, "bpf_capable: bpf before sys_admin"),
    (
        40,
        21,
        "checkpoint_restore_ns_capable: checkpoint_restore before sys_admin",
    ),
    (34, 21, "syslog: syslog before sys_admin"),
];

fn fallback_of(narrow: u8, broad: u8) -> bool {
    FALLBACKS.iter().any(|&(n, b, _)| n == narrow && b == broad)
}

/// Whether a stack marks a check as no-audit; the reason when it does.
pub fn no_audit_reason(stack: &[String]) -> Option<&'static str> {
    stack.iter().find_map(|f| {
        NO_AUDIT_CALLERS
            .iter()
            .find(|(pat, _)| f.contains(pat))
            .map(|(pat, _)| *pat)
    })
}

fn is_vm_enough_memory(stack: &[String]) -> bool {
    stack.iter().any(|f| f.contains("vm_enough_memory"))
}

/// The header of a text record: `comm-pid [cpu] flags timestamp: event: body`.
struct Header<'a> {
    comm: &'a str,
    pid: i32,
    event: &'a str,
    body: &'a str,
}

fn header(line: &str) -> Option<Header<'_>> {
    // The cpu field "[001]" is the first bracket holding only digits.
    let mut search = 0;
    let (open, close) = loop {
        let o = search + line[search..].find('[')?;
        let c = o + line[o..].find(']')?;
        if c > o + 1 && line[o + 1..c].bytes().all(|b| b.is_ascii_digit()) {
            break (o, c);
        }
        search = o + 1;
    };
    let task = line[..open].trim();
    let (comm, pid) = task.rsplit_once('-')?;
    let pid: i32 = pid.parse().ok()?;
    // After the cpu: optional flags, then "timestamp:", then "event: body".
    let rest = &line[close + 1..];
    let mut at = 0;
    let mut after_ts = None;
    for tok in rest.split_whitespace() {
        let pos = at + rest[at..].find(tok)?;
        at = pos + tok.len();
        if let Some(ts) = tok.strip_suffix(':') {
            if ts.contains('.') && ts.parse::<f64>().is_ok() {
                after_ts = Some(at);
                break;
            }
        }
    }
    let rest = rest[after_ts?..].trim_start();
    let (event, body) = match rest.split_once(": ") {
        Some((e, b)) => (e, b),
        None => (rest.trim_end(), ""),
    };
    Some(Header {
        comm,
        pid,
        event,
        body,
    })
}

/// `key value` pairs separated by ", " (cap_capable) or `key=value` words (sched).
fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    for part in body.split(", ") {
        if let Some(v) = part.strip_prefix(key) {
            if let Some(v) = v.strip_prefix(' ') {
                return Some(v.trim());
            }
        }
    }
    None
}

fn kv<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn nr_of(body: &str) -> Option<i64> {
    body.strip_prefix("NR ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A streaming parser: feed lines as they come (a `<stack trace>` record is attached to the
/// capability check of the same pid just before it).
#[derive(Default)]
pub struct Parser {
    /// Capability checks waiting for their stack, by pid.
    pending: HashMap<i32, Event>,
    /// The pid whose stack lines are being read.
    in_stack: Option<i32>,
    /// Lines like "CPU:1 [LOST 12 EVENTS]".
    pub lost: u64,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses one line; finished events are appended to `out`.
    pub fn line(&mut self, line: &str, out: &mut Vec<Event>) {
        if let Some(frame) = line.strip_prefix(" => ") {
            if let Some(Event::Cap { stack, .. }) =
                self.in_stack.and_then(|p| self.pending.get_mut(&p))
            {
                stack.push(frame.trim().to_string());
            }
            return;
        }
        // Any other line ends a stack: the check is complete.
        if let Some(p) = self.in_stack.take() {
            if let Some(ev) = self.pending.remove(&p) {
                out.push(ev);
            }
        }
        if line.starts_with('#') || line.trim().is_empty() {
            return;
        }
        if let Some(n) = line
            .split_once("[LOST ")
            .and_then(|(_, r)| r.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
        {
            self.lost += n;
            return;
        }
        let Some(h) = header(line) else { return };
        if h.event == "<stack trace>" {
            if let Some(Event::Cap { stack, .. }) = self.pending.get_mut(&h.pid) {
                if stack.is_empty() {
                    self.in_stack = Some(h.pid);
                }
            }
            return;
        }
        // A new record of this pid: its earlier check (if it got no stack) is complete.
        if let Some(ev) = self.pending.remove(&h.pid) {
            out.push(ev);
        }
        let ev = match h.event {
            "cap_capable" => {
                let cap = field(h.body, "cap").and_then(|v| v.parse::<u8>().ok());
                let ret = field(h.body, "ret").and_then(|v| v.parse::<i64>().ok());
                let (Some(cap), Some(ret)) = (cap, ret) else {
                    return;
                };
                self.pending.insert(
                    h.pid,
                    Event::Cap {
                        pid: h.pid,
                        comm: h.comm.to_string(),
                        cap,
                        granted: ret == 0,
                        target_ns: field(h.body, "target_ns").unwrap_or("").to_string(),
                        capable_ns: field(h.body, "capable_ns").unwrap_or("").to_string(),
                        stack: Vec::new(),
                    },
                );
                return;
            }
            "sys_enter" => match nr_of(h.body) {
                Some(nr) => Event::SysEnter { pid: h.pid, nr },
                None => return,
            },
            "sys_exit" => {
                let ret = h
                    .body
                    .rsplit_once(" = ")
                    .and_then(|(_, r)| r.trim().parse::<i64>().ok());
                match (nr_of(h.body), ret) {
                    (Some(nr), Some(ret)) => Event::SysExit {
                        pid: h.pid,
                        nr,
                        ret,
                    },
                    _ => return,
                }
            }
            "sched_process_exec" => {
                let pid = kv(h.body, "pid")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(h.pid);
                // The comm after exec is the file's base name, cut to 15 bytes.
                let comm = kv(h.body, "filename")
                    .map(|f| {
                        let b = f.rsplit('/').next().unwrap_or(f);
                        let mut end = b.len().min(15);
                        while !b.is_char_boundary(end) {
                            end -= 1;
                        }
                        b[..end].to_string()
                    })
                    .unwrap_or_else(|| h.comm.to_string());
                Event::Exec {
                    pid,
                    comm,
                    before: h.comm.to_string(),
                }
            }
            "sched_process_fork" => {
                let parent = kv(h.body, "pid").and_then(|p| p.parse().ok());
                let child = kv(h.body, "child_pid").and_then(|p| p.parse().ok());
                match (parent, child) {
                    (Some(parent), Some(child)) => Event::Fork { parent, child },
                    _ => return,
                }
            }
            _ => return,
        };
        out.push(ev);
    }

    /// Emits the checks still waiting for a stack (at the end of the text).
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        self.in_stack = None;
        let mut rest: Vec<Event> = self.pending.drain().map(|(_, e)| e).collect();
        rest.sort_by_key(|e| match e {
            Event::Cap { pid, .. } => *pid,
            _ => 0,
        });
        out.extend(rest);
    }
}

/// Parses a whole text (`trace` or a chunk of `trace_pipe`), stack records included.
pub fn parse(text: &str) -> Vec<Event> {
    let mut p = Parser::new();
    let mut out = Vec::new();
    for l in text.lines() {
        p.line(l, &mut out);
    }
    p.flush(&mut out);
    out
}

/// A program: its command name and pid.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Program {
    pub comm: String,
    pub pid: i32,
}

impl std::fmt::Display for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.comm, self.pid)
    }
}

/// The checks of one capability in one user namespace.
#[derive(Clone, Debug, Serialize)]
pub struct CapChecks {
    /// Lower-case kernel name, e.g. `cap_net_raw`.
    pub capability: String,
    /// `init` (the initial user namespace), `user:[INODE]` or `ns HASH` when the process was
    /// gone before its namespace could be named.
    pub namespace: String,
    pub granted: u64,
    /// Real denials: refused with no granted alternative right after.
    pub denied: u64,
    /// Denied, then a broader capability was checked and granted (`FALLBACKS`).
    pub satisfied: u64,
    pub satisfied_by: Vec<String>,
    /// The first program that made such a check.
    pub first: Program,
    /// The first program that was really denied.
    pub first_denied: Option<Program>,
    /// Why it is listed apart, for opportunistic (no-audit) checks.
    pub note: Option<String>,
}

/// A capability the kernel denied (complain mode).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Denial {
    pub capability: String,
    pub namespace: String,
    pub count: u64,
    pub first: Program,
}

/// A syscall refused by seccomp (exit without enter).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Refusal {
    /// The errno the filter returned (positive, e.g. 1 for EPERM).
    pub errno: i64,
    pub count: u64,
    pub first: Program,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Audited checks, by capability and namespace (init namespace first).
    pub checks: Vec<CapChecks>,
    /// No-audit checks, listed apart; never part of the minimal set.
    pub opportunistic: Vec<CapChecks>,
    /// The retain-set that grants every granted init-namespace check (short names).
    pub minimal_retain: Vec<String>,
    /// Why the minimal set differs from the granted names (fallback pairs, namespaces).
    pub notes: Vec<String>,
    /// Syscall number -> how often started processes entered it.
    pub syscalls: BTreeMap<i64, u64>,
    /// Syscall number -> refusals by a seccomp filter.
    pub seccomp_refused: BTreeMap<i64, Refusal>,
    /// Events the kernel could not store (buffer full); the report is incomplete if > 0.
    pub lost_events: u64,
    /// Processes that ran (were started) under the trace.
    pub processes: u64,
}

#[derive(Default)]
struct PidState {
    started: bool,
    comm: String,
    /// The name tracefs showed for the pid at its exec: the name before it, which tracefs'
    /// saved cmdlines may still show for later events.
    before_exec: String,
    /// The syscall entered and not yet left.
    entered: Option<i64>,
    /// Created by a fork we saw and has made no event yet (its first event is the exit of
    /// the clone that made it, without an enter).
    fresh: bool,
    /// A denied check that a granted fallback could still satisfy: (cap, key).
    denied_pending: Option<(u8, Key)>,
}

/// Aggregation key: capability, target namespace hash, opportunistic.
type Key = (u8, String, bool);

#[derive(Default)]
struct Agg {
    granted: u64,
    denied: u64,
    satisfied: u64,
    satisfied_by: BTreeSet<u8>,
    first: Option<Program>,
    first_denied: Option<Program>,
    note: Option<&'static str>,
}

/// Follows events in order and aggregates them.
#[derive(Default)]
pub struct Recorder {
    pids: HashMap<i32, PidState>,
    init_ns: Option<String>,
    ns_names: HashMap<String, String>,
    agg: BTreeMap<Key, Agg>,
    /// Capabilities the minimal set needs, with the capability checked and granted.
    needed: BTreeMap<(u8, String), BTreeSet<u8>>,
    syscalls: BTreeMap<i64, u64>,
    refused: BTreeMap<i64, Refusal>,
    processes: u64,
    /// The trace was read long after it was recorded (a detached trace read at delete):
    /// each line's comm is then the process's last name, which is the best one there is.
    read_late: bool,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// A recorder for a buffer read after the fact (see `read_late`).
    pub fn read_late() -> Recorder {
        Recorder {
            read_late: true,
            ..Recorder::default()
        }
    }

    /// Names a namespace hash (e.g. `user:[4026532xyz]`, read live from /proc by the
    /// caller); the first name given wins.
    pub fn name_namespace(&mut self, hash: &str, name: String) {
        self.ns_names.entry(hash.to_string()).or_insert(name);
    }

    /// Whether `hash` still needs a name (a namespace that is not known to be the initial
    /// one and was not named yet).
    pub fn wants_name(&self, hash: &str) -> bool {
        self.init_ns.as_deref() != Some(hash) && !self.ns_names.contains_key(hash)
    }

    /// Marks `pid` started, as if it had executed `comm` (for a process that is followed
    /// after its exec).
    pub fn mark_started(&mut self, pid: i32, comm: &str) {
        let st = self.pids.entry(pid).or_default();
        if !st.started {
            st.started = true;
            self.processes += 1;
        }
        st.comm = comm.to_string();
    }

    pub fn push(&mut self, ev: Event) {
        match ev {
            Event::Fork { parent, child } => {
                let started = self.pids.get(&parent).is_some_and(|p| p.started);
                let comm = self
                    .pids
                    .get(&parent)
                    .map(|p| p.comm.clone())
                    .unwrap_or_default();
                if started {
                    self.processes += 1;
                }
                self.pids.insert(
                    child,
                    PidState {
                        started,
                        comm,
                        fresh: true,
                        ..PidState::default()
                    },
                );
            }
            Event::Exec { pid, comm, before } => {
                let st = self.pids.entry(pid).or_default();
                st.before_exec = before;
                st.fresh = false;
                if !st.started {
                    st.started = true;
                    self.processes += 1;
                    // The exec that starts it was entered before: count it.
                    if let Some(nr) = st.entered {
                        *self.syscalls.entry(nr).or_default() += 1;
                    }
                }
                st.comm = comm;
            }
            Event::SysEnter { pid, nr } => {
                let st = self.pids.entry(pid).or_default();
                st.fresh = false;
                st.entered = Some(nr);
                if st.started {
                    *self.syscalls.entry(nr).or_default() += 1;
                }
            }
            Event::SysExit { pid, nr, ret } => {
                let st = self.pids.entry(pid).or_default();
                let fresh = std::mem::take(&mut st.fresh);
                if st.entered.take().is_some() || fresh || !st.started {
                    return;
                }
                // An exit with no enter: the syscall never ran; a seccomp filter answered
                // with an errno (negative return). Anything else is not a refusal.
                if (-4095..0).contains(&ret) {
                    let first = Program {
                        comm: st.comm.clone(),
                        pid,
                    };
                    let r = self.refused.entry(nr).or_insert(Refusal {
                        errno: -ret,
                        count: 0,
                        first,
                    });
                    r.count += 1;
                }
            }
            Event::Cap {
                pid,
                comm,
                cap,
                granted,
                target_ns,
                stack,
                ..
            } => self.cap(pid, comm, cap, granted, target_ns, &stack),
        }
    }

    fn cap(
        &mut self,
        pid: i32,
        comm: String,
        cap: u8,
        granted: bool,
        target_ns: String,
        stack: &[String],
    ) {
        if self.init_ns.is_none() && is_vm_enough_memory(stack) {
            // cap_vm_enough_memory always checks against &init_user_ns.
            self.init_ns = Some(target_ns.clone());
        }
        let st = self.pids.entry(pid).or_default();
        st.fresh = false;
        if !st.started {
            return;
        }
        // The trace line's comm is looked up when the line is printed (tracefs' saved
        // cmdlines). Read live, it may still be the name from before the exec: then the
        // exec's file name is the program's. A name set later (prctl, e.g. busybox applets
        // run without exec) differs from it and is kept. Read late, every line shows the
        // process's last name: kept as it is.
        let comm = if !self.read_late && !st.comm.is_empty() && comm == st.before_exec {
            st.comm.clone()
        } else {
            comm
        };
        let program = Program { comm, pid };
        let reason = no_audit_reason(stack);
        let key: Key = (cap, target_ns, reason.is_some());
        let pending = if reason.is_none() {
            st.denied_pending.take()
        } else {
            None
        };
        // A denied narrow check followed by this granted broad one: satisfied, not denied.
        let mut minimal_cap = cap;
        if let Some((narrow, nkey)) = pending {
            let a = self.agg.get_mut(&nkey).expect("pending check was counted");
            if granted && fallback_of(narrow, cap) && nkey.1 == key.1 {
                a.satisfied += 1;
                a.satisfied_by.insert(cap);
                minimal_cap = narrow;
            } else {
                a.denied += 1;
                a.first_denied.get_or_insert(program.clone());
            }
        }
        let a = self.agg.entry(key.clone()).or_default();
        a.first.get_or_insert(program.clone());
        a.note = reason;
        if granted {
            a.granted += 1;
            if reason.is_none() {
                self.needed
                    .entry((minimal_cap, key.1))
                    .or_default()
                    .insert(cap);
            }
        } else if reason.is_none() && FALLBACKS.iter().any(|&(n, _, _)| n == cap) {
            // Decided by the next check of this pid (or the end of the trace).
            if let Some(st) = self.pids.get_mut(&pid) {
                st.denied_pending = Some((cap, key));
            }
        } else {
            a.denied += 1;
            if reason.is_none() {
                a.first_denied.get_or_insert(program);
            }
        }
    }

    /// The name shown for a namespace hash.
    fn ns_name(&self, hash: &str) -> String {
        if self.is_init(hash) {
            return "init".into();
        }
        match self.ns_names.get(hash) {
            Some(n) => n.clone(),
            None => format!("ns {hash}"),
        }
    }

    fn is_init(&self, hash: &str) -> bool {
        match &self.init_ns {
            Some(i) => i == hash,
            // Never learned (no memory check seen): with a single namespace, it is the
            // caller's; the tracer runs in the initial one.
            None => self.agg.keys().all(|k| k.1 == hash),
        }
    }

    pub fn finish(mut self, lost_events: u64) -> Report {
        // Denials still waiting for a fallback that never came are real.
        let pending: Vec<(u8, Key)> = self
            .pids
            .values_mut()
            .filter_map(|s| s.denied_pending.take())
            .collect();
        for (_, key) in pending {
            if let Some(a) = self.agg.get_mut(&key) {
                a.denied += 1;
                if a.first_denied.is_none() {
                    a.first_denied = a.first.clone();
                }
            }
        }
        let mut checks = Vec::new();
        let mut opportunistic = Vec::new();
        for ((cap, ns, noaudit), a) in &self.agg {
            let c = CapChecks {
                capability: cap_name(*cap),
                namespace: self.ns_name(ns),
                granted: a.granted,
                denied: a.denied,
                satisfied: a.satisfied,
                satisfied_by: a.satisfied_by.iter().map(|c| cap_name(*c)).collect(),
                first: a.first.clone().unwrap_or(Program {
                    comm: String::new(),
                    pid: 0,
                }),
                first_denied: a.first_denied.clone(),
                note: a.note.map(|r| {
                    let why = NO_AUDIT_CALLERS
                        .iter()
                        .find(|(p, _)| *p == r)
                        .map(|(_, w)| *w)
                        .unwrap_or("");
                    format!("no-audit ({r}): {}", why.split(':').next().unwrap_or(""))
                }),
            };
            if *noaudit {
                opportunistic.push(c);
            } else {
                checks.push(c);
            }
        }
        // Initial namespace first, then the others; by capability within each.
        let order = |c: &CapChecks| (c.namespace != "init", c.namespace.clone());
        checks.sort_by_key(order);
        opportunistic.sort_by_key(order);

        let mut minimal = BTreeSet::new();
        let mut notes = Vec::new();
        let mut child_ns = false;
        for ((need, ns), checked) in &self.needed {
            if !self.is_init(ns) {
                child_ns = true;
                continue;
            }
            minimal.insert(*need);
            for c in checked.iter().filter(|c| *c != need) {
                notes.push(format!(
                    "{} instead of {}: the kernel checks {} first and only falls back to {}, \
                     so holding {} passes",
                    short_name(*need),
                    short_name(*c),
                    short_name(*need),
                    short_name(*c),
                    short_name(*need)
                ));
            }
        }
        if child_ns {
            notes.push(
                "checks in other user namespaces are satisfied by that namespace's own \
                 capabilities (its creator holds all of them there); they are not in the \
                 minimal set"
                    .into(),
            );
        }
        if lost_events > 0 {
            notes.push(format!(
                "{lost_events} events were lost (trace buffer full): the report may be incomplete"
            ));
        }
        Report {
            checks,
            opportunistic,
            minimal_retain: minimal.into_iter().map(short_name).collect(),
            notes,
            syscalls: self.syscalls,
            seccomp_refused: self.refused,
            lost_events,
            processes: self.processes,
        }
    }
}

fn cap_name(c: u8) -> String {
    Capability::from_index(c)
        .map(|c| c.lower_name())
        .unwrap_or_else(|| format!("cap_{c}"))
}

fn short_name(c: u8) -> String {
    Capability::from_index(c)
        .map(|c| c.short_name())
        .unwrap_or_else(|| c.to_string())
}

impl Report {
    /// `{"retain": [...]}`: a policy file `--caps-policy` accepts.
    pub fn minimal_policy_json(&self) -> String {
        serde_json::json!({ "retain": self.minimal_retain }).to_string() + "\n"
    }

    /// Real denials (not those satisfied by a fallback), opportunistic checks excluded.
    pub fn denied_caps(&self) -> Vec<Denial> {
        self.checks
            .iter()
            .filter(|c| c.denied > 0)
            .map(|c| Denial {
                capability: c.capability.clone(),
                namespace: c.namespace.clone(),
                count: c.denied,
                first: c.first_denied.clone().unwrap_or_else(|| c.first.clone()),
            })
            .collect()
    }

    /// The full trace report: a table of checks, then the minimal retain-set.
    pub fn render_text(&self, syscall_name: &dyn Fn(i64) -> Option<String>) -> String {
        let mut s = String::new();
        let rows: Vec<&CapChecks> = self.checks.iter().chain(&self.opportunistic).collect();
        if rows.is_empty() {
            s.push_str("no capability checks\n");
        } else {
            s.push_str(&format!(
                "{:<24} {:>7} {:>6}  {:<22} NOTE\n",
                "CAPABILITY", "GRANTED", "DENIED", "FIRST PROGRAM"
            ));
            for c in rows {
                let mut note = Vec::new();
                if c.namespace != "init" {
                    note.push(format!("user ns {}", c.namespace));
                }
                if c.satisfied > 0 {
                    note.push(format!(
                        "{} satisfied by {}",
                        c.satisfied,
                        c.satisfied_by.join(",")
                    ));
                }
                if let Some(n) = &c.note {
                    note.push(n.clone());
                }
                s.push_str(&format!(
                    "{:<24} {:>7} {:>6}  {:<22} {}\n",
                    c.capability,
                    c.granted,
                    c.denied,
                    c.first.to_string(),
                    note.join("; ")
                ));
            }
        }
        s.push_str(&format!(
            "minimal retain-set: {}\n",
            if self.minimal_retain.is_empty() {
                "(none)".to_string()
            } else {
                self.minimal_retain.join(",")
            }
        ));
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        if !self.seccomp_refused.is_empty() {
            s.push_str(&self.render_refusals(syscall_name));
        }
        s
    }

    fn render_refusals(&self, syscall_name: &dyn Fn(i64) -> Option<String>) -> String {
        let mut s = String::new();
        for (nr, r) in &self.seccomp_refused {
            let name = syscall_name(*nr).unwrap_or_else(|| format!("syscall {nr}"));
            s.push_str(&format!(
                "seccomp refused {name} ({} x{}), first by {}\n",
                errno_name(r.errno),
                r.count,
                r.first
            ));
        }
        s
    }

    /// Complain mode: each capability the kernel denied, each syscall seccomp refused.
    pub fn render_denials(&self, syscall_name: &dyn Fn(i64) -> Option<String>) -> String {
        let mut s = String::new();
        for d in self.denied_caps() {
            let ns = if d.namespace == "init" {
                String::new()
            } else {
                format!(" in user ns {}", d.namespace)
            };
            s.push_str(&format!(
                "denied {} x{}{ns}, first by {}\n",
                d.capability, d.count, d.first
            ));
        }
        s.push_str(&self.render_refusals(syscall_name));
        if s.is_empty() {
            s.push_str("no denials\n");
        }
        if self.lost_events > 0 {
            s.push_str(&format!(
                "note: {} events were lost (trace buffer full): the report may be incomplete\n",
                self.lost_events
            ));
        }
        s
    }
}

/// EPERM for 1 and so on, for the errnos a seccomp profile uses.
fn errno_name(e: i64) -> String {
    let n = match e {
        1 => "EPERM",
        2 => "ENOENT",
        13 => "EACCES",
        22 => "EINVAL",
        38 => "ENOSYS",
        95 => "EOPNOTSUPP",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INIT: &str = "000000007ecd113c";
    const CHILD: &str = "00000000deadbeef";

    fn cap_line(comm: &str, pid: i32, ns: &str, cap: u8, ret: i32) -> String {
        format!(
            "          {comm}-{pid}   [001] .....  7123.264709: cap_capable: cred 00000000041d2518, \
             target_ns {ns}, capable_ns {ns}, cap {cap}, ret {ret}\n"
        )
    }

    fn stack(comm: &str, pid: i32, frames: &[&str]) -> String {
        let mut s = format!("          {comm}-{pid}   [001] .....  7123.264717: <stack trace>\n");
        s.push_str(" => trace_event_raw_event_cap_capable\n => cap_capable\n");
        for f in frames {
            s.push_str(&format!(" => {f}\n"));
        }
        s.push_str(" => do_syscall_64\n => entry_SYSCALL_64_after_hwframe\n");
        s
    }

    fn vm(comm: &str, pid: i32, ret: i32) -> String {
        cap_line(comm, pid, INIT, 21, ret)
            + &stack(comm, pid, &["security_vm_enough_memory_mm", "mmap_region"])
    }

    fn real(comm: &str, pid: i32, ns: &str, cap: u8, ret: i32, caller: &str) -> String {
        cap_line(comm, pid, ns, cap, ret)
            + &stack(comm, pid, &["security_capable", "ns_capable", caller])
    }

    fn exec(comm: &str, pid: i32) -> String {
        format!(
            "          {comm}-{pid}   [000] .....  7205.550047: sched_process_exec: \
             filename=/usr/bin/{comm} pid={pid} old_pid={pid}\n"
        )
    }

    fn fork(comm: &str, pid: i32, child: i32) -> String {
        format!(
            "          {comm}-{pid}   [001] .....  7205.549660: sched_process_fork: comm={comm} \
             pid={pid} child_comm={comm} child_pid={child}\n"
        )
    }

    fn enter(comm: &str, pid: i32, nr: i64) -> String {
        format!(
            "  {comm}-{pid}   [001] .....  7205.548554: sys_enter: NR {nr} (c, 1, 0, 0, 2, 5632)\n"
        )
    }

    fn exit(comm: &str, pid: i32, nr: i64, ret: i64) -> String {
        format!("  {comm}-{pid}   [001] .....  7205.548740: sys_exit: NR {nr} = {ret}\n")
    }

    fn report(text: &str) -> Report {
        let mut r = Recorder::new();
        for e in parse(text) {
            r.push(e);
        }
        r.finish(0)
    }

    fn row<'a>(r: &'a Report, cap: &str) -> &'a CapChecks {
        r.checks
            .iter()
            .find(|c| c.capability == cap)
            .unwrap_or_else(|| panic!("{cap} in {:?}", r.checks))
    }

    #[test]
    fn programs_are_named_by_their_exec_unless_renamed_or_read_late() {
        // Read live, tracefs may still show the name from before the exec ("nucleus"):
        // the exec's file name wins. A later rename (busybox running an applet without
        // exec sets its comm) is kept. Read late, lines show the last name: kept.
        let exec_line = "          nucleus-40   [000] .....  7205.550047: sched_process_exec: \
                         filename=/usr/bin/unshare pid=40 old_pid=40\n";
        let t = exec_line.to_string()
            + &real("nucleus", 40, INIT, 13, 0, "inet_create")
            + &real("chown", 40, INIT, 0, 0, "chown_common");
        let r = report(&t);
        assert_eq!(row(&r, "cap_net_raw").first.comm, "unshare");
        assert_eq!(row(&r, "cap_chown").first.comm, "chown");
        let mut late = Recorder::read_late();
        for e in parse(&t) {
            late.push(e);
        }
        let r = late.finish(0);
        assert_eq!(row(&r, "cap_net_raw").first.comm, "nucleus");
    }

    #[test]
    fn parses_check_with_stack() {
        let t = real("python3", 18674, INIT, 13, 0, "inet_create");
        let ev = parse(&t);
        assert_eq!(ev.len(), 1);
        let Event::Cap {
            pid,
            comm,
            cap,
            granted,
            target_ns,
            stack,
            ..
        } = &ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (*pid, comm.as_str(), *cap, *granted),
            (18674, "python3", 13, true)
        );
        assert_eq!(target_ns, INIT);
        assert!(stack.contains(&"inet_create".to_string()), "{stack:?}");
    }

    #[test]
    fn parses_comm_with_dashes_and_spaces() {
        let t = "   my prog-x-42   [000] d..1.  1.000001: sys_exit: NR 272 = -1\n";
        assert_eq!(
            parse(t),
            vec![Event::SysExit {
                pid: 42,
                nr: 272,
                ret: -1
            }]
        );
    }

    #[test]
    fn stack_attaches_to_its_pid_when_cpus_interleave() {
        let t = cap_line("a", 1, INIT, 13, 0)
            + &enter("b", 2, 0)
            + &stack("a", 1, &["security_capable", "ns_capable", "inet_create"]);
        let ev = parse(&t);
        let Some(Event::Cap { stack, .. }) = ev.iter().find(|e| matches!(e, Event::Cap { .. }))
        else {
            panic!("{ev:?}")
        };
        assert!(stack.iter().any(|f| f == "inet_create"));
    }

    #[test]
    fn not_started_events_are_ignored() {
        // nucleus' own set-up (capset: setpcap) before the exec does not count.
        let t = vm("nucleus", 10, 0)
            + &real("nucleus", 10, INIT, 8, 0, "cap_capset")
            + &enter("nucleus", 10, 126)
            + &exit("nucleus", 10, 126, 0)
            + &enter("nucleus", 10, 59)
            + &exec("python3", 10)
            + &exit("python3", 10, 59, 0)
            + &real("python3", 10, INIT, 13, 0, "inet_create");
        let r = report(&t);
        assert_eq!(r.minimal_retain, vec!["net_raw"]);
        assert!(r.checks.iter().all(|c| c.capability != "cap_setpcap"));
        assert_eq!(r.syscalls.get(&126), None, "capset before exec counted");
        assert_eq!(r.syscalls.get(&59), Some(&1), "the starting execve counts");
        assert!(r.seccomp_refused.is_empty());
    }

    #[test]
    fn children_of_started_pids_are_started_others_at_exec() {
        let t = exec("sh", 10)
            + &fork("sh", 10, 11)
            + &real("sh", 11, INIT, 10, 0, "inet_bind")
            // A child of a pid that is not started: not counted until its exec.
            + &fork("nucleus", 20, 21)
            + &real("nucleus", 21, INIT, 19, 0, "x")
            + &exec("ping", 21)
            + &real("ping", 21, INIT, 13, 0, "inet_create");
        let r = report(&t);
        assert_eq!(r.minimal_retain, vec!["net_bind_service", "net_raw"]);
        assert_eq!(r.processes, 3);
    }

    #[test]
    fn exit_without_enter_is_a_seccomp_refusal_but_not_after_fork() {
        let t = exec("sh", 10)
            + &fork("sh", 10, 11)
            // The child's first event: the exit of clone, no enter. Not a refusal.
            + &exit("sh", 11, 56, 0)
            + &enter("sh", 11, 1)
            + &exit("sh", 11, 1, 3)
            // Refused by seccomp: no enter.
            + &exit("sh", 11, 272, -1)
            + &exit("sh", 11, 272, -1)
            // A fork child whose clone failed in its parent is not our business either.
            + &fork("sh", 10, 12)
            + &exit("sh", 12, 435, 0);
        let r = report(&t);
        assert_eq!(r.seccomp_refused.len(), 1, "{:?}", r.seccomp_refused);
        let refused = &r.seccomp_refused[&272];
        assert_eq!((refused.errno, refused.count), (1, 2));
        assert_eq!(refused.first.pid, 11);
        assert_eq!(r.syscalls.get(&1), Some(&1));
    }

    #[test]
    fn no_audit_checks_are_apart_and_not_minimal() {
        let t = exec("python3", 10)
            + &vm("python3", 10, 0)
            + &vm("python3", 10, 0)
            + &cap_line("python3", 10, INIT, 21, 0)
            + &stack(
                "python3",
                10,
                &["ns_capable_noaudit", "seccomp_prepare_filter"],
            )
            + &real("python3", 10, INIT, 13, 0, "inet_create");
        let r = report(&t);
        assert_eq!(r.minimal_retain, vec!["net_raw"]);
        assert!(r.checks.iter().all(|c| c.capability != "cap_sys_admin"));
        let op = r
            .opportunistic
            .iter()
            .find(|c| c.capability == "cap_sys_admin")
            .expect("listed apart");
        assert_eq!(op.granted, 3);
        assert!(op.note.as_deref().unwrap().contains("no-audit"));
        assert!(r.denied_caps().is_empty());
    }

    #[test]
    fn fallback_pairs_are_satisfied_and_minimal_takes_the_narrow_cap() {
        let t = exec("perf", 10)
            // perfmon denied, sys_admin granted: satisfied by sys_admin.
            + &real("perf", 10, INIT, 38, -1, "perf_event_open")
            + &real("perf", 10, INIT, 21, 0, "perf_event_open")
            // dac_read_search denied, dac_override granted.
            + &real("perf", 10, INIT, 2, -1, "generic_permission")
            + &real("perf", 10, INIT, 1, 0, "generic_permission")
            // A denied narrow cap followed by an unrelated check is a real denial.
            + &real("perf", 10, INIT, 39, -1, "bpf")
            + &real("perf", 10, INIT, 13, -1, "inet_create");
        let r = report(&t);
        let perfmon = row(&r, "cap_perfmon");
        assert_eq!((perfmon.denied, perfmon.satisfied), (0, 1));
        assert_eq!(perfmon.satisfied_by, vec!["cap_sys_admin"]);
        assert_eq!(row(&r, "cap_dac_read_search").denied, 0);
        assert_eq!(r.minimal_retain, vec!["dac_read_search", "perfmon"]);
        assert!(r
            .notes
            .iter()
            .any(|n| n.starts_with("perfmon instead of sys_admin")));
        let denied: Vec<String> = r.denied_caps().into_iter().map(|d| d.capability).collect();
        assert_eq!(
            denied,
            vec!["cap_net_raw", "cap_bpf"],
            "by capability number"
        );
        // The pending denial at the end of the trace is real too.
        let r = report(&(exec("x", 1) + &real("x", 1, INIT, 2, -1, "generic_permission")));
        assert_eq!(r.denied_caps().len(), 1);
        assert_eq!(r.denied_caps()[0].first.pid, 1);
    }

    #[test]
    fn other_user_namespaces_are_shown_apart_and_not_minimal() {
        let t = exec("unshare", 10)
            + &vm("unshare", 10, 0)
            + &real("unshare", 10, CHILD, 21, 0, "mount")
            + &real("unshare", 10, INIT, 6, 0, "setgid");
        let mut rec = Recorder::new();
        rec.name_namespace(CHILD, "user:[4026532999]".into());
        for e in parse(&t) {
            rec.push(e);
        }
        let r = rec.finish(0);
        assert_eq!(r.minimal_retain, vec!["setgid"]);
        let child = r
            .checks
            .iter()
            .find(|c| c.capability == "cap_sys_admin")
            .unwrap();
        assert_eq!(child.namespace, "user:[4026532999]");
        assert_eq!(r.checks[0].namespace, "init", "init namespace first");
        assert!(r.notes.iter().any(|n| n.contains("other user namespaces")));
        let text = r.render_text(&|_| None);
        assert!(text.contains("user ns user:[4026532999]"), "{text}");
    }

    #[test]
    fn policy_json_loads_and_texts_render() {
        let t = exec("python3", 10)
            + &real("python3", 10, INIT, 10, 0, "inet_bind")
            + &real("python3", 10, INIT, 13, -1, "inet_create")
            + &exit("python3", 10, 272, -1);
        let r = report(&t);
        let p = crate::caps::Policy::from_json(&r.minimal_policy_json(), "test").unwrap();
        assert_eq!(
            p,
            crate::caps::Policy::Retain(
                crate::caps::CapSet::parse_list("net_bind_service").unwrap()
            )
        );
        let text = r.render_text(&|n| (n == 272).then(|| "unshare".to_string()));
        assert!(
            text.contains("minimal retain-set: net_bind_service"),
            "{text}"
        );
        let d = r.render_denials(&|n| (n == 272).then(|| "unshare".to_string()));
        assert!(
            d.contains("denied cap_net_raw x1, first by python3[10]"),
            "{d}"
        );
        assert!(d.contains("seccomp refused unshare (EPERM x1)"), "{d}");
        assert_eq!(report("").render_denials(&|_| None), "no denials\n");
        assert!(report("")
            .render_text(&|_| None)
            .contains("minimal retain-set: (none)"));
    }

    #[test]
    fn lost_lines_and_headers_are_handled() {
        let t = "# tracer: nop\n#\nCPU:1 [LOST 12 EVENTS]\n";
        let mut p = Parser::new();
        let mut out = Vec::new();
        for l in t.lines() {
            p.line(l, &mut out);
        }
        assert!(out.is_empty());
        assert_eq!(p.lost, 12);
    }
}
