#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, each only if missing:
#   - tansu 0.6.0: a real Kafka-protocol broker process (cargo install into
#     ~/.cargo/bin; about 8 minutes on 2 cores, once per machine),
#   - the Python confluent-kafka client: an independent Kafka client for the tests,
#   - promtool (Debian's prometheus package): checks metrics output and alert rules,
#   - chromium and chromium-driver (Debian packages): the console's browser test
#     drives a headless Chromium through chromedriver (W3C WebDriver),
#   - cargo-nextest: runs every test binary in one schedule, each test in its own
#     process, and reports per-test times (machines of this kind come with it; it is
#     built from crates.io only where missing).
# scripts/test.sh runs this first; it is safe to run again.
set -euo pipefail

TANSU_VERSION=0.6.0
CONFLUENT_KAFKA_VERSION=2.16.1
NEXTEST_VERSION=0.9.143
export PATH="$HOME/.cargo/bin:$PATH"

if ! tansu --version 2>/dev/null | grep -q " $TANSU_VERSION\$"; then
    echo "install-tools: building tansu $TANSU_VERSION (about 8 minutes, once)" >&2
    cargo install tansu --version "$TANSU_VERSION" --locked --quiet \
        --no-default-features --features dynostore
fi

if ! python3 -c 'import confluent_kafka' 2>/dev/null; then
    echo "install-tools: installing Python confluent-kafka $CONFLUENT_KAFKA_VERSION" >&2
    python3 -m pip install --quiet "confluent-kafka==$CONFLUENT_KAFKA_VERSION" ||
        python3 -m pip install --quiet --user --break-system-packages \
            "confluent-kafka==$CONFLUENT_KAFKA_VERSION"
fi

if ! command -v promtool >/dev/null; then
    echo "install-tools: installing promtool (Debian package prometheus)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    echo "install-tools: installing chromium and chromium-driver (Debian packages)" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    echo "install-tools: building cargo-nextest $NEXTEST_VERSION (a few minutes, once)" >&2
    cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
fi
