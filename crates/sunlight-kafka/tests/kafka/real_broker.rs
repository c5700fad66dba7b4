//! The pipeline against a real broker process (tansu), with events produced by two
//! independent clients: the Python confluent-kafka client and rdkafka.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration as StdDuration;

use crate::support::*;
use crate::tansu::Tansu;

/// Input (3 partitions), warnings and dead-letter topics with random names.
async fn topics(broker: &Tansu) -> (String, String, String) {
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    broker
        .create_topics(&[(&input, 3), (&warnings, 1), (&dlq, 1)])
        .await;
    (input, warnings, dlq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_events_give_the_replays_warnings_and_bad_input_is_dead_lettered() {
    let broker = Tansu::start();
    let (input, warnings, dlq) = topics(&broker).await;
    let (pack, events, expected) = workload(71);

    let mut lines = String::new();
    for e in &events {
        sunlight_core::codec::json::encode(e, &mut lines);
        lines.push('\n');
    }
    lines.push_str("not json\n");
    lines.push_str(r#"{"event_id":"x","kind":"payment","occurred_at":"2026-02-01T00:00:00Z"}"#);
    lines.push('\n');
    let file = std::env::temp_dir().join(format!("{}.jsonl", unique("events")));
    std::fs::write(&file, lines).expect("write events");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/produce.py");
    let python = std::env::var("SUNLIGHT_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .args([&broker.brokers, &input])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    std::fs::remove_file(&file).expect("remove events file");
    assert!(
        out.status.success(),
        "the Python producer failed (run scripts/install-tools.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        (events.len() + 2).to_string()
    );

    let (stop, task) = start(
        config(&broker.brokers, &unique("group"), &input, &warnings, &dlq),
        &pack,
    );
    let got = await_warning_ids(
        &broker.brokers,
        &warnings,
        &expected,
        StdDuration::from_secs(90),
    )
    .await;
    let dead = read_topic(&broker.brokers, &dlq, 2, StdDuration::from_secs(30)).await;
    await_consumed(&input, events.len() + 2).await;
    let _ = stop.send(());
    let stats = task.await.expect("task").expect("run");
    assert_eq!(got, expected, "{stats:?}");
    let reasons: BTreeSet<(String, String)> = dead
        .iter()
        .map(|(payload, headers)| {
            let reason = headers
                .iter()
                .find(|(k, _)| k == "sunlight.reason")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (reason, payload.chars().take(9).collect())
        })
        .collect();
    assert_eq!(
        reasons,
        BTreeSet::from([
            ("invalid_json".to_string(), "not json".to_string()),
            ("missing_field".to_string(), "{\"event_i".to_string()),
        ])
    );
    assert_eq!(stats.consumed, events.len() as u64 + 2);
    assert_eq!(stats.key_mismatches, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_restarted_mid_stream_loses_no_warning() {
    let broker = Tansu::start();
    let (input, warnings, dlq) = topics(&broker).await;
    let group = unique("group");
    let (pack, events, expected) = workload(72);
    // Cut where the first part already gives some, but not all, warnings.
    let half = (1..10)
        .map(|tenths| events.len() * tenths / 10)
        .find(|&cut| !replay_ids(&pack, &events[..cut]).is_empty())
        .expect("a prefix with warnings");
    let first_half = replay_ids(&pack, &events[..half]);
    assert!(first_half.len() < expected.len());
    produce_all(&broker.brokers, &input, &events[..half]).await;
    let (stop, task) = start(
        config(&broker.brokers, &group, &input, &warnings, &dlq),
        &pack,
    );
    // Stop the first engine once it has published something (group join on a real
    // broker takes a few seconds).
    // When the first half's input goes idle, every event in it is evaluated: the
    // first engine publishes exactly what a replay of the first half gives.
    let before = await_warning_ids(
        &broker.brokers,
        &warnings,
        &first_half,
        StdDuration::from_secs(60),
    )
    .await;
    await_consumed(&input, half).await;
    let _ = stop.send(());
    let first = task.await.expect("task").expect("first run");
    assert_eq!(first.consumed, half as u64, "{first:?}");
    assert_eq!(before, first_half, "{first:?}");

    produce_all(&broker.brokers, &input, &events[half..]).await;
    let (stop, task) = start(
        config(&broker.brokers, &group, &input, &warnings, &dlq),
        &pack,
    );
    let got = await_warning_ids(
        &broker.brokers,
        &warnings,
        &expected,
        StdDuration::from_secs(90),
    )
    .await;
    let _ = stop.send(());
    let second = task.await.expect("task").expect("second run");
    assert_eq!(got, expected, "nothing lost across the restart: {second:?}");
}
