//! What a checkpoint says is done, line by line (SPEC §6): whole lines,
//! lines done but for their metric (or only their metric), and lines of
//! several messages settled in part; and what a run reports as handled and
//! still unsettled when it saves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Entry, LineSet};
use crate::planhat::Origin;
use crate::planhat::items::Route;

/// A line of several messages settled in part, as the file records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartLine {
    pub line: u64,
    /// The messages still to send (their place in the line), each with what
    /// it still needs.
    pub waiting: Vec<(u32, Parts)>,
}

/// Which lines of a source are done, wholly or in part: a message sent as
/// an activity and a metric (SPEC §11) can have one settled and not the
/// other, and a line of several messages (a batch envelope) some settled
/// and not others; a rerun then sends only what is missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Done {
    /// Every item settled.
    pub handled: LineSet,
    /// Everything settled but the metric.
    pub metric_pending: LineSet,
    /// Only the metric settled.
    pub metric_sent: LineSet,
    /// Lines of several messages settled in part: the messages waiting.
    pub messages: BTreeMap<u64, Vec<(u32, Parts)>>,
}

/// What a message still needs sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parts {
    /// Nothing: it is handled, and mapped again only for the memory it
    /// teaches.
    None,
    /// Only its metric.
    Metric,
    /// All but its metric.
    AllButMetric,
    /// Everything.
    All,
}

impl Done {
    /// Whether the whole line is handled: mapped again only for the memory
    /// it teaches.
    pub fn is_handled(&self, line: u64) -> bool {
        self.handled.contains(line)
    }

    /// What the message at `message` of `line` still needs sent.
    pub fn parts(&self, line: u64, message: u32) -> Parts {
        if let Some(waiting) = self.messages.get(&line) {
            return waiting
                .iter()
                .find(|(waiting, _)| *waiting == message)
                .map_or(Parts::None, |(_, parts)| *parts);
        }
        if self.handled.contains(line) {
            Parts::None
        } else if self.metric_pending.contains(line) {
            Parts::Metric
        } else if self.metric_sent.contains(line) {
            Parts::AllButMetric
        } else {
            Parts::All
        }
    }

    pub(super) fn of(entry: &Entry) -> Done {
        let prefix = (entry.lines > 0).then_some([1, entry.lines]);
        let handled = prefix.into_iter().chain(entry.also.iter().copied());
        Done {
            handled: LineSet::normalized(handled.collect()),
            metric_pending: LineSet::normalized(entry.metric_pending.clone()),
            metric_sent: LineSet::normalized(entry.metric_sent.clone()),
            messages: entry
                .messages
                .iter()
                .map(|part| (part.line, part.waiting.clone()))
                .collect(),
        }
    }

    pub(super) fn record(&self, entry: &mut Entry) {
        entry.lines = self.handled.prefix();
        entry.also = self.handled.beyond_prefix();
        entry.metric_pending = self.metric_pending.ranges.clone();
        entry.metric_sent = self.metric_sent.ranges.clone();
        entry.messages = self
            .messages
            .iter()
            .map(|(line, waiting)| PartLine {
                line: *line,
                waiting: waiting.clone(),
            })
            .collect();
    }
}

/// The messages mapped but not yet settled (waiting in a batch or for
/// coalescing, in flight, or held back by Ctrl-C or an error), each list
/// sorted: by their metric items, by all their other items, and the
/// messages whose metric alone is settled; and the lines of several
/// messages among them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsettled {
    pub metrics: Vec<Origin>,
    pub others: Vec<Origin>,
    pub metric_settled: Vec<Origin>,
    /// Lines of several messages (`message` 0 stands for the line).
    pub envelopes: Vec<Origin>,
}

impl Unsettled {
    /// The list a route's messages go in.
    pub fn of(&mut self, route: Route) -> &mut Vec<Origin> {
        match route {
            Route::Metric => &mut self.metrics,
            _ => &mut self.others,
        }
    }
}

/// The origins of `source` among sorted `origins`.
pub(super) fn of_source(origins: &[Origin], source: usize) -> &[Origin] {
    let start = origins.partition_point(|o| o.source < source);
    let end = origins.partition_point(|o| o.source <= source);
    &origins[start..end]
}

/// The lines of sorted origins, each once.
pub(super) fn lines(origins: &[Origin]) -> Vec<u64> {
    let mut lines: Vec<u64> = origins.iter().map(|o| o.line).collect();
    lines.dedup();
    lines
}

/// The messages of `line` still waiting, and for each what: its metric
/// (in `metrics`), all else (in `others`), or both. The origins are sorted,
/// so a line's messages stand together.
pub(super) fn waiting_messages(
    line: u64,
    metrics: &[Origin],
    others: &[Origin],
) -> Vec<(u32, Parts)> {
    let of_line = |origins: &[Origin]| -> Vec<u32> {
        let start = origins.partition_point(|o| o.line < line);
        let end = origins.partition_point(|o| o.line <= line);
        origins[start..end].iter().map(|o| o.message).collect()
    };
    let (metric, other) = (of_line(metrics), of_line(others));
    let mut ids: Vec<u32> = [metric.as_slice(), other.as_slice()].concat();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let parts = match (metric.contains(&id), other.contains(&id)) {
                (true, true) => Parts::All,
                (true, false) => Parts::Metric,
                _ => Parts::AllButMetric,
            };
            (id, parts)
        })
        .collect()
}

/// How far the run has got through each source: the last line whose
/// messages were all mapped, and sources read to their end.
#[derive(Debug, Clone, Default)]
pub struct Handled {
    pub(super) lines: Vec<u64>,
    pub(super) complete: Vec<bool>,
}

impl Handled {
    pub fn new(sources: usize) -> Handled {
        Handled {
            lines: vec![0; sources],
            complete: vec![false; sources],
        }
    }

    /// Every message of the line at `origin` is mapped, and the lines before it.
    pub fn line_done(&mut self, origin: Origin) {
        self.lines[origin.source] = origin.line;
    }

    /// The source was read to its end, `lines` lines in all.
    pub fn source_done(&mut self, source: usize, lines: u64) {
        self.lines[source] = lines;
        self.complete[source] = true;
    }
}
