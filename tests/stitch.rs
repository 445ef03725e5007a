//! Anonymous messages and `--stitch` (SPEC §5.1, §5.7), run as a user runs
//! them: the exit code of anonymous-only problems, files read twice and
//! standard input once, validate's figure, resuming and shards.

use std::path::Path;

use serde_json::{Value, json};

use crate::http::{API, FakeClock, failed_lines, mock, send, write_input};
use crate::support::{bin, stderr_of, stdout_of};
use segment_planhat::error::Status;

/// A view before login, the login linking it, a view after, and a view
/// whose anonymousId is never linked.
fn login_story() -> Vec<Value> {
    vec![
        json!({"type":"page","anonymousId":"a1","name":"Before","timestamp":"2024-03-01T12:00:00Z"}),
        json!({"type":"identify","userId":"u1","anonymousId":"a1","timestamp":"2024-03-01T12:00:01Z"}),
        json!({"type":"page","anonymousId":"a1","name":"After","timestamp":"2024-03-01T12:00:02Z"}),
        json!({"type":"page","anonymousId":"a2","name":"Never","timestamp":"2024-03-01T12:00:03Z"}),
    ]
}

fn ndjson(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Each activity item a dry-run prints, as (action, externalId).
fn attributed(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .flat_map(|line| {
            let request: Value = serde_json::from_str(line).unwrap();
            request["body"].as_array().unwrap().clone()
        })
        .map(|item| {
            let text = |key: &str| item[key].as_str().unwrap_or("-").to_owned();
            (text("action"), text("externalId"))
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn files_are_read_twice_and_standard_input_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &login_story());
    let from_file = bin()
        .args(["send", "--dry-run", "--stitch"])
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(
        from_file.status.code(),
        Some(0),
        "{}",
        stderr_of(&from_file)
    );
    assert_eq!(
        attributed(&stdout_of(&from_file)),
        pairs(&[
            ("Viewed Before Page", "u1"),
            ("-", "u1"),
            ("Viewed After Page", "u1")
        ]),
        "the view before login is attributed through the later identify"
    );
    let from_stdin = bin()
        .args(["send", "--dry-run", "--stitch"])
        .write_stdin(ndjson(&login_story()))
        .output()
        .unwrap();
    assert_eq!(
        from_stdin.status.code(),
        Some(0),
        "{}",
        stderr_of(&from_stdin)
    );
    assert_eq!(
        attributed(&stdout_of(&from_stdin)),
        pairs(&[("-", "u1"), ("Viewed After Page", "u1")]),
        "standard input is read once: only earlier links apply"
    );
    assert!(
        stderr_of(&from_stdin).contains("skipped 2: anonymous 2 (first at -:1)"),
        "{}",
        stderr_of(&from_stdin)
    );
}

#[test]
fn a_run_whose_only_problems_are_anonymous_messages_exits_0_and_fails_nothing() {
    let anonymous: Vec<Value> = (0..5)
        .map(|i| json!({"type":"page","anonymousId":format!("a{i}"),"name":"Home"}))
        .collect();
    let output = bin()
        .args(["send", "--dry-run"])
        .write_stdin(ndjson(&anonymous))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("skipped 5: anonymous 5 (first at -:1)"),
        "{}",
        stderr_of(&output)
    );
    bin()
        .args(["validate"])
        .write_stdin(ndjson(&anonymous))
        .assert()
        .code(0);

    // A real send: nothing reaches the failed file.
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = anonymous;
    lines.push(json!({"type":"track","userId":"u1","event":"Known"}));
    let input = write_input(dir.path(), &lines);
    let outcome = send(
        &mock,
        &FakeClock::new(),
        dir.path(),
        &[input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    assert_eq!(mock.delivered_items().len(), 1);
    assert!(failed_lines(dir.path()).is_empty());
    assert!(!dir.path().join("failed.ndjson").exists());
}

#[test]
fn validate_tells_how_many_anonymous_messages_stitch_would_attribute() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &login_story());
    let json_report = |output: std::process::Output| -> Value {
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
        serde_json::from_str(&stdout_of(&output)).unwrap()
    };
    // Files: a link anywhere counts, as --stitch reads them twice.
    let report = json_report(
        bin()
            .args(["validate", "--json"])
            .arg(&input)
            .output()
            .unwrap(),
    );
    assert_eq!(report["outcomes"]["skipped"]["anonymous"]["count"], 3);
    assert_eq!(report["outcomes"]["would_stitch"], 2);
    // Standard input: only a link on an earlier line counts.
    let report = json_report(
        bin()
            .args(["validate", "--json"])
            .write_stdin(ndjson(&login_story()))
            .output()
            .unwrap(),
    );
    assert_eq!(report["outcomes"]["would_stitch"], 1);
    // With --stitch what is left is unlinked, and the figure is not given.
    let report = json_report(
        bin()
            .args(["validate", "--json", "--stitch"])
            .arg(&input)
            .output()
            .unwrap(),
    );
    assert_eq!(report["outcomes"]["skipped"]["anonymous"]["count"], 1);
    assert_eq!(report["outcomes"]["would_send"], 3);
    assert_eq!(report["outcomes"].get("would_stitch"), None);
    // The text report says it under the skips.
    bin()
        .args(["validate"])
        .arg(&input)
        .assert()
        .code(0)
        .stdout(predicates::str::contains(
            "  --stitch would attribute 2 of the 3 anonymous messages to a user\n",
        ));
}

/// The messages of a backfill that a refused API token stops part-way:
/// anonymous views before and after the stop, linked only by identifies at
/// the end of the file.
fn backfill() -> Vec<Value> {
    let mut lines = vec![
        json!({"type":"page","anonymousId":"a1","name":"Early","timestamp":"2024-03-01T12:00:00Z"}),
    ];
    for i in 0..4 {
        lines.push(json!({"type":"track","userId":"u0","event":format!("Event {i}"),"timestamp":"2024-03-01T12:00:00Z"}));
    }
    // Only Event 4 is by the group call's user, so only it names c1 (the
    // first pass of SPEC §5.1 gives a user's company to all their events).
    lines.push(json!({"type":"group","userId":"u9","groupId":"c1","traits":{"name":"C"}}));
    lines.push(
        json!({"type":"page","anonymousId":"a2","name":"Late","timestamp":"2024-03-01T12:00:00Z"}),
    );
    lines.push(
        json!({"type":"track","userId":"u9","event":"Event 4","timestamp":"2024-03-01T12:00:00Z"}),
    );
    lines.push(json!({"type":"identify","userId":"u1","anonymousId":"a1"}));
    lines.push(json!({"type":"identify","userId":"u2","anonymousId":"a2"}));
    lines
}

fn checkpoint_lines(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("checkpoint.json")).unwrap();
    let checkpoint: Value = serde_json::from_str(&text).unwrap();
    checkpoint["sources"][0]["lines"].as_u64().unwrap()
}

fn sorted_strings(items: &[Value]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
    items.sort();
    items
}

#[test]
fn a_resumed_stitched_run_sends_exactly_what_an_uninterrupted_one_sends() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &backfill());
    let input = input.to_str().unwrap();
    let checkpoint = dir.path().join("checkpoint.json");
    let checkpoint = checkpoint.to_str().unwrap();
    let clock = FakeClock::new();
    let args = |token| {
        [
            "--stitch",
            "--batch-size",
            "2",
            "--api-token",
            token,
            "--checkpoint",
            checkpoint,
            input,
        ]
    };

    let whole = mock();
    let elsewhere = tempfile::tempdir().unwrap();
    let plain = ["--stitch", "--batch-size", "2", "--api-token", API, input];
    let outcome = send(&whole, &clock, elsewhere.path(), &plain);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let expected = whole.delivered_items();

    // The group's upsert meets a refused API token: the run stops there.
    let first = mock();
    let outcome = send(&first, &clock, dir.path(), &args("wrong"));
    assert!(outcome.result.is_err(), "{}", outcome.stderr);
    let handled = checkpoint_lines(dir.path());
    assert!(
        (1..9).contains(&handled),
        "stopped part-way: {handled} lines handled"
    );
    let before = first.delivered_items();
    assert_eq!(
        before[0]["externalId"], "u1",
        "the early view went out attributed before the stop"
    );

    let second = mock();
    let outcome = send(&second, &clock, dir.path(), &args(API));
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("already handled"),
        "{}",
        outcome.stderr
    );
    let mut together = before;
    together.extend(second.delivered_items());
    assert_eq!(
        sorted_strings(&together),
        sorted_strings(&expected),
        "first and resumed run together send what one run sends, once each"
    );
    assert!(
        together
            .iter()
            .any(|item| item["action"] == "Viewed Late Page" && item["externalId"] == "u2"),
        "the late view is attributed through a link further on"
    );
}

/// People who browse anonymously, log in, and go on; some never log in.
fn people() -> Vec<Value> {
    let mut lines = Vec::new();
    for i in 0..30 {
        let (anonymous, user) = (format!("a{i}"), format!("u{i}"));
        lines.push(json!({"type":"page","anonymousId":anonymous,"name":format!("Before {i}")}));
        lines.push(json!({"type":"track","anonymousId":format!("never{i}"),"event":"Bounce"}));
        lines.push(json!({"type":"identify","userId":user,"anonymousId":anonymous}));
        lines.push(json!({"type":"track","userId":user,"event":format!("Known {i}")}));
    }
    lines
}

/// The activity items of a dry-run over `input`, one per request.
fn items(input: &Path, extra: &[&str]) -> Vec<Value> {
    let output = bin()
        .args(["send", "--dry-run", "--stitch", "--batch-size", "1"])
        .args(extra)
        .arg(input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap()["body"][0].clone())
        .collect()
}

#[test]
fn stitched_shards_send_every_message_once_with_each_persons_events_together() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &people());
    let all = items(&input, &[]);
    assert_eq!(all.len(), 90, "3 per person; the bounces are anonymous");
    let shards: Vec<Vec<Value>> = (0..3)
        .map(|k| items(&input, &["--shard", &format!("{k}/3")]))
        .collect();
    assert_eq!(
        sorted_strings(&shards.concat()),
        sorted_strings(&all),
        "together the shards send what one run sends, once"
    );
    for shard in &shards {
        assert!(!shard.is_empty(), "every shard gets work");
        for item in shard {
            let user = &item["externalId"];
            let elsewhere = shards
                .iter()
                .filter(|other| !std::ptr::eq(*other, shard))
                .flatten()
                .any(|other| other["externalId"] == *user);
            assert!(!elsewhere, "{user}'s events are all in one shard");
        }
    }
    let view = all
        .iter()
        .find(|item| item["action"] == "Viewed Before 7 Page")
        .unwrap();
    assert_eq!(
        view["externalId"], "u7",
        "the view before login went with its person"
    );
}
