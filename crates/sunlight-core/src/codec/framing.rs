//! The Confluent Schema Registry wire format, removed before decoding.
//!
//! Producers that use a Schema Registry serializer prefix every message with a frame:
//! magic byte `0`, the schema id as a 4-byte big-endian integer, and for protobuf a
//! list of message indexes (zig-zag varints: a count, then that many indexes; the
//! single byte `0` stands for the list `[0]`). Then comes the ordinary payload.
//!
//! Framing is detected, not configured: a JSON document never starts with byte 0,
//! and neither does a protobuf message (field number 0 does not exist). So one topic
//! can carry framed and unframed messages, as happens while producers migrate to a
//! registry. Sunlight does not fetch schemas: the payload must be a `PowerEvent` in
//! the contract's shape whatever schema id it names; the id is reported so operators
//! can see which schema versions arrive.

use super::{DecodeError, Format, Reason};

/// The payload of a message and the schema id of its frame, if it had one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framed<'a> {
    /// The Schema Registry id, when the message was framed.
    pub schema_id: Option<u32>,
    /// The bytes to decode.
    pub payload: &'a [u8],
}

/// Most message indexes accepted in a protobuf frame (nesting depth of the type).
const MAX_INDEXES: u64 = 64;

/// Splits a framed message into schema id and payload; unframed messages pass through.
pub fn unframe(bytes: &[u8], format: Format) -> Result<Framed<'_>, DecodeError> {
    let Some((&0, rest)) = bytes.split_first() else {
        return Ok(Framed {
            schema_id: None,
            payload: bytes,
        });
    };
    let Some((id, mut rest)) = rest.split_first_chunk::<4>() else {
        return Err(DecodeError::new(
            Reason::InvalidFraming,
            format!(
                "Schema Registry frame of {} bytes is shorter than magic byte plus 4-byte schema id",
                bytes.len()
            ),
        ));
    };
    let schema_id = u32::from_be_bytes(*id);
    if format == Format::Protobuf {
        let count = read_varint(&mut rest, "message index count")?;
        let count = zigzag(count);
        if !(0..=MAX_INDEXES as i64).contains(&count) {
            return Err(DecodeError::new(
                Reason::InvalidFraming,
                format!(
                    "Schema Registry frame has {count} message indexes (at most {MAX_INDEXES} accepted)"
                ),
            ));
        }
        for _ in 0..count {
            read_varint(&mut rest, "message index")?;
        }
    }
    Ok(Framed {
        schema_id: Some(schema_id),
        payload: rest,
    })
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn read_varint(bytes: &mut &[u8], what: &str) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(value);
        }
    }
    Err(DecodeError::new(
        Reason::InvalidFraming,
        format!("Schema Registry frame: {what} is not a complete varint"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unframed_messages_pass_through() {
        for format in [Format::Json, Format::Protobuf] {
            assert_eq!(
                unframe(b"{\"a\":1}", format).unwrap(),
                Framed {
                    schema_id: None,
                    payload: b"{\"a\":1}"
                }
            );
            assert_eq!(unframe(b"", format).unwrap().payload, b"");
        }
    }

    #[test]
    fn json_frame_is_magic_byte_and_schema_id() {
        let framed = unframe(b"\0\0\0\x01\x2c{}", Format::Json).unwrap();
        assert_eq!(framed.schema_id, Some(300));
        assert_eq!(framed.payload, b"{}");
    }

    #[test]
    fn protobuf_frame_carries_message_indexes() {
        // Short form: a single 0 means the first message type.
        let framed = unframe(b"\0\0\0\0\x07\0\x0a\x01x", Format::Protobuf).unwrap();
        assert_eq!(framed.schema_id, Some(7));
        assert_eq!(framed.payload, b"\x0a\x01x");
        // Long form: count 2 (zig-zag 4), indexes 1 and 0 (zig-zag 2 and 0).
        let framed = unframe(b"\0\0\0\0\x07\x04\x02\0\x0a", Format::Protobuf).unwrap();
        assert_eq!(framed.payload, b"\x0a");
    }

    #[test]
    fn truncated_frames_are_rejected_with_a_reason() {
        for (bytes, format) in [
            (&b"\0\0\0"[..], Format::Json),
            (b"\0", Format::Protobuf),
            (b"\0\0\0\0\x01", Format::Protobuf),
            (b"\0\0\0\0\x01\x04\x02", Format::Protobuf),
            (b"\0\0\0\0\x01\x80", Format::Protobuf),
            (b"\0\0\0\0\x01\x03", Format::Protobuf),
        ] {
            let e = unframe(bytes, format).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidFraming, "{bytes:?}: {e}");
        }
    }
}
