//! Internal events of the record path: each thing that happens to a record or an
//! output is one type whose [`InternalEvent::emit`] updates the run's [`RunStats`],
//! its metric and, where an operator needs it, the log, together (as Vector's
//! `internal_events`). Metric handles are registered once per pipeline (per rule
//! when a pack is swapped in), so emitting allocates nothing and looks nothing up
//! by name.
//!
//! Events of the closed loop and of snapshots still record their metrics where they
//! happen (closed_loop.rs, snapshots.rs).

use metrics::{Counter, Gauge, Histogram};
use std::collections::HashMap;

use sunlight_core::CompiledPack;
use sunlight_core::codec::{DecodeError, Reason};
use sunlight_core::rules::measure::Level;
use sunlight_core::sources::Skipped;
use tracing::debug;

use super::RunStats;
use crate::partitions::Partitions;
use crate::telemetry as m;

/// Something that happened, reported through a [`Reporter`].
pub(super) trait InternalEvent {
    /// Updates the stats, the metric and the log.
    fn emit(self, to: &mut Reporter);
}

/// The run's counters and the metric handles they mirror.
pub(super) struct Reporter {
    /// What `run` returns at the end.
    pub(super) stats: RunStats,
    bad_input: [Counter; Reason::ALL.len()],
    dead_letters: [Counter; Reason::ALL.len()],
    late: Counter,
    duplicates: Counter,
    restore_skipped: Counter,
    /// Tombstone, delete, no rule matched.
    mapped_to_nothing: [Counter; 3],
    framed: Counter,
    key_mismatches: Counter,
    carried: Counter,
    /// Per rule id: yellow, red.
    warnings: HashMap<String, [Counter; 2]>,
    event_to_warning: Histogram,
    produce_errors: [Counter; 3],
    commits_ok: Counter,
    commits_error: Counter,
    rebalances: Counter,
    /// The pack's event kinds, sorted (events of other kinds count as `other`).
    kinds: Vec<compact_str::CompactString>,
    /// Per partition index of the assignment: records, and events by kind.
    partitions: Vec<PartitionCounters>,
    pub(super) pending: Gauge,
    pub(super) outputs_in_flight: Gauge,
    pub(super) evaluation_time: Histogram,
}

impl Reporter {
    /// Handles for every metric of the record path, and per rule of `pack`.
    pub(super) fn new(pack: &CompiledPack) -> Reporter {
        let by_reason =
            |name: &'static str| Reason::ALL.map(|r| metrics::counter!(name, "reason" => r.code()));
        let mut reporter = Reporter {
            stats: RunStats::default(),
            bad_input: by_reason(m::BAD_INPUT),
            dead_letters: by_reason(m::DEAD_LETTERS),
            late: metrics::counter!(m::LATE_EVENTS),
            duplicates: metrics::counter!(m::DUPLICATES),
            restore_skipped: metrics::counter!(m::RESTORE_SKIPPED),
            mapped_to_nothing: [Skipped::Tombstone, Skipped::Delete, Skipped::NoRuleMatched]
                .map(|why| metrics::counter!(m::MAPPED_TO_NOTHING, "reason" => why.code())),
            framed: metrics::counter!(m::FRAMED_RECORDS),
            key_mismatches: metrics::counter!(m::KEY_MISMATCHES),
            carried: metrics::counter!(m::WARNINGS_CARRIED),
            warnings: HashMap::new(),
            event_to_warning: metrics::histogram!(m::EVENT_TO_WARNING_LATENCY),
            produce_errors: Output::ALL
                .map(|o| metrics::counter!(m::PRODUCE_ERRORS, "output" => o.label())),
            commits_ok: metrics::counter!(m::COMMITS, "outcome" => "ok"),
            commits_error: metrics::counter!(m::COMMITS, "outcome" => "error"),
            rebalances: metrics::counter!(m::REBALANCES),
            kinds: pack.kinds(),
            partitions: Vec::new(),
            pending: metrics::gauge!(m::PENDING_EVENTS),
            outputs_in_flight: metrics::gauge!(m::OUTPUTS_IN_FLIGHT),
            evaluation_time: metrics::histogram!(m::EVALUATION_TIME),
        };
        reporter.register_rules(pack);
        reporter
    }

    /// Registers the warning counters of `pack`'s rules (a swapped-in pack may add
    /// rules; counters of dropped rules stay, as Prometheus counters should).
    pub(super) fn register_rules(&mut self, pack: &CompiledPack) {
        for rule in &pack.rules {
            self.warnings
                .entry(rule.id.clone())
                .or_insert_with(|| {
                    [Level::Yellow, Level::Red].map(|level| {
                        metrics::counter!(m::WARNINGS, "rule_id" => rule.id.to_string(), "level" => level.name())
                    })
                });
        }
    }

    /// A new pack: its rules' counters and its kinds (partition counters are
    /// registered again, by the new kinds).
    pub(super) fn swap_pack(&mut self, pack: &CompiledPack) {
        self.register_rules(pack);
        self.kinds = pack.kinds();
        self.partitions.clear();
    }

    /// A new assignment: partition indexes name other partitions now.
    pub(super) fn new_assignment(&mut self) {
        self.partitions.clear();
    }

    /// The handles of partition `index`, registered on first use (labelled with
    /// each partition's topic).
    fn partition(&mut self, index: usize, partitions: &Partitions) -> &PartitionCounters {
        while self.partitions.len() <= index {
            let topic = partitions
                .iter()
                .nth(self.partitions.len())
                .map_or("", |p| p.topic.as_str());
            let events = self
                .kinds
                .iter()
                .map(|k| k.to_string())
                .chain(["other".to_string()])
                .map(|kind| metrics::counter!(m::EVENTS_CONSUMED, "topic" => topic.to_string(), "kind" => kind))
                .collect();
            self.partitions.push(PartitionCounters {
                records: metrics::counter!(m::RECORDS_CONSUMED, "topic" => topic.to_string()),
                events,
            });
        }
        &self.partitions[index]
    }

    /// Reports `event`.
    pub(super) fn emit(&mut self, event: impl InternalEvent) {
        event.emit(self);
    }
}

/// Per-partition metric handles.
struct PartitionCounters {
    records: Counter,
    /// By the pack's kinds, then `other`.
    events: Vec<Counter>,
}

/// A record of partition `index` was consumed (counted after its processing, so a
/// scrape that counts it also sees what it left pending).
pub(super) struct RecordConsumed<'a> {
    pub(super) index: usize,
    pub(super) partitions: &'a Partitions,
}

impl InternalEvent for RecordConsumed<'_> {
    fn emit(self, to: &mut Reporter) {
        to.stats.consumed += 1;
        to.partition(self.index, self.partitions)
            .records
            .increment(1);
    }
}

/// A record decoded into an event of `kind`.
pub(super) struct EventDecoded<'a> {
    pub(super) index: usize,
    pub(super) partitions: &'a Partitions,
    pub(super) kind: &'a str,
}

impl InternalEvent for EventDecoded<'_> {
    fn emit(self, to: &mut Reporter) {
        let kind = to
            .kinds
            .binary_search_by(|k| k.as_str().cmp(self.kind))
            .unwrap_or(to.kinds.len());
        to.partition(self.index, self.partitions).events[kind].increment(1);
    }
}

/// A record refused: bad input, or late (its dead letter is [`DeadLetterQueued`]).
pub(super) struct RecordRefused<'a> {
    pub(super) error: &'a DecodeError,
    pub(super) partition: i32,
    pub(super) offset: i64,
}

impl InternalEvent for RecordRefused<'_> {
    fn emit(self, to: &mut Reporter) {
        let reason = self.error.reason;
        *to.stats
            .rejected
            .entry(reason.code().to_string())
            .or_default() += 1;
        to.bad_input[reason_index(reason)].increment(1);
        if reason == Reason::Late {
            to.late.increment(1);
        }
        debug!(%reason, detail = %self.error.detail, partition = self.partition, offset = self.offset, "record refused");
    }
}

/// A refused record's dead letter was handed to the producer.
pub(super) struct DeadLetterQueued {
    pub(super) reason: Reason,
}

impl InternalEvent for DeadLetterQueued {
    fn emit(self, to: &mut Reporter) {
        to.stats.dead_letters += 1;
        to.dead_letters[reason_index(self.reason)].increment(1);
    }
}

/// A duplicate event was dropped.
pub(super) struct DuplicateDropped;

impl InternalEvent for DuplicateDropped {
    fn emit(self, to: &mut Reporter) {
        to.stats.duplicates += 1;
        to.duplicates.increment(1);
    }
}

/// A record the restored snapshot already holds was skipped.
pub(super) struct RestoredRecordSkipped;

impl InternalEvent for RestoredRecordSkipped {
    fn emit(self, to: &mut Reporter) {
        to.restore_skipped.increment(1);
    }
}

/// A source mapping mapped a department record to no event.
pub(super) struct MappedToNothing {
    pub(super) why: Skipped,
}

impl InternalEvent for MappedToNothing {
    fn emit(self, to: &mut Reporter) {
        to.stats.mapped_to_nothing += 1;
        let index = match self.why {
            Skipped::Tombstone => 0,
            Skipped::Delete => 1,
            Skipped::NoRuleMatched => 2,
        };
        to.mapped_to_nothing[index].increment(1);
    }
}

/// A record carried a Schema Registry frame.
pub(super) struct FramedRecord;

impl InternalEvent for FramedRecord {
    fn emit(self, to: &mut Reporter) {
        to.stats.framed += 1;
        to.framed.increment(1);
    }
}

/// A record's key is not its event's official_id.
pub(super) struct KeyMismatch;

impl InternalEvent for KeyMismatch {
    fn emit(self, to: &mut Reporter) {
        to.stats.key_mismatches += 1;
        to.key_mismatches.increment(1);
    }
}

/// A carrier's warning was emitted (an entity lane's, `sunlight_core::lanes`).
pub(super) struct WarningCarried;

impl InternalEvent for WarningCarried {
    fn emit(self, to: &mut Reporter) {
        to.stats.carried += 1;
        to.carried.increment(1);
    }
}

/// A warning was handed to the producer.
pub(super) struct WarningQueued<'a> {
    pub(super) rule_id: &'a str,
    pub(super) level: Level,
    /// Seconds from the trigger's append time on the broker, when known.
    pub(super) since_append: Option<f64>,
}

impl InternalEvent for WarningQueued<'_> {
    fn emit(self, to: &mut Reporter) {
        to.stats.warnings += 1;
        if let Some(seconds) = self.since_append {
            to.event_to_warning.record(seconds);
        }
        let level = usize::from(self.level == Level::Red);
        match to.warnings.get(self.rule_id) {
            Some(counters) => counters[level].increment(1),
            // A rule of a pack swapped out after the warning was evaluated.
            None => metrics::counter!(m::WARNINGS, "rule_id" => self.rule_id.to_string(), "level" => self.level.name()).increment(1),
        }
    }
}

/// What kind of output a delivery report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Warning,
    DeadLetter,
    Casework,
}

impl Output {
    const ALL: [Output; 3] = [Output::Warning, Output::DeadLetter, Output::Casework];

    /// The `output` label.
    pub(super) fn label(self) -> &'static str {
        match self {
            Output::Warning => "warning",
            Output::DeadLetter => "dead_letter",
            Output::Casework => "casework",
        }
    }
}

/// The broker did not acknowledge an output.
pub(super) struct ProduceFailed {
    pub(super) output: Output,
}

impl InternalEvent for ProduceFailed {
    fn emit(self, to: &mut Reporter) {
        to.stats.delivery_errors += 1;
        to.produce_errors[self.output as usize].increment(1);
    }
}

/// An offset commit (or a transaction holding one) was issued; `ok` when it was
/// accepted. The caller logs a failure with what happens next. (Failures reported
/// later by the consumer's commit callback are counted there and in
/// `Pipeline::commit_failed`.)
pub(super) struct CommitDone {
    pub(super) ok: bool,
}

impl InternalEvent for CommitDone {
    fn emit(self, to: &mut Reporter) {
        if self.ok {
            to.stats.commits += 1;
            to.commits_ok.increment(1);
        } else {
            to.stats.commit_errors += 1;
            to.commits_error.increment(1);
        }
    }
}

/// An assignment change was applied.
pub(super) struct Rebalanced {
    pub(super) partitions: usize,
}

impl InternalEvent for Rebalanced {
    fn emit(self, to: &mut Reporter) {
        to.stats.rebalances += 1;
        to.rebalances.increment(1);
        tracing::info!(
            partitions = self.partitions,
            "assignment changed; window state restarts from the snapshots or committed offsets"
        );
    }
}

fn reason_index(reason: Reason) -> usize {
    Reason::ALL
        .iter()
        .position(|r| *r == reason)
        .expect("ALL lists every reason")
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_support::default_pack as pack;

    /// The non-zero samples of the record path's counters, as Prometheus renders them.
    fn nonzero(text: &str) -> Vec<&str> {
        let mut lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("sunlight_") && !l.ends_with(" 0"))
            .filter(|l| !l.contains("latency") && !l.contains("evaluation"))
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn each_event_moves_its_stat_and_its_metric_together() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let stats = metrics::with_local_recorder(&recorder, || {
            let mut r = Reporter::new(&pack());
            let late = DecodeError::new(Reason::Late, "behind");
            let bad = DecodeError::new(Reason::InvalidJson, "broken");
            for error in [&late, &bad, &bad] {
                r.emit(RecordRefused {
                    error,
                    partition: 0,
                    offset: 1,
                });
                r.emit(DeadLetterQueued {
                    reason: error.reason,
                });
            }
            r.emit(DuplicateDropped);
            r.emit(KeyMismatch);
            r.emit(WarningQueued {
                rule_id: "split-payment",
                level: Level::Red,
                since_append: Some(0.5),
            });
            r.emit(WarningQueued {
                rule_id: "retired-rule",
                level: Level::Yellow,
                since_append: None,
            });
            r.emit(ProduceFailed {
                output: Output::DeadLetter,
            });
            r.emit(CommitDone { ok: false });
            r.stats.clone()
        });
        let text = handle.render();
        assert_eq!(
            stats.rejected,
            [("invalid_json".to_string(), 2), ("late".to_string(), 1)].into()
        );
        assert_eq!(
            (
                stats.dead_letters,
                stats.duplicates,
                stats.key_mismatches,
                stats.warnings
            ),
            (3, 1, 1, 2)
        );
        assert_eq!((stats.delivery_errors, stats.commit_errors), (1, 1));
        assert_eq!(
            nonzero(&text),
            [
                "sunlight_bad_input_total{reason=\"invalid_json\"} 2",
                "sunlight_bad_input_total{reason=\"late\"} 1",
                "sunlight_commits_total{outcome=\"error\"} 1",
                "sunlight_dead_letters_total{reason=\"invalid_json\"} 2",
                "sunlight_dead_letters_total{reason=\"late\"} 1",
                "sunlight_duplicate_events_total 1",
                "sunlight_key_mismatches_total 1",
                "sunlight_late_events_total 1",
                "sunlight_produce_errors_total{output=\"dead_letter\"} 1",
                "sunlight_warnings_total{rule_id=\"retired-rule\",level=\"yellow\"} 1",
                "sunlight_warnings_total{rule_id=\"split-payment\",level=\"red\"} 1",
            ],
            "{text}"
        );
    }

    #[test]
    fn records_and_events_are_counted_under_their_own_partitions_topic() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let consumed = metrics::with_local_recorder(&recorder, || {
            let mut r = Reporter::new(&pack());
            let partitions = Partitions::new(
                [("finance".to_string(), 0), ("oa".to_string(), 0)],
                0,
                std::time::Duration::from_secs(10),
                std::time::Instant::now(),
            );
            // Index 1 first: index 0 is registered with its own topic on the way.
            for (index, kind) in [
                (1, "approval"),
                (1, "approval"),
                (0, "payment"),
                (0, "no-such-kind"),
            ] {
                r.emit(EventDecoded {
                    index,
                    partitions: &partitions,
                    kind,
                });
                r.emit(RecordConsumed {
                    index,
                    partitions: &partitions,
                });
            }
            r.stats.consumed
        });
        assert_eq!(consumed, 4);
        let text = handle.render();
        let lines: Vec<&str> = nonzero(&text)
            .into_iter()
            .filter(|l| l.contains("consumed_total"))
            .collect();
        assert_eq!(
            lines,
            [
                "sunlight_events_consumed_total{topic=\"finance\",kind=\"other\"} 1",
                "sunlight_events_consumed_total{topic=\"finance\",kind=\"payment\"} 1",
                "sunlight_events_consumed_total{topic=\"oa\",kind=\"approval\"} 2",
                "sunlight_records_consumed_total{topic=\"finance\"} 2",
                "sunlight_records_consumed_total{topic=\"oa\"} 2",
            ],
            "{text}"
        );
    }
}
