//! The failed file (SPEC §6): one line per rejected or failed input
//! message, the original message with one added key, `_planhat`, saying why.
//! The file is valid input, so sending it again retries those messages.
//! It is created only when something goes in it, and appended to, a whole
//! record at a time: a write that fails part-way is cut back, so the file
//! never ends in half a line. A checkpoint records the file's length, and
//! a resume cuts it back to that length first ([`cut_back`]): the records
//! past it are of lines the resume handles again, so each line is in the
//! file once however often the run is stopped.
//!
//! Messages are written back through the tool's own JSON tree, so numbers
//! keep their text and a repeated key its last value (SPEC §3). A line that
//! is not JSON is kept whole under `_planhat.raw`, or, when it is not even
//! UTF-8, byte for byte under `_planhat.raw_base64`, so that a re-send reads
//! the very same bytes. Input that was never read (a line too long, a
//! stream that broke) is recorded by position, and a line too long by size.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use std::borrow::Cow;

use anyhow::{Context, Result};
use base64::Engine;

use crate::segment::json::{self, Number, Object, Value};
use crate::segment::{FAILED_KEY, FailedRecord, RAW_BASE64, failed_record};

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
    /// A line that is not a JSON object; kept under `_planhat.raw` (or
    /// `raw_base64`).
    Unparsed(&'a [u8]),
    /// Input that was not read: a line longer than the limit (`bytes`, its
    /// size) or the first line of a stream that could not be read.
    Unread { bytes: Option<u64> },
}

/// The failed file, opened on first use.
#[derive(Debug)]
pub struct FailedFile {
    path: PathBuf,
    file: Option<File>,
    /// The file's length after the last whole record.
    len: u64,
    written: u64,
}

/// Where records go: a file, or in tests a writer that fails part-way.
trait Sink: Write {
    /// Cuts the sink back to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// Appends a whole record at `len`, or nothing: a write that fails
/// part-way (a full disk, a file-size limit) is cut back, so that the file
/// never holds half a line for a resume to append onto.
fn append_whole(sink: &mut impl Sink, len: u64, record: &[u8]) -> io::Result<()> {
    match sink.write_all(record).and_then(|()| sink.flush()) {
        Ok(()) => Ok(()),
        Err(error) => {
            // The cause is what the operator needs; a failed cut-back is
            // said beside it.
            sink.set_len(len).map_err(|cut| {
                io::Error::new(
                    error.kind(),
                    format!("{error}; cutting back the partial record failed too: {cut}"),
                )
            })?;
            Err(error)
        }
    }
}

impl FailedFile {
    pub fn new(path: PathBuf) -> FailedFile {
        FailedFile {
            path,
            file: None,
            len: 0,
            written: 0,
        }
    }

    /// The path, once something was written to it.
    pub fn written_path(&self) -> Option<String> {
        (self.written > 0).then(|| self.path.display().to_string())
    }

    /// The path the file is written at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's length in whole records, which a checkpoint records: a
    /// resume cuts the file back to it. Before the first record, the length
    /// the file has (0 when there is none).
    pub fn length(&self) -> Result<u64> {
        if self.file.is_some() {
            return Ok(self.len);
        }
        match std::fs::metadata(&self.path) {
            Ok(metadata) => Ok(metadata.len()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(error) => Err(error)
                .with_context(|| format!("reading the failed file {}", self.path.display())),
        }
    }

    /// Appends one line, whole or not at all. Each record is written at
    /// once: failures are few, and a record held in a buffer could not be
    /// taken back whole.
    pub fn write(&mut self, original: Original<'_>, note: &Note<'_>) -> Result<()> {
        let line = render(original, note);
        let file = match &mut self.file {
            Some(file) => file,
            None => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .with_context(|| format!("opening the failed file {}", self.path.display()))?;
                self.len = file
                    .metadata()
                    .with_context(|| format!("opening the failed file {}", self.path.display()))?
                    .len();
                self.file.insert(file)
            }
        };
        append_whole(file, self.len, &line)
            .with_context(|| format!("writing the failed file {}", self.path.display()))?;
        self.len += line.len() as u64;
        self.written += 1;
        Ok(())
    }

    /// Makes the file durable, before a checkpoint counts its lines as
    /// handled: a lost machine must not lose them either.
    pub fn sync(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()
                .with_context(|| format!("writing the failed file {}", self.path.display()))?;
        }
        Ok(())
    }
}

/// Cuts the failed file at `path` back to `len` bytes, the length a
/// checkpoint recorded: records past it are of lines the resume handles
/// again. A file shorter than that (moved away, emptied) is left alone.
pub fn cut_back(path: &Path, len: u64) -> Result<()> {
    let context = || {
        format!(
            "cutting the failed file {} back to {len} bytes",
            path.display()
        )
    };
    let file = match OpenOptions::new().write(true).open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(context),
    };
    if file.metadata().with_context(context)?.len() > len {
        file.set_len(len).with_context(context)?;
        file.sync_data().with_context(context)?;
    }
    Ok(())
}

/// The failed-file line for a message, ending in a newline.
pub fn render(original: Original<'_>, note: &Note<'_>) -> Vec<u8> {
    let mut note_fields = Object::default();
    let text = |text: &str| Value::String(Cow::Owned(text.to_owned()));
    note_fields.insert("reason", text(note.reason));
    let status = note.status.map(|status| Number::from(i64::from(status)));
    note_fields.insert("status", status.map_or(Value::Null, Value::Number));
    note_fields.insert("message", text(note.message));
    note_fields.insert("source", text(note.source));
    note_fields.insert("at", text(note.at));
    let object = match original {
        Original::Message(message) => match json::parse(message) {
            Ok(Value::Object(mut fields)) => {
                // The message as received, less its secret and any older note.
                fields.remove("writeKey");
                fields.remove(FAILED_KEY);
                fields.insert(FAILED_KEY, Value::Object(note_fields));
                fields
            }
            _ => return render(Original::Unparsed(message), note),
        },
        Original::Unparsed(line) => {
            let raw = match read_back(line) {
                Some(FailedRecord::Raw(raw)) => raw,
                // Its note says where the input was; that stays as it is.
                Some(FailedRecord::NeverRead { .. }) => return [line, b"\n"].concat(),
                None => line.to_vec(),
            };
            match String::from_utf8(raw) {
                Ok(raw) => note_fields.insert("raw", Value::String(Cow::Owned(raw))),
                Err(not_text) => {
                    let coded = RAW_BASE64.encode(not_text.as_bytes());
                    note_fields.insert("raw_base64", Value::String(Cow::Owned(coded)));
                }
            }
            note_only(note_fields)
        }
        Original::Unread { bytes } => {
            if let Some(bytes) = bytes {
                let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
                note_fields.insert("bytes", Value::Number(Number::from(bytes)));
            }
            note_only(note_fields)
        }
    };
    let mut line =
        serde_json::to_vec(&Value::Object(object)).expect("a JSON tree always serializes");
    line.push(b'\n');
    line
}

fn note_only(note: Object<'_>) -> Object<'_> {
    let mut object = Object::default();
    object.insert(FAILED_KEY, Value::Object(note));
    object
}

/// An unparsed line that is already a failed file's record: its inner
/// bytes are kept, so re-sending never nests wrappers.
fn read_back(line: &[u8]) -> Option<FailedRecord> {
    match json::parse(line) {
        Ok(Value::Object(object)) => failed_record(&object),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{LineError, parse_line};
    use serde_json::{Value as Json, json};

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
        let value: Json = serde_json::from_slice(&line).unwrap();
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
        let value: Json = serde_json::from_slice(&first).unwrap();
        assert_eq!(value["_planhat"]["raw"], "{oops");
        // Reading the line back reads the raw text again.
        assert!(parse_line(first.trim_ascii_end()).next().unwrap().is_err());
    }

    #[test]
    fn a_message_keeps_its_numbers_as_written_and_one_value_per_key() {
        let line = render(
            Original::Message(
                br#"{"type":"track","userId":123456789012345678901234567890,"properties":{"x":1e400,"y":1.50},"event":"a","event":"b"}"#,
            ),
            &note(),
        );
        let text = String::from_utf8(line).unwrap();
        assert!(
            text.starts_with(
                r#"{"type":"track","userId":123456789012345678901234567890,"properties":{"x":1e400,"y":1.50},"event":"b","_planhat":"#
            ),
            "{text}"
        );
    }

    #[test]
    fn a_line_that_is_not_utf8_is_kept_byte_for_byte_and_rejected_again() {
        let bytes = b"{\"type\":\"track\",\"userId\":\"ab\xff\xfe\",\"event\":\"e\"}";
        let first = render(Original::Unparsed(bytes), &note());
        let value: Json = serde_json::from_slice(&first).unwrap();
        assert!(value["_planhat"].get("raw").is_none(), "{value}");
        let coded = value["_planhat"]["raw_base64"].as_str().unwrap();
        assert_eq!(RAW_BASE64.decode(coded).ok().as_deref(), Some(&bytes[..]));
        // Read back, the very same bytes are refused the same way...
        let again = parse_line(first.trim_ascii_end()).next().unwrap();
        assert!(
            matches!(&again, Err(LineError::InvalidJson(why)) if why.contains("UTF-8")),
            "{again:?}"
        );
        // ...and written again as they were, not nested.
        assert_eq!(
            render(Original::Unparsed(first.trim_ascii_end()), &note()),
            first
        );
    }

    #[test]
    fn unread_input_is_recorded_by_position_and_size() {
        let line = render(
            Original::Unread {
                bytes: Some(52_428_800),
            },
            &note(),
        );
        let value: Json = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["_planhat"]["bytes"], json!(52_428_800));
        assert_eq!(value["_planhat"]["source"], "events.ndjson:3");
        assert_eq!(value.as_object().unwrap().len(), 1);
        let line = render(Original::Unread { bytes: None }, &note());
        let value: Json = serde_json::from_slice(&line).unwrap();
        assert!(value["_planhat"].get("bytes").is_none());
    }

    #[test]
    fn a_record_of_unread_input_is_rejected_again_and_kept_as_it_was() {
        let too_long = Note {
            reason: "line_too_long",
            ..note()
        };
        let first = render(Original::Unread { bytes: Some(5000) }, &too_long);
        let line = first.trim_ascii_end();
        assert_eq!(
            parse_line(line).next().unwrap(),
            Err(LineError::NeverRead { too_long: true })
        );
        let resent = Note {
            reason: "line_too_long",
            source: "retry.ndjson:1",
            ..note()
        };
        assert_eq!(render(Original::Unparsed(line), &resent), first);
    }

    #[test]
    fn the_file_is_created_only_when_written_and_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.ndjson");
        let mut file = FailedFile::new(path.clone());
        assert!(!path.exists());
        file.write(Original::Message(br#"{"type":"track"}"#), &note())
            .unwrap();
        let mut second = FailedFile::new(path.clone());
        second
            .write(Original::Message(br#"{"type":"page"}"#), &note())
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert_eq!(second.written_path(), Some(path.display().to_string()));
    }

    /// A file that takes `room` more bytes, then fails as a full disk does.
    struct Full {
        bytes: Vec<u8>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let n = buf.len().min(self.room);
            self.bytes.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Full {
        fn set_len(&mut self, len: u64) -> io::Result<()> {
            self.bytes.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_write_that_fails_part_way_leaves_no_partial_record() {
        let first = render(Original::Message(br#"{"type":"track"}"#), &note());
        let second = render(Original::Message(br#"{"type":"page"}"#), &note());
        let mut full = Full {
            bytes: Vec::new(),
            room: first.len() + 10,
        };
        append_whole(&mut full, 0, &first).unwrap();
        let error = append_whole(&mut full, first.len() as u64, &second).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert_eq!(full.bytes, first, "the torn second record is cut back");
    }

    #[test]
    fn a_resume_cuts_the_file_back_to_the_length_a_checkpoint_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("failed.ndjson");
        cut_back(&path, 0).unwrap();
        assert!(!path.exists(), "no file, nothing to cut");
        let mut file = FailedFile::new(path.clone());
        assert_eq!(file.length().unwrap(), 0);
        file.write(Original::Message(br#"{"type":"track"}"#), &note())
            .unwrap();
        let saved = file.length().unwrap();
        file.write(Original::Message(br#"{"type":"page"}"#), &note())
            .unwrap();
        cut_back(&path, saved).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), saved);
        // A file shorter than the length recorded is left as it is.
        cut_back(&path, saved * 2).unwrap();
        assert_eq!(FailedFile::new(path).length().unwrap(), saved);
    }
}
