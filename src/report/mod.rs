//! What a run tells its user (SPEC §2, §7): the tally of messages by type,
//! route and outcome, the `validate` report, the final summary of `send` in
//! text and JSON, and the capped `path:line: reason` lines on stderr.

pub mod live;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::mapping::checks::fnv1a64;
use crate::mapping::metrics::MetricWarning;
use crate::mapping::rules::Rules;
use crate::mapping::{Reject, RuleHits, Skip};
use crate::planhat::items::Route;
use crate::segment::time::EventTime;

/// How many `path:line` examples a reason keeps.
const EXAMPLES: usize = 3;
/// How many problem lines stderr shows before it only counts them.
const SHOWN_PROBLEMS: u64 = 20;

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

    fn json(&self) -> Value {
        json!({"count": self.count, "examples": self.examples})
    }
}

/// What the sender does, counted as it happens and shared with the display
/// (the sender runs on a thread of its own): requests, retries and bytes
/// sent, and the notices it has for the user (a retry, a long pacing wait),
/// which the display prints between its updates.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    bytes: AtomicU64,
    notices: Mutex<Vec<String>>,
}

impl Counters {
    /// A try of a request with a body of `bytes`.
    pub fn request(&self, bytes: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A retry, and the line that tells the user.
    pub fn retry(&self, notice: String) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        self.notice(notice);
    }

    /// A line for the user.
    pub fn notice(&self, line: String) {
        self.notices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// The notices not yet shown.
    pub fn take_notices(&self) -> Vec<String> {
        std::mem::take(
            &mut self
                .notices
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
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
    users: HashSet<u64>,
    companies: HashSet<u64>,
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
    fn metric_warnings(&self) -> [(MetricWarning, u64); 2] {
        [
            (MetricWarning::NoValue, self.metric_without_value),
            (MetricWarning::NoTarget, self.metric_without_target),
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

    /// The `validate` report as JSON.
    pub fn validate_json(&self) -> Value {
        let mut report = json!({
            "messages": self.messages(),
            "types": self.types,
            "routes": self.routes_json(),
            "outcomes": {
                "would_send": self.mapped(),
                "skipped": reasons_json(&self.skipped, Skip::name),
                "rejected": reasons_json(&self.rejected, Reject::name),
            },
            "earliest": self.earliest.map(|t| t.to_string()),
            "latest": self.latest.map(|t| t.to_string()),
            "warnings": {"no_time": self.no_time},
        });
        if let Some(count) = self.would_stitch {
            report["outcomes"]["would_stitch"] = json!(count);
        }
        for (warning, count) in self.metric_warnings() {
            report["warnings"][warning.name()] = json!(count);
        }
        if let Some(distinct) = &self.distinct {
            report["distinct_users"] = json!(distinct.users.len());
            report["distinct_companies"] = json!(distinct.companies.len());
        }
        if let Some((index, count)) = self.shard {
            report["shard"] = json!({"index": index, "count": count, "messages": self.messages(),
                "other_shards": self.other_shards});
        }
        if !self.rules.is_empty() {
            let rules: Vec<Value> = self
                .rules
                .iter()
                .map(|r| json!({"section": r.section, "key": r.key, "matched": r.matched}))
                .collect();
            let unmatched: Vec<String> = self.unmatched_rules().collect();
            report["rules"] = json!(rules);
            report["unmatched_rules"] = json!(unmatched);
        }
        report
    }

    /// The rules that applied to no message, as `[section] key`.
    fn unmatched_rules(&self) -> impl Iterator<Item = String> + '_ {
        self.rules
            .iter()
            .filter(|r| r.matched == 0)
            .map(|r| format!("[{}] {}", r.section, r.key))
    }

    fn routes_json(&self) -> Value {
        Route::ALL
            .iter()
            .map(|route| {
                (
                    route.name().to_owned(),
                    json!(self.routes.get(route).copied().unwrap_or(0)),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// The `validate` report as text.
    pub fn write_validate(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "messages      {}", self.messages())?;
        if let Some((index, count)) = self.shard {
            let share = 100.0 * self.messages() as f64
                / (self.messages() + self.other_shards).max(1) as f64;
            writeln!(
                out,
                "  shard {index}/{count}: {share:.1}% of the input; {} belong to other shards",
                counted(self.other_shards, "message")
            )?;
        }
        for (name, count) in &self.types {
            writeln!(out, "  {name:<24}{count:>10}")?;
        }
        writeln!(out, "would send    {}", self.mapped())?;
        for route in Route::ALL {
            writeln!(
                out,
                "  {:<24}{:>10}",
                route.name(),
                self.routes.get(&route).copied().unwrap_or(0)
            )?;
        }
        writeln!(out, "skipped       {}", self.skipped_total())?;
        write_reasons(out, &self.skipped, Skip::name)?;
        if let Some(count) = self.would_stitch
            && let Some(anonymous) = self.skipped.get(&Skip::Anonymous)
        {
            writeln!(
                out,
                "  --stitch would attribute {count} of the {} anonymous messages to a user",
                anonymous.count
            )?;
        }
        writeln!(out, "rejected      {}", self.rejected_total())?;
        write_reasons(out, &self.rejected, Reject::name)?;
        if let Some(distinct) = &self.distinct {
            writeln!(out, "distinct users      {}", distinct.users.len())?;
            writeln!(out, "distinct companies  {}", distinct.companies.len())?;
        }
        match (self.earliest, self.latest) {
            (Some(first), Some(last)) => writeln!(out, "event times   {first} … {last}")?,
            _ => writeln!(out, "event times   none")?,
        }
        if !self.rules.is_empty() {
            writeln!(out, "mapping rules")?;
            for rule in &self.rules {
                let name = format!("[{}] {}", rule.section, rule.key);
                writeln!(out, "  {name:<40}{:>10}", rule.matched)?;
            }
            let unmatched: Vec<String> = self.unmatched_rules().collect();
            if !unmatched.is_empty() {
                let unused = !self.profiles
                    && self
                        .rules
                        .iter()
                        .any(|r| r.matched == 0 && matches!(r.section, "identify" | "group"));
                let why = if unused {
                    " ([identify] and [group] rules apply only with an API token: \
                     --api-token-file, --api-token or PLANHAT_API_TOKEN)"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "warning: these rules matched nothing: {}{why}",
                    unmatched.join(", ")
                )?;
            }
        }
        if self.no_time > 0 {
            writeln!(
                out,
                "warning: {} no time; Planhat will date {} when it receives {1}",
                have(self.no_time, "activity"),
                them(self.no_time)
            )?;
        }
        for (warning, count) in self.metric_warnings() {
            if count > 0 {
                writeln!(
                    out,
                    "warning: {}: {}",
                    warning.name(),
                    metric_warning_text(warning, count)
                )?;
            }
        }
        Ok(())
    }

    /// The final summary of `send` as JSON (SPEC §7, `--summary-json`).
    pub fn summary_json(&self, run: &RunFacts) -> Value {
        json!({
            "messages": self.messages(),
            "types": self.types,
            "routes": self.routes_json(),
            "outcomes": {
                "delivered": self.delivered,
                "skipped": reasons_json(&self.skipped, Skip::name),
                "rejected": reasons_json(&self.rejected, Reject::name),
                "failed": self.failed.iter().map(|(k, c)| (k.clone(), c.json())).collect::<serde_json::Map<_, _>>(),
            },
            "requests": run.requests,
            "request_items": self.request_items,
            "retries": run.retries,
            "bytes": run.bytes,
            "duration_seconds": run.duration.as_secs_f64(),
            "messages_per_second": rate(self.messages(), run.duration),
            "already_handled_lines": self.already_handled,
            "other_shards": self.other_shards,
            "failed_file": run.failed_file,
            "dry_run": run.dry_run,
            "interrupted": run.interrupted,
        })
    }

    /// The final summary of `send` as text, for stderr.
    pub fn write_summary(&self, run: &RunFacts, out: &mut dyn Write) -> std::io::Result<()> {
        let verb = if run.dry_run {
            "would send"
        } else {
            "delivered"
        };
        let sent = if run.dry_run {
            self.mapped()
        } else {
            self.delivered
        };
        // Coalesced profiles make fewer items than messages: say so.
        let coalesced = if self.request_items < sent && !run.interrupted {
            format!(" ({} after coalescing profiles)", self.request_items)
        } else {
            String::new()
        };
        writeln!(
            out,
            "{} in {:.1}s ({:.0}/s): {verb} {}{coalesced} in {} ({}, {})",
            counted(self.messages(), "message"),
            run.duration.as_secs_f64(),
            rate(self.messages(), run.duration),
            counted(sent, "item"),
            counted(run.requests, "request"),
            counted(run.retries, "retry"),
            size(run.bytes),
        )?;
        let line = |out: &mut dyn Write, label: &str, total: u64, parts: Vec<String>| {
            if total > 0 {
                writeln!(out, "  {label} {total}: {}", parts.join(", "))
            } else {
                Ok(())
            }
        };
        let parts = |map: Vec<(&str, &Counted)>| -> Vec<String> {
            map.into_iter()
                .map(|(name, c)| match c.examples.first() {
                    Some(first) => format!("{name} {} (first at {first})", c.count),
                    None => format!("{name} {}", c.count),
                })
                .collect()
        };
        line(
            out,
            "skipped",
            self.skipped_total(),
            parts(self.skipped.iter().map(|(k, c)| (k.name(), c)).collect()),
        )?;
        line(
            out,
            "rejected",
            self.rejected_total(),
            parts(self.rejected.iter().map(|(k, c)| (k.name(), c)).collect()),
        )?;
        line(
            out,
            "failed",
            self.failed_total(),
            parts(self.failed.iter().map(|(k, c)| (k.as_str(), c)).collect()),
        )?;
        if let Some(path) = &run.failed_file
            && self.has_problems()
        {
            writeln!(out, "  see {path} for every rejected and failed message")?;
        }
        if self.no_time > 0 {
            writeln!(
                out,
                "  warning: {} had no time; Planhat dates {} on receipt",
                counted(self.no_time, "activity"),
                them(self.no_time)
            )?;
        }
        for (warning, count) in self.metric_warnings() {
            if count > 0 {
                let text = metric_warning_text(warning, count);
                writeln!(out, "  warning: {}: {text}", warning.name())?;
            }
        }
        if self.other_shards > 0 {
            writeln!(
                out,
                "  other shards: {} left to the other shards",
                counted(self.other_shards, "message")
            )?;
        }
        if self.already_handled > 0 {
            writeln!(
                out,
                "  resumed: {} already handled by an earlier run {} not sent again",
                counted(self.already_handled, "line"),
                if self.already_handled == 1 {
                    "was"
                } else {
                    "were"
                }
            )?;
        }
        // The hint names only what this user can do: resume with the
        // checkpoint they gave, or know that without one a rerun starts over.
        if run.interrupted && run.checkpoint {
            writeln!(
                out,
                "  interrupted: the rest of the input was not sent; rerun with the same --checkpoint to resume"
            )?;
        } else if run.interrupted {
            writeln!(
                out,
                "  interrupted: the rest of the input was not sent; without --checkpoint a rerun \
                 starts from the first line"
            )?;
        }
        Ok(())
    }
}

/// Facts about a `send` run that the tally does not hold.
#[derive(Debug, Default)]
pub struct RunFacts {
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
    pub duration: Duration,
    /// The failed file, when the run wrote to it.
    pub failed_file: Option<String>,
    pub dry_run: bool,
    pub interrupted: bool,
    /// Whether the run kept a checkpoint (`--checkpoint`), so a rerun resumes.
    pub checkpoint: bool,
}

/// A wait as people read it: `4s`, `1m30s`, `300ms`.
pub fn duration_text(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let seconds = duration.as_secs_f64().round() as u64;
    match seconds {
        ..60 => format!("{seconds}s"),
        _ => format!("{}m{:02}s", seconds / 60, seconds % 60),
    }
}

/// `1 request`, `2 requests`; `retry` becomes `retries`. Every count in a
/// message reads this way (SPEC §7).
pub fn counted(count: u64, noun: &str) -> String {
    match (count, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{count} {stem}ies"),
        _ => format!("{count} {noun}s"),
    }
}

/// What a metric warning means, for `count` messages: their activities
/// were sent, their metrics not.
fn metric_warning_text(warning: MetricWarning, count: u64) -> String {
    let messages = counted(count, "message");
    match warning {
        MetricWarning::NoValue => {
            format!(
                "{messages} matched [metrics] but had no number at the value's path; no metric sent"
            )
        }
        MetricWarning::NoTarget => format!(
            "{messages} matched [metrics] but had no company (or, for EndUser, no externalId); \
             no metric sent"
        ),
    }
}

/// `1 activity has`, `2 activities have`.
fn have(count: u64, noun: &str) -> String {
    let verb = if count == 1 { "has" } else { "have" };
    format!("{} {verb}", counted(count, noun))
}

/// The pronoun for `count` things.
fn them(count: u64) -> &'static str {
    if count == 1 { "it" } else { "them" }
}

/// A size as people read it: `512 bytes`, `1.5 KiB`, `83.2 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return counted(bytes, "byte");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn rate(count: u64, duration: Duration) -> f64 {
    let seconds = duration.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn reasons_json<K: Copy>(map: &BTreeMap<K, Counted>, name: fn(K) -> &'static str) -> Value {
    map.iter()
        .map(|(k, c)| (name(*k).to_owned(), c.json()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn write_reasons<K: Copy>(
    out: &mut dyn Write,
    map: &BTreeMap<K, Counted>,
    name: fn(K) -> &'static str,
) -> std::io::Result<()> {
    for (key, counted) in map {
        write!(out, "  {:<24}{:>10}", name(*key), counted.count)?;
        if !counted.examples.is_empty() {
            write!(out, "  e.g. {}", counted.examples.join(", "))?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The `path:line: reason` lines on stderr: the first few in full, then only
/// a count, so a file of bad lines cannot flood the terminal.
#[derive(Debug, Default)]
pub struct ProblemLines {
    shown: u64,
    hidden: u64,
}

impl ProblemLines {
    /// Reports one problem; `None` when it is over the cap (counted only).
    pub fn line(&mut self, position: &str, reason: &str, detail: &str) -> Option<String> {
        if self.shown >= SHOWN_PROBLEMS {
            self.hidden += 1;
            return None;
        }
        self.shown += 1;
        Some(format!("{position}: {reason}: {}", printable(detail)))
    }

    /// The closing count of lines not shown, if any.
    pub fn rest(&self) -> Option<String> {
        (self.hidden > 0).then(|| {
            format!(
                "... and {} not shown (counted in the summary)",
                counted(self.hidden, "more problem line")
            )
        })
    }
}

/// Event-supplied text with control characters made visible, so a line
/// cannot move the cursor or clear the user's terminal.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_people_say_them() {
        assert_eq!(duration_text(Duration::from_millis(300)), "300ms");
        assert_eq!(duration_text(Duration::from_millis(999)), "999ms");
        assert_eq!(duration_text(Duration::from_millis(3600)), "4s");
        assert_eq!(duration_text(Duration::from_secs(90)), "1m30s");
    }

    #[test]
    fn counts_and_sizes_read_as_english() {
        assert_eq!(counted(1, "line"), "1 line");
        assert_eq!(counted(2, "retry"), "2 retries");
        assert_eq!(counted(0, "activity"), "0 activities");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(87_289_523), "83.2 MiB");
    }

    #[test]
    fn problem_lines_are_capped_and_the_rest_counted() {
        let mut lines = ProblemLines::default();
        let shown = (0..25)
            .filter_map(|i| lines.line(&format!("f:{i}"), "no_identity", "x"))
            .count();
        assert_eq!(shown as u64, SHOWN_PROBLEMS);
        assert_eq!(
            lines.rest().unwrap(),
            "... and 5 more problem lines not shown (counted in the summary)"
        );
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(counted(1, "retry"), "1 retry");
        assert_eq!(counted(2, "retry"), "2 retries");
        assert_eq!(counted(0, "item"), "0 items");
        assert_eq!(counted(1, "request"), "1 request");
    }

    #[test]
    fn control_characters_in_details_are_neutralised() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\u{fffd}[2Jb\u{fffd}");
    }

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
