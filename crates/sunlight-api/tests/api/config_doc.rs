//! The `[api]` example in docs/CONFIG.md deserialises and validates.

use std::time::Duration;

use serde::Deserialize;
use sunlight_api::{Algorithm, ApiConfig};

#[derive(Deserialize)]
struct File {
    api: ApiConfig,
}

#[test]
fn documented_example_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIG.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let section = &doc[doc.find("## Query API (`[api]`)").unwrap()..];
    let start = section.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let file: File = toml::from_str(block).unwrap();
    let api = file.api;
    api.validate().unwrap();
    assert_eq!(api.keys.len(), 3);
    assert_eq!(api.keys[2].algorithm, Algorithm::RS256);
    assert_eq!(api.leeway, Duration::from_secs(30));
    assert_eq!(api.audit_topic, "sunlight.audit");
    assert_eq!(api.sensitive_attributes, ["national_id", "phone"]);
}
