//! Integration tests of sunlight-core, in one binary (one module per area).

mod absence;
mod codec_fuzz;
mod common;
mod count_windows;
mod engine_edges;
mod evidence_copies;
mod lanes;
mod models;
mod rule_packs;
mod window_properties;
