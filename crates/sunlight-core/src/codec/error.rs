//! [`DecodeError`]: why an input is not a valid event.

use std::fmt;

/// A stable, machine-readable reason code for a rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Not syntactically valid JSON, or not a JSON object.
    InvalidJson,
    /// Not a valid protobuf `PowerEvent`.
    InvalidProtobuf,
    /// Bytes that are not UTF-8 where text is required.
    InvalidUtf8,
    /// A required field is absent (or null).
    MissingField,
    /// A field has the wrong type.
    WrongType,
    /// A required string field is empty.
    EmptyField,
    /// `occurred_at` is not an RFC 3339 timestamp with offset, or is out of range.
    InvalidTimestamp,
    /// The message, a string or the attribute count exceeds the configured limits.
    TooLarge,
    /// The event's time is behind the watermark (disorder beyond the allowed lateness).
    Late,
    /// A Confluent Schema Registry frame (magic byte 0) that is cut short.
    InvalidFraming,
    /// A department record its source mapping cannot turn into an event (the detail
    /// names the source, the event rule and the field).
    Unmappable,
}

impl Reason {
    /// Every reason, in a fixed order (summaries and metrics).
    pub const ALL: [Reason; 11] = [
        Reason::InvalidJson,
        Reason::InvalidProtobuf,
        Reason::InvalidUtf8,
        Reason::MissingField,
        Reason::WrongType,
        Reason::EmptyField,
        Reason::InvalidTimestamp,
        Reason::TooLarge,
        Reason::Late,
        Reason::InvalidFraming,
        Reason::Unmappable,
    ];

    /// The snake_case code used in dead-letter records, headers and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidJson => "invalid_json",
            Reason::InvalidProtobuf => "invalid_protobuf",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::MissingField => "missing_field",
            Reason::WrongType => "wrong_type",
            Reason::EmptyField => "empty_field",
            Reason::InvalidTimestamp => "invalid_timestamp",
            Reason::TooLarge => "too_large",
            Reason::Late => "late",
            Reason::InvalidFraming => "invalid_framing",
            Reason::Unmappable => "unmappable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why an input could not be decoded: a reason code plus a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    /// The machine-readable reason.
    pub reason: Reason,
    /// What exactly was wrong, naming the field where there is one.
    pub detail: String,
}

impl DecodeError {
    /// Builds an error.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }

    /// The reason code.
    pub fn reason(&self) -> Reason {
        self.reason
    }
}
