//! What a settled request counts (delivered items, failures by reason),
//! the failed file it writes, and the checkpoint that records what is
//! handled (SPEC §6).

use std::collections::BTreeSet;

use anyhow::Result;

use super::{Delivery, open_batches};
use crate::failed::{FailedFile, Note, Original};
use crate::planhat::Batch;
use crate::planhat::items::Route;
use crate::report::live::Reporter;
use crate::segment::time::EventTime;
use crate::sender::Carrier;
use crate::sender::Settlement;

impl Delivery<'_> {
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

    /// Counts what a batch's request did, and writes its failed items: each
    /// message a failed item carries, once, and a message sent as two items
    /// once both are settled.
    pub(super) fn settle(
        &mut self,
        batch: &Batch,
        result: Settlement,
        report: &mut Reporter,
    ) -> Result<()> {
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
                // own to write (its company's group calls are sent, and
                // fail or not, in their turn), but the run must not look
                // clean. It is named by its company where positions go.
                let item: serde_json::Value =
                    serde_json::from_slice(batch.item(entry)).unwrap_or_default();
                let company = item["externalId"].as_str().unwrap_or_default();
                let what = format!("company {company} (its minimal upsert before its group call)");
                report.fail(&what, &failure.reason, &failure.message);
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
                        .write(Original::Message(&batch.original(message)), &note)
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
pub(super) fn now_text() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    EventTime::from_millis(millis).map_or_else(String::new, |t| t.to_string())
}
