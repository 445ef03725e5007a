//! A JSON tree that borrows from the line it was parsed from, and the
//! parser that builds it. Segment messages are parsed once per line and
//! mostly read, not changed: keeping strings as slices of the line and
//! objects as plain vectors (in document order, which the trait lookup
//! needs) spares the allocations and key hashing of `serde_json::Value`,
//! which were most of a run's time.
//!
//! The parser is our own because SPEC §3 asks what serde's data model cannot
//! give: numbers are kept as the text they were written as (an id of 30
//! digits keeps them all, `1e400` is valid JSON and is written out again as
//! `1e400`), and a key that appears twice in one object keeps its last value
//! (at its first position), as `JSON.parse` does, so that every check and
//! every output sees one value per key.
//!
//! Pure: no I/O.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number<'a>),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Object<'a>),
}

/// A JSON number, as the text it was written as (SPEC §3). Its value is
/// read only where one is needed ([`Number::as_f64`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number<'a>(Cow<'a, str>);

/// A JSON object: its members in document order, each key once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Object<'a>(Vec<(Cow<'a, str>, Value<'a>)>);

/// Why a text is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    what: &'static str,
    /// 1-based byte position in the text.
    column: usize,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.what, self.column)
    }
}

impl std::error::Error for Error {}

/// Nesting deeper than this is refused, as serde_json does, so that a line
/// of 100,000 `[` cannot overflow the stack.
const MAX_DEPTH: usize = 128;

/// Objects up to this size look for a repeated key by comparing keys
/// pairwise; larger ones use a hash map, so a hostile object of many keys
/// costs linear time, not quadratic.
const PAIRWISE_KEYS: usize = 16;

/// Parses JSON text, borrowing its strings where they hold no escapes and
/// its numbers always. Text that is not UTF-8 is not JSON.
pub fn parse(text: &[u8]) -> Result<Value<'_>, Error> {
    let text = std::str::from_utf8(text).map_err(|error| Error {
        what: "invalid UTF-8",
        column: error.valid_up_to() + 1,
    })?;
    let mut parser = Parser { text, at: 0 };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.at < text.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next byte to read.
    at: usize,
}

impl<'a> Parser<'a> {
    /// An error at the next byte, or, at the end of the text, at its last
    /// byte (as serde_json reports positions).
    fn error(&self, what: &'static str) -> Error {
        let column = match self.text.len() {
            0 => 1,
            len => (self.at + 1).min(len),
        };
        Error { what, column }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// Takes `byte` after optional whitespace.
    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), Error> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return Err(self.error(what));
        }
        self.at += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, Error> {
        if !self.text[self.at..].starts_with(word) {
            return Err(self.error("expected value"));
        }
        self.at += word.len();
        Ok(value)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b'[') if depth >= MAX_DEPTH => Err(self.error("recursion limit exceeded")),
            Some(b'{') if depth >= MAX_DEPTH => Err(self.error("recursion limit exceeded")),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(_) => Err(self.error("expected value")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        match self.peek() {
            Some(b']') => {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            None => return Err(self.error("EOF while parsing a list")),
            Some(_) => {}
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err(self.error("EOF while parsing a list")),
                Some(_) => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        self.at += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        match self.peek() {
            Some(b'}') => {
                self.at += 1;
                return Ok(Value::Object(Object(members)));
            }
            None => return Err(self.error("EOF while parsing an object")),
            Some(_) => {}
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some(b'"') => {}
                None => return Err(self.error("EOF while parsing a value")),
                Some(_) => return Err(self.error("key must be a string")),
            }
            let key = self.string()?;
            self.expect(b':', "expected `:`")?;
            self.skip_whitespace();
            members.push((key, self.value(depth)?));
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(Object(last_value_wins(members))));
                }
                None => return Err(self.error("EOF while parsing an object")),
                Some(_) => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// A string starting at its opening quote; borrowed unless it holds an
    /// escape.
    fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.at += 1;
        let start = self.at;
        let bytes = self.text.as_bytes();
        loop {
            match bytes.get(self.at) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    let text = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(text));
                }
                Some(b'\\') => break,
                Some(0..0x20) => return Err(self.error("control character in a string")),
                Some(_) => self.at += 1,
            }
        }
        let mut owned = String::from(&self.text[start..self.at]);
        loop {
            let run = self.at;
            while let Some(&byte) = bytes.get(self.at)
                && byte != b'"'
                && byte != b'\\'
                && byte >= 0x20
            {
                self.at += 1;
            }
            owned.push_str(&self.text[run..self.at]);
            match bytes.get(self.at) {
                None => return Err(self.error("EOF while parsing a string")),
                Some(b'"') => {
                    self.at += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.at += 1;
                    owned.push(self.escape()?);
                }
                Some(_) => return Err(self.error("control character in a string")),
            }
        }
    }

    /// The character an escape stands for, the backslash already taken.
    fn escape(&mut self) -> Result<char, Error> {
        let Some(byte) = self.peek() else {
            return Err(self.error("EOF while parsing a string"));
        };
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(),
            _ => {
                self.at -= 1;
                return Err(self.error("invalid escape"));
            }
        })
    }

    /// `\uXXXX`, and the low half that must follow a high surrogate; a lone
    /// surrogate is not a character, so it is refused.
    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.text[self.at..].starts_with("\\u") {
                    return Err(self.error("unexpected end of hex escape"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in hex escape")),
            code => code,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self
            .text
            .as_bytes()
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("EOF while parsing an escape"))?;
        let mut code = 0;
        for &digit in digits {
            let value = (digit as char)
                .to_digit(16)
                .ok_or_else(|| self.error("invalid escape"))?;
            code = code * 16 + value;
        }
        self.at += 4;
        Ok(code)
    }

    /// A number in JSON's grammar, kept as its text.
    fn number(&mut self) -> Result<Number<'a>, Error> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
        }
        Ok(Number(Cow::Borrowed(&self.text[start..self.at])))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

/// An object's members with each key once: a repeated key keeps its first
/// position and its last value, as `JSON.parse` and Segment's servers read
/// it (SPEC §3). Objects without repeats, nearly all of them, are returned
/// as they are.
fn last_value_wins<'a>(members: Vec<(Cow<'a, str>, Value<'a>)>) -> Vec<(Cow<'a, str>, Value<'a>)> {
    let repeats = if members.len() <= PAIRWISE_KEYS {
        members
            .iter()
            .enumerate()
            .any(|(i, (key, _))| members[..i].iter().any(|(k, _)| k == key))
    } else {
        let mut seen = std::collections::HashSet::with_capacity(members.len());
        !members.iter().all(|(key, _)| seen.insert(key.as_ref()))
    };
    if !repeats {
        return members;
    }
    let mut kept: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(members.len());
    let mut index: HashMap<Cow<'a, str>, usize> = HashMap::with_capacity(members.len());
    for (key, value) in members {
        match index.get(&key) {
            Some(&at) => kept[at].1 = value,
            None => {
                index.insert(key.clone(), kept.len());
                kept.push((key, value));
            }
        }
    }
    kept
}

impl<'a> Number<'a> {
    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest double, where a value is needed (SPEC §3); `None` when
    /// it is beyond a double's range (`1e400`).
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    /// Whether it is written as an integer: no fraction, no exponent.
    pub fn is_integer(&self) -> bool {
        !self.0.contains(['.', 'e', 'E'])
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Number<'static> {
        Number(Cow::Owned(self.0.into_owned()))
    }
}

impl From<i64> for Number<'_> {
    fn from(value: i64) -> Self {
        Number(Cow::Owned(value.to_string()))
    }
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
            Value::Number(number) => Value::Number(number.into_owned()),
            Value::String(text) => Value::String(Cow::Owned(text.into_owned())),
            Value::Array(items) => Value::Array(items.into_iter().map(Value::into_owned).collect()),
            Value::Object(object) => Value::Object(object.into_owned()),
        }
    }

    /// The same value as a `serde_json::Value`, for output that is built
    /// rather than passed through. Numbers keep their digits (serde_json's
    /// `arbitrary_precision`), though an exponent is spelled serde_json's way
    /// (`1e+400`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Number(number) => number
                .as_str()
                .parse::<serde_json::Number>()
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
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

    /// The member with this exact key.
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

    /// Takes a member out.
    pub fn remove(&mut self, key: &str) -> Option<Value<'a>> {
        let position = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(position).1)
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

impl Serialize for Number<'_> {
    /// Writes the number's text as it is (serde_json's `raw_value`); the
    /// parser only ever makes numbers in JSON's grammar, so it always reads.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(self.as_str()).map_err(S::Error::custom)?;
        raw.serialize(serializer)
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
    fn a_repeated_key_keeps_its_first_place_and_last_value() {
        let mut object = parse(br#"{"a":1,"b":2,"a":3}"#)
            .unwrap()
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(object.get("a"), Some(&Value::Number(3.into())));
        assert_eq!(
            Value::Object(object.clone()).to_string(),
            r#"{"a":3,"b":2}"#
        );
        object.insert("b", Value::Bool(true));
        object.insert("z", Value::Null);
        assert_eq!(
            Value::Object(object.clone()).to_string(),
            r#"{"a":3,"b":true,"z":null}"#
        );
        assert_eq!(object.remove("a"), Some(Value::Number(3.into())));
        assert!(!object.contains_key("a"));
        assert_eq!(object.len(), 2);
    }

    #[test]
    fn large_objects_with_repeats_keep_one_value_per_key() {
        let mut text = String::from("{");
        for i in 0..1000 {
            text.push_str(&format!("\"k{}\":{i},", i % 100));
        }
        text.push_str("\"end\":{\"x\":1,\"x\":2}}");
        let value = parse(text.as_bytes()).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), 101);
        assert_eq!(object.get("k7").unwrap().to_string(), "907");
        assert_eq!(value.get("end").unwrap().to_string(), r#"{"x":2}"#);
    }

    #[test]
    fn numbers_are_kept_as_written() {
        let text =
            br#"{"id":123456789012345678901234567890,"big":1e400,"e":1.50E+02,"z":-0,"f":0.1}"#;
        let value = parse(text).unwrap();
        assert_eq!(value.to_string().as_bytes(), text);
        // serde_json keeps every digit too, but spells exponents its way.
        assert_eq!(
            serde_json::to_string(&value.to_json()).unwrap(),
            r#"{"id":123456789012345678901234567890,"big":1e+400,"e":1.50e+02,"z":-0,"f":0.1}"#
        );
        let Some(Value::Number(big)) = value.get("big") else {
            panic!("a number")
        };
        assert_eq!(big.as_f64(), None);
        assert!(!big.is_integer());
        let Some(Value::Number(id)) = value.get("id") else {
            panic!("a number")
        };
        assert!(id.is_integer());
        assert_eq!(id.as_f64(), Some(1.2345678901234568e29));
    }

    #[test]
    fn it_accepts_and_refuses_what_serde_json_does() {
        let cases: [&[u8]; 34] = [
            b"{}",
            b" [ 1 , 2 ] ",
            b"\t{\"a\" : \"b\"}\r\n",
            br#""\u00e9\ud83d\ude00\n\/""#,
            b"0",
            b"-0.5e-3",
            b"true",
            b"null",
            b"{\"a\":[{},[],\"\"]}",
            br#""\"\\\b\f\r\t""#,
            b"01",
            b"1.",
            b".5",
            b"-",
            b"+1",
            b"1e",
            b"1e+",
            b"[1,]",
            b"{\"a\":1,}",
            b"{a:1}",
            b"{\"a\" 1}",
            b"[1 2]",
            b"\"\x01\"",
            b"\"abc",
            br#""\x""#,
            br#""\u12""#,
            br#""\udc00""#,
            br#""\ud800\u0041""#,
            b"tru",
            b"nul",
            b"[] []",
            b"",
            b"   ",
            b"\"\xff\"",
        ];
        for case in cases {
            let ours = parse(case).map(|v| v.to_json());
            let theirs = serde_json::from_slice::<serde_json::Value>(case);
            assert_eq!(
                ours.is_ok(),
                theirs.is_ok(),
                "{}",
                String::from_utf8_lossy(case)
            );
            if let (Ok(ours), Ok(theirs)) = (ours, theirs) {
                assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(case));
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = "[".repeat(100_000);
        let error = parse(deep.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("recursion limit"), "{error}");
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn invalid_json_is_an_error_with_a_column() {
        assert!(parse(b"{\"a\":").is_err());
        assert!(parse(br#"{"a":"\ud83d"}"#).is_err());
        assert!(parse(b"NaN").is_err());
        assert_eq!(
            parse(b"{\"a\":\"\xff\"}").unwrap_err().to_string(),
            "invalid UTF-8 at column 7"
        );
        assert_eq!(
            parse(b"{\"a\":1]").unwrap_err().to_string(),
            "expected `,` or `}` at column 7"
        );
    }
}
