//! Durable window state in the pipeline (`KafkaConfig::state`).
//!
//! - **Snapshot** (every `state.interval`): consumption pauses until every output of
//!   the records read so far is acknowledged (a barrier, as in Flink's aligned
//!   checkpoints); then each owned partition's state — the officials whose latest
//!   event came from it, its pending events, the duplicate-detection ids — goes to the
//!   state topic with the partition's next offset, and once the broker has all of it,
//!   those offsets are committed. Commits happen only here: the committed offset of a
//!   partition is always one its snapshot covers.
//! - **Restore**: restore.rs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use sunlight_core::time::Timestamp;
use tracing::warn;

use super::instance::Pipeline;
use super::{Phase, PipelineError};
use crate::partitions::Partitions;
use crate::state_topic::{self, PartitionState};
use crate::telemetry as m;

/// The snapshot state of one run.
#[derive(Default)]
pub(super) struct Snapshots {
    /// A snapshot is due (consumption pauses until the barrier).
    pub(super) due: bool,
    /// When the last snapshot was taken (or the interval started).
    pub(super) last: Option<Instant>,
    /// A snapshot being encoded and written while consumption goes on.
    pub(super) in_flight: Option<SnapshotInFlight>,
    /// Per owned partition, its chain of snapshots written in this assignment: the
    /// next one is a delta of it, or full.
    pub(super) chains: HashMap<(String, i32), Chain>,
}

/// A partition's chain of snapshots written in this assignment: a full one and the
/// deltas after it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Chain {
    /// Epoch of the newest snapshot written (what the next delta follows).
    last: u64,
    /// Bytes of the full snapshot.
    full_bytes: usize,
    /// Deltas written since it, and their bytes.
    deltas: u32,
    delta_bytes: usize,
}

impl Chain {
    fn start(epoch: u64, bytes: usize) -> Chain {
        Chain {
            last: epoch,
            full_bytes: bytes,
            deltas: 0,
            delta_bytes: 0,
        }
    }

    fn extend(&mut self, follows: Option<u64>, epoch: u64, bytes: usize) {
        *self = match follows {
            None => Chain::start(epoch, bytes),
            Some(_) => Chain {
                last: epoch,
                deltas: self.deltas + 1,
                delta_bytes: self.delta_bytes + bytes,
                ..*self
            },
        };
    }
}

/// A snapshot copied at its barrier and being encoded and written by a task.
pub(super) struct SnapshotInFlight {
    epoch: u64,
    /// Per written partition, in order: its chain key and the epoch a delta follows.
    chains: Vec<((String, i32), Option<u64>)>,
    /// The input positions of the barrier, committed once the broker has it all.
    commits: TopicPartitionList,
    /// The feedback positions of the barrier (closed_loop.rs).
    feedback: BTreeMap<i32, i64>,
    started: Instant,
    /// Bytes written per partition, or why the snapshot was not written.
    pub(super) task: tokio::task::JoinHandle<Result<Vec<usize>, String>>,
}

/// Encodes the partitions' states (on a blocking thread: hundreds of megabytes must
/// not hold the pipeline's) and writes them; the bytes per partition.
async fn write_parts(
    producer: FutureProducer,
    topic: String,
    group: String,
    epoch: u64,
    parts: Vec<((String, i32), Option<u64>, PartitionState)>,
) -> Result<Vec<usize>, String> {
    let encoded: Vec<Vec<state_topic::StateRecord>> = tokio::task::spawn_blocking(move || {
        // Every record names the partitions written with it: a restore takes them
        // at one epoch together (pipeline/cut.rs).
        let cohort: Vec<(String, i32)> = parts.iter().map(|(k, _, _)| k.clone()).collect();
        let cohort = state_topic::cohort_value(&cohort);
        parts
            .iter()
            .map(|((input, partition), follows, ps)| {
                let mut records =
                    state_topic::encode(&group, input, *partition, epoch, *follows, ps);
                for (_, _, headers) in &mut records {
                    headers.push((state_topic::COHORT_HEADER, cohort.clone()));
                }
                records
            })
            .collect()
    })
    .await
    .map_err(|e| e.to_string())?;
    let sends = encoded.iter().flatten().map(|(key, payload, headers)| {
        let headers = headers.iter().fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_str()),
            })
        });
        producer.send(
            FutureRecord::to(&topic)
                .key(key)
                .payload(payload)
                .headers(headers),
            Duration::from_secs(30),
        )
    });
    let results = futures::future::join_all(sends).await;
    if let Some(Err((e, _))) = results.iter().find(|r| r.is_err()) {
        return Err(e.to_string());
    }
    tracing::debug!(epoch, "state snapshot written");
    Ok(encoded
        .iter()
        .map(|records| records.iter().map(|(_, payload, _)| payload.len()).sum())
        .collect())
}

impl Pipeline<'_> {
    /// Marks a snapshot due when the interval has passed.
    pub(super) fn snapshot_tick(&mut self, now: Instant) {
        let Some(state) = &self.config.state else {
            return;
        };
        if self.snapshots.in_flight.is_some() {
            return;
        }
        let every = Duration::from_nanos(state.interval.0.max(0) as u64);
        match self.snapshots.last {
            None => self.snapshots.last = Some(now),
            Some(t) if now.duration_since(t) >= every => self.snapshots.due = true,
            Some(_) => {}
        }
    }

    /// Whether the barrier is reached: a snapshot is due and every output of the
    /// records read so far is acknowledged.
    pub(super) fn snapshot_ready(&self) -> bool {
        self.snapshots.due
            && self.publisher.outstanding.none()
            && self.phase != Phase::Restoring
            && self.snapshots.in_flight.is_none()
    }

    /// Starts a snapshot at the barrier: every owned partition's state is copied now,
    /// then encoded and written while consumption goes on (as Flink's asynchronous
    /// checkpoints); the positions are committed when the broker has all of it
    /// ([`Pipeline::finish_snapshot`]). With exactly-once, the snapshot completes
    /// here, inside the interval's transaction. The next interval starts when a
    /// snapshot is done, not when it began, and no snapshot starts while one is in
    /// flight.
    pub(super) async fn take_snapshot<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        debug_assert!(
            self.snapshots.in_flight.is_none(),
            "snapshot_ready checks it"
        );
        let Some(state) = self.config.state.clone() else {
            return;
        };
        self.snapshots.due = false;
        let started = Instant::now();
        let epoch = Timestamp::now().0.max(0) as u64;
        let mut commits = TopicPartitionList::new();
        // Partition numbers whose state (and cases) this snapshot does not write: the
        // feedback of those numbers is not committed with it.
        let mut unwritten = Vec::new();
        // Per written partition: (topic, partition), the epoch a delta follows
        // (None: full), its state.
        let mut parts: Vec<((String, i32), Option<u64>, PartitionState)> = Vec::new();
        for (index, p) in self.intake.partitions.iter_mut().enumerate() {
            let Some(position) = snapshot_position(p) else {
                unwritten.push(p.partition);
                continue;
            };
            let select = |_: &str, source: u64| Partitions::split_source(source).0 == index;
            let chain_key = (p.topic.clone(), p.partition);
            // A delta when this partition's chain is short and small enough (the
            // deltas since the full one under half its bytes: what a restore reads
            // stays bounded), and the engine and casebook can say what changed.
            let delta = self
                .snapshots
                .chains
                .get(&chain_key)
                .filter(|c| c.deltas + 1 < state.full_every && c.delta_bytes * 2 <= c.full_bytes)
                .and_then(|c| {
                    let snapshot = self.intake.engine.delta(select)?;
                    let casebook = match &self.casebook {
                        Some(book) => Some(book.lock().delta(select)?),
                        None => None,
                    };
                    Some((c.last, snapshot, casebook))
                });
            let (follows, snapshot, casebook) = match delta {
                Some((last, snapshot, casebook)) => (Some(last), snapshot, casebook),
                None => (
                    None,
                    self.intake.engine.snapshot(select),
                    self.casebook
                        .as_ref()
                        .map(|book| book.lock().snapshot(select)),
                ),
            };
            let ps = PartitionState {
                position,
                max_seen: p.max_seen,
                snapshot,
                casebook,
            };
            parts.push((chain_key, follows, ps));
            if commits
                .add_partition_offset(&p.topic, p.partition, Offset::Offset(position))
                .is_ok()
                && let Some(mut e) = commits.find_partition(&p.topic, p.partition)
            {
                e.set_metadata(state_topic::commit_metadata(epoch));
            }
        }
        // Changes from here on go into the next deltas. (If this snapshot is not
        // written, the chains are dropped and the next snapshots are full.)
        self.intake.engine.mark_changes();
        if let Some(book) = &self.casebook {
            book.lock().mark_changes();
        }
        if parts.is_empty() {
            self.snapshots.last = Some(Instant::now());
            return;
        }
        let flight = SnapshotInFlight {
            epoch,
            chains: parts.iter().map(|(k, f, _)| (k.clone(), *f)).collect(),
            feedback: self.feedback_offsets(&unwritten),
            commits,
            started,
            task: tokio::spawn(write_parts(
                self.publisher.producer.clone(),
                state.topic.clone(),
                self.config.group.clone(),
                epoch,
                parts,
            )),
        };
        self.snapshots.in_flight = Some(flight);
        if self.publisher.transactional {
            self.await_snapshot(consumer).await;
        }
    }

    /// Waits for the snapshot in flight, if any, and finishes it.
    pub(super) async fn await_snapshot<C: ConsumerContext>(
        &mut self,
        consumer: &StreamConsumer<C>,
    ) {
        if let Some(mut flight) = self.snapshots.in_flight.take() {
            let written = (&mut flight.task).await;
            self.finish_snapshot(consumer, flight, written);
        }
    }

    /// Commits a snapshot the broker has (or counts its failure): the chains move
    /// on, the input positions of its barrier are committed, and the feedback
    /// positions of its barrier are due (`commit_feedback`).
    pub(super) fn finish_snapshot<C: ConsumerContext>(
        &mut self,
        consumer: &StreamConsumer<C>,
        flight: SnapshotInFlight,
        written: Result<Result<Vec<usize>, String>, tokio::task::JoinError>,
    ) {
        let now = Instant::now();
        self.snapshots.last = Some(now);
        metrics::gauge!(m::SNAPSHOT_SECONDS).set(now.duration_since(flight.started).as_secs_f64());
        let bytes = match written {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return self.snapshot_failed(&e),
            Err(e) => return self.snapshot_failed(&e.to_string()),
        };
        metrics::counter!(m::SNAPSHOTS, "outcome" => "ok").increment(1);
        metrics::gauge!(m::SNAPSHOT_BYTES).set(bytes.iter().sum::<usize>() as f64);
        let epoch = flight.epoch;
        for ((key, follows), bytes) in flight.chains.into_iter().zip(bytes) {
            let kind = if follows.is_some() { "delta" } else { "full" };
            metrics::counter!(m::SNAPSHOT_PARTS, "kind" => kind).increment(1);
            self.snapshots
                .chains
                .entry(key)
                .and_modify(|c| c.extend(follows, epoch, bytes))
                .or_insert_with(|| Chain::start(epoch, bytes));
        }
        let commits = flight.commits;
        if self.publisher.transactional {
            // Outputs, state and offsets of the interval become visible together.
            let result = tokio::task::block_in_place(|| {
                let metadata = consumer
                    .group_metadata()
                    .ok_or_else(|| "no consumer group metadata".to_string())?;
                self.publisher
                    .producer
                    .send_offsets_to_transaction(&commits, &metadata, Duration::from_secs(30))
                    .map_err(|e| e.to_string())?;
                self.publisher
                    .producer
                    .commit_transaction(Duration::from_secs(30))
                    .map_err(|e| e.to_string())?;
                self.publisher
                    .producer
                    .begin_transaction()
                    .map_err(|e| e.to_string())
            });
            match result {
                Ok(()) => {
                    self.cases.feedback_commit = Some(flight.feedback);
                    self.report.emit(super::events::CommitDone { ok: true });
                }
                Err(e) => {
                    self.report.emit(super::events::CommitDone { ok: false });
                    self.fatal = Some(PipelineError::Transaction(format!(
                        "cannot commit the transaction: {e}"
                    )));
                }
            }
            return;
        }
        self.cases.feedback_commit = Some(flight.feedback);
        match consumer.commit(&commits, CommitMode::Async) {
            Ok(()) => self.report.emit(super::events::CommitDone { ok: true }),
            Err(e) => {
                self.report.emit(super::events::CommitDone { ok: false });
                warn!(error = %e, "commit after a snapshot failed; the next snapshot commits again");
            }
        }
    }

    fn snapshot_failed(&mut self, e: &str) {
        warn!(error = %e, "state snapshot not written; offsets stay where the last one left them");
        self.snapshots.chains.clear();
        metrics::counter!(m::SNAPSHOTS, "outcome" => "error").increment(1);
        if self.publisher.transactional {
            self.fatal = Some(PipelineError::Transaction(format!(
                "state snapshot not written in the transaction: {e}"
            )));
        }
    }
}

/// Where a partition's snapshot is taken: after the last record read. A partition
/// that has read nothing in this assignment keeps its last snapshot (restored, or
/// none) and committed offset (`None`), unless it was restored: entity buckets stay
/// with the partition that created them, so other partitions' events change its
/// state, and it is written at the position it was restored to.
fn snapshot_position(p: &crate::partitions::Partition) -> Option<i64> {
    if p.next_offset != i64::MIN {
        Some(p.next_offset)
    } else if p.floor != i64::MIN {
        p.start
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_partition_that_read_nothing_is_written_where_it_was_restored() {
        let mut set = crate::partitions::Partitions::new(
            [("t".to_string(), 0)],
            10,
            std::time::Duration::from_secs(5),
            std::time::Instant::now(),
        );
        let p = set.get_mut(0).unwrap();
        assert_eq!(snapshot_position(p), None, "nothing read, nothing restored");
        p.start = Some(40);
        assert_eq!(snapshot_position(p), None, "a committed offset alone");
        p.floor = 5;
        assert_eq!(snapshot_position(p), Some(40), "restored to 40");
        p.next_offset = 47;
        assert_eq!(snapshot_position(p), Some(47), "read up to 46");
    }
}
