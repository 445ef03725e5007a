//! What a run remembers for the next one (SPEC §6.1), so that a nightly
//! rerun over a growing export costs what the new data costs: everything
//! the mapping needs to map new input as one run over all of it would (the
//! users' company changes, the stitching links, the dedupe window, the
//! companies' first group-call names, [`mapping::memory`]), which companies
//! Planhat has had an upsert of, and which sources and lines all that
//! covers ([`plan`]), with the options it depends on.
//!
//! It lives beside the checkpoint, at `<checkpoint>.memory`, and is saved
//! when a run ends (its input done, or a stopping signal), never on a
//! crash or an error, which leave the last one: it is replaced atomically,
//! so a crash while saving leaves the old one whole. The file is a string
//! of `postcard` frames ([`frames`](crate::frames)): a head with the
//! format's name and version, the options and the sources, then the
//! mapping's pieces and the delivered companies, then an end mark. Format
//! version 1.

mod plan;

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, beside};
use crate::config::Setting;
use crate::error::Usage;
use crate::frames::{FrameReader, FrameWriter};
use crate::input::Source;
use crate::mapping::Mapper;
use crate::mapping::memory::Piece;
use crate::planhat::profiles::Profiles;
use crate::sender::Delivery;

pub use plan::{Plan, Reached};
use plan::{Reading, Record, Stamp};

/// What the file's first frame says it is.
pub const FORMAT: &str = "segment-planhat memory";
/// The format this release reads and writes.
pub const VERSION: u32 = 1;

/// Entries a frame of delivered companies holds.
const FRAME: usize = 1 << 14;

#[derive(Serialize, Deserialize)]
struct Head {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    /// The options that decide what a message teaches (SPEC §6.1).
    settings: Vec<Setting>,
    /// The sources covered, in the order they were first handled.
    sources: Vec<Record>,
}

/// The frames after the header.
#[derive(Serialize, Deserialize)]
enum Body {
    Mapping(Piece),
    /// Companies whose first upsert went out, by hash.
    Delivered(Vec<u64>),
    End,
}

/// The memory of the run that last ended with this checkpoint, and what
/// this run reads of it.
pub struct Memory {
    path: PathBuf,
    checkpoint: PathBuf,
    settings: Vec<Setting>,
    records: Vec<Record>,
    /// The file, past its header, until the pieces are loaded.
    rest: Option<FrameReader<BufReader<File>>>,
    /// This run's sources, as the plan put them.
    reading: Vec<Reading>,
    /// Records whose sources were not read but were checked since.
    touched: Vec<(usize, Stamp)>,
    /// Said once, when the memory is not used.
    pub notice: Option<String>,
}

impl Memory {
    /// Opens the memory beside the checkpoint at `checkpoint`: none when
    /// there is none yet, when `restart` starts over, or when the
    /// checkpoint itself is gone (the memory only means something with
    /// it). A memory of another version, or made with other `settings`,
    /// is an error that says what to do.
    pub fn open(checkpoint: &Path, settings: &[Setting], restart: bool) -> Result<Memory> {
        let path = beside(checkpoint, ".memory");
        let mut memory = Memory {
            path: path.clone(),
            checkpoint: checkpoint.to_owned(),
            settings: settings.to_vec(),
            records: Vec::new(),
            rest: None,
            reading: Vec::new(),
            touched: Vec::new(),
            notice: None,
        };
        if restart {
            return Ok(memory);
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(memory),
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("reading the memory {}", path.display()));
            }
        };
        if !checkpoint.exists() {
            memory.notice = Some(format!(
                "{} has no checkpoint beside it: reading everything, as a first run",
                path.display()
            ));
            return Ok(memory);
        }
        let mut frames = FrameReader::new(BufReader::new(file));
        let damaged = |error: &dyn std::fmt::Display| damaged(&path, error);
        let head: Head = frames
            .read()
            .map_err(|e| damaged(&e))?
            .ok_or_else(|| damaged(&"it is empty"))?;
        if head.format != FORMAT {
            bail!(damaged(&"it is not a segment-planhat memory"));
        }
        if head.version != VERSION {
            bail!(Usage(format!(
                "the memory {} has format version {}, this release reads and writes version \
                 {VERSION}; pass --restart to start over (everything is read and sent again), \
                 or rerun with the release that wrote it",
                path.display(),
                head.version
            )));
        }
        let header: Header = frames
            .read()
            .map_err(|e| damaged(&e))?
            .ok_or_else(|| damaged(&"it ends after its head"))?;
        check_settings(&header.settings, settings, &path)?;
        memory.records = header.sources;
        memory.rest = Some(frames);
        Ok(memory)
    }

    /// Decides which of `sources` this run reads, and from where.
    pub fn plan(&mut self, sources: Vec<Source>) -> Result<Plan> {
        let planned = plan::plan(&self.records, sources, &self.checkpoint)?;
        self.reading = planned.reading;
        self.touched = planned.touched;
        Ok(planned.plan)
    }

    /// Gives the mapper, and the delivery's profiles, what the memory
    /// holds.
    pub fn load(&mut self, mapper: &mut Mapper, mut profiles: Option<&mut Profiles>) -> Result<()> {
        let Some(mut frames) = self.rest.take() else {
            return Ok(());
        };
        let damaged = |error: &dyn std::fmt::Display| damaged(&self.path, error);
        loop {
            match frames.read::<Body>().map_err(|e| damaged(&e))? {
                Some(Body::Mapping(piece)) => mapper.restore(piece).map_err(|e| damaged(&e.0))?,
                Some(Body::Delivered(hashes)) => {
                    if let Some(profiles) = profiles.as_deref_mut() {
                        profiles.restore_sent_companies(hashes);
                    }
                }
                Some(Body::End) => return Ok(()),
                None => bail!(damaged(&"it ends early")),
            }
        }
    }

    /// Saves what the mapper and the delivery remember, with how far the
    /// run got in each source it read (`reached`, in the plan's order),
    /// replacing the memory atomically.
    pub fn save(
        &self,
        mapper: &mut Mapper,
        delivery: &Delivery,
        reached: &[Reached],
    ) -> Result<()> {
        let mut records = self.records.clone();
        for (index, stamp) in &self.touched {
            records[*index].stamp = stamp.clone();
        }
        let checkpoint = delivery.checkpoint();
        for (source, (reading, reached)) in self.reading.iter().zip(reached).enumerate() {
            let settled = checkpoint.is_some_and(|c| c.is_complete(source));
            let Some(record) = record_of(reading, reached, settled) else {
                continue;
            };
            match reading.record {
                Some(index) => records[index] = record,
                None => records.push(record),
            }
        }
        let header = Header {
            settings: self.settings.clone(),
            sources: records,
        };
        let profiles = delivery.profiles();
        let pieces = mapper.remembered(|company| profiles.sent_company(company));
        checkpoint::write_atomically_with(&self.path, |file| {
            let mut frames = FrameWriter::new(BufWriter::new(file));
            frames.write(&Head {
                format: FORMAT.into(),
                version: VERSION,
            })?;
            frames.write(&header)?;
            for piece in pieces {
                frames.write(&Body::Mapping(piece))?;
            }
            let delivered: Vec<u64> = profiles.sent_companies().collect();
            for chunk in delivered.chunks(FRAME) {
                frames.write(&Body::Delivered(chunk.to_vec()))?;
            }
            frames.write(&Body::End)?;
            frames.finish().map(drop)
        })
        .with_context(|| format!("writing the memory {}", self.path.display()))
    }
}

/// What is said of a memory file that cannot be read.
fn damaged(path: &Path, error: &dyn std::fmt::Display) -> Usage {
    Usage(format!(
        "the memory {} cannot be read ({error}); pass --restart to start over",
        path.display()
    ))
}

/// The record of a source read, or none when the run learned nothing of
/// it.
fn record_of(reading: &Reading, reached: &Reached, settled: bool) -> Option<Record> {
    let (seen, fingerprint) = reached.seen?;
    if reached.taught == 0 && reached.mapped == 0 {
        return None;
    }
    let ended = reached
        .ended
        .is_some_and(|lines| reached.taught >= lines && reached.mapped >= lines);
    Some(Record {
        path: reading.path.clone(),
        stamp: reading.stamp.clone(),
        taught: reached.taught,
        mapped: reached.mapped,
        seen,
        fingerprint,
        ended,
        settled: ended && settled,
    })
}

/// Refuses a memory made with other options than this run's, naming the
/// first that differs.
fn check_settings(saved: &[Setting], now: &[Setting], path: &Path) -> Result<()> {
    let value = |settings: &[Setting], name: &str| {
        settings
            .iter()
            .find(|s| s.name == name)
            .map_or_else(|| "not recorded".to_owned(), |s| s.value.clone())
    };
    let names = saved.iter().chain(now).map(|s| s.name.as_str());
    for name in names {
        let (then, today) = (value(saved, name), value(now, name));
        if then != today {
            bail!(Usage(format!(
                "{name} differs from the run that saved the memory {}: {then} then, {today} now. \
                 What a message teaches depends on it: rerun with the same {name}, or pass \
                 --restart to start over (everything is read and sent again)",
                path.display()
            )));
        }
    }
    Ok(())
}
