//! [`router`]: the `/v1` routes, built from the [`Endpoint`] table (which the OpenAPI
//! document is checked against), with authentication on every endpoint but the
//! OpenAPI document and the audit layer around all of them.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, any, get, post};

use crate::api::Api;
use crate::handlers;
use crate::lists_handlers;
use crate::middleware::{audit, authenticate};

/// Route template that catches every other path under `/v1/`, so unknown paths are
/// authenticated and audited too (answered 404). Not an endpoint: not documented.
pub const CATCH_ALL: &str = "/v1/{*rest}";

/// The documented endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `GET /v1/session`.
    Session,
    /// `GET /v1/summary`.
    Summary,
    /// `GET /v1/officials`.
    Officials,
    /// `GET /v1/officials/{id}`.
    Official,
    /// `GET /v1/officials/{id}/codes`.
    OfficialCodes,
    /// `GET /v1/warnings`.
    Warnings,
    /// `GET /v1/warnings/{id}`.
    Warning,
    /// `POST /v1/warnings/{id}/feedback`.
    WarningFeedback,
    /// `GET /v1/rules`.
    Rules,
    /// `GET /v1/openapi.json`.
    OpenApi,
}

impl Endpoint {
    /// Every endpoint, in documentation order.
    pub const ALL: [Endpoint; 10] = [
        Endpoint::Session,
        Endpoint::Summary,
        Endpoint::Officials,
        Endpoint::Official,
        Endpoint::OfficialCodes,
        Endpoint::Warnings,
        Endpoint::Warning,
        Endpoint::WarningFeedback,
        Endpoint::Rules,
        Endpoint::OpenApi,
    ];

    /// The route template (axum and OpenAPI share the `{param}` syntax).
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Session => "/v1/session",
            Endpoint::Summary => "/v1/summary",
            Endpoint::Officials => "/v1/officials",
            Endpoint::Official => "/v1/officials/{id}",
            Endpoint::OfficialCodes => "/v1/officials/{id}/codes",
            Endpoint::Warnings => "/v1/warnings",
            Endpoint::Warning => "/v1/warnings/{id}",
            Endpoint::WarningFeedback => "/v1/warnings/{id}/feedback",
            Endpoint::Rules => "/v1/rules",
            Endpoint::OpenApi => "/v1/openapi.json",
        }
    }

    /// The HTTP method (lower case, as OpenAPI names operations).
    pub fn method(self) -> &'static str {
        match self {
            Endpoint::WarningFeedback => "post",
            _ => "get",
        }
    }

    /// Whether the `{id}` of the path names an official (else a warning, if any).
    pub fn names_official(self) -> bool {
        matches!(self, Endpoint::Official | Endpoint::OfficialCodes)
    }

    /// Whether the `{id}` of the path names a warning.
    pub fn names_warning(self) -> bool {
        matches!(self, Endpoint::Warning | Endpoint::WarningFeedback)
    }

    /// Whether a bearer token is required.
    pub fn requires_token(self) -> bool {
        !matches!(self, Endpoint::OpenApi)
    }

    fn handler(self) -> MethodRouter<Arc<Api>> {
        match self {
            Endpoint::Session => get(lists_handlers::session),
            Endpoint::Summary => get(lists_handlers::summary),
            Endpoint::Officials => get(lists_handlers::officials),
            Endpoint::OfficialCodes => get(lists_handlers::codes),
            Endpoint::Warnings => get(lists_handlers::warnings),
            Endpoint::WarningFeedback => post(lists_handlers::feedback),
            Endpoint::Official => get(handlers::official),
            Endpoint::Warning => get(handlers::warning),
            Endpoint::Rules => get(handlers::rules),
            Endpoint::OpenApi => get(handlers::openapi),
        }
    }
}

/// The query API's routes, ready to `merge` into the binary's router (any state type
/// `S`: the API's own state is already applied).
pub fn router<S>(api: Arc<Api>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let mut protected = Router::new();
    let mut public = Router::new();
    for endpoint in Endpoint::ALL {
        if endpoint.requires_token() {
            protected = protected.route(endpoint.path(), endpoint.handler());
        } else {
            public = public.route(endpoint.path(), endpoint.handler());
        }
    }
    protected
        .route(CATCH_ALL, any(handlers::unknown))
        .route_layer(from_fn_with_state(api.clone(), authenticate))
        .merge(public)
        .layer(from_fn_with_state(api.clone(), audit))
        .with_state(api)
}
