//! Authentication: every failure is a 401 with its code, message and challenge; HS256
//! (by kid, and by trying each key) and RS256 tokens are accepted.

use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;

use crate::support::*;

/// Asserts the exact 401 answer for `code` and `message`.
fn assert_401(answer: &Answer, code: &str, message: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text());
    assert_eq!(
        answer.text(),
        json!({"error": code, "message": message}).to_string()
    );
    assert_eq!(
        answer.header("www-authenticate"),
        format!("Bearer error=\"invalid_token\", error_description=\"{message}\"")
    );
    assert_eq!(answer.header("content-type"), "application/json");
}

#[tokio::test]
async fn no_header_is_401() {
    let app = app();
    let a = get(&app.router, "/v1/officials/OF-1", None).await;
    assert_401(
        &a,
        "missing_header",
        "an Authorization: Bearer <token> header is required",
    );
}

#[tokio::test]
async fn malformed_header_and_token() {
    let app = app();
    for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc"] {
        let a = get(&app.router, "/v1/rules", Some(value)).await;
        assert_401(
            &a,
            "malformed_header",
            "the Authorization header must be: Bearer <token>",
        );
    }
    for token in ["not-a-jwt", "a.b.c", "a.b", "x.y.z.w"] {
        let a = get_with(&app.router, "/v1/rules", token).await;
        assert_401(
            &a,
            "malformed_token",
            "the bearer token is not a well-formed JWT",
        );
        assert!(!a.text().contains(token));
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid() {
    let app = app();
    let now = get_current_timestamp();
    let mut c = claims("inspector-1", &["north"], &[], false);
    c["exp"] = json!(now - 3600);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some(HS_KID), HS_SECRET, &c),
    )
    .await;
    assert_401(&a, "expired", "the token has expired");

    // Within the 30 s leeway: still accepted.
    c["exp"] = json!(now - 10);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some(HS_KID), HS_SECRET, &c),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);

    let mut c = claims("inspector-1", &["north"], &[], false);
    c["nbf"] = json!(now + 3600);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some(HS_KID), HS_SECRET, &c),
    )
    .await;
    assert_401(&a, "not_yet_valid", "the token is not valid yet");

    let mut c = claims("inspector-1", &["north"], &[], false);
    c.as_object_mut().unwrap().remove("exp");
    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some(HS_KID), HS_SECRET, &c),
    )
    .await;
    assert_401(&a, "missing_claim", "the token lacks a required claim: exp");

    let mut c = claims("inspector-1", &["north"], &[], false);
    c.as_object_mut().unwrap().remove("sub");
    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some(HS_KID), HS_SECRET, &c),
    )
    .await;
    assert_401(&a, "missing_claim", "the token lacks a required claim: sub");
}

#[tokio::test]
async fn tampered_payload_is_bad_signature() {
    let app = app();
    let token = north_token();
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    // Flip one byte: "inspector-1" becomes "inspector-0".
    let at = payload
        .windows(11)
        .position(|w| w == b"inspector-1")
        .unwrap()
        + 10;
    payload[at] ^= 0x01;
    let forged = [parts[0], &URL_SAFE_NO_PAD.encode(&payload), parts[2]].join(".");
    let a = get_with(&app.router, "/v1/officials/OF-1", &forged).await;
    assert_401(&a, "bad_signature", "the token signature is not valid");

    // Signed with a secret nobody configured.
    let c = claims("inspector-1", &["*"], &[], true);
    let foreign = hs256(None, "an-unknown-secret-of-enough-length!!", &c);
    let a = get_with(&app.router, "/v1/rules", &foreign).await;
    assert_401(&a, "bad_signature", "the token signature is not valid");

    // Key confusion: the RSA public key used as an HMAC secret.
    let confused = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(&rsa_public_pem()),
    )
    .unwrap();
    let a = get_with(&app.router, "/v1/rules", &confused).await;
    assert_401(&a, "bad_signature", "the token signature is not valid");
}

#[tokio::test]
async fn wrong_algorithm_and_unknown_kid() {
    let app = app();
    let c = claims("inspector-1", &["north"], &[], false);
    let not_allowed = "the token's algorithm is not allowed";

    let hs384 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS384),
        &c,
        &EncodingKey::from_secret(HS_SECRET.as_bytes()),
    )
    .unwrap();
    let a = get_with(&app.router, "/v1/rules", &hs384).await;
    assert_401(&a, "algorithm_not_allowed", not_allowed);

    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(c.to_string())
    );
    let a = get_with(&app.router, "/v1/rules", &none).await;
    assert_401(&a, "algorithm_not_allowed", not_allowed);

    // The HS256 key's kid on an RS256 token.
    let a = get_with(&app.router, "/v1/rules", &rs256(Some(HS_KID), &c)).await;
    assert_401(&a, "algorithm_not_allowed", not_allowed);

    let a = get_with(
        &app.router,
        "/v1/rules",
        &hs256(Some("nope"), HS_SECRET, &c),
    )
    .await;
    assert_401(&a, "unknown_key_id", "the token's key id is not known");
}

#[tokio::test]
async fn wrong_issuer_and_audience() {
    let app = app();
    let base = claims("inspector-1", &["north"], &[], false);
    let token = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut c = base.clone();
        edit(&mut c);
        hs256(Some(HS_KID), HS_SECRET, &c)
    };
    let iss = "the token issuer is not accepted";
    let aud = "the token audience is not accepted";
    let a = get_with(
        &app.router,
        "/v1/rules",
        &token(&|c| c["iss"] = json!("evil")),
    )
    .await;
    assert_401(&a, "wrong_issuer", iss);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &token(&|c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
    )
    .await;
    assert_401(&a, "wrong_issuer", iss);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &token(&|c| c["aud"] = json!("other")),
    )
    .await;
    assert_401(&a, "wrong_audience", aud);
    let a = get_with(
        &app.router,
        "/v1/rules",
        &token(&|c| {
            c.as_object_mut().unwrap().remove("aud");
        }),
    )
    .await;
    assert_401(&a, "wrong_audience", aud);
}

#[tokio::test]
async fn hs256_and_rs256_tokens_are_accepted() {
    let app = app();
    let c = claims("inspector-1", &["north"], &[], false);
    let rules = json!({
        "pack": "default", "version": "2026.11.1",
        "rules": [{
            "rule_id": "split-payment", "version": 1,
            "title": "{count} payments to {counterparty}",
            "description": "A payment split to dodge approval.",
            "window": "30d",
            "field": "amount_cents"
        }]
    });
    for token in [
        hs256(Some(HS_KID), HS_SECRET, &c),
        // No kid: every HS256 key is tried; this one is the second, read from a file.
        hs256(None, HS_SECRET_2, &c),
        rs256(Some(RS_KID), &c),
        rs256(None, &c),
    ] {
        let a = get_with(&app.router, "/v1/rules", &token).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.json(), rules);
        assert_eq!(a.header("cache-control"), "no-store");
    }
    // Scheme names are case-insensitive.
    let a = get(
        &app.router,
        "/v1/rules",
        Some(&format!("bearer {}", north_token())),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}
