//! Admission is the engine's: `sunlight replay` of a topic's content gives the same
//! warnings and the same rejects (reason, detail, original bytes) as `sunlight run`
//! reading that topic live, for bad JSON, missing fields, an event dated far in the
//! future, a late event and a duplicate among generated activity.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::support::{
    KillOnDrop, json_lines, read_records, repo, sunlight, unique, without_detected_at,
};

/// Generated activity with bad, future-dated, late and duplicate records mixed in.
fn input_lines() -> Vec<String> {
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "2000",
            "--officials",
            "30",
            "--days",
            "60",
            "--scenario-every",
            "3",
            "--seed",
            "11",
        ])
        .output()
        .unwrap();
    let mut lines: Vec<String> = String::from_utf8(generated.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    let official = first["official_id"].as_str().unwrap().to_string();
    let mut late = first.clone();
    late["event_id"] = "late-1".into();
    let mut future = first.clone();
    future["event_id"] = "future-1".into();
    future["occurred_at"] = "2099-01-01T00:00:00Z".into();
    let mut missing = first.clone();
    missing.as_object_mut().unwrap().remove("kind");
    let extras = [
        (100, "{\"event_id\": \"broken".to_string()),
        (200, missing.to_string()),
        (300, future.to_string()),
        (1000, late.to_string()),
        (1200, lines[1100].clone()),
        (1500, format!("[\"{official}\"]")),
    ];
    for (at, line) in extras.into_iter().rev() {
        lines.insert(at, line);
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_topic_gives_the_warnings_and_rejects_of_the_live_run() {
    let lines = input_lines();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("topic.jsonl");
    let errors = dir.path().join("rejects.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let replayed = sunlight()
        .args(["replay", "--quiet", "--max-future-skew", "1d", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&input)
        .arg("--errors")
        .arg(&errors)
        .output()
        .unwrap();
    let mut expected =
        without_detected_at(json_lines(&String::from_utf8(replayed.stdout).unwrap()));
    let mut expected_rejects: Vec<(String, String, String)> =
        json_lines(&std::fs::read_to_string(&errors).unwrap())
            .iter()
            .map(|r| {
                (
                    r["reason"].as_str().unwrap().to_string(),
                    r["detail"].as_str().unwrap().to_string(),
                    r["input"].as_str().unwrap().to_string(),
                )
            })
            .collect();
    // Each injected record is refused for its reason (the generator's own disorder
    // adds a late event or two).
    let refused = |reason: &str, input: &str| {
        expected_rejects
            .iter()
            .any(|(r, _, i)| r == reason && i.contains(input))
    };
    assert!(refused("invalid_json", "broken"), "{expected_rejects:?}");
    assert!(
        refused("missing_field", "EV-000000000"),
        "{expected_rejects:?}"
    );
    assert!(
        refused("invalid_timestamp", "future-1"),
        "{expected_rejects:?}"
    );
    assert!(refused("late", "late-1"), "{expected_rejects:?}");
    assert!(refused("invalid_json", "[\""), "{expected_rejects:?}");
    assert!(expected.len() > 10, "{}", expected.len());

    // One partition: the live run reads the records in the file's order.
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (events, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for topic in [&events, &warnings, &dlq] {
        cluster.create_topic(topic, 1, 1).expect("topic");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for line in &lines {
        producer
            .send(
                FutureRecord::<(), _>::to(&events).payload(line),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }
    let _engine = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("sunlight"))
            .args(["run", "--brokers", &brokers, "--group", &unique("group")])
            .args(["--input-topic", &events, "--warnings-topic", &warnings])
            .args(["--dlq-topic", &dlq, "--http-addr", "127.0.0.1:0"])
            // Long enough that no pause of a busy machine counts as idleness (which
            // would release pending events early); the end of input is released
            // when the topic goes quiet.
            .args(["--idle-timeout", "10s", "--rules"])
            .arg(repo("rules/default.toml"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sunlight run"),
    );
    let want = expected_rejects.len();
    let dead = read_records(&brokers, &dlq, |r| r.len() >= want).await;
    let mut got_rejects: Vec<(String, String, String)> = dead
        .iter()
        .map(|r| {
            (
                r.header("sunlight.reason").unwrap().to_string(),
                r.header("sunlight.detail").unwrap().to_string(),
                r.payload.clone(),
            )
        })
        .collect();
    let want = expected.len();
    let mut got = without_detected_at(
        read_records(&brokers, &warnings, |r| r.len() >= want)
            .await
            .iter()
            .map(|r| r.json())
            .collect(),
    );
    for list in [&mut expected, &mut got] {
        list.sort_by_key(|w| w["warning_id"].as_str().unwrap().to_string());
    }
    got_rejects.sort();
    expected_rejects.sort();
    assert_eq!(got_rejects, expected_rejects, "the same dead letters");
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "the same warning");
    }
}
