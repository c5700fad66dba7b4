//! [`KafkaConfig`]: where the pipeline reads and writes, and how it commits.

use std::collections::BTreeMap;

use sunlight_core::time::Duration;

use crate::output::WarningFormat;

/// Kafka settings of `sunlight run`.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group id.
    pub group: String,
    /// Input topics (events keyed by official_id).
    pub input_topics: Vec<String>,
    /// Input topics carrying protobuf `sunlight.v1.PowerEvent` instead of JSON.
    pub protobuf_topics: Vec<String>,
    /// Department data: records of the topics these source mappings name are mapped
    /// to events (docs/SOURCES.md) instead of decoded as Sunlight events.
    pub sources: Option<std::sync::Arc<sunlight_core::sources::SourceFile>>,
    /// Where warnings go.
    pub warnings_topic: String,
    /// Where bad and late input goes.
    pub dlq_topic: String,
    /// Where a new consumer group starts: `earliest` or `latest`.
    pub auto_offset_reset: String,
    /// Extra librdkafka properties for both clients (security.protocol, sasl.*, ssl.*).
    pub properties: BTreeMap<String, String>,
    /// A partition without messages for this long releases its pending events.
    pub idle_timeout: Duration,
    /// Watermark alignment: a partition whose watermark runs further than this
    /// ahead of the slowest active one is paused until it is within half of it
    /// (`None`, the default: never paused). A resumed partition is fetched again
    /// from its next offset, which tansu 0.6.0 does not serve when it lies inside a
    /// record batch: use it with Kafka.
    pub max_watermark_drift: Option<Duration>,
    /// How often offsets are committed and idle partitions checked.
    pub commit_interval: Duration,
    /// Most outputs waiting for broker acknowledgement before consumption pauses.
    pub max_in_flight: usize,
    /// `ce_source` of warnings.
    pub source_name: String,
    /// Encoding of warnings: JSON (default) or protobuf.
    pub warnings_format: WarningFormat,
    /// How long shutdown waits for outstanding outputs before committing and exiting.
    pub shutdown_timeout: Duration,
    /// How often the state gauges are refreshed (walks all state).
    pub state_report_interval: Duration,
    /// The closed loop (feedback, risk codes, escalation, suppression); off when None.
    pub casework: Option<crate::casework::CaseworkConfig>,
    /// Durable window state (snapshots on the state topic); off when None.
    pub state: Option<StateConfig>,
    /// Key fields whose values are masked (`***`) in published warnings, key and
    /// title (the query API shows them to tokens allowed to see them).
    pub mask_in_warnings: Vec<String>,
}

/// Durable window state: where snapshots go and how often.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// The state topic (`cleanup.policy=delete`; see [`crate::state_topic`]).
    pub topic: String,
    /// How often each partition's state is snapshotted (and its offset committed).
    pub interval: Duration,
    /// Every `full_every`-th snapshot of a partition is full; the others are deltas
    /// of what changed since the one before (1: every snapshot is full). A full one
    /// is also written sooner when the deltas since the last add up to more than
    /// half of it (this bounds what a restore reads),
    /// and after every assignment change. The state topic's retention must exceed
    /// `full_every` intervals.
    pub full_every: u32,
    /// Kafka transactions: every output, the state snapshot and the input offsets of
    /// one interval are committed atomically (read them with
    /// `isolation.level=read_committed`). Needs a broker with transactions.
    pub exactly_once: bool,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            topic: "sunlight.state".into(),
            interval: Duration::from_secs(30),
            full_every: 10,
            exactly_once: false,
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group: "sunlight".into(),
            input_topics: vec!["sunlight.events".into()],
            protobuf_topics: Vec::new(),
            sources: None,
            warnings_topic: "sunlight.warnings".into(),
            dlq_topic: "sunlight.dlq".into(),
            auto_offset_reset: "earliest".into(),
            properties: BTreeMap::new(),
            idle_timeout: Duration::from_secs(10),
            max_watermark_drift: None,
            commit_interval: Duration::from_secs(1),
            max_in_flight: 10_000,
            source_name: "sunlight".into(),
            warnings_format: WarningFormat::Json,
            shutdown_timeout: Duration::from_secs(10),
            state_report_interval: Duration::from_secs(15),
            casework: None,
            state: None,
            mask_in_warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    /// TLS and SASL PLAIN / SCRAM / OAUTHBEARER are compiled into the bundled
    /// librdkafka (OpenSSL vendored), so `security.protocol = "SASL_SSL"` with SCRAM
    /// works without system libraries. (rdkafka's `sasl` feature only adds Kerberos
    /// through the system's Cyrus SASL.)
    #[test]
    fn the_bundled_librdkafka_speaks_tls_and_sasl_scram() {
        let native = rdkafka::ClientConfig::new()
            .create_native_config()
            .expect("native config");
        let features = native.get("builtin.features").expect("builtin.features");
        for needed in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer"] {
            assert!(
                features.split(',').any(|f| f == needed),
                "{needed} missing from {features}"
            );
        }
    }
}
