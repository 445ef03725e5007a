//! Input a careless or hostile user may give (issue 14, SPEC §3 and §5.2):
//! ids past 64 bits, numbers beyond a double, repeated keys, gzip arriving
//! a byte at a time, bytes that are not UTF-8, lines past the limit, BOMs
//! in the middle of joined files, empty envelopes, broken gzip and epochs
//! at the edges. Memory for huge lines is a benchmark (bench/hostile.sh),
//! not a test here.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use base64::Engine;
use segment_planhat::segment::RAW_BASE64;

use crate::support::mock_planhat::{MockConfig, MockPlanhat};
use crate::support::{bin, gzip, stderr_of, stdout_of};

const TIME: &str = r#""timestamp":"2024-03-01T12:00:00Z""#;

fn track(rest: &str) -> String {
    format!(r#"{{"type":"track","event":"E",{TIME},{rest}}}"#)
}

/// The bodies' items a dry-run printed, in order.
fn items(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("dry-run lines are JSON"))
        .flat_map(|request| request["body"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// `field` of each item a dry-run of `input` prints; the run must exit 0.
fn dry_run_field(input: String, field: &str) -> Vec<Value> {
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    items(&stdout_of(&output))
        .iter()
        .map(|item| item[field].clone())
        .collect()
}

fn validate(dir: &Path, input: &[u8], extra: &[&str]) -> (Option<i32>, Value) {
    let path = dir.join("input.ndjson");
    std::fs::write(&path, input).unwrap();
    let output = bin()
        .args(["validate", "--json"])
        .args(extra)
        .arg(&path)
        .output()
        .unwrap();
    let report = serde_json::from_str(&stdout_of(&output)).expect("a JSON report");
    (output.status.code(), report)
}

/// Sends `input` to a mock Planhat with a failed file; returns the exit
/// code, stderr and the failed file's lines as raw bytes.
fn send(mock: &MockPlanhat, dir: &Path, name: &str, input: &[u8], extra: &[&str]) -> Sent {
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    let failed = dir.join(format!("{name}.failed"));
    let output = bin()
        .args(["send", "--progress", "never", "--tenant-token", "t"])
        .args(["--analytics-url", &mock.url(), "--api-url", &mock.url()])
        .arg("--failed")
        .arg(&failed)
        .args(extra)
        .arg(&path)
        .output()
        .unwrap();
    Sent {
        code: output.status.code(),
        stderr: stderr_of(&output),
        failed: std::fs::read(&failed).unwrap_or_default(),
    }
}

struct Sent {
    code: Option<i32>,
    stderr: String,
    failed: Vec<u8>,
}

impl Sent {
    fn failed_notes(&self) -> Vec<Value> {
        self.failed
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| serde_json::from_slice::<Value>(line).expect("failed lines are JSON"))
            .map(|line| line["_planhat"].clone())
            .collect()
    }
}

fn mock() -> MockPlanhat {
    MockPlanhat::start(MockConfig::default()).expect("the mock starts")
}

#[test]
fn ids_past_64_bits_keep_every_digit_and_stay_distinct() {
    let input = [
        track(
            r#""messageId":123456789012345678901234567890,"userId":123456789012345678901234567890"#,
        ),
        track(
            r#""messageId":123456789012345678901234567891,"userId":123456789012345678901234567891"#,
        ),
    ]
    .join("\n");
    let ids = dry_run_field(input, "externalId");
    assert_eq!(
        ids,
        [
            json!("123456789012345678901234567890"),
            json!("123456789012345678901234567891")
        ]
    );
}

#[test]
fn numbers_in_properties_are_written_as_read_and_1e400_is_valid() {
    let input = track(
        r#""userId":"u","properties":{"big":1e400,"exact":0.10000000000000000001,"id":98765432109876543210987,"e":1.50E+02}"#,
    );
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    assert!(
        stdout.contains(
            r#""info":{"big":1e400,"exact":0.10000000000000000001,"id":98765432109876543210987,"e":1.50E+02}"#
        ),
        "{stdout}"
    );
}

#[test]
fn a_repeated_key_is_checked_and_written_with_its_last_value() {
    let dir = tempfile::tempdir().unwrap();
    let off_last =
        track(r#""userId":"u","integrations":{"Planhat":true},"integrations":{"Planhat":false}"#);
    let (code, report) = validate(dir.path(), off_last.as_bytes(), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        report["outcomes"]["skipped"]["disabled_by_integrations"]["count"], 1,
        "{report}"
    );
    let on_last = track(
        r#""userId":"u","integrations":{"Planhat":false},"integrations":{"Planhat":true},"properties":{"k":1,"k":2}"#,
    );
    let output = bin()
        .args(["send", "--dry-run", "--receiver", "--tenant-token", "t"])
        .write_stdin(on_last)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    assert_eq!(stdout.matches("\"integrations\"").count(), 1, "{stdout}");
    assert!(
        stdout.contains(r#""integrations":{"Planhat":true}"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""properties":{"k":2}"#), "{stdout}");
}

#[test]
fn gzip_is_found_on_a_pipe_that_delivers_one_byte_first() {
    let data = gzip(
        format!(
            "{}\n{}\n",
            track(r#""userId":"a""#),
            track(r#""userId":"b""#)
        )
        .as_bytes(),
    );
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"))
        .args(["validate", "--json", "-"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&data[..1]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stdin.write_all(&data[1..]).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(report["outcomes"]["would_send"], 2, "{report}");
}

#[test]
fn a_line_that_is_not_utf8_is_kept_byte_for_byte_and_rejected_again_when_resent() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock();
    let bad = b"{\"type\":\"track\",\"userId\":\"caf\xe9\",\"event\":\"E\"}".to_vec();
    let first = send(&mock, dir.path(), "in.ndjson", &bad, &[]);
    assert_eq!(first.code, Some(1), "{}", first.stderr);
    assert!(
        first.stderr.contains("in.ndjson:1: invalid_json"),
        "{}",
        first.stderr
    );
    let notes = first.failed_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["reason"], "invalid_json");
    let coded = notes[0]["raw_base64"].as_str().expect("raw_base64");
    assert_eq!(RAW_BASE64.decode(coded).ok(), Some(bad));
    // Re-sending the failed file, as the README says, rejects it again the
    // same way and keeps the same bytes.
    let again = send(&mock, dir.path(), "again.ndjson", &first.failed, &[]);
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    let notes_again = again.failed_notes();
    assert_eq!(notes_again[0]["reason"], "invalid_json");
    assert_eq!(notes_again[0]["raw_base64"], notes[0]["raw_base64"]);
    assert!(mock.requests().is_empty());
}

#[test]
fn a_line_past_the_limit_is_rejected_by_position_and_size_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let long = track(&format!(
        r#""userId":"u","properties":{{"pad":"{}"}}"#,
        "x".repeat(5000)
    ));
    let input = format!(
        "{}\n{long}\n{}\n",
        track(r#""userId":"a""#),
        track(r#""userId":"b""#)
    );
    let (code, report) = validate(dir.path(), input.as_bytes(), &["--max-line-bytes", "1000"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["outcomes"]["would_send"], 2, "{report}");
    let rejected = &report["outcomes"]["rejected"]["line_too_long"];
    assert_eq!(rejected["count"], 1, "{report}");
    assert!(
        rejected["examples"][0]
            .as_str()
            .unwrap()
            .ends_with("input.ndjson:2"),
        "{report}"
    );
    // Within the limit (the environment twin sets it), the line is fine.
    let path = dir.path().join("input.ndjson");
    let output = bin()
        .args(["validate"])
        .env("PLANHAT_MAX_LINE_BYTES", "6000")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let mock = mock();
    let sent = send(
        &mock,
        dir.path(),
        "long.ndjson",
        input.as_bytes(),
        &["--max-line-bytes", "1000"],
    );
    assert_eq!(sent.code, Some(1), "{}", sent.stderr);
    assert!(
        sent.stderr.contains("long.ndjson:2: line_too_long"),
        "{}",
        sent.stderr
    );
    let notes = sent.failed_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["reason"], "line_too_long");
    assert_eq!(notes[0]["bytes"], long.len());
    assert!(
        notes[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("long.ndjson:2")
    );
    assert_eq!(mock.delivered_items().len(), 2);
    // Re-sent, the record is rejected again and kept as it was: it still
    // points at the line to rerun.
    let again = send(&mock, dir.path(), "retry.ndjson", &sent.failed, &[]);
    assert_eq!(again.code, Some(1), "{}", again.stderr);
    assert!(
        again.stderr.contains("retry.ndjson:1: line_too_long"),
        "{}",
        again.stderr
    );
    assert_eq!(again.failed, sent.failed);
}

#[test]
fn a_zero_line_limit_is_a_usage_error() {
    let output = bin()
        .args(["validate", "--max-line-bytes", "0", "-"])
        .write_stdin("")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_bom_at_the_start_of_a_joined_file_is_ignored() {
    let one = format!("\u{feff}{}\n", track(r#""userId":"a""#));
    let two = format!("\u{feff}{}\n", track(r#""userId":"b""#));
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(one + &two)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(items(&stdout_of(&output)).len(), 2);
}

#[test]
fn an_empty_batch_is_skipped_so_every_line_has_an_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = validate(dir.path(), b"{\"batch\":[],\"writeKey\":\"k\"}\n", &[]);
    assert_eq!(code, Some(0));
    assert_eq!(
        report["outcomes"]["skipped"]["empty_batch"]["count"], 1,
        "{report}"
    );
}

#[test]
fn broken_gzip_is_unreadable_at_the_first_line_lost_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let mut broken = gzip(&(track(r#""userId":"u""#) + "\n").repeat(2000).into_bytes());
    broken.truncate(broken.len() / 2);
    let mock = mock();
    let sent = send(&mock, dir.path(), "1.gz", &broken, &[]);
    assert_eq!(sent.code, Some(1), "{}", sent.stderr);
    let read = mock.delivered_items().len();
    assert!(read > 0 && read < 2000);
    let first_lost = format!("1.gz:{}: unreadable", read + 1);
    assert!(
        sent.stderr.contains(&first_lost),
        "{first_lost} in {}",
        sent.stderr
    );
    let notes = sent.failed_notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["reason"], "unreadable");
    assert!(
        notes[0]["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!("1.gz:{}", read + 1)),
        "{notes:?}"
    );
}

#[test]
fn negative_epochs_are_seconds_and_long_floats_read_exactly() {
    let input = [
        r#"{"type":"track","event":"E","userId":"u","timestamp":-31557600000}"#,
        r#"{"type":"track","event":"E","userId":"u","timestamp":1642351729.5450000000001}"#,
    ]
    .join("\n");
    let dates = dry_run_field(input, "date");
    assert_eq!(
        dates,
        [
            json!("0969-12-24T00:00:00.000Z"),
            json!("2022-01-16T16:48:49.545Z")
        ]
    );
}

#[test]
fn an_envelope_sharing_a_large_context_gives_every_message() {
    let n = 3000;
    let line = format!(
        "{{\"batch\":[{}],\"context\":{{\"x\":[{}]}}}}\n",
        vec![r#"{"type":"track","event":"E","userId":"u"}"#; n].join(","),
        vec!["[]"; n].join(",")
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = validate(dir.path(), line.as_bytes(), &[]);
    assert_eq!(code, Some(0));
    assert_eq!(report["outcomes"]["would_send"], n, "{report}");
}
