//! One input line in the main pass: each message in it mapped with what
//! the memory lets it teach, counted, and handed to delivery (or, for
//! `validate`, only counted); lines that are not messages rejected with
//! their position.

use anyhow::{Context, Result};

use super::pipeline::Pipeline;
use crate::checkpoint::Parts;
use crate::failed::Original;
use crate::mapping::{Lessons, Outcome, Reject, Skip};
use crate::planhat::Origin;
use crate::planhat::items::Item;
use crate::report::{Tally, Unplaced};
use crate::segment::LineError;
use crate::sender::Delivery;
use crate::{mapping, segment};

impl Pipeline<'_, '_> {
    /// Maps a line a checkpoint says is handled, for what it teaches that
    /// the memory does not know (`lessons`), and nothing else.
    pub(super) fn replay(&mut self, text: &[u8], lessons: Lessons) {
        if lessons != Lessons::None {
            for message in segment::parse_line(text).flatten() {
                self.mapper.map_with(&message, lessons);
            }
        }
        self.report.tally.already_handled += 1;
    }

    /// Handles one input line: every message in it, each on its own, and
    /// of each the parts not sent before (a checkpoint may say a line is
    /// settled in part). Returns how many messages the line holds.
    pub(super) fn line(&mut self, at: Origin, text: &[u8], lessons: Lessons) -> Result<u32> {
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
    pub(super) fn too_long(&mut self, origin: Origin, bytes: u64) -> Result<()> {
        let position = self.report.position(origin);
        if !self.mapper.owns_unparsed(position.as_bytes()) {
            self.report.tally.other_shards += 1;
            return Ok(());
        }
        let detail = format!("line of {bytes} bytes is longer than --max-line-bytes");
        let unread = Original::Unread { bytes: Some(bytes) };
        self.reject(origin, Reject::LineTooLong, &detail, unread)
    }

    pub(super) fn reject(
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
