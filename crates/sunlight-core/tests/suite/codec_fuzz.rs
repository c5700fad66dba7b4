//! Fuzzing both decoders with proptest: arbitrary bytes, and mutations of valid
//! messages, never panic; every failure carries a reason and a non-empty detail.

use proptest::prelude::*;
use prost::Message;
use sunlight_core::codec::{DecodeLimits, json, protobuf};

const VALID: &str = r#"{"event_id":"e1","official_id":"o1","kind":"payment","occurred_at":"2026-03-01T00:00:00Z","counterparty":"c","amount_cents":5,"attributes":{"a":1,"b":"x","c":true,"d":1.5}}"#;

fn valid_proto() -> Vec<u8> {
    let (event, _) = json::decode(VALID.as_bytes(), &DecodeLimits::default()).unwrap();
    protobuf::to_proto(&event).encode_to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn json_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = json::decode(&bytes, &DecodeLimits::default()) {
            prop_assert!(!e.detail.is_empty());
        }
    }

    #[test]
    fn json_never_panics_on_mutated_events(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in 0usize..VALID.len()) {
        let mut bytes = VALID.as_bytes().to_vec();
        bytes[pos] = byte;
        let _ = json::decode(&bytes, &DecodeLimits::default());
        let _ = json::decode(&VALID.as_bytes()[..cut], &DecodeLimits::default());
    }

    #[test]
    fn json_accepts_any_string_content(id in "\\PC{1,40}", party in ".{0,40}") {
        let text = serde_json::json!({
            "event_id": id, "official_id": "o", "kind": "k",
            "occurred_at": "2026-03-01T00:00:00Z", "counterparty": party,
        }).to_string();
        let (event, _) = json::decode(text.as_bytes(), &DecodeLimits::default()).unwrap();
        prop_assert_eq!(event.event_id.as_str(), id.as_str());
        prop_assert_eq!(event.counterparty.as_deref(), Some(party.as_str()));
    }

    #[test]
    fn protobuf_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = protobuf::decode(&bytes, &DecodeLimits::default()) {
            prop_assert!(!e.detail.is_empty());
        }
        for (_, record) in protobuf::LengthDelimited::new(&bytes, 1 << 10) {
            if let Ok(record) = record {
                let _ = protobuf::decode(record, &DecodeLimits::default());
            }
        }
    }

    #[test]
    fn protobuf_never_panics_on_mutated_events(pos in 0usize..60, byte in any::<u8>(), cut in 0usize..60) {
        let mut bytes = valid_proto();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        let _ = protobuf::decode(&bytes, &DecodeLimits::default());
        let valid = valid_proto();
        let _ = protobuf::decode(&valid[..cut % valid.len()], &DecodeLimits::default());
    }

    /// JSON -> event -> protobuf -> event is lossless.
    #[test]
    fn protobuf_round_trip(amount in any::<i64>(), secs in 0i64..4_000_000_000, nanos in 0i32..1_000_000_000) {
        let (mut event, _) = json::decode(VALID.as_bytes(), &DecodeLimits::default()).unwrap();
        event.amount_cents = Some(amount);
        event.occurred_at = sunlight_core::time::Timestamp::from_parts(secs, nanos).unwrap();
        event.attributes.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = protobuf::to_proto(&event).encode_to_vec();
        let (back, _) = protobuf::decode(&bytes, &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back, event);
    }

    /// Event -> JSON -> event is lossless.
    #[test]
    fn json_round_trip(amount in any::<i64>(), secs in 0i64..4_000_000_000, nanos in 0i32..1_000_000_000) {
        let (mut event, _) = json::decode(VALID.as_bytes(), &DecodeLimits::default()).unwrap();
        event.amount_cents = Some(amount);
        event.occurred_at = sunlight_core::time::Timestamp::from_parts(secs, nanos).unwrap();
        let mut text = String::new();
        json::encode(&event, &mut text);
        let (back, _) = json::decode(text.as_bytes(), &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back, event);
    }
}
