//! Auditing: one JSON line per request with exact fields (401s included), the same
//! records on the channel sink, the request id echoed in `x-request-id`, and a
//! refusal to start when the audit file cannot be opened.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use jsonwebtoken::get_current_timestamp;
use serde_json::{Value, json};
use sunlight_api::{Api, ConfigError};

use crate::support::*;

const FIELDS: [&str; 10] = [
    "request_id",
    "at",
    "sub",
    "method",
    "path",
    "official_id",
    "warning_id",
    "status",
    "outcome",
    "remote_addr",
];

/// Checks the varying fields' formats and the field order, then blanks them.
fn normalise(line: &Value, request_id: &str) -> Value {
    let object = line.as_object().unwrap();
    assert_eq!(object.keys().collect::<Vec<_>>().len(), FIELDS.len());
    assert_eq!(line["request_id"], request_id);
    let id = line["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4", "a version-4 UUID: {id}");
    let at = line["at"].as_str().unwrap();
    assert!(
        at.ends_with('Z') && at.len() == 24,
        "RFC 3339 UTC, ms: {at}"
    );
    at.parse::<jiff::Timestamp>().unwrap();
    let mut line = line.clone();
    line["request_id"] = json!("ID");
    line["at"] = json!("AT");
    line
}

fn record(
    sub: Option<&str>,
    method: &str,
    path: &str,
    official_id: Option<&str>,
    warning_id: Option<&str>,
    status: u16,
    outcome: &str,
) -> Value {
    json!({
        "request_id": "ID", "at": "AT", "sub": sub, "method": method, "path": path,
        "official_id": official_id, "warning_id": warning_id, "status": status,
        "outcome": outcome, "remote_addr": "192.0.2.10:40000"
    })
}

#[tokio::test]
async fn one_exact_line_per_request_in_file_and_channel() {
    let mut app = app();
    let token = north_token();
    let mut expired = claims("inspector-1", &["north"], &[], false);
    expired["exp"] = json!(get_current_timestamp() - 3600);
    let expired = hs256(Some(HS_KID), HS_SECRET, &expired);

    let mut answers = vec![
        get(&app.router, "/v1/officials/OF-1", None).await,
        get_with(&app.router, "/v1/officials/OF-1", &expired).await,
        get_with(&app.router, "/v1/officials/OF-1", &token).await,
        get_with(&app.router, "/v1/officials/OF-2", &token).await,
        get_with(&app.router, "/v1/warnings/W-OF-1", &token).await,
        get_with(&app.router, "/v1/rules", &token).await,
        get(&app.router, "/v1/openapi.json", None).await,
        get(&app.router, "/v1/nowhere", None).await,
        get_with(&app.router, "/v1/nowhere", &token).await,
    ];
    let post = Request::post("/v1/rules")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    answers.push(call(&app.router, post).await);

    let statuses: Vec<u16> = answers.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 200, 404, 200, 200, 200, 401, 404, 405]);

    let expected = [
        record(
            None,
            "GET",
            "/v1/officials/OF-1",
            Some("OF-1"),
            None,
            401,
            "unauthenticated:missing_header",
        ),
        record(
            None,
            "GET",
            "/v1/officials/OF-1",
            Some("OF-1"),
            None,
            401,
            "unauthenticated:expired",
        ),
        record(
            Some("inspector-1"),
            "GET",
            "/v1/officials/OF-1",
            Some("OF-1"),
            None,
            200,
            "ok",
        ),
        record(
            Some("inspector-1"),
            "GET",
            "/v1/officials/OF-2",
            Some("OF-2"),
            None,
            404,
            "not_found",
        ),
        record(
            Some("inspector-1"),
            "GET",
            "/v1/warnings/W-OF-1",
            None,
            Some("W-OF-1"),
            200,
            "ok",
        ),
        record(
            Some("inspector-1"),
            "GET",
            "/v1/rules",
            None,
            None,
            200,
            "ok",
        ),
        record(None, "GET", "/v1/openapi.json", None, None, 200, "ok"),
        record(
            None,
            "GET",
            "/v1/nowhere",
            None,
            None,
            401,
            "unauthenticated:missing_header",
        ),
        record(
            Some("inspector-1"),
            "GET",
            "/v1/nowhere",
            None,
            None,
            404,
            "not_found",
        ),
        record(
            Some("inspector-1"),
            "POST",
            "/v1/rules",
            None,
            None,
            405,
            "method_not_allowed",
        ),
    ];

    let raw = std::fs::read_to_string(&app.audit_file).unwrap();
    assert_eq!(raw.lines().count(), answers.len());
    assert!(raw.ends_with('\n'));
    // Field order as documented.
    for line in raw.lines() {
        let mut at = 0;
        for field in FIELDS {
            let found = line[at..].find(&format!("\"{field}\":")).unwrap();
            at += found;
        }
    }
    let lines = audit_lines(&app.audit_file);
    for ((line, answer), expected) in lines.iter().zip(&answers).zip(&expected) {
        let id = answer.header("x-request-id");
        assert_eq!(&normalise(line, id), expected);
    }
    // Distinct request ids.
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), answers.len());

    // The channel sink received the same records.
    for line in &lines {
        let record = app.channel.try_recv().unwrap();
        assert_eq!(&serde_json::to_value(&record).unwrap(), line);
    }
    assert!(app.channel.try_recv().is_err());
}

#[tokio::test]
async fn appends_to_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    std::fs::write(dir.path().join("audit.jsonl"), "{\"earlier\":true}\n").unwrap();
    let api = Api::new(&config, Arc::new(Fixture::default()), vec![]).unwrap();
    let router: axum::Router = sunlight_api::router(Arc::new(api));
    let a = get(&router, "/v1/rules", None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let lines = audit_lines(&dir.path().join("audit.jsonl"));
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], json!({"earlier": true}));
    assert_eq!(lines[1]["outcome"], "unauthenticated:missing_header");
}

#[test]
fn refuses_to_start_without_its_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    let path = dir.path().join("no-such-dir").join("audit.jsonl");
    config.audit_file = Some(path.clone());
    let err = Api::new(&config, Arc::new(Fixture::default()), vec![]).unwrap_err();
    assert!(matches!(err, ConfigError::Open { .. }));
    assert!(
        err.to_string().starts_with(&format!(
            "api.audit_file: cannot open {} for appending: ",
            path.display()
        )),
        "{err}"
    );
}
