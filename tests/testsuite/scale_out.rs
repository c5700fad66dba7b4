//! Several `sunlight run` processes in one consumer group on a real broker process
//! (tansu), with events flowing: one instance is killed with SIGKILL mid-stream, a
//! third joins, another leaves with SIGTERM, the killed one comes back. The warnings
//! topic must then hold exactly the warning ids `sunlight replay` gives for the same
//! events (nothing lost, nothing invented); repeats are only of identical warnings.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::Value;

use crate::support::{json_lines, repo, sunlight, unique, without_detected_at};

#[path = "../../crates/sunlight-kafka/tests/kafka/tansu.rs"]
mod tansu;

struct Instance(Child);

impl Instance {
    fn start(
        brokers: &str,
        group: &str,
        input: &str,
        warnings: &str,
        dlq: &str,
        state: Option<&str>,
        cooperative: bool,
    ) -> Instance {
        let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
        if let Some(topic) = state {
            command
                .env("SUNLIGHT__STATE__ENABLED", "true")
                .env("SUNLIGHT__STATE__TOPIC", topic)
                .env("SUNLIGHT__STATE__INTERVAL", "500ms");
        }
        let child = command
            .arg("run")
            .args([
                "--brokers",
                brokers,
                "--group",
                group,
                "--idle-timeout",
                "2s",
            ])
            .args([
                "--input-topic",
                input,
                "--warnings-topic",
                warnings,
                "--dlq-topic",
                dlq,
            ])
            .args(["--http-addr", "127.0.0.1:0", "--rules"])
            .arg(repo("rules/default.toml"))
            // Notice a killed member within seconds, not the default 45 s.
            .args([
                "-X",
                "session.timeout.ms=6000",
                "-X",
                "heartbeat.interval.ms=500",
            ])
            .args(if cooperative {
                &["-X", "partition.assignment.strategy=cooperative-sticky"][..]
            } else {
                &[]
            })
            // For a diagnosis: librdkafka's own debug contexts (e.g. `cgrp`), logged
            // with RUST_LOG (SCALE_OUT_LOG) including `librdkafka=debug`.
            .args(
                std::env::var("SCALE_OUT_RDKAFKA_DEBUG")
                    .map(|d| vec!["-X".to_string(), format!("debug={d}")])
                    .unwrap_or_default(),
            )
            .env(
                "RUST_LOG",
                std::env::var("SCALE_OUT_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var("SCALE_OUT_LOG_DIR") {
                Ok(dir) => Stdio::from(
                    std::fs::File::create(format!("{dir}/{}.log", unique("instance"))).unwrap(),
                ),
                Err(_) => Stdio::null(),
            })
            .spawn()
            .expect("start sunlight run");
        Instance(child)
    }

    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.0.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One record per batch: tansu 0.6.0 serves nothing to a fetch that starts inside a
/// record batch, and commit points land anywhere.
async fn produce(brokers: &str, topic: &str, lines: &[(String, String)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("batch.num.messages", "1")
        .create()
        .unwrap();
    let sends = lines.iter().map(|(key, line)| {
        let producer = &producer;
        async move {
            producer
                .send(
                    FutureRecord::to(topic).key(key).payload(line),
                    Duration::from_secs(30),
                )
                .await
                .expect("produce");
        }
    });
    futures::future::join_all(sends).await;
}

/// A consumer of partition 0 of `topic` from its beginning (no group join).
fn reader(brokers: &str, topic: &str) -> StreamConsumer {
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    reader.assign(&tpl).unwrap();
    reader
}

/// Every record on `topic` (one partition) until `done` or `timeout`.
async fn read_all(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let reader = reader(brokers, topic);
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !done(&out) {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, reader.recv()).await else {
            break;
        };
        out.push(serde_json::from_slice(m.payload().unwrap_or_default()).unwrap());
    }
    out
}

fn distinct(records: &[Value]) -> BTreeMap<String, Value> {
    let mut by_id = BTreeMap::new();
    for w in without_detected_at(records.to_vec()) {
        let id = w["warning_id"].as_str().unwrap().to_string();
        if let Some(first) = by_id.get(&id) {
            assert_eq!(first, &w, "a repeat of {id} differs from the first copy");
        } else {
            by_id.insert(id, w);
        }
    }
    by_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu 0.6.0 sometimes leaves a follower's JoinGroup unanswered, so a partition has no live consumer (docs/STATE.md); run with --ignored"]
async fn instances_killed_added_and_removed_mid_stream_lose_and_invent_nothing() {
    scenario(false, false).await;
}

/// The same with durable state: each new owner restores the partitions' snapshots
/// from the state topic instead of re-reading (docs/STATE.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu 0.6.0 sometimes leaves a follower's JoinGroup unanswered, so a partition has no live consumer (docs/STATE.md); run with --ignored"]
async fn with_durable_state_the_same_scenario_loses_and_invents_nothing() {
    scenario(true, false).await;
}

/// The same with durable state and cooperative-sticky assignment: partitions that
/// stay are not revoked; the state is handed over through a snapshot at each change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "tansu 0.6.0 sometimes leaves a follower's JoinGroup unanswered, so a partition has no live consumer (docs/STATE.md); run with --ignored"]
async fn with_cooperative_sticky_assignment_the_same_scenario_loses_and_invents_nothing() {
    scenario(true, true).await;
}

/// The two scenarios start a broker and up to three engines each: one at a time, so
/// that on a loaded 2-core machine heartbeats are not missed into rebalance storms.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn scenario(durable: bool, cooperative: bool) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "3000",
            "--officials",
            "60",
            "--days",
            "120",
        ])
        .args(["--scenario-every", "3", "--seed", "17", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let replay = sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&file)
        .output()
        .unwrap();
    let expected = distinct(&json_lines(&String::from_utf8(replay.stdout).unwrap()));
    assert!(expected.len() > 20);
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["official_id"].as_str().unwrap().to_string(),
                l.to_string(),
            )
        })
        .collect();
    // Three batches; the first reaches into the generated misconduct scenarios, so it
    // yields warnings on its own (the early background activity yields none).
    let (first_cut, second_cut) = (lines.len() * 2 / 3, lines.len() * 5 / 6);

    let broker = tansu::Tansu::start();
    let (input, warnings, dlq, group) = (
        unique("events"),
        unique("warnings"),
        unique("dlq"),
        unique("group"),
    );
    let state = unique("state");
    broker
        .create_topics(&[(&input, 4), (&warnings, 1), (&dlq, 1), (&state, 1)])
        .await;
    let brokers = broker.brokers.clone();
    let state = durable.then_some(state.as_str());
    let start = |g: &str| Instance::start(&brokers, g, &input, &warnings, &dlq, state, cooperative);

    // Each batch of events is produced before the membership change that follows
    // it, so every instance meets records on (re)assignment.
    produce(&brokers, &input, &lines[..first_cut]).await;
    let mut a = start(&group);
    let mut b = start(&group);
    // Some warnings are out: the instances are working.
    let early = read_all(&brokers, &warnings, Duration::from_secs(60), |w| {
        w.len() >= 3
    })
    .await;
    assert!(early.len() >= 3, "the instances produce warnings");
    a.signal("-KILL");
    produce(&brokers, &input, &lines[first_cut..second_cut]).await;
    let mut c = start(&group);
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.signal("-TERM");
    produce(&brokers, &input, &lines[second_cut..]).await;
    let _a2 = start(&group);

    let want = expected.len();
    let all = read_all(&brokers, &warnings, Duration::from_secs(300), |w| {
        distinct(w).len() >= want
    })
    .await;
    // A little longer: anything beyond the expected set would be invented.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = read_all(&brokers, &warnings, Duration::from_secs(10), |w| {
        w.len() >= all.len()
    })
    .await;
    let got = distinct(&all);
    let missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    if !missing.is_empty() {
        // For a diagnosis: the late dead letters and the group's assignment (docs/STATE.md).
        let dead = read_raw_headers(&brokers, &dlq).await;
        eprintln!("dead letters by reason: {dead:?}");
        eprintln!(
            "group as the broker describes it: {}",
            describe_group(&brokers, &group)
        );
    }
    let invented: Vec<&String> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && invented.is_empty(),
        "missing {missing:?}, invented {invented:?}"
    );
    assert_eq!(got, expected, "the same warnings, field by field");
    eprintln!(
        "{} warnings, {} records on the topic ({} repeats of identical warnings)",
        expected.len(),
        all.len(),
        all.len() - expected.len()
    );
    c.signal("-TERM");
}

/// Dead-letter records on `topic` (one partition), counted by `sunlight.reason`;
/// late ones also by source partition, with the first and last detail of each.
async fn read_raw_headers(brokers: &str, topic: &str) -> BTreeMap<String, usize> {
    use rdkafka::message::Headers;
    let reader = reader(brokers, topic);
    let mut by_reason = BTreeMap::new();
    let mut late: BTreeMap<String, (usize, String, String)> = BTreeMap::new();
    while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_secs(3), reader.recv()).await {
        let header = |name: &str| {
            m.headers()
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == name)
                        .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).to_string())
                })
                .unwrap_or_default()
        };
        let reason = header("sunlight.reason");
        if reason == "late" {
            let at = format!(
                "partition {} offset {}",
                header("sunlight.source.partition"),
                header("sunlight.source.offset")
            );
            let entry = late
                .entry(header("sunlight.source.partition"))
                .or_insert_with(|| {
                    (
                        0,
                        format!("{at}: {}", header("sunlight.detail")),
                        String::new(),
                    )
                });
            entry.0 += 1;
            entry.2 = format!("{at}: {}", header("sunlight.detail"));
        }
        *by_reason.entry(reason).or_insert(0) += 1;
    }
    for (partition, (n, first, last)) in late {
        eprintln!("late on partition {partition}: {n}; first {first}; last {last}");
    }
    by_reason
}

/// The group's state and each member's assigned partitions, as the broker reports
/// them (for the diagnosis of a failed run).
fn describe_group(brokers: &str, group: &str) -> String {
    let client: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let list = match client.fetch_group_list(Some(group), Duration::from_secs(10)) {
        Ok(list) => list,
        Err(e) => return format!("not available: {e}"),
    };
    let mut out = String::new();
    for g in list.groups() {
        out.push_str(&format!("state {} protocol {}; ", g.state(), g.protocol()));
        for m in g.members() {
            let partitions = m.assignment().map(assigned_partitions).unwrap_or_default();
            out.push_str(&format!(
                "member {} ({}): {partitions:?}; ",
                m.id(),
                m.client_host()
            ));
        }
    }
    out
}

/// The partitions in a consumer-protocol assignment (version, then per topic: name
/// and partition numbers; user data ignored).
fn assigned_partitions(bytes: &[u8]) -> Vec<i32> {
    let mut at = 2; // version
    let mut take = |n: usize| -> Option<&[u8]> {
        let slice = bytes.get(at..at + n)?;
        at += n;
        Some(slice)
    };
    let mut out = Vec::new();
    let int = |b: &[u8]| i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let Some(topics) = take(4).map(int) else {
        return out;
    };
    for _ in 0..topics.max(0) {
        let Some(len) = take(2).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
            break;
        };
        if take(len.max(0) as usize).is_none() {
            break;
        }
        let Some(n) = take(4).map(int) else { break };
        for _ in 0..n.max(0) {
            match take(4).map(int) {
                Some(p) => out.push(p),
                None => break,
            }
        }
    }
    out
}
