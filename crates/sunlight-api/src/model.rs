//! The answers' plain DTOs (serde), filled by a [`crate::QuerySource`]. They do not
//! depend on `sunlight-core`; timestamps are RFC 3339 strings. Views of officials and
//! warnings carry the official's `region` and `org_unit` for the scope check.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Ordered name/value pairs, serialised as a JSON object in their order (a warning's
/// `key`, a window's key).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap(pub Vec<(String, String)>);

impl KeyMap {
    /// From `(name, value)` pairs.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> KeyMap {
        KeyMap(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl Serialize for KeyMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for KeyMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<KeyMap, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = KeyMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyMap, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry::<String, String>()? {
                    pairs.push(entry);
                }
                Ok(KeyMap(pairs))
            }
        }
        d.deserialize_map(PairsVisitor)
    }
}

/// An official's risk code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskCode {
    /// No open concern.
    Green,
    /// Watch.
    Yellow,
    /// Act.
    Red,
    /// Not known: the closed loop is off, so no code is computed.
    Unknown,
}

impl RiskCode {
    /// Every code, in the board's order (most severe first).
    pub const ALL: [RiskCode; 4] = [
        RiskCode::Red,
        RiskCode::Yellow,
        RiskCode::Green,
        RiskCode::Unknown,
    ];

    /// `green`, `yellow`, `red` or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            RiskCode::Green => "green",
            RiskCode::Yellow => "yellow",
            RiskCode::Red => "red",
            RiskCode::Unknown => "unknown",
        }
    }

    /// Parses [`RiskCode::name`].
    pub fn parse(text: &str) -> Option<RiskCode> {
        RiskCode::ALL.into_iter().find(|c| c.name() == text)
    }
}

/// A warning's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Yellow.
    Yellow,
    /// Red.
    Red,
}

impl Level {
    /// `yellow` or `red`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Yellow => "yellow",
            Level::Red => "red",
        }
    }

    /// Parses [`Level::name`].
    pub fn parse(text: &str) -> Option<Level> {
        [Level::Yellow, Level::Red]
            .into_iter()
            .find(|l| l.name() == text)
    }
}

/// Where a warning is in its handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningStatus {
    /// Published; the case system has not answered yet.
    Pushed,
    /// The case system has it.
    Received,
    /// Someone is checking it.
    Verifying,
    /// The problem was corrected (closed).
    Rectified,
    /// The warning was right (closed).
    Confirmed,
    /// A false positive (closed; suppresses the rule and key for a while).
    Dismissed,
}

impl WarningStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [WarningStatus; 6] = [
        WarningStatus::Pushed,
        WarningStatus::Received,
        WarningStatus::Verifying,
        WarningStatus::Rectified,
        WarningStatus::Confirmed,
        WarningStatus::Dismissed,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            WarningStatus::Pushed => "pushed",
            WarningStatus::Received => "received",
            WarningStatus::Verifying => "verifying",
            WarningStatus::Rectified => "rectified",
            WarningStatus::Confirmed => "confirmed",
            WarningStatus::Dismissed => "dismissed",
        }
    }

    /// Parses [`WarningStatus::name`].
    pub fn parse(text: &str) -> Option<WarningStatus> {
        WarningStatus::ALL.into_iter().find(|s| s.name() == text)
    }

    /// Lifecycle stage: a status may only move to a later one (pushed 0, received
    /// 1, verifying 2, the closing ones 3).
    pub fn stage(self) -> u8 {
        match self {
            WarningStatus::Pushed => 0,
            WarningStatus::Received => 1,
            WarningStatus::Verifying => 2,
            WarningStatus::Rectified | WarningStatus::Confirmed | WarningStatus::Dismissed => 3,
        }
    }

    /// Rectified, confirmed and dismissed close a warning.
    pub fn is_closed(self) -> bool {
        self.stage() == 3
    }
}

/// A time interval, both ends RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeRange {
    /// Start (inclusive).
    pub start: String,
    /// End (inclusive).
    pub end: String,
}

/// The official's current risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// green, yellow or red; unknown when the closed loop is off.
    pub code: RiskCode,
    /// Score behind the code (None when unknown).
    pub score: Option<f64>,
    /// When it was computed (RFC 3339).
    pub computed_at: String,
}

/// `GET /v1/officials/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficialView {
    /// The official.
    pub official_id: String,
    /// Region (scope check).
    pub region: String,
    /// Organisation unit (scope check).
    pub org_unit: String,
    /// Current risk.
    pub risk: Risk,
    /// Warnings not yet closed or dismissed.
    pub open_warnings: Vec<WarningSummary>,
    /// Current window aggregates, per rule and key.
    pub windows: Vec<WindowAggregate>,
}

/// A warning in an official's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarningSummary {
    /// Deterministic warning id.
    pub warning_id: String,
    /// The rule that fired.
    pub rule_id: String,
    /// Its version.
    pub rule_version: u32,
    /// yellow or red.
    pub level: Level,
    /// Lifecycle status.
    pub status: WarningStatus,
    /// Trigger event time (RFC 3339).
    pub occurred_at: String,
    /// Key fields.
    pub key: KeyMap,
    /// Rendered title.
    pub title: String,
}

/// One rule's current window for one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowAggregate {
    /// The rule.
    pub rule_id: String,
    /// Key fields.
    pub key: KeyMap,
    /// Events in the window.
    pub count: u64,
    /// Sum of the rule's summed field (minor units), if it has one and it is an
    /// integer field (a field read with `decimals` shows none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<i64>,
    /// The window.
    pub window: TimeRange,
}

/// A measure value: integer or float, as in the warning JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MeasureValue {
    /// count, sum, min, max, distinct.
    Int(i64),
    /// avg and ratios.
    Float(f64),
}

/// Measures by name, in the rule's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Measures(pub Vec<(String, MeasureValue)>);

impl Serialize for Measures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Measures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Measures, D::Error> {
        struct MeasuresVisitor;
        impl<'de> Visitor<'de> for MeasuresVisitor {
            type Value = Measures;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Measures, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry::<String, MeasureValue>()? {
                    pairs.push(entry);
                }
                Ok(Measures(pairs))
            }
        }
        d.deserialize_map(MeasuresVisitor)
    }
}

/// One condition of a rule that held when its warning fired: `count 3 >= 2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionView {
    /// The measure's name (`count`, `sum`, ...).
    pub measure: String,
    /// The comparison (`>=`, `>`, `<=`, `<`, `==`, `!=`).
    pub op: String,
    /// The threshold, as in the pack.
    pub threshold: MeasureValue,
    /// The measured value.
    pub value: MeasureValue,
}

/// A warning's contributing events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Contributing event ids (capped), in event-time order.
    pub event_ids: Vec<String>,
    /// Contributing events in total.
    pub total: u64,
    /// Compact copies of the listed events (same order; an id without a copy has
    /// none, e.g. restored from state written before copies). Absent when the pack
    /// keeps no copies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EvidenceEvent>,
}

/// A compact copy of one contributing event: what the rule read of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceEvent {
    /// The event's id.
    pub event_id: String,
    /// Its kind.
    pub kind: String,
    /// Its event time (RFC 3339).
    pub occurred_at: String,
    /// Money in minor units (fen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_cents: Option<i64>,
    /// Payee, applicant, supplier or appointee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// The attributes the rule reads, by name (values as in the event).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
}

/// One step of a warning's handling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The status entered.
    pub status: WarningStatus,
    /// Who moved it (absent for the engine's own steps).
    pub handler: Option<String>,
    /// Free-text note.
    pub note: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// `GET /v1/warnings/{id}`: the warning JSON's fields in its order, then its handling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningView {
    /// Deterministic warning id.
    pub warning_id: String,
    /// The rule that fired.
    pub rule_id: String,
    /// Its version.
    pub rule_version: u32,
    /// The official.
    pub official_id: String,
    /// Key fields.
    pub key: KeyMap,
    /// yellow or red.
    pub level: Level,
    /// The event whose window fired.
    pub trigger_event_id: String,
    /// Its event time (RFC 3339).
    pub occurred_at: String,
    /// The window.
    pub window: TimeRange,
    /// The rule's measures.
    pub measures: Measures,
    /// The conditions of the level that fired, with the measured values.
    pub conditions: Vec<ConditionView>,
    /// Contributing events.
    pub evidence: Evidence,
    /// Rendered title.
    pub title: String,
    /// Processing time (RFC 3339).
    pub detected_at: String,
    /// Lifecycle status.
    pub status: WarningStatus,
    /// Handling steps, oldest first.
    pub history: Vec<HistoryEntry>,
    /// The case it is attached to, if any.
    pub case_id: Option<String>,
    /// Whether it has been escalated.
    pub escalated: bool,
    /// The official's region (scope check).
    pub region: String,
    /// The official's organisation unit (scope check).
    pub org_unit: String,
}

/// `GET /v1/rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesView {
    /// The loaded pack's name.
    pub pack: String,
    /// Its version.
    pub version: String,
    /// Its rules, in pack order.
    pub rules: Vec<RuleInfo>,
}

/// One rule of the loaded pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Rule id.
    pub rule_id: String,
    /// Rule version.
    pub version: u32,
    /// Title template, if any.
    pub title: Option<String>,
    /// Description, if any.
    pub description: Option<String>,
    /// Window length as written in the pack (`"30d"`).
    pub window: String,
    /// The field its value measures (`sum`, `avg`, `min`, `max`) read, if any;
    /// `amount_cents` means those measures are money in minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_maps_and_measures_keep_their_order() {
        let k = KeyMap::from_pairs([("z", "1"), ("a", "2")]);
        let json = serde_json::to_string(&k).unwrap();
        assert_eq!(json, r#"{"z":"1","a":"2"}"#);
        assert_eq!(serde_json::from_str::<KeyMap>(&json).unwrap(), k);
        let m = Measures(vec![
            ("count".into(), MeasureValue::Int(2)),
            ("avg".into(), MeasureValue::Float(1.5)),
        ]);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"count":2,"avg":1.5}"#);
        assert_eq!(serde_json::from_str::<Measures>(&json).unwrap(), m);
    }
}
