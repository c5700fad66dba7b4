//! `[kafka] mask_in_warnings` with the closed loop on (mock cluster): every record
//! Sunlight writes — warnings, escalations, risk codes, the loop's audit records and
//! refused feedback on the dead-letter topic — is read back, and no value of a masked
//! key field appears in clear in any payload or header; the masked places show `***`.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::json;

use crate::support::{Record, json_lines, repo, spawn_engine, sunlight, unique};

/// Reads `topic` from the start until `done` says so (or 60 s), then 1 s more.
async fn read_until(brokers: &str, topic: &str, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    // Assigned, not subscribed: no group to join (each topic has one partition).
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    reader.assign(&partitions).unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut quiet = tokio::time::Instant::now() + Duration::from_secs(3600);
    loop {
        if done(&out) && quiet > tokio::time::Instant::now() + Duration::from_secs(1) {
            quiet = tokio::time::Instant::now() + Duration::from_secs(1);
        }
        let until = deadline.min(quiet);
        let Ok(Ok(m)) = tokio::time::timeout_at(until, reader.recv()).await else {
            break;
        };
        let headers = sunlight_kafka::headers::header_pairs(&m);
        out.push(Record {
            payload: String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string(),
            headers,
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_masked_value_is_written_in_clear_to_any_topic() {
    let dir = tempfile::tempdir().unwrap();
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "1500",
            "--officials",
            "40",
            "--days",
            "90",
        ])
        .args(["--scenario-every", "4", "--seed", "3"])
        .output()
        .unwrap();
    let text = String::from_utf8(generated.stdout).unwrap();
    let events = json_lines(&text);
    // The unmasked truth: the replay's warnings and every counterparty they name.
    let replayed = sunlight()
        .args(["replay", "--quiet", "--input", "-", "--rules"])
        .arg(repo("rules/default.toml"))
        .write_stdin(text.clone())
        .output()
        .unwrap();
    let expected = json_lines(&String::from_utf8(replayed.stdout).unwrap());
    let raw: BTreeSet<String> = expected
        .iter()
        .filter_map(|w| w["key"]["counterparty"].as_str())
        .map(str::to_string)
        .collect();
    let dismissed = expected
        .iter()
        .find(|w| w["key"]["counterparty"].is_string())
        .expect("a warning keyed by counterparty");
    let secret = dismissed["key"]["counterparty"].as_str().unwrap();
    assert!(raw.len() >= 2, "{raw:?}");

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let [input, warnings, dlq, feedback, codes, audit] =
        ["events", "warnings", "dlq", "feedback", "codes", "audit"].map(unique);
    for topic in [&input, &warnings, &dlq, &feedback, &codes, &audit] {
        cluster.create_topic(topic, 1, 1).expect("topic");
    }
    let config = dir.path().join("sunlight.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[kafka]
mask_in_warnings = ["counterparty"]

[casework]
enabled = true
feedback_topic = "{feedback}"
risk_codes_topic = "{codes}"
audit_topic = "{audit}"
tick_interval = "200ms"

[casework.policy]
yellow_receive_within = "2s"
red_receive_within = "2s"
"#
        ),
    )
    .unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--brokers", &brokers, "--group", &unique("group")])
        .args(["--idle-timeout", "1s", "--input-topic", &input])
        .args(["--warnings-topic", &warnings, "--dlq-topic", &dlq])
        .args(["--http-addr", "127.0.0.1:0", "--rules"])
        .arg(repo("rules/default.toml"));
    let (_engine, _addr) = spawn_engine(command);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for (line, e) in text.lines().zip(&events) {
        let key = e["official_id"].as_str().unwrap();
        producer
            .send(
                FutureRecord::to(&input).key(key).payload(line),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let dismissed_id = dismissed["warning_id"].as_str().unwrap().to_string();
    let published = read_until(&brokers, &warnings, |r| {
        r.iter()
            .any(|r| r.json()["warning_id"] == dismissed_id.as_str())
    })
    .await;
    assert!(!published.is_empty(), "warnings are published");

    // A dismissal whose note quotes the value (a suppression, audited), and refused
    // feedback quoting it in a field of that name and in its note (dead-lettered).
    let feedback_records = [
        json!({"warning_id": dismissed_id, "status": "dismissed", "handler": "desk-1",
               "note": format!("payee {secret} checked"), "at": "2026-11-27T09:00:00Z"}),
        json!({"warning_id": "no-such-warning", "status": "received", "handler": "desk-1",
               "counterparty": secret, "note": format!("about {secret}"),
               "at": "2026-11-27T09:00:00Z"}),
        // Refused later (the warning is dismissed by then): the note quotes its key
        // value, with no field of that name.
        json!({"warning_id": dismissed_id, "status": "received", "handler": "desk-1",
               "note": format!("again {secret}"), "at": "2026-11-27T10:00:00Z"}),
    ];
    for record in &feedback_records {
        producer
            .send(
                FutureRecord::<str, str>::to(&feedback).payload(&record.to_string()),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }

    // Every other warning is overdue after 2 s: escalations follow.
    let warnings_read = read_until(&brokers, &warnings, |r| {
        r.iter().any(|r| {
            r.header("sunlight.escalation") == Some("true")
                && r.json()["key"]["counterparty"].is_string()
        })
    })
    .await;
    let audit_read = read_until(&brokers, &audit, |r| {
        r.iter()
            .any(|r| r.json()["action"] == "suppression_created")
    })
    .await;
    let dlq_read = read_until(&brokers, &dlq, |r| r.len() >= 2).await;
    let codes_read = read_until(&brokers, &codes, |r| !r.is_empty()).await;

    // The masked places show the fill.
    let escalation = warnings_read
        .iter()
        .find(|r| {
            r.header("sunlight.escalation") == Some("true")
                && r.json()["key"]["counterparty"].is_string()
        })
        .expect("an escalation keyed by counterparty");
    assert_eq!(escalation.json()["key"]["counterparty"], "***");
    let suppression = audit_read
        .iter()
        .find(|r| r.json()["action"] == "suppression_created")
        .expect("the dismissal is audited")
        .json();
    assert_eq!(suppression["key"]["counterparty"], "***");
    assert_eq!(suppression["note"], "payee *** checked");
    assert_eq!(dlq_read.len(), 2, "the refused feedback");
    assert_eq!(
        dlq_read[0].header("sunlight.reason"),
        Some("unknown_warning")
    );
    let refused = dlq_read[0].json();
    assert_eq!(refused["counterparty"], "***");
    assert_eq!(refused["note"], "about ***");
    assert_eq!(
        dlq_read[1].header("sunlight.reason"),
        Some("invalid_transition")
    );
    assert_eq!(dlq_read[1].json()["note"], "again ***");
    assert!(!codes_read.is_empty(), "risk codes are published");

    // And no raw value anywhere.
    for (topic, records) in [
        ("warnings", &warnings_read),
        ("audit", &audit_read),
        ("dead letters", &dlq_read),
        ("risk codes", &codes_read),
    ] {
        for r in records {
            for value in &raw {
                assert!(
                    !r.payload.contains(value.as_str()),
                    "{value} in clear on {topic}: {}",
                    r.payload
                );
                for (name, header) in &r.headers {
                    assert!(
                        !header.contains(value.as_str()),
                        "{value} in clear in header {name} on {topic}"
                    );
                }
            }
        }
    }
}
