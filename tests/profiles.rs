//! Profiles at full speed (SPEC §6): coalesced upserts leave Planhat holding
//! what one-by-one upserts would, companies go before the activities and end
//! users that name them, a refused coalesced item fails each of its
//! messages once, and checkpoints and Ctrl-C keep their promises while
//! profiles wait.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::http::{
    API, FakeClock, TENANT, failed_lines, mock, send, send_with_ctrl_c, write_input,
};
use crate::support::mock_planhat::{MockConfig, Received};
use segment_planhat::error::Status;

/// Identifies and groups interleaved with events, one in six each, as
/// clients send them: users change traits over time, and learn their
/// company from group calls only. The group calls have no time, so each
/// user's last one is in force at every event's time (SPEC §5.1): an event
/// may name a company before its first group call, which company-first then
/// upserts minimally before it (§6).
fn interleaved(lines: usize) -> Vec<Value> {
    (0..lines)
        .map(|i| {
            let user = format!("u{}", i % 97);
            match i % 12 {
                0 => json!({"type":"identify","userId":user,"messageId":format!("m{i}"),
                    "traits":{"plan":format!("p{i}"),"seats":i,format!("k{}", i % 5):i}}),
                3 => json!({"type":"identify","messageId":format!("m{i}"),
                    "traits":{"email":format!("e{}@x.io", i % 7),"visits":i}}),
                6 => json!({"type":"group","userId":user,"groupId":format!("c{}", i % 13),
                    "messageId":format!("m{i}"),"traits":{"name":format!("C{i}"),"tier":i % 3}}),
                _ => json!({"type":"track","userId":user,"messageId":format!("m{i}"),
                    "event":format!("E{i}"),"timestamp":"2024-03-01T12:00:00Z"}),
            }
        })
        .collect()
}

fn is_profile_message(line: &Value) -> bool {
    matches!(line["type"].as_str(), Some("identify" | "group"))
}

/// The state Planhat holds after applying the accepted upserts in order:
/// each field replaced, `custom` merged key by key.
fn profile_state(requests: &[Received], path: &str) -> HashMap<String, Map<String, Value>> {
    let mut state: HashMap<String, Map<String, Value>> = HashMap::new();
    for request in requests.iter().filter(|r| r.path == path) {
        for item in &request.accepted {
            let key = item["externalId"]
                .as_str()
                .map(|id| format!("id:{id}"))
                .or_else(|| item["email"].as_str().map(|e| format!("email:{e}")))
                .expect("an upsert names its profile");
            let profile = state.entry(key).or_default();
            for (field, value) in item.as_object().unwrap() {
                match (profile.get_mut(field), value) {
                    (Some(Value::Object(known)), Value::Object(more)) if field == "custom" => {
                        known.extend(more.clone());
                    }
                    _ => {
                        profile.insert(field.clone(), value.clone());
                    }
                }
            }
        }
    }
    state
}

fn activities(requests: &[Received]) -> Vec<String> {
    let mut items: Vec<String> = requests
        .iter()
        .filter(|r| r.path.starts_with("/analytics/bulk/"))
        .flat_map(|r| r.accepted.iter().map(Value::to_string))
        .collect();
    items.sort();
    items
}

fn count(requests: &[Received], path: &str) -> usize {
    requests.iter().filter(|r| r.path == path).count()
}

#[test]
fn coalesced_upserts_leave_the_state_that_one_by_one_upserts_would() {
    let dir = tempfile::tempdir().unwrap();
    let lines = interleaved(3000);
    let profile_messages = lines.iter().filter(|l| is_profile_message(l)).count();
    let input = write_input(dir.path(), &lines);
    let input = input.to_str().unwrap();

    // One by one: a flush interval of 0 sends every profile as it comes.
    let one_by_one = mock();
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--api-rate",
        "100000",
        "--flush-interval",
        "0",
        input,
    ];
    let outcome = send(&one_by_one, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let single = one_by_one.requests();
    // The minimal upserts of companies named before their group calls:
    // every group call here has a custom trait.
    let minimal = single
        .iter()
        .filter(|r| r.path == "/companies" && r.json()[0].get("custom").is_none())
        .count();
    assert!(
        minimal > 0,
        "some companies are named before their group call"
    );
    assert_eq!(
        count(&single, "/endusers") + count(&single, "/companies"),
        profile_messages + minimal
    );

    // Coalesced: activity batches of 100, profiles held for a minute.
    let coalesced = mock();
    let clock = FakeClock::new();
    let args = [
        "--api-token",
        API,
        "--api-rate",
        "5",
        "--batch-size",
        "100",
        "--flush-interval",
        "60s",
        input,
    ];
    let outcome = send(&coalesced, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let merged = coalesced.requests();
    let items: usize = merged.iter().map(|r| r.accepted.len()).sum();
    assert!(
        outcome
            .stderr
            .contains(&format!("({items} after coalescing profiles)")),
        "the summary counts the items sent: {}",
        outcome.stderr
    );

    for path in ["/endusers", "/companies"] {
        assert_eq!(
            profile_state(&merged, path),
            profile_state(&single, path),
            "{path}: the same final state"
        );
    }
    assert_eq!(
        activities(&merged),
        activities(&single),
        "the same activities"
    );
    // All 97 + 7 end users at the end, in requests of --batch-size 100;
    // one company request before the first activity naming each of the 13
    // companies, at most.
    assert_eq!(count(&merged, "/endusers"), 2);
    let companies = count(&merged, "/companies");
    assert!(
        (1..=13).contains(&companies),
        "{companies} company requests"
    );
    assert!(
        merged.len() < single.len() / 10,
        "{} requests",
        merged.len()
    );

    // Company first: nothing names a company before its first upsert went.
    let mut sent = HashSet::new();
    for request in &merged {
        let items = request.json();
        for item in items.as_array().unwrap() {
            if request.path == "/companies" {
                sent.insert(item["externalId"].as_str().unwrap().to_owned());
            }
            let named = item["cId"]
                .as_str()
                .or_else(|| item["companyId"].as_str()?.strip_prefix("extid-"));
            if let Some(company) = named {
                assert!(
                    sent.contains(company),
                    "{} named {company} first",
                    request.path
                );
            }
        }
    }

    // Paced at 5 a minute, bursts allowed: the main-API requests start in
    // groups of five, a minute apart, and the fake clock shows the waits.
    let paced = (count(&merged, "/endusers") + companies) as u64;
    let waited: Duration = clock.sleeps().iter().sum();
    assert_eq!(waited, Duration::from_secs(60 * ((paced - 1) / 5)));
}

#[test]
fn a_refused_coalesced_upsert_fails_each_of_its_messages_once() {
    let mock = mock();
    mock.item_error("refused-user");
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..3 {
        lines.push(json!({"type":"identify","userId":"refused-user","traits":{"n":i}}));
        lines.push(json!({"type":"identify","userId":format!("fine-{i}"),"traits":{"n":i}}));
        lines.push(json!({"type":"track","userId":"fine-0","event":format!("E{i}")}));
    }
    let input = write_input(dir.path(), &lines);
    let clock = FakeClock::new();
    let args = ["--api-token", API, input.to_str().unwrap()];
    let outcome = send(&mock, &clock, dir.path(), &args);
    assert_eq!(
        outcome.result.unwrap(),
        Status::Problems,
        "{}",
        outcome.stderr
    );
    let failed = failed_lines(dir.path());
    let sources: Vec<&str> = failed
        .iter()
        .map(|f| f["_planhat"]["source"].as_str().unwrap())
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert!(sources[0].ends_with(":1") && sources[1].ends_with(":4") && sources[2].ends_with(":7"));
    assert!(
        failed
            .iter()
            .enumerate()
            .all(|(i, f)| f["traits"]["n"] == i)
    );
    assert!(
        failed
            .iter()
            .all(|f| f["_planhat"]["reason"] == "item_error")
    );
    let users: Vec<Value> = mock
        .requests()
        .iter()
        .filter(|r| r.path == "/endusers")
        .flat_map(|r| r.json().as_array().unwrap().clone())
        .collect();
    assert_eq!(users.len(), 4, "one item per profile: {users:?}");
}

#[test]
fn ctrl_c_leaves_waiting_profiles_unsent_and_their_lines_to_the_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(if i % 10 == 1 {
            json!({"type":"identify","userId":format!("u{i}"),"traits":{"n":i}})
        } else {
            json!({"type":"track","userId":"t","event":format!("E{i}")})
        });
    }
    let input = write_input(dir.path(), &lines);
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

    // Ctrl-C as the third activity request arrives: it is answered, and
    // nothing more is sent.
    let seen = AtomicUsize::new(0);
    let config = MockConfig {
        tenant_token: Some(TENANT.into()),
        api_token: Some(API.into()),
        ..MockConfig::default()
    };
    let (first, outcome) = send_with_ctrl_c(config, dir.path(), &args, move |request| {
        request.path.starts_with("/analytics/") && seen.fetch_add(1, Ordering::SeqCst) == 2
    });
    assert_eq!(
        outcome.result.unwrap(),
        Status::Interrupted,
        "{}",
        outcome.stderr
    );
    let before = first.requests();
    assert_eq!(
        count(&before, "/endusers"),
        0,
        "a waiting profile is not sent"
    );
    let delivered: Vec<String> = activities(&before);

    // The rerun sends the identifies and what was not delivered, nothing twice.
    let second = mock();
    let clock = FakeClock::new();
    let outcome = send(&second, &clock, dir.path(), &args);
    assert_eq!(outcome.result.unwrap(), Status::Clean, "{}", outcome.stderr);
    let after = second.requests();
    let users: Vec<Value> = after
        .iter()
        .filter(|r| r.path == "/endusers")
        .flat_map(|r| r.json().as_array().unwrap().clone())
        .collect();
    assert_eq!(users.len(), 4, "every identify, after the rerun");
    let mut all = delivered.clone();
    all.extend(activities(&after));
    all.sort();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 36, "every activity");
    assert_eq!(unique.len(), 36, "none twice");
}

#[test]
fn a_dry_run_prints_exactly_the_requests_that_send_sends() {
    // Enough identify text to fill a coalescing buffer more than once: the
    // buffer's limits must not depend on what only `send` keeps.
    let dir = tempfile::tempdir().unwrap();
    let padding = "x".repeat(2000);
    let mut lines = interleaved(4000);
    for (i, line) in lines.iter_mut().enumerate() {
        if line["type"] == "identify" {
            line["traits"]["bio"] = json!(format!("{i} {padding}"));
            line["context"] = json!({"userAgent": padding});
        }
    }
    let input = write_input(dir.path(), &lines);
    // Batches close by size only: a flush interval passing on a busy
    // machine would cut one run's batches where the other's are not cut.
    let args = [
        "--api-token",
        API,
        "--flush-interval",
        "600s",
        input.to_str().unwrap(),
    ];
    let clock = FakeClock::new();
    let dry = send(
        &mock(),
        &clock,
        dir.path(),
        &[&args[..], &["--dry-run"]].concat(),
    );
    assert_eq!(dry.result.unwrap(), Status::Clean, "{}", dry.stderr);
    let printed: Vec<(String, Value)> = dry
        .stdout
        .lines()
        .map(|line| {
            let request: Value = serde_json::from_str(line).unwrap();
            let url = request["url"].as_str().unwrap();
            let path = url[url.find("//").unwrap() + 2..]
                .split_once('/')
                .unwrap()
                .1;
            (format!("/{path}"), request["body"].clone())
        })
        .collect();
    let mock = mock();
    let sent = send(&mock, &clock, dir.path(), &args);
    assert_eq!(sent.result.unwrap(), Status::Clean, "{}", sent.stderr);
    let received: Vec<(String, Value)> = mock
        .requests()
        .iter()
        .map(|r| (r.path.replace(TENANT, "{tenantToken}"), r.json()))
        .collect();
    assert!(
        count(&mock.requests(), "/endusers") > 1,
        "the buffer filled"
    );
    assert_eq!(printed, received);
}
