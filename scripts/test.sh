#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it. On a fresh machine it first
# installs what the tests need (scripts/install-tools.sh: the tansu broker, the Python
# Kafka client, promtool); the tests start and stop brokers themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-tools.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

# One closing line for the whole run (cargo prints one per test binary, and the
# last ones are doc-test binaries with nothing in them).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f; exit (f > 0) }' "$log"
