//! The one loop `send` and `validate` share: sources are read line by
//! line, each message mapped, its items handed to delivery (or, for
//! `validate`, only counted).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::checkpoint::{Done, Parts};
use crate::config::Common;
use crate::failed::Original;
use crate::fingerprint::Fingerprint;
use crate::input::{Event, Resume, Source};
use crate::mapping::metrics::Metrics;
use crate::mapping::{Lessons, Mapper, Outcome, Reject, Skip};
use crate::memory::Reached;
use crate::planhat::Origin;
use crate::planhat::items::Item;
use crate::report::live::Reporter;
use crate::report::{Tally, Unplaced};
use crate::segment::LineError;
use crate::sender::Delivery;
use crate::{input, mapping, report, segment};

use super::spill::{RunReader, Spill};

/// How reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Every source was read and every batch sent.
    Done,
    /// Ctrl-C: reading stopped and the open batch was not sent.
    Interrupted,
}

/// How often the loop looks at the interrupt flag while input is quiet.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

/// The one loop: lines in, messages mapped, items batched and delivered.
pub(super) struct Pipeline<'a, 'w> {
    pub(super) mapper: Mapper,
    /// The mapping file's `[metrics]`: a second item for some activities.
    pub(super) metrics: Metrics,
    pub(super) report: Reporter<'w>,
    pub(super) delivery: Option<Delivery<'a>>,
    pub(super) original: Vec<u8>,
    pub(super) max_line_bytes: usize,
    /// Per source, what a checkpoint says is done: handled lines are mapped
    /// again, to rebuild the dedupe window and the user → company memory,
    /// and not sent; a line done but for its metric sends only that.
    pub(super) skip: Vec<Done>,
    /// Per source, what the saved memory knows of it when the run starts
    /// (SPEC §6.1), and how far this run gets: lines it knows are neither
    /// learned again nor, when handled, read at all where that can be
    /// helped.
    pub(super) reached: Vec<Reached>,
    /// Per source, where a plain file is read from when the memory covers
    /// its first lines whole.
    pub(super) resumes: Vec<Option<Resume>>,
    /// Whether the main pass began: a run stopped before it has nothing to
    /// remember that the memory does not hold.
    pub(super) mapping_began: bool,
    /// The last line of each chunk mapped, with the input bytes read by its
    /// end, oldest first: once a chunk's lines are all handled, the progress
    /// bar moves to its mark.
    pub(super) marks: VecDeque<(Origin, u64)>,
    pub(super) interrupt: Arc<AtomicBool>,
}

impl<'a, 'w> Pipeline<'a, 'w> {
    pub(super) fn new(
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
            reached: vec![Reached::default(); common.sources.len()],
            resumes: vec![None; common.sources.len()],
            mapping_began: false,
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
    pub(super) fn run(&mut self, sources: Vec<Source>) -> Result<Ending> {
        if self.first_pass(&sources)? == Ending::Interrupted {
            return Ok(Ending::Interrupted);
        }
        self.mapping_began = true;
        let learning = self.mapper.learns_as_it_goes();
        let reader = input::spawn(sources, self.resumes.clone(), self.max_line_bytes);
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
                    // Before any of its lines is handled: a stream that is
                    // not the checkpoint's stops here.
                    if let Some(delivery) = &mut self.delivery {
                        delivery.read(chunk.source, chunk.first_line, &chunk.ends)?;
                    }
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
                        let reached = &self.reached[chunk.source];
                        // What the memory knows of the line: mapped (its
                        // lessons all learned), or taught by a first pass.
                        let lessons = if span.line <= reached.mapped {
                            Lessons::None
                        } else if span.line <= reached.taught {
                            Lessons::AllButAssociations
                        } else {
                            Lessons::All
                        };
                        if self.skip[chunk.source].is_handled(span.line) {
                            self.replay(chunk.text(span), lessons);
                        } else if let Some(bytes) = span.too_long {
                            self.too_long(origin, bytes)?;
                        } else {
                            messages = self.line(origin, chunk.text(span), lessons)?;
                        }
                        let end = chunk.ends[(span.line - chunk.first_line) as usize];
                        self.map_reached(chunk.source, span.line, end, learning);
                        if let Some(delivery) = &mut self.delivery {
                            delivery.line_done(origin, messages);
                            if delivery.deadline().is_some_and(|d| d <= Instant::now()) {
                                delivery.flush_due(Instant::now(), &mut self.report)?;
                            }
                        }
                    }
                    if let Some(&end) = chunk.ends.last() {
                        // Blank lines at its end are mapped too.
                        let last = chunk.first_line + chunk.ends.len() as u64 - 1;
                        self.map_reached(chunk.source, last, end, learning);
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
                        delivery.source_done(source, lines)?;
                    }
                    let reached = &mut self.reached[source];
                    reached.ended = Some(lines);
                    reached.mapped = reached.mapped.max(lines);
                    if learning {
                        reached.taught = reached.taught.max(lines);
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

    /// Notes that the main pass mapped `source` up to `line`, whose bytes
    /// end with fingerprint `end`: when the run learns associations as it
    /// goes, they are taught too.
    fn map_reached(&mut self, source: usize, line: u64, end: Fingerprint, learning: bool) {
        let reached = &mut self.reached[source];
        reached.mapped = reached.mapped.max(line);
        if learning {
            reached.taught = reached.taught.max(line);
        }
        reached.saw(line, end);
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

    /// The first pass (SPEC §5.1, §5.7). When every source can be read
    /// twice, all of them are read once first for the user → company
    /// associations (and each company's first group-call name), so that an
    /// event gets its user's company even when the group call comes later
    /// in the input, as it does when Segment's export puts the backend's
    /// folder before the web app's; and for `--stitch`'s anonymousId links.
    /// Standard input can be read only once: with it among the sources, the
    /// associations are learned as the run reaches them, and only
    /// `--stitch` reads the files first, for links (so files' links are
    /// known before any stdin line, and win over its own for the same
    /// anonymousId). A resumed or sharded run reads the same pass, so it
    /// knows what a whole one knows. Unreadable input is reported by the
    /// run itself.
    fn first_pass(&mut self, sources: &[Source]) -> Result<Ending> {
        let companies = sources.iter().all(Source::rereadable);
        // The files, and each one's place among all the sources.
        let (places, files): (Vec<usize>, Vec<Source>) = sources
            .iter()
            .enumerate()
            .filter(|(_, s)| s.rereadable())
            .map(|(place, s)| (place, s.clone()))
            .unzip();
        if files.is_empty() || !companies && !self.mapper.stitches() {
            return Ok(Ending::Done);
        }
        let what = match (companies, self.mapper.stitches()) {
            (true, true) => "user → company associations and anonymousId links",
            (true, false) => "user → company associations",
            (false, _) => "anonymousId links",
        };
        self.report.notice(&format!(
            "reading {} once first for {what}",
            report::counted(files.len() as u64, "input")
        ));
        self.mapper.begin_first_pass(companies);
        let mut spill = Spill::default();
        let resumes = places.iter().map(|&place| self.resumes[place]).collect();
        let reader = input::spawn(files, resumes, self.max_line_bytes);
        for event in reader.events {
            if self.interrupted() {
                return Ok(Ending::Interrupted);
            }
            // The display keeps moving through the first pass too.
            self.report.tick();
            match event {
                Event::Lines(chunk) => {
                    let reached = &mut self.reached[places[chunk.source]];
                    for span in &chunk.spans {
                        // Lines the memory holds the lessons of teach
                        // nothing; those the main pass maps before the rest
                        // still pass through the dedupe window.
                        let learns = span.line > reached.taught;
                        if !learns && span.line <= reached.mapped {
                            continue;
                        }
                        for message in segment::parse_line(chunk.text(span)).flatten() {
                            if learns {
                                self.mapper.learn(&message);
                            } else {
                                self.mapper.pass_over(&message);
                            }
                        }
                    }
                    if let Some(&end) = chunk.ends.last() {
                        let last = chunk.first_line + chunk.ends.len() as u64 - 1;
                        if companies {
                            reached.taught = reached.taught.max(last);
                        }
                        reached.saw(last, end);
                    }
                    if self.mapper.associations_full() {
                        spill.write(&self.mapper.take_associations())?;
                    }
                }
                // A read of an object retried.
                Event::Notice(text) => self.report.notice(&text),
                Event::Unreadable { .. } | Event::End { .. } => {}
            }
        }
        let mut runs = spill.readers();
        self.mapper.end_first_pass(runs.iter_mut().collect());
        if let Some(error) = runs.iter_mut().find_map(RunReader::error) {
            return Err(error).context("reading back the first pass's associations");
        }
        Ok(Ending::Done)
    }

    /// Maps a line a checkpoint says is handled, for what it teaches that
    /// the memory does not know (`lessons`), and nothing else.
    fn replay(&mut self, text: &[u8], lessons: Lessons) {
        if lessons != Lessons::None {
            for message in segment::parse_line(text).flatten() {
                self.mapper.map_with(&message, lessons);
            }
        }
        self.report.tally.already_handled += 1;
    }

    /// Waits for the request in flight, if any.
    pub(super) fn wait(&mut self) -> Result<()> {
        match &mut self.delivery {
            Some(delivery) => delivery.wait(&mut self.report),
            None => Ok(()),
        }
    }

    /// Handles one input line: every message in it, each on its own, and
    /// of each the parts not sent before (a checkpoint may say a line is
    /// settled in part). Returns how many messages the line holds.
    fn line(&mut self, at: Origin, text: &[u8], lessons: Lessons) -> Result<u32> {
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
                // Settled before: only what it teaches.
                if let Ok(message) = &parsed
                    && lessons != Lessons::None
                {
                    self.mapper.map_with(message, lessons);
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
            let mut mapped = self.mapper.map_with(&message, lessons);
            // Company first: a company this message names before its group
            // call goes first, unless a checkpoint says the item that names
            // it was sent (and so the upsert before it).
            if let Some(company) = mapped.announce.take()
                && parts != Parts::Metric
                && let Some(delivery) = &mut self.delivery
            {
                delivery.announce(&Item::Company(company), &mut self.report)?;
            }
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
                    if let Some(warning) = unplaced(&item) {
                        self.report.unplaced(warning, origin);
                    }
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

/// Whether an item is one Planhat may not place (SPEC §5.1): an activity
/// without a company, an end-user upsert without a `companyId`.
fn unplaced(item: &Item) -> Option<Unplaced> {
    match item {
        Item::Activity(activity) if activity.who.company.is_none() => Some(Unplaced::Activity),
        Item::EndUser(user) if user.who.company.is_none() => Some(Unplaced::EndUser),
        _ => None,
    }
}
