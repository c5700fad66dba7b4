//! # sunlight-kafka
//!
//! The live pipeline around the pure engine: Kafka in, warnings and dead letters
//! out, offsets committed at least once.
//!
//! | module | job |
//! |---|---|
//! | [`casework`] | the closed loop's records: feedback in, risk codes, escalations, audit out |
//! | [`config`] | [`KafkaConfig`]: brokers, group, topics, librdkafka properties |
//! | [`pipeline`] | [`run`]: consume, evaluate per partition, produce, commit |
//! | [`state_topic`] | window state snapshots on the state topic: chunks, newest complete wins |
//! | [`reference_feed`] | reference tables read from compacted topics and followed |
//! | [`repartition`] | re-keys input not keyed by official_id into an internal topic |
//! | [`partitions`] | owned partitions and the watermark they allow together |
//! | [`offsets`] | [`OffsetTracker`]: which offsets are safe to commit |
//! | [`output`] | warnings (JSON or protobuf) and dead letters on their way out |
//! | [`health`] | [`Health`]: readiness facts for `/readyz` |
//! | [`headers`] | CloudEvents headers on warnings, provenance on dead letters |
//! | [`masking`] | sensitive key values masked in every record written; the one warning-record builder |
//! | [`telemetry`] | metric names |

pub mod casework;
pub mod config;
pub mod headers;
pub mod health;
pub mod masking;
pub mod offsets;
pub mod output;
pub mod partitions;
pub mod pipeline;
pub mod reference_feed;
pub mod repartition;
pub mod state_topic;
pub mod telemetry;

pub use config::{KafkaConfig, StateConfig};
pub use health::Health;
pub use offsets::OffsetTracker;
pub use output::WarningFormat;
pub use pipeline::{PipelineError, RunStats, Services, ViewSlot, run, run_with};
