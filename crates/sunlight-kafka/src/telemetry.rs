//! Metric names of the live pipeline, recorded through the `metrics` facade (a no-op
//! until the binary installs the Prometheus recorder). docs/METRICS.md lists them.
//!
//! Labels are bounded: topics, partitions, reason codes, rule ids and levels. An
//! official's id never becomes a label.

/// Input records consumed, by `topic`.
pub const RECORDS_CONSUMED: &str = "sunlight_records_consumed_total";
/// Events decoded, by `topic` and `kind` (`other` for kinds no rule looks at).
pub const EVENTS_CONSUMED: &str = "sunlight_events_consumed_total";
/// Records rejected, by `reason` (every one is dead-lettered).
pub const BAD_INPUT: &str = "sunlight_bad_input_total";
/// Events behind the watermark (also counted in [`BAD_INPUT`] as `late`).
pub const LATE_EVENTS: &str = "sunlight_late_events_total";
/// Events dropped because their event_id was already seen.
pub const DUPLICATES: &str = "sunlight_duplicate_events_total";
/// Records whose Kafka key is not their official_id.
pub const KEY_MISMATCHES: &str = "sunlight_key_mismatches_total";
/// Warnings carried in from entity lanes and emitted (`sunlight_core::lanes`).
pub const WARNINGS_CARRIED: &str = "sunlight_warnings_carried_total";
/// Records carrying a Schema Registry frame.
pub const FRAMED_RECORDS: &str = "sunlight_schema_registry_framed_total";
/// Department records a source mapping mapped to no event, by reason (`tombstone`,
/// `delete`, `no_rule_matched`).
pub const MAPPED_TO_NOTHING: &str = "sunlight_records_mapped_to_nothing_total";
/// Warnings handed to the producer, by `rule_id` and `level`.
pub const WARNINGS: &str = "sunlight_warnings_total";
/// Dead letters handed to the producer, by `reason`.
pub const DEAD_LETTERS: &str = "sunlight_dead_letters_total";
/// Outputs the broker did not acknowledge, by `output` (`warning`, `dead_letter`).
pub const PRODUCE_ERRORS: &str = "sunlight_produce_errors_total";
/// Outputs waiting for the broker.
pub const OUTPUTS_IN_FLIGHT: &str = "sunlight_outputs_in_flight";
/// Offset commits, by `outcome` (`ok`, `error`).
pub const COMMITS: &str = "sunlight_commits_total";
/// Consumer-group rebalances seen.
pub const REBALANCES: &str = "sunlight_rebalances_total";
/// Input partitions owned.
pub const PARTITIONS_ASSIGNED: &str = "sunlight_partitions_assigned";
/// Input partitions paused by watermark alignment (too far ahead of the slowest).
pub const PARTITIONS_PAUSED: &str = "sunlight_partitions_paused";
/// Consumer lag, by `topic` and `partition` (from librdkafka statistics).
pub const CONSUMER_LAG: &str = "sunlight_consumer_lag_records";
/// Wall clock minus the engine watermark, in seconds.
pub const WATERMARK_DELAY: &str = "sunlight_watermark_delay_seconds";
/// From the broker's append time of the triggering event to the warning's hand-over
/// to the producer, in seconds.
pub const EVENT_TO_WARNING_LATENCY: &str = "sunlight_event_to_warning_latency_seconds";
/// Time to evaluate the events one watermark step releases, in seconds.
pub const EVALUATION_TIME: &str = "sunlight_evaluation_seconds";
/// Officials with window state.
pub const STATE_OFFICIALS: &str = "sunlight_state_officials";
/// Entity keys (of rules keyed by an entity) with window state.
pub const STATE_ENTITY_KEYS: &str = "sunlight_state_entity_keys";
/// 1 when the pack has entity-keyed rules and this instance reads only some input
/// partitions (those rules then see only the officials it owns).
pub const ENTITY_RULES_PARTIAL_INPUT: &str = "sunlight_entity_rules_partial_input";
/// Distinct events retained in windows.
pub const STATE_EVENTS: &str = "sunlight_state_events";
/// Events waiting for the watermark.
pub const PENDING_EVENTS: &str = "sunlight_pending_events";
/// Approximate bytes of window state and duplicate-detection tables.
pub const STATE_BYTES: &str = "sunlight_state_bytes";

/// State snapshots written, by `outcome` (`ok`, `error`).
pub const SNAPSHOTS: &str = "sunlight_state_snapshots_total";
/// Bytes of the last state snapshot (all partitions).
pub const SNAPSHOT_BYTES: &str = "sunlight_state_snapshot_bytes";
/// Time the last snapshot took, from its barrier to the broker having every record
/// of it, in seconds (consumption goes on meanwhile, except with exactly-once).
pub const SNAPSHOT_SECONDS: &str = "sunlight_state_snapshot_seconds";
/// Partition snapshots written, by kind (`full`, `delta`).
pub const SNAPSHOT_PARTS: &str = "sunlight_state_snapshot_parts_total";
/// Time the last restore from the state topic took, in seconds.
pub const RESTORE_SECONDS: &str = "sunlight_state_restore_seconds";
/// Window entries restored from the state topic.
pub const RESTORED_ENTRIES: &str = "sunlight_state_restored_entries_total";
/// Input records skipped because a restored snapshot already holds them.
pub const RESTORE_SKIPPED: &str = "sunlight_state_restore_skipped_records_total";
/// Partitions whose state was rebuilt from their oldest retained input because the
/// snapshot their committed offset goes with was missing or unreadable.
pub const STATE_REWINDS: &str = "sunlight_state_rewinds_total";

/// Describes the durable-state metrics and registers them at zero.
pub fn register_state() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        SNAPSHOTS,
        "State snapshots written to the state topic, by outcome."
    );
    describe_gauge!(
        SNAPSHOT_BYTES,
        Unit::Bytes,
        "Bytes of the last state snapshot, all partitions."
    );
    describe_gauge!(
        SNAPSHOT_SECONDS,
        Unit::Seconds,
        "Time the last state snapshot took, from its barrier to the broker having all of it."
    );
    describe_counter!(
        SNAPSHOT_PARTS,
        "Partition snapshots written, by kind: full, or a delta of what changed since the one before."
    );
    describe_gauge!(
        RESTORE_SECONDS,
        Unit::Seconds,
        "Time the last restore from the state topic took."
    );
    describe_counter!(
        RESTORED_ENTRIES,
        "Window entries restored from the state topic."
    );
    describe_counter!(
        RESTORE_SKIPPED,
        "Input records skipped because a restored snapshot already holds them."
    );
    describe_counter!(
        STATE_REWINDS,
        "Partitions rebuilt from their oldest retained input: the snapshot their committed offset goes with was missing or unreadable."
    );
    for outcome in ["ok", "error"] {
        metrics::counter!(SNAPSHOTS, "outcome" => outcome).increment(0);
    }
    for kind in ["full", "delta"] {
        metrics::counter!(SNAPSHOT_PARTS, "kind" => kind).increment(0);
    }
    metrics::counter!(RESTORED_ENTRIES).increment(0);
    metrics::counter!(RESTORE_SKIPPED).increment(0);
    metrics::counter!(STATE_REWINDS).increment(0);
    metrics::gauge!(SNAPSHOT_BYTES).set(0.0);
    metrics::gauge!(SNAPSHOT_SECONDS).set(0.0);
    metrics::gauge!(RESTORE_SECONDS).set(0.0);
}

/// Rule packs swapped in while running.
pub const RULE_SWAPS: &str = "sunlight_rule_swaps_total";

/// Feedback records applied, by `status`.
pub const FEEDBACK: &str = "sunlight_feedback_total";
/// Feedback records refused (dead-lettered), by `reason`.
pub const FEEDBACK_REJECTED: &str = "sunlight_feedback_rejected_total";
/// Warnings not published because a dismissal suppresses their rule and key, by `rule_id`.
pub const WARNINGS_SUPPRESSED: &str = "sunlight_warnings_suppressed_total";
/// Warnings that joined an open case instead of opening one, by `rule_id`.
pub const WARNINGS_ATTACHED: &str = "sunlight_warnings_attached_total";
/// Escalation warnings published, by `rule_id`.
pub const ESCALATIONS: &str = "sunlight_escalations_total";
/// Officials' code changes published, by new `code`.
pub const CODE_CHANGES: &str = "sunlight_risk_code_changes_total";
/// Officials currently coded yellow or red, by `code`.
pub const CODED_OFFICIALS: &str = "sunlight_coded_officials";
/// Warnings open (pushed, received or verifying).
pub const OPEN_WARNINGS: &str = "sunlight_open_warnings";
/// Open warnings that escalated and are still open.
pub const OVERDUE_WARNINGS: &str = "sunlight_overdue_warnings";
/// The casebook's size, by `kind`: `tracked` (warnings held, closed ones while they
/// stay queryable), `closed_ids` (closed warnings remembered by id only),
/// `suppressions`.
pub const CASEBOOK_ENTRIES: &str = "sunlight_casebook_entries";
/// Per rule, confirmed / (confirmed + dismissed) over the decisions seen (absent
/// before the first decision).
pub const RULE_PRECISION: &str = "sunlight_rule_precision";
/// Case decisions by `rule_id` and `outcome` (`confirmed`, `dismissed`, `rectified`).
pub const RULE_OUTCOMES: &str = "sunlight_rule_outcomes_total";

/// Describes the closed loop's metrics and registers their label sets at zero.
pub fn register_casework(pack: &sunlight_core::CompiledPack) {
    use metrics::{describe_counter, describe_gauge};
    use sunlight_core::casework::{FeedbackErrorKind, RiskCode, Status};
    describe_counter!(FEEDBACK, "Feedback records applied, by status.");
    describe_counter!(
        FEEDBACK_REJECTED,
        "Feedback records refused and dead-lettered, by reason."
    );
    describe_counter!(
        WARNINGS_SUPPRESSED,
        "Warnings withheld because a dismissal suppresses their rule and key."
    );
    describe_counter!(
        WARNINGS_ATTACHED,
        "Warnings that joined the open case of their rule, official and key."
    );
    describe_counter!(ESCALATIONS, "Escalation warnings published, by rule.");
    describe_counter!(CODE_CHANGES, "Officials' risk-code changes, by new code.");
    describe_gauge!(CODED_OFFICIALS, "Officials coded yellow or red, by code.");
    describe_gauge!(OPEN_WARNINGS, "Warnings pushed and not yet closed.");
    describe_gauge!(
        OVERDUE_WARNINGS,
        "Open warnings that missed a deadline and escalated."
    );
    describe_gauge!(
        CASEBOOK_ENTRIES,
        "The casebook's size: tracked warnings, remembered closed ids, suppressions."
    );
    describe_gauge!(
        RULE_PRECISION,
        "confirmed / (confirmed + dismissed) per rule, from case-system feedback."
    );
    describe_counter!(RULE_OUTCOMES, "Case decisions per rule and outcome.");
    for status in Status::ALL.into_iter().filter(|s| *s != Status::Pushed) {
        metrics::counter!(FEEDBACK, "status" => status.name()).increment(0);
    }
    for kind in FeedbackErrorKind::ALL {
        metrics::counter!(FEEDBACK_REJECTED, "reason" => kind.code()).increment(0);
    }
    for rule in &pack.rules {
        for name in [WARNINGS_SUPPRESSED, WARNINGS_ATTACHED, ESCALATIONS] {
            metrics::counter!(name, "rule_id" => rule.id.clone()).increment(0);
        }
        for outcome in ["confirmed", "dismissed", "rectified"] {
            metrics::counter!(RULE_OUTCOMES, "rule_id" => rule.id.clone(), "outcome" => outcome)
                .increment(0);
        }
    }
    for code in RiskCode::ALL {
        metrics::counter!(CODE_CHANGES, "code" => code.name()).increment(0);
    }
    for code in [RiskCode::Yellow, RiskCode::Red] {
        metrics::gauge!(CODED_OFFICIALS, "code" => code.name()).set(0.0);
    }
    metrics::gauge!(OPEN_WARNINGS).set(0.0);
    metrics::gauge!(OVERDUE_WARNINGS).set(0.0);
    for kind in ["tracked", "closed_ids", "suppressions"] {
        metrics::gauge!(CASEBOOK_ENTRIES, "kind" => kind).set(0.0);
    }
    metrics::counter!(PRODUCE_ERRORS, "output" => "casework").increment(0);
}

/// Describes every metric (HELP lines) and registers the bounded label sets at zero,
/// so dashboards and alerts see a series from the start instead of a gap until the
/// first occurrence (`rate()` over a missing series is empty, not zero).
pub fn register(pack: &sunlight_core::CompiledPack, input_topics: &[String]) {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(RECORDS_CONSUMED, "Input records consumed.");
    describe_counter!(
        EVENTS_CONSUMED,
        "Input events decoded, by topic and event kind (kinds no rule names are `other`)."
    );
    describe_counter!(
        BAD_INPUT,
        "Input records rejected, by reason; each one is dead-lettered."
    );
    describe_counter!(
        LATE_EVENTS,
        "Events behind the watermark (dead-lettered with reason `late`)."
    );
    describe_counter!(
        DUPLICATES,
        "Events dropped because their event_id was already seen."
    );
    describe_counter!(
        KEY_MISMATCHES,
        "Input records whose Kafka key is not their official_id."
    );
    describe_counter!(
        WARNINGS_CARRIED,
        "Warnings of entity lanes carried in on the input and emitted by this officials lane."
    );
    describe_counter!(
        FRAMED_RECORDS,
        "Input records carrying a Confluent Schema Registry frame."
    );
    describe_counter!(
        MAPPED_TO_NOTHING,
        "Department records a source mapping mapped to no event, by reason (tombstone, delete, no_rule_matched)."
    );
    describe_counter!(
        WARNINGS,
        "Warnings handed to the producer, by rule and level."
    );
    describe_counter!(
        DEAD_LETTERS,
        "Dead letters handed to the producer, by reason."
    );
    describe_counter!(
        PRODUCE_ERRORS,
        "Outputs the broker did not acknowledge (their input stays uncommitted)."
    );
    describe_gauge!(
        OUTPUTS_IN_FLIGHT,
        "Outputs waiting for broker acknowledgement."
    );
    describe_counter!(COMMITS, "Offset commits, by outcome.");
    describe_counter!(
        RULE_SWAPS,
        "Rule-pack versions swapped in while running (window state carried over)."
    );
    describe_counter!(REBALANCES, "Consumer-group assignment changes applied.");
    describe_gauge!(
        PARTITIONS_ASSIGNED,
        "Input partitions owned by this instance."
    );
    describe_gauge!(
        PARTITIONS_PAUSED,
        "Input partitions paused by watermark alignment: too far ahead of the slowest active one."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records between the consumer position and the end of the partition."
    );
    describe_gauge!(
        WATERMARK_DELAY,
        Unit::Seconds,
        "Wall clock minus the engine's event-time watermark."
    );
    describe_histogram!(
        EVENT_TO_WARNING_LATENCY,
        Unit::Seconds,
        "From the broker timestamp of a warning's trigger event to the warning's hand-over to the producer."
    );
    describe_histogram!(
        EVALUATION_TIME,
        Unit::Seconds,
        "Time to evaluate the events released by one watermark step."
    );
    describe_gauge!(STATE_OFFICIALS, "Officials with window state.");
    describe_gauge!(
        STATE_ENTITY_KEYS,
        "Entity keys (of rules keyed by an entity) with window state."
    );
    describe_gauge!(
        ENTITY_RULES_PARTIAL_INPUT,
        "1 when the pack has rules keyed by an entity and this instance reads only some input partitions."
    );
    describe_gauge!(STATE_EVENTS, "Distinct events retained in windows.");
    describe_gauge!(PENDING_EVENTS, "Events waiting for the watermark.");
    describe_gauge!(
        STATE_BYTES,
        Unit::Bytes,
        "Approximate bytes of window state and duplicate-detection tables."
    );

    for topic in input_topics {
        metrics::counter!(RECORDS_CONSUMED, "topic" => topic.clone()).increment(0);
    }
    for reason in sunlight_core::codec::Reason::ALL {
        metrics::counter!(BAD_INPUT, "reason" => reason.code()).increment(0);
        metrics::counter!(DEAD_LETTERS, "reason" => reason.code()).increment(0);
    }
    for why in ["tombstone", "delete", "no_rule_matched"] {
        metrics::counter!(MAPPED_TO_NOTHING, "reason" => why).increment(0);
    }
    for rule in &pack.rules {
        for level in ["yellow", "red"] {
            metrics::counter!(WARNINGS, "rule_id" => rule.id.clone(), "level" => level)
                .increment(0);
        }
    }
    for output in ["warning", "dead_letter"] {
        metrics::counter!(PRODUCE_ERRORS, "output" => output).increment(0);
    }
    for outcome in ["ok", "error"] {
        metrics::counter!(COMMITS, "outcome" => outcome).increment(0);
    }
    for name in [
        LATE_EVENTS,
        DUPLICATES,
        KEY_MISMATCHES,
        FRAMED_RECORDS,
        REBALANCES,
        RULE_SWAPS,
    ] {
        metrics::counter!(name).increment(0);
    }
    for name in [
        OUTPUTS_IN_FLIGHT,
        PARTITIONS_ASSIGNED,
        STATE_OFFICIALS,
        STATE_ENTITY_KEYS,
        ENTITY_RULES_PARTIAL_INPUT,
        STATE_EVENTS,
        PENDING_EVENTS,
        STATE_BYTES,
    ] {
        metrics::gauge!(name).set(0.0);
    }
}
