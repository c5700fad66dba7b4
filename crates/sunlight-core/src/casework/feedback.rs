//! Feedback from the case system: the message on `sunlight.feedback`, its statuses,
//! and why a message is refused ([`FeedbackError`], the dead-letter reason).
//!
//! ```json
//! {"warning_id": "…", "status": "received", "handler": "inspector-7",
//!  "note": "assigned to team 3", "at": "2026-11-27T09:00:00+08:00"}
//! ```

use std::fmt;

use compact_str::CompactString;
use serde_json::{Map, Value};

use crate::time::Timestamp;

/// Where a warning is in its disposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Published; the case system has not answered yet.
    Pushed,
    /// The case system has it.
    Received,
    /// Someone is checking it.
    Verifying,
    /// The problem was corrected. Closes the warning.
    Rectified,
    /// The warning was right (a true positive). Closes the warning.
    Confirmed,
    /// A false positive. Closes the warning and suppresses the rule and key.
    Dismissed,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Pushed,
        Status::Received,
        Status::Verifying,
        Status::Rectified,
        Status::Confirmed,
        Status::Dismissed,
    ];

    /// The snake_case name used in messages, metrics and the API.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pushed => "pushed",
            Status::Received => "received",
            Status::Verifying => "verifying",
            Status::Rectified => "rectified",
            Status::Confirmed => "confirmed",
            Status::Dismissed => "dismissed",
        }
    }

    /// Parses a status the case system may send (`pushed` is Sunlight's own).
    pub fn parse_feedback(text: &str) -> Option<Status> {
        match text {
            "received" => Some(Status::Received),
            "verifying" => Some(Status::Verifying),
            "rectified" => Some(Status::Rectified),
            "confirmed" => Some(Status::Confirmed),
            "dismissed" => Some(Status::Dismissed),
            _ => None,
        }
    }

    /// Rectified, confirmed and dismissed close a warning.
    pub fn is_closed(self) -> bool {
        self.stage() == 3
    }

    /// Lifecycle stage: a status may only move to a later stage.
    pub(crate) fn stage(self) -> u8 {
        match self {
            Status::Pushed => 0,
            Status::Received => 1,
            Status::Verifying => 2,
            Status::Rectified | Status::Confirmed | Status::Dismissed => 3,
        }
    }
}

/// One message from the case system.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The warning (or escalation) it is about.
    pub warning_id: CompactString,
    /// The new status.
    pub status: Status,
    /// Who handled it (a person or a team id).
    pub handler: CompactString,
    /// Free text (optional).
    pub note: String,
    /// When, by the case system's clock.
    pub at: Timestamp,
}

/// Why a feedback message was refused: the dead-letter reason and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackError {
    /// The reason.
    pub kind: FeedbackErrorKind,
    /// What exactly, for the operator.
    pub detail: String,
}

/// Dead-letter reasons of feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackErrorKind {
    /// Not JSON, not an object, a field missing or of the wrong type, an unknown
    /// status or a bad timestamp.
    InvalidFeedback,
    /// No warning with this id is known (never pushed here, or forgotten).
    UnknownWarning,
    /// The status would move the warning backwards (e.g. `received` after
    /// `rectified`), or change how a closed warning was closed.
    InvalidTransition,
    /// Feedback that cannot reach the instance holding its warning: with durable
    /// state, a record without a key (feedback is routed by official_id).
    UnroutableFeedback,
}

impl FeedbackErrorKind {
    /// Every kind (metrics).
    pub const ALL: [FeedbackErrorKind; 4] = [
        FeedbackErrorKind::InvalidFeedback,
        FeedbackErrorKind::UnknownWarning,
        FeedbackErrorKind::InvalidTransition,
        FeedbackErrorKind::UnroutableFeedback,
    ];

    /// The snake_case code used in dead-letter headers and metric labels.
    pub fn code(self) -> &'static str {
        match self {
            FeedbackErrorKind::InvalidFeedback => "invalid_feedback",
            FeedbackErrorKind::UnknownWarning => "unknown_warning",
            FeedbackErrorKind::InvalidTransition => "invalid_transition",
            FeedbackErrorKind::UnroutableFeedback => "unroutable_feedback",
        }
    }
}

impl FeedbackError {
    /// An error of `kind` with what exactly was wrong.
    pub fn new(kind: FeedbackErrorKind, detail: impl Into<String>) -> Self {
        FeedbackError {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for FeedbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

impl std::error::Error for FeedbackError {}

impl Feedback {
    /// Decodes one message. `note` may be absent or null; every other field is required.
    pub fn from_json(bytes: &[u8]) -> Result<Feedback, FeedbackError> {
        let invalid =
            |detail: String| FeedbackError::new(FeedbackErrorKind::InvalidFeedback, detail);
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(invalid("not a JSON object".into()));
        };
        let text = |name: &str| -> Result<&str, FeedbackError> {
            match map.get(name) {
                None | Some(Value::Null) => Err(invalid(format!("missing field `{name}`"))),
                Some(Value::String(s)) if s.is_empty() => {
                    Err(invalid(format!("field `{name}` is empty")))
                }
                Some(Value::String(s)) => Ok(s),
                Some(other) => Err(invalid(format!(
                    "field `{name}` must be a string, not {}",
                    kind_of(other)
                ))),
            }
        };
        let warning_id = text("warning_id")?;
        let status_text = text("status")?;
        let status = Status::parse_feedback(status_text).ok_or_else(|| {
            invalid(format!(
                "unknown status `{status_text}`; expected received, verifying, rectified, confirmed or dismissed"
            ))
        })?;
        let handler = text("handler")?;
        let at_text = text("at")?;
        let at =
            Timestamp::parse_rfc3339(at_text).map_err(|e| invalid(format!("field `at`: {e}")))?;
        let note = note(&map).map_err(invalid)?;
        Ok(Feedback {
            warning_id: warning_id.into(),
            status,
            handler: handler.into(),
            note,
            at,
        })
    }
}

fn note(map: &Map<String, Value>) -> Result<String, String> {
    match map.get("note") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(format!(
            "field `note` must be a string, not {}",
            kind_of(other)
        )),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_full_message() {
        let fb = Feedback::from_json(
            br#"{"warning_id":"w1","status":"dismissed","handler":"h7","note":"ok","at":"2026-11-27T09:00:00+08:00"}"#,
        )
        .unwrap();
        assert_eq!(
            fb,
            Feedback {
                warning_id: "w1".into(),
                status: Status::Dismissed,
                handler: "h7".into(),
                note: "ok".into(),
                at: Timestamp::parse_rfc3339("2026-11-27T01:00:00Z").unwrap(),
            }
        );
    }

    #[test]
    fn refuses_bad_messages_with_a_reason() {
        let cases: [(&[u8], &str); 6] = [
            (b"nope", "not valid JSON"),
            (b"[1]", "not a JSON object"),
            (br#"{"status":"received","handler":"h","at":"2026-01-01T00:00:00Z"}"#, "missing field `warning_id`"),
            (br#"{"warning_id":"w","status":"closed","handler":"h","at":"2026-01-01T00:00:00Z"}"#, "unknown status `closed`"),
            (br#"{"warning_id":"w","status":"received","handler":7,"at":"2026-01-01T00:00:00Z"}"#, "field `handler` must be a string, not a number"),
            (br#"{"warning_id":"w","status":"received","handler":"h","at":"yesterday"}"#, "field `at`:"),
        ];
        for (bytes, expected) in cases {
            let err = Feedback::from_json(bytes).unwrap_err();
            assert_eq!(err.kind, FeedbackErrorKind::InvalidFeedback);
            assert!(err.detail.starts_with(expected), "{}", err.detail);
        }
    }
}
