//! Line reading (SPEC §3): gzip found by its magic bytes however slowly
//! they arrive (all members of a concatenated stream); BOM, CRLF and blank
//! lines; lines longer than the limit, skipped without being held. Lines
//! are handed over in chunks. Each line's end is marked with the
//! fingerprint of the source's bytes up to it (decompressed, for gzip), so
//! that a checkpoint can say which bytes its handled lines were.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use flate2::bufread::MultiGzDecoder;

use crate::fingerprint::Fingerprint;

/// One line's place in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line number in its source (blank lines count).
    pub line: u64,
    /// For a line longer than the limit (not counting its `\r\n` or `\n`),
    /// its length in bytes without the newline; such a line was skipped, not
    /// held, and its text is empty.
    pub too_long: Option<u64>,
    start: usize,
    end: usize,
}

/// Lines read from one source, in order.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Index of the source in the list given to [`spawn`].
    pub source: usize,
    data: Vec<u8>,
    pub spans: Vec<Span>,
    /// The number of the first line read into this chunk.
    pub first_line: u64,
    /// For each line read into this chunk, blank and too long ones too,
    /// the fingerprint of the source up to its end.
    pub ends: Vec<Fingerprint>,
    /// Bytes read from all sources (compressed bytes for gzip) when the
    /// chunk was handed over: once its lines are handled, the progress bar
    /// stands here, give or take the read buffer.
    pub read_to: u64,
}

impl Chunk {
    /// A line's text, without its line ending, BOM or trailing `\r`.
    pub fn text(&self, span: &Span) -> &[u8] {
        &self.data[span.start..span.end]
    }
}

/// What the reader thread hands over.
#[derive(Debug)]
pub enum Event {
    Lines(Chunk),
    /// A source could not be read from `line` on, the first line that could
    /// not be read (a corrupt or truncated gzip stream, a read error); the
    /// reader goes on with the next source.
    Unreadable {
        source: usize,
        line: u64,
        error: String,
    },
    /// A read of an object retried, as the run should say it and count it.
    Retry(String),
    /// A read the store refused (401/403): the credentials may list but not
    /// read. Nothing more is read; the run stops (SPEC §3.1).
    Refused {
        source: usize,
        message: String,
    },
    /// A source was read to its end; `lines` counts them all, blank ones
    /// too, and the line that could not be read, if any.
    End {
        source: usize,
        lines: u64,
    },
}

/// A chunk is handed over once it holds this many bytes...
const CHUNK_BYTES: usize = 256 * 1024;
/// ...or this many lines, or when reading on might block.
const CHUNK_LINES: usize = 4096;
const READ_BUFFER: usize = 256 * 1024;

/// Where reading a plain file goes on from (SPEC §6.1): past its first
/// `line` lines, the last of which ends at byte `bytes` with a newline (or
/// the end of the file), their bytes fingerprinted as `fingerprint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub line: u64,
    pub bytes: u64,
    pub fingerprint: Fingerprint,
}

/// Reads one source; false when the receiver is gone. With `resume`, the
/// source is a plain file positioned past the lines it names.
pub(super) fn read_source<R: Read>(
    index: usize,
    raw: R,
    resume: Option<Resume>,
    max_line_bytes: usize,
    sender: &SyncSender<Event>,
    counter: &Arc<AtomicU64>,
) -> bool {
    let mut raw = Counted {
        inner: raw,
        counter: Arc::clone(counter),
    };
    let mut lines = LineSplitter::new(index, max_line_bytes, Arc::clone(counter));
    if let Some(resume) = resume {
        lines.number = resume.line;
        lines.chunk.first_line = resume.line + 1;
        lines.fingerprint = resume.fingerprint;
        lines.fingerprint.update(b"\n");
        let raw = BufReader::with_capacity(READ_BUFFER, raw);
        return finish(lines.run(raw, sender), lines, index, sender);
    }
    let result = magic_bytes(&mut raw).and_then(|head| {
        // The bytes looked at are read again, ahead of the rest.
        let is_gzip = head == [0x1f, 0x8b];
        let raw = BufReader::with_capacity(READ_BUFFER, Cursor::new(head).chain(raw));
        if is_gzip {
            let decoder = MultiGzDecoder::new(raw);
            lines.run(BufReader::with_capacity(READ_BUFFER, decoder), sender)
        } else {
            lines.run(raw, sender)
        }
    });
    finish(result, lines, index, sender)
}

/// Says how reading a source ended: where it broke, if it did, then its end.
fn finish(
    result: io::Result<bool>,
    mut lines: LineSplitter,
    index: usize,
    sender: &SyncSender<Event>,
) -> bool {
    let keep_going = match result {
        Ok(keep_going) => keep_going,
        Err(error) if error.get_ref().is_some_and(|e| e.is::<Refused>()) => {
            let refused = Event::Refused {
                source: index,
                message: error.to_string(),
            };
            lines.flush(sender);
            sender.send(refused).ok();
            return false;
        }
        Err(error) => {
            // The line being read when it broke is the first one lost; it
            // counts as a line of the source, so a resumed run does not
            // report it twice.
            lines.number += 1;
            let event = Event::Unreadable {
                source: index,
                line: lines.number,
                error: error.to_string(),
            };
            lines.flush(sender) && sender.send(event).is_ok()
        }
    };
    let end = Event::End {
        source: index,
        lines: lines.number,
    };
    keep_going && sender.send(end).is_ok()
}

/// A read the store refused: the reason, which stops the run rather than
/// making the rest of the source unreadable.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// How a file starts, against what a checkpoint covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// It holds fewer bytes.
    Shorter,
    /// The fingerprint of its first bytes, and whether a line ends there
    /// (a newline or the end of the file follows).
    Read(Fingerprint, bool),
}

/// How the first `bytes` bytes of the file at `path` are, as the reader
/// reads them (decompressed, for gzip): what a checkpoint checks a file
/// against before a resume.
pub fn start_of(path: &Path, bytes: u64) -> io::Result<Start> {
    let mut raw = File::open(path)?;
    let head = magic_bytes(&mut raw)?;
    let is_gzip = head == [0x1f, 0x8b];
    let raw = BufReader::with_capacity(READ_BUFFER, Cursor::new(head).chain(raw));
    let mut reader: Box<dyn BufRead> = if is_gzip {
        Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        ))
    } else {
        Box::new(raw)
    };
    let mut fingerprint = Fingerprint::default();
    while fingerprint.bytes() < bytes {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(Start::Shorter);
        }
        let want = usize::try_from(bytes - fingerprint.bytes()).unwrap_or(usize::MAX);
        let take = buffer.len().min(want);
        fingerprint.update(&buffer[..take]);
        reader.consume(take);
    }
    let next = reader.fill_buf()?.first().copied();
    Ok(Start::Read(fingerprint, matches!(next, None | Some(b'\n'))))
}

/// The first two bytes, or fewer at the end of the source. A pipe may
/// hand over one byte at a time, so one read is not enough to tell gzip
/// (SPEC §3).
fn magic_bytes<R: Read>(raw: &mut R) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(2);
    raw.take(2).read_to_end(&mut head)?;
    Ok(head)
}

struct LineSplitter {
    chunk: Chunk,
    number: u64,
    /// Of the bytes read from the source so far.
    fingerprint: Fingerprint,
    max_line_bytes: usize,
    /// Bytes read so far, to stamp each chunk with.
    read: Arc<AtomicU64>,
}

impl LineSplitter {
    fn new(source: usize, max_line_bytes: usize, read: Arc<AtomicU64>) -> LineSplitter {
        LineSplitter {
            chunk: Chunk {
                source,
                first_line: 1,
                ..Chunk::default()
            },
            number: 0,
            fingerprint: Fingerprint::default(),
            max_line_bytes,
            read,
        }
    }

    /// Splits the source into lines. Ok(false) when the receiver is gone.
    fn run<R: Read>(
        &mut self,
        mut reader: BufReader<R>,
        sender: &SyncSender<Event>,
    ) -> io::Result<bool> {
        // Room for the longest line allowed and its `\r\n`: a read that
        // fills it without reaching a newline is a line too long, and
        // nothing more of it is kept.
        let room = self.max_line_bytes as u64 + 2;
        loop {
            let start = self.chunk.data.len();
            let read = (&mut reader)
                .take(room)
                .read_until(b'\n', &mut self.chunk.data)?;
            if read == 0 {
                return Ok(self.flush(sender));
            }
            self.number += 1;
            // A line's fingerprint stops short of its newline, so that a
            // last line without one, later given one, is still the same line.
            let line = &self.chunk.data[start..];
            let mut newline = line.ends_with(b"\n");
            self.fingerprint
                .update(&line[..line.len() - usize::from(newline)]);
            if read as u64 == room && !newline {
                self.chunk.data.truncate(start);
                let rest;
                (rest, newline) = skip_line(&mut reader, &mut self.fingerprint)?;
                self.add_too_long(room + rest);
            } else {
                self.add_span(start);
            }
            self.chunk.ends.push(self.fingerprint);
            if newline {
                self.fingerprint.update(b"\n");
            }
            let full =
                self.chunk.data.len() >= CHUNK_BYTES || self.chunk.spans.len() >= CHUNK_LINES;
            // An empty buffer means the next read goes to the source and may
            // wait (a live pipe): hand over what we have first.
            let may_block = reader.buffer().is_empty();
            if (full || may_block) && !self.flush(sender) {
                return Ok(false);
            }
        }
    }

    fn add_span(&mut self, start: usize) {
        let data = &self.chunk.data;
        let mut end = data.len();
        while end > start && matches!(data[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        if end - start > self.max_line_bytes {
            let without_newline = data[start..].strip_suffix(b"\n").unwrap_or(&data[start..]);
            let bytes = without_newline.len() as u64;
            self.chunk.data.truncate(start);
            self.add_too_long(bytes);
            return;
        }
        let mut begin = start;
        // Files joined with `cat` carry a BOM at the start of later lines.
        if data[begin..end].starts_with(b"\xEF\xBB\xBF") {
            begin += 3;
        }
        if data[begin..end].iter().all(u8::is_ascii_whitespace) {
            self.chunk.data.truncate(start);
            return;
        }
        self.chunk.spans.push(Span {
            line: self.number,
            too_long: None,
            start: begin,
            end,
        });
    }

    fn add_too_long(&mut self, bytes: u64) {
        let at = self.chunk.data.len();
        self.chunk.spans.push(Span {
            line: self.number,
            too_long: Some(bytes),
            start: at,
            end: at,
        });
    }

    /// Hands the chunk over if it holds lines; false when the receiver is gone.
    fn flush(&mut self, sender: &SyncSender<Event>) -> bool {
        // Blank lines alone are handed over too, for their fingerprints.
        if self.chunk.ends.is_empty() {
            self.chunk.data.clear();
            return true;
        }
        let next = Chunk {
            source: self.chunk.source,
            first_line: self.number + 1,
            ..Chunk::default()
        };
        let mut full = std::mem::replace(&mut self.chunk, next);
        full.read_to = self.read.load(Ordering::Relaxed);
        sender.send(Event::Lines(full)).is_ok()
    }
}

/// Reads past the rest of a line, holding none of it but its fingerprint
/// (without the newline); returns how many bytes that was, without the
/// newline, and whether there was one.
fn skip_line<R: BufRead>(reader: &mut R, fingerprint: &mut Fingerprint) -> io::Result<(u64, bool)> {
    let mut skipped = 0;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok((skipped, false));
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                fingerprint.update(&buffer[..newline]);
                reader.consume(newline + 1);
                return Ok((skipped + newline as u64, true));
            }
            None => {
                fingerprint.update(buffer);
                let len = buffer.len();
                reader.consume(len);
                skipped += len as u64;
            }
        }
    }
}

/// Counts the bytes that pass through, for progress by bytes read.
struct Counted<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    fn lines_of(bytes: &[u8]) -> Vec<(u64, String)> {
        lines_within(bytes, 1 << 20)
    }

    fn lines_within(bytes: &[u8], max_line_bytes: usize) -> Vec<(u64, String)> {
        lines_from(io::Cursor::new(bytes.to_vec()), max_line_bytes)
    }

    fn lines_from(source: impl Read, max_line_bytes: usize) -> Vec<(u64, String)> {
        let (sender, receiver) = sync_channel(1000);
        assert!(read_source(
            0,
            source,
            None,
            max_line_bytes,
            &sender,
            &Arc::default()
        ));
        drop(sender);
        receiver
            .iter()
            .flat_map(|event| match event {
                Event::Lines(chunk) => chunk
                    .spans
                    .iter()
                    .map(|span| match span.too_long {
                        Some(bytes) => (span.line, format!("too long: {bytes}")),
                        None => (
                            span.line,
                            String::from_utf8_lossy(chunk.text(span)).into_owned(),
                        ),
                    })
                    .collect::<Vec<_>>(),
                Event::Unreadable { line, error, .. } => {
                    vec![(line, format!("unreadable: {error}"))]
                }
                Event::End { lines, .. } => vec![(lines, "end".to_owned())],
                Event::Retry(text) => vec![(0, format!("retry: {text}"))],
                Event::Refused { message, .. } => vec![(0, format!("refused: {message}"))],
            })
            .collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn bom_crlf_and_blank_lines_are_ignored_and_numbers_kept() {
        let lines = lines_of(b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n   \n{\"b\":2}\n{\"c\":3}");
        assert_eq!(
            lines,
            [
                (1, "{\"a\":1}".into()),
                (4, "{\"b\":2}".into()),
                (5, "{\"c\":3}".into()),
                (5, "end".into())
            ]
        );
    }

    #[test]
    fn a_bom_is_ignored_at_the_start_of_any_line() {
        let lines = lines_of(b"{\"a\":1}\n\xEF\xBB\xBF{\"b\":2}\n\xEF\xBB\xBF\n");
        assert_eq!(
            lines,
            [
                (1, "{\"a\":1}".into()),
                (2, "{\"b\":2}".into()),
                (3, "end".into())
            ]
        );
    }

    #[test]
    fn lines_longer_than_the_limit_are_skipped_by_size() {
        let mut input = b"{\"a\":1}\n".to_vec();
        input.extend(vec![b'x'; 25]);
        input.extend(b"\r\n0123456789\r\n01234567890\n");
        input.extend(vec![b'y'; 1000]);
        let lines = lines_within(&input, 10);
        assert_eq!(
            lines,
            [
                (1, "{\"a\":1}".into()),
                (2, "too long: 26".into()),
                (3, "0123456789".into()),
                (4, "too long: 11".into()),
                (5, "too long: 1000".into()),
                (5, "end".into())
            ]
        );
    }

    /// A reader that hands over one byte per read.
    struct Trickle<R>(R);

    impl<R: Read> Read for Trickle<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let len = buf.len().min(1);
            self.0.read(&mut buf[..len])
        }
    }

    #[test]
    fn gzip_is_found_when_its_bytes_come_one_at_a_time() {
        let data = gzip(b"{\"a\":1}\n{\"b\":2}\n");
        let lines = lines_from(Trickle(io::Cursor::new(data)), 1 << 20);
        assert_eq!(
            lines,
            [
                (1, "{\"a\":1}".into()),
                (2, "{\"b\":2}".into()),
                (2, "end".into())
            ]
        );
        assert_eq!(lines_of(b"x"), [(1, "x".into()), (1, "end".into())]);
        assert_eq!(lines_of(b""), [(0, "end".into())]);
    }

    #[test]
    fn gzip_is_found_by_magic_bytes_and_all_members_are_read() {
        let mut both = gzip(b"{\"a\":1}\n{\"b\":2}\n");
        both.extend(gzip(b"{\"c\":3}\n"));
        let lines = lines_of(&both);
        assert_eq!(
            lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [1, 2, 3, 3]
        );
        assert_eq!(lines[2].1, "{\"c\":3}");
    }

    #[test]
    fn a_truncated_gzip_stream_reports_where_it_broke_after_the_lines_it_gave() {
        let mut data = gzip(&b"{\"a\":1}\n".repeat(1000));
        data.truncate(data.len() - 10);
        let lines = lines_of(&data);
        let (line, text) = &lines[lines.len() - 2];
        assert!(text.starts_with("unreadable:"), "{text}");
        let good = lines.len() as u64 - 2;
        assert!(good > 0);
        // The first line that could not be read, counted as a line.
        assert_eq!(*line, good + 1);
        assert_eq!(lines[lines.len() - 1], (good + 1, "end".into()));
    }
}
