#!/usr/bin/env bash
# End-to-end replay benchmark (documented in BENCHMARKS.md).
#
# Generates 1,000,000 events from 10,000 officials over 30 days (plus injected
# scenarios) as JSON lines, then replays the same file three times each:
#   decode-only (the decoding limit), the parity pack, the default pack, and the
#   default pack without evidence copies (`evidence_copies = false`, ids only).
# Every run reads the file, decodes, evaluates and writes warnings (to /dev/null).
# A fourth, slower pass per pack samples the window state to report bytes/event.
# Also runs the bare baseline (crates/sunlight-core/examples/bare_decode.rs: serde_json
# into borrowed fields, attributes skipped, no validation, no engine).
# Prints a Markdown table with median rates and ratios to decode-only and to the bare
# decode.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-1000000}
officials=${OFFICIALS:-10000}
days=${DAYS:-30}
runs=${RUNS:-3}
data=bench-data/events-${events}-${officials}-${days}d.jsonl

cargo build --release --quiet
cargo build --release --quiet -p sunlight-core --example bare_decode
bin=target/release/sunlight
bare=target/release/examples/bare_decode
mkdir -p bench-data
if [ ! -s "$data" ]; then
  "$bin" gen --events "$events" --officials "$officials" --days "$days" --scenario-every 20 --output "$data"
fi
records=$(wc -l < "$data")
# The default pack with ids-only evidence (beside a copy of its reference data).
sed 's/^\[pack\]$/[pack]\nevidence_copies = false/' rules/default.toml > bench-data/default-ids.toml
cp rules/*.csv bench-data/

rate() { sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A result
rates=()
for _ in $(seq "$runs"); do
  rates+=("$("$bare" "$data" | rate)")
done
result[bare]=$(printf '%s\n' "${rates[@]}" | median)
for mode in decode parity default default-ids; do
  case $mode in
    decode) args=(--rules examples/rules/parity.toml --decode-only) ;;
    parity) args=(--rules examples/rules/parity.toml) ;;
    default) args=(--rules rules/default.toml) ;;
    default-ids) args=(--rules bench-data/default-ids.toml) ;;
  esac
  rates=()
  for _ in $(seq "$runs"); do
    rates+=("$("$bin" replay "${args[@]}" --input "$data" --output /dev/null 2>&1 >/dev/null | rate)")
  done
  result[$mode]=$(printf '%s\n' "${rates[@]}" | median)
  last=$("$bin" replay "${args[@]}" --input "$data" --output /dev/null 2>&1 >/dev/null)
  result[$mode-rss]=$(echo "$last" | sed -n 's/.*peak RSS \(.*\) MiB/\1/p')
  result[$mode-warnings]=$(echo "$last" | sed -n 's/^  warnings \([0-9]*\)$/\1/p')
  if [ "$mode" != decode ]; then
    sample=$("$bin" replay "${args[@]}" --input "$data" --output /dev/null --state-sample-every 100000 2>&1 >/dev/null | grep 'state largest sample')
    result[$mode-state]=$(echo "$sample" | sed -n 's/.*sample: \(.*\)$/\1/p')
  fi
done

echo "workload: $data ($records records), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| run | median events/s (of $runs) | vs decode-only | time vs bare decode | warnings | peak RSS MiB |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| bare decode | ${result[bare]} | | 1.00x | | |"
for mode in decode parity default default-ids; do
  ratio=$(awk -v a="${result[$mode]}" -v b="${result[decode]}" 'BEGIN {printf "%.2f", a / b}')
  times=$(awk -v a="${result[$mode]}" -v b="${result[bare]}" 'BEGIN {printf "%.2fx", b / a}')
  echo "| $mode | ${result[$mode]} | $ratio | $times | ${result[$mode-warnings]:-0} | ${result[$mode-rss]} |"
done
echo
echo "largest sampled window state:"
echo "- parity: ${result[parity-state]}"
echo "- default: ${result[default-state]}"
echo "- default-ids: ${result[default-ids-state]}"
