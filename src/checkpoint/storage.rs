//! Where a checkpoint lives on disk: the lock that keeps one run per
//! checkpoint, and the atomic replacement of the file.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::error::Usage;

/// An exclusive lock on a checkpoint, held for a whole run and let go when
/// dropped (or when the process ends, however it ends). It is taken on a
/// file beside the checkpoint, `<checkpoint>.lock`, because the checkpoint
/// itself is replaced by a rename at every save and a lock on it would
/// stay with the old file. The lock file stays: removing it would let a
/// third run lock a new file while the second still holds the old one.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock on the checkpoint at `path`, or refuses at once when
    /// another run holds it.
    pub fn take(path: &Path) -> Result<Lock> {
        let lock_path = beside(path, ".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("locking the checkpoint {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(Lock { _file: file }),
            Err(TryLockError::WouldBlock) => bail!(Usage(format!(
                "another run holds the checkpoint {} (it locks {}); wait for it to end, \
                 or give this run a checkpoint of its own",
                path.display(),
                lock_path.display()
            ))),
            Err(TryLockError::Error(error)) => {
                Err(error).with_context(|| format!("locking the checkpoint {}", path.display()))
            }
        }
    }
}

/// `path` with `suffix` added to its name.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes a temporary file beside `path`, syncs it, and renames it over
/// `path`. The temporary file's name holds the process id, so that two
/// processes never write one file, even when one of them runs without
/// the lock (a dry-run reads the checkpoint but writes nothing).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`], the content written by `write`.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let temporary = beside(path, &format!(".{}.tmp", std::process::id()));
    let written = File::create(&temporary).and_then(|mut file| {
        write(&mut file)?;
        file.sync_all()
    });
    if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        // A full disk must not leave a torn temporary file behind.
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    // The rename itself is durable once the folder is synced.
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lock_at_a_time_and_it_goes_with_its_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        let held = Lock::take(&path).unwrap();
        let error = Lock::take(&path).unwrap_err();
        assert!(error.to_string().contains("another run holds"), "{error}");
        drop(held);
        Lock::take(&path).unwrap();
    }
}
