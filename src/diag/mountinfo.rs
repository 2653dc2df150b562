//! `/proc/PID/mountinfo` lines (proc(5)), parsed.

use serde::Serialize;

/// One mount as `/proc/PID/mountinfo` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// "major:minor" of the filesystem's device.
    pub device: String,
    /// The directory of the filesystem that forms this mount's root.
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (rw/ro, nosuid, …).
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options.
    pub super_options: Vec<String>,
}

impl Mount {
    /// Writable only when both the mount and its superblock are `rw`.
    pub fn writable(&self) -> bool {
        self.options.iter().any(|o| o == "rw") && !self.super_options.iter().any(|o| o == "ro")
    }

    pub fn has_option(&self, o: &str) -> bool {
        self.options.iter().any(|x| x == o) || self.super_options.iter().any(|x| x == o)
    }
}

/// Undoes the kernel's octal escapes (`\040` for a space, …) in paths.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::to_string).collect()
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (head, tail) = line.split_once(" - ")?;
    let h: Vec<&str> = head.split(' ').collect();
    let t: Vec<&str> = tail.split(' ').collect();
    if h.len() < 6 || t.len() < 3 {
        return None;
    }
    Some(Mount {
        id: h[0].parse().ok()?,
        parent: h[1].parse().ok()?,
        device: h[2].to_string(),
        root: unescape(h[3]),
        mount_point: unescape(h[4]),
        options: list(h[5]),
        fstype: t[0].to_string(),
        source: unescape(t[1]),
        super_options: list(t[2]),
    })
}

/// The mount that is `/` (the last one listed at `/`: later mounts stack on earlier ones).
pub fn root(mounts: &[Mount]) -> Option<&Mount> {
    mounts.iter().rev().find(|m| m.mount_point == "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
22 27 0:21 / /proc rw,nosuid - proc proc rw
40 27 0:35 /a\\040b /mnt/x\\040y ro,nosuid master:3 - tmpfs none rw,size=4k
bad line
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].device, "254:0");
        assert_eq!(m[0].fstype, "ext4");
        assert!(m[0].writable());
        assert_eq!(m[2].root, "/a b");
        assert_eq!(m[2].mount_point, "/mnt/x y");
        assert!(!m[2].writable());
        assert!(m[2].has_option("nosuid"));
        assert_eq!(root(&m).unwrap().id, 27);
    }

    #[test]
    fn read_only_superblock_is_not_writable() {
        let m = parse("1 0 0:5 / / rw - tmpfs tmpfs ro\n");
        assert!(!m[0].writable());
        assert!(parse("").is_empty());
    }
}
