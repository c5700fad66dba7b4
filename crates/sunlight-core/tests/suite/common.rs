//! Helpers shared by the core's integration tests.

use std::path::Path;
use std::sync::Arc;

use sunlight_core::event::AttrValue;
use sunlight_core::rules::compile_pack;
use sunlight_core::time::{Duration, Timestamp};
use sunlight_core::{CompiledPack, Engine, EngineConfig, PowerEvent, Warning};

/// The fixed `detected_at` used in tests, so whole warnings compare equal.
pub const DETECTED: Timestamp = Timestamp(1_800_000_000_000_000_000);

fn fixed_clock() -> Timestamp {
    DETECTED
}

/// Compiles a pack from text; reference files resolve against the repo's `rules/`.
pub fn pack(text: &str) -> Arc<CompiledPack> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    Arc::new(compile_pack(text, &base, "test pack").unwrap_or_else(|e| panic!("{e}")))
}

/// Loads a pack file relative to the repository root.
pub fn pack_file(path: &str) -> Arc<CompiledPack> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    Arc::new(CompiledPack::load(&path).unwrap_or_else(|e| panic!("{e}")))
}

/// Runs events (in arrival order) through a fresh engine and flushes it.
pub fn run(pack: &Arc<CompiledPack>, events: &[PowerEvent], lateness: Duration) -> Vec<Warning> {
    let mut engine = Engine::new(
        Arc::clone(pack),
        EngineConfig {
            allowed_lateness: lateness,
            clock: fixed_clock,
            ..EngineConfig::default()
        },
    );
    let mut out = Vec::new();
    for e in events {
        engine.ingest(e.clone(), &mut out);
    }
    engine.flush(&mut out);
    out
}

/// The brute-force oracle over the same arrival order.
pub fn oracle(pack: &Arc<CompiledPack>, events: &[PowerEvent], lateness: Duration) -> Vec<Warning> {
    sunlight_core::reference_model::evaluate(pack, events, lateness, DETECTED)
}

/// `2026-03-02T00:00:00Z` (a Monday; 08:00 in Shanghai) plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp((1_772_409_600 + secs) * 1_000_000_000)
}

/// One hour, one day, in seconds.
pub const HOUR: i64 = 3_600;
/// One day in seconds.
pub const DAY: i64 = 86_400;

/// An event builder.
pub struct Ev(pub PowerEvent);

impl Ev {
    pub fn new(id: &str, official: &str, kind: &str, secs: i64) -> Ev {
        Ev(PowerEvent::new(id, official, kind, at(secs)))
    }
    pub fn to(mut self, counterparty: &str) -> Ev {
        self.0.counterparty = Some(counterparty.into());
        self
    }
    pub fn amount(mut self, cents: i64) -> Ev {
        self.0.amount_cents = Some(cents);
        self
    }
    pub fn attr(mut self, name: &str, value: AttrValue) -> Ev {
        self.0.attributes.push((name.into(), value));
        self
    }
    pub fn s(self, name: &str, value: &str) -> Ev {
        self.attr(name, AttrValue::Str(value.into()))
    }
    pub fn i(self, name: &str, value: i64) -> Ev {
        self.attr(name, AttrValue::Int(value))
    }
    pub fn build(self) -> PowerEvent {
        self.0
    }
}

/// (rule_id, level, trigger_event_id) of each warning, for compact assertions.
pub fn fired(warnings: &[Warning]) -> Vec<(String, &'static str, String)> {
    warnings
        .iter()
        .map(|w| {
            (
                w.rule_id.clone(),
                w.level.name(),
                w.trigger_event_id.to_string(),
            )
        })
        .collect()
}
