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

/// Reads `topic` from the start until `want` records arrived or `timeout` passed.
async fn read_topic(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: StdDuration,
) -> Vec<(String, Vec<(String, String)>)> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("reader consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
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

    let pack_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    let pack = Arc::new(CompiledPack::load(&pack_path).expect("default pack"));
    let events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: 3_000,
        officials: 60,
        days: 120,
        scenario_every: 4,
        ..GenConfig::default()
    })
    .collect();

    // What a replay of the same events says.
    let mut engine = Engine::new(Arc::clone(&pack), EngineConfig::default());
    let mut expected = Vec::new();
    for e in &events {
        engine.ingest(e.clone(), &mut expected);
    }
    engine.flush(&mut expected);
    let expected: BTreeSet<String> = expected.into_iter().map(|w| w.warning_id).collect();
    assert!(
        expected.len() > 20,
        "the workload must produce warnings: {}",
        expected.len()
    );

    // A standard client produces the events, keyed by official_id, plus bad input.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    let sends = events.iter().map(|e| {
        let mut text = String::new();
        sunlight_core::codec::json::encode(e, &mut text);
        let producer = &producer;
        let topic = input.as_str();
        async move {
            producer
                .send(
                    FutureRecord::to(topic)
                        .key(e.official_id.as_str())
                        .payload(&text),
                    StdDuration::from_secs(10),
                )
                .await
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;
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

    let config = KafkaConfig {
        brokers: brokers.clone(),
        group: unique("sunlight"),
        input_topics: vec![input.clone()],
        warnings_topic: warnings.clone(),
        dlq_topic: dlq.clone(),
        idle_timeout: Duration::from_secs(1),
        commit_interval: Duration(200_000_000),
        ..KafkaConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run_pack = Arc::clone(&pack);
    let pipeline = tokio::spawn(async move {
        sunlight_kafka::run(
            &config,
            run_pack,
            EngineConfig::default(),
            DecodeLimits::default(),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });

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

    let ids: BTreeSet<String> = got
        .iter()
        .map(|(payload, _)| {
            let w: serde_json::Value = serde_json::from_str(payload).expect("warning JSON");
            w["warning_id"].as_str().expect("warning_id").to_string()
        })
        .collect();
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
