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
use crate::planhat::Origin;
use crate::planhat::items::Route;
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
    /// An object's ETag (SPEC §3.1): with its URL (`path`) and size, what
    /// says it is the object the checkpoint was written for.
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

/// A line of several messages settled in part, as the file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLine {
    pub line: u64,
    /// The messages still to send (their place in the line), each with what
    /// it still needs.
    pub waiting: Vec<(u32, Parts)>,
}

/// Which lines of a source are done, wholly or in part: a message sent as
/// an activity and a metric (SPEC §11) can have one settled and not the
/// other, and a line of several messages (a batch envelope) some settled
/// and not others; a rerun then sends only what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    /// Every item settled.
    pub handled: LineSet,
    /// Everything settled but the metric.
    pub metric_pending: LineSet,
    /// Only the metric settled.
    pub metric_sent: LineSet,
    /// Lines of several messages settled in part: the messages waiting.
    pub messages: BTreeMap<u64, Vec<(u32, Parts)>>,
}

/// What a message still needs sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parts {
    /// Nothing: it is handled, and mapped again only for the memory it
    /// teaches.
    None,
    /// Only its metric.
    Metric,
    /// All but its metric.
    AllButMetric,
    /// Everything.
    All,
}

impl Done {
    /// Whether the whole line is handled: mapped again only for the memory
    /// it teaches.
    pub fn is_handled(&self, line: u64) -> bool {
        self.handled.contains(line)
    }

    /// What the message at `message` of `line` still needs sent.
    pub fn parts(&self, line: u64, message: u32) -> Parts {
        if let Some(waiting) = self.messages.get(&line) {
            return waiting
                .iter()
                .find(|(waiting, _)| *waiting == message)
                .map_or(Parts::None, |(_, parts)| *parts);
        }
        if self.handled.contains(line) {
            Parts::None
        } else if self.metric_pending.contains(line) {
            Parts::Metric
        } else if self.metric_sent.contains(line) {
            Parts::AllButMetric
        } else {
            Parts::All
        }
    }

    fn of(entry: &Entry) -> Done {
        let prefix = (entry.lines > 0).then_some([1, entry.lines]);
        let handled = prefix.into_iter().chain(entry.also.iter().copied());
        Done {
            handled: LineSet::normalized(handled.collect()),
            metric_pending: LineSet::normalized(entry.metric_pending.clone()),
            metric_sent: LineSet::normalized(entry.metric_sent.clone()),
            messages: entry
                .messages
                .iter()
                .map(|part| (part.line, part.waiting.clone()))
                .collect(),
        }
    }

    fn record(&self, entry: &mut Entry) {
        entry.lines = self.handled.prefix();
        entry.also = self.handled.beyond_prefix();
        entry.metric_pending = self.metric_pending.ranges.clone();
        entry.metric_sent = self.metric_sent.ranges.clone();
        entry.messages = self
            .messages
            .iter()
            .map(|(line, waiting)| PartLine {
                line: *line,
                waiting: waiting.clone(),
            })
            .collect();
    }
}

/// The messages mapped but not yet settled (waiting in a batch or for
/// coalescing, in flight, or held back by Ctrl-C or an error), each list
/// sorted: by their metric items, by all their other items, and the
/// messages whose metric alone is settled; and the lines of several
/// messages among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsettled {
    pub metrics: Vec<Origin>,
    pub others: Vec<Origin>,
    pub metric_settled: Vec<Origin>,
    /// Lines of several messages (`message` 0 stands for the line).
    pub envelopes: Vec<Origin>,
}

impl Unsettled {
    /// The list a route's messages go in.
    pub fn of(&mut self, route: Route) -> &mut Vec<Origin> {
        match route {
            Route::Metric => &mut self.metrics,
            _ => &mut self.others,
        }
    }
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
                        && (known.size, known.modified_ns, &known.etag)
                            != (entry.size, entry.modified_ns, &entry.etag) =>
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
                        _ if known.etag != entry.etag => {
                            "its size is the same, its ETag is not: it was overwritten".into()
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

/// The origins of `source` among sorted `origins`.
fn of_source(origins: &[Origin], source: usize) -> &[Origin] {
    let start = origins.partition_point(|o| o.source < source);
    let end = origins.partition_point(|o| o.source <= source);
    &origins[start..end]
}

/// The lines of sorted origins, each once.
fn lines(origins: &[Origin]) -> Vec<u64> {
    let mut lines: Vec<u64> = origins.iter().map(|o| o.line).collect();
    lines.dedup();
    lines
}

/// The messages of `line` still waiting, and for each what: its metric
/// (in `metrics`), all else (in `others`), or both. The origins are sorted,
/// so a line's messages stand together.
fn waiting_messages(line: u64, metrics: &[Origin], others: &[Origin]) -> Vec<(u32, Parts)> {
    let of_line = |origins: &[Origin]| -> Vec<u32> {
        let start = origins.partition_point(|o| o.line < line);
        let end = origins.partition_point(|o| o.line <= line);
        origins[start..end].iter().map(|o| o.message).collect()
    };
    let (metric, other) = (of_line(metrics), of_line(others));
    let mut ids: Vec<u32> = [metric.as_slice(), other.as_slice()].concat();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let parts = match (metric.contains(&id), other.contains(&id)) {
                (true, true) => Parts::All,
                (true, false) => Parts::Metric,
                _ => Parts::AllButMetric,
            };
            (id, parts)
        })
        .collect()
}

/// A set of line numbers, as sorted, disjoint, non-adjacent inclusive
/// ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSet {
    ranges: Vec<[u64; 2]>,
}

impl LineSet {
    /// Lines 1 to `last`, less `except` (ascending).
    fn up_to_except(last: u64, except: impl Iterator<Item = u64>) -> LineSet {
        let mut ranges = Vec::new();
        let mut next = 1;
        for line in except.filter(|&line| line <= last) {
            if line > next {
                ranges.push([next, line - 1]);
            }
            next = next.max(line + 1);
        }
        if next <= last {
            ranges.push([next, last]);
        }
        LineSet { ranges }
    }

    fn normalized(mut ranges: Vec<[u64; 2]>) -> LineSet {
        ranges.retain(|[first, last]| first <= last);
        ranges.sort_unstable();
        let mut merged: Vec<[u64; 2]> = Vec::with_capacity(ranges.len());
        for [first, last] in ranges {
            match merged.last_mut() {
                Some(previous) if first <= previous[1].saturating_add(1) => {
                    previous[1] = previous[1].max(last);
                }
                _ => merged.push([first, last]),
            }
        }
        LineSet { ranges: merged }
    }

    fn union(&self, other: &LineSet) -> LineSet {
        LineSet::normalized(self.ranges.iter().chain(&other.ranges).copied().collect())
    }

    /// The lines of this set that are not in `other`.
    fn minus(&self, other: &LineSet) -> LineSet {
        let mut ranges = Vec::new();
        let mut others = other.ranges.iter().peekable();
        for &[first, last] in &self.ranges {
            let mut from = first;
            // Ranges of `other` wholly before this one are behind us for good.
            while others.next_if(|[_, end]| *end < from).is_some() {}
            for &[cut_first, cut_last] in others.clone() {
                if cut_first > last {
                    break;
                }
                if cut_first > from {
                    ranges.push([from, cut_first - 1]);
                }
                from = from.max(cut_last.saturating_add(1));
                if from > last {
                    break;
                }
            }
            if from <= last {
                ranges.push([from, last]);
            }
        }
        LineSet { ranges }
    }

    /// The set of these lines (ascending).
    fn of_lines(lines: &[u64]) -> LineSet {
        LineSet::normalized(lines.iter().map(|&line| [line, line]).collect())
    }

    /// Whether `line` is in the set.
    pub fn contains(&self, line: u64) -> bool {
        let after = self.ranges.partition_point(|[first, _]| *first <= line);
        after > 0 && self.ranges[after - 1][1] >= line
    }

    /// How many lines the set holds.
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|[first, last]| last - first + 1)
            .sum()
    }

    /// The leading lines: `n` when lines 1 to `n` are all in the set.
    fn prefix(&self) -> u64 {
        match self.ranges.first() {
            Some([1, last]) => *last,
            _ => 0,
        }
    }

    fn beyond_prefix(&self) -> Vec<[u64; 2]> {
        let skip = usize::from(self.prefix() > 0);
        self.ranges[skip..].to_vec()
    }
}

fn entry_for(source: &Source) -> Result<Entry> {
    Ok(match source {
        Source::Stdin => Entry {
            path: "-".into(),
            size: None,
            modified_ns: None,
            etag: None,
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
            etag: None,
            lines: 0,
            also: Vec::new(),
            metric_pending: Vec::new(),
            metric_sent: Vec::new(),
            messages: Vec::new(),
            complete: false,
        },
        Source::Object(object) => Entry {
            path: object.to_string(),
            size: Some(object.size),
            modified_ns: None,
            etag: object.etag.clone(),
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

/// How far the run has got through each source: the last line whose
/// messages were all mapped, and sources read to their end.
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn handled_lines_are_those_mapped_and_not_waiting() {
        let lines = LineSet::up_to_except(10, [3, 4, 7].into_iter());
        assert_eq!(lines, set(&[[1, 2], [5, 6], [8, 10]]));
        assert_eq!(lines.prefix(), 2);
        assert_eq!(lines.beyond_prefix(), [[5, 6], [8, 10]]);
        assert_eq!(lines.count(), 7);
        assert!(lines.contains(1) && lines.contains(6) && lines.contains(10));
        assert!(!lines.contains(3) && !lines.contains(7) && !lines.contains(11));
        // A waiting message past the last mapped line changes nothing.
        assert_eq!(LineSet::up_to_except(4, [1, 9].into_iter()), set(&[[2, 4]]));
        assert_eq!(LineSet::up_to_except(0, std::iter::empty()), set(&[]));
        assert_eq!(
            set(&[[1, 2], [3, 5], [9, 9], [4, 6]]),
            set(&[[1, 6], [9, 9]])
        );
        assert_eq!(set(&[[1, 2]]).union(&set(&[[4, 5]])).prefix(), 2);
    }

    #[test]
    fn sets_subtract_range_by_range() {
        let a = set(&[[1, 10], [20, 30]]);
        let b = set(&[[3, 4], [8, 22], [25, 25], [29, 40]]);
        assert_eq!(a.minus(&b), set(&[[1, 2], [5, 7], [23, 24], [26, 28]]));
        assert_eq!(a.minus(&LineSet::default()), a);
        assert_eq!(LineSet::default().minus(&a), LineSet::default());
        assert_eq!(a.minus(&a), LineSet::default());
        // A brute-force check on small sets.
        for mask in 0u32..256 {
            let x = LineSet::up_to_except(8, (1..=8).filter(|l| mask & (1 << (l - 1)) != 0));
            let y = LineSet::up_to_except(8, (1..=8).filter(|l| mask & (1 << (8 - l)) == 0));
            for line in 0..=9 {
                let (in_x, in_y) = (x.contains(line), y.contains(line));
                assert_eq!(x.minus(&y).contains(line), in_x && !in_y, "{mask} {line}");
            }
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
