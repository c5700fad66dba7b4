//! The baseline issue 15's replay target is stated against: a bare serde_json decode
//! of a JSON-lines file into borrowed fields (no validation, no timestamp parsing,
//! attributes skipped, no engine), the least work any engine must do to read the file. `scripts/bench-replay.sh`
//! runs it beside `sunlight replay` and reports each pack's rate as a ratio to it.
//!
//! `cargo run --release -p sunlight-core --example bare_decode -- FILE`

use std::borrow::Cow;
use std::io::BufRead;
use std::time::Instant;

use serde::Deserialize;

/// The event contract's fields, borrowed from the line where possible.
#[derive(Deserialize)]
#[allow(dead_code)] // Read to decode them, not used afterwards.
struct Bare<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    official_id: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow, default)]
    source_system: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    org_unit: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    counterparty: Option<Cow<'a, str>>,
    #[serde(default)]
    amount_cents: Option<i64>,
    /// Skipped, not collected: the baseline is as cheap as a decoder can be.
    #[serde(default)]
    attributes: Option<serde::de::IgnoredAny>,
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: bare_decode FILE");
    let file = std::fs::File::open(&path).expect("open the input");
    let mut input = std::io::BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(1024);
    let (mut records, mut failed) = (0u64, 0u64);
    let started = Instant::now();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).expect("read") == 0 {
            break;
        }
        records += 1;
        if serde_json::from_slice::<Bare<'_>>(&line).is_err() {
            failed += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "bare decode: {records} records ({failed} not decoded) in {seconds:.2} s ({} records/s)",
        (records as f64 / seconds) as u64
    );
}
