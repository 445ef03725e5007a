//! The run loop: sources are read line by line, each message mapped, its
//! items handed to delivery (or, for `validate`, only counted), and the
//! report written at the end. `send` and `validate` share it.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::checkpoint::{Checkpoint, Done, Parts};
use crate::config::{Common, Config, SendConfig, ValidateConfig};
use crate::error::{Interrupted, Status};
use crate::failed::{FailedFile, Original};
use crate::input::{Event, Source};
use crate::mapping::metrics::Metrics;
use crate::mapping::{Mapper, Outcome, Reject, Skip};
use crate::planhat::Origin;
use crate::planhat::items::Item;
use crate::report::live::{Display, Reporter};
use crate::report::{RuleUse, RunFacts, Tally};
use crate::segment::LineError;
use crate::sender::http::{Clock, Http, HttpSettings, SystemClock};
use crate::sender::{Carrier, Delivery, DeliverySetup, DryRun, Worker};
use crate::{completions, input, mapping, report, segment};

/// What a run needs from outside: where data and diagnostics go, the
/// sender's clock (tests pass one that does not sleep), and the flag Ctrl-C
/// sets.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub clock: Box<dyn Clock + Send>,
    pub interrupt: Arc<AtomicBool>,
}

impl<'a> Io<'a> {
    /// The real clock, and an interrupt flag set by the caller's handler.
    pub fn new(
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
        interrupt: Arc<AtomicBool>,
    ) -> Io<'a> {
        let clock = Box::new(SystemClock::new(Arc::clone(&interrupt)));
        Io {
            out,
            err,
            clock,
            interrupt,
        }
    }
}

/// Runs a resolved command, writing data to `io.out` and everything else to
/// `io.err`.
pub fn run(config: Config, io: Io) -> Result<Status> {
    let Io {
        out,
        err,
        clock,
        interrupt,
    } = io;
    match config {
        Config::Completions(shell) => completions::write(shell, out).map(|()| Status::Clean),
        Config::Validate(config) => validate(config, out, err, interrupt),
        Config::Send(config) => send(config, out, err, clock, interrupt),
    }
}

fn validate(
    config: ValidateConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
    interrupt: Arc<AtomicBool>,
) -> Result<Status> {
    let ValidateConfig { common, json } = config;
    let labels = common.sources.iter().map(Source::label).collect();
    let report = Reporter::new(Tally::with_distinct(), labels, Display::Quiet, None, err);
    let mut pipeline = Pipeline::new(&common, report, None, interrupt);
    if pipeline.run(common.sources.clone())? == Ending::Interrupted {
        return Ok(Status::Interrupted);
    }
    pipeline.report.finish();
    pipeline.report.tally.shard = pipeline.mapper.shard().map(|s| (s.index, s.count));
    pipeline.report.tally.would_stitch = pipeline.mapper.would_stitch();
    let (rules, hits) = pipeline.mapper.rule_hits();
    pipeline.report.tally.rules = report::RuleUse::list(rules, hits);
    let metric_hits = pipeline.metrics.hits().map(|(key, matched)| RuleUse {
        section: "metrics",
        key: key.to_owned(),
        matched,
    });
    pipeline.report.tally.rules.extend(metric_hits);
    pipeline.report.tally.profiles = common.mapping.profiles;
    let tally = &pipeline.report.tally;
    if json {
        serde_json::to_writer_pretty(&mut *out, &tally.validate_json())?;
        writeln!(out)?;
    } else {
        tally.write_validate(out)?;
    }
    out.flush()?;
    Ok(status(tally))
}

fn send(
    config: SendConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
    clock: Box<dyn Clock + Send>,
    interrupt: Arc<AtomicBool>,
) -> Result<Status> {
    let common = &config.common;
    let (checkpoint, skip) = match &config.checkpoint {
        Some(path) => {
            let (checkpoint, skip) = Checkpoint::open(path, &common.sources, config.restart)?;
            // A dry-run shows what a resumed run would send, and writes nothing.
            ((!config.dry_run).then_some(checkpoint), skip)
        }
        None => (None, vec![Done::default(); common.sources.len()]),
    };
    let labels = common.sources.iter().map(Source::label).collect();
    let total_bytes = common.sources.iter().map(Source::size).sum::<Option<u64>>();
    let display = match (config.quiet, config.progress) {
        (true, _) => Display::Quiet,
        (false, true) => Display::Bar,
        (false, false) => Display::StatusLines,
    };
    let mut report = Reporter::new(Tally::default(), labels, display, total_bytes, err);
    if !config.quiet {
        for (source, done) in common.sources.iter().zip(&skip) {
            let lines = done.handled.count();
            if lines > 0 {
                report.eprintln(&format!(
                    "skipping {} of {} already handled",
                    report::counted(lines, "line"),
                    source.label()
                ));
            }
        }
    }
    let (carrier, failed) = match (&common.tenant_token, config.dry_run) {
        (Some(tenant_token), false) => {
            let settings = HttpSettings {
                endpoints: common.endpoints.clone(),
                tenant_token: tenant_token.clone(),
                api_token: common.api_token.clone(),
                max_retries: config.max_retries,
                timeout: config.timeout,
                api_rate: config.api_rate,
                interrupt: Arc::clone(&interrupt),
                counters: Arc::clone(&report.counters),
            };
            let http = Box::new(Http::new(settings, clock));
            (
                Carrier::Worker(Worker::spawn(http)),
                Some(FailedFile::new(config.failed.clone())),
            )
        }
        _ => {
            let counters = Arc::clone(&report.counters);
            let printer = DryRun::new(out, common.endpoints.clone(), config.pretty, counters);
            (Carrier::Here(Box::new(printer)), None)
        }
    };
    let delivery = Delivery::new(DeliverySetup {
        limits: config.limits,
        carrier,
        failed,
        flush_interval: config.flush_interval,
        checkpoint,
        sources: common.sources.len(),
    });
    let mut pipeline = Pipeline::new(common, report, Some(delivery), interrupt);
    pipeline.skip = skip;
    let result = pipeline.run(common.sources.clone());
    // The request in flight is finished whatever happened (Ctrl-C too).
    let waited = pipeline.wait();
    let result = result.and_then(|ending| waited.map(|()| ending));
    // Whatever happened, record what was handled, so that a rerun resumes there.
    let saved = pipeline
        .delivery
        .as_mut()
        .map_or(Ok(()), Delivery::save_checkpoint);
    let Pipeline {
        report, delivery, ..
    } = pipeline;
    let mut report = report;
    report.finish();
    let interrupted = match &result {
        Ok(ending) => *ending == Ending::Interrupted,
        Err(error) => error.is::<Interrupted>(),
    };
    let facts = RunFacts {
        requests: report.counters.requests(),
        retries: report.counters.retries(),
        bytes: report.counters.bytes(),
        duration: report.elapsed(),
        failed_file: delivery.as_ref().and_then(Delivery::failed_path),
        dry_run: config.dry_run,
        interrupted,
        checkpoint: config.checkpoint.is_some(),
    };
    // Ends the sender thread and gives stdout back.
    drop(delivery);
    if !config.quiet {
        report.write_summary(&facts);
    }
    if let Some(path) = &config.summary_json {
        let json = serde_json::to_vec_pretty(&report.tally.summary_json(&facts))?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    saved?;
    if interrupted {
        return Ok(Status::Interrupted);
    }
    result?;
    Ok(status(&report.tally))
}

fn status(tally: &Tally) -> Status {
    if tally.has_problems() {
        Status::Problems
    } else {
        Status::Clean
    }
}

/// How reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// Every source was read and every batch sent.
    Done,
    /// Ctrl-C: reading stopped and the open batch was not sent.
    Interrupted,
}

/// How often the loop looks at the interrupt flag while input is quiet.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

/// The one loop: lines in, messages mapped, items batched and delivered.
struct Pipeline<'a, 'w> {
    mapper: Mapper,
    /// The mapping file's `[metrics]`: a second item for some activities.
    metrics: Metrics,
    report: Reporter<'w>,
    delivery: Option<Delivery<'a>>,
    original: Vec<u8>,
    max_line_bytes: usize,
    /// Per source, what a checkpoint says is done: handled lines are mapped
    /// again, to rebuild the dedupe window and the user → company memory,
    /// and not sent; a line done but for its metric sends only that.
    skip: Vec<Done>,
    /// The last line of each chunk mapped, with the input bytes read by its
    /// end, oldest first: once a chunk's lines are all handled, the progress
    /// bar moves to its mark.
    marks: VecDeque<(Origin, u64)>,
    interrupt: Arc<AtomicBool>,
}

impl<'a, 'w> Pipeline<'a, 'w> {
    fn new(
        common: &Common,
        report: Reporter<'w>,
        delivery: Option<Delivery<'a>>,
        interrupt: Arc<AtomicBool>,
    ) -> Pipeline<'a, 'w> {
        Pipeline {
            mapper: Mapper::new(common.mapping.clone()),
            metrics: Metrics::new(&common.mapping.rules),
            report,
            delivery,
            original: Vec::new(),
            max_line_bytes: common.max_line_bytes,
            skip: vec![Done::default(); common.sources.len()],
            marks: VecDeque::new(),
            interrupt,
        }
    }

    fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed)
    }

    /// Reads every source to the end, sending batches when full, when their
    /// flush interval passes (a slow pipe), and at the end. Ctrl-C stops it
    /// between lines, with the open batch unsent.
    fn run(&mut self, sources: Vec<Source>) -> Result<Ending> {
        if self.mapper.stitches() && self.learn_links(&sources) == Ending::Interrupted {
            return Ok(Ending::Interrupted);
        }
        let reader = input::spawn(sources, self.max_line_bytes);
        loop {
            if self.interrupted() {
                return Ok(Ending::Interrupted);
            }
            let deadline = self.delivery.as_ref().and_then(Delivery::deadline);
            let wake = [deadline, self.report.next_status()]
                .into_iter()
                .flatten()
                .fold(Instant::now() + INTERRUPT_POLL, Instant::min);
            let event = reader
                .events
                .recv_timeout(wake.saturating_duration_since(Instant::now()));
            self.tick();
            match event {
                Ok(Event::Lines(chunk)) => {
                    for span in &chunk.spans {
                        if self.interrupted() {
                            return Ok(Ending::Interrupted);
                        }
                        let origin = Origin {
                            source: chunk.source,
                            line: span.line,
                            message: 0,
                        };
                        let mut messages = 1;
                        if self.skip[chunk.source].is_handled(span.line) {
                            self.replay(chunk.text(span));
                        } else if let Some(bytes) = span.too_long {
                            self.too_long(origin, bytes)?;
                        } else {
                            messages = self.line(origin, chunk.text(span))?;
                        }
                        if let Some(delivery) = &mut self.delivery {
                            delivery.line_done(origin, messages);
                            if delivery.deadline().is_some_and(|d| d <= Instant::now()) {
                                delivery.flush_due(Instant::now(), &mut self.report)?;
                            }
                        }
                    }
                    if let Some(last) = chunk.spans.last() {
                        // Past every message of the line.
                        let origin = Origin {
                            source: chunk.source,
                            line: last.line,
                            message: u32::MAX,
                        };
                        self.marks.push_back((origin, chunk.read_to));
                    }
                }
                Ok(Event::End { source, lines }) => {
                    if let Some(delivery) = &mut self.delivery {
                        delivery.source_done(source, lines);
                    }
                }
                Ok(Event::Unreadable { source, line, .. })
                    if self.skip[source].is_handled(line) => {}
                Ok(Event::Unreadable {
                    source,
                    line,
                    error,
                }) => {
                    let detail = format!("cannot read further: {error}");
                    let unread = Original::Unread { bytes: None };
                    let origin = Origin {
                        source,
                        line,
                        message: 0,
                    };
                    self.reject(origin, Reject::Unreadable, &detail, unread)?;
                }
                Ok(Event::Notice(text)) => self.report.notice(&text),
                // Input is quiet: send what is due, and settle and record
                // the request in flight rather than leave it for the next
                // line, which may be long in coming.
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(delivery) = &mut self.delivery {
                        delivery.quiet(Instant::now(), &mut self.report)?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        if let Some(delivery) = &mut self.delivery {
            delivery.finish(&mut self.report)?;
        }
        self.tick();
        Ok(Ending::Done)
    }

    /// Moves the display to the input bytes of the lines handled so far.
    fn tick(&mut self) {
        let first_unsettled = self.delivery.as_ref().and_then(Delivery::first_unsettled);
        while let Some(&(last, mark)) = self.marks.front()
            && first_unsettled.is_none_or(|first| last < first)
        {
            self.report.set_handled_bytes(mark);
            self.marks.pop_front();
        }
        self.report.tick();
    }

    /// Stitching's first pass (SPEC §5.7): the input files are read once
    /// only for their anonymousId → userId links, so that a page view before
    /// login is attributed even when the login comes later in the logs (and
    /// a resumed or sharded run knows the same links as a whole one).
    /// Standard input can be read only once: it is left out, and its links
    /// are learned as the run reaches them (so when it is given alongside
    /// files, the files' links are known before any of its lines, and win
    /// over its own for the same anonymousId). Unreadable input is reported
    /// by the run itself.
    fn learn_links(&mut self, sources: &[Source]) -> Ending {
        let files: Vec<Source> = sources.iter().filter(|s| s.rereadable()).cloned().collect();
        if files.is_empty() {
            return Ending::Done;
        }
        self.report.notice(&format!(
            "--stitch: reading {} once for anonymousId links first",
            report::counted(files.len() as u64, "file")
        ));
        let reader = input::spawn(files, self.max_line_bytes);
        for event in reader.events {
            if self.interrupted() {
                return Ending::Interrupted;
            }
            // The display keeps moving through the first pass too.
            self.report.tick();
            match event {
                Event::Lines(chunk) => {
                    for span in &chunk.spans {
                        for message in segment::parse_line(chunk.text(span)).flatten() {
                            self.mapper.learn(&message);
                        }
                    }
                }
                // A read of an object retried.
                Event::Notice(text) => self.report.notice(&text),
                Event::Unreadable { .. } | Event::End { .. } => {}
            }
        }
        Ending::Done
    }

    /// Maps a line a checkpoint says is handled, for the memory it teaches,
    /// and nothing else.
    fn replay(&mut self, text: &[u8]) {
        for message in segment::parse_line(text).flatten() {
            self.mapper.map(&message);
        }
        self.report.tally.already_handled += 1;
    }

    /// Waits for the request in flight, if any.
    fn wait(&mut self) -> Result<()> {
        match &mut self.delivery {
            Some(delivery) => delivery.wait(&mut self.report),
            None => Ok(()),
        }
    }

    /// Handles one input line: every message in it, each on its own, and
    /// of each the parts not sent before (a checkpoint may say a line is
    /// settled in part). Returns how many messages the line holds.
    fn line(&mut self, at: Origin, text: &[u8]) -> Result<u32> {
        // The original is kept only for the failed file, and a message
        // rewritten on the way in (an envelope's item) is copied out only
        // then.
        let keeps = self
            .delivery
            .as_ref()
            .is_some_and(Delivery::keeps_originals);
        let mut count = 0;
        for (index, parsed) in segment::parse_line(text).enumerate() {
            count += 1;
            let origin = Origin {
                message: u32::try_from(index).unwrap_or(u32::MAX),
                ..at
            };
            let parts = self.skip[origin.source].parts(origin.line, origin.message);
            if parts == Parts::None {
                // Settled before: only the memory it teaches.
                if let Ok(message) = &parsed {
                    self.mapper.map(message);
                }
                continue;
            }
            let message = match parsed {
                Ok(message) => message,
                Err(_) if !self.mapper.owns_unparsed(text) => {
                    self.report.tally.other_shards += 1;
                    continue;
                }
                Err(error) => {
                    let reason = match error {
                        LineError::EmptyBatch => {
                            self.report.skip(Skip::EmptyBatch, origin);
                            continue;
                        }
                        LineError::InvalidJson(_) => Reject::InvalidJson,
                        LineError::NotAnObject(_) => Reject::NotAnObject,
                        LineError::NeverRead { too_long: true } => Reject::LineTooLong,
                        LineError::NeverRead { too_long: false } => Reject::Unreadable,
                    };
                    let mut detail = error.to_string();
                    // The first line of a pretty-printed document.
                    if matches!(text.trim_ascii(), b"{" | b"[") {
                        detail.push_str(
                            " (a pretty-printed JSON file? one message per line is needed: \
                             jq -c . FILE)",
                        );
                    }
                    self.reject(origin, reason, &detail, Original::Unparsed(text))?;
                    continue;
                }
            };
            let mapped = self.mapper.map(&message);
            if mapped.outcome == Outcome::OtherShard {
                self.report.tally.other_shards += 1;
                continue;
            }
            self.report
                .tally
                .count_type(message.kind.as_ref().map_or("unknown", |k| k.name()));
            let original: &[u8] = if !keeps {
                &[]
            } else if message.rewritten {
                self.original.clear();
                serde_json::to_writer(&mut self.original, &message.fields)
                    .context("copying a message")?;
                &self.original
            } else {
                text
            };
            match mapped.outcome {
                Outcome::OtherShard => {}
                Outcome::Send(item) => {
                    count_item(&mut self.report.tally, &item, mapped.time);
                    let metric = match self.metrics.metric(&message, &item, mapped.time) {
                        Some(Ok(metric)) => Some(Item::Metric(metric)),
                        Some(Err(warning)) => {
                            self.report.tally.metric_warning(warning);
                            None
                        }
                        None => None,
                    };
                    if let Some(metric) = &metric {
                        count_item(&mut self.report.tally, metric, mapped.time);
                    }
                    if let Some(delivery) = &mut self.delivery {
                        let report = &mut self.report;
                        let item = (parts != Parts::Metric).then_some(&item);
                        let metric = metric.as_ref().filter(|_| parts != Parts::AllButMetric);
                        delivery.item(item, metric, origin, original, report)?;
                    }
                }
                Outcome::Skip(reason) => self.report.skip(reason, origin),
                Outcome::Reject(reason, detail) => {
                    let original = Original::Message(original);
                    let position = self.report.position(origin);
                    self.report.reject(reason, &position, &detail);
                    if let Some(delivery) = &mut self.delivery {
                        delivery.reject(original, reason.name(), &detail, &position)?;
                    }
                }
            }
        }
        Ok(count)
    }

    /// A line longer than `--max-line-bytes`, recorded by position and size
    /// only: its text was never held (SPEC §3). Like any line that is not a
    /// message, one shard only reports it, the one its position hashes to.
    fn too_long(&mut self, origin: Origin, bytes: u64) -> Result<()> {
        let position = self.report.position(origin);
        if !self.mapper.owns_unparsed(position.as_bytes()) {
            self.report.tally.other_shards += 1;
            return Ok(());
        }
        let detail = format!("line of {bytes} bytes is longer than --max-line-bytes");
        let unread = Original::Unread { bytes: Some(bytes) };
        self.reject(origin, Reject::LineTooLong, &detail, unread)
    }

    fn reject(
        &mut self,
        origin: Origin,
        reason: Reject,
        detail: &str,
        original: Original,
    ) -> Result<()> {
        let position = self.report.position(origin);
        self.report.reject(reason, &position, detail);
        match &mut self.delivery {
            Some(delivery) => delivery.reject(original, reason.name(), detail, &position),
            None => Ok(()),
        }
    }
}

/// Counts an item that will be sent, by route, time and who it is about.
fn count_item(tally: &mut Tally, item: &Item, time: Option<segment::time::EventTime>) {
    tally.count_route(item.route(), time);
    let (user, company) = match item {
        Item::Activity(activity) => {
            if activity.date.is_none() {
                tally.no_time += 1;
            }
            (
                mapping::identity::user_key(&activity.who),
                activity.who.company.as_deref(),
            )
        }
        Item::EndUser(user) => (
            mapping::identity::user_key(&user.who),
            user.who.company.as_deref(),
        ),
        Item::Company(company) => (None, Some(company.external_id.as_str())),
        Item::Receiver(forward) => (forward.user_id.as_deref(), forward.company.as_deref()),
        // Its company or end user is counted with its activity.
        Item::Metric(_) => (None, None),
    };
    if let Some(distinct) = &mut tally.distinct {
        if let Some(user) = user {
            distinct.user(user);
        }
        if let Some(company) = company {
            distinct.company(company);
        }
    }
}
