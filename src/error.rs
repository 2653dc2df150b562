//! The crate's error: what failed, on what, and why; plus a hint and an exit status.

use crate::caps::{policy, set};
use crate::linux::capset as kernel;
use crate::linux::{identity, process};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kernel(#[from] kernel::Error),
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
    #[error(transparent)]
    Identity(#[from] identity::Error),
    #[error(transparent)]
    List(#[from] set::ListError),
    #[error(transparent)]
    Mask(#[from] set::BadMask),
    #[error(transparent)]
    Process(#[from] process::Error),
    #[error(transparent)]
    Spec(#[from] crate::spec::sandbox::SpecError),
    #[error(transparent)]
    Run(#[from] crate::container::run::Error),
    #[error(transparent)]
    Container(#[from] crate::container::oci::Error),
    #[error(transparent)]
    State(#[from] crate::container::state::Error),
    #[error(transparent)]
    SelfExe(#[from] crate::linux::selfexe::Error),
    #[error(transparent)]
    Trace(#[from] crate::linux::tracefs::Error),
    #[error(transparent)]
    Audit(#[from] crate::linux::audit::Error),
    /// Boxed: its unknown-key variant carries the known keys.
    #[error(transparent)]
    SandboxPolicy(Box<crate::spec::policy::Error>),
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// A one-line suggestion, when there is an obvious fix.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Kernel(e) => e.hint(),
            Error::Policy(e) => e.hint().map(String::from),
            Error::Identity(e) => e.hint(),
            Error::List(set::ListError::Unknown(_)) => {
                Some("`nucleus caps decode 0x1ffffffffff` lists every capability name".into())
            }
            Error::Spec(e) => e.hint(),
            Error::Trace(e) => e.hint(),
            Error::SandboxPolicy(e) => e.hint(),
            Error::Run(e) => e.hint(),
            Error::Container(e) => e.hint(),
            Error::State(e) => e.hint(),
            Error::Audit(e) => e.hint(),
            Error::Process(process::Error::NotFound(_)) => {
                Some("give the full path, or check PATH".into())
            }
            _ => None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Process(e) => e.exit_code(),
            Error::Run(e) => e.exit_code(),
            Error::Container(e) => e.exit_code(),
            _ => 1,
        }
    }
}

impl From<crate::spec::policy::Error> for Error {
    fn from(e: crate::spec::policy::Error) -> Error {
        Error::SandboxPolicy(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
