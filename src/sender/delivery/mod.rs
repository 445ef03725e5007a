//! Delivery (SPEC §6): activity and metric items collected into batches,
//! one open batch per route, profile upserts coalesced, requests handed to
//! the carrier one at a time in order, the company-first order, and the
//! flush interval. What a settled request counts, the failed file and the
//! checkpoint are in [`settle`].

mod settle;

use settle::now_text;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::Carrier;
use super::pairs::Pairs;
use crate::checkpoint::{Checkpoint, Handled, Unsettled};
use crate::failed::{FailedFile, Note, Original};
use crate::fingerprint::Fingerprint;
use crate::planhat::items::{Item, Route};
use crate::planhat::profiles::Profiles;
use crate::planhat::{Batch, Batcher, Limits, Origin};
use crate::report::live::Reporter;

/// How often the display is updated while an answer is awaited.
const TICK: Duration = Duration::from_millis(100);

/// The batcher of one bulk route, and when its open batch received its
/// first item.
struct Lane {
    batcher: Batcher,
    open_since: Option<Instant>,
}

/// The lane of activities (or receiver bodies) and the lane of metrics.
const ACTIVITY: usize = 0;
const METRIC: usize = 1;

impl Lane {
    /// The lane a batched route's items take.
    fn of(route: Route) -> usize {
        if route == Route::Metric {
            METRIC
        } else {
            ACTIVITY
        }
    }
}

/// The open batch of each lane.
fn open_batches(lanes: &[Lane]) -> impl Iterator<Item = &Batch> {
    lanes.iter().filter_map(|lane| lane.batcher.open())
}

/// Batching, coalescing, ordering and failure accounting around a transport.
pub struct Delivery<'a> {
    lanes: [Lane; 2],
    profiles: Profiles,
    carrier: Carrier<'a>,
    /// `None` in a dry-run, which writes nothing but stdout and stderr.
    failed: Option<FailedFile>,
    flush_interval: Duration,
    /// Messages sent as an activity and a metric, until both are settled.
    pairs: Pairs,
    /// Closed batches not yet handed to the carrier, the next on top: a
    /// checkpoint written meanwhile must not count their lines as handled.
    sending: Vec<Batch>,
    /// `None` without `--checkpoint`, and in a dry-run.
    checkpoint: Option<Checkpoint>,
    handled: Handled,
    /// The messages of a batch that could not be delivered (Ctrl-C, a
    /// refused token): they do not count as handled.
    stalled: Unsettled,
    /// Lines of several messages (batch envelopes) not yet all settled: a
    /// checkpoint says which of their messages wait.
    envelopes: BTreeSet<Origin>,
    /// Items handed over since the last line was done.
    line_items: u32,
    /// A request was settled since the checkpoint was last written.
    unsaved: bool,
    /// A failed-file write failed: the run stops, and no checkpoint is
    /// written past the last one.
    failed_broken: bool,
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
            lanes: [ACTIVITY, METRIC].map(|_| Lane {
                batcher: Batcher::new(setup.limits),
                open_since: None,
            }),
            profiles: Profiles::new(setup.limits),
            carrier: setup.carrier,
            failed: setup.failed,
            flush_interval: setup.flush_interval,
            pairs: Pairs::default(),
            sending: Vec::new(),
            checkpoint: setup.checkpoint,
            handled: Handled::new(setup.sources),
            stalled: Unsettled::default(),
            envelopes: BTreeSet::new(),
            line_items: 0,
            unsaved: false,
            failed_broken: false,
        }
    }

    /// Every message of the line at `origin`, `messages` in all, was handed
    /// to delivery or otherwise handled.
    pub fn line_done(&mut self, origin: Origin, messages: u32) {
        self.handled.line_done(origin);
        // Only a checkpoint needs them, and only when some item of the line
        // waits; each save lets go of the lines since settled.
        if messages > 1 && self.line_items > 0 && self.checkpoint.is_some() {
            self.envelopes.insert(origin);
        }
        self.line_items = 0;
    }

    /// The profiles' memory of companies whose first upsert went out, for a
    /// later run (SPEC §6.1).
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    pub fn profiles_mut(&mut self) -> &mut Profiles {
        &mut self.profiles
    }

    /// The checkpoint, when there is one.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref()
    }

    /// Lines of a source were read, from `first_line` on: the checkpoint
    /// takes their fingerprints, and refuses standard input that is not the
    /// stream it was written for.
    pub fn read(&mut self, source: usize, first_line: u64, ends: &[Fingerprint]) -> Result<()> {
        match &mut self.checkpoint {
            Some(checkpoint) => checkpoint.read(source, first_line, ends),
            None => Ok(()),
        }
    }

    /// A source was read to its end.
    pub fn source_done(&mut self, source: usize, lines: u64) -> Result<()> {
        self.handled.source_done(source, lines);
        match &mut self.checkpoint {
            Some(checkpoint) => checkpoint.ended(source, lines),
            None => Ok(()),
        }
    }

    /// The earliest message not yet settled: the lines before it are
    /// handled, which is what the progress bar shows.
    pub fn first_unsettled(&self) -> Option<Origin> {
        let in_flight = match &self.carrier {
            Carrier::Worker(worker) => worker.in_flight.as_deref(),
            Carrier::Here(_) => None,
        };
        // Each batch's and each route's first message is its earliest.
        let firsts = in_flight
            .into_iter()
            .chain(&self.sending)
            .chain(open_batches(&self.lanes))
            .filter_map(|batch| batch.origins().next());
        self.stalled
            .metrics
            .iter()
            .chain(&self.stalled.others)
            .copied()
            .chain(firsts)
            .chain(self.profiles.origins().min())
            .min()
    }

    /// Adds a message's item and its metric, or either alone (a resumed
    /// line whose other part was settled before): an activity or a metric
    /// to its lane's open batch, a profile to its coalesced upsert; sends
    /// whatever that makes due.
    pub fn item(
        &mut self,
        item: Option<&Item>,
        metric: Option<&Item>,
        origin: Origin,
        original: &[u8],
        report: &mut Reporter,
    ) -> Result<()> {
        self.line_items += 1;
        if let Some(item) = item {
            let route = item.route();
            if matches!(route, Route::EndUser | Route::Company) {
                if self.profiles.crosses(item) {
                    self.send_profiles(route, report)?;
                }
                if self.profiles.push(item, origin, original, Instant::now()) {
                    self.send_profiles(route, report)?;
                }
                return Ok(());
            }
            // Only failures need to know the two items apart, and a dry-run
            // has none.
            if metric.is_some() && self.failed.is_some() {
                self.pairs.add(origin);
            }
            let names_new_company = match item {
                Item::Activity(activity) => activity.who.company.as_deref(),
                Item::Receiver(forward) => forward.company.as_deref(),
                _ => None,
            }
            .is_some_and(|company| self.profiles.is_first_pending(company));
            self.push(item, origin, original, names_new_company, report)?;
        }
        if let Some(metric) = metric {
            // No order against other routes is promised (SPEC §11): a metric
            // never waits for a company's upsert.
            self.push(metric, origin, original, false, report)?;
        }
        Ok(())
    }

    /// Adds a minimal company upsert that company-first sends before the
    /// first request naming the company (SPEC §6): it waits with the
    /// company's profile, and the company-first rule sends it before that
    /// request.
    pub fn announce(&mut self, company: &Item, report: &mut Reporter) -> Result<()> {
        if self.profiles.announce(company, Instant::now()) {
            self.send_profiles(Route::Company, report)?;
        }
        Ok(())
    }

    /// Adds an item to its lane's open batch and sends the batches that
    /// closes.
    fn push(
        &mut self,
        item: &Item,
        origin: Origin,
        original: &[u8],
        names_new_company: bool,
        report: &mut Reporter,
    ) -> Result<()> {
        let lane = Lane::of(item.route());
        let closed = self.lanes[lane]
            .batcher
            .push(item, origin, original, names_new_company);
        if !closed.is_empty() {
            self.lanes[lane].open_since = None;
            self.send(closed, report)?;
        }
        let lane = &mut self.lanes[lane];
        if lane.batcher.has_open() && lane.open_since.is_none() {
            lane.open_since = Some(Instant::now());
        }
        Ok(())
    }

    /// When the next request is due by the flush interval: an open
    /// activity or metric batch's, or the oldest waiting profile's.
    pub fn deadline(&self) -> Option<Instant> {
        [
            self.lanes[ACTIVITY].open_since,
            self.lanes[METRIC].open_since,
            self.profiles.waiting_since(Route::Company),
            self.profiles.waiting_since(Route::EndUser),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|since| since + self.flush_interval)
    }

    /// Sends what has waited its flush interval at `now`.
    pub fn flush_due(&mut self, now: Instant, report: &mut Reporter) -> Result<()> {
        let interval = self.flush_interval;
        let due = |since: Option<Instant>| since.is_some_and(|s| s + interval <= now);
        for route in [Route::Company, Route::EndUser] {
            if due(self.profiles.waiting_since(route)) {
                self.send_profiles(route, report)?;
            }
        }
        if due(self.lanes[ACTIVITY].open_since) {
            self.send_open(ACTIVITY, report)?;
        }
        if due(self.lanes[METRIC].open_since) {
            self.send_open(METRIC, report)?;
        }
        Ok(())
    }

    /// Input is quiet (a live pipe): sends what is due, and waits for the
    /// answer and records it, so that nothing is left unrecorded while the
    /// input waits.
    pub fn quiet(&mut self, now: Instant, report: &mut Reporter) -> Result<()> {
        self.flush_due(now, report)?;
        self.settle_all(report)
    }

    /// The end of input: sends everything that waits, companies first, and
    /// records the answers.
    pub fn finish(&mut self, report: &mut Reporter) -> Result<()> {
        self.send_profiles(Route::Company, report)?;
        self.send_profiles(Route::EndUser, report)?;
        self.send_open(ACTIVITY, report)?;
        self.send_open(METRIC, report)?;
        self.settle_all(report)
    }

    /// Waits for the request in flight and records what was settled.
    pub fn settle_all(&mut self, report: &mut Reporter) -> Result<()> {
        self.wait(report)?;
        if self.unsaved {
            self.save_checkpoint()?;
        }
        Ok(())
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
        failed
            .write(original, &note)
            .inspect_err(|_| self.failed_broken = true)
    }

    /// Sends a lane's open batch, if any.
    fn send_open(&mut self, lane: usize, report: &mut Reporter) -> Result<()> {
        let open = &mut self.lanes[lane];
        open.open_since = None;
        match open.batcher.take() {
            Some(batch) => self.send(vec![batch], report),
            None => Ok(()),
        }
    }

    /// Sends every profile waiting on `route`.
    fn send_profiles(&mut self, route: Route, report: &mut Reporter) -> Result<()> {
        let batches = self.profiles.take(route);
        self.send(batches, report)
    }

    /// Sends batches, in order.
    fn send(&mut self, batches: Vec<Batch>, report: &mut Reporter) -> Result<()> {
        let count = batches.len();
        self.sending.extend(batches.into_iter().rev());
        for _ in 0..count {
            self.send_next(report)?;
        }
        Ok(())
    }

    /// Sends the next closed batch: after the companies whose first upsert
    /// it must follow, and once the request before it is settled and
    /// recorded — so that a checkpoint counting that request is on disk
    /// before this one can reach Planhat, and a crash repeats at most the
    /// request in flight. The batch stays in `sending` until then, so that
    /// checkpoint does not count its lines.
    fn send_next(&mut self, report: &mut Reporter) -> Result<()> {
        if self
            .sending
            .last()
            .is_some_and(|batch| batch.names_new_company)
        {
            self.send_profiles(Route::Company, report)?;
        }
        self.wait(report)?;
        if self.unsaved {
            self.save_checkpoint()?;
        }
        let batch = self
            .sending
            .pop()
            .expect("send put the batch there, and the company batches sent before it are gone");
        match &mut self.carrier {
            Carrier::Here(transport) => {
                let result = transport.deliver(&batch);
                self.settle(&batch, result, report)
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

    /// Waits for the request in flight, if any, and settles it. The display
    /// keeps moving meanwhile: a slow answer, a backoff or pacing must never
    /// look like a hang.
    pub fn wait(&mut self, report: &mut Reporter) -> Result<()> {
        let Carrier::Worker(worker) = &mut self.carrier else {
            return Ok(());
        };
        let Some(batch) = worker.in_flight.take() else {
            return Ok(());
        };
        let settlement = loop {
            match worker.results.recv_timeout(TICK) {
                Ok(settlement) => break settlement,
                Err(RecvTimeoutError::Timeout) => report.tick(),
                Err(RecvTimeoutError::Disconnected) => {
                    self.stalled.of(batch.route).extend(batch.origins());
                    return Err(anyhow!("the sender thread stopped"));
                }
            }
        };
        self.settle(&batch, settlement, report)
    }
}
