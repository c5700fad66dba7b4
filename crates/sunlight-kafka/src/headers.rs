//! Record headers: CloudEvents Kafka-binding headers on warnings, provenance and
//! reason on dead letters.

use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use sunlight_core::Warning;

/// `ce_type` of warnings.
pub const WARNING_EVENT_TYPE: &str = "cn.gov.supervision.sunlight.warning.v1";

/// CloudEvents binary-mode headers for a warning (`ce_id` = warning_id).
pub fn warning_headers(
    warning: &Warning,
    source: &str,
    format: crate::WarningFormat,
) -> OwnedHeaders {
    let time = warning.detected_at.to_string();
    let (event_type, content_type) = (format.event_type(), format.content_type());
    [
        ("ce_specversion", "1.0"),
        ("ce_id", warning.warning_id.as_str()),
        ("ce_type", event_type),
        ("ce_source", source),
        ("ce_time", time.as_str()),
        ("ce_subject", warning.official_id.as_str()),
        ("content-type", content_type),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value),
        })
    })
}

/// A record's headers as (key, value) text pairs (values read lossily as UTF-8).
pub fn header_pairs(message: &impl Message) -> Vec<(String, String)> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Why a record is in the dead-letter topic, and where it came from.
pub struct DeadLetterOrigin<'a> {
    /// Reason code (`invalid_json`, `late`, ...).
    pub reason: &'a str,
    /// Human-readable detail.
    pub detail: &'a str,
    /// Source topic.
    pub topic: &'a str,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
}

/// Dead-letter headers: `sunlight.reason`, `sunlight.detail`, `sunlight.source.*`.
pub fn dead_letter_headers(origin: &DeadLetterOrigin<'_>) -> OwnedHeaders {
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    [
        ("sunlight.reason", origin.reason),
        ("sunlight.detail", origin.detail),
        ("sunlight.source.topic", origin.topic),
        ("sunlight.source.partition", partition.as_str()),
        ("sunlight.source.offset", offset.as_str()),
    ]
    .into_iter()
    .fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(value),
        })
    })
}

/// Largest dead-letter payload: below librdkafka's default `message.max.bytes`
/// (1,000,000) with room for the headers.
pub const MAX_DEAD_LETTER_BYTES: usize = 900_000;

/// A dead letter's payload cut to [`MAX_DEAD_LETTER_BYTES`]: the producer refuses
/// records above `message.max.bytes`, so an oversized input keeps its head and says
/// so (`sunlight.truncated`, `sunlight.original_bytes`) rather than fail for ever.
pub fn cut_to_size(original: &[u8], mut headers: OwnedHeaders) -> (Vec<u8>, OwnedHeaders) {
    if original.len() <= MAX_DEAD_LETTER_BYTES {
        return (original.to_vec(), headers);
    }
    let size = original.len().to_string();
    for (key, value) in [
        ("sunlight.truncated", "true"),
        ("sunlight.original_bytes", size.as_str()),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    (original[..MAX_DEAD_LETTER_BYTES].to_vec(), headers)
}
