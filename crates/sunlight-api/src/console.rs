//! The supervision console: static files compiled into the binary
//! (`crates/sunlight-api/console/`), served at `/console/` with a strict
//! Content-Security-Policy. The page signs in with a bearer token kept in session
//! storage and reads the `/v1` API; it needs no token to load, holds no data of its
//! own, and never sends the token in a URL (docs/CONSOLE.md).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Where the console is mounted.
pub const CONSOLE_PATH: &str = "/console/";

/// The policy sent with every console file: scripts, styles and images only from
/// this origin, API calls only to it, no inline script or style, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The embedded files: name, content type, bytes.
const FILES: [(&str, &str, &str); 5] = [
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/i18n.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../console/style.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../console/icon.svg"),
    ),
];

/// The console's routes (`/console`, `/console/`, `/console/{file}`), for any
/// router state.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent(CONSOLE_PATH) }),
        )
        .route("/console/", get(|| async { file("index.html") }))
        .route(
            "/console/{file}",
            get(|Path(name): Path<String>| async move { file(&name) }),
        )
}

fn file(name: &str) -> Response {
    let Some((_, content_type, body)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return secured((StatusCode::NOT_FOUND, "not found\n").into_response());
    };
    secured(([(header::CONTENT_TYPE, *content_type)], *body).into_response())
}

/// Adds the security headers every console answer carries.
fn secured(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    // Files change with the binary: revalidate rather than serve a stale console.
    set(h, header::CACHE_CONTROL, "no-cache");
    response
}
