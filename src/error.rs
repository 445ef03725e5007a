//! How runs end (SPEC §7): the one place that turns a run's result into an
//! exit code.

use std::fmt;

use signal_hook::consts::SIGINT;

/// A mistake in the command, its settings or the environment that the user
/// fixes by changing the command. The message says what to do.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Raised inside delivery when a signal (Ctrl-C, SIGTERM, SIGHUP) asks the run to stop: the request in
/// flight is abandoned between tries, nothing more is sent.
#[derive(Debug)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// How a run that was not stopped by a fatal error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every message delivered (or would be) or skipped by policy.
    Clean,
    /// Some messages were rejected or failed.
    Problems,
    /// Stopped by a signal: Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

/// The exit code for a run's result: 0 and 1 for the statuses, that of
/// the signal that stopped an interrupted run (`stopped_by`; Ctrl-C's when
/// none is known), 2 for any error, except that a pipe whose reader stopped
/// (`... | head`) ends quietly with 0, as Unix tools do.
pub fn exit_code(result: &anyhow::Result<Status>, stopped_by: Option<i32>) -> u8 {
    match result {
        Ok(Status::Clean) => 0,
        Ok(Status::Problems) => 1,
        Ok(Status::Interrupted) => signal_exit_code(stopped_by.unwrap_or(SIGINT)),
        Err(error) if is_broken_pipe(error) => 0,
        // Stopped before the run began (while a prefix was listed).
        Err(error) if error.chain().any(|cause| cause.is::<Interrupted>()) => {
            signal_exit_code(stopped_by.unwrap_or(SIGINT))
        }
        Err(_) => 2,
    }
}

/// The exit code of a run a signal stopped: 128 and the signal's number, as
/// a shell reports a process the signal ended (130 for Ctrl-C, 143 for
/// SIGTERM, 129 for SIGHUP), so a supervisor reads the same either way.
pub fn signal_exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// Whether the error comes from writing to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        use signal_hook::consts::{SIGHUP, SIGTERM};
        assert_eq!(exit_code(&Ok(Status::Clean), None), 0);
        assert_eq!(exit_code(&Ok(Status::Problems), None), 1);
        assert_eq!(exit_code(&Ok(Status::Interrupted), None), 130);
        assert_eq!(exit_code(&Ok(Status::Interrupted), Some(SIGINT)), 130);
        assert_eq!(exit_code(&Ok(Status::Interrupted), Some(SIGTERM)), 143);
        assert_eq!(exit_code(&Ok(Status::Interrupted), Some(SIGHUP)), 129);
        assert_eq!(exit_code(&Err(Usage("bad".into()).into()), None), 2);
        let listing = anyhow::Error::new(Interrupted).context("listing s3://b/");
        assert_eq!(exit_code(&Err(listing), Some(SIGTERM)), 143);
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(
            exit_code(&Err(anyhow::Error::new(pipe).context("writing")), None),
            0
        );
    }
}
