//! The internal event type every codec decodes into, and field access by name.

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::time::Timestamp;

/// A scalar attribute value (the contract allows string, number and bool).
/// (Serde derives are for snapshots of evidence copies; the contract's JSON form is
/// written by [`PowerEvent`]'s own `Serialize`.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AttrValue {
    /// A string.
    Str(CompactString),
    /// An integer that fits i64.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// One exercise of public power by one official (contract: "Event (input)").
#[derive(Debug, Clone, PartialEq)]
pub struct PowerEvent {
    /// Unique per event; repeats are duplicates.
    pub event_id: CompactString,
    /// The official who exercised the power; the partition key.
    pub official_id: CompactString,
    /// approval, payment, appointment, procurement, ... (open set).
    pub kind: CompactString,
    /// Event time.
    pub occurred_at: Timestamp,
    /// Provenance.
    pub source_system: Option<CompactString>,
    /// Organisational unit (scope).
    pub org_unit: Option<CompactString>,
    /// Region (scope).
    pub region: Option<CompactString>,
    /// Payee, applicant, supplier or appointee.
    pub counterparty: Option<CompactString>,
    /// Money in minor units.
    pub amount_cents: Option<i64>,
    /// Kind-specific attributes, in input order, names unique.
    pub attributes: Vec<(CompactString, AttrValue)>,
}

impl PowerEvent {
    /// A minimal event (used by tests, generators and benchmarks).
    pub fn new(event_id: &str, official_id: &str, kind: &str, occurred_at: Timestamp) -> Self {
        PowerEvent {
            event_id: event_id.into(),
            official_id: official_id.into(),
            kind: kind.into(),
            occurred_at,
            source_system: None,
            org_unit: None,
            region: None,
            counterparty: None,
            amount_cents: None,
            attributes: Vec::new(),
        }
    }

    /// The attribute named `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Reads a field by reference.
    #[inline]
    pub fn field(&self, field: &FieldRef) -> Option<FieldValue<'_>> {
        fn s(v: &CompactString) -> FieldValue<'_> {
            FieldValue::Str(v.as_str())
        }
        match field {
            FieldRef::EventId => Some(s(&self.event_id)),
            FieldRef::OfficialId => Some(s(&self.official_id)),
            FieldRef::Kind => Some(s(&self.kind)),
            FieldRef::SourceSystem => self.source_system.as_ref().map(s),
            FieldRef::OrgUnit => self.org_unit.as_ref().map(s),
            FieldRef::Region => self.region.as_ref().map(s),
            FieldRef::Counterparty => self.counterparty.as_ref().map(s),
            FieldRef::AmountCents => self.amount_cents.map(FieldValue::Int),
            FieldRef::Attribute(name) => self.attribute(name).map(|v| match v {
                AttrValue::Str(x) => FieldValue::Str(x.as_str()),
                AttrValue::Int(x) => FieldValue::Int(*x),
                AttrValue::Float(x) => FieldValue::Float(*x),
                AttrValue::Bool(x) => FieldValue::Bool(*x),
            }),
        }
    }
}

/// A borrowed field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A string.
    Str(&'a str),
    /// An integer.
    Int(i64),
    /// A non-integer number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl FieldValue<'_> {
    /// The value as a number, if it is one.
    #[inline]
    pub fn as_f64(self) -> Option<f64> {
        match self {
            FieldValue::Int(v) => Some(v as f64),
            FieldValue::Float(v) => Some(v),
            _ => None,
        }
    }

    /// Appends the canonical text form (used in group keys and titles).
    pub fn write_text(self, out: &mut CompactString) {
        use std::fmt::Write;
        match self {
            FieldValue::Str(v) => out.push_str(v),
            FieldValue::Int(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::Float(v) => {
                let _ = write!(out, "{v}");
            }
            FieldValue::Bool(v) => out.push_str(if v { "true" } else { "false" }),
        }
    }
}

/// A named event field: one of the contract's top-level fields or `attributes.NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// `event_id`
    EventId,
    /// `official_id`
    OfficialId,
    /// `kind`
    Kind,
    /// `source_system`
    SourceSystem,
    /// `org_unit`
    OrgUnit,
    /// `region`
    Region,
    /// `counterparty`
    Counterparty,
    /// `amount_cents`
    AmountCents,
    /// `attributes.NAME`
    Attribute(CompactString),
}

impl FieldRef {
    /// Parses a field name as written in rule packs (`counterparty`, `attributes.rank`).
    pub fn parse(name: &str) -> Option<FieldRef> {
        Some(match name {
            "event_id" => FieldRef::EventId,
            "official_id" => FieldRef::OfficialId,
            "kind" => FieldRef::Kind,
            "source_system" => FieldRef::SourceSystem,
            "org_unit" => FieldRef::OrgUnit,
            "region" => FieldRef::Region,
            "counterparty" => FieldRef::Counterparty,
            "amount_cents" => FieldRef::AmountCents,
            _ => {
                let attr = name.strip_prefix("attributes.")?;
                if attr.is_empty() {
                    return None;
                }
                FieldRef::Attribute(attr.into())
            }
        })
    }

    /// The name used in warnings' `key` objects and title templates
    /// (`counterparty`, or the bare attribute name).
    pub fn key_name(&self) -> &str {
        match self {
            FieldRef::EventId => "event_id",
            FieldRef::OfficialId => "official_id",
            FieldRef::Kind => "kind",
            FieldRef::SourceSystem => "source_system",
            FieldRef::OrgUnit => "org_unit",
            FieldRef::Region => "region",
            FieldRef::Counterparty => "counterparty",
            FieldRef::AmountCents => "amount_cents",
            FieldRef::Attribute(name) => name,
        }
    }
}

impl Serialize for PowerEvent {
    /// The contract's JSON form: snake_case names, absent optional fields omitted,
    /// `occurred_at` in RFC 3339 UTC.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("event_id", self.event_id.as_str())?;
        map.serialize_entry("official_id", self.official_id.as_str())?;
        map.serialize_entry("kind", self.kind.as_str())?;
        map.serialize_entry("occurred_at", &self.occurred_at.to_string())?;
        for (name, value) in [
            ("source_system", &self.source_system),
            ("org_unit", &self.org_unit),
            ("region", &self.region),
            ("counterparty", &self.counterparty),
        ] {
            if let Some(v) = value {
                map.serialize_entry(name, v.as_str())?;
            }
        }
        if let Some(amount) = self.amount_cents {
            map.serialize_entry("amount_cents", &amount)?;
        }
        if !self.attributes.is_empty() {
            map.serialize_entry("attributes", &AttributesJson(&self.attributes))?;
        }
        map.end()
    }
}

/// Attributes as a JSON object, values in their own types.
pub(crate) struct AttributesJson<'a>(pub &'a [(CompactString, AttrValue)]);

impl Serialize for AttributesJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            match value {
                AttrValue::Str(v) => map.serialize_entry(name.as_str(), v.as_str())?,
                AttrValue::Int(v) => map.serialize_entry(name.as_str(), v)?,
                AttrValue::Float(v) => map.serialize_entry(name.as_str(), v)?,
                AttrValue::Bool(v) => map.serialize_entry(name.as_str(), v)?,
            }
        }
        map.end()
    }
}
