//! Count windows (`last = N` in an aggregate rule): only the last N matching events
//! of the time window count; an event the count window dropped is still a duplicate
//! when delivered again within the window; the checker names the rule and field.

use sunlight_core::rules::compile_pack;
use sunlight_core::time::Duration;

use crate::common::{DAY, Ev, fired, oracle, pack, run};

const PACK: &str = r#"
[pack]
name = "count-windows"
version = "1"

[[rule]]
id = "similar"
version = 1
kind = "aggregate"
title = "last {count} payments to {counterparty}: spread {spread}, {min}-{max}"
window = "90d"
last = 3
group_by = ["counterparty"]
filter = { kind = "payment" }
measures = { spread = "amount_cents", min = "amount_cents", max = "amount_cents" }
yellow = { count = ">= 3", spread = "<= 0.1" }
"#;

fn pay(id: &str, secs: i64, cents: i64) -> sunlight_core::PowerEvent {
    Ev::new(id, "o", "payment", secs)
        .to("C")
        .amount(cents)
        .build()
}

fn check(events: &[sunlight_core::PowerEvent]) -> Vec<sunlight_core::Warning> {
    let pack = pack(PACK);
    let lateness = Duration::from_secs(60);
    let got = run(&pack, events, lateness);
    assert_eq!(got, oracle(&pack, events, lateness), "engine and oracle");
    got
}

#[test]
fn only_the_last_n_events_count() {
    // 5,000.00 then three within 10%: the first has left the count window by the
    // fourth payment, so the last three (12,000-12,600) fire.
    let got = check(&[
        pay("p1", 0, 500_000),
        pay("p2", DAY, 1_200_000),
        pay("p3", 2 * DAY, 1_230_000),
        pay("p4", 3 * DAY, 1_260_000),
    ]);
    assert_eq!(
        fired(&got),
        [("similar".to_string(), "yellow", "p4".to_string())]
    );
    assert_eq!(
        got[0].title,
        "last 3 payments to C: spread 0.05, 1200000-1260000"
    );
    let evidence: Vec<&str> = got[0].evidence.iter().map(|e| e.as_str()).collect();
    assert_eq!(evidence, ["p2", "p3", "p4"]);
}

#[test]
fn a_near_miss_stays_silent() {
    // Spread 16.7%: not similar. And with only two payments nothing counts.
    assert_eq!(
        check(&[
            pay("p1", 0, 1_200_000),
            pay("p2", DAY, 1_230_000),
            pay("p3", 2 * DAY, 1_400_000),
        ]),
        []
    );
    assert_eq!(
        check(&[pay("p1", 0, 1_200_000), pay("p2", DAY, 1_200_000)]),
        []
    );
    // The time window still bounds the count window: the first is 91 days old.
    assert_eq!(
        check(&[
            pay("p1", 0, 1_200_000),
            pay("p2", 91 * DAY, 1_200_000),
            pay("p3", 92 * DAY, 1_200_000),
        ]),
        []
    );
}

#[test]
fn an_event_the_count_window_dropped_is_still_a_duplicate() {
    // p1 leaves the count window when p4 arrives; delivered again afterwards (within
    // its 90 days) it must not count a second time.
    let events = [
        pay("p1", 0, 1_200_000),
        pay("p2", DAY, 1_200_000),
        pay("p3", 2 * DAY, 1_200_000),
        pay("p4", 3 * DAY, 9_999_900),
        pay("p5", 4 * DAY, 1_200_000),
        pay("p1", 4 * DAY, 1_200_000),
        pay("p6", 5 * DAY, 1_200_000),
    ];
    let got = check(&events);
    // p3 fires (p1-p3); p6's last three are p4, p5, p6 (p4 far apart): silent. Had
    // the repeat of p1 counted, p5, p1, p6 would have fired at p6.
    assert_eq!(
        fired(&got),
        [("similar".to_string(), "yellow", "p3".to_string())]
    );
}

#[test]
fn the_checker_names_the_rule_and_field() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let wrong = PACK.replace("last = 3", "last = 0")
        + r#"
[[rule]]
id = "p"
version = 1
kind = "predicate"
title = "p"
level = "red"
last = 2
"#;
    let err = compile_pack(&wrong, &base, "pack.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "pack.toml has 2 error(s):\n  - rule `similar`, field `last`: must be between 1 and 10000\n  - rule `p`, field `last`: does not apply to `predicate` rules"
    );
}

#[test]
fn count_windows_of_the_same_events_share_one_slot() {
    let two = PACK.to_string()
        + r#"
[[rule]]
id = "pair"
version = 1
kind = "aggregate"
title = "{count}: {sum}"
window = "30d"
last = 2
group_by = ["counterparty"]
filter = { kind = "payment" }
measures = { sum = "amount_cents" }
yellow = { count = ">= 2" }
"#;
    let pack = pack(&two);
    let view_slots = format!(
        "{:?}",
        pack.rules.iter().map(|r| &r.logic).collect::<Vec<_>>()
    );
    assert_eq!(
        view_slots,
        "[Aggregate { slot: 0, last: Some(3) }, Aggregate { slot: 0, last: Some(2) }]"
    );
    // p1 is 31 days before p2: outside the pair's 30 days, inside similar's 90.
    let events = [
        pay("p1", 0, 1_200_000),
        pay("p2", 31 * DAY, 1_230_000),
        pay("p3", 40 * DAY, 1_260_000),
    ];
    let lateness = Duration::from_secs(60);
    let got = run(&pack, &events, lateness);
    assert_eq!(got, oracle(&pack, &events, lateness));
    assert_eq!(
        fired(&got),
        [
            ("similar".to_string(), "yellow", "p3".to_string()),
            ("pair".to_string(), "yellow", "p3".to_string()),
        ]
    );
    let pair = got.iter().find(|w| w.rule_id == "pair").unwrap();
    assert_eq!(pair.title, "2: 2490000");
}

/// A count window whose N changes (a new pack version, or a snapshot restored under
/// it) keeps its state, trimmed to the newest N: the next event is measured over
/// exactly what an engine that always ran the new pack would have.
#[test]
fn a_changed_n_keeps_the_newest_entries_across_a_swap_and_a_restore() {
    use std::sync::Arc;
    use sunlight_core::{Engine, EngineConfig};
    let two = PACK
        .replace("last = 3", "last = 2")
        .replace("count = \">= 3\"", "count = \">= 2\"");
    let config = EngineConfig {
        allowed_lateness: Duration::from_secs(60),
        clock: || crate::common::DETECTED,
        ..EngineConfig::default()
    };
    let before = [
        pay("p1", 0, 100_000),
        pay("p2", DAY, 500_000),
        pay("p3", 2 * DAY, 1_000_000),
    ];
    let after = [pay("p4", 3 * DAY, 1_050_000), pay("x", 10 * DAY, 1)];
    let all: Vec<_> = before.iter().chain(&after).cloned().collect();
    // What the two-payment pack gives over everything: p4 fires with p3 and p4.
    let want = run(&pack(&two), &all, Duration::from_secs(60));
    assert_eq!(
        want.iter()
            .find(|w| w.trigger_event_id == "p4")
            .map(|w| w.evidence.clone()),
        Some(vec!["p3".into(), "p4".into()])
    );
    let finish = |mut e: Engine| {
        let mut out = Vec::new();
        for ev in &after {
            e.ingest(ev.clone(), &mut out);
        }
        e.flush(&mut out);
        out
    };
    let mut e = Engine::new(pack(PACK), config);
    let mut out = Vec::new();
    for ev in &before {
        e.ingest(ev.clone(), &mut out);
    }
    e.ingest(
        Ev::new("tick", "o2", "other", 2 * DAY + 120).build(),
        &mut out,
    );
    let snapshot = e.snapshot(|_, _| true);
    let report = e.swap_pack(pack(&two));
    assert_eq!((report.slots_kept, report.slots_dropped), (1, 0));
    let tail: Vec<_> = want
        .iter()
        .filter(|w| w.occurred_at >= after[0].occurred_at)
        .cloned()
        .collect();
    let swapped = finish(e);
    assert_eq!(swapped, tail);
    let mut restored = Engine::new(Arc::clone(&pack(&two)), config);
    let report = restored.restore(&snapshot).unwrap();
    assert_eq!(report.entries_dropped, 0);
    assert_eq!(finish(restored), tail);
}
