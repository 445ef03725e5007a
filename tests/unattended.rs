//! Running unattended (issue 20, SPEC §6): two runs on one checkpoint, a
//! file-size limit on the failed file, a stdin checkpoint reused with
//! another stream, a file that grew, and a checkpoint of an older version.
//! Each runs the real binary against the mock Planhat.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{TENANT, events, failed_lines, tracks, write_input};
use crate::resume::spawn_send_with;
use crate::support::mock_planhat::{Fault, MockConfig, MockPlanhat};
use crate::support::{bin, stderr_of};

fn mock() -> MockPlanhat {
    MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        ..MockConfig::default()
    })
    .unwrap()
}

/// The arguments of a send with a checkpoint and a failed file in `dir`.
fn send_args(mock: &MockPlanhat, dir: &Path) -> Vec<String> {
    let path = |name: &str| dir.join(name).display().to_string();
    [
        "send",
        "--tenant-token",
        TENANT,
        "--analytics-url",
        &mock.url(),
        "--batch-size",
        "5",
        "--progress",
        "never",
        "--checkpoint",
        &path("checkpoint.json"),
        "--failed",
        &path("failed.ndjson"),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Sends `input` to `mock` on standard input.
fn send_stdin(mock: &MockPlanhat, dir: &Path, input: &[Value], extra: &[&str]) -> Output {
    let text: String = input.iter().map(|l| format!("{l}\n")).collect();
    bin()
        .args(send_args(mock, dir))
        .args(extra)
        .write_stdin(text)
        .output()
        .unwrap()
}

fn delivered_events(mock: &MockPlanhat) -> Vec<String> {
    let mut events: Vec<String> = mock
        .delivered_items()
        .iter()
        .map(|item| item["action"].as_str().unwrap().to_owned())
        .collect();
    events.sort();
    events
}

#[test]
fn a_second_run_on_a_checkpoint_in_use_refuses_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(20));
    let mock = mock();
    // The first run's first request is held while the second one starts.
    mock.push_fault(Fault::Delay(Duration::from_secs(2)));
    let mut first = spawn_send_with(&mock, dir.path(), &input, &[]);
    // Well within the held request.
    std::thread::sleep(Duration::from_millis(700));
    let second = bin()
        .args(send_args(&mock, dir.path()))
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr_of(&second));
    let checkpoint = dir.path().join("checkpoint.json");
    let text = stderr_of(&second);
    assert!(
        text.contains("another run holds the checkpoint")
            && text.contains(&checkpoint.display().to_string()),
        "{text}"
    );
    // A dry-run only reads the checkpoint: it takes no lock.
    let dry_run = bin()
        .args(["send", "--dry-run", "--checkpoint"])
        .arg(&checkpoint)
        .arg(&input)
        .output()
        .unwrap();
    assert!(dry_run.status.success(), "{}", stderr_of(&dry_run));
    assert!(first.wait().unwrap().success());
    let sent = mock.delivered_items();
    assert_eq!(sent.len(), 20, "each item once, all from the first run");
    // The lock goes with the run: a third run finds everything handled.
    let third = bin()
        .args(send_args(&mock, dir.path()))
        .arg(&input)
        .output()
        .unwrap();
    assert!(third.status.success(), "{}", stderr_of(&third));
    assert_eq!(mock.delivered_items().len(), 20);
}

#[test]
fn a_file_size_limit_leaves_whole_records_and_a_resume_writes_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(40));
    let mock = mock();
    mock.always(400);
    // 4 KiB holds about a dozen records: the limit strikes part-way through
    // the first request's failures, before any checkpoint is saved. The
    // shell only sets the limit; SIGXFSZ keeps its default (a kill), so
    // the tool's own handling is what turns it into a write error. At the
    // default batch size the 40 events are one request.
    let mut args = vec![
        "-c".to_owned(),
        "ulimit -f 4; exec \"$@\"".to_owned(),
        "sh".to_owned(),
    ];
    args.push(
        assert_cmd::cargo::cargo_bin("segment-planhat")
            .display()
            .to_string(),
    );
    let default_batches: Vec<String> = send_args(&mock, dir.path())
        .into_iter()
        .filter(|arg| arg != "--batch-size" && arg != "5")
        .collect();
    args.extend(default_batches.iter().cloned());
    args.push(input.display().to_string());
    let limited = Command::new("bash")
        .args(&args)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let text = stderr_of(&limited);
    assert_eq!(limited.status.code(), Some(2), "{text}");
    let failed = dir.path().join("failed.ndjson");
    assert!(
        text.contains(&failed.display().to_string()),
        "names the failed file: {text}"
    );
    let written = std::fs::read_to_string(&failed).unwrap();
    assert!(written.ends_with('\n'), "no torn record");
    assert!(!failed_lines(dir.path()).is_empty());

    let resumed = bin().args(&default_batches).arg(&input).output().unwrap();
    assert_eq!(resumed.status.code(), Some(1), "{}", stderr_of(&resumed));
    assert_eq!(
        events(&failed_lines(dir.path())),
        events(&tracks(40)),
        "each failed line once"
    );
}

#[test]
fn a_stdin_checkpoint_refuses_another_stream_and_resumes_the_same_one() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock();
    let first = tracks(10);
    let output = send_stdin(&mock, dir.path(), &first, &[]);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(mock.delivered_items().len(), 10);

    let other: Vec<Value> = (0..12)
        .map(|i| json!({"type":"track","userId":"x","event":format!("Other {i}")}))
        .collect();
    let refused = send_stdin(&mock, dir.path(), &other, &[]);
    let text = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{text}");
    assert!(
        text.contains("standard input") && text.contains("--restart"),
        "{text}"
    );
    assert_eq!(mock.delivered_items().len(), 10, "nothing of it sent");

    // The same stream, grown, sends only what is new.
    let mut grown = first.clone();
    grown.extend(other.iter().take(3).cloned());
    let resumed = send_stdin(&mock, dir.path(), &grown, &[]);
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    let mut expected = events(&first);
    expected.extend(["Other 0", "Other 1", "Other 2"].map(str::to_owned));
    expected.sort();
    assert_eq!(delivered_events(&mock), expected);

    let restarted = send_stdin(&mock, dir.path(), &other, &["--restart"]);
    assert!(restarted.status.success(), "{}", stderr_of(&restarted));
    assert_eq!(mock.delivered_items().len(), 25);
}

#[test]
fn a_file_that_grew_resumes_into_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock();
    let input = write_input(dir.path(), &tracks(10));
    let run = |mock: &MockPlanhat| {
        bin()
            .args(send_args(mock, dir.path()))
            .arg(&input)
            .output()
            .unwrap()
    };
    assert!(run(&mock).status.success());
    let more: Vec<Value> = (0..4)
        .map(|i| json!({"type":"track","userId":"x","event":format!("Appended {i}")}))
        .collect();
    let mut text = std::fs::read_to_string(&input).unwrap();
    text.extend(more.iter().map(|l| format!("{l}\n")));
    std::fs::write(&input, &text).unwrap();
    let resumed = run(&mock);
    assert!(resumed.status.success(), "{}", stderr_of(&resumed));
    let mut expected = events(&tracks(10));
    expected.extend((0..4).map(|i| format!("Appended {i}")));
    expected.sort();
    assert_eq!(
        delivered_events(&mock),
        expected,
        "the appended lines, once"
    );

    // Other bytes where handled lines were are refused.
    std::fs::write(&input, text.replacen("Event 1", "Event X", 1)).unwrap();
    let refused = run(&mock);
    let message = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(
        message.contains("other bytes") && message.contains("--restart"),
        "{message}"
    );
    // Shorter is refused too.
    std::fs::write(&input, &text[..text.len() / 2]).unwrap();
    let refused = run(&mock);
    let message = stderr_of(&refused);
    assert_eq!(refused.status.code(), Some(2), "{message}");
    assert!(message.contains("shorter"), "{message}");
    assert_eq!(mock.delivered_items().len(), 14);
}

#[test]
fn a_version_1_checkpoint_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mock = mock();
    let input = write_input(dir.path(), &tracks(3));
    let old = json!({"version": 1, "sources": [{
        "path": input.canonicalize().unwrap().display().to_string(),
        "size": std::fs::metadata(&input).unwrap().len(),
        "lines": 2,
        "complete": false,
    }]});
    std::fs::write(dir.path().join("checkpoint.json"), old.to_string()).unwrap();
    let output = bin()
        .args(send_args(&mock, dir.path()))
        .arg(&input)
        .output()
        .unwrap();
    let text = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("version 1") && text.contains("--restart"),
        "{text}"
    );
    assert!(mock.requests().is_empty());
}
