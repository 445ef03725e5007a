//! The one loop `send` and `validate` share: sources are read line by
//! line, each message mapped, its items handed to delivery (or, for
//! `validate`, only counted). The first pass before it is in
//! [`first_pass`](super::first_pass), one line's handling in
//! [`line`](super::line).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::checkpoint::Done;
use crate::config::Common;
use crate::error::Usage;
use crate::failed::Original;
use crate::fingerprint::Fingerprint;
use crate::input::{self, Event, Resume, Source};
use crate::mapping::metrics::Metrics;
use crate::mapping::{Mapper, Reject};
use crate::memory::{Memory, Plan, Reached};
use crate::planhat::Origin;
use crate::report::live::Reporter;
use crate::sender::Delivery;

/// How reading ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    /// Every source was read and every batch sent.
    Done,
    /// Ctrl-C: reading stopped and the open batch was not sent.
    Interrupted,
}

/// How often the loop looks at the interrupt flag while input is quiet.
pub(super) const INTERRUPT_POLL: Duration = Duration::from_millis(100);

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
    /// Whether the run stopped in the middle of a line (an error while its
    /// items were handed over): what the mapping learned then is not what
    /// [`Pipeline::reached`] says, so it is not remembered.
    pub(super) mid_line: bool,
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
            mid_line: false,
            marks: VecDeque::new(),
            interrupt,
        }
    }

    pub(super) fn interrupted(&self) -> bool {
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
                        let lessons = self.reached[chunk.source].lessons(span.line);
                        self.mid_line = true;
                        if self.skip[chunk.source].is_handled(span.line) {
                            self.replay(chunk.text(span), lessons);
                        } else if let Some(bytes) = span.too_long {
                            self.too_long(origin, bytes)?;
                        } else {
                            messages = self.line(origin, chunk.text(span), lessons)?;
                        }
                        self.mid_line = false;
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
                    reached.map_to(lines, learning);
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
                Ok(Event::Retry(text)) => self.report.counters.retry(text),
                // Stopped as a refused token stops a run: the request in
                // flight is finished, the checkpoint written.
                Ok(Event::Refused { message, .. }) => return Err(Usage(message).into()),
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
    /// end with fingerprint `end`.
    fn map_reached(&mut self, source: usize, line: u64, end: Fingerprint, learning: bool) {
        let reached = &mut self.reached[source];
        reached.map_to(line, learning);
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

    /// Starts where the saved memory leaves off (SPEC §6.1): the mapper, and
    /// the delivery's profiles, given what it holds, and each source read
    /// from where `plan` says.
    pub(super) fn start_from(&mut self, memory: &mut Memory, plan: &Plan) -> Result<()> {
        let profiles = self.delivery.as_mut().map(Delivery::profiles_mut);
        memory.load(&mut self.mapper, profiles)?;
        self.resumes = plan.resumes.clone();
        self.reached = plan.reached.clone();
        Ok(())
    }

    /// Waits for the request in flight, if any.
    pub(super) fn wait(&mut self) -> Result<()> {
        match &mut self.delivery {
            Some(delivery) => delivery.wait(&mut self.report),
            None => Ok(()),
        }
    }
}
