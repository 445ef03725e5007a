//! Delivery (SPEC §6): items are collected into batches, and each closed
//! batch is handed to a transport — the HTTP sender, or the dry-run printer,
//! which writes the same request to stdout instead. Items Planhat refuses
//! and messages the mapping rejects go to the failed file.

pub mod http;
pub mod policy;

use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::checkpoint::{Checkpoint, Handled};
use crate::failed::{FailedFile, Note, Original};
use crate::planhat::items::Item;
use crate::planhat::{Batch, Batcher, Endpoints, Limits, Origin, render_dry_run};
use crate::report::Counters;
use crate::report::live::Reporter;
use crate::segment::time::EventTime;

/// An item Planhat did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// The item's index in its batch.
    pub index: usize,
    /// `http_400`, `item_error`, `retries_exhausted`, ...
    pub reason: String,
    pub status: Option<u16>,
    pub message: String,
}

/// Something that carries batches to Planhat, or shows them.
pub trait Transport {
    /// Delivers a closed batch, returning the items that failed. An error
    /// stops the run (a refused token, an unusable URL); nothing in the
    /// batch then counts as delivered.
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>>;

    fn counters(&self) -> Counters;
}

/// The dry-run transport: prints each request as one JSON line.
pub struct DryRun<'w> {
    out: &'w mut dyn Write,
    endpoints: Endpoints,
    pretty: bool,
    counters: Counters,
}

impl<'w> DryRun<'w> {
    pub fn new(out: &'w mut dyn Write, endpoints: Endpoints, pretty: bool) -> DryRun<'w> {
        DryRun {
            out,
            endpoints,
            pretty,
            counters: Counters::default(),
        }
    }
}

impl Transport for DryRun<'_> {
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>> {
        render_dry_run(batch, &self.endpoints, self.pretty, self.out)
            .context("writing to stdout")?;
        self.counters.requests += 1;
        self.counters.bytes += batch.body.len() as u64;
        Ok(Vec::new())
    }

    fn counters(&self) -> Counters {
        self.counters
    }
}

/// What a transport said about one batch, with the counters after it.
type Settlement = (Result<Vec<ItemFailure>>, Counters);

/// Carries batches to a transport: on this thread (the dry-run printer,
/// which writes to this thread's stdout), or on a thread of its own (HTTP),
/// so that reading and mapping the next batch overlap the request in
/// flight. Either way at most one request is in flight, and results are
/// settled in the order the batches were sent.
pub enum Carrier<'a> {
    Here(Box<dyn Transport + 'a>),
    Worker(Worker),
}

/// A transport on a thread of its own, with the batch it is sending.
pub struct Worker {
    requests: SyncSender<Arc<Batch>>,
    results: Receiver<Settlement>,
    in_flight: Option<Arc<Batch>>,
}

impl Worker {
    /// Starts a thread that delivers the batches it is given, in order.
    pub fn spawn(mut transport: Box<dyn Transport + Send>) -> Worker {
        let (requests, incoming) = sync_channel::<Arc<Batch>>(1);
        let (outgoing, results) = sync_channel(1);
        std::thread::Builder::new()
            .name("sender".into())
            .spawn(move || {
                for batch in incoming {
                    let result = transport.deliver(&batch);
                    // Let go first, so the batch's buffers can be reused.
                    drop(batch);
                    if outgoing.send((result, transport.counters())).is_err() {
                        return;
                    }
                }
            })
            .expect("the system can start a thread");
        Worker {
            requests,
            results,
            in_flight: None,
        }
    }
}

/// Batching, flushing and failure accounting around a transport.
pub struct Delivery<'a> {
    batcher: Batcher,
    carrier: Carrier<'a>,
    /// `None` in a dry-run, which writes nothing but stdout and stderr.
    failed: Option<FailedFile>,
    flush_interval: Duration,
    /// When the open batch received its first item.
    open_since: Option<Instant>,
    /// `None` without `--checkpoint`, and in a dry-run.
    checkpoint: Option<Checkpoint>,
    handled: Handled,
    /// The first message of a batch that could not be delivered (Ctrl-C, a
    /// refused token): nothing from it on counts as handled.
    stalled: Option<Origin>,
    /// A request was delivered since the checkpoint was last written.
    unsaved: bool,
}

/// How a run's delivery is set up.
pub struct DeliverySetup<'a> {
    pub limits: Limits,
    pub carrier: Carrier<'a>,
    pub failed: Option<FailedFile>,
    pub flush_interval: Duration,
    pub checkpoint: Option<Checkpoint>,
    /// How many sources the run reads.
    pub sources: usize,
}

impl<'a> Delivery<'a> {
    pub fn new(setup: DeliverySetup<'a>) -> Delivery<'a> {
        Delivery {
            batcher: Batcher::new(setup.limits),
            carrier: setup.carrier,
            failed: setup.failed,
            flush_interval: setup.flush_interval,
            open_since: None,
            checkpoint: setup.checkpoint,
            handled: Handled::new(setup.sources),
            stalled: None,
            unsaved: false,
        }
    }

    /// Every message of the line at `origin` went to a batch or was
    /// otherwise handled. A request delivered while the line was mapped is
    /// recorded now, so that the line itself counts when it is all sent.
    pub fn line_done(&mut self, origin: Origin) -> Result<()> {
        self.handled.line_done(origin);
        if self.unsaved {
            self.save_checkpoint()?;
        }
        Ok(())
    }

    /// A source was read to its end.
    pub fn source_done(&mut self, source: usize, lines: u64) {
        self.handled.source_done(source, lines);
    }

    /// Writes the checkpoint, if there is one: the failed file first, so
    /// that every line counted as handled is on disk.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        self.unsaved = false;
        let Some(checkpoint) = &mut self.checkpoint else {
            return Ok(());
        };
        if let Some(failed) = &mut self.failed {
            failed.sync()?;
        }
        let in_flight = match &self.carrier {
            Carrier::Worker(worker) => worker.in_flight.as_ref().and_then(|b| b.entries.first()),
            Carrier::Here(_) => None,
        };
        let pending = [
            self.stalled,
            in_flight.map(|entry| entry.origin),
            self.batcher.first_open_origin(),
        ]
        .into_iter()
        .flatten()
        .min();
        checkpoint.save(&self.handled, pending)
    }

    /// Adds an item; sends whatever batches that closes.
    pub fn item(
        &mut self,
        item: &Item,
        origin: Origin,
        original: &[u8],
        report: &mut Reporter,
    ) -> Result<()> {
        // Originals are kept only for the failed file, which a dry-run has not.
        let original = if self.failed.is_some() { original } else { &[] };
        for batch in self.batcher.push(item, origin, original) {
            self.open_since = None;
            self.send(batch, report)?;
        }
        if self.batcher.has_open() && self.open_since.is_none() {
            self.open_since = Some(Instant::now());
        }
        Ok(())
    }

    /// When the open batch is due by the flush interval.
    pub fn deadline(&self) -> Option<Instant> {
        self.open_since.map(|since| since + self.flush_interval)
    }

    /// Sends the open batch, if any: at a deadline and at the end of input.
    pub fn flush(&mut self, report: &mut Reporter) -> Result<()> {
        self.open_since = None;
        if let Some(batch) = self.batcher.take() {
            self.send(batch, report)?;
            // A flush is the end of the input or a quiet pipe: wait for the
            // answer, so that nothing is left unrecorded while input waits.
            self.wait(report)?;
            self.save_checkpoint()?;
        }
        self.flush_failed()
    }

    /// Records a message that will not be sent because it was rejected.
    pub fn reject(
        &mut self,
        original: Original<'_>,
        reason: &str,
        detail: &str,
        position: &str,
    ) -> Result<()> {
        let Some(failed) = &mut self.failed else {
            return Ok(());
        };
        let at = now_text();
        let note = Note {
            reason,
            status: None,
            message: detail,
            source: position,
            at: &at,
        };
        failed.write(original, &note)
    }

    /// Sends a batch: at once on this thread, or handed to the worker once
    /// the batch before it is settled.
    fn send(&mut self, batch: Batch, report: &mut Reporter) -> Result<()> {
        self.wait(report)?;
        match &mut self.carrier {
            Carrier::Here(transport) => {
                let result = transport.deliver(&batch);
                let counters = transport.counters();
                self.settle(&batch, (result, counters), report)?;
                self.batcher.recycle(batch);
                Ok(())
            }
            Carrier::Worker(worker) => {
                let batch = Arc::new(batch);
                worker.in_flight = Some(Arc::clone(&batch));
                worker
                    .requests
                    .send(batch)
                    .map_err(|_| anyhow!("the sender thread stopped"))
            }
        }
    }

    /// Waits for the request in flight, if any, and settles it.
    pub fn wait(&mut self, report: &mut Reporter) -> Result<()> {
        let Carrier::Worker(worker) = &mut self.carrier else {
            return Ok(());
        };
        let Some(batch) = worker.in_flight.take() else {
            return Ok(());
        };
        let settlement = worker
            .results
            .recv()
            .map_err(|_| anyhow!("the sender thread stopped"))?;
        self.settle(&batch, settlement, report)?;
        if let Ok(batch) = Arc::try_unwrap(batch) {
            self.batcher.recycle(batch);
        }
        Ok(())
    }

    /// Counts what a batch's request did, and writes its failed items.
    fn settle(
        &mut self,
        batch: &Batch,
        (result, counters): Settlement,
        report: &mut Reporter,
    ) -> Result<()> {
        report.counters = counters;
        let mut failures = match result {
            Ok(failures) => failures,
            Err(error) => {
                let first = batch.entries.first().map(|e| e.origin);
                self.stalled = self.stalled.or(first);
                return Err(error);
            }
        };
        failures.sort_by_key(|failure| failure.index);
        let at = now_text();
        let mut failures = failures.iter().peekable();
        for (index, entry) in batch.entries.iter().enumerate() {
            let Some(failure) = failures.next_if(|f| f.index == index) else {
                report.tally.delivered += 1;
                continue;
            };
            let position = report.position(entry.origin);
            report.fail(&position, &failure.reason, &failure.message);
            if let Some(failed) = &mut self.failed {
                let note = Note {
                    reason: &failure.reason,
                    status: failure.status,
                    message: &failure.message,
                    source: &position,
                    at: &at,
                };
                failed.write(Original::Message(batch.original(entry)), &note)?;
            }
        }
        self.unsaved = true;
        self.flush_failed()
    }

    fn flush_failed(&mut self) -> Result<()> {
        match &mut self.failed {
            Some(failed) => failed.flush(),
            None => Ok(()),
        }
    }

    /// The failed file's path, once something was written to it.
    pub fn failed_path(&self) -> Option<String> {
        self.failed.as_ref().and_then(FailedFile::written_path)
    }
}

/// The current time as the failed file records it.
fn now_text() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    EventTime::from_millis(millis).map_or_else(String::new, |t| t.to_string())
}
