//! The `segment-planhat` binary: parse the command line, resolve settings,
//! install the Ctrl-C handler, run, and turn the result into an exit code.
//! Everything else is in the library.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use segment_planhat::{Io, cli, config, error, run};

fn main() -> ExitCode {
    let cli = cli::parse();
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupt);
    // The first Ctrl-C asks the run to stop after the request in flight;
    // a second one ends the process at once.
    let handler = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nsegment-planhat: stopping after the request in flight (Ctrl-C again to stop at once)"
        );
    });
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut err = std::io::stderr();
    let result = match handler {
        Ok(()) => config::resolve(cli)
            .and_then(|config| run(config, Io::new(&mut out, &mut err, interrupt))),
        Err(error) => Err(anyhow::Error::new(error).context("installing the Ctrl-C handler")),
    };
    let result = result.and_then(|status| out.flush().map(|()| status).map_err(Into::into));
    if let Err(error) = &result
        && !error::is_broken_pipe(error)
    {
        let _ = writeln!(err, "segment-planhat: error: {error:#}");
    }
    ExitCode::from(error::exit_code(&result))
}
