//! The `segment-planhat` binary: tune the allocator, parse the command
//! line, resolve settings, install the signal handlers, run, and turn the
//! result into an exit code.
//! Everything else is in the library.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use segment_planhat::{Io, allocator, cli, config, error, run, signals, stdout};

fn main() -> ExitCode {
    allocator::tune();
    let cli = cli::parse();
    let stop = signals::install();
    let mut out = stdout::open();
    let mut err = std::io::stderr();
    let result = match &stop {
        Ok(stop) => config::resolve(cli).and_then(|config| {
            run(
                config,
                Io::new(&mut out, &mut err, Arc::clone(&stop.interrupt)),
            )
        }),
        Err(error) => Err(anyhow::anyhow!("installing the signal handlers: {error}")),
    };
    let result = result.and_then(|status| {
        out.flush().context("writing to stdout")?;
        Ok(status)
    });
    if let Err(error) = &result
        && !error::is_broken_pipe(error)
    {
        let _ = writeln!(err, "segment-planhat: error: {error:#}");
    }
    let stopped_by = stop.as_ref().ok().and_then(signals::Stop::signal);
    ExitCode::from(error::exit_code(&result, stopped_by))
}
