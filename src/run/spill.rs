//! Where the first pass keeps the associations that do not fit its memory
//! bound (SPEC §5.1): each run the mapper hands over, already sorted, goes
//! to a temporary file of its own (unnamed, so the system removes it when
//! the run ends, however it ends; in `TMPDIR`), and at the end of the pass
//! every file is read back in order for the one merge that reduces them to
//! the users' company changes. So the input is never read a third time,
//! and memory holds one run, not every association.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek};

use anyhow::{Context, Result};

use crate::frames::{FrameReader, FrameWriter};
use crate::mapping::companies::Association;

/// Associations a frame holds.
const FRAME: usize = 8192;

/// The runs written so far.
#[derive(Default)]
pub(super) struct Spill {
    files: Vec<File>,
}

impl Spill {
    /// Writes a sorted run to a new temporary file.
    pub(super) fn write(&mut self, run: &[Association]) -> Result<()> {
        let written = || -> io::Result<File> {
            let mut frames = FrameWriter::new(BufWriter::new(tempfile::tempfile()?));
            for chunk in run.chunks(FRAME) {
                frames.write(chunk)?;
            }
            let mut file = frames.finish()?.into_inner().map_err(|e| e.into_error())?;
            file.rewind()?;
            Ok(file)
        };
        let file = written().context(
            "writing the first pass's associations to a temporary file (TMPDIR names its folder)",
        )?;
        self.files.push(file);
        Ok(())
    }

    /// A reader of each run, in the order they were written.
    pub(super) fn readers(self) -> Vec<RunReader> {
        self.files
            .into_iter()
            .map(|file| RunReader {
                frames: FrameReader::new(BufReader::new(file)),
                frame: Vec::new().into_iter(),
                error: None,
            })
            .collect()
    }
}

/// The associations of one run, in order. A read that fails ends it and is
/// kept, for [`RunReader::error`] to say after the merge.
pub(super) struct RunReader {
    frames: FrameReader<BufReader<File>>,
    frame: std::vec::IntoIter<Association>,
    error: Option<io::Error>,
}

impl RunReader {
    pub(super) fn error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Iterator for RunReader {
    type Item = Association;

    fn next(&mut self) -> Option<Association> {
        loop {
            if let Some(association) = self.frame.next() {
                return Some(association);
            }
            if self.error.is_some() {
                return None;
            }
            match self.frames.read::<Vec<Association>>() {
                Ok(Some(frame)) => self.frame = frame.into_iter(),
                Ok(None) => return None,
                Err(error) => {
                    self.error = Some(error);
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_come_back_whole_and_in_order() {
        let run = |users: std::ops::Range<u64>| -> Vec<Association> {
            users
                .map(|user| Association {
                    user,
                    time: -1,
                    order: 1,
                    company: 7,
                })
                .collect()
        };
        let mut spill = Spill::default();
        let first = run(0..FRAME as u64 * 2 + 5);
        spill.write(&first).unwrap();
        spill.write(&run(3..4)).unwrap();
        let mut readers = spill.readers();
        assert_eq!(readers.len(), 2);
        assert_eq!(readers[0].by_ref().collect::<Vec<_>>(), first);
        assert_eq!(readers[1].by_ref().map(|a| a.user).collect::<Vec<_>>(), [3]);
        assert!(readers.iter_mut().all(|r| r.error().is_none()));
    }
}
