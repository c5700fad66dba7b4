//! [`QuerySource`]: where the API reads officials, warnings and rules. The binary
//! implements it over its engine state; tests implement it over fixed data.

use crate::model::{OfficialView, RulesView, WarningView};

/// Read access to what the engine knows. Calls are synchronous and should be quick
/// (in-memory look-ups); they run on the request's task.
pub trait QuerySource: Send + Sync + 'static {
    /// The official with this id, if known.
    fn official(&self, id: &str) -> Option<OfficialView>;
    /// The warning with this id, if known.
    fn warning(&self, id: &str) -> Option<WarningView>;
    /// The loaded rule pack.
    fn rules(&self) -> RulesView;
}
