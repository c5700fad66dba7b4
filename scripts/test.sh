#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it. Needs only the Rust
# toolchain: protobuf is compiled by protox (pure Rust), nothing else is required
# until the Kafka pipeline lands (its scripts will install and start brokers here).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
