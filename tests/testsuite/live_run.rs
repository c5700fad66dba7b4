//! `sunlight run` end to end against librdkafka's mock cluster (a Kafka-protocol
//! broker on a loopback port, started by the test): a standard client produces the
//! events, and the warnings topic carries exactly the warning ids `sunlight replay`
//! prints for the same file. SIGTERM stops the engine cleanly.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::{json_lines, repo, sunlight, unique};

/// Starts `sunlight run` with the default pack against `brokers`.
fn spawn_run(brokers: &str, topics: &[&str]) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("sunlight"))
        .args([
            "run",
            "--brokers",
            brokers,
            "--group",
            &unique("group"),
            "--idle-timeout",
            "1s",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .args(topics)
        .arg("--rules")
        .arg(repo("rules/default.toml"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start sunlight run")
}

/// Reads warning ids from `topic` (a new group, from the start) until `want`
/// arrived or a minute passed.
async fn read_warning_ids(brokers: &str, topic: &str, want: usize) -> Vec<String> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let mut ids = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < want {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, reader.recv()).await else {
            break;
        };
        let w = &json_lines(&String::from_utf8_lossy(m.payload().unwrap_or_default()))[0];
        ids.push(w["warning_id"].as_str().unwrap().to_string());
    }
    ids
}

/// Sends SIGTERM; returns whether the process exited successfully, and its stderr.
fn terminate(child: std::process::Child) -> (bool, String) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().expect("sunlight run exits");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_publishes_the_replay_warnings_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    sunlight()
        .args([
            "gen",
            "--events",
            "2000",
            "--officials",
            "50",
            "--days",
            "90",
            "--scenario-every",
            "4",
            "--output",
        ])
        .arg(&events)
        .assert()
        .success();
    let replayed = sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&events)
        .output()
        .unwrap();
    let expected: BTreeSet<String> = json_lines(&String::from_utf8(replayed.stdout).unwrap())
        .iter()
        .map(|w| w["warning_id"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() > 10, "{}", expected.len());

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for (topic, partitions) in [(&input, 4), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).expect("topic");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let text = std::fs::read_to_string(&events).unwrap();
    let sends = text.lines().map(|line| {
        let key = json_lines(line)[0]["official_id"]
            .as_str()
            .unwrap()
            .to_string();
        let (producer, topic) = (&producer, input.as_str());
        async move {
            producer
                .send(
                    FutureRecord::to(topic).key(&key).payload(line),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;

    let child = spawn_run(
        &brokers,
        &[
            "--input-topic",
            &input,
            "--warnings-topic",
            &warnings,
            "--dlq-topic",
            &dlq,
        ],
    );
    let got: BTreeSet<String> = read_warning_ids(&brokers, &warnings, expected.len())
        .await
        .into_iter()
        .collect();
    let (success, stderr) = terminate(child);
    assert!(success, "{stderr}");
    assert_eq!(got, expected, "live warnings equal replay warnings");
    let consumed = format!(
        "stopped; consumed {}, warnings {} (carried from entity lanes 0),",
        text.lines().count(),
        expected.len()
    );
    assert!(stderr.contains(&consumed), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gen_publishes_json_and_protobuf_topics_that_run_reads_alike() {
    let simulated = [
        "--events",
        "1500",
        "--officials",
        "40",
        "--days",
        "90",
        "--scenario-every",
        "4",
        "--seed",
        "5",
    ];
    let generated = sunlight().arg("gen").args(simulated).output().unwrap();
    let replayed = sunlight()
        .args(["replay", "--quiet", "--input", "-", "--rules"])
        .arg(repo("rules/default.toml"))
        .write_stdin(generated.stdout.clone())
        .output()
        .unwrap();
    let expected: BTreeSet<String> = json_lines(&String::from_utf8(replayed.stdout).unwrap())
        .iter()
        .map(|w| w["warning_id"].as_str().unwrap().to_string())
        .collect();
    let events = String::from_utf8(generated.stdout).unwrap().lines().count();

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (json_topic, proto_topic, warnings, dlq) = (
        unique("json"),
        unique("proto"),
        unique("warnings"),
        unique("dlq"),
    );
    for topic in [&json_topic, &proto_topic, &warnings, &dlq] {
        cluster.create_topic(topic, 2, 1).expect("topic");
    }
    for (topic, format) in [(&json_topic, "json"), (&proto_topic, "protobuf")] {
        let out = sunlight()
            .arg("gen")
            .args(simulated)
            .args(["--format", format, "--brokers", &brokers, "--topic", topic])
            // The JSON copy is throttled (a steady stream, as in the compose stack).
            .args(if format == "json" {
                &["--rate", "5000"][..]
            } else {
                &[]
            })
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!("published {events} events to {topic}")),
            "{stderr}"
        );
    }

    let child = spawn_run(
        &brokers,
        &[
            "--input-topic",
            &json_topic,
            "--input-topic",
            &proto_topic,
            "--protobuf-topic",
            &proto_topic,
            "--warnings-topic",
            &warnings,
            "--dlq-topic",
            &dlq,
        ],
    );
    // One engine reads both topics: the second copy of each event is a duplicate
    // (same event_id), so every warning comes once.
    let ids = read_warning_ids(&brokers, &warnings, expected.len()).await;
    let (success, stderr) = terminate(child);
    assert!(success, "{stderr}");
    assert_eq!(ids.len(), expected.len(), "{stderr}");
    assert_eq!(ids.into_iter().collect::<BTreeSet<_>>(), expected);
    assert!(
        stderr.contains(&format!(
            "consumed {}, warnings {} (carried from entity lanes 0), dead letters 0",
            2 * events,
            expected.len()
        )),
        "{stderr}"
    );
}
