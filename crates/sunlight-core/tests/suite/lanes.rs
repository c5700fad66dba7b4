//! Lanes (`sunlight_core::lanes`): the default pack split into the officials lane and
//! one lane per entity key, each on several engines that see only their partition's
//! events, gives exactly the warnings of one engine that sees everything, once the
//! entity lanes' warnings are carried into the officials lane.

use std::path::Path;
use std::sync::Arc;

use sunlight_core::lanes::{Lane, carried_warning, carrier_event, partition_key};
use sunlight_core::rules::load_pack_in;
use sunlight_core::time::Duration;
use sunlight_core::{Admission, CompiledPack, Engine, EngineConfig, PowerEvent, Warning};

use crate::common::{pack_file, run};

fn default_pack_in(lane: &Lane) -> Arc<CompiledPack> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    Arc::new(load_pack_in(&path, lane).unwrap_or_else(|e| panic!("{e}")))
}

/// The generated workload with every scenario, entity-crossing ones included.
fn workload() -> Vec<PowerEvent> {
    use sunlight_gen::scenarios::KINDS;
    use sunlight_gen::{GenConfig, Generator};
    let mut events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: 20_000,
        officials: KINDS.len() as u32 * 20,
        scenario_every: 10,
        ..GenConfig::default()
    })
    .collect();
    events.sort_by_key(|e| e.occurred_at);
    events
}

/// The partition a record key lands on (any deterministic hash does).
fn partition(key: &str, partitions: u64) -> usize {
    (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % partitions) as usize
}

/// Canonical order for comparing warning sets produced by different engines.
fn sorted(mut warnings: Vec<Warning>) -> Vec<Warning> {
    warnings.sort_by(|a, b| a.warning_id.cmp(&b.warning_id));
    warnings
}

#[test]
fn lanes_on_several_engines_equal_one_engine_with_every_rule() {
    let events = workload();
    let lateness = Duration::from_secs(60);
    let whole = sorted(run(&pack_file("rules/default.toml"), &events, lateness));
    let keys: Vec<String> = default_pack_in(&Lane::All)
        .entity_keyed_rules()
        .into_iter()
        .map(|(_, key)| key.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        keys,
        [
            "attributes.contract_id",
            "attributes.vehicle",
            "counterparty",
            "counterparty,attributes.invoice_no"
        ]
    );
    // Each entity lane on 3 engines, input re-keyed by its key.
    let mut carriers: Vec<PowerEvent> = Vec::new();
    let mut from_entity_lanes = 0;
    for key in &keys {
        let lane = Lane::parse(key).unwrap();
        let Lane::Entity(fields) = &lane else {
            unreachable!()
        };
        let pack = default_pack_in(&lane);
        // Only the rules of its key.
        assert!(
            pack.entity_keyed_rules()
                .iter()
                .all(|(_, k)| *k == key.as_str())
        );
        assert_eq!(pack.entity_keyed_rules().len(), pack.rules.len());
        let mut inputs: Vec<Vec<PowerEvent>> = vec![Vec::new(); 3];
        for e in &events {
            if let Some(k) = partition_key(e, fields) {
                inputs[partition(&k, 3)].push(e.clone());
            }
        }
        for input in &inputs {
            let warnings = run(&pack, input, lateness);
            from_entity_lanes += warnings.len();
            carriers.extend(warnings.iter().map(carrier_event));
        }
    }
    assert!(from_entity_lanes > 10, "the entity lanes fire");
    // The officials lane on 2 engines, keyed by official_id: its events and the
    // carriers of its officials, which arrive later than the events they follow.
    let pack = default_pack_in(&Lane::Officials);
    assert!(pack.entity_keyed_rules().is_empty());
    let mut got = Vec::new();
    for p in 0..2 {
        let mut input: Vec<PowerEvent> = events
            .iter()
            .filter(|e| partition(&e.official_id, 2) == p)
            .cloned()
            .collect();
        input.extend(
            carriers
                .iter()
                .filter(|c| partition(&c.official_id, 2) == p)
                .cloned(),
        );
        got.extend(run(&pack, &input, lateness));
    }
    assert_eq!(got.len(), whole.len());
    assert_eq!(sorted(got), whole);
}

#[test]
fn a_carrier_round_trips_its_warning_and_only_the_officials_lane_takes_it() {
    let vehicle = Lane::parse("attributes.vehicle").unwrap();
    let lateness = Duration::from_secs(60);
    let warnings = run(&default_pack_in(&vehicle), &workload(), lateness);
    let warning = warnings
        .iter()
        .find(|w| !w.officials.is_empty() && !w.evidence_events.is_empty())
        .expect("a vehicle warning naming officials, with copies");
    let carrier = carrier_event(warning);
    assert_eq!(carrier.kind, sunlight_core::lanes::CARRIER_KIND);
    assert_eq!(carrier.official_id, warning.official_id);
    assert_eq!(carried_warning(&carrier).as_ref(), Ok(warning));
    // Through the JSON codec with its default limits, however large the warning: its
    // JSON is split into parts of at most 16,000 bytes.
    let mut large = warning.clone();
    large.title = "长".repeat(20_000);
    let carrier_of_large = carrier_event(&large);
    let parts: Vec<&str> = carrier_of_large
        .attributes
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(parts, ["warning.0", "warning.1", "warning.2", "warning.3"]);
    let mut json = String::new();
    sunlight_core::codec::json::encode(&carrier_of_large, &mut json);
    let (decoded, _, _) = sunlight_core::codec::decode_message(
        json.as_bytes(),
        sunlight_core::codec::Format::Json,
        &sunlight_core::codec::DecodeLimits::default(),
    )
    .expect("a carrier passes the default limits");
    assert_eq!(carried_warning(&decoded), Ok(large));

    let engine = |lane: &Lane| {
        Engine::new(
            default_pack_in(lane),
            EngineConfig {
                allowed_lateness: lateness,
                ..EngineConfig::default()
            },
        )
    };
    // The officials lane emits it at once, even behind its watermark.
    let mut officials = engine(&Lane::Officials);
    let mut out = Vec::new();
    let mut later = PowerEvent::new("x", "o", "other", warning.occurred_at);
    later.occurred_at.0 += 400 * 86_400 * 1_000_000_000;
    officials.ingest(later, &mut out);
    assert_eq!(
        officials.ingest_from(carrier.clone(), 7, &mut out),
        Admission::Carried
    );
    let mut expected = warning.clone();
    expected.trigger_source = 7;
    assert_eq!(out, vec![expected]);
    assert_eq!(officials.stats().carried, 1);
    // Lane `all` and an entity lane refuse it, as does the officials lane when it is
    // damaged.
    let refused =
        |engine: &mut Engine, carrier: PowerEvent| match engine.ingest(carrier, &mut Vec::new()) {
            Admission::Refused(e) => format!("{}: {}", e.reason.code(), e.detail),
            other => panic!("{other:?}"),
        };
    for lane in [vehicle.clone(), Lane::All] {
        assert_eq!(
            refused(&mut engine(&lane), carrier.clone()),
            format!(
                "wrong_type: carrier `{}` reached the lane `{lane}`: carriers go to the input of the officials lane (`--lane officials`)",
                carrier.event_id
            )
        );
    }
    let mut renamed = carrier.clone();
    renamed.event_id = "lane:other".into();
    assert_eq!(
        refused(&mut officials, renamed),
        format!(
            "wrong_type: carrier `lane:other` holds warning `{}`",
            warning.warning_id
        )
    );
    let mut emptied = carrier.clone();
    emptied.attributes.clear();
    assert_eq!(
        refused(&mut officials, emptied),
        format!(
            "wrong_type: carrier `{}` has no text attribute `warning.0`",
            carrier.event_id
        )
    );
}

#[test]
fn lanes_parse_and_a_lane_without_rules_is_an_error() {
    assert_eq!(Lane::parse("all"), Ok(Lane::All));
    assert_eq!(Lane::parse("officials"), Ok(Lane::Officials));
    let lane = Lane::parse(" counterparty , attributes.invoice_no ").unwrap();
    assert_eq!(lane.to_string(), "counterparty,attributes.invoice_no");
    assert_eq!(
        Lane::parse("official_id"),
        Err("`official_id` is the officials lane: use `officials`".into())
    );
    assert_eq!(
        Lane::parse("attributes."),
        Err("unknown field `attributes.`".into())
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    let err = load_pack_in(&path, &Lane::parse("attributes.invoice_no").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "rule `pack`, field `lane`: no enabled rule is keyed by `attributes.invoice_no` (the pack's entity keys: attributes.contract_id; attributes.vehicle; counterparty; counterparty,attributes.invoice_no)"
        ),
        "{err}"
    );
}
