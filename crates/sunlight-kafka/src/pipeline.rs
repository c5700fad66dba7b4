//! The live pipeline: consume events, run one [`Engine`] per input partition,
//! produce warnings and dead letters, commit offsets at least once.
//!
//! Per partition: the partition's own watermark (events are keyed by official_id,
//! so an official's events share a partition), an idle timeout that releases pending
//! events when the partition goes quiet, and an [`OffsetTracker`] that commits only
//! records that no longer matter. Revoked partitions drop their state; the next
//! owner re-reads from the committed offset, which is early enough to rebuild every
//! window. On shutdown the pipeline stops consuming, waits for outstanding outputs
//! (up to a deadline), commits and returns.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sunlight_core::codec::{self, DecodeError, DecodeLimits};
use sunlight_core::time::Timestamp;
use sunlight_core::{Admission, CompiledPack, Engine, EngineConfig, Warning};
use tracing::{info, warn};

use crate::config::KafkaConfig;
use crate::headers::{DeadLetterOrigin, dead_letter_headers, warning_headers};
use crate::offsets::OffsetTracker;

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A client could not be created (bad property, unreachable TLS files, ...).
    #[error("cannot create the Kafka {client}: {source}; check the brokers and Kafka properties")]
    Client {
        /// `consumer` or `producer`.
        client: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// The subscription was refused.
    #[error("cannot subscribe to {topics:?}: {source}")]
    Subscribe {
        /// The input topics.
        topics: Vec<String>,
        /// librdkafka's error.
        source: KafkaError,
    },
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Records consumed.
    pub consumed: u64,
    /// Records rejected, by reason code (dead-lettered).
    pub rejected: BTreeMap<String, u64>,
    /// Duplicate events dropped.
    pub duplicates: u64,
    /// Records whose key is not their official_id.
    pub key_mismatches: u64,
    /// Warnings handed to the producer.
    pub warnings: u64,
    /// Dead letters handed to the producer.
    pub dead_letters: u64,
    /// Outputs the broker refused (retried by re-reading after restart).
    pub delivery_errors: u64,
    /// Offset commits issued.
    pub commits: u64,
}

/// Records partitions revoked by a rebalance, for the pipeline to drop.
struct RebalanceContext {
    revoked: Arc<Mutex<Vec<(String, i32)>>>,
}

impl ClientContext for RebalanceContext {}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
            revoked.extend(
                list.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition())),
            );
        }
    }
}

struct PartitionState {
    engine: Engine,
    offsets: OffsetTracker,
    last_message: Instant,
}

/// An output on its way to the broker: resolves to (topic, partition, tag, delivered).
type InFlight = Pin<Box<dyn Future<Output = (String, i32, i64, bool)> + Send>>;

/// Runs until `shutdown` resolves.
pub async fn run(
    config: &KafkaConfig,
    pack: Arc<CompiledPack>,
    engine_config: EngineConfig,
    limits: DecodeLimits,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, PipelineError> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        client.set(k, v);
    }
    let revoked = Arc::new(Mutex::new(Vec::new()));
    let consumer: StreamConsumer<RebalanceContext> = client
        .clone()
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", &config.auto_offset_reset)
        .create_with_context(RebalanceContext {
            revoked: Arc::clone(&revoked),
        })
        .map_err(|source| PipelineError::Client {
            client: "consumer",
            source,
        })?;
    let producer: FutureProducer = client
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(|source| PipelineError::Client {
            client: "producer",
            source,
        })?;
    let topics: Vec<&str> = config.input_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| PipelineError::Subscribe {
            topics: config.input_topics.clone(),
            source,
        })?;
    info!(topics = ?config.input_topics, group = %config.group, "consuming");

    let mut pipeline = Pipeline {
        config,
        pack,
        engine_config,
        limits,
        producer,
        partitions: HashMap::new(),
        in_flight: FuturesUnordered::new(),
        stats: RunStats::default(),
        warnings: Vec::new(),
    };
    let mut tick = tokio::time::interval(std::time::Duration::from_nanos(
        config.commit_interval.0.max(1_000_000) as u64,
    ));
    tokio::pin!(shutdown);
    loop {
        let room = pipeline.in_flight.len() < config.max_in_flight;
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = pipeline.in_flight.next(), if !pipeline.in_flight.is_empty() => pipeline.delivered(done),
            message = consumer.recv(), if room => match message {
                Ok(m) => pipeline.on_message(&m),
                Err(e) => warn!(error = %e, "consume error; retrying"),
            },
            _ = tick.tick() => {
                let gone: Vec<(String, i32)> = std::mem::take(&mut *revoked.lock().unwrap_or_else(|p| p.into_inner()));
                for key in gone {
                    // The next owner re-reads from the committed offset.
                    pipeline.partitions.remove(&key);
                }
                pipeline.release_idle();
                pipeline.commit(&consumer, CommitMode::Async);
            }
        }
    }
    // Drain: wait for outstanding outputs (bounded), then commit what is safe.
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(10));
    tokio::pin!(deadline);
    while !pipeline.in_flight.is_empty() {
        tokio::select! {
            Some(done) = pipeline.in_flight.next() => pipeline.delivered(done),
            () = &mut deadline => {
                warn!(outstanding = pipeline.in_flight.len(), "shutdown deadline passed with outputs unacknowledged; they will be re-produced after restart");
                break;
            }
        }
    }
    pipeline.commit(&consumer, CommitMode::Sync);
    Ok(pipeline.stats)
}

struct Pipeline<'a> {
    config: &'a KafkaConfig,
    pack: Arc<CompiledPack>,
    engine_config: EngineConfig,
    limits: DecodeLimits,
    producer: FutureProducer,
    partitions: HashMap<(String, i32), PartitionState>,
    in_flight: FuturesUnordered<InFlight>,
    stats: RunStats,
    warnings: Vec<Warning>,
}

impl Pipeline<'_> {
    fn on_message(&mut self, message: &BorrowedMessage<'_>) {
        self.stats.consumed += 1;
        let topic = message.topic().to_string();
        let (partition, offset) = (message.partition(), message.offset());
        let payload = message.payload().unwrap_or_default();
        let format = if self.config.protobuf_topics.contains(&topic) {
            codec::Format::Protobuf
        } else {
            codec::Format::Json
        };
        let decoded = match format {
            codec::Format::Json => codec::json::decode(payload, &self.limits),
            codec::Format::Protobuf => codec::protobuf::decode(payload, &self.limits),
        };
        let key = (topic.clone(), partition);
        let state = self
            .partitions
            .entry(key)
            .or_insert_with(|| PartitionState {
                engine: Engine::new(Arc::clone(&self.pack), self.engine_config),
                offsets: OffsetTracker::default(),
                last_message: Instant::now(),
            });
        state.last_message = Instant::now();
        let event = match decoded {
            Ok((event, _)) => event,
            Err(e) => {
                state.offsets.consumed(offset, None);
                self.dead_letter(&e, message, &topic);
                return;
            }
        };
        if message
            .key()
            .is_some_and(|k| k != event.official_id.as_bytes())
        {
            self.stats.key_mismatches += 1;
        }
        let time = event.occurred_at.0;
        state.offsets.consumed(offset, Some(time));
        match state
            .engine
            .ingest_from(event, offset as u64, &mut self.warnings)
        {
            Admission::Late(event) => {
                let e = state.engine.late_error(&event);
                self.dead_letter(&e, message, &topic);
            }
            Admission::Duplicate => self.stats.duplicates += 1,
            Admission::Accepted | Admission::Unmatched => {}
        }
        self.produce_warnings(&topic, partition);
    }

    fn produce_warnings(&mut self, topic: &str, partition: i32) {
        if self.warnings.is_empty() {
            return;
        }
        let Some(state) = self.partitions.get_mut(&(topic.to_string(), partition)) else {
            return;
        };
        for warning in self.warnings.drain(..) {
            let tag = warning.trigger_source as i64;
            let payload = warning.to_json();
            let record = FutureRecord::to(&self.config.warnings_topic)
                .key(warning.official_id.as_bytes())
                .payload(payload.as_bytes())
                .headers(warning_headers(&warning, &self.config.source_name));
            state.offsets.produced(tag);
            self.stats.warnings += 1;
            self.in_flight
                .push(send(&self.producer, record, topic, partition, tag));
        }
    }

    fn dead_letter(&mut self, e: &DecodeError, message: &BorrowedMessage<'_>, topic: &str) {
        *self
            .stats
            .rejected
            .entry(e.reason.code().to_string())
            .or_default() += 1;
        let (partition, offset) = (message.partition(), message.offset());
        let headers = dead_letter_headers(&DeadLetterOrigin {
            reason: e.reason.code(),
            detail: &e.detail,
            topic,
            partition,
            offset,
        });
        let mut record = FutureRecord::to(&self.config.dlq_topic)
            .payload(message.payload().unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(state) = self.partitions.get_mut(&(topic.to_string(), partition)) {
            state.offsets.produced(offset);
        }
        self.stats.dead_letters += 1;
        self.in_flight
            .push(send(&self.producer, record, topic, partition, offset));
    }

    fn delivered(&mut self, (topic, partition, tag, ok): (String, i32, i64, bool)) {
        if !ok {
            // Not acknowledged: keep the offset uncommitted, so a restart re-produces it.
            self.stats.delivery_errors += 1;
            return;
        }
        if let Some(state) = self.partitions.get_mut(&(topic, partition)) {
            state.offsets.acknowledged(tag);
        }
    }

    /// Partitions quiet for the idle timeout release everything they hold pending.
    fn release_idle(&mut self) {
        let idle = std::time::Duration::from_nanos(self.config.idle_timeout.0.max(0) as u64);
        let quiet: Vec<(String, i32)> = self
            .partitions
            .iter()
            .filter(|(_, s)| {
                s.last_message.elapsed() >= idle && s.engine.oldest_pending_source().is_some()
            })
            .map(|(k, _)| k.clone())
            .collect();
        for (topic, partition) in quiet {
            let state = self
                .partitions
                .get_mut(&(topic.clone(), partition))
                .expect("listed above");
            if let Some(max) = state.engine.max_seen() {
                state
                    .engine
                    .advance_watermark(Timestamp(max.0.saturating_add(1)), &mut self.warnings);
            }
            self.produce_warnings(&topic, partition);
        }
    }

    fn commit<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>, mode: CommitMode) {
        let retention = self.pack.retention().0;
        let mut list = TopicPartitionList::new();
        for ((topic, partition), state) in &mut self.partitions {
            let watermark = state.engine.watermark().map(|w| w.0);
            let pending = state.engine.oldest_pending_source().map(|s| s as i64);
            if let Some(offset) = state.offsets.committable(watermark, retention, pending)
                && list
                    .add_partition_offset(topic, *partition, Offset::Offset(offset))
                    .is_err()
            {
                warn!(topic, partition, offset, "cannot list offset for commit");
            }
        }
        if list.count() == 0 {
            return;
        }
        match consumer.commit(&list, mode) {
            Ok(()) => self.stats.commits += 1,
            Err(e) => warn!(error = %e, "commit failed; will retry with the next commit"),
        }
    }
}

fn send(
    producer: &FutureProducer,
    record: FutureRecord<'_, [u8], [u8]>,
    topic: &str,
    partition: i32,
    tag: i64,
) -> InFlight {
    let topic = topic.to_string();
    match producer.send_result(record) {
        Ok(delivery) => Box::pin(async move {
            let ok = matches!(delivery.await, Ok(Ok(_)));
            (topic, partition, tag, ok)
        }),
        Err((e, _)) => {
            warn!(error = %e, "cannot enqueue an output");
            Box::pin(async move { (topic, partition, tag, false) })
        }
    }
}
