//! The counts of a run: messages by type, items by route, outcomes by
//! reason with their first positions, warnings, and the distinct people and
//! companies `validate` reports.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};

use crate::fnv::fnv1a64;
use crate::mapping::metrics::MetricWarning;
use crate::mapping::rules::Rules;
use crate::mapping::{Reject, RuleHits, Skip};
use crate::planhat::items::Route;
use crate::segment::time::EventTime;

/// How many `path:line` examples a reason keeps.
const EXAMPLES: usize = 3;

/// A count with its first few positions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Counted {
    fn add(&mut self, position: Option<&str>) {
        self.count += 1;
        if let Some(position) = position
            && self.examples.len() < EXAMPLES
        {
            self.examples.push(position.to_owned());
        }
    }

    pub(super) fn json(&self) -> Value {
        json!({"count": self.count, "examples": self.examples})
    }
}

/// Counts of everything a run saw and did.
#[derive(Debug, Default)]
pub struct Tally {
    /// Messages read, by type name (`unknown` for types this tool does not
    /// know); every message counts, duplicates included.
    pub types: BTreeMap<&'static str, u64>,
    /// Items that mapped to a request, by route.
    pub routes: BTreeMap<Route, u64>,
    pub skipped: BTreeMap<Skip, Counted>,
    pub rejected: BTreeMap<Reject, Counted>,
    /// Items Planhat refused, by reason (`http_400`, `item_error`, ...).
    pub failed: BTreeMap<String, Counted>,
    /// Items delivered (`send` only), one per message and route, as mapped.
    pub delivered: u64,
    /// The items of delivered requests: fewer, where profiles were
    /// coalesced.
    pub request_items: u64,
    /// Activities without any time: Planhat uses the time it receives them.
    pub no_time: u64,
    /// Messages matching a `[metrics]` entry without a number at its path.
    pub metric_without_value: u64,
    /// Messages matching a `[metrics]` entry without its company or user.
    pub metric_without_target: u64,
    /// Activity items without a company: Planhat attaches them only to a
    /// contact it already has (SPEC §5.1).
    pub activity_without_company: Counted,
    /// End-user upserts without a `companyId`: Planhat keeps a new contact
    /// only when its email domain matches a company's `domains`.
    pub end_user_without_company: Counted,
    /// Lines a checkpoint said were handled by an earlier run.
    pub already_handled: u64,
    /// Messages (and unusable lines) that belong to other shards.
    pub other_shards: u64,
    /// This run's shard, as (K, N), with `--shard`.
    pub shard: Option<(u64, u64)>,
    pub earliest: Option<EventTime>,
    pub latest: Option<EventTime>,
    /// Distinct users and companies among would-send items (`validate` only,
    /// since they grow with the input).
    pub distinct: Option<Distinct>,
    /// The mapping file's rules and how many messages each applied to.
    pub rules: Vec<RuleUse>,
    /// Whether identify and group update profiles (there is an API token):
    /// the mapping file's `[identify]` and `[group]` rules apply only then.
    pub profiles: bool,
    /// How many `anonymous` skips `--stitch` would attribute (`validate`
    /// without `--stitch`, SPEC §5.7).
    pub would_stitch: Option<u64>,
    /// What a rerun with the checkpoint reads (`validate --checkpoint`,
    /// SPEC §6.1).
    pub rerun: Option<Rerun>,
}

/// What a rerun with a checkpoint reads (SPEC §6.1), by source label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rerun {
    /// Sources the saved memory covers in full: not read. With their lines.
    pub not_read: Vec<(String, u64)>,
    /// Sources it knows nothing of, read whole, with their lines.
    pub new: Vec<(String, u64)>,
    /// Sources it covers in part: the lines it covers, and the source's.
    pub grown: Vec<(String, u64, u64)>,
}

/// An item that Planhat may not place, having no company (SPEC §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unplaced {
    /// `activity_without_company`
    Activity,
    /// `end_user_without_company`
    EndUser,
}

impl Unplaced {
    pub fn name(self) -> &'static str {
        match self {
            Unplaced::Activity => "activity_without_company",
            Unplaced::EndUser => "end_user_without_company",
        }
    }
}

/// How often one mapping-file rule applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleUse {
    /// `events`, `identify`, `group` or `metrics`.
    pub section: &'static str,
    pub key: String,
    pub matched: u64,
}

impl RuleUse {
    /// Every rule of a mapping file with its count, in file order.
    pub fn list(rules: &Rules, hits: &RuleHits) -> Vec<RuleUse> {
        let events = rules.events.iter().map(|r| r.key.clone()).zip(&hits.events);
        let events = events.map(|(key, n)| ("events", key, *n));
        let identify = rules
            .identify
            .iter()
            .map(|r| r.key.clone())
            .zip(&hits.identify);
        let identify = identify.map(|(key, n)| ("identify", key, *n));
        let group = rules.group.iter().map(|r| r.key.clone()).zip(&hits.group);
        let group = group.map(|(key, n)| ("group", key, *n));
        events
            .chain(identify)
            .chain(group)
            .map(|(section, key, matched)| RuleUse {
                section,
                key,
                matched,
            })
            .collect()
    }
}

/// The distinct people and companies seen, counted by 64-bit hashes of
/// their ids: a million users cost 16 MiB of table, not their strings
/// (SPEC §8). A collision among a million ids has a chance of about one in
/// thirty million.
#[derive(Debug, Default)]
pub struct Distinct {
    pub(super) users: HashSet<u64>,
    pub(super) companies: HashSet<u64>,
}

impl Distinct {
    pub fn user(&mut self, id: &str) {
        self.users.insert(fnv1a64(id.as_bytes()));
    }

    pub fn company(&mut self, id: &str) {
        self.companies.insert(fnv1a64(id.as_bytes()));
    }
}

impl Tally {
    /// A tally that also collects distinct users and companies.
    pub fn with_distinct() -> Tally {
        Tally {
            distinct: Some(Distinct::default()),
            ..Tally::default()
        }
    }

    pub fn messages(&self) -> u64 {
        self.types.values().sum()
    }

    pub fn mapped(&self) -> u64 {
        self.routes.values().sum()
    }

    pub fn count_type(&mut self, name: &'static str) {
        *self.types.entry(name).or_default() += 1;
    }

    pub fn count_route(&mut self, route: Route, time: Option<EventTime>) {
        *self.routes.entry(route).or_default() += 1;
        if let Some(time) = time {
            self.earliest = Some(self.earliest.map_or(time, |t| t.min(time)));
            self.latest = Some(self.latest.map_or(time, |t| t.max(time)));
        }
    }

    /// Counts a skipped message. Its position is written out only when it
    /// becomes an example: duplicates and filtered messages can be most of
    /// a backfill, and need none.
    pub fn skip(&mut self, reason: Skip, position: impl FnOnce() -> String) {
        let counted = self.skipped.entry(reason).or_default();
        let example = (reason.listed() && counted.examples.len() < EXAMPLES).then(position);
        counted.add(example.as_deref());
    }

    /// Counts a metric that a matching message could not make (SPEC §11).
    pub fn metric_warning(&mut self, warning: MetricWarning) {
        match warning {
            MetricWarning::NoValue => self.metric_without_value += 1,
            MetricWarning::NoTarget => self.metric_without_target += 1,
        }
    }

    /// The metric warnings with their names, in report order.
    pub(super) fn metric_warnings(&self) -> [(MetricWarning, u64); 2] {
        [
            (MetricWarning::NoValue, self.metric_without_value),
            (MetricWarning::NoTarget, self.metric_without_target),
        ]
    }

    /// Counts an item Planhat may not place, for want of a company.
    pub fn unplaced(&mut self, warning: Unplaced, position: impl FnOnce() -> String) {
        let counted = match warning {
            Unplaced::Activity => &mut self.activity_without_company,
            Unplaced::EndUser => &mut self.end_user_without_company,
        };
        let example = (counted.examples.len() < EXAMPLES).then(position);
        counted.add(example.as_deref());
    }

    /// The without-company warnings with their counts, in report order.
    pub(super) fn unplaced_warnings(&self) -> [(Unplaced, &Counted); 2] {
        [
            (Unplaced::Activity, &self.activity_without_company),
            (Unplaced::EndUser, &self.end_user_without_company),
        ]
    }

    pub fn reject(&mut self, reason: Reject, position: &str) {
        self.rejected.entry(reason).or_default().add(Some(position));
    }

    pub fn fail(&mut self, reason: &str, position: &str) {
        self.failed
            .entry(reason.to_owned())
            .or_default()
            .add(Some(position));
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|c| c.count).sum()
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().map(|c| c.count).sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().map(|c| c.count).sum()
    }

    /// Whether anything was rejected or failed (exit code 1).
    pub fn has_problems(&self) -> bool {
        self.rejected_total() + self.failed_total() > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_kept_for_listed_reasons_only() {
        let mut tally = Tally::default();
        for line in 1..=5 {
            tally.skip(Skip::Duplicate, || format!("f:{line}"));
            tally.skip(Skip::UnsupportedType, || format!("f:{line}"));
        }
        assert_eq!(tally.skipped[&Skip::Duplicate].examples.len(), 0);
        assert_eq!(
            tally.skipped[&Skip::UnsupportedType].examples,
            ["f:1", "f:2", "f:3"]
        );
        assert_eq!(tally.skipped[&Skip::UnsupportedType].count, 5);
        assert!(!tally.has_problems());
        tally.reject(Reject::NoEvent, "f:9");
        assert!(tally.has_problems());
    }
}
