//! A JSON tree that borrows from the line it was parsed from. Segment
//! messages are parsed once per line and mostly read, not changed: keeping
//! strings as slices of the line and objects as plain vectors (in document
//! order, which the trait lookup needs) spares the allocations and key
//! hashing of `serde_json::Value`, which were most of a run's time.
//!
//! Pure: no I/O.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Value<'a>)>);

/// Parses JSON text, borrowing its strings where they hold no escapes.
pub fn parse(text: &[u8]) -> serde_json::Result<Value<'_>> {
    serde_json::from_slice(text)
}

impl<'a> Value<'a> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    /// A member of an object, by exact key.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.as_object()?.get(key)
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(value) => Value::Bool(value),
            Value::Number(number) => Value::Number(number),
            Value::String(text) => Value::String(Cow::Owned(text.into_owned())),
            Value::Array(items) => Value::Array(items.into_iter().map(Value::into_owned).collect()),
            Value::Object(object) => Value::Object(object.into_owned()),
        }
    }

    /// The same value as a `serde_json::Value`, for output that is built
    /// rather than passed through.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Number(number) => serde_json::Value::Number(number.clone()),
            Value::String(text) => serde_json::Value::String(text.to_string()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(Value::to_json).collect())
            }
            Value::Object(object) => serde_json::Value::Object(
                object
                    .iter()
                    .map(|(key, value)| (key.to_owned(), value.to_json()))
                    .collect(),
            ),
        }
    }
}

impl fmt::Display for Value<'_> {
    /// Compact JSON text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl<'a> Object<'a> {
    /// The members, in document order.
    pub fn iter(&self) -> Members<'_, 'a> {
        Members(self.0.iter())
    }

    /// The first member with this exact key.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value<'a>> {
        self.0
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets a member: in place when the key is there, else at the end.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Value<'a>) {
        let key = key.into();
        match self.get_mut(&key) {
            Some(slot) => *slot = value,
            None => self.0.push((key, value)),
        }
    }

    /// Takes out every member with this key; returns the first one's value.
    pub fn remove(&mut self, key: &str) -> Option<Value<'a>> {
        let position = self.0.iter().position(|(k, _)| k == key)?;
        let (_, value) = self.0.remove(position);
        self.0.retain(|(k, _)| k != key);
        Some(value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Object<'static> {
        Object(
            self.0
                .into_iter()
                .map(|(key, value)| (Cow::Owned(key.into_owned()), value.into_owned()))
                .collect(),
        )
    }
}

/// An object's members, in document order.
#[derive(Debug, Clone)]
pub struct Members<'o, 'a>(std::slice::Iter<'o, (Cow<'a, str>, Value<'a>)>);

impl<'o, 'a> Iterator for Members<'o, 'a> {
    type Item = (&'o str, &'o Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(key, value)| (key.as_ref(), value))
    }
}

impl<'o, 'a> IntoIterator for &'o Object<'a> {
    type Item = (&'o str, &'o Value<'a>);
    type IntoIter = Members<'o, 'a>;

    fn into_iter(self) -> Members<'o, 'a> {
        self.iter()
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Number(number) => number.serialize(serializer),
            Value::String(text) => serializer.serialize_str(text),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(object) => object.serialize(serializer),
        }
    }
}

impl Serialize for Object<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value<'a>, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value<'de>, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            members.push((key, map.next_value()?));
        }
        Ok(Value::Object(Object(members)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_keeps_order_and_borrows_plain_strings() {
        let text = br#"{"b":1,"a":"plain","c":"esc\u00e9","d":[true,null,1.5,-3],"e":{}}"#;
        let value = parse(text).unwrap();
        let object = value.as_object().unwrap();
        let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a", "c", "d", "e"]);
        assert!(matches!(
            object.get("a"),
            Some(Value::String(Cow::Borrowed("plain")))
        ));
        assert_eq!(object.get("c").and_then(Value::as_str), Some("esc\u{e9}"));
        assert_eq!(
            value.to_string(),
            r#"{"b":1,"a":"plain","c":"esc\u00e9","d":[true,null,1.5,-3],"e":{}}"#
                .replace("\\u00e9", "\u{e9}")
        );
        assert_eq!(
            value.to_json(),
            serde_json::from_slice::<serde_json::Value>(text).unwrap()
        );
    }

    #[test]
    fn objects_insert_in_place_and_remove_every_copy() {
        let mut object = parse(br#"{"a":1,"b":2,"a":3}"#)
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            object.get("a"),
            Some(&Value::Number(1.into())),
            "the first copy counts"
        );
        object.insert("b", Value::Bool(true));
        object.insert("z", Value::Null);
        assert_eq!(
            Value::Object(object.clone()).to_string(),
            r#"{"a":1,"b":true,"a":3,"z":null}"#
        );
        assert_eq!(object.remove("a"), Some(Value::Number(1.into())));
        assert!(!object.contains_key("a"));
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(br#"{"a":"\ud83d"}"#).is_err());
        assert!(parse(b"NaN").is_err());
    }
}
