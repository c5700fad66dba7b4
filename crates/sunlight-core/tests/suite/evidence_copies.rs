//! Evidence copies: each warning carries a compact copy of its listed evidence
//! events, narrowed to the attributes its rule reads; copies survive a snapshot and
//! restore; `evidence_copies = false` keeps ids only.

use std::sync::Arc;

use sunlight_core::event::AttrValue;
use sunlight_core::evidence::EventCopy;
use sunlight_core::time::Duration;
use sunlight_core::{Engine, EngineConfig, PowerEvent, Warning};

use super::common::{Ev, HOUR, at, oracle, pack, run};

const PACK: &str = r#"
[pack]
name = "t"
version = "1"
{COPIES}

[[rule]]
id = "split"
version = 1
kind = "aggregate"
title = "{count} payments to {counterparty}"
window = "7d"
filter = { kind = "payment", "attributes.channel" = "bank" }
group_by = ["counterparty"]
measures = { sum = "amount_cents" }
red = { count = ">= 2" }

[[rule]]
id = "urgent"
version = 1
kind = "predicate"
title = "urgent payment"
level = "yellow"
filter = { kind = "payment", "attributes.urgent" = true }
"#;

fn events() -> Vec<PowerEvent> {
    vec![
        Ev::new("p1", "o1", "payment", 0)
            .to("SUP-1")
            .amount(4_900_000)
            .s("channel", "bank")
            .s("memo", "not read by any rule")
            .build(),
        Ev::new("p2", "o1", "payment", HOUR)
            .to("SUP-1")
            .amount(4_800_000)
            .s("channel", "bank")
            .attr("urgent", AttrValue::Bool(true))
            .build(),
    ]
}

fn copy(id: &str, secs: i64, cents: i64, attributes: Vec<(&str, AttrValue)>) -> EventCopy {
    EventCopy {
        event_id: id.into(),
        kind: "payment".into(),
        occurred_at: at(secs).0,
        amount_cents: Some(cents),
        counterparty: Some("SUP-1".into()),
        attributes: attributes.into_iter().map(|(n, v)| (n.into(), v)).collect(),
    }
}

fn bank() -> (&'static str, AttrValue) {
    ("channel", AttrValue::Str("bank".into()))
}

#[test]
fn each_warning_carries_copies_narrowed_to_what_its_rule_reads() {
    let pack = pack(&PACK.replace("{COPIES}", ""));
    assert!(pack.evidence_copies());
    let warnings = run(&pack, &events(), Duration::ZERO);
    let by_rule = |id: &str| -> &Warning { warnings.iter().find(|w| w.rule_id == id).unwrap() };
    // The split rule reads `channel`: both payments, with channel, without memo or
    // urgent (urgent is read by the other rule only).
    assert_eq!(
        by_rule("split").evidence_events,
        vec![
            copy("p1", 0, 4_900_000, vec![bank()]),
            copy("p2", HOUR, 4_800_000, vec![bank()]),
        ]
    );
    // The predicate reads `urgent`: the trigger itself, with urgent only.
    assert_eq!(
        by_rule("urgent").evidence_events,
        vec![copy(
            "p2",
            HOUR,
            4_800_000,
            vec![("urgent", AttrValue::Bool(true))]
        )]
    );
    // The brute-force oracle, which copies straight from the events, agrees.
    assert_eq!(warnings, oracle(&pack, &events(), Duration::ZERO));
}

#[test]
fn copies_survive_a_snapshot_and_restore() {
    let pack = pack(&PACK.replace("{COPIES}", ""));
    let config = EngineConfig {
        allowed_lateness: Duration::ZERO,
        ..EngineConfig::default()
    };
    let mut first = Engine::new(Arc::clone(&pack), config);
    let mut out = Vec::new();
    first.ingest(events()[0].clone(), &mut out);
    let snap = first.snapshot(|_, _| true);
    let json = serde_json::to_string(&snap).unwrap();
    let mut second = Engine::new(Arc::clone(&pack), config);
    second
        .restore(&serde_json::from_str(&json).unwrap())
        .unwrap();
    second.ingest(events()[1].clone(), &mut out);
    second.flush(&mut out);
    let split = out
        .iter()
        .find(|w| w.rule_id == "split")
        .unwrap_or_else(|| panic!("no split warning in {out:?}"));
    assert_eq!(
        split.evidence_events,
        vec![
            copy("p1", 0, 4_900_000, vec![bank()]),
            copy("p2", HOUR, 4_800_000, vec![bank()]),
        ]
    );
}

#[test]
fn a_pack_without_copies_lists_ids_only() {
    let pack = pack(&PACK.replace("{COPIES}", "evidence_copies = false"));
    assert!(!pack.evidence_copies());
    let warnings = run(&pack, &events(), Duration::ZERO);
    assert_eq!(warnings.len(), 2);
    for w in &warnings {
        assert!(w.evidence_events.is_empty(), "{w:?}");
        assert!(!w.evidence.is_empty());
        assert!(!w.to_json().contains("\"events\""));
    }
    assert_eq!(warnings, oracle(&pack, &events(), Duration::ZERO));
}

#[test]
fn copies_are_capped_by_the_evidence_limit() {
    let text = PACK.replace("{COPIES}", "").replace(
        "red = { count = \">= 2\" }",
        "red = { count = \">= 2\" }\nevidence_limit = 3",
    );
    let pack = pack(&text);
    let events: Vec<PowerEvent> = (0..6)
        .map(|i| {
            Ev::new(&format!("p{i}"), "o1", "payment", i * HOUR)
                .to("SUP-1")
                .amount(100)
                .s("channel", "bank")
                .build()
        })
        .collect();
    let warnings = run(&pack, &events, Duration::ZERO);
    let last = warnings.iter().rfind(|w| w.rule_id == "split").unwrap();
    assert_eq!(last.evidence_total, 6);
    assert_eq!(last.evidence, vec!["p3", "p4", "p5"]);
    assert_eq!(
        last.evidence_events
            .iter()
            .map(|c| c.event_id.as_str())
            .collect::<Vec<_>>(),
        vec!["p3", "p4", "p5"]
    );
}
