//! [`EventCopy`]: the compact copy of a contributing event that a warning's evidence
//! carries, so that an inspector (or a case system) can read why a rule fired without
//! an event store.
//!
//! A copy holds the event's id, kind, time, amount and counterparty and, of its
//! attributes, only those some rule of the pack reads (filters, group-by, value and
//! distinct fields, key fields). The engine keeps one encoded copy per retained event
//! and official (`copies.rs`). A warning lists the
//! copies of the events behind its `evidence.event_ids` (the same cap,
//! `evidence_limit`), each narrowed to the attributes *its* rule reads. Packs that
//! set `[pack] evidence_copies = false` keep no copies (ids only).

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::{Deserialize, Deserializer};

use crate::event::{AttrValue, PowerEvent};
use crate::time::Timestamp;

/// A compact copy of one event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct EventCopy {
    /// The event's id.
    pub event_id: CompactString,
    /// Its kind.
    pub kind: CompactString,
    /// Its event time (ns since the epoch).
    pub occurred_at: i64,
    /// Money in minor units.
    pub amount_cents: Option<i64>,
    /// Payee, applicant, supplier or appointee.
    pub counterparty: Option<CompactString>,
    /// The attributes the pack (or, in a warning, the rule) reads, in input order.
    pub attributes: Vec<(CompactString, AttrValue)>,
}

impl EventCopy {
    /// The copy of `event` keeping the attributes named in `keep` (sorted).
    pub fn of(event: &PowerEvent, keep: &[CompactString]) -> EventCopy {
        EventCopy {
            event_id: event.event_id.clone(),
            kind: event.kind.clone(),
            occurred_at: event.occurred_at.0,
            amount_cents: event.amount_cents,
            counterparty: event.counterparty.clone(),
            attributes: event
                .attributes
                .iter()
                .filter(|(name, _)| keep.binary_search(name).is_ok())
                .cloned()
                .collect(),
        }
    }

    /// This copy with only the attributes named in `keep` (sorted).
    pub fn narrowed(&self, keep: &[CompactString]) -> EventCopy {
        EventCopy {
            attributes: self
                .attributes
                .iter()
                .filter(|(name, _)| keep.binary_search(name).is_ok())
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// Replaces the values of the `sensitive` fields (`counterparty` or an attribute
    /// name) by `fill`, pushing each replaced string value on `raw`.
    pub fn mask(&mut self, sensitive: &[String], fill: &str, raw: &mut Vec<String>) {
        let masks = |name: &str| sensitive.iter().any(|s| s == name);
        if masks("counterparty")
            && let Some(c) = &mut self.counterparty
        {
            if !c.is_empty() {
                raw.push(c.to_string());
            }
            *c = fill.into();
        }
        for (name, value) in &mut self.attributes {
            if masks(name) {
                if let AttrValue::Str(s) = value
                    && !s.is_empty()
                {
                    raw.push(s.to_string());
                }
                *value = AttrValue::Str(fill.into());
            }
        }
    }

    /// The protobuf message `sunlight.v1.EvidenceEvent`.
    pub fn to_proto(&self) -> sunlight_proto::v1::EvidenceEvent {
        let (seconds, nanos) = Timestamp(self.occurred_at).to_parts();
        sunlight_proto::v1::EvidenceEvent {
            event_id: self.event_id.to_string(),
            kind: self.kind.to_string(),
            occurred_at: Some(prost_types::Timestamp { seconds, nanos }),
            amount_cents: self.amount_cents,
            counterparty: self.counterparty.as_ref().map(|c| c.to_string()),
            attributes: self
                .attributes
                .iter()
                .map(|(name, value)| {
                    let text = match value {
                        AttrValue::Str(s) => s.to_string(),
                        AttrValue::Int(v) => v.to_string(),
                        AttrValue::Float(v) => v.to_string(),
                        AttrValue::Bool(v) => v.to_string(),
                    };
                    (name.to_string(), text)
                })
                .collect(),
        }
    }
}

/// An [`EventCopy`] in the warning contract's JSON form: absent fields omitted,
/// `occurred_at` in RFC 3339 UTC, attributes as an object.
pub(crate) struct EventCopyJson<'a>(pub &'a EventCopy);

impl Serialize for EventCopyJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("event_id", c.event_id.as_str())?;
        map.serialize_entry("kind", c.kind.as_str())?;
        map.serialize_entry("occurred_at", &Timestamp(c.occurred_at).to_string())?;
        if let Some(amount) = c.amount_cents {
            map.serialize_entry("amount_cents", &amount)?;
        }
        if let Some(counterparty) = &c.counterparty {
            map.serialize_entry("counterparty", counterparty.as_str())?;
        }
        if !c.attributes.is_empty() {
            map.serialize_entry("attributes", &crate::event::AttributesJson(&c.attributes))?;
        }
        map.end()
    }
}

thread_local! {
    /// The snapshot layout records are read and written in (see [`with_layout`]).
    static LAYOUT: std::cell::Cell<u8> = const { std::cell::Cell::new(LAYOUT_CURRENT) };
}

/// Snapshot layouts: before evidence copies (`postcard.v2`), before warnings'
/// `officials` (`postcard.v3`), before sparse patches (`postcard.v4`), and the
/// current one (`postcard.v5`).
const LAYOUT_BEFORE_COPIES: u8 = 2;
const LAYOUT_BEFORE_OFFICIALS: u8 = 3;
const LAYOUT_BEFORE_SPARSE: u8 = 4;
const LAYOUT_CURRENT: u8 = 5;

fn with_layout<R>(layout: u8, code: impl FnOnce() -> R) -> R {
    struct Reset(u8);
    impl Drop for Reset {
        fn drop(&mut self) {
            LAYOUT.with(|l| l.set(self.0));
        }
    }
    let _reset = Reset(LAYOUT.with(|l| l.replace(layout)));
    code()
}

/// Runs `code` with the snapshot layout of versions before evidence copies: the
/// fields marked [`added_with_copies`] (and every later addition) are then not read
/// (postcard, which is not self-describing, has no bytes for them) and take their
/// default, and are not written. Snapshots of the current layout are read and
/// written outside it.
pub fn with_layout_before_copies<R>(code: impl FnOnce() -> R) -> R {
    with_layout(LAYOUT_BEFORE_COPIES, code)
}

/// Like [`with_layout_before_copies`], for the layout with copies and before the
/// fields marked [`added_with_officials`].
pub fn with_layout_before_officials<R>(code: impl FnOnce() -> R) -> R {
    with_layout(LAYOUT_BEFORE_OFFICIALS, code)
}

/// Like [`with_layout_before_copies`], for the layout with warnings' `officials`
/// and before the fields marked [`added_with_sparse_patches`].
pub fn with_layout_before_sparse_patches<R>(code: impl FnOnce() -> R) -> R {
    with_layout(LAYOUT_BEFORE_SPARSE, code)
}

fn write_since<S, T>(since: u8, value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: serde::Serialize,
{
    if LAYOUT.with(|l| l.get()) < since {
        // A unit, which postcard writes as no bytes: how tests write records of
        // the earlier layout.
        serializer.serialize_unit()
    } else {
        value.serialize(serializer)
    }
}

fn read_since<'de, D, T>(since: u8, deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    if LAYOUT.with(|l| l.get()) < since {
        Ok(T::default())
    } else {
        T::deserialize(deserializer)
    }
}

/// `serialize_with` for snapshot fields added with evidence copies: nothing in
/// [`with_layout_before_copies`], else the value.
pub(crate) fn write_added_with_copies<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: serde::Serialize,
{
    write_since(LAYOUT_BEFORE_OFFICIALS, value, serializer)
}

/// `deserialize_with` for snapshot fields added with evidence copies: the default in
/// [`with_layout_before_copies`], else the value. (Use with `#[serde(default)]`, so
/// JSON without the field reads too.)
pub(crate) fn added_with_copies<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    read_since(LAYOUT_BEFORE_OFFICIALS, deserializer)
}

/// `serialize_with` for snapshot fields added with warnings' `officials`: nothing
/// in the earlier layouts, else the value.
pub(crate) fn write_added_with_officials<S, T>(value: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: serde::Serialize,
{
    write_since(LAYOUT_BEFORE_SPARSE, value, serializer)
}

/// `deserialize_with` for snapshot fields added with warnings' `officials`: the
/// default in the earlier layouts, else the value (with `#[serde(default)]`).
pub(crate) fn added_with_officials<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    read_since(LAYOUT_BEFORE_SPARSE, deserializer)
}

/// `serialize_with` for snapshot fields added with sparse patches: nothing in the
/// earlier layouts, else the value.
pub(crate) fn write_added_with_sparse_patches<S, T>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: serde::Serialize,
{
    write_since(LAYOUT_CURRENT, value, serializer)
}

/// `deserialize_with` for snapshot fields added with sparse patches: the default
/// in the earlier layouts, else the value (with `#[serde(default)]`).
pub(crate) fn added_with_sparse_patches<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    read_since(LAYOUT_CURRENT, deserializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PowerEvent {
        let mut e = PowerEvent::new("e1", "o1", "payment", Timestamp(1_000_000_000));
        e.amount_cents = Some(4_900_000);
        e.counterparty = Some("Acme".into());
        e.attributes = vec![
            ("invoice".into(), AttrValue::Str("INV-1".into())),
            ("note".into(), AttrValue::Str("not read".into())),
            ("urgent".into(), AttrValue::Bool(true)),
        ];
        e
    }

    #[test]
    fn a_copy_keeps_only_the_attributes_read() {
        let keep: Vec<CompactString> = vec!["invoice".into(), "urgent".into()];
        let copy = EventCopy::of(&event(), &keep);
        assert_eq!(
            serde_json::to_string(&EventCopyJson(&copy)).unwrap(),
            r#"{"event_id":"e1","kind":"payment","occurred_at":"1970-01-01T00:00:01Z","amount_cents":4900000,"counterparty":"Acme","attributes":{"invoice":"INV-1","urgent":true}}"#
        );
        let narrowed = copy.narrowed(&["urgent".into()]);
        assert_eq!(
            narrowed.attributes,
            vec![("urgent".into(), AttrValue::Bool(true))]
        );
    }

    #[test]
    fn masking_replaces_named_fields_and_reports_their_values() {
        let keep: Vec<CompactString> = vec!["invoice".into(), "urgent".into()];
        let mut copy = EventCopy::of(&event(), &keep);
        let mut raw = Vec::new();
        copy.mask(&["counterparty".into(), "invoice".into()], "***", &mut raw);
        assert_eq!(copy.counterparty.as_deref(), Some("***"));
        assert_eq!(
            copy.attributes,
            vec![
                ("invoice".into(), AttrValue::Str("***".into())),
                ("urgent".into(), AttrValue::Bool(true)),
            ]
        );
        assert_eq!(raw, vec!["Acme".to_string(), "INV-1".to_string()]);
    }

    #[derive(serde::Serialize, Deserialize, Debug, PartialEq)]
    struct Record {
        a: u32,
        #[serde(
            default,
            deserialize_with = "added_with_copies",
            serialize_with = "write_added_with_copies"
        )]
        copy: Option<EventCopy>,
    }

    #[derive(serde::Serialize)]
    struct OldRecord {
        a: u32,
    }

    #[test]
    fn the_layout_before_copies_decodes_without_the_new_fields() {
        let copy = EventCopy::of(&event(), &[]);
        let new = Record {
            a: 7,
            copy: Some(copy),
        };
        let bytes = postcard::to_stdvec(&new).unwrap();
        assert_eq!(postcard::from_bytes::<Record>(&bytes).unwrap(), new);
        let old = postcard::to_stdvec(&OldRecord { a: 7 }).unwrap();
        assert_eq!(
            with_layout_before_copies(|| postcard::to_stdvec(&new)).unwrap(),
            old
        );
        let read = with_layout_before_copies(|| postcard::from_bytes::<Record>(&old)).unwrap();
        assert_eq!(read, Record { a: 7, copy: None });
        // The flag is reset afterwards.
        assert!(postcard::from_bytes::<Record>(&old).is_err());
        // JSON without the field reads with the default, and with it as written.
        let json = serde_json::to_string(&new).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), new);
        assert_eq!(
            serde_json::from_str::<Record>(r#"{"a":7}"#).unwrap(),
            Record { a: 7, copy: None }
        );
    }
}
