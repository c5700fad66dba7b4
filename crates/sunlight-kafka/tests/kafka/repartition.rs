//! Repartitioning (mock cluster): events keyed by event_id go through the re-keying
//! step into an internal topic keyed by official_id; the engine reading it sees no
//! key mismatch and publishes exactly the replay's warnings; a record without a
//! readable official_id is dead-lettered with its reason.

use std::time::Duration as StdDuration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_keyed_by_something_else_is_re_keyed_by_official() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (raw, internal, warnings, dlq) = (
        unique("raw"),
        unique("by-official"),
        unique("warnings"),
        unique("dlq"),
    );
    cluster.create_topic(&raw, 3, 1).unwrap();
    cluster.create_topic(&internal, 3, 1).unwrap();
    cluster.create_topic(&warnings, 1, 1).unwrap();
    cluster.create_topic(&dlq, 1, 1).unwrap();
    let (pack, events, expected) = workload(41);
    produce_with(
        &brokers,
        &raw,
        &events,
        |e| e.event_id.to_string(),
        contract_json,
    )
    .await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&raw)
                .key("x")
                .payload("{\"event_id\":\"no-official\"}"),
            StdDuration::from_secs(5),
        )
        .await
        .unwrap();

    let (stop_re, repartitioner) = start_repartition(&brokers, &raw, &internal, &dlq, Vec::new());
    // Re-keying interleaves the source partitions: a backlog read from them arrives
    // on each internal partition out of event-time order by up to the backlog's
    // span, so the allowed lateness must cover that (live, the skew between source
    // partitions is what matters; docs/STATE.md).
    let engine_config = sunlight_core::EngineConfig {
        allowed_lateness: sunlight_core::time::Duration::from_secs(400 * 86_400),
        ..sunlight_core::EngineConfig::default()
    };
    let (stop, engine) = start_with(
        crate::support::config(&brokers, &unique("sunlight"), &internal, &warnings, &dlq),
        &pack,
        engine_config,
        sunlight_kafka::Services::new(std::sync::Arc::new(sunlight_kafka::Health::default())),
    );
    let got = await_warning_ids(&brokers, &warnings, &expected, StdDuration::from_secs(60)).await;
    await_consumed(&internal, events.len()).await;
    let dead = read_topic(&brokers, &dlq, 1, StdDuration::from_secs(30)).await;
    let _ = stop.send(());
    let _ = stop_re.send(());
    let stats = engine.await.unwrap().unwrap();
    let re = repartitioner.await.unwrap().unwrap();
    assert_eq!(got, expected);
    assert_eq!(
        stats.key_mismatches, 0,
        "every record keyed by its official"
    );
    assert_eq!(stats.consumed, events.len() as u64);
    assert_eq!(
        (re.consumed, re.forwarded, re.dead_letters),
        (events.len() as u64 + 1, events.len() as u64, 1)
    );
    let reason = dead[0]
        .1
        .iter()
        .find(|(k, _)| k == "sunlight.reason")
        .map(|(_, v)| v.as_str());
    assert_eq!(reason, Some("missing_field"));
}
