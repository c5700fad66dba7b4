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
