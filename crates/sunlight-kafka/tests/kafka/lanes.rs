//! Lanes on Kafka (mock cluster): source events keyed by event id are re-keyed twice,
//! by official and by invoice; the invoice lane writes its warnings as carriers to the
//! officials lane's input (two partitions each), and the officials lane
//! publishes them with its own. The warnings topic then holds exactly what one engine
//! with those rules gives, including an invoice paid by two officials.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rdkafka::mocking::MockCluster;
use sunlight_core::lanes::Lane;
use sunlight_core::rules::load_pack_in;
use sunlight_kafka::{KafkaConfig, WarningFormat};

use crate::support::*;

fn pack_in(lane: &Lane) -> Arc<sunlight_core::CompiledPack> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    Arc::new(load_pack_in(&path, lane).expect("the default pack in a lane"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_lane_hands_its_warnings_to_the_officials_lane() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (raw, by_official, by_invoice, warnings, dlq) = (
        unique("raw"),
        unique("by-official"),
        unique("by-invoice"),
        unique("warnings"),
        unique("dlq"),
    );
    for (topic, partitions) in [
        (&raw, 3),
        (&by_official, 2),
        (&by_invoice, 2),
        (&warnings, 1),
        (&dlq, 1),
    ] {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    let (whole, events, _) = workload(43);
    let invoice = Lane::parse("counterparty,attributes.invoice_no").unwrap();
    let Lane::Entity(invoice_key) = invoice.clone() else {
        unreachable!()
    };
    let invoice_fields = invoice_key.clone();
    // What one engine with every rule but those of the other entity keys gives.
    let others: BTreeSet<&str> = whole
        .entity_keyed_rules()
        .into_iter()
        .filter(|(_, key)| *key != "counterparty,attributes.invoice_no")
        .map(|(id, _)| id)
        .collect();
    let replayed = replay_warnings(&whole, &events);
    let expected: BTreeSet<String> = replayed
        .iter()
        .filter(|w| !others.contains(w.rule_id.as_str()))
        .map(|w| w.warning_id.clone())
        .collect();
    let crossing: Vec<&sunlight_core::Warning> = replayed
        .iter()
        .filter(|w| w.rule_id == "duplicate-payment" && w.officials.len() == 2)
        .collect();
    assert!(!crossing.is_empty(), "an invoice paid by two officials");

    produce_with(
        &brokers,
        &raw,
        &events,
        |e| e.event_id.to_string(),
        contract_json,
    )
    .await;
    let rekeyed = [
        start_repartition(&brokers, &raw, &by_official, &dlq, Vec::new()),
        start_repartition(&brokers, &raw, &by_invoice, &dlq, invoice_key.clone()),
    ];
    // Re-keying interleaves the source partitions (see repartition.rs).
    let engine = sunlight_core::EngineConfig {
        allowed_lateness: sunlight_core::time::Duration::from_secs(400 * 86_400),
        ..sunlight_core::EngineConfig::default()
    };
    let lane_config = |input: &str, out: &str, group: &str, format| KafkaConfig {
        warnings_format: format,
        ..config(&brokers, group, input, out, &dlq)
    };
    let services = || sunlight_kafka::Services::new(Arc::new(sunlight_kafka::Health::default()));
    let (invoice_group, officials_group) = (unique("invoice-lane"), unique("officials-lane"));
    let invoice_pack = pack_in(&invoice);
    let officials_pack = pack_in(&Lane::Officials);
    // One instance per lane: several engines per lane are the core test's
    // (`crates/sunlight-core/tests/suite/lanes.rs`); here the carriers cross a broker.
    let running = [
        start_with(
            lane_config(
                &by_invoice,
                &by_official,
                &invoice_group,
                WarningFormat::Carrier,
            ),
            &invoice_pack,
            engine,
            services(),
        ),
        start_with(
            lane_config(
                &by_official,
                &warnings,
                &officials_group,
                WarningFormat::Json,
            ),
            &officials_pack,
            engine,
            services(),
        ),
    ];
    let got = await_warning_ids(&brokers, &warnings, &expected, StdDuration::from_secs(90)).await;
    let published = read_topic(&brokers, &warnings, usize::MAX, StdDuration::from_secs(3)).await;
    let mut carried = 0;
    for (stop, task) in running {
        let _ = stop.send(());
        carried += task.await.unwrap().unwrap().carried;
    }
    // Every event re-keyed (the last ones may trigger nothing, so the warnings can
    // be complete before): then the steps stop.
    let with_invoice = events
        .iter()
        .filter(|e| sunlight_core::lanes::partition_key(e, &invoice_fields).is_some())
        .count();
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    // (The officials lane's input also holds the invoice lane's carriers.)
    let carriers = replayed
        .iter()
        .filter(|w| w.rule_id == "duplicate-payment")
        .count();
    while (records_in(&brokers, &by_invoice, 2) < with_invoice
        || records_in(&brokers, &by_official, 2) < events.len() + carriers)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
    let mut rekey_stats = Vec::new();
    for (stop, task) in rekeyed {
        let _ = stop.send(());
        rekey_stats.push(task.await.unwrap().unwrap());
    }
    assert_eq!(got, expected);
    // By official: every event. By invoice: those with both fields; the others read
    // are skipped, none dead-lettered.
    let (n, with_invoice) = (events.len() as u64, with_invoice as u64);
    assert!(with_invoice > 0 && with_invoice < n);
    let (official, invoice) = (&rekey_stats[0], &rekey_stats[1]);
    assert_eq!((official.forwarded, official.skipped), (n, 0));
    assert_eq!(invoice.forwarded, with_invoice);
    assert_eq!(invoice.consumed, invoice.forwarded + invoice.skipped);
    assert!(invoice.skipped > 0 && invoice.skipped <= n - with_invoice);
    assert_eq!(invoice.dead_letters, 0);
    let from_invoice_lane = replayed
        .iter()
        .filter(|w| w.rule_id == "duplicate-payment")
        .count() as u64;
    assert!(
        carried >= from_invoice_lane,
        "{carried} carried, {from_invoice_lane} from the invoice lane"
    );
    // The carried warning is published as the contract says, naming both officials.
    let first = crossing[0];
    let doc: serde_json::Value = published
        .iter()
        .map(|(p, _)| serde_json::from_str::<serde_json::Value>(p).unwrap())
        .find(|d| d["warning_id"] == first.warning_id.as_str())
        .expect("the crossing warning is published");
    let mut want: serde_json::Value = serde_json::from_str(&first.to_json()).unwrap();
    want["detected_at"] = doc["detected_at"].clone();
    assert_eq!(doc, want);
    assert_eq!(records_in(&brokers, &dlq, 1), 0, "no carrier was refused");
}
