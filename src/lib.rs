//! segment-planhat: deliver Segment analytics events to Planhat.
//!
//! The modules follow the data: [`cli`] → [`config`] → [`input`] →
//! [`segment`] messages → [`mapping`] → [`planhat`] requests → [`sender`] →
//! [`report`], with [`failed`] for the failed file and [`error`] for exit
//! codes. This library exists for the binary and its tests; its API is not
//! stable.

pub mod cli;
pub mod config;
pub mod error;
pub mod failed;
pub mod input;
pub mod mapping;
pub mod planhat;
pub mod report;
pub mod segment;
pub mod sender;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::mpsc::RecvTimeoutError;
use std::time::Instant;

use anyhow::{Context, Result};

use config::{Common, Config, SendConfig, ValidateConfig};
use error::Status;
use failed::{FailedFile, Original};
use input::{Event, Source};
use mapping::{Mapper, Outcome, Reject};
use planhat::Origin;
use planhat::items::Item;
use report::live::{Display, Reporter};
use report::{RunFacts, Tally};
use segment::LineError;
use sender::http::{Clock, Http, HttpSettings, SystemClock};
use sender::{Delivery, DryRun, Transport};

/// Runs a resolved command, writing data to `out` and everything else to
/// `err`.
pub fn run(config: Config, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status> {
    run_with_clock(config, out, err, Box::new(SystemClock::new()))
}

/// [`run`], with the sender's clock supplied (tests pass one that does not
/// sleep).
pub fn run_with_clock(
    config: Config,
    out: &mut dyn Write,
    err: &mut dyn Write,
    clock: Box<dyn Clock>,
) -> Result<Status> {
    match config {
        Config::Completions(shell) => {
            let mut command = <cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "segment-planhat", out);
            Ok(Status::Clean)
        }
        Config::Validate(config) => validate(config, out, err),
        Config::Send(config) => send(config, out, err, clock),
    }
}

fn validate(config: ValidateConfig, out: &mut dyn Write, err: &mut dyn Write) -> Result<Status> {
    let ValidateConfig { common, json } = config;
    let labels = common.sources.iter().map(Source::label).collect();
    let report = Reporter::new(Tally::with_distinct(), labels, Display::Quiet, None, err);
    let mut pipeline = Pipeline::new(&common, report, None);
    pipeline.run(common.sources.clone())?;
    pipeline.report.finish();
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
    config: SendConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
    clock: Box<dyn Clock>,
) -> Result<Status> {
    let common = &config.common;
    let labels = common.sources.iter().map(Source::label).collect();
    let total_bytes = common
        .sources
        .iter()
        .map(|s| match s {
            Source::File { size, .. } => Some(*size),
            Source::Stdin => None,
        })
        .sum::<Option<u64>>();
    let display = match (config.quiet, config.progress) {
        (true, _) => Display::Quiet,
        (false, true) => Display::Bar,
        (false, false) => Display::StatusLines,
    };
    let report = Reporter::new(Tally::default(), labels, display, total_bytes, err);
    let (transport, failed): (Box<dyn Transport + '_>, _) =
        match (&common.tenant_token, config.dry_run) {
            (Some(tenant_token), false) => {
                let settings = HttpSettings {
                    endpoints: common.endpoints.clone(),
                    tenant_token: tenant_token.clone(),
                    api_token: common.api_token.clone(),
                    max_retries: config.max_retries,
                    timeout: config.timeout,
                    api_rate: config.api_rate,
                };
                (
                    Box::new(Http::new(settings, clock)),
                    Some(FailedFile::new(config.failed.clone())),
                )
            }
            _ => (
                Box::new(DryRun::new(out, common.endpoints.clone(), config.pretty)),
                None,
            ),
        };
    let delivery = Delivery::new(config.limits, transport, failed, config.flush_interval);
    let mut pipeline = Pipeline::new(common, report, Some(delivery));
    let result = pipeline.run(common.sources.clone());
    let Pipeline {
        report, delivery, ..
    } = pipeline;
    let mut report = report;
    report.finish();
    let facts = RunFacts {
        requests: report.counters.requests,
        retries: report.counters.retries,
        bytes: report.counters.bytes,
        duration: report.elapsed(),
        failed_file: delivery.as_ref().and_then(Delivery::failed_path),
        dry_run: config.dry_run,
        interrupted: false,
    };
    drop(delivery);
    if !config.quiet {
        report.write_summary(&facts);
    }
    if let Some(path) = &config.summary_json {
        let json = serde_json::to_vec_pretty(&report.tally.summary_json(&facts))?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    result?;
    Ok(status(&report.tally))
}

fn status(tally: &Tally) -> Status {
    if tally.has_problems() {
        Status::Problems
    } else {
        Status::Clean
    }
}

/// The one loop: lines in, messages mapped, items batched and delivered.
struct Pipeline<'a, 'w> {
    mapper: Mapper,
    report: Reporter<'w>,
    delivery: Option<Delivery<'a>>,
    original: Vec<u8>,
}

impl<'a, 'w> Pipeline<'a, 'w> {
    fn new(
        common: &Common,
        report: Reporter<'w>,
        delivery: Option<Delivery<'a>>,
    ) -> Pipeline<'a, 'w> {
        Pipeline {
            mapper: Mapper::new(common.mapping.clone()),
            report,
            delivery,
            original: Vec::new(),
        }
    }

    /// Reads every source to the end, sending batches when full, when their
    /// flush interval passes (a slow pipe), and at the end.
    fn run(&mut self, sources: Vec<Source>) -> Result<()> {
        let reader = input::spawn(sources);
        loop {
            let wake = [
                self.delivery.as_ref().and_then(Delivery::deadline),
                self.report.next_status(),
            ]
            .into_iter()
            .flatten()
            .min();
            let event = match wake {
                Some(at) => reader
                    .events
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
                None => reader
                    .events
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            self.report.tick(reader.bytes_read.load(Ordering::Relaxed));
            match event {
                Ok(Event::Lines(chunk)) => {
                    for span in &chunk.spans {
                        let origin = Origin {
                            source: chunk.source,
                            line: span.line,
                        };
                        self.line(origin, chunk.text(span))?;
                    }
                }
                Ok(Event::Unreadable {
                    source,
                    line,
                    error,
                }) => {
                    let position = self.report.position(Origin { source, line });
                    let detail = format!("cannot read further: {error}");
                    self.report.reject(Reject::Unreadable, &position, &detail);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self
                        .delivery
                        .as_ref()
                        .and_then(Delivery::deadline)
                        .is_some_and(|d| d <= Instant::now())
                    {
                        self.flush()?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush()
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.delivery {
            Some(delivery) => delivery.flush(&mut self.report),
            None => Ok(()),
        }
    }

    /// Handles one input line: every message in it, each on its own.
    fn line(&mut self, origin: Origin, text: &[u8]) -> Result<()> {
        for parsed in segment::parse_line(text) {
            let message = match parsed {
                Ok(message) => message,
                Err(error) => {
                    let reason = match error {
                        LineError::InvalidJson(_) => Reject::InvalidJson,
                        LineError::NotAnObject(_) => Reject::NotAnObject,
                    };
                    self.reject(origin, reason, &error.to_string(), Original::Unparsed(text))?;
                    continue;
                }
            };
            self.report
                .tally
                .count_type(message.kind.as_ref().map_or("unknown", |k| k.name()));
            let original: &[u8] = if message.rewritten {
                self.original.clear();
                serde_json::to_writer(&mut self.original, &message.fields)
                    .context("copying a message")?;
                &self.original
            } else {
                text
            };
            let mapped = self.mapper.map(&message);
            match mapped.outcome {
                Outcome::Send(item) => {
                    count_item(&mut self.report.tally, &item, mapped.time);
                    if let Some(delivery) = &mut self.delivery {
                        delivery.item(&item, origin, original, &mut self.report)?;
                    }
                }
                Outcome::Skip(reason) => {
                    let position = self.report.position(origin);
                    self.report.tally.skip(reason, &position);
                }
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
        Ok(())
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
    };
    if let Some(distinct) = &mut tally.distinct {
        if let Some(user) = user {
            distinct.users.insert(user.to_owned());
        }
        if let Some(company) = company {
            distinct.companies.insert(company.to_owned());
        }
    }
}
