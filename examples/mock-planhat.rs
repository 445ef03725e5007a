//! A mock Planhat on this machine, to try `segment-planhat send` without a
//! Planhat account. It prints one line per request it receives, then the
//! body.
//!
//! ```sh
//! cargo run --example mock-planhat -- --port 8080
//! # in another terminal:
//! segment-planhat send --tenant-token test --api-token test \
//!   --api-url http://127.0.0.1:8080 --analytics-url http://127.0.0.1:8080 examples/events.ndjson
//! ```
//!
//! `--delay-ms 20` simulates Planhat's round trip; `--quiet` prints nothing
//! per request (for benchmarks); `--huge-answers N` answers the first N
//! end-user upserts with 300 MiB each.

#[path = "../tests/support/mock_planhat.rs"]
mod mock_planhat;

use std::time::Duration;

use clap::Parser;
use mock_planhat::{Fault, Log, MockConfig, MockPlanhat, Received};

/// A mock Planhat API on 127.0.0.1.
#[derive(Debug, Parser)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Tenant token to require; any is accepted when absent.
    #[arg(long)]
    tenant_token: Option<String>,
    /// API token to require; any is accepted when absent.
    #[arg(long)]
    api_token: Option<String>,
    /// Wait this long before each answer, like a remote server.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Print nothing per request, and neither keep nor parse bodies.
    #[arg(long)]
    quiet: bool,
    /// Answer the first N end-user upserts with a body of
    /// `--huge-answer-bytes` (what a misbehaving proxy might send).
    #[arg(long, default_value_t = 0, value_name = "N")]
    huge_answers: usize,
    /// The size of those answers.
    #[arg(long, default_value_t = 300 << 20, value_name = "BYTES")]
    huge_answer_bytes: u64,
}

/// How much of each body is printed.
const SHOWN_CHARS: usize = 2000;

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let log: Option<Log> = if args.quiet {
        None
    } else {
        Some(Box::new(print_request))
    };
    let mock = MockPlanhat::start(MockConfig {
        tenant_token: args.tenant_token,
        api_token: args.api_token,
        delay: Duration::from_millis(args.delay_ms),
        record: !args.quiet,
        port: args.port,
        log,
    })?;
    for _ in 0..args.huge_answers {
        let huge = Fault::Huge {
            bytes: args.huge_answer_bytes,
        };
        mock.push_fault_on("/endusers", huge);
    }
    eprintln!("mock Planhat listening on {}", mock.url());
    loop {
        std::thread::park();
    }
}

fn print_request(request: &Received) {
    // The analytics paths carry the tenant token: never print it.
    let path = if request.path.starts_with("/analytics/bulk/") {
        "/analytics/bulk/{tenantToken}"
    } else if request.path.starts_with("/dimensiondata/") {
        "/dimensiondata/{tenantToken}"
    } else {
        request.path.as_str()
    };
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let items = body.as_array().map_or(1, Vec::len);
    let status = match request.status {
        0 => "dropped".to_owned(),
        code => code.to_string(),
    };
    println!(
        "{} {path} → {status} ({items} items, {} bytes)",
        request.method, request.body_len
    );
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    match pretty.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => println!("{}\n…", &pretty[..cut]),
        None => println!("{pretty}"),
    }
}
