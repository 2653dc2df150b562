//! The five capability sets of a process, with securebits and no_new_privs, as one value;
//! and the parser for `/proc/PID/status`, which is where the kernel shows them.

use super::set::CapSet;
use serde::Serialize;
use std::fmt;

/// The five sets, in the order capabilities(7) introduces them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sets {
    pub bounding: CapSet,
    pub permitted: CapSet,
    pub effective: CapSet,
    pub inheritable: CapSet,
    pub ambient: CapSet,
}

/// Which of the five sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Which {
    Bounding,
    Permitted,
    Effective,
    Inheritable,
    Ambient,
}

impl Which {
    pub const ALL: [Which; 5] = [
        Which::Bounding,
        Which::Permitted,
        Which::Effective,
        Which::Inheritable,
        Which::Ambient,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Which::Bounding => "bounding",
            Which::Permitted => "permitted",
            Which::Effective => "effective",
            Which::Inheritable => "inheritable",
            Which::Ambient => "ambient",
        }
    }

    /// The key in /proc/PID/status.
    pub fn status_key(self) -> &'static str {
        match self {
            Which::Bounding => "CapBnd",
            Which::Permitted => "CapPrm",
            Which::Effective => "CapEff",
            Which::Inheritable => "CapInh",
            Which::Ambient => "CapAmb",
        }
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Sets {
    pub fn get(&self, w: Which) -> CapSet {
        match w {
            Which::Bounding => self.bounding,
            Which::Permitted => self.permitted,
            Which::Effective => self.effective,
            Which::Inheritable => self.inheritable,
            Which::Ambient => self.ambient,
        }
    }

    pub fn set(&mut self, w: Which, v: CapSet) {
        match w {
            Which::Bounding => self.bounding = v,
            Which::Permitted => self.permitted = v,
            Which::Effective => self.effective = v,
            Which::Inheritable => self.inheritable = v,
            Which::Ambient => self.ambient = v,
        }
    }

    /// Every set masked to `known` (e.g. the capabilities the running kernel has).
    pub fn masked(&self, known: CapSet) -> Sets {
        let mut out = *self;
        for w in Which::ALL {
            out.set(w, self.get(w) & known);
        }
        out
    }

    /// Each (set, capability, expected-present) where `self` (expected) and `actual` differ.
    pub fn differences(&self, actual: &Sets) -> Vec<(Which, super::Capability, bool)> {
        let mut out = Vec::new();
        for w in Which::ALL {
            let (want, got) = (self.get(w), actual.get(w));
            for c in (want - got).iter() {
                out.push((w, c, true));
            }
            for c in (got - want).iter() {
                out.push((w, c, false));
            }
        }
        out
    }
}

/// Securebits (linux/securebits.h): the bit numbers and their names.
pub mod securebits {
    pub const NOROOT: u32 = 1 << 0;
    pub const NOROOT_LOCKED: u32 = 1 << 1;
    pub const NO_SETUID_FIXUP: u32 = 1 << 2;
    pub const NO_SETUID_FIXUP_LOCKED: u32 = 1 << 3;
    pub const KEEP_CAPS: u32 = 1 << 4;
    pub const KEEP_CAPS_LOCKED: u32 = 1 << 5;
    pub const NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
    pub const NO_CAP_AMBIENT_RAISE_LOCKED: u32 = 1 << 7;

    const NAMES: [(u32, &str); 8] = [
        (NOROOT, "noroot"),
        (NOROOT_LOCKED, "noroot-locked"),
        (NO_SETUID_FIXUP, "no-setuid-fixup"),
        (NO_SETUID_FIXUP_LOCKED, "no-setuid-fixup-locked"),
        (KEEP_CAPS, "keep-caps"),
        (KEEP_CAPS_LOCKED, "keep-caps-locked"),
        (NO_CAP_AMBIENT_RAISE, "no-cap-ambient-raise"),
        (NO_CAP_AMBIENT_RAISE_LOCKED, "no-cap-ambient-raise-locked"),
    ];

    pub fn names(bits: u32) -> Vec<&'static str> {
        NAMES
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// What `/proc/PID/status` says about a process's privileges.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProcStatus {
    pub pid: i32,
    pub ppid: i32,
    pub name: String,
    /// real, effective, saved, filesystem
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    pub sets: Sets,
    pub no_new_privs: bool,
    /// 0 disabled, 1 strict, 2 filter
    pub seccomp: u8,
}

/// A status file that does not have what we need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed /proc status: {0}")]
pub struct BadStatus(pub String);

impl ProcStatus {
    /// Parses the text of `/proc/PID/status`. Kernels without ambient (before 4.3) lack
    /// `CapAmb`; it then reads as empty. Every other capability line is required.
    pub fn parse(text: &str) -> Result<ProcStatus, BadStatus> {
        let mut st = ProcStatus::default();
        let mut seen = [false; 5];
        for line in text.lines() {
            let Some((key, val)) = line.split_once(':') else {
                continue;
            };
            let val = val.trim();
            match key {
                "Name" => st.name = val.to_string(),
                "Pid" => st.pid = num(key, val)?,
                "PPid" => st.ppid = num(key, val)?,
                "Uid" => st.uids = four(key, val)?,
                "Gid" => st.gids = four(key, val)?,
                "Groups" => {
                    st.groups = val
                        .split_whitespace()
                        .map(|g| num(key, g))
                        .collect::<Result<_, _>>()?
                }
                "NoNewPrivs" => st.no_new_privs = val == "1",
                "Seccomp" => st.seccomp = num(key, val)?,
                _ => {
                    if let Some(i) = Which::ALL.iter().position(|w| w.status_key() == key) {
                        let set = CapSet::parse_mask(val)
                            .map_err(|_| BadStatus(format!("{key}: '{val}' is not a mask")))?;
                        st.sets.set(Which::ALL[i], set);
                        seen[i] = true;
                    }
                }
            }
        }
        for (i, w) in Which::ALL.iter().enumerate() {
            if !seen[i] && *w != Which::Ambient {
                return Err(BadStatus(format!("no {} line", w.status_key())));
            }
        }
        Ok(st)
    }
}

fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, BadStatus> {
    v.parse()
        .map_err(|_| BadStatus(format!("{key}: '{v}' is not a number")))
}

fn four(key: &str, v: &str) -> Result<[u32; 4], BadStatus> {
    let n: Vec<u32> = v
        .split_whitespace()
        .map(|x| num(key, x))
        .collect::<Result<_, _>>()?;
    n.try_into()
        .map_err(|_| BadStatus(format!("{key}: expected four ids, got '{v}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Name:\tping\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t42\nPid:\t42\n\
PPid:\t1\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\nGroups:\t4 27 1000 \n\
CapInh:\t0000000000000000\nCapPrm:\t0000000000002000\nCapEff:\t0000000000002000\n\
CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";

    #[test]
    fn parses_a_status_file() {
        let st = ProcStatus::parse(SAMPLE).unwrap();
        assert_eq!(st.name, "ping");
        assert_eq!((st.pid, st.ppid), (42, 1));
        assert_eq!(st.uids, [1000, 0, 0, 0]);
        assert_eq!(st.groups, vec![4, 27, 1000]);
        assert_eq!(st.sets.permitted.bits(), 1 << 13);
        assert_eq!(st.sets.bounding, CapSet::all_known());
        assert!(st.no_new_privs);
        assert_eq!(st.seccomp, 2);
    }

    #[test]
    fn rejects_missing_or_bad_lines() {
        let no_eff = SAMPLE.replace("CapEff:\t0000000000002000\n", "");
        assert!(ProcStatus::parse(&no_eff).is_err());
        let bad = SAMPLE.replace("CapPrm:\t0000000000002000", "CapPrm:\tzz");
        assert!(ProcStatus::parse(&bad).is_err());
        let bad_uid = SAMPLE.replace("Uid:\t1000\t0\t0\t0", "Uid:\t1000");
        assert!(ProcStatus::parse(&bad_uid).is_err());
        let no_amb = SAMPLE.replace("CapAmb:\t0000000000000000\n", "");
        assert_eq!(
            ProcStatus::parse(&no_amb).unwrap().sets.ambient,
            CapSet::EMPTY
        );
    }

    #[test]
    fn differences_name_set_and_capability() {
        let want = Sets {
            permitted: CapSet::from_bits(1 << 10),
            ..Sets::default()
        };
        let got = Sets {
            effective: CapSet::from_bits(1 << 13),
            ..Sets::default()
        };
        let d = want.differences(&got);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].0, d[0].1.index(), d[0].2),
            (Which::Permitted, 10, true)
        );
        assert_eq!(
            (d[1].0, d[1].1.index(), d[1].2),
            (Which::Effective, 13, false)
        );
        assert_eq!(
            securebits::names(0x14),
            vec!["no-setuid-fixup", "keep-caps"]
        );
    }
}
