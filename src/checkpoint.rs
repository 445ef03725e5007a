//! Checkpoints for resumable backfills (SPEC §6): for each input source
//! (path, size, modification time; stdin as `-`), how many leading lines are
//! fully handled — delivered, skipped, or written to the failed file. Only a
//! complete prefix counts: a line after one still waiting in a batch is
//! never counted. The file is replaced atomically (written beside, synced,
//! renamed), so a crash leaves the old one or the new one, never half of one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::error::Usage;
use crate::input::Source;
use crate::planhat::Origin;
use crate::report;

const VERSION: u32 = 1;

/// One source as the checkpoint file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The absolute path, or `-` for standard input.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_ns: Option<u64>,
    /// Leading lines fully handled (blank lines count).
    pub lines: u64,
    /// Whether the whole source is handled.
    pub complete: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Contents {
    version: u32,
    sources: Vec<Entry>,
}

/// The checkpoint of a run.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    /// One per source of this run, in order.
    entries: Vec<Entry>,
    /// Sources the file knows that this run does not read: kept as they are.
    others: Vec<Entry>,
}

impl Checkpoint {
    /// Opens the checkpoint at `path` for these sources, and says how many
    /// leading lines of each are already handled. A source whose size or
    /// modification time changed since is an error unless `restart`, which
    /// starts every source from its first line.
    pub fn open(path: &Path, sources: &[Source], restart: bool) -> Result<(Checkpoint, Vec<u64>)> {
        let fresh: Vec<Entry> = sources.iter().map(entry_for).collect::<Result<_>>()?;
        let saved = match std::fs::read(path) {
            Ok(bytes) if !restart => {
                let contents: Contents = serde_json::from_slice(&bytes)
                    .with_context(|| format!("reading the checkpoint {}", path.display()))?;
                if contents.version != VERSION {
                    bail!(Usage(format!(
                        "the checkpoint {} has version {}, this tool writes {VERSION}; pass --restart to start over",
                        path.display(),
                        contents.version
                    )));
                }
                contents.sources
            }
            Ok(_) => Vec::new(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the checkpoint {}", path.display()));
            }
        };
        let mut skip = Vec::with_capacity(fresh.len());
        let mut entries = Vec::with_capacity(fresh.len());
        for entry in fresh {
            let known = saved.iter().find(|s| s.path == entry.path);
            let lines = match known {
                Some(known)
                    if known.lines > 0
                        && (known.size, known.modified_ns) != (entry.size, entry.modified_ns) =>
                {
                    let change = match (known.size, entry.size) {
                        (Some(was), Some(now)) if was != now => {
                            format!("it had {}, now {}", report::size(was), report::size(now))
                        }
                        _ => "its size is the same, its modification time is not".into(),
                    };
                    bail!(Usage(format!(
                        "{} changed since the checkpoint {} was written ({change}); \
                         resuming could skip or repeat events. Restore the file, or pass --restart to send everything again",
                        entry.path,
                        path.display(),
                    )));
                }
                Some(known) => known.lines,
                None => 0,
            };
            skip.push(lines);
            entries.push(Entry { lines, ..entry });
        }
        let others = saved
            .into_iter()
            .filter(|s| !entries.iter().any(|e| e.path == s.path))
            .collect();
        let checkpoint = Checkpoint {
            path: path.to_owned(),
            entries,
            others,
        };
        Ok((checkpoint, skip))
    }

    /// Records how far each source is handled and writes the file.
    pub fn save(&mut self, handled: &Handled, first_pending: Option<Origin>) -> Result<()> {
        for (source, entry) in self.entries.iter_mut().enumerate() {
            let (lines, complete) = handled.of(source, first_pending);
            // Never move back: a resumed run starts past the lines it skips.
            if lines >= entry.lines {
                entry.lines = lines;
                entry.complete = complete;
            }
        }
        let contents = Contents {
            version: VERSION,
            sources: self.entries.iter().chain(&self.others).cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&contents).expect("a checkpoint always serializes");
        write_atomically(&self.path, &bytes)
            .with_context(|| format!("writing the checkpoint {}", self.path.display()))
    }
}

fn entry_for(source: &Source) -> Result<Entry> {
    Ok(match source {
        Source::Stdin => Entry {
            path: "-".into(),
            size: None,
            modified_ns: None,
            lines: 0,
            complete: false,
        },
        Source::File {
            path,
            size,
            modified_ns,
        } => Entry {
            // Absolute, so that `logs/` and `./logs/` are one source.
            path: path
                .canonicalize()
                .with_context(|| format!("{}", path.display()))?
                .display()
                .to_string(),
            size: Some(*size),
            modified_ns: *modified_ns,
            lines: 0,
            complete: false,
        },
    })
}

/// Writes a temporary file beside `path`, syncs it, and renames it over
/// `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    // The rename itself is durable once the folder is synced.
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

/// How far the run has got through each source: lines whose messages were
/// all mapped, and sources read to their end.
#[derive(Debug, Clone, Default)]
pub struct Handled {
    lines: Vec<u64>,
    complete: Vec<bool>,
}

impl Handled {
    pub fn new(sources: usize) -> Handled {
        Handled {
            lines: vec![0; sources],
            complete: vec![false; sources],
        }
    }

    /// Every message of the line at `origin` is mapped, and the lines before it.
    pub fn line_done(&mut self, origin: Origin) {
        self.lines[origin.source] = origin.line;
    }

    /// The source was read to its end, `lines` lines in all.
    pub fn source_done(&mut self, source: usize, lines: u64) {
        self.lines[source] = lines;
        self.complete[source] = true;
    }

    /// Lines of `source` fully handled, and whether that is all of it, when
    /// `first_pending` is the earliest message not yet delivered (waiting in
    /// a batch), if any.
    fn of(&self, source: usize, first_pending: Option<Origin>) -> (u64, bool) {
        let done = (self.lines[source], self.complete[source]);
        match first_pending {
            Some(pending) if source > pending.source => (0, false),
            Some(pending) if source == pending.source => (done.0.min(pending.line - 1), false),
            _ => done,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: usize, line: u64) -> Origin {
        Origin { source, line }
    }

    #[test]
    fn only_the_prefix_before_the_first_pending_message_is_handled() {
        let mut handled = Handled::new(3);
        handled.source_done(0, 10);
        handled.line_done(at(1, 7));
        assert_eq!(handled.of(0, None), (10, true));
        assert_eq!(handled.of(1, None), (7, false));
        assert_eq!(handled.of(2, None), (0, false));
        // A message of line 4 of source 1 still waits in a batch.
        assert_eq!(handled.of(0, Some(at(1, 4))), (10, true));
        assert_eq!(handled.of(1, Some(at(1, 4))), (3, false));
        // A message of source 0 still waits: nothing after it counts.
        assert_eq!(handled.of(0, Some(at(0, 9))), (8, false));
        assert_eq!(handled.of(1, Some(at(0, 9))), (0, false));
    }

    #[test]
    fn a_checkpoint_round_trips_and_refuses_changed_sources() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n{}\n{}\n").unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [0]);
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 2));
        checkpoint.save(&handled, None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [2]);
        assert!(!dir.path().join("checkpoint.json.tmp").exists());

        std::fs::write(&input, "{}\n{}\n{}\n{}\n").unwrap();
        let changed = crate::input::resolve(&[input]).unwrap();
        let error = Checkpoint::open(&path, &changed, false).unwrap_err();
        assert!(error.to_string().contains("--restart"), "{error}");
        let (_, skip) = Checkpoint::open(&path, &changed, true).unwrap();
        assert_eq!(skip, [0]);
    }
}
