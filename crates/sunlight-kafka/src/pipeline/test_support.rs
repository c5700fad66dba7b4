//! What the pipeline's unit tests share: the repository's default rule pack.

use sunlight_core::CompiledPack;

/// `rules/default.toml`, compiled.
pub(super) fn default_pack() -> CompiledPack {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
    CompiledPack::load(&path).expect("the default pack compiles")
}
