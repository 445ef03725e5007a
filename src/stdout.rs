//! The process's stdout as a run writes it (SPEC §7): buffered, and an
//! error when it cannot be written, also when it was closed before the tool
//! started (`>&-`).
//!
//! That case needs looking for: Rust's runtime puts /dev/null, opened for
//! reading and writing, in place of a standard descriptor that is closed
//! when the process starts, and writes to it succeed, so a dry-run would
//! lose every request and exit 0. A shell's `>/dev/null` opens it for
//! writing only; so /dev/null open for reading and writing as stdout is
//! taken for a closed stdout, and only a write to it fails: a run that
//! writes no data is not stopped.

use std::io::{self, BufWriter, Write};

use rustix::fs::{FileType, OFlags};

/// What the run writes its data to.
pub fn open() -> Box<dyn Write> {
    let stdout = io::stdout();
    if was_closed(&stdout) {
        Box::new(Closed)
    } else {
        Box::new(BufWriter::with_capacity(256 * 1024, stdout.lock()))
    }
}

/// Whether stdout is the /dev/null the runtime opened for a closed one.
fn was_closed(stdout: &io::Stdout) -> bool {
    let char_device = |stat: &rustix::fs::Stat| {
        FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice
    };
    let (Ok(ours), Ok(null), Ok(flags)) = (
        rustix::fs::fstat(stdout),
        rustix::fs::stat("/dev/null"),
        rustix::fs::fcntl_getfl(stdout),
    ) else {
        return false;
    };
    char_device(&ours)
        && char_device(&null)
        && ours.st_rdev == null.st_rdev
        && flags & OFlags::RWMODE == OFlags::RDWR
}

/// A stdout that was closed: every write fails, saying so.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other(
            "stdout was closed when segment-planhat started (redirect it to a file or a pipe)",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
