#!/usr/bin/env bash
# Mapped input against native events of the same content (issue 17; BENCHMARKS.md §9).
#
# Generates the standard workload (1,000,000 events, 10,000 officials, 30 days) as
# Sunlight events, and writes the same events as a department's rows would carry
# them (scripts/bench_sources_rows.py): Chinese field names, money as yuan strings,
# local Asia/Shanghai times "YYYY-MM-DD HH:MM:SS", kinds as codes, attributes in a
# nested object. bench-data/rows.toml maps the rows back. Replays both with the
# default pack, alternating, RUNS times each; checks that both give the same warnings
# (byte for byte), and prints the median rates and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-1000000}
officials=${OFFICIALS:-10000}
days=${DAYS:-30}
runs=${RUNS:-3}
pack=${PACK:-rules/default.toml}
native=bench-data/events-${events}-${officials}-${days}d.jsonl
rows=bench-data/rows-${events}-${officials}-${days}d.jsonl

cargo build --release --quiet
bin=target/release/sunlight
mkdir -p bench-data
if [ ! -s "$native" ]; then
  "$bin" gen --events "$events" --officials "$officials" --days "$days" --scenario-every 20 --output "$native"
fi
if [ ! -s "$rows" ]; then
  python3 scripts/bench_sources_rows.py "$native" "$rows" bench-data/rows.toml
fi

rate() { sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

native_rates=()
mapped_rates=()
for i in $(seq "$runs"); do
  native_rates+=("$("$bin" replay --rules "$pack" --input "$native" --output bench-data/native-warnings.jsonl --errors /dev/null 2>&1 | rate)")
  mapped_rates+=("$("$bin" replay --rules "$pack" --input "$rows" --sources bench-data/rows.toml --output bench-data/mapped-warnings.jsonl --errors /dev/null 2>&1 | rate)")
done
# detected_at is the wall clock of each run: compare everything else.
strip() { sed -E 's/,?"detected_at":"[^"]*"//' "$1"; }
if ! cmp -s <(strip bench-data/native-warnings.jsonl) <(strip bench-data/mapped-warnings.jsonl); then
  echo "the mapped replay's warnings differ from the native replay's" >&2
  exit 1
fi
warnings=$(wc -l < bench-data/native-warnings.jsonl)
n=$(printf '%s\n' "${native_rates[@]}" | median)
m=$(printf '%s\n' "${mapped_rates[@]}" | median)
echo "records: $(wc -l < "$native"), warnings: $warnings (identical), pack: $pack, runs: $runs"
echo "native:  ${native_rates[*]} records/s (median $n)"
echo "mapped:  ${mapped_rates[*]} records/s (median $m)"
python3 -c "print(f'mapped / native = {$m / $n:.2f} (cost {1 - $m / $n:.0%})')"
