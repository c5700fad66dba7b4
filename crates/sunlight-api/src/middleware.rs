//! The two layers of `/v1`: [`authenticate`] (bearer token → [`Principal`] in the
//! request, or a 401) and [`audit`] (one audit record, metrics, a request id and
//! `Cache-Control: no-store` on every response).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::Api;
use crate::audit::AuditRecord;
use crate::auth::Principal;
use crate::outcome::{Outcome, Subject, reason_for_status};
use crate::router::Endpoint;
use crate::telemetry::{REQUEST_SECONDS, REQUESTS_TOTAL};

/// Response header carrying the request id written to the audit record.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// `route` label of requests that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Authenticates the request; on success the handler finds a [`Principal`] in the
/// request's extensions and the response carries the [`Subject`] for the audit layer.
pub(crate) async fn authenticate(
    State(api): State<Arc<Api>>,
    mut request: Request,
    next: Next,
) -> Response {
    match api.authenticator.authenticate_headers(request.headers()) {
        Err(e) => e.into_response(),
        Ok(claims) => {
            let sub = Subject(claims.sub.clone());
            request.extensions_mut().insert(Principal::new(claims));
            let mut response = next.run(request).await;
            response.extensions_mut().insert(sub);
            response
        }
    }
}

/// Writes the audit record and the metrics of the request.
pub(crate) async fn audit(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = format!("{:.3}", jiff::Timestamp::now());
    let request_id = new_request_id();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_string());
    let remote_addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string());
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let (mut parts, body) = request.into_parts();
    let param = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|p| {
            p.iter()
                .find(|(k, _)| *k == "id")
                .map(|(_, v)| v.to_string())
        });
    let endpoint = Endpoint::ALL.into_iter().find(|e| e.path() == route);
    let (official_id, warning_id) = match endpoint {
        Some(e) if e.names_official() => (param, None),
        Some(e) if e.names_warning() => (None, param),
        _ => (None, None),
    };

    let mut response = next.run(Request::from_parts(parts, body)).await;

    let status = response.status();
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .map_or_else(|| reason_for_status(status), |o| o.0);
    let record = AuditRecord {
        request_id,
        at,
        sub: response.extensions().get::<Subject>().map(|s| s.0.clone()),
        method,
        path,
        official_id,
        warning_id,
        status: status.as_u16(),
        outcome: outcome.to_string(),
        remote_addr,
    };
    api.auditor.record(&record);
    metrics::counter!(REQUESTS_TOTAL, "route" => route.clone(), "outcome" => outcome).increment(1);
    metrics::histogram!(REQUEST_SECONDS, "route" => route).record(started.elapsed().as_secs_f64());

    let headers = response.headers_mut();
    headers.insert(
        REQUEST_ID_HEADER,
        HeaderValue::from_str(&record.request_id).expect("a UUID is a header value"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A random (version 4) UUID. Always generated here, never taken from the caller, so
/// audit ids cannot be forged or made to collide.
fn new_request_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .hyphenated()
        .to_string()
}
