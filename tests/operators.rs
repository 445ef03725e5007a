//! What operators meet (SPEC §6, §7; issue 20), run through the binary
//! against the mock Planhat: redirects, answers that are not Planhat's
//! JSON or are too large to hold, SIGTERM and SIGHUP, and a stdout that is
//! closed or whose reader stops.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{API, TENANT, actions, failed_lines, mock, tracks, write_input};
use crate::support::mock_planhat::{Fault, MockConfig, MockPlanhat, Received};
use crate::support::{bin, bin_process, kill, stderr_of};

/// `send` against `mock` through the binary, with the failed file in `dir`.
fn send(mock: &MockPlanhat, dir: &Path, extra: &[&str]) -> Output {
    bin()
        .args(send_args(mock, dir))
        .args(extra)
        .output()
        .unwrap()
}

fn send_args(mock: &MockPlanhat, dir: &Path) -> Vec<String> {
    let failed = dir.join("failed.ndjson").display().to_string();
    [
        "send",
        "--tenant-token",
        TENANT,
        "--analytics-url",
        &mock.url(),
        "--api-url",
        &mock.url(),
        "--progress",
        "never",
        "--failed",
        &failed,
    ]
    .map(str::to_owned)
    .to_vec()
}

fn identifies(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| json!({"type":"identify","userId":format!("u{i}"),"traits":{"email":format!("u{i}@x.io")}}))
        .collect()
}

#[test]
fn a_redirect_stops_the_run_before_anything_else_is_sent() {
    for code in [301, 302, 307, 308] {
        let dir = tempfile::tempdir().unwrap();
        let planhat = mock();
        let elsewhere = MockPlanhat::start(MockConfig::default()).unwrap();
        planhat.push_fault(Fault::Redirect {
            code,
            location: format!("{}/analytics/bulk/{TENANT}", elsewhere.url()),
        });
        let input = write_input(dir.path(), &tracks(6));
        let checkpoint = dir.path().join("checkpoint.json");
        let extra = [
            "--batch-size",
            "2",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            input.to_str().unwrap(),
        ];
        let output = send(&planhat, dir.path(), &extra);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(2), "{code}: {stderr}");
        assert!(
            elsewhere.requests().is_empty(),
            "{code}: followed to the Location"
        );
        assert_eq!(planhat.requests().len(), 1, "{code}: sent on after it");
        let host = elsewhere.url().replace("http://", "");
        assert!(stderr.contains(&format!("HTTP {code}")), "{stderr}");
        assert!(stderr.contains(&format!("redirect to {host}")), "{stderr}");
        for option in ["--subdomain", "--api-url", "--analytics-url"] {
            assert!(stderr.contains(option), "{option}: {stderr}");
        }
        assert!(!stderr.contains(TENANT), "the token was shown: {stderr}");
        assert!(!stderr.contains("delivered 2"), "{stderr}");
        // The checkpoint counts none of the lines: a rerun sends all six.
        let output = send(&planhat, dir.path(), &extra);
        assert!(output.status.success(), "{}", stderr_of(&output));
        let expected: Vec<String> = (0..6).map(|i| format!("Event {i}")).collect();
        assert_eq!(actions(&planhat.delivered_items()), expected, "{code}");
    }
}

#[test]
fn an_html_200_to_an_upsert_is_retried_then_failed_with_its_first_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let planhat = mock();
    let page = "<html><body><h1>Down for maintenance</h1></body></html>";
    for _ in 0..2 {
        planhat.push_fault_on(
            "/endusers",
            Fault::Status {
                code: 200,
                retry_after: Some("0".into()),
                body: page.into(),
            },
        );
    }
    let input = write_input(dir.path(), &identifies(2));
    let output = send(
        &planhat,
        dir.path(),
        &[
            "--api-token",
            API,
            "--max-retries",
            "1",
            input.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("retrying PUT /endusers in 0ms: ") && stderr.contains("(attempt 1 of 1)"),
        "{stderr}"
    );
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 2, "{failed:?}");
    for line in &failed {
        let message = line["_planhat"]["message"].as_str().unwrap();
        assert!(message.contains("<html><body><h1>Down for"), "{message}");
        assert_eq!(line["_planhat"]["reason"], "retries_exhausted");
    }
}

#[test]
fn a_300_mib_answer_is_reported_by_its_size_not_as_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let planhat = mock();
    planhat.push_fault_on("/endusers", Fault::Huge { bytes: 300 << 20 });
    let input = write_input(dir.path(), &identifies(1));
    let output = send(
        &planhat,
        dir.path(),
        &[
            "--api-token",
            API,
            "--max-retries",
            "0",
            input.to_str().unwrap(),
        ],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("cannot reach"), "{stderr}");
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1, "{failed:?}");
    let message = failed[0]["_planhat"]["message"].as_str().unwrap();
    assert!(
        message.contains("Planhat's answer to PUT /endusers was 300.0 MiB, more than 16.0 MiB"),
        "{message}"
    );
}

/// Sends `signal` (`TERM`, `HUP`) to the running binary as the first request
/// arrives, before it is answered; returns the run's output and what the
/// mock received.
fn send_signalled(signal: &str, dir: &Path, extra: &[&str]) -> (Output, Vec<Received>) {
    let pid = Arc::new(AtomicU32::new(0));
    let child_pid = Arc::clone(&pid);
    let signalled = AtomicBool::new(false);
    let signal = signal.to_owned();
    let planhat = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        log: Some(Box::new(move |_| {
            if !signalled.swap(true, Ordering::SeqCst) {
                // On a busy machine the request can come before the test
                // has noted the child's id.
                let pid = loop {
                    match child_pid.load(Ordering::SeqCst) {
                        0 => std::thread::sleep(Duration::from_millis(1)),
                        pid => break pid,
                    }
                };
                kill(&signal, pid);
                // The signal is on its way before the answer is.
                std::thread::sleep(Duration::from_millis(50));
            }
        })),
        ..MockConfig::default()
    })
    .unwrap();
    let child = bin_process()
        .args(send_args(&planhat, dir))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    pid.store(child.id(), Ordering::SeqCst);
    let output = child.wait_with_output().unwrap();
    (output, planhat.requests())
}

#[test]
fn sigterm_and_sighup_finish_the_request_in_flight_and_write_the_checkpoint() {
    for (signal, code) in [("TERM", 143), ("HUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let input = write_input(dir.path(), &tracks(10));
        let checkpoint = dir.path().join("checkpoint.json");
        let extra = [
            "--batch-size",
            "2",
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            input.to_str().unwrap(),
        ];
        let (output, first) = send_signalled(signal, dir.path(), &extra);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(code), "SIG{signal}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "SIG{signal}: stopping after the request in flight"
            )),
            "{stderr}"
        );
        assert!(stderr.contains("interrupted"), "no summary: {stderr}");
        assert_eq!(first.len(), 1, "SIG{signal}: sent on after the signal");
        let planhat = mock();
        let output = send(&planhat, dir.path(), &extra);
        assert!(output.status.success(), "{}", stderr_of(&output));
        let mut sent = actions(
            &first
                .iter()
                .flat_map(|r| r.accepted.clone())
                .collect::<Vec<_>>(),
        );
        sent.extend(actions(&planhat.delivered_items()));
        sent.sort();
        let mut expected: Vec<String> = (0..10).map(|i| format!("Event {i}")).collect();
        expected.sort();
        assert_eq!(sent, expected, "SIG{signal}: sent twice or lost");
    }
}

fn dry_run_lines(count: usize, dir: &Path) -> Vec<String> {
    let input = write_input(dir, &tracks(count));
    [
        "send",
        "--dry-run",
        "--batch-size",
        "1",
        input.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

#[test]
fn a_dry_run_into_a_closed_stdout_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"exec "$@" >&-"#)
        .arg("sh")
        .arg(assert_cmd::cargo::cargo_bin!("segment-planhat"))
        .args(dry_run_lines(3, dir.path()))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stdout"), "{stderr}");
}

#[test]
fn a_dry_run_into_a_full_disk_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = bin_process()
        .args(dry_run_lines(3, dir.path()))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("writing to stdout"), "{stderr}");
}

#[test]
fn a_dry_run_whose_reader_stops_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = bin_process()
        .args(dry_run_lines(5000, dir.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"method\""), "{first}");
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn a_file_size_limit_is_a_write_error_not_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -f 1 && out="$1" && shift && exec "$@" > "$out""#)
        .arg("sh")
        .arg(dir.path().join("out.ndjson"))
        .arg(assert_cmd::cargo::cargo_bin!("segment-planhat"))
        .args(dry_run_lines(200, dir.path()))
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("writing to stdout: File too large"),
        "{stderr}"
    );
}
