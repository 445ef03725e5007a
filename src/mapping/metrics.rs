//! Metrics from events (SPEC §11, `[metrics]`): a track, page or screen that
//! becomes an activity (or a receiver body) and matches a `[metrics]` entry
//! also becomes one Planhat metric item, a data point of a time series that
//! health scores are built from. This module picks the entry, reads the
//! value, finds the company or end user, and counts each entry's matches.
//!
//! Apart from [`Mapper`](super::Mapper) because a metric is made from the
//! item the mapper already built (its company, externalId and date), and so
//! that a mapping file without `[metrics]` costs the mapper nothing.
//!
//! Pure: no I/O.

use super::rule_name;
use super::rules::{MetricValue, Rules};
use crate::planhat::items::{Item, Metric, MetricModel, MetricNumber};
use crate::segment::json::Value;
use crate::segment::time::EventTime;
use crate::segment::{Kind, Message};

/// Why a matching message yields no metric; its activity is sent anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricWarning {
    /// No JSON number at the entry's `properties.<path>`.
    NoValue,
    /// No company (model `Company`) or no externalId (model `EndUser`).
    NoTarget,
}

impl MetricWarning {
    /// The warning's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            MetricWarning::NoValue => "metric_without_value",
            MetricWarning::NoTarget => "metric_without_target",
        }
    }
}

/// The `[metrics]` entries and how many messages each matched.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Only the `[metrics]` part of the mapping file.
    rules: Rules,
    hits: Vec<u64>,
}

impl Metrics {
    pub fn new(rules: &Rules) -> Metrics {
        Metrics {
            rules: Rules {
                metrics: rules.metrics.clone(),
                ..Rules::default()
            },
            hits: vec![0; rules.metrics.len()],
        }
    }

    /// The metric that `message`, mapped to `item`, also yields: `None`
    /// when it yields none (no entry matches, or it is not an activity or
    /// receiver body of a track, page or screen), a warning when an entry
    /// matches but the metric cannot be made. `time` is the message's usable
    /// event time, the receiver's date.
    pub fn metric<'a>(
        &'a mut self,
        message: &'a Message<'_>,
        item: &'a Item<'_>,
        time: Option<EventTime>,
    ) -> Option<Result<Metric<'a>, MetricWarning>> {
        if self.rules.metrics.is_empty() {
            return None;
        }
        let kind = *message.kind.as_ref().ok()?;
        if !matches!(kind, Kind::Track | Kind::Page | Kind::Screen) {
            return None;
        }
        let (company, user, date) = match item {
            Item::Activity(activity) => {
                let who = &activity.who;
                (&who.company, &who.external_id, activity.date)
            }
            Item::Receiver(forward) => (&forward.company, &forward.user_id, time),
            _ => return None,
        };
        // Matched on the name before any [events] rename, as the file says.
        let (index, rule) = self.rules.metric(&rule_name(kind, message)?)?;
        self.hits[index] += 1;
        let value = match &rule.value {
            MetricValue::Fixed(number) => MetricNumber::Fixed(number),
            MetricValue::Property(path) => match property(message, path) {
                Some(number) => MetricNumber::Event(number),
                None => return Some(Err(MetricWarning::NoValue)),
            },
        };
        let target = match rule.model {
            MetricModel::Company => company,
            MetricModel::EndUser => user,
        };
        let Some(external_id) = target.as_deref() else {
            return Some(Err(MetricWarning::NoTarget));
        };
        Some(Ok(Metric {
            dimension: &rule.dimension,
            value,
            external_id,
            model: rule.model,
            date,
        }))
    }

    /// Each entry's key and how many messages it matched, in file order.
    pub fn hits(&self) -> impl Iterator<Item = (&str, u64)> {
        let keys = self.rules.metrics.iter().map(|rule| rule.key.as_str());
        keys.zip(self.hits.iter().copied())
    }
}

/// The JSON number at `path` inside the message's `properties`, by exact
/// keys: the value itself, which keeps the number as the message holds it.
fn property<'a>(message: &'a Message<'_>, path: &[String]) -> Option<&'a Value<'a>> {
    let (last, steps) = path.split_last()?;
    let mut object = message.object("properties")?;
    for step in steps {
        object = object.get(step)?.as_object()?;
    }
    object.get(last).filter(|value| value.is_number())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value as Json, json};

    use super::*;
    use crate::mapping::{Mapper, Options, Outcome};
    use crate::segment::parse_line;

    const MAP: &str = r#"
[events]
"Report Built" = { action = "Built a report" }
"Viewed Docs Page" = { drop = true }

[metrics]
"Report Built"  = { dimension = "reports_built" }
"Seats Changed" = { dimension = "seats", value = "properties.plan.seats" }
"Signed In"     = { dimension = "logins", model = "EndUser", value = 2.5 }
"Viewed * Page" = { dimension = "page_views" }
"Viewed Reports Page" = { dimension = "report_views", value = -3 }
"#;

    /// Maps each message as a run does, and returns what its metric became:
    /// the item as JSON, the warning's name, or null for none.
    fn metrics_of(receiver: bool, messages: &[Json]) -> (Vec<Json>, Vec<u64>) {
        let rules = Rules::parse(MAP).unwrap();
        let mut metrics = Metrics::new(&rules);
        let mut mapper = Mapper::new(Options {
            rules,
            receiver,
            ..Options::default()
        });
        let mut out = Vec::new();
        let texts: Vec<String> = messages.iter().map(Json::to_string).collect();
        // One message a line.
        for parsed in texts.iter().flat_map(|text| parse_line(text.as_bytes())) {
            let message = parsed.unwrap();
            let mapped = mapper.map(&message);
            let Outcome::Send(item) = &mapped.outcome else {
                out.push(Json::Null);
                continue;
            };
            out.push(match metrics.metric(&message, item, mapped.time) {
                None => Json::Null,
                Some(Ok(metric)) => serde_json::to_value(Item::Metric(metric)).unwrap(),
                Some(Err(warning)) => json!(warning.name()),
            });
        }
        (out, metrics.hits().map(|(_, n)| n).collect())
    }

    fn one(message: Json) -> Json {
        metrics_of(false, &[message]).0.remove(0)
    }

    #[test]
    fn a_matching_track_yields_one_metric_on_its_company_matched_before_the_rename() {
        let out = one(json!({"type":"track","userId":"u1","event":"Report Built",
            "timestamp":"2024-03-01T12:00:00Z","context":{"groupId":"acct_9"}}));
        assert_eq!(
            out,
            json!({"dimensionId":"reports_built","value":1,"externalId":"acct_9",
                   "model":"Company","date":"2024-03-01T12:00:00.000Z"})
        );
    }

    #[test]
    fn the_value_comes_from_a_dotted_property_path_as_written() {
        let seats = |properties: Json| {
            one(json!({"type":"track","userId":"u1","event":"Seats Changed",
                "properties":properties,"context":{"groupId":"acct_9"}}))
        };
        assert_eq!(seats(json!({"plan":{"seats":12}}))["value"], json!(12));
        assert_eq!(
            seats(json!({"plan":{"seats":12.75}}))["value"],
            json!(12.75)
        );
        assert_eq!(seats(json!({"plan":{"seats":-1}}))["value"], json!(-1));
        let no_date = seats(json!({"plan":{"seats":3}}));
        assert!(no_date.get("date").is_none(), "no time, no date: {no_date}");
        for lacking in [
            json!({"plan":{"seats":"12"}}),
            json!({"plan":{"Seats":12}}),
            json!({"plan":{"seats":null}}),
            json!({"plan":12}),
            json!({"plan.seats":12}),
            json!({}),
        ] {
            assert_eq!(
                seats(lacking.clone()),
                json!("metric_without_value"),
                "{lacking}"
            );
        }
    }

    #[test]
    fn end_user_metrics_go_to_the_external_id_with_the_fixed_value_as_written() {
        let out = one(json!({"type":"track","userId":"u1","event":"Signed In"}));
        assert_eq!(
            out,
            json!({"dimensionId":"logins","value":2.5,"externalId":"u1","model":"EndUser"})
        );
        let by_email = one(json!({"type":"track","userId":"a@x.io","event":"Signed In"}));
        assert_eq!(by_email["externalId"], "a@x.io");
        let email_only = one(json!({"type":"track","event":"Signed In",
            "context":{"traits":{"email":"a@x.io"}}}));
        assert_eq!(email_only, json!("metric_without_target"));
    }

    #[test]
    fn no_company_is_a_warning_not_a_metric() {
        let out = one(json!({"type":"track","userId":"u1","event":"Report Built"}));
        assert_eq!(out, json!("metric_without_target"));
    }

    #[test]
    fn views_match_by_action_exact_before_pattern() {
        let (out, hits) = metrics_of(
            false,
            &[
                json!({"type":"page","userId":"u1","name":"Reports","context":{"groupId":"c"}}),
                json!({"type":"page","userId":"u1","name":"Pricing","context":{"groupId":"c"}}),
                json!({"type":"screen","userId":"u1","name":"Home","context":{"groupId":"c"}}),
            ],
        );
        assert_eq!(out[0]["dimensionId"], "report_views");
        assert_eq!(out[0]["value"], json!(-3));
        assert_eq!(out[1]["dimensionId"], "page_views");
        assert_eq!(out[2], Json::Null, "Viewed Home Screen matches no entry");
        assert_eq!(hits, [0, 0, 0, 1, 1]);
    }

    #[test]
    fn dropped_skipped_rejected_and_profile_messages_yield_none() {
        let (out, hits) = metrics_of(
            false,
            &[
                json!({"type":"page","userId":"u1","name":"Docs","context":{"groupId":"c"}}),
                json!({"type":"track","event":"Report Built","anonymousId":"a"}),
                json!({"type":"track","userId":"u1","event":"Report Built","timestamp":"soon"}),
                json!({"type":"identify","userId":"u1","event":"Report Built"}),
                json!({"type":"group","userId":"u1","groupId":"c"}),
            ],
        );
        assert_eq!(out, vec![Json::Null; 5]);
        assert_eq!(
            hits, [0; 5],
            "no entry matched a message that yields no activity"
        );
    }

    #[test]
    fn receiver_bodies_yield_metrics_too_dated_by_the_event() {
        let (out, _) = metrics_of(
            true,
            &[json!({"type":"track","userId":"u1","event":"Report Built",
                "timestamp":"2024-03-01T12:00:00Z","context":{"groupId":"acct_9"}})],
        );
        assert_eq!(
            out[0],
            json!({"dimensionId":"reports_built","value":1,"externalId":"acct_9",
                   "model":"Company","date":"2024-03-01T12:00:00.000Z"})
        );
    }
}
