//! # sunlight-kafka
//!
//! The live pipeline around the pure engine: Kafka in, warnings and dead letters
//! out, offsets committed at least once.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | [`KafkaConfig`]: brokers, group, topics, librdkafka properties |
//! | [`pipeline`] | [`run`]: consume, evaluate per partition, produce, commit |
//! | [`offsets`] | [`OffsetTracker`]: which offsets are safe to commit |
//! | [`headers`] | CloudEvents headers on warnings, provenance on dead letters |

pub mod config;
pub mod headers;
pub mod offsets;
pub mod pipeline;

pub use config::KafkaConfig;
pub use offsets::OffsetTracker;
pub use pipeline::{PipelineError, RunStats, run};
