//! Profile upserts (SPEC §5.3, §5.4, §11): identify traits → an end-user
//! item, group traits → a company item, the flattening of the remaining
//! traits into Planhat's one-level `custom` object, and the mapping file's
//! trait → field rules, which take a trait and a field away from their
//! default use.
//!
//! Pure: no I/O.

use serde_json::Map;

use crate::segment::json::{Object, Value};

use super::rules::{FieldRule, Target, field_value};
use crate::planhat::items::{Company, EndUser, Who};
use crate::segment::lookup::{find, normal_key, same_key, text};

/// Traits that never go to `custom`, used or not (SPEC §5.3), in normal form.
const RESERVED_USER_TRAITS: [&str; 9] = [
    "email",
    "name",
    "firstname",
    "lastname",
    "title",
    "phone",
    "userid",
    "id",
    "companyid",
];

/// The traits of one upsert seen through the mapping file's rules.
struct Mapped<'m, 'r> {
    traits: Option<&'m Object<'m>>,
    rules: &'r [FieldRule],
}

impl<'m> Mapped<'m, '_> {
    /// Whether a rule takes this trait (any spelling) to a field of its own.
    fn is_ruled(&self, key: &str) -> bool {
        self.rules.iter().any(|rule| same_key(key, &rule.normal))
    }

    /// The default text for `field` from trait `trait_key`, unless a rule
    /// takes the trait elsewhere or fills the field from another trait.
    fn default_text(&self, field: &str, trait_key: &str) -> Option<&'m str> {
        let targeted = self
            .rules
            .iter()
            .any(|rule| matches!(rule.target, Target::Field { name, .. } if name == field));
        if targeted || self.rules.iter().any(|rule| rule.normal == trait_key) {
            return None;
        }
        text(self.traits.and_then(|t| find(t, trait_key)))
    }

    /// Applies the rules: each present trait fills its field or custom
    /// field. `hits` counts, per rule, the messages it applied to.
    fn apply(
        &self,
        fields: &mut Vec<(&'static str, serde_json::Value)>,
        custom: &mut Map<String, serde_json::Value>,
        hits: &mut [u64],
    ) {
        for (rule, hit) in self.rules.iter().zip(hits) {
            let Some(value) = self.traits.and_then(|t| find(t, &rule.normal)) else {
                continue;
            };
            let Some(value) = field_value(value, &rule.target) else {
                continue;
            };
            *hit += 1;
            match &rule.target {
                Target::Field { name, .. } => fields.push((name, value)),
                Target::Custom(name) => {
                    custom.insert(name.clone(), value);
                }
            }
        }
    }
}

/// The end-user upsert item for an identify whose identity is `who`.
pub fn end_user<'m>(
    who: Who,
    traits: Option<&'m Object<'m>>,
    source: Option<&'m str>,
    rules: &[FieldRule],
    hits: &mut [u64],
) -> EndUser<'m> {
    let mapped = Mapped { traits, rules };
    let mut custom = Map::new();
    for (key, value) in traits.into_iter().flatten() {
        let normal = normal_key(key);
        if RESERVED_USER_TRAITS.contains(&normal.as_str()) || mapped.is_ruled(key) {
            continue;
        }
        match value {
            // company.id gives companyId; the rest of company is custom.
            Value::Object(company) if normal == "company" => {
                for (inner, value) in company.iter().filter(|(k, _)| !same_key(k, "id")) {
                    flatten_into(&mut custom, format!("{key}.{inner}"), value);
                }
            }
            _ => flatten_into(&mut custom, key.to_owned(), value),
        }
    }
    let mut fields = Vec::new();
    mapped.apply(&mut fields, &mut custom, hits);
    EndUser {
        first_name: mapped.default_text("firstName", "firstname"),
        last_name: mapped.default_text("lastName", "lastname"),
        position: mapped.default_text("position", "title"),
        phone: mapped.default_text("phone", "phone"),
        fields,
        who,
        source,
        custom,
    }
}

/// The company upsert item for a group call with `group_id`.
pub fn company<'m>(
    group_id: String,
    traits: Option<&'m Object<'m>>,
    source: Option<&'m str>,
    rules: &[FieldRule],
    hits: &mut [u64],
) -> Company<'m> {
    let mapped = Mapped { traits, rules };
    let mut custom = Map::new();
    for (key, value) in traits.into_iter().flatten() {
        if !same_key(key, "name") && !mapped.is_ruled(key) {
            flatten_into(&mut custom, key.to_owned(), value);
        }
    }
    let mut fields = Vec::new();
    mapped.apply(&mut fields, &mut custom, hits);
    Company {
        external_id: group_id,
        name: mapped.default_text("name", "name"),
        fields,
        source,
        custom,
    }
}

/// The `name` a company upsert of this group call carries, by the default
/// trait or the mapping file's `[group]` rule for `name`: what the first
/// pass keeps of a company's first group call (SPEC §6).
pub fn company_name(traits: Option<&Object<'_>>, rules: &[FieldRule]) -> Option<String> {
    let mut hits = vec![0; rules.len()];
    let company = company(String::new(), traits, None, rules, &mut hits);
    let ruled = company.fields.iter().find(|(field, _)| *field == "name");
    match ruled {
        Some((_, value)) => value.as_str().map(str::to_owned),
        None => company.name.map(str::to_owned),
    }
}

/// Adds `value` to `custom` under `key`, flattening objects into dotted keys
/// (`address.city`). Nulls and empty objects are left out, `""` is kept, an
/// array of scalars is kept as it is and any other array becomes compact
/// JSON text, because Planhat's custom fields hold scalars and lists.
pub fn flatten_into(custom: &mut Map<String, serde_json::Value>, key: String, value: &Value<'_>) {
    match value {
        Value::Null => {}
        Value::Object(object) => {
            for (inner, value) in object.iter() {
                flatten_into(custom, format!("{key}.{inner}"), value);
            }
        }
        Value::Array(items) if !items.iter().all(is_scalar) => {
            custom.insert(key, serde_json::Value::String(value.to_string()));
        }
        _ => {
            custom.insert(key, value.to_json());
        }
    }
}

fn is_scalar(value: &Value<'_>) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::rules::Rules;
    use serde_json::json;

    fn object(value: serde_json::Value) -> Object<'static> {
        crate::segment::json::parse(value.to_string().as_bytes())
            .unwrap()
            .into_owned()
            .as_object()
            .expect("test literal is an object")
            .clone()
    }

    #[test]
    fn flattening_keeps_scalars_and_scalar_arrays_and_drops_nulls_and_empty_objects() {
        let mut custom = Map::new();
        let traits = json!({
            "plan": "pro", "seats": 5, "trial": false, "note": "", "gone": null,
            "address": {"city": "Lyon", "geo": {"lat": 45.7}, "zip": null, "empty": {}},
            "tags": ["a", 1, true], "mixed": [1, {"x": 2}], "nested": [[1]], "none": [],
            "empty": {}
        });
        for (key, value) in &object(traits) {
            flatten_into(&mut custom, key.to_owned(), value);
        }
        assert_eq!(
            serde_json::Value::Object(custom),
            json!({
                "plan": "pro", "seats": 5, "trial": false, "note": "",
                "address.city": "Lyon", "address.geo.lat": 45.7,
                "tags": ["a", 1, true], "mixed": "[1,{\"x\":2}]", "nested": "[[1]]", "none": []
            })
        );
    }

    #[test]
    fn reserved_traits_never_reach_custom_and_company_id_is_held_back() {
        let traits = object(json!({
            "Email": "a@x.io", "first_name": "Ana", "LastName": "Lopez", "Title": "CFO",
            "phone": 5551234, "user_id": "u", "ID": "i", "companyId": "c", "name": "Ana L",
            "company": {"ID": 7, "name": "Acme", "plan": "pro"}, "plan": "gold"
        }));
        let user = end_user(Who::default(), Some(&traits), Some("Segment"), &[], &mut []);
        assert_eq!(user.first_name, Some("Ana"));
        assert_eq!(user.last_name, Some("Lopez"));
        assert_eq!(user.position, Some("CFO"));
        assert_eq!(
            user.phone, None,
            "a reserved text trait that is not text is dropped"
        );
        assert_eq!(
            serde_json::Value::Object(user.custom),
            json!({"company.name": "Acme", "company.plan": "pro", "plan": "gold"})
        );
    }

    #[test]
    fn a_company_that_is_not_an_object_is_custom() {
        let traits = object(json!({"company": "Acme"}));
        let user = end_user(Who::default(), Some(&traits), None, &[], &mut []);
        assert_eq!(
            serde_json::Value::Object(user.custom),
            json!({"company": "Acme"})
        );
    }

    #[test]
    fn company_item_takes_name_and_flattens_the_rest() {
        let traits = object(json!({"Name": "Acme", "employees": 120, "address": {"city": "Oslo"}}));
        let item = company(
            "acct_9".into(),
            Some(&traits),
            Some("Segment"),
            &[],
            &mut [],
        );
        assert_eq!(item.name, Some("Acme"));
        assert_eq!(
            serde_json::Value::Object(item.custom),
            json!({"employees": 120, "address.city": "Oslo"})
        );
        let bare = company("acct_9".into(), None, None, &[], &mut []);
        assert_eq!(bare.name, None);
        assert!(bare.custom.is_empty());
    }

    #[test]
    fn a_rule_moves_a_trait_and_takes_over_its_target_field() {
        let rules = Rules::parse(
            "[identify]\njob_title = \"position\"\nplan = \"custom.Plan\"\nlabels = \"tags\"\n",
        )
        .unwrap();
        let traits = object(
            json!({"title": "CFO", "Job Title": "Chief", "plan": {"tier": 2}, "labels": "vip", "seats": 3}),
        );
        let mut hits = [0; 3];
        let user = end_user(
            Who::default(),
            Some(&traits),
            None,
            &rules.identify,
            &mut hits,
        );
        assert_eq!(
            user.position, None,
            "position comes from job_title only, never title"
        );
        assert_eq!(
            user.fields,
            [("position", json!("Chief")), ("tags", json!(["vip"]))]
        );
        assert_eq!(
            serde_json::Value::Object(user.custom),
            json!({"seats": 3, "Plan": "{\"tier\":2}"})
        );
        assert_eq!(hits, [1, 1, 1]);
        let absent = object(json!({"title": "CFO"}));
        let user = end_user(
            Who::default(),
            Some(&absent),
            None,
            &rules.identify,
            &mut hits,
        );
        assert_eq!(user.position, None, "even when the named trait is absent");
        assert!(user.fields.is_empty());
        assert_eq!(hits, [1, 1, 1]);
    }

    #[test]
    fn a_rule_can_send_a_reserved_trait_elsewhere() {
        let rules = Rules::parse("[identify]\ntitle = \"custom.Title\"\n[group]\nname = \"custom.Legal Name\"\narr = \"custom.ARR\"\ndomain = \"domains\"\n").unwrap();
        let traits = object(json!({"title": "CFO"}));
        let user = end_user(
            Who::default(),
            Some(&traits),
            None,
            &rules.identify,
            &mut [0],
        );
        assert_eq!(user.position, None);
        assert_eq!(
            serde_json::Value::Object(user.custom),
            json!({"Title": "CFO"})
        );
        let group =
            object(json!({"name": "Acme Inc", "arr": 120000, "domain": "acme.io", "plan": "pro"}));
        let item = company("c".into(), Some(&group), None, &rules.group, &mut [0, 0, 0]);
        assert_eq!(item.name, None);
        assert_eq!(item.fields, [("domains", json!(["acme.io"]))]);
        assert_eq!(
            serde_json::Value::Object(item.custom),
            json!({"plan": "pro", "Legal Name": "Acme Inc", "ARR": 120000})
        );
    }
}
