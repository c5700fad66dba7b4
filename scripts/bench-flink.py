#!/usr/bin/env python3
"""Sunlight side by side with Apache Flink 2.3 on the parity pack (issue 15).

    cargo build --release
    python3 scripts/bench-flink.py [--events 1000000] [--officials 10000] [--days 30] [--runs 3]

The same generated JSON-lines file (`sunlight gen`, as scripts/bench-replay.sh makes
it) goes through
- `sunlight replay --rules examples/rules/parity.toml` (one engine thread), and
- scripts/flink_parity_job.py: the parity pack's two rules as Flink SQL OVER windows
  (PyFlink `apache-flink==2.3.0` from PyPI, local mini-cluster, parallelism 1 and 2;
  installed into bench-data/flink-venv on first use; needs Java 17).

Each run's wall time (process start to exit, so Flink's JVM start is included) and
peak resident memory (the whole process tree, sampled every 50 ms) are measured the
same way. The warnings of both must be the same set of (rule, trigger event);
the script fails otherwise. Prints a Markdown table: medians of RUNS runs, and
Sunlight's rate and memory as multiples of Flink's.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "bench-data", "flink-venv")


def tree_rss_kib(pid):
    """Resident KiB of `pid` and all its descendants."""
    children = {}
    rss = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        ppid = int(fields[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo.extend(children.get(p, []))
    return total


def measure(cmd, **kw):
    """(seconds, peak MiB) of running `cmd` to completion."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{err[-2000:]}")
    return seconds, peak / 1024


def ensure_flink():
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "apache-flink==2.3.0"], check=True)
    return python


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--officials", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    binary = os.path.join(ROOT, "target", "release", "sunlight")
    if not os.path.exists(binary):
        sys.exit("build first: cargo build --release")
    data = os.path.join(ROOT, "bench-data", f"events-{args.events}-{args.officials}-{args.days}d.jsonl")
    if not os.path.exists(data) or os.path.getsize(data) == 0:
        os.makedirs(os.path.dirname(data), exist_ok=True)
        subprocess.run([binary, "gen", "--events", str(args.events), "--officials", str(args.officials),
                        "--days", str(args.days), "--scenario-every", "20", "--output", data], check=True)
    with open(data) as f:
        records = sum(1 for _ in f)
    python = ensure_flink()
    job = os.path.join(ROOT, "scripts", "flink_parity_job.py")
    pack = os.path.join(ROOT, "examples", "rules", "parity.toml")
    work = tempfile.mkdtemp(prefix="bench-flink-")
    try:
        results = {}
        sunlight_out = os.path.join(work, "sunlight.jsonl")
        results["Sunlight replay (1 engine thread)"] = [
            measure([binary, "replay", "--quiet", "--rules", pack, "--input", data, "--output", sunlight_out])
            for _ in range(args.runs)]
        with open(sunlight_out) as f:
            expected = sorted((w["rule_id"], w["trigger_event_id"]) for w in map(json.loads, f))
        for parallelism in (1, 2):
            runs = []
            for _ in range(args.runs):
                out = os.path.join(work, f"flink-{parallelism}")
                shutil.rmtree(out, ignore_errors=True)
                runs.append(measure([python, job, data, out, str(parallelism)]))
                got = []
                for part in glob.glob(os.path.join(out, "**", "part-*"), recursive=True):
                    with open(part) as f:
                        got.extend((line.split(",")[0], line.split(",")[2]) for line in f if line.strip())
                if sorted(got) != expected:
                    sys.exit(f"Flink (parallelism {parallelism}) found {len(got)} warnings, "
                             f"Sunlight {len(expected)}: the outputs differ")
            results[f"Flink 2.3 (PyFlink, parallelism {parallelism})"] = runs
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"workload: {os.path.relpath(data, ROOT)} ({records} records), {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; {len(expected)} warnings, the same set from both\n")
    print("| run | median s (of %d) | events/s | peak RSS MiB | Sunlight events/s as x of it | Sunlight RSS as x of it |"
          % args.runs)
    print("|---|---:|---:|---:|---:|---:|")
    sun_s = statistics.median(s for s, _ in results["Sunlight replay (1 engine thread)"])
    sun_m = statistics.median(m for _, m in results["Sunlight replay (1 engine thread)"])
    for name, runs in results.items():
        s = statistics.median(x for x, _ in runs)
        m = statistics.median(x for _, x in runs)
        print(f"| {name} | {s:.2f} | {records / s:,.0f} | {m:.0f} | {s / sun_s:.1f} | {sun_m / m:.2f} |")


if __name__ == "__main__":
    main()
