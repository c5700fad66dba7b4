//! `sunlight demo`: the embedded broker, the simulated source systems (some of them
//! publishing department records through the example mappings) and the live engine in
//! one process print exactly the warnings an engine gives over the same simulated
//! activity, each department record mapped as the demo maps it.

use std::sync::Arc;

use sunlight_core::sources::{Mapped, compile};
use sunlight_core::{CompiledPack, Engine, EngineConfig};
use sunlight_gen::departments::{self, FEEDS};
use sunlight_gen::{GenConfig, Generator};

use crate::support::{repo, sunlight};

/// (rule, trigger event) of every warning the engine gives over the demo's activity
/// (department records mapped when `mapped`, else every event native); the records
/// and how many of them are department records.
fn engine_warnings(config: GenConfig, mapped: bool) -> (Vec<(String, String)>, u64, u64) {
    let file = compile(&departments::mapping_text(), "feeds").unwrap();
    let pack = Arc::new(CompiledPack::load(&repo("rules/default.toml")).unwrap());
    let mut engine = Engine::new(pack, EngineConfig::default());
    let mut warnings = Vec::new();
    let (mut records, mut from_departments) = (0, 0);
    for (position, e) in Generator::new(config).enumerate() {
        records += 1;
        let event = match departments::render(&e, position as u64) {
            Some((feed, record)) if mapped => {
                from_departments += 1;
                match file.named(FEEDS[feed].name).unwrap().map(record.as_bytes()) {
                    Ok(Mapped::Event(mapped)) => mapped,
                    other => panic!("{record}: {other:?}"),
                }
            }
            _ => e,
        };
        engine.ingest(event, &mut warnings);
    }
    engine.flush(&mut warnings);
    let mut out: Vec<(String, String)> = warnings
        .iter()
        .map(|w| (w.rule_id.to_string(), w.trigger_event_id.to_string()))
        .collect();
    out.sort();
    (out, records, from_departments)
}

/// (rule, trigger event) of a printed warning line.
fn printed(line: &str) -> (String, String) {
    let (_, rest) = line.split_once("] ").unwrap();
    let rule = rest.split_whitespace().next().unwrap().to_string();
    let (_, trigger) = line.rsplit_once(", trigger ").unwrap();
    (rule, trigger.trim_end_matches(')').to_string())
}

#[test]
fn demo_prints_the_warnings_an_engine_gives_over_the_same_activity() {
    let (expected, records, from_departments) = engine_warnings(
        GenConfig {
            events: 2000,
            officials: 60,
            seed: 11,
            scenario_every: 10,
            ..GenConfig::default()
        },
        true,
    );
    assert!(expected.len() >= 5, "{expected:?}");
    assert!(
        expected.iter().any(|(_, t)| t.starts_with("ledger:")),
        "warnings triggered by department data: {expected:?}"
    );

    let out = sunlight()
        .current_dir(repo(""))
        .args(["demo", "--rate", "20000", "--duration", "20s"])
        .args(["--http-addr", "127.0.0.1:0"])
        .args(["--events", "2000", "--officials", "60", "--seed", "11"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("embedded Kafka-protocol broker (librdkafka mock cluster): 127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  department data, mapped by examples/sources/: finance.ledger (finance-ledger), personnel.appointments (personnel-appointments), procurement.gov_purchase.bid_award (procurement-awards), fleet.fuel_card_txn (fuel-cards)\n"),
        "{stdout}"
    );
    let mut got: Vec<(String, String)> = stdout
        .lines()
        .filter(|l| l.starts_with("[RED") || l.starts_with("[YELLOW"))
        .map(printed)
        .collect();
    got.sort();
    assert_eq!(got, expected, "{stdout}");
    let summary = format!(
        "stopped: published {records} records ({from_departments} as department data); engine consumed {records}, produced {} warnings and 0 dead letters; {} warnings printed",
        expected.len(),
        expected.len()
    );
    assert!(stdout.contains(&summary), "{stdout}");
}

#[test]
fn department_records_give_the_warnings_their_events_give() {
    let config = GenConfig {
        events: 20_000,
        officials: 300,
        seed: 5,
        scenario_every: 2,
        ..GenConfig::default()
    };
    let (native, _, _) = engine_warnings(config.clone(), false);
    let (mapped, records, from_departments) = engine_warnings(config, true);
    assert!(
        from_departments > records / 2,
        "{from_departments} of {records}"
    );
    // The same warnings: the same rules, triggered by the same events under the
    // feeds' ids (`ledger:EV-1` for `EV-1`; awards get ids from binlog positions).
    let rules = |w: &[(String, String)]| {
        let mut r: Vec<String> = w.iter().map(|(rule, _)| rule.clone()).collect();
        r.sort();
        r
    };
    assert_eq!(rules(&mapped), rules(&native));
    for (rule, trigger) in &mapped {
        if let Some(id) = trigger
            .strip_prefix("ledger:")
            .or(trigger.strip_prefix("fuel:"))
        {
            assert!(
                native.contains(&(rule.clone(), id.to_string())),
                "{rule} {trigger}"
            );
        }
    }
    for prefix in ["ledger:", "fuel:", "award:", "appointment:"] {
        assert!(
            mapped.iter().any(|(_, t)| t.starts_with(prefix)),
            "a warning triggered by {prefix} records: {mapped:?}"
        );
    }
}
