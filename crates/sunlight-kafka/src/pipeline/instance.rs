//! One running instance: its components ([`Intake`], [`Publisher`], the committer,
//! snapshots, the closed loop) and the steps that move a record between them. A
//! record goes: [`Pipeline::on_records`] (batches, each decoded on the second core
//! while the one before is evaluated) ->
//! [`Intake::process`] (admitted, evaluated) -> [`Pipeline::publish_warnings`] or
//! [`Pipeline::dead_letter`] (the publisher) -> [`Pipeline::delivered`] (its
//! acknowledgement) -> the committer on the next tick, or the next snapshot.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use sunlight_core::codec::DecodeError;
use sunlight_core::sources::SourceFile;
use sunlight_core::time::Timestamp;
use sunlight_core::{CompiledPack, EngineConfig};
use tracing::{info, warn};

use super::events::{DeadLetterQueued, Rebalanced, RecordRefused, Reporter, WarningQueued};
use super::intake::{Decoded, Intake, Outcome, decode_all, decode_beside};
use super::phase::{Phase, Step};
use super::publisher::{Publisher, Settlement};
use super::rebalance::Assignment;
use super::{PipelineError, ViewSlot, closed_loop, committer, snapshots};
use crate::casework::SharedCasebook;
use crate::config::KafkaConfig;
use crate::headers::{DeadLetterOrigin, dead_letter_headers};
use crate::health::Health;
use crate::masking::{Masking, warning_record};
use crate::output::{Delivery, Output};
use crate::partitions::Partitions;
use crate::telemetry as m;

/// Records between two watermark-alignment checks (besides one per tick).
const ALIGN_EVERY: u32 = 1024;

/// Most records in one batch (decoded together, then evaluated in order).
const RECORDS_PER_BATCH: usize = 1024;

/// Most batches taken in one turn of the loop before its other branches (delivery
/// reports, the tick, shutdown) are polled again.
const BATCHES_PER_TURN: usize = 4;

/// Adds records already fetched to `batch`, up to [`RECORDS_PER_BATCH`]. Returns
/// the record polled after an assignment change (the epoch moved past `seen`,
/// which is updated), if one was: it belongs to the next batch.
fn fill<R>(
    batch: &mut Vec<R>,
    more: &mut impl FnMut() -> Option<R>,
    epoch: &impl Fn() -> u64,
    seen: &mut u64,
) -> Option<R> {
    while batch.len() < RECORDS_PER_BATCH {
        let record = more()?;
        let now = epoch();
        if now != *seen {
            *seen = now;
            return Some(record);
        }
        batch.push(record);
    }
    None
}

/// The records of a batch (consume errors carry none).
fn records_of<'b, 'c>(
    batch: &'b [KafkaResult<BorrowedMessage<'c>>],
) -> Vec<&'b BorrowedMessage<'c>> {
    batch.iter().filter_map(|r| r.as_ref().ok()).collect()
}

pub(super) struct Pipeline<'a> {
    pub(super) config: &'a KafkaConfig,
    pub(super) pack: Arc<CompiledPack>,
    /// Engine, partitions and what happens to each record (intake.rs).
    pub(super) intake: Intake,
    /// Outputs in flight and their acknowledgements (publisher.rs).
    pub(super) publisher: Publisher,
    /// Run counters and metric handles (events.rs).
    pub(super) report: Reporter,
    /// Durable state: the snapshot due, in flight, and the chains written (snapshots.rs).
    pub(super) snapshots: snapshots::Snapshots,
    /// The closed loop's feedback positions, parked feedback and timers (closed_loop.rs).
    pub(super) cases: closed_loop::CaseLoop,
    pub(super) last_state_report: Option<Instant>,
    pub(super) health: Arc<Health>,
    /// The closed loop, when enabled.
    pub(super) casebook: Option<SharedCasebook>,
    /// Where the query API finds the current engine.
    pub(super) views: ViewSlot,
    /// Running, restoring, handing over or draining (phase.rs: the transitions).
    pub(super) phase: Phase,
    /// A failure that stops the pipeline (exactly-once: an output refused mid-transaction).
    pub(super) fatal: Option<PipelineError>,
    /// Records until the next alignment check.
    pub(super) align_countdown: u32,
    /// The entity-key input check (entity_input.rs) is due: after an assignment or
    /// a pack swap; and when it was last tried.
    pub(super) entity_check_due: bool,
    pub(super) entity_check_tried: Option<Instant>,
}

impl<'a> Pipeline<'a> {
    /// A pipeline owning nothing yet; the first assignment starts it.
    pub(super) fn new(
        config: &'a KafkaConfig,
        pack: Arc<CompiledPack>,
        intake: Intake,
        publisher: Publisher,
        health: Arc<Health>,
        casebook: Option<SharedCasebook>,
        views: ViewSlot,
    ) -> Pipeline<'a> {
        Pipeline {
            config,
            report: Reporter::new(&pack),
            snapshots: snapshots::Snapshots::default(),
            cases: closed_loop::CaseLoop::default(),
            pack,
            intake,
            publisher,
            last_state_report: None,
            health,
            casebook,
            views,
            phase: Phase::Running,
            fatal: None,
            entity_check_due: false,
            entity_check_tried: None,
            align_countdown: 0,
        }
    }

    /// A new rule-pack version takes over; window state carries over (see
    /// [`sunlight_core::Engine::swap_pack`]). Warnings it releases from now on carry
    /// its versions.
    pub(super) fn swap_pack(&mut self, new: Arc<CompiledPack>) {
        let report = self.intake.engine.swap_pack(Arc::clone(&new));
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
        self.views.set(self.intake.engine.view());
        // The new pack may add or drop rules keyed by an entity.
        self.entity_check_due = !self.intake.partitions.is_empty();
        self.entity_check_tried = None;
        metrics::counter!(m::RULE_SWAPS).increment(1);
    }

    /// Maps department records with `new` from the next turn on (`on_records` decodes
    /// and evaluates a turn's batches with the decoder it started with).
    pub(super) fn swap_sources(&mut self, new: Arc<SourceFile>) {
        let names: Vec<&str> = new.sources.iter().map(|s| s.name.as_str()).collect();
        info!(sources = ?names, "source mapping swapped in");
        self.intake.decoder.sources = Some(new);
    }

    /// Applies an assignment change reported by the rebalance callbacks. With
    /// durable state and an incremental (cooperative) assignment, the state read so
    /// far is first snapshotted (a handover: the partitions that leave take their
    /// state along, the ones that stay are restored from it).
    pub(super) fn apply_rebalance(&mut self, assignment: &Mutex<Assignment>) {
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
            && self
                .intake
                .partitions
                .iter()
                .any(|p| p.next_offset != i64::MIN)
        {
            info!("assignment changed; snapshotting the state before the handover");
            self.phase.advance(Step::HandoverDue);
            self.snapshots.due = true;
            return;
        }
        self.switch_assignment(assignment);
    }

    /// Starts the assignment the rebalance callbacks last reported.
    pub(super) fn switch_assignment(&mut self, assignment: &Mutex<Assignment>) {
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
    pub(super) fn reset(&mut self, owned: Vec<(String, i32)>) {
        if let Err(e) = self.publisher.next_generation() {
            self.fatal = Some(e);
        }
        metrics::gauge!(m::PARTITIONS_ASSIGNED).set(owned.len() as f64);
        self.health.set_partitions(owned.len());
        self.entity_check_due = !owned.is_empty();
        self.entity_check_tried = None;
        self.intake.reset(Arc::clone(&self.pack), owned);
        self.views.set(self.intake.engine.view());
        self.report.new_assignment();
        self.snapshots.due = false;
        let owns_any = !self.intake.partitions.is_empty();
        self.phase.advance(Step::Assigned {
            restore: self.config.state.is_some() && owns_any,
        });
        if self.config.state.is_some() && !owns_any {
            // Nothing owned: no cases either, and no feedback partitions to read.
            if let Some(book) = &self.casebook {
                book.lock().forget_officials(|_, _| true);
            }
            self.cases.feedback_assign_due = true;
        }
    }

    /// Whether another record may be read: outputs in flight are below the bound
    /// and no snapshot barrier is waiting.
    pub(super) fn has_room(&self) -> bool {
        self.publisher.has_room() && !self.snapshots.due
    }

    /// Records held for a restore, once it is done: those of partitions still owned
    /// and not moved by the restore (a moved partition reads them again).
    pub(super) fn release_held(&mut self) {
        if !self.phase.evaluates() || self.intake.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.intake.held);
        let records: Vec<&OwnedMessage> = held.iter().collect();
        let decoded = decode_all(&self.intake.decoder, &records);
        let now = Instant::now();
        for (m, decoded) in records.into_iter().zip(decoded) {
            if !self.intake.fetched_before_move(m) && self.intake.owns(m) {
                self.on_message(m, decoded, now);
            }
        }
    }

    /// Records already fetched, starting with `first`, taken from the stream with
    /// `more` in batches: each batch is evaluated on this thread while the next one
    /// is decoded on the second core. At most [`BATCHES_PER_TURN`] batches, then the
    /// loop takes its turn; no further batch once outputs back up or the phase stops
    /// evaluating.
    ///
    /// A batch never spans an assignment change: the rebalance callbacks run inside
    /// the consumer's poll, so a record polled after one (the assignment's epoch
    /// moved) ends the batch being filled and starts the next one, which is
    /// evaluated only after the change is applied. Records polled before it are
    /// evaluated under the assignment they were fetched for, as when each record was
    /// evaluated right after its poll.
    pub(super) fn on_records<'c, C: ConsumerContext>(
        &mut self,
        first: KafkaResult<BorrowedMessage<'c>>,
        mut more: impl FnMut() -> Option<KafkaResult<BorrowedMessage<'c>>>,
        assignment: &Mutex<Assignment>,
        consumer: &StreamConsumer<C>,
    ) {
        let epoch = || assignment.lock().unwrap_or_else(|p| p.into_inner()).epoch;
        // `first` was polled after every callback so far.
        self.apply_rebalance(assignment);
        let mut seen = epoch();
        let mut batch = vec![first];
        let mut carry = fill(&mut batch, &mut more, &epoch, &mut seen);
        let decoder = self.intake.decoder.clone();
        let mut decoded = decode_all(&decoder, &records_of(&batch));
        for turn in 1..=BATCHES_PER_TURN {
            let mut next = Vec::new();
            let mut next_carry = None;
            if turn < BATCHES_PER_TURN
                && carry.is_none()
                && self.has_room()
                && self.phase.evaluates()
                && self.fatal.is_none()
            {
                next_carry = fill(&mut next, &mut more, &epoch, &mut seen);
            }
            let next_records = records_of(&next);
            let (next_decoded, ()) = decode_beside(&decoder, &next_records, || {
                self.on_batch(&batch, decoded, consumer)
            });
            if next.is_empty() {
                if let Some(record) = carry.or(next_carry) {
                    // The first record of the new assignment.
                    self.apply_rebalance(assignment);
                    let one = [record];
                    let decoded = decode_all(&decoder, &records_of(&one));
                    self.on_batch(&one, decoded, consumer);
                }
                return;
            }
            (batch, decoded, carry) = (next, next_decoded, carry.or(next_carry));
        }
    }

    /// A batch of records (all of one assignment) and their decoded events,
    /// evaluated in order. When the phase does not evaluate (a restore or a handover
    /// is due), the records are held.
    fn on_batch<C: ConsumerContext>(
        &mut self,
        batch: &[KafkaResult<BorrowedMessage<'_>>],
        decoded: Vec<Decoded>,
        consumer: &StreamConsumer<C>,
    ) {
        let mut decoded = decoded.into_iter();
        let now = Instant::now();
        for result in batch {
            let message = match result {
                Ok(m) => m,
                Err(e) => {
                    self.consume_error(e);
                    continue;
                }
            };
            let decoded = decoded.next().expect("one decode per record");
            if !self.phase.evaluates() || self.fatal.is_some() {
                // The records of a new assignment wait until the state is handed
                // over and restored (and positions moved).
                self.intake.held.push(message.detach());
                continue;
            }
            self.health.set_broker_reachable(true);
            self.on_message(message, decoded, now);
            if self.align_countdown == 0 {
                self.align_countdown = ALIGN_EVERY;
                self.align(consumer);
            }
            self.align_countdown -= 1;
        }
    }

    fn consume_error(&mut self, e: &rdkafka::error::KafkaError) {
        if matches!(
            e.rdkafka_error_code(),
            Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.health.set_broker_reachable(false);
        }
        warn!(error = %e, "consume error; retrying");
    }

    /// One decoded record through the intake, then its dead letter or the
    /// warnings it released to the publisher.
    fn on_message(&mut self, message: &impl Message, decoded: Decoded, now: Instant) {
        let (index, outcome) = self.intake.process(message, decoded, now, &mut self.report);
        if let Outcome::Refused(e) = outcome {
            self.dead_letter(&e, message, index);
        }
        self.publish_warnings();
    }

    /// What `[kafka] mask_in_warnings` hides in every record written.
    pub(super) fn masking(&self) -> Masking<'_> {
        Masking {
            fields: &self.config.mask_in_warnings,
        }
    }

    /// Hands the warnings the intake released to the publisher (after the closed
    /// loop admitted each, when it is enabled).
    pub(super) fn publish_warnings(&mut self) {
        if self.intake.warnings.is_empty() {
            return;
        }
        let now_ms = Timestamp::now().0 / 1_000_000;
        let mut warnings = std::mem::take(&mut self.intake.warnings);
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
            if let Some(p) = self.intake.partitions.get_mut(index) {
                p.offsets.produced(offset);
                since_append = p
                    .offsets
                    .appended_at(offset)
                    .map(|appended| now_ms.saturating_sub(appended).max(0) as f64 / 1_000.0);
            }
            self.report.emit(WarningQueued {
                rule_id: &warning.rule_id,
                level: warning.level,
                since_append,
            });
            self.publisher
                .warning(output, index, offset, warning.occurred_at.0);
        }
        self.intake.warnings = warnings;
        self.report
            .outputs_in_flight
            .set(self.publisher.in_flight() as f64);
    }

    /// The dead letter of a refused record, with where it came from and why.
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
        self.intake.partition(index).offsets.produced(offset);
        self.report.emit(DeadLetterQueued { reason: e.reason });
        self.publisher.dead_letter(output, index, offset);
    }

    /// A delivery report: an acknowledgement releases its input offset.
    pub(super) fn delivered(&mut self, delivery: Delivery) {
        match self.publisher.settle(delivery, &mut self.report) {
            Settlement::Acknowledged { index, offset } => {
                if let Some(p) = self.intake.partitions.get_mut(index) {
                    p.offsets.acknowledged(offset);
                }
            }
            Settlement::Fatal(e) => self.fatal = Some(e),
            Settlement::Retried | Settlement::Dropped => {}
        }
    }

    /// Watermark alignment, when `[kafka] max_watermark_drift` is set.
    pub(super) fn align<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        if let Some(drift) = self.config.max_watermark_drift {
            self.intake.align(consumer, drift.0, &mut self.report);
        }
    }

    /// Pauses or resumes consumption bookkeeping (see [`Intake::backpressure`]).
    pub(super) fn backpressure(&mut self, room: bool) {
        self.intake.backpressure(room, self.publisher.in_flight());
    }

    /// Idle detection, watermark progress on processing time, casework deadlines,
    /// snapshots, and state gauges.
    pub(super) fn on_tick<C: ConsumerContext>(&mut self, consumer: &StreamConsumer<C>) {
        let now = Instant::now();
        if self.entity_check_due
            && self
                .entity_check_tried
                .is_none_or(|t| now.duration_since(t) >= super::entity_input::RETRY)
        {
            self.entity_check_tried = Some(now);
            let owned: Vec<(String, i32)> = self
                .intake
                .partitions
                .iter()
                .map(|p| (p.topic.clone(), p.partition))
                .collect();
            self.entity_check_due =
                super::entity_input::check(consumer, &self.pack, &self.config.input_topics, &owned)
                    .is_none()
                    && !self.pack.entity_keyed_rules().is_empty();
        }
        let earliest = self.config.auto_offset_reset != "latest";
        self.intake.tick(consumer, earliest, &mut self.report);
        self.publish_warnings();
        let engine = &self.intake.engine;
        self.report.pending.set(engine.pending_events() as f64);
        self.casework_tick(now);
        self.snapshot_tick(now);
        let engine = &self.intake.engine;
        if let Some(w) = engine.watermark() {
            let delay = (Timestamp::now().0.saturating_sub(w.0)) as f64 / 1e9;
            metrics::gauge!(m::WATERMARK_DELAY).set(delay);
        }
        let every = Duration::from_nanos(self.config.state_report_interval.0.max(0) as u64);
        if self
            .last_state_report
            .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.last_state_report = Some(now);
            let s = engine.state_stats();
            metrics::gauge!(m::STATE_OFFICIALS).set(s.officials as f64);
            metrics::gauge!(m::STATE_ENTITY_KEYS).set(s.entity_keys as f64);
            metrics::gauge!(m::STATE_EVENTS).set(s.retained_events as f64);
            metrics::gauge!(m::STATE_BYTES).set((s.window_bytes + s.dedup_bytes) as f64);
        }
    }

    /// Commits what may be committed (committer.rs); with durable state, offsets are
    /// committed only with a snapshot.
    pub(super) fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &StreamConsumer<C>,
        mode: CommitMode,
    ) {
        if self.config.state.is_some() {
            return;
        }
        let bound = committer::commit_bound(
            self.intake.engine.watermark().map(|w| w.0),
            self.publisher.outstanding.oldest_unacked_trigger(),
        );
        committer::commit(
            consumer,
            &mut self.intake.partitions,
            bound,
            self.pack.retention().0,
            mode,
            &mut self.report,
        );
    }

    /// An asynchronous commit failed (its callback counted the metric): hand the
    /// commit points out again on the next tick.
    pub(super) fn commit_failed(&mut self) {
        self.report.stats.commit_errors += 1;
        committer::forget_commits(&mut self.intake.partitions);
    }
}

/// The engine settings of the live pipeline: the partitions drive the watermark.
pub(super) fn live_engine_config(engine_config: EngineConfig) -> EngineConfig {
    EngineConfig {
        watermark: sunlight_core::WatermarkMode::External,
        ..engine_config
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_batch_ends_at_the_record_polled_after_an_assignment_change() {
        // Records 0..10; the rebalance callbacks run in the poll that returns 4.
        let next = Cell::new(0);
        let epoch = Cell::new(7u64);
        let mut more = || {
            let n = next.get();
            next.set(n + 1);
            if n == 4 {
                epoch.set(8);
            }
            (n < 10).then_some(n)
        };
        let mut seen = 7;
        let mut batch = vec![];
        let carry = fill(&mut batch, &mut more, &|| epoch.get(), &mut seen);
        assert_eq!(batch, vec![0, 1, 2, 3], "fetched for the old assignment");
        assert_eq!(carry, Some(4), "the first record of the new one");
        assert_eq!(seen, 8);
        let mut rest = vec![];
        assert_eq!(fill(&mut rest, &mut more, &|| epoch.get(), &mut seen), None);
        assert_eq!(rest, vec![5, 6, 7, 8, 9]);
    }

    #[test]
    fn a_batch_stops_at_its_size() {
        let next = Cell::new(0usize);
        let mut more = || {
            next.set(next.get() + 1);
            Some(next.get())
        };
        let mut batch = vec![];
        assert_eq!(fill(&mut batch, &mut more, &|| 1, &mut 1), None);
        assert_eq!(batch.len(), RECORDS_PER_BATCH);
    }
}
