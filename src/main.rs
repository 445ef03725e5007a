//! The `segment-planhat` binary: parse the command line, resolve settings,
//! run, and turn the result into an exit code. Everything else is in the
//! library.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use segment_planhat::{cli, config, error, run};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut err = std::io::stderr();
    let result = config::resolve(cli).and_then(|config| run(config, &mut out, &mut err));
    let result = result.and_then(|status| out.flush().map(|()| status).map_err(Into::into));
    if let Err(error) = &result
        && !error::is_broken_pipe(error)
    {
        let _ = writeln!(err, "segment-planhat: error: {error:#}");
    }
    ExitCode::from(error::exit_code(&result))
}
