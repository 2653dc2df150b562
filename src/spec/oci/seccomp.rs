//! `linux.seccomp`: the container's seccomp profile.

use super::OciError;
use crate::spec::config::Seccomp;
use oci_spec::runtime::Linux;
use std::path::Path;

/// linux.seccomp (none: unconfined).
pub(super) fn seccomp_of(linux: &Linux, path: &Path) -> Result<Seccomp, OciError> {
    Ok(match linux.seccomp() {
        None => Seccomp::Unconfined,
        Some(s) => Seccomp::Oci(serde_json::to_string(s).map_err(|e| OciError::Invalid {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?),
    })
}
