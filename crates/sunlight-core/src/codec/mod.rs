//! Decoding input events: JSON ([`json`]) and protobuf ([`protobuf`]) into
//! [`PowerEvent`](crate::event::PowerEvent), with structured errors ([`DecodeError`]).
//!
//! Decoders never panic: every malformed input becomes a [`DecodeError`] whose
//! [`reason`](DecodeError::reason) is a stable code for dead-letter records and metrics.

mod error;
pub mod framing;
pub mod json;
pub mod protobuf;

pub use error::{DecodeError, Reason};

/// Bounds that keep one hostile message from exhausting memory.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Largest accepted message, in bytes.
    pub max_message_bytes: usize,
    /// Longest accepted `event_id`, `official_id` or `kind`, in bytes.
    pub max_id_bytes: usize,
    /// Longest accepted other string field or attribute value, in bytes.
    pub max_string_bytes: usize,
    /// Most attributes on one event.
    pub max_attributes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_message_bytes: 1 << 20,
            max_id_bytes: 256,
            max_string_bytes: 16 << 10,
            max_attributes: 256,
        }
    }
}

impl DecodeLimits {
    /// Rejects a message longer than `max_message_bytes`.
    pub fn check_message_size(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.max_message_bytes {
            return Err(DecodeError::new(
                Reason::TooLarge,
                format!(
                    "message of {len} bytes exceeds the limit of {} bytes",
                    self.max_message_bytes
                ),
            ));
        }
        Ok(())
    }
}

/// The encoding of one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per message or line.
    Json,
    /// `sunlight.v1.PowerEvent`; in files, each message is length-delimited (varint prefix).
    Protobuf,
}

/// Decodes one message in `format`, first removing a Confluent Schema Registry frame
/// if there is one (see [`framing`]). Returns the event, what the decoder noticed and
/// the frame's schema id.
pub fn decode_message(
    bytes: &[u8],
    format: Format,
    limits: &DecodeLimits,
) -> Result<(crate::event::PowerEvent, DecodeNotes, Option<u32>), DecodeError> {
    let framed = framing::unframe(bytes, format)?;
    let (event, notes) = match format {
        Format::Json => json::decode(framed.payload, limits)?,
        Format::Protobuf => protobuf::decode(framed.payload, limits)?,
    };
    Ok((event, notes, framed.schema_id))
}

/// What a successful decode also noticed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeNotes {
    /// Unknown top-level fields that were ignored (the contract says: ignored and counted).
    pub unknown_fields: u32,
}

/// `bytes` as text, validated with SIMD (`simdutf8`): department records are mostly
/// multi-byte Chinese text, where std's ASCII fast path does not help. The error, when
/// there is one, is std's (it tells where the invalid bytes start).
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => std::str::from_utf8(bytes),
    }
}
