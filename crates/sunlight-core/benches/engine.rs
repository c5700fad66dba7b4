//! Core benchmarks (criterion): decode-only as the baseline, then decode, evaluate
//! and write for the parity and default packs, on the same generated JSON workload.
//!
//! Run `cargo bench -p sunlight-core --bench engine`; results are in BENCHMARKS.md.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_main};
use sunlight_core::CompiledPack;
use sunlight_core::codec::{DecodeLimits, json};
use sunlight_core::replay::{ReplayOptions, Replayer};
use sunlight_gen::{GenConfig, Generator};

/// 200,000 events from 2,000 officials over 30 days: the same per-official density
/// (100 events a month) as the documented 1,000,000 / 10,000 / 30-day replay
/// benchmark, with a fifth of the officials.
fn workload() -> Vec<u8> {
    let config = GenConfig {
        events: 200_000,
        officials: 2_000,
        days: 30,
        scenario_every: 20,
        ..GenConfig::default()
    };
    let mut out = Vec::new();
    sunlight_gen::write_json_lines(Generator::new(config), &mut out).expect("writes to memory");
    out
}

fn pack(path: &str) -> Arc<CompiledPack> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    Arc::new(CompiledPack::load(&path).expect("shipped packs compile"))
}

fn replay(pack: &Arc<CompiledPack>, data: &[u8]) -> u64 {
    let mut replayer = Replayer::new(
        Arc::clone(pack),
        ReplayOptions::default(),
        std::io::sink(),
        std::io::sink(),
    );
    replayer
        .json_lines(Cursor::new(data))
        .expect("in-memory input");
    replayer.finish().expect("sinks do not fail").warnings
}

fn benches(c: &mut Criterion) {
    let data = workload();
    let lines = data.iter().filter(|b| **b == b'\n').count() as u64;
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(lines));
    group.bench_function("decode_only", |b| {
        let limits = DecodeLimits::default();
        b.iter(|| {
            data.split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .filter(|l| json::decode(l, &limits).is_ok())
                .count()
        })
    });
    let parity = pack("examples/rules/parity.toml");
    group.bench_function("parity_pack", |b| b.iter(|| replay(&parity, &data)));
    let default = pack("rules/default.toml");
    group.bench_function("default_pack", |b| b.iter(|| replay(&default, &data)));
    group.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(engine, super::benches);
}
use group::engine;
criterion_main!(engine);
