//! [`QuerySource`]: where the API reads officials, warnings and rules, and where it
//! hands a handler's feedback. The binary implements it over its engine state; tests
//! implement it over fixed data. Scope checks, filters, order and paging are the
//! API's (module `listing`): a source only yields rows.

use std::future::Future;
use std::pin::Pin;

use crate::lists::{
    CodeHistory, FeedbackSubmission, OfficialRow, SubmitError, WarningItem, WarningRow,
};
use crate::model::{OfficialView, RulesView, WarningView};

/// The future of [`QuerySource::submit_feedback`].
pub type SubmitFuture = Pin<Box<dyn Future<Output = Result<(), SubmitError>> + Send>>;

/// Read access to what the engine knows. Calls are synchronous and should be quick
/// (in-memory look-ups and scans under short locks); they run on the request's task.
pub trait QuerySource: Send + Sync + 'static {
    /// Whether the closed loop runs (off: codes are unknown, no warnings are kept).
    fn casework(&self) -> bool;
    /// The official with this id, if known.
    fn official(&self, id: &str) -> Option<OfficialView>;
    /// The warning with this id, if known.
    fn warning(&self, id: &str) -> Option<WarningView>;
    /// The loaded rule pack.
    fn rules(&self) -> RulesView;
    /// Calls `visit` once for every official known (with windows or cases), in any
    /// order.
    fn for_each_official(&self, visit: &mut dyn FnMut(OfficialRow<'_>));
    /// Calls `visit` once for every tracked warning (open, and closed but kept), in
    /// any order.
    fn for_each_warning(&self, visit: &mut dyn FnMut(WarningRow<'_>));
    /// The list item of a warning (unmasked; the API masks it).
    fn warning_item(&self, id: &str) -> Option<WarningItem>;
    /// The official's code history, if known.
    fn code_history(&self, id: &str) -> Option<CodeHistory>;
    /// Writes feedback where the case system's goes (the feedback topic), so it is
    /// validated, ordered and audited the same way.
    fn submit_feedback(&self, feedback: FeedbackSubmission) -> SubmitFuture;
}
