//! Metrics from events (SPEC §11, issue 13): `[metrics]` configuration
//! errors from the built binary, delivery to `/dimensiondata` against the
//! mock through faults, a failed metric or activity in the failed file once
//! per message, and a crash between an activity and its metric.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{FakeClock, TENANT, actions, events, failed_lines, mock, send, write_input};
use crate::support::mock_planhat::{Fault, MockConfig, MockPlanhat};
use crate::support::{bin, kill, stderr_of, stdout_of};
use segment_planhat::error::Status;

/// Every `Event <i>` makes a metric on its user, valued at `properties.n`.
const MAP: &str = r#"[metrics]
"Event *" = { dimension = "events", value = "properties.n", model = "EndUser" }
"#;

const METRICS: &str = "/dimensiondata/";

/// `count` tracks, `Event <i>` by `u<i % 3>`, with `properties.n` = i.
fn tracks(count: usize) -> Vec<Value> {
    let mut lines = crate::http::tracks(count);
    for (i, line) in lines.iter_mut().enumerate() {
        line["properties"] = json!({ "n": i });
    }
    lines
}

/// Only every tenth event (`Event 0`, `Event 10`, ...) makes a metric.
const TENTH: &str = r#"[metrics]
"Event *0" = { dimension = "events", value = "properties.n", model = "EndUser" }
"#;

/// Writes the input and [`MAP`] into `dir`; returns their paths as
/// arguments.
fn setup(dir: &Path, lines: &[Value]) -> (String, String) {
    setup_with(dir, lines, MAP)
}

fn setup_with(dir: &Path, lines: &[Value], map_text: &str) -> (String, String) {
    let input = write_input(dir, lines);
    let map = dir.join("map.toml");
    std::fs::write(&map, map_text).unwrap();
    (input.display().to_string(), map.display().to_string())
}

/// The metric items the mock accepted (those with a `dimensionId`).
fn metrics_of(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .filter(|i| i.get("dimensionId").is_some())
        .cloned()
        .collect()
}

/// The sorted values of metric items.
fn values(metrics: &[Value]) -> Vec<u64> {
    let mut values: Vec<u64> = metrics
        .iter()
        .map(|m| m["value"].as_u64().unwrap())
        .collect();
    values.sort_unstable();
    values
}

#[test]
fn metrics_arrive_once_through_429_and_503_on_dimensiondata() {
    let mock = mock();
    mock.push_fault_on(
        METRICS,
        Fault::Status {
            code: 429,
            retry_after: Some("7".into()),
            body: "{}".into(),
        },
    );
    mock.push_fault_on(
        METRICS,
        Fault::Status {
            code: 503,
            retry_after: None,
            body: "busy".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let (input, map) = setup(dir.path(), &tracks(10));
    let clock = FakeClock::new();
    let args = ["--batch-size", "5", "--map", &map, &input];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);

    let delivered = mock.delivered_items();
    assert_eq!(actions(&delivered), events(&tracks(10)));
    let metrics = metrics_of(&delivered);
    assert_eq!(values(&metrics), (0..10).collect::<Vec<u64>>());
    assert_eq!(
        metrics[0],
        json!({"dimensionId":"events","value":0,"externalId":"u0","model":"EndUser",
               "date":"2024-03-01T12:00:00.000Z"})
    );
    let requests = mock.requests();
    let metric_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.path.starts_with(METRICS))
        .collect();
    assert_eq!(
        metric_requests.len(),
        2 + 2,
        "2 batches, the first tried 3 times"
    );
    for request in &metric_requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, format!("{METRICS}{TENANT}"));
        assert_eq!(
            request.header("authorization"),
            None,
            "the tenant token only"
        );
        assert!(
            request.json().as_array().unwrap().len() <= 5,
            "--batch-size"
        );
    }
    assert!(
        clock.sleeps().contains(&Duration::from_secs(7)),
        "Retry-After honoured: {:?}",
        clock.sleeps()
    );
    assert!(
        outcome
            .stderr
            .contains("retrying POST /dimensiondata/{tenantToken}"),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains(TENANT), "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains("delivered 20 items"),
        "{}",
        outcome.stderr
    );
    assert!(!dir.path().join("failed.ndjson").exists());
}

#[test]
fn a_poisoned_metric_fails_alone_and_its_message_is_in_the_failed_file_once() {
    let mock = mock();
    // Only the metric of Event 4 holds this text; its activity has `"n":4`.
    mock.poison("\"value\":4,");
    let dir = tempfile::tempdir().unwrap();
    let (input, map) = setup(dir.path(), &tracks(10));
    let clock = FakeClock::new();
    let summary = dir.path().join("summary.json");
    let summary_arg = summary.display().to_string();
    let args = ["--map", &map, "--summary-json", &summary_arg, &input];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Problems);

    let delivered = mock.delivered_items();
    assert_eq!(actions(&delivered), events(&tracks(10)), "every activity");
    let mut expected: Vec<u64> = (0..10).collect();
    expected.retain(|v| *v != 4);
    assert_eq!(
        values(&metrics_of(&delivered)),
        expected,
        "the other metrics"
    );
    let failed = failed_lines(dir.path());
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["event"], "Event 4");
    let note = &failed[0]["_planhat"];
    assert_eq!(note["reason"], "http_400");
    assert_eq!(note["source"], format!("{input}:5"));
    assert!(
        note["message"].as_str().unwrap().starts_with("metric: "),
        "{note}"
    );
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert_eq!(summary["routes"]["metric"], 10);
    assert_eq!(summary["routes"]["activity"], 10);
    assert_eq!(summary["outcomes"]["delivered"], 19);
}

#[test]
fn a_message_whose_activity_and_metric_both_fail_is_in_the_failed_file_once() {
    let mock = mock();
    mock.poison("u-both");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(12);
    // Its activity and its metric (on the end user) both name u-both.
    lines[3]["userId"] = json!("u-both");
    let (input, map) = setup(dir.path(), &lines);
    let clock = FakeClock::new();
    for mode in [&[][..], &["--receiver"][..]] {
        let _ = std::fs::remove_file(dir.path().join("failed.ndjson"));
        let mut args = vec!["--batch-size", "4", "--map", &map, &input];
        args.extend(mode);
        let outcome = send(&mock, &clock, dir.path(), &args);
        assert_eq!(outcome.result.unwrap(), Status::Problems, "{mode:?}");
        let failed = failed_lines(dir.path());
        assert_eq!(failed.len(), 1, "{mode:?}: {failed:?}");
        assert_eq!(failed[0]["userId"], "u-both");
        assert_eq!(failed[0]["_planhat"]["source"], format!("{input}:4"));
        assert_eq!(
            outcome.stderr.matches(":4: http_400").count(),
            2,
            "{mode:?}: both refusals are told: {}",
            outcome.stderr
        );
    }
}

#[test]
fn dry_run_and_validate_show_the_metrics_and_their_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = tracks(4);
    lines[1]["properties"] = json!({"n": "many"});
    lines[2]["userId"] = json!(null);
    lines[2]["context"] = json!({"traits": {"email": "a@x.io"}});
    let (input, map) = setup(dir.path(), &lines);
    let output = bin()
        .args(["send", "--dry-run", "--map", &map, &input])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let requests: Vec<Value> = stdout_of(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let metric_requests: Vec<&Value> = requests
        .iter()
        .filter(|r| r["url"] == "https://analytics.planhat.com/dimensiondata/{tenantToken}")
        .collect();
    assert_eq!(metric_requests.len(), 1, "{requests:?}");
    assert_eq!(metric_requests[0]["method"], "POST");
    assert_eq!(
        values(metric_requests[0]["body"].as_array().unwrap()),
        [0, 3]
    );
    let stderr = stderr_of(&output);
    assert!(stderr.contains("would send 6 items"), "{stderr}");
    assert!(
        stderr.contains("metric_without_value: 1 message"),
        "{stderr}"
    );
    assert!(
        stderr.contains("metric_without_target: 1 message"),
        "{stderr}"
    );

    std::fs::write(
        &map,
        format!("{MAP}\"Never Sent\" = {{ dimension = \"never\" }}\n"),
    )
    .unwrap();
    let output = bin()
        .args(["validate", "--json", "--map", &map, &input])
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(report["routes"]["metric"], 2);
    assert_eq!(report["warnings"]["metric_without_value"], 1);
    assert_eq!(report["warnings"]["metric_without_target"], 1);
    assert_eq!(
        report["rules"],
        json!([{"section":"metrics","key":"Event *","matched":4},
               {"section":"metrics","key":"Never Sent","matched":0}])
    );
    assert_eq!(report["unmatched_rules"], json!(["[metrics] Never Sent"]));
    let text = bin()
        .args(["validate", "--map", &map, &input])
        .output()
        .unwrap();
    let text = stdout_of(&text);
    assert!(text.contains("  metric       "), "{text}");
    assert!(
        text.contains("warning: these rules matched nothing: [metrics] Never Sent\n"),
        "no API-token hint for metrics: {text}"
    );
}

#[test]
fn metrics_configuration_errors_name_file_line_and_key_before_any_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[metrics]\n\"A\" = { value = 2 }\n",
            "map.toml:2: [metrics] \"A\".dimension: missing",
        ),
        (
            "[metrics]\n\"A\" = { dimension = \"a b\" }\n",
            "map.toml:2: [metrics] \"A\".dimension: must be 1 to 64 ASCII letters",
        ),
        (
            "[metrics]\n\"A\" = { dimension = \"a\" }\n\"B\" = { dimension = \"b\", value = \"seats\" }\n",
            "map.toml:3: [metrics] \"B\".value: must be a number or \"properties.<path>\"",
        ),
        (
            "[metrics]\n\"A\" = { dimension = \"a\", value = \"properties.\" }\n",
            "map.toml:2: [metrics] \"A\".value: must be a number",
        ),
        (
            "[metrics]\n\"A\" = { dimension = \"a\", model = \"Asset\" }\n",
            "map.toml:2: [metrics] \"A\".model: must be \"Company\" or \"EndUser\"",
        ),
        (
            "\n[metrics]\n\"A\" = { dimension = \"a\", weight = 5 }\n",
            "map.toml:3: [metrics] \"A\".weight: unknown key",
        ),
        (
            "[metrics]\n\"Viewed ** Page\" = { dimension = \"a\" }\n",
            "map.toml:2: [metrics] \"Viewed ** Page\": bad pattern",
        ),
        ("metrics = 1\n", "map.toml:1: [metrics]: must be a table"),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("map.toml"), text).unwrap();
        for command in ["send --dry-run", "validate"] {
            let output = bin()
                .current_dir(dir.path())
                .args(command.split(' '))
                .args(["--map", "map.toml"])
                .write_stdin("{\"type\":\"track\",\"userId\":\"u\",\"event\":\"A\"}\n")
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{command}: {text}");
            assert!(output.stdout.is_empty(), "input was read despite {text:?}");
            let stderr = stderr_of(&output);
            assert!(stderr.contains(expected), "{text:?}: {stderr}");
        }
    }
}

/// Starts `send` with a checkpoint and the map against `mock`, 20 items a
/// batch.
fn spawn_send(mock: &MockPlanhat, dir: &Path, input: &str, map: &str) -> Child {
    crate::resume::spawn_send_with(mock, dir, Path::new(input), &["--map", map])
}

/// How many times each of the strings `key` picks was delivered.
fn counts(items: &[Value], key: impl Fn(&Value) -> Option<String>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for key in items.iter().filter_map(key) {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[test]
fn a_crash_between_an_activity_and_its_metric_repeats_neither_on_resume() {
    // With a metric on every event, the first metric request follows the
    // first activity request; with one on every tenth, it waits until the
    // end, after every activity went. Either way the checkpoint written
    // before it counts the delivered activities, so the rerun sends their
    // metrics alone.
    let all_events: fn(usize) -> bool = |_| true;
    let every_tenth: fn(usize) -> bool = |i| i % 10 == 0;
    for (map_text, has_metric) in [(MAP, all_events), (TENTH, every_tenth)] {
        crash_between_an_activity_and_its_metric(map_text, has_metric);
    }
}

fn crash_between_an_activity_and_its_metric(map_text: &str, has_metric: fn(usize) -> bool) {
    let dir = tempfile::tempdir().unwrap();
    let lines = tracks(200);
    let (input, map) = setup_with(dir.path(), &lines, map_text);
    // The first metric request is dropped unanswered and the run SIGKILLed
    // at that moment: activities were delivered, metrics not.
    let victim: Arc<Mutex<Option<Child>>> = Arc::default();
    let killer = Arc::clone(&victim);
    let first = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        log: Some(Box::new(move |request| {
            if request.path.starts_with(METRICS)
                && let Some(child) = killer.lock().unwrap().as_mut()
            {
                child.kill().unwrap();
            }
        })),
        ..MockConfig::default()
    })
    .unwrap();
    first.push_fault_on(METRICS, Fault::Drop);
    {
        // Held while the run starts, so that the mock cannot miss it.
        let mut child = victim.lock().unwrap();
        *child = Some(spawn_send(&first, dir.path(), &input, &map));
    }
    let started = std::time::Instant::now();
    while !first.requests().iter().any(|r| r.path.starts_with(METRICS)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no metric request"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let child = victim.lock().unwrap().take();
    let output = child.unwrap().wait_with_output().unwrap();
    assert_eq!(output.status.code(), None, "killed by a signal");
    let before = first.delivered_items();
    assert!(!actions(&before).is_empty(), "activities arrived");
    assert!(metrics_of(&before).is_empty(), "metrics did not");

    let second = mock();
    let output = spawn_send(&second, dir.path(), &input, &map)
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let all: Vec<Value> = before.into_iter().chain(second.delivered_items()).collect();
    assert_eq!(actions(&all), events(&lines), "every activity once");
    let metrics = counts(&all, |i| {
        i.get("dimensionId").map(|_| i["value"].to_string())
    });
    for i in 0..lines.len() {
        let expected = has_metric(i).then_some(&1);
        assert_eq!(metrics.get(&i.to_string()), expected, "metric {i}");
    }
    assert!(!dir.path().join("failed.ndjson").exists());
}

#[test]
fn ctrl_c_sends_no_metric_more_and_the_resume_sends_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let lines = tracks(200);
    let (input, map) = setup(dir.path(), &lines);
    // Ctrl-C the moment the first activity request arrives, before it is
    // answered.
    let victim: Arc<Mutex<Option<u32>>> = Arc::default();
    let pid = Arc::clone(&victim);
    let first = MockPlanhat::start(MockConfig {
        tenant_token: Some(TENANT.into()),
        log: Some(Box::new(move |request| {
            if request.path.starts_with("/analytics/bulk/")
                && let Some(pid) = pid.lock().unwrap().take()
            {
                kill("INT", pid);
                // The signal is surely seen before the answer arrives.
                std::thread::sleep(Duration::from_millis(100));
            }
        })),
        ..MockConfig::default()
    })
    .unwrap();
    let child = spawn_send(&first, dir.path(), &input, &map);
    *victim.lock().unwrap() = Some(child.id());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", stderr_of(&output));
    let before = first.delivered_items();
    assert_eq!(actions(&before).len(), 20, "the request in flight finished");
    assert!(metrics_of(&before).is_empty(), "and nothing more was sent");

    // The resume sends the 20 lines' metrics alone, and the rest.
    let second = mock();
    let output = spawn_send(&second, dir.path(), &input, &map)
        .wait_with_output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let all: Vec<Value> = before.into_iter().chain(second.delivered_items()).collect();
    assert_eq!(actions(&all), events(&lines), "every activity once");
    assert_eq!(
        values(&metrics_of(&all)),
        (0..200).collect::<Vec<u64>>(),
        "every metric once"
    );
}
