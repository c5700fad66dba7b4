#!/usr/bin/env bash
# The whole test suite, as README.md and .ci/run call it. On a fresh machine it first
# installs what the tests need (scripts/install-tools.sh: the tansu broker, the Python
# Kafka client, promtool, cargo-nextest); the tests start and stop brokers themselves.
#
# Every step runs even when an earlier one fails, and every test binary runs even when
# a test fails (cargo-nextest, settings in .config/nextest.toml), so one red test
# never hides the others. The run ends with the slowest tests and one line
# `N passed, N failed` that counts every test; the exit status is non-zero if
# formatting, lints or any test failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-tools.sh || exit 1

started=$(date +%s)
failed_steps=()
step() {
    local name=$1
    shift
    echo "== $name: $*" >&2
    "$@" || failed_steps+=("$name")
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
rm -f target/nextest/default/junit.xml
step tests cargo nextest run --workspace --locked --no-fail-fast
# nextest does not run doc tests; cargo test does, with its own result lines.
step doctests bash -c 'cargo test --workspace --locked --doc 2>&1 | tee "$0"' "$logs/doc.log"

python3 scripts/test-report.py target/nextest/default/junit.xml "$logs/doc.log" ||
    failed_steps+=(report)
echo "suite took $(($(date +%s) - started)) s (after tool installation)"
if [ ${#failed_steps[@]} -gt 0 ]; then
    echo "failed steps: ${failed_steps[*]}"
    exit 1
fi
