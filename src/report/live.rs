//! What the user sees while a run goes on (SPEC §7): the progress bar
//! (indicatif, on stderr), or a one-line status every 10 s when stderr is
//! not a terminal, and the `path:line: reason` problem lines, printed so that
//! they never tear the bar.

use std::io::{self, IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

use super::{Counters, ProblemLines, RunFacts, Tally, Unplaced, counted};
use crate::mapping::{Reject, Skip};
use crate::planhat::Origin;

/// How often the status line is printed when there is no bar.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// The bar, drawn whether or not stderr is a terminal.
    Bar,
    /// A status line every 10 s.
    StatusLines,
    /// Problems and notices (retries of a read), no bar: `validate` when
    /// stderr is not a terminal.
    Notices,
    /// Only problems (and, for `send`, no summary): `-q`.
    Quiet,
}

/// The run's tally and counters, and the stderr they are shown on.
pub struct Reporter<'w> {
    pub tally: Tally,
    /// Shared with the sender, which runs on a thread of its own.
    pub counters: Arc<Counters>,
    /// Input bytes of the lines handled so far: what percent and ETA follow.
    handled_bytes: u64,
    /// Bytes of the passes before this one.
    passed: u64,
    /// Whether the sender's notices (retries, pacing) are shown: not with `-q`.
    notices: bool,
    labels: Vec<String>,
    problems: ProblemLines,
    err: &'w mut dyn Write,
    bar: Option<ProgressBar>,
    next_status: Option<Instant>,
    started: Instant,
}

impl<'w> Reporter<'w> {
    /// `labels` name the sources; `total_bytes` sizes the bar when known.
    pub fn new(
        tally: Tally,
        labels: Vec<String>,
        display: Display,
        total_bytes: Option<u64>,
        err: &'w mut dyn Write,
    ) -> Reporter<'w> {
        let started = Instant::now();
        let bar = (display == Display::Bar).then(|| progress_bar(total_bytes));
        Reporter {
            tally,
            counters: Arc::default(),
            handled_bytes: 0,
            passed: 0,
            notices: display != Display::Quiet,
            labels,
            problems: ProblemLines::default(),
            err,
            bar,
            next_status: (display == Display::StatusLines).then(|| started + STATUS_EVERY),
            started,
        }
    }

    /// `path:line` for an origin.
    pub fn position(&self, origin: Origin) -> String {
        position(&self.labels, origin)
    }

    /// A message skipped by policy.
    pub fn skip(&mut self, reason: Skip, origin: Origin) {
        let labels = &self.labels;
        self.tally.skip(reason, || position(labels, origin));
    }

    /// An item Planhat may not place, for want of a company (SPEC §5.1).
    pub fn unplaced(&mut self, warning: Unplaced, origin: Origin) {
        let labels = &self.labels;
        self.tally.unplaced(warning, || position(labels, origin));
    }

    /// A message the mapping or the parser rejected.
    pub fn reject(&mut self, reason: Reject, position: &str, detail: &str) {
        self.tally.reject(reason, position);
        self.problem(position, reason.name(), detail);
    }

    /// An item Planhat refused.
    pub fn fail(&mut self, position: &str, reason: &str, detail: &str) {
        self.tally.fail(reason, position);
        self.problem(position, reason, detail);
    }

    fn problem(&mut self, position: &str, reason: &str, detail: &str) {
        if let Some(line) = self.problems.line(position, reason, detail) {
            self.eprintln(&line);
        }
    }

    /// Prints a line on stderr, around the bar when it is drawn. A failing
    /// stderr is ignored: there is nowhere left to say so.
    pub fn eprintln(&mut self, line: &str) {
        let err = &mut self.err;
        match &self.bar {
            Some(bar) => bar.suspend(|| writeln!(err, "{line}")),
            None => writeln!(err, "{line}"),
        }
        .ok();
    }

    /// When the next status line is due, if status lines are shown.
    pub fn next_status(&self) -> Option<Instant> {
        self.next_status
    }

    /// Input bytes of the lines handled so far (in a first pass: read).
    pub fn set_handled_bytes(&mut self, bytes: u64) {
        self.handled_bytes = bytes;
    }

    /// A pass over the input before the run (SPEC §5.1, §3.1: progress
    /// moves in every pass): the bar grows by the `bytes` it reads, when
    /// they are known, and moves as it reads them.
    pub fn begin_pass(&mut self, bytes: Option<u64>) {
        if let (Some(bar), Some(bytes)) = (&self.bar, bytes)
            && bar.length().is_some()
        {
            bar.inc_length(bytes);
        }
    }

    /// The pass is done: the run's own bytes count on from where it ended.
    pub fn end_pass(&mut self) {
        self.passed += self.handled_bytes;
        self.handled_bytes = 0;
    }

    /// Prints the sender's notices, and updates the bar or prints the
    /// status line when it is due. Called as lines are read and, while an
    /// answer is awaited, from a clock.
    pub fn tick(&mut self) {
        self.print_notices();
        if let Some(bar) = &self.bar {
            bar.set_position(self.passed + self.handled_bytes);
            bar.set_message(self.status());
        } else if let Some(due) = self.next_status
            && Instant::now() >= due
        {
            let line = self.status();
            self.eprintln(&line);
            self.next_status = Some(Instant::now() + STATUS_EVERY);
        }
    }

    /// Prints a line about what the run is doing, unless `-q`.
    pub fn notice(&mut self, line: &str) {
        if self.notices {
            self.eprintln(line);
        }
    }

    /// Prints what the sender had to say (retries, long pacing waits),
    /// unless `-q`.
    fn print_notices(&mut self) {
        for notice in self.counters.take_notices() {
            self.notice(&notice);
        }
    }

    /// One line of counts, named as the summary names them: `rejected` for
    /// input that cannot be sent, `failed` for what Planhat did not take.
    fn status(&self) -> String {
        let t = &self.tally;
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "read {} · sent {} · skipped {} · rejected {} · failed {} · {} · {} · {:.0}/s",
            t.messages(),
            t.delivered,
            t.skipped_total(),
            t.rejected_total(),
            t.failed_total(),
            counted(self.counters.requests(), "request"),
            counted(self.counters.retries(), "retry"),
            t.messages() as f64 / seconds,
        )
    }

    /// Removes the bar and prints the count of problem lines not shown.
    pub fn finish(&mut self) {
        self.print_notices();
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(rest) = self.problems.rest() {
            self.eprintln(&rest);
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Prints the final summary of `send`.
    pub fn write_summary(&mut self, facts: &RunFacts) {
        self.tally.write_summary(facts, self.err).ok();
    }
}

/// `path:line` for an origin, given the sources' labels.
fn position(labels: &[String], origin: Origin) -> String {
    format!("{}:{}", labels[origin.source], origin.line)
}

fn progress_bar(total_bytes: Option<u64>) -> ProgressBar {
    // indicatif's own target knows the terminal's width; ours draws where
    // there is no terminal, for `--progress always`.
    let target = if io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::term_like(Box::new(Stderr))
    };
    let bar = ProgressBar::with_draw_target(total_bytes, target);
    let template = match total_bytes {
        Some(_) => "{bar:20} {percent:>3}% ETA {eta} {msg}",
        None => "{spinner} {msg}",
    };
    // No colours in the template, so NO_COLOR has nothing to turn off.
    bar.set_style(ProgressStyle::with_template(template).expect("the template is valid"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// stderr as indicatif's terminal. indicatif's own stderr target draws
/// nothing when stderr is not a terminal; this one always draws, which is
/// what `--progress always` asks for.
#[derive(Debug)]
struct Stderr;

impl Stderr {
    fn emit(&self, text: &str) -> io::Result<()> {
        io::stderr().write_all(text.as_bytes())
    }
}

impl TermLike for Stderr {
    fn width(&self) -> u16 {
        160
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}A"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}B"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}C"))
        } else {
            Ok(())
        }
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        if n > 0 {
            self.emit(&format!("\x1b[{n}D"))
        } else {
            Ok(())
        }
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.emit(&format!("{s}\n"))
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.emit(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.emit("\r\x1b[2K")
    }

    fn flush(&self) -> io::Result<()> {
        io::stderr().flush()
    }
}
