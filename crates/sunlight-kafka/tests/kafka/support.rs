//! Helpers shared by the Kafka tests: workloads, producing, reading topics, running
//! the pipeline, the metrics recorder.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration as StdDuration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::codec::DecodeLimits;
use sunlight_core::time::Duration;
use sunlight_core::{CompiledPack, Engine, EngineConfig, PowerEvent};
use sunlight_gen::{GenConfig, Generator};
use sunlight_kafka::KafkaConfig;

/// The process-wide Prometheus recorder (installed once per test binary). Metric
/// values are shared by every test in the binary: tests tell theirs apart by the
/// random topic names in the labels.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("install the metrics recorder")
    })
}

/// Waits (up to 30 s) until the pipelines of this test binary have consumed `n`
/// records of `topic`: the last records may trail the last warning, and a test that
/// counts them must not stop the engine before they arrive.
pub async fn await_consumed(topic: &str, n: usize) {
    let series = format!("sunlight_records_consumed_total{{topic=\"{topic}\"}}");
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while sample(&metrics().render(), &series) < n as f64 && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

/// Records in `topic` (the sum of its partitions' high watermarks).
pub fn records_in(brokers: &str, topic: &str, partitions: i32) -> usize {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("watermark client");
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, StdDuration::from_secs(10))
                .expect("watermarks");
            (high - low) as usize
        })
        .sum()
}

/// The value of one sample in a Prometheus text rendering (`name{labels}` exactly as
/// rendered, label order included), or 0 if absent.
pub fn sample(rendered: &str, series: &str) -> f64 {
    rendered
        .lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map_or(0.0, |v| v.trim().parse().expect("numeric sample"))
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A record read back: key (lossy text), payload, headers.
pub type Record = (String, Vec<u8>, Vec<(String, String)>);

/// Reads partition 0 of `topic` from the start until `want` records arrived or
/// `timeout` passed, payloads as text.
pub async fn read_topic(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: StdDuration,
) -> Vec<(String, Vec<(String, String)>)> {
    read_raw(brokers, topic, want, timeout)
        .await
        .into_iter()
        .map(|(payload, headers)| (String::from_utf8_lossy(&payload).to_string(), headers))
        .collect()
}

/// Reads partition 0 of `topic` from the start until `want` records arrived or
/// `timeout` passed: payloads and headers.
pub async fn read_raw(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: StdDuration,
) -> Vec<(Vec<u8>, Vec<(String, String)>)> {
    read_records(brokers, topic, want, timeout)
        .await
        .into_iter()
        .map(|(_, payload, headers)| (payload, headers))
        .collect()
}

/// Like [`read_raw`], with each record's key. Assigns the partition directly: no
/// group join to wait for.
pub async fn read_records(
    brokers: &str,
    topic: &str,
    want: usize,
    timeout: StdDuration,
) -> Vec<Record> {
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
        out.push((
            String::from_utf8_lossy(m.key().unwrap_or_default()).to_string(),
            m.payload().unwrap_or_default().to_vec(),
            sunlight_kafka::headers::header_pairs(&m),
        ));
    }
    out
}

/// Reads `topic` until its distinct warning ids equal `expected` or `timeout` passed.
pub async fn await_warning_ids(
    brokers: &str,
    topic: &str,
    expected: &BTreeSet<String>,
    timeout: StdDuration,
) -> BTreeSet<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut got = BTreeSet::new();
    while &got != expected && tokio::time::Instant::now() < deadline {
        got =
            distinct_ids(&read_topic(brokers, topic, usize::MAX, StdDuration::from_secs(3)).await);
    }
    got
}

/// Generated events and the warning ids a replay of them gives.
pub fn workload(seed: u64) -> (Arc<CompiledPack>, Vec<PowerEvent>, BTreeSet<String>) {
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
    let expected = replay_ids(&pack, &events);
    assert!(expected.len() > 10, "{}", expected.len());
    (pack, events, expected)
}

/// The warnings a replay of `events` gives (what `sunlight replay` computes).
pub fn replay_warnings(
    pack: &Arc<CompiledPack>,
    events: &[PowerEvent],
) -> Vec<sunlight_core::Warning> {
    let mut engine = Engine::new(Arc::clone(pack), EngineConfig::default());
    let mut warnings = Vec::new();
    for e in events {
        engine.ingest(e.clone(), &mut warnings);
    }
    engine.flush(&mut warnings);
    warnings
}

/// The warning ids a replay of `events` gives.
pub fn replay_ids(pack: &Arc<CompiledPack>, events: &[PowerEvent]) -> BTreeSet<String> {
    replay_warnings(pack, events)
        .into_iter()
        .map(|w| w.warning_id)
        .collect()
}

/// An event as the contract's JSON, as a source system sends it.
pub fn contract_json(e: &PowerEvent) -> Vec<u8> {
    let mut text = String::new();
    sunlight_core::codec::json::encode(e, &mut text);
    text.into_bytes()
}

pub async fn produce_all(brokers: &str, topic: &str, events: &[PowerEvent]) {
    produce_with(
        brokers,
        topic,
        events,
        |e| e.official_id.to_string(),
        contract_json,
    )
    .await;
}

/// Produces `events` with the given key and encoding.
pub async fn produce_with(
    brokers: &str,
    topic: &str,
    events: &[PowerEvent],
    key: impl Fn(&PowerEvent) -> String,
    encode: impl Fn(&PowerEvent) -> Vec<u8>,
) {
    // One record per batch: tansu 0.6.0 serves nothing to a fetch that starts inside
    // a record batch (checked with the Python client too), and the engine commits
    // offsets wherever the first record that still matters is, as Kafka allows.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "1")
        .create()
        .expect("producer");
    send_all(&producer, topic, events, key, encode).await;
}

/// Produces `events` keyed by official in batches, as producers usually do (on the
/// mock cluster: tansu does not serve fetches that start inside a batch).
pub async fn produce_batched(brokers: &str, topic: &str, events: &[PowerEvent]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "50")
        .create()
        .expect("producer");
    send_all(
        &producer,
        topic,
        events,
        |e| e.official_id.to_string(),
        contract_json,
    )
    .await;
}

async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    events: &[PowerEvent],
    key: impl Fn(&PowerEvent) -> String,
    encode: impl Fn(&PowerEvent) -> Vec<u8>,
) {
    let sends = events.iter().map(|e| {
        let (key, payload) = (key(e), encode(e));
        async move {
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(&payload),
                    StdDuration::from_secs(30),
                )
                .await
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;
}

pub fn config(brokers: &str, group: &str, input: &str, warnings: &str, dlq: &str) -> KafkaConfig {
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

pub type Running = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<sunlight_kafka::RunStats, sunlight_kafka::PipelineError>>,
);

pub fn start(config: KafkaConfig, pack: &Arc<CompiledPack>) -> Running {
    start_with(
        config,
        pack,
        // As `sunlight run` by default: events over a day ahead are bad input.
        EngineConfig {
            max_future_skew: Some(sunlight_core::time::Duration::from_secs(86_400)),
            ..EngineConfig::default()
        },
        sunlight_kafka::Services::new(Arc::new(sunlight_kafka::Health::default())),
    )
}

/// Like [`start`], with the engine's settings (its clock) and the shared services.
pub fn start_with(
    config: KafkaConfig,
    pack: &Arc<CompiledPack>,
    engine: EngineConfig,
    services: sunlight_kafka::Services,
) -> Running {
    // The recorder must exist before the pipeline registers its metric handles.
    let _ = metrics();
    // Pipeline logs in test output, filtered by RUST_LOG (default: warnings).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let pack = Arc::clone(pack);
    let task = tokio::spawn(async move {
        sunlight_kafka::run_with(
            &config,
            pack,
            engine,
            DecodeLimits::default(),
            services,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    (stop, task)
}

pub fn distinct_ids(records: &[(String, Vec<(String, String)>)]) -> BTreeSet<String> {
    records
        .iter()
        .map(|(payload, _)| {
            let w: serde_json::Value = serde_json::from_str(payload).expect("warning JSON");
            w["warning_id"].as_str().expect("warning_id").to_string()
        })
        .collect()
}

/// The group's committed offsets on `topic`, summed (0 for none).
pub fn committed(brokers: &str, group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, StdDuration::from_secs(10))
        .unwrap();
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// A case-system feedback record.
pub fn feedback_json(warning_id: &str, status: &str, at: sunlight_core::time::Timestamp) -> String {
    serde_json::json!({
        "warning_id": warning_id, "status": status, "handler": "inspector-7",
        "note": "checked", "at": at.to_string(),
    })
    .to_string()
}

/// A running `sunlight repartition` step: its stop signal and task.
pub type Rekeying = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<
        Result<sunlight_kafka::repartition::RepartitionStats, sunlight_kafka::PipelineError>,
    >,
);

/// Starts re-keying `from` into `to` by official_id, or by `key` when it is not empty.
pub fn start_repartition(
    brokers: &str,
    from: &str,
    to: &str,
    dlq: &str,
    key: Vec<sunlight_core::event::FieldRef>,
) -> Rekeying {
    let config = sunlight_kafka::repartition::RepartitionConfig {
        brokers: brokers.to_string(),
        group: unique("repartition"),
        from: vec![from.to_string()],
        protobuf_from: Vec::new(),
        to: to.to_string(),
        key,
        dlq_topic: dlq.to_string(),
        properties: Default::default(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sunlight_kafka::repartition::run(&config, async {
            let _ = stopped.await;
        })
        .await
    });
    (stop, task)
}
