//! The HTTP endpoint of `run` and `demo` (axum): `/metrics` in Prometheus text
//! format, `/healthz` (the process is alive), `/readyz` (rules loaded, a broker
//! reachable, partitions assigned; otherwise 503 with the reasons as JSON), and the
//! query API's `/v1` routes and the console (`/console/`) when it is configured
//! (crate `sunlight-api`). With a certificate and key (`[http] tls_cert_file`,
//! `tls_key_file`) it serves HTTPS only (rustls, TLS 1.2 and 1.3): the console and
//! the API carry bearer tokens.

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

use crate::settings::TlsFiles;

#[derive(Clone)]
struct AppState {
    metrics: PrometheusHandle,
    health: Arc<Health>,
}

/// Binds `addr` and serves plain HTTP until `shutdown` resolves. Returns the bound
/// address (port 0 picks a free one) once listening, and the server task.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    health: Arc<Health>,
    api: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_with(addr, None, metrics, health, api, shutdown).await
}

/// Loads a PEM certificate chain and private key into a rustls server config (ring).
pub fn tls_config(files: &TlsFiles) -> anyhow::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "http.tls_cert_file {}: not a readable PEM certificate chain",
                files.cert.display()
            )
        })?;
    anyhow::ensure!(
        !certs.is_empty(),
        "http.tls_cert_file {}: no certificate in it",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "http.tls_key_file {}: not a readable PEM private key",
            files.key.display()
        )
    })?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| {
            format!(
                "http.tls_key_file {} does not fit http.tls_cert_file {}",
                files.key.display(),
                files.cert.display()
            )
        })
}

/// As [`serve`], over HTTPS when `tls` is given.
pub async fn serve_with(
    addr: SocketAddr,
    tls: Option<&TlsFiles>,
    metrics: PrometheusHandle,
    health: Arc<Health>,
    api: Option<Router>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let tls = tls.map(tls_config).transpose()?;
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
    if let Some(config) = tls {
        let listener = listener.into_std().context("listening socket")?;
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        });
        let rustls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config));
        let task = tokio::spawn(async move {
            if let Err(e) = axum_server::from_tcp_rustls(listener, rustls)
                .handle(handle)
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
            {
                tracing::error!(error = %e, "HTTPS endpoint failed");
            }
        });
        return Ok((bound, task));
    }
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
