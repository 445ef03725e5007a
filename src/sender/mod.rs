//! Delivery (SPEC §6): activity and metric items are collected into
//! batches, one open batch per route, and profile upserts coalesced; each
//! request is handed to a transport — the HTTP sender, or the dry-run
//! printer, which writes the same request to stdout instead. Here too: the
//! company-first order, what a checkpoint may count as settled, and the
//! failed file for items Planhat refuses and messages the mapping rejects.

pub mod http;
pub mod pairs;
pub mod policy;

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::checkpoint::{Checkpoint, Handled, Unsettled};
use crate::failed::{FailedFile, Note, Original};
use crate::fingerprint::Fingerprint;
use crate::planhat::items::{Item, Route};
use crate::planhat::profiles::Profiles;
use crate::planhat::{Batch, Batcher, Endpoints, Limits, Origin, render_dry_run};
use crate::report::Counters;
use crate::report::live::Reporter;
use crate::segment::time::EventTime;
use pairs::Pairs;

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
    /// stops the run (a refused token, an unusable URL, Ctrl-C); nothing in
    /// the batch then counts as delivered.
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>>;
}

/// The dry-run transport: prints each request as one JSON line.
pub struct DryRun<'w> {
    out: &'w mut dyn Write,
    endpoints: Endpoints,
    pretty: bool,
    counters: Arc<Counters>,
}

impl<'w> DryRun<'w> {
    pub fn new(
        out: &'w mut dyn Write,
        endpoints: Endpoints,
        pretty: bool,
        counters: Arc<Counters>,
    ) -> DryRun<'w> {
        DryRun {
            out,
            endpoints,
            pretty,
            counters,
        }
    }
}

impl Transport for DryRun<'_> {
    fn deliver(&mut self, batch: &Batch) -> Result<Vec<ItemFailure>> {
        render_dry_run(batch, &self.endpoints, self.pretty, self.out)
            .context("writing to stdout")?;
        self.counters.request(batch.body.len() as u64);
        Ok(Vec::new())
    }
}

/// What a transport said about one batch.
type Settlement = Result<Vec<ItemFailure>>;

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
                    if outgoing.send(result).is_err() {
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

    /// Writes the checkpoint, if there is one: the failed file first, so
    /// that every line counted as handled is on disk.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        self.unsaved = false;
        let Some(checkpoint) = &mut self.checkpoint else {
            return Ok(());
        };
        // Lines settled since the failed file broke may have records that
        // are not in it: the last checkpoint stays, and a resume handles
        // them again after cutting the file back to the length it records.
        if self.failed_broken {
            return Ok(());
        }
        let failed = match &mut self.failed {
            Some(failed) => {
                failed.sync()?;
                let len = failed.length()?;
                Some((failed.path(), len))
            }
            None => None,
        };
        let in_flight = match &self.carrier {
            Carrier::Worker(worker) => worker.in_flight.as_deref(),
            Carrier::Here(_) => None,
        };
        // A line is settled in parts: its metric, and everything else.
        let mut unsettled = self.stalled.clone();
        let batches = in_flight
            .into_iter()
            .chain(&self.sending)
            .chain(open_batches(&self.lanes));
        for batch in batches {
            unsettled.of(batch.route).extend(batch.origins());
        }
        unsettled.others.extend(self.profiles.origins());
        for (origin, metric) in self.pairs.held() {
            let route = if metric {
                Route::Metric
            } else {
                Route::Activity
            };
            unsettled.of(route).push(origin);
        }
        unsettled.metric_settled.extend(self.pairs.metric_settled());
        for origins in [
            &mut unsettled.metrics,
            &mut unsettled.others,
            &mut unsettled.metric_settled,
        ] {
            origins.sort_unstable();
            origins.dedup();
        }
        // An envelope line none of whose messages waits is done with.
        let waiting: BTreeSet<(usize, u64)> = unsettled
            .metrics
            .iter()
            .chain(&unsettled.others)
            .map(|o| (o.source, o.line))
            .collect();
        self.envelopes
            .retain(|line| waiting.contains(&(line.source, line.line)));
        unsettled.envelopes.extend(self.envelopes.iter().copied());
        checkpoint.save(&self.handled, &unsettled, failed)
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
                self.settle(&batch, result, report)?;
                self.recycle(batch);
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
        self.settle(&batch, settlement, report)?;
        if let Ok(batch) = Arc::try_unwrap(batch) {
            self.recycle(batch);
        }
        Ok(())
    }

    /// Hands a sent batch's buffers back to its lane. A profile request's
    /// buffers are dropped: they would only replace an activity batch's
    /// larger ones, which the next activity batch would grow again.
    fn recycle(&mut self, batch: Batch) {
        if !matches!(batch.route, Route::EndUser | Route::Company) {
            self.lanes[Lane::of(batch.route)].batcher.recycle(batch);
        }
    }

    /// Counts what a batch's request did, and writes its failed items: each
    /// message a failed item carries, once, and a message sent as two items
    /// once both are settled.
    fn settle(&mut self, batch: &Batch, result: Settlement, report: &mut Reporter) -> Result<()> {
        let mut failures = match result {
            Ok(failures) => failures,
            Err(error) => {
                self.stalled.of(batch.route).extend(batch.origins());
                return Err(error);
            }
        };
        failures.sort_by_key(|failure| failure.index);
        // The same message also had an activity: say which of its items failed.
        if batch.route == Route::Metric {
            for failure in &mut failures {
                failure.message = format!("metric: {}", failure.message);
            }
        }
        let at = now_text();
        let mut failures = failures.iter().peekable();
        for (index, entry) in batch.entries.iter().enumerate() {
            let carried = batch.carried(entry);
            let failure = failures.next_if(|f| f.index == index);
            if let Some(failure) = failure
                && carried.is_empty()
            {
                // A minimal company upsert of company-first: no line of its
                // own to write, but the run must not look clean.
                let what = "a company's minimal upsert (sent before its group call)";
                report.fail(what, &failure.reason, &failure.message);
            }
            if failure.is_none() {
                report.tally.delivered += carried.len() as u64;
                report.tally.request_items += 1;
                if self.pairs.is_empty() {
                    continue;
                }
            }
            for message in carried {
                if let Some(failure) = failure {
                    let position = report.position(message.origin);
                    report.fail(&position, &failure.reason, &failure.message);
                }
                let metric = batch.route == Route::Metric;
                let Some(write) = self.pairs.settle(message.origin, metric, failure) else {
                    continue;
                };
                let position = report.position(message.origin);
                if let Some(failed) = &mut self.failed {
                    let note = Note {
                        reason: &write.reason,
                        status: write.status,
                        message: &write.message,
                        source: &position,
                        at: &at,
                    };
                    failed
                        .write(Original::Message(batch.original(message)), &note)
                        .inspect_err(|_| self.failed_broken = true)?;
                }
            }
        }
        self.unsaved = true;
        Ok(())
    }

    /// Whether originals are kept: only for the failed file, which a
    /// dry-run has not.
    pub fn keeps_originals(&self) -> bool {
        self.failed.is_some()
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
