//! Checkpoints for resumable backfills (SPEC §6): for each input source
//! (path, size, modification time; stdin as `-`), how many leading lines are
//! fully handled — delivered, skipped, or written to the failed file — and
//! which lines past them are handled too. A line counts only once every item
//! it produced is settled; since profile upserts wait to be coalesced while
//! later activities are delivered, the handled lines are not always a
//! prefix, and the ones past the first unhandled line are recorded as
//! ranges (`also`), so that a rerun sends neither them nor their failed-file
//! entries again. The file is replaced atomically (written beside, synced,
//! renamed), so a crash leaves the old one or the new one, never half of one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::error::Usage;
use crate::input::Source;
use crate::report;

mod done;
mod lines;

pub use done::{Done, Handled, PartLine, Parts, Unsettled};
use done::{lines, of_source, waiting_messages};
pub use lines::LineSet;

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
    /// Per source, what the file said was done when the run began: still
    /// done, whatever this run has reached.
    resumed: Vec<Done>,
}

impl Checkpoint {
    /// Opens the checkpoint at `path` for these sources, and says which
    /// lines of each are already handled. A source whose size or
    /// modification time changed since is an error unless `restart`, which
    /// starts every source from its first line.
    pub fn open(path: &Path, sources: &[Source], restart: bool) -> Result<(Checkpoint, Vec<Done>)> {
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
                    if Done::of(known) != Done::default()
                        && (known.size, known.modified_ns) != (entry.size, entry.modified_ns) =>
                {
                    let change = match (known.size, entry.size) {
                        (Some(was), Some(now)) if was != now => {
                            let (was_text, now_text) = (report::size(was), report::size(now));
                            // Sizes that read alike are given in bytes.
                            if was_text == now_text {
                                format!("it had {was} bytes, now {now}")
                            } else {
                                format!("it had {was_text}, now {now_text}")
                            }
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
                Some(known) => Done::of(known),
                None => Done::default(),
            };
            let mut entry = entry;
            lines.record(&mut entry);
            entries.push(entry);
            skip.push(lines);
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
        };
        Ok((checkpoint, skip))
    }

    /// Records which lines of each source are done and writes the file: a
    /// line is handled once it is mapped and none of its items is
    /// unsettled; a line whose metric alone is unsettled, or alone settled,
    /// is done in part.
    pub fn save(&mut self, handled: &Handled, unsettled: &Unsettled) -> Result<()> {
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
            entry.complete = handled.complete[source] && waiting.is_empty();
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
            also: Vec::new(),
            metric_pending: Vec::new(),
            metric_sent: Vec::new(),
            messages: Vec::new(),
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
            also: Vec::new(),
            metric_pending: Vec::new(),
            metric_sent: Vec::new(),
            messages: Vec::new(),
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
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false).unwrap();
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
        checkpoint.save(&mapped, &unsettled).unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false).unwrap();
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
        resumed.save(&mapped, &others(&[at(0, 5)])).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
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
        let (mut checkpoint, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [Done::default()]);
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 8));
        // Line 3 waits for coalescing, line 6 is in flight.
        checkpoint
            .save(&handled, &others(&[at(0, 3), at(0, 6)]))
            .unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false).unwrap();
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
        resumed.save(&handled, &others(&[at(0, 6)])).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [self::handled(&[[1, 5], [7, 8]])]);
        handled.source_done(0, 10);
        resumed.save(&handled, &Unsettled::default()).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
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
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false).unwrap();
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
        checkpoint.save(&mapped, &unsettled).unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false).unwrap();
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
        resumed.save(&mapped, &Unsettled::default()).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip[0].parts(2, 1), Parts::AllButMetric);
        mapped.source_done(0, 4);
        resumed.save(&mapped, &Unsettled::default()).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert!((1..=4).all(|line| skip[0].is_handled(line)));
        assert!(skip[0].messages.is_empty());
    }

    #[test]
    fn a_checkpoint_refuses_changed_sources() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n{}\n{}\n").unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, _) = Checkpoint::open(&path, &sources, false).unwrap();
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 2));
        checkpoint.save(&handled, &Unsettled::default()).unwrap();
        std::fs::write(&input, "{}\n{}\n{}\n{}\n").unwrap();
        let changed = crate::input::resolve(&[input]).unwrap();
        let error = Checkpoint::open(&path, &changed, false).unwrap_err();
        assert!(error.to_string().contains("--restart"), "{error}");
        let (_, skip) = Checkpoint::open(&path, &changed, true).unwrap();
        assert_eq!(skip, [Done::default()]);
    }
}
