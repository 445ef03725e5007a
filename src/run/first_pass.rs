//! The first pass (SPEC §5.1, §5.7): the sources that can be read twice
//! are read once before the run, for what the whole input teaches (user →
//! company associations, first group-call names, anonymousId links),
//! skipping what the saved memory knows (§6.1), and keeping associations
//! past the memory bound in temporary files until its end.

use anyhow::{Context, Result};

use std::sync::mpsc::RecvTimeoutError;

use super::pipeline::{Ending, INTERRUPT_POLL, Pipeline};
use super::spill::{RunReader, Spill};
use crate::error::Usage;
use crate::input::{self, Event, Source};
use crate::{report, segment};

impl Pipeline<'_, '_> {
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
    pub(super) fn first_pass(&mut self, sources: &[Source]) -> Result<Ending> {
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
        self.report.begin_pass(files.iter().map(Source::size).sum());
        let resumes = places.iter().map(|&place| self.resumes[place]).collect();
        let reader = input::spawn(files, resumes, self.max_line_bytes);
        loop {
            // A read that waits (an object store that does not answer)
            // does not keep a stopping signal waiting.
            let event = match reader.events.recv_timeout(INTERRUPT_POLL) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if self.interrupted() {
                return Ok(Ending::Interrupted);
            }
            // The display keeps moving through the first pass too.
            self.report.tick();
            let Some(event) = event else {
                continue;
            };
            match event {
                Event::Lines(chunk) => {
                    self.report.set_handled_bytes(chunk.read_to);
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
                Event::Retry(text) => self.report.counters.retry(text),
                // Before anything is sent.
                Event::Refused { message, .. } => return Err(Usage(message).into()),
                Event::Unreadable { .. } | Event::End { .. } => {}
            }
        }
        let mut runs = spill.readers();
        self.mapper.end_first_pass(runs.iter_mut().collect());
        self.report.end_pass();
        if let Some(error) = runs.iter_mut().find_map(RunReader::error) {
            return Err(error).context("reading back the first pass's associations");
        }
        Ok(Ending::Done)
    }
}
