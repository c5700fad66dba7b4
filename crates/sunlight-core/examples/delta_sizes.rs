//! The size of incremental snapshots (deltas) against a full one, for the default
//! pack on a recorded workload (BENCHMARKS.md §11):
//!
//! ```sh
//! scripts/bench-models.sh   # writes bench-data/events-1000000-10000-30d.jsonl
//! cargo run --release -p sunlight-core --example delta_sizes -- bench-data/events-1000000-10000-30d.jsonl
//! ```
//!
//! Replays the first 250,000 events, takes a full snapshot, then three intervals of
//! 300, 3,000 and 30,000 events, each followed by a delta, and prints the postcard
//! bytes of each (the encoding of the state topic). With `PARTITIONS=N` the events
//! come from N partitions by official (as a live pipeline reading every partition
//! sees them), and the sizes are the sums of the N partitions' snapshots.

use std::path::Path;
use std::sync::Arc;

use sunlight_core::codec::{DecodeLimits, json};
use sunlight_core::engine::{Engine, EngineConfig};
use sunlight_core::rules::CompiledPack;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input = std::env::args()
        .nth(1)
        .ok_or("usage: delta_sizes EVENTS.jsonl")?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let pack = Arc::new(CompiledPack::load(&root.join("rules/default.toml"))?);
    let text = std::fs::read_to_string(&input)?;
    let events: Vec<_> = text
        .lines()
        .take(283_300)
        .filter_map(|l| json::decode(l.as_bytes(), &DecodeLimits::default()).ok())
        .map(|(e, _)| e)
        .collect();
    let partitions: u64 = std::env::var("PARTITIONS")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let partition_of = |official: &str| {
        official
            .bytes()
            .map(u64::from)
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b))
            % partitions
    };
    let mut engine = Engine::new(pack, EngineConfig::default());
    let mut out = Vec::new();
    let mut next = 0;
    let mut feed = |engine: &mut Engine, n: usize| {
        for e in events.iter().skip(next).take(n) {
            let source = partition_of(&e.official_id) << 40 | next as u64;
            engine.ingest_from(e.clone(), source, &mut out);
            next += 1;
        }
    };
    let part = |p: u64| move |_: &str, s: u64| s >> 40 == p;
    feed(&mut engine, 250_000);
    engine.mark_changes();
    let mut full = 0;
    for p in 0..partitions {
        full += postcard::to_allocvec(&engine.snapshot(part(p)))?.len();
    }
    println!("full snapshots after 250000 events ({partitions} partitions): {full} bytes");
    for n in [300, 3_000, 30_000] {
        engine.mark_changes();
        feed(&mut engine, n);
        let (mut bytes, mut owners) = (0, 0);
        for p in 0..partitions {
            let delta = engine.delta(part(p)).ok_or("no delta")?;
            bytes += postcard::to_allocvec(&delta)?.len();
            owners += delta.officials.len();
        }
        println!(
            "deltas after {n} more events: {bytes} bytes ({owners} owners written, {:.1}% of the full)",
            100.0 * bytes as f64 / full as f64
        );
    }
    Ok(())
}
