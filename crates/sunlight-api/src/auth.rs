//! Bearer-token authentication: [`Authenticator`] checks a JWT (HS256 or RS256)
//! against the [`KeySet`] — key chosen by `kid`, else every key of the header's
//! algorithm — validates `exp` (required), `nbf`, and the configured `iss` / `aud`
//! with a leeway, and yields the [`Claims`].

use std::collections::HashSet;
use std::time::Duration;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode};
use serde::{Deserialize, Serialize};

use crate::config::{Algorithm, ApiConfig, ConfigError};
use crate::error::AuthError;
use crate::keys::{KeyChoiceError, KeySet};
use crate::scope::Scope;

/// The claims Sunlight reads from a token (others are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who: the inspector's identity, written to the audit log. Required (a token
    /// without it, or with an empty one, is refused as `missing_claim`).
    #[serde(default)]
    pub sub: String,
    /// Regions whose officials are visible; `"*"` means every official.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Organisation units whose officials are visible.
    #[serde(default)]
    pub org_units: Vec<String>,
    /// May see unmasked sensitive attributes.
    #[serde(default)]
    pub sensitive: bool,
    /// Roles: [`HANDLER_ROLE`] may record feedback (`POST /v1/warnings/{id}/feedback`);
    /// without it a token only reads.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The role that may move warnings along (record case feedback).
pub const HANDLER_ROLE: &str = "handler";

impl Claims {
    /// Whether the token may record feedback.
    pub fn can_handle(&self) -> bool {
        self.roles.iter().any(|r| r == HANDLER_ROLE)
    }
}

/// An authenticated caller: its claims and the scope they grant. The authentication
/// layer puts it in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's claims.
    pub claims: Claims,
    /// What it may see.
    pub scope: Scope,
}

impl Principal {
    /// The principal of `claims`.
    pub fn new(claims: Claims) -> Principal {
        Principal {
            scope: Scope::of(&claims),
            claims,
        }
    }
}

/// Checks bearer tokens.
#[derive(Debug, Clone)]
pub struct Authenticator {
    keys: KeySet,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl Authenticator {
    /// Validates `config` and loads its keys.
    pub fn from_config(config: &ApiConfig) -> Result<Authenticator, ConfigError> {
        Ok(Authenticator::new(
            KeySet::load(config)?,
            config.issuer.clone(),
            config.audience.clone(),
            config.leeway,
        ))
    }

    /// From loaded keys and the claim requirements.
    pub fn new(
        keys: KeySet,
        issuer: Option<String>,
        audience: Option<String>,
        leeway: Duration,
    ) -> Authenticator {
        Authenticator {
            keys,
            issuer,
            audience,
            leeway,
        }
    }

    /// Authenticates a request from its `Authorization` header.
    pub fn authenticate_headers(&self, headers: &HeaderMap) -> Result<Claims, AuthError> {
        let value = headers.get(AUTHORIZATION).ok_or(AuthError::MissingHeader)?;
        let value = value.to_str().map_err(|_| AuthError::MalformedHeader)?;
        let token = bearer_token(value).ok_or(AuthError::MalformedHeader)?;
        self.authenticate(token)
    }

    /// Checks one compact JWT.
    pub fn authenticate(&self, token: &str) -> Result<Claims, AuthError> {
        let header = parse_header(token)?;
        let alg = Algorithm::from_name(&header.alg);
        let candidates = self
            .keys
            .candidates(alg, header.kid.as_deref())
            .map_err(|e| match e {
                KeyChoiceError::UnknownKeyId => AuthError::UnknownKeyId,
                KeyChoiceError::AlgorithmNotAllowed => AuthError::AlgorithmNotAllowed,
            })?;
        let alg = alg.expect("candidates exist only for a supported algorithm");
        let validation = self.validation(alg);
        for key in candidates {
            match decode::<Claims>(token, &key.key, &validation) {
                Ok(data) => {
                    if data.claims.sub.is_empty() {
                        return Err(AuthError::MissingClaim("sub"));
                    }
                    return Ok(data.claims);
                }
                // Another key of the same algorithm may have signed it.
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => continue,
                Err(e) => return Err(map_error(e.kind())),
            }
        }
        Err(AuthError::BadSignature)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(match alg {
            Algorithm::HS256 => jsonwebtoken::Algorithm::HS256,
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
        });
        v.leeway = self.leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required: HashSet<String> = ["exp", "sub"].map(String::from).into();
        match &self.issuer {
            Some(iss) => {
                v.set_issuer(&[iss]);
                required.insert("iss".into());
            }
            None => v.iss = None,
        }
        match &self.audience {
            Some(aud) => {
                v.set_audience(&[aud]);
                required.insert("aud".into());
            }
            // A token carrying aud is still refused (jsonwebtoken's rule: a principal
            // that is not named in aud must reject it).
            None => v.aud = None,
        }
        v.required_spec_claims = required;
        v
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive, RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// Reads the JOSE header ourselves so that any `alg` (`none`, `HS512`) is reported as
/// not allowed rather than as a malformed token.
fn parse_header(token: &str) -> Result<RawHeader, AuthError> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::MalformedToken)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => match c.as_str() {
            "iss" => AuthError::WrongIssuer,
            "aud" => AuthError::WrongAudience,
            "sub" => AuthError::MissingClaim("sub"),
            _ => AuthError::MissingClaim("exp"),
        },
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAllowed
        }
        _ => AuthError::MalformedToken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn header_parsing() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let t = format!("{}.e30.sig", enc(r#"{"alg":"none"}"#));
        assert_eq!(parse_header(&t).unwrap().alg, "none");
        assert_eq!(parse_header("a.b").err(), Some(AuthError::MalformedToken));
        assert_eq!(
            parse_header("!!.b.c").err(),
            Some(AuthError::MalformedToken)
        );
        assert_eq!(
            parse_header(&format!("{}.b.c.d", enc(r#"{"alg":"HS256"}"#))).err(),
            Some(AuthError::MalformedToken)
        );
    }
}
