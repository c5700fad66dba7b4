//! The list answers (`/v1/officials`, `/v1/warnings`, `/v1/summary`, an official's
//! code history, the caller's session, feedback) and the rows a
//! [`crate::QuerySource`] yields to build them. Rows borrow from the engine's state,
//! so a scan of 100,000 officials allocates only for what ends up on the page.

use serde::{Deserialize, Serialize};

use crate::model::{KeyMap, Level, RiskCode, WarningStatus};

/// One official as a source yields it to a scan (borrowed; see [`OfficialItem`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OfficialRow<'a> {
    /// The official.
    pub official_id: &'a str,
    /// Region ("" when unknown).
    pub region: &'a str,
    /// Organisation unit ("" when unknown).
    pub org_unit: &'a str,
    /// Code now ([`RiskCode::Unknown`] with the closed loop off).
    pub code: RiskCode,
    /// Score now (None when unknown).
    pub score: Option<f64>,
    /// Open warnings.
    pub open_warnings: u32,
}

/// One tracked warning as a source yields it to a scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarningRow<'a> {
    /// Warning id.
    pub warning_id: &'a str,
    /// The official.
    pub official_id: &'a str,
    /// The official's region ("" when unknown).
    pub region: &'a str,
    /// The official's organisation unit ("" when unknown).
    pub org_unit: &'a str,
    /// The rule.
    pub rule_id: &'a str,
    /// Effective level (red once escalated).
    pub level: Level,
    /// Lifecycle status.
    pub status: WarningStatus,
    /// Trigger event time, ns since the epoch (the list's order).
    pub occurred_at_ns: i64,
}

/// An official in `GET /v1/officials`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficialItem {
    /// The official.
    pub official_id: String,
    /// Region.
    pub region: String,
    /// Organisation unit.
    pub org_unit: String,
    /// green, yellow, red or unknown.
    pub code: RiskCode,
    /// Score (null when unknown).
    pub score: Option<f64>,
    /// Open warnings.
    pub open_warnings: u32,
}

impl From<OfficialRow<'_>> for OfficialItem {
    fn from(r: OfficialRow<'_>) -> OfficialItem {
        OfficialItem {
            official_id: r.official_id.to_string(),
            region: r.region.to_string(),
            org_unit: r.org_unit.to_string(),
            code: r.code,
            score: r.score,
            open_warnings: r.open_warnings,
        }
    }
}

/// A page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Items matching the filters in all pages.
    pub total: u64,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
    /// Whether the closed loop is on (off: codes unknown, no warnings).
    pub casework: bool,
}

/// A warning in `GET /v1/warnings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningItem {
    /// Warning id.
    pub warning_id: String,
    /// The rule.
    pub rule_id: String,
    /// Its version.
    pub rule_version: u32,
    /// The official.
    pub official_id: String,
    /// The official's region.
    pub region: String,
    /// The official's organisation unit.
    pub org_unit: String,
    /// Effective level.
    pub level: Level,
    /// Lifecycle status.
    pub status: WarningStatus,
    /// Trigger event time (RFC 3339).
    pub occurred_at: String,
    /// Processing time (RFC 3339).
    pub detected_at: String,
    /// Rendered title (masked like the key).
    pub title: String,
    /// Key fields (masked).
    pub key: KeyMap,
    /// Its case.
    pub case_id: Option<String>,
    /// Whether it escalated.
    pub escalated: bool,
}

/// Officials per code (one tile row of the board).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeCounts {
    /// All of them.
    pub total: u64,
    /// Red.
    pub red: u64,
    /// Yellow.
    pub yellow: u64,
    /// Green.
    pub green: u64,
    /// Unknown (closed loop off).
    pub unknown: u64,
}

impl CodeCounts {
    /// Counts one official of `code`.
    pub fn add(&mut self, code: RiskCode) {
        self.total += 1;
        match code {
            RiskCode::Red => self.red += 1,
            RiskCode::Yellow => self.yellow += 1,
            RiskCode::Green => self.green += 1,
            RiskCode::Unknown => self.unknown += 1,
        }
    }
}

/// A region's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionCounts {
    /// The region ("" when unknown).
    pub region: String,
    /// Its officials per code.
    #[serde(flatten)]
    pub counts: CodeCounts,
}

/// An organisation unit's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUnitCounts {
    /// Its region ("" when unknown).
    pub region: String,
    /// The unit ("" when unknown).
    pub org_unit: String,
    /// Its officials per code.
    #[serde(flatten)]
    pub counts: CodeCounts,
}

/// Open warnings of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOpen {
    /// The rule.
    pub rule_id: String,
    /// Open warnings.
    pub total: u64,
    /// Of which red (escalated ones included).
    pub red: u64,
    /// Of which yellow.
    pub yellow: u64,
}

/// Open warnings in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenWarnings {
    /// All of them.
    pub total: u64,
    /// Per rule, by rule id.
    pub by_rule: Vec<RuleOpen>,
}

/// `GET /v1/summary`: the board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Whether the closed loop is on.
    pub casework: bool,
    /// When it was computed (RFC 3339).
    pub computed_at: String,
    /// Officials in scope per code.
    pub officials: CodeCounts,
    /// Per region, by region.
    pub regions: Vec<RegionCounts>,
    /// Per region and unit, in that order.
    pub org_units: Vec<OrgUnitCounts>,
    /// Open warnings in scope.
    pub open_warnings: OpenWarnings,
}

/// One change of an official's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeEntry {
    /// When (RFC 3339, processing time).
    pub at: String,
    /// The new code.
    pub code: RiskCode,
    /// The code before.
    pub previous: RiskCode,
    /// The score that earned it.
    pub score: f64,
    /// The open warnings behind it.
    pub warnings: Vec<String>,
}

/// The current code of an official.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentCode {
    /// green, yellow, red or unknown.
    pub code: RiskCode,
    /// Score (null when unknown).
    pub score: Option<f64>,
    /// When (RFC 3339).
    pub computed_at: String,
}

/// `GET /v1/officials/{id}/codes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeHistory {
    /// The official.
    pub official_id: String,
    /// Region (scope check).
    pub region: String,
    /// Organisation unit (scope check).
    pub org_unit: String,
    /// Whether the closed loop is on.
    pub casework: bool,
    /// The code now.
    pub current: CurrentCode,
    /// Changes, oldest first (the newest ones kept; see docs/CASEWORK.md).
    pub history: Vec<CodeEntry>,
}

/// `GET /v1/session`: who the token says the caller is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    /// The token's subject.
    pub sub: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Whether it may record feedback (role `handler`).
    pub can_handle: bool,
    /// Whether it sees sensitive values unmasked.
    pub sensitive: bool,
    /// Whether the closed loop is on.
    pub casework: bool,
    /// Visible regions (`"*"`: all).
    pub regions: Vec<String>,
    /// Visible organisation units.
    pub org_units: Vec<String>,
}

/// The body of `POST /v1/warnings/{id}/feedback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// received, verifying, rectified, confirmed or dismissed.
    pub status: String,
    /// Free text.
    #[serde(default)]
    pub note: String,
}

/// Feedback the API hands to the source: what the case system would have sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackSubmission {
    /// The warning.
    pub warning_id: String,
    /// Its official (the feedback topic's record key).
    pub official_id: String,
    /// The new status.
    pub status: WarningStatus,
    /// The token's subject.
    pub handler: String,
    /// Free text.
    pub note: String,
    /// When (RFC 3339).
    pub at: String,
}

/// `202` answer of `POST /v1/warnings/{id}/feedback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackAccepted {
    /// Always true: the feedback is on the feedback topic; the status changes once
    /// the pipeline applies it.
    pub accepted: bool,
    /// The warning.
    pub warning_id: String,
    /// The status sent.
    pub status: WarningStatus,
    /// Who sent it.
    pub handler: String,
    /// When.
    pub at: String,
}

/// Why a source could not take feedback.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The closed loop is off.
    #[error("the closed loop is off (run with --casework)")]
    CaseworkOff,
    /// The feedback topic did not take it.
    #[error("the feedback could not be written: {0}")]
    Unavailable(String),
}
