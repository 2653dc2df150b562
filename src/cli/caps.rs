//! `nucleus caps …`: the capability toolkit.

use super::print_json;
use crate::caps::execve::{self, Outcome, Process};
use crate::caps::sets::securebits;
use crate::caps::trace::{self, Report};
use crate::caps::{CapSet, Policy, ProcStatus, Sets, Which};
use crate::linux::capset as kernel;
use crate::linux::identity::{self, Identity};
use crate::linux::probe::{self, Verdict};
use crate::linux::{process, traced, tracefs};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum CapsCmd {
    /// Names in a capability mask, as `capsh --decode` prints them.
    ///
    /// MASK is hex, with or without 0x, e.g. the CapEff value from /proc/PID/status.
    Decode {
        mask: String,
        #[arg(long)]
        json: bool,
    },
    /// The mask of a list of capabilities (the inverse of decode).
    ///
    /// Names may be CAP_NET_RAW, cap_net_raw, NET_RAW, net_raw or 13, comma- or
    /// space-separated; ALL means every capability.
    Encode {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// The five capability sets, securebits, no_new_privs, seccomp mode and ids of a process.
    Show {
        /// Process id (default: this process).
        pid: Option<i32>,
        #[arg(long)]
        json: bool,
    },
    /// Every process that holds any capability (like pscap).
    Ps {
        /// Include kernel threads.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// File capabilities (security.capability, v1/v2/v3 with rootid), like getcap.
    File {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also list files without capabilities.
        #[arg(short, long)]
        verbose: bool,
        #[arg(long)]
        json: bool,
    },
    /// Predict the five sets after a process executes PROGRAM, and why.
    ///
    /// Starts from the sets of --pid (default: this process); any set flag overrides that
    /// set. PROGRAM's real file capabilities, set-uid/set-gid bits and mount flags are read.
    Explain(ExplainArgs),
    /// Prove each capability with a real, side-effect-free syscall in a forked child.
    Probe {
        #[arg(long)]
        json: bool,
    },
    /// Run a host command under a capability policy (like setpriv or capsh, no container).
    ///
    /// The policy is applied in the kernel's order (bounding drop with keep-caps, identity
    /// switch, capset, ambient) and all five sets are read back before the command runs.
    /// With no policy flag, every capability is dropped.
    ///
    /// --report-denials runs the command under a tracer (root, Linux 6.14+) and, when it
    /// ends, names every capability the kernel denied it and every syscall a seccomp filter
    /// refused: "operation not permitted" gets a name. Without it, nucleus execs the
    /// command in place (no fork, no tracing).
    Exec(ExecArgs),
    /// Run a host command and report every capability check it and its descendants made.
    ///
    /// For each capability: how often the kernel granted or denied it and which program
    /// asked first. Checks the kernel makes without auditing (e.g. CAP_SYS_ADMIN on every
    /// mmap, for the memory reserve) are listed apart; a narrow capability tried before a
    /// broader one (dac_read_search before dac_override, perfmon/bpf/syslog/
    /// checkpoint_restore before sys_admin) is "satisfied by" the broader one; checks in
    /// other user namespaces are shown with that namespace. It ends with the minimal
    /// retain-set that grants every granted check, which --policy-out writes as a policy
    /// file for --caps-policy.
    ///
    /// With no --caps-* option the command keeps the caller's capabilities (that is what
    /// gets traced); with --user alone it runs as that user with none, as `caps exec`
    /// does. The report goes to stderr (the command owns stdout); --json prints it as JSON
    /// on stdout. Exits with the command's status (128+signal when a signal ended it).
    /// Needs root (tracefs) and the capability:cap_capable tracepoint (Linux 6.14+).
    Trace(TraceArgs),
}

/// The capability policy of `caps exec` and `caps trace`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    /// Keep only these capabilities (comma list; may repeat).
    #[arg(long, value_name = "CAPS")]
    caps_retain: Vec<String>,
    /// Start from the default set (0xa80425fb) and remove these (comma list; may repeat).
    #[arg(long, value_name = "CAPS")]
    caps_remove: Vec<String>,
    /// A JSON policy file: {"retain": [..]}, {"remove": [..]} or the five OCI sets.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["caps_retain", "caps_remove"])]
    caps_policy: Option<PathBuf>,
    /// Run as UID[:GID] (numbers); supplementary groups are cleared unless --groups.
    #[arg(long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Supplementary group ids (comma list); needs --user.
    #[arg(long, value_name = "GIDS", requires = "user")]
    groups: Vec<String>,
    /// Set no_new_privs: execve() can no longer gain privileges.
    #[arg(long)]
    no_new_privs: bool,
}

impl PolicyArgs {
    fn any_caps(&self) -> bool {
        self.caps_policy.is_some() || !self.caps_retain.is_empty() || !self.caps_remove.is_empty()
    }
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Write the minimal retain-set as a policy file ({"retain": [..]}).
    #[arg(long, value_name = "FILE")]
    policy_out: Option<PathBuf>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Start from this process's sets and ids (default: this process).
    #[arg(long)]
    pid: Option<i32>,
    /// Bounding set: a capability list or a hex mask (0x…).
    #[arg(long, value_name = "CAPS")]
    bounding: Option<String>,
    #[arg(long, value_name = "CAPS")]
    permitted: Option<String>,
    #[arg(long, value_name = "CAPS")]
    effective: Option<String>,
    #[arg(long, value_name = "CAPS")]
    inheritable: Option<String>,
    #[arg(long, value_name = "CAPS")]
    ambient: Option<String>,
    /// Execute as UID[:GID] (real and effective).
    #[arg(long, value_name = "UID[:GID]")]
    user: Option<String>,
    /// Securebits value (default: the process's; 0 for another process).
    #[arg(long)]
    securebits: Option<String>,
    /// Assume no_new_privs is set.
    #[arg(long)]
    no_new_privs: bool,
    #[arg(long)]
    json: bool,
    /// The program that would be executed (looked up in PATH).
    program: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the verified sets as JSON on stderr before running the command; with
    /// --report-denials, also the denials as JSON on stdout at the end.
    #[arg(long)]
    json: bool,
    /// Trace the command and name, at its end, each capability the kernel denied and each
    /// syscall seccomp refused (needs root and Linux 6.14+).
    #[arg(long)]
    report_denials: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    cmd: Vec<String>,
}

pub fn run(cmd: CapsCmd) -> Result<i32> {
    match cmd {
        CapsCmd::Decode { mask, json } => decode(&mask, json),
        CapsCmd::Encode { names, json } => encode(&names, json),
        CapsCmd::Show { pid, json } => show(pid, json),
        CapsCmd::Ps { all, json } => ps(all, json),
        CapsCmd::File {
            paths,
            verbose,
            json,
        } => file(&paths, verbose, json),
        CapsCmd::Explain(a) => explain(a),
        CapsCmd::Probe { json } => probe(json),
        CapsCmd::Exec(a) => exec(a),
        CapsCmd::Trace(a) => trace(a),
    }
}

#[derive(Serialize)]
struct MaskOut {
    mask: String,
    names: Vec<String>,
    unknown_bits: Vec<u8>,
}

fn mask_out(s: CapSet) -> MaskOut {
    MaskOut {
        mask: format!("0x{}", s.hex()),
        names: s.iter().map(|c| c.lower_name()).collect(),
        unknown_bits: s.unknown_bits(),
    }
}

fn decode(mask: &str, json: bool) -> Result<i32> {
    let s = CapSet::parse_mask(mask)?;
    if json {
        print_json(&mask_out(s));
    } else {
        outln!("0x{}={}", s.hex(), s.to_capsh_names());
    }
    Ok(0)
}

fn encode(names: &[String], json: bool) -> Result<i32> {
    let s = CapSet::parse_lists(names)?;
    if json {
        print_json(&mask_out(s));
    } else {
        outln!("0x{}", s.hex());
    }
    Ok(0)
}

/// `all` when the set holds every capability this kernel has, else short names.
fn names_for(s: CapSet, kernel: CapSet) -> String {
    if !kernel.is_empty() && kernel.is_subset(s) && s.unknown_bits().is_empty() {
        "all".into()
    } else {
        s.to_string()
    }
}

fn ids(v: &[u32; 4]) -> String {
    format!("{}/{}/{}/{}", v[0], v[1], v[2], v[3])
}

fn seccomp_name(m: u8) -> &'static str {
    match m {
        0 => "disabled",
        1 => "strict",
        2 => "filter",
        _ => "unknown",
    }
}

#[derive(Serialize)]
struct ShowOut<'a> {
    #[serde(flatten)]
    status: &'a ProcStatus,
    securebits: Option<u32>,
    securebits_names: Option<Vec<&'static str>>,
}

fn show(pid: Option<i32>, json: bool) -> Result<i32> {
    let st = kernel::read_status(pid)?;
    let own = pid.is_none() || pid == Some(std::process::id() as i32);
    let bits = if own {
        Some(kernel::securebits()?)
    } else {
        None
    };
    if json {
        print_json(&ShowOut {
            status: &st,
            securebits: bits,
            securebits_names: bits.map(securebits::names),
        });
        return Ok(0);
    }
    let known = kernel::kernel_caps()?;
    outln!(
        "pid {} ({})  uid {}  gid {}  groups {}",
        st.pid,
        st.name,
        ids(&st.uids),
        ids(&st.gids),
        if st.groups.is_empty() {
            "none".into()
        } else {
            st.groups
                .iter()
                .map(|g| g.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    );
    let sb = match bits {
        None => "not visible for another process".to_string(),
        Some(0) => "0x0 (none)".to_string(),
        Some(b) => format!("{b:#x} ({})", securebits::names(b).join(",")),
    };
    outln!(
        "no_new_privs {}  seccomp {}  securebits {}",
        u8::from(st.no_new_privs),
        seccomp_name(st.seccomp),
        sb
    );
    print_sets(&st.sets, known);
    Ok(0)
}

fn print_sets(s: &Sets, known: CapSet) {
    for w in Which::ALL {
        let v = s.get(w);
        outln!("  {:<12} {}  {}", w.name(), v.hex(), names_for(v, known));
    }
}

#[derive(Serialize)]
struct PsRow<'a> {
    pid: i32,
    ppid: i32,
    uid: u32,
    name: &'a str,
    command: &'a str,
    sets: &'a Sets,
}

fn ps(all: bool, json: bool) -> Result<i32> {
    let known = kernel::kernel_caps()?;
    let procs = kernel::all_processes()?;
    let rows: Vec<PsRow> = procs
        .iter()
        .filter(|(st, cmd)| {
            let s = &st.sets;
            let holds = !(s.permitted | s.effective | s.ambient).is_empty();
            let kthread = st.pid == 2 || st.ppid == 2 || (cmd.is_empty() && st.ppid == 0);
            holds && (all || !kthread)
        })
        .map(|(st, cmd)| PsRow {
            pid: st.pid,
            ppid: st.ppid,
            uid: st.uids[1],
            name: &st.name,
            command: cmd,
            sets: &st.sets,
        })
        .collect();
    if json {
        print_json(&rows);
        return Ok(0);
    }
    outln!(
        "{:>7} {:>7} {:>6} {:<16} CAPABILITIES",
        "PPID",
        "PID",
        "UID",
        "NAME"
    );
    for r in &rows {
        let s = r.sets;
        let mut caps = names_for(s.effective, known);
        let extra = s.permitted - s.effective;
        if !extra.is_empty() {
            caps.push_str(&format!(" (+permitted: {})", names_for(extra, known)));
        }
        if !s.ambient.is_empty() {
            caps.push_str(&format!(" (ambient: {})", names_for(s.ambient, known)));
        }
        outln!(
            "{:>7} {:>7} {:>6} {:<16} {}",
            r.ppid,
            r.pid,
            r.uid,
            r.name,
            caps
        );
    }
    Ok(0)
}

#[derive(Serialize)]
struct FileOut {
    path: PathBuf,
    capabilities: Option<crate::caps::file::FileCaps>,
    text: Option<String>,
}

fn file(paths: &[PathBuf], verbose: bool, json: bool) -> Result<i32> {
    let mut out = Vec::new();
    for p in paths {
        let caps = kernel::read_file_caps(p)?;
        if caps.is_none() && !p.exists() {
            return Err(Error::Usage(format!("{}: no such file", p.display())));
        }
        out.push(FileOut {
            path: p.clone(),
            text: caps.map(|c| c.to_text()),
            capabilities: caps,
        });
    }
    if json {
        print_json(&out);
        return Ok(0);
    }
    for f in &out {
        match &f.text {
            Some(t) => outln!("{} {}", f.path.display(), t),
            None if verbose => outln!("{} (none)", f.path.display()),
            None => {}
        }
    }
    Ok(0)
}

/// A set given on the command line: a hex mask (0x…) or a capability list.
fn set_arg(s: &str) -> Result<CapSet> {
    if s.starts_with("0x") || s.starts_with("0X") {
        Ok(CapSet::parse_mask(s)?)
    } else {
        Ok(CapSet::parse_list(s)?)
    }
}

#[derive(Serialize)]
struct ExplainOut<'a> {
    program: PathBuf,
    before: &'a Process,
    file: &'a execve::Program,
    after: &'a Outcome,
}

fn explain(a: ExplainArgs) -> Result<i32> {
    let (mut p, uid_map) = kernel::process(a.pid)?;
    for (w, v) in [
        (Which::Bounding, &a.bounding),
        (Which::Permitted, &a.permitted),
        (Which::Effective, &a.effective),
        (Which::Inheritable, &a.inheritable),
        (Which::Ambient, &a.ambient),
    ] {
        if let Some(v) = v {
            p.sets.set(w, set_arg(v)?);
        }
    }
    if let Some(u) = &a.user {
        let id = Identity::parse(u, &[])?;
        (p.ruid, p.euid, p.rgid, p.egid) = (id.uid, id.uid, id.gid, id.gid);
    }
    if let Some(b) = &a.securebits {
        let t = b.trim_start_matches("0x");
        p.securebits = u32::from_str_radix(t, 16)
            .map_err(|_| Error::Usage(format!("--securebits '{b}' is not a hex number")))?;
    }
    p.no_new_privs |= a.no_new_privs;
    let path = std::env::var("PATH").ok();
    let prog = process::resolve(&a.program, path.as_deref())?;
    let f = kernel::program(&prog, &uid_map)?;
    let outcome = execve::execve(&p, &f);
    if a.json {
        print_json(&ExplainOut {
            program: prog,
            before: &p,
            file: &f,
            after: &outcome,
        });
        return Ok(0);
    }
    let known = kernel::kernel_caps()?;
    outln!(
        "before: uid {}/{} gid {}/{}  no_new_privs {}  securebits {:#x}",
        p.ruid,
        p.euid,
        p.rgid,
        p.egid,
        u8::from(p.no_new_privs),
        p.securebits
    );
    print_sets(&p.sets, known);
    let fc = f
        .caps
        .map(|c| format!("{} (v{})", c.to_text(), c.version))
        .unwrap_or_else(|| "none".into());
    let setid = match (f.setuid, f.setgid) {
        (None, None) => "no".to_string(),
        (u, g) => [
            u.map(|u| format!("set-uid {u}")),
            g.map(|g| format!("set-gid {g}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
    };
    outln!(
        "program: {}  file caps: {fc}  set-id: {setid}{}",
        prog.display(),
        if f.nosuid { "  (nosuid mount)" } else { "" }
    );
    match &outcome {
        Outcome::Fails { errno, why } => outln!("after execve(): fails with {errno}: {why}"),
        Outcome::Runs(after) => {
            outln!(
                "after execve(): uid {}/{} gid {}/{}",
                after.ruid,
                after.euid,
                after.rgid,
                after.egid
            );
            print_sets(&after.sets, known);
            // Group capabilities that share a reason, in first-seen order.
            let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
            for r in &after.reasons {
                let n = r.capability.short_name();
                match groups.iter_mut().find(|(w, _)| *w == r.why) {
                    Some((_, v)) => v.push(n),
                    None => groups.push((&r.why, vec![n])),
                }
            }
            if !groups.is_empty() {
                outln!("why:");
            }
            for (why, caps) in groups {
                outln!("  {}: {why}", caps.join(","));
            }
            for n in &after.notes {
                outln!("note: {n}");
            }
        }
    }
    Ok(0)
}

fn probe(json: bool) -> Result<i32> {
    let results = probe::probe_all()?;
    let seccomp = kernel::read_status(None)?.seccomp;
    if json {
        print_json(&results);
        return Ok(0);
    }
    outln!("{:<24} {:<11} DETAIL", "CAPABILITY", "RESULT");
    for r in &results {
        let errno = r
            .errno
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        outln!(
            "{:<24} {:<11} {}{}",
            r.capability.lower_name(),
            r.verdict.as_str(),
            r.detail,
            errno
        );
    }
    let count = |v| results.iter().filter(|r| r.verdict == v).count();
    outln!(
        "{} held, {} denied, {} not probed",
        count(Verdict::Held),
        count(Verdict::Denied),
        count(Verdict::NotProbed)
    );
    if seccomp == 2 {
        outln!("note: a seccomp filter is active; some denials may come from it, not from a missing capability");
    }
    Ok(0)
}

#[derive(Serialize)]
struct ExecOut<'a> {
    sets: &'a Sets,
    skipped: Vec<&'static str>,
    identity: Option<&'a Identity>,
    no_new_privs: bool,
}

/// A command ready to run under a policy: everything that can be wrong with the input is
/// found before anything is applied.
struct Prepared {
    /// None: keep the caller's capabilities (caps trace without a policy).
    target: Option<Sets>,
    id: Option<Identity>,
    prog: PathBuf,
    cmd: Vec<String>,
    no_new_privs: bool,
    json: bool,
}

fn prepare(p: &PolicyArgs, cmd: &[String], json: bool, keep_own: bool) -> Result<Prepared> {
    let policy = match &p.caps_policy {
        Some(f) => Policy::from_file(f)?,
        None => Policy::from_flags(&p.caps_retain, &p.caps_remove)?,
    };
    let id = p
        .user
        .as_deref()
        .map(|u| Identity::parse(u, &p.groups))
        .transpose()?;
    let path = std::env::var("PATH").ok();
    let prog = process::resolve(&cmd[0], path.as_deref())?;
    let target = if keep_own && !p.any_caps() && id.is_none() {
        None
    } else {
        let euid = kernel::read_status(None)?.uids[1];
        let non_root = id.as_ref().map_or(euid != 0, |i| i.uid != 0);
        Some(policy.target(non_root)?)
    };
    Ok(Prepared {
        target,
        id,
        prog,
        cmd: cmd.to_vec(),
        no_new_privs: p.no_new_privs,
        json,
    })
}

/// Applies the policy (kernel order, read back) and execs the command.
fn apply_and_exec(p: &Prepared) -> Result<std::convert::Infallible> {
    if let Some(target) = &p.target {
        let applied = kernel::apply(target, p.id.as_ref())?;
        for c in applied.skipped.iter() {
            eprintln!("nucleus: warning: {c} is not known to this kernel; skipped");
        }
        if p.json {
            let out = ExecOut {
                sets: &applied.sets,
                skipped: applied.skipped.names(),
                identity: p.id.as_ref(),
                no_new_privs: p.no_new_privs,
            };
            eprintln!("{}", serde_json::to_string(&out).expect("serializes"));
        }
    }
    if p.no_new_privs {
        identity::set_no_new_privs()?;
    }
    match process::exec(&p.prog, &p.cmd, None)? {}
}

/// In the traced child: run the command, or print why not and leave with its status.
fn child_exec(p: &Prepared) -> i32 {
    let Err(e) = apply_and_exec(p);
    eprintln!("nucleus: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
    e.exit_code()
}

/// Forks the command held, follows it with a tracer, lets it run, waits (forwarding
/// signals) and returns its status and the trace.
fn run_traced(p: &Prepared, ev: tracefs::Events) -> Result<(i32, Report)> {
    let tracer = tracefs::Tracer::start(ev)?;
    let held = traced::fork_held(|| child_exec(p))?;
    tracer.follow(held.pid())?;
    let code = held.release()?.wait()?;
    let report = tracer.finish()?;
    Ok((code, report))
}

fn syscall_name(nr: i64) -> Option<String> {
    tracefs::syscall_name(nr)
}

fn trace(a: TraceArgs) -> Result<i32> {
    let p = prepare(&a.policy, &a.cmd, false, true)?;
    let ev = tracefs::Events {
        caps: true,
        syscalls: true,
    };
    let (code, report) = run_traced(&p, ev)?;
    if report.processes == 0 {
        // Nothing ran (the exec failed): an empty policy would be a wrong answer.
        eprintln!("nucleus: the command did not start; nothing was traced");
        return Ok(code);
    }
    if let Some(f) = &a.policy_out {
        std::fs::write(f, report.minimal_policy_json())
            .map_err(|e| Error::Usage(format!("--policy-out {}: {e}", f.display())))?;
    }
    if a.json {
        print_json(&report);
    } else {
        eprint!("{}", report.render_text(&syscall_name));
    }
    Ok(code)
}

#[derive(Serialize)]
struct DenialsOut<'a> {
    capabilities: Vec<trace::Denial>,
    seccomp_refused: Vec<RefusalOut<'a>>,
    lost_events: u64,
}

#[derive(Serialize)]
struct RefusalOut<'a> {
    syscall: String,
    nr: i64,
    #[serde(flatten)]
    refusal: &'a trace::Refusal,
}

fn exec(a: ExecArgs) -> Result<i32> {
    let p = prepare(&a.policy, &a.cmd, a.json, false)?;
    if !a.report_denials {
        match apply_and_exec(&p)? {}
    }
    let ev = tracefs::Events {
        caps: true,
        syscalls: true,
    };
    let (code, report) = run_traced(&p, ev)?;
    if a.json {
        print_json(&DenialsOut {
            capabilities: report.denied_caps(),
            seccomp_refused: report
                .seccomp_refused
                .iter()
                .map(|(nr, r)| RefusalOut {
                    syscall: syscall_name(*nr).unwrap_or_else(|| nr.to_string()),
                    nr: *nr,
                    refusal: r,
                })
                .collect(),
            lost_events: report.lost_events,
        });
    } else {
        eprint!("{}", report.render_denials(&syscall_name));
    }
    Ok(code)
}
