//! Typed request failures and their HTTP answers: [`AuthError`] (401 with a
//! `WWW-Authenticate: Bearer error="invalid_token"` challenge) and the single
//! not-found answer shared by unknown and out-of-scope resources. Answers never
//! echo the token.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::outcome::Outcome;

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("an Authorization: Bearer <token> header is required")]
    MissingHeader,
    /// The header is not `Bearer <token>` (other scheme, not ASCII, empty token).
    #[error("the Authorization header must be: Bearer <token>")]
    MalformedHeader,
    /// The token is not a JWT (three base64url parts with a JSON header and claims).
    #[error("the bearer token is not a well-formed JWT")]
    MalformedToken,
    /// The signature does not match any candidate key: tampered or foreign.
    #[error("the token signature is not valid")]
    BadSignature,
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is missing or not the configured issuer.
    #[error("the token issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing, not the configured audience, or present when none is configured.
    #[error("the token audience is not accepted")]
    WrongAudience,
    /// A required claim (`exp`, `sub`) is missing or not of the right type.
    #[error("the token lacks a required claim: {0}")]
    MissingClaim(&'static str),
    /// The header's `kid` names no configured key.
    #[error("the token's key id is not known")]
    UnknownKeyId,
    /// The header's `alg` is not one the configured keys use.
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
}

impl AuthError {
    /// Stable machine-readable code (the JSON `error` field and the audit reason
    /// `unauthenticated:<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader => "missing_header",
            AuthError::MalformedHeader => "malformed_header",
            AuthError::MalformedToken => "malformed_token",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::UnknownKeyId => "unknown_key_id",
            AuthError::AlgorithmNotAllowed => "algorithm_not_allowed",
        }
    }

    /// The audit reason code, `unauthenticated:<code>`.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingHeader => "unauthenticated:missing_header",
            AuthError::MalformedHeader => "unauthenticated:malformed_header",
            AuthError::MalformedToken => "unauthenticated:malformed_token",
            AuthError::BadSignature => "unauthenticated:bad_signature",
            AuthError::Expired => "unauthenticated:expired",
            AuthError::NotYetValid => "unauthenticated:not_yet_valid",
            AuthError::WrongIssuer => "unauthenticated:wrong_issuer",
            AuthError::WrongAudience => "unauthenticated:wrong_audience",
            AuthError::MissingClaim(_) => "unauthenticated:missing_claim",
            AuthError::UnknownKeyId => "unauthenticated:unknown_key_id",
            AuthError::AlgorithmNotAllowed => "unauthenticated:algorithm_not_allowed",
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        // Every failure, a missing header included, gets the same challenge form
        // (RFC 6750 §3). Messages hold no quotes or backslashes.
        let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{message}\"");
        let mut response = error_response(StatusCode::UNAUTHORIZED, self.code(), &message);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("challenge is ASCII"),
        );
        response.extensions_mut().insert(Outcome(self.reason()));
        response
    }
}

/// The answer for an unknown resource *and* for one outside the token's scope: the
/// same status and bytes, so the API does not reveal what exists.
pub fn not_found() -> Response {
    let mut response = error_response(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such resource, or not visible to this token",
    );
    response.extensions_mut().insert(Outcome("not_found"));
    response
}

/// `{"error": code, "message": message}` with `status`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": code, "message": message})),
    )
        .into_response()
}
