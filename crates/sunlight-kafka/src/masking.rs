//! Masking of sensitive key values in the records Sunlight publishes for others:
//! warnings and escalations (one builder, [`warning_record`]), the loop's audit
//! records and refused feedback copied to the dead-letter topic. The names come from
//! `[kafka] mask_in_warnings`; values are replaced by [`FILL`]. Risk-code records
//! carry no key values (official id, code, score, warning ids and scope only).
//! Two outputs keep values in clear by design: refused *input* on the dead-letter
//! topic (the source's own bytes, for reprocessing) and the state topic (Sunlight's
//! own snapshots, which a restore needs whole); restrict access to both like the
//! input topics.

use rdkafka::message::{Header, OwnedHeaders};
use serde_json::Value;
use sunlight_core::Warning;

use crate::WarningFormat;
use crate::output::Output;

/// What replaces a masked value.
pub const FILL: &str = "***";

/// The key fields to mask (empty: masking off).
#[derive(Debug, Clone, Copy)]
pub struct Masking<'a> {
    /// Key field (attribute) names whose values are masked.
    pub fields: &'a [String],
}

impl Masking<'_> {
    /// Whether values of the key field `name` are masked.
    pub fn masks(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }

    /// The warning as it may be published: masked key values, in the key and the
    /// title (the id stays the warning's own).
    pub fn warning(&self, warning: &Warning) -> Option<Warning> {
        (!self.fields.is_empty()).then(|| warning.masked(self.fields, FILL))
    }

    /// The raw values of the masked fields among `key`, longest first (so a value
    /// that contains another is replaced whole).
    pub fn raw_values<'k>(
        &self,
        key: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Vec<&'k str> {
        let mut raw: Vec<&str> = key
            .into_iter()
            .filter(|(name, value)| self.masks(name) && !value.is_empty())
            .map(|(_, value)| value)
            .collect();
        raw.sort_by_key(|v| std::cmp::Reverse(v.len()));
        raw
    }

    /// `text` with each of `raw` replaced by [`FILL`].
    pub fn text(&self, text: &str, raw: &[&str]) -> String {
        raw.iter()
            .fold(text.to_string(), |t, value| t.replace(value, FILL))
    }

    /// A JSON document with the string values of masked fields replaced, at any
    /// depth, and every masked value found that way, or given in `known` (the key
    /// values of the warning it is about), also replaced in the other strings (a note
    /// quoting it). Bytes that are not JSON get `known` replaced in their text.
    pub fn json_bytes(&self, bytes: &[u8], known: &[&str]) -> Vec<u8> {
        if self.fields.is_empty() {
            return bytes.to_vec();
        }
        let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
            if known.is_empty() {
                return bytes.to_vec();
            }
            return self
                .text(&String::from_utf8_lossy(bytes), known)
                .into_bytes();
        };
        let mut raw: Vec<String> = known.iter().map(|v| v.to_string()).collect();
        self.mask_fields(&mut doc, &mut raw);
        if raw.is_empty() {
            return bytes.to_vec();
        }
        raw.sort_by_key(|v: &String| std::cmp::Reverse(v.len()));
        let raw: Vec<&str> = raw.iter().map(String::as_str).collect();
        self.mask_strings(&mut doc, &raw);
        serde_json::to_vec(&doc).unwrap_or_else(|_| bytes.to_vec())
    }

    fn mask_fields(&self, doc: &mut Value, raw: &mut Vec<String>) {
        match doc {
            Value::Object(map) => {
                for (name, value) in map.iter_mut() {
                    match value {
                        Value::String(s) if self.masks(name) && !s.is_empty() => {
                            raw.push(std::mem::replace(s, FILL.to_string()));
                        }
                        _ => self.mask_fields(value, raw),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_fields(v, raw)),
            _ => {}
        }
    }

    fn mask_strings(&self, doc: &mut Value, raw: &[&str]) {
        match doc {
            Value::String(s) => *s = self.text(s, raw),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_strings(v, raw)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_strings(v, raw)),
            _ => {}
        }
    }
}

/// The one builder of a warning record, for warnings from the engine and escalations
/// from the casebook alike: keyed by official_id, CloudEvents headers plus `extra`,
/// payload in `format`, masked as `masking` says.
pub fn warning_record<'h>(
    topic: &str,
    warning: &Warning,
    source: &str,
    format: WarningFormat,
    masking: Masking<'_>,
    extra: impl IntoIterator<Item = (&'h str, &'h str)>,
) -> Output {
    let headers = extra.into_iter().fold(
        crate::headers::warning_headers(warning, source, format),
        |h: OwnedHeaders, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value),
            })
        },
    );
    let payload = match masking.warning(warning) {
        // A carrier is masked where it is published, by the officials lane.
        Some(masked) if format != WarningFormat::Carrier => format.encode(&masked),
        _ => format.encode(warning),
    };
    Output {
        topic: topic.to_string(),
        key: Some(warning.official_id.as_bytes().to_vec()),
        payload,
        headers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masking(fields: &[String]) -> Masking<'_> {
        Masking { fields }
    }

    #[test]
    fn json_fields_are_masked_at_any_depth_and_quoted_values_with_them() {
        let fields = vec!["national_id".to_string()];
        let m = masking(&fields);
        let doc = br#"{"warning_id":"w1","note":"see 110101199001011234","key":{"national_id":"110101199001011234"},"list":[{"national_id":"X9"}],"n":3}"#;
        let out: Value = serde_json::from_slice(&m.json_bytes(doc, &[])).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"warning_id":"w1","note":"see ***","key":{"national_id":"***"},"list":[{"national_id":"***"}],"n":3})
        );
    }

    #[test]
    fn bytes_that_are_not_json_or_hold_nothing_masked_are_unchanged() {
        let fields = vec!["national_id".to_string()];
        let m = masking(&fields);
        assert_eq!(m.json_bytes(b"not json", &[]), b"not json");
        assert_eq!(m.json_bytes(b"not json: X9", &["X9"]), b"not json: ***");
        let plain = br#"{"warning_id": "w1"}"#;
        assert_eq!(m.json_bytes(plain, &[]), plain.to_vec(), "byte for byte");
        let quoted = br#"{"warning_id":"w1","note":"paid X9 twice"}"#;
        let out: Value = serde_json::from_slice(&m.json_bytes(quoted, &["X9"])).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"warning_id":"w1","note":"paid *** twice"})
        );
        assert_eq!(
            masking(&[]).json_bytes(br#"{"national_id":"1"}"#, &["1"]),
            br#"{"national_id":"1"}"#
        );
    }

    #[test]
    fn raw_values_come_longest_first_and_text_loses_them() {
        let fields = vec!["a".to_string(), "b".to_string()];
        let m = masking(&fields);
        let raw = m.raw_values([("a", "12"), ("b", "123"), ("c", "9")]);
        assert_eq!(raw, vec!["123", "12"]);
        assert_eq!(m.text("x 123 y 12 z 9", &raw), "x *** y *** z 9");
    }
}
