//! [`AuditRecord`]: one request's audit line.

use serde::{Deserialize, Serialize};

/// Who asked what, when, from where, and what came of it. Serialised as one JSON
/// object with the fields in this order; absent values are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The request id (the caller's `x-request-id` when well-formed, else a UUID).
    pub request_id: String,
    /// When the request arrived, RFC 3339 UTC.
    pub at: String,
    /// The token's `sub`, or null when unauthenticated.
    pub sub: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request path (without query).
    pub path: String,
    /// The official asked for, if any.
    pub official_id: Option<String>,
    /// The warning asked for, if any.
    pub warning_id: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// Reason code: `ok`, `not_found`, `unauthenticated:<code>`, ...
    pub outcome: String,
    /// The peer's address, when the server records it.
    pub remote_addr: Option<String>,
}

impl AuditRecord {
    /// One JSON object, no trailing newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("audit records always serialise")
    }
}
