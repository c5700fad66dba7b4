//! The mapping file as written (TOML), before checking: see docs/SOURCES.md.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::money::{MoneyUnit, Rounding};

/// A mapping file: one or more sources.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSpec {
    #[serde(default)]
    pub(super) source: Vec<SourceSpec>,
}

/// One department feed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceSpec {
    pub(super) name: String,
    /// The input topics carrying it.
    #[serde(default)]
    pub(super) topics: Vec<String>,
    /// `debezium` (change events, with or without the schema/payload wrapper) or
    /// `json` (one row or document per record).
    pub(super) format: String,
    /// The zone of local times (IANA name); UTC if absent.
    pub(super) timezone: Option<String>,
    /// `ignore` (default) or `map`: whether event rules see Debezium deletes.
    pub(super) deletes: Option<String>,
    /// Event rules, tried in order; the first whose conditions hold maps the record.
    #[serde(default)]
    pub(super) event: Vec<EventSpec>,
}

/// How one kind of record becomes an event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventSpec {
    /// A label for messages (`event 2` if absent).
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) when: Vec<ConditionSpec>,
    pub(super) event_id: Option<FieldSpec>,
    pub(super) official_id: Option<FieldSpec>,
    pub(super) kind: Option<FieldSpec>,
    pub(super) occurred_at: Option<FieldSpec>,
    pub(super) source_system: Option<FieldSpec>,
    pub(super) org_unit: Option<FieldSpec>,
    pub(super) region: Option<FieldSpec>,
    pub(super) counterparty: Option<FieldSpec>,
    pub(super) amount_cents: Option<FieldSpec>,
    #[serde(default)]
    pub(super) attributes: BTreeMap<String, FieldSpec>,
    /// Every field of the object at this path becomes an attribute, in its order
    /// (`attributes` entries of the same name take their place).
    pub(super) attributes_from: Option<String>,
}

/// One condition on a record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConditionSpec {
    pub(super) path: String,
    pub(super) equals: Option<Literal>,
    pub(super) not_equals: Option<Literal>,
    pub(super) one_of: Option<Vec<Literal>>,
    pub(super) exists: Option<bool>,
}

/// A constant in a mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Literal {
    Text(String),
    Integer(i64),
    Boolean(bool),
}

impl Literal {
    pub(super) fn text(&self) -> String {
        match self {
            Literal::Text(s) => s.clone(),
            Literal::Integer(i) => i.to_string(),
            Literal::Boolean(b) => b.to_string(),
        }
    }
}

/// How one event field is filled: a constant, or a table.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum FieldSpec {
    Constant(Literal),
    Table(FieldTable),
}

/// The long form of a field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FieldTable {
    /// A path into the record.
    pub(super) path: Option<String>,
    /// Text with `{path}` placeholders (`{a|b}`: the first present).
    pub(super) template: Option<String>,
    /// A constant.
    pub(super) value: Option<Literal>,
    /// A code table: the value read is replaced by its entry.
    pub(super) codes: Option<BTreeMap<String, String>>,
    /// The value when the path is absent (or has no code-table entry).
    pub(super) default: Option<Literal>,
    /// The value is money in this unit (`amount_cents` and attributes).
    pub(super) money: Option<MoneyUnit>,
    /// The money is a Kafka Connect `Decimal` (Debezium's default
    /// `decimal.handling.mode=precise`): base64 of the unscaled two's-complement
    /// integer, with this scale (the column's: `DECIMAL(12,2)` has 2).
    pub(super) decimal_scale: Option<u32>,
    /// Rounding below a cent (refused by default).
    pub(super) round: Option<Rounding>,
    /// The value is a number, written as a JSON number or as decimal text
    /// (attributes): `"85.50"` becomes 85.5, `"60"` becomes 60.
    pub(super) number: Option<bool>,
    /// The value is a time in this format (`occurred_at`).
    pub(super) time: Option<String>,
    /// The zone of this field's local times, overriding the source's.
    pub(super) timezone: Option<String>,
    /// The attribute is required (attributes are left out when absent by default).
    pub(super) required: Option<bool>,
}
