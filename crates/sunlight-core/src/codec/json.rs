//! JSON events: one object per message or line, contract field names plus the proto3
//! JSON mapping's lowerCamelCase aliases (`eventId`, `occurredAt`, ...).
//!
//! The decoder walks the object once with serde_json, borrowing strings from the
//! input where it can, and checks types itself so that every failure names its field.

use std::borrow::Cow;
use std::fmt;

use compact_str::CompactString;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{DecodeError, DecodeLimits, DecodeNotes, Reason};
use crate::event::{AttrValue, PowerEvent};
use crate::time::Timestamp;

/// Decodes one JSON event.
pub fn decode(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(PowerEvent, DecodeNotes), DecodeError> {
    limits.check_message_size(bytes.len())?;
    let text = crate::codec::utf8(bytes).map_err(|e| {
        DecodeError::new(
            Reason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let visitor = EventVisitor {
        limits,
        failure: &mut failure,
    };
    let result = de
        .deserialize_map(visitor)
        .and_then(|ok| de.end().map(|()| ok));
    match result {
        Ok(decoded) => Ok(decoded),
        Err(e) => Err(failure.unwrap_or_else(|| {
            let detail = match e.classify() {
                serde_json::error::Category::Data => format!("expected a JSON object: {e}"),
                _ => e.to_string(),
            };
            DecodeError::new(Reason::InvalidJson, detail)
        })),
    }
}

/// Appends the event as one JSON object (no newline) to `out`.
pub fn encode(event: &PowerEvent, out: &mut String) {
    // serde_json writes valid UTF-8 into the Vec; String::from_utf8 cannot fail.
    let mut bytes = std::mem::take(out).into_bytes();
    serde_json::to_writer(&mut bytes, event).expect("events always serialise");
    *out = String::from_utf8(bytes).expect("serde_json writes UTF-8");
}

/// The top-level fields, with their aliases.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    EventId,
    OfficialId,
    Kind,
    OccurredAt,
    SourceSystem,
    OrgUnit,
    Region,
    Counterparty,
    AmountCents,
    Attributes,
    Unknown,
}

impl Key {
    fn from_name(name: &str) -> Key {
        match name {
            "event_id" | "eventId" => Key::EventId,
            "official_id" | "officialId" => Key::OfficialId,
            "kind" => Key::Kind,
            "occurred_at" | "occurredAt" => Key::OccurredAt,
            "source_system" | "sourceSystem" => Key::SourceSystem,
            "org_unit" | "orgUnit" => Key::OrgUnit,
            "region" => Key::Region,
            "counterparty" => Key::Counterparty,
            "amount_cents" | "amountCents" => Key::AmountCents,
            "attributes" => Key::Attributes,
            _ => Key::Unknown,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Key::EventId => "event_id",
            Key::OfficialId => "official_id",
            Key::Kind => "kind",
            Key::OccurredAt => "occurred_at",
            Key::SourceSystem => "source_system",
            Key::OrgUnit => "org_unit",
            Key::Region => "region",
            Key::Counterparty => "counterparty",
            Key::AmountCents => "amount_cents",
            Key::Attributes => "attributes",
            Key::Unknown => "unknown",
        }
    }
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key::from_name(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Any JSON value, with scalars kept and containers skipped.
enum Scalar<'de> {
    Str(Cow<'de, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Object,
    Array,
}

impl Scalar<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "a string",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Null => "null",
            Scalar::Object => "an object",
            Scalar::Array => "an array",
        }
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scalar<'de>, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'de>, E> {
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar<'de>, E> {
                Ok(Scalar::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'de>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'de>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Array)
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// Visits the top-level object; on a semantic failure it records the precise
/// [`DecodeError`] in `failure` and aborts the parse.
struct EventVisitor<'a> {
    limits: &'a DecodeLimits,
    failure: &'a mut Option<DecodeError>,
}

impl EventVisitor<'_> {
    fn fail<E: de::Error>(&mut self, reason: Reason, detail: String) -> E {
        *self.failure = Some(DecodeError::new(reason, detail));
        E::custom("rejected")
    }

    fn string<E: de::Error>(
        &mut self,
        key: Key,
        value: Scalar<'_>,
        max: usize,
    ) -> Result<Option<CompactString>, E> {
        match value {
            Scalar::Str(s) if s.len() > max => Err(self.fail(
                Reason::TooLarge,
                format!("`{}` is {} bytes, longer than {max}", key.name(), s.len()),
            )),
            Scalar::Str(s) => Ok(Some(CompactString::from(s.as_ref()))),
            Scalar::Null => Ok(None),
            other => Err(self.fail(
                Reason::WrongType,
                format!(
                    "`{}` must be a string, found {}",
                    key.name(),
                    other.type_name()
                ),
            )),
        }
    }
}

impl<'de> Visitor<'de> for EventVisitor<'_> {
    type Value = (PowerEvent, DecodeNotes);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut notes = DecodeNotes::default();
        let mut event_id = None;
        let mut official_id = None;
        let mut kind = None;
        let mut occurred_at = None;
        let mut source_system = None;
        let mut org_unit = None;
        let mut region = None;
        let mut counterparty = None;
        let mut amount_cents = None;
        let mut attributes = Vec::new();
        let mut seen: u16 = 0;
        let limits = *self.limits;
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Unknown {
                map.next_value::<IgnoredAny>()?;
                notes.unknown_fields += 1;
                continue;
            }
            let bit = 1u16 << (key as u16);
            if seen & bit != 0 {
                return Err(self.fail(
                    Reason::InvalidJson,
                    format!("duplicate field `{}` (or its camelCase alias)", key.name()),
                ));
            }
            seen |= bit;
            if key == Key::Attributes {
                attributes = map.next_value_seed(AttributesSeed {
                    limits: self.limits,
                    failure: &mut *self.failure,
                })?;
                continue;
            }
            let value: Scalar<'de> = map.next_value()?;
            match key {
                Key::EventId => event_id = self.string(key, value, limits.max_id_bytes)?,
                Key::OfficialId => official_id = self.string(key, value, limits.max_id_bytes)?,
                Key::Kind => kind = self.string(key, value, limits.max_id_bytes)?,
                Key::SourceSystem => {
                    source_system = self.string(key, value, limits.max_string_bytes)?
                }
                Key::OrgUnit => org_unit = self.string(key, value, limits.max_string_bytes)?,
                Key::Region => region = self.string(key, value, limits.max_string_bytes)?,
                Key::Counterparty => {
                    counterparty = self.string(key, value, limits.max_string_bytes)?
                }
                Key::OccurredAt => match value {
                    Scalar::Str(s) => match Timestamp::parse_rfc3339(&s) {
                        Ok(t) => occurred_at = Some(t),
                        Err(e) => {
                            let shown: String = s.chars().take(64).collect();
                            return Err(self.fail(
                                Reason::InvalidTimestamp,
                                format!("`occurred_at` = {shown:?}: {e}"),
                            ));
                        }
                    },
                    Scalar::Null => {}
                    other => {
                        return Err(self.fail(
                            Reason::WrongType,
                            format!(
                                "`occurred_at` must be an RFC 3339 string, found {}",
                                other.type_name()
                            ),
                        ));
                    }
                },
                Key::AmountCents => amount_cents = self.amount(value)?,
                Key::Attributes | Key::Unknown => unreachable!("handled above"),
            }
        }
        let mut require = |value: Option<CompactString>, key: Key| match value {
            None => Err(self.fail(
                Reason::MissingField,
                format!("required field `{}` is missing", key.name()),
            )),
            Some(v) if v.is_empty() => Err(self.fail(
                Reason::EmptyField,
                format!("required field `{}` is empty", key.name()),
            )),
            Some(v) => Ok(v),
        };
        let event_id = require(event_id, Key::EventId)?;
        let official_id = require(official_id, Key::OfficialId)?;
        let kind = require(kind, Key::Kind)?;
        let Some(occurred_at) = occurred_at else {
            return Err(self.fail(
                Reason::MissingField,
                "required field `occurred_at` is missing".into(),
            ));
        };
        Ok((
            PowerEvent {
                event_id,
                official_id,
                kind,
                occurred_at,
                source_system,
                org_unit,
                region,
                counterparty,
                amount_cents,
                attributes,
            },
            notes,
        ))
    }
}

impl EventVisitor<'_> {
    /// `amount_cents`: an integer, an integral float, or (proto3 JSON) a decimal string.
    fn amount<E: de::Error>(&mut self, value: Scalar<'_>) -> Result<Option<i64>, E> {
        match value {
            Scalar::Int(v) => Ok(Some(v)),
            Scalar::Float(v) if v.fract() == 0.0 && v.abs() < 9.2e18 => Ok(Some(v as i64)),
            Scalar::Str(s) => s.parse::<i64>().map(Some).map_err(|_| {
                self.fail(
                    Reason::WrongType,
                    format!("`amount_cents` = {:?} is not an integer", truncate(&s)),
                )
            }),
            Scalar::Null => Ok(None),
            other => Err(self.fail(
                Reason::WrongType,
                format!(
                    "`amount_cents` must be an integer (minor units), found {}",
                    match other {
                        Scalar::Float(_) => "a fractional or huge number",
                        o => o.type_name(),
                    }
                ),
            )),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Decodes the `attributes` object into scalar attribute values.
struct AttributesSeed<'a> {
    limits: &'a DecodeLimits,
    failure: &'a mut Option<DecodeError>,
}

impl<'de> DeserializeSeed<'de> for AttributesSeed<'_> {
    type Value = Vec<(CompactString, AttrValue)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AttributesSeed<'_> {
    type Value = Vec<(CompactString, AttrValue)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of string, number or bool values")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(CompactString, AttrValue)> = Vec::new();
        while let Some(name) = map.next_key::<Scalar<'de>>()? {
            let Scalar::Str(name) = name else {
                unreachable!("JSON object keys are strings")
            };
            let value: Scalar<'de> = map.next_value()?;
            let mut fail = |reason, detail: String| {
                *self.failure = Some(DecodeError::new(reason, detail));
                de::Error::custom("rejected")
            };
            if out.len() >= self.limits.max_attributes {
                return Err(fail(
                    Reason::TooLarge,
                    format!("more than {} attributes", self.limits.max_attributes),
                ));
            }
            if name.len() > self.limits.max_id_bytes {
                return Err(fail(
                    Reason::TooLarge,
                    format!("attribute name of {} bytes is too long", name.len()),
                ));
            }
            if out.iter().any(|(n, _)| n == name.as_ref()) {
                return Err(fail(
                    Reason::InvalidJson,
                    format!("duplicate attribute `{}`", truncate(&name)),
                ));
            }
            let value = match value {
                Scalar::Str(s) if s.len() > self.limits.max_string_bytes => {
                    return Err(fail(
                        Reason::TooLarge,
                        format!("`attributes.{}` is {} bytes long", truncate(&name), s.len()),
                    ));
                }
                Scalar::Str(s) => AttrValue::Str(CompactString::from(s.as_ref())),
                Scalar::Int(v) => AttrValue::Int(v),
                Scalar::Float(v) => AttrValue::Float(v),
                Scalar::Bool(v) => AttrValue::Bool(v),
                Scalar::Null => continue,
                other @ (Scalar::Object | Scalar::Array) => {
                    return Err(fail(
                        Reason::WrongType,
                        format!(
                            "`attributes.{}` must be a string, number or bool, found {}",
                            truncate(&name),
                            other.type_name()
                        ),
                    ));
                }
            };
            out.push((CompactString::from(name.as_ref()), value));
        }
        Ok(out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        *self.failure = Some(DecodeError::new(
            Reason::WrongType,
            "`attributes` must be an object, found an array",
        ));
        Err(de::Error::custom("rejected"))
    }

    fn visit_str<E: de::Error>(self, _v: &str) -> Result<Self::Value, E> {
        self.wrong("a string")
    }
    fn visit_i64<E: de::Error>(self, _v: i64) -> Result<Self::Value, E> {
        self.wrong("a number")
    }
    fn visit_u64<E: de::Error>(self, _v: u64) -> Result<Self::Value, E> {
        self.wrong("a number")
    }
    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Self::Value, E> {
        self.wrong("a number")
    }
    fn visit_bool<E: de::Error>(self, _v: bool) -> Result<Self::Value, E> {
        self.wrong("a boolean")
    }
}

impl AttributesSeed<'_> {
    fn wrong<T, E: de::Error>(self, found: &str) -> Result<T, E> {
        *self.failure = Some(DecodeError::new(
            Reason::WrongType,
            format!("`attributes` must be an object, found {found}"),
        ));
        Err(E::custom("rejected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> PowerEvent {
        decode(text.as_bytes(), &DecodeLimits::default()).unwrap().0
    }

    fn err(text: &[u8]) -> (Reason, String) {
        let e = decode(text, &DecodeLimits::default()).unwrap_err();
        (e.reason, e.detail)
    }

    const FULL: &str = r#"{"event_id":"e1","official_id":"o1","kind":"payment","occurred_at":"2026-03-01T09:30:00+08:00","source_system":"fin","org_unit":"u1","region":"r1","counterparty":"c1","amount_cents":4800000,"attributes":{"invoice_no":"INV-1","bidders":1,"ratio":0.5,"urgent":true,"gone":null}}"#;

    #[test]
    fn decodes_every_field() {
        let e = ok(FULL);
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.official_id, "o1");
        assert_eq!(e.kind, "payment");
        assert_eq!(e.occurred_at.to_string(), "2026-03-01T01:30:00Z");
        assert_eq!(e.source_system.as_deref(), Some("fin"));
        assert_eq!(e.org_unit.as_deref(), Some("u1"));
        assert_eq!(e.region.as_deref(), Some("r1"));
        assert_eq!(e.counterparty.as_deref(), Some("c1"));
        assert_eq!(e.amount_cents, Some(4_800_000));
        assert_eq!(
            e.attributes,
            vec![
                ("invoice_no".into(), AttrValue::Str("INV-1".into())),
                ("bidders".into(), AttrValue::Int(1)),
                ("ratio".into(), AttrValue::Float(0.5)),
                ("urgent".into(), AttrValue::Bool(true)),
            ]
        );
    }

    #[test]
    fn accepts_camel_case_aliases_and_string_int64() {
        let e = ok(
            r#"{"eventId":"e1","officialId":"o1","kind":"payment","occurredAt":"2026-03-01T00:00:00Z","amountCents":"12","orgUnit":"u","sourceSystem":"s"}"#,
        );
        assert_eq!(e.event_id, "e1");
        assert_eq!(e.amount_cents, Some(12));
        assert_eq!(e.org_unit.as_deref(), Some("u"));
        assert_eq!(e.source_system.as_deref(), Some("s"));
    }

    #[test]
    fn counts_unknown_fields_and_unescapes_strings() {
        let (e, notes) = decode(
            br#"{"event_id":"e\u00e91","official_id":"o1","kind":"payment","occurred_at":"2026-03-01T00:00:00Z","extra":{"a":[1,2]},"more":1}"#,
            &DecodeLimits::default(),
        )
        .unwrap();
        assert_eq!(e.event_id, "e\u{e9}1");
        assert_eq!(notes.unknown_fields, 2);
    }

    #[test]
    fn rejects_with_precise_reasons() {
        let cases: &[(&[u8], Reason, &str)] = &[
            (b"{not json", Reason::InvalidJson, "key must be a string"),
            (b"[1,2]", Reason::InvalidJson, "expected a JSON object"),
            (b"", Reason::InvalidJson, "EOF"),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"} x"#,
                Reason::InvalidJson,
                "trailing",
            ),
            (b"\xff\xfe", Reason::InvalidUtf8, "byte 0"),
            (
                br#"{"official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"}"#,
                Reason::MissingField,
                "`event_id`",
            ),
            (
                br#"{"event_id":"","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"}"#,
                Reason::EmptyField,
                "`event_id`",
            ),
            (
                br#"{"event_id":5,"official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"}"#,
                Reason::WrongType,
                "`event_id` must be a string, found a number",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"yesterday"}"#,
                Reason::InvalidTimestamp,
                "\"yesterday\"",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":1700000000}"#,
                Reason::WrongType,
                "`occurred_at` must be an RFC 3339 string",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k"}"#,
                Reason::MissingField,
                "`occurred_at`",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z","amount_cents":1.5}"#,
                Reason::WrongType,
                "`amount_cents`",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z","attributes":{"x":[1]}}"#,
                Reason::WrongType,
                "`attributes.x`",
            ),
            (
                br#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z","attributes":[1]}"#,
                Reason::WrongType,
                "`attributes` must be an object",
            ),
            (
                br#"{"event_id":"e","eventId":"f","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"}"#,
                Reason::InvalidJson,
                "duplicate field `event_id`",
            ),
        ];
        for (input, reason, needle) in cases {
            let (got, detail) = err(input);
            assert_eq!(got, *reason, "{}: {detail}", String::from_utf8_lossy(input));
            assert!(
                detail.contains(needle),
                "{detail:?} should contain {needle:?}"
            );
        }
    }

    #[test]
    fn enforces_size_limits() {
        let limits = DecodeLimits {
            max_message_bytes: 300,
            max_id_bytes: 4,
            max_string_bytes: 8,
            max_attributes: 1,
        };
        let check = |text: &str, needle: &str| {
            let e = decode(text.as_bytes(), &limits).unwrap_err();
            assert_eq!(e.reason, Reason::TooLarge, "{text}");
            assert!(e.detail.contains(needle), "{}", e.detail);
        };
        check(&" ".repeat(301), "exceeds the limit");
        check(
            r#"{"event_id":"12345","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z"}"#,
            "`event_id` is 5 bytes",
        );
        check(
            r#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z","region":"123456789"}"#,
            "`region`",
        );
        check(
            r#"{"event_id":"e","official_id":"o","kind":"k","occurred_at":"2026-03-01T00:00:00Z","attributes":{"a":1,"b":2}}"#,
            "more than 1 attributes",
        );
    }
}
