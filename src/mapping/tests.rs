//! Unit tests of the translation rules of SPEC §5, one behaviour each.

use serde_json::{Value, json};

use super::*;
use crate::segment::parse_line;
use checks::Shard;
use stitch::Stitch;

fn message(value: Value) -> Message<'static> {
    parse_line(value.to_string().as_bytes())
        .next()
        .expect("a line has a message")
        .expect("test message parses")
        .into_owned()
}

fn options(profiles: bool) -> Options {
    Options {
        profiles,
        ..Options::default()
    }
}

/// Maps messages in order with one mapper; returns each outcome as JSON
/// (the item) or as the reason's name.
fn run(options: Options, messages: &[Value]) -> Vec<Value> {
    let mut mapper = Mapper::new(options);
    let parsed: Vec<Message> = messages.iter().cloned().map(message).collect();
    parsed
        .iter()
        .map(|m| match mapper.map(m).outcome {
            Outcome::Send(item) => {
                json!({"route": item.route().name(), "item": serde_json::to_value(&item).unwrap()})
            }
            Outcome::Skip(reason) => json!(reason.name()),
            Outcome::Reject(reason, _) => json!(reason.name()),
            Outcome::OtherShard => json!("other_shard"),
        })
        .collect()
}

fn one(options: Options, value: Value) -> Value {
    run(options, &[value]).remove(0)
}

#[test]
fn track_becomes_an_activity_with_both_id_spellings() {
    let out = one(
        options(false),
        json!({"type":"track","userId":"u1","event":"Report Built","timestamp":"2024-03-01T12:00:00+01:00",
               "properties":{"size":3},"context":{"groupId":"acct_9","traits":{"email":"a@x.io","name":"Ana"}}}),
    );
    assert_eq!(
        out,
        json!({"route":"activity","item":{"externalId":"u1","id":"u1","email":"a@x.io","name":"Ana",
            "companyExternalId":"acct_9","cId":"acct_9","action":"Report Built",
            "date":"2024-03-01T11:00:00.000Z","info":{"size":3},"source":"Segment"}})
    );
}

#[test]
fn track_without_event_is_rejected_no_event() {
    let out = one(
        options(false),
        json!({"type":"track","userId":"u1","event":""}),
    );
    assert_eq!(out, json!("no_event"));
}

#[test]
fn info_is_never_null() {
    let out = one(
        options(false),
        json!({"type":"track","userId":"u1","event":"E","properties":null}),
    );
    assert_eq!(out["item"]["info"], json!({}));
}

#[test]
fn page_action_uses_category_and_name() {
    let action = |page: Value| one(options(false), page)["item"]["action"].clone();
    assert_eq!(
        action(json!({"type":"page","userId":"u","name":"Install","category":"Docs"})),
        "Viewed Docs Install Page"
    );
    assert_eq!(
        action(json!({"type":"page","userId":"u","name":"Install","category":null})),
        "Viewed Install Page"
    );
    assert_eq!(
        action(json!({"type":"page","userId":"u","category":"Docs"})),
        "Loaded a Page"
    );
    assert_eq!(
        action(json!({"type":"screen","userId":"u","name":"Home","category":"Main"})),
        "Viewed Home Screen"
    );
    assert_eq!(
        action(json!({"type":"screen","userId":"u"})),
        "Loaded a Screen"
    );
}

#[test]
fn page_info_adds_name_category_and_context_page_fallbacks() {
    let out = one(
        options(false),
        json!({"type":"page","userId":"u","name":"Install","category":"Docs",
               "properties":{"name":"old","url":"","title":"Own","path":null,"x":1},
               "context":{"page":{"url":"https://x.test/docs","title":"Ctx","path":"/docs","referrer":"r","search":""}}}),
    );
    assert_eq!(
        out["item"]["info"],
        json!({"name":"Install","url":"https://x.test/docs","title":"Own","path":"/docs","x":1,
               "category":"Docs","referrer":"r"})
    );
}

#[test]
fn identify_without_api_token_is_an_identity_only_activity() {
    let out = one(
        options(false),
        json!({"type":"identify","userId":"u1","timestamp":"2024-01-02",
               "traits":{"email":"a@x.io","firstName":"Ana","lastName":"Lopez","company":{"id":7},"plan":"pro"}}),
    );
    assert_eq!(
        out,
        json!({"route":"activity","item":{"externalId":"u1","id":"u1","email":"a@x.io","name":"Ana Lopez",
            "companyExternalId":"7","cId":"7","date":"2024-01-02T00:00:00.000Z","source":"Segment"}})
    );
}

#[test]
fn identify_with_api_token_is_an_end_user_upsert() {
    let out = one(
        options(true),
        json!({"type":"identify","userId":12345,"timestamp":"not a time",
               "traits":{"Email":"a@x.io","name":"Ana Lopez","first_name":"Ana","title":"CFO","phone":"+1 555",
                         "company":{"id":"acme","name":"Acme"},"address":{"city":"Lyon"},"tags":["a","b"],"logins":4}}),
    );
    assert_eq!(
        out,
        json!({"route":"end_user","item":{"externalId":"12345","email":"a@x.io","name":"Ana Lopez","firstName":"Ana",
            "position":"CFO","phone":"+1 555","companyId":"extid-acme","source":"Segment",
            "custom":{"company.name":"Acme","address.city":"Lyon","tags":["a","b"],"logins":4}}})
    );
}

#[test]
fn group_with_api_token_is_a_company_upsert() {
    let out = one(
        options(true),
        json!({"type":"group","userId":"u1","groupId":"acct_9","traits":{"name":"Acme","plan":"enterprise","employees":120}}),
    );
    assert_eq!(
        out,
        json!({"route":"company","item":{"externalId":"acct_9","name":"Acme","source":"Segment",
            "custom":{"plan":"enterprise","employees":120}}})
    );
}

#[test]
fn group_without_api_token_is_skipped_but_teaches_the_company() {
    let out = run(
        options(false),
        &[
            json!({"type":"group","userId":"u1","groupId":"acct_9"}),
            json!({"type":"track","userId":"u1","event":"E"}),
        ],
    );
    assert_eq!(out[0], json!("group_association"));
    assert_eq!(out[1]["item"]["cId"], "acct_9");
}

#[test]
fn group_without_group_id_is_rejected() {
    assert_eq!(
        one(options(true), json!({"type":"group","userId":"u1"})),
        json!("no_group_id")
    );
    assert_eq!(
        one(
            options(false),
            json!({"type":"group","userId":"u1","groupId":""})
        ),
        json!("no_group_id")
    );
}

#[test]
fn identify_traits_teach_the_company_and_context_group_id_does_not() {
    let out = run(
        options(false),
        &[
            json!({"type":"identify","userId":"u1","traits":{"companyId":"c1"}}),
            json!({"type":"track","userId":"u1","event":"E"}),
            json!({"type":"track","userId":"u1","event":"E","context":{"groupId":"c2"}}),
            json!({"type":"track","userId":"u1","event":"E"}),
        ],
    );
    assert_eq!(out[1]["item"]["cId"], "c1");
    assert_eq!(out[2]["item"]["cId"], "c2");
    assert_eq!(out[3]["item"]["cId"], "c1");
}

#[test]
fn a_later_group_call_replaces_the_remembered_company() {
    let out = run(
        options(false),
        &[
            json!({"type":"group","userId":"u1","groupId":"c1","timestamp":"2024-01-01"}),
            json!({"type":"group","userId":"u1","groupId":"c2","timestamp":"2024-02-01"}),
            json!({"type":"page","userId":"u1","timestamp":"2024-03-01"}),
        ],
    );
    assert_eq!(out[2]["item"]["cId"], "c2");
}

/// Maps `messages` after a first pass over all of them, as a run over files
/// does; returns each outcome as [`run`] does, with the minimal company
/// upserts announced before an item as `{"announce": ...}`.
fn run_with_first_pass(options: Options, messages: &[Value]) -> Vec<Value> {
    let mut mapper = Mapper::new(options);
    let parsed: Vec<Message> = messages.iter().cloned().map(message).collect();
    mapper.begin_first_pass(true);
    for m in &parsed {
        mapper.learn(m);
    }
    mapper.end_first_pass(Vec::<std::iter::Empty<companies::Association>>::new());
    let mut out = Vec::new();
    for m in &parsed {
        let mapped = mapper.map(m);
        if let Some(company) = &mapped.announce {
            out.push(json!({"announce": serde_json::to_value(company).unwrap()}));
        }
        out.push(match mapped.outcome {
            Outcome::Send(item) => {
                json!({"route": item.route().name(), "item": serde_json::to_value(&item).unwrap()})
            }
            Outcome::Skip(reason) => json!(reason.name()),
            Outcome::Reject(reason, _) => json!(reason.name()),
            Outcome::OtherShard => json!("other_shard"),
        });
    }
    out
}

#[test]
fn a_message_takes_its_users_company_as_of_its_time_from_the_whole_input() {
    // The backend's folder first: its events come before any group call.
    let out = run_with_first_pass(
        options(false),
        &[
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2024-01-15"}),
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2024-03-15"}),
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2023-06-01"}),
            json!({"type":"track","userId":"u1","event":"E"}),
            json!({"type":"group","userId":"u1","groupId":"acme","timestamp":"2024-01-01"}),
            json!({"type":"group","userId":"u1","groupId":"globex","timestamp":"2024-03-01"}),
        ],
    );
    assert_eq!(out[0]["item"]["cId"], "acme");
    assert_eq!(out[1]["item"]["cId"], "globex", "the user moved");
    assert_eq!(
        out[2]["item"]["cId"], "acme",
        "older than all: the earliest"
    );
    assert_eq!(out[3]["item"]["cId"], "acme", "no time: the earliest");
}

#[test]
fn without_a_first_pass_only_earlier_lines_teach() {
    let out = run(
        options(false),
        &[
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2024-01-15"}),
            json!({"type":"group","userId":"u1","groupId":"acme","timestamp":"2024-01-01"}),
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2023-01-15"}),
        ],
    );
    assert_eq!(out[0]["item"].get("cId"), None);
    assert_eq!(out[2]["item"]["cId"], "acme", "the earliest known");
}

#[test]
fn an_identifys_company_trait_and_a_later_group_call_each_hold_in_their_time() {
    let out = run_with_first_pass(
        options(true),
        &[
            json!({"type":"identify","userId":"u1","traits":{"companyId":"acme"},"timestamp":"2024-01-01"}),
            json!({"type":"identify","userId":"u1","traits":{"email":"a@x.io"},"timestamp":"2024-02-01"}),
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2024-04-01"}),
            json!({"type":"group","userId":"u1","groupId":"globex","timestamp":"2024-03-01"}),
        ],
    );
    assert_eq!(out[0]["item"]["companyId"], "extid-acme");
    assert_eq!(out[1]["item"]["companyId"], "extid-acme");
    // globex's group call comes later in the input: it is upserted first.
    assert_eq!(
        out[2],
        json!({"announce": {"externalId": "globex", "source": "Segment"}})
    );
    assert_eq!(out[3]["item"]["cId"], "globex");
}

#[test]
fn an_identify_before_its_users_group_call_gets_the_company() {
    let out = run_with_first_pass(
        options(true),
        &[
            json!({"type":"identify","userId":"u1","traits":{"email":"a@x.io"},"timestamp":"2024-01-01T10:00:00Z"}),
            json!({"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme","plan":"pro"},
                   "timestamp":"2024-01-01T10:00:01Z"}),
            json!({"type":"group","userId":"u2","groupId":"acme","traits":{"name":"Acme Inc"}}),
        ],
    );
    assert_eq!(
        out[0],
        json!({"announce": {"externalId": "acme", "name": "Acme", "source": "Segment"}}),
        "the first group call's name, before the end user that names it"
    );
    assert_eq!(out[1]["item"]["companyId"], "extid-acme");
    assert_eq!(
        out[2]["item"]["custom"]["plan"], "pro",
        "the full upsert follows"
    );
    assert_eq!(out.len(), 4, "announced once");
}

#[test]
fn an_anonymous_identify_linked_later_keeps_its_place_in_the_input_for_ties() {
    let stitched = Options {
        stitch: Stitch::On,
        ..options(false)
    };
    let out = run_with_first_pass(
        stitched,
        &[
            json!({"type":"identify","anonymousId":"a1","traits":{"companyId":"A"},"timestamp":"2024-03-01"}),
            json!({"type":"track","userId":"u1","anonymousId":"a1","event":"E","timestamp":"2024-02-01"}),
            json!({"type":"group","userId":"u1","groupId":"B","timestamp":"2024-03-01"}),
            json!({"type":"track","userId":"u1","event":"E","timestamp":"2024-03-01"}),
        ],
    );
    assert_eq!(
        out[1]["item"]["cId"], "A",
        "the earliest: on equal times, the earlier"
    );
    assert_eq!(
        out[3]["item"]["cId"], "B",
        "in force: on equal times, the later"
    );
}

#[test]
fn duplicate_disabled_and_filtered_messages_teach_nothing_in_the_first_pass() {
    let mut filtered = options(false);
    filtered.filters.types = Some(vec![Kind::Track, Kind::Identify]);
    let out = run_with_first_pass(
        filtered,
        &[
            json!({"type":"track","userId":"u1","event":"E"}),
            json!({"type":"group","userId":"u1","groupId":"filtered-out"}),
            json!({"type":"track","userId":"u2","event":"E"}),
            json!({"type":"identify","userId":"u2","messageId":"m1","traits":{"companyId":"first"}}),
            json!({"type":"identify","userId":"u2","messageId":"m1","traits":{"companyId":"dup"},
                   "timestamp":"2020-01-01"}),
            json!({"type":"identify","userId":"u2","traits":{"companyId":"off"},
                   "integrations":{"Planhat":false}}),
        ],
    );
    assert_eq!(out[0]["item"].get("cId"), None);
    assert_eq!(out[2]["item"]["cId"], "first");
}

#[test]
fn without_an_api_token_nothing_is_announced() {
    let out = run_with_first_pass(
        options(false),
        &[
            json!({"type":"track","userId":"u1","event":"E"}),
            json!({"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme"}}),
        ],
    );
    assert_eq!(out[0]["item"]["cId"], "acme");
    assert_eq!(out.len(), 2);
}

#[test]
fn anonymous_events_are_skipped_and_anonymous_id_never_sent() {
    let out = run(
        options(false),
        &[
            json!({"type":"page","anonymousId":"a1","name":"Home"}),
            json!({"type":"identify","anonymousId":"a1","traits":{"plan":"free"}}),
            json!({"type":"page","name":"Home"}),
        ],
    );
    assert_eq!(
        out,
        [json!("anonymous"), json!("anonymous"), json!("no_identity")],
        "anonymous is a policy skip; no anonymousId either is no_identity"
    );
    let out = one(
        options(false),
        json!({"type":"page","anonymousId":"a1","properties":{"email":"a@x.io"}}),
    );
    assert_eq!(out["item"]["email"], "a@x.io");
    assert!(!out.to_string().contains("a1"));
}

#[test]
fn an_email_user_id_gives_both_external_id_and_email() {
    let out = one(
        options(false),
        json!({"type":"track","userId":"ana@x.io","event":"E"}),
    );
    assert_eq!(out["item"]["externalId"], "ana@x.io");
    assert_eq!(out["item"]["email"], "ana@x.io");
}

#[test]
fn bad_timestamps_reject_activities_but_not_upserts() {
    let track =
        json!({"type":"track","userId":"u","event":"E","timestamp":"2015-2-02T00:30:08.276Z"});
    assert_eq!(one(options(false), track), json!("bad_timestamp"));
    let group = json!({"type":"group","groupId":"g","timestamp":"yesterday"});
    assert_eq!(one(options(true), group)["route"], "company");
}

#[test]
fn event_time_falls_back_through_the_four_fields() {
    let date = |fields: Value| {
        let mut m = json!({"type":"track","userId":"u","event":"E"});
        m.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        one(options(false), m)["item"].get("date").cloned()
    };
    assert_eq!(
        date(
            json!({"timestamp":null,"originalTimestamp":"","receivedAt":"2024-01-01T00:00:00Z","sentAt":"2025-01-01"})
        ),
        Some(json!("2024-01-01T00:00:00.000Z"))
    );
    assert_eq!(
        date(json!({"sentAt":1374193002})),
        Some(json!("2013-07-19T00:16:42.000Z"))
    );
    assert_eq!(date(json!({})), None, "no time: date omitted");
}

#[test]
fn check_order_duplicate_first_then_type_then_integrations_then_filters() {
    let filters = Filters {
        types: Some(vec![Kind::Track]),
        ..Filters::default()
    };
    let opts = Options {
        filters,
        ..options(false)
    };
    let out = run(
        opts,
        &[
            json!({"type":"nope","messageId":"m1"}),
            json!({"type":"track","messageId":"m1","userId":"u","event":"E"}),
            json!({"type":"alias","messageId":"m2","integrations":{"Planhat":false}}),
            json!({"type":"page","messageId":"m3","integrations":{"Planhat":false}}),
            json!({"type":"page","messageId":"m4"}),
            json!({"type":"track","messageId":"m5","event":"E","integrations":{"All":false}}),
            json!({"type":"track","messageId":"m6","event":"E"}),
            json!({"type":"track","messageId":"m7","userId":"u","timestamp":"bad"}),
        ],
    );
    assert_eq!(
        out,
        [
            json!("unknown_type"),
            json!("duplicate"),
            json!("unsupported_type"),
            json!("disabled_by_integrations"),
            json!("filtered"),
            json!("disabled_by_integrations"),
            json!("no_identity"),
            json!("bad_timestamp"),
        ]
    );
}

#[test]
fn skipped_messages_teach_nothing() {
    let out = run(
        options(false),
        &[
            json!({"type":"group","messageId":"g","userId":"u1","groupId":"c1"}),
            json!({"type":"group","messageId":"g","userId":"u1","groupId":"c2"}),
            json!({"type":"group","userId":"u1","groupId":"c3","integrations":{"Planhat":false}}),
            json!({"type":"track","userId":"u1","event":"E"}),
        ],
    );
    assert_eq!(out[1], json!("duplicate"));
    assert_eq!(out[2], json!("disabled_by_integrations"));
    assert_eq!(out[3]["item"]["cId"], "c1");
}

#[test]
fn ignore_integrations_sends_disabled_messages() {
    let opts = Options {
        ignore_integrations: true,
        ..options(false)
    };
    let out = one(
        opts,
        json!({"type":"track","userId":"u","event":"E","integrations":{"Planhat":false}}),
    );
    assert_eq!(out["route"], "activity");
}

#[test]
fn since_and_until_filter_by_event_time() {
    let at = |t: &str| EventTime::parse_str(t).unwrap();
    let filters = Filters {
        since: Some(at("2024-01-01")),
        until: Some(at("2024-02-01")),
        ..Filters::default()
    };
    let out = run(
        Options {
            filters,
            ..options(false)
        },
        &[
            json!({"type":"track","userId":"u","event":"E","timestamp":"2023-12-31T23:59:59Z"}),
            json!({"type":"track","userId":"u","event":"E","timestamp":"2024-01-15T00:00:00Z"}),
            json!({"type":"track","userId":"u","event":"E","timestamp":"2024-02-01T00:00:00Z"}),
        ],
    );
    assert_eq!(out[0], json!("filtered"));
    assert_eq!(out[1]["route"], "activity");
    assert_eq!(out[2], json!("filtered"));
}

#[test]
fn source_label_can_change_or_disappear() {
    let msg = json!({"type":"track","userId":"u","event":"E"});
    let custom = Options {
        source_label: Some("Backfill".into()),
        ..options(false)
    };
    assert_eq!(one(custom, msg.clone())["item"]["source"], "Backfill");
    let none = Options {
        source_label: None,
        ..options(false)
    };
    assert!(one(none, msg)["item"].get("source").is_none());
}

#[test]
fn dedupe_window_zero_sends_repeats() {
    let msg = json!({"type":"track","messageId":"m","userId":"u","event":"E"});
    let out = run(
        Options {
            dedupe_window: 0,
            ..options(false)
        },
        &[msg.clone(), msg],
    );
    assert_eq!(out[1]["route"], "activity");
}

#[test]
fn numeric_ids_are_text_everywhere() {
    let out = one(
        options(false),
        json!({"type":"track","userId":42.0,"event":"E","context":{"groupId":7}}),
    );
    assert_eq!(out["item"]["externalId"], "42");
    assert_eq!(out["item"]["cId"], "7");
}

#[test]
fn a_boolean_user_id_is_no_identity() {
    assert_eq!(
        one(
            options(false),
            json!({"type":"track","userId":true,"event":"E"})
        ),
        json!("no_identity")
    );
}

#[test]
fn a_20_kb_property_value_is_passed_through() {
    let big = "é".repeat(10_000);
    let out = one(
        options(false),
        json!({"type":"track","userId":"u","event":"E","properties":{"blob":big}}),
    );
    assert_eq!(
        out["item"]["info"]["blob"].as_str().map(str::len),
        Some(20_000)
    );
}

fn with_rules(text: &str, profiles: bool) -> Options {
    Options {
        rules: rules::Rules::parse(text).expect("test rules parse"),
        ..options(profiles)
    }
}

#[test]
fn a_dropped_event_is_filtered_before_any_identity_check() {
    let opts = with_rules(
        "[events]\n\"Application Opened\" = { drop = true }\n",
        false,
    );
    let out = one(
        opts,
        json!({"type":"track","anonymousId":"a","event":"Application Opened"}),
    );
    assert_eq!(out, json!("filtered"));
}

#[test]
fn integrations_are_checked_before_the_mapping_file() {
    let opts = with_rules("[events]\n\"E\" = { drop = true }\n", false);
    let out = one(
        opts,
        json!({"type":"track","userId":"u","event":"E","integrations":{"Planhat":false}}),
    );
    assert_eq!(out, json!("disabled_by_integrations"));
}

#[test]
fn event_rules_rename_and_weigh_track_and_view_actions() {
    let opts = with_rules(
        "[events]\n\"Signed In\" = { action = \"Logged in\", weight = 2 }\n\"Viewed * Page\" = { weight = 0.25 }\n\"Loaded a Screen\" = { action = \"Opened the app\" }\n",
        false,
    );
    let out = run(
        opts,
        &[
            json!({"type":"track","userId":"u","event":"Signed In"}),
            json!({"type":"page","userId":"u","name":"Home"}),
            json!({"type":"screen","userId":"u"}),
            json!({"type":"track","userId":"u","event":"Other"}),
        ],
    );
    assert_eq!(out[0]["item"]["action"], "Logged in");
    assert_eq!(out[0]["item"]["weight"], json!(2));
    assert_eq!(out[1]["item"]["weight"], json!(0.25));
    assert_eq!(out[2]["item"]["action"], "Opened the app");
    assert!(out[2]["item"].get("weight").is_none());
    assert!(out[3]["item"].get("weight").is_none());
}

#[test]
fn rule_hits_count_the_messages_each_rule_applied_to() {
    let mut mapper = Mapper::new(with_rules(
        "[events]\n\"A\" = { weight = 1 }\n\"B*\" = { drop = true }\n",
        false,
    ));
    for event in ["A", "B1", "B2", "C"] {
        let m = message(json!({"type":"track","userId":"u","event":event}));
        mapper.map(&m);
    }
    assert_eq!(mapper.rule_hits().1.events, [1, 2]);
}

#[test]
fn a_shard_keeps_only_its_users_and_a_group_call_goes_to_its_group_ids_shard() {
    let of = |index| Shard { index, count: 2 };
    let shard = |index| Options {
        shard: Some(of(index)),
        ..options(false)
    };
    // A company whose shard is not its user's, found, not assumed.
    let group_id = (0..)
        .map(|i| format!("c{i}"))
        .find(|id| of(0).owns(id.as_bytes()) != of(0).owns(b"a"))
        .unwrap();
    let messages = [
        json!({"type":"group","userId":"a","groupId":group_id}),
        json!({"type":"track","userId":"a","event":"E"}),
        json!({"type":"track","userId":"b","event":"E"}),
    ];
    let kept: Vec<Vec<bool>> = (0..2)
        .map(|k| {
            run(shard(k), &messages)
                .iter()
                .map(|o| *o != json!("other_shard"))
                .collect()
        })
        .collect();
    for (i, (first, second)) in kept[0].iter().zip(&kept[1]).enumerate() {
        assert!(first ^ second, "message {i} belongs to exactly one shard");
    }
    for (k, kept) in kept.iter().enumerate() {
        let k = k as u64;
        assert_eq!(
            kept[0],
            of(k).owns(group_id.as_bytes()),
            "the group id's shard"
        );
        assert_eq!(kept[1], of(k).owns(b"a"), "a's event in a's shard");
        assert_ne!(kept[0], kept[1], "not its user's shard");
    }
}

#[test]
fn receiver_mode_forwards_every_type_it_sends() {
    let opts = Options {
        receiver: true,
        ..options(true)
    };
    let out = run(
        opts,
        &[
            json!({"type":"identify","userId":"u","traits":{"email":"u@x.io"}}),
            json!({"type":"group","groupId":"g"}),
            json!({"type":"screen","userId":"u","name":"Home"}),
            json!({"type":"alias","userId":"u","previousId":"a"}),
        ],
    );
    assert_eq!(out[0]["route"], "receiver");
    assert_eq!(out[0]["item"]["user_id"], "u");
    assert_eq!(out[1]["item"]["traits"], json!({"companyId":"g"}));
    assert_eq!(out[2]["item"]["type"], "track");
    assert_eq!(out[2]["item"]["event"], "Viewed Home Screen");
    assert_eq!(out[3], json!("unsupported_type"));
}

fn stitched(receiver: bool) -> Options {
    Options {
        stitch: Stitch::On,
        receiver,
        ..options(false)
    }
}

#[test]
fn stitching_maps_a_linked_anonymous_message_as_if_its_user_id_were_the_link() {
    let out = run(
        stitched(false),
        &[
            // Learned before the checks: a disabled message links too.
            json!({"type":"track","userId":"u1","anonymousId":"a1","event":"Off","integrations":{"Planhat":false}}),
            json!({"type":"group","userId":"u1","groupId":"acme"}),
            json!({"type":"page","anonymousId":"a1","name":"Home","context":{"traits":{"name":"Ana"}}}),
            json!({"type":"alias","previousId":"a2","userId":"b@x.io"}),
            json!({"type":"track","anonymousId":"a2","event":"E","context":{"groupId":"ctx"}}),
            json!({"type":"screen","anonymousId":"a3"}),
            json!({"type":"track","anonymousId":"a1","event":"Mine","context":{"traits":{"email":"own@x.io"}}}),
        ],
    );
    assert_eq!(out[0], json!("disabled_by_integrations"));
    assert_eq!(
        out[2]["item"],
        json!({"externalId":"u1","id":"u1","name":"Ana","companyExternalId":"acme","cId":"acme",
               "action":"Viewed Home Page","info":{"name":"Home"},"source":"Segment"}),
        "the company remembered for the linked user"
    );
    assert_eq!(out[3], json!("unsupported_type"));
    assert_eq!(out[4]["item"]["externalId"], "b@x.io");
    assert_eq!(
        out[4]["item"]["email"], "b@x.io",
        "a linked id that looks like an email is the email too"
    );
    assert_eq!(out[4]["item"]["cId"], "ctx");
    assert_eq!(out[5], json!("anonymous"), "never linked");
    assert_eq!(
        out[6]["item"]["email"], "own@x.io",
        "a message with an email is not stitched"
    );
    assert_eq!(out[6]["item"].get("externalId"), None);
}

#[test]
fn a_stitched_identify_teaches_the_company_under_the_linked_id() {
    let out = run(
        stitched(false),
        &[
            json!({"type":"identify","userId":"u1","anonymousId":"a1"}),
            json!({"type":"identify","anonymousId":"a1","traits":{"companyId":"acme"}}),
            json!({"type":"track","userId":"u1","event":"E"}),
        ],
    );
    assert_eq!(out[1]["item"]["externalId"], "u1");
    assert_eq!(out[2]["item"]["cId"], "acme");
}

#[test]
fn stitching_in_receiver_mode_sets_user_id_to_the_link() {
    let out = run(
        stitched(true),
        &[
            json!({"type":"identify","userId":"u1","anonymousId":"a1"}),
            json!({"type":"page","anonymousId":"a1","name":"Home"}),
        ],
    );
    assert_eq!(out[1]["item"]["user_id"], "u1");
    assert_eq!(
        out[1]["item"]["anonymousId"], "a1",
        "the message as received"
    );
    assert_eq!(out[1]["item"].get("userId"), None);
}

#[test]
fn with_stitching_a_persons_anonymous_events_share_their_shard() {
    let messages: Vec<Value> = (0..40)
        .flat_map(|i| {
            [
                json!({"type":"page","anonymousId":format!("a{i}"),"name":"P"}),
                json!({"type":"identify","anonymousId":format!("a{i}"),"userId":format!("u{i}")}),
            ]
        })
        .collect();
    let shard = |index| Options {
        shard: Some(Shard { index, count: 2 }),
        ..stitched(false)
    };
    // Links are learned from every message, this shard's or not; a second
    // mapper stands for the first pass.
    let kept = |index| {
        let mut mapper = Mapper::new(shard(index));
        let parsed: Vec<Message> = messages.iter().cloned().map(message).collect();
        parsed.iter().for_each(|m| mapper.learn(m));
        parsed
            .iter()
            .map(|m| mapper.map(m).outcome != Outcome::OtherShard)
            .collect::<Vec<bool>>()
    };
    let (first, second) = (kept(0), kept(1));
    for i in 0..messages.len() {
        assert!(first[i] ^ second[i], "message {i} in exactly one shard");
    }
    for pair in first.chunks(2) {
        assert_eq!(pair[0], pair[1], "anonymous view and login in one shard");
    }
}

#[test]
fn without_stitching_links_are_not_applied() {
    let out = run(
        options(false),
        &[
            json!({"type":"identify","userId":"u1","anonymousId":"a1"}),
            json!({"type":"page","anonymousId":"a1","name":"Home"}),
        ],
    );
    assert_eq!(out[1], json!("anonymous"));
}
