//! The policy checks that decide, before any mapping, whether a message is
//! sent at all (SPEC §5.5): the `integrations` switches and the
//! `--types`/`--since`/`--until` filters (the dedupe window is in
//! [`dedupe`](super::dedupe)), and the shards of §10.
//!
//! Pure: no I/O.

use crate::segment::json::{Object, Value};

use crate::fnv::fnv1a64;
use crate::segment::time::EventTime;
use crate::segment::{Kind, Message};

/// Whether the message's `integrations` object leaves Planhat on (SPEC §5.5):
/// `Planhat` (exact key, else a case-insensitive match) decides when it is a
/// boolean and an object means on; otherwise `All` (or `all`) decides when it
/// is a boolean; otherwise on.
pub fn planhat_enabled(message: &Message) -> bool {
    let Some(integrations) = message.object("integrations") else {
        return true;
    };
    let planhat = integrations.get("Planhat").or_else(|| {
        integrations
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("planhat"))
            .map(|(_, value)| value)
    });
    match planhat {
        Some(Value::Bool(on)) => *on,
        Some(Value::Object(_)) => true,
        _ => all_switch(integrations).unwrap_or(true),
    }
}

fn all_switch(integrations: &Object<'_>) -> Option<bool> {
    ["All", "all"]
        .iter()
        .find_map(|key| integrations.get(key).and_then(Value::as_bool))
}

/// One of N shards of the input (SPEC §10): a message belongs to shard
/// `index` when the FNV-1a 64 hash of its identity's UTF-8 bytes, modulo
/// `count`, is `index`. The hash never changes, so every machine and
/// version agrees on the split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Counted from 0, as Kubernetes' JOB_COMPLETION_INDEX is.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Reads `K/N`, with 0 ≤ K < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let usage = || {
            format!(
                "{text:?} is not K/N: give this shard's number K (from 0) and the count N, as 0/3"
            )
        };
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: u64 = index.trim().parse().map_err(|_| usage())?;
        let count: u64 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count} does not exist: K counts from 0 and must be below N"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the message with this identity belongs to this shard.
    pub fn owns(&self, identity: &[u8]) -> bool {
        fnv1a64(identity) % self.count == self.index
    }
}

/// The `--types`, `--since` and `--until` filters (SPEC §5.5).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    /// The types to keep; `None` keeps all.
    pub types: Option<Vec<Kind>>,
    /// Keep events at or after this time.
    pub since: Option<EventTime>,
    /// Keep events before this time.
    pub until: Option<EventTime>,
}

impl Filters {
    /// Whether a message of `kind` at `time` is filtered out. A message whose
    /// time is unknown (absent or unparseable) is never filtered by time:
    /// it cannot be placed outside the window, and dropping it silently
    /// would lose data; the timestamp check that follows reports it.
    pub fn excludes(&self, kind: Kind, time: Option<EventTime>) -> bool {
        if let Some(types) = &self.types
            && !types.contains(&kind)
        {
            return true;
        }
        match time {
            Some(time) => {
                self.since.is_some_and(|since| time < since)
                    || self.until.is_some_and(|until| time >= until)
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_line;

    fn message(line: &str) -> Message<'_> {
        parse_line(line.as_bytes())
            .next()
            .expect("a line has a message")
            .expect("test line parses")
    }

    fn enabled(integrations: &str) -> bool {
        planhat_enabled(&message(&format!(
            r#"{{"type":"track","integrations":{integrations}}}"#
        )))
    }

    #[test]
    fn integrations_truth_table() {
        let cases = [
            ("null", true),
            ("{}", true),
            (r#"{"Planhat":false}"#, false),
            (r#"{"Planhat":true}"#, true),
            (r#"{"Planhat":{"opt":1}}"#, true),
            (r#"{"planhat":false}"#, false),
            (r#"{"PLANHAT":false,"All":true}"#, false),
            (r#"{"Planhat":true,"planhat":false}"#, true),
            (r#"{"All":false}"#, false),
            (r#"{"all":false}"#, false),
            (r#"{"All":true}"#, true),
            (r#"{"All":false,"Planhat":true}"#, true),
            (r#"{"All":true,"Planhat":false}"#, false),
            (r#"{"All":false,"Planhat":{}}"#, true),
            (r#"{"All":false,"Planhat":null}"#, false),
            (r#"{"All":false,"Planhat":0}"#, false),
            (r#"{"All":false,"Planhat":"yes"}"#, false),
            (r#"{"All":"no","Planhat":null}"#, true),
            (r#"{"Salesforce":false}"#, true),
            ("\"text\"", true),
        ];
        for (integrations, expected) in cases {
            assert_eq!(enabled(integrations), expected, "{integrations}");
        }
    }

    #[test]
    fn shards_are_read_from_k_slash_n() {
        assert_eq!(Shard::parse("0/3"), Ok(Shard { index: 0, count: 3 }));
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "1", "a/3", "-1/3", "1/3/4", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_identity_belongs_to_exactly_one_shard_and_the_split_is_stable() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for id in ["u_1", "u_2", "ana@x.io", "", "🚀"] {
            assert_eq!(
                shards.iter().filter(|s| s.owns(id.as_bytes())).count(),
                1,
                "{id}"
            );
        }
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c: fixed forever.
        assert_eq!(0xaf63_dc4c_8601_ec8c_u64 % 3, 1);
        assert!(shards[1].owns(b"a"));
    }

    #[test]
    fn filters_keep_types_and_a_half_open_time_window() {
        let at = |text: &str| EventTime::parse_str(text).expect("test time parses");
        let filters = Filters {
            types: Some(vec![Kind::Track, Kind::Identify]),
            since: Some(at("2024-01-01")),
            until: Some(at("2024-02-01")),
        };
        assert!(filters.excludes(Kind::Page, Some(at("2024-01-10"))));
        assert!(!filters.excludes(Kind::Track, Some(at("2024-01-01"))));
        assert!(filters.excludes(Kind::Track, Some(at("2023-12-31T23:59:59.999Z"))));
        assert!(filters.excludes(Kind::Track, Some(at("2024-02-01"))));
        assert!(!filters.excludes(Kind::Track, None));
        assert!(!Filters::default().excludes(Kind::Alias, None));
    }
}
