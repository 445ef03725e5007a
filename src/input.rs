//! Input sources and line reading (SPEC §3): files, directories walked in
//! path order with hidden entries skipped, and standard input; gzip found by
//! its magic bytes (all members of a concatenated stream); BOM, CRLF and
//! blank lines. Lines are read on a thread of their own and handed over in
//! chunks, so a slow pipe never keeps a batch waiting past its flush
//! interval and memory stays flat however large the input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use anyhow::{Context, Result, bail};
use flate2::bufread::MultiGzDecoder;

/// Where input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File {
        path: PathBuf,
        size: u64,
        /// Modification time, nanoseconds since the Unix epoch.
        modified_ns: Option<u64>,
    },
    Stdin,
}

impl Source {
    /// How positions name this source: the path as given, or `-`.
    pub fn label(&self) -> String {
        match self {
            Source::File { path, .. } => path.display().to_string(),
            Source::Stdin => "-".into(),
        }
    }
}

/// Turns the command's PATH arguments into sources: a file as it is, a
/// directory as every regular file below it in path order (hidden files and
/// folders skipped), `-` (or no path at all) as standard input. Fails before
/// anything is read when a path does not exist or cannot be opened, so a
/// typo in the last path does not leave a half-sent run.
pub fn resolve(paths: &[PathBuf]) -> Result<Vec<Source>> {
    if paths.is_empty() {
        return Ok(vec![Source::Stdin]);
    }
    let mut sources = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            if sources.contains(&Source::Stdin) {
                bail!("standard input (-) is given twice; it can be read only once");
            }
            sources.push(Source::Stdin);
            continue;
        }
        let metadata = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
        if metadata.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            files.sort();
            for file in files {
                sources.push(file_source(file)?);
            }
        } else {
            sources.push(file_source(path.clone())?);
        }
    }
    Ok(sources)
}

fn file_source(path: PathBuf) -> Result<Source> {
    let file = File::open(&path).with_context(|| format!("{}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    let modified_ns = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| u64::try_from(d.as_nanos()).ok());
    Ok(Source::File {
        path,
        size: metadata.len(),
        modified_ns,
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    for entry in entries {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        if is_hidden(&path) {
            continue;
        }
        // Follows links to files; a link to a folder is followed too, which
        // is how people point at exports stored elsewhere.
        let metadata = std::fs::metadata(&path).with_context(|| format!("{}", path.display()))?;
        if metadata.is_dir() {
            walk(&path, files)?;
        } else if metadata.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// One line's place in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line number in its source (blank lines count).
    pub line: u64,
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
    /// A source could not be read past `line` (a corrupt or truncated gzip
    /// stream, a read error); the reader goes on with the next source.
    Unreadable {
        source: usize,
        line: u64,
        error: String,
    },
    /// A source was read to its end; `lines` counts them all, blank ones too.
    End {
        source: usize,
        lines: u64,
    },
}

/// A handle on the reader thread.
pub struct Reader {
    pub events: Receiver<Event>,
    /// Bytes read from the sources so far (compressed bytes for gzip), for
    /// the progress bar.
    pub bytes_read: Arc<AtomicU64>,
}

/// A chunk is handed over once it holds this many bytes...
const CHUNK_BYTES: usize = 256 * 1024;
/// ...or this many lines, or when reading on might block.
const CHUNK_LINES: usize = 4096;
const READ_BUFFER: usize = 256 * 1024;

/// Starts reading `sources` on a thread of its own.
pub fn spawn(sources: Vec<Source>) -> Reader {
    // A few chunks in flight let reading overlap mapping while keeping
    // memory bounded when sending is slower than reading.
    let (sender, events) = sync_channel(4);
    let bytes_read = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&bytes_read);
    thread::Builder::new()
        .name("input".into())
        .spawn(move || read_all(&sources, &sender, &counter))
        .expect("the system can start a thread");
    Reader { events, bytes_read }
}

fn read_all(sources: &[Source], sender: &SyncSender<Event>, counter: &Arc<AtomicU64>) {
    for (index, source) in sources.iter().enumerate() {
        let raw: Box<dyn Read> = match source {
            Source::Stdin => Box::new(io::stdin()),
            Source::File { path, .. } => match File::open(path) {
                Ok(file) => Box::new(file),
                Err(error) => {
                    let event = Event::Unreadable {
                        source: index,
                        line: 0,
                        error: error.to_string(),
                    };
                    let end = Event::End {
                        source: index,
                        lines: 0,
                    };
                    if sender.send(event).is_err() || sender.send(end).is_err() {
                        return;
                    }
                    continue;
                }
            },
        };
        let counted = Counted {
            inner: raw,
            counter: Arc::clone(counter),
        };
        let keep_going = read_source(
            index,
            BufReader::with_capacity(READ_BUFFER, counted),
            sender,
        );
        if !keep_going {
            return;
        }
    }
}

/// Reads one source; false when the receiver is gone.
fn read_source<R: Read>(index: usize, mut raw: BufReader<R>, sender: &SyncSender<Event>) -> bool {
    let is_gzip = match raw.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(_) => false,
    };
    let mut lines = LineSplitter::new(index);
    let result = if is_gzip {
        let decoder = MultiGzDecoder::new(raw);
        lines.run(BufReader::with_capacity(READ_BUFFER, decoder), sender)
    } else {
        lines.run(raw, sender)
    };
    let keep_going = match result {
        Ok(keep_going) => keep_going,
        Err(error) => {
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

struct LineSplitter {
    chunk: Chunk,
    number: u64,
}

impl LineSplitter {
    fn new(source: usize) -> LineSplitter {
        LineSplitter {
            chunk: Chunk {
                source,
                ..Chunk::default()
            },
            number: 0,
        }
    }

    /// Splits the source into lines. Ok(false) when the receiver is gone.
    fn run<R: Read>(
        &mut self,
        mut reader: BufReader<R>,
        sender: &SyncSender<Event>,
    ) -> io::Result<bool> {
        loop {
            let start = self.chunk.data.len();
            let read = reader.read_until(b'\n', &mut self.chunk.data)?;
            if read == 0 {
                return Ok(self.flush(sender));
            }
            self.number += 1;
            self.add_span(start);
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
        let mut begin = start;
        if self.number == 1 && data[begin..end].starts_with(b"\xEF\xBB\xBF") {
            begin += 3;
        }
        if data[begin..end].iter().all(u8::is_ascii_whitespace) {
            self.chunk.data.truncate(start);
            return;
        }
        self.chunk.spans.push(Span {
            line: self.number,
            start: begin,
            end,
        });
    }

    /// Hands the chunk over if it holds lines; false when the receiver is gone.
    fn flush(&mut self, sender: &SyncSender<Event>) -> bool {
        if self.chunk.spans.is_empty() {
            self.chunk.data.clear();
            return true;
        }
        let next = Chunk {
            source: self.chunk.source,
            ..Chunk::default()
        };
        let full = std::mem::replace(&mut self.chunk, next);
        sender.send(Event::Lines(full)).is_ok()
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

    fn lines_of(bytes: &[u8]) -> Vec<(u64, String)> {
        let (sender, receiver) = sync_channel(1000);
        assert!(read_source(
            0,
            BufReader::new(io::Cursor::new(bytes.to_vec())),
            &sender
        ));
        drop(sender);
        receiver
            .iter()
            .flat_map(|event| match event {
                Event::Lines(chunk) => chunk
                    .spans
                    .iter()
                    .map(|span| {
                        (
                            span.line,
                            String::from_utf8_lossy(chunk.text(span)).into_owned(),
                        )
                    })
                    .collect::<Vec<_>>(),
                Event::Unreadable { line, error, .. } => {
                    vec![(line, format!("unreadable: {error}"))]
                }
                Event::End { lines, .. } => vec![(lines, "end".to_owned())],
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
        let last = &lines[lines.len() - 2];
        assert!(last.1.starts_with("unreadable:"), "{last:?}");
        assert!(lines.len() > 1);
    }

    #[test]
    fn directories_are_walked_in_path_order_without_hidden_entries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/inner")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for name in [
            "b/inner/2.gz",
            "a.ndjson",
            "b/1.gz",
            ".secret",
            ".hidden/x",
            "b/.dot",
        ] {
            std::fs::write(root.join(name), b"").unwrap();
        }
        let labels: Vec<String> = resolve(&[root.to_path_buf()])
            .unwrap()
            .iter()
            .map(|s| {
                s.label()
                    .trim_start_matches(&root.display().to_string())
                    .to_owned()
            })
            .collect();
        assert_eq!(labels, ["/a.ndjson", "/b/1.gz", "/b/inner/2.gz"]);
    }

    #[test]
    fn missing_paths_and_twice_stdin_fail_before_reading() {
        let error = resolve(&[PathBuf::from("/no/such/file.ndjson")]).unwrap_err();
        assert!(format!("{error:#}").contains("/no/such/file.ndjson"));
        let error = resolve(&[PathBuf::from("-"), PathBuf::from("-")]).unwrap_err();
        assert!(error.to_string().contains("twice"));
        assert_eq!(resolve(&[]).unwrap(), [Source::Stdin]);
    }
}
