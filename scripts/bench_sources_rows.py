"""Writes Sunlight events as a department's rows, and the mapping that reads them back.

Usage: bench_sources_rows.py EVENTS.jsonl ROWS.jsonl MAPPING.toml

Each row carries the event's content the way department systems do: Chinese field
names, money as a yuan decimal string, the time as Asia/Shanghai local time
"YYYY-MM-DD HH:MM:SS" (plus the fraction when there is one), the kind as a code, and
the attributes in a nested object. Mapped with MAPPING.toml, every row gives back
exactly its event, so a replay of the rows must give the native replay's warnings.
"""

import datetime
import json
import sys

SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def local_time(rfc3339: str) -> str:
    text = rfc3339.replace("Z", "+00:00")
    t = datetime.datetime.fromisoformat(text).astimezone(SHANGHAI)
    if t.microsecond:
        return t.strftime("%Y-%m-%d %H:%M:%S.%f")
    return t.strftime("%Y-%m-%d %H:%M:%S")


def yuan(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def main() -> None:
    source, target, mapping = sys.argv[1:4]
    kinds = {}
    with open(source, encoding="utf-8") as events, open(target, "w", encoding="utf-8") as rows:
        for line in events:
            e = json.loads(line)
            code = kinds.setdefault(e["kind"], f"{len(kinds) + 1:02d}")
            row = {"流水号": e["event_id"], "经办人": e["official_id"], "业务类型": code, "发生时间": local_time(e["occurred_at"])}
            for field, name in [("source_system", "来源"), ("org_unit", "单位"), ("region", "地区"), ("counterparty", "对方")]:
                if field in e:
                    row[name] = e[field]
            if "amount_cents" in e:
                row["金额"] = yuan(e["amount_cents"])
            if e.get("attributes"):
                row["附加"] = e["attributes"]
            rows.write(json.dumps(row, ensure_ascii=False) + "\n")
    codes = ", ".join(f'"{code}" = "{kind}"' for kind, code in kinds.items())
    with open(mapping, "w", encoding="utf-8") as out:
        out.write(f"""[[source]]
name = "bench-rows"
topics = ["bench.rows"]
format = "json"
timezone = "Asia/Shanghai"

[[source.event]]
event_id = {{ path = "流水号" }}
official_id = {{ path = "经办人" }}
kind = {{ path = "业务类型", codes = {{ {codes} }} }}
occurred_at = {{ path = "发生时间", time = "%Y-%m-%d %H:%M:%S%.f" }}
source_system = {{ path = "来源" }}
org_unit = {{ path = "单位" }}
region = {{ path = "地区" }}
counterparty = {{ path = "对方" }}
amount_cents = {{ path = "金额", money = "yuan" }}
attributes_from = "附加"
""")


if __name__ == "__main__":
    main()
