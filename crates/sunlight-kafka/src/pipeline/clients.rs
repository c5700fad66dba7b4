//! The consumer and producer of one run, created from `[kafka]` settings: what the
//! pipeline needs of them (no auto-commit, idempotence, short fetch waits, small
//! fetches, a transactional id for exactly-once) on top of the user's properties,
//! and the settings it cannot honour refused before anything connects.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, Producer};
use sunlight_core::time::Timestamp;
use tracing::info;

use super::PipelineError;
use super::rebalance::{Assignment, PipelineContext};
use crate::config::KafkaConfig;
use crate::health::Health;

/// The clients of one run and the state their callbacks share with the loop.
pub(super) struct Clients {
    /// Reads the input topics (its callbacks: [`PipelineContext`]).
    pub(super) consumer: StreamConsumer<PipelineContext>,
    /// Writes warnings, dead letters, state and the loop's records.
    pub(super) producer: FutureProducer,
    /// The assignment as the rebalance callbacks last reported it.
    pub(super) assignment: Arc<Mutex<Assignment>>,
    /// An asynchronous commit failed since the loop last looked.
    pub(super) commit_failed: Arc<AtomicBool>,
    /// Outputs go in Kafka transactions (exactly-once); the first one is begun.
    pub(super) transactional: bool,
}

/// Creates both clients, begins the first transaction in exactly-once mode, and
/// subscribes to the input topics.
pub(super) fn connect(
    config: &KafkaConfig,
    health: &Arc<Health>,
) -> Result<Clients, PipelineError> {
    if config.state.is_none()
        && config
            .properties
            .get("partition.assignment.strategy")
            .is_some_and(|s| s.contains("cooperative"))
    {
        return Err(PipelineError::Unsupported(
            "partition.assignment.strategy=cooperative-sticky needs durable state ([state] enabled): without it, window state is rebuilt from committed offsets on every rebalance, which needs an eager assignor (range, roundrobin)".into(),
        ));
    }
    if config
        .properties
        .get("group.protocol")
        .is_some_and(|p| p.eq_ignore_ascii_case("consumer"))
    {
        return Err(PipelineError::Unsupported(
            "group.protocol=consumer (KIP-848) assigns incrementally: window state is rebuilt from committed offsets on every rebalance, which needs the classic protocol with an eager assignor".into(),
        ));
    }
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        client.set(k, v);
    }
    let assignment = Arc::new(Mutex::new(Assignment::default()));
    let commit_failed = Arc::new(AtomicBool::new(false));
    let mut consumer_config = client.clone();
    consumer_config
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", &config.auto_offset_reset);
    // Defaults that properties can override: lag statistics every 5 s, and short
    // fetch waits. librdkafka's 500 ms fetch wait is harmless on brokers that answer
    // as soon as data arrives, but brokers that hold every fetch for the full wait
    // (tansu does) would add it to every warning's latency.
    // And a short fetch-queue backoff: when the engine is slower than the broker, the
    // local queue fills and librdkafka postpones the partition's next fetch by
    // fetch.queue.backoff.ms (1 s by default), which left the engine idle for most of
    // that second once it had drained the queue (measured: 125 K/s instead of 330 K/s).
    // And small fetches (256 KiB per partition, 1 MiB per request): reading a
    // backlog with librdkafka's 1 MiB / 50 MiB, tansu served the 4 partitions at very
    // different speeds, and up to 6.1 million events waited behind the slowest
    // partition's watermark, in memory and in every snapshot. With small fetches the
    // partitions stay closer (BENCHMARKS.md §6). fetch.max.bytes must not be below
    // message.max.bytes.
    let message_max: u64 = config
        .properties
        .get("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let fetch_max = (1u64 << 20).max(message_max).to_string();
    for (key, value) in [
        ("statistics.interval.ms", "5000"),
        ("fetch.wait.max.ms", "10"),
        ("fetch.queue.backoff.ms", "10"),
        ("max.partition.fetch.bytes", "262144"),
        ("fetch.max.bytes", fetch_max.as_str()),
    ] {
        if !config.properties.contains_key(key) {
            consumer_config.set(key, value);
        }
    }
    let consumer: StreamConsumer<PipelineContext> = consumer_config
        .create_with_context(PipelineContext {
            assignment: Arc::clone(&assignment),
            health: Arc::clone(health),
            commit_failed: Arc::clone(&commit_failed),
        })
        .map_err(|source| PipelineError::Client {
            client: "consumer",
            source,
        })?;
    let transactional = config.state.as_ref().is_some_and(|s| s.exactly_once);
    client
        .set("enable.idempotence", "true")
        .set("linger.ms", "5");
    if transactional && !config.properties.contains_key("transactional.id") {
        // Unique per process: fencing of zombies comes from the consumer group
        // metadata sent with the offsets (KIP-447).
        client.set(
            "transactional.id",
            format!(
                "{}-{}-{}",
                config.group,
                std::process::id(),
                Timestamp::now().0
            ),
        );
    }
    let producer: FutureProducer = client.create().map_err(|source| PipelineError::Client {
        client: "producer",
        source,
    })?;
    if transactional {
        tokio::task::block_in_place(|| {
            producer.init_transactions(Duration::from_secs(30))?;
            producer.begin_transaction()
        })
        .map_err(|e| PipelineError::Transaction(format!("cannot start transactions: {e}")))?;
        info!("exactly-once: outputs, state and offsets committed in Kafka transactions");
    }
    let topics: Vec<&str> = config.input_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| PipelineError::Subscribe {
            topics: config.input_topics.clone(),
            source,
        })?;
    Ok(Clients {
        consumer,
        producer,
        assignment,
        commit_failed,
        transactional,
    })
}
