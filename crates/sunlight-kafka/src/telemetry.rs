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
/// Records carrying a Schema Registry frame.
pub const FRAMED_RECORDS: &str = "sunlight_schema_registry_framed_total";
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
/// Distinct events retained in windows.
pub const STATE_EVENTS: &str = "sunlight_state_events";
/// Events waiting for the watermark.
pub const PENDING_EVENTS: &str = "sunlight_pending_events";
/// Approximate bytes of window state and duplicate-detection tables.
pub const STATE_BYTES: &str = "sunlight_state_bytes";

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
        FRAMED_RECORDS,
        "Input records carrying a Confluent Schema Registry frame."
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
    describe_counter!(REBALANCES, "Consumer-group assignment changes applied.");
    describe_gauge!(
        PARTITIONS_ASSIGNED,
        "Input partitions owned by this instance."
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
    ] {
        metrics::counter!(name).increment(0);
    }
    for name in [
        OUTPUTS_IN_FLIGHT,
        PARTITIONS_ASSIGNED,
        STATE_OFFICIALS,
        STATE_EVENTS,
        PENDING_EVENTS,
        STATE_BYTES,
    ] {
        metrics::gauge!(name).set(0.0);
    }
}
