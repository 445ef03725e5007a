//! Which sources a rerun reads, and from where (SPEC §6.1). The saved memory
//! records, for each source it covers, how it looked (a file's size and
//! modification time, an object's size and ETag) and how far its lines are
//! known. A source it covers in full is not read at all; a file that grew
//! is read from where its covered part ends; a source covered in part is
//! read, with its covered lines not mapped again; every other source is
//! read as before. History comes first, in the order it was handled, then
//! the rest in path order.

use std::collections::HashMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Covered};
use crate::error::Usage;
use crate::fingerprint::Fingerprint;
use crate::input::{Resume, Source};
use crate::mapping::Lessons;

/// How a source looked when it was read: what says, without reading it,
/// that it has not changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Stamp {
    /// Size and modification time (seconds and nanoseconds since the
    /// epoch), the quick check of rsync and make.
    File {
        size: u64,
        modified: (i64, u32),
    },
    /// An object cannot grow: its size and ETag name its version.
    Object {
        size: u64,
        etag: Option<String>,
    },
    Stdin,
}

impl Stamp {
    fn of(source: &Source) -> Result<Stamp> {
        Ok(match source {
            Source::File { path, .. } => {
                let metadata =
                    std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
                let modified = metadata
                    .modified()
                    .with_context(|| format!("{}", path.display()))?;
                let modified = match modified.duration_since(UNIX_EPOCH) {
                    Ok(after) => (after.as_secs() as i64, after.subsec_nanos()),
                    Err(before) => (-(before.duration().as_secs() as i64), 0),
                };
                Stamp::File {
                    size: metadata.len(),
                    modified,
                }
            }
            Source::Object(object) => Stamp::Object {
                size: object.size,
                etag: object.etag.clone(),
            },
            Source::Stdin => Stamp::Stdin,
        })
    }

    fn size(&self) -> Option<u64> {
        match self {
            Stamp::File { size, .. } | Stamp::Object { size, .. } => Some(*size),
            Stamp::Stdin => None,
        }
    }
}

/// What the memory knows of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Record {
    /// As the checkpoint names it (absolute path, URL, `-`).
    pub path: String,
    pub stamp: Stamp,
    /// Leading lines whose first-pass lessons (user → company
    /// associations, group-call names, links) the memory holds...
    pub taught: u64,
    /// ...and leading lines mapped (their messageIds in the dedupe window,
    /// their companies announced).
    pub mapped: u64,
    /// The furthest line whose bytes are vouched for, and the fingerprint
    /// of the source up to its end (at least `taught` and `mapped` lines,
    /// unless the source broke off there).
    pub seen: u64,
    pub fingerprint: Fingerprint,
    /// Every line of the source was mapped and taught.
    pub ended: bool,
    /// Every line was handled too (delivered, skipped or in the failed
    /// file), as the checkpoint said when the memory was saved.
    pub settled: bool,
}

/// Where a run stands in a source: where it started, from the memory, and
/// how far it got; what the next save records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reached {
    /// Leading lines whose first-pass lessons are learned.
    pub taught: u64,
    /// Leading lines mapped.
    pub mapped: u64,
    /// The furthest line read and the fingerprint at its end.
    pub seen: Option<(u64, Fingerprint)>,
    /// The main pass read the source to its end, which had this many lines.
    pub ended: Option<u64>,
}

impl Reached {
    /// What the main pass may learn from `line`: nothing of a line the
    /// memory holds as mapped, all but its association of one a first pass
    /// taught, everything else.
    pub fn lessons(&self, line: u64) -> Lessons {
        if line <= self.mapped {
            Lessons::None
        } else if line <= self.taught {
            Lessons::AllButAssociations
        } else {
            Lessons::All
        }
    }

    /// Notes that the main pass mapped the source up to `line`; when the
    /// run learns associations as it goes (`learning`), they are taught
    /// too.
    pub fn map_to(&mut self, line: u64, learning: bool) {
        self.mapped = self.mapped.max(line);
        if learning {
            self.taught = self.taught.max(line);
        }
    }

    /// Notes that `line` was read, its bytes fingerprinted as `end`.
    pub fn saw(&mut self, line: u64, end: Fingerprint) {
        if self.seen.is_none_or(|(seen, _)| line > seen) {
            self.seen = Some((line, end));
        }
    }
}

/// What a rerun reads.
#[derive(Debug, Default)]
pub struct Plan {
    /// The sources to read, history first.
    pub sources: Vec<Source>,
    /// Per source: where a plain file is read from, when its first lines
    /// need not be read at all.
    pub resumes: Vec<Option<Resume>>,
    /// Per source: the first bytes the memory vouches for (for the
    /// checkpoint, SPEC §6).
    pub known: Vec<Option<Covered>>,
    /// Per source: what the memory knows of it already.
    pub reached: Vec<Reached>,
    /// Sources the memory covers in full, not read, and their lines.
    pub not_read: Vec<(Source, u64)>,
}

/// A source to read, as the next save records it.
#[derive(Debug, Clone)]
pub(super) struct Reading {
    pub path: String,
    pub stamp: Stamp,
    /// Its record in the memory, if it has one.
    pub record: Option<usize>,
}

/// A plan, with what the next save needs of it.
pub(super) struct Planned {
    pub plan: Plan,
    /// Each source read, in the plan's order.
    pub reading: Vec<Reading>,
    /// Records of sources not read whose stamps changed (a touched file,
    /// checked), with their stamps now.
    pub touched: Vec<(usize, Stamp)>,
}

/// Decides what to read of `sources` with the memory's `records`.
pub(super) fn plan(records: &[Record], sources: Vec<Source>, checkpoint: &Path) -> Result<Planned> {
    let mut known_sources = Vec::new();
    let mut new_sources = Vec::new();
    let mut touched = Vec::new();
    let mut not_read = Vec::new();
    // Built once: an export of a year holds tens of thousands of objects.
    // (Reversed, so that the first record of a path wins, as a search would.)
    let by_path: HashMap<&str, usize> = records
        .iter()
        .enumerate()
        .rev()
        .map(|(index, record)| (record.path.as_str(), index))
        .collect();
    for source in sources {
        let path = checkpoint::source_path(&source)?;
        let stamp = Stamp::of(&source)?;
        let Some(&index) = by_path.get(path.as_str()) else {
            new_sources.push((
                source,
                Reading {
                    path,
                    stamp,
                    record: None,
                },
            ));
            continue;
        };
        let record = &records[index];
        let same = record.stamp == stamp;
        if !same {
            check_unchanged(&source, record, &stamp, checkpoint)?;
        }
        // A file whose size is the same was touched, not grown: checked,
        // it holds nothing new.
        let nothing_new = same || stamp.size() == record.stamp.size();
        if record.ended && record.settled && source != Source::Stdin && nothing_new {
            if !same {
                touched.push((index, stamp));
            }
            not_read.push((source, record.seen));
            continue;
        }
        known_sources.push((
            index,
            source,
            Reading {
                path,
                stamp,
                record: Some(index),
            },
        ));
    }
    known_sources.sort_by_key(|(index, ..)| *index);
    let mut plan = Plan {
        not_read,
        ..Plan::default()
    };
    let mut readings = Vec::new();
    for (index, source, reading) in known_sources {
        let record = &records[index];
        let covered = Covered::of(record.seen, &record.fingerprint);
        // Read on from the covered part's end when every covered line is
        // settled and nothing of it is left to learn.
        let whole = record.ended
            && record.settled
            && record.taught == record.seen
            && record.mapped == record.seen;
        let resume = (whole && matches!(source, Source::File { .. })).then_some(Resume {
            line: record.seen,
            bytes: covered.bytes,
            fingerprint: record.fingerprint,
        });
        plan.resumes.push(resume);
        plan.known.push(Some(covered));
        plan.reached.push(Reached {
            taught: record.taught,
            mapped: record.mapped,
            seen: Some((record.seen, record.fingerprint)),
            ended: None,
        });
        plan.sources.push(source);
        readings.push(reading);
    }
    for (source, reading) in new_sources {
        plan.resumes.push(None);
        plan.known.push(None);
        plan.reached.push(Reached::default());
        plan.sources.push(source);
        readings.push(reading);
    }
    Ok(Planned {
        plan,
        reading: readings,
        touched,
    })
}

/// A source whose stamp changed must still hold the bytes the memory
/// covers: a file is read up to their end and hashed (it may only have
/// been touched, or have grown); an object cannot change in place.
fn check_unchanged(
    source: &Source,
    record: &Record,
    stamp: &Stamp,
    checkpoint: &Path,
) -> Result<()> {
    match source {
        Source::File { path, .. } => {
            let covered = Covered::of(record.seen, &record.fingerprint);
            checkpoint::check_file(path, &covered, checkpoint)
        }
        Source::Object(object) => bail!(Usage(format!(
            "{object} changed since the checkpoint {} was written (it was {}, it is {}); \
             restore it, or pass --restart to send everything again",
            checkpoint.display(),
            describe(&record.stamp),
            describe(stamp),
        ))),
        Source::Stdin => Ok(()),
    }
}

fn describe(stamp: &Stamp) -> String {
    match stamp {
        Stamp::Object { size, etag } => format!(
            "{} with ETag {}",
            crate::report::size(*size),
            etag.as_deref().unwrap_or("none")
        ),
        Stamp::File { size, .. } => crate::report::size(*size),
        Stamp::Stdin => "standard input".into(),
    }
}
