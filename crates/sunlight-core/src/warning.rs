//! [`Warning`]: what Sunlight publishes to the disposal topic (contract: "Warning
//! (output)"), its deterministic id, and its JSON and protobuf encodings.

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use sunlight_proto::v1;
use uuid::Uuid;

use crate::rules::measure::{Level, Measure, MeasureValue};
use crate::time::Timestamp;

/// Namespace of warning ids (UUIDv5); fixed forever, so ids are stable across versions.
pub const WARNING_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5a6f_9b1e_3c2d_4e8f_a1b2_c3d4_e5f6_0718);

/// A supervision model fired for one official (and key) at one trigger event.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Deterministic id: [`warning_id`] of rule id, version, official, key and trigger.
    pub warning_id: String,
    /// The rule that fired.
    pub rule_id: String,
    /// Its version.
    pub rule_version: u32,
    /// The official.
    pub official_id: CompactString,
    /// Further key fields, in the rule's order.
    pub key: Vec<(CompactString, CompactString)>,
    /// Yellow or red.
    pub level: Level,
    /// The event whose window fired.
    pub trigger_event_id: CompactString,
    /// Its event time.
    pub occurred_at: Timestamp,
    /// Window start (inclusive).
    pub window_start: Timestamp,
    /// Window end (inclusive; equals `occurred_at`).
    pub window_end: Timestamp,
    /// The rule's measures, in the rule's order.
    pub measures: Vec<(Measure, MeasureValue)>,
    /// Contributing event ids (capped), in event-time order.
    pub evidence: Vec<CompactString>,
    /// Contributing events in total.
    pub evidence_total: u64,
    /// Rendered title.
    pub title: String,
    /// Processing time.
    pub detected_at: Timestamp,
    /// The trigger event's source tag given to `Engine::ingest_from` (0 from
    /// `ingest`). Bookkeeping for the caller; not part of the output contract and
    /// not serialised.
    pub trigger_source: u64,
    /// The trigger event's region and org_unit: the official's scope for access
    /// checks (query API). Bookkeeping, not part of the output contract.
    pub scope: Scope,
}

/// Where an official belongs, as the latest event said: the query API shows an
/// official only to tokens whose scope covers its region or org_unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The event's `region`.
    pub region: Option<CompactString>,
    /// The event's `org_unit`.
    pub org_unit: Option<CompactString>,
}

impl Scope {
    /// The scope an event carries.
    pub fn of(event: &crate::event::PowerEvent) -> Scope {
        Scope {
            region: event.region.clone(),
            org_unit: event.org_unit.clone(),
        }
    }
}

/// The deterministic warning id: UUIDv5 over the length-prefixed rule id, rule
/// version, official id, key pairs and trigger event id.
pub fn warning_id(
    rule_id: &str,
    rule_version: u32,
    official_id: &str,
    key: &[(CompactString, CompactString)],
    trigger_event_id: &str,
) -> String {
    let mut name = Vec::with_capacity(128);
    let mut part = |bytes: &[u8]| {
        name.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        name.extend_from_slice(bytes);
    };
    part(b"sunlight.warning.v1");
    part(rule_id.as_bytes());
    part(rule_version.to_string().as_bytes());
    part(official_id.as_bytes());
    for (k, v) in key {
        part(k.as_bytes());
        part(v.as_bytes());
    }
    part(trigger_event_id.as_bytes());
    Uuid::new_v5(&WARNING_ID_NAMESPACE, &name)
        .hyphenated()
        .to_string()
}

struct Pairs<'a>(&'a [(CompactString, CompactString)]);
impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k.as_str(), v.as_str())?;
        }
        map.end()
    }
}

struct Measures<'a>(&'a [(Measure, MeasureValue)]);
impl Serialize for Measures<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (m, v) in self.0 {
            match v {
                MeasureValue::Int(i) => map.serialize_entry(m.name(), i)?,
                MeasureValue::Float(f) => map.serialize_entry(m.name(), f)?,
            }
        }
        map.end()
    }
}

struct WindowJson(Timestamp, Timestamp);
impl Serialize for WindowJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Window", 2)?;
        st.serialize_field("start", &self.0.to_string())?;
        st.serialize_field("end", &self.1.to_string())?;
        st.end()
    }
}

struct EvidenceJson<'a>(&'a [CompactString], u64);
impl Serialize for EvidenceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Evidence", 2)?;
        st.serialize_field("event_ids", &self.0)?;
        st.serialize_field("total", &self.1)?;
        st.end()
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Warning", 14)?;
        st.serialize_field("warning_id", &self.warning_id)?;
        st.serialize_field("rule_id", &self.rule_id)?;
        st.serialize_field("rule_version", &self.rule_version)?;
        st.serialize_field("official_id", self.official_id.as_str())?;
        st.serialize_field("key", &Pairs(&self.key))?;
        st.serialize_field("level", self.level.name())?;
        st.serialize_field("trigger_event_id", self.trigger_event_id.as_str())?;
        st.serialize_field("occurred_at", &self.occurred_at.to_string())?;
        st.serialize_field("window", &WindowJson(self.window_start, self.window_end))?;
        st.serialize_field("measures", &Measures(&self.measures))?;
        st.serialize_field(
            "evidence",
            &EvidenceJson(&self.evidence, self.evidence_total),
        )?;
        st.serialize_field("title", &self.title)?;
        st.serialize_field("detected_at", &self.detected_at.to_string())?;
        st.end()
    }
}

impl Warning {
    /// A copy with the values of the `sensitive` key fields replaced by `fill`, in
    /// the key and wherever they appear in the title (longest first). The id is the
    /// warning's own (computed from the real values), so masked and unmasked copies
    /// of one warning share it.
    pub fn masked(&self, sensitive: &[String], fill: &str) -> Warning {
        let mut w = self.clone();
        let mut raw: Vec<String> = Vec::new();
        for (name, value) in &mut w.key {
            if sensitive.iter().any(|s| s == name.as_str()) && !value.is_empty() {
                raw.push(value.to_string());
                *value = fill.into();
            }
        }
        raw.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in raw {
            w.title = w.title.replace(&v, fill);
        }
        w
    }

    /// One JSON object, no trailing newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("warnings always serialise")
    }

    /// The protobuf message `sunlight.v1.Warning`.
    pub fn to_proto(&self) -> v1::Warning {
        let ts = |t: Timestamp| {
            let (seconds, nanos) = t.to_parts();
            Some(prost_types::Timestamp { seconds, nanos })
        };
        v1::Warning {
            warning_id: self.warning_id.clone(),
            rule_id: self.rule_id.clone(),
            rule_version: self.rule_version,
            official_id: self.official_id.to_string(),
            key: self
                .key
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            level: self.level.name().to_string(),
            trigger_event_id: self.trigger_event_id.to_string(),
            occurred_at: ts(self.occurred_at),
            window: Some(v1::Window {
                start: ts(self.window_start),
                end: ts(self.window_end),
            }),
            measures: self
                .measures
                .iter()
                .map(|(m, v)| (m.name().to_string(), v.as_f64()))
                .collect(),
            evidence: Some(v1::Evidence {
                event_ids: self.evidence.iter().map(|e| e.to_string()).collect(),
                total: self.evidence_total,
            }),
            title: self.title.clone(),
            detected_at: ts(self.detected_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_sensitive_key_values_in_the_key_and_the_title() {
        let w = Warning {
            warning_id: "id".into(),
            rule_id: "r".into(),
            rule_version: 1,
            official_id: "o".into(),
            key: vec![
                ("counterparty".into(), "SUP-1".into()),
                ("national_id".into(), "110101199003070011".into()),
            ],
            level: Level::Red,
            trigger_event_id: "e".into(),
            occurred_at: Timestamp(0),
            window_start: Timestamp(0),
            window_end: Timestamp(0),
            measures: vec![],
            evidence: vec![],
            evidence_total: 0,
            title: "paid SUP-1, id 110101199003070011".into(),
            detected_at: Timestamp(0),
            trigger_source: 0,
            scope: Scope::default(),
        };
        let m = w.masked(&["national_id".to_string()], "***");
        assert_eq!(m.key[0].1, "SUP-1");
        assert_eq!(m.key[1].1, "***");
        assert_eq!(m.title, "paid SUP-1, id ***");
        assert_eq!(m.warning_id, w.warning_id);
        assert_eq!(w.masked(&[], "***"), w);
    }

    #[test]
    fn ids_are_deterministic_and_unambiguous() {
        let key = vec![("counterparty".into(), "C1".into())];
        let a = warning_id("split", 1, "o1", &key, "e9");
        assert_eq!(a, warning_id("split", 1, "o1", &key, "e9"));
        assert_eq!(a.len(), 36);
        assert_ne!(a, warning_id("split", 2, "o1", &key, "e9"));
        assert_ne!(a, warning_id("split", 1, "o1", &[], "e9"));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(
            warning_id("r", 1, "ab", &[], "c"),
            warning_id("r", 1, "a", &[], "bc")
        );
    }
}
