//! Delivery against an in-process mock Planhat on 127.0.0.1 (SPEC §6, §9):
//! retries, Retry-After, splitting around a poisoned item, partial upsert
//! errors, the order rule, 401, pacing, the failed file and the summary.
//! The sender's clock is a fake, so no test sleeps through a backoff.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use serde_json::{Value, json};

use crate::support::mock_planhat::{Fault, MockConfig, MockPlanhat, Received};
use crate::support::{bin, stderr_of, stdout_of};
use segment_planhat::error::Status;
use segment_planhat::sender::http::Clock;

pub(crate) const TENANT: &str = "tenant-token-7f3a";
pub(crate) const API: &str = "api-token-91bc";

/// A clock whose sleeps only move its own time forward, and remember how
/// long they were.
#[derive(Clone)]
pub(crate) struct FakeClock {
    start: Instant,
    slept: Arc<Mutex<Vec<Duration>>>,
}

impl FakeClock {
    pub(crate) fn new() -> FakeClock {
        FakeClock {
            start: Instant::now(),
            slept: Arc::default(),
        }
    }

    pub(crate) fn sleeps(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }

    fn elapsed(&self) -> Duration {
        self.sleeps().iter().sum()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }

    fn wall(&self) -> SystemTime {
        SystemTime::now() + self.elapsed()
    }

    fn sleep(&mut self, duration: Duration) {
        self.slept.lock().unwrap().push(duration);
    }

    fn random(&mut self) -> f64 {
        0.5
    }
}

pub(crate) fn mock() -> MockPlanhat {
    MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        api_token: Some(API.into()),
        ..MockConfig::default()
    })
    .expect("the mock starts")
}

pub(crate) struct Outcome {
    pub(crate) result: anyhow::Result<Status>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `send` in-process against the mock, with the fake clock.
pub(crate) fn send(mock: &MockPlanhat, clock: &FakeClock, dir: &Path, extra: &[&str]) -> Outcome {
    send_interruptible(mock, clock, dir, extra, Arc::default())
}

/// Runs `send` in-process with an interrupt flag the test holds: setting it
/// is Ctrl-C.
pub(crate) fn send_interruptible(
    mock: &MockPlanhat,
    clock: &FakeClock,
    dir: &Path,
    extra: &[&str],
    interrupt: Arc<AtomicBool>,
) -> Outcome {
    let mut args = vec![
        "segment-planhat".to_owned(),
        "send".into(),
        "--tenant-token".into(),
        TENANT.into(),
        "--analytics-url".into(),
        mock.url(),
        "--progress".into(),
        "never".into(),
        "--failed".into(),
        dir.join("failed.ndjson").display().to_string(),
    ];
    if !extra.contains(&"--api-url") {
        args.extend(["--api-url".to_owned(), mock.url()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let cli = segment_planhat::cli::Cli::try_parse_from(args).expect("test arguments parse");
    let config = segment_planhat::config::resolve(cli).expect("test settings resolve");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let io = segment_planhat::Io {
        out: &mut out,
        err: &mut err,
        clock: Box::new(clock.clone()),
        interrupt,
    };
    let result = segment_planhat::run(config, io);
    Outcome {
        result,
        stdout: String::from_utf8(out).unwrap(),
        stderr: String::from_utf8(err).unwrap(),
    }
}

/// Runs `send` in-process against a mock started with `config`, pressing
/// Ctrl-C (the interrupt flag) as the first request for which `ctrl_c_at`
/// says so arrives, before it is answered.
pub(crate) fn send_with_ctrl_c(
    config: MockConfig,
    dir: &Path,
    extra: &[&str],
    ctrl_c_at: impl Fn(&Received) -> bool + Send + Sync + 'static,
) -> (MockPlanhat, Outcome) {
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    let mock = MockPlanhat::start(MockConfig {
        log: Some(Box::new(move |request| {
            if ctrl_c_at(request) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })),
        ..config
    })
    .unwrap();
    let outcome = send_interruptible(&mock, &FakeClock::new(), dir, extra, interrupt);
    (mock, outcome)
}

pub(crate) fn write_input(dir: &Path, lines: &[Value]) -> PathBuf {
    let path = dir.join("events.ndjson");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) fn tracks(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            json!({"type":"track","messageId":format!("m{i}"),"userId":format!("u{}", i % 3),
                        "event":format!("Event {i}"),"timestamp":"2024-03-01T12:00:00Z"})
        })
        .collect()
}

/// The sorted event names of Segment messages.
pub(crate) fn events(messages: &[Value]) -> Vec<String> {
    let mut events: Vec<String> = messages
        .iter()
        .filter_map(|m| m["event"].as_str().map(str::to_owned))
        .collect();
    events.sort();
    events
}

/// The sorted actions of Planhat activity items.
pub(crate) fn actions(items: &[Value]) -> Vec<String> {
    let mut actions: Vec<String> = items
        .iter()
        .filter_map(|i| i["action"].as_str().map(str::to_owned))
        .collect();
    actions.sort();
    actions
}

pub(crate) fn failed_lines(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("failed.ndjson"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_message_arrives_exactly_once_through_transient_faults() {
    let mock = mock();
    mock.push_fault(Fault::Status {
        code: 429,
        retry_after: Some("3".into()),
        body: "{}".into(),
    });
    mock.push_fault(Fault::Status {
        code: 503,
        retry_after: None,
        body: "busy".into(),
    });
    mock.push_fault(Fault::Drop);
    mock.push_fault(Fault::Status {
        code: 500,
        retry_after: None,
        body: "oops".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(20));
    let clock = FakeClock::new();
    let outcome = send(
        &mock,
        &clock,
        dir.path(),
        &["--batch-size", "5", input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let expected = events(&tracks(20));
    assert_eq!(actions(&mock.delivered_items()), expected);
    assert_eq!(
        mock.requests().len(),
        4 + 4,
        "4 batches, 4 of them retried once"
    );
    assert!(
        clock.sleeps().contains(&Duration::from_secs(3)),
        "Retry-After honoured: {:?}",
        clock.sleeps()
    );
    assert!(
        outcome
            .stderr
            .contains("delivered 20 items in 8 requests (4 retries"),
        "{}",
        outcome.stderr
    );
    assert!(
        !dir.path().join("failed.ndjson").exists(),
        "created only when needed"
    );
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let mock = mock();
    let clock = FakeClock::new();
    let at = httpdate(clock.wall() + Duration::from_secs(42));
    mock.push_fault(Fault::Status {
        code: 503,
        retry_after: Some(at),
        body: String::new(),
    });
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(1));
    let outcome = send(&mock, &clock, dir.path(), &[input.to_str().unwrap()]);
    assert_eq!(outcome.result.unwrap(), Status::Clean);
    let waited = clock.sleeps()[0];
    assert!((41..=42).contains(&waited.as_secs()), "{waited:?}");
}

/// An IMF-fixdate for a time, as servers send it.
fn httpdate(time: SystemTime) -> String {
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let millis = i64::try_from(secs * 1000).unwrap();
    let iso = segment_planhat::segment::time::EventTime::from_millis(millis)
        .unwrap()
        .to_string();
    let (date, clock) = (&iso[..10], &iso[11..19]);
    let (y, m, d) = (&date[..4], &date[5..7], &date[8..10]);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][m.parse::<usize>().unwrap() - 1];
    format!("Mon, {d} {month} {y} {clock} GMT")
}

#[test]
fn retries_are_bounded_and_exhausted_items_go_to_the_failed_file() {
    let mock = mock();
    mock.always(503);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(3));
    let clock = FakeClock::new();
    let outcome = send(
        &mock,
        &clock,
        dir.path(),
        &["--max-retries", "2", input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    assert_eq!(mock.requests().len(), 3, "one try and two retries");
    assert_eq!(clock.sleeps().len(), 2);
    assert!(
        clock.sleeps().iter().all(|d| *d <= Duration::from_secs(2)),
        "full jitter under 1s, 2s: {:?}",
        clock.sleeps()
    );
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["_planhat"]["reason"], "retries_exhausted");
    assert_eq!(failed[0]["_planhat"]["status"], 503);
    assert_eq!(
        failed[0]["event"], "Event 0",
        "the original message is kept"
    );
}

#[test]
fn a_poisoned_item_is_split_out_and_alone_in_the_failed_file() {
    let mock = mock();
    mock.poison("POISON");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(8);
    lines[5]["properties"] = json!({"note": "POISON"});
    lines[5]["writeKey"] = json!("wk-secret");
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    let outcome = send(&mock, &clock, dir.path(), &[input.to_str().unwrap()]);
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    let mut expected = events(&tracks(8));
    expected.retain(|a| a != "Event 5");
    assert_eq!(
        actions(&mock.delivered_items()),
        expected,
        "the other seven arrive once"
    );
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1);
    let note = &failed[0]["_planhat"];
    assert_eq!(note["reason"], "http_400");
    assert_eq!(note["status"], 400);
    assert!(
        note["message"].as_str().unwrap().contains("POISON"),
        "{note}"
    );
    assert_eq!(note["source"], format!("{}:6", input.display()));
    assert!(note["at"].as_str().unwrap().ends_with('Z'));
    assert!(failed[0].get("writeKey").is_none());
    assert!(
        outcome.stderr.contains(":6: http_400"),
        "{}",
        outcome.stderr
    );

    // Re-sending the failed file, once the cause is fixed, delivers it.
    let fixed = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        ..MockConfig::default()
    })
    .unwrap();
    std::fs::rename(
        dir.path().join("failed.ndjson"),
        dir.path().join("retry.ndjson"),
    )
    .unwrap();
    let retry = dir.path().join("retry.ndjson");
    let outcome = send(&fixed, &clock, dir.path(), &[retry.to_str().unwrap()]);
    assert_eq!(outcome.result.unwrap(), Status::Clean);
    let delivered = fixed.delivered_items();
    assert_eq!(actions(&delivered), ["Event 5"]);
    assert!(!delivered[0].to_string().contains("_planhat"));
}

#[test]
fn partial_upsert_errors_fail_only_the_items_named() {
    let mock = mock();
    mock.item_error("bad-user");
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = ["good-1", "bad-user", "good-2"]
        .iter()
        .map(|id| json!({"type":"identify","userId":id,"traits":{"email":format!("{id}@x.io")}}))
        .collect();
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    let outcome = send(
        &mock,
        &clock,
        dir.path(),
        &["--api-token", API, input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    let delivered: Vec<Value> = mock
        .delivered_items()
        .iter()
        .map(|i| i["externalId"].clone())
        .collect();
    assert_eq!(delivered, ["good-1", "good-2"]);
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["userId"], "bad-user");
    assert_eq!(failed[0]["_planhat"]["reason"], "item_error");
    assert_eq!(failed[0]["_planhat"]["status"], 206);
    let request = &mock.requests()[0];
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {API}").as_str())
    );
}

/// A user's events around the two group calls of their company, c1; the
/// identify names c1 in its traits.
fn named_before_its_group_calls() -> Vec<Value> {
    vec![
        json!({"type":"track","userId":"u1","event":"Before"}),
        json!({"type":"identify","userId":"u1","traits":{"email":"u1@x.io","company":{"id":"c1"}}}),
        json!({"type":"track","userId":"u1","event":"After"}),
        json!({"type":"group","userId":"u1","groupId":"c1","traits":{"name":"C"}}),
        json!({"type":"track","userId":"u1","event":"Last"}),
        json!({"type":"group","userId":"u1","groupId":"c1","traits":{"plan":"p"}}),
        json!({"type":"track","userId":"u1","event":"Later"}),
    ]
}

#[test]
fn a_company_upsert_goes_before_the_first_activity_naming_it() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    // From a file, the first pass names c1 before any of its group calls
    // (SPEC §6): a minimal upsert of c1 goes first.
    let input = write_input(dir.path(), &named_before_its_group_calls());
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--batch-size",
        "1",
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let requests = mock.requests();
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let analytics = format!("POST /analytics/bulk/{TENANT}");
    assert_eq!(
        paths,
        [
            "PUT /companies",
            analytics.as_str(),
            analytics.as_str(),
            analytics.as_str(),
            analytics.as_str(),
            // Coalesced, at the end: c1's two calls, and the identify.
            "PUT /companies",
            "PUT /endusers",
        ]
    );
    assert_eq!(
        requests[0].json(),
        json!([{"externalId":"c1","name":"C","source":"Segment"}]),
        "minimal: the name of c1's first group call"
    );
    assert_eq!(requests[1].json()[0]["action"], "Before");
    assert_eq!(requests[1].json()[0]["cId"], "c1");
    assert_eq!(
        requests[5].json(),
        json!([{"externalId":"c1","name":"C","source":"Segment","custom":{"plan":"p"}}])
    );
}

#[test]
fn on_standard_input_a_company_upsert_goes_before_the_first_activity_naming_it() {
    // The identify names c1, whose group call comes later: stdin is read
    // once, so "After" does not wait for it; "Later" comes after c1's first
    // upsert went, so no new company request goes before it.
    let lines = named_before_its_group_calls();
    let stdin: String = lines.iter().map(|l| format!("{l}\n")).collect();
    // A dry-run prints exactly the requests send sends, in order.
    let output = crate::support::bin()
        .args([
            "send",
            "--dry-run",
            "-q",
            "--api-token",
            API,
            "--batch-size",
            "1",
            "-",
        ])
        .write_stdin(stdin)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let requests: Vec<Value> = crate::support::stdout_of(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let paths: Vec<String> = requests
        .iter()
        .map(|r| {
            let url = r["url"].as_str().unwrap();
            let path = url.split(".com").nth(1).unwrap();
            format!("{} {path}", r["method"].as_str().unwrap())
        })
        .collect();
    let analytics = "POST /analytics/bulk/{tenantToken}";
    assert_eq!(
        paths,
        [
            analytics,
            analytics,
            "PUT /companies",
            analytics,
            analytics,
            // Coalesced, at the end: the identify, and c1's second call.
            "PUT /companies",
            "PUT /endusers",
        ]
    );
    let first = &requests[0]["body"][0];
    assert_eq!(first.get("cId"), None, "only earlier lines teach");
    assert_eq!(requests[3]["body"][0]["action"], "Last");
    assert_eq!(requests[3]["body"][0]["cId"], "c1");
    assert_eq!(
        requests[2]["body"],
        json!([{"externalId":"c1","name":"C","source":"Segment"}])
    );
}

#[test]
fn main_api_requests_are_paced_in_sliding_windows() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Value> = (0..65)
        .map(|i| json!({"type":"group","groupId":format!("c{i}"),"traits":{"name":"C"}}))
        .collect();
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    // A flush interval of 0 sends each company on its own.
    let args = [
        "--api-token",
        API,
        "--api-rate",
        "60",
        "--flush-interval",
        "0",
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean);
    assert_eq!(mock.requests().len(), 65);
    // 50 at once (the per-second limit), 10 more a second later, and the
    // rest once the first minute's requests have left the window.
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(1), Duration::from_secs(59)]
    );
}

#[test]
fn a_refused_token_stops_the_run_and_marks_nothing_delivered() {
    let mock = mock();
    mock.always(401);
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(12));
    let summary = dir.path().join("summary.json");
    let clock = FakeClock::new();
    let args = [
        "--batch-size",
        "5",
        "--summary-json",
        summary.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    let error = format!("{:#}", outcome.result.unwrap_err());
    assert!(
        // --subdomain does not change the analytics host: no use suggesting it.
        error.contains("tenant token") && !error.contains("--subdomain"),
        "{error}"
    );
    assert!(!error.contains(TENANT), "{error}");
    assert_eq!(
        mock.requests().len(),
        1,
        "no retry and nothing more after a 401"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["outcomes"]["delivered"], 0);
    assert!(
        outcome.stderr.contains("delivered 0 items"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn a_refused_token_exits_2_from_the_binary() {
    let mock = mock();
    mock.always(403);
    let output = bin()
        .args([
            "send",
            "--tenant-token",
            "t",
            "--api-token",
            "wrong-api-token",
            "--api-url",
            &mock.url(),
            "--analytics-url",
            &mock.url(),
        ])
        .args(["--failed", "/dev/null"])
        .write_stdin(r#"{"type":"group","groupId":"c","traits":{}}"#)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains("API token") && stderr.contains("PLANHAT_API_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-api-token"));
}

#[test]
fn a_slow_request_times_out_and_is_retried() {
    let mock = mock();
    mock.push_fault(Fault::Delay(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), &tracks(2));
    let clock = FakeClock::new();
    let outcome = send(
        &mock,
        &clock,
        dir.path(),
        &["--timeout", "300ms", input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    assert_eq!(actions(&mock.delivered_items()), events(&tracks(2)));
    assert!(outcome.stderr.contains("(1 retry,"), "{}", outcome.stderr);
}

/// Writes `line` to `send` on a pipe kept open, with a flush interval of
/// 200 ms, and says whether a request reached the mock before the pipe was
/// closed; then closes it and returns the run's output.
fn delivered_while_the_pipe_stays_open(
    mock: &MockPlanhat,
    extra: &[&str],
    line: &Value,
) -> (bool, std::process::Output) {
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("segment-planhat"))
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--analytics-url",
            &mock.url(),
        ])
        .args(["--api-url", &mock.url(), "--flush-interval", "200ms", "-q"])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, format!("{line}\n").as_bytes()).unwrap();
    std::io::Write::flush(&mut stdin).unwrap();
    let arrived = mock.wait_for_requests(1, Duration::from_secs(10));
    drop(stdin);
    (arrived, child.wait_with_output().unwrap())
}

#[test]
fn the_flush_interval_delivers_a_slow_pipe_before_it_ends() {
    let mock = mock();
    let (arrived, output) = delivered_while_the_pipe_stays_open(&mock, &[], &tracks(1)[0]);
    assert!(
        arrived,
        "nothing arrived while the pipe stayed open: {}",
        stderr_of(&output)
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(actions(&mock.delivered_items()), ["Event 0"]);
}

#[test]
fn a_waiting_profile_goes_once_the_flush_interval_passes() {
    // SPEC §6: coalesced profiles are sent when the oldest has waited
    // --flush-interval, not only when 5000 wait or the input ends.
    let mock = mock();
    let identify = json!({"type":"identify","userId":"u1","traits":{"plan":"pro"}});
    let (arrived, output) =
        delivered_while_the_pipe_stays_open(&mock, &["--api-token", API], &identify);
    assert!(
        arrived,
        "the profile waited for the end of input: {}",
        stderr_of(&output)
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(mock.requests()[0].path, "/endusers");
}

#[test]
fn tokens_never_appear_in_outputs_summary_or_failed_file() {
    let mock = mock();
    mock.poison("POISON");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(3);
    lines[1]["event"] = json!("POISON");
    lines.push(json!({"type":"identify","userId":"u1","traits":{"email":"a@x.io"}}));
    lines.push(json!("not an object"));
    let input = write_input(dir.path(), &lines);
    let summary = dir.path().join("summary.json");
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--summary-json",
        summary.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    let summary_text = std::fs::read_to_string(&summary).unwrap();
    let summary_json: Value = serde_json::from_str(&summary_text).unwrap();
    assert_eq!(summary_json["outcomes"]["delivered"], 3);
    assert_eq!(summary_json["outcomes"]["failed"]["http_400"]["count"], 1);
    assert_eq!(
        summary_json["outcomes"]["rejected"]["not_an_object"]["count"],
        1
    );
    assert_eq!(
        summary_json["failed_file"],
        dir.path().join("failed.ndjson").display().to_string()
    );
    let failed = std::fs::read_to_string(dir.path().join("failed.ndjson")).unwrap();
    for text in [&outcome.stdout, &outcome.stderr, &summary_text, &failed] {
        assert!(
            !text.contains(TENANT) && !text.contains(API),
            "a token leaked: {text}"
        );
    }
    let output = bin()
        .args([
            "send",
            "--tenant-token",
            TENANT,
            "--api-token",
            API,
            "--analytics-url",
            &mock.url(),
            "--api-url",
            &mock.url(),
        ])
        .arg("--failed")
        .arg(dir.path().join("second.ndjson"))
        .arg(&input)
        .output()
        .unwrap();
    let all = stdout_of(&output) + &stderr_of(&output);
    assert!(!all.contains(TENANT) && !all.contains(API), "{all}");
}

#[test]
fn receiver_mode_posts_each_message_alone_with_basic_auth_and_paced() {
    let mock = mock();
    mock.poison("POISON");
    let dir = tempfile::tempdir().unwrap();
    let lines = vec![
        json!({"type":"identify","userId":7,"traits":{"email":"a@x.io","company":{"id":"c1"}},"writeKey":"wk"}),
        json!({"type":"page","userId":"7","name":"Home"}),
        json!({"type":"track","userId":"7","event":"POISON"}),
        json!({"type":"group","userId":"7","groupId":"c1","traits":{"name":"C"}}),
    ];
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    // Both URLs reach the mock; the receiver counts as the main API (paced)
    // because --api-url is not the analytics base.
    let other = mock.url().replace("127.0.0.1", "localhost");
    let args = [
        "--receiver",
        "--api-rate",
        "2",
        "--api-url",
        &other,
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(
        outcome.result.unwrap(),
        Status::Problems,
        "{}",
        outcome.stderr
    );
    let requests = mock.requests();
    assert_eq!(requests.len(), 4, "one request per message");
    let basic = segment_planhat::sender::http::basic_credentials(TENANT);
    assert!(requests.iter().all(|r| r.path == "/dock/segment" && r.header("authorization") == Some(basic.as_str())));
    let delivered = mock.delivered_items();
    assert_eq!(delivered.len(), 3);
    assert_eq!(delivered[0]["userId"], "7");
    assert_eq!(delivered[0]["user_id"], "7");
    assert!(delivered[0].get("writeKey").is_none());
    assert_eq!(delivered[1]["type"], "track");
    assert_eq!(delivered[1]["event"], "Viewed Home Page");
    assert_eq!(delivered[1]["traits"]["companyId"], "c1");
    assert_eq!(delivered[2]["type"], "group");
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["_planhat"]["reason"], "http_400");
    assert_eq!(
        clock.sleeps(),
        [Duration::from_secs(60)],
        "2 a minute: the third waits for the first to leave the window"
    );
}

#[test]
fn requests_are_filled_by_bytes_and_a_failed_item_far_into_one_keeps_its_original() {
    // 6,000 events in one request at the default settings (--batch-size
    // 50,000, 8 MiB): more than the 5000 items a request held before, and
    // their originals span several compressed blocks.
    let mock = mock();
    mock.poison("POISON");
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = tracks(6000).iter().map(Value::to_string).collect();
    lines[4321] = r#"{"type":"track","userId":"u9","event":"Bad","properties":{"note":"POISON","keep":[1.50,"exact"]}}"#.into();
    let input = dir.path().join("events.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let original: Value = serde_json::from_str(&lines[4321]).unwrap();
    let outcome = send(
        &mock,
        &FakeClock::new(),
        dir.path(),
        &[input.to_str().unwrap()],
    );
    assert_eq!(outcome.result.unwrap(), Status::Problems);
    let first = &mock.requests()[0];
    assert_eq!(first.json().as_array().unwrap().len(), 6000, "one request");
    assert_eq!(mock.delivered_items().len(), 5999);
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1);
    let mut kept = failed[0].clone();
    kept.as_object_mut().unwrap().remove("_planhat");
    assert_eq!(kept, original, "the original, as it was read");
    let raw = std::fs::read_to_string(dir.path().join("failed.ndjson")).unwrap();
    assert!(
        raw.contains("[1.50,\"exact\"]"),
        "numbers as written: {raw}"
    );

    // Upserts stay at 5000 a request.
    let dir = tempfile::tempdir().unwrap();
    let identifies: Vec<Value> = (0..5001)
        .map(|i| json!({"type":"identify","userId":format!("u{i}"),"traits":{"email":format!("u{i}@x.io")}}))
        .collect();
    let input = write_input(dir.path(), &identifies);
    let output = crate::support::bin()
        .args(["send", "--dry-run", "-q", "--api-token", API])
        .arg(&input)
        .output()
        .unwrap();
    let sizes: Vec<usize> = crate::support::stdout_of(&output)
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["body"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [5000, 1]);
}
