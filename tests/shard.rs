//! Scale-out (SPEC §10): N shards together send exactly what one run sends,
//! each message once, with every user's events in their order.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::support::{bin, stderr_of, stdout_of};

/// A corpus of several users and companies, with group calls, identifies,
/// email-only users, anonymous events and a bad line.
fn corpus() -> String {
    let mut lines = Vec::new();
    for i in 0..300 {
        let user = format!("u{}", i % 23);
        let line = match i % 10 {
            0 => {
                json!({"type":"group","messageId":format!("m{i}"),"userId":user,"groupId":format!("c{}", i % 5),"traits":{"name":"C"}})
            }
            1 => {
                json!({"type":"identify","messageId":format!("m{i}"),"userId":user,"traits":{"email":format!("{user}@x.io")}})
            }
            2 => {
                json!({"type":"track","messageId":format!("m{i}"),"event":format!("E{i}"),"context":{"traits":{"email":format!("e{}@x.io", i % 7)}}})
            }
            3 => {
                json!({"type":"page","messageId":format!("m{i}"),"anonymousId":format!("a{}", i % 4),"name":"P"})
            }
            _ => {
                json!({"type":"track","messageId":format!("m{i}"),"userId":user,"event":format!("E{i}"),"timestamp":"2024-03-01T12:00:00Z"})
            }
        };
        lines.push(line.to_string());
    }
    lines.push("{not json".into());
    lines.join("\n")
}

/// The items a dry-run prints, in order.
fn items(args: &[&str]) -> (Vec<Value>, String) {
    let output = bin()
        .args(["send", "--dry-run", "--batch-size", "1"])
        .args(args)
        .write_stdin(corpus())
        .output()
        .unwrap();
    let items = stdout_of(&output)
        .lines()
        .flat_map(|line| {
            let request: Value = serde_json::from_str(line).unwrap();
            request["body"].as_array().unwrap().clone()
        })
        .collect();
    (items, stderr_of(&output))
}

fn by_user(items: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut users: HashMap<String, Vec<Value>> = HashMap::new();
    for item in items {
        let user = item["externalId"]
            .as_str()
            .or(item["email"].as_str())
            .unwrap_or("-");
        users.entry(user.to_owned()).or_default().push(item.clone());
    }
    users
}

#[test]
fn three_shards_together_send_exactly_the_unsharded_run_in_each_users_order() {
    // With an API token: end-user and company upserts too.
    let (all, _) = items(&["--api-token", "x"]);
    let shards: Vec<(Vec<Value>, String)> = (0..3)
        .map(|k| items(&["--api-token", "x", "--shard", &format!("{k}/3")]))
        .collect();
    // A group call falls in its member's shard, so one company's calls can
    // reach several shards, each sending its own coalesced upsert of it.
    let is_company = |item: &&Value| {
        item["externalId"]
            .as_str()
            .is_some_and(|id| id.starts_with('c'))
    };
    let sorted = |items: &mut dyn Iterator<Item = &Value>, dedup: bool| {
        let mut texts: Vec<String> = items.map(Value::to_string).collect();
        texts.sort();
        if dedup {
            texts.dedup();
        }
        texts
    };
    let union = |companies: bool| {
        sorted(
            &mut shards
                .iter()
                .flat_map(|(items, _)| items.iter().filter(|i| is_company(i) == companies)),
            companies,
        )
    };
    assert_eq!(
        union(false),
        sorted(&mut all.iter().filter(|i| !is_company(i)), false),
        "together the shards send what one run sends, once"
    );
    assert_eq!(
        union(true),
        sorted(&mut all.iter().filter(is_company), true),
        "and the same companies"
    );
    assert!(
        shards.iter().all(|(items, _)| !items.is_empty()),
        "every shard gets work"
    );
    // Without one, every item is an activity about one user.
    let unsharded = by_user(&items(&[]).0);
    for k in 0..3 {
        for (user, events) in by_user(&items(&["--shard", &format!("{k}/3")]).0) {
            assert_eq!(
                events, unsharded[&user],
                "{user}'s events all in one shard, in order"
            );
        }
    }
    let reported = shards
        .iter()
        .filter(|(_, stderr)| stderr.contains("invalid_json"))
        .count();
    assert_eq!(reported, 1, "a bad line is reported by exactly one shard");
}

#[test]
fn validate_reports_the_shards_share() {
    let output = bin()
        .args(["validate", "--json", "--shard", "1/3"])
        .write_stdin(corpus())
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let shard = &report["shard"];
    assert_eq!(
        (shard["index"].as_u64(), shard["count"].as_u64()),
        (Some(1), Some(3))
    );
    let invalid = report["outcomes"]["rejected"]["invalid_json"]["count"]
        .as_u64()
        .unwrap_or(0);
    let total =
        shard["messages"].as_u64().unwrap() + shard["other_shards"].as_u64().unwrap() + invalid;
    assert_eq!(total, 301, "every line is this shard's or another's");
    assert_eq!(shard["messages"], report["messages"]);
}

#[test]
fn an_invalid_shard_is_a_usage_error() {
    for bad in ["3/3", "0/0", "1", "x/2"] {
        bin()
            .args(["send", "--dry-run", "--shard", bad])
            .write_stdin("{}")
            .assert()
            .code(2);
    }
}
