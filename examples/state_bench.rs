//! State benchmark (issue 5): what window state costs per official and per retained
//! event with 1,000,000 officials and the default rule pack, and how long restoring
//! it from a snapshot takes compared with rebuilding it by re-reading the events (the
//! baseline, same run).
//!
//! ```text
//! cargo run --release --example state_bench -- [OFFICIALS [EVENTS [CASES]]]   # default 1000000 3000000 100000
//! EVIDENCE_COPIES=off cargo run --release --example state_bench -- ...        # the pack without evidence copies
//! ```
//!
//! 1. EVENTS generated events from OFFICIALS officials over a year go through an
//!    engine with the default pack (every event stays in some window: the pack's
//!    longest window is 10 years). Reported: officials and events held, bytes of
//!    window state, bytes per official and per retained event, and the process's RSS
//!    growth.
//! 2. Snapshot: the whole state copied as a `Snapshot` (what the engine's thread
//!    does at the barrier), then encoded as the state topic's records (postcard, in
//!    chunks), and as JSON (the format of earlier versions) for comparison: time
//!    and size.
//! 3. Restore: assemble the records, parse and restore into a fresh engine; versus
//!    the baseline, a fresh engine re-ingesting every event (what a restart without
//!    snapshots does).
//! 4. Cases (issue 13): a casebook with CASES tracked warnings (the run's own
//!    warnings, repeated under new ids when there are fewer), each received, as a
//!    `CasebookSnapshot` in postcard: time to take, size, time to parse and restore; and
//!    window state plus cases restored together.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sunlight_core::casework::{
    Casebook, CasebookSnapshot, CaseworkPolicy, Feedback, Outputs, Status,
};
use sunlight_core::time::Duration;
use sunlight_core::{Engine, EngineConfig};
use sunlight_gen::{GenConfig, Generator};
use sunlight_kafka::state_topic::{self, Assembler, PartitionState};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let officials: u32 = args
        .get(1)
        .map_or(1_000_000, |a| a.parse().expect("OFFICIALS"));
    let events: u64 = args
        .get(2)
        .map_or(3_000_000, |a| a.parse().expect("EVENTS"));
    // EVIDENCE_COPIES=off: the default pack with `evidence_copies = false` (ids only),
    // to measure what the copies cost.
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut text = std::fs::read_to_string(rules.join("default.toml")).expect("default pack");
    if std::env::var("EVIDENCE_COPIES").as_deref() == Ok("off") {
        text = text.replacen("[pack]\n", "[pack]\nevidence_copies = false\n", 1);
    }
    let pack = Arc::new(
        sunlight_core::rules::compile_pack(&text, &rules, "default.toml").expect("default pack"),
    );
    println!(
        "evidence copies: {}",
        if pack.evidence_copies() { "on" } else { "off" }
    );
    let started = Instant::now();
    let generated: Vec<_> = Generator::new(GenConfig {
        events,
        officials,
        days: 365,
        seed: 5,
        ..GenConfig::default()
    })
    .collect();
    eprintln!(
        "generated {} events in {:.1} s",
        generated.len(),
        started.elapsed().as_secs_f64()
    );
    let config = EngineConfig {
        allowed_lateness: Duration::from_secs(60),
        ..EngineConfig::default()
    };

    // 1. Build the state (this is also the re-read baseline's work).
    let rss_before = rss_mib();
    let mut engine = Engine::new(Arc::clone(&pack), config);
    let cases: usize = args.get(3).map_or(100_000, |a| a.parse().expect("CASES"));
    let mut warnings = Vec::new();
    let mut sample = Vec::new();
    let started = Instant::now();
    for e in &generated {
        engine.ingest(e.clone(), &mut warnings);
        if sample.len() < cases {
            sample.append(&mut warnings);
        }
        warnings.clear();
    }
    let last = generated.iter().map(|e| e.occurred_at.0).max().unwrap();
    engine.advance_watermark(sunlight_core::time::Timestamp(last + 1), &mut warnings);
    let rebuild = started.elapsed().as_secs_f64();
    let rss_after = rss_mib();
    let s = engine.state_stats();
    println!(
        "state: {} officials, {} retained events ({} window entries), window state {:.1} MiB, dedup tables {:.1} MiB",
        s.officials,
        s.retained_events,
        s.window_entries,
        s.window_bytes as f64 / 1048576.0,
        s.dedup_bytes as f64 / 1048576.0
    );
    println!(
        "  {:.0} bytes per official, {:.1} bytes per retained event (window state); RSS +{:.0} MiB ({:.0} bytes per official incl. dedup and allocator)",
        s.window_bytes as f64 / s.officials.max(1) as f64,
        s.window_bytes as f64 / s.retained_events.max(1) as f64,
        rss_after - rss_before,
        (rss_after - rss_before) * 1048576.0 / s.officials.max(1) as f64
    );

    // 2. Snapshot: the copy (what the engine's thread does at the barrier), then
    // the records of the state topic (postcard, in chunks), and JSON (the format of
    // earlier versions) for comparison.
    let started = Instant::now();
    let snapshot = engine.snapshot(|_, _| true);
    let take = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let json = serde_json::to_vec(&snapshot).expect("serialise");
    let json_seconds = started.elapsed().as_secs_f64();
    let json_len = json.len();
    drop(json);
    let state = PartitionState {
        position: 0,
        max_seen: last,
        snapshot,
        casebook: None,
    };
    let started = Instant::now();
    let records = state_topic::encode("bench", "events", 0, 1, None, &state);
    let encode = started.elapsed().as_secs_f64();
    let bytes: usize = records.iter().map(|(_, payload, _)| payload.len()).sum();
    drop(state);
    println!(
        "snapshot: {take:.2} s to copy; postcard {encode:.2} s, {:.1} MiB ({:.1} bytes per retained event); JSON {json_seconds:.2} s, {:.1} MiB",
        bytes as f64 / 1048576.0,
        bytes as f64 / s.retained_events.max(1) as f64,
        json_len as f64 / 1048576.0,
    );

    // 3. Restore versus rebuild: assemble the records, parse, restore.
    let started = Instant::now();
    let mut assembler = Assembler::default();
    for (key, payload, headers) in &records {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assembler.add(key, &headers, payload);
    }
    drop(records);
    let (_, parsed) = assembler
        .latest(&state_topic::key("bench", "events", 0))
        .expect("a complete snapshot");
    drop(assembler);
    let parsed = parsed.expect("parse").snapshot;
    let mut restored = Engine::new(Arc::clone(&pack), config);
    let report = restored.restore(&parsed).expect("restore");
    let restore = started.elapsed().as_secs_f64();
    assert_eq!(restored.state_stats().retained_events, s.retained_events);
    println!(
        "restore: {:.2} s for {} officials and {} entries ({:.0} retained events/s); rebuild by re-ingesting {} events: {:.2} s; restore / rebuild = {:.2}",
        restore,
        report.officials,
        report.entries,
        s.retained_events as f64 / restore,
        generated.len(),
        rebuild,
        restore / rebuild
    );

    // 4. Cases.
    assert!(!sample.is_empty(), "the workload warns");
    let now = sunlight_core::time::Timestamp(last);
    let mut book = Casebook::new(CaseworkPolicy::default());
    let mut out = Outputs::default();
    for n in 0..cases {
        let mut w = sample[n % sample.len()].clone();
        if n >= sample.len() {
            w.warning_id = format!("{}-{n}", w.warning_id);
        }
        book.admit(&w, now, &mut out);
        let fb = Feedback {
            warning_id: w.warning_id.as_str().into(),
            status: Status::Received,
            handler: "desk-1".into(),
            note: "assigned".into(),
            at: now,
        };
        let _ = book.feedback(&fb, now, &mut out);
    }
    let started = Instant::now();
    let cases_bytes = postcard::to_stdvec(&book.snapshot(|_, _| true)).expect("serialise");
    let take_cases = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let parsed: CasebookSnapshot = postcard::from_bytes(&cases_bytes).expect("parse");
    let mut restored_book = Casebook::new(CaseworkPolicy::default());
    restored_book.restore(&parsed).expect("restore cases");
    let restore_cases = started.elapsed().as_secs_f64();
    assert_eq!(restored_book.tracked(), book.tracked());
    println!(
        "cases: {} tracked warnings of {} officials; snapshot {:.2} s, {:.1} MiB postcard; restore {:.2} s; window state and cases restored together: {:.2} s",
        book.tracked(),
        parsed.officials.len(),
        take_cases,
        cases_bytes.len() as f64 / 1048576.0,
        restore_cases,
        restore + restore_cases
    );
}
