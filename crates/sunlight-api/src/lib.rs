//! Sunlight's scoped, audited query API: inspectors read an official's risk and
//! warnings over HTTP; every request is authenticated, scoped, masked and audited.
//!
//! Modules (one job each):
//! - [`config`]: the `[api]` settings and their validation ([`ApiConfig`]).
//! - [`keys`]: verification keys loaded from the settings ([`KeySet`]).
//! - [`auth`]: bearer JWT checking, HS256/RS256 ([`Authenticator`], [`Claims`], [`Principal`]).
//! - [`error`]: typed authentication failures and the 401 / 404 answers ([`AuthError`]).
//! - [`scope`]: which officials a token may see ([`Scope`]).
//! - [`mask`]: masking of sensitive attribute values ([`Masker`]).
//! - [`audit`]: audit records and sinks ([`AuditRecord`], [`AuditSink`], [`FileSink`], [`ChannelSink`]).
//! - [`model`]: the answers' DTOs ([`OfficialView`], [`WarningView`], [`RulesView`]).
//! - [`lists`]: the list, board, code-history, session and feedback DTOs, and the
//!   rows a source yields ([`OfficialRow`], [`WarningRow`]).
//! - [`listing`]: filters, order, cursors and the board over those rows.
//! - [`source`]: the data-source trait the binary implements ([`QuerySource`]).
//! - [`api`]: the shared state built from the settings ([`Api`]).
//! - [`router`]: the `/v1` routes ([`router()`], [`Endpoint`]).
//! - `handlers`, `lists_handlers`, `middleware`, `outcome`: request handling, the auth and audit layers,
//!   and how they pass the audit outcome along.
//! - [`openapi`]: the OpenAPI document.
//! - [`console`]: the browser console's embedded files at `/console/`.
//! - [`telemetry`]: metric names.
//!
//! Wiring in a binary:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # fn wire(config: &sunlight_api::ApiConfig, source: Arc<dyn sunlight_api::QuerySource>)
//! # -> Result<axum::Router, sunlight_api::ConfigError> {
//! let (channel, _receiver) = sunlight_api::ChannelSink::new(4096); // drain to config.audit_topic
//! let api = sunlight_api::Api::new(config, source, vec![Arc::new(channel)])?;
//! let app = axum::Router::new().merge(sunlight_api::router(Arc::new(api)));
//! # Ok(app) }
//! ```

pub mod api;
pub mod audit;
pub mod auth;
pub mod config;
pub mod console;
pub mod error;
mod handlers;
pub mod keys;
pub mod listing;
pub mod lists;
mod lists_handlers;
pub mod mask;
mod middleware;
pub mod model;
pub mod openapi;
mod outcome;
pub mod router;
pub mod scope;
pub mod source;
pub mod telemetry;

pub use api::Api;
pub use audit::{AuditError, AuditRecord, AuditSink, Auditor, ChannelSink, FileSink};
pub use auth::{Authenticator, Claims, HANDLER_ROLE, Principal};
pub use config::{Algorithm, ApiConfig, ConfigError, KeyConfig, MaskConfig};
pub use error::AuthError;
pub use keys::{KeySet, LoadedKey};
pub use lists::{
    CodeEntry, CodeHistory, FeedbackSubmission, OfficialItem, OfficialRow, Page, SubmitError,
    Summary, WarningItem, WarningRow,
};
pub use mask::Masker;
pub use middleware::{REQUEST_ID_HEADER, UNMATCHED_ROUTE};
pub use model::{
    ConditionView, Evidence, HistoryEntry, KeyMap, Level, MeasureValue, Measures, OfficialView,
    Risk, RiskCode, RuleInfo, RulesView, TimeRange, WarningStatus, WarningSummary, WarningView,
    WindowAggregate,
};
pub use router::{CATCH_ALL, Endpoint, router};
pub use scope::Scope;
pub use source::{QuerySource, SubmitFuture};
