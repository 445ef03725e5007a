//! The failed file (SPEC §6): one line per rejected or failed input
//! message, the original message with one added key, `_planhat`, saying why.
//! The file is valid input, so sending it again retries those messages.
//! It is created only when something goes in it, and appended to.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

use crate::segment::FAILED_KEY;

/// What was wrong, as the `_planhat` key records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Note<'a> {
    /// A reason code: `no_identity`, `http_400`, `retries_exhausted`, ...
    pub reason: &'a str,
    /// The HTTP status, for messages Planhat refused.
    pub status: Option<u16>,
    /// What Planhat or the mapping said.
    pub message: &'a str,
    /// Where the message was read: `path:line`.
    pub source: &'a str,
    /// When it was written, RFC 3339.
    pub at: &'a str,
}

/// The text a failed message came from.
#[derive(Debug, Clone, Copy)]
pub enum Original<'a> {
    /// A Segment message as JSON text.
    Message(&'a [u8]),
    /// A line that is not a JSON object; kept as text under `_planhat.raw`.
    Unparsed(&'a [u8]),
}

/// The failed file, opened on first use.
#[derive(Debug)]
pub struct FailedFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    written: u64,
}

impl FailedFile {
    pub fn new(path: PathBuf) -> FailedFile {
        FailedFile {
            path,
            writer: None,
            written: 0,
        }
    }

    /// The path, once something was written to it.
    pub fn written_path(&self) -> Option<String> {
        (self.written > 0).then(|| self.path.display().to_string())
    }

    /// Appends one line.
    pub fn write(&mut self, original: Original<'_>, note: &Note<'_>) -> Result<()> {
        let line = render(original, note);
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .with_context(|| format!("opening the failed file {}", self.path.display()))?;
                self.writer.insert(BufWriter::new(file))
            }
        };
        writer
            .write_all(&line)
            .with_context(|| format!("writing the failed file {}", self.path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Pushes what was written to the file, so that a crash after a
    /// delivered request does not lose the record of the failed ones.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(writer) = &mut self.writer {
            writer
                .flush()
                .with_context(|| format!("writing the failed file {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Flushes and makes the file durable, before a checkpoint counts its
    /// lines as handled: a lost machine must not lose them either.
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if let Some(writer) = &self.writer {
            writer
                .get_ref()
                .sync_data()
                .with_context(|| format!("writing the failed file {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// The failed-file line for a message, ending in a newline.
pub fn render(original: Original<'_>, note: &Note<'_>) -> Vec<u8> {
    let mut note_json = json!({
        "reason": note.reason,
        "status": note.status,
        "message": note.message,
        "source": note.source,
        "at": note.at,
    });
    let object = match original {
        Original::Message(text) => match serde_json::from_slice::<Value>(text) {
            Ok(Value::Object(mut fields)) => {
                // The message as received, less its secret and any older note.
                fields.shift_remove("writeKey");
                fields.insert(FAILED_KEY.into(), note_json);
                fields
            }
            _ => return render(Original::Unparsed(text), note),
        },
        Original::Unparsed(text) => {
            note_json["raw"] = Value::String(raw_text(text));
            Map::from_iter([(FAILED_KEY.to_owned(), note_json)])
        }
    };
    let mut line = serde_json::to_vec(&object).expect("a JSON object always serializes");
    line.push(b'\n');
    line
}

/// The text to keep for an unparsed line: a line that is already a failed
/// file's wrapper keeps its inner text, so re-sending never nests wrappers.
fn raw_text(text: &[u8]) -> String {
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(text)
        && object.len() == 1
        && let Some(Value::String(raw)) = object.get(FAILED_KEY).and_then(|note| note.get("raw"))
    {
        return raw.clone();
    }
    String::from_utf8_lossy(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse_line;

    fn note() -> Note<'static> {
        Note {
            reason: "no_identity",
            status: None,
            message: "who?",
            source: "events.ndjson:3",
            at: "2026-01-01T00:00:00.000Z",
        }
    }

    #[test]
    fn a_message_keeps_its_keys_and_gains_the_note() {
        let line = render(
            Original::Message(
                br#"{"type":"track","writeKey":"s","_planhat":{"reason":"old"},"event":"E"}"#,
            ),
            &note(),
        );
        let value: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(
            value,
            json!({"type":"track","event":"E","_planhat":{"reason":"no_identity","status":null,
                "message":"who?","source":"events.ndjson:3","at":"2026-01-01T00:00:00.000Z"}})
        );
        assert!(line.ends_with(b"\n"));
        assert!(!String::from_utf8_lossy(&line).contains("writeKey"));
    }

    #[test]
    fn an_unparsed_line_round_trips_without_nesting() {
        let first = render(Original::Unparsed(b"{oops"), &note());
        let again = render(Original::Unparsed(first.trim_ascii_end()), &note());
        assert_eq!(first, again);
        let value: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(value["_planhat"]["raw"], "{oops");
        // Reading the line back reads the raw text again.
        assert!(parse_line(first.trim_ascii_end())[0].is_err());
    }

    #[test]
    fn the_file_is_created_only_when_written_and_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.ndjson");
        let mut file = FailedFile::new(path.clone());
        file.flush().unwrap();
        assert!(!path.exists());
        file.write(Original::Message(br#"{"type":"track"}"#), &note())
            .unwrap();
        file.flush().unwrap();
        let mut second = FailedFile::new(path.clone());
        second
            .write(Original::Message(br#"{"type":"page"}"#), &note())
            .unwrap();
        second.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(second.written_path(), Some(path.display().to_string()));
    }
}
