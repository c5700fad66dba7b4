//! [`Api`]: everything a request needs — the authenticator, the masker, the auditor
//! and the [`QuerySource`] — built from an [`ApiConfig`].

use std::sync::Arc;

use crate::audit::{AuditSink, Auditor};
use crate::auth::Authenticator;
use crate::config::{ApiConfig, ConfigError};
use crate::mask::Masker;
use crate::source::QuerySource;

/// The query API's shared state; [`crate::router`] turns it into routes.
pub struct Api {
    pub(crate) authenticator: Authenticator,
    pub(crate) masker: Masker,
    pub(crate) auditor: Auditor,
    pub(crate) source: Arc<dyn QuerySource>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("authenticator", &self.authenticator)
            .field("masker", &self.masker)
            .field("auditor", &self.auditor)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Validates `config`, loads its keys, opens its audit file, and adds
    /// `extra_sinks` (e.g. a [`crate::ChannelSink`] the binary drains to
    /// `config.audit_topic`).
    pub fn new(
        config: &ApiConfig,
        source: Arc<dyn QuerySource>,
        extra_sinks: Vec<Arc<dyn AuditSink>>,
    ) -> Result<Api, ConfigError> {
        let authenticator = Authenticator::from_config(config)?;
        let masker = Masker::new(config.sensitive_attributes.iter().cloned(), &config.mask);
        let auditor = Auditor::from_config(config, extra_sinks)?;
        if auditor.is_empty() {
            tracing::warn!(
                "query API has no audit sink: set api.audit_file or drain the audit channel"
            );
        }
        Ok(Api::from_parts(authenticator, masker, auditor, source))
    }

    /// From already built parts.
    pub fn from_parts(
        authenticator: Authenticator,
        masker: Masker,
        auditor: Auditor,
        source: Arc<dyn QuerySource>,
    ) -> Api {
        Api {
            authenticator,
            masker,
            auditor,
            source,
        }
    }
}
