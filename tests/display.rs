//! What a user sees while the tool waits (SPEC §7): one line per retry, a
//! line for a long pacing wait, and a display that moves while an answer
//! is awaited instead of freezing until it arrives.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{API, FakeClock, TENANT, mock, send, tracks, write_input};
use crate::support::bin;
use crate::support::mock_planhat::{Fault, MockConfig, MockPlanhat};
use segment_planhat::error::Status;

fn status(code: u16) -> Fault {
    Fault::Status {
        code,
        retry_after: None,
        body: "busy".into(),
    }
}

#[test]
fn each_retry_prints_one_line_saying_what_when_and_why() {
    let mock = mock();
    mock.push_fault(status(503));
    mock.push_fault(status(429));
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(3));
    let clock = FakeClock::new();
    let outcome = send(&mock, &clock, dir.path(), &[input.to_str().unwrap()]);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    // The fake clock's jitter draw is 0.5: half of 1 s, then half of 2 s.
    let retries: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("retrying"))
        .collect();
    assert_eq!(
        retries,
        [
            "retrying POST /analytics/bulk/{tenantToken} in 500ms: HTTP 503 (attempt 1 of 8)",
            "retrying POST /analytics/bulk/{tenantToken} in 1s: HTTP 429 (attempt 2 of 8)",
        ]
    );
    assert!(!outcome.stderr.contains(TENANT));
}

#[test]
fn a_pacing_wait_over_five_seconds_is_told() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = (0..3)
        .map(|i| json!({"type":"group","groupId":format!("c{i}")}))
        .collect();
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--api-rate",
        "1",
        "--flush-interval",
        "0",
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let told: Vec<&str> = outcome
        .stderr
        .lines()
        .filter(|l| l.starts_with("pacing"))
        .collect();
    assert_eq!(
        told,
        ["pacing: holding PUT /companies for 1m00s (at most 1 main-API request a minute; see --api-rate)";
            2]
    );
    assert_eq!(clock.sleeps(), [Duration::from_secs(60); 2]);
}

/// Runs `send --progress always` on `lines` against a mock that answers
/// after `delay`, and returns what was drawn on stderr.
fn drawn_while_waiting(delay: Duration, lines: &[Value]) -> String {
    let mock = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        delay,
        ..MockConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), lines);
    let started = Instant::now();
    let output = bin()
        .args(["send", "--tenant-token", TENANT])
        .args(["--analytics-url", &mock.url(), "--progress", "always"])
        .arg(input)
        .output()
        .unwrap();
    assert!(started.elapsed() >= delay);
    assert_eq!(output.status.code(), Some(0));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_display_shows_a_request_in_flight_before_its_answer_comes() {
    // The status must say "1 request" while the answer is awaited, not
    // "0 requests" until it comes. The bar is redrawn several times a
    // second, so a drawing from the wait shows the request counted and
    // nothing sent yet.
    let stderr = drawn_while_waiting(Duration::from_secs(3), &tracks(2));
    assert!(
        stderr.contains("sent 0 · skipped 0 · rejected 0 · failed 0 · 1 request"),
        "{stderr}"
    );
}

#[test]
fn percent_follows_the_lines_handled_not_the_bytes_read_ahead() {
    // The whole file is read at once and waits in one request: meanwhile
    // nothing is handled, so the bar stays at 0%, where reading alone would
    // show 100%.
    let stderr = drawn_while_waiting(Duration::from_secs(2), &tracks(50));
    let waiting = stderr.matches("  0% ETA").count();
    let full = stderr.matches("100% ETA").count();
    assert!(waiting >= 3, "drawn at 0% {waiting} times: {stderr}");
    assert!(
        full <= 1,
        "drawn at 100% {full} times before the answer: {stderr}"
    );
}
