//! The pipeline against librdkafka's in-process mock cluster (a real Kafka-protocol
//! broker in the test process): warnings equal a replay of the same events, and bad
//! input lands in the dead-letter topic with its reason.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::codec::DecodeLimits;
use sunlight_core::time::Duration;
use sunlight_core::{CompiledPack, Engine, EngineConfig, PowerEvent};
use sunlight_gen::{GenConfig, Generator};
use sunlight_kafka::KafkaConfig;

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Reads partition 0 of `topic` from the start until `want` records arrived or
/// `timeout` passed. Assigns the partition directly: no group join to wait for.
async fn read_topic(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: StdDuration,
) -> Vec<(String, Vec<(String, String)>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < want {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let payload = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push((payload, headers));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warnings_equal_replay_and_bad_input_is_dead_lettered() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    cluster.create_topic(&input, 3, 1).expect("input topic");
    cluster
        .create_topic(&warnings, 1, 1)
        .expect("warnings topic");
    cluster.create_topic(&dlq, 1, 1).expect("dlq topic");

    let (pack, events, expected) = workload(7);

    // A standard client produces the events, keyed by official_id, plus bad input.
    produce_all(&brokers, &input, &events).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    for bad in [
        "not json",
        r#"{"event_id":"x","kind":"payment","occurred_at":"2026-02-01T00:00:00Z"}"#,
    ] {
        producer
            .send(
                FutureRecord::to(&input).key("OF-00001").payload(bad),
                StdDuration::from_secs(5),
            )
            .await
            .expect("produce bad input");
    }

    let (stop, pipeline) = start(
        config(&brokers, &unique("sunlight"), &input, &warnings, &dlq),
        &pack,
    );

    let got = read_topic(
        &brokers,
        &warnings,
        expected.len(),
        StdDuration::from_secs(60),
    )
    .await;
    let dead = read_topic(&brokers, &dlq, 2, StdDuration::from_secs(30)).await;
    let _ = stop.send(());
    let stats = pipeline
        .await
        .expect("pipeline task")
        .expect("pipeline ran");

    let ids = distinct_ids(&got);
    assert_eq!(
        ids, expected,
        "the live pipeline emits exactly the replay's warnings"
    );
    for (payload, headers) in &got {
        let w: serde_json::Value = serde_json::from_str(payload).expect("warning JSON");
        let header = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("ce_id"), w["warning_id"].as_str());
        assert_eq!(header("ce_specversion"), Some("1.0"));
        assert_eq!(header("content-type"), Some("application/json"));
    }
    let reasons: BTreeSet<&str> = dead
        .iter()
        .map(|(_, h)| {
            h.iter()
                .find(|(k, _)| k == "sunlight.reason")
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(reasons, BTreeSet::from(["invalid_json", "missing_field"]));
    assert!(
        dead.iter().any(|(payload, _)| payload == "not json"),
        "original bytes kept"
    );
    assert_eq!(stats.consumed, events.len() as u64 + 2);
    assert_eq!(stats.dead_letters, 2);
    assert_eq!(stats.warnings, expected.len() as u64);
    assert_eq!(stats.key_mismatches, 0);
}

/// Generated events and the warning ids a replay of them gives.
fn workload(seed: u64) -> (Arc<CompiledPack>, Vec<PowerEvent>, BTreeSet<String>) {
    let pack_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    let pack = Arc::new(CompiledPack::load(&pack_path).expect("default pack"));
    let events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: 2_000,
        officials: 40,
        days: 120,
        scenario_every: 3,
        seed,
        ..GenConfig::default()
    })
    .collect();
    let mut engine = Engine::new(Arc::clone(&pack), EngineConfig::default());
    let mut warnings = Vec::new();
    for e in &events {
        engine.ingest(e.clone(), &mut warnings);
    }
    engine.flush(&mut warnings);
    let expected: BTreeSet<String> = warnings.into_iter().map(|w| w.warning_id).collect();
    assert!(expected.len() > 10, "{}", expected.len());
    (pack, events, expected)
}

async fn produce_all(brokers: &str, topic: &str, events: &[PowerEvent]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let sends = events.iter().map(|e| {
        let mut text = String::new();
        sunlight_core::codec::json::encode(e, &mut text);
        let producer = &producer;
        async move {
            producer
                .send(
                    FutureRecord::to(topic)
                        .key(e.official_id.as_str())
                        .payload(&text),
                    StdDuration::from_secs(30),
                )
                .await
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;
}

fn config(brokers: &str, group: &str, input: &str, warnings: &str, dlq: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        group: group.to_string(),
        input_topics: vec![input.to_string()],
        warnings_topic: warnings.to_string(),
        dlq_topic: dlq.to_string(),
        idle_timeout: Duration::from_secs(1),
        commit_interval: Duration(200_000_000),
        ..KafkaConfig::default()
    }
}

type Running = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<sunlight_kafka::RunStats, sunlight_kafka::PipelineError>>,
);

fn start(config: KafkaConfig, pack: &Arc<CompiledPack>) -> Running {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pack = Arc::clone(pack);
    let task = tokio::spawn(async move {
        sunlight_kafka::run(
            &config,
            pack,
            EngineConfig::default(),
            DecodeLimits::default(),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    (stop, task)
}

fn distinct_ids(records: &[(String, Vec<(String, String)>)]) -> BTreeSet<String> {
    records
        .iter()
        .map(|(payload, _)| {
            let w: serde_json::Value = serde_json::from_str(payload).expect("warning JSON");
            w["warning_id"].as_str().expect("warning_id").to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_stream_loses_no_warning() {
    let (pack, events, expected) = workload(21);
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq, group) = (
        unique("events"),
        unique("warnings"),
        unique("dlq"),
        unique("group"),
    );
    cluster.create_topic(&input, 3, 1).expect("topic");
    cluster.create_topic(&warnings, 1, 1).expect("topic");
    cluster.create_topic(&dlq, 1, 1).expect("topic");

    let half = events.len() / 2;
    produce_all(&brokers, &input, &events[..half]).await;
    let (stop, task) = start(config(&brokers, &group, &input, &warnings, &dlq), &pack);
    // Let the first engine consume the first half, release idle partitions, commit.
    tokio::time::sleep(StdDuration::from_secs(8)).await;
    let _ = stop.send(());
    let first_stats = task.await.expect("task").expect("first run");
    assert_eq!(first_stats.consumed, half as u64, "{first_stats:?}");
    assert!(
        first_stats.commits > 0,
        "the first engine committed: {first_stats:?}"
    );

    produce_all(&brokers, &input, &events[half..]).await;
    let (stop, task) = start(config(&brokers, &group, &input, &warnings, &dlq), &pack);
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
    let mut got = BTreeSet::new();
    while got != expected && tokio::time::Instant::now() < deadline {
        got = distinct_ids(
            &read_topic(&brokers, &warnings, usize::MAX, StdDuration::from_secs(3)).await,
        );
    }
    let _ = stop.send(());
    let second_stats = task.await.expect("task").expect("second run");
    assert_eq!(got, expected, "nothing lost across the restart");
    // The second engine re-read at least the new half, plus whatever windows still
    // needed: with the default pack's 10-year contract rule that is everything
    // (window state is in memory until durable state lands).
    assert!(
        second_stats.consumed >= (events.len() - half) as u64,
        "{second_stats:?}"
    );
    assert!(
        second_stats.consumed <= events.len() as u64,
        "{second_stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_outage_and_request_errors_lose_nothing() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    let (pack, events, expected) = workload(33);
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq, group) = (
        unique("events"),
        unique("warnings"),
        unique("dlq"),
        unique("group"),
    );
    cluster.create_topic(&input, 2, 1).expect("topic");
    cluster.create_topic(&warnings, 1, 1).expect("topic");
    cluster.create_topic(&dlq, 1, 1).expect("topic");

    let (stop, task) = start(config(&brokers, &group, &input, &warnings, &dlq), &pack);
    let third = events.len() / 3;
    produce_all(&brokers, &input, &events[..third]).await;
    // Produce requests time out, commits hit a moving coordinator, the broker drops
    // connections; then it goes down for two seconds.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT; 4],
    );
    cluster.request_errors(
        RDKafkaApiKey::OffsetCommit,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR; 3],
    );
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR__TRANSPORT; 2],
    );
    produce_all(&brokers, &input, &events[third..2 * third]).await;
    cluster.broker_down(1).expect("broker down");
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    cluster.broker_up(1).expect("broker up");
    produce_all(&brokers, &input, &events[2 * third..]).await;

    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(90);
    let mut got = BTreeSet::new();
    while got != expected && tokio::time::Instant::now() < deadline {
        got = distinct_ids(
            &read_topic(&brokers, &warnings, usize::MAX, StdDuration::from_secs(3)).await,
        );
    }
    let _ = stop.send(());
    let stats = task.await.expect("task").expect("run survives the faults");
    assert_eq!(got, expected, "no warning lost: {stats:?}");
    assert_eq!(
        stats.consumed,
        events.len() as u64,
        "every event consumed exactly once by one engine run"
    );
}
