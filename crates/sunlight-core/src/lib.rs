//! # sunlight-core
//!
//! The pure heart of Sunlight: no Kafka, no async runtime, no HTTP. Everything the
//! live pipeline and the `sunlight replay` command compute is computed here.
//!
//! | module | job |
//! |---|---|
//! | [`time`] | event-time instants, RFC 3339, durations |
//! | [`event`] | [`PowerEvent`], the one internal event type, and field access |
//! | [`codec`] | JSON and protobuf decoders with structured [`codec::DecodeError`]s |
//! | [`rules`] | rule pack format, filters, measures, templates, reference data, compiler |
//! | `state`, `keyed`, `fifo`, `pending`, `copies` (private) | per-official window state with running aggregates |
//! | [`engine`] | watermark, ordering, dedup, evaluation: [`Engine`] |
//! | [`evidence`] | compact copies of contributing events, kept in windows and warnings |
//! | [`warning`] | [`Warning`], deterministic ids, JSON/protobuf output |
//! | [`casework`] | the closed loop: risk codes, feedback, cases, escalation, suppression |
//! | [`replay`] | replay a recorded file through the engine ([`replay::Replayer`]) |
//! | [`sources`] | source mappings: department records (Debezium, JSON rows) to events |
//! | [`backtest`] | score warnings against labelled outcomes: labels, precision, recall |
//! | [`reference_model`] | a brute-force evaluator used as the test oracle |

pub mod backtest;
pub mod casework;
pub mod codec;
mod copies;
pub mod engine;
pub mod event;
pub mod evidence;
mod fifo;
mod keyed;
pub mod lanes;
mod pending;
pub mod reference_model;
pub mod replay;
pub mod rules;
pub mod sources;
mod state;
pub mod time;
pub mod warning;

pub use engine::{Admission, Engine, EngineConfig, Origin, StateView, WatermarkMode};
pub use event::PowerEvent;
pub use rules::CompiledPack;
pub use warning::Warning;
