//! One capability: its number, its canonical name, and parsing from what people type.

use std::fmt;
use std::str::FromStr;

/// The highest capability number any kernel defines today (CAP_CHECKPOINT_RESTORE).
pub const CAP_MAX: u8 = 40;

/// Canonical names, indexed by capability number (capabilities(7), linux/capability.h).
const NAMES: [&str; CAP_MAX as usize + 1] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability known to nucleus: a number in `0..=CAP_MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(u8);

/// A capability name or number that nucleus does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability '{input}'{}", suggestion_text(.suggestions))]
pub struct UnknownCapability {
    pub input: String,
    pub suggestions: Vec<&'static str>,
}

fn suggestion_text(s: &[&str]) -> String {
    match s {
        [] => " (see `nucleus caps decode 0x1ffffffffff` for every name)".into(),
        [one] => format!(": did you mean {one}?"),
        many => format!(": did you mean one of {}?", many.join(", ")),
    }
}

impl Capability {
    /// The capability with number `n`, if nucleus knows it.
    pub fn from_index(n: u8) -> Option<Capability> {
        (n <= CAP_MAX).then_some(Capability(n))
    }

    pub fn index(self) -> u8 {
        self.0
    }

    /// `CAP_NET_RAW`
    pub fn name(self) -> &'static str {
        NAMES[self.0 as usize]
    }

    /// `cap_net_raw` — the spelling capsh, getcap and /proc tools print.
    pub fn lower_name(self) -> String {
        self.name().to_ascii_lowercase()
    }

    /// `net_raw` — the spelling Docker and our CLI flags use.
    pub fn short_name(self) -> String {
        self.lower_name()["cap_".len()..].to_string()
    }

    pub fn all() -> impl Iterator<Item = Capability> {
        (0..=CAP_MAX).map(Capability)
    }

    /// Parses one name or number: `CAP_NET_RAW`, `cap_net_raw`, `NET_RAW`, `net_raw`, `13`.
    /// (`ALL` is a set, not one capability: see `CapSet::parse_list`.)
    pub fn parse(input: &str) -> Result<Capability, UnknownCapability> {
        let s = input.trim();
        if let Ok(n) = s.parse::<u32>() {
            return u8::try_from(n)
                .ok()
                .and_then(Capability::from_index)
                .ok_or_else(|| UnknownCapability {
                    input: input.to_string(),
                    suggestions: vec![],
                });
        }
        let upper = s.to_ascii_uppercase().replace('-', "_");
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        match NAMES.iter().position(|n| *n == full) {
            Some(i) => Ok(Capability(i as u8)),
            None => Err(UnknownCapability {
                input: input.to_string(),
                suggestions: closest(&full),
            }),
        }
    }
}

/// Up to three known names closest to `full`, nearest first: edit distance at most 3 to the
/// whole name or to its beginning (so a typo in a truncated name still finds it).
fn closest(full: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = NAMES
        .iter()
        .map(|n| {
            let whole = strsim::levenshtein(full, n);
            let head = n
                .get(..full.len())
                .map_or(usize::MAX, |h| strsim::levenshtein(full, h) + 1);
            (whole.min(head), *n)
        })
        .filter(|(d, _)| *d <= 3)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = UnknownCapability;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::parse(s)
    }
}

impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_to_the_same_capability() {
        for s in [
            "CAP_NET_RAW",
            "cap_net_raw",
            "NET_RAW",
            "net_raw",
            "13",
            " Net_Raw ",
        ] {
            assert_eq!(Capability::parse(s).unwrap().index(), 13, "{s}");
        }
    }

    #[test]
    fn names_round_trip_for_every_capability() {
        for c in Capability::all() {
            assert_eq!(Capability::parse(c.name()).unwrap(), c);
            assert_eq!(Capability::parse(&c.short_name()).unwrap(), c);
            assert_eq!(Capability::parse(&c.index().to_string()).unwrap(), c);
        }
        assert_eq!(Capability::all().count(), 41);
        assert_eq!(
            Capability::from_index(40).unwrap().name(),
            "CAP_CHECKPOINT_RESTORE"
        );
    }

    #[test]
    fn unknown_names_are_errors_with_suggestions() {
        let e = Capability::parse("net_rwa").unwrap_err();
        assert_eq!(e.suggestions.first(), Some(&"CAP_NET_RAW"));
        assert!(e.to_string().contains("did you mean CAP_NET_RAW?"), "{e}");
        let e = Capability::parse("net_bwind").unwrap_err();
        assert_eq!(e.suggestions.first(), Some(&"CAP_NET_BIND_SERVICE"), "{e}");
        let e = Capability::parse("41").unwrap_err();
        assert!(e.suggestions.is_empty());
        assert!(Capability::parse("").is_err());
        assert!(Capability::parse("frobnicate_everything").is_err());
        assert!(Capability::parse("-1").is_err());
    }
}
