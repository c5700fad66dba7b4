//! [`Warning`]: what Sunlight publishes to the disposal topic (contract: "Warning
//! (output)"), its deterministic id, and its JSON and protobuf encodings.

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};
use sunlight_proto::v1;
use uuid::Uuid;

use crate::evidence::{EventCopy, EventCopyJson};
use crate::rules::measure::{FiredCondition, Level, Measure, MeasureValue};
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
    /// The official (of an entity-keyed rule: the official whose event triggered).
    pub official_id: CompactString,
    /// Of an entity-keyed rule (`key = [...]`): every official among the evidence
    /// and the trigger's, sorted; empty for rules keyed by the official.
    pub officials: Vec<CompactString>,
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
    /// Window end (inclusive; equals `occurred_at`, except for an absence rule: the
    /// deadline its `first` event waited until).
    pub window_end: Timestamp,
    /// The rule's measures, in the rule's order.
    pub measures: Vec<(Measure, MeasureValue)>,
    /// The conditions of the level that fired (red ones for red, yellow ones for
    /// yellow), with the measured values, in the rule's order; empty for a rule with
    /// a fixed level ([`crate::rules::measure::Levels::fired`]).
    pub conditions: Vec<FiredCondition>,
    /// Contributing event ids (capped), in event-time order.
    pub evidence: Vec<CompactString>,
    /// Compact copies of the listed events, in the same order, with the attributes
    /// the rule reads ([`crate::evidence`]); empty when the pack keeps no copies, and
    /// missing for events restored from state written before copies existed.
    pub evidence_events: Vec<EventCopy>,
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
    /// The trigger event's region and org_unit: the official's scope (access checks
    /// of the query API). Published as `region` and `org_unit` (omitted when None).
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

/// A number as measures are written: an integer when it is integral (and fits).
fn serialize_number<M: SerializeMap>(
    map: &mut M,
    key: &str,
    value: MeasureValue,
) -> Result<(), M::Error> {
    match value {
        MeasureValue::Int(i) => map.serialize_entry(key, &i),
        MeasureValue::Float(f) => map.serialize_entry(key, &f),
    }
}

/// A threshold as written: integral ones as integers (`2`, not `2.0`).
fn threshold_value(t: f64) -> MeasureValue {
    if t.fract() == 0.0 && t.abs() < 9.0e15 {
        MeasureValue::Int(t as i64)
    } else {
        MeasureValue::Float(t)
    }
}

struct ConditionJson<'a>(&'a FiredCondition);
impl Serialize for ConditionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("measure", c.measure.name())?;
        map.serialize_entry("op", c.op.symbol())?;
        serialize_number(&mut map, "threshold", threshold_value(c.threshold))?;
        serialize_number(&mut map, "value", c.value)?;
        map.end()
    }
}

struct Conditions<'a>(&'a [FiredCondition]);
impl Serialize for Conditions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ConditionJson))
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

struct EvidenceJson<'a>(&'a [CompactString], u64, &'a [EventCopy]);
impl Serialize for EvidenceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Evidence", 3)?;
        st.serialize_field("event_ids", &self.0)?;
        st.serialize_field("total", &self.1)?;
        if self.2.is_empty() {
            st.skip_field("events")?;
        } else {
            st.serialize_field("events", &EventCopies(self.2))?;
        }
        st.end()
    }
}

struct EventCopies<'a>(&'a [EventCopy]);
impl Serialize for EventCopies<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(EventCopyJson))
    }
}

impl Serialize for Warning {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = 14
            + usize::from(!self.officials.is_empty())
            + usize::from(self.scope.region.is_some())
            + usize::from(self.scope.org_unit.is_some());
        let mut st = s.serialize_struct("Warning", fields)?;
        st.serialize_field("warning_id", &self.warning_id)?;
        st.serialize_field("rule_id", &self.rule_id)?;
        st.serialize_field("rule_version", &self.rule_version)?;
        st.serialize_field("official_id", self.official_id.as_str())?;
        st.serialize_field("key", &Pairs(&self.key))?;
        if self.officials.is_empty() {
            st.skip_field("officials")?;
        } else {
            st.serialize_field("officials", &self.officials)?;
        }
        st.serialize_field("level", self.level.name())?;
        st.serialize_field("trigger_event_id", self.trigger_event_id.as_str())?;
        st.serialize_field("occurred_at", &self.occurred_at.to_string())?;
        st.serialize_field("window", &WindowJson(self.window_start, self.window_end))?;
        st.serialize_field("measures", &Measures(&self.measures))?;
        st.serialize_field("conditions", &Conditions(&self.conditions))?;
        st.serialize_field(
            "evidence",
            &EvidenceJson(&self.evidence, self.evidence_total, &self.evidence_events),
        )?;
        st.serialize_field("title", &self.title)?;
        st.serialize_field("detected_at", &self.detected_at.to_string())?;
        if let Some(region) = &self.scope.region {
            st.serialize_field("region", region.as_str())?;
        } else {
            st.skip_field("region")?;
        }
        if let Some(org_unit) = &self.scope.org_unit {
            st.serialize_field("org_unit", org_unit.as_str())?;
        } else {
            st.skip_field("org_unit")?;
        }
        st.end()
    }
}

impl Warning {
    /// A copy with the values of the `sensitive` key fields replaced by `fill`, in
    /// the key and the evidence copies (`counterparty` or an attribute of that name)
    /// and wherever they appear in the title (longest first). Measures,
    /// conditions and scope hold no key values and stay as they are. The id is the
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
        for copy in &mut w.evidence_events {
            copy.mask(sensitive, fill, &mut raw);
        }
        raw.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        raw.dedup();
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
            officials: self.officials.iter().map(|o| o.to_string()).collect(),
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
                events: self
                    .evidence_events
                    .iter()
                    .map(EventCopy::to_proto)
                    .collect(),
            }),
            title: self.title.clone(),
            detected_at: ts(self.detected_at),
            region: self.scope.region.as_deref().unwrap_or_default().to_string(),
            org_unit: self
                .scope
                .org_unit
                .as_deref()
                .unwrap_or_default()
                .to_string(),
            conditions: self
                .conditions
                .iter()
                .map(|c| v1::Condition {
                    measure: c.measure.name().to_string(),
                    op: c.op.symbol().to_string(),
                    threshold: c.threshold,
                    value: c.value.as_f64(),
                })
                .collect(),
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
            officials: Vec::new(),
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
            conditions: vec![],
            evidence: vec![],
            evidence_events: vec![],
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

    fn explained() -> Warning {
        use crate::rules::filter::CmpOp;
        Warning {
            warning_id: "id".into(),
            rule_id: "split".into(),
            rule_version: 2,
            official_id: "o1".into(),
            officials: Vec::new(),
            key: vec![("counterparty".into(), "C1".into())],
            level: Level::Red,
            trigger_event_id: "e3".into(),
            occurred_at: Timestamp(3_000_000_000),
            window_start: Timestamp(1_000_000_000),
            window_end: Timestamp(3_000_000_000),
            measures: vec![
                (Measure::Count, MeasureValue::Int(3)),
                (Measure::Ratio, MeasureValue::Float(0.75)),
            ],
            conditions: vec![
                FiredCondition {
                    measure: Measure::Count,
                    op: CmpOp::Gte,
                    threshold: 2.0,
                    value: MeasureValue::Int(3),
                },
                FiredCondition {
                    measure: Measure::Ratio,
                    op: CmpOp::Gt,
                    threshold: 0.5,
                    value: MeasureValue::Float(0.75),
                },
            ],
            evidence: vec!["e1".into(), "e3".into()],
            evidence_events: vec![],
            evidence_total: 3,
            title: "t".into(),
            detected_at: Timestamp(4_000_000_000),
            trigger_source: 9,
            scope: Scope {
                region: Some("north".into()),
                org_unit: Some("u7".into()),
            },
        }
    }

    #[test]
    fn json_carries_conditions_and_scope_and_omits_missing_scope_fields() {
        let w = explained();
        assert_eq!(
            w.to_json(),
            concat!(
                r#"{"warning_id":"id","rule_id":"split","rule_version":2,"official_id":"o1","#,
                r#""key":{"counterparty":"C1"},"level":"red","trigger_event_id":"e3","#,
                r#""occurred_at":"1970-01-01T00:00:03Z","#,
                r#""window":{"start":"1970-01-01T00:00:01Z","end":"1970-01-01T00:00:03Z"},"#,
                r#""measures":{"count":3,"ratio":0.75},"#,
                r#""conditions":[{"measure":"count","op":">=","threshold":2,"value":3},"#,
                r#"{"measure":"ratio","op":">","threshold":0.5,"value":0.75}],"#,
                r#""evidence":{"event_ids":["e1","e3"],"total":3},"title":"t","#,
                r#""detected_at":"1970-01-01T00:00:04Z","region":"north","org_unit":"u7"}"#
            )
        );
        let mut bare = w.clone();
        bare.conditions.clear();
        bare.scope.region = None;
        let json = bare.to_json();
        assert!(
            json.ends_with(r#""detected_at":"1970-01-01T00:00:04Z","org_unit":"u7"}"#),
            "{json}"
        );
        assert!(json.contains(r#""conditions":[],"evidence""#), "{json}");
        // Masking leaves conditions and scope alone.
        assert_eq!(
            w.masked(&["counterparty".to_string()], "***").conditions,
            w.conditions
        );
    }

    fn with_copies() -> Warning {
        use crate::event::AttrValue;
        let mut w = explained();
        w.title = "paid C1 twice, invoice INV-9".into();
        w.evidence_events = vec![
            EventCopy {
                event_id: "e1".into(),
                kind: "payment".into(),
                occurred_at: 1_000_000_000,
                amount_cents: Some(4_990_000),
                counterparty: Some("C1".into()),
                attributes: vec![("invoice".into(), AttrValue::Str("INV-9".into()))],
            },
            EventCopy {
                event_id: "e3".into(),
                kind: "payment".into(),
                occurred_at: 3_000_000_000,
                amount_cents: None,
                counterparty: None,
                attributes: vec![("urgent".into(), AttrValue::Bool(true))],
            },
        ];
        w
    }

    #[test]
    fn evidence_copies_are_written_in_json_and_proto() {
        let w = with_copies();
        let json = w.to_json();
        assert!(
            json.contains(concat!(
                r#""evidence":{"event_ids":["e1","e3"],"total":3,"events":["#,
                r#"{"event_id":"e1","kind":"payment","occurred_at":"1970-01-01T00:00:01Z","#,
                r#""amount_cents":4990000,"counterparty":"C1","attributes":{"invoice":"INV-9"}},"#,
                r#"{"event_id":"e3","kind":"payment","occurred_at":"1970-01-01T00:00:03Z","#,
                r#""attributes":{"urgent":true}}]},"title""#
            )),
            "{json}"
        );
        let p = w.to_proto().evidence.unwrap();
        assert_eq!(p.events.len(), 2);
        assert_eq!(
            p.events[0],
            v1::EvidenceEvent {
                event_id: "e1".into(),
                kind: "payment".into(),
                occurred_at: Some(prost_types::Timestamp {
                    seconds: 1,
                    nanos: 0
                }),
                amount_cents: Some(4_990_000),
                counterparty: Some("C1".into()),
                attributes: [("invoice".to_string(), "INV-9".to_string())].into(),
            }
        );
        assert_eq!(
            p.events[1].attributes,
            [("urgent".to_string(), "true".to_string())].into()
        );
    }

    #[test]
    fn masking_reaches_the_evidence_copies_and_their_values_in_the_title() {
        use crate::event::AttrValue;
        let w = with_copies();
        let m = w.masked(&["counterparty".to_string(), "invoice".to_string()], "***");
        assert_eq!(m.key[0].1, "***");
        assert_eq!(m.evidence_events[0].counterparty.as_deref(), Some("***"));
        assert_eq!(
            m.evidence_events[0].attributes,
            vec![("invoice".into(), AttrValue::Str("***".into()))]
        );
        assert_eq!(m.evidence_events[1], w.evidence_events[1]);
        assert_eq!(m.title, "paid *** twice, invoice ***");
        assert!(!m.to_json().contains("INV-9"));
        assert!(!m.to_json().contains("C1"));
    }

    #[test]
    fn proto_carries_conditions_and_scope() {
        let p = explained().to_proto();
        assert_eq!((p.region.as_str(), p.org_unit.as_str()), ("north", "u7"));
        assert_eq!(
            p.conditions,
            vec![
                v1::Condition {
                    measure: "count".into(),
                    op: ">=".into(),
                    threshold: 2.0,
                    value: 3.0,
                },
                v1::Condition {
                    measure: "ratio".into(),
                    op: ">".into(),
                    threshold: 0.5,
                    value: 0.75,
                },
            ]
        );
        let mut bare = explained();
        bare.scope = Scope::default();
        let p = bare.to_proto();
        assert_eq!((p.region.as_str(), p.org_unit.as_str()), ("", ""));
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
