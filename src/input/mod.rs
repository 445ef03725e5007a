//! Input sources (SPEC §3): what a source is, how PATH arguments become
//! sources, and the reader thread that reads them one after another. Local
//! files and folders are in [`local`], objects in S3 and GCS in [`object`]
//! (the only part that knows about clouds or async); splitting bytes into
//! lines (gzip, BOM, CRLF, lines too long) is in [`lines`]. Lines are read on a thread of
//! their own and handed over in chunks, so a slow pipe never keeps a batch
//! waiting past its flush interval and memory stays flat however large the
//! input, or any one line of it.

mod lines;
mod local;
pub mod object;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use anyhow::{Context, Result, bail};

use lines::read_source;
pub use lines::{Chunk, Event, Refused, Resume, Span, Start, start_of};

/// Where input comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File {
        path: PathBuf,
        size: u64,
    },
    /// An object in S3 or GCS.
    Object(object::Object),
    Stdin,
}

impl Source {
    /// How positions name this source: the path as given, the object's URL,
    /// or `-`.
    pub fn label(&self) -> String {
        match self {
            Source::File { path, .. } => path.display().to_string(),
            Source::Object(object) => object.to_string(),
            Source::Stdin => "-".into(),
        }
    }

    /// Its size in bytes, when known before it is read.
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::File { size, .. } => Some(*size),
            Source::Object(object) => Some(object.size),
            Source::Stdin => None,
        }
    }

    /// Whether it can be read again, for a first pass (SPEC §5.1, §5.7):
    /// everything but standard input.
    pub fn rereadable(&self) -> bool {
        !matches!(self, Source::Stdin)
    }
}

/// Turns the command's PATH arguments into sources: a file as it is, a
/// directory as every regular file below it in path order (hidden files and
/// folders skipped), an object-store prefix as the objects below it in key
/// order (likewise), `-` (or no path at all) as standard input. Fails
/// before anything is read when a path does not exist or cannot be opened
/// (or listed), so a typo in the last path does not leave a half-sent run.
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
        if let Some(url) = path.to_str().filter(|p| object::parse(p).is_some()) {
            sources.extend(object::list(url)?);
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

/// Sets how many times in a row a broken read of an object is resumed
/// (`send --max-retries`; the default, §6's, otherwise).
pub fn set_object_retries(sources: &mut [Source], max_retries: u32) {
    for source in sources {
        if let Source::Object(object) = source {
            object.max_retries = max_retries;
        }
    }
}

/// A handle on the reader thread.
pub struct Reader {
    pub events: Receiver<Event>,
}

/// Starts reading `sources` on a thread of its own; lines longer than
/// `max_line_bytes` are skipped and marked [`Span::too_long`]. A plain file
/// with a [`Resume`] in `resumes` (one per source, or none at all) is read
/// from past the lines it names; every other source from its first line.
pub fn spawn(sources: Vec<Source>, resumes: Vec<Option<Resume>>, max_line_bytes: usize) -> Reader {
    // A few chunks in flight let reading overlap mapping while keeping
    // memory bounded when sending is slower than reading.
    let (sender, events) = sync_channel(4);
    // Bytes read from the sources so far (compressed bytes for gzip), which
    // each chunk carries for the progress bar.
    let counter = Arc::new(AtomicU64::new(0));
    thread::Builder::new()
        .name("input".into())
        .spawn(move || read_all(&sources, &resumes, max_line_bytes, &sender, &counter))
        .expect("the system can start a thread");
    Reader { events }
}

fn read_all(
    sources: &[Source],
    resumes: &[Option<Resume>],
    max_line_bytes: usize,
    sender: &SyncSender<Event>,
    counter: &Arc<AtomicU64>,
) {
    // Made when the first object is read: runs without one need no runtime.
    let mut clients: Option<object::Clients> = None;
    for (index, source) in sources.iter().enumerate() {
        let mut resume = resumes.get(index).copied().flatten();
        let opened: io::Result<Box<dyn Read>> = match source {
            Source::Stdin => Ok(Box::new(io::stdin())),
            Source::File { path, .. } => File::open(path).and_then(|mut file| {
                resume = resume_plain(&mut file, resume, counter)?;
                Ok(Box::new(file) as Box<dyn Read>)
            }),
            Source::Object(object) => {
                if clients.is_none() {
                    clients = object::Clients::new().ok();
                }
                match &mut clients {
                    Some(clients) => clients
                        .open(object, sender)
                        .map(|r| Box::new(r) as Box<dyn Read>),
                    None => Err(io::Error::other("cannot start the object-store client")),
                }
            }
        };
        let keep_going = match opened {
            Ok(raw) => read_source(index, raw, resume, max_line_bytes, sender, counter),
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
                sender.send(event).is_ok() && sender.send(end).is_ok()
            }
        };
        if !keep_going {
            return;
        }
    }
}

/// Positions a file past the lines `resume` names, when it is plain text;
/// gzip cannot be read from the middle, so such a file is read from its
/// start (and `None` says so). The bytes passed over count as read, for
/// the progress bar.
fn resume_plain(
    file: &mut File,
    resume: Option<Resume>,
    counter: &AtomicU64,
) -> io::Result<Option<Resume>> {
    let Some(resume) = resume else {
        return Ok(None);
    };
    let mut head = [0; 2];
    let plain = file.read_exact(&mut head).is_err() || head != [0x1f, 0x8b];
    if !plain {
        file.rewind()?;
        return Ok(None);
    }
    // Past the last line's newline.
    let offset = resume.bytes + 1;
    file.seek(SeekFrom::Start(offset))?;
    counter.fetch_add(offset, Ordering::Relaxed);
    Ok(Some(resume))
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
