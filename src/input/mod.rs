//! Input sources (SPEC §3): what a source is, how PATH arguments become
//! sources, and the reader thread that reads them one after another. Local
//! files and folders are in [`local`]; splitting bytes into lines (gzip,
//! BOM, CRLF, lines too long) is in [`lines`]. Lines are read on a thread of
//! their own and handed over in chunks, so a slow pipe never keeps a batch
//! waiting past its flush interval and memory stays flat however large the
//! input, or any one line of it.

mod lines;
mod local;

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use anyhow::{Context, Result, bail};

use lines::read_source;
pub use lines::{Chunk, Event, Span};

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
            local::walk(path, &mut files)?;
            files.sort();
            for file in files {
                sources.push(local::file_source(file)?);
            }
        } else {
            sources.push(local::file_source(path.clone())?);
        }
    }
    Ok(sources)
}

/// A handle on the reader thread.
pub struct Reader {
    pub events: Receiver<Event>,
}

/// Starts reading `sources` on a thread of its own; lines longer than
/// `max_line_bytes` are skipped and marked [`Span::too_long`].
pub fn spawn(sources: Vec<Source>, max_line_bytes: usize) -> Reader {
    // A few chunks in flight let reading overlap mapping while keeping
    // memory bounded when sending is slower than reading.
    let (sender, events) = sync_channel(4);
    // Bytes read from the sources so far (compressed bytes for gzip), which
    // each chunk carries for the progress bar.
    let counter = Arc::new(AtomicU64::new(0));
    thread::Builder::new()
        .name("input".into())
        .spawn(move || read_all(&sources, max_line_bytes, &sender, &counter))
        .expect("the system can start a thread");
    Reader { events }
}

fn read_all(
    sources: &[Source],
    max_line_bytes: usize,
    sender: &SyncSender<Event>,
    counter: &Arc<AtomicU64>,
) {
    for (index, source) in sources.iter().enumerate() {
        let raw: Box<dyn Read> = match source {
            Source::Stdin => Box::new(io::stdin()),
            Source::File { path, .. } => match File::open(path) {
                Ok(file) => Box::new(file),
                Err(error) => {
                    let event = Event::Unreadable {
                        source: index,
                        line: 1,
                        error: error.to_string(),
                    };
                    let end = Event::End {
                        source: index,
                        lines: 1,
                    };
                    if sender.send(event).is_err() || sender.send(end).is_err() {
                        return;
                    }
                    continue;
                }
            },
        };
        if !read_source(index, raw, max_line_bytes, sender, counter) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_paths_and_twice_stdin_fail_before_reading() {
        let error = resolve(&[PathBuf::from("/no/such/file.ndjson")]).unwrap_err();
        assert!(format!("{error:#}").contains("/no/such/file.ndjson"));
        let error = resolve(&[PathBuf::from("-"), PathBuf::from("-")]).unwrap_err();
        assert!(error.to_string().contains("twice"));
        assert_eq!(resolve(&[]).unwrap(), [Source::Stdin]);
    }
}
