//! Helpers shared by the integration tests.

pub mod mock_planhat;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The binary with a clean environment: no PLANHAT_* settings from the
/// machine running the tests, and no colour.
pub fn bin() -> Command {
    let mut command = Command::cargo_bin("segment-planhat").expect("the binary is built");
    for (name, _) in std::env::vars() {
        if name.starts_with("PLANHAT_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// A path under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A path under the repository root.
pub fn repo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// stdout as text.
pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// stderr as text.
pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// Gzip-compresses bytes.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// The binary as a plain process, for tests that must hold the running
/// child (send it a signal, close its stdout), with the same clean
/// environment as [`bin`].
pub fn bin_process() -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("segment-planhat"));
    for (name, _) in std::env::vars() {
        if name.starts_with("PLANHAT_") {
            command.env_remove(name);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// Sends the signal named `name` (`INT`, `TERM`, `HUP`) to process `pid`, as
/// a user's Ctrl-C, a supervisor's stop or a closed terminal would.
pub fn kill(name: &str, pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {name} {pid}");
}
