//! Reading the mapping file's TOML text into [`Rules`]: each section's
//! entries checked, and every mistake reported with its line and key.

use serde_json::Number;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    EventRule, FieldRule, IDENTITY_FIELDS, MetricRule, MetricValue, RuleError, Target, key_problem,
};
use crate::planhat::items::MetricModel;
use crate::segment::lookup::normal_key;

/// An entry of a table keyed by event name (`[events]`, `[metrics]`): its
/// key, checked, its place, and its settings.
struct Keyed<'t, 'l> {
    name: String,
    value: &'t Spanned<DeValue<'t>>,
    settings: &'t DeTable<'t>,
    label: String,
    line_of: &'l dyn Fn(usize) -> usize,
}

impl Keyed<'_, '_> {
    /// A configuration error at `at`, naming the entry's key and `suffix`.
    fn fail(&self, at: &Spanned<DeValue>, suffix: &str, message: &str) -> RuleError {
        RuleError {
            line: (self.line_of)(at.span().start),
            key: format!("{}{suffix}", self.label),
            message: message.to_owned(),
        }
    }
}

/// The entries of the table `[section]`, each a table of settings shaped
/// like `example`; the first key or entry that is not is an error.
fn keyed<'t, 'l>(
    table: &'t DeTable<'t>,
    section: &str,
    example: &str,
    line_of: &'l dyn Fn(usize) -> usize,
) -> Result<Vec<Keyed<'t, 'l>>, RuleError> {
    let mut entries = Vec::new();
    for (key, value) in table {
        let name = key.get_ref().to_string();
        let label = format!("[{section}] {name:?}");
        let error = |message: &str| RuleError {
            line: line_of(value.span().start),
            key: label.clone(),
            message: message.to_owned(),
        };
        if let Some(problem) = key_problem(&name) {
            return Err(error(problem));
        }
        let DeValue::Table(settings) = value.get_ref() else {
            return Err(error(&format!("must be a table such as {example}")));
        };
        entries.push(Keyed {
            name,
            value,
            settings,
            label,
            line_of,
        });
    }
    Ok(entries)
}

pub(super) fn events(
    table: &DeTable,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<EventRule>, RuleError> {
    let example = "{ action = \"...\", weight = 2 } or { drop = true }";
    let mut rules = Vec::new();
    for keyed in keyed(table, "events", example, line_of)? {
        let fail =
            |at: &Spanned<DeValue>, suffix: &str, message: &str| keyed.fail(at, suffix, message);
        let (name, value, entry) = (&keyed.name, keyed.value, keyed.settings);
        let mut rule = EventRule {
            key: name.clone(),
            action: None,
            weight: None,
            drop: false,
        };
        for (field, setting) in entry {
            let suffix = format!(".{}", field.get_ref());
            match (field.get_ref().as_ref(), setting.get_ref()) {
                ("action", DeValue::String(action)) if !action.is_empty() => {
                    rule.action = Some(action.to_string())
                }
                ("action", _) => return Err(fail(setting, &suffix, "must be a non-empty string")),
                ("weight", number) => {
                    rule.weight = Some(
                        positive_number(number)
                            .ok_or_else(|| fail(setting, &suffix, "must be a positive number"))?,
                    );
                }
                ("drop", DeValue::Boolean(drop)) => rule.drop = *drop,
                ("drop", _) => return Err(fail(setting, &suffix, "must be true or false")),
                (other, _) => {
                    return Err(fail(
                        setting,
                        &format!(".{other}"),
                        "unknown key; an event entry holds action, weight and drop",
                    ));
                }
            }
        }
        if rule.drop && (rule.action.is_some() || rule.weight.is_some()) {
            return Err(fail(
                value,
                "",
                "drop = true cannot be combined with action or weight",
            ));
        }
        if !rule.drop && rule.action.is_none() && rule.weight.is_none() {
            return Err(fail(
                value,
                "",
                "sets nothing: give action, weight or drop = true",
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// A TOML number above zero, kept as written.
fn positive_number(value: &DeValue) -> Option<Number> {
    number(value).filter(|n| n.as_f64().is_some_and(|n| n > 0.0))
}

/// A finite TOML number, kept as written: `5` stays an integer, `0.5` a
/// float.
fn number(value: &DeValue) -> Option<Number> {
    match value {
        DeValue::Integer(integer) => {
            let digits = integer.as_str().replace('_', "");
            i64::from_str_radix(&digits, integer.radix())
                .ok()
                .map(Number::from)
        }
        DeValue::Float(float) => {
            let n: f64 = float.as_str().replace('_', "").parse().ok()?;
            Number::from_f64(n)
        }
        _ => None,
    }
}

/// The longest `dimensionId` accepted (SPEC §11).
const MAX_DIMENSION: usize = 64;

pub(super) fn metrics(
    table: &DeTable,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<MetricRule>, RuleError> {
    let example = "{ dimension = \"reports_built\" }";
    let mut rules = Vec::new();
    for keyed in keyed(table, "metrics", example, line_of)? {
        let fail =
            |at: &Spanned<DeValue>, suffix: &str, message: &str| keyed.fail(at, suffix, message);
        let (value, entry) = (keyed.value, keyed.settings);
        let mut dimension = None;
        let mut metric_value = MetricValue::Fixed(Number::from(1));
        let mut model = MetricModel::Company;
        for (field, setting) in entry {
            let suffix = format!(".{}", field.get_ref());
            match (field.get_ref().as_ref(), setting.get_ref()) {
                ("dimension", DeValue::String(id)) if is_dimension_id(id) => {
                    dimension = Some(id.to_string())
                }
                ("dimension", _) => {
                    return Err(fail(
                        setting,
                        &suffix,
                        "must be 1 to 64 ASCII letters, digits or _ (Planhat's dimensionId)",
                    ));
                }
                ("value", DeValue::String(path)) => {
                    metric_value = property_path(path).ok_or_else(|| {
                        fail(
                            setting,
                            &suffix,
                            "must be a number or \"properties.<path>\" such as \"properties.seats\"",
                        )
                    })?;
                }
                ("value", number_value) => {
                    metric_value = number(number_value).map(MetricValue::Fixed).ok_or_else(|| {
                        fail(
                            setting,
                            &suffix,
                            "must be a number or \"properties.<path>\" such as \"properties.seats\"",
                        )
                    })?;
                }
                ("model", DeValue::String(name)) if name.as_ref() == "Company" => {
                    model = MetricModel::Company
                }
                ("model", DeValue::String(name)) if name.as_ref() == "EndUser" => {
                    model = MetricModel::EndUser
                }
                ("model", _) => {
                    return Err(fail(setting, &suffix, "must be \"Company\" or \"EndUser\""));
                }
                (other, _) => {
                    return Err(fail(
                        setting,
                        &format!(".{other}"),
                        "unknown key; a metric entry holds dimension, value and model",
                    ));
                }
            }
        }
        let Some(dimension) = dimension else {
            return Err(fail(
                value,
                ".dimension",
                "missing: every metric needs a dimension (Planhat's dimensionId)",
            ));
        };
        rules.push(MetricRule {
            key: keyed.name.clone(),
            dimension,
            value: metric_value,
            model,
        });
    }
    Ok(rules)
}

/// Planhat's `dimensionId`: no spaces or special characters (SPEC §11).
fn is_dimension_id(id: &str) -> bool {
    (1..=MAX_DIMENSION).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `properties.a.b` as the path `[a, b]`; `None` for any other text or an
/// empty step.
fn property_path(text: &str) -> Option<MetricValue> {
    let path: Vec<String> = text
        .strip_prefix("properties.")?
        .split('.')
        .map(str::to_owned)
        .collect();
    path.iter()
        .all(|step| !step.is_empty())
        .then_some(MetricValue::Property(path))
}

pub(super) fn fields(
    table: &DeTable,
    section: &str,
    allowed: &[(&'static str, bool)],
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<FieldRule>, RuleError> {
    let mut rules: Vec<FieldRule> = Vec::new();
    for (key, value) in table {
        let name = key.get_ref().to_string();
        let fail = |message: String| RuleError {
            line: line_of(value.span().start),
            key: format!("[{section}] {name}"),
            message,
        };
        let DeValue::String(target) = value.get_ref() else {
            return Err(fail(
                "must be a field name such as \"position\" or \"custom.Plan\"".into(),
            ));
        };
        let target = match target.strip_prefix("custom.") {
            Some("") => return Err(fail("custom. needs a field name after it".into())),
            Some(custom) => Target::Custom(custom.to_owned()),
            None if IDENTITY_FIELDS.contains(&target.as_ref()) => {
                return Err(fail(format!(
                    "{target} identifies the record and cannot be mapped"
                )));
            }
            None => match allowed.iter().find(|(field, _)| *field == target.as_ref()) {
                Some((field, list)) => Target::Field {
                    name: field,
                    list: *list,
                },
                None => {
                    let names: Vec<&str> = allowed.iter().map(|(field, _)| *field).collect();
                    return Err(fail(format!(
                        "Planhat has no field {target:?} here; use one of {} or custom.<name>",
                        names.join(", ")
                    )));
                }
            },
        };
        let normal = normal_key(&name);
        if normal.is_empty() {
            return Err(fail("a trait name needs letters or digits".into()));
        }
        if let Some(other) = rules.iter().find(|rule| rule.normal == normal) {
            return Err(fail(format!(
                "the same trait as {:?} (names are compared without case and punctuation)",
                other.key
            )));
        }
        rules.push(FieldRule {
            key: name,
            normal,
            target,
        });
    }
    Ok(rules)
}
