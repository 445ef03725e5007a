//! Running a command: `validate` and `send` set up what they need (the
//! report, the checkpoint, the carrier of requests) around the one loop in
//! [`pipeline`], which reads, maps and delivers, and turn its tallies into
//! the report and the exit status.

mod first_pass;
mod line;
mod pipeline;
mod spill;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

use crate::checkpoint::{Checkpoint, Done, Lock};
use crate::config::{Common, Config, SendConfig, ValidateConfig};
use crate::error::{Interrupted, Status};
use crate::failed::{self, FailedFile};
use crate::input::Source;
use crate::memory::{Memory, Plan, Reached};
use crate::report::live::{Display, Reporter};
use crate::report::{Rerun, RuleUse, RunFacts, Tally};
use crate::sender::http::{Clock, Http, HttpSettings, SystemClock};
use crate::sender::{Carrier, Delivery, DeliverySetup, DryRun, Worker};
use crate::{completions, report};
use pipeline::{Ending, Pipeline};

/// What a run needs from outside: where data and diagnostics go, the
/// sender's clock (tests pass one that does not sleep), and the flag a
/// stopping signal (Ctrl-C, SIGTERM, SIGHUP) sets.
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
    let ValidateConfig {
        mut common,
        json,
        checkpoint,
        progress,
    } = config;
    // What a rerun would read: the checkpoint and its memory are read, and
    // nothing is written.
    let rerun = match &checkpoint {
        Some(path) => {
            let (memory, plan) = rerun_plan(path, &mut common, false)?;
            let (_, skip) = Checkpoint::open(path, &common.sources, false, &plan.known)?;
            Some((memory, plan, skip))
        }
        None => None,
    };
    let labels = common.sources.iter().map(Source::label).collect();
    let total_bytes = common.sources.iter().map(Source::size).sum::<Option<u64>>();
    // The report goes to stdout; stderr shows progress on a terminal, and
    // anywhere says what the run had to retry.
    let display = if progress {
        Display::Bar
    } else {
        Display::Notices
    };
    let report = Reporter::new(Tally::with_distinct(), labels, display, total_bytes, err);
    let mut pipeline = Pipeline::new(&common, report, None, interrupt);
    let mut started = None;
    if let Some((mut memory, plan, skip)) = rerun {
        if let Some(notice) = &memory.notice {
            pipeline.report.notice(notice);
        }
        pipeline.skip = skip;
        pipeline.start_from(&mut memory, &plan)?;
        started = Some(plan);
    }
    if pipeline.run(common.sources.clone())? == Ending::Interrupted {
        return Ok(Status::Interrupted);
    }
    pipeline.report.finish();
    if let Some(plan) = started {
        pipeline.report.tally.rerun = Some(rerun_report(&plan, &pipeline.reached));
    }
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
    mut config: SendConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
    clock: Box<dyn Clock + Send>,
    interrupt: Arc<AtomicBool>,
) -> Result<Status> {
    // Held to the end of the run. A dry-run only reads the checkpoint, so
    // it takes no lock: looking at what a run in progress has done is
    // harmless, and it must not keep that run's restart from starting.
    let _lock = match &config.checkpoint {
        Some(path) if !config.dry_run => Some(Lock::take(path)?),
        _ => None,
    };
    // What the last run that ended remembers (SPEC §6.1): the sources it
    // covers in full are not read at all.
    let mut rerun = match &config.checkpoint {
        Some(path) => Some(rerun_plan(path, &mut config.common, config.restart)?),
        None => None,
    };
    let common = &config.common;
    let (checkpoint, skip) = match (&config.checkpoint, &rerun) {
        (Some(path), Some((_, plan))) => {
            let (mut checkpoint, skip) =
                Checkpoint::open(path, &common.sources, config.restart, &plan.known)?;
            if !config.dry_run {
                // Records past the saved length are of lines handled again now.
                if let Some(len) = checkpoint.failed_len(&config.failed) {
                    failed::cut_back(&config.failed, len)?;
                }
                checkpoint.mark_failed(&config.failed)?;
            }
            // A dry-run shows what a resumed run would send, and writes nothing.
            ((!config.dry_run).then_some(checkpoint), skip)
        }
        _ => (None, vec![Done::default(); common.sources.len()]),
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
        if let Some(notice) = rerun.as_ref().and_then(|(m, _)| m.notice.as_deref()) {
            report.eprintln(notice);
        }
        if let Some((_, plan)) = rerun.as_ref().filter(|(_, plan)| !plan.not_read.is_empty()) {
            let lines = plan.not_read.iter().map(|(_, lines)| lines).sum();
            report.eprintln(&format!(
                "not reading {} the last run covered in full ({})",
                report::counted(plan.not_read.len() as u64, "source"),
                report::counted(lines, "line"),
            ));
        }
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
    if let Some((memory, plan)) = &mut rerun {
        pipeline.start_from(memory, plan)?;
    }
    let result = pipeline.run(common.sources.clone());
    // The request in flight is finished whatever happened (Ctrl-C too).
    let waited = pipeline.wait();
    let result = result.and_then(|ending| waited.map(|()| ending));
    // Whatever happened, record what was handled, so that a rerun resumes there.
    let saved = pipeline
        .delivery
        .as_mut()
        .map_or(Ok(()), Delivery::save_checkpoint);
    // A run that ended between lines (its input done, or a stopping signal)
    // remembers what it mapped, after the checkpoint that says what of it
    // is handled; an error or a crash leaves the last memory, which a rerun
    // completes from the checkpoint.
    let ended = match &result {
        Ok(_) => true,
        Err(error) => error.is::<Interrupted>(),
    };
    let remember = ended && saved.is_ok() && !config.dry_run && !pipeline.mid_line;
    let saved = match (&rerun, &pipeline.delivery) {
        (Some((memory, _)), Some(delivery)) if remember && pipeline.mapping_began => {
            memory.save(&mut pipeline.mapper, delivery, &pipeline.reached)
        }
        _ => saved,
    };
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

/// With a checkpoint at `path`: the memory beside it, and what this run
/// reads (SPEC §6.1), with `common.sources` put in the plan's order.
fn rerun_plan(path: &Path, common: &mut Common, restart: bool) -> Result<(Memory, Plan)> {
    let mut memory = Memory::open(path, &common.taught_by, restart)?;
    let plan = memory.plan(std::mem::take(&mut common.sources))?;
    common.sources = plan.sources.clone();
    Ok((memory, plan))
}

/// What `validate --checkpoint` says a rerun reads: the sources the memory
/// covers in full (not read), and of the others, new ones and ones read
/// from past what the memory knows.
fn rerun_report(plan: &Plan, reached: &[Reached]) -> Rerun {
    let mut rerun = Rerun {
        not_read: plan
            .not_read
            .iter()
            .map(|(source, lines)| (source.label(), *lines))
            .collect(),
        ..Rerun::default()
    };
    for ((source, start), end) in plan.sources.iter().zip(&plan.reached).zip(reached) {
        let lines = end.ended.unwrap_or(end.mapped);
        if start.mapped == 0 {
            rerun.new.push((source.label(), lines));
        } else {
            rerun.grown.push((source.label(), start.mapped, lines));
        }
    }
    rerun
}

fn status(tally: &Tally) -> Status {
    if tally.has_problems() {
        Status::Problems
    } else {
        Status::Clean
    }
}
