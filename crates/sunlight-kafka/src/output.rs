//! Outputs on their way to the broker: warnings (JSON or protobuf) and dead letters.
//!
//! Every output is tagged with the input record that caused it, so the pipeline can
//! hold back that record's offset until the broker has acknowledged the output.

use std::future::Future;
use std::pin::Pin;

use prost::Message as _;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::Warning;
use tracing::warn;

/// How warnings are encoded on the warnings topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WarningFormat {
    /// The contract's JSON object (default).
    #[default]
    Json,
    /// `sunlight.v1.Warning`, protobuf-encoded.
    Protobuf,
}

impl WarningFormat {
    /// Parses `json` or `protobuf`.
    pub fn parse(s: &str) -> Option<WarningFormat> {
        match s {
            "json" => Some(WarningFormat::Json),
            "protobuf" => Some(WarningFormat::Protobuf),
            _ => None,
        }
    }

    /// The CloudEvents `content-type` header.
    pub fn content_type(self) -> &'static str {
        match self {
            WarningFormat::Json => "application/json",
            WarningFormat::Protobuf => "application/protobuf",
        }
    }

    /// Encodes one warning.
    pub fn encode(self, warning: &Warning) -> Vec<u8> {
        match self {
            WarningFormat::Json => warning.to_json().into_bytes(),
            WarningFormat::Protobuf => warning.to_proto().encode_to_vec(),
        }
    }
}

/// Which input record an output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The assignment generation (outputs of an older one are ignored on delivery).
    pub generation: u64,
    /// Partition index within that assignment.
    pub index: usize,
    /// Input offset.
    pub offset: i64,
    /// Whether the output is a warning (else a dead letter).
    pub warning: bool,
}

/// The broker's answer for one output.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// What it belonged to.
    pub tag: Tag,
    /// Acknowledged by the broker.
    pub ok: bool,
}

/// An output awaiting acknowledgement.
pub type InFlight = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// Hands `record` to the producer; the future resolves when the broker answers. An
/// output the producer refuses to queue resolves at once as not delivered.
pub fn send(producer: &FutureProducer, record: FutureRecord<'_, [u8], [u8]>, tag: Tag) -> InFlight {
    match producer.send_result(record) {
        Ok(delivery) => Box::pin(async move {
            let ok = match delivery.await {
                Ok(Ok(_)) => true,
                Ok(Err((e, _))) => {
                    warn!(error = %e, "the broker refused an output; its input will be re-read after a restart");
                    false
                }
                Err(_) => false,
            };
            Delivery { tag, ok }
        }),
        Err((e, _)) => {
            warn!(error = %e, "cannot queue an output");
            Box::pin(async move { Delivery { tag, ok: false } })
        }
    }
}
