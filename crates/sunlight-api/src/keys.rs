//! [`KeySet`]: the verification keys of `[[api.keys]]`, loaded once at start-up
//! (secrets inline or from files, RS256 public keys from PEM files), and the choice of
//! candidate keys for a token header.

use std::path::Path;

use jsonwebtoken::DecodingKey;

use crate::config::{Algorithm, ApiConfig, ConfigError, check_secret_len};

/// One loaded key.
#[derive(Clone)]
pub struct LoadedKey {
    /// Key id, if configured.
    pub kid: Option<String>,
    /// Its algorithm.
    pub algorithm: Algorithm,
    /// The verification key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("LoadedKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Every configured key, in configuration order.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<LoadedKey>,
}

/// Why no key can check a token (before any signature is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoiceError {
    /// The header names a `kid` no key has.
    UnknownKeyId,
    /// The header's algorithm is not one the keys (or the named key) use.
    AlgorithmNotAllowed,
}

impl KeySet {
    /// Validates `config` and loads its keys, reading secret and PEM files.
    pub fn load(config: &ApiConfig) -> Result<KeySet, ConfigError> {
        config.validate()?;
        let mut keys = Vec::with_capacity(config.keys.len());
        for (i, k) in config.keys.iter().enumerate() {
            let key = match k.algorithm {
                Algorithm::HS256 => {
                    let secret = match (&k.secret, &k.secret_file) {
                        (Some(s), _) => s.as_bytes().to_vec(),
                        (None, Some(path)) => {
                            let setting = format!("api.keys[{i}].secret_file");
                            let bytes = read(&setting, path)?;
                            let secret = strip_newline(&bytes).to_vec();
                            check_secret_len(&setting, secret.len())?;
                            secret
                        }
                        (None, None) => unreachable!("validate() requires a secret"),
                    };
                    DecodingKey::from_secret(&secret)
                }
                Algorithm::RS256 => {
                    let setting = format!("api.keys[{i}].public_key_file");
                    let path = k
                        .public_key_file
                        .as_deref()
                        .expect("validate() requires public_key_file");
                    let pem = read(&setting, path)?;
                    DecodingKey::from_rsa_pem(&pem).map_err(|e| {
                        ConfigError::invalid(
                            setting,
                            format!(
                                "{} is not a PEM RSA public key ({e}); write a \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" PEM",
                                path.display()
                            ),
                        )
                    })?
                }
            };
            keys.push(LoadedKey {
                kid: k.kid.clone(),
                algorithm: k.algorithm,
                key,
            });
        }
        Ok(KeySet { keys })
    }

    /// A key set from already loaded keys (tests, or a binary with its own loading).
    pub fn from_keys(keys: Vec<LoadedKey>) -> KeySet {
        KeySet { keys }
    }

    /// The keys to try for a token whose header says `alg` (already parsed; an
    /// unsupported name is `None`) and `kid`: the key with that id, or, without a
    /// `kid`, every key of that algorithm.
    pub fn candidates(
        &self,
        alg: Option<Algorithm>,
        kid: Option<&str>,
    ) -> Result<Vec<&LoadedKey>, KeyChoiceError> {
        if let Some(kid) = kid {
            let key = self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(KeyChoiceError::UnknownKeyId)?;
            return if Some(key.algorithm) == alg {
                Ok(vec![key])
            } else {
                Err(KeyChoiceError::AlgorithmNotAllowed)
            };
        }
        let alg = alg.ok_or(KeyChoiceError::AlgorithmNotAllowed)?;
        let keys: Vec<_> = self.keys.iter().filter(|k| k.algorithm == alg).collect();
        if keys.is_empty() {
            Err(KeyChoiceError::AlgorithmNotAllowed)
        } else {
            Ok(keys)
        }
    }
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        setting: setting.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

fn strip_newline(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyConfig;

    fn key(kid: Option<&str>, algorithm: Algorithm) -> LoadedKey {
        LoadedKey {
            kid: kid.map(Into::into),
            algorithm,
            key: DecodingKey::from_secret(b"x"),
        }
    }

    #[test]
    fn candidates_by_kid_then_algorithm() {
        let set = KeySet::from_keys(vec![
            key(Some("a"), Algorithm::HS256),
            key(None, Algorithm::HS256),
            key(Some("r"), Algorithm::RS256),
        ]);
        let kids = |r: Result<Vec<&LoadedKey>, KeyChoiceError>| {
            r.map(|v| v.iter().map(|k| k.kid.clone()).collect::<Vec<_>>())
        };
        assert_eq!(
            kids(set.candidates(Some(Algorithm::HS256), None)),
            Ok(vec![Some("a".into()), None])
        );
        assert_eq!(
            kids(set.candidates(Some(Algorithm::RS256), Some("r"))),
            Ok(vec![Some("r".into())])
        );
        assert_eq!(
            kids(set.candidates(Some(Algorithm::HS256), Some("r"))),
            Err(KeyChoiceError::AlgorithmNotAllowed)
        );
        assert_eq!(
            kids(set.candidates(Some(Algorithm::HS256), Some("zz"))),
            Err(KeyChoiceError::UnknownKeyId)
        );
        assert_eq!(
            kids(set.candidates(None, None)),
            Err(KeyChoiceError::AlgorithmNotAllowed)
        );
        let hs_only = KeySet::from_keys(vec![key(None, Algorithm::HS256)]);
        assert_eq!(
            kids(hs_only.candidates(Some(Algorithm::RS256), None)),
            Err(KeyChoiceError::AlgorithmNotAllowed)
        );
    }

    #[test]
    fn secret_file_loses_one_newline_and_missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let mut config = ApiConfig {
            keys: vec![KeyConfig {
                kid: None,
                algorithm: Algorithm::HS256,
                secret: None,
                secret_file: Some(path),
                public_key_file: None,
            }],
            ..ApiConfig::default()
        };
        assert!(KeySet::load(&config).is_ok());
        config.keys[0].secret_file = Some(dir.path().join("missing"));
        let err = KeySet::load(&config).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "api.keys[0].secret_file: cannot read {}: ",
                dir.path().join("missing").display()
            )),
            "{err}"
        );
        std::fs::write(dir.path().join("short"), "tiny\n").unwrap();
        config.keys[0].secret_file = Some(dir.path().join("short"));
        assert_eq!(
            KeySet::load(&config).unwrap_err().to_string(),
            "api.keys[0].secret_file: an HS256 secret needs at least 32 bytes, this one has 4"
        );
    }

    #[test]
    fn rs256_key_must_be_a_pem_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not a pem").unwrap();
        let config = ApiConfig {
            keys: vec![KeyConfig {
                kid: Some("r".into()),
                algorithm: Algorithm::RS256,
                secret: None,
                secret_file: None,
                public_key_file: Some(path.clone()),
            }],
            ..ApiConfig::default()
        };
        let err = KeySet::load(&config).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "api.keys[0].public_key_file: {} is not a PEM RSA public key (",
                path.display()
            )),
            "{err}"
        );
        let public = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/rs256-public.pem");
        std::fs::copy(public, &path).unwrap();
        assert!(KeySet::load(&config).is_ok());
    }
}
