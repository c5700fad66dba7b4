//! Scope and masking: out-of-scope answers are byte-identical to unknown ones; org
//! units and `"*"` grant visibility; sensitive values are masked unless the token has
//! `sensitive: true`.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// Asserts that `text` is the JSON `expected` with the top-level fields in the
/// order `expected` lists them in `order`.
fn assert_json(text: &str, expected: serde_json::Value, order: &[&str]) {
    let actual: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(actual, expected);
    let positions: Vec<usize> = order
        .iter()
        .map(|f| text.find(&format!("\"{f}\":")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "field order of {text}"
    );
}

const WARNING_FIELDS: [&str; 20] = [
    "warning_id",
    "rule_id",
    "rule_version",
    "official_id",
    "key",
    "level",
    "trigger_event_id",
    "occurred_at",
    "window",
    "measures",
    "conditions",
    "evidence",
    "title",
    "detected_at",
    "status",
    "history",
    "case_id",
    "escalated",
    "region",
    "org_unit",
];

const NOT_FOUND: &str =
    r#"{"error":"not_found","message":"no such resource, or not visible to this token"}"#;

#[tokio::test]
async fn out_of_scope_is_byte_identical_to_unknown() {
    let app = app();
    let token = north_token();
    for (outside, unknown) in [
        ("/v1/officials/OF-2", "/v1/officials/OF-404"),
        ("/v1/warnings/W-OF-2", "/v1/warnings/W-404"),
    ] {
        let a = get_with(&app.router, outside, &token).await;
        let b = get_with(&app.router, unknown, &token).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert_eq!(b.status, StatusCode::NOT_FOUND);
        assert_eq!(a.text(), NOT_FOUND);
        assert_eq!(a.body, b.body);
        let mut ha = a.headers.clone();
        let mut hb = b.headers.clone();
        // Only the per-request id differs.
        ha.remove("x-request-id");
        hb.remove("x-request-id");
        assert_eq!(ha, hb);
    }
    // Unknown paths under /v1 are 404 too (after authentication).
    let a = get_with(&app.router, "/v1/officials/OF-1/extra", &token).await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (StatusCode::NOT_FOUND, NOT_FOUND)
    );
}

#[tokio::test]
async fn visible_by_region_org_unit_or_star() {
    let app = app();
    let by_unit = hs256(
        Some(HS_KID),
        HS_SECRET,
        &claims("inspector-2", &["east"], &["audit"], false),
    );
    let a = get_with(&app.router, "/v1/officials/OF-2", &by_unit).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["official_id"], "OF-2");
    let a = get_with(&app.router, "/v1/warnings/W-OF-2", &by_unit).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = get_with(&app.router, "/v1/officials/OF-1", &by_unit).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    let star = hs256(
        Some(HS_KID),
        HS_SECRET,
        &claims("chief", &["*"], &[], false),
    );
    for path in [
        "/v1/officials/OF-1",
        "/v1/officials/OF-2",
        "/v1/warnings/W-OF-1",
        "/v1/warnings/W-OF-2",
    ] {
        assert_eq!(
            get_with(&app.router, path, &star).await.status,
            StatusCode::OK
        );
    }
    let nothing = hs256(Some(HS_KID), HS_SECRET, &claims("nobody", &[], &[], false));
    assert_eq!(
        get_with(&app.router, "/v1/officials/OF-1", &nothing)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn official_masked_exact_body() {
    let app = app();
    let a = get_with(&app.router, "/v1/officials/OF-1", &north_token()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_json(
        &a.text(),
        json!({
            "official_id": "OF-1", "region": "north", "org_unit": "finance",
            "risk": {"code": "red", "score": 0.92, "computed_at": "2026-10-15T02:05:00Z"},
            "open_warnings": [{
                "warning_id": "W-OF-1", "rule_id": "relative-company", "rule_version": 1,
                "level": "red", "status": "pushed", "occurred_at": "2026-10-15T02:00:00Z",
                "key": {"counterparty": "SUP-1443", "national_id": "***"},
                "title": "payment to SUP-1443, owned by relative ***"
            }],
            "windows": [
                {"rule_id": "split-payment", "key": {"counterparty": "SUP-1443"}, "count": 2,
                 "sum": 9300000,
                 "window": {"start": "2026-09-15T02:00:00Z", "end": "2026-10-15T02:00:00Z"}},
                {"rule_id": "calls", "key": {"phone": "***"}, "count": 7,
                 "window": {"start": "2026-10-14T02:00:00Z", "end": "2026-10-15T02:00:00Z"}}
            ]
        }),
        &[
            "official_id",
            "region",
            "org_unit",
            "risk",
            "open_warnings",
            "windows",
        ],
    );
    assert!(!a.text().contains("110101199003070011"));
    assert!(!a.text().contains("13800138000"));
}

#[tokio::test]
async fn warning_masking_follows_the_sensitive_claim() {
    let app = app();
    let expected = |national_id: &str, title: &str, note: &str| {
        json!({
            "warning_id": "W-OF-1", "rule_id": "relative-company", "rule_version": 1,
            "official_id": "OF-1",
            "key": {"counterparty": "SUP-1443", "national_id": national_id},
            "level": "red", "trigger_event_id": "EV-9",
            "occurred_at": "2026-10-15T02:00:00Z",
            "window": {"start": "2026-09-15T02:00:00Z", "end": "2026-10-15T02:00:00Z"},
            "measures": {"count": 2, "sum": 9300000},
            "conditions": [{"measure": "count", "op": ">=", "threshold": 2, "value": 2}],
            "evidence": {"event_ids": ["EV-8", "EV-9"], "total": 2, "events": [
                {"event_id": "EV-9", "kind": "payment", "occurred_at": "2026-10-15T02:00:00Z",
                 "amount_cents": 4600000, "counterparty": "SUP-1443",
                 "attributes": {"national_id": national_id}}
            ]},
            "title": title,
            "detected_at": "2026-10-15T02:01:00Z",
            "status": "verifying",
            "history": [
                {"status": "pushed", "handler": null, "note": null, "at": "2026-10-15T02:01:00Z"},
                {"status": "verifying", "handler": "inspector-7", "note": note,
                 "at": "2026-10-16T09:00:00Z"}
            ],
            "case_id": "CASE-2026-001",
            "escalated": true,
            "region": "north",
            "org_unit": "finance"
        })
    };
    let a = get_with(&app.router, "/v1/warnings/W-OF-1", &north_token()).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_json(
        &a.text(),
        expected(
            "***",
            "payment to SUP-1443, owned by relative ***",
            "relative *** confirmed",
        ),
        &WARNING_FIELDS,
    );

    let sensitive = hs256(
        Some(HS_KID),
        HS_SECRET,
        &claims("inspector-9", &["north"], &[], true),
    );
    let a = get_with(&app.router, "/v1/warnings/W-OF-1", &sensitive).await;
    assert_json(
        &a.text(),
        expected(
            "110101199003070011",
            "payment to SUP-1443, owned by relative 110101199003070011",
            "relative 110101199003070011 confirmed",
        ),
        &WARNING_FIELDS,
    );
}
