//! The benchmark's floor: parse each NDJSON line with serde_json and write
//! it back out, and nothing else. `segment-planhat validate` and
//! `send --dry-run` do this much and more (lookups, mapping, batching), so
//! their time is measured against this one.
//!
//! ```sh
//! cargo run --release --example baseline -- corpus.ndjson > /dev/null
//! ```

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

fn main() -> std::io::Result<()> {
    let path = std::env::args().nth(1).expect("usage: baseline FILE");
    let mut input = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut line = Vec::new();
    let mut bad = 0u64;
    while input.read_until(b'\n', &mut line)? > 0 {
        // The same tree the tool builds: serde_json's Value, keys in order.
        match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(value) => {
                serde_json::to_writer(&mut out, &value)?;
                out.write_all(b"\n")?;
            }
            Err(_) => bad += 1,
        }
        line.clear();
    }
    out.flush()?;
    if bad > 0 {
        eprintln!("{bad} lines were not JSON");
    }
    Ok(())
}
