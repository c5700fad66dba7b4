//! The intake: what happens to a record between the consumer and the publisher. It
//! owns the engine of the current assignment, the owned partitions (positions,
//! watermarks, idleness, commit bookkeeping), the restored positions, and the
//! records held or discarded around a restore. For each record it decodes, lets the
//! engine admit it ([`Engine::admit`]: future skew, restored floor, lateness,
//! duplicates), moves the watermark the partitions allow, and leaves the warnings
//! released in [`Intake::warnings`] for the publisher. It writes nothing itself, so
//! it is tested without a broker.
//!
//! Decoding is a pure function of the record ([`Decoder::decode`]): the loop decodes
//! the next batch of records on a second thread while this one evaluates the
//! current batch ([`decode_beside`]).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use sunlight_core::codec::{self, DecodeError, DecodeLimits};
use sunlight_core::event::PowerEvent;
use sunlight_core::sources::{Mapped, Skipped, SourceFile};
use sunlight_core::time::Timestamp;
use sunlight_core::{Admission, CompiledPack, Engine, EngineConfig, Origin, Warning};
use tracing::{debug, warn};

use super::events::{
    DuplicateDropped, EventDecoded, FramedRecord, KeyMismatch, MappedToNothing, RecordConsumed,
    Reporter, RestoredRecordSkipped, WarningCarried,
};
use crate::partitions::{Allowed, Partition, Partitions};
use crate::telemetry as m;

/// A record decoded: its event and Schema Registry id, nothing (a mapped department
/// record that maps to no event), or why it cannot be.
#[derive(Debug)]
pub(super) enum Decoded {
    /// An event, and the Schema Registry id of its frame, if it had one.
    Event(PowerEvent, Option<u32>),
    /// A source mapping mapped the record to nothing (docs/SOURCES.md).
    Nothing(Skipped),
    /// Not an event: its dead letter is due.
    Refused(DecodeError),
}

/// How to decode the records of each input topic.
#[derive(Debug, Clone)]
pub(super) struct Decoder {
    /// Topics whose records are protobuf (the others are JSON).
    pub(super) protobuf_topics: Vec<String>,
    /// Size and depth limits.
    pub(super) limits: DecodeLimits,
    /// Department data: the topics a source mapping maps.
    pub(super) sources: Option<Arc<SourceFile>>,
}

impl Decoder {
    /// Decodes one record (a pure function of its topic and payload).
    pub(super) fn decode(&self, message: &impl Message) -> Decoded {
        let payload = message.payload().unwrap_or_default();
        let json = || match codec::decode_message(payload, codec::Format::Json, &self.limits) {
            Ok((event, _, schema_id)) => Decoded::Event(event, schema_id),
            Err(e) => Decoded::Refused(e),
        };
        let mapped = self
            .sources
            .as_ref()
            .is_some_and(|s| s.for_topic(message.topic()).is_some());
        let protobuf = self.protobuf_topics.iter().any(|t| t == message.topic());
        // An entity lane's carrier is JSON on any input topic (`ce_type` says so).
        if (mapped || protobuf) && is_carrier(message) {
            return json();
        }
        if let Some(source) = self
            .sources
            .as_ref()
            .and_then(|s| s.for_topic(message.topic()))
        {
            return match source.map_within(payload, &self.limits) {
                Ok(Mapped::Event(event)) => Decoded::Event(event, None),
                Ok(Mapped::Nothing(why)) => Decoded::Nothing(why),
                Err(e) => Decoded::Refused(e),
            };
        }
        if !protobuf {
            return json();
        }
        match codec::decode_message(payload, codec::Format::Protobuf, &self.limits) {
            Ok((event, _, schema_id)) => Decoded::Event(event, schema_id),
            Err(e) => Decoded::Refused(e),
        }
    }
}

/// Whether a record is an entity lane's carrier (`ce_type` header).
fn is_carrier(message: &impl Message) -> bool {
    use rdkafka::message::Headers;
    message.headers().is_some_and(|headers| {
        headers.iter().any(|h| {
            h.key == "ce_type" && h.value == Some(sunlight_core::lanes::CARRIER_KIND.as_bytes())
        })
    })
}

/// Decodes `messages` in order, on the calling thread.
pub(super) fn decode_all<M: Message>(decoder: &Decoder, messages: &[&M]) -> Vec<Decoded> {
    messages.iter().map(|m| decoder.decode(*m)).collect()
}

/// Runs `work` on the calling thread while `next` is decoded on a rayon worker
/// thread (the second core); returns `next` decoded, in order. The results are the
/// same as decoding on the calling thread: decoding is a pure function of a record.
pub(super) fn decode_beside<M: Message + Sync, R>(
    decoder: &Decoder,
    next: &[&M],
    work: impl FnOnce() -> R,
) -> (Vec<Decoded>, R) {
    if next.is_empty() {
        return (Vec::new(), work());
    }
    if decode_inline() {
        let result = work();
        return (decode_all(decoder, next), result);
    }
    let mut decoded = Vec::new();
    let result = decode_pool().in_place_scope(|scope| {
        let out = &mut decoded;
        scope.spawn(move |_| *out = decode_all(decoder, next));
        work()
    });
    (decoded, result)
}

/// `SUNLIGHT_DECODE_INLINE=1` decodes on the loop's own thread instead: the
/// baseline of the benchmark that measures what the second thread gains
/// (BENCHMARKS.md §3). Read once.
fn decode_inline() -> bool {
    static INLINE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INLINE.get_or_init(|| std::env::var_os("SUNLIGHT_DECODE_INLINE").is_some_and(|v| v == "1"))
}

/// The one thread that decodes batches beside the loop (named, so profiles and
/// `top -H` show it as `sunlight-decode`).
fn decode_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .thread_name(|_| "sunlight-decode".into())
            .build()
            .expect("a thread can be started")
    })
}

/// What became of one record.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// Evaluated (accepted, unmatched, or a duplicate dropped); any warnings it
    /// released are in [`Intake::warnings`].
    Evaluated,
    /// Already in the restored snapshot, or mapped to nothing: skipped.
    Skipped,
    /// Refused: its dead letter is due (the record holds its offset back until the
    /// dead letter is acknowledged).
    Refused(DecodeError),
}

/// The engine and partitions of the current assignment.
pub(super) struct Intake {
    /// Evaluates every owned partition's events.
    pub(super) engine: Engine,
    /// The owned partitions, in assignment order.
    pub(super) partitions: Partitions,
    /// Warnings released and not yet handed to the publisher.
    pub(super) warnings: Vec<Warning>,
    /// Per partition index, the position of the restored snapshot: earlier records
    /// are in it already.
    pub(super) skip_before: Vec<i64>,
    /// Partitions whose position the last restore moved (to where their snapshot
    /// ends, or to their oldest input): a record fetched before the move is read again.
    pub(super) moved: Vec<(String, i32)>,
    /// Records that arrived with an assignment change, held until the state is
    /// restored (only while the phase does not evaluate records).
    pub(super) held: Vec<OwnedMessage>,
    /// How records are decoded.
    pub(super) decoder: Decoder,
    /// The settings each new engine starts with (its clock is the closed loop's).
    pub(super) engine_config: EngineConfig,
    idle_after: Duration,
    /// Partitions paused by watermark alignment ([`Intake::align`]).
    aligned_paused: BTreeSet<(String, i32)>,
    /// Since when consumption is paused by backpressure.
    paused_since: Option<Instant>,
    /// Watermark steps taken (one in [`EVALUATION_SAMPLE`] is timed).
    steps: u32,
}

/// The evaluation-time histogram times one watermark step in this many.
const EVALUATION_SAMPLE: u32 = 16;

impl Intake {
    /// An intake owning nothing yet.
    pub(super) fn new(
        pack: Arc<CompiledPack>,
        engine_config: EngineConfig,
        decoder: Decoder,
        idle_after: Duration,
    ) -> Intake {
        Intake {
            engine: Engine::new(pack, engine_config),
            partitions: Partitions::new([], 0, idle_after, Instant::now()),
            warnings: Vec::new(),
            skip_before: Vec::new(),
            moved: Vec::new(),
            held: Vec::new(),
            decoder,
            engine_config,
            idle_after,
            aligned_paused: BTreeSet::new(),
            paused_since: None,
            steps: 0,
        }
    }

    /// A fresh engine and partition set for a new assignment.
    pub(super) fn reset(&mut self, pack: Arc<CompiledPack>, owned: Vec<(String, i32)>) {
        self.engine = Engine::new(pack, self.engine_config);
        self.partitions = Partitions::new(
            owned,
            self.engine_config.allowed_lateness.0,
            self.idle_after,
            Instant::now(),
        );
        self.warnings.clear();
        self.skip_before.clear();
    }

    /// Whether `message`'s partition belongs to the current assignment.
    pub(super) fn owns(&self, message: &impl Message) -> bool {
        self.partitions
            .iter()
            .any(|p| p.partition == message.partition() && p.topic == message.topic())
    }

    /// Whether `message` was fetched before the last restore moved its partition.
    pub(super) fn fetched_before_move(&self, message: &impl Message) -> bool {
        self.moved
            .iter()
            .any(|(t, p)| *p == message.partition() && t == message.topic())
    }

    /// Whether a record is already in a restored snapshot.
    pub(super) fn restored_already(&self, index: usize, offset: i64) -> bool {
        self.skip_before.get(index).is_some_and(|&p| offset < p)
    }

    /// The partition at `index` (indexes come from [`Partitions::index_of`]).
    pub(super) fn partition(&mut self, index: usize) -> &mut Partition {
        self.partitions
            .get_mut(index)
            .expect("indexes come from index_of")
    }

    /// Admits and evaluates one decoded record; returns its partition's index and
    /// what became of it.
    /// `now` is when the record's batch was taken (one clock read per batch).
    pub(super) fn process(
        &mut self,
        message: &impl Message,
        decoded: Decoded,
        now: Instant,
        report: &mut Reporter,
    ) -> (usize, Outcome) {
        let index = self
            .partitions
            .index_of(message.topic(), message.partition(), now);
        let outcome = self.admit(index, message, decoded, report, now);
        // The pending gauge before the records counter: a scrape that counts a record
        // as consumed also sees the pending events it left (tests wait on both).
        report.pending.set(self.engine.pending_events() as f64);
        report.emit(RecordConsumed {
            index,
            partitions: &self.partitions,
        });
        (index, outcome)
    }

    fn admit(
        &mut self,
        index: usize,
        message: &impl Message,
        decoded: Decoded,
        report: &mut Reporter,
        now: Instant,
    ) -> Outcome {
        let offset = message.offset();
        let p = self.partition(index);
        p.next_offset = p.next_offset.max(offset + 1);
        if self.restored_already(index, offset) {
            report.emit(RestoredRecordSkipped);
            return Outcome::Skipped;
        }
        let appended = message.timestamp().to_millis();
        let (event, schema_id) = match decoded {
            Decoded::Event(event, schema_id) => (event, schema_id),
            Decoded::Refused(e) => {
                // Not activity: a partition carrying only bad input must still go
                // idle, or it would hold the watermark forever. It is in no window,
                // so only its dead letter holds its offset back.
                self.partition(index)
                    .offsets
                    .consumed(offset, None, appended);
                return Outcome::Refused(e);
            }
            Decoded::Nothing(why) => {
                // No event time: not activity either, and nothing holds it back.
                self.partition(index)
                    .offsets
                    .consumed(offset, None, appended);
                report.emit(MappedToNothing { why });
                return Outcome::Skipped;
            }
        };
        if schema_id.is_some() {
            report.emit(FramedRecord);
        }
        // An entity lane's input is keyed by its entity (`sunlight repartition --key`).
        let mismatch = message
            .key()
            .is_some_and(|k| match &self.engine.pack().lane {
                sunlight_core::lanes::Lane::Entity(fields) => {
                    sunlight_core::lanes::partition_key(&event, fields)
                        .is_some_and(|want| k != want.as_bytes())
                }
                _ => k != event.official_id.as_bytes(),
            });
        if mismatch {
            report.emit(KeyMismatch);
        }
        report.emit(EventDecoded {
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
        // Bad input is not activity (see above); nor is a carrier: its time is its
        // entity lane's, which may run ahead of this partition's events.
        let moved = !admission.is_bad_input()
            && !matches!(admission, Admission::Carried)
            && self.partitions.observe(index, Some(time), now);
        // Only an admitted event can be in a window: the others need no re-reading.
        let in_windows = matches!(admission, Admission::Accepted).then_some(time);
        self.partition(index)
            .offsets
            .consumed(offset, in_windows, appended);
        if moved {
            self.advance(report);
        }
        match admission {
            Admission::Refused(e) => Outcome::Refused(e),
            Admission::Duplicate => {
                report.emit(DuplicateDropped);
                Outcome::Evaluated
            }
            Admission::Carried => {
                report.emit(WarningCarried);
                Outcome::Evaluated
            }
            Admission::Accepted | Admission::Unmatched => Outcome::Evaluated,
        }
    }

    /// Moves the engine's watermark to what the partitions allow.
    pub(super) fn advance(&mut self, report: &mut Reporter) {
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
        // One watermark step in EVALUATION_SAMPLE is timed: a step happens for
        // nearly every record under a backlog, and two clock reads each were a
        // measurable share of the loop (BENCHMARKS.md §3).
        // The first step is timed, so the histogram has a sample from the start.
        let timed = self.steps.is_multiple_of(EVALUATION_SAMPLE);
        self.steps = self.steps.wrapping_add(1);
        if !timed {
            self.engine
                .advance_watermark(Timestamp(to), &mut self.warnings);
            return;
        }
        let started = Instant::now();
        self.engine
            .advance_watermark(Timestamp(to), &mut self.warnings);
        report
            .evaluation_time
            .record(started.elapsed().as_secs_f64());
    }

    /// Pauses or resumes consumption bookkeeping. While outputs back up, partitions
    /// are not read, so their silence must not count as idleness: releasing everything
    /// then would turn the unread events late.
    pub(super) fn backpressure(&mut self, room: bool, in_flight: usize) {
        match (room, self.paused_since) {
            (false, None) => {
                debug!(in_flight, "outputs backed up; consumption paused");
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

    /// Idle detection (not while backpressure pauses consumption), then the
    /// watermark the partitions allow.
    pub(super) fn tick<C: ConsumerContext>(
        &mut self,
        consumer: &StreamConsumer<C>,
        earliest: bool,
        report: &mut Reporter,
    ) {
        if self.paused_since.is_none()
            && self
                .partitions
                .mark_idle(Instant::now(), |p| caught_up(consumer, p, earliest))
                > 0
        {
            debug!("partitions went idle");
        }
        self.advance(report);
    }

    /// Watermark alignment: pauses the partitions too far ahead of the slowest
    /// active one and resumes those back within half the drift
    /// ([`Partitions::align`]). Paused partitions are kept by name, so a partition
    /// paused before an assignment change is resumed at the next call.
    pub(super) fn align<C: ConsumerContext>(
        &mut self,
        consumer: &StreamConsumer<C>,
        drift: i64,
        report: &mut Reporter,
    ) {
        let wanted = self.partitions.align(drift, &self.aligned_paused);
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
            report.stats.alignment_pauses += pause.count() as u64;
        }
        self.aligned_paused = wanted;
        metrics::gauge!(m::PARTITIONS_PAUSED).set(self.aligned_paused.len() as f64);
    }
}

/// Whether a quiet partition has nothing unread on the broker (asked only when it
/// is about to be declared idle, so the network calls are rare). When the broker
/// cannot say, the time-based rule alone decides (true).
fn caught_up<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    p: &Partition,
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

#[cfg(test)]
mod tests {
    use rdkafka::Timestamp as KafkaTimestamp;
    use sunlight_core::codec::Reason;
    use sunlight_core::rules::compile_pack;
    use sunlight_core::time::Duration as EventDuration;

    use super::*;

    const PACK: &str = r#"
[pack]
name = "t"
version = "1"

[[rule]]
id = "urgent"
version = 1
kind = "predicate"
title = "urgent payment"
level = "yellow"
filter = { kind = "payment", "attributes.urgent" = true }

[[rule]]
id = "burst"
version = 1
kind = "aggregate"
title = "{count} payments"
window = "1d"
filter = { kind = "payment" }
red = { count = ">= 10" }
"#;

    fn intake() -> (Intake, Reporter) {
        let pack = Arc::new(compile_pack(PACK, std::path::Path::new("."), "test").unwrap());
        let config = EngineConfig {
            allowed_lateness: EventDuration(0),
            ..super::super::instance::live_engine_config(EngineConfig::default())
        };
        let decoder = Decoder {
            protobuf_topics: Vec::new(),
            limits: DecodeLimits::default(),
            sources: None,
        };
        let mut intake = Intake::new(Arc::clone(&pack), config, decoder, Duration::from_secs(60));
        intake.reset(pack.clone(), vec![("in".to_string(), 0)]);
        (intake, Reporter::new(&pack))
    }

    fn record(offset: i64, payload: &str) -> OwnedMessage {
        OwnedMessage::new(
            Some(payload.as_bytes().to_vec()),
            Some(b"o1".to_vec()),
            "in".into(),
            KafkaTimestamp::CreateTime(1_000),
            0,
            offset,
            None,
        )
    }

    fn payment(id: &str, at: &str, urgent: bool) -> String {
        format!(
            r#"{{"event_id":"{id}","official_id":"o1","org_unit":"u","kind":"payment","occurred_at":"{at}","amount_cents":100,"counterparty":"c","attributes":{{"urgent":{urgent}}}}}"#
        )
    }

    fn process(intake: &mut Intake, report: &mut Reporter, m: &OwnedMessage) -> Outcome {
        let decoded = intake.decoder.decode(m);
        intake.process(m, decoded, Instant::now(), report).1
    }

    #[test]
    fn records_are_admitted_evaluated_and_their_warnings_left_for_the_publisher() {
        let (mut intake, mut report) = intake();
        let first = record(10, &payment("e1", "2026-11-01T08:00:00Z", true));
        assert_eq!(
            process(&mut intake, &mut report, &first),
            Outcome::Evaluated
        );
        assert!(
            intake.warnings.is_empty(),
            "not released before the watermark"
        );
        let later = record(11, &payment("e2", "2026-11-01T09:00:00Z", false));
        assert_eq!(
            process(&mut intake, &mut report, &later),
            Outcome::Evaluated
        );
        let released: Vec<(&str, u64)> = intake
            .warnings
            .iter()
            .map(|w| (w.rule_id.as_str(), w.trigger_source))
            .collect();
        assert_eq!(released, vec![("urgent", Partitions::source(0, 10))]);
        // The same event again (still in the burst window) is a duplicate, dropped
        // and counted.
        let again = record(12, &payment("e2", "2026-11-01T09:00:00Z", false));
        assert_eq!(
            process(&mut intake, &mut report, &again),
            Outcome::Evaluated
        );
        assert_eq!(report.stats.duplicates, 1);
        assert_eq!(intake.partitions.get_mut(0).unwrap().next_offset, 13);
    }

    #[test]
    fn bad_late_and_restored_records_are_told_apart() {
        let (mut intake, mut report) = intake();
        let broken = record(0, "{not json");
        match process(&mut intake, &mut report, &broken) {
            Outcome::Refused(e) => assert_eq!(e.reason, Reason::InvalidJson),
            other => panic!("expected a refusal, got {other:?}"),
        }
        let on_time = record(1, &payment("e1", "2026-11-01T09:00:00Z", false));
        assert_eq!(
            process(&mut intake, &mut report, &on_time),
            Outcome::Evaluated
        );
        let late = record(2, &payment("e0", "2026-11-01T08:00:00Z", false));
        match process(&mut intake, &mut report, &late) {
            Outcome::Refused(e) => assert_eq!(e.reason, Reason::Late),
            other => panic!("expected a late refusal, got {other:?}"),
        }
        // Records before the restored position are in the snapshot already.
        intake.skip_before = vec![5];
        let restored = record(4, &payment("e4", "2026-11-01T10:00:00Z", false));
        assert_eq!(
            process(&mut intake, &mut report, &restored),
            Outcome::Skipped
        );
        assert_eq!(report.stats.consumed, 4);
    }

    #[test]
    fn a_batch_decoded_beside_other_work_is_decoded_as_on_one_thread() {
        let (intake, _) = intake();
        let records: Vec<OwnedMessage> = (0..100)
            .map(|i| match i % 7 {
                0 => record(i, "[1, 2]"),
                3 => record(i, r#"{"event_id":"x"}"#),
                _ => record(
                    i,
                    &payment(&format!("e{i}"), "2026-11-01T09:00:00Z", i % 2 == 0),
                ),
            })
            .collect();
        let refs: Vec<&OwnedMessage> = records.iter().collect();
        let one_by_one: Vec<String> = refs
            .iter()
            .map(|m| format!("{:?}", intake.decoder.decode(*m)))
            .collect();
        let (beside, worked) = decode_beside(&intake.decoder, &refs, || 42);
        let beside: Vec<String> = beside.iter().map(|d| format!("{d:?}")).collect();
        assert_eq!(worked, 42);
        assert_eq!(beside.len(), 100);
        assert_eq!(beside, one_by_one);
        assert!(
            decode_beside::<OwnedMessage, _>(&intake.decoder, &[], || ())
                .0
                .is_empty()
        );
    }
}
