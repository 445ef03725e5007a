//! Safe backfills (SPEC §6): checkpoints, resuming, Ctrl-C, and a process
//! killed part-way. The crash and interrupt tests run the real binary
//! against the mock, which answers each request after a delay so that the
//! signal lands mid-run.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{
    API, FakeClock, TENANT, events, failed_lines, mock, send, send_with_ctrl_c, tracks, write_input,
};
use crate::support::mock_planhat::{MockConfig, MockPlanhat};
use crate::support::{bin, kill, stderr_of};
use segment_planhat::error::Status;

fn slow_mock() -> MockPlanhat {
    MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        delay: Duration::from_millis(25),
        ..MockConfig::default()
    })
    .unwrap()
}

/// Starts `send` on `input` against `mock` with a checkpoint in `dir`.
fn spawn_send(mock: &MockPlanhat, dir: &Path, input: &Path) -> Child {
    spawn_send_with(mock, dir, input, &[])
}

/// [`spawn_send`] with more options.
pub(crate) fn spawn_send_with(
    mock: &MockPlanhat,
    dir: &Path,
    input: &Path,
    extra: &[&str],
) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"))
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--analytics-url",
            &mock.url(),
            "--batch-size",
            "20",
        ])
        .args(extra)
        .args(["--progress", "never", "--checkpoint"])
        .arg(dir.join("checkpoint.json"))
        .arg("--failed")
        .arg(dir.join("failed.ndjson"))
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// How many times each action was delivered.
fn delivery_counts(items: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts
            .entry(item["action"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

fn checkpoint_lines(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("checkpoint.json")).unwrap();
    let checkpoint: Value = serde_json::from_str(&text).unwrap();
    checkpoint["sources"][0]["lines"].as_u64().unwrap()
}

#[test]
fn a_killed_run_resumed_from_its_checkpoint_loses_nothing_and_repeats_at_most_one_request() {
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(600));
    let mut child = spawn_send(&mock, dir.path(), &input);
    assert!(
        mock.wait_for_requests(8, Duration::from_secs(20)),
        "the run did not start"
    );
    child.kill().unwrap(); // SIGKILL: no chance to write anything more
    child.wait().unwrap();
    let delivered_before = mock.delivered_items().len();
    assert!(
        delivered_before < 600,
        "the kill came too late to test anything"
    );

    let output = spawn_send(&mock, dir.path(), &input)
        .wait_with_output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("already handled"), "{stderr}");
    let counts = delivery_counts(&mock.delivered_items());
    for event in events(&tracks(600)) {
        assert!(counts.contains_key(&event), "{event} was lost");
    }
    let repeated: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        repeated <= 20,
        "{repeated} items sent twice: more than one request's worth"
    );
    assert_eq!(checkpoint_lines(dir.path()), 600);
}

/// A mock that SIGKILLs `victim` the moment request number `kill_at`
/// arrives, before answering it: the kill lands exactly while that request
/// is in flight.
fn killing_mock(victim: Arc<Mutex<Option<Child>>>, kill_at: usize) -> MockPlanhat {
    let seen = AtomicUsize::new(0);
    MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        log: Some(Box::new(move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) + 1 == kill_at
                && let Some(child) = victim.lock().unwrap().as_mut()
            {
                child.kill().unwrap();
            }
        })),
        ..MockConfig::default()
    })
    .unwrap()
}

#[test]
fn a_kill_while_any_request_is_in_flight_repeats_only_that_request() {
    // The checkpoint that counts request N must be on disk before request
    // N + 1 can reach Planhat: a kill while N + 1 is in flight then repeats
    // N + 1 alone, never N too (issue 16).
    let input_lines = tracks(300);
    for kill_at in 2..=12 {
        let dir = tempfile::tempdir().unwrap();
        let input = write_input(dir.path(), &input_lines);
        let victim = Arc::new(Mutex::new(None));
        let mock = killing_mock(Arc::clone(&victim), kill_at);
        let child = spawn_send(&mock, dir.path(), &input);
        *victim.lock().unwrap() = Some(child);
        assert!(mock.wait_for_requests(kill_at, Duration::from_secs(20)));
        let child = victim.lock().unwrap().take().unwrap();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), None, "killed by a signal");

        let output = spawn_send(&mock, dir.path(), &input)
            .wait_with_output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
        let counts = delivery_counts(&mock.delivered_items());
        assert_eq!(
            counts.len(),
            300,
            "killed at request {kill_at}: events lost"
        );
        let repeated: usize = counts.values().map(|n| n - 1).sum();
        assert!(
            repeated <= 20,
            "killed at request {kill_at}: {repeated} items sent twice, more than the request in flight"
        );
    }
}

#[test]
fn ctrl_c_finishes_the_request_in_flight_records_it_and_exits_130() {
    let mock = slow_mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(600));
    let child = spawn_send(&mock, dir.path(), &input);
    assert!(
        mock.wait_for_requests(5, Duration::from_secs(20)),
        "the run did not start"
    );
    kill("INT", child.id());
    let output = child.wait_with_output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");

    // The checkpoint says exactly what the mock received: the first N lines.
    let delivered = mock.delivered_items();
    let handled = checkpoint_lines(dir.path());
    assert_eq!(handled as usize, delivered.len(), "{stderr}");
    assert!(handled < 600);
    let first: Vec<Value> = tracks(600).into_iter().take(handled as usize).collect();
    assert_eq!(crate::http::actions(&delivered), events(&first));

    // Resuming completes the set exactly.
    let output = spawn_send(&mock, dir.path(), &input)
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let counts = delivery_counts(&mock.delivered_items());
    assert_eq!(counts.len(), 600);
    assert!(counts.values().all(|n| *n == 1), "something was sent twice");
}

#[test]
fn a_changed_input_is_not_resumed_silently() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(3));
    let checkpoint = dir.path().join("checkpoint.json");
    let args = |extra: &[&str]| {
        let mut command = bin();
        command
            .args([
                "send",
                "--tenant-token",
                TENANT,
                "--analytics-url",
                &mock.url(),
                "--checkpoint",
            ])
            .arg(&checkpoint)
            .args(extra)
            .arg(&input);
        command
    };
    args(&[]).assert().code(0);
    std::fs::write(
        &input,
        format!(
            "{}\n",
            // Other bytes where the handled lines were (a file that only
            // grew resumes: tests/unattended.rs).
            tracks(4)
                .iter()
                .rev()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    )
    .unwrap();
    let output = args(&[]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("changed since the checkpoint") && stderr.contains("--restart"),
        "{stderr}"
    );
    assert_eq!(
        mock.delivered_items().len(),
        3,
        "nothing sent by the refused run"
    );
    args(&["--restart"]).assert().code(0);
    assert_eq!(
        mock.delivered_items().len(),
        7,
        "--restart sends everything again"
    );
}

#[test]
fn stdin_resumes_by_line_count() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("checkpoint.json");
    let lines: Vec<String> = tracks(8).iter().map(Value::to_string).collect();
    let run = |count: usize| {
        bin()
            .args([
                "send",
                "--tenant-token",
                TENANT,
                "--analytics-url",
                &mock.url(),
                "--checkpoint",
            ])
            .arg(&checkpoint)
            .write_stdin(lines[..count].join("\n"))
            .output()
            .unwrap()
    };
    assert_eq!(run(5).status.code(), Some(0));
    let output = run(8);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stderr_of(&output).contains("skipping 5 lines of - already handled"),
        "{}",
        stderr_of(&output)
    );
    let counts = delivery_counts(&mock.delivered_items());
    assert_eq!(counts.len(), 8);
    assert!(counts.values().all(|n| *n == 1));
}

#[test]
fn messages_in_the_failed_file_count_as_handled_and_are_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(8);
    lines[2] = json!({"type":"track","event":"Nobody"});
    lines[4]["event"] = json!("POISON");
    // Only line 8 is by the group call's user, so only it names c1 (SPEC
    // §5.1's first pass gives a user's company to all of the user's events).
    lines[6] = json!({"type":"group","userId":"u9","groupId":"c1","traits":{"name":"C"}});
    lines[7]["userId"] = json!("u9");
    let input = write_input(dir.path(), &lines);
    let checkpoint = dir.path().join("checkpoint.json");
    let cp = checkpoint.to_str().unwrap();
    let clock = FakeClock::new();

    // The group's upsert meets a refused API token: the run stops there.
    let first = mock();
    first.poison("POISON");
    let args = [
        "--batch-size",
        "2",
        "--api-token",
        "wrong",
        "--checkpoint",
        cp,
        input.to_str().unwrap(),
    ];
    let outcome = send(&first, &clock, dir.path(), &args);
    assert!(outcome.result.is_err(), "{}", outcome.stderr);
    // Lines 6 and 8 wait in an activity batch behind the company that line 8
    // names (company first), so they were never sent.
    assert_eq!(
        checkpoint_lines(dir.path()),
        5,
        "lines 1-5 handled: delivered, rejected or failed"
    );
    assert_eq!(failed_lines(dir.path()).len(), 2);

    let second = mock();
    let args = [
        "--batch-size",
        "2",
        "--api-token",
        API,
        "--checkpoint",
        cp,
        input.to_str().unwrap(),
    ];
    let outcome = send(&second, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let paths: Vec<String> = second.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/companies".to_owned(), format!("/analytics/bulk/{TENANT}")]
    );
    let delivered = second.delivered_items();
    assert_eq!(
        [&delivered[1]["action"], &delivered[2]["action"]],
        ["Event 5", "Event 7"]
    );
    assert_eq!(
        failed_lines(dir.path()).len(),
        2,
        "the failed file is not written twice"
    );
    assert_eq!(checkpoint_lines(dir.path()), 8);
}

#[test]
fn a_rejected_line_is_in_the_failed_file_once_across_an_interrupted_run_and_its_resume() {
    // Line 4 is rejected while lines 1-2 are in flight; Ctrl-C then stops
    // the run with line 3 unsent. The rerun sends lines 3 and 5 and must not
    // write line 4 again, although it comes after the unsent line 3.
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(5);
    lines[3] = json!({"type":"track","userId":"u1"});
    let input = write_input(dir.path(), &lines);
    let checkpoint = dir.path().join("checkpoint.json");
    let args = [
        "--batch-size",
        "2",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let config = MockConfig {
        tenant_token: Some(TENANT.into()),
        delay: Duration::from_millis(300),
        ..MockConfig::default()
    };
    // Ctrl-C while the first request is in flight.
    let (first, outcome) = send_with_ctrl_c(config, dir.path(), &args, |_| true);
    assert_eq!(
        outcome.result.unwrap(),
        Status::Interrupted,
        "{}",
        outcome.stderr
    );
    let clock = FakeClock::new();
    assert_eq!(first.delivered_items().len(), 2);
    assert_eq!(failed_lines(dir.path()).len(), 1);

    // The rejection was the first run's; the rerun only completes it.
    let second = mock();
    let outcome = send(&second, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    assert_eq!(
        crate::http::actions(&second.delivered_items()),
        ["Event 2", "Event 4"]
    );
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1, "line 4 twice: {failed:?}");
    assert!(
        failed[0]["_planhat"]["source"]
            .as_str()
            .unwrap()
            .ends_with(":4")
    );
}

#[test]
fn a_dry_run_with_a_checkpoint_shows_the_resume_and_writes_nothing() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(3));
    let checkpoint = dir.path().join("checkpoint.json");
    bin()
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--analytics-url",
            &mock.url(),
            "--checkpoint",
        ])
        .arg(&checkpoint)
        .arg(&input)
        .assert()
        .code(0);
    let before = std::fs::read(&checkpoint).unwrap();
    std::fs::write(&input, "").unwrap();
    let more = write_input(dir.path(), &tracks(5));
    let output = bin()
        .args(["send", "--dry-run", "--checkpoint"])
        .arg(&checkpoint)
        .arg("--restart")
        .arg(&more)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        std::fs::read(&checkpoint).unwrap(),
        before,
        "a dry-run never writes the checkpoint"
    );
}

#[test]
fn a_second_ctrl_c_or_sigterm_stops_at_once() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        // The mock holds each request for 5 s; a second signal must not
        // wait for it, a first one must.
        let mock = MockPlanhat::start(MockConfig {
            delay: Duration::from_secs(5),
            ..MockConfig::default()
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let input = write_input(dir.path(), &tracks(3));
        let child = spawn_send(&mock, dir.path(), &input);
        // Signalled only once a request is in flight.
        while mock.received() == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = std::time::Instant::now();
        for _ in 0..2 {
            kill(signal, child.id());
            std::thread::sleep(Duration::from_millis(150));
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{}", stderr_of(&output));
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{signal}: it waited for the request in flight"
        );
    }
}

#[test]
fn an_envelope_settled_in_part_resumes_with_only_its_waiting_messages() {
    // Line 1 is a batch envelope: an identify (its upsert waits to be
    // coalesced), an event, and an event without a name (rejected). Ctrl-C
    // comes as line 2's event is sent: line 1's event went, its identify
    // did not. The rerun sends the identify alone: the event is not sent
    // twice and the rejected message is not written twice.
    let dir = tempfile::tempdir().unwrap();
    let envelope = json!({"batch": [
        {"type":"identify","userId":"u1","traits":{"plan":"pro"}},
        {"type":"track","userId":"u1","event":"In Envelope"},
        {"type":"track","userId":"u1"},
    ]});
    let lines = [
        envelope,
        json!({"type":"track","userId":"u2","event":"After"}),
        json!({"type":"track","userId":"u3","event":"Last"}),
    ];
    let input = write_input(dir.path(), &lines);
    let checkpoint = dir.path().join("checkpoint.json");
    let args = [
        "--api-token",
        API,
        "--batch-size",
        "1",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let config = MockConfig {
        tenant_token: Some(TENANT.into()),
        api_token: Some(API.into()),
        ..MockConfig::default()
    };
    let (first, outcome) = send_with_ctrl_c(config, dir.path(), &args, |request| {
        String::from_utf8_lossy(&request.body).contains("After")
    });
    assert_eq!(
        outcome.result.unwrap(),
        Status::Interrupted,
        "{}",
        outcome.stderr
    );
    let clock = FakeClock::new();
    let paths: Vec<String> = first.requests().iter().map(|r| r.path.clone()).collect();
    assert!(!paths.contains(&"/endusers".to_owned()), "{paths:?}");
    assert_eq!(failed_lines(dir.path()).len(), 1);

    let second = mock();
    let outcome = send(&second, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let mut all = first.delivered_items();
    all.extend(second.delivered_items());
    let actions = crate::http::actions(&all);
    assert_eq!(actions, ["After", "In Envelope", "Last"], "each event once");
    let users: Vec<Value> = second
        .requests()
        .iter()
        .filter(|r| r.path == "/endusers")
        .flat_map(|r| r.json().as_array().unwrap().clone())
        .collect();
    assert_eq!(users.len(), 1, "the identify, after the rerun");
    assert_eq!(
        failed_lines(dir.path()).len(),
        1,
        "the rejected message once"
    );
}
