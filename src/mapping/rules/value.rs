//! A mapped trait's value for its target field (SPEC §11).

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
    Some(match (target, kept) {
        (Target::Field { list: true, .. }, Value::Array(items)) => Value::Array(items),
        (Target::Field { list: true, .. }, single) => Value::Array(vec![single]),
        (_, kept) => kept,
    })
}
