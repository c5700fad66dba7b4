//! The closed loop after a warning is pushed: discovery → push → rectification →
//! feedback.
//!
//! | module | job |
//! |---|---|
//! | [`policy`] | [`CaseworkPolicy`]: weights, half-life, thresholds, deadlines, suppression |
//! | [`risk`] | risk scores and green / yellow / red codes (the formula is documented there) |
//! | [`feedback`] | the case system's messages and why one is refused |
//! | [`casebook`] | [`Casebook`]: lifecycle, cases, escalation, suppression, re-coding |
//! | [`query`] | read access for the query API: officials, codes, code history, tracked warnings |
//! | [`snapshot`] | the casebook of some officials as plain data (format 2), and its restore |
//! | [`snapshot_v1`] | format 1 of that data, as earlier versions wrote it, and its conversion |
//!
//! Everything here runs on processing time passed in by the caller; the engine's
//! windows run on event time. docs/CASEWORK.md describes the loop for operators.

pub mod casebook;
pub mod feedback;
pub mod policy;
pub mod query;
pub mod risk;
pub mod snapshot;
#[cfg(test)]
mod snapshot_tests;
pub mod snapshot_v1;
#[cfg(test)]
mod tests;

pub use casebook::{
    Admit, Applied, AuditEvent, CODE_HISTORY_CAP, CaseKey, Casebook, CodeChange, CodeRecord,
    OfficialRisk, Outputs, RuleOutcomes, Tracked, escalation_id,
};
pub use feedback::{Feedback, FeedbackError, FeedbackErrorKind, Status};
pub use policy::CaseworkPolicy;
pub use risk::RiskCode;
pub use snapshot::{
    CASEBOOK_FORMAT, CASEBOOK_FORMATS_READ, CasebookRestoreError, CasebookSnapshot,
};
