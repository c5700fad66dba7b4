//! The HTTP endpoint of `run` and `demo` (axum): `/metrics` in Prometheus text
//! format, `/healthz` (the process is alive), `/readyz` (rules loaded, a broker
//! reachable, partitions assigned; otherwise 503 with the reasons as JSON), and the
//! query API's `/v1` routes when it is configured (crate `sunlight-api`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use sunlight_kafka::Health;

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    health: Arc<Health>,
}

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address (port
/// 0 picks a free one) once listening, and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    health: Arc<Health>,
    api: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics (set --http-addr)"))?;
    let bound = listener.local_addr().context("listening address")?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, health });
    let app = match api {
        Some(api) => app.merge(api),
        None => app,
    };
    let task = tokio::spawn(async move {
        // The peer address goes into the query API's audit records.
        if let Err(e) = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        {
            tracing::error!(error = %e, "HTTP endpoint failed");
        }
    });
    Ok((bound, task))
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.health.readiness() {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"ready": true})),
        )
            .into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"ready": false, "reasons": reasons})),
        )
            .into_response(),
    }
}
