//! The live pipeline: consume events, evaluate them in one [`Engine`] for every
//! partition this instance owns, produce warnings and dead letters, commit offsets
//! at least once.
//!
//! - **Watermark**: the minimum over owned partitions, with an idle timeout (see
//!   [`crate::partitions`]). Events keyed by something other than their official_id
//!   are counted and still evaluated correctly, because one engine sees them all.
//! - **Commits**: [`OffsetTracker`](crate::OffsetTracker) commits a record only when
//!   its outputs are acknowledged and its event can no longer be inside a window.
//! - **Rebalances**: window state lives in memory and belongs to the assignment. When
//!   the assignment changes, the engine starts afresh; with the eager assignors the
//!   consumer resumes every partition at its committed offset, which is early enough
//!   to rebuild every window, so nothing is lost (warnings already sent are sent again
//!   with the same ids). With durable state ([`snapshots`]) the new engine restores
//!   each partition's snapshot and moves the partition's input to where it ends;
//!   incremental (cooperative-sticky) assignment is then allowed, with a handover
//!   snapshot before each change. Without durable state it is refused: it keeps
//!   positions, which a rebuild from committed offsets cannot use.
//! - **Backpressure**: at most `max_in_flight` outputs wait for the broker; beyond
//!   that, consumption pauses. The producer's own queue is bounded by librdkafka.
//! - **Shutdown**: stop consuming, wait for outstanding outputs (up to a deadline),
//!   commit what is safe, return.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, RebalanceProtocol,
    StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sunlight_core::codec::{self, DecodeError, DecodeLimits};
use sunlight_core::time::Timestamp;
use sunlight_core::{
    Admission, CompiledPack, Engine, EngineConfig, Origin, StateView, Warning, WatermarkMode,
};
use tracing::{debug, info, warn};

mod closed_loop;
mod events;
mod outstanding;
mod phase;
mod snapshots;

use events::{
    CommitDone, DeadLetterQueued, DuplicateDropped, EventDecoded, FramedRecord, KeyMismatch,
    ProduceFailed, Rebalanced, RecordConsumed, RecordRefused, Reporter, RestoredRecordSkipped,
    WarningQueued,
};
use outstanding::{Outstanding, Settled};
use phase::{Phase, Step};

use crate::casework::SharedCasebook;
use crate::config::KafkaConfig;
use crate::headers::{DeadLetterOrigin, dead_letter_headers};
use crate::health::Health;
use crate::masking::{Masking, warning_record};
use crate::output::{Delivery, InFlight, Output, send};
use crate::partitions::{Allowed, Partitions};
use crate::telemetry as m;

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
    /// A setting the pipeline cannot honour.
    #[error("unsupported setting: {0}")]
    Unsupported(String),
    /// A Kafka transaction failed (exactly-once mode stops; a restart resumes from
    /// the last committed transaction).
    #[error("transaction failed: {0}")]
    Transaction(String),
    /// Restored state and input position could not be made to meet (the pipeline
    /// stops rather than evaluate with a gap; a restart restores again).
    #[error("durable state: {0}")]
    State(String),
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
    /// Records that carried a Schema Registry frame.
    pub framed: u64,
    /// Warnings handed to the producer.
    pub warnings: u64,
    /// Dead letters handed to the producer.
    pub dead_letters: u64,
    /// Outputs the broker refused (retried by re-reading after restart).
    pub delivery_errors: u64,
    /// Offset commits issued.
    pub commits: u64,
    /// Offset commits that failed (the tick's, the asynchronous ones reported by
    /// the commit callback, and those after a snapshot or in its transaction).
    pub commit_errors: u64,
    /// Assignment changes applied.
    pub rebalances: u64,
    /// Partitions paused by watermark alignment (each pause counted).
    pub alignment_pauses: u64,
}

/// The assignment as the consumer's rebalance callbacks last reported it.
#[derive(Default)]
struct Assignment {
    owned: Vec<(String, i32)>,
    changed: bool,
    /// The group assigns incrementally (cooperative): an assignment adds to what is
    /// owned instead of replacing it.
    incremental: bool,
}

/// Rebalance and statistics callbacks (they run inside the consumer's poll).
struct PipelineContext {
    assignment: Arc<Mutex<Assignment>>,
    health: Arc<Health>,
    /// An asynchronous commit failed since the last look.
    commit_failed: Arc<AtomicBool>,
}

impl ClientContext for PipelineContext {
    fn stats(&self, statistics: Statistics) {
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.health.set_broker_reachable(up);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(m::CONSUMER_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for PipelineContext {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            warn!(error = %e, "offset commit failed; will retry with the next commit");
            metrics::counter!(m::COMMITS, "outcome" => "error").increment(1);
            self.commit_failed.store(true, Ordering::Relaxed);
        }
    }

    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
        match rebalance {
            Rebalance::Revoke(list) => {
                let gone: Vec<(String, i32)> = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                a.owned.retain(|k| !gone.contains(k));
                a.changed = true;
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                // librdkafka unassigns everything on a rebalance error.
                warn!(error = %e, "rebalance error; dropping the assignment");
                a.owned.clear();
                a.changed = true;
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
            let listed: Vec<(String, i32)> = list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            a.incremental = matches!(
                consumer.rebalance_protocol(),
                RebalanceProtocol::Cooperative
            );
            if a.incremental {
                for tp in listed {
                    if !a.owned.contains(&tp) {
                        a.owned.push(tp);
                    }
                }
            } else {
                a.owned = listed;
            }
            a.changed = true;
        }
    }
}

/// The event time that bounds commits: the watermark, or an earlier unacknowledged
/// warning's trigger time. A warning's window reaches back `span <= retention` from
/// its trigger, so until the broker acknowledges it, every event of that window must
/// stay re-readable, on every partition.
pub fn commit_bound(watermark: Option<i64>, oldest_unacked_trigger: Option<i64>) -> Option<i64> {
    match (watermark, oldest_unacked_trigger) {
        (Some(w), Some(t)) => Some(w.min(t)),
        (w, _) => w,
    }
}

/// What the pipeline shares with the rest of the process.
#[derive(Clone)]
pub struct Services {
    /// Readiness facts for `/readyz`.
    pub health: Arc<Health>,
    /// The closed loop's state, when `config.casework` is set (created if absent).
    pub casebook: Option<SharedCasebook>,
    /// The current engine's state, for the query API (replaced on every rebalance).
    pub views: ViewSlot,
    /// New rule-pack versions, compiled and validated by the sender; each one is
    /// swapped in between two records, window state carrying over.
    pub packs: Option<tokio::sync::watch::Receiver<Arc<CompiledPack>>>,
}

impl Services {
    /// Health only; a casebook is created if the config asks for the closed loop.
    pub fn new(health: Arc<Health>) -> Services {
        Services {
            health,
            casebook: None,
            views: ViewSlot::default(),
            packs: None,
        }
    }
}

/// The engine view of the current assignment (None before the first).
#[derive(Clone, Default)]
pub struct ViewSlot(Arc<Mutex<Option<StateView>>>);

impl ViewSlot {
    /// The current view.
    pub fn get(&self) -> Option<StateView> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, view: StateView) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(view);
    }
}

/// Runs until `shutdown` resolves, keeping `health` current for `/readyz`.
pub async fn run(
    config: &KafkaConfig,
    pack: Arc<CompiledPack>,
    engine_config: EngineConfig,
    limits: DecodeLimits,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, PipelineError> {
    run_with(
        config,
        pack,
        engine_config,
        limits,
        Services::new(health),
        shutdown,
    )
    .await
}

/// Runs until `shutdown` resolves, sharing state through `services`. Every log
/// line of the run carries the `pipeline` span with the consumer group.
#[tracing::instrument(name = "pipeline", skip_all, fields(group = %config.group))]
pub async fn run_with(
    config: &KafkaConfig,
    pack: Arc<CompiledPack>,
    engine_config: EngineConfig,
    limits: DecodeLimits,
    services: Services,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, PipelineError> {
    let health = Arc::clone(&services.health);
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
            health: Arc::clone(&health),
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
    info!(topics = ?config.input_topics, group = %config.group, "consuming");
    health.set_rules_loaded(true);
    m::register(&pack, &config.input_topics);
    let casebook = match (&config.casework, &services.casebook) {
        (None, _) => None,
        (Some(_), Some(book)) => Some(book.clone()),
        (Some(c), None) => Some(SharedCasebook::new(c.policy.clone())),
    };
    let feedback_consumer = match &config.casework {
        Some(c) => {
            m::register_casework(&pack);
            Some(closed_loop::feedback_consumer(config, c)?)
        }
        None => None,
    };

    let engine_config = EngineConfig {
        watermark: WatermarkMode::External,
        ..engine_config
    };
    let report = Reporter::new(&pack);
    let mut pipeline = Pipeline {
        config,
        engine: Engine::new(Arc::clone(&pack), engine_config),
        partitions: Partitions::new([], 0, Duration::ZERO, Instant::now()),
        pack,
        engine_config,
        limits,
        producer,
        outstanding: Outstanding::default(),
        in_flight: FuturesUnordered::new(),
        report,
        warnings: Vec::new(),
        last_state_report: None,
        health: Arc::clone(&health),
        paused_since: None,
        casebook,
        views: services.views.clone(),
        last_casework_tick: None,
        snapshot_due: false,
        last_snapshot: None,
        skip_before: Vec::new(),
        phase: Phase::Running,
        moved: Vec::new(),
        held: None,
        transactional,
        fatal: None,
        aligned_paused: Default::default(),
        align_countdown: 0,
        parked: Vec::new(),
        feedback_positions: BTreeMap::new(),
        feedback_commit: None,
        chains: HashMap::new(),
        snapshot_in_flight: None,
        cases_restored_at: None,
        feedback_assign_due: false,
        feedback_backlog: BTreeMap::new(),
    };
    if config.state.is_some() {
        m::register_state();
    }
    metrics::gauge!(m::PARTITIONS_PAUSED).set(0.0);
    pipeline.reset(Vec::new());
    let mut tick = tokio::time::interval(Duration::from_nanos(
        config.commit_interval.0.max(1_000_000) as u64,
    ));
    tokio::pin!(shutdown);
    // One stream for the whole run (`recv()` registers a new waker per message).
    let mut messages = consumer.stream();
    let mut feedback = feedback_consumer.as_ref().map(|c| c.stream());
    let mut packs = services.packs.clone();
    loop {
        if let Some(error) = pipeline.fatal.take() {
            if pipeline.transactional {
                tokio::task::block_in_place(|| {
                    let _ = pipeline.producer.abort_transaction(Duration::from_secs(10));
                });
            }
            health.set_stopping();
            return Err(error);
        }
        if let Some(fc) = &feedback_consumer {
            pipeline.commit_feedback(fc);
        }
        if pipeline.phase == Phase::Restoring {
            // A snapshot in flight finishes first: it and its commit are of the
            // assignment that ended.
            pipeline.await_snapshot(&consumer).await;
            pipeline.restore_state(&consumer).await;
        }
        if std::mem::take(&mut pipeline.feedback_assign_due)
            && let Some(fc) = &feedback_consumer
        {
            pipeline.assign_feedback(fc);
        }
        if pipeline.snapshot_due {
            // A revoke reported since the last record must not see a snapshot of
            // partitions this instance no longer owns.
            pipeline.apply_rebalance(&assignment);
        }
        if pipeline.snapshot_ready() {
            pipeline.take_snapshot(&consumer).await;
            if pipeline.phase == Phase::HandingOver {
                // The handover snapshot must be on the broker before the switch.
                pipeline.await_snapshot(&consumer).await;
                if let Some(fc) = &feedback_consumer {
                    pipeline.commit_feedback(fc);
                }
                pipeline.switch_assignment(&assignment);
            }
            continue;
        }
        if pipeline.phase.evaluates()
            && let Some(m) = pipeline.held.take()
            && !pipeline.moved(&m)
            && pipeline.owns(&m)
        {
            pipeline.on_message(&m);
        }
        let room = pipeline.has_room();
        pipeline.backpressure(room);
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(done) = pipeline.in_flight.next(), if !pipeline.in_flight.is_empty() => pipeline.delivered(done),
            written = async { (&mut pipeline.snapshot_in_flight.as_mut().expect("checked").task).await }, if pipeline.snapshot_in_flight.is_some() => {
                let flight = pipeline.snapshot_in_flight.take().expect("checked");
                pipeline.finish_snapshot(&consumer, flight, written);
            }
            Some(new) = next_pack(&mut packs) => pipeline.swap_pack(new),
            // The tick before the records: under a backlog it must still get its turn.
            _ = tick.tick() => {
                pipeline.apply_rebalance(&assignment);
                if commit_failed.swap(false, Ordering::Relaxed) {
                    pipeline.commit_failed();
                }
                pipeline.on_tick(&consumer);
                pipeline.align(&consumer);
                pipeline.release_parked();
                pipeline.commit(&consumer, CommitMode::Async);
            }
            // Feedback waits until the cases of the owned partitions are restored.
            Some(message) = closed_loop::next(&mut feedback), if room && pipeline.cases_ready() => {
                match message {
                    Ok(m) => pipeline.on_feedback(&m),
                    Err(e) => warn!(error = %e, "feedback consume error; retrying"),
                }
            }
            Some(message) = messages.next(), if room => {
                // Records already fetched are taken without another turn of the
                // select (a bounded batch): the loop's other branches are polled once
                // per batch instead of once per record.
                let mut next = Some(message);
                let mut taken = 0;
                while let Some(message) = next.take() {
                    if !pipeline.on_record(message, &assignment, &consumer) {
                        break;
                    }
                    taken += 1;
                    if taken < RECORDS_PER_TURN && pipeline.has_room() && pipeline.fatal.is_none() {
                        next = messages.next().now_or_never().flatten();
                    }
                }
            },
        }
    }
    health.set_stopping();
    pipeline.phase.advance(Step::Stop);
    // Drain: wait for outstanding outputs (bounded), then commit what is safe.
    let deadline =
        tokio::time::sleep(Duration::from_nanos(config.shutdown_timeout.0.max(0) as u64));
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
    if config.state.is_some() {
        // A last snapshot, if every output is acknowledged, so a restart resumes here.
        pipeline.await_snapshot(&consumer).await;
        pipeline.snapshot_due = true;
        if pipeline.snapshot_ready() {
            pipeline.take_snapshot(&consumer).await;
            pipeline.await_snapshot(&consumer).await;
        }
        if let Some(fc) = &feedback_consumer {
            pipeline.commit_feedback(fc);
        }
        if pipeline.transactional && pipeline.snapshot_due {
            // Not everything acknowledged: the open transaction is abandoned and the
            // next owner starts from the last committed one.
            tokio::task::block_in_place(|| {
                let _ = pipeline.producer.abort_transaction(Duration::from_secs(10));
            });
        }
    }
    pipeline.commit(&consumer, CommitMode::Sync);
    Ok(pipeline.report.stats)
}

/// Most records taken from the stream in one turn of the loop.
const RECORDS_PER_TURN: usize = 256;

/// Records between two watermark-alignment checks (besides one per tick).
const ALIGN_EVERY: u32 = 1024;

/// Whether a quiet partition has nothing unread on the broker (asked only when it
/// is about to be declared idle, so the network calls are rare). When the broker
/// cannot say, the time-based rule alone decides (true).
fn caught_up<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    p: &crate::partitions::Partition,
    earliest: bool,
) -> bool {
    let timeout = Duration::from_secs(1);
    tokio::task::block_in_place(|| {
        let Ok((low, high)) = consumer.fetch_watermarks(&p.topic, p.partition, timeout) else {
            return true;
        };
        let position = p.position().or_else(|| {
            // Nothing delivered and no known start: the committed offset, else where
            // auto.offset.reset starts.
            let mut list = TopicPartitionList::new();
            list.add_partition(&p.topic, p.partition);
            let committed = consumer.committed_offsets(list, timeout).ok()?;
            let element = committed.elements().into_iter().next()?;
            match element.offset() {
                Offset::Offset(o) => Some(o),
                _ if earliest => Some(low),
                _ => Some(high),
            }
        });
        let caught_up = position.is_none_or(|at| at >= high);
        if !caught_up {
            debug!(topic = %p.topic, partition = p.partition, ?position, high, "quiet but not caught up: still holding the watermark");
        }
        caught_up
    })
}

/// The next rule pack sent, or never (no sender, or the sender is gone).
async fn next_pack(
    packs: &mut Option<tokio::sync::watch::Receiver<Arc<CompiledPack>>>,
) -> Option<Arc<CompiledPack>> {
    if let Some(rx) = packs {
        if rx.changed().await.is_ok() {
            return Some(Arc::clone(&rx.borrow_and_update()));
        }
        *packs = None;
    }
    std::future::pending().await
}

struct Pipeline<'a> {
    config: &'a KafkaConfig,
    pack: Arc<CompiledPack>,
    engine_config: EngineConfig,
    limits: DecodeLimits,
    producer: FutureProducer,
    engine: Engine,
    partitions: Partitions,
    /// Outputs not yet settled, per assignment generation (outstanding.rs).
    outstanding: Outstanding,
    in_flight: FuturesUnordered<InFlight>,
    /// Run counters and metric handles (events.rs).
    report: Reporter,
    warnings: Vec<Warning>,
    last_state_report: Option<Instant>,
    health: Arc<Health>,
    /// Since when consumption is paused by backpressure.
    paused_since: Option<Instant>,
    /// The closed loop, when enabled.
    casebook: Option<SharedCasebook>,
    /// Where the query API finds the current engine.
    views: ViewSlot,
    /// When the casebook last checked deadlines and decay.
    last_casework_tick: Option<Instant>,
    /// Durable state: a snapshot is due (consumption pauses until the barrier).
    snapshot_due: bool,
    /// When the last snapshot was taken (or the interval started).
    last_snapshot: Option<Instant>,
    /// Per partition index, the position of the restored snapshot: earlier records
    /// are in it already.
    skip_before: Vec<i64>,
    /// Running, restoring, handing over or draining (phase.rs: the transitions).
    phase: Phase,
    /// Partitions whose position the last restore moved (to where their snapshot
    /// ends, or to their oldest input): a record fetched before the move is read again.
    moved: Vec<(String, i32)>,
    /// A record that arrived with an assignment change, held until the state is
    /// restored (only while the phase does not evaluate records).
    held: Option<rdkafka::message::OwnedMessage>,
    /// Outputs go in Kafka transactions (exactly-once).
    transactional: bool,
    /// A failure that stops the pipeline (exactly-once: an output refused mid-transaction).
    fatal: Option<PipelineError>,
    /// Partitions paused by watermark alignment ([`Pipeline::align`]).
    aligned_paused: std::collections::BTreeSet<(String, i32)>,
    /// Records until the next alignment check.
    align_countdown: u32,
    /// Feedback for warnings not held yet, right after a restore, with the warning
    /// id it names (closed_loop.rs).
    parked: Vec<(String, rdkafka::message::OwnedMessage)>,
    /// Next offset read per feedback partition.
    feedback_positions: BTreeMap<i32, i64>,
    /// A snapshot is on the broker: the feedback positions of its barrier, to
    /// commit (none for the partitions it did not write).
    feedback_commit: Option<BTreeMap<i32, i64>>,
    /// A snapshot being encoded and written while consumption goes on (snapshots.rs).
    snapshot_in_flight: Option<snapshots::SnapshotInFlight>,
    /// Per owned partition, its chain of snapshots written in this assignment
    /// (snapshots.rs): the next one is a delta of it, or full.
    chains: HashMap<(String, i32), snapshots::Chain>,
    /// When cases were last restored (durable state with casework).
    cases_restored_at: Option<Instant>,
    /// The feedback consumer must take the partitions of a new assignment.
    feedback_assign_due: bool,
    /// After a restore, per feedback partition, the high watermark to read up to
    /// before deadlines are checked (feedback already sent must apply first).
    feedback_backlog: BTreeMap<i32, i64>,
}

impl Pipeline<'_> {
    /// A new rule-pack version takes over; window state carries over (see
    /// [`Engine::swap_pack`]). Warnings it releases from now on carry its versions.
    fn swap_pack(&mut self, new: Arc<CompiledPack>) {
        let report = self.engine.swap_pack(Arc::clone(&new));
        info!(
            pack = %new.name,
            version = %new.version,
            slots_kept = report.slots_kept,
            slots_new = report.slots_new,
            slots_dropped = report.slots_dropped,
            pending_rematched = report.pending_rematched,
            "rule pack swapped in"
        );
        m::register(&new, &self.config.input_topics);
        if self.config.casework.is_some() {
            m::register_casework(&new);
        }
        self.report.swap_pack(&new);
        self.pack = new;
        self.views.set(self.engine.view());
        metrics::counter!(m::RULE_SWAPS).increment(1);
    }

    /// Applies an assignment change reported by the rebalance callbacks. With
    /// durable state and an incremental (cooperative) assignment, the state read so
    /// far is first snapshotted (a handover: the partitions that leave take their
    /// state along, the ones that stay are restored from it).
    fn apply_rebalance(&mut self, assignment: &Mutex<Assignment>) {
        if self.phase == Phase::HandingOver {
            return;
        }
        let incremental = {
            let a = assignment.lock().unwrap_or_else(|p| p.into_inner());
            if !a.changed {
                return;
            }
            a.incremental
        };
        if incremental
            && self.config.state.is_some()
            && self.partitions.iter().any(|p| p.next_offset != i64::MIN)
        {
            info!("assignment changed; snapshotting the state before the handover");
            self.phase.advance(Step::HandoverDue);
            self.snapshot_due = true;
            return;
        }
        self.switch_assignment(assignment);
    }

    /// Starts the assignment the rebalance callbacks last reported.
    fn switch_assignment(&mut self, assignment: &Mutex<Assignment>) {
        let owned = {
            let mut a = assignment.lock().unwrap_or_else(|p| p.into_inner());
            a.changed = false;
            a.owned.clone()
        };
        self.report.emit(Rebalanced {
            partitions: owned.len(),
        });
        self.reset(owned);
    }

    /// A fresh engine and partition set for a new assignment.
    fn reset(&mut self, owned: Vec<(String, i32)>) {
        if self.transactional && self.outstanding.generation() > 0 {
            // The outputs since the last committed transaction belong to records the
            // next owner re-reads from that transaction's offsets: abandon them.
            let result = tokio::task::block_in_place(|| {
                self.producer.abort_transaction(Duration::from_secs(30))?;
                self.producer.begin_transaction()
            });
            if let Err(e) = result {
                self.fatal = Some(PipelineError::Transaction(format!(
                    "cannot abort the transaction after a rebalance: {e}"
                )));
            }
        }
        self.outstanding.next_generation();
        metrics::gauge!(m::PARTITIONS_ASSIGNED).set(owned.len() as f64);
        self.health.set_partitions(owned.len());
        self.engine = Engine::new(Arc::clone(&self.pack), self.engine_config);
        self.views.set(self.engine.view());
        self.partitions = Partitions::new(
            owned,
            self.engine_config.allowed_lateness.0,
            Duration::from_nanos(self.config.idle_timeout.0.max(0) as u64),
            Instant::now(),
        );
        self.warnings.clear();
        self.report.new_assignment();
        self.skip_before.clear();
        self.snapshot_due = false;
        self.phase.advance(Step::Assigned {
            restore: self.config.state.is_some() && !self.partitions.is_empty(),
        });
        if self.config.state.is_some() && self.partitions.is_empty() {
            // Nothing owned: no cases either, and no feedback partitions to read.
            if let Some(book) = &self.casebook {
                book.lock().forget_officials(|_, _| true);
            }
            self.feedback_assign_due = true;
        }
    }

    /// Whether `message`'s partition belongs to the current assignment.
    fn owns(&self, message: &impl Message) -> bool {
        self.partitions
            .iter()
            .any(|p| p.partition == message.partition() && p.topic == message.topic())
    }

    /// Whether `message` was fetched before the last restore moved its partition.
    fn moved(&self, message: &impl Message) -> bool {
        self.moved
            .iter()
            .any(|(t, p)| *p == message.partition() && t == message.topic())
    }

    /// Whether another record may be read: outputs in flight are below the bound
    /// and no snapshot barrier is waiting.
    fn has_room(&self) -> bool {
        self.in_flight.len() < self.config.max_in_flight && !self.snapshot_due
    }

    /// One record from the consumer stream; false when the loop must take its turn
    /// before the next one (the record was held for a restore or handover).
    fn on_record<C: ConsumerContext>(
        &mut self,
        message: KafkaResult<rdkafka::message::BorrowedMessage<'_>>,
        assignment: &Mutex<Assignment>,
        consumer: &StreamConsumer<C>,
    ) -> bool {
        self.apply_rebalance(assignment);
        if !self.phase.evaluates() {
            // The first record of a new assignment waits until the state is handed
            // over and restored (and positions moved).
            self.held = message.ok().map(|m| m.detach());
            return false;
        }
        match message {
            Ok(m) => {
                self.health.set_broker_reachable(true);
                self.on_message(&m);
                if self.align_countdown == 0 {
                    self.align_countdown = ALIGN_EVERY;
                    self.align(consumer);
                }
                self.align_countdown -= 1;
            }
            Err(e) => {
                if matches!(
                    e.rdkafka_error_code(),
                    Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
                ) {
                    self.health.set_broker_reachable(false);
                }
                warn!(error = %e, "consume error; retrying");
            }
        }
        true
    }

    fn on_message(&mut self, message: &impl Message) {
        let index = self.process(message);
        // The pending gauge before the records counter: a scrape that counts a record
        // as consumed also sees the pending events it left (tests wait on both).
        self.report.pending.set(self.engine.pending_events() as f64);
        self.report.emit(RecordConsumed {
            index,
            partitions: &self.partitions,
        });
    }

    /// Decodes, admits and evaluates one record; returns its partition's index.
    fn process(&mut self, message: &impl Message) -> usize {
        let now = Instant::now();
        let topic = message.topic();
        let (partition, offset) = (message.partition(), message.offset());
        let index = self.partitions.index_of(topic, partition, now);
        if let Some(p) = self.partitions.get_mut(index) {
            p.next_offset = p.next_offset.max(offset + 1);
        }
        if self.restored_already(index, offset) {
            self.report.emit(RestoredRecordSkipped);
            return index;
        }
        let appended = message.timestamp().to_millis();
        let payload = message.payload().unwrap_or_default();
        let format = if self.config.protobuf_topics.iter().any(|t| t == topic) {
            codec::Format::Protobuf
        } else {
            codec::Format::Json
        };
        let (event, schema_id) = match codec::decode_message(payload, format, &self.limits) {
            Ok((event, _, schema_id)) => (event, schema_id),
            Err(e) => {
                // Not activity: a partition carrying only bad input must still go
                // idle, or it would hold the watermark forever.
                self.refuse(&e, message, index, appended);
                return index;
            }
        };
        if schema_id.is_some() {
            self.report.emit(FramedRecord);
        }
        if message
            .key()
            .is_some_and(|k| k != event.official_id.as_bytes())
        {
            self.report.emit(KeyMismatch);
        }
        self.report.emit(EventDecoded {
            index,
            partitions: &self.partitions,
            kind: &event.kind,
        });
        let time = event.occurred_at.0;
        let origin = Origin {
            source: Partitions::source(index, offset),
            floor: Timestamp(self.partition(index).floor),
        };
        // Admission is the engine's (future skew, restored floor, lateness,
        // duplicates): `sunlight replay` decides the same for the same input.
        let admission = self.engine.admit(event, origin, &mut self.warnings);
        // Bad input is not activity: a partition carrying only bad input must still
        // go idle, or it would hold the watermark forever.
        let moved = !admission.is_bad_input() && self.partitions.observe(index, Some(time), now);
        // Only an admitted event can be in a window: the others need no re-reading.
        let in_windows = matches!(admission, Admission::Accepted).then_some(time);
        self.partition(index)
            .offsets
            .consumed(offset, in_windows, appended);
        match admission {
            Admission::Refused(e) => self.dead_letter(&e, message, index),
            Admission::Duplicate => self.report.emit(DuplicateDropped),
            Admission::Accepted | Admission::Unmatched => {}
        }
        if moved {
            self.advance();
        }
        self.produce_warnings();
        index
    }

    fn partition(&mut self, index: usize) -> &mut crate::partitions::Partition {
        self.partitions
            .get_mut(index)
            .expect("indexes come from index_of")
    }

    /// Moves the engine's watermark to what the partitions allow.
    fn advance(&mut self) {
        let to = match self.partitions.allowed() {
            Allowed::Until(w) => w,
            Allowed::Everything => match self.engine.max_seen() {
                Some(max) if self.engine.oldest_pending_source().is_some() => {
                    max.0.saturating_add(1)
                }
                _ => return,
            },
        };
        if self.engine.watermark().is_some_and(|w| w.0 >= to) || to == i64::MIN {
            return;
        }
        let started = Instant::now();
        self.engine
            .advance_watermark(Timestamp(to), &mut self.warnings);
        self.report
            .evaluation_time
            .record(started.elapsed().as_secs_f64());
    }

    /// What `[kafka] mask_in_warnings` hides in every record written.
    fn masking(&self) -> Masking<'_> {
        Masking {
            fields: &self.config.mask_in_warnings,
        }
    }

    fn produce_warnings(&mut self) {
        if self.warnings.is_empty() {
            return;
        }
        let now_ms = Timestamp::now().0 / 1_000_000;
        let mut warnings = std::mem::take(&mut self.warnings);
        for warning in warnings.drain(..) {
            let (index, offset) = Partitions::split_source(warning.trigger_source);
            let case = if self.casebook.is_some() {
                match self.admit(&warning) {
                    Some(case) => Some(case),
                    // Suppressed: nothing to publish, nothing holds the input back.
                    None => continue,
                }
            } else {
                None
            };
            let output = warning_record(
                &self.config.warnings_topic,
                &warning,
                &self.config.source_name,
                self.config.warnings_format,
                self.masking(),
                case.iter()
                    .flatten()
                    .map(|(key, value)| (*key, value.as_str())),
            );
            let mut since_append = None;
            if let Some(p) = self.partitions.get_mut(index) {
                p.offsets.produced(offset);
                since_append = p
                    .offsets
                    .appended_at(offset)
                    .map(|appended| now_ms.saturating_sub(appended).max(0) as f64 / 1_000.0);
            }
            let trigger_time = warning.occurred_at.0;
            self.report.emit(WarningQueued {
                rule_id: &warning.rule_id,
                level: warning.level,
                since_append,
            });
            let tag = self.outstanding.queued(index, offset, Some(trigger_time));
            self.in_flight.push(send(&self.producer, output, tag, 0));
        }
        self.warnings = warnings;
        self.report
            .outputs_in_flight
            .set(self.in_flight.len() as f64);
    }

    /// A record refused before it reached the engine: it is in no window, so only
    /// its dead letter holds its offset back.
    fn refuse(
        &mut self,
        e: &DecodeError,
        message: &impl Message,
        index: usize,
        appended: Option<i64>,
    ) {
        self.partition(index)
            .offsets
            .consumed(message.offset(), None, appended);
        self.dead_letter(e, message, index);
    }

    fn dead_letter(&mut self, e: &DecodeError, message: &impl Message, index: usize) {
        let reason = e.reason.code();
        let (partition, offset) = (message.partition(), message.offset());
        self.report.emit(RecordRefused {
            error: e,
            partition,
            offset,
        });
        let headers = dead_letter_headers(&DeadLetterOrigin {
            reason,
            detail: &e.detail,
            topic: message.topic(),
            partition,
            offset,
        });
        let (payload, headers) =
            crate::headers::cut_to_size(message.payload().unwrap_or_default(), headers);
        let output = Output {
            topic: self.config.dlq_topic.clone(),
            key: message.key().map(<[u8]>::to_vec),
            payload,
            headers,
        };
        self.partition(index).offsets.produced(offset);
        self.report.emit(DeadLetterQueued { reason: e.reason });
        let tag = self.outstanding.queued(index, offset, None);
        self.in_flight.push(send(&self.producer, output, tag, 0));
    }

    fn delivered(&mut self, Delivery { tag, ok, retry }: Delivery) {
        self.report
            .outputs_in_flight
            .set(self.in_flight.len() as f64);
        let current = self.outstanding.is_current(&tag);
        if !ok {
            // Not acknowledged: the input stays uncommitted and the output is sent
            // again (outputs of an older assignment are re-produced by the re-read).
            let kind = if tag.is_casework() {
                events::Output::Casework
            } else if tag.trigger_time.is_some() {
                events::Output::Warning
            } else {
                events::Output::DeadLetter
            };
            self.report.emit(ProduceFailed { output: kind });
            let output = kind.label();
            if self.transactional && current {
                // A failed produce poisons the transaction: stop; a restart resumes
                // from the last committed one.
                self.fatal = Some(PipelineError::Transaction(format!(
                    "an output was refused inside a transaction ({output})"
                )));
                return;
            }
            // The loop's own records are not re-produced by re-reading: always retry.
            match (current || tag.is_casework(), retry) {
                (true, Some((output, attempt))) => {
                    self.in_flight
                        .push(send(&self.producer, output, tag, attempt));
                }
                // Given up (a loop record the broker can never take): it no longer
                // holds the snapshot barrier.
                _ => self.outstanding.settled(&tag, Settled::GivenUp),
            }
            return;
        }
        if !current {
            return;
        }
        self.outstanding.settled(&tag, Settled::Acknowledged);
        if let Some(p) = self.partitions.get_mut(tag.index) {
            p.offsets.acknowledged(tag.offset);
        }
    }

    /// Watermark alignment: pauses the partitions too far ahead of the slowest
    /// active one and resumes those back within half the drift
    /// ([`Partitions::align`]). Paused partitions are kept by name, so a partition
    /// paused before an assignment change is resumed at the next call.
    fn align<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        let Some(drift) = self.config.max_watermark_drift else {
            return;
        };
        let wanted = self.partitions.align(drift.0, &self.aligned_paused);
        if wanted == self.aligned_paused {
            return;
        }
        let list = |set: &mut dyn Iterator<Item = &(String, i32)>| {
            let mut tpl = TopicPartitionList::new();
            for (topic, partition) in set {
                tpl.add_partition(topic, *partition);
            }
            tpl
        };
        let resume = list(&mut self.aligned_paused.difference(&wanted));
        let pause = list(&mut wanted.difference(&self.aligned_paused));
        if resume.count() > 0
            && let Err(e) = consumer.resume(&resume)
        {
            // Not owned any more (an assignment change): nothing to resume.
            debug!(error = %e, "resuming aligned partitions");
        }
        if pause.count() > 0 {
            if let Err(e) = consumer.pause(&pause) {
                warn!(error = %e, "pausing partitions ahead of the watermark failed");
                return;
            }
            debug!(
                partitions = pause.count(),
                "partitions ahead of the watermark paused"
            );
            self.report.stats.alignment_pauses += pause.count() as u64;
        }
        self.aligned_paused = wanted;
        metrics::gauge!(m::PARTITIONS_PAUSED).set(self.aligned_paused.len() as f64);
    }

    /// Pauses or resumes consumption bookkeeping. While outputs back up, partitions
    /// are not read, so their silence must not count as idleness: releasing everything
    /// then would turn the unread events late.
    fn backpressure(&mut self, room: bool) {
        match (room, self.paused_since) {
            (false, None) => {
                debug!(
                    in_flight = self.in_flight.len(),
                    "outputs backed up; consumption paused"
                );
                self.paused_since = Some(Instant::now());
            }
            (true, Some(since)) => {
                debug!(
                    paused_ms = since.elapsed().as_millis() as u64,
                    "consumption resumed"
                );
                self.partitions.resume_after(since.elapsed());
                self.paused_since = None;
            }
            _ => {}
        }
    }

    /// Idle detection, watermark progress on processing time, and state gauges.
    fn on_tick<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        let now = Instant::now();
        let earliest = self.config.auto_offset_reset != "latest";
        if self.paused_since.is_none()
            && self
                .partitions
                .mark_idle(now, |p| caught_up(consumer, p, earliest))
                > 0
        {
            debug!("partitions went idle");
        }
        self.advance();
        self.produce_warnings();
        self.report.pending.set(self.engine.pending_events() as f64);
        self.casework_tick(now);
        self.snapshot_tick(now);
        if let Some(w) = self.engine.watermark() {
            let delay = (Timestamp::now().0.saturating_sub(w.0)) as f64 / 1e9;
            metrics::gauge!(m::WATERMARK_DELAY).set(delay);
        }
        let every = Duration::from_nanos(self.config.state_report_interval.0.max(0) as u64);
        if self
            .last_state_report
            .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.last_state_report = Some(now);
            let s = self.engine.state_stats();
            metrics::gauge!(m::STATE_OFFICIALS).set(s.officials as f64);
            metrics::gauge!(m::STATE_EVENTS).set(s.retained_events as f64);
            metrics::gauge!(m::STATE_BYTES).set((s.window_bytes + s.dedup_bytes) as f64);
        }
    }

    fn commit<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>, mode: CommitMode) {
        // With durable state, offsets are committed only with a snapshot.
        if self.config.state.is_some() {
            return;
        }
        let retention = self.pack.retention().0;
        let watermark = commit_bound(
            self.engine.watermark().map(|w| w.0),
            self.outstanding.oldest_unacked_trigger(),
        );
        let mut list = TopicPartitionList::new();
        for p in self.partitions.iter_mut() {
            if let Some(offset) = p.offsets.committable(watermark, retention)
                && list
                    .add_partition_offset(&p.topic, p.partition, Offset::Offset(offset))
                    .is_err()
            {
                warn!(topic = %p.topic, partition = p.partition, offset, "cannot list offset for commit");
            }
        }
        if list.count() == 0 {
            return;
        }
        debug!(offsets = ?list.to_topic_map(), "committing");
        match consumer.commit(&list, mode) {
            Ok(()) => self.report.emit(CommitDone { ok: true }),
            Err(e) => {
                self.report.emit(CommitDone { ok: false });
                warn!(error = %e, "commit failed; will retry with the next commit");
                self.forget_commits();
            }
        }
    }

    /// An asynchronous commit failed (its callback counted the metric): hand the
    /// commit points out again on the next tick.
    fn commit_failed(&mut self) {
        self.report.stats.commit_errors += 1;
        self.forget_commits();
    }

    /// The next commit lists every partition's commit point, changed or not.
    fn forget_commits(&mut self) {
        for p in self.partitions.iter_mut() {
            p.offsets.forget_commit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::commit_bound;

    #[test]
    fn an_unacknowledged_warning_holds_commits_back_to_its_trigger() {
        assert_eq!(commit_bound(None, None), None);
        assert_eq!(
            commit_bound(None, Some(5)),
            None,
            "no watermark: nothing released"
        );
        assert_eq!(commit_bound(Some(100), None), Some(100));
        assert_eq!(commit_bound(Some(100), Some(40)), Some(40));
        assert_eq!(commit_bound(Some(100), Some(140)), Some(100));
    }
}
