#!/usr/bin/env bash
# An entity-keyed rule against the same rule keyed by the official (BENCHMARKS.md §11).
#
# Replays the standard workload (1,000,000 events, 10,000 officials, 30 days) with two
# one-rule packs, alternating, RUNS times each, with the same binary:
#   by-official: duplicate payments, group_by = [counterparty, invoice] (the window
#                inside each official's state);
#   by-entity:   the same rule with key = [counterparty, invoice] (one owner per
#                invoice, whichever officials pay it).
# Prints records/s, the engine's own state accounting (bytes per retained event) and
# the peak RSS of each run.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-1000000}
officials=${OFFICIALS:-10000}
days=${DAYS:-30}
runs=${RUNS:-3}
data=bench-data/events-${events}-${officials}-${days}d.jsonl

cargo build --release --quiet
bin=target/release/sunlight
mkdir -p bench-data
if [ ! -s "$data" ]; then
  "$bin" gen --events "$events" --officials "$officials" --days "$days" --scenario-every 20 --output "$data"
fi
pack() {
  cat <<TOML
[pack]
name = "entity-bench"
version = "1"

[[rule]]
id = "duplicate-payment"
version = 1
kind = "aggregate"
title = "Invoice {invoice_no} of {counterparty} paid {count} times"
window = "30d"
$1 = ["counterparty", "attributes.invoice_no"]
measures = { sum = "amount_cents" }
red = { count = ">= 2" }
filter = { kind = "payment", "attributes.invoice_no" = { exists = true } }
TOML
}
pack group_by > bench-data/entity-bench-by-official.toml
pack key > bench-data/entity-bench-by-entity.toml

run() {
  local out
  out=$("$bin" replay --rules "$1" --input "$data" --output /dev/null --errors /dev/null --state-sample-every 100000 2>&1)
  local rate bpe rss
  rate=$(sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p' <<< "$out")
  bpe=$(sed -n 's/.*state largest sample.*(\([0-9.]*\) bytes\/event).*/\1/p' <<< "$out")
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' <<< "$out")
  echo "$rate records/s, $bpe bytes/event, peak RSS $rss MiB"
}
echo "records: $(wc -l < "$data"), runs: $runs"
for i in $(seq "$runs"); do
  echo "by-official: $(run bench-data/entity-bench-by-official.toml)"
  echo "by-entity:   $(run bench-data/entity-bench-by-entity.toml)"
done
