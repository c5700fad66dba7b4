//! The `/v1` handlers: look up, check scope (out of scope answers exactly like
//! unknown), mask unless the token may see sensitive values, answer JSON.

use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api::Api;
use crate::auth::Principal;
use crate::error::not_found;
use crate::outcome::Outcome;

/// `GET /v1/officials/{id}`.
pub(crate) async fn official(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match api.source.official(&id) {
        Some(mut view) if principal.scope.permits(&view.region, &view.org_unit) => {
            if !principal.claims.sensitive {
                api.masker.official(&mut view);
            }
            ok(&view)
        }
        _ => not_found(),
    }
}

/// `GET /v1/warnings/{id}`.
pub(crate) async fn warning(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match api.source.warning(&id) {
        Some(mut view) if principal.scope.permits(&view.region, &view.org_unit) => {
            if !principal.claims.sensitive {
                api.masker.warning(&mut view);
            }
            ok(&view)
        }
        _ => not_found(),
    }
}

/// `GET /v1/rules`.
pub(crate) async fn rules(State(api): State<Arc<Api>>) -> Response {
    ok(&api.source.rules())
}

/// `GET /v1/openapi.json` (no token needed).
pub(crate) async fn openapi() -> Response {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    ok(DOC.get_or_init(crate::openapi::document))
}

/// Any other path under `/v1/` (after authentication).
pub(crate) async fn unknown() -> Response {
    not_found()
}

pub(crate) fn ok<T: Serialize>(body: &T) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(Outcome("ok"));
    response
}
