//! Profile upserts (SPEC §5.3, §5.4): identify traits → an end-user item,
//! group traits → a company item, and the flattening of the remaining traits
//! into Planhat's one-level `custom` object.
//!
//! Pure: no I/O.

use serde_json::{Map, Value};

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

/// The end-user upsert item for an identify whose identity is `who`.
pub fn end_user<'m>(
    who: Who,
    traits: Option<&'m Map<String, Value>>,
    source: Option<&'m str>,
) -> EndUser<'m> {
    let trait_text = |key| traits.and_then(|t| text(find(t, key)));
    let mut custom = Map::new();
    for (key, value) in traits.into_iter().flatten() {
        let normal = normal_key(key);
        if RESERVED_USER_TRAITS.contains(&normal.as_str()) {
            continue;
        }
        match value {
            // company.id gives companyId; the rest of company is custom.
            Value::Object(company) if normal == "company" => {
                for (inner, value) in company.iter().filter(|(k, _)| !same_key(k, "id")) {
                    flatten_into(&mut custom, format!("{key}.{inner}"), value);
                }
            }
            _ => flatten_into(&mut custom, key.clone(), value),
        }
    }
    EndUser {
        first_name: trait_text("firstname"),
        last_name: trait_text("lastname"),
        position: trait_text("title"),
        phone: trait_text("phone"),
        who,
        source,
        custom,
    }
}

/// The company upsert item for a group call with `group_id`.
pub fn company<'m>(
    group_id: String,
    traits: Option<&'m Map<String, Value>>,
    source: Option<&'m str>,
) -> Company<'m> {
    let mut custom = Map::new();
    for (key, value) in traits.into_iter().flatten() {
        if !same_key(key, "name") {
            flatten_into(&mut custom, key.clone(), value);
        }
    }
    Company {
        external_id: group_id,
        name: traits.and_then(|t| text(find(t, "name"))),
        source,
        custom,
    }
}

/// Adds `value` to `custom` under `key`, flattening objects into dotted keys
/// (`address.city`). Nulls and empty objects are left out, `""` is kept, an
/// array of scalars is kept as it is and any other array becomes compact
/// JSON text, because Planhat's custom fields hold scalars and lists.
pub fn flatten_into(custom: &mut Map<String, Value>, key: String, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(object) => {
            for (inner, value) in object {
                flatten_into(custom, format!("{key}.{inner}"), value);
            }
        }
        Value::Array(items) if !items.iter().all(is_scalar) => {
            custom.insert(key, Value::String(value.to_string()));
        }
        _ => {
            custom.insert(key, value.clone());
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value
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
        for (key, value) in object(traits) {
            flatten_into(&mut custom, key, &value);
        }
        assert_eq!(
            Value::Object(custom),
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
        let user = end_user(Who::default(), Some(&traits), Some("Segment"));
        assert_eq!(user.first_name, Some("Ana"));
        assert_eq!(user.last_name, Some("Lopez"));
        assert_eq!(user.position, Some("CFO"));
        assert_eq!(
            user.phone, None,
            "a reserved text trait that is not text is dropped"
        );
        assert_eq!(
            Value::Object(user.custom),
            json!({"company.name": "Acme", "company.plan": "pro", "plan": "gold"})
        );
    }

    #[test]
    fn a_company_that_is_not_an_object_is_custom() {
        let traits = object(json!({"company": "Acme"}));
        let user = end_user(Who::default(), Some(&traits), None);
        assert_eq!(Value::Object(user.custom), json!({"company": "Acme"}));
    }

    #[test]
    fn company_item_takes_name_and_flattens_the_rest() {
        let traits = object(json!({"Name": "Acme", "employees": 120, "address": {"city": "Oslo"}}));
        let item = company("acct_9".into(), Some(&traits), Some("Segment"));
        assert_eq!(item.name, Some("Acme"));
        assert_eq!(
            Value::Object(item.custom),
            json!({"employees": 120, "address.city": "Oslo"})
        );
        let bare = company("acct_9".into(), None, None);
        assert_eq!(bare.name, None);
        assert!(bare.custom.is_empty());
    }
}
