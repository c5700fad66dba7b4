//! Restoring durable window state after every assignment change
//! (`KafkaConfig::state`): the state topic is read to its end; for each owned
//! partition the newest complete snapshot is restored into the fresh engine (and its
//! cases into the casebook) before any of the partition's records is evaluated, and
//! the partition's input moves to where that snapshot ends. Records before a
//! snapshot's position (a commit that failed after its snapshot was written) are
//! skipped. `/readyz` says `restoring window state` meanwhile. Taking snapshots:
//! snapshots.rs.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::instance::Pipeline;
use super::{PipelineError, Step};
use crate::partitions::Partitions;
use crate::state_topic::{self, Assembler, PartitionState};
use crate::telemetry as m;

/// How long a restore may read the state topic.
const RESTORE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the state topic is read again while a snapshot a commit goes with is
/// missing (tansu 0.6.0 was seen to show a written snapshot only seconds later).
/// Giving up is safe (the input moves back to an older snapshot, or to the oldest
/// input), just more re-reading.
const READ_AGAIN_FOR: Duration = Duration::from_secs(30);
/// The pause between two such reads.
const READ_RETRY_DELAY: Duration = Duration::from_secs(1);

impl Pipeline<'_> {
    /// Puts a restored partition's cases back into the casebook, re-tagged to the
    /// partition's index in this assignment.
    fn restore_cases(&mut self, ps: &PartitionState, index: usize, topic: &str, partition: i32) {
        let (Some(book), Some(cases)) = (self.casebook.as_ref(), ps.casebook.as_ref()) else {
            return;
        };
        let mut cases = cases.clone();
        cases.retag(|tag| Partitions::source(index, Partitions::split_source(tag).1));
        let mut book = book.lock();
        match book.restore(&cases) {
            Ok(officials) => {
                // Snapshots of earlier versions hold no conditions: the rules give them.
                let filled = book.recompute_conditions(&self.pack);
                info!(%topic, partition, officials, filled, "cases restored");
            }
            Err(e) => warn!(%topic, partition, error = %e, "cases not restored"),
        }
    }

    /// Restores the owned partitions' newest snapshots into the (fresh) engine and
    /// moves each partition's consumer position to where its snapshot ends, so the
    /// state and the input always meet exactly, whatever the committed offset says.
    pub(super) async fn restore_state<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        self.phase.advance(Step::Restored);
        self.intake.moved.clear();
        // The next snapshot of every partition is full: restored and handed-over
        // state is not tracked as changes.
        self.snapshots.chains.clear();
        let Some(state) = self.config.state.clone() else {
            return;
        };
        let started = Instant::now();
        self.health.set_restoring(true);
        if let Some(book) = &self.casebook {
            // Like the engine, the casebook holds exactly the owned partitions'
            // restored cases afterwards (the handover snapshot has the kept ones).
            book.lock().forget_officials(|_, _| true);
        }
        let owned: Vec<(usize, String, i32)> = self
            .intake
            .partitions
            .iter_mut()
            .enumerate()
            .map(|(i, p)| (i, p.topic.clone(), p.partition))
            .collect();
        let committed = committed_positions(consumer, &owned);
        let keys: Vec<String> = owned
            .iter()
            .map(|(_, t, p)| state_topic::key(&self.config.group, t, *p))
            .collect();
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &self.config.brokers);
        for (k, v) in &self.config.properties {
            client.set(k, v);
        }
        client
            .set("group.id", format!("{}.state-reader", self.config.group))
            .set("enable.auto.commit", "false");
        // A commit names its snapshot: until every named snapshot (or a newer one) is
        // read, the state topic is read again; a snapshot written just before the
        // commit may not be visible to every reader at once.
        let floors: HashMap<String, u64> = keys
            .iter()
            .zip(&owned)
            .filter_map(|(key, (_, t, p))| {
                Some((key.clone(), committed.get(&(t.clone(), *p))?.epoch?))
            })
            .collect();
        let mut attempt = 1;
        let found = loop {
            let found = read_state_blocking(&client, &state.topic, &keys, &floors).await;
            let missing: Vec<&String> = keys
                .iter()
                .zip(&owned)
                .filter(|(key, (_, t, p))| {
                    let commit = committed.get(&(t.clone(), *p)).copied().unwrap_or_default();
                    let newest = found.get(*key).map(|(epoch, ps)| {
                        (*epoch, ps.as_ref().map_or(i64::MAX, |ps| ps.position))
                    });
                    behind_the_commit(commit, newest)
                })
                .map(|(key, _)| key)
                .collect();
            if missing.is_empty() || started.elapsed() >= READ_AGAIN_FOR {
                break found;
            }
            warn!(
                ?missing,
                attempt,
                "the snapshots the committed offsets go with are not on the state topic yet; reading it again"
            );
            attempt += 1;
            tokio::time::sleep(READ_RETRY_DELAY).await;
        };
        let mut entries = 0;
        let mut any_unrestored = false;
        for (index, topic, partition) in owned {
            let key = state_topic::key(&self.config.group, &topic, partition);
            let commit = committed
                .get(&(topic.clone(), partition))
                .copied()
                .unwrap_or_default();
            let restored = match found.get(&key) {
                Some((epoch, Ok(ps))) => {
                    match self.intake.engine.restore(&retag(&ps.snapshot, index)) {
                        Ok(report) => {
                            entries += report.entries;
                            self.restore_cases(ps, index, &topic, partition);
                            if let Some(p) = self.intake.partitions.get_mut(index) {
                                p.max_seen = p.max_seen.max(ps.max_seen);
                                p.floor = ps.snapshot.watermark;
                            }
                            if self.intake.skip_before.len() <= index {
                                self.intake.skip_before.resize(index + 1, i64::MIN);
                            }
                            self.intake.skip_before[index] = ps.position;
                            info!(%topic, partition, position = ps.position, epoch, committed = ?commit.offset, officials = report.officials, entries = report.entries, "window state restored");
                            Some(ps.position)
                        }
                        Err(e) => {
                            warn!(%topic, partition, error = %e, "snapshot not restored");
                            None
                        }
                    }
                }
                Some((_, Err(e))) => {
                    warn!(%topic, partition, error = %e, "snapshot not restored");
                    None
                }
                None => None,
            };
            any_unrestored |= restored.is_none();
            let start = start_position(restored, commit);
            if let Some(p) = self.intake.partitions.get_mut(index) {
                p.start = match start {
                    Some(Offset::Offset(o)) => Some(o),
                    // From the oldest retained record.
                    Some(_) => tokio::task::block_in_place(|| {
                        consumer.fetch_watermarks(&topic, partition, Duration::from_secs(10))
                    })
                    .ok()
                    .map(|(low, _)| low),
                    None => commit.offset,
                };
            }
            let Some(start) = start else {
                continue;
            };
            if start == Offset::Beginning {
                warn!(%topic, partition, committed = ?commit.offset, "no readable snapshot for a partition with committed offsets; rebuilding its state from its oldest retained input");
                metrics::counter!(m::STATE_REWINDS).increment(1);
            }
            match seek(consumer, &topic, partition, start) {
                Ok(()) => self.intake.moved.push((topic, partition)),
                Err(e) => {
                    self.fatal = Some(PipelineError::State(format!(
                        "cannot move {topic}/{partition} to where its restored state ends ({start:?}): {e}"
                    )))
                }
            }
        }
        if any_unrestored {
            // Those partitions are read from their start: the engine must not take
            // their events for late. Restored partitions keep their own floor.
            self.intake.engine.forget_watermark();
        }
        self.cases.restored_at = Some(Instant::now());
        self.cases.feedback_assign_due = true;
        metrics::counter!(m::RESTORED_ENTRIES).increment(entries as u64);
        metrics::gauge!(m::RESTORE_SECONDS).set(started.elapsed().as_secs_f64());
        self.views.set(self.intake.engine.view());
        self.health.set_restoring(false);
    }
}

/// The snapshot with its source tags moved to partition index `index` of this
/// assignment: the instance that took it numbered its partitions its own way, and
/// the next snapshot of this partition selects officials and pending events by tag.
fn retag(
    snapshot: &sunlight_core::engine::Snapshot,
    index: usize,
) -> sunlight_core::engine::Snapshot {
    let mut s = snapshot.clone();
    let moved = |tag: u64| Partitions::source(index, Partitions::split_source(tag).1);
    for o in &mut s.officials {
        o.last_source = moved(o.last_source);
        // An entity lane's buckets are named after their partition's index too.
        if let Some(id) = sunlight_core::engine::retag_owner(&o.id, index) {
            o.id = id;
        }
    }
    for p in &mut s.pending {
        p.source = moved(p.source);
    }
    // The ids of the partition's events (all of the writer's, in snapshots of
    // earlier versions: they then stay with this partition until they expire).
    s.released_source = Some(Partitions::source(index, 0));
    s
}

/// Per state key, the newest complete snapshot's epoch and contents (or why they
/// do not parse).
type Found = HashMap<String, (u64, Result<PartitionState, String>)>;

/// A partition's committed offset and the snapshot epoch its commit names.
#[derive(Debug, Clone, Copy, Default)]
struct Committed {
    offset: Option<i64>,
    epoch: Option<u64>,
}

/// Whether the newest snapshot found for a partition (epoch, position) is older
/// than its committed offset says it should be: the commit names a newer epoch, or
/// points past the snapshot's position, or there is no snapshot at all. With durable
/// state every commit goes with a snapshot written before it, so this means the
/// state topic has not shown that snapshot (yet).
fn behind_the_commit(commit: Committed, newest: Option<(u64, i64)>) -> bool {
    match (newest, commit.offset) {
        (None, Some(_)) => true,
        (None, None) => commit.epoch.is_some(),
        (Some((epoch, position)), offset) => {
            commit.epoch.is_some_and(|named| epoch < named) || offset.is_some_and(|c| position < c)
        }
    }
}

/// Where a partition's input must continue after a restore (None: where the
/// consumer already is, i.e. the committed offset or `auto.offset.reset`):
/// - a snapshot was restored: exactly where it ends, whatever the committed
///   offset says (behind it after a failed commit, ahead of it when the newest
///   snapshot could not be read);
/// - none, but offsets were committed (with a snapshot that is missing, expired or
///   unreadable, or by a run without durable state): from the oldest retained
///   input, so the windows are rebuilt rather than left with a gap.
fn start_position(restored: Option<i64>, commit: Committed) -> Option<Offset> {
    match restored {
        Some(position) if commit.offset == Some(position) => None,
        Some(position) => Some(Offset::Offset(position)),
        None if commit.offset.is_some() || commit.epoch.is_some() => Some(Offset::Beginning),
        None => None,
    }
}

/// The committed offsets of the owned partitions (empty if the coordinator does not
/// answer: every partition is then restored from its newest snapshot).
fn committed_positions<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    owned: &[(usize, String, i32)],
) -> HashMap<(String, i32), Committed> {
    let mut list = TopicPartitionList::new();
    for (_, topic, partition) in owned {
        list.add_partition(topic, *partition);
    }
    let answer =
        tokio::task::block_in_place(|| consumer.committed_offsets(list, Duration::from_secs(10)));
    match answer {
        Ok(list) => list
            .elements()
            .iter()
            .map(|e| {
                let offset = match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                };
                // rdkafka panics on metadata that is not UTF-8 (another tool's).
                let epoch = std::panic::catch_unwind(|| e.metadata().to_string())
                    .ok()
                    .and_then(|m| state_topic::epoch_of_commit(&m));
                (
                    (e.topic().to_string(), e.partition()),
                    Committed { offset, epoch },
                )
            })
            .collect(),
        Err(e) => {
            warn!(error = %e, "cannot fetch the committed offsets; restoring the newest snapshots");
            HashMap::new()
        }
    }
}

/// Moves the consumer's position in one partition (a few tries: right after an
/// assignment the partition's fetcher may still be starting).
fn seek<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    topic: &str,
    partition: i32,
    to: Offset,
) -> Result<(), rdkafka::error::KafkaError> {
    tokio::task::block_in_place(|| {
        let mut tries = 0;
        loop {
            match consumer.seek(topic, partition, to, Duration::from_secs(10)) {
                Ok(()) => return Ok(()),
                Err(e) if tries >= 5 => return Err(e),
                Err(e) => {
                    warn!(%topic, partition, error = %e, "seek failed; retrying");
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    })
}

/// [`read_state`] on a blocking thread; a failure reads as "no snapshots".
async fn read_state_blocking(
    client: &ClientConfig,
    topic: &str,
    keys: &[String],
    floors: &HashMap<String, u64>,
) -> Found {
    let (client, topic, keys) = (client.clone(), topic.to_string(), keys.to_vec());
    let floors = floors.clone();
    match tokio::task::spawn_blocking(move || read_state(&client, &topic, &keys, floors)).await {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            warn!(error = %e, "cannot read the state topic; rebuilding from the committed offsets");
            HashMap::new()
        }
        Err(e) => {
            warn!(error = %e, "state reader failed; rebuilding from the committed offsets");
            HashMap::new()
        }
    }
}

/// Reads the state topic to its end; per each of `keys`, the snapshot to restore
/// (`restore_points`), keeping what a key's commit names (`floors`:
/// `Assembler::keeping`).
fn read_state(
    client: &ClientConfig,
    topic: &str,
    keys: &[String],
    floors: HashMap<String, u64>,
) -> Result<Found, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = client.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for p in partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if high > low {
            remaining.insert(p, high);
            assignment.add_partition_offset(topic, p, Offset::Beginning)?;
        }
    }
    let mut assembler = Assembler::keeping(floors);
    if !remaining.is_empty() {
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + RESTORE_TIMEOUT;
        while !remaining.is_empty() && Instant::now() < deadline {
            let Some(result) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let m = result?;
            let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
            if keys.iter().any(|k| *k == key) {
                let headers = crate::headers::header_pairs(&m);
                assembler.add(&key, &headers, m.payload().unwrap_or_default());
            }
            if remaining
                .get(&m.partition())
                .is_some_and(|high| m.offset() + 1 >= *high)
            {
                remaining.remove(&m.partition());
            }
        }
    }
    Ok(restore_points(&assembler, keys))
}

/// Per key, the state to restore: one consistent cut of the snapshots found
/// (cut.rs). A chosen state that does not parse or apply is left out and the cut
/// chosen again without it; a key left with nothing keeps the error.
fn restore_points(assembler: &Assembler, keys: &[String]) -> Found {
    let mut ends: BTreeMap<String, Vec<state_topic::Restorable>> = keys
        .iter()
        .map(|k| (k.clone(), assembler.restorable(k)))
        .collect();
    let newest: HashMap<String, u64> = ends
        .iter()
        .filter_map(|(k, r)| Some((k.clone(), r.last()?.epoch)))
        .collect();
    // Per key left out, the newest epoch that did not parse or apply, and why.
    let mut errors: HashMap<String, (u64, String)> = HashMap::new();
    loop {
        let mut found = Found::new();
        let mut spoilt = false;
        for (key, epoch) in super::cut::consistent_cut(&ends) {
            let state = assembler
                .state_at(&key, epoch)
                .unwrap_or_else(|| Err(format!("state {key} epoch {epoch} is incomplete")));
            match state {
                Ok(state) => {
                    if newest.get(&key) != Some(&epoch) {
                        info!(%key, epoch, newest = ?newest.get(&key), "restoring an older snapshot: not every partition written with the newer one has it");
                    }
                    found.insert(key, (epoch, Ok(state)));
                }
                Err(e) => {
                    warn!(error = %e, "snapshot not usable; choosing the snapshots to restore again without it");
                    if let Some(r) = ends.get_mut(&key) {
                        r.retain(|r| r.epoch != epoch);
                    }
                    errors.entry(key).or_insert((epoch, e));
                    spoilt = true;
                }
            }
        }
        if !spoilt {
            for (key, (epoch, e)) in errors {
                found.entry(key).or_insert((epoch, Err(e)));
            }
            return found;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sunlight_core::event::PowerEvent;
    use sunlight_core::time::Timestamp;
    use sunlight_core::{Engine, EngineConfig};

    use super::*;

    fn commit(offset: Option<i64>, epoch: Option<u64>) -> Committed {
        Committed { offset, epoch }
    }

    #[test]
    fn a_snapshot_older_than_the_commit_is_read_again() {
        // Nothing committed, nothing found: a new group.
        assert!(!behind_the_commit(commit(None, None), None));
        // The commit's snapshot is the newest found.
        assert!(!behind_the_commit(commit(Some(10), Some(7)), Some((7, 10))));
        // A failed commit after a newer snapshot: the snapshot is ahead, fine.
        assert!(!behind_the_commit(commit(Some(10), Some(7)), Some((9, 15))));
        // The commit names a newer snapshot, or points past the one found.
        assert!(behind_the_commit(commit(Some(10), Some(8)), Some((7, 10))));
        assert!(behind_the_commit(commit(Some(12), None), Some((7, 10))));
        // Offsets committed and no snapshot at all.
        assert!(behind_the_commit(commit(Some(12), None), None));
    }

    #[test]
    fn the_input_continues_where_the_restored_snapshot_ends() {
        assert_eq!(start_position(Some(10), commit(Some(10), None)), None);
        assert_eq!(
            start_position(Some(10), commit(Some(4), None)),
            Some(Offset::Offset(10))
        );
        assert_eq!(
            start_position(Some(10), commit(Some(15), None)),
            Some(Offset::Offset(10)),
            "back to the snapshot, not on from the commit"
        );
        assert_eq!(
            start_position(None, commit(Some(15), Some(3))),
            Some(Offset::Beginning)
        );
        assert_eq!(
            start_position(None, commit(Some(15), None)),
            Some(Offset::Beginning)
        );
        assert_eq!(start_position(None, commit(None, None)), None);
    }

    /// A snapshot taken where the partition was index 3 and restored where it is
    /// index 0 must be found again when selecting index 0.
    #[test]
    fn restored_state_is_attributed_to_the_partition_s_index_here() {
        let pack = sunlight_core::rules::compile_pack(
            "[pack]\nname = \"t\"\nversion = \"1\"\n[[rule]]\nid = \"r\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1d\"\nyellow = { count = \">= 9\" }\nfilter = { kind = \"payment\" }\n",
            std::path::Path::new("."),
            "t",
        )
        .unwrap();
        let pack = Arc::new(pack);
        let mut there = Engine::new(Arc::clone(&pack), EngineConfig::default());
        let mut out = Vec::new();
        for (i, minute) in [0i64, 5].iter().enumerate() {
            there.ingest_from(
                PowerEvent::new(
                    &format!("e{i}"),
                    "o1",
                    "payment",
                    Timestamp(minute * 60_000_000_000),
                ),
                Partitions::source(3, i as u64 as i64),
                &mut out,
            );
        }
        let snap = there.snapshot(|_, s| Partitions::split_source(s).0 == 3);
        assert_eq!((snap.officials.len(), snap.pending.len()), (1, 1));
        let mut here = Engine::new(Arc::clone(&pack), EngineConfig::default());
        here.restore(&retag(&snap, 0)).unwrap();
        let again = here.snapshot(|_, s| Partitions::split_source(s).0 == 0);
        assert_eq!((again.officials.len(), again.pending.len()), (1, 1));
        assert_eq!(Partitions::split_source(again.pending[0].source), (0, 1));
    }
}
