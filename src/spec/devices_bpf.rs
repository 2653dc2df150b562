//! The device filter of a cgroup v2 container: a `BPF_PROG_TYPE_CGROUP_DEVICE` program
//! emitted from the same rule list the v1 devices cgroup is given (`Resources::devices`:
//! `a`, `c 1:3 rwm`, `b *:* m`… with whether each allows or denies).
//!
//! Pure: rules in, instructions out. `linux::devices_bpf` loads and attaches them.
//!
//! Semantics are the v1 devices cgroup's, exactly (so a container gets the same answers on
//! either version): the rules are applied in order to a state of a default (allow or deny)
//! and a list of exceptions, as the kernel applies writes to `devices.allow`/`devices.deny`:
//! - a rule starting with `a` resets: default allow (allow) or deny (deny), no exceptions;
//! - with default deny, an allow rule adds its access to the exception of the same type and
//!   numbers (or a new one), a deny rule removes access from that exact exception;
//! - with default allow, the other way round.
//!
//! A request (type, major, minor, access) is then allowed, with default deny, when one
//! exception matches it and holds all the access asked for; with default allow, unless an
//! exception matches it and holds any of the access asked for. For the lists nucleus builds
//! (deny all, the config's rules, the standard devices) this is "the last matching rule
//! wins", as runc and crun say.
//!
//! The program reads `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (`access_type` = access << 16 | type) and returns 1 to allow, 0 to deny.

/// Access bits, as in `access_type >> 16` (BPF_DEVCG_ACC_*) and the v1 rules' letters.
pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// Device types, as in `access_type & 0xffff` (BPF_DEVCG_DEV_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block = 1,
    Char = 2,
}

/// One exception of the v1 model: a type, a major and minor (None: any) and access bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exception {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

/// The state a rule list leaves, as the v1 devices cgroup keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

enum Rule {
    /// `a`: every device, every access.
    Reset,
    Device(Exception),
}

/// Parses one rule as the v1 kernel does: `a…`, or `b|c MAJOR|*:MINOR|* [rwm]`.
fn parse_rule(rule: &str) -> Result<Rule, String> {
    let bad = |why: &str| format!("device rule '{rule}': {why}");
    let mut words = rule.split_whitespace();
    let kind = match words.next() {
        Some(k) if k.starts_with('a') => return Ok(Rule::Reset),
        Some("b") => Kind::Block,
        Some("c") => Kind::Char,
        _ => return Err(bad("the type must be a, b or c")),
    };
    let numbers = words.next().ok_or_else(|| bad("MAJOR:MINOR is missing"))?;
    let (major, minor) = numbers
        .split_once(':')
        .ok_or_else(|| bad("use MAJOR:MINOR, each a number or *"))?;
    // The program compares with a sign-extended 32-bit immediate: device numbers are far
    // smaller (12-bit majors, 20-bit minors), so anything above i32::MAX is refused.
    let num = |s: &str| -> Result<Option<u32>, String> {
        if s == "*" {
            return Ok(None);
        }
        match s.parse::<u32>() {
            Ok(n) if n <= i32::MAX as u32 => Ok(Some(n)),
            _ => Err(bad("a device number must be * or a number below 2^31")),
        }
    };
    let mut access = 0;
    for c in words.next().unwrap_or("").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(bad("access must be letters of rwm")),
        };
    }
    if words.next().is_some() {
        return Err(bad("unexpected words after the access"));
    }
    Ok(Rule::Device(Exception {
        kind,
        major: num(major)?,
        minor: num(minor)?,
        access,
    }))
}

impl Filter {
    /// Applies `rules` (allow?, rule) in order to the state of a cgroup nobody restricted
    /// (default allow, no exceptions), as the v1 kernel applies writes.
    pub fn from_rules(rules: &[(bool, String)]) -> Result<Filter, String> {
        let mut f = Filter {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for (allow, rule) in rules {
            match parse_rule(rule)? {
                Rule::Reset => {
                    f.default_allow = *allow;
                    f.exceptions.clear();
                }
                // An exception goes against the default: allow-on-deny adds, and so on.
                Rule::Device(ex) if *allow != f.default_allow => f.add(ex),
                Rule::Device(ex) => f.remove(&ex),
            }
        }
        Ok(f)
    }

    fn add(&mut self, ex: Exception) {
        let same = self
            .exceptions
            .iter_mut()
            .find(|e| (e.kind, e.major, e.minor) == (ex.kind, ex.major, ex.minor));
        match same {
            Some(e) => e.access |= ex.access,
            None => self.exceptions.push(ex),
        }
    }

    fn remove(&mut self, ex: &Exception) {
        for e in self.exceptions.iter_mut() {
            if (e.kind, e.major, e.minor) == (ex.kind, ex.major, ex.minor) {
                e.access &= !ex.access;
            }
        }
        self.exceptions.retain(|e| e.access != 0);
    }

    /// The v1 kernel's answer for a request (devcgroup_legacy_check_permission).
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u32) -> bool {
        let matches = |e: &&Exception| {
            e.kind == kind
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(matches)
                .any(|e| access & e.access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(matches)
                .any(|e| access & !e.access == 0)
        }
    }
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub dst: u8,
    pub src: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes: class | operation | source.
pub const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
pub const ALU64_MOV_K: u8 = 0x07 | 0xb0; // BPF_ALU64 | BPF_MOV | BPF_K
pub const ALU64_MOV_X: u8 = 0x07 | 0xb0 | 0x08;
pub const ALU64_AND_K: u8 = 0x07 | 0x50;
pub const ALU64_RSH_K: u8 = 0x07 | 0x70;
pub const JMP_JEQ_K: u8 = 0x05 | 0x10; // BPF_JMP | BPF_JEQ | BPF_K
pub const JMP_JNE_K: u8 = 0x05 | 0x50;
pub const JMP_EXIT: u8 = 0x05 | 0x90;

// Registers: r0 the verdict, r1 the context, then what the prologue loads.
const R0: u8 = 0;
const R1: u8 = 1;
const R_TYPE: u8 = 2;
const R_ACCESS: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The 8 bytes the kernel reads (little-endian, as on x86_64 and arm64).
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

fn mov_k(dst: u8, imm: i32) -> Insn {
    Insn::new(ALU64_MOV_K, dst, 0, 0, imm)
}

fn exit() -> Insn {
    Insn::new(JMP_EXIT, 0, 0, 0, 0)
}

/// The program for `f`: a prologue that loads type, access, major and minor, one block
/// per exception that returns the opposite of the default when it applies, and the
/// default.
pub fn program(f: &Filter) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_MEM_W, R_TYPE, R1, 0, 0),
        Insn::new(ALU64_MOV_X, R_ACCESS, R_TYPE, 0, 0),
        Insn::new(ALU64_RSH_K, R_ACCESS, 0, 0, 16),
        Insn::new(ALU64_AND_K, R_TYPE, 0, 0, 0xffff),
        Insn::new(LDX_MEM_W, R_MAJOR, R1, 4, 0),
        Insn::new(LDX_MEM_W, R_MINOR, R1, 8, 0),
    ];
    for e in &f.exceptions {
        // Jumps to the end of the block are written with off = -1 and fixed below.
        let mut block = vec![Insn::new(JMP_JNE_K, R_TYPE, 0, -1, e.kind as i32)];
        if let Some(m) = e.major {
            block.push(Insn::new(JMP_JNE_K, R_MAJOR, 0, -1, m as i32));
        }
        if let Some(m) = e.minor {
            block.push(Insn::new(JMP_JNE_K, R_MINOR, 0, -1, m as i32));
        }
        block.push(Insn::new(ALU64_MOV_X, R1, R_ACCESS, 0, 0));
        if f.default_allow {
            // Denied when the request asks for any access the exception holds.
            block.push(Insn::new(ALU64_AND_K, R1, 0, 0, e.access as i32));
            block.push(Insn::new(JMP_JEQ_K, R1, 0, -1, 0));
        } else {
            // Allowed when the request asks for nothing the exception lacks.
            block.push(Insn::new(ALU64_AND_K, R1, 0, 0, !e.access as i32));
            block.push(Insn::new(JMP_JNE_K, R1, 0, -1, 0));
        }
        block.push(mov_k(R0, i32::from(!f.default_allow)));
        block.push(exit());
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.off == -1 {
                insn.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(mov_k(R0, i32::from(f.default_allow)));
    p.push(exit());
    p
}

/// The device cgroup rules that always allow the standard devices nucleus puts in /dev
/// and pseudo-terminals. mknod of any node is allowed (as runc): opening it is what the
/// rules decide.
pub const STANDARD_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// The program for a rule list (see the module's comment), or why a rule is wrong.
pub fn emit(rules: &[(bool, String)]) -> Result<Vec<Insn>, String> {
    Ok(program(&Filter::from_rules(rules)?))
}

/// The rule list of OCI `linux.resources.devices` entries, in order, as (allow?, rule)
/// in the v1 syntax both cgroup versions are given.
pub fn oci_rules(
    devs: &[oci_spec::runtime::LinuxDeviceCgroup],
) -> Result<Vec<(bool, String)>, String> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let mut out = Vec::new();
    for d in devs {
        let kind = match d.typ() {
            Some(T::C) | Some(T::U) => "c",
            Some(T::B) => "b",
            Some(T::P) => {
                return Err("linux.resources.devices: type 'p' has no device cgroup rule".into())
            }
            Some(T::A) | None => "a",
        };
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(format!(
                "linux.resources.devices access '{access}': use letters of rwm"
            ));
        }
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let rule = if kind == "a" && d.major().is_none() && d.minor().is_none() {
            "a".to_string()
        } else {
            format!("{kind} {}:{} {access}", num(d.major()), num(d.minor()))
        };
        out.push((d.allow(), rule));
    }
    Ok(out)
}

/// The access bits (ACC_*) a rule's letters stand for; unknown letters are ignored.
pub fn access_bits(letters: &str) -> u32 {
    letters.chars().fold(0, |a, c| {
        a | match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => 0,
        }
    }) & ACC_ALL
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(bool, &str)]) -> Vec<(bool, String)> {
        list.iter().map(|(a, r)| (*a, r.to_string())).collect()
    }

    /// The default list `spec::oci` builds (deny all, then the standard devices).
    fn default_list(config: &[(bool, &str)]) -> Vec<(bool, String)> {
        let mut l = vec![(false, "a")];
        l.extend_from_slice(config);
        l.extend(STANDARD_RULES.iter().map(|r| (true, *r)));
        rules(&l)
    }

    /// A tiny interpreter for the instructions `program` emits, over a device context.
    /// Anything else is a test failure, and so is running off the end or looping.
    fn run(p: &[Insn], kind: Kind, major: u32, minor: u32, access: u32) -> u64 {
        let ctx = [(access << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        for _ in 0..10_000 {
            let i = p[pc];
            let imm = i.imm as i64 as u64; // sign-extended, as the kernel does
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    assert!(i.off >= 0 && i.off % 4 == 0 && i.off < 12, "ctx offset");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU64_MOV_K => r[d] = imm,
                ALU64_MOV_X => r[d] = r[s],
                ALU64_AND_K => r[d] &= imm,
                ALU64_RSH_K => r[d] >>= imm,
                JMP_JEQ_K | JMP_JNE_K => {
                    let eq = r[d] == imm;
                    if eq == (i.code == JMP_JEQ_K) {
                        let to = pc as i64 + i64::from(i.off);
                        assert!(
                            to >= 0 && (to as usize) < p.len(),
                            "jump out of the program"
                        );
                        assert!(i.off >= 0, "no backward jumps");
                        pc = to as usize;
                    }
                }
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
        panic!("the program does not end");
    }

    /// Every (type, major, minor, access) the rule lists below could tell apart.
    fn requests() -> Vec<(Kind, u32, u32, u32)> {
        let mut out = Vec::new();
        for kind in [Kind::Block, Kind::Char] {
            for major in [0, 1, 5, 8, 136, 254] {
                for minor in [0, 1, 2, 3, 5, 9, 42] {
                    for access in 1..=7 {
                        out.push((kind, major, minor, access));
                    }
                }
            }
        }
        out
    }

    /// The program agrees with the v1 model on every request.
    fn agrees(list: &[(bool, String)]) {
        let f = Filter::from_rules(list).unwrap();
        let p = program(&f);
        for (k, ma, mi, acc) in requests() {
            let want = f.allows(k, ma, mi, acc);
            let got = run(&p, k, ma, mi, acc);
            assert_eq!(
                got,
                u64::from(want),
                "{list:?}: {k:?} {ma}:{mi} access {acc}"
            );
        }
    }

    #[test]
    fn exact_instructions_for_a_small_list() {
        let p = emit(&rules(&[
            (false, "a"),
            (true, "c 1:3 rw"),
            (true, "b *:* m"),
        ]))
        .unwrap();
        let i = Insn::new;
        assert_eq!(
            p,
            vec![
                i(0x61, 2, 1, 0, 0),      // r2 = ctx->access_type
                i(0xbf, 3, 2, 0, 0),      // r3 = r2
                i(0x77, 3, 0, 0, 16),     // r3 >>= 16 (access)
                i(0x57, 2, 0, 0, 0xffff), // r2 &= 0xffff (type)
                i(0x61, 4, 1, 4, 0),      // r4 = ctx->major
                i(0x61, 5, 1, 8, 0),      // r5 = ctx->minor
                i(0x55, 2, 0, 7, 2),      // c 1:3 rw: type char?
                i(0x55, 4, 0, 6, 1),      //   major 1?
                i(0x55, 5, 0, 5, 3),      //   minor 3?
                i(0xbf, 1, 3, 0, 0),      //   r1 = access
                i(0x57, 1, 0, 0, !6),     //   r1 &= ~(r|w)
                i(0x55, 1, 0, 2, 0),      //   anything else asked: next
                i(0xb7, 0, 0, 0, 1),      //   allow
                i(0x95, 0, 0, 0, 0),
                i(0x55, 2, 0, 5, 1), // b *:* m: type block?
                i(0xbf, 1, 3, 0, 0),
                i(0x57, 1, 0, 0, !1), //   r1 &= ~m
                i(0x55, 1, 0, 2, 0),
                i(0xb7, 0, 0, 0, 1),
                i(0x95, 0, 0, 0, 0),
                i(0xb7, 0, 0, 0, 0), // deny
                i(0x95, 0, 0, 0, 0),
            ]
        );
        assert_eq!(p[6].encode(), [0x55, 0x02, 7, 0, 2, 0, 0, 0]);
        assert_eq!(p[0].encode(), [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn default_list_allows_the_standard_devices_and_mknod_only() {
        let f = Filter::from_rules(&default_list(&[])).unwrap();
        let p = program(&f);
        let rw = ACC_READ | ACC_WRITE;
        for (ma, mi) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 1),
            (5, 2),
            (136, 4),
        ] {
            assert_eq!(run(&p, Kind::Char, ma, mi, rw), 1, "c {ma}:{mi}");
        }
        // The host's disk: mknod yes (as runc), open no.
        assert_eq!(run(&p, Kind::Block, 8, 0, ACC_MKNOD), 1);
        assert_eq!(run(&p, Kind::Block, 8, 0, ACC_READ), 0);
        assert_eq!(run(&p, Kind::Block, 8, 0, ACC_READ | ACC_MKNOD), 0);
        assert_eq!(run(&p, Kind::Char, 1, 1, ACC_READ), 0, "/dev/mem");
        assert_eq!(
            run(&p, Kind::Char, 10, 200, ACC_READ | ACC_WRITE),
            0,
            "/dev/net/tun"
        );
        agrees(&default_list(&[]));
    }

    #[test]
    fn config_rules_follow_v1_semantics() {
        // An allowed device, one with less access, a deny of a standard one (which the
        // later standard allow re-adds, as on v1), wildcards, and resets.
        let cases: Vec<Vec<(bool, String)>> = vec![
            default_list(&[(true, "b 8:0 r")]),
            default_list(&[(true, "c 10:200 rwm")]),
            default_list(&[(false, "c 1:3 rwm")]),
            rules(&[(false, "a"), (true, "c 1:3 rwm"), (false, "c 1:3 w")]),
            rules(&[(false, "a"), (true, "c 1:3 r"), (true, "c 1:3 w")]),
            rules(&[(false, "a"), (true, "c 1:3 rwm"), (false, "c *:* rwm")]),
            rules(&[(true, "a"), (false, "b *:* rw"), (false, "c 5:* w")]),
            rules(&[(true, "a"), (false, "c 1:3 rwm"), (true, "c 1:3 r")]),
            rules(&[(false, "a"), (true, "c 1:3 rwm"), (true, "a")]),
            rules(&[(true, "b 8:0 r")]),
            rules(&[]),
        ];
        for c in &cases {
            agrees(c);
        }
        // Spot checks of the model itself against the kernel's documented behaviour.
        let f = |l: &[(bool, &str)]| Filter::from_rules(&rules(l)).unwrap();
        let merged = f(&[(false, "a"), (true, "c 1:3 r"), (true, "c 1:3 w")]);
        assert!(merged.allows(Kind::Char, 1, 3, ACC_READ | ACC_WRITE));
        let narrowed = f(&[(false, "a"), (true, "c 1:3 rwm"), (false, "c 1:3 w")]);
        assert!(narrowed.allows(Kind::Char, 1, 3, ACC_READ));
        assert!(!narrowed.allows(Kind::Char, 1, 3, ACC_READ | ACC_WRITE));
        // A wildcard deny removes only the exception spelled the same (as the kernel).
        let wild = f(&[(false, "a"), (true, "c 1:3 rwm"), (false, "c *:* rwm")]);
        assert!(wild.allows(Kind::Char, 1, 3, ACC_READ));
        let allowed = f(&default_list(&[(true, "b 8:0 r")])
            .iter()
            .map(|(a, r)| (*a, r.as_str()))
            .collect::<Vec<_>>());
        assert!(allowed.allows(Kind::Block, 8, 0, ACC_READ));
        assert!(!allowed.allows(Kind::Block, 8, 0, ACC_WRITE));
        assert!(!allowed.allows(Kind::Block, 8, 1, ACC_READ));
    }

    #[test]
    fn last_match_wins_for_lists_of_allows_after_a_reset() {
        // For a reset followed by allows (what nucleus builds) the model is the simple
        // rule "the last matching rule decides", checked here independently.
        let list = default_list(&[(true, "b 8:0 rw"), (true, "c 10:*")]);
        let f = Filter::from_rules(&list).unwrap();
        let p = program(&f);
        for (k, ma, mi, acc) in requests() {
            let mut verdict = false;
            for (allow, rule) in &list {
                let w: Vec<&str> = rule.split_whitespace().collect();
                if w[0] == "a" {
                    verdict = *allow;
                    continue;
                }
                let (ra, rb) = w[1].split_once(':').unwrap();
                let num_ok = |s: &str, n: u32| s == "*" || s.parse::<u32>().unwrap() == n;
                let kind_ok = (w[0] == "b") == (k == Kind::Block);
                let letters = w.get(2).copied().unwrap_or("");
                if kind_ok && num_ok(ra, ma) && num_ok(rb, mi) && acc & !access_bits(letters) == 0 {
                    verdict = *allow;
                }
            }
            assert_eq!(
                run(&p, k, ma, mi, acc),
                u64::from(verdict),
                "{k:?} {ma}:{mi} {acc}"
            );
        }
    }

    #[test]
    fn bad_rules_are_refused_with_the_rule() {
        for bad in [
            "x 1:3 rwm",
            "c 1-3 rwm",
            "c 1:3 rwz",
            "c 1:x r",
            "c",
            "c 1:3 r extra",
            "c 4294967295:1 r",
        ] {
            let e = emit(&rules(&[(true, bad)])).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
        // Type a with numbers is a reset on v1 (the kernel reads only the letter).
        assert!(emit(&rules(&[(true, "a 1:3 rwm")])).is_ok());
    }
}
