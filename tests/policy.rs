//! Sandbox policy files (`nucleus run --policy`, `nucleus policy check`) and production
//! mode. What a policy asks for is observed from inside the sandbox (/proc/self/status,
//! the cgroup's files, the uid map); refusals are proven by a marker the program would
//! have written and by the cgroups left on the host.

mod common;
use common::*;
use nucleus::spec::policy::sha256_hex;
use std::path::Path;
use std::sync::Mutex;

/// Runs are serialized: "nothing left behind" compares the host's nucleus-run-* cgroups
/// before and after, which a parallel run of this file would change.
static SERIAL: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A production policy nothing is degraded in (on a machine with user namespaces).
const GOOD: &str = r#"
[mode]
mode = "production"
[caps]
retain = ["net_bind_service"]
[seccomp]
mode = "default"
[network]
mode = "loopback"
[limits]
memory = "64m"
pids = 32
[mounts]
read_only = true
[user]
userns = true
[env]
set = { GREETING = "hello" }
"#;

/// A directory with the policy text `name` and a world-writable `out/` for markers.
struct Setup {
    dir: TempDir,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = TempDir::new(tag);
        std::fs::create_dir(dir.path("out")).unwrap();
        set_mode(&dir.path("out"), 0o777);
        Setup { dir }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    fn out(&self) -> String {
        format!("{}:/out:rw", self.dir.path("out").display())
    }

    fn started(&self) -> bool {
        self.dir.path("out/started").exists()
    }
}

fn sha(path: &str) -> String {
    sha256_hex(&std::fs::read(path).unwrap())
}

/// The nucleus-run-* cgroups on the host, in every hierarchy.
fn run_cgroups() -> Vec<String> {
    let mut out = vec![];
    let root = Path::new("/sys/fs/cgroup");
    let mut dirs = vec![root.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(root) {
        dirs.extend(rd.flatten().map(|e| e.path()));
    }
    for d in dirs {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("nucleus-run-") {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// Runs `nucleus run ARGS -- sh -c 'touch /out/started'` and insists it is refused with
/// one error line (plus at most a hint) containing every `want`, nothing started and no
/// cgroup left behind.
fn refused(s: &Setup, args: &[&str], want: &[&str]) -> String {
    let before = run_cgroups();
    let out = s.out();
    let mut full = vec!["run", "-v", &out];
    full.extend_from_slice(args);
    full.extend_from_slice(&["--", "sh", "-c", "touch /out/started"]);
    let o = nucleus(&full);
    let err = stderr(&o);
    assert!(!o.status.success(), "{full:?} started:\n{err}");
    assert!(!s.started(), "{full:?}: the program ran");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("nucleus: note:"))
        .collect();
    assert!(
        !lines.is_empty() && lines.len() <= 2 && lines[0].starts_with("nucleus: "),
        "{full:?}: not one error line:\n{err}"
    );
    assert!(
        lines.len() < 2 || lines[1].starts_with("hint: "),
        "{full:?}:\n{err}"
    );
    for w in want {
        assert!(lines[0].contains(w), "{full:?}: '{w}' missing from:\n{err}");
    }
    assert_eq!(run_cgroups(), before, "{full:?}: a cgroup was left behind");
    err
}

fn status_field<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{key} missing from:\n{text}"))
}

#[test]
fn a_full_production_policy_runs_and_the_kernel_shows_it() {
    if !privileged("a_full_production_policy_runs_and_the_kernel_shows_it") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-full");
    let p = s.write("p.toml", GOOD);
    let o = nucleus(&[
        "run",
        "--policy",
        &p,
        "--policy-sha256",
        &sha(&p),
        "--",
        "sh",
        "-c",
        "cat /proc/self/status; echo uid_map $(cat /proc/self/uid_map); \
         echo mem $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null); \
         echo pids $(cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null); \
         echo env $GREETING; touch /rootfile 2>/dev/null && echo root writable; true",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    // Production mode with nothing degraded: no warning either.
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    assert_eq!(status_field(&out, "CapEff:"), "0000000000000400");
    assert_eq!(status_field(&out, "CapBnd:"), "0000000000000400");
    assert_eq!(status_field(&out, "Seccomp:"), "2");
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
    // Root inside is host uid 100000 (or root's /etc/subuid range), never host root.
    let map: Vec<&str> = status_field(&out, "uid_map").split_whitespace().collect();
    assert_eq!(map[0], "0");
    assert_ne!(map[1], "0", "{out}");
    assert_eq!(status_field(&out, "mem"), (64u64 << 20).to_string());
    assert_eq!(status_field(&out, "pids"), "32");
    assert_eq!(status_field(&out, "env"), "hello");
    assert!(!out.contains("root writable"), "{out}");
}

#[test]
fn flags_override_the_policy_and_each_override_is_reported() {
    if !privileged("flags_override_the_policy_and_each_override_is_reported") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-override");
    let p = s.write("p.toml", GOOD);
    let o = nucleus(&[
        "run",
        "--policy",
        &p,
        "--policy-sha256",
        &sha(&p),
        "--memory",
        "128m",
        "--caps-retain",
        "chown",
        "--",
        "sh",
        "-c",
        "grep CapEff /proc/self/status; \
         echo mem $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null)",
    ]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("nucleus: note: --memory 128m overrides policy limits.memory = 64m"),
        "{err}"
    );
    assert!(
        err.contains("nucleus: note: --caps-retain chown overrides policy caps"),
        "{err}"
    );
    assert_eq!(status_field(&out, "mem"), (128u64 << 20).to_string());
    assert_eq!(status_field(&out, "CapEff:"), "0000000000000001");
}

#[test]
fn agent_mode_warns_once_and_runs() {
    if !privileged("agent_mode_warns_once_and_runs") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-agent");
    let p = s.write("p.toml", "[seccomp]\nmode = \"unconfined\"\n");
    let out = s.out();
    let o = nucleus(&[
        "run",
        "--policy",
        &p,
        "-v",
        &out,
        "--",
        "sh",
        "-c",
        "touch /out/started",
    ]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(s.started());
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    for w in [
        "seccomp is unconfined",
        "not pinned",
        "writable",
        "no memory limit",
    ] {
        assert!(warnings[0].contains(w), "'{w}' missing: {err}");
    }
}

#[test]
fn bad_input_is_one_line_and_nothing_starts() {
    if !privileged("bad_input_is_one_line_and_nothing_starts") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-bad");
    // Unknown key: named, with the closest known key.
    let p = s.write(
        "typo.toml",
        "[limits]\nmemory = \"64m\"\n[caps]\nretian = [\"kill\"]\n",
    );
    refused(
        &s,
        &["--policy", &p],
        &[
            "unknown key 'retian'",
            "closest known key: 'retain'",
            "line 4",
        ],
    );
    let p = s.write("section.toml", "[limts]\npids = 3\n");
    refused(&s, &["--policy", &p], &["unknown key 'limts'", "'limits'"]);
    // Bad hash of the policy: the file and both hashes.
    let p = s.write("good.toml", GOOD);
    let wrong = "ab".repeat(32);
    let err = refused(
        &s,
        &["--policy", &p, "--policy-sha256", &wrong],
        &[&p, &wrong, &sha(&p)],
    );
    assert!(err.contains("mismatch"), "{err}");
    // Bad hash of a referenced profile (relative to the policy's directory).
    let prof = s.write("seccomp.json", r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    let p = s.write(
        "pinned.toml",
        &format!("[limits]\nmemory = \"64m\"\n[seccomp]\nprofile = \"seccomp.json\"\nsha256 = \"{wrong}\"\n"),
    );
    refused(
        &s,
        &["--policy", &p],
        &["seccomp.json", &wrong, &sha(&prof)],
    );
    // Missing files: the policy, and a profile it names.
    let missing = s.dir.path("absent.toml").display().to_string();
    refused(&s, &["--policy", &missing], &[&missing, "No such file"]);
    let p = s.write("noprof.toml", "[seccomp]\nprofile = \"gone.json\"\n");
    refused(&s, &["--policy", &p], &["gone.json", "No such file"]);
    // A Landlock path that does not exist inside the container (a production policy, so
    // that no agent warning precedes the error): the init refuses before the program.
    let p = s.write(
        "ll.toml",
        &format!("{GOOD}[landlock]\nro = [\"/\", \"/no/such/dir\"]\nexec = [\"/usr\", \"/bin\"]\n"),
    );
    refused(
        &s,
        &["--policy", &p, "--policy-sha256", &sha(&p)],
        &["landlock", "/no/such/dir"],
    );
    // A relative one: Landlock paths are container paths.
    let p = s.write("llrel.toml", "[landlock]\nro = [\"usr\"]\n");
    refused(&s, &["--policy", &p], &["landlock.ro", "'usr' is relative"]);
    // A syscall name nobody knows in an allow-list.
    let p = s.write("allow.toml", "[seccomp]\nallow = [\"read\", \"reed\"]\n");
    refused(&s, &["--policy", &p], &["seccomp.allow", "'reed'"]);
    // A pin that is not a hash.
    let p = s.write("short.toml", GOOD);
    refused(
        &s,
        &["--policy", &p, "--policy-sha256", "1234"],
        &["not a SHA-256"],
    );
}

#[test]
fn production_mode_refuses_each_degradation() {
    if !privileged("production_mode_refuses_each_degradation") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-prod");
    // GOOD with one line replaced: (from, to, what the refusal says).
    let cases: &[(&str, &str, &str)] = &[
        (
            "read_only = true",
            "read_only = false",
            "root filesystem is writable",
        ),
        ("memory = \"64m\"\n", "", "no memory limit"),
        ("pids = 32\n", "", "no pids limit"),
        (
            "mode = \"loopback\"",
            "mode = \"host\"",
            "host's network is shared",
        ),
        (
            "mode = \"default\"",
            "mode = \"unconfined\"",
            "seccomp is unconfined",
        ),
        (
            "retain = [\"net_bind_service\"]",
            "retain = [\"net_bind_service\", \"sys_admin\"]",
            "dangerous capability sys_admin",
        ),
        (
            "retain = [\"net_bind_service\"]",
            "remove = [\"net_raw\"]\n[process]\nno_new_privs = false",
            "no_new_privs is off",
        ),
        (
            "userns = true",
            "userns = false",
            "without a user namespace",
        ),
    ];
    for (i, (from, to, want)) in cases.iter().enumerate() {
        assert!(GOOD.contains(from), "{from}");
        let p = s.write(&format!("p{i}.toml"), &GOOD.replacen(from, to, 1));
        refused(
            &s,
            &["--policy", &p, "--policy-sha256", &sha(&p)],
            &["production mode refuses to start", want],
        );
    }
    // Every dangerous capability is refused (the published list).
    for (name, _) in nucleus::spec::production::DANGEROUS {
        let p = s.write(
            "cap.toml",
            &GOOD.replace("\"net_bind_service\"", &format!("\"{name}\"")),
        );
        refused(
            &s,
            &["--policy", &p, "--policy-sha256", &sha(&p)],
            &[&format!("dangerous capability {name}")],
        );
    }
    // Unpinned policy; unpinned profile (in the policy, and on the command line).
    let p = s.write("unpinned.toml", GOOD);
    refused(&s, &["--policy", &p], &["policy file is not pinned"]);
    let prof = s.write(
        "prof.json",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let p = s.write(
        "prof.toml",
        &GOOD.replace("mode = \"default\"", "profile = \"prof.json\""),
    );
    refused(
        &s,
        &["--policy", &p, "--policy-sha256", &sha(&p)],
        &["seccomp profile", &prof, "is not pinned"],
    );
    let p = s.write("flagprof.toml", GOOD);
    refused(
        &s,
        &[
            "--policy",
            &p,
            "--policy-sha256",
            &sha(&p),
            "--seccomp-profile",
            &prof,
        ],
        &[&prof, "is not pinned"],
    );
    // Several at once: each is named. --production without a policy.
    refused(
        &s,
        &["--production"],
        &[
            "root filesystem is writable",
            "no memory limit",
            "no pids limit",
            "user namespace",
        ],
    );
    // The flag overrides a policy's agent mode.
    let p = s.write("agent.toml", "[mode]\nmode = \"agent\"\n");
    refused(&s, &["--policy", &p, "--production"], &["no memory limit"]);
}

#[test]
fn a_pinned_profile_and_an_allow_list_run() {
    if !privileged("a_pinned_profile_and_an_allow_list_run") {
        return;
    }
    let _l = lock();
    let s = Setup::new("pol-seccomp");
    // An allow-list without mkdir: mkdir fails with EPERM, the rest works.
    let busybox_needs = [
        "execve",
        "brk",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getuid",
        "geteuid",
        "getpid",
        "getppid",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "write",
        "writev",
        "read",
        "exit_group",
        "exit",
        "newfstatat",
        "fstat",
        "stat",
        "lstat",
        "openat",
        "open",
        "close",
        "ioctl",
        "fcntl",
        "getcwd",
        "mmap",
        "munmap",
        "mprotect",
        "uname",
        "readlink",
        "access",
        "wait4",
        "clone",
        "vfork",
        "fork",
        "dup2",
        "dup3",
        "getrandom",
        "statx",
        "futex",
        "getpgrp",
        "setpgid",
        "getgid",
        "getegid",
        "sigaltstack",
        "madvise",
        "pipe2",
        "lseek",
    ];
    let names: Vec<String> = busybox_needs.iter().map(|n| format!("\"{n}\"")).collect();
    let p = s.write(
        "allow.toml",
        &format!("[seccomp]\nallow = [{}]\n", names.join(", ")),
    );
    let o = nucleus(&[
        "run",
        "--policy",
        &p,
        "--",
        "/bin/busybox",
        "sh",
        "-c",
        "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1 || echo mkdir refused",
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{out}", stderr(&o));
    assert_eq!(status_field(&out, "Seccomp:"), "2");
    assert!(out.contains("mkdir refused"), "{out}");
    // A pinned OCI profile denying mkdir with EPERM; the pin matches.
    let prof = s.write(
        "deny-mkdir.json",
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let p = s.write(
        "pinned.toml",
        &format!(
            "[seccomp]\nprofile = \"deny-mkdir.json\"\nsha256 = \"{}\"\n",
            sha(&prof)
        ),
    );
    let o = nucleus(&[
        "run",
        "--policy",
        &p,
        "--",
        "sh",
        "-c",
        "mkdir /tmp/x 2>&1 || echo mkdir refused",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("mkdir refused"), "{}", stdout(&o));
}

#[test]
fn policy_check_prints_the_effective_sandbox() {
    let s = Setup::new("pol-check");
    let p = s.write("p.toml", GOOD);
    let o = nucleus(&["policy", "check", &p, "--sha256", &sha(&p), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    assert_eq!(v["mode"], "production");
    assert_eq!(v["pinned"], true);
    assert_eq!(v["sha256"], sha(&p));
    assert_eq!(
        v["caps"]["bounding"],
        serde_json::json!(["CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(v["caps"]["inheritable"], serde_json::json!([]));
    assert_eq!(v["seccomp"]["kind"], "default");
    assert!(v["seccomp"]["rules"].as_u64().unwrap() > 300, "{v}");
    assert_eq!(v["memory"], 64u64 << 20);
    assert_eq!(v["pids"], 32);
    assert_eq!(v["network"], "loopback");
    assert_eq!(v["read_only_root"], true);
    assert_eq!(v["user_namespace"], true);
    assert_eq!(v["env"], serde_json::json!(["GREETING"]));
    // What this machine offers is reported as the kernel says.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(v["machine"]["seccomp"], status.contains("Seccomp:"));
    assert_eq!(v["machine"]["root"], nix::unistd::geteuid().is_root());
    if nix::unistd::geteuid().is_root() {
        assert_eq!(v["degradations"], serde_json::json!([]), "{v}");
        assert_eq!(v["would_start"], true);
        assert!(o.status.success());
    }
    // Unpinned and degraded: listed, and production mode would refuse (exit 1).
    let p = s.write(
        "weak.toml",
        "[mode]\nmode = \"production\"\n[caps]\nretain = [\"sys_admin\"]\n[landlock]\nrw = [\"/tmp\"]\nconnect = [443]\n",
    );
    let o = nucleus(&["policy", "check", &p, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = v["degradations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    for id in [
        "dangerous-capability",
        "unpinned-policy",
        "writable-root",
        "no-memory-limit",
    ] {
        assert!(ids.contains(&id), "{id} missing: {ids:?}");
    }
    // Landlock as this kernel enforces it (its ABI read by the landlock syscall).
    let abi = v["landlock"]["abi_kernel"].as_u64().unwrap();
    assert_eq!(v["machine"]["landlock_abi"], abi);
    let not_enforced = v["landlock"]["not_enforced"].as_array().unwrap();
    assert_eq!(
        abi >= 4,
        !not_enforced
            .iter()
            .any(|r| r.as_str().unwrap().contains("connect")),
        "{v}"
    );
    assert_eq!(v["would_start"], false);
    // Human output names each section.
    let o = nucleus(&["policy", "check", &p]);
    let out = stdout(&o);
    for w in [
        "caps      bounding    CAP_SYS_ADMIN",
        "seccomp   default",
        "landlock  ",
        "limits    memory none",
        "degraded  dangerous capability sys_admin",
    ] {
        assert!(out.contains(w), "'{w}' missing:\n{out}");
    }
    // Bad input: one line naming the key and the closest known one.
    let p = s.write("typo.toml", "[network]\nmdoe = \"host\"\n");
    let o = nucleus(&["policy", "check", &p]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("unknown key 'mdoe' in [network] (closest known key: 'mode')"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn the_readme_publishes_the_dangerous_list() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for (name, why) in nucleus::spec::production::DANGEROUS {
        assert!(
            readme.contains(&format!("| {name} | {why} |")),
            "README lacks {name}"
        );
    }
}
