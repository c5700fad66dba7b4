//! Outputs on their way to the broker: warnings (JSON or protobuf, or carriers for
//! the officials lane) and dead letters.
//!
//! Every output is tagged with the input record that caused it, so the pipeline can
//! hold back that record's offset until the broker has acknowledged the output. An
//! output the broker does not acknowledge is sent again with a growing backoff, so a
//! broker outage or a refused request heals without a restart.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use prost::Message as _;
use rdkafka::message::OwnedHeaders;
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
    /// An entity lane's output: each warning as a carrier event (contract event
    /// JSON, [`sunlight_core::lanes::carrier_event`]) for the officials lane's input,
    /// unmasked (the officials lane masks what it publishes).
    Carrier,
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
            WarningFormat::Json | WarningFormat::Carrier => "application/json",
            WarningFormat::Protobuf => "application/protobuf",
        }
    }

    /// The CloudEvents `ce_type` header: a warning, or a carrier
    /// ([`sunlight_core::lanes::CARRIER_KIND`], which the officials lane decodes as
    /// JSON whatever its input topic's format).
    pub fn event_type(self) -> &'static str {
        match self {
            WarningFormat::Carrier => sunlight_core::lanes::CARRIER_KIND,
            _ => crate::headers::WARNING_EVENT_TYPE,
        }
    }

    /// Encodes one warning.
    pub fn encode(self, warning: &Warning) -> Vec<u8> {
        match self {
            WarningFormat::Json => warning.to_json().into_bytes(),
            WarningFormat::Protobuf => warning.to_proto().encode_to_vec(),
            WarningFormat::Carrier => {
                let mut text = String::new();
                sunlight_core::codec::json::encode(
                    &sunlight_core::lanes::carrier_event(warning),
                    &mut text,
                );
                text.into_bytes()
            }
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
    /// For a warning, its trigger event's time (its window must stay re-readable
    /// until the warning is acknowledged); `None` for a dead letter.
    pub trigger_time: Option<i64>,
}

impl Tag {
    /// The partition index of the closed loop's own records (feedback dead letters,
    /// risk codes, escalations, audit): they hold no input offset back.
    pub const CASEWORK: usize = usize::MAX;

    /// A tag for one of the loop's own records.
    pub fn casework(generation: u64) -> Tag {
        Tag {
            generation,
            index: Tag::CASEWORK,
            offset: -1,
            trigger_time: None,
        }
    }

    /// Whether it tags one of the loop's own records.
    pub fn is_casework(&self) -> bool {
        self.index == Tag::CASEWORK
    }
}

/// An output with everything needed to send it again.
#[derive(Debug, Clone)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Record key.
    pub key: Option<Vec<u8>>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Record headers.
    pub headers: OwnedHeaders,
}

/// The broker's answer for one output.
#[derive(Debug)]
pub struct Delivery {
    /// What it belonged to.
    pub tag: Tag,
    /// Acknowledged by the broker.
    pub ok: bool,
    /// When not acknowledged: the output and how many attempts were made.
    pub retry: Option<(Output, u32)>,
}

/// An output awaiting acknowledgement.
pub type InFlight = Pin<Box<dyn Future<Output = Delivery> + Send>>;

/// Wait before attempt `attempt` (0 = the first): none, then 100 ms doubling to 30 s.
pub fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(100u64.saturating_mul(1 << (attempt - 1).min(20)))
        .min(Duration::from_secs(30))
}

/// Hands `output` to the producer (after the backoff of `attempt`); the future
/// resolves when the broker answers. An output the producer refuses to queue resolves
/// as not delivered, with the output for the next attempt.
pub fn send(producer: &FutureProducer, output: Output, tag: Tag, attempt: u32) -> InFlight {
    let producer = producer.clone();
    Box::pin(async move {
        let wait = backoff(attempt);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let mut record = FutureRecord::to(&output.topic)
            .payload(&output.payload[..])
            .headers(output.headers.clone());
        if let Some(key) = &output.key {
            record = record.key(&key[..]);
        }
        let mut permanent = false;
        let ok = match producer.send_result(record) {
            Ok(delivery) => match delivery.await {
                Ok(Ok(_)) => true,
                Ok(Err((e, _))) => {
                    permanent = tag.is_casework() && is_permanent(&e);
                    warn!(error = %e, attempt, topic = %output.topic, permanent, "the broker refused an output");
                    false
                }
                Err(_) => false,
            },
            Err((e, _)) => {
                permanent = tag.is_casework() && is_permanent(&e);
                warn!(error = %e, attempt, permanent, "cannot queue an output");
                false
            }
        };
        // The loop's own records hold no input back and are not re-produced by a
        // re-read: one that can never succeed is given up (logged, counted as a
        // produce error) instead of occupying an in-flight slot for ever. Warnings and
        // dead letters are always retried: their input stays uncommitted meanwhile.
        if permanent {
            tracing::error!(topic = %output.topic, "a closed-loop record can never be delivered; dropped");
        }
        let retry = (!ok && !permanent).then(|| (output, attempt + 1));
        Delivery { tag, ok, retry }
    })
}

/// Errors no retry can fix: the record is too large, or the topic refuses us.
fn is_permanent(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidRecord
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::InvalidTopic
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds() {
        let waits: Vec<u64> = (0..6).map(|a| backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [0, 100, 200, 400, 800, 1_600]);
        assert_eq!(backoff(12), Duration::from_secs(30));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(30));
    }
}
