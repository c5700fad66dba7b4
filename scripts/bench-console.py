#!/usr/bin/env python3
"""Latency of the console's answers over 100,000 officials (issue 14's target:
board and list within 50 ms p99 on the development machine).

Starts `sunlight demo` (release build) with OFFICIALS officials and the default pack
plus one rule that remembers each official's events for 400 days (so that every
official keeps window state and is listed, as on a platform where all officials are
active), waits until the officials known and the records consumed stop changing (the simulated
sources have published everything), then sends
REQUESTS sequential requests per endpoint over one keep-alive connection and prints
p50, p99 and max per endpoint as a Markdown table, with `/v1/session` (no scan) as the
baseline measured in the same run.

    cargo build --release
    python3 scripts/bench-console.py [--officials 100000] [--requests 300]
"""

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--officials", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--binary", default="target/release/sunlight")
    args = ap.parse_args()

    port = free_port()
    rules_dir = os.path.abspath("rules")
    pack = open(os.path.join(rules_dir, "default.toml")).read().replace(
        'relations = "relations.csv"',
        'relations = ' + json.dumps(os.path.join(rules_dir, "relations.csv"))).replace(
        'file = "deaths.csv"',
        'file = ' + json.dumps(os.path.join(rules_dir, "deaths.csv"))).replace(
        'file = "departures.csv"',
        'file = ' + json.dumps(os.path.join(rules_dir, "departures.csv")))
    pack += textwrap.dedent("""
        [[rule]]
        id = "bench-activity"
        version = 1
        kind = "aggregate"
        title = "{count} events by {official_id} within {window}"
        description = "Benchmark only: keeps every official's events for 400 days."
        window = "400d"
        red = { count = ">= 1000000" }
        """)
    tmp = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    tmp.write(pack)
    tmp.close()
    demo = subprocess.Popen(
        [args.binary, "demo", "--rules", tmp.name,
         "--officials", str(args.officials), "--events", str(args.events),
         "--rate", "100000", "--http-addr", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        token = None
        for line in demo.stdout:
            m = re.search(r"console \(a handler.*#token=(\S+)", line)
            if m:
                token = m.group(1)
                break
        if token is None:
            sys.exit("the demo printed no console link")
        # Keep reading the demo's output so that it never blocks on a full pipe.
        import threading
        threading.Thread(target=lambda: [None for _ in demo.stdout], daemon=True).start()

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"}

        def get(path):
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            if r.status != 200:
                sys.exit(f"{path}: {r.status} {body[:200]!r}")
            return json.loads(body)

        def consumed():
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            return sum(float(line.split()[-1]) for line in text.splitlines()
                       if line.startswith("sunlight_records_consumed_total"))

        # Loaded: the officials known and the records consumed stay the same for three
        # polls two seconds apart (the simulated sources have published everything).
        started = time.time()
        last, steady = None, 0
        while True:
            now = (get("/v1/summary")["officials"]["total"], consumed())
            if now[0] > 0 and now == last:
                steady += 1
                if steady >= 3:
                    break
            else:
                steady = 0
            last = now
            if time.time() - started > 900:
                sys.exit(f"still loading after 15 minutes: {now}")
            time.sleep(2)
        summary = get("/v1/summary")
        open_warnings = summary["open_warnings"]["total"]

        endpoints = [
            ("/v1/session (baseline, no scan)", "/v1/session"),
            ("/v1/summary (the board)", "/v1/summary"),
            ("/v1/officials?limit=50", "/v1/officials?limit=50"),
            ("/v1/officials?code=red&limit=50", "/v1/officials?code=red&limit=50"),
            ("/v1/officials?region=R07&limit=50", "/v1/officials?region=R07&limit=50"),
            ("/v1/warnings?status=open&limit=50", "/v1/warnings?status=open&limit=50"),
        ]
        rows = []
        for name, path in endpoints:
            get(path)  # warm
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                get(path)
                times.append((time.perf_counter() - t) * 1000)
            rows.append((name, percentile(times, 50), percentile(times, 99), max(times)))
        base = rows[0][2]
        print(f"{summary['officials']['total']} officials in scope, {open_warnings} open warnings, "
              f"{int(last[1])} events consumed, {args.requests} sequential requests per endpoint\n")
        print("| endpoint | p50 ms | p99 ms | max ms | p99 / baseline p99 |")
        print("|---|---:|---:|---:|---:|")
        for name, p50, p99, mx in rows:
            print(f"| {name} | {p50:.2f} | {p99:.2f} | {mx:.2f} | {p99 / base:.1f} |")
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()


if __name__ == "__main__":
    main()
