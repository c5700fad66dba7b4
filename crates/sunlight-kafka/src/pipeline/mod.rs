//! The live pipeline: consume events, evaluate them in one engine for every
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
//!   with the same ids). With durable state (`snapshots.rs`) the new engine restores
//!   each partition's snapshot and moves the partition's input to where it ends;
//!   incremental (cooperative-sticky) assignment is then allowed, with a handover
//!   snapshot before each change. Without durable state it is refused: it keeps
//!   positions, which a rebuild from committed offsets cannot use.
//! - **Backpressure**: at most `max_in_flight` outputs wait for the broker; beyond
//!   that, no further batch is taken. The bound is checked before a batch is taken,
//!   and the next batch is taken before the current one is evaluated, so the outputs
//!   of up to two batches (2 x 1,024 records) may pass it. The producer's own queue
//!   is bounded by librdkafka.
//! - **Components**: each in its own file (docs/ARCHITECTURE.md, "Components of the
//!   pipeline"): `intake.rs` (decode on two threads, admit, evaluate),
//!   `publisher.rs` (outputs in flight), `committer.rs`, `snapshots.rs` and
//!   `restore.rs`, `closed_loop.rs`, `phase.rs`; `instance.rs` moves records between
//!   them and this file's loop drives them.
//! - **Shutdown**: stop consuming, wait for outstanding outputs (up to a deadline),
//!   commit what is safe, return.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rdkafka::consumer::CommitMode;
use rdkafka::error::KafkaError;
use sunlight_core::codec::DecodeLimits;
use sunlight_core::sources::SourceFile;
use sunlight_core::{CompiledPack, EngineConfig, StateView};
use tracing::{info, warn};

mod clients;
mod closed_loop;
mod committer;
mod cut;
mod entity_input;
mod events;
mod instance;
mod intake;
mod outstanding;
mod phase;
mod publisher;
mod rebalance;
mod restore;
mod snapshots;
#[cfg(test)]
mod test_support;

use clients::Clients;
pub use committer::commit_bound;
use instance::{Pipeline, live_engine_config};
use intake::{Decoder, Intake};
use phase::{Phase, Step};
use publisher::Publisher;

use crate::casework::SharedCasebook;
use crate::config::KafkaConfig;
use crate::health::Health;
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
    /// Warnings carried in from entity lanes and emitted.
    pub carried: u64,
    /// Records that carried a Schema Registry frame.
    pub framed: u64,
    /// Department records a source mapping mapped to no event.
    pub mapped_to_nothing: u64,
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
    /// New versions of the source mapping file (`config.sources`), validated by the
    /// sender (same topics); each one is used from the next batch of records on.
    pub sources: Option<tokio::sync::watch::Receiver<Arc<SourceFile>>>,
}

impl Services {
    /// Health only; a casebook is created if the config asks for the closed loop.
    pub fn new(health: Arc<Health>) -> Services {
        Services {
            health,
            casebook: None,
            views: ViewSlot::default(),
            packs: None,
            sources: None,
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
    let Clients {
        consumer,
        producer,
        assignment,
        commit_failed,
        transactional,
    } = clients::connect(config, &health)?;
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

    let intake = Intake::new(
        Arc::clone(&pack),
        live_engine_config(engine_config),
        Decoder {
            protobuf_topics: config.protobuf_topics.clone(),
            limits,
            sources: config.sources.clone(),
        },
        Duration::from_nanos(config.idle_timeout.0.max(0) as u64),
    );
    let publisher = Publisher::new(producer, transactional, config.max_in_flight);
    let mut pipeline = Pipeline::new(
        config,
        pack,
        intake,
        publisher,
        Arc::clone(&health),
        casebook,
        services.views.clone(),
    );
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
    let mut sources = services.sources.clone();
    loop {
        if let Some(error) = pipeline.fatal.take() {
            pipeline.publisher.abort_transaction();
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
        if std::mem::take(&mut pipeline.cases.feedback_assign_due)
            && let Some(fc) = &feedback_consumer
        {
            pipeline.assign_feedback(fc);
        }
        if pipeline.snapshots.due {
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
        pipeline.release_held();
        let room = pipeline.has_room();
        pipeline.backpressure(room);
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            done = pipeline.publisher.next_delivery() => pipeline.delivered(done),
            written = async { (&mut pipeline.snapshots.in_flight.as_mut().expect("checked").task).await }, if pipeline.snapshots.in_flight.is_some() => {
                let flight = pipeline.snapshots.in_flight.take().expect("checked");
                pipeline.finish_snapshot(&consumer, flight, written);
            }
            Some(new) = next_version(&mut packs) => pipeline.swap_pack(new),
            Some(new) = next_version(&mut sources) => pipeline.swap_sources(new),
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
                // select, in batches decoded on the second core: the loop's other
                // branches are polled once per few batches instead of once per record.
                pipeline.on_records(
                    message,
                    || messages.next().now_or_never().flatten(),
                    &assignment,
                    &consumer,
                );
            },
        }
    }
    health.set_stopping();
    pipeline.phase.advance(Step::Stop);
    // Drain: wait for outstanding outputs (bounded), then commit what is safe.
    let deadline =
        tokio::time::sleep(Duration::from_nanos(config.shutdown_timeout.0.max(0) as u64));
    tokio::pin!(deadline);
    while pipeline.publisher.in_flight() > 0 {
        tokio::select! {
            done = pipeline.publisher.next_delivery() => pipeline.delivered(done),
            () = &mut deadline => {
                warn!(outstanding = pipeline.publisher.in_flight(), "shutdown deadline passed with outputs unacknowledged; they will be re-produced after restart");
                break;
            }
        }
    }
    if config.state.is_some() {
        // A last snapshot, if every output is acknowledged, so a restart resumes here.
        pipeline.await_snapshot(&consumer).await;
        pipeline.snapshots.due = true;
        if pipeline.snapshot_ready() {
            pipeline.take_snapshot(&consumer).await;
            pipeline.await_snapshot(&consumer).await;
        }
        if let Some(fc) = &feedback_consumer {
            pipeline.commit_feedback(fc);
        }
        if pipeline.snapshots.due {
            // Not everything acknowledged: the open transaction is abandoned and the
            // next owner starts from the last committed one.
            pipeline.publisher.abort_transaction();
        }
    }
    pipeline.commit(&consumer, CommitMode::Sync);
    Ok(pipeline.report.stats)
}

/// The next version sent (of a rule pack, of a mapping file), or never (no sender,
/// or the sender is gone).
async fn next_version<T>(
    versions: &mut Option<tokio::sync::watch::Receiver<Arc<T>>>,
) -> Option<Arc<T>> {
    if let Some(rx) = versions {
        if rx.changed().await.is_ok() {
            return Some(Arc::clone(&rx.borrow_and_update()));
        }
        *versions = None;
    }
    std::future::pending().await
}
