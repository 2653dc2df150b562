//! File capabilities: the `security.capability` extended attribute (linux/capability.h,
//! `struct vfs_ns_cap_data`). Pure parsing and formatting; reading the xattr is in linux/capset.rs.

use super::set::CapSet;
use serde::Serialize;

const REVISION_MASK: u32 = 0xFF00_0000;
const FLAGS_EFFECTIVE: u32 = 0x0000_0001;
const REVISION_1: u32 = 0x0100_0000;
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;

/// The name of the extended attribute.
pub const XATTR_NAME: &str = "security.capability";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FileCaps {
    pub permitted: CapSet,
    pub inheritable: CapSet,
    /// The single effective bit: all granted permitted capabilities become effective.
    pub effective: bool,
    /// 1, 2 or 3.
    pub version: u8,
    /// Version 3 only: the uid (in the filesystem's user namespace) that is root for them.
    pub rootid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadXattr {
    #[error("security.capability has {0} bytes, which matches no revision (12, 20 or 24)")]
    Size(usize),
    #[error("security.capability has unknown revision 0x{0:08x}")]
    Revision(u32),
}

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

impl FileCaps {
    /// A version 2 value (the form setcap writes in the initial user namespace).
    pub fn new(permitted: CapSet, inheritable: CapSet, effective: bool) -> FileCaps {
        FileCaps {
            permitted,
            inheritable,
            effective,
            version: 2,
            rootid: None,
        }
    }

    /// Decodes the raw attribute value.
    pub fn parse(b: &[u8]) -> Result<FileCaps, BadXattr> {
        if b.len() < 4 {
            return Err(BadXattr::Size(b.len()));
        }
        let magic = word(b, 0);
        let (version, words, len) = match magic & REVISION_MASK {
            REVISION_1 => (1, 1, 12),
            REVISION_2 => (2, 2, 20),
            REVISION_3 => (3, 2, 24),
            other => return Err(BadXattr::Revision(other)),
        };
        if b.len() != len {
            return Err(BadXattr::Size(b.len()));
        }
        let (mut p, mut i) = (0u64, 0u64);
        for n in 0..words {
            p |= u64::from(word(b, 1 + 2 * n)) << (32 * n);
            i |= u64::from(word(b, 2 + 2 * n)) << (32 * n);
        }
        Ok(FileCaps {
            permitted: CapSet::from_bits(p),
            inheritable: CapSet::from_bits(i),
            effective: magic & FLAGS_EFFECTIVE != 0,
            version,
            rootid: (version == 3).then(|| word(b, 5)),
        })
    }

    /// Encodes as version 2, or 3 when a rootid is set.
    pub fn encode(&self) -> Vec<u8> {
        let rev = if self.rootid.is_some() {
            REVISION_3
        } else {
            REVISION_2
        };
        let magic = rev | if self.effective { FLAGS_EFFECTIVE } else { 0 };
        let (p, i) = (self.permitted.bits(), self.inheritable.bits());
        let mut out = Vec::with_capacity(24);
        for w in [
            magic,
            p as u32,
            i as u32,
            (p >> 32) as u32,
            (i >> 32) as u32,
        ] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if let Some(r) = self.rootid {
            out.extend_from_slice(&r.to_le_bytes());
        }
        out
    }

    /// setcap-style text: `cap_chown=eip cap_kill,cap_net_raw=p`, plus ` [rootid=N]`.
    pub fn to_text(&self) -> String {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for c in (self.permitted | self.inheritable).iter() {
            let mut flags = String::new();
            // One effective bit covers the whole file: libcap shows it on every capability.
            if self.effective {
                flags.push('e');
            }
            if self.inheritable.contains(c) {
                flags.push('i');
            }
            if self.permitted.contains(c) {
                flags.push('p');
            }
            match groups.iter_mut().find(|(f, _)| *f == flags) {
                Some((_, v)) => v.push(c.lower_name()),
                None => groups.push((flags, vec![c.lower_name()])),
            }
        }
        let mut text = groups
            .iter()
            .map(|(f, names)| format!("{}={f}", names.join(",")))
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            text = "=".into();
        }
        if let Some(r) = self.rootid {
            text.push_str(&format!(" [rootid={r}]"));
        }
        text
    }
}

/// Whether a v3 rootid is root in the user namespace described by `uid_map` (the text of
/// /proc/PID/uid_map): some line maps inside uid 0 to exactly `rootid` outside.
pub fn rootid_is_root(rootid: u32, uid_map: &str) -> bool {
    super::identity::parse_id_map(uid_map)
        .iter()
        .any(|r| r.inside == 0 && r.count > 0 && r.outside == u64::from(rootid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_setcap_writes() {
        // `setcap -n 1000 cap_net_raw+ep`
        let v3 = [
            0x01, 0, 0, 0x03, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 0, 0,
        ];
        let fc = FileCaps::parse(&v3).unwrap();
        assert_eq!(fc.version, 3);
        assert_eq!(fc.rootid, Some(1000));
        assert!(fc.effective);
        assert_eq!(fc.permitted.bits(), 1 << 13);
        assert_eq!(fc.to_text(), "cap_net_raw=ep [rootid=1000]");
        assert_eq!(fc.encode(), v3.to_vec());
    }

    #[test]
    fn round_trips_v2_and_rejects_garbage() {
        let fc = FileCaps::new(
            CapSet::parse_list("kill,net_raw,checkpoint_restore").unwrap(),
            CapSet::parse_list("chown").unwrap(),
            false,
        );
        let b = fc.encode();
        assert_eq!(b.len(), 20);
        assert_eq!(FileCaps::parse(&b).unwrap(), fc);
        assert_eq!(
            fc.to_text(),
            "cap_chown=i cap_kill,cap_net_raw,cap_checkpoint_restore=p"
        );
        assert!(FileCaps::parse(&b[..19]).is_err());
        assert!(FileCaps::parse(&[0, 0, 0, 0x09]).is_err());
        assert!(FileCaps::parse(&[]).is_err());
        let v1 = [0x01, 0, 0, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0];
        let fc = FileCaps::parse(&v1).unwrap();
        assert_eq!((fc.version, fc.permitted.bits()), (1, 1));
    }

    #[test]
    fn rootid_mapping() {
        assert!(rootid_is_root(0, "         0          0 4294967295\n"));
        assert!(!rootid_is_root(1000, "         0          0 4294967295\n"));
        assert!(rootid_is_root(100000, "0 100000 65536\n"));
        assert!(!rootid_is_root(0, "0 100000 65536\n"));
    }
}
