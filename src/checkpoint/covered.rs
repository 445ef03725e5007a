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
    fn of(lines: u64, fingerprint: &Fingerprint) -> Covered {
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
    /// checked against it as it is read.
    pub fn new(covered: Covered, check: bool) -> Tracker {
        Tracker {
            saved: covered,
            expected: (check && covered.lines > 0).then_some(covered),
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
