//! A set of capabilities as the kernel stores it: a 64-bit mask, bit N = capability N.

use super::cap::{Capability, UnknownCapability, CAP_MAX};
use std::fmt;
use std::ops::{BitAnd, BitOr, Not, Sub};

/// A capability mask. Bits above `CAP_MAX` are kept (a newer kernel may define them) and
/// reported by `unknown_bits`, so decoding a mask never loses information.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CapSet(u64);

/// A mask that is not hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a capability mask: give hex digits, like 0xa80425fb or 000001ffffffffff")]
pub struct BadMask(pub String);

/// A capability list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListError {
    #[error(transparent)]
    Unknown(#[from] UnknownCapability),
    #[error("empty capability name in list '{0}' (separate names with commas: net_raw,chown)")]
    Empty(String),
}

/// The 14 capabilities of the OCI/Docker default set, mask 0xa80425fb.
pub const DEFAULT_MASK: u64 = 0xa804_25fb;

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    pub const fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Every capability nucleus knows (0..=CAP_MAX).
    pub const fn all_known() -> CapSet {
        CapSet((1u64 << (CAP_MAX + 1)) - 1)
    }

    /// Every capability up to and including `last` (a kernel's cap_last_cap).
    pub fn up_to(last: u8) -> CapSet {
        if last >= 63 {
            CapSet(u64::MAX)
        } else {
            CapSet((1u64 << (last + 1)) - 1)
        }
    }

    /// The OCI/Docker default set.
    pub const fn default_set() -> CapSet {
        CapSet(DEFAULT_MASK)
    }

    pub fn contains(self, c: Capability) -> bool {
        self.0 & (1u64 << c.index()) != 0
    }

    pub fn insert(&mut self, c: Capability) {
        self.0 |= 1u64 << c.index();
    }

    pub fn remove(&mut self, c: Capability) {
        self.0 &= !(1u64 << c.index());
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Known capabilities in the set, lowest number first.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::all().filter(move |c| self.contains(*c))
    }

    /// Bit numbers set above `CAP_MAX`.
    pub fn unknown_bits(self) -> Vec<u8> {
        (CAP_MAX + 1..64)
            .filter(|b| self.0 & (1u64 << b) != 0)
            .collect()
    }

    /// Parses a mask: `0xa80425fb`, `a80425fb`, or the 16-digit /proc form.
    pub fn parse_mask(s: &str) -> Result<CapSet, BadMask> {
        let t = s.trim();
        let digits = t
            .strip_prefix("0x")
            .or_else(|| t.strip_prefix("0X"))
            .unwrap_or(t);
        if digits.is_empty() || digits.len() > 16 {
            return Err(BadMask(s.to_string()));
        }
        u64::from_str_radix(digits, 16)
            .map(CapSet)
            .map_err(|_| BadMask(s.to_string()))
    }

    /// Parses a comma- (or space-) separated list of capability names or numbers.
    /// `ALL` means every known capability; an empty string or `none` means the empty set.
    pub fn parse_list(s: &str) -> Result<CapSet, ListError> {
        let t = s.trim();
        if t.is_empty() || t.eq_ignore_ascii_case("none") {
            return Ok(CapSet::EMPTY);
        }
        let mut set = CapSet::EMPTY;
        for part in t.split([',', ' ']) {
            let p = part.trim();
            if p.is_empty() {
                if t.contains(",,") || t.starts_with(',') || t.ends_with(',') {
                    return Err(ListError::Empty(s.to_string()));
                }
                continue;
            }
            if p.eq_ignore_ascii_case("all") || p.eq_ignore_ascii_case("cap_all") {
                set = set | CapSet::all_known();
            } else {
                set.insert(Capability::parse(p)?);
            }
        }
        Ok(set)
    }

    /// Parses several list arguments (each may itself be a comma list) into one set.
    pub fn parse_lists<S: AsRef<str>>(items: &[S]) -> Result<CapSet, ListError> {
        items.iter().try_fold(CapSet::EMPTY, |acc, s| {
            Ok(acc | CapSet::parse_list(s.as_ref())?)
        })
    }

    /// The /proc form: 16 hex digits.
    pub fn hex(self) -> String {
        format!("{:016x}", self.0)
    }

    /// `cap_chown,cap_kill,…` with unknown bits as numbers — the form `capsh --decode` prints.
    pub fn to_capsh_names(self) -> String {
        let mut parts: Vec<String> = self.iter().map(|c| c.lower_name()).collect();
        parts.extend(self.unknown_bits().iter().map(|b| b.to_string()));
        parts.join(",")
    }

    /// Canonical names (`CAP_CHOWN`), as OCI config.json spells them.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(|c| c.name()).collect()
    }
}

impl BitOr for CapSet {
    type Output = CapSet;
    fn bitor(self, o: CapSet) -> CapSet {
        CapSet(self.0 | o.0)
    }
}

impl BitAnd for CapSet {
    type Output = CapSet;
    fn bitand(self, o: CapSet) -> CapSet {
        CapSet(self.0 & o.0)
    }
}

impl Sub for CapSet {
    type Output = CapSet;
    fn sub(self, o: CapSet) -> CapSet {
        CapSet(self.0 & !o.0)
    }
}

impl Not for CapSet {
    type Output = CapSet;
    fn not(self) -> CapSet {
        CapSet(!self.0)
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(it: I) -> CapSet {
        let mut s = CapSet::EMPTY;
        for c in it {
            s.insert(c);
        }
        s
    }
}

/// Short human form: `none`, `all (0..=40)`, or `chown,kill,…`.
impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        if *self == CapSet::all_known() {
            return f.write_str("all");
        }
        let mut parts: Vec<String> = self.iter().map(|c| c.short_name()).collect();
        parts.extend(self.unknown_bits().iter().map(|b| format!("bit{b}")));
        f.write_str(&parts.join(","))
    }
}

impl serde::Serialize for CapSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CapSet", 2)?;
        st.serialize_field("hex", &self.hex())?;
        st.serialize_field("names", &self.names())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_the_fourteen_docker_caps() {
        let d = CapSet::default_set();
        assert_eq!(d.len(), 14);
        assert_eq!(
            d.to_capsh_names(),
            "cap_chown,cap_dac_override,cap_fowner,cap_fsetid,cap_kill,cap_setgid,cap_setuid,\
             cap_setpcap,cap_net_bind_service,cap_net_raw,cap_sys_chroot,cap_mknod,\
             cap_audit_write,cap_setfcap"
        );
    }

    #[test]
    fn masks_parse_in_every_form() {
        for s in ["0xa80425fb", "a80425fb", "00000000a80425fb", "0XA80425FB"] {
            assert_eq!(CapSet::parse_mask(s).unwrap(), CapSet::default_set(), "{s}");
        }
        assert_eq!(
            CapSet::parse_mask("000001ffffffffff").unwrap(),
            CapSet::all_known()
        );
        for bad in ["", "0x", "zz", "0x12345678901234567", "-1", "1 2"] {
            assert!(CapSet::parse_mask(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_parse_and_encode_inverts_decode() {
        let s = CapSet::parse_list("net_raw, CAP_CHOWN,13").unwrap();
        assert_eq!(s.bits(), (1 << 13) | 1);
        assert_eq!(CapSet::parse_list("ALL").unwrap(), CapSet::all_known());
        assert_eq!(CapSet::parse_list("none").unwrap(), CapSet::EMPTY);
        assert!(matches!(
            CapSet::parse_list("net_raw,,chown"),
            Err(ListError::Empty(_))
        ));
        assert!(matches!(
            CapSet::parse_list("net_raww"),
            Err(ListError::Unknown(_))
        ));
        for bits in [0u64, 1, 0xa80425fb, 0x1ffffffffff, 0x8000000001] {
            let set = CapSet::from_bits(bits);
            let back = CapSet::parse_list(&set.to_capsh_names()).unwrap();
            assert_eq!(back, set);
        }
    }

    #[test]
    fn algebra_and_unknown_bits() {
        let a = CapSet::parse_list("chown,kill").unwrap();
        let b = CapSet::parse_list("kill,net_raw").unwrap();
        assert_eq!((a | b).len(), 3);
        assert_eq!(a & b, CapSet::parse_list("kill").unwrap());
        assert_eq!(a - b, CapSet::parse_list("chown").unwrap());
        assert!((a & b).is_subset(a));
        assert!(!a.is_subset(b));
        let x = CapSet::from_bits(0x3ffffffffff);
        assert_eq!(x.unknown_bits(), vec![41]);
        assert!(x.to_capsh_names().ends_with("cap_checkpoint_restore,41"));
        assert_eq!(CapSet::up_to(40), CapSet::all_known());
        assert_eq!(CapSet::up_to(0).bits(), 1);
        assert_eq!(CapSet::default_set().hex(), "00000000a80425fb");
    }
}
