//! Reference tables fed from Kafka topics (`[reference.tables.NAME] topic`):
//! `sunlight run` reads the topic to its end before the first event and follows it,
//! swapping the pack in when rows change (mock cluster); `rules check` and `replay
//! --table` without Kafka.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::support::{await_sample, json_lines, read_until, spawn_engine, sunlight, unique};

/// A pack with one rule: payments to a person registered dead 30 days before.
fn write_pack(dir: &Path, topic: &str) -> std::path::PathBuf {
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        format!(
            r#"[pack]
name = "registry"
version = "1"

[reference.tables.deaths]
topic = "{topic}"
key = "person_id"
columns = ["person_id", "registered_on", "registry"]

[[rule]]
id = "deceased-beneficiary"
version = 1
kind = "reference"
title = "Paid to {{counterparty}} after the death registration of {{registered_on}} ({{registry}})"
table = "deaths"
field = "counterparty"
after = {{ column = "registered_on", by = "30d" }}
level = "red"
filter = {{ kind = ["payment"] }}
"#
        ),
    )
    .unwrap();
    path
}

fn payment(id: &str, person: &str, at: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","official_id":"OF-1","kind":"payment","occurred_at":"{at}","source_system":"finance","counterparty":"{person}","amount_cents":120000}}"#
    )
}

/// (event id, counterparty, title) of each warning.
fn fired(warnings: &[Value]) -> Vec<(String, String, String)> {
    warnings
        .iter()
        .map(|w| {
            (
                w["evidence"]["event_ids"][0]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                w["key"]["counterparty"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                w["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn send(producer: &FutureProducer, topic: &str, key: &str, value: Option<&str>) {
    let mut record = FutureRecord::to(topic).key(key);
    if let Some(v) = value {
        record = record.payload(v);
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .expect("produced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_table_is_read_before_the_first_event_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (table, input, warnings, dlq) = (
        unique("registry.deaths"),
        unique("events"),
        unique("warnings"),
        unique("dlq"),
    );
    for (topic, partitions) in [(&table, 2), (&input, 1), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    let pack = write_pack(dir.path(), &table);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    // The registry before the engine starts: P-1 dead, P-2 added and then deleted
    // (a tombstone), one record that is not a row.
    let row = |on: &str| format!(r#"{{"registered_on": "{on}", "registry": "civil affairs"}}"#);
    send(&producer, &table, "P-1", Some(&row("2026-01-01"))).await;
    send(&producer, &table, "P-2", Some(&row("2026-01-02"))).await;
    send(&producer, &table, "P-9", Some("not a row")).await;
    send(&producer, &table, "P-2", None).await;

    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .args(["--brokers", &brokers, "--group", &unique("group")])
        .args(["--idle-timeout", "1s", "--input-topic", &input])
        .args(["--warnings-topic", &warnings, "--dlq-topic", &dlq])
        .args(["--http-addr", "127.0.0.1:0", "--rules"])
        .arg(&pack)
        .env("SUNLIGHT__ENGINE__RELOAD_INTERVAL", "off");
    let (_child, addr) = spawn_engine(command);
    let metrics = crate::support::scrape(&addr);
    let sample = |series: &str| crate::support::sample(&metrics, series);
    // Read to its end before the HTTP server (and the pipeline) started.
    assert_eq!(
        sample("sunlight_reference_rows{table=\"deaths\"}"),
        Some(1.0)
    );
    for (outcome, n) in [("upserted", 2.0), ("deleted", 1.0), ("rejected", 1.0)] {
        let series =
            format!("sunlight_reference_records_total{{table=\"deaths\",outcome=\"{outcome}\"}}");
        assert_eq!(sample(&series), Some(n), "{series} in {metrics}");
    }

    // P-1 is dead: a warning. P-2's row was deleted, P-3 has none yet: silent.
    for (id, person, at) in [
        ("E-1", "P-1", "2026-03-01T10:00:00Z"),
        ("E-2", "P-2", "2026-03-01T11:00:00Z"),
        ("E-3", "P-3", "2026-03-01T12:00:00Z"),
    ] {
        send(&producer, &input, "OF-1", Some(&payment(id, person, at))).await;
    }
    let consumed = format!("sunlight_records_consumed_total{{topic=\"{input}\"}}");
    assert_eq!(await_sample(&addr, &consumed, 3.0).await, Some(3.0));
    assert_eq!(
        await_sample(&addr, "sunlight_pending_events", 0.0).await,
        Some(0.0)
    );

    // The registry adds P-3 while the engine runs: the pack is compiled again with
    // the new row and swapped in.
    send(
        &producer,
        &table,
        "P-3",
        Some(
            r#"{"person_id": "P-3", "registered_on": "2026-01-15", "registry": "public security"}"#,
        ),
    )
    .await;
    assert_eq!(
        await_sample(&addr, "sunlight_reference_rows{table=\"deaths\"}", 2.0).await,
        Some(2.0)
    );
    assert_eq!(
        await_sample(
            &addr,
            "sunlight_rule_reloads_total{outcome=\"applied\"}",
            1.0
        )
        .await,
        Some(1.0)
    );
    send(
        &producer,
        &input,
        "OF-1",
        Some(&payment("E-4", "P-3", "2026-03-02T09:00:00Z")),
    )
    .await;

    let got = read_until(&brokers, &warnings, |w| w.len() >= 2).await;
    assert_eq!(
        fired(&got),
        [
            (
                "E-1".to_string(),
                "P-1".to_string(),
                "Paid to P-1 after the death registration of 2026-01-01 (civil affairs)"
                    .to_string()
            ),
            (
                "E-4".to_string(),
                "P-3".to_string(),
                "Paid to P-3 after the death registration of 2026-01-15 (public security)"
                    .to_string()
            ),
        ]
    );
}

#[test]
fn rules_check_names_topic_tables_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let pack = write_pack(dir.path(), "registry.deaths");
    let out = sunlight()
        .args(["rules", "check"])
        .arg(&pack)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("table deaths: from topic registry.deaths, read by `sunlight run` from its beginning and followed (columns person_id, registered_on, registry)\n"),
        "{text}"
    );
    let good = std::fs::read_to_string(&pack).unwrap();
    for (change, error) in [
        (
            (
                "columns = [\"person_id\", \"registered_on\", \"registry\"]\n",
                "",
            ),
            "rule `reference`, field `tables.deaths.columns`: a `topic` table needs `columns = [...]`: the row's columns, its key among them",
        ),
        (
            ("key = \"person_id\"", "key = \"id\""),
            "rule `reference`, field `tables.deaths.key`: the key column `id` is not among the columns (person_id, registered_on, registry)",
        ),
        (
            ("\"registry\"]", "\"registry\", \"registry\"]"),
            "rule `reference`, field `tables.deaths.columns`: column `registry` is named twice",
        ),
        (
            (
                "topic = \"registry.deaths\"",
                "topic = \"registry.deaths\"\nfile = \"deaths.csv\"",
            ),
            "rule `reference`, field `tables.deaths`: give either `file` (a CSV file) or `topic` (a compacted Kafka topic), not both",
        ),
        (
            ("topic = \"registry.deaths\"\n", ""),
            "rule `reference`, field `tables.deaths`: needs `file` (a CSV file) or `topic` (a compacted Kafka topic)",
        ),
    ] {
        let bad = good.replacen(change.0, change.1, 1);
        assert_ne!(bad, good);
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, bad).unwrap();
        let out = sunlight()
            .args(["rules", "check"])
            .arg(&path)
            .assert()
            .code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(error), "{error:?} in {err}");
    }
}

#[test]
fn replay_takes_a_topic_tables_rows_from_a_file_and_refuses_without() {
    let dir = tempfile::tempdir().unwrap();
    let pack = write_pack(dir.path(), "registry.deaths");
    let events = dir.path().join("events.jsonl");
    std::fs::write(
        &events,
        [
            payment("E-1", "P-1", "2026-03-01T10:00:00Z"),
            payment("E-2", "P-2", "2026-03-01T11:00:00Z"),
            payment("E-3", "P-1", "2026-01-20T11:00:00Z"),
        ]
        .join("\n"),
    )
    .unwrap();
    // The replay's stderr when it fails with `tables` given.
    let refusal = |tables: &[String]| {
        let mut replay = sunlight();
        replay
            .args(["replay", "--rules"])
            .arg(&pack)
            .arg("--input")
            .arg(&events);
        for t in tables {
            replay.args(["--table", t]);
        }
        let out = replay.assert().failure();
        String::from_utf8_lossy(&out.get_output().stderr).to_string()
    };
    let err = refusal(&[]);
    assert!(
        err.contains("table `deaths` is read from topic `registry.deaths` by `sunlight run`; give its rows here with --table deaths=FILE.csv (a CSV export of the topic, its header naming person_id, registered_on, registry)"),
        "{err}"
    );
    // An export with its columns in another order and one more.
    let export = dir.path().join("deaths.csv");
    std::fs::write(
        &export,
        "registry,extra,person_id,registered_on\ncivil affairs,x,P-1,2026-01-01\n",
    )
    .unwrap();
    let deaths = format!("deaths={}", export.display());
    let out = sunlight()
        .args(["replay", "--rules"])
        .arg(&pack)
        .arg("--input")
        .arg(&events)
        .args(["--table", &deaths])
        .assert()
        .success();
    let warnings = json_lines(&String::from_utf8_lossy(&out.get_output().stdout));
    // E-3 is within 30 days of the registration: silent; P-2 has no row.
    assert_eq!(
        fired(&warnings),
        [(
            "E-1".to_string(),
            "P-1".to_string(),
            "Paid to P-1 after the death registration of 2026-01-01 (civil affairs)".to_string()
        )]
    );
    let err = refusal(&["births=x.csv".to_string()]);
    assert!(
        err.contains("--table births: the pack reads no table `births` from a topic (its topic tables: deaths)"),
        "{err}"
    );
    let err = refusal(&[deaths.clone(), deaths]);
    assert!(
        err.contains("--table deaths: given twice (give each table once)"),
        "{err}"
    );
    // The demo has no --table: its refusal says what to do instead.
    let demo = sunlight()
        .args(["demo", "--rules"])
        .arg(&pack)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&demo.get_output().stderr).to_string();
    assert!(
        err.contains("table `deaths` is read from topic `registry.deaths` by `sunlight run`; the demo reads no topics: run the pack with `sunlight replay --table deaths=FILE.csv`, or declare the table with `file = ...`"),
        "{err}"
    );
}
