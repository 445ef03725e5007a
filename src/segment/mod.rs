//! The Segment message model: one input line becomes one or more messages
//! (SPEC §3). Owns JSON parsing, batch-envelope expansion, message types and
//! the accessors the mapping reads through.
//!
//! Pure: no I/O.

pub mod json;
pub mod lookup;
pub mod time;

use base64::Engine;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use json::{Object, Value};

/// The base64 of `_planhat.raw_base64` (SPEC §3): standard, padded, as
/// the failed file writes it. Reading allows stray low bits in the last
/// character, which some encoders leave and which carry no byte.
pub const RAW_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The message types this tool knows (SPEC §2, §5), read case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Identify,
    Track,
    Page,
    Screen,
    Group,
    Alias,
    Delete,
}

impl Kind {
    /// Every known type, in the order reports list them.
    pub const ALL: [Kind; 7] = [
        Kind::Identify,
        Kind::Track,
        Kind::Page,
        Kind::Screen,
        Kind::Group,
        Kind::Alias,
        Kind::Delete,
    ];

    /// The lower-case name Segment uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Identify => "identify",
            Kind::Track => "track",
            Kind::Page => "page",
            Kind::Screen => "screen",
            Kind::Group => "group",
            Kind::Alias => "alias",
            Kind::Delete => "delete",
        }
    }

    /// The type named by `text`, compared case-insensitively.
    pub fn from_name(text: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(text))
    }
}

/// One Segment message, with its `type` already read. It borrows from the
/// line it was parsed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// The message type; `Err` holds the unknown type's text (empty when
    /// `type` is missing or not a string).
    pub kind: Result<Kind, String>,
    /// Every key of the message as received, in document order, less
    /// `writeKey` and `_planhat`.
    pub fields: Object<'a>,
    /// Whether the line's text is not this message's own text (an envelope
    /// item, or a failed-file line holding the raw text), so that a copy of
    /// the message must be written from `fields`.
    pub rewritten: bool,
}

/// Why a line gave no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineError {
    /// Not JSON at all (text that is not UTF-8 included); holds the
    /// parser's words.
    InvalidJson(String),
    /// JSON, but not an object; holds what it is ("an array").
    NotAnObject(&'static str),
    /// A batch envelope whose `batch` is empty: no message, skipped by
    /// policy so that the line still has an outcome (SPEC §3).
    EmptyBatch,
    /// A failed-file record of input that was never read: a line too long
    /// (`too_long`) or a stream that broke. There is nothing to send; it is
    /// rejected again for the same reason.
    NeverRead { too_long: bool },
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::InvalidJson(why) => write!(f, "invalid JSON: {why}"),
            LineError::NotAnObject(what) => {
                write!(
                    f,
                    "expected a JSON object (a Segment message), found {what}"
                )
            }
            LineError::EmptyBatch => f.write_str("a batch envelope with no messages"),
            LineError::NeverRead { .. } => f.write_str(
                "a failed-file record of input that was never read: rerun that input from its source",
            ),
        }
    }
}

/// The key the failed file adds to each line it writes (SPEC §6).
pub const FAILED_KEY: &str = "_planhat";

/// Parses one input line (without its line ending) into its messages: one
/// for a plain message, one per item for a batch envelope (SPEC §3). Each
/// item of an envelope succeeds or fails on its own.
///
/// The messages are made one at a time, as they are taken: an envelope
/// item gets the envelope's `context` and `integrations` merged in only when
/// its turn comes, so a line's memory stays a small multiple of its size
/// however many items share how large an envelope.
pub fn parse_line(line: &[u8]) -> Messages<'_> {
    let value = match json::parse(line) {
        Ok(value) => value,
        Err(error) => return Messages::one(Err(LineError::InvalidJson(error.to_string()))),
    };
    let object = match value {
        Value::Object(object) => object,
        other => return Messages::one(Err(LineError::NotAnObject(json_kind(&other)))),
    };
    match failed_record(&object) {
        // The raw text lives only in this wrapper, so its tree is copied
        // out; its messages are then rewritten copies.
        Some(FailedRecord::Raw(raw)) => match json::parse(&raw) {
            Ok(Value::Object(object)) => Messages::of(object.into_owned(), true),
            Ok(other) => Messages::one(Err(LineError::NotAnObject(json_kind(&other)))),
            Err(error) => Messages::one(Err(LineError::InvalidJson(error.to_string()))),
        },
        Some(FailedRecord::NeverRead { too_long }) => {
            Messages::one(Err(LineError::NeverRead { too_long }))
        }
        None => Messages::of(object, false),
    }
}

/// The messages of one line, made as they are taken (see [`parse_line`]).
#[derive(Debug)]
pub struct Messages<'a>(Pending<'a>);

#[derive(Debug)]
enum Pending<'a> {
    Done,
    One(Result<Message<'a>, LineError>),
    Envelope(Envelope<'a>),
}

/// What an envelope's items share, and the items not yet made messages.
#[derive(Debug)]
struct Envelope<'a> {
    items: std::vec::IntoIter<Value<'a>>,
    context: Option<Object<'a>>,
    integrations: Option<Object<'a>>,
    sent_at: Option<Value<'a>>,
}

impl<'a> Messages<'a> {
    fn one(result: Result<Message<'a>, LineError>) -> Messages<'a> {
        Messages(Pending::One(result))
    }

    /// A plain message, or an envelope `{"batch":[...], "context",
    /// "integrations", "sentAt", ...}` whose every other key (`writeKey`
    /// among them) is dropped.
    fn of(mut object: Object<'a>, rewritten: bool) -> Messages<'a> {
        let items = match object.get_mut("batch") {
            Some(Value::Array(items)) => std::mem::take(items),
            _ => return Messages::one(Ok(message(object, rewritten))),
        };
        if items.is_empty() {
            return Messages::one(Err(LineError::EmptyBatch));
        }
        let mut take_object = |key| match object.remove(key) {
            Some(Value::Object(inner)) => Some(inner),
            _ => None,
        };
        let context = take_object("context");
        let integrations = take_object("integrations");
        Messages(Pending::Envelope(Envelope {
            items: items.into_iter(),
            context,
            integrations,
            sent_at: object.remove("sentAt").filter(|v| !v.is_null()),
        }))
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match std::mem::replace(&mut self.0, Pending::Done) {
            Pending::Done => None,
            Pending::One(result) => Some(result),
            Pending::Envelope(mut envelope) => {
                let next = envelope.next();
                self.0 = Pending::Envelope(envelope);
                next
            }
        }
    }
}

impl<'a> Envelope<'a> {
    /// The next item as a message: envelope `context` and `integrations`
    /// merged in (the message's own keys win), envelope `sentAt` filling a
    /// message that lacks one.
    fn next(&mut self) -> Option<Result<Message<'a>, LineError>> {
        let item = self.items.next()?;
        let Value::Object(mut fields) = item else {
            return Some(Err(LineError::NotAnObject(json_kind(&item))));
        };
        merge_under(&mut fields, "context", self.context.as_ref());
        merge_under(&mut fields, "integrations", self.integrations.as_ref());
        if let Some(sent_at) = &self.sent_at
            && fields.get("sentAt").is_none_or(Value::is_null)
        {
            fields.insert("sentAt", sent_at.clone());
        }
        Some(Ok(message(fields, true)))
    }
}

/// A failed-file line that holds no message, only its `_planhat` note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedRecord {
    /// Input that was not JSON, kept under `_planhat.raw` (or, for bytes
    /// that are not UTF-8, `_planhat.raw_base64`). Reading it back reads
    /// those bytes again, so the failed file round-trips, a fixed line can
    /// be pasted over it, and a line that was not UTF-8 is rejected again,
    /// unaltered (SPEC §3).
    Raw(Vec<u8>),
    /// Input that was never read, recorded by position (`line_too_long`,
    /// `unreadable`); it can only be rejected again, with its note kept.
    NeverRead { too_long: bool },
}

/// What a line that is only a failed-file note holds, if it is one.
pub fn failed_record(object: &Object) -> Option<FailedRecord> {
    if object.len() != 1 {
        return None;
    }
    let note = object.get(FAILED_KEY)?;
    if let Some(raw) = note.get("raw").and_then(Value::as_str) {
        return Some(FailedRecord::Raw(raw.as_bytes().to_vec()));
    }
    if let Some(coded) = note.get("raw_base64") {
        return RAW_BASE64
            .decode(coded.as_str()?)
            .ok()
            .map(FailedRecord::Raw);
    }
    match note.get("reason")?.as_str()? {
        "line_too_long" => Some(FailedRecord::NeverRead { too_long: true }),
        "unreadable" => Some(FailedRecord::NeverRead { too_long: false }),
        _ => None,
    }
}

fn json_kind(value: &Value<'_>) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn message(mut fields: Object<'_>, rewritten: bool) -> Message<'_> {
    // writeKey is a Segment secret; _planhat is the failed file's own note.
    fields.remove("writeKey");
    fields.remove(FAILED_KEY);
    let kind = match fields.get("type") {
        Some(Value::String(text)) => Kind::from_name(text).ok_or_else(|| text.to_string()),
        _ => Err(String::new()),
    };
    Message {
        kind,
        fields,
        rewritten,
    }
}

/// Adds the envelope's keys under `key` to the message's object under the
/// same key, keeping the message's own values.
fn merge_under<'a>(fields: &mut Object<'a>, key: &'static str, envelope: Option<&Object<'a>>) {
    let Some(envelope) = envelope else { return };
    match fields.get_mut(key) {
        Some(Value::Object(own)) => {
            for (name, value) in envelope.iter() {
                if !own.contains_key(name) {
                    own.insert(name.to_owned(), value.clone());
                }
            }
        }
        Some(value) if !value.is_null() => {}
        _ => {
            fields.insert(key, Value::Object(envelope.clone()));
        }
    }
}

impl<'a> Message<'a> {
    /// A top-level field, read by exact name; null counts as absent.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.fields.get(key).filter(|v| !v.is_null())
    }

    /// A top-level object field.
    pub fn object(&self, key: &str) -> Option<&Object<'a>> {
        self.fields.get(key).and_then(Value::as_object)
    }

    /// A copy that borrows nothing.
    pub fn into_owned(self) -> Message<'static> {
        Message {
            kind: self.kind,
            fields: self.fields.into_owned(),
            rewritten: self.rewritten,
        }
    }

    /// The user's traits: `traits` for identify and group, `context.traits`
    /// for every other type (SPEC §5.1).
    pub fn traits(&self) -> Option<&Object<'a>> {
        match self.kind {
            Ok(Kind::Identify | Kind::Group) => self.object("traits"),
            _ => self.context_traits(),
        }
    }

    /// `context.traits`.
    pub fn context_traits(&self) -> Option<&Object<'a>> {
        self.object("context")?.get("traits")?.as_object()
    }

    /// A key of `context`, null counting as absent.
    pub fn context(&self, key: &str) -> Option<&Value<'a>> {
        self.object("context")?.get(key).filter(|v| !v.is_null())
    }

    /// `messageId` as text, when it has one.
    pub fn message_id(&self) -> Option<String> {
        lookup::id_text(self.get("messageId"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(line: &str) -> Result<Message<'_>, LineError> {
        let mut all: Vec<_> = parse_line(line.as_bytes()).collect();
        assert_eq!(all.len(), 1, "{line}");
        all.remove(0)
    }

    #[test]
    fn type_is_read_case_insensitively() {
        assert_eq!(one(r#"{"type":"Track"}"#).unwrap().kind, Ok(Kind::Track));
        assert_eq!(
            one(r#"{"type":"IDENTIFY"}"#).unwrap().kind,
            Ok(Kind::Identify)
        );
        assert_eq!(
            one(r#"{"type":"custom"}"#).unwrap().kind,
            Err("custom".into())
        );
        assert_eq!(one(r#"{"event":"x"}"#).unwrap().kind, Err(String::new()));
        assert_eq!(one(r#"{"type":3}"#).unwrap().kind, Err(String::new()));
    }

    #[test]
    fn invalid_json_and_non_objects_are_line_errors() {
        assert!(matches!(one("{\"type\":"), Err(LineError::InvalidJson(_))));
        assert_eq!(one("[1,2]"), Err(LineError::NotAnObject("an array")));
        assert_eq!(one("\"text\""), Err(LineError::NotAnObject("a string")));
        assert!(matches!(one("{\"a\":NaN}"), Err(LineError::InvalidJson(_))));
    }

    #[test]
    fn an_unpaired_surrogate_escape_is_invalid_json_with_a_column() {
        let Err(LineError::InvalidJson(why)) = one(r#"{"type":"track","event":"\ud83d"}"#) else {
            panic!("expected invalid JSON");
        };
        assert!(why.contains("escape"), "{why}");
        assert!(why.contains("column"), "{why}");
        assert!(!why.contains("line 1"), "{why}");
    }

    #[test]
    fn write_key_and_failed_note_are_removed() {
        let message =
            one(r#"{"type":"track","writeKey":"secret","_planhat":{"reason":"x"},"event":"e"}"#)
                .unwrap();
        assert_eq!(
            Value::Object(message.fields).to_json(),
            json!({"type":"track","event":"e"})
        );
    }

    #[test]
    fn envelope_items_get_merged_context_integrations_and_sent_at() {
        let line = r#"{"batch":[
            {"type":"track","event":"a","context":{"ip":"1.1.1.1"},"integrations":{"Planhat":false}},
            {"type":"identify","sentAt":"2024-01-01T00:00:00Z","writeKey":"k2"},
            {"type":"page","context":null}
        ],"context":{"ip":"9.9.9.9","library":{"name":"x"}},"integrations":{"All":true},
          "sentAt":"2024-02-02T00:00:00Z","writeKey":"secret","messageId":"envelope"}"#
            .replace('\n', "");
        let messages: Vec<Message> = parse_line(line.as_bytes()).map(Result::unwrap).collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(
            Value::Object(messages[0].fields.clone()).to_json(),
            json!({"type":"track","event":"a",
                "context":{"ip":"1.1.1.1","library":{"name":"x"}},
                "integrations":{"Planhat":false,"All":true},
                "sentAt":"2024-02-02T00:00:00Z"})
        );
        assert_eq!(
            messages[1].get("sentAt").map(Value::to_json),
            Some(json!("2024-01-01T00:00:00Z"))
        );
        assert!(messages[1].get("writeKey").is_none());
        assert_eq!(
            messages[2].context("ip").map(Value::to_json),
            Some(json!("9.9.9.9"))
        );
        assert!(!line.is_empty() && messages.iter().all(|m| m.get("messageId").is_none()));
    }

    #[test]
    fn a_bad_envelope_item_fails_alone() {
        let results: Vec<_> =
            parse_line(br#"{"batch":[{"type":"track"},[1],{"type":"page"}]}"#).collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[2].is_ok());
        assert_eq!(results[1], Err(LineError::NotAnObject("an array")));
    }

    #[test]
    fn a_failed_file_line_for_unparsed_input_reads_its_raw_text_again() {
        let line = r#"{"_planhat":{"reason":"invalid_json","raw":"{\"type\":\"track\",\"event\":\"fixed\"}"}}"#;
        assert_eq!(
            one(line).unwrap().get("event").map(Value::to_json),
            Some(json!("fixed"))
        );
        let still_bad = r#"{"_planhat":{"reason":"invalid_json","raw":"{oops"}}"#;
        assert!(matches!(one(still_bad), Err(LineError::InvalidJson(_))));
    }

    #[test]
    fn an_empty_batch_is_an_outcome_of_its_own() {
        assert_eq!(
            one(r#"{"batch":[],"context":{"x":1}}"#),
            Err(LineError::EmptyBatch)
        );
        assert!(one(r#"{"batch":"not an array","type":"track"}"#).is_ok());
    }

    #[test]
    fn envelope_items_are_made_one_at_a_time_from_one_shared_envelope() {
        let n = 2000;
        let line = format!(
            r#"{{"batch":[{}],"context":{{"x":[{}]}}}}"#,
            vec!["{}"; n].join(","),
            vec!["[]"; n].join(",")
        );
        let mut messages = parse_line(line.as_bytes());
        // Nothing is merged before a message is taken...
        let Pending::Envelope(envelope) = &messages.0 else {
            panic!("an envelope")
        };
        assert_eq!(envelope.items.len(), n);
        // ...and each message taken holds its own merged context.
        let first = messages.next().unwrap().unwrap();
        assert_eq!(
            first.context("x").map(|x| x.to_string().len()),
            Some(3 * n + 1)
        );
        assert_eq!(messages.count(), n - 1);
    }

    #[test]
    fn duplicate_keys_are_read_with_their_last_value() {
        let message = one(
            r#"{"type":"track","integrations":{"Planhat":true},"integrations":{"Planhat":false},"event":"a","event":"b"}"#,
        )
        .unwrap();
        assert_eq!(message.get("event").map(Value::to_json), Some(json!("b")));
        assert_eq!(
            message
                .object("integrations")
                .map(|i| Value::Object(i.clone()).to_string()),
            Some(r#"{"Planhat":false}"#.to_owned())
        );
        assert_eq!(
            Value::Object(message.fields).to_string(),
            r#"{"type":"track","integrations":{"Planhat":false},"event":"b"}"#
        );
    }

    #[test]
    fn big_integer_ids_keep_every_digit() {
        let a = one(r#"{"type":"track","messageId":123456789012345678901234567890}"#).unwrap();
        let b = one(r#"{"type":"track","messageId":123456789012345678901234567891}"#).unwrap();
        assert_eq!(
            a.message_id().as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_ne!(a.message_id(), b.message_id());
        assert!(one(r#"{"type":"track","properties":{"big":1e400}}"#).is_ok());
    }

    #[test]
    fn raw_base64_is_rfc_4648_padded_and_refuses_what_is_not_base64() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(RAW_BASE64.encode(plain), coded);
            assert_eq!(RAW_BASE64.decode(coded).unwrap(), plain.as_bytes());
        }
        // Stray low bits in the last character carry no byte.
        assert_eq!(RAW_BASE64.decode("Zh==").unwrap(), b"f");
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9v!A==", "é"] {
            assert!(RAW_BASE64.decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_failed_file_line_with_raw_bytes_reads_them_again() {
        let coded = RAW_BASE64.encode(b"{\"type\":\"track\",\"event\":\"\xff\"}");
        let line = format!(r#"{{"_planhat":{{"reason":"invalid_json","raw_base64":"{coded}"}}}}"#);
        assert!(matches!(one(&line), Err(LineError::InvalidJson(why)) if why.contains("UTF-8")));
        let fixed = RAW_BASE64.encode(br#"{"type":"track","event":"ok"}"#);
        let line = format!(r#"{{"_planhat":{{"reason":"invalid_json","raw_base64":"{fixed}"}}}}"#);
        assert_eq!(
            one(&line).unwrap().get("event").map(Value::to_json),
            Some(json!("ok"))
        );
    }

    #[test]
    fn traits_come_from_context_for_events() {
        let track =
            one(r#"{"type":"track","traits":{"email":"no"},"context":{"traits":{"email":"yes"}}}"#)
                .unwrap();
        assert_eq!(
            lookup::find(track.traits().unwrap(), "email").map(Value::to_json),
            Some(json!("yes"))
        );
        let identify = one(r#"{"type":"identify","traits":{"email":"yes"}}"#).unwrap();
        assert_eq!(
            lookup::find(identify.traits().unwrap(), "email").map(Value::to_json),
            Some(json!("yes"))
        );
    }
}
