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
    /// Ranges of lines past `lines + 1` handled too (first and last line,
    /// inclusive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<[u64; 2]>,
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
    /// Per source, the lines the file said were handled when the run began:
    /// still handled, whatever this run has reached.
    resumed: Vec<LineSet>,
}

impl Checkpoint {
    /// Opens the checkpoint at `path` for these sources, and says which
    /// lines of each are already handled. A source whose size or
    /// modification time changed since is an error unless `restart`, which
    /// starts every source from its first line.
    pub fn open(
        path: &Path,
        sources: &[Source],
        restart: bool,
    ) -> Result<(Checkpoint, Vec<LineSet>)> {
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
                    if (known.lines > 0 || !known.also.is_empty())
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
                Some(known) => LineSet::of(known),
                None => LineSet::default(),
            };
            entries.push(Entry {
                lines: lines.prefix(),
                also: lines.beyond_prefix(),
                ..entry
            });
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

    /// Records which lines of each source are handled and writes the file.
    /// `unsettled` holds, sorted, the origin of every message mapped but not
    /// yet settled (waiting in a batch or for coalescing, in flight, or held
    /// back by Ctrl-C or an error).
    pub fn save(&mut self, handled: &Handled, unsettled: &[Origin]) -> Result<()> {
        for (source, entry) in self.entries.iter_mut().enumerate() {
            let start = unsettled.partition_point(|o| o.source < source);
            let end = unsettled.partition_point(|o| o.source <= source);
            let waiting = unsettled[start..end].iter().map(|o| o.line);
            let lines =
                LineSet::up_to_except(handled.lines[source], waiting).union(&self.resumed[source]);
            entry.lines = lines.prefix();
            entry.also = lines.beyond_prefix();
            entry.complete = handled.complete[source] && start == end;
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

/// A set of line numbers, as sorted, disjoint, non-adjacent inclusive
/// ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineSet {
    ranges: Vec<[u64; 2]>,
}

impl LineSet {
    /// What a checkpoint entry records.
    fn of(entry: &Entry) -> LineSet {
        let prefix = (entry.lines > 0).then_some([1, entry.lines]);
        LineSet::normalized(
            prefix
                .into_iter()
                .chain(entry.also.iter().copied())
                .collect(),
        )
    }

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
            lines: 0,
            also: Vec::new(),
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
        Origin { source, line }
    }

    fn set(ranges: &[[u64; 2]]) -> LineSet {
        LineSet::normalized(ranges.to_vec())
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
    fn a_checkpoint_records_lines_handled_past_a_waiting_one_and_never_forgets_them() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.ndjson");
        std::fs::write(&input, "{}\n".repeat(10)).unwrap();
        let sources = crate::input::resolve(std::slice::from_ref(&input)).unwrap();
        let path = dir.path().join("checkpoint.json");
        let (mut checkpoint, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [LineSet::default()]);
        let mut handled = Handled::new(1);
        handled.line_done(at(0, 8));
        // Line 3 waits for coalescing, line 6 is in flight.
        checkpoint.save(&handled, &[at(0, 3), at(0, 6)]).unwrap();
        let (mut resumed, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [set(&[[1, 2], [4, 5], [7, 8]])]);
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
        resumed.save(&handled, &[at(0, 6)]).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [set(&[[1, 5], [7, 8]])]);
        handled.source_done(0, 10);
        resumed.save(&handled, &[]).unwrap();
        let (_, skip) = Checkpoint::open(&path, &sources, false).unwrap();
        assert_eq!(skip, [set(&[[1, 10]])]);
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
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
        checkpoint.save(&handled, &[]).unwrap();
        std::fs::write(&input, "{}\n{}\n{}\n{}\n").unwrap();
        let changed = crate::input::resolve(&[input]).unwrap();
        let error = Checkpoint::open(&path, &changed, false).unwrap_err();
        assert!(error.to_string().contains("--restart"), "{error}");
        let (_, skip) = Checkpoint::open(&path, &changed, true).unwrap();
        assert_eq!(skip, [LineSet::default()]);
    }
}
