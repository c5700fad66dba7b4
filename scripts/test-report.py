#!/usr/bin/env python3
"""Closing report of scripts/test.sh: reads nextest's JUnit file (and, optionally, the
output of `cargo test --doc`), prints the slowest tests and one line
`N passed, N failed` that counts every test of the run. Exits 1 if any failed or if
the JUnit file is missing (the run did not finish)."""

import re
import sys
import xml.etree.ElementTree as ET

SLOWEST = 10


def main() -> int:
    junit, doc_log = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"0 passed, 1 failed (no test report: {e})")
        return 1
    passed, failed, skipped, times, failures = 0, 0, 0, [], []
    for case in root.iter("testcase"):
        name = f"{case.get('classname')} {case.get('name')}"
        if case.find("skipped") is not None:
            skipped += 1
            continue
        times.append((float(case.get("time") or 0), name))
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(name)
        else:
            passed += 1
    if doc_log:
        with open(doc_log, encoding="utf-8", errors="replace") as f:
            for line in f:
                m = re.match(r"test result: \w+\. (\d+) passed; (\d+) failed", line)
                if m:
                    passed += int(m.group(1))
                    failed += int(m.group(2))
    times.sort(reverse=True)
    total = sum(t for t, _ in times)
    print(f"\nslowest tests (of {len(times)}, {total:.0f} s of test time in all):")
    for t, name in times[:SLOWEST]:
        print(f"  {t:8.1f} s  {name}")
    for name in failures:
        print(f"FAILED: {name}")
    suffix = f" ({skipped} ignored)" if skipped else ""
    print(f"{passed} passed, {failed} failed{suffix}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
