//! `linux.seccomp`: the container's seccomp profile, from oci-spec's types.

use super::OciError;
use crate::spec::config::Seccomp;
use oci_spec::runtime::Linux;
use std::path::Path;

/// linux.seccomp (none: unconfined).
pub(super) fn seccomp_of(linux: &Linux, path: &Path) -> Result<Seccomp, OciError> {
    let Some(s) = linux.seccomp() else {
        return Ok(Seccomp::Unconfined);
    };
    let profile = crate::spec::seccomp::from_spec(s).map_err(|e| OciError::Invalid {
        path: path.to_path_buf(),
        why: format!("linux.seccomp: {e}"),
    })?;
    Ok(Seccomp::Oci(profile))
}
