//! The one error every client command can fail with, worded for a person
//! to act on.

/// What a client command can fail with. Printed as `error: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot reach hivelog at {server} ({reason}). Is `hivelog serve` running there? Point elsewhere with --server or HIVELOG_SERVER.")]
    Unreachable { server: String, reason: String },
    #[error("{detail} (HTTP {status})")]
    Server { status: u16, detail: String },
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Protocol(String),
    /// A check that did not pass (`reservations check`); its message was
    /// printed already, so only the exit status remains.
    #[error("{0}")]
    CheckFailed(String),
    /// Ctrl-C: what was done before it (exit status 130, as shells expect).
    #[error("interrupted: {0}")]
    Interrupted(String),
}

impl CliError {
    pub fn input(message: impl Into<String>) -> Self {
        CliError::Input(message.into())
    }
}
