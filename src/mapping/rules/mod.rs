//! The mapping file (`--map`, SPEC §11): per-event actions, weights and
//! drops, trait → field mappings for end-user and company upserts, and
//! event → metric entries (`[metrics]`). This module holds the rules and
//! answers the mapping's questions; [`file`] reads them from the TOML text,
//! finding every mistake before any input is read, with its line and key;
//! [`value`] gives a mapped trait's value for its field.
//!
//! Pure: the caller reads the file.

mod file;
mod value;

use serde_json::Number;
use toml::de::{DeTable, DeValue};

use crate::planhat::items::MetricModel;
use file::{events, fields, metrics};
pub use value::field_value;

/// A mistake in the mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// 1-based line in the file.
    pub line: usize,
    /// The key, as `[events] "Signed In".weight`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.line, self.message)
        } else {
            write!(f, "{}: {}: {}", self.line, self.key, self.message)
        }
    }
}

/// What an `[events]` entry does.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRule {
    /// The key as written: an event name, an action, or a `*` pattern.
    pub key: String,
    pub action: Option<String>,
    /// As written: `5` stays an integer, `0.5` a float.
    pub weight: Option<Number>,
    pub drop: bool,
}

/// Where a mapped trait goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Planhat field; `list` for the fields that hold arrays.
    Field { name: &'static str, list: bool },
    /// `custom.<name>`.
    Custom(String),
}

/// One `[identify]` or `[group]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRule {
    /// The trait as written.
    pub key: String,
    /// The trait in the lookup's normal form (SPEC §5).
    pub normal: String,
    pub target: Target,
}

/// One `[metrics]` entry: a matching event also yields a metric item.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRule {
    /// The key as written, matched as `[events]` keys are.
    pub key: String,
    /// Planhat's `dimensionId`.
    pub dimension: String,
    pub value: MetricValue,
    pub model: MetricModel,
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// The same number for every event, as written.
    Fixed(Number),
    /// The JSON number at this path of the message's `properties` (the
    /// keys after `properties.`, compared exactly).
    Property(Vec<String>),
}

/// A parsed mapping file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// `Some("")` omits the source; `None` leaves the default.
    pub source_label: Option<String>,
    /// In file order, which is the order patterns are tried in.
    pub events: Vec<EventRule>,
    pub identify: Vec<FieldRule>,
    pub group: Vec<FieldRule>,
    /// In file order, which is the order patterns are tried in.
    pub metrics: Vec<MetricRule>,
}

/// Planhat's end-user fields a trait may fill (identity fields excluded).
const END_USER_FIELDS: [(&str, bool); 9] = [
    ("firstName", false),
    ("lastName", false),
    ("position", false),
    ("phone", false),
    ("tags", true),
    ("featured", false),
    ("primary", false),
    ("archived", false),
    ("otherEmails", true),
];

/// Planhat's company fields a trait may fill.
const COMPANY_FIELDS: [(&str, bool); 7] = [
    ("name", false),
    ("phase", false),
    ("status", false),
    ("domains", true),
    ("tags", true),
    ("owner", false),
    ("coOwner", false),
];

const IDENTITY_FIELDS: [&str; 4] = ["externalId", "email", "companyId", "sourceId"];

impl Rules {
    /// Parses a mapping file's text.
    pub fn parse(text: &str) -> Result<Rules, RuleError> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        let document = DeTable::parse(text).map_err(|error| RuleError {
            line: error.span().map_or(1, |span| line_of(span.start)),
            key: String::new(),
            message: error.message().trim().to_owned(),
        })?;
        let mut rules = Rules::default();
        for (key, value) in document.get_ref() {
            let fail = |key: String, message: String| RuleError {
                line: line_of(value.span().start),
                key,
                message,
            };
            match (key.get_ref().as_ref(), value.get_ref()) {
                ("source_label", DeValue::String(label)) => {
                    rules.source_label = Some(label.to_string())
                }
                ("source_label", _) => {
                    return Err(fail("source_label".into(), "must be a string".into()));
                }
                ("events", DeValue::Table(table)) => rules.events = events(table, &line_of)?,
                ("identify", DeValue::Table(table)) => {
                    rules.identify = fields(table, "identify", &END_USER_FIELDS, &line_of)?
                }
                ("group", DeValue::Table(table)) => {
                    rules.group = fields(table, "group", &COMPANY_FIELDS, &line_of)?
                }
                ("metrics", DeValue::Table(table)) => rules.metrics = metrics(table, &line_of)?,
                (name @ ("events" | "identify" | "group" | "metrics"), _) => {
                    return Err(fail(format!("[{name}]"), "must be a table".into()));
                }
                (other, _) => {
                    return Err(fail(
                        other.to_owned(),
                        "unknown key; the file holds source_label, [events], [identify], [group] and [metrics]".into(),
                    ));
                }
            }
        }
        Ok(rules)
    }

    /// The `[events]` rule for a track event name or a page/screen action:
    /// an exact key first, else the first pattern in file order. Returns
    /// its index too, for counting.
    pub fn event(&self, name: &str) -> Option<(usize, &EventRule)> {
        let index = select(self.events.iter().map(|rule| rule.key.as_str()), name)?;
        Some((index, &self.events[index]))
    }

    /// The `[metrics]` entry for a track event name or a page/screen action,
    /// chosen as [`Rules::event`] chooses, with its index.
    pub fn metric(&self, name: &str) -> Option<(usize, &MetricRule)> {
        let index = select(self.metrics.iter().map(|rule| rule.key.as_str()), name)?;
        Some((index, &self.metrics[index]))
    }
}

/// The index of the key that `name` selects among `keys` (in file order): an
/// exact key first, else the first pattern that matches.
fn select<'k>(keys: impl Iterator<Item = &'k str> + Clone, name: &str) -> Option<usize> {
    let mut keys = keys.enumerate();
    let exact = keys
        .clone()
        .find(|(_, key)| !key.contains('*') && *key == name);
    exact
        .or_else(|| keys.find(|(_, key)| key.contains('*') && glob_matches(key, name)))
        .map(|(index, _)| index)
}

/// Why an `[events]` or `[metrics]` key can match nothing useful, if it
/// cannot.
fn key_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty event name matches nothing")
    } else if name.contains("**") {
        Some("bad pattern: use a single * for any run of characters")
    } else {
        None
    }
}

/// Whether `name` matches `pattern`, where `*` is any run of characters.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn mapped(value: Value, target: &Target) -> Option<Value> {
        let text = value.to_string();
        let value = crate::segment::json::parse(text.as_bytes()).unwrap();
        field_value(&value, target)
    }

    const EXAMPLE: &str = r#"source_label = "Segment"          # §5.2 source; "" omits it

[events]
"Signed In"            = { action = "Logged in" }
"Report Built"         = { weight = 5 }
"Application Backgrounded" = { drop = true }
"Viewed * Page"        = { weight = 0.5 }
"Viewed Reports Page"  = { action = "Opened Reports", weight = 2 }
"*"                    = { weight = 1 }

[identify]
job_title = "position"
plan      = "custom.Plan"

[group]
arr       = "custom.ARR"
domain    = "domains"
"#;

    fn error(text: &str) -> RuleError {
        Rules::parse(text).expect_err("the file is refused")
    }

    #[test]
    fn the_spec_example_parses() {
        let rules = Rules::parse(EXAMPLE).unwrap();
        assert_eq!(rules.source_label.as_deref(), Some("Segment"));
        assert_eq!(rules.events.len(), 6);
        assert_eq!(rules.events[1].weight, Some(Number::from(5)));
        assert_eq!(rules.events[3].weight, Number::from_f64(0.5));
        assert!(rules.events[2].drop);
        assert_eq!(
            rules.identify[0].target,
            Target::Field {
                name: "position",
                list: false
            }
        );
        assert_eq!(rules.identify[1].target, Target::Custom("Plan".into()));
        assert_eq!(
            rules.group[1].target,
            Target::Field {
                name: "domains",
                list: true
            }
        );
        assert_eq!(rules.group[1].normal, "domain");
    }

    #[test]
    fn exact_names_win_over_patterns_and_patterns_go_in_file_order() {
        let rules = Rules::parse(EXAMPLE).unwrap();
        let action = |name: &str| rules.event(name).map(|(i, _)| rules.events[i].key.clone());
        assert_eq!(
            action("Viewed Reports Page").as_deref(),
            Some("Viewed Reports Page")
        );
        assert_eq!(action("Viewed Docs Page").as_deref(), Some("Viewed * Page"));
        assert_eq!(action("Viewed  Page").as_deref(), Some("Viewed * Page"));
        assert_eq!(action("Report Built").as_deref(), Some("Report Built"));
        assert_eq!(
            action("report built").as_deref(),
            Some("*"),
            "names are case-sensitive"
        );
        assert_eq!(action("Loaded a Screen").as_deref(), Some("*"));
    }

    #[test]
    fn glob_matches_any_run_including_none() {
        assert!(glob_matches("Viewed * Page", "Viewed Docs Page"));
        assert!(glob_matches("Viewed *Page", "Viewed Page"));
        assert!(glob_matches("*Built", "Report Built"));
        assert!(glob_matches("Order*", "Order"));
        assert!(glob_matches("a*b*c", "a-b-b-c"));
        assert!(!glob_matches("a*b*c", "a-c-b"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert!(!glob_matches("Viewed * Page", "Viewed Docs Screen"));
    }

    #[test]
    fn configuration_errors_name_the_line_and_key() {
        let e = error("[events]\n\"A\" = { weight = 0 }\n");
        assert_eq!((e.line, e.key.as_str()), (2, "[events] \"A\".weight"));
        assert!(e.message.contains("positive"));
        let e = error("[events]\n\"A\" = { weight = -1.5 }\n");
        assert!(e.message.contains("positive"), "{e}");
        let e = error("[events]\n\"A\" = { wieght = 2 }\n");
        assert_eq!(e.key, "[events] \"A\".wieght");
        let e = error("source_label = \"x\"\n\n[identify]\njob = \"jobTitle\"\n");
        assert_eq!((e.line, e.key.as_str()), (4, "[identify] job"));
        assert!(e.message.contains("position"), "{e}");
        let e = error("[identify]\nmail = \"email\"\n");
        assert!(e.message.contains("identifies"), "{e}");
        let e = error("[group]\nx = \"custom.\"\n");
        assert!(e.message.contains("custom."), "{e}");
        let e = error("[events]\n\"Viewed ** Page\" = { weight = 2 }\n");
        assert!(e.message.contains("pattern"), "{e}");
        let e = error("mapping = 1\n");
        assert_eq!((e.line, e.key.as_str()), (1, "mapping"));
        let e = error("[events]\n\"A\" = { drop = true, weight = 2 }\n");
        assert!(e.message.contains("drop"), "{e}");
        let e = error("[identify]\njob_title = \"position\"\nJobTitle = \"phone\"\n");
        assert_eq!(e.line, 3);
        let e = error("[events\n");
        assert_eq!(e.line, 1);
        assert!(!e.message.is_empty());
    }

    #[test]
    fn metrics_entries_parse_with_their_defaults() {
        let rules = Rules::parse(
            r#"
[metrics]
"Report Built"  = { dimension = "reports_built" }
"Seats Changed" = { dimension = "seats", value = "properties.plan.seats" }
"Signed In"     = { dimension = "logins", model = "EndUser", value = 0.5 }
"Refund"        = { dimension = "Refunds_2", value = -3, model = "Company" }
"#,
        )
        .unwrap();
        let m = &rules.metrics;
        assert_eq!(m.len(), 4);
        assert_eq!(
            (m[0].dimension.as_str(), &m[0].value, m[0].model),
            (
                "reports_built",
                &MetricValue::Fixed(Number::from(1)),
                MetricModel::Company
            )
        );
        assert_eq!(
            m[1].value,
            MetricValue::Property(vec!["plan".into(), "seats".into()])
        );
        assert_eq!(m[2].model, MetricModel::EndUser);
        assert_eq!(
            m[2].value,
            MetricValue::Fixed(Number::from_f64(0.5).unwrap())
        );
        assert_eq!(m[3].value, MetricValue::Fixed(Number::from(-3)));
    }

    #[test]
    fn metrics_keys_match_as_event_keys_do() {
        let rules = Rules::parse(
            "[metrics]\n\"Viewed * Page\" = { dimension = \"a\" }\n\"*\" = { dimension = \"b\" }\n\
             \"Viewed Docs Page\" = { dimension = \"c\" }\n",
        )
        .unwrap();
        let dimension = |name: &str| rules.metric(name).map(|(_, r)| r.dimension.as_str());
        assert_eq!(dimension("Viewed Docs Page"), Some("c"), "exact first");
        assert_eq!(dimension("Viewed Blog Page"), Some("a"), "first pattern");
        assert_eq!(dimension("Signed In"), Some("b"));
        assert_eq!(Rules::default().metric("Signed In"), None);
    }

    #[test]
    fn metrics_configuration_errors_name_the_line_and_key() {
        let cases = [
            (
                "\"A\" = { value = 2 }",
                "[metrics] \"A\".dimension",
                "missing",
            ),
            (
                "\"A\" = { dimension = \"\" }",
                "[metrics] \"A\".dimension",
                "1 to 64",
            ),
            (
                "\"A\" = { dimension = \"has space\" }",
                "[metrics] \"A\".dimension",
                "letters",
            ),
            (
                "\"A\" = { dimension = 5 }",
                "[metrics] \"A\".dimension",
                "letters",
            ),
            (
                "\"A\" = { dimension = \"a\", value = \"seats\" }",
                "[metrics] \"A\".value",
                "properties",
            ),
            (
                "\"A\" = { dimension = \"a\", value = \"properties.\" }",
                "[metrics] \"A\".value",
                "number",
            ),
            (
                "\"A\" = { dimension = \"a\", value = \"properties.a..b\" }",
                "[metrics] \"A\".value",
                "number",
            ),
            (
                "\"A\" = { dimension = \"a\", value = true }",
                "[metrics] \"A\".value",
                "number",
            ),
            (
                "\"A\" = { dimension = \"a\", value = nan }",
                "[metrics] \"A\".value",
                "number",
            ),
            (
                "\"A\" = { dimension = \"a\", model = \"Asset\" }",
                "[metrics] \"A\".model",
                "EndUser",
            ),
            (
                "\"A\" = { dimension = \"a\", model = \"company\" }",
                "[metrics] \"A\".model",
                "Company",
            ),
            (
                "\"A\" = { dimension = \"a\", weight = 2 }",
                "[metrics] \"A\".weight",
                "unknown key",
            ),
            ("\"A\" = \"a\"", "[metrics] \"A\"", "table"),
            (
                "\"Viewed ** Page\" = { dimension = \"a\" }",
                "[metrics] \"Viewed ** Page\"",
                "pattern",
            ),
        ];
        for (entry, key, words) in cases {
            let e = error(&format!("source_label = \"x\"\n[metrics]\n{entry}\n"));
            assert_eq!((e.line, e.key.as_str()), (3, key), "{entry}: {e}");
            assert!(e.message.contains(words), "{entry}: {e}");
        }
        let long = "d".repeat(65);
        let e = error(&format!(
            "[metrics]\n\"A\" = {{ dimension = \"{long}\" }}\n"
        ));
        assert!(e.message.contains("64"), "{e}");
        assert!(
            Rules::parse(&format!(
                "[metrics]\n\"A\" = {{ dimension = \"{}\" }}\n",
                &long[1..]
            ))
            .is_ok()
        );
        let e = error("metrics = 1\n");
        assert_eq!(e.key, "[metrics]");
    }

    #[test]
    fn mapped_values_fit_their_target() {
        let list = Target::Field {
            name: "tags",
            list: true,
        };
        let plain = Target::Field {
            name: "position",
            list: false,
        };
        let custom = Target::Custom("X".into());
        assert_eq!(mapped(json!("a"), &list), Some(json!(["a"])));
        assert_eq!(mapped(json!(["a", "b"]), &list), Some(json!(["a", "b"])));
        assert_eq!(mapped(json!("CFO"), &plain), Some(json!("CFO")));
        assert_eq!(mapped(json!({"a": 1}), &custom), Some(json!("{\"a\":1}")));
        assert_eq!(
            mapped(json!([1, {"a": 1}]), &custom),
            Some(json!("[1,{\"a\":1}]"))
        );
        assert_eq!(mapped(json!(12), &custom), Some(json!(12)));
        assert_eq!(mapped(json!(""), &custom), None);
        assert_eq!(mapped(json!([]), &list), None);
    }
}
