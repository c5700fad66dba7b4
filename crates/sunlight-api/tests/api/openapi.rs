//! The OpenAPI document: served without a token, lists every route of the router and
//! nothing else, and names the bearer JWT scheme.

use axum::http::StatusCode;
use sunlight_api::Endpoint;

use crate::support::*;

#[tokio::test]
async fn lists_every_route_and_needs_no_token() {
    let app = app();
    let a = get(&app.router, "/v1/openapi.json", None).await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), p.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = Endpoint::ALL
        .iter()
        .map(|e| (e.method().to_string(), e.path().to_string()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
    assert_eq!(
        routed,
        [
            ("get".to_string(), "/v1/officials".to_string()),
            ("get".to_string(), "/v1/officials/{id}".to_string()),
            ("get".to_string(), "/v1/officials/{id}/codes".to_string()),
            ("get".to_string(), "/v1/openapi.json".to_string()),
            ("get".to_string(), "/v1/rules".to_string()),
            ("get".to_string(), "/v1/session".to_string()),
            ("get".to_string(), "/v1/summary".to_string()),
            ("get".to_string(), "/v1/warnings".to_string()),
            ("get".to_string(), "/v1/warnings/{id}".to_string()),
            ("post".to_string(), "/v1/warnings/{id}/feedback".to_string()),
        ]
    );

    // Every documented route is served by the router.
    let token = north_token();
    let handler = token_with_roles("handler-1", &["north"], &["handler"]);
    for endpoint in Endpoint::ALL {
        let id = if endpoint.names_warning() {
            "W-OF-1"
        } else {
            "OF-1"
        };
        let path = endpoint.path().replace("{id}", id);
        if endpoint.method() == "post" {
            // W-OF-1 is verifying: confirming it moves it forward.
            let a = post_json(&app.router, &path, &handler, r#"{"status":"confirmed"}"#).await;
            assert_eq!(a.status, StatusCode::ACCEPTED, "{path}: {}", a.text());
            let anonymous = call(
                &app.router,
                axum::http::Request::post(&path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{path}");
            continue;
        }
        let a = get_with(&app.router, &path, &token).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        // Token-protected routes refuse anonymous callers; the document does not.
        let anonymous = get(&app.router, &path, None).await;
        let expected = if endpoint.requires_token() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(anonymous.status, expected, "{path}");
    }

    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert_eq!(doc["security"], serde_json::json!([{"bearerAuth": []}]));
    assert_eq!(
        doc["paths"]["/v1/openapi.json"]["get"]["security"],
        serde_json::json!([])
    );
    // Every $ref resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/").skip(1) {
        let target = &piece[..piece.find('"').unwrap()];
        let mut node = &doc;
        for part in target.split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "unresolved $ref {target}");
    }
}
