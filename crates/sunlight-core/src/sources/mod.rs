//! Source mappings: department data (Debezium change events or plain JSON rows) to
//! Sunlight events, declared per input topic in a TOML file (docs/SOURCES.md).
//!
//! A [`Source`] reads a record in one pass ([`record`]), checks each event rule's
//! conditions in order, and fills the first matching rule's event fields from
//! paths, templates, constants and code tables, with money to exact cents
//! ([`money`]) and local times to instants ([`clock`]). A record maps to one event,
//! to nothing (a tombstone, an ignored delete, no rule matched), or is refused with
//! reason `unmappable` and a detail naming the source, the rule and the field.
//! `sunlight replay` and `sunlight run` use the same code, so the same record maps
//! the same way in both.

pub mod clock;
mod compile;
pub mod money;
pub mod record;
mod spec;

use std::collections::BTreeMap;
use std::path::Path;

use compact_str::CompactString;
use jiff::tz::TimeZone;

pub use compile::compile;

use self::clock::TimeFormat;
use self::money::{MoneyUnit, Rounding};
use self::record::{Found, NotScalar, PathTree, Scalar, scalar};
use crate::codec::{DecodeError, DecodeLimits, Reason};
use crate::event::{AttrValue, PowerEvent};

/// A mapping file, checked and compiled.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Its sources, in file order.
    pub sources: Vec<Source>,
}

/// Every problem found in a mapping file, each naming the source and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct SourceError {
    /// One line per problem.
    pub problems: Vec<String>,
}

impl SourceFile {
    /// Reads and compiles the mapping file at `path`.
    pub fn load(path: &Path) -> Result<SourceFile, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError {
            problems: vec![format!("{}: cannot read: {e}", path.display())],
        })?;
        compile(&text, &path.display().to_string())
    }

    /// The source mapping `topic`, if any.
    pub fn for_topic(&self, topic: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|s| s.topics.iter().any(|t| t == topic))
    }

    /// The source named `name`.
    pub fn named(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// What one record became.
#[derive(Debug, Clone, PartialEq)]
// The event moves on by value into the engine: boxing it would cost an allocation
// per record for the rare skipped one's sake.
#[allow(clippy::large_enum_variant)]
pub enum Mapped {
    /// An event.
    Event(PowerEvent),
    /// Nothing, and why (not an error: the record is consumed and counted).
    Nothing(Skipped),
}

/// Why a record maps to nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// An empty or `null` record (a Kafka tombstone).
    Tombstone,
    /// A Debezium delete, ignored (`deletes = "ignore"`, the default).
    Delete,
    /// No event rule's conditions hold.
    NoRuleMatched,
}

impl Skipped {
    /// A snake_case code (summaries, metrics).
    pub fn code(self) -> &'static str {
        match self {
            Skipped::Tombstone => "tombstone",
            Skipped::Delete => "delete",
            Skipped::NoRuleMatched => "no_rule_matched",
        }
    }
}

/// One department feed's mapping.
#[derive(Debug, Clone)]
pub struct Source {
    /// Its name (messages, dead-letter details).
    pub name: String,
    /// The input topics it maps.
    pub topics: Vec<String>,
    format: Format,
    deletes: Deletes,
    tree: PathTree,
    /// The slot of `op` (Debezium's operation).
    op: usize,
    /// The slot of `payload` (the change inside JsonConverter's schema wrapper).
    payload: usize,
    rules: Vec<EventRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Debezium,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deletes {
    Ignore,
    Map,
}

#[derive(Debug, Clone)]
struct EventRule {
    label: String,
    when: Vec<Condition>,
    event_id: Field,
    official_id: Field,
    kind: Field,
    occurred_at: Field,
    source_system: Option<Field>,
    org_unit: Option<Field>,
    region: Option<Field>,
    counterparty: Option<Field>,
    amount_cents: Option<Field>,
    /// Name, field, required.
    attributes: Vec<(CompactString, Field, bool)>,
    /// Every field of the object at this slot becomes an attribute.
    attributes_from: Option<usize>,
}

#[derive(Debug, Clone)]
struct Condition {
    slot: usize,
    kind: ConditionKind,
}

#[derive(Debug, Clone)]
enum ConditionKind {
    Equals(String),
    NotEquals(String),
    OneOf(Vec<String>),
    Exists(bool),
}

#[derive(Debug, Clone)]
struct Field {
    value: Value,
    codes: Option<BTreeMap<String, String>>,
    default: Option<String>,
    convert: Convert,
}

#[derive(Debug, Clone)]
enum Value {
    Path(usize),
    Template(Vec<Piece>),
    Const(String),
}

#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// Alternatives: the first present.
    Path(Vec<usize>),
}

#[derive(Debug, Clone)]
enum Convert {
    None,
    /// A number from a JSON number or decimal text (attributes).
    Number,
    /// Money in a unit; the scale when it is a base64 Connect `Decimal`.
    Money(MoneyUnit, Rounding, Option<u32>),
    Time(TimeFormat, TimeZone),
}

/// A value read for a field: its text, and whether it was a JSON number or bool.
struct Read<'a> {
    text: std::borrow::Cow<'a, str>,
    number: bool,
    boolean: Option<bool>,
}

impl<'a> From<Scalar<'a>> for Read<'a> {
    fn from(s: Scalar<'a>) -> Self {
        Read {
            number: matches!(s, Scalar::Num(_)),
            boolean: match s {
                Scalar::Bool(b) => Some(b),
                _ => None,
            },
            text: match s {
                Scalar::Str(s) => s,
                other => other.text().to_string().into(),
            },
        }
    }
}

impl Source {
    /// Maps one record's value (`bytes`: JSON) within the default decoder limits.
    pub fn map(&self, bytes: &[u8]) -> Result<Mapped, DecodeError> {
        self.map_within(bytes, &DecodeLimits::default())
    }

    /// Maps one record's value within `limits`, as the decoder of native events
    /// applies them: the record's size, id and string lengths, attribute count
    /// (`too_large` beyond them).
    pub fn map_within(&self, bytes: &[u8], limits: &DecodeLimits) -> Result<Mapped, DecodeError> {
        if bytes.len() > limits.max_message_bytes {
            return Err(DecodeError::new(
                Reason::TooLarge,
                format!(
                    "source {}: record of {} bytes exceeds the limit of {} bytes",
                    self.name,
                    bytes.len(),
                    limits.max_message_bytes
                ),
            ));
        }
        let mapped = self.map_unbounded(bytes)?;
        if let Mapped::Event(event) = &mapped {
            self.check_limits(event, limits)?;
        }
        Ok(mapped)
    }

    fn check_limits(&self, e: &PowerEvent, limits: &DecodeLimits) -> Result<(), DecodeError> {
        let too_large = |field: &str, what: String| {
            Err(DecodeError::new(
                Reason::TooLarge,
                format!("source {}, field {field}: {what}", self.name),
            ))
        };
        for (field, value) in [
            ("event_id", &e.event_id),
            ("official_id", &e.official_id),
            ("kind", &e.kind),
        ] {
            if value.len() > limits.max_id_bytes {
                return too_large(
                    field,
                    format!(
                        "{} bytes exceed the limit of {}",
                        value.len(),
                        limits.max_id_bytes
                    ),
                );
            }
        }
        for (field, value) in [
            ("source_system", &e.source_system),
            ("org_unit", &e.org_unit),
            ("region", &e.region),
            ("counterparty", &e.counterparty),
        ] {
            if let Some(v) = value
                && v.len() > limits.max_string_bytes
            {
                return too_large(
                    field,
                    format!(
                        "{} bytes exceed the limit of {}",
                        v.len(),
                        limits.max_string_bytes
                    ),
                );
            }
        }
        if e.attributes.len() > limits.max_attributes {
            return too_large(
                "attributes",
                format!(
                    "{} attributes exceed the limit of {}",
                    e.attributes.len(),
                    limits.max_attributes
                ),
            );
        }
        for (name, value) in &e.attributes {
            if let AttrValue::Str(v) = value
                && v.len() > limits.max_string_bytes
            {
                return too_large(
                    &format!("attributes.{name}"),
                    format!(
                        "{} bytes exceed the limit of {}",
                        v.len(),
                        limits.max_string_bytes
                    ),
                );
            }
        }
        Ok(())
    }

    fn map_unbounded(&self, bytes: &[u8]) -> Result<Mapped, DecodeError> {
        let text = crate::codec::utf8(bytes).map_err(|e| {
            DecodeError::new(Reason::InvalidUtf8, format!("source {}: {e}", self.name))
        })?;
        if text.trim().is_empty() || text.trim() == "null" {
            return Ok(Mapped::Nothing(Skipped::Tombstone));
        }
        let invalid = |e: serde_json::Error| {
            let detail = match e.classify() {
                serde_json::error::Category::Data => format!("expected a JSON object: {e}"),
                _ => e.to_string(),
            };
            DecodeError::new(
                Reason::InvalidJson,
                format!("source {}: {detail}", self.name),
            )
        };
        let found = match self.format {
            // One pass over the record: the wanted fields are kept, the rest checked
            // and skipped.
            Format::Json => self.tree.read_text(text).map_err(invalid)?,
            Format::Debezium => {
                // One pass over the record; a wrapped change (JsonConverter with
                // schemas) is read again from its payload only.
                let found = self.tree.read_text(text).map_err(invalid)?;
                if found[self.op].is_some() {
                    found
                } else {
                    match found[self.payload] {
                        Some(p) if p.get().trim() == "null" => {
                            return Ok(Mapped::Nothing(Skipped::Tombstone));
                        }
                        Some(p) if p.get().trim_start().starts_with('{') => {
                            self.tree.read(p).map_err(invalid)?
                        }
                        _ => {
                            return Err(self.unmappable(
                                None,
                                "op",
                                "not a Debezium change event: no op, and no payload object",
                            ));
                        }
                    }
                }
            }
        };
        if self.format == Format::Debezium {
            let op = self.text_at(&found, self.op);
            if op.is_none() {
                return Err(self.unmappable(
                    None,
                    "op",
                    "a Debezium change event has an op (c, u, d or r)",
                ));
            }
            if op.as_deref() == Some("d") && self.deletes == Deletes::Ignore {
                return Ok(Mapped::Nothing(Skipped::Delete));
            }
        }
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| r.when.iter().all(|c| self.holds(c, &found)))
        else {
            return Ok(Mapped::Nothing(Skipped::NoRuleMatched));
        };
        self.event(rule, &found).map(Mapped::Event)
    }

    fn text_at<'a>(&self, found: &Found<'a>, slot: usize) -> Option<std::borrow::Cow<'a, str>> {
        let raw = found[slot]?;
        match scalar(raw) {
            Ok(Scalar::Str(s)) => Some(s),
            Ok(other) => Some(other.text().to_string().into()),
            Err(_) => None,
        }
    }

    fn holds(&self, c: &Condition, found: &Found<'_>) -> bool {
        let value = self.text_at(found, c.slot);
        match &c.kind {
            ConditionKind::Equals(v) => value.as_deref() == Some(v.as_str()),
            ConditionKind::NotEquals(v) => value.as_deref() != Some(v.as_str()),
            ConditionKind::OneOf(vs) => value.is_some_and(|x| vs.iter().any(|v| *v == x)),
            ConditionKind::Exists(e) => value.is_some() == *e,
        }
    }

    fn unmappable(&self, rule: Option<&EventRule>, field: &str, message: &str) -> DecodeError {
        let rule = rule.map(|r| format!(", {}", r.label)).unwrap_or_default();
        DecodeError::new(
            Reason::Unmappable,
            format!("source {}{rule}, field {field}: {message}", self.name),
        )
    }

    /// The value of `field` (None: absent, no default).
    fn read<'a>(
        &self,
        rule: &EventRule,
        name: &str,
        field: &'a Field,
        found: &Found<'a>,
    ) -> Result<Option<Read<'a>>, DecodeError> {
        let mut read = match &field.value {
            Value::Const(c) => Some(Read {
                text: c.as_str().into(),
                number: false,
                boolean: None,
            }),
            Value::Path(slot) => match found[*slot].map(scalar) {
                None | Some(Err(NotScalar::Null)) => None,
                Some(Err(NotScalar::Composite)) => {
                    return Err(self.unmappable(
                        Some(rule),
                        name,
                        &format!(
                            "{} is an object or array, not a value",
                            self.tree.path(*slot)
                        ),
                    ));
                }
                Some(Ok(s)) => Some(Read::from(s)),
            },
            Value::Template(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Path(alternatives) => {
                            let Some(v) = alternatives.iter().find_map(|s| self.text_at(found, *s))
                            else {
                                let paths: Vec<&str> =
                                    alternatives.iter().map(|s| self.tree.path(*s)).collect();
                                return Err(self.unmappable(
                                    Some(rule),
                                    name,
                                    &format!(
                                        "template placeholder {{{}}}: none of its paths is present",
                                        paths.join("|")
                                    ),
                                ));
                            };
                            out.push_str(&v);
                        }
                    }
                }
                Some(Read {
                    text: out.into(),
                    number: false,
                    boolean: None,
                })
            }
        };
        if let (Some(codes), Some(r)) = (&field.codes, &read) {
            read = codes.get(r.text.as_ref()).map(|c| Read {
                text: c.as_str().into(),
                number: false,
                boolean: None,
            });
            if read.is_none() && field.default.is_none() {
                let seen = self.describe(field, found);
                return Err(self.unmappable(
                    Some(rule),
                    name,
                    &format!("{seen} has no entry in the code table"),
                ));
            }
        }
        Ok(read.or_else(|| {
            field.default.as_ref().map(|d| Read {
                text: d.as_str().into(),
                number: false,
                boolean: None,
            })
        }))
    }

    /// What a field read, for messages.
    fn describe(&self, field: &Field, found: &Found<'_>) -> String {
        match &field.value {
            Value::Path(slot) => format!(
                "{} = {:?}",
                self.tree.path(*slot),
                self.text_at(found, *slot).unwrap_or_default()
            ),
            _ => "the value".into(),
        }
    }

    fn text(
        &self,
        rule: &EventRule,
        name: &str,
        field: &Field,
        found: &Found<'_>,
        required: bool,
    ) -> Result<Option<CompactString>, DecodeError> {
        match self.read(rule, name, field, found)? {
            Some(r) if r.text.is_empty() && required => Err(self.unmappable(
                Some(rule),
                name,
                &format!("{} is empty", self.source_of(field)),
            )),
            Some(r) => Ok(Some(CompactString::from(r.text.as_ref()))),
            None if required => Err(self.unmappable(
                Some(rule),
                name,
                &format!("{} is missing", self.source_of(field)),
            )),
            None => Ok(None),
        }
    }

    fn source_of(&self, field: &Field) -> String {
        match &field.value {
            Value::Path(slot) => self.tree.path(*slot).to_string(),
            Value::Template(_) => "the template".into(),
            Value::Const(_) => "the value".into(),
        }
    }

    fn event(&self, rule: &EventRule, found: &Found<'_>) -> Result<PowerEvent, DecodeError> {
        let required = |name: &str, field: &Field| -> Result<CompactString, DecodeError> {
            Ok(self
                .text(rule, name, field, found, true)?
                .expect("required fields are present"))
        };
        let optional =
            |name: &str, field: &Option<Field>| -> Result<Option<CompactString>, DecodeError> {
                match field {
                    Some(f) => self.text(rule, name, f, found, false),
                    None => Ok(None),
                }
            };
        let event_id = required("event_id", &rule.event_id)?;
        let official_id = required("official_id", &rule.official_id)?;
        let kind = required("kind", &rule.kind)?;
        let occurred_at = match &rule.occurred_at.convert {
            Convert::Time(format, tz) => {
                let text = required("occurred_at", &rule.occurred_at)?;
                clock::to_timestamp(&text, format, tz).map_err(|m| {
                    self.unmappable(
                        Some(rule),
                        "occurred_at",
                        &format!("{}: {m}", self.source_of(&rule.occurred_at)),
                    )
                })?
            }
            _ => unreachable!("occurred_at is compiled as a time"),
        };
        let amount_cents = match &rule.amount_cents {
            Some(f) => self.money(rule, "amount_cents", f, found)?,
            None => None,
        };
        let mut attributes = match rule.attributes_from {
            Some(slot) => self.copied_attributes(rule, slot, found)?,
            None => Vec::with_capacity(rule.attributes.len()),
        };
        for (name, field, required) in &rule.attributes {
            let label = format!("attributes.{name}");
            let value = match &field.convert {
                Convert::Money(..) => self.money(rule, &label, field, found)?.map(AttrValue::Int),
                Convert::Number => match self.read(rule, &label, field, found)? {
                    // A JSON number is one already (exponents included).
                    Some(r) if r.number => Some(attribute(&r)),
                    Some(r) => Some(number(&r.text).map_err(|m| {
                        self.unmappable(
                            Some(rule),
                            &label,
                            &format!("{}: {m}", self.source_of(field)),
                        )
                    })?),
                    None => None,
                },
                _ => self
                    .read(rule, &label, field, found)?
                    .map(|r| attribute(&r)),
            };
            match value {
                Some(v) => match attributes.iter_mut().find(|(n, _)| n == name) {
                    Some(entry) => entry.1 = v,
                    None => attributes.push((name.clone(), v)),
                },
                None if *required => {
                    return Err(self.unmappable(
                        Some(rule),
                        &label,
                        &format!("{} is missing", self.source_of(field)),
                    ));
                }
                None => {}
            }
        }
        Ok(PowerEvent {
            event_id,
            official_id,
            kind,
            occurred_at,
            source_system: optional("source_system", &rule.source_system)?,
            org_unit: optional("org_unit", &rule.org_unit)?,
            region: optional("region", &rule.region)?,
            counterparty: optional("counterparty", &rule.counterparty)?,
            amount_cents,
            attributes,
        })
    }

    /// The fields of the object at `slot`, as attributes in their order.
    fn copied_attributes(
        &self,
        rule: &EventRule,
        slot: usize,
        found: &Found<'_>,
    ) -> Result<Vec<(CompactString, AttrValue)>, DecodeError> {
        let label = "attributes_from";
        let Some(raw) = found[slot] else {
            return Ok(Vec::new());
        };
        let text = raw.get().trim_start();
        if text.starts_with("null") {
            return Ok(Vec::new());
        }
        if !text.starts_with('{') {
            return Err(self.unmappable(
                Some(rule),
                label,
                &format!("{} is not an object", self.tree.path(slot)),
            ));
        }
        let entries = record::entries(raw).map_err(|e| {
            DecodeError::new(Reason::InvalidJson, format!("source {}: {e}", self.name))
        })?;
        let mut out = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            let read = match scalar(value) {
                Err(NotScalar::Null) => continue,
                Err(NotScalar::Composite) => {
                    return Err(self.unmappable(
                        Some(rule),
                        &format!("attributes.{name}"),
                        &format!(
                            "{}.{name} is an object or array, not a value",
                            self.tree.path(slot)
                        ),
                    ));
                }
                Ok(s) => Read::from(s),
            };
            out.push((CompactString::from(name), attribute(&read)));
        }
        Ok(out)
    }

    fn money(
        &self,
        rule: &EventRule,
        name: &str,
        field: &Field,
        found: &Found<'_>,
    ) -> Result<Option<i64>, DecodeError> {
        let Convert::Money(unit, rounding, scale) = field.convert else {
            unreachable!("money fields are compiled as money")
        };
        let Some(read) = self.read(rule, name, field, found)? else {
            return Ok(None);
        };
        let decimal;
        let text = match scale {
            None => read.text.as_ref(),
            Some(scale) => {
                decimal = money::connect_decimal(&read.text, scale).map_err(|m| {
                    self.unmappable(Some(rule), name, &format!("{}: {m}", self.source_of(field)))
                })?;
                decimal.as_str()
            }
        };
        money::to_cents(text, unit, rounding)
            .map(Some)
            .map_err(|m| {
                self.unmappable(Some(rule), name, &format!("{}: {m}", self.source_of(field)))
            })
    }
}

/// A number attribute from decimal text (`-12`, `85.50`): an integer when it has no
/// fraction, else a float. Exponents, `NaN` and spaces are refused.
fn number(text: &str) -> Result<AttrValue, String> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !fraction.is_none_or(all_digits) {
        return Err(format!("{text:?} is not a decimal number"));
    }
    match fraction {
        None => text
            .parse::<i64>()
            .map(AttrValue::Int)
            .map_err(|_| format!("{text:?} is out of the integer range")),
        Some(_) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(AttrValue::Float(f)),
            _ => Err(format!("{text:?} is out of the number range")),
        },
    }
}

/// An attribute value: numbers as integers where they are, booleans as booleans.
fn attribute(r: &Read<'_>) -> AttrValue {
    if let Some(b) = r.boolean {
        return AttrValue::Bool(b);
    }
    if r.number {
        if let Ok(i) = r.text.parse::<i64>() {
            return AttrValue::Int(i);
        }
        if let Ok(f) = r.text.parse::<f64>() {
            return AttrValue::Float(f);
        }
    }
    AttrValue::Str(CompactString::from(r.text.as_ref()))
}

#[cfg(test)]
mod tests;
