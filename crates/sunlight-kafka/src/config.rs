//! [`KafkaConfig`]: where the pipeline reads and writes, and how it commits.

use std::collections::BTreeMap;

use sunlight_core::time::Duration;

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
    /// How often offsets are committed and idle partitions checked.
    pub commit_interval: Duration,
    /// Most outputs waiting for broker acknowledgement before consumption pauses.
    pub max_in_flight: usize,
    /// `ce_source` of warnings.
    pub source_name: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group: "sunlight".into(),
            input_topics: vec!["sunlight.events".into()],
            protobuf_topics: Vec::new(),
            warnings_topic: "sunlight.warnings".into(),
            dlq_topic: "sunlight.dlq".into(),
            auto_offset_reset: "earliest".into(),
            properties: BTreeMap::new(),
            idle_timeout: Duration::from_secs(10),
            commit_interval: Duration::from_secs(1),
            max_in_flight: 10_000,
            source_name: "sunlight".into(),
        }
    }
}
