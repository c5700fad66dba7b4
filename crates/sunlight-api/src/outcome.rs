//! Response extensions through which handlers and the authentication layer tell the
//! audit layer what happened: the reason code ([`Outcome`]) and who asked
//! ([`Subject`]).

/// The audit reason code of a response (`ok`, `not_found`,
/// `unauthenticated:expired`, ...). Responses without one are given a code derived
/// from their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome(pub &'static str);

/// The authenticated `sub` of the request that produced a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(pub String);

/// The reason code for a response that carries no [`Outcome`].
pub fn reason_for_status(status: axum::http::StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "ok",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        400..=499 => "bad_request",
        _ => "error",
    }
}
