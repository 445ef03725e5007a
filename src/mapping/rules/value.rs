//! A mapped trait's value for its target field (SPEC §11), with `domains`
//! reduced to hosts.

use serde_json::Value;

use super::Target;

/// A mapped trait's value for its target (SPEC §11): `None` when the trait
/// is absent or empty. A list field turns a single value into a
/// one-element array; other values are kept when they are scalars or arrays
/// of scalars, and written as JSON text otherwise, as `custom` does.
pub fn field_value(value: &crate::segment::json::Value<'_>, target: &Target) -> Option<Value> {
    // Mapped traits are few; working on an owned copy keeps this simple.
    let value = &value.to_json();
    let is_scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let empty = match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    };
    if empty {
        return None;
    }
    let kept = match value {
        Value::Array(items) if items.iter().all(is_scalar) => value.clone(),
        Value::Array(_) | Value::Object(_) => Value::String(value.to_string()),
        _ => value.clone(),
    };
    let value = match (target, kept) {
        (Target::Field { list: true, .. }, Value::Array(items)) => Value::Array(items),
        (Target::Field { list: true, .. }, single) => Value::Array(vec![single]),
        (_, kept) => kept,
    };
    match (target, value) {
        (
            Target::Field {
                name: "domains", ..
            },
            Value::Array(items),
        ) => {
            let hosts: Vec<Value> = items.into_iter().filter_map(domain).collect();
            (!hosts.is_empty()).then_some(Value::Array(hosts))
        }
        (_, value) => Some(value),
    }
}

/// A `domains` element reduced to its host, so that Segment's `website`
/// trait (a URL) gives what Planhat matches contacts' email domains
/// against: the part after `scheme://`, up to the first `/`, `?` or `#`,
/// without `user@` or `:port`, lower-cased, without a leading `www.`. An
/// empty host is dropped; a number or boolean is kept as it is.
fn domain(value: Value) -> Option<Value> {
    let Value::String(text) = value else {
        return Some(value);
    };
    let rest = text
        .split_once("://")
        .map_or(text.as_str(), |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host.trim().to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    (!host.is_empty()).then(|| Value::String(host.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn domains_are_reduced_to_their_hosts() {
        let host = |text: &str| domain(json!(text));
        assert_eq!(
            host("https://www.Acme.example/pricing"),
            Some(json!("acme.example"))
        );
        assert_eq!(host("acme.io"), Some(json!("acme.io")));
        assert_eq!(
            host("http://user:pw@shop.acme.io:8080/a?b#c"),
            Some(json!("shop.acme.io"))
        );
        assert_eq!(host("WWW.acme.io?x=1"), Some(json!("acme.io")));
        assert_eq!(host("acme.io#top"), Some(json!("acme.io")));
        assert_eq!(host("https:///path"), None, "an empty host is dropped");
        assert_eq!(host(""), None);
        assert_eq!(domain(json!(7)), Some(json!(7)));
    }

    #[test]
    fn a_domains_list_keeps_its_hosts_and_drops_the_empty_ones() {
        let target = Target::Field {
            name: "domains",
            list: true,
        };
        let text = r#"["https://acme.io/x", "", "https://"]"#;
        let value = crate::segment::json::parse(text.as_bytes()).unwrap();
        assert_eq!(field_value(&value, &target), Some(json!(["acme.io"])));
        let value = crate::segment::json::parse(br#""https://""#).unwrap();
        assert_eq!(field_value(&value, &target), None);
        let tags = Target::Field {
            name: "tags",
            list: true,
        };
        let value = crate::segment::json::parse(br#""https://acme.io/x""#).unwrap();
        assert_eq!(
            field_value(&value, &tags),
            Some(json!(["https://acme.io/x"])),
            "only domains"
        );
    }
}
