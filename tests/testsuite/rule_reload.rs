//! Live rule updates on a running `sunlight run` (mock cluster), with events flowing:
//! an invalid pack sent with SIGHUP is rejected and the running one stays; a new
//! version sent with SIGHUP is swapped in with the window state carried over, and the
//! warnings topic then holds exactly what an engine computes that evaluates the first
//! half of the events with the old pack, swaps, and evaluates the rest with the new.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::codec::{DecodeLimits, Format, decode_message};
use sunlight_core::time::Timestamp;
use sunlight_core::{CompiledPack, Engine, EngineConfig};

use crate::support::{await_sample, hangup, repo, sample, scrape, spawn_engine, sunlight, unique};

async fn produce(brokers: &str, topic: &str, lines: &[(String, String)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (key, line) in lines {
        producer
            .send(
                FutureRecord::to(topic).key(key).payload(line),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_rule_pack_is_swapped_in_with_events_flowing() {
    let dir = tempfile::tempdir().unwrap();
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "2000",
            "--officials",
            "30",
            "--days",
            "120",
        ])
        .args(["--scenario-every", "3", "--seed", "13"])
        .output()
        .unwrap();
    let text = String::from_utf8(generated.stdout).unwrap();
    let mut events = Vec::new();
    for line in text.lines() {
        let (e, _, _) = decode_message(line.as_bytes(), Format::Json, &DecodeLimits::default())
            .expect("generated events decode");
        events.push((line.to_string(), e));
    }
    // Two halves in event time: every event of the second is later than the first.
    let mut times: Vec<i64> = events.iter().map(|(_, e)| e.occurred_at.0).collect();
    times.sort_unstable();
    let split = times[times.len() / 2];
    let (first, second): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|(_, e)| e.occurred_at.0 < split);
    assert!(first.len() > 500 && second.len() > 500);

    let pack_path = dir.path().join("pack.toml");
    for reference in ["relations.csv", "deaths.csv", "departures.csv"] {
        std::fs::copy(
            repo(&format!("rules/{reference}")),
            dir.path().join(reference),
        )
        .unwrap();
    }
    let v1_text = std::fs::read_to_string(repo("rules/default.toml")).unwrap();
    std::fs::write(&pack_path, &v1_text).unwrap();
    // The shipped pack's version: the first `version = "..."` is [pack]'s.
    let v1_version = v1_text
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the pack's version")
        .to_string();
    // v2: a new pack version, split-payment v2 with a lower threshold.
    let v2_text = v1_text
        .replacen(
            &format!("version = \"{v1_version}\""),
            "version = \"2026.11.2-test\"",
            1,
        )
        .replacen(
            "id = \"split-payment\"\nversion = 1",
            "id = \"split-payment\"\nversion = 2",
            1,
        )
        .replacen(
            "red = { count = \">= 2\", sum = \">= 5000000\" }",
            "red = { count = \">= 2\", sum = \">= 4000000\" }",
            1,
        );
    assert_ne!(v2_text, v1_text);
    assert!(v2_text.contains("version = 2"));

    // The model: v1 over the first half (all released), swap, v2 over the rest.
    let v1 = Arc::new(CompiledPack::load(&pack_path).unwrap());
    let mut model = Engine::new(Arc::clone(&v1), EngineConfig::default());
    let mut expected = Vec::new();
    for (_, e) in &first {
        model.ingest(e.clone(), &mut expected);
    }
    let max_first = first.iter().map(|(_, e)| e.occurred_at.0).max().unwrap();
    model.advance_watermark(Timestamp(max_first + 1), &mut expected);
    let first_ids: BTreeSet<String> = expected.iter().map(|w| w.warning_id.clone()).collect();
    let v2_path = dir.path().join("v2.toml");
    std::fs::write(&v2_path, &v2_text).unwrap();
    model.swap_pack(Arc::new(CompiledPack::load(&v2_path).unwrap()));
    for (_, e) in &second {
        model.ingest(e.clone(), &mut expected);
    }
    model.flush(&mut expected);
    let all_ids: BTreeSet<String> = expected.iter().map(|w| w.warning_id.clone()).collect();
    assert!(
        expected
            .iter()
            .any(|w| w.rule_id == "split-payment" && w.rule_version == 2),
        "the new version fires in the second half"
    );

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for (topic, partitions) in [(input.as_str(), 2), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .args([
            "--brokers",
            &brokers,
            "--group",
            &unique("group"),
            "--idle-timeout",
            "1s",
        ])
        .args([
            "--input-topic",
            &input,
            "--warnings-topic",
            &warnings,
            "--dlq-topic",
            &dlq,
        ])
        .args(["--http-addr", "127.0.0.1:0", "--rules"])
        .arg(&pack_path)
        // Only SIGHUP reloads here, so the test decides when.
        .env("SUNLIGHT__ENGINE__RELOAD_INTERVAL", "off");
    let (mut child, addr) = spawn_engine(command);

    let keyed = |half: &[(String, sunlight_core::PowerEvent)]| -> Vec<(String, String)> {
        half.iter()
            .map(|(l, e)| (e.official_id.to_string(), l.clone()))
            .collect()
    };
    produce(&brokers, &input, &keyed(&first)).await;
    let consumed = format!("sunlight_records_consumed_total{{topic=\"{input}\"}}");
    assert_eq!(
        await_sample(&addr, &consumed, first.len() as f64).await,
        Some(first.len() as f64)
    );
    let got = read_ids(&brokers, &warnings, first_ids.len()).await;
    assert_eq!(got, first_ids, "the first half under v1");
    // The idle timeout releases every pending event of the first half under v1 (the
    // gauge is current after every record, so it counts the last one already).
    assert_eq!(
        await_sample(&addr, "sunlight_pending_events", 0.0).await,
        Some(0.0)
    );

    // An invalid pack is rejected; the running pack stays.
    std::fs::write(&pack_path, "[pack]\nname = \"broken\"\n[[rule]]\nid = 3\n").unwrap();
    hangup(&child.0);
    let rejected = "sunlight_rule_reloads_total{outcome=\"rejected\"}";
    assert_eq!(await_sample(&addr, rejected, 1.0).await, Some(1.0));
    // The new version is swapped in.
    std::fs::write(&pack_path, &v2_text).unwrap();
    hangup(&child.0);
    assert_eq!(
        await_sample(&addr, "sunlight_rule_swaps_total", 1.0).await,
        Some(1.0)
    );
    let metrics = scrape(&addr);
    assert_eq!(
        sample(&metrics, "sunlight_rule_reloads_total{outcome=\"applied\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "sunlight_rules_info{pack=\"default\",version=\"2026.11.2-test\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("sunlight_rules_info{{pack=\"default\",version=\"{v1_version}\"}}")
        ),
        Some(0.0)
    );

    produce(&brokers, &input, &keyed(&second)).await;
    let got = read_ids(&brokers, &warnings, all_ids.len()).await;
    assert_eq!(
        got, all_ids,
        "v1 before the swap, v2 after, state carried over"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.0.wait().unwrap().success());
}

/// Distinct warning ids on `topic`, read until `want` distinct ids or 60 s.
async fn read_ids(brokers: &str, topic: &str, want: usize) -> BTreeSet<String> {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let mut ids = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ids.len() < want {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, reader.recv()).await else {
            break;
        };
        let w: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
        ids.insert(w["warning_id"].as_str().unwrap().to_string());
    }
    // A little longer: anything beyond `want` would be a wrong warning.
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(500), reader.recv()).await {
        let w: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap();
        ids.insert(w["warning_id"].as_str().unwrap().to_string());
    }
    ids
}
