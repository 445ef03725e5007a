//! Reading reserved traits and properties the way Segment's own library
//! (facade) does, made exact (SPEC §5), and turning ids into text (SPEC §3).
//!
//! Pure: no I/O.

use super::json::{Number, Object, Value};

/// Whether `key` is the same trait name as `wanted` under SPEC §5: every
/// character that is not an ASCII letter or digit is deleted and the rest is
/// lower-cased. `wanted` must already be in that normal form ("firstname").
/// Compares without allocating, because it runs for every key of every
/// traits object.
pub fn same_key(key: &str, wanted: &str) -> bool {
    let mut normal = key
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase());
    wanted.bytes().all(|w| normal.next() == Some(w)) && normal.next().is_none()
}

/// The normal form of a key (SPEC §5), for keys that are not constants.
pub fn normal_key(key: &str) -> String {
    key.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A value that counts as given: not null and not `""` (SPEC §5, §3).
pub fn is_given(value: &Value<'_>) -> bool {
    !matches!(value, Value::Null) && value.as_str() != Some("")
}

/// The first given value, in document order, whose key is `wanted` under
/// the lookup rule.
pub fn find<'o, 'a>(object: &'o Object<'a>, wanted: &str) -> Option<&'o Value<'a>> {
    object
        .iter()
        .find(|(key, value)| is_given(value) && same_key(key, wanted))
        .map(|(_, value)| value)
}

/// The first given value under any of `wanted`'s spellings, looked up in
/// `object` when it is one (null, absent or a non-object holds nothing).
pub fn find_in<'o, 'a>(object: Option<&'o Value<'a>>, wanted: &str) -> Option<&'o Value<'a>> {
    object
        .and_then(Value::as_object)
        .and_then(|o| find(o, wanted))
}

/// A non-empty string value.
pub fn text<'o>(value: Option<&'o Value<'_>>) -> Option<&'o str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// An id as text (SPEC §3): a non-empty string as it is; an integer, or a
/// float without a fraction, as decimal text (`12345`, never `12345.0`);
/// another float as its shortest text (`12.5`). A boolean, object or array
/// is not an id.
pub fn id_text(value: Option<&Value<'_>>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.to_string()),
        Value::Number(n) => Some(number_text(n)),
        _ => None,
    }
}

/// An integer keeps every digit it was written with, so ids past 64 bits
/// stay distinct (SPEC §3). Other numbers go through a double: Rust's
/// `Display` for `f64` is the shortest text that reads back to the same
/// number and never adds `.0`, which is what SPEC §3 asks for. A number
/// beyond a double's range (`1e400`) keeps its text.
fn number_text(n: &Number<'_>) -> String {
    if n.is_integer() {
        return n.as_str().to_owned();
    }
    match n.as_f64() {
        Some(f) => f.to_string(),
        None => n.as_str().to_owned(),
    }
}

/// Whether a text looks like an email address the way facade decides it
/// (`.+@.+\..+`): something, an `@`, something, a `.`, something.
pub fn looks_like_email(text: &str) -> bool {
    text.char_indices().any(|(at, c)| {
        c == '@' && at > 0 && {
            let rest = &text[at + 1..];
            rest.char_indices()
                .any(|(dot, d)| d == '.' && dot > 0 && dot + 1 < rest.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::json::parse;
    use serde_json::json;

    /// A test value from `json!`, as the tool's own tree.
    fn v(value: serde_json::Value) -> Value<'static> {
        parse(value.to_string().as_bytes()).unwrap().into_owned()
    }

    fn object(value: serde_json::Value) -> Object<'static> {
        v(value)
            .as_object()
            .expect("test literal is an object")
            .clone()
    }

    fn id(value: serde_json::Value) -> Option<String> {
        id_text(Some(&v(value)))
    }

    #[test]
    fn spellings_of_a_reserved_trait_are_one_key() {
        for key in ["email", "Email", "e-mail", "E-Mail", "EMAIL", " e_mail "] {
            assert!(same_key(key, "email"), "{key}");
        }
        for key in ["first_name", "First Name", "firstName", "FIRSTNAME"] {
            assert!(same_key(key, "firstname"), "{key}");
        }
        assert!(!same_key("emails", "email"));
        assert!(!same_key("mail", "email"));
        assert!(!same_key("", "email"));
    }

    #[test]
    fn non_ascii_characters_are_deleted_before_comparing() {
        assert!(same_key("émail", "mail"));
        assert_eq!(normal_key("Prénom_1"), "prnom1");
    }

    #[test]
    fn first_given_match_in_document_order_wins() {
        let traits =
            object(json!({"Email": null, "e-mail": "", "EMAIL": "a@x.io", "email": "b@x.io"}));
        assert_eq!(
            find(&traits, "email").map(Value::to_json),
            Some(json!("a@x.io"))
        );
        let none = object(json!({"email": null, "Email": ""}));
        assert_eq!(find(&none, "email"), None);
    }

    #[test]
    fn find_in_ignores_values_that_are_not_objects() {
        assert_eq!(find_in(Some(&v(json!("text"))), "email"), None);
        assert_eq!(find_in(None, "email"), None);
        let object = v(json!({"id": 7}));
        assert_eq!(
            find_in(Some(&object), "id").map(Value::to_json),
            Some(json!(7))
        );
    }

    #[test]
    fn numeric_ids_become_decimal_text() {
        assert_eq!(id(json!(12345)), Some("12345".into()));
        assert_eq!(id(json!(12345.0)), Some("12345".into()));
        assert_eq!(id(json!(-7)), Some("-7".into()));
        assert_eq!(id(json!(12.5)), Some("12.5".into()));
        assert_eq!(
            id(json!(18446744073709551615u64)),
            Some("18446744073709551615".into())
        );
        assert_eq!(id(json!(1e20)), Some("100000000000000000000".into()));
        let exact = |text: &str| id_text(Some(&parse(text.as_bytes()).unwrap()));
        assert_eq!(
            exact("123456789012345678901234567890"),
            Some("123456789012345678901234567890".into())
        );
        assert_eq!(
            exact("-98765432109876543210"),
            Some("-98765432109876543210".into())
        );
        assert_eq!(exact("12345.0"), Some("12345".into()));
        assert_eq!(exact("1.5e1"), Some("15".into()));
        assert_eq!(exact("1e400"), Some("1e400".into()));
    }

    #[test]
    fn booleans_empty_strings_and_objects_are_not_ids() {
        assert_eq!(id(json!(true)), None);
        assert_eq!(id(json!("")), None);
        assert_eq!(id(json!({"id": 1})), None);
        assert_eq!(id(json!(null)), None);
        assert_eq!(id_text(None), None);
        assert_eq!(id(json!("u_1")), Some("u_1".into()));
    }

    #[test]
    fn email_shape_needs_text_around_the_at_and_a_later_dot() {
        assert!(looks_like_email("ana@example.com"));
        assert!(looks_like_email("a@b.c"));
        assert!(looks_like_email("first.last@sub.example.co"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("ana@example"));
        assert!(!looks_like_email("ana@.com"));
        assert!(!looks_like_email("ana@example."));
        assert!(!looks_like_email("u_42"));
    }
}
