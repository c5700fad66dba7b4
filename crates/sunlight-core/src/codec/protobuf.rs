//! Protobuf events (`sunlight.v1.PowerEvent`) and length-delimited event files.
//!
//! Unknown protobuf fields are skipped by prost and cannot be counted; every other
//! rule of the contract (required fields, limits) is the same as for JSON.

use compact_str::CompactString;
use prost::Message;
use sunlight_proto::v1;

use super::{DecodeError, DecodeLimits, DecodeNotes, Reason};
use crate::event::{AttrValue, PowerEvent};
use crate::time::Timestamp;

/// Decodes one protobuf `PowerEvent` message (no length prefix).
pub fn decode(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<(PowerEvent, DecodeNotes), DecodeError> {
    limits.check_message_size(bytes.len())?;
    let raw = v1::PowerEvent::decode(bytes).map_err(|e| {
        let text = e.to_string();
        let reason = if text.contains("UTF-8") {
            Reason::InvalidUtf8
        } else {
            Reason::InvalidProtobuf
        };
        DecodeError::new(reason, format!("not a sunlight.v1.PowerEvent: {text}"))
    })?;
    from_proto(raw, limits).map(|e| (e, DecodeNotes::default()))
}

/// Validates a decoded protobuf message into the internal event type.
pub fn from_proto(raw: v1::PowerEvent, limits: &DecodeLimits) -> Result<PowerEvent, DecodeError> {
    let required = |value: String, name: &str| -> Result<CompactString, DecodeError> {
        if value.is_empty() {
            return Err(DecodeError::new(
                Reason::MissingField,
                format!("required field `{name}` is missing or empty"),
            ));
        }
        if value.len() > limits.max_id_bytes {
            return Err(DecodeError::new(
                Reason::TooLarge,
                format!(
                    "`{name}` is {} bytes, longer than {}",
                    value.len(),
                    limits.max_id_bytes
                ),
            ));
        }
        Ok(CompactString::from(value))
    };
    let optional =
        |value: Option<String>, name: &str| -> Result<Option<CompactString>, DecodeError> {
            match value {
                Some(v) if v.len() > limits.max_string_bytes => Err(DecodeError::new(
                    Reason::TooLarge,
                    format!(
                        "`{name}` is {} bytes, longer than {}",
                        v.len(),
                        limits.max_string_bytes
                    ),
                )),
                other => Ok(other.map(CompactString::from)),
            }
        };
    let event_id = required(raw.event_id, "event_id")?;
    let official_id = required(raw.official_id, "official_id")?;
    let kind = required(raw.kind, "kind")?;
    let ts = raw.occurred_at.ok_or_else(|| {
        DecodeError::new(
            Reason::MissingField,
            "required field `occurred_at` is missing",
        )
    })?;
    let occurred_at = Timestamp::from_parts(ts.seconds, ts.nanos)
        .map_err(|e| DecodeError::new(Reason::InvalidTimestamp, format!("`occurred_at`: {e}")))?;
    if raw.attributes.len() > limits.max_attributes {
        return Err(DecodeError::new(
            Reason::TooLarge,
            format!("more than {} attributes", limits.max_attributes),
        ));
    }
    let mut attributes: Vec<(CompactString, AttrValue)> = Vec::with_capacity(raw.attributes.len());
    for (name, value) in raw.attributes {
        use v1::attribute_value::Value;
        if name.len() > limits.max_id_bytes {
            return Err(DecodeError::new(
                Reason::TooLarge,
                format!("attribute name of {} bytes is too long", name.len()),
            ));
        }
        let value = match value.value {
            Some(Value::StringValue(s)) if s.len() > limits.max_string_bytes => {
                return Err(DecodeError::new(
                    Reason::TooLarge,
                    format!("`attributes.{name}` is {} bytes long", s.len()),
                ));
            }
            Some(Value::StringValue(s)) => AttrValue::Str(s.into()),
            Some(Value::IntValue(v)) => AttrValue::Int(v),
            Some(Value::DoubleValue(v)) => AttrValue::Float(v),
            Some(Value::BoolValue(v)) => AttrValue::Bool(v),
            None => continue,
        };
        attributes.push((name.into(), value));
    }
    // protobuf maps are unordered on the wire; sort for a deterministic event.
    attributes.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PowerEvent {
        event_id,
        official_id,
        kind,
        occurred_at,
        source_system: optional(raw.source_system, "source_system")?,
        org_unit: optional(raw.org_unit, "org_unit")?,
        region: optional(raw.region, "region")?,
        counterparty: optional(raw.counterparty, "counterparty")?,
        amount_cents: raw.amount_cents,
        attributes,
    })
}

/// Converts an event to its protobuf message (generators, tests, the Kafka producer).
pub fn to_proto(event: &PowerEvent) -> v1::PowerEvent {
    use v1::attribute_value::Value;
    let (seconds, nanos) = event.occurred_at.to_parts();
    v1::PowerEvent {
        event_id: event.event_id.to_string(),
        official_id: event.official_id.to_string(),
        kind: event.kind.to_string(),
        occurred_at: Some(prost_types::Timestamp { seconds, nanos }),
        source_system: event.source_system.as_ref().map(|s| s.to_string()),
        org_unit: event.org_unit.as_ref().map(|s| s.to_string()),
        region: event.region.as_ref().map(|s| s.to_string()),
        counterparty: event.counterparty.as_ref().map(|s| s.to_string()),
        amount_cents: event.amount_cents,
        attributes: event
            .attributes
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    AttrValue::Str(s) => Value::StringValue(s.to_string()),
                    AttrValue::Int(v) => Value::IntValue(*v),
                    AttrValue::Float(v) => Value::DoubleValue(*v),
                    AttrValue::Bool(v) => Value::BoolValue(*v),
                };
                (name.to_string(), v1::AttributeValue { value: Some(value) })
            })
            .collect(),
    }
}

/// Encodes an event as one protobuf message (one Kafka record).
pub fn encode(event: &PowerEvent) -> Vec<u8> {
    to_proto(event).encode_to_vec()
}

/// Encodes an event as one length-delimited record (for `.pb` event files).
pub fn encode_length_delimited(event: &PowerEvent, out: &mut Vec<u8>) {
    to_proto(event)
        .encode_length_delimited(out)
        .expect("a Vec<u8> grows as needed");
}

/// Splits a buffer of length-delimited records. Yields each record's bytes, or an
/// error for a corrupt or truncated length prefix, after which no more records can
/// be found (there is no way to resynchronise a varint stream).
pub struct LengthDelimited<'a> {
    buf: &'a [u8],
    offset: usize,
    max: usize,
    broken: bool,
}

impl<'a> LengthDelimited<'a> {
    /// Reads records from `buf`, refusing any longer than `max` bytes.
    pub fn new(buf: &'a [u8], max: usize) -> Self {
        LengthDelimited {
            buf,
            offset: 0,
            max,
            broken: false,
        }
    }
}

impl<'a> Iterator for LengthDelimited<'a> {
    /// The record's starting byte offset and its bytes (or the error).
    type Item = (usize, Result<&'a [u8], DecodeError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.broken || self.offset >= self.buf.len() {
            return None;
        }
        let start = self.offset;
        let mut rest = &self.buf[start..];
        let before = rest.len();
        let len = match prost::encoding::decode_varint(&mut rest) {
            Ok(len) => len,
            Err(e) => {
                self.broken = true;
                return Some((
                    start,
                    Err(DecodeError::new(
                        Reason::InvalidProtobuf,
                        format!(
                            "corrupt length prefix at byte {start}: {e}; the rest of the file is unreadable"
                        ),
                    )),
                ));
            }
        };
        let prefix = before - rest.len();
        if len > self.max as u64 {
            self.broken = true;
            return Some((
                start,
                Err(DecodeError::new(
                    Reason::TooLarge,
                    format!(
                        "record at byte {start} claims {len} bytes, over the limit of {}; the rest of the file is unreadable",
                        self.max
                    ),
                )),
            ));
        }
        let len = len as usize;
        if rest.len() < len {
            self.broken = true;
            return Some((
                start,
                Err(DecodeError::new(
                    Reason::InvalidProtobuf,
                    format!(
                        "truncated record at byte {start}: needs {len} bytes, {} left",
                        rest.len()
                    ),
                )),
            ));
        }
        self.offset = start + prefix + len;
        Some((start, Ok(&rest[..len])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PowerEvent {
        let mut e = PowerEvent::new(
            "e1",
            "o1",
            "payment",
            Timestamp::parse_rfc3339("2026-03-01T00:00:00.5Z").unwrap(),
        );
        e.counterparty = Some("c1".into());
        e.amount_cents = Some(-7);
        e.attributes = vec![
            ("a".into(), AttrValue::Int(3)),
            ("b".into(), AttrValue::Str("x".into())),
            ("c".into(), AttrValue::Bool(false)),
            ("d".into(), AttrValue::Float(1.5)),
        ];
        e
    }

    #[test]
    fn round_trips_through_length_delimited_records() {
        let mut buf = Vec::new();
        encode_length_delimited(&sample(), &mut buf);
        encode_length_delimited(&sample(), &mut buf);
        let records: Vec<_> = LengthDelimited::new(&buf, 1 << 20).collect();
        assert_eq!(records.len(), 2);
        for (_, record) in records {
            let (event, _) = decode(record.unwrap(), &DecodeLimits::default()).unwrap();
            assert_eq!(event, sample());
        }
    }

    #[test]
    fn rejects_bad_messages() {
        let limits = DecodeLimits::default();
        assert_eq!(
            decode(b"\xff\xff\xff", &limits).unwrap_err().reason,
            Reason::InvalidProtobuf
        );
        let mut missing = to_proto(&sample());
        missing.official_id.clear();
        let e = decode(&missing.encode_to_vec(), &limits).unwrap_err();
        assert_eq!(e.reason, Reason::MissingField);
        assert!(e.detail.contains("official_id"));
        let mut no_time = to_proto(&sample());
        no_time.occurred_at = None;
        assert_eq!(
            decode(&no_time.encode_to_vec(), &limits)
                .unwrap_err()
                .reason,
            Reason::MissingField
        );
        let mut bad_nanos = to_proto(&sample());
        bad_nanos.occurred_at = Some(prost_types::Timestamp {
            seconds: 0,
            nanos: -5,
        });
        assert_eq!(
            decode(&bad_nanos.encode_to_vec(), &limits)
                .unwrap_err()
                .reason,
            Reason::InvalidTimestamp
        );
        // field 1 (event_id), wire type 2, length 1, byte 0xff: not UTF-8.
        assert_eq!(
            decode(b"\x0a\x01\xff", &limits).unwrap_err().reason,
            Reason::InvalidUtf8
        );
    }

    #[test]
    fn reports_truncated_and_oversized_records() {
        let mut buf = Vec::new();
        encode_length_delimited(&sample(), &mut buf);
        let cut = &buf[..buf.len() - 1];
        let records: Vec<_> = LengthDelimited::new(cut, 1 << 20).collect();
        assert_eq!(records.len(), 1);
        assert!(
            records[0]
                .1
                .as_ref()
                .unwrap_err()
                .detail
                .contains("truncated")
        );
        let records: Vec<_> = LengthDelimited::new(&buf, 4).collect();
        assert_eq!(records[0].1.as_ref().unwrap_err().reason, Reason::TooLarge);
    }
}
