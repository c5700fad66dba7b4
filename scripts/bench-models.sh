#!/usr/bin/env bash
# The default pack now against the default pack before issue 16 (BENCHMARKS.md §10).
#
# Replays the standard workload (1,000,000 events, 10,000 officials, 30 days) with
# both packs, alternating, RUNS times each, with the same binary: what the models added
# since (count windows, model 4; reference tables, model 15) cost in replay speed.
# The pack before is taken from git (commit 3322b0b, the last one before issue 16's
# work), so this needs the repository's history. BEFORE_BIN=PATH runs the pack
# before with another binary (e.g. one built at that commit: the product as it was),
# the pack now with this one.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${EVENTS:-1000000}
officials=${OFFICIALS:-10000}
days=${DAYS:-30}
runs=${RUNS:-3}
before_commit=${BEFORE:-3322b0b}
data=bench-data/events-${events}-${officials}-${days}d.jsonl

cargo build --release --quiet
bin=target/release/sunlight
before_bin=${BEFORE_BIN:-$bin}
mkdir -p bench-data
if [ ! -s "$data" ]; then
  "$bin" gen --events "$events" --officials "$officials" --days "$days" --scenario-every 20 --output "$data"
fi
git show "$before_commit:rules/default.toml" > bench-data/default-before.toml
cp rules/*.csv bench-data/

rate() { sed -n 's/.*(\([0-9]*\) records\/s).*/\1/p'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

before=()
now=()
for i in $(seq "$runs"); do
  before+=("$("$before_bin" replay --rules bench-data/default-before.toml --input "$data" --output /dev/null --errors /dev/null 2>&1 | rate)")
  now+=("$("$bin" replay --rules rules/default.toml --input "$data" --output /dev/null --errors /dev/null 2>&1 | rate)")
done
b=$(printf '%s\n' "${before[@]}" | median)
n=$(printf '%s\n' "${now[@]}" | median)
echo "records: $(wc -l < "$data"), runs: $runs"
echo "default pack at $before_commit ($(grep -c '^\[\[rule\]\]' bench-data/default-before.toml) rules, binary $before_bin): ${before[*]} records/s (median $b)"
echo "default pack now ($(grep -c '^\[\[rule\]\]' rules/default.toml) rules):               ${now[*]} records/s (median $n)"
python3 -c "print(f'now / before = {$n / $b:.2f}')"
