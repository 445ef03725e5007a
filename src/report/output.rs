//! The `validate` report and the final summary of `send`, as text and as
//! JSON (SPEC §2, §7).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::tally::{Counted, Rerun, Tally, Unplaced};
use super::words::{counted, size};
use crate::mapping::metrics::MetricWarning;
use crate::mapping::{Reject, Skip};
use crate::planhat::items::Route;

impl Tally {
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
        });
        if let Some(count) = self.would_stitch {
            report["outcomes"]["would_stitch"] = json!(count);
        }
        if let Some(rerun) = &self.rerun {
            let sum = |lines: &mut dyn Iterator<Item = u64>| lines.sum::<u64>();
            report["rerun"] = json!({
                "not_read": {"sources": rerun.not_read.len(),
                    "lines": sum(&mut rerun.not_read.iter().map(|(_, l)| *l))},
                "new": rerun.new.iter()
                    .map(|(source, lines)| json!({"source": source, "lines": lines}))
                    .collect::<Vec<_>>(),
                "grown": rerun.grown.iter()
                    .map(|(source, known, lines)| json!({"source": source,
                        "known_lines": known, "lines": lines}))
                    .collect::<Vec<_>>(),
            });
        }
        report["warnings"] = self.warnings_json();
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

    /// The warnings: counts, and for what Planhat may not place, the first
    /// positions too.
    fn warnings_json(&self) -> Value {
        let mut warnings = json!({"no_time": self.no_time});
        for (warning, count) in self.metric_warnings() {
            warnings[warning.name()] = json!(count);
        }
        for (warning, counted) in self.unplaced_warnings() {
            warnings[warning.name()] = counted.json();
        }
        warnings
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
        if let Some(rerun) = &self.rerun {
            write_rerun(out, rerun)?;
        }
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
        for (warning, counted) in self.unplaced_warnings() {
            if counted.count > 0 {
                let text = unplaced_text(warning, counted);
                writeln!(out, "warning: {}: {text}", warning.name())?;
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
            "warnings": self.warnings_json(),
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
        for (warning, counted) in self.unplaced_warnings() {
            if counted.count > 0 {
                let text = unplaced_text(warning, counted);
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

/// What a without-company warning means in Planhat, with the first
/// positions: docs/companies.md, "Every event on its company", says how to fix it
/// at the source.
fn unplaced_text(warning: Unplaced, counted: &Counted) -> String {
    let count = counted.count;
    let what = match warning {
        Unplaced::Activity => format!(
            "{} no company; Planhat adds {} only to contacts it already has",
            have(count, "activity"),
            them(count)
        ),
        Unplaced::EndUser => format!(
            "{} no companyId; Planhat keeps a new contact only when its email domain \
             matches a company's domains",
            have(count, "end-user upsert"),
        ),
    };
    format!(
        "{what} (first at {}; see docs/companies.md, \"Every event on its company\")",
        counted.examples.join(", ")
    )
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

/// What a rerun reads (`validate --checkpoint`): before the usual counts,
/// which are of those lines only.
fn write_rerun(out: &mut dyn Write, rerun: &Rerun) -> std::io::Result<()> {
    let not_read: u64 = rerun.not_read.iter().map(|(_, lines)| lines).sum();
    writeln!(
        out,
        "a rerun reads {}, and {} the last run covered in part",
        counted(rerun.new.len() as u64, "new source"),
        counted(rerun.grown.len() as u64, "source")
    )?;
    writeln!(
        out,
        "  not read, known in full  {} ({})",
        counted(rerun.not_read.len() as u64, "source"),
        counted(not_read, "line")
    )?;
    for (source, known, lines) in &rerun.grown {
        let new = lines.saturating_sub(*known);
        writeln!(
            out,
            "  grown  {source}: {} past the {known} known",
            counted(new, "new line")
        )?;
    }
    for (source, lines) in &rerun.new {
        writeln!(out, "  new    {source}: {}", counted(*lines, "line"))?;
    }
    Ok(())
}
