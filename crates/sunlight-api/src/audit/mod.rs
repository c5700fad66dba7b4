//! The audit trail: one [`AuditRecord`] per request to `/v1/*` (who, what, when,
//! outcome, from where, request id), written as one JSON line to every configured
//! [`AuditSink`] by the [`Auditor`]. Sink failures never fail the request: they are
//! logged and counted in `sunlight_audit_failures_total`.

mod channel;
mod file;
mod record;

use std::sync::Arc;

pub use channel::ChannelSink;
pub use file::FileSink;
pub use record::AuditRecord;

use crate::config::{ApiConfig, ConfigError};

/// Why a sink did not take a record.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Writing failed.
    #[error("audit write failed: {0}")]
    Io(#[from] std::io::Error),
    /// The channel is full; the record is dropped.
    #[error("audit channel is full; record dropped")]
    Full,
    /// The channel's receiver is gone; the record is dropped.
    #[error("audit channel is closed; record dropped")]
    Closed,
}

impl AuditError {
    /// Metric label of the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            AuditError::Io(_) => "io",
            AuditError::Full => "full",
            AuditError::Closed => "closed",
        }
    }
}

/// Somewhere audit records go. `record` must not block on anything slower than a
/// local write.
pub trait AuditSink: Send + Sync + 'static {
    /// Short name for metrics and logs (`file`, `channel`).
    fn name(&self) -> &'static str;
    /// Takes one record.
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError>;
}

/// Writes every record to every sink.
#[derive(Clone, Default)]
pub struct Auditor {
    sinks: Vec<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.sinks.iter().map(|s| s.name()).collect();
        f.debug_struct("Auditor").field("sinks", &names).finish()
    }
}

impl Auditor {
    /// An auditor over `sinks`.
    pub fn new(sinks: Vec<Arc<dyn AuditSink>>) -> Auditor {
        Auditor { sinks }
    }

    /// The sinks of `config` (the file sink when `audit_file` is set; opening it fails
    /// start-up) followed by `extra` (e.g. a [`ChannelSink`] drained to
    /// `audit_topic`).
    pub fn from_config(
        config: &ApiConfig,
        extra: Vec<Arc<dyn AuditSink>>,
    ) -> Result<Auditor, ConfigError> {
        let mut sinks: Vec<Arc<dyn AuditSink>> = Vec::new();
        if let Some(path) = &config.audit_file {
            let sink = FileSink::open(path).map_err(|source| ConfigError::Open {
                setting: "api.audit_file".into(),
                path: path.clone(),
                source,
            })?;
            sinks.push(Arc::new(sink));
        }
        sinks.extend(extra);
        Ok(Auditor { sinks })
    }

    /// Whether any sink is configured.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Hands `record` to every sink; failures are logged and counted, never returned.
    pub fn record(&self, record: &AuditRecord) {
        for sink in &self.sinks {
            if let Err(e) = sink.record(record) {
                crate::telemetry::audit_failure(sink.name(), e.reason());
                tracing::error!(
                    sink = sink.name(),
                    error = %e,
                    request_id = %record.request_id,
                    "audit record not written"
                );
            }
        }
    }
}
