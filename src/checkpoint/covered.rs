//! Which bytes a checkpoint's handled lines were (SPEC §6), so a resume
//! can tell the input it reads from the one the checkpoint was written
//! for. A source's `lines` leading lines are covered by their byte length
//! and fingerprint, taken as the reader reads them: the bytes of the lines
//! as read, decompressed for gzip, up to the last one's newline (which is
//! not counted, so that a last line without one that later gets one is the
//! same line; a newline, or the end, must follow them). So a file that only grew (a live log, an
//! export with new lines, a gzip file with a member appended) has the same
//! first bytes and resumes into what was appended, whatever its
//! modification time; one that is shorter, or has other bytes there, is
//! refused. Files are checked when the checkpoint is opened, by reading
//! the covered bytes once more; standard input can be read only once, so
//! it is checked as it is read, before any line past the covered ones is
//! handled.

use std::collections::VecDeque;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::error::Usage;
use crate::fingerprint::Fingerprint;
use crate::input::{self, Start};

/// The leading lines a fingerprint covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Covered {
    pub lines: u64,
    pub bytes: u64,
    pub hash: u64,
}

impl Covered {
    pub fn of(lines: u64, fingerprint: &Fingerprint) -> Covered {
        Covered {
            lines,
            bytes: fingerprint.bytes(),
            hash: fingerprint.hash(),
        }
    }

    /// Nothing: no line, no byte.
    pub fn none() -> Covered {
        Covered::of(0, &Fingerprint::default())
    }
}

/// Checks that the file at `path` starts with the bytes `covered`
/// describes; the error says what changed.
pub fn check_file(path: &Path, covered: &Covered, checkpoint: &Path) -> Result<()> {
    if covered.lines == 0 {
        return Ok(());
    }
    let start =
        input::start_of(path, covered.bytes).with_context(|| format!("{}", path.display()))?;
    let change = match start {
        Start::Shorter => "it is shorter than the part already handled",
        Start::Read(start, _) if start.hash() != covered.hash => {
            "it has other bytes where lines were already handled"
        }
        Start::Read(_, false) => "the last line handled goes on with other bytes",
        Start::Read(_, true) => return Ok(()),
    };
    bail!(Usage(format!(
        "{} changed since the checkpoint {} was written ({change}, the first {} lines, {} bytes); \
         resuming could skip or repeat events. Restore the file, or pass --restart to send everything again",
        path.display(),
        checkpoint.display(),
        covered.lines,
        covered.bytes,
    )))
}

/// How many line ends a tracker keeps before it thins them.
const MAX_ENDS: usize = 1 << 14;

/// Per source, the fingerprints of lines read and not yet saved, and the
/// covered lines a resume must find again.
#[derive(Debug)]
pub struct Tracker {
    /// What the last save covered (or the resumed checkpoint).
    pub saved: Covered,
    /// Still to find in standard input as it is read.
    expected: Option<Covered>,
    /// Fingerprints of line ends past `saved`, oldest first.
    ends: VecDeque<Covered>,
}

impl Tracker {
    /// A tracker that starts from `covered`; `check` when the input must be
    /// checked against `expected` (which holds `covered`) as it is read.
    pub fn new(covered: Covered, expected: Covered, check: bool) -> Tracker {
        Tracker {
            saved: covered,
            expected: (check && expected.lines > 0).then_some(expected),
            ends: VecDeque::new(),
        }
    }

    /// Takes the fingerprints of lines `first_line` on.
    pub fn read(&mut self, first_line: u64, ends: &[Fingerprint], checkpoint: &Path) -> Result<()> {
        for (line, end) in (first_line..).zip(ends) {
            let covered = Covered::of(line, end);
            if let Some(expected) = self.expected.filter(|e| e.lines == line) {
                if covered != expected {
                    bail!(stdin_differs(checkpoint, &expected));
                }
                self.expected = None;
            }
            if line > self.saved.lines {
                self.ends.push_back(covered);
            }
        }
        // Lines read long before they are handled (nothing sent for a
        // while) would pile up: every other one goes. A save then covers a
        // few lines fewer, and records the rest as ranges, as it does any
        // handled line past the prefix.
        if self.ends.len() > MAX_ENDS {
            let mut index = 0;
            self.ends.retain(|_| {
                index += 1;
                index % 2 == 0
            });
        }
        Ok(())
    }

    /// Standard input ended after `lines` lines.
    pub fn ended(&mut self, lines: u64, checkpoint: &Path) -> Result<()> {
        match self.expected.take() {
            Some(expected) if expected.lines > lines => bail!(stdin_differs(checkpoint, &expected)),
            _ => Ok(()),
        }
    }

    /// The longest run of leading lines, at most `prefix`, whose bytes are
    /// known; what is saved from now on.
    pub fn cover(&mut self, prefix: u64) -> Covered {
        while let Some(end) = self.ends.front().filter(|end| end.lines <= prefix) {
            self.saved = *end;
            self.ends.pop_front();
        }
        // A queue keeps its room when emptied: a source done with would
        // hold its megabytes to the end of the run, one source after the
        // other.
        if self.ends.len() < self.ends.capacity() / 4 {
            self.ends.shrink_to_fit();
        }
        self.saved
    }
}

fn stdin_differs(checkpoint: &Path, expected: &Covered) -> Usage {
    Usage(format!(
        "standard input is not the stream the checkpoint {} was written for: its first {} lines \
         ({} bytes) differ; resuming would skip lines never sent. Give the same stream again, \
         or pass --restart to send this one whole",
        checkpoint.display(),
        expected.lines,
        expected.bytes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fingerprints of `count` lines `{}`, as the reader marks them.
    fn ends(count: u64) -> Vec<Fingerprint> {
        let mut fingerprint = Fingerprint::default();
        (0..count)
            .map(|_| {
                fingerprint.update(b"{}");
                let end = fingerprint;
                fingerprint.update(b"\n");
                end
            })
            .collect()
    }

    #[test]
    fn standard_input_must_start_with_the_lines_covered() {
        let path = Path::new("checkpoint.json");
        let mut first = Tracker::new(Covered::none(), Covered::none(), true);
        first.read(1, &ends(5), path).unwrap();
        let covered = first.cover(3);
        assert_eq!((covered.lines, covered.bytes), (3, 8));

        let mut same = Tracker::new(covered, covered, true);
        same.read(1, &ends(9), path).unwrap();
        same.ended(9, path).unwrap();
        assert_eq!(same.cover(9).lines, 9);

        let mut short = Tracker::new(covered, covered, true);
        short.read(1, &ends(2), path).unwrap();
        let error = short.ended(2, path).unwrap_err();
        assert!(error.to_string().contains("--restart"), "{error}");

        let mut other = Tracker::new(covered, covered, true);
        let mut fingerprint = Fingerprint::default();
        fingerprint.update(b"[]\n[]\n[]");
        let error = other.read(3, &[fingerprint], path).unwrap_err();
        assert!(error.to_string().contains("standard input"), "{error}");
    }

    #[test]
    fn line_ends_kept_too_long_are_thinned_and_the_cover_falls_short() {
        let path = Path::new("checkpoint.json");
        let mut tracker = Tracker::new(Covered::none(), Covered::none(), false);
        let count = MAX_ENDS as u64 + 1;
        tracker.read(1, &ends(count), path).unwrap();
        assert!(tracker.ends.len() <= MAX_ENDS);
        let covered = tracker.cover(count - 2);
        assert!(covered.lines <= count - 2 && covered.lines >= count - 4);
        assert_eq!(covered.bytes, 3 * covered.lines - 1);
        tracker.cover(count);
        assert!(tracker.ends.capacity() < 16, "emptied, its room goes");
    }
}
