//! Checkpoints for resumable backfills (SPEC §6): for each input source
//! (its absolute path; an object's URL, size and ETag; stdin as `-`), how
//! many leading lines are fully
//! handled — delivered, skipped, or written to the failed file — with the
//! byte length and fingerprint of those lines (see `covered`), and which
//! lines past them are handled too. A line counts only once every item
//! it produced is settled; since profile upserts wait to be coalesced while
//! later activities are delivered, the handled lines are not always a
//! prefix, and the ones past the first unhandled line are recorded as
//! ranges (`also`), so that a rerun sends neither them nor their failed-file
//! entries again. The file also records the failed file's length at each
//! save, which a resume cuts the failed file back to. The file is replaced
//! atomically (written beside, synced, renamed), so a crash leaves the old
//! one or the new one, never half of one; and one run at a time holds it
//! (`storage::Lock`).
//!
//! Format version 2. Version 1 knew files by size and modification time
//! and had no failed-file length; it is refused with a hint to pass
//! `--restart`, because its handled lines cannot be checked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::error::Usage;
use crate::fingerprint::Fingerprint;
use crate::input::Source;

mod covered;
mod done;
mod lines;
mod storage;

use covered::Tracker;
pub use covered::{Covered, check_file};

pub use done::{Done, Handled, PartLine, Parts, Unsettled};
use done::{lines, of_source, waiting_messages};
pub use lines::LineSet;
use storage::write_atomically;
pub use storage::{Lock, beside, write_atomically_with};

const VERSION: u32 = 2;

/// One source as the checkpoint file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The absolute path, or `-` for standard input.
    pub path: String,
    /// The byte length of the first `lines` lines as read (decompressed,
    /// for gzip)...
    pub bytes: u64,
    /// ...and their fingerprint, 16 hex digits.
    pub hash: String,
    /// An object's size and ETag (SPEC §3.1): an object cannot grow, so
    /// these say it is the object the checkpoint was written for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Leading lines fully handled (blank lines count).
    pub lines: u64,
    /// Ranges of lines past `lines + 1` handled too (first and last line,
    /// inclusive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<[u64; 2]>,
    /// Lines whose items are all settled but their metric (SPEC §11): a
    /// rerun sends only the metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_pending: Vec<[u64; 2]>,
    /// Lines whose metric is settled and nothing else: a rerun sends all
    /// but the metric.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_sent: Vec<[u64; 2]>,
    /// Lines of several messages (batch envelopes) settled in part: a
    /// rerun sends only the messages, and parts, still waiting.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<PartLine>,
    /// Whether the whole source is handled.
    pub complete: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Contents {
    version: u32,
    /// The failed file when the checkpoint was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed: Option<FailedMark>,
    sources: Vec<Entry>,
}

/// The version alone, read first: an older file need not parse as this one.
#[derive(Deserialize)]
struct Version {
    version: u32,
}

/// The failed file's absolute path and length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FailedMark {
    path: String,
    bytes: u64,
}

/// The checkpoint of a run.
#[derive(Debug)]
pub struct Checkpoint {
    path: PathBuf,
    /// One per source of this run, in order.
    entries: Vec<Entry>,
    /// Sources the file knows that this run does not read: kept as they are.
    others: Vec<Entry>,
    /// Per source, what the file said was done when the run began: still
    /// done, whatever this run has reached.
    resumed: Vec<Done>,
    /// Per source, which bytes the handled lines were.
    covered: Vec<Tracker>,
    /// The failed file as the file recorded it.
    failed: Option<FailedMark>,
}

impl Checkpoint {
    /// Opens the checkpoint at `path` for these sources, and says which
    /// lines of each are already handled. A file whose handled lines are
    /// no longer its first bytes is an error unless `restart`, which starts
    /// every source from its first line; standard input is checked as it is
    /// read ([`Checkpoint::read`]). `known` gives, per source, the first
    /// bytes the saved memory vouches for (SPEC §6.1): a file or object it
    /// checked is not read again to check a shorter part, and standard
    /// input must start with them.
    pub fn open(
        path: &Path,
        sources: &[Source],
        restart: bool,
        known: &[Option<Covered>],
    ) -> Result<(Checkpoint, Vec<Done>)> {
        let fresh: Vec<Entry> = sources.iter().map(entry_for).collect::<Result<_>>()?;
        let reading = || format!("reading the checkpoint {}", path.display());
        let (saved, failed) = match std::fs::read(path) {
            Ok(bytes) if !restart => {
                let version: Version = serde_json::from_slice(&bytes).with_context(reading)?;
                if version.version != VERSION {
                    bail!(Usage(format!(
                        "the checkpoint {} has version {}, this tool reads and writes version {VERSION}, \
                         which checks that handled lines are still the input's first bytes; \
                         pass --restart to start over, or resume it with the release that wrote it",
                        path.display(),
                        version.version
                    )));
                }
                let contents: Contents = serde_json::from_slice(&bytes).with_context(reading)?;
                (contents.sources, contents.failed)
            }
            Ok(_) => (Vec::new(), None),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the checkpoint {}", path.display()));
            }
        };
        let mut skip = Vec::with_capacity(fresh.len());
        let mut entries = Vec::with_capacity(fresh.len());
        let mut trackers = Vec::with_capacity(fresh.len());
        for ((entry, source), vouched) in fresh.into_iter().zip(sources).zip(known) {
            let vouched = vouched.filter(|_| !restart);
            let known = saved.iter().find(|s| s.path == entry.path);
            let (lines, covered) = match known {
                Some(known) if Done::of(known) != Done::default() => {
                    let hash = u64::from_str_radix(&known.hash, 16)
                        .with_context(|| format!("{}: the hash of {}", reading(), known.path))?;
                    let covered = Covered {
                        lines: known.lines,
                        bytes: known.bytes,
                        hash,
                    };
                    let checked = vouched.is_some_and(|v| v.lines >= covered.lines);
                    match source {
                        _ if checked => {}
                        Source::File { path: file, .. } => {
                            covered::check_file(file, &covered, path)?;
                        }
                        Source::Object(_) => check_object(known, &entry, path)?,
                        Source::Stdin => {}
                    }
                    (Done::of(known), covered)
                }
                _ => (Done::default(), Covered::none()),
            };
            let mut entry = entry;
            lines.record(&mut entry);
            // As a save writes it.
            record_covered(&mut entry, &lines.handled, covered);
            entries.push(entry);
            skip.push(lines);
            // Standard input is checked against the longer of the two.
            let expected = match vouched {
                Some(vouched) if vouched.lines > covered.lines => vouched,
                _ => covered,
            };
            trackers.push(Tracker::new(covered, expected, *source == Source::Stdin));
        }
        let others = saved
            .into_iter()
            .filter(|s| !entries.iter().any(|e| e.path == s.path))
            .collect();
        let checkpoint = Checkpoint {
            path: path.to_owned(),
            entries,
            others,
            resumed: skip.clone(),
            covered: trackers,
            failed,
        };
        Ok((checkpoint, skip))
    }

    /// Whether every line of the source at `source` was handled at the
    /// last save.
    pub fn is_complete(&self, source: usize) -> bool {
        self.entries[source].complete
    }

    /// The length the failed file at `failed` had when the checkpoint was
    /// written, if it was that file: a resume cuts it back there.
    pub fn failed_len(&self, failed: &Path) -> Option<u64> {
        let path = std::path::absolute(failed).ok()?;
        self.failed
            .as_ref()
            .filter(|mark| Path::new(&mark.path) == path)
            .map(|mark| mark.bytes)
    }

    /// Records the length of the failed file at `failed` as the run starts,
    /// unless the checkpoint holds it already, and writes the checkpoint:
    /// a run stopped before its first save (a full disk, a file-size limit,
    /// a crash) has its failed file cut back there on resume, so that no
    /// line is in it twice (SPEC §6).
    pub fn mark_failed(&mut self, failed: &Path) -> Result<()> {
        if self.failed_len(failed).is_some() {
            return Ok(());
        }
        let context = || format!("{}", failed.display());
        let bytes = match std::fs::metadata(failed) {
            Ok(metadata) => metadata.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
            Err(error) => return Err(error).with_context(context),
        };
        self.failed = Some(FailedMark {
            path: std::path::absolute(failed)
                .with_context(context)?
                .display()
                .to_string(),
            bytes,
        });
        self.write()
    }

    /// Takes the fingerprints of a source's lines as they are read, from
    /// line `first_line` on; standard input that is not the stream the
    /// checkpoint was written for is an error.
    pub fn read(&mut self, source: usize, first_line: u64, ends: &[Fingerprint]) -> Result<()> {
        self.covered[source].read(first_line, ends, &self.path)
    }

    /// A source was read to its end, `lines` lines in all: standard input
    /// that ended before the lines the checkpoint covers is an error.
    pub fn ended(&mut self, source: usize, lines: u64) -> Result<()> {
        self.covered[source].ended(lines, &self.path)
    }

    /// Records which lines of each source are done and writes the file: a
    /// line is handled once it is mapped and none of its items is
    /// unsettled; a line whose metric alone is unsettled, or alone settled,
    /// is done in part. `failed` is the failed file and its length.
    pub fn save(
        &mut self,
        handled: &Handled,
        unsettled: &Unsettled,
        failed: Option<(&Path, u64)>,
    ) -> Result<()> {
        for (source, entry) in self.entries.iter_mut().enumerate() {
            let mapped = handled.lines[source];
            let metrics = of_source(&unsettled.metrics, source);
            let others = of_source(&unsettled.others, source);
            let envelopes = lines(of_source(&unsettled.envelopes, source));
            let mut waiting = [lines(metrics), lines(others)].concat();
            waiting.sort_unstable();
            let resumed = &self.resumed[source];
            let handled_lines =
                LineSet::up_to_except(mapped, waiting.iter().copied()).union(&resumed.handled);
            // Lines of several messages say which of their messages wait.
            let mut messages: BTreeMap<u64, Vec<(u32, Parts)>> = resumed
                .messages
                .range(mapped + 1..)
                .map(|(line, waiting)| (*line, waiting.clone()))
                .collect();
            for &line in &envelopes {
                let parts = waiting_messages(line, metrics, others);
                if !parts.is_empty() {
                    messages.insert(line, parts);
                }
            }
            let envelope_lines = LineSet::of_lines(&envelopes);
            let done = Done {
                metric_pending: LineSet::of_lines(&lines(metrics))
                    .minus(&LineSet::of_lines(&lines(others)))
                    .minus(&envelope_lines)
                    .union(&resumed.metric_pending)
                    .minus(&handled_lines),
                metric_sent: LineSet::of_lines(&lines(of_source(
                    &unsettled.metric_settled,
                    source,
                )))
                .minus(&envelope_lines)
                .union(&resumed.metric_sent)
                .minus(&handled_lines),
                handled: handled_lines,
                messages,
            };
            done.record(entry);
            let covered = self.covered[source].cover(entry.lines);
            record_covered(entry, &done.handled, covered);
            entry.complete = handled.complete[source] && waiting.is_empty();
        }
        if let Some((path, bytes)) = failed {
            self.failed = Some(FailedMark {
                path: std::path::absolute(path)
                    .with_context(|| format!("{}", path.display()))?
                    .display()
                    .to_string(),
                bytes,
            });
        }
        self.write()
    }

    /// Writes the file as it stands.
    fn write(&self) -> Result<()> {
        let contents = Contents {
            version: VERSION,
            failed: self.failed.clone(),
            sources: self.entries.iter().chain(&self.others).cloned().collect(),
        };
        let bytes = serde_json::to_vec_pretty(&contents).expect("a checkpoint always serializes");
        write_atomically(&self.path, &bytes)
            .with_context(|| format!("writing the checkpoint {}", self.path.display()))
    }
}

/// Records which bytes an entry's leading lines were: the prefix is as long
/// as the lines whose bytes are known (`covered`), and the `handled` lines
/// past it are ranges like any others.
fn record_covered(entry: &mut Entry, handled: &LineSet, covered: Covered) {
    if covered.lines < entry.lines {
        let prefix = LineSet::normalized(vec![[1, covered.lines]]);
        entry.also = handled.minus(&prefix).ranges;
        entry.lines = covered.lines;
    }
    entry.bytes = covered.bytes;
    entry.hash = format!("{:016x}", covered.hash);
}

/// An object whose size or ETag is not the checkpoint's was overwritten:
/// its handled lines may be other lines now.
fn check_object(known: &Entry, now: &Entry, checkpoint: &Path) -> Result<()> {
    if (known.size, &known.etag) == (now.size, &now.etag) {
        return Ok(());
    }
    let change = match (known.size, now.size) {
        (Some(was), Some(size)) if was != size => format!(
            "it had {}, now {}",
            crate::report::size(was),
            crate::report::size(size)
        ),
        _ => "its size is the same, its ETag is not: it was overwritten".into(),
    };
    bail!(Usage(format!(
        "{} changed since the checkpoint {} was written ({change}); restore it, or pass \
         --restart to send everything again",
        now.path,
        checkpoint.display()
    )))
}

/// How the checkpoint (and the saved memory) name a source: a file by its
/// absolute path, so that `logs/` and `./logs/` are one source; an object
/// by its URL; standard input as `-`.
pub fn source_path(source: &Source) -> Result<String> {
    Ok(match source {
        Source::Stdin => "-".into(),
        Source::Object(object) => object.to_string(),
        Source::File { path, .. } => path
            .canonicalize()
            .with_context(|| format!("{}", path.display()))?
            .display()
            .to_string(),
    })
}

fn entry_for(source: &Source) -> Result<Entry> {
    let (size, etag) = match source {
        Source::Object(object) => (Some(object.size), object.etag.clone()),
        _ => (None, None),
    };
    let path = source_path(source)?;
    let none = Covered::none();
    Ok(Entry {
        path,
        bytes: none.bytes,
        hash: format!("{:016x}", none.hash),
        size,
        etag,
        lines: 0,
        also: Vec::new(),
        metric_pending: Vec::new(),
        metric_sent: Vec::new(),
        messages: Vec::new(),
        complete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planhat::Origin;

    fn at(source: usize, line: u64) -> Origin {
        Origin {
            source,
            line,
            message: 0,
        }
    }

    fn set(ranges: &[[u64; 2]]) -> LineSet {
        LineSet::normalized(ranges.to_vec())
    }

    fn others(origins: &[Origin]) -> Unsettled {
        Unsettled {
            others: origins.to_vec(),
            ..Unsettled::default()
        }
    }

    /// Hands the checkpoint the fingerprints of `lines` lines of `{}`, as
    /// the reader does.
    fn read(checkpoint: &mut Checkpoint, lines: u64) {
        let mut fingerprint = Fingerprint::default();
        let ends: Vec<Fingerprint> = (0..lines)
            .map(|_| {
                fingerprint.update(b"{}");
                let end = fingerprint;
                fingerprint.update(b"\n");
                end
            })
            .collect();
        checkpoint.read(0, 1, &ends).unwrap();
    }

    fn handled(ranges: &[[u64; 2]]) -> Done {
        Done {
            handled: set(ranges),
            ..Done::default()
        }
    }

    #[test]
    fn a_line_whose_metric_is_unsettled_is_done_but_for_its_metric() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n".repeat(6)).unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut checkpoint, 6);
        let mut mapped = Handled::new(1);
        mapped.line_done(at(0, 6));
        // Lines 2 and 3 wait for their metric, lines 3 and 5 for an
        // activity; line 5's metric is settled.
        let unsettled = Unsettled {
            metrics: vec![at(0, 2), at(0, 3)],
            others: vec![at(0, 3), at(0, 5)],
            metric_settled: vec![at(0, 5)],
            envelopes: Vec::new(),
        };
        checkpoint.save(&mapped, &unsettled, None).unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut resumed, 6);
        let done = &skip[0];
        assert_eq!(done.handled, set(&[[1, 1], [4, 4], [6, 6]]));
        assert_eq!(done.metric_pending, set(&[[2, 2]]));
        assert_eq!(done.metric_sent, set(&[[5, 5]]));
        let parts: Vec<Parts> = (1..=6).map(|line| done.parts(line, 0)).collect();
        assert_eq!(
            parts,
            [
                Parts::None,
                Parts::Metric,
                Parts::All,
                Parts::None,
                Parts::AllButMetric,
                Parts::None
            ]
        );
        // The rerun sends line 2's metric and line 3's two items; line 5's
        // activity is still in flight.
        let mut mapped = Handled::new(1);
        mapped.line_done(at(0, 6));
        resumed.save(&mapped, &others(&[at(0, 5)]), None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        assert_eq!(skip[0].handled, set(&[[1, 4], [6, 6]]));
        assert_eq!(
            skip[0].metric_sent,
            set(&[[5, 5]]),
            "its metric went before"
        );
        assert_eq!(skip[0].metric_pending, LineSet::default());
    }

    #[test]
    fn a_checkpoint_records_lines_handled_past_a_waiting_one_and_never_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n".repeat(10)).unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut checkpoint, 10);
        assert_eq!(skip, [Done::default()]);
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 8));
        // Line 3 waits for coalescing, line 6 is in flight.
        checkpoint
            .save(&handled, &others(&[at(0, 3), at(0, 6)]), None)
            .unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut resumed, 10);
        assert_eq!(skip, [self::handled(&[[1, 2], [4, 5], [7, 8]])]);
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["sources"][0]["lines"], 2);
        assert_eq!(
            saved["sources"][0]["also"],
            serde_json::json!([[4, 5], [7, 8]])
        );

        // The resumed run has sent line 3 and waits on line 6: lines 7 and 8,
        // handled before, stay handled although this run has not reached them.
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 5));
        resumed.save(&handled, &others(&[at(0, 6)]), None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        assert_eq!(skip, [self::handled(&[[1, 5], [7, 8]])]);
        handled.source_done(0, 10);
        resumed.save(&handled, &Unsettled::default(), None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        assert_eq!(skip, [self::handled(&[[1, 10]])]);
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
    }

    #[test]
    fn a_line_of_several_messages_says_which_of_them_wait() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n".repeat(4)).unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut checkpoint, 4);
        let mut mapped = Handled::new(1);
        mapped.line_done(at(0, 4));
        let message = |line, message| Origin {
            source: 0,
            line,
            message,
        };
        // Line 2 is an envelope of three messages: 0 was delivered, 1 waits
        // for coalescing, 2 for its metric. Line 3, of one message, waits.
        let unsettled = Unsettled {
            metrics: vec![message(2, 2)],
            others: vec![message(2, 1), message(3, 0)],
            metric_settled: Vec::new(),
            envelopes: vec![message(2, 0)],
        };
        checkpoint.save(&mapped, &unsettled, None).unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut resumed, 4);
        let done = &skip[0];
        assert!(done.is_handled(1) && done.is_handled(4));
        assert!(!done.is_handled(2) && !done.is_handled(3));
        let parts: Vec<Parts> = (0..3).map(|m| done.parts(2, m)).collect();
        assert_eq!(parts, [Parts::None, Parts::AllButMetric, Parts::Metric]);
        assert_eq!(done.parts(3, 0), Parts::All);
        assert_eq!(
            done.metric_pending,
            LineSet::default(),
            "an envelope says it itself"
        );

        // Not yet reached again, line 2 keeps its list; reached and settled,
        // it is handled.
        let mut mapped = Handled::new(1);
        mapped.line_done(at(0, 1));
        resumed.save(&mapped, &Unsettled::default(), None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        assert_eq!(skip[0].parts(2, 1), Parts::AllButMetric);
        mapped.source_done(0, 4);
        resumed.save(&mapped, &Unsettled::default(), None).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        assert!((1..=4).all(|line| skip[0].is_handled(line)));
        assert!(skip[0].messages.is_empty());
    }

    #[test]
    fn a_checkpoint_resumes_a_grown_source_and_refuses_a_changed_one() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n{}\n{}\n").unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false, &[None]).unwrap();
        read(&mut checkpoint, 3);
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 2));
        checkpoint
            .save(&handled, &Unsettled::default(), None)
            .unwrap();
        // Grown, it resumes: its first two lines are the same bytes.
        std::fs::write(&input, "{}\n{}\n{}\n{}\n").unwrap();
        let grown = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let (_, skip) = Checkpoint::open(&path, &grown, false, &[None]).unwrap();
        assert_eq!(skip, [self::handled(&[[1, 2]])]);
        // Other bytes, or fewer, are refused.
        for (text, change) in [("{}\n[]\n{}\n", "other bytes"), ("{}\n", "shorter")] {
            std::fs::write(&input, text).unwrap();
            let changed = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
            let error = Checkpoint::open(&path, &changed, false, &[None]).unwrap_err();
            let text = error.to_string();
            assert!(
                text.contains("--restart") && text.contains(change),
                "{text}"
            );
        }
        let changed = crate::input::resolve(&[input]).unwrap();
        let (_, skip) = Checkpoint::open(&path, &changed, true, &[None]).unwrap();
        assert_eq!(skip, [Done::default()]);
    }
}
