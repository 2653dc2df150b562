//! What execve() does to the capability sets, as a pure function (capabilities(7), and the
//! kernel's security/commoncap.c which it documents), with one reason per capability.
//!
//! Steps, in the kernel's order:
//! 1. set-uid/set-gid bits change the effective ids, unless the mount is nosuid or the
//!    process has no_new_privs;
//! 2. file capabilities give P' = (F.perm ∩ P.bnd) ∪ (F.inh ∩ P.inh); if the file's
//!    effective bit is set and P' lacks part of F.perm, execve fails with EPERM;
//! 3. root (real or effective uid 0, unless SECBIT_NOROOT): P' = P.bnd ∪ P.inh, and the
//!    effective flag is set when the new euid is 0 — except a set-uid-root file with file
//!    capabilities run by a non-root user, where the file capabilities alone count;
//! 4. no_new_privs: if the exec would change ids or add to permitted, ids stay and
//!    P' ∩= P (nothing is gained);
//! 5. ambient is cleared by file capabilities or a set-id exec, then P' ∪= A';
//! 6. E' = P' if the effective flag is set, else A'. Bounding and inheritable are unchanged.

use super::cap::Capability;
use super::file::FileCaps;
use super::set::CapSet;
use super::sets::{securebits, Sets};
use serde::Serialize;

/// The process that calls execve().
#[derive(Clone, Debug, Serialize)]
pub struct Process {
    pub sets: Sets,
    pub ruid: u32,
    pub euid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub securebits: u32,
    pub no_new_privs: bool,
}

/// The file it executes, as far as capabilities care.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Program {
    /// File capabilities from `security.capability`, if any.
    pub caps: Option<FileCaps>,
    /// False when a v3 xattr's rootid does not map to root in the caller's user namespace:
    /// the kernel then ignores the file capabilities.
    pub caps_apply: bool,
    /// Owner uid when the set-user-ID bit is set.
    pub setuid: Option<u32>,
    /// Group gid when the set-group-ID bit is set (with group execute).
    pub setgid: Option<u32>,
    /// The file lives on a nosuid mount: set-id bits and file capabilities are ignored.
    pub nosuid: bool,
}

/// One capability's fate, in words.
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    pub capability: Capability,
    pub permitted: bool,
    pub effective: bool,
    pub why: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct After {
    pub sets: Sets,
    pub ruid: u32,
    pub euid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub securebits: u32,
    /// Why each capability that was or becomes permitted ends where it does.
    pub reasons: Vec<Reason>,
    /// Whole-exec remarks: ignored bits, cleared ambient, no_new_privs downgrade.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// execve() succeeds with these sets.
    Runs(After),
    /// execve() fails.
    Fails { errno: String, why: String },
}

/// Predicts the sets after `p` executes `f`.
pub fn execve(p: &Process, f: &Program) -> Outcome {
    let mut notes = Vec::new();
    let old = p.sets;

    // 1. set-id bits.
    let (mut euid, mut egid) = (p.euid, p.egid);
    if f.setuid.is_some() || f.setgid.is_some() {
        if f.nosuid {
            notes.push("set-id bits ignored: the file is on a nosuid mount".to_string());
        } else if p.no_new_privs {
            notes.push("set-id bits ignored: no_new_privs is set".to_string());
        } else {
            euid = f.setuid.unwrap_or(euid);
            egid = f.setgid.unwrap_or(egid);
        }
    }

    // 2. file capabilities.
    let mut fcap: Option<&FileCaps> = None;
    let mut flag_effective = false;
    let mut perm = CapSet::EMPTY;
    if let Some(fc) = &f.caps {
        if f.nosuid {
            notes.push("file capabilities ignored: the file is on a nosuid mount".to_string());
        } else if !f.caps_apply {
            notes.push(format!(
                "file capabilities ignored: their rootid {} is not root in this user namespace",
                fc.rootid.unwrap_or(0)
            ));
        } else {
            fcap = Some(fc);
            flag_effective = fc.effective;
            perm = (fc.permitted & old.bounding) | (fc.inheritable & old.inheritable);
            let missing = fc.permitted - perm;
            if fc.effective && !missing.is_empty() {
                return Outcome::Fails {
                    errno: "EPERM".to_string(),
                    why: format!(
                        "the file's effective bit is set but {missing} from its permitted set \
                         cannot be granted (not in the bounding set); the kernel refuses to run \
                         a capability-unaware program without all its forced capabilities"
                    ),
                };
            }
        }
    }

    // 3. root.
    let mut root_rule = false;
    if p.securebits & securebits::NOROOT != 0 {
        if p.ruid == 0 || euid == 0 {
            notes.push("uid 0 gets no special treatment: SECBIT_NOROOT is set".to_string());
        }
    } else if fcap.is_some() && p.ruid != 0 && euid == 0 {
        notes.push(
            "set-uid-root file with file capabilities run by a non-root user: only the file \
             capabilities count"
                .to_string(),
        );
    } else {
        if euid == 0 || p.ruid == 0 {
            perm = old.bounding | old.inheritable;
            root_rule = true;
        }
        if euid == 0 {
            flag_effective = true;
        }
    }

    // 4. no_new_privs: no gain.
    let is_setid = euid != p.ruid || egid != p.rgid;
    let gained = !perm.is_subset(old.permitted);
    let mut nnp_removed = CapSet::EMPTY;
    if (is_setid || gained) && p.no_new_privs {
        euid = p.ruid;
        egid = p.rgid;
        nnp_removed = perm - old.permitted;
        perm = perm & old.permitted;
        if !nnp_removed.is_empty() {
            notes.push(format!(
                "no_new_privs: {nnp_removed} would be gained, so they are withheld"
            ));
        }
    }

    // 5. ambient.
    let ambient = if fcap.is_some() || is_setid {
        if !old.ambient.is_empty() {
            notes.push(format!(
                "ambient cleared: {}",
                if fcap.is_some() {
                    "the file has capabilities"
                } else {
                    "the exec changes the effective user or group id"
                }
            ));
        }
        CapSet::EMPTY
    } else {
        old.ambient
    };
    perm = perm | ambient;

    // 6. effective.
    let effective = if flag_effective { perm } else { ambient };

    let sets = Sets {
        bounding: old.bounding,
        permitted: perm,
        effective,
        inheritable: old.inheritable,
        ambient,
    };
    let ctx = Ctx {
        p,
        fcap,
        root_rule,
        flag_effective,
        nnp_removed,
        euid,
    };
    let mut candidates = old.permitted | perm;
    if let Some(fc) = fcap {
        candidates = candidates | fc.permitted | fc.inheritable;
    }
    let reasons = candidates.iter().map(|c| ctx.reason(c, &sets)).collect();
    Outcome::Runs(After {
        sets,
        ruid: p.ruid,
        euid,
        rgid: p.rgid,
        egid,
        securebits: p.securebits & !securebits::KEEP_CAPS,
        reasons,
        notes,
    })
}

struct Ctx<'a> {
    p: &'a Process,
    fcap: Option<&'a FileCaps>,
    root_rule: bool,
    flag_effective: bool,
    nnp_removed: CapSet,
    euid: u32,
}

impl Ctx<'_> {
    fn reason(&self, c: Capability, after: &Sets) -> Reason {
        let old = &self.p.sets;
        let permitted = after.permitted.contains(c);
        let effective = after.effective.contains(c);
        let mut why: Vec<String> = Vec::new();
        if permitted {
            if after.ambient.contains(c) {
                why.push("kept through the ambient set".into());
            }
            if self.root_rule {
                if old.bounding.contains(c) {
                    why.push("root: granted from the bounding set".into());
                } else if old.inheritable.contains(c) {
                    why.push("root: granted from the inheritable set".into());
                }
            }
            if let Some(fc) = self.fcap {
                if fc.permitted.contains(c) && old.bounding.contains(c) {
                    why.push("file permitted set (allowed by bounding)".into());
                }
                if fc.inheritable.contains(c) && old.inheritable.contains(c) {
                    why.push("file inheritable ∩ process inheritable".into());
                }
            }
            why.push(if effective {
                if self.flag_effective {
                    "effective (all permitted become effective)".into()
                } else {
                    "effective (ambient)".into()
                }
            } else {
                "not effective: the file's effective bit is clear".into()
            });
        } else if self.nnp_removed.contains(c) {
            why.push("withheld by no_new_privs (it was not permitted before exec)".into());
        } else {
            why.push(self.loss(c));
        }
        Reason {
            capability: c,
            permitted,
            effective,
            why: why.join("; "),
        }
    }

    fn loss(&self, c: Capability) -> String {
        let old = &self.p.sets;
        if let Some(fc) = self.fcap {
            if fc.permitted.contains(c) {
                return "lost: in the file's permitted set but not in the bounding set".into();
            }
            if fc.inheritable.contains(c) {
                return "lost: in the file's inheritable set but not in the process's inheritable set".into();
            }
            return "lost: not in the file's sets (file capabilities replace the old permitted set, and clear ambient)".into();
        }
        if self.root_rule {
            return "lost: not in the bounding or inheritable set".into();
        }
        if old.ambient.contains(c) {
            return "lost: ambient is cleared by a set-id exec".into();
        }
        if self.euid != 0 && self.p.ruid != 0 {
            return "lost: a non-root execve keeps only the ambient set".into();
        }
        "lost".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(list: &str) -> CapSet {
        CapSet::parse_list(list).unwrap()
    }

    fn proc(uid: u32, sets: Sets) -> Process {
        Process {
            sets,
            ruid: uid,
            euid: uid,
            rgid: uid,
            egid: uid,
            securebits: 0,
            no_new_privs: false,
        }
    }

    fn runs(o: Outcome) -> After {
        match o {
            Outcome::Runs(a) => a,
            Outcome::Fails { why, .. } => panic!("expected exec to run: {why}"),
        }
    }

    fn full_root() -> Process {
        let all = CapSet::all_known();
        proc(
            0,
            Sets {
                bounding: all,
                permitted: all,
                effective: all,
                ..Sets::default()
            },
        )
    }

    #[test]
    fn root_gets_the_bounding_set() {
        let mut p = full_root();
        p.sets.bounding = s("chown,net_raw");
        p.sets.permitted = s("chown,net_raw");
        let a = runs(execve(&p, &Program::default()));
        assert_eq!(a.sets.permitted, s("chown,net_raw"));
        assert_eq!(a.sets.effective, s("chown,net_raw"));
    }

    #[test]
    fn root_inheritable_leaks_past_bounding() {
        // The CVE-2022-29162 shape: inheritable holds what bounding does not.
        let mut p = full_root();
        p.sets.bounding = s("chown");
        p.sets.inheritable = s("sys_admin");
        let a = runs(execve(&p, &Program::default()));
        assert!(a
            .sets
            .permitted
            .contains(Capability::parse("sys_admin").unwrap()));
    }

    #[test]
    fn non_root_keeps_only_ambient() {
        let sets = Sets {
            bounding: CapSet::all_known(),
            permitted: s("net_bind_service,net_raw"),
            effective: s("net_bind_service,net_raw"),
            inheritable: s("net_bind_service"),
            ambient: s("net_bind_service"),
        };
        let a = runs(execve(&proc(1000, sets), &Program::default()));
        assert_eq!(a.sets.permitted, s("net_bind_service"));
        assert_eq!(a.sets.effective, s("net_bind_service"));
        let lost = a
            .reasons
            .iter()
            .find(|r| r.capability.index() == 13)
            .unwrap();
        assert!(
            !lost.permitted && lost.why.contains("ambient"),
            "{}",
            lost.why
        );
    }

    #[test]
    fn file_caps_for_non_root_and_ambient_cleared() {
        let sets = Sets {
            bounding: CapSet::all_known(),
            inheritable: s("kill"),
            permitted: s("kill"),
            ambient: s("kill"),
            ..Sets::default()
        };
        let f = Program {
            caps: Some(FileCaps::new(s("net_raw"), CapSet::EMPTY, true)),
            caps_apply: true,
            ..Program::default()
        };
        let a = runs(execve(&proc(1000, sets), &f));
        assert_eq!(a.sets.permitted, s("net_raw"));
        assert_eq!(a.sets.effective, s("net_raw"));
        assert!(a.sets.ambient.is_empty());
    }

    #[test]
    fn file_effective_bit_with_missing_bounding_fails() {
        let mut p = proc(1000, Sets::default());
        p.sets.bounding = s("chown");
        let f = Program {
            caps: Some(FileCaps::new(s("net_raw"), CapSet::EMPTY, true)),
            caps_apply: true,
            ..Program::default()
        };
        assert!(matches!(execve(&p, &f), Outcome::Fails { .. }));
        // Without the effective bit the program runs, just without the capability.
        let f2 = Program {
            caps: Some(FileCaps::new(s("net_raw"), CapSet::EMPTY, false)),
            caps_apply: true,
            ..Program::default()
        };
        assert!(runs(execve(&p, &f2)).sets.permitted.is_empty());
    }

    #[test]
    fn setuid_root_and_no_new_privs() {
        let p = proc(
            1000,
            Sets {
                bounding: s("chown,kill"),
                ..Sets::default()
            },
        );
        let f = Program {
            setuid: Some(0),
            ..Program::default()
        };
        let a = runs(execve(&p, &f));
        assert_eq!(a.euid, 0);
        assert_eq!(a.sets.permitted, s("chown,kill"));
        assert_eq!(a.sets.effective, s("chown,kill"));

        let mut nnp = p.clone();
        nnp.no_new_privs = true;
        let a = runs(execve(&nnp, &f));
        assert_eq!(a.euid, 1000);
        assert!(a.sets.permitted.is_empty());
        assert!(a.notes.iter().any(|n| n.contains("no_new_privs")));
    }

    #[test]
    fn no_new_privs_stops_file_caps_gain_but_root_keeps_what_it_had() {
        let mut p = proc(
            1000,
            Sets {
                bounding: CapSet::all_known(),
                ..Sets::default()
            },
        );
        p.no_new_privs = true;
        let f = Program {
            caps: Some(FileCaps::new(s("net_raw"), CapSet::EMPTY, true)),
            caps_apply: true,
            ..Program::default()
        };
        let a = runs(execve(&p, &f));
        assert!(a.sets.permitted.is_empty());
        let r = &a.reasons[0];
        assert!(r.why.contains("no_new_privs"), "{}", r.why);

        // Root with a reduced permitted set and NNP: bounding would re-grant, NNP stops it.
        let mut root = full_root();
        root.sets.permitted = s("chown");
        root.sets.effective = s("chown");
        root.no_new_privs = true;
        let a = runs(execve(&root, &Program::default()));
        assert_eq!(a.sets.permitted, s("chown"));
        root.no_new_privs = false;
        let a = runs(execve(&root, &Program::default()));
        assert_eq!(a.sets.permitted, CapSet::all_known());
    }

    #[test]
    fn nosuid_noroot_and_foreign_rootid() {
        let p = proc(1000, Sets::default());
        let f = Program {
            setuid: Some(0),
            nosuid: true,
            ..Program::default()
        };
        assert_eq!(runs(execve(&p, &f)).euid, 1000);

        let mut root = full_root();
        root.securebits = securebits::NOROOT;
        let a = runs(execve(&root, &Program::default()));
        assert!(a.sets.permitted.is_empty());

        let f = Program {
            caps: Some(FileCaps::new(s("net_raw"), CapSet::EMPTY, true)),
            caps_apply: false,
            ..Program::default()
        };
        assert!(runs(execve(&p, &f)).sets.permitted.is_empty());
    }

    #[test]
    fn real_root_only_is_not_effective() {
        let mut p = full_root();
        p.euid = 1000;
        let a = runs(execve(&p, &Program::default()));
        // euid != ruid makes it a set-id exec (ambient cleared), permitted from bounding,
        // effective empty because the new euid is not 0.
        assert_eq!(a.sets.permitted, CapSet::all_known());
        assert!(a.sets.effective.is_empty());
    }
}
