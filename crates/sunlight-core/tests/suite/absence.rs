//! Absence rules (`kind = "absence"`): a `first` event with no `then` event of the
//! same key within the window fires when the watermark passes the deadline, not
//! before; an answer clears it; the end of input fires only deadlines the input
//! reached; waiting events survive a snapshot, a delta chain and a pack swap.

use std::sync::Arc;

use sunlight_core::time::{Duration, Timestamp};
use sunlight_core::{Engine, EngineConfig, PowerEvent, Warning};

use crate::common::{DAY, DETECTED, Ev, at, oracle, pack, run};

const PACK: &str = r#"
[pack]
name = "absence"
version = "1"

[[rule]]
id = "emergency-unfiled"
version = 1
kind = "absence"
title = "Emergency award to {counterparty} not filed within {window}"
window = "15d"
first = { kind = "award", "attributes.procedure" = "emergency" }
then = { kind = "procurement_filing" }
on = ["counterparty"]
level = "yellow"
"#;

fn engine() -> Engine {
    Engine::new(
        pack(PACK),
        EngineConfig {
            allowed_lateness: Duration::from_secs(60),
            clock: || DETECTED,
            ..EngineConfig::default()
        },
    )
}

fn award(id: &str, secs: i64, supplier: &str) -> PowerEvent {
    let mut e = Ev::new(id, "o1", "award", secs)
        .to(supplier)
        .amount(12_000_000)
        .s("procedure", "emergency")
        .build();
    e.region = Some("R01".into());
    e
}

fn filing(id: &str, official: &str, secs: i64, supplier: &str) -> PowerEvent {
    Ev::new(id, official, "procurement_filing", secs)
        .to(supplier)
        .build()
}

fn other(id: &str, secs: i64) -> PowerEvent {
    Ev::new(id, "o9", "payment", secs).amount(1).build()
}

#[test]
fn fires_when_the_watermark_passes_the_deadline_and_not_before() {
    let mut e = engine();
    let mut out = Vec::new();
    e.ingest(award("a1", 0, "S1"), &mut out);
    // 15 days later plus the lateness: the watermark is exactly at the deadline.
    e.ingest(other("x1", 15 * DAY + 60), &mut out);
    assert_eq!(
        out,
        vec![],
        "a filing at the deadline itself would still count"
    );
    e.ingest(other("x2", 15 * DAY + 61), &mut out);
    assert_eq!(out.len(), 1);
    let w = &out[0];
    assert_eq!(
        (
            w.rule_id.as_str(),
            w.official_id.as_str(),
            w.trigger_event_id.as_str(),
            w.occurred_at,
            w.window_start,
            w.window_end,
            w.title.as_str(),
        ),
        (
            "emergency-unfiled",
            "o1",
            "a1",
            at(0),
            at(0),
            at(15 * DAY),
            "Emergency award to S1 not filed within 15d"
        )
    );
    assert_eq!(w.key, vec![("counterparty".into(), "S1".into())]);
    assert_eq!(w.evidence, vec!["a1"]);
    assert_eq!(w.evidence_events[0].event_id, "a1");
    assert_eq!(w.scope.region.as_deref(), Some("R01"));
    assert_eq!(
        w.measures[0].1,
        sunlight_core::rules::measure::MeasureValue::Int(0)
    );
    let mut rest = Vec::new();
    e.flush(&mut rest);
    assert_eq!(rest, vec![], "fired once");
}

#[test]
fn a_filing_in_time_answers_and_one_too_late_or_elsewhere_does_not() {
    let pack = pack(PACK);
    let lateness = Duration::from_secs(60);
    let cases: [(Vec<PowerEvent>, &[&str]); 5] = [
        // Filed by another official of the same key (the rule is per official).
        (
            vec![
                award("a1", 0, "S1"),
                filing("f1", "o2", DAY, "S1"),
                other("x", 20 * DAY),
            ],
            &["a1"],
        ),
        (
            vec![
                award("a1", 0, "S1"),
                filing("f1", "o1", DAY, "S1"),
                other("x", 20 * DAY),
            ],
            &[],
        ),
        // At the deadline exactly: in time; a nanosecond later: not.
        (
            vec![
                award("a1", 0, "S1"),
                filing("f1", "o1", 15 * DAY, "S1"),
                other("x", 20 * DAY),
            ],
            &[],
        ),
        (
            vec![
                award("a1", 0, "S1"),
                filing("f1", "o1", 15 * DAY + 1, "S1"),
                other("x", 20 * DAY),
            ],
            &["a1"],
        ),
        // A filing for another supplier answers nothing.
        (
            vec![
                award("a1", 0, "S1"),
                filing("f1", "o1", DAY, "S2"),
                other("x", 20 * DAY),
            ],
            &["a1"],
        ),
    ];
    for (i, (events, want)) in cases.into_iter().enumerate() {
        let got = run(&pack, &events, lateness);
        assert_eq!(got, oracle(&pack, &events, lateness), "case {i}");
        let triggers: Vec<&str> = got.iter().map(|w| w.trigger_event_id.as_str()).collect();
        assert_eq!(triggers, want, "case {i}");
    }
    // The filing a nanosecond late: `filing` at 15 d + 1 ns.
    let mut late = filing("f1", "o1", 15 * DAY, "S1");
    late.occurred_at = Timestamp(late.occurred_at.0 + 1);
    let events = vec![award("a1", 0, "S1"), late, other("x", 20 * DAY)];
    assert_eq!(run(&pack, &events, lateness).len(), 1);
}

#[test]
fn the_end_of_input_fires_only_the_deadlines_it_reached() {
    let pack = pack(PACK);
    let lateness = Duration::from_secs(60);
    // The input ends 10 days after the award: a filing may still come.
    let events = vec![award("a1", 0, "S1"), other("x", 10 * DAY)];
    assert_eq!(run(&pack, &events, lateness), vec![]);
    // It ends at the deadline: nothing can answer it any more.
    let events = vec![award("a1", 0, "S1"), other("x", 15 * DAY)];
    let got = run(&pack, &events, lateness);
    assert_eq!(got.len(), 1);
    assert_eq!(got, oracle(&pack, &events, lateness));
}

fn restored(snapshot: &sunlight_core::engine::Snapshot) -> Engine {
    let mut e = engine();
    e.restore(snapshot).unwrap();
    e
}

fn finish(mut e: Engine, events: &[PowerEvent]) -> Vec<Warning> {
    let mut out = Vec::new();
    for ev in events {
        e.ingest(ev.clone(), &mut out);
    }
    e.flush(&mut out);
    out
}

#[test]
fn waiting_events_survive_a_snapshot_a_delta_chain_and_a_pack_swap() {
    let before = [
        award("a1", 0, "S1"),
        award("a2", DAY, "S2"),
        award("a3", 2 * DAY, "S3"),
    ];
    let after = [
        filing("f2", "o1", 3 * DAY, "S2"),
        award("a4", 4 * DAY, "S1"),
        other("x", 30 * DAY),
    ];
    let all: Vec<PowerEvent> = before.iter().chain(&after).cloned().collect();
    let want = finish(engine(), &all);
    let triggers: Vec<&str> = want.iter().map(|w| w.trigger_event_id.as_str()).collect();
    assert_eq!(triggers, ["a1", "a3", "a4"]);

    // A full snapshot after the first three.
    let mut e = engine();
    let mut out = Vec::new();
    for ev in &before {
        e.ingest(ev.clone(), &mut out);
    }
    let full = e.snapshot(|_, _| true);
    let got = finish(restored(&full), &after);
    // Restored timers carry the official's scope (the events' are not kept).
    assert_eq!(got, want);

    // A delta chain: the base, then the filing (which answers a2), as a delta.
    let mut e = engine();
    e.mark_changes();
    let mut out = Vec::new();
    for ev in &before {
        e.ingest(ev.clone(), &mut out);
    }
    let mut chain = e.snapshot(|_, _| true);
    e.mark_changes();
    e.ingest(after[0].clone(), &mut out);
    e.ingest(other("y", 3 * DAY + 120), &mut out);
    let delta = e.delta(|_, _| true).expect("tracked");
    chain.apply(delta).unwrap();
    let rest: Vec<PowerEvent> = after[1..].to_vec();
    let got = finish(restored(&chain), &rest);
    let triggers: Vec<&str> = got.iter().map(|w| w.trigger_event_id.as_str()).collect();
    assert_eq!(triggers, ["a1", "a3", "a4"]);

    // A pack swap (to the same rules) keeps the waiting events and their scopes.
    let mut e = engine();
    let mut out = Vec::new();
    for ev in &before {
        e.ingest(ev.clone(), &mut out);
    }
    e.swap_pack(Arc::new(
        sunlight_core::rules::compile_pack(PACK, std::path::Path::new("."), "again").unwrap(),
    ));
    assert_eq!(finish(e, &after), want);
}

#[test]
fn a_cooldown_holds_back_the_next_unanswered_event_across_sweeps() {
    // A warning fires a window (15 d) after the time its cooldown counts from: the
    // cooldown record must outlive the sweeps (every 15 d of event time here, one at
    // day 30) until the awards it holds back have reached their deadlines.
    let text = PACK.replace(
        "level = \"yellow\"",
        "level = \"yellow\"\ncooldown = \"20d\"",
    );
    let pack = pack(&text);
    let lateness = Duration::from_secs(60);
    let daily = |events: &mut Vec<PowerEvent>| {
        events.extend((1..50).map(|d| other(&format!("x{d}"), d * DAY)));
    };
    // a1 fires at day 15, a sweep runs at day 30, a2 (day 16: within a1's
    // cooldown) reaches its deadline at day 31 and is held back.
    let mut events = vec![award("a1", 0, "S1"), award("a2", 16 * DAY, "S1")];
    daily(&mut events);
    let got = run(&pack, &events, lateness);
    assert_eq!(got, oracle(&pack, &events, lateness));
    let triggers: Vec<&str> = got.iter().map(|w| w.trigger_event_id.as_str()).collect();
    assert_eq!(triggers, ["a1"], "a2 is within a1's cooldown");
    // 21 days apart: both.
    let mut events = vec![award("a1", 0, "S1"), award("a2", 21 * DAY, "S1")];
    daily(&mut events);
    let got = run(&pack, &events, lateness);
    assert_eq!(got, oracle(&pack, &events, lateness));
    assert_eq!(got.len(), 2);
}

/// The same `first`, `then` and `on` as a sequence rule (whose slot keeps answered
/// events too) and as an absence rule, and the same key as `group_by` and as an
/// entity `key`: different slots, whose state a swap or a restore never mixes.
#[test]
fn absence_and_entity_slots_keep_their_identity_across_swaps_and_restores() {
    let sequence = PACK
        .replace("kind = \"absence\"", "kind = \"sequence\"")
        .replace("level = \"yellow\"", "red = { count = \">= 1\" }");
    let by_official = "[pack]\nname = \"k\"\nversion = \"1\"\n[[rule]]\nid = \"r\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"30d\"\ngroup_by = [\"counterparty\"]\nyellow = { count = \">= 2\" }\n";
    let by_entity = by_official.replace("group_by", "key");
    for (from, to) in [(sequence.as_str(), PACK), (by_official, by_entity.as_str())] {
        let (from, to) = (pack(from), pack(to));
        let mut e = Engine::new(Arc::clone(&from), EngineConfig::default());
        let mut out = Vec::new();
        e.ingest(award("a1", 0, "S1"), &mut out);
        e.ingest(award("a2", DAY, "S2"), &mut out);
        let snapshot = e.snapshot(|_, _| true);
        let report = e.swap_pack(Arc::clone(&to));
        assert_eq!(
            (report.slots_kept, report.slots_new, report.slots_dropped),
            (0, 1, 1)
        );
        let mut fresh = Engine::new(to, EngineConfig::default());
        let restored = fresh.restore(&snapshot).unwrap();
        assert_eq!(restored.entries, 0, "{restored:?}");
        assert_eq!(restored.entries_dropped, 1, "{restored:?}");
    }
}
