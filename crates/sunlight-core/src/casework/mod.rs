//! The closed loop after a warning is pushed: discovery → push → rectification →
//! feedback.
//!
//! | module | job |
//! |---|---|
//! | [`policy`] | [`CaseworkPolicy`]: weights, half-life, thresholds, deadlines, suppression |
//! | [`risk`] | risk scores and green / yellow / red codes (the formula is documented there) |
//! | [`feedback`] | the case system's messages and why one is refused |
//! | [`casebook`] | [`Casebook`]: lifecycle, cases, escalation, suppression, re-coding |
//! | [`snapshot`] | the casebook of some officials as plain data, and its restore |
//!
//! Everything here runs on processing time passed in by the caller; the engine's
//! windows run on event time. docs/CASEWORK.md describes the loop for operators.

pub mod casebook;
pub mod feedback;
pub mod policy;
pub mod risk;
pub mod snapshot;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use casebook::{
    Admit, Applied, AuditEvent, CaseKey, Casebook, CodeChange, OfficialRisk, Outputs, RuleOutcomes,
    Tracked, escalation_id,
};
pub use feedback::{Feedback, FeedbackError, FeedbackErrorKind, Status};
pub use policy::CaseworkPolicy;
pub use risk::RiskCode;
pub use snapshot::{CASEBOOK_FORMAT, CasebookRestoreError, CasebookSnapshot};
