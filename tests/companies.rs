//! Every event on its company (SPEC §5.1, §6, §10): the company as of each
//! message's time from the whole input, what Planhat may not place said out
//! loud, company-first for companies whose group call comes later, and
//! shards that leave companies as one run leaves them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::http::{API, FakeClock, mock, send};
use crate::support::{bin, stdout_of};
use segment_planhat::error::Status;

/// A two-source export laid out as Segment lays it out,
/// `segment-logs/<source>/<day>/`: the backend sends business events by
/// userId only, and its folder sorts before the web app's, which sends the
/// identify, group and page calls. `u4` is never grouped.
fn two_source_export(root: &Path) {
    let mut backend = Vec::new();
    let mut web = Vec::new();
    for day in 1..=3 {
        for user in 0..5 {
            let time = format!("2024-03-0{day}T10:00:0{user}Z");
            backend.push(json!({"type":"track","userId":format!("u{user}"),
                "event":"Invoice Paid","timestamp":time}));
        }
    }
    for user in 0..5 {
        // Identify at login, group right after, as clients send them.
        web.push(json!({"type":"identify","userId":format!("u{user}"),
            "traits":{"email":format!("u{user}@x.io")},"timestamp":"2024-02-01T09:00:00Z"}));
        if user < 4 {
            web.push(json!({"type":"group","userId":format!("u{user}"),
                "groupId":format!("c{}", user % 2),"traits":{"name":format!("Company {}", user % 2),
                "plan":"pro"},"timestamp":"2024-02-01T09:00:01Z"}));
        }
        web.push(
            json!({"type":"page","userId":format!("u{user}"),"name":"Home",
            "timestamp":"2024-02-01T09:00:02Z"}),
        );
    }
    for (folder, lines) in [("backend/2024-03-01", backend), ("web/2024-02-01", web)] {
        let dir = root.join("segment-logs").join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        std::fs::write(dir.join("part-0.ndjson"), text).unwrap();
    }
}

/// The items of every request a dry-run prints, with the request's path.
pub(crate) fn dry_run(dir: &Path, args: &[&str]) -> Vec<(String, Value)> {
    let output = bin()
        .current_dir(dir)
        .args(["send", "--dry-run", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    stdout_of(&output)
        .lines()
        .flat_map(|line| {
            let request: Value = serde_json::from_str(line).unwrap();
            let url = request["url"].as_str().unwrap();
            let path = url.split(".com").nth(1).unwrap().to_owned();
            let items = match &request["body"] {
                Value::Array(items) => items.clone(),
                body => vec![body.clone()],
            };
            items.into_iter().map(move |item| (path.clone(), item))
        })
        .collect()
}

#[test]
fn a_backend_folder_read_before_the_group_calls_still_gets_its_companies() {
    let dir = tempfile::tempdir().unwrap();
    two_source_export(dir.path());
    for mode in [&[][..], &["--api-token", API][..]] {
        let mut args = mode.to_vec();
        args.push("segment-logs");
        let items = dry_run(dir.path(), &args);
        let paid: Vec<&Value> = items
            .iter()
            .map(|(_, item)| item)
            .filter(|item| item["action"] == "Invoice Paid")
            .collect();
        assert_eq!(paid.len(), 15);
        for item in paid {
            let user = item["externalId"].as_str().unwrap();
            let expected = match user {
                "u0" | "u2" => json!("c0"),
                "u1" | "u3" => json!("c1"),
                _ => Value::Null,
            };
            assert_eq!(item["cId"], expected, "{mode:?}: {item}");
        }
    }
    // In receiver mode the company goes in traits.companyId.
    let items = dry_run(dir.path(), &["--receiver", "segment-logs"]);
    let paid = items
        .iter()
        .find(|(_, item)| item["event"] == "Invoice Paid" && item["userId"] == "u3")
        .unwrap();
    assert_eq!(paid.1["traits"]["companyId"], "c1");
}

#[test]
fn an_identify_before_its_group_call_carries_the_company() {
    let dir = tempfile::tempdir().unwrap();
    two_source_export(dir.path());
    let items = dry_run(dir.path(), &["--api-token", API, "segment-logs"]);
    let users: BTreeMap<&str, &Value> = items
        .iter()
        .filter(|(path, _)| path == "/endusers")
        .map(|(_, item)| (item["externalId"].as_str().unwrap(), &item["companyId"]))
        .collect();
    assert_eq!(users["u0"], "extid-c0");
    assert_eq!(users["u3"], "extid-c1");
    assert_eq!(*users["u4"], Value::Null, "never grouped");
}

#[test]
fn on_standard_input_only_earlier_lines_teach() {
    let dir = tempfile::tempdir().unwrap();
    two_source_export(dir.path());
    let logs = dir.path().join("segment-logs");
    let backend = std::fs::read_to_string(logs.join("backend/2024-03-01/part-0.ndjson")).unwrap();
    let web = std::fs::read_to_string(logs.join("web/2024-02-01/part-0.ndjson")).unwrap();
    let output = bin()
        .args(["send", "--dry-run", "-q", "-"])
        .write_stdin(format!("{backend}{web}{backend}"))
        .output()
        .unwrap();
    let stdout = stdout_of(&output);
    let request: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    let paid: Vec<&Value> = request["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["action"] == "Invoice Paid" && item["externalId"] == "u0")
        .collect();
    assert_eq!(paid.len(), 6);
    assert!(paid[..3].iter().all(|item| item.get("cId").is_none()));
    assert!(paid[3..].iter().all(|item| item["cId"] == "c0"));
}

#[test]
fn what_planhat_may_not_place_is_counted_with_first_positions() {
    let dir = tempfile::tempdir().unwrap();
    two_source_export(dir.path());
    let output = bin()
        .current_dir(dir.path())
        .args(["validate", "--json", "--api-token", API, "segment-logs"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "warnings keep the exit code");
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let warnings = &report["warnings"];
    // u4: three backend events and a page view; its identify.
    assert_eq!(warnings["activity_without_company"]["count"], 4);
    assert_eq!(
        warnings["activity_without_company"]["examples"][0],
        "segment-logs/backend/2024-03-01/part-0.ndjson:5"
    );
    assert_eq!(warnings["end_user_without_company"]["count"], 1);
    assert_eq!(
        warnings["end_user_without_company"]["examples"],
        json!(["segment-logs/web/2024-02-01/part-0.ndjson:13"])
    );

    let text = bin()
        .current_dir(dir.path())
        .args(["validate", "segment-logs"])
        .output()
        .unwrap();
    // Without an API token u4's identify is an activity too.
    let text = stdout_of(&text);
    assert!(
        text.contains(
            "warning: activity_without_company: 5 activities have no company; Planhat adds them \
             only to contacts it already has (first at segment-logs/backend/2024-03-01/part-0.ndjson:5"
        ),
        "{text}"
    );

    let summary = dir.path().join("summary.json");
    let output = bin()
        .current_dir(dir.path())
        .args(["send", "--dry-run", "--summary-json"])
        .arg(&summary)
        .arg("segment-logs")
        .output()
        .unwrap();
    let stderr = crate::support::stderr_of(&output);
    assert!(
        stderr.contains("warning: activity_without_company: 5 activities have no company"),
        "{stderr}"
    );
    let summary: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    assert_eq!(summary["warnings"]["activity_without_company"]["count"], 5);
}

#[test]
fn no_request_names_a_company_before_its_first_upsert() {
    let mock = mock();
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..120 {
        let user = format!("u{}", i % 9);
        lines.push(match i % 6 {
            0 => json!({"type":"identify","userId":user,"traits":{"plan":i}}),
            1 => json!({"type":"track","userId":user,"event":"E","context":{"groupId":format!("ctx{}", i % 4)}}),
            _ => json!({"type":"track","userId":user,"event":"E"}),
        });
    }
    // Every group call comes last, the contexts' companies' too.
    for user in 0..9 {
        lines.push(json!({"type":"group","userId":format!("u{user}"),
            "groupId":format!("c{}", user % 3),"traits":{"name":format!("C{user}"),"tier":user}}));
    }
    for company in 0..4 {
        lines.push(json!({"type":"group","groupId":format!("ctx{company}"),"traits":{"name":"X"}}));
    }
    let input = crate::http::write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--api-rate",
        "100000",
        "--batch-size",
        "7",
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let mut known = HashSet::new();
    let mut named = 0;
    for request in mock.requests() {
        let body = request.json();
        for item in body.as_array().unwrap() {
            let company = match request.path.as_str() {
                "/companies" => {
                    known.insert(item["externalId"].as_str().unwrap().to_owned());
                    continue;
                }
                "/endusers" => item["companyId"]
                    .as_str()
                    .map(|c| c.trim_start_matches("extid-")),
                _ => item["cId"].as_str(),
            };
            if let Some(company) = company {
                named += 1;
                assert!(
                    known.contains(company),
                    "{} names {company} first",
                    request.path
                );
            }
        }
    }
    assert!(named > 100, "the requests name their companies: {named}");
}

/// Merges company upserts into the state Planhat holds after them, in order.
fn company_state(items: &[Value]) -> BTreeMap<String, Map<String, Value>> {
    let mut state: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for item in items {
        let id = item["externalId"].as_str().unwrap().to_owned();
        let company = state.entry(id).or_default();
        for (field, value) in item.as_object().unwrap() {
            match (field.as_str(), value, company.get_mut(field)) {
                ("custom", Value::Object(custom), Some(Value::Object(known))) => {
                    known.extend(custom.clone());
                }
                _ => {
                    company.insert(field.clone(), value.clone());
                }
            }
        }
    }
    state
}

#[test]
fn three_shards_leave_every_company_as_one_run_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..400 {
        let user = format!("u{}", i % 31);
        let company = format!("c{}", i % 7);
        lines.push(match i % 8 {
            // Users of one company spread over the shards, each group call
            // changing the company's plan.
            0 => json!({"type":"group","userId":user,"groupId":company,
                "traits":{"name":format!("Co {}", i % 7),"plan":format!("plan-{i}"),"employees":i}}),
            1 => json!({"type":"identify","userId":user,"traits":{"email":format!("{user}@x.io")}}),
            _ => json!({"type":"track","userId":user,"event":format!("E{i}")}),
        });
    }
    let input = crate::http::write_input(dir.path(), &lines);
    let input = input.to_str().unwrap();
    let companies = |shard: Option<&str>| -> Vec<Value> {
        let mut args = vec!["--api-token", API, "--batch-size", "1"];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        args.push(input);
        dry_run(dir.path(), &args)
            .into_iter()
            .filter(|(path, _)| path == "/companies")
            .map(|(_, item)| item)
            .collect()
    };
    let whole = companies(None);
    let mut sharded = Vec::new();
    let mut owners: BTreeMap<String, HashSet<&str>> = BTreeMap::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let items = companies(Some(shard));
        for item in &items {
            let id = item["externalId"].as_str().unwrap().to_owned();
            owners.entry(id).or_default().insert(shard);
        }
        sharded.extend(items);
    }
    assert_eq!(owners.len(), 7);
    assert!(
        owners.values().all(|shards| shards.len() == 1),
        "each company's upserts come from one shard: {owners:?}"
    );
    // Coalescing may merge a company's upserts differently when fewer
    // requests come between them; Planhat ends in the same state.
    assert_eq!(company_state(&sharded), company_state(&whole));
    // And every activity carries the company it has in the whole run.
    let activities = |shard: Option<&str>| -> Vec<String> {
        let mut args = vec!["--api-token", API];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        args.push(input);
        dry_run(dir.path(), &args)
            .into_iter()
            .filter(|(path, _)| path.starts_with("/analytics"))
            .map(|(_, item)| item.to_string())
            .collect()
    };
    let mut together: Vec<String> = ["0/3", "1/3", "2/3"]
        .into_iter()
        .flat_map(|shard| activities(Some(shard)))
        .collect();
    together.sort();
    let mut expected = activities(None);
    expected.sort();
    assert_eq!(together, expected);
}

#[test]
fn a_refused_minimal_upsert_is_a_failure_named_by_its_company() {
    let mock = mock();
    mock.item_error("Refused Co");
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        json!({"type":"track","userId":"u1","event":"E"}),
        json!({"type":"group","userId":"u1","groupId":"c1","traits":{"name":"Refused Co"}}),
    ];
    let input = crate::http::write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    // One item a request: the minimal upsert goes alone, before the track.
    let args = [
        "--api-token",
        API,
        "--batch-size",
        "1",
        input.to_str().unwrap(),
    ];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(
        outcome.result.unwrap(),
        Status::Problems,
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("company c1 (its minimal upsert before its group call): item_error"),
        "{}",
        outcome.stderr
    );
    // The group call's own upsert fails too, and is in the failed file once.
    let failed = crate::http::failed_lines(dir.path());
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["groupId"], "c1");
}

#[test]
fn a_resumed_run_sends_what_an_uninterrupted_one_sends_and_names_companies_after_their_upserts() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::http::{TENANT, send_with_ctrl_c};
    use crate::support::mock_planhat::MockConfig;

    let dir = tempfile::tempdir().unwrap();
    // Events of users whose group calls all come at the end.
    let mut lines = Vec::new();
    for i in 0..60 {
        lines.push(
            json!({"type":"track","userId":format!("u{}", i % 6),"event":format!("E{i}"),
            "messageId":format!("m{i}")}),
        );
    }
    for user in 0..6 {
        lines.push(
            json!({"type":"group","userId":format!("u{user}"),"groupId":format!("c{}", user % 3),
            "traits":{"name":format!("C{}", user % 3),"seat":user}}),
        );
    }
    let input = crate::http::write_input(dir.path(), &lines);
    let checkpoint = dir.path().join("checkpoint.json");
    let args = [
        "--api-token",
        API,
        "--batch-size",
        "5",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        input.to_str().unwrap(),
    ];
    let config = || MockConfig {
        tenant_token: Some(TENANT.into()),
        api_token: Some(API.into()),
        ..MockConfig::default()
    };
    let whole = mock();
    let elsewhere = tempfile::tempdir().unwrap();
    let plain = [
        "--api-token",
        API,
        "--batch-size",
        "5",
        input.to_str().unwrap(),
    ];
    let outcome = send(&whole, &FakeClock::new(), elsewhere.path(), &plain);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);

    // Ctrl-C as the fourth activity request arrives.
    let seen = AtomicUsize::new(0);
    let (first, outcome) = send_with_ctrl_c(config(), dir.path(), &args, move |request| {
        request.path.starts_with("/analytics/") && seen.fetch_add(1, Ordering::SeqCst) == 3
    });
    assert_eq!(
        outcome.result.unwrap(),
        Status::Interrupted,
        "{}",
        outcome.stderr
    );
    let second = mock();
    let outcome = send(&second, &FakeClock::new(), dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);

    let activities = |requests: &[crate::support::mock_planhat::Received]| -> Vec<String> {
        let mut items: Vec<String> = requests
            .iter()
            .filter(|r| r.path.starts_with("/analytics/"))
            .flat_map(|r| r.json().as_array().unwrap().clone())
            .map(|item| item.to_string())
            .collect();
        items.sort();
        items
    };
    let mut together = first.requests();
    together.extend(second.requests());
    assert_eq!(activities(&together), activities(&whole.requests()));
    let companies = |requests: &[crate::support::mock_planhat::Received]| -> Vec<Value> {
        requests
            .iter()
            .filter(|r| r.path == "/companies")
            .flat_map(|r| r.json().as_array().unwrap().clone())
            .collect()
    };
    assert_eq!(
        company_state(&companies(&together)),
        company_state(&companies(&whole.requests()))
    );
    // No activity names a company before its first upsert, across the
    // run and its resume: what the first run upserted, Planhat knows.
    let mut known = HashSet::new();
    for request in &together {
        for item in request.json().as_array().unwrap() {
            if request.path == "/companies" {
                known.insert(item["externalId"].as_str().unwrap().to_owned());
            } else if let Some(company) = item["cId"].as_str() {
                assert!(known.contains(company), "{company} named first");
            }
        }
    }
    assert!(
        first.requests().iter().any(|r| r.path == "/companies"),
        "the first run upserted companies before naming them"
    );
}
