//! [`ApiConfig`]: the `[api]` settings (docs/CONFIG.md), deserialised with serde and
//! checked by [`ApiConfig::validate`], whose errors name the setting.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Default Kafka topic of audit records (drained from the channel sink by the binary).
pub const DEFAULT_AUDIT_TOPIC: &str = "sunlight.audit";
/// Default clock-skew tolerance for `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest accepted leeway: more would keep expired tokens alive for too long.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// The `[api]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Keys that may sign bearer tokens; at least one.
    #[serde(default)]
    pub keys: Vec<KeyConfig>,
    /// Required `iss` claim, if set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` claim, if set (a token carrying `aud` is refused when unset).
    #[serde(default)]
    pub audience: Option<String>,
    /// Clock-skew tolerance for `exp` and `nbf`: whole seconds, or `"30s"`, `"1m"`.
    #[serde(default = "default_leeway", deserialize_with = "deserialize_leeway")]
    pub leeway: Duration,
    /// Attribute names whose values are masked for tokens without `sensitive: true`.
    #[serde(default)]
    pub sensitive_attributes: Vec<String>,
    /// How masked values look.
    #[serde(default)]
    pub mask: MaskConfig,
    /// Append-only JSON-lines audit file, if any.
    #[serde(default)]
    pub audit_file: Option<PathBuf>,
    /// Kafka topic the binary drains the audit channel to.
    #[serde(default = "default_audit_topic")]
    pub audit_topic: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            keys: Vec::new(),
            issuer: None,
            audience: None,
            leeway: DEFAULT_LEEWAY,
            sensitive_attributes: Vec::new(),
            mask: MaskConfig::default(),
            audit_file: None,
            audit_topic: default_audit_topic(),
        }
    }
}

/// One verification key (`[[api.keys]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Key id matched against the token header's `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// HS256 or RS256.
    pub algorithm: Algorithm,
    /// HS256 shared secret given inline (its UTF-8 bytes).
    #[serde(default)]
    pub secret: Option<String>,
    /// HS256 shared secret read from a file (one trailing newline is dropped).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// RS256 public key, PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
}

/// Signature algorithms accepted for bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Algorithm {
    /// HMAC with SHA-256 (shared secret).
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (public key).
    RS256,
}

impl Algorithm {
    /// The JOSE name (`"HS256"`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
        }
    }

    /// Parses a JOSE `alg` name; `None` for every other algorithm (including `none`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "HS256" => Some(Algorithm::HS256),
            "RS256" => Some(Algorithm::RS256),
            _ => None,
        }
    }
}

/// `[api.mask]`: a masked value is `fill` followed by the value's last `keep_last`
/// characters (`"***"`, or `"***4321"` with `keep_last = 4`). A value no longer than
/// `keep_last` is masked entirely.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    /// Replacement text.
    #[serde(default = "default_fill")]
    pub fill: String,
    /// Trailing characters kept.
    #[serde(default)]
    pub keep_last: usize,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            fill: default_fill(),
            keep_last: 0,
        }
    }
}

/// A setting that is missing, contradictory or unreadable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The value of `setting` is wrong; `message` says what to write instead.
    #[error("{setting}: {message}")]
    Invalid {
        /// The setting, e.g. `api.keys[0].secret`.
        setting: String,
        /// What is wrong and what to write instead.
        message: String,
    },
    /// The file named by `setting` could not be read.
    #[error("{setting}: cannot read {path}: {source}")]
    Read {
        /// The setting, e.g. `api.keys[1].public_key_file`.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file named by `setting` could not be opened for appending.
    #[error("{setting}: cannot open {path} for appending: {source}")]
    Open {
        /// The setting, e.g. `api.audit_file`.
        setting: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ConfigError {
    pub(crate) fn invalid(setting: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

impl ApiConfig {
    /// Checks the settings that need no file access (files are read by
    /// [`crate::KeySet::load`] and [`crate::FileSink::open`]).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.keys.is_empty() {
            return Err(ConfigError::invalid(
                "api.keys",
                "at least one key is required ([[api.keys]] with algorithm and secret, secret_file or public_key_file)",
            ));
        }
        let mut kids = std::collections::HashSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            key.validate(i)?;
            if let Some(kid) = &key.kid
                && !kids.insert(kid.as_str())
            {
                return Err(ConfigError::invalid(
                    format!("api.keys[{i}].kid"),
                    format!("key id {kid:?} is used twice; give every key a distinct kid"),
                ));
            }
        }
        if let Some(iss) = &self.issuer
            && iss.is_empty()
        {
            return Err(ConfigError::invalid(
                "api.issuer",
                "must not be empty; remove it to accept any issuer",
            ));
        }
        if let Some(aud) = &self.audience
            && aud.is_empty()
        {
            return Err(ConfigError::invalid(
                "api.audience",
                "must not be empty; remove it to refuse tokens that carry aud",
            ));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid(
                "api.leeway",
                format!(
                    "{}s is too long; at most {}s",
                    self.leeway.as_secs(),
                    MAX_LEEWAY.as_secs()
                ),
            ));
        }
        for (i, name) in self.sensitive_attributes.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::invalid(
                    format!("api.sensitive_attributes[{i}]"),
                    "attribute names must not be empty",
                ));
            }
        }
        if self.mask.fill.is_empty() {
            return Err(ConfigError::invalid(
                "api.mask.fill",
                "must not be empty (e.g. \"***\"), or a masked value could read as no value",
            ));
        }
        if self.audit_topic.is_empty() {
            return Err(ConfigError::invalid(
                "api.audit_topic",
                "must not be empty (default \"sunlight.audit\")",
            ));
        }
        Ok(())
    }
}

impl KeyConfig {
    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let at = |field: &str| format!("api.keys[{i}].{field}");
        if let Some(kid) = &self.kid
            && kid.is_empty()
        {
            return Err(ConfigError::invalid(
                at("kid"),
                "must not be empty; remove it for a key without id",
            ));
        }
        match self.algorithm {
            Algorithm::HS256 => {
                if self.public_key_file.is_some() {
                    return Err(ConfigError::invalid(
                        at("public_key_file"),
                        "an HS256 key takes secret or secret_file, not a public key",
                    ));
                }
                match (&self.secret, &self.secret_file) {
                    (Some(_), Some(_)) => Err(ConfigError::invalid(
                        at("secret"),
                        "give secret or secret_file, not both",
                    )),
                    (None, None) => Err(ConfigError::invalid(
                        at("secret"),
                        "an HS256 key needs secret or secret_file",
                    )),
                    (Some(secret), None) => check_secret_len(&at("secret"), secret.len()),
                    (None, Some(_)) => Ok(()),
                }
            }
            Algorithm::RS256 => {
                if self.secret.is_some() || self.secret_file.is_some() {
                    return Err(ConfigError::invalid(
                        at(if self.secret.is_some() {
                            "secret"
                        } else {
                            "secret_file"
                        }),
                        "an RS256 key takes public_key_file, not a secret",
                    ));
                }
                if self.public_key_file.is_none() {
                    return Err(ConfigError::invalid(
                        at("public_key_file"),
                        "an RS256 key needs public_key_file (a PEM public key)",
                    ));
                }
                Ok(())
            }
        }
    }
}

pub(crate) fn check_secret_len(setting: &str, len: usize) -> Result<(), ConfigError> {
    if len < MIN_HS256_SECRET_BYTES {
        return Err(ConfigError::invalid(
            setting,
            format!(
                "an HS256 secret needs at least {MIN_HS256_SECRET_BYTES} bytes, this one has {len}"
            ),
        ));
    }
    Ok(())
}

fn default_leeway() -> Duration {
    DEFAULT_LEEWAY
}

fn default_audit_topic() -> String {
    DEFAULT_AUDIT_TOPIC.to_string()
}

fn default_fill() -> String {
    "***".to_string()
}

/// Parses a leeway: whole seconds as a number, or a string `"<n>s"` / `"<n>m"`.
pub fn parse_leeway(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

fn deserialize_leeway<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct LeewayVisitor;
    impl Visitor<'_> for LeewayVisitor {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("whole seconds (30) or a duration such as \"30s\" or \"1m\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
            Ok(Duration::from_secs(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
            u64::try_from(v)
                .map(Duration::from_secs)
                .map_err(|_| E::custom("leeway must not be negative"))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            parse_leeway(v).ok_or_else(|| {
                E::custom(format!(
                    "leeway {v:?} is not a duration; write e.g. \"30s\" or \"1m\""
                ))
            })
        }
    }
    d.deserialize_any(LeewayVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(secret: &str) -> KeyConfig {
        KeyConfig {
            kid: None,
            algorithm: Algorithm::HS256,
            secret: Some(secret.into()),
            secret_file: None,
            public_key_file: None,
        }
    }

    fn config(keys: Vec<KeyConfig>) -> ApiConfig {
        ApiConfig {
            keys,
            ..ApiConfig::default()
        }
    }

    #[test]
    fn leeway_forms() {
        assert_eq!(parse_leeway("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_leeway("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_leeway("30"), None);
        assert_eq!(parse_leeway("s"), None);
        assert_eq!(parse_leeway("5h"), None);
    }

    #[test]
    fn errors_name_the_setting() {
        let err = |c: ApiConfig| c.validate().unwrap_err().to_string();
        assert_eq!(
            err(config(vec![])),
            "api.keys: at least one key is required ([[api.keys]] with algorithm and secret, secret_file or public_key_file)"
        );
        let good = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            err(config(vec![hs(good), hs("short")])),
            "api.keys[1].secret: an HS256 secret needs at least 32 bytes, this one has 5"
        );
        let mut rs = hs(good);
        rs.algorithm = Algorithm::RS256;
        assert_eq!(
            err(config(vec![rs])),
            "api.keys[0].secret: an RS256 key takes public_key_file, not a secret"
        );
        let mut a = hs(good);
        a.kid = Some("k".into());
        let b = a.clone();
        assert_eq!(
            err(config(vec![a, b])),
            "api.keys[1].kid: key id \"k\" is used twice; give every key a distinct kid"
        );
        let mut c = config(vec![hs(good)]);
        c.leeway = Duration::from_secs(301);
        assert_eq!(err(c), "api.leeway: 301s is too long; at most 300s");
        assert!(config(vec![hs(good)]).validate().is_ok());
    }

    #[test]
    fn deserialises_with_defaults() {
        let c: ApiConfig = serde_json::from_value(serde_json::json!({
            "keys": [{"kid": "a", "algorithm": "RS256", "public_key_file": "/k.pem"}],
            "leeway": "1m",
        }))
        .unwrap();
        assert_eq!(c.leeway, Duration::from_secs(60));
        assert_eq!(c.audit_topic, "sunlight.audit");
        assert_eq!(c.mask, MaskConfig::default());
        let c: ApiConfig = serde_json::from_value(serde_json::json!({"leeway": 10})).unwrap();
        assert_eq!(c.leeway, Duration::from_secs(10));
        let e = serde_json::from_value::<ApiConfig>(serde_json::json!({"leeway": "10x"}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "leeway \"10x\" is not a duration; write e.g. \"30s\" or \"1m\""
        );
        assert!(serde_json::from_value::<ApiConfig>(serde_json::json!({"kyes": []})).is_err());
    }
}
