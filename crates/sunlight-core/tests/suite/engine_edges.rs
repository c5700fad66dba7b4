//! Engine edge cases found in review: duplicates across the watermark, the extremes
//! of the time range.

use std::sync::Arc;

use sunlight_core::engine::Admission;
use sunlight_core::time::{Duration, Timestamp};
use sunlight_core::{Engine, EngineConfig, PowerEvent};

use crate::common::{DETECTED, at, fired, oracle, pack, run};

const COUNT_PACK: &str = r#"
[pack]
name = "edges"
version = "1"

[[rule]]
id = "two"
version = 1
kind = "aggregate"
title = "{count}"
window = "1d"
filter = { kind = "payment" }
yellow = { count = ">= 2" }
"#;

fn clock() -> Timestamp {
    DETECTED
}

#[test]
fn a_repeated_id_is_never_counted_twice_even_with_another_timestamp() {
    let pack = pack(COUNT_PACK);
    let mut engine = Engine::new(
        Arc::clone(&pack),
        EngineConfig {
            allowed_lateness: Duration::ZERO,
            clock,
            ..EngineConfig::default()
        },
    );
    let mut out = Vec::new();
    let e1 = PowerEvent::new("e1", "o", "payment", at(0));
    let e2 = PowerEvent::new("e2", "o", "other", at(3_600));
    let e1_again_late = PowerEvent::new("e1", "o", "payment", at(0));
    let e1_conflicting = PowerEvent::new("e1", "o", "payment", at(7_200));
    assert_eq!(engine.ingest(e1, &mut out), Admission::Accepted);
    assert_eq!(engine.ingest(e2, &mut out), Admission::Unmatched);
    // An exact redelivery after release: a duplicate, not a late event.
    assert_eq!(engine.ingest(e1_again_late, &mut out), Admission::Duplicate);
    // A copy with another timestamp is admitted, then recognised on release.
    assert_eq!(engine.ingest(e1_conflicting, &mut out), Admission::Accepted);
    engine.flush(&mut out);
    assert_eq!(fired(&out), vec![]);
    assert_eq!(engine.stats().duplicates, 2);
    assert_eq!(engine.stats().late, 0);
}

#[test]
fn events_at_the_last_representable_instant_are_evaluated() {
    let pack = pack(COUNT_PACK);
    let events = vec![
        PowerEvent::new("a", "o", "payment", Timestamp(i64::MAX)),
        PowerEvent::new("b", "o", "payment", Timestamp(i64::MAX)),
    ];
    let got = run(&pack, &events, Duration::from_secs(60));
    assert_eq!(got, oracle(&pack, &events, Duration::from_secs(60)));
    // Peers: each of the two sees both.
    let w = |t: &str| ("two".to_string(), "yellow", t.to_string());
    assert_eq!(fired(&got), vec![w("a"), w("b")]);
    let first = vec![
        PowerEvent::new("a", "o", "payment", Timestamp(i64::MIN)),
        PowerEvent::new("b", "o", "payment", Timestamp(i64::MIN)),
    ];
    let got = run(&pack, &first, Duration::from_secs(60));
    assert_eq!(got, oracle(&pack, &first, Duration::from_secs(60)));
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0].window_start,
        Timestamp(i64::MIN),
        "the window start saturates"
    );
}

#[test]
fn reloaded_relations_apply_to_the_next_events() {
    let dir = std::env::temp_dir().join(format!("sunlight-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("relations.csv"),
        "official_id,counterparty,relation\no,ACME,spouse\n",
    )
    .unwrap();
    let text = r#"
[pack]
name = "reload"
version = "1"
[reference]
relations = "relations.csv"
[[rule]]
id = "related"
version = 1
kind = "related_party"
title = "{counterparty} ({relation})"
level = "red"
filter = { kind = "payment" }
"#;
    let pack = Arc::new(sunlight_core::rules::compile_pack(text, &dir, "reload").unwrap());
    let mut engine = Engine::new(
        Arc::clone(&pack),
        EngineConfig {
            allowed_lateness: Duration::ZERO,
            clock,
            ..EngineConfig::default()
        },
    );
    let mut out = Vec::new();
    let pay = |id: &str, secs: i64, to: &str| {
        let mut e = PowerEvent::new(id, "o", "payment", at(secs));
        e.counterparty = Some(to.into());
        e
    };
    engine.ingest(pay("p1", 0, "ACME"), &mut out);
    engine.ingest(pay("p2", 10, "Beta"), &mut out);
    engine.advance_watermark(at(20), &mut out);
    std::fs::write(
        dir.join("relations.csv"),
        "official_id,counterparty,relation\no,Beta,brother\n",
    )
    .unwrap();
    assert_eq!(pack.relations.as_ref().unwrap().reload().unwrap(), 1);
    engine.ingest(pay("p3", 30, "ACME"), &mut out);
    engine.ingest(pay("p4", 40, "Beta"), &mut out);
    engine.flush(&mut out);
    let titles: Vec<&str> = out.iter().map(|w| w.title.as_str()).collect();
    assert_eq!(titles, vec!["ACME (spouse)", "Beta (brother)"]);
    assert_eq!(
        fired(&out).iter().map(|f| f.2.as_str()).collect::<Vec<_>>(),
        vec!["p1", "p4"]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
