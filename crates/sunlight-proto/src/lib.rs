//! Generated protobuf types of package `sunlight.v1` (see `proto/sunlight/v1/sunlight.proto`).
//!
//! This crate only holds generated code: conversions to and from the engine's own
//! types live in `sunlight-core::codec::protobuf`.

#![allow(missing_docs, clippy::all)]

/// `sunlight.v1`: `PowerEvent`, `AttributeValue`, `Warning`, `Window`, `Evidence`.
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/sunlight.v1.rs"));
}
