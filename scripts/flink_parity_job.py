"""The parity pack's two rules as an Apache Flink 2.3 job (PyFlink, Table API / SQL),
for the side-by-side benchmark `scripts/bench-flink.py`.

    python flink_parity_job.py EVENTS.jsonl OUT.csv [PARALLELISM]

Reads the JSON-lines events file with the filesystem connector, event time from
`occurred_at` with a watermark 1 minute behind (Sunlight's default allowed
lateness), and evaluates, exactly as examples/rules/parity.toml defines them:

- payment-burst: per official, payments in
  `RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW`; yellow at count >= 5;
- split-payment: per official and counterparty, payments with amount_cents in
  [4,500,000, 5,000,000) over 7 days; red at count >= 2 and sum >= 5,000,000.

Writes one CSV line per warning: rule id, official id, trigger event id, count.
"""

import sys

from pyflink.table import EnvironmentSettings, TableEnvironment


def main():
    events, out = sys.argv[1], sys.argv[2]
    parallelism = sys.argv[3] if len(sys.argv) > 3 else "1"
    t = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t.get_config().set("parallelism.default", parallelism)
    t.execute_sql(f"""
        CREATE TABLE events (
            event_id STRING,
            official_id STRING,
            kind STRING,
            occurred_at STRING,
            counterparty STRING,
            amount_cents BIGINT,
            ts AS TO_TIMESTAMP(REPLACE(REPLACE(occurred_at, 'T', ' '), 'Z', '')),
            WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE
        ) WITH (
            'connector' = 'filesystem',
            'path' = '{events}',
            'format' = 'json',
            'json.ignore-parse-errors' = 'true'
        )""")
    t.execute_sql(f"""
        CREATE TABLE warnings (
            rule_id STRING,
            official_id STRING,
            trigger_event_id STRING,
            cnt BIGINT
        ) WITH (
            'connector' = 'filesystem',
            'path' = '{out}',
            'format' = 'csv'
        )""")
    t.execute_sql("""
        INSERT INTO warnings
        SELECT 'payment-burst', official_id, event_id, cnt FROM (
            SELECT official_id, event_id,
                   COUNT(*) OVER (PARTITION BY official_id ORDER BY ts
                                  RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW) AS cnt
            FROM events WHERE kind = 'payment')
        WHERE cnt >= 5
        UNION ALL
        SELECT 'split-payment', official_id, event_id, cnt FROM (
            SELECT official_id, event_id,
                   COUNT(*) OVER w AS cnt, SUM(amount_cents) OVER w AS total
            FROM events
            WHERE kind = 'payment' AND amount_cents >= 4500000 AND amount_cents < 5000000
                  AND counterparty IS NOT NULL
            WINDOW w AS (PARTITION BY official_id, counterparty ORDER BY ts
                         RANGE BETWEEN INTERVAL '7' DAY PRECEDING AND CURRENT ROW))
        WHERE cnt >= 2 AND total >= 5000000
    """).wait()


if __name__ == "__main__":
    main()
