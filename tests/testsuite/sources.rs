//! Source mappings end to end: `sunlight sources check` and `sources test` on the
//! OA approvals contract, and the same Debezium records mapped by `sunlight run`
//! (live, `[kafka] sources`) and by `sunlight replay --sources`: the same warnings,
//! the same `unmappable` dead letter, and a change delivered twice counted once.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::{
    KillOnDrop, await_sample, hangup, json_lines, read_records, repo, sample, scrape, spawn_engine,
    sunlight, unique, without_detected_at,
};

const MAPPED: [&str; 2] = [
    r#"{"event_id":"oa_approval:1001:u:24023128","official_id":"O-3001","kind":"approval","occurred_at":"2026-11-27T06:03:00Z","source_system":"oa","org_unit":"finance-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":4850000,"attributes":{"applicant_id":"E-2001","table_id":1001}}"#,
    r#"{"event_id":"oa_approval:1002:c:24023912","official_id":"O-3001","kind":"approval","occurred_at":"2026-11-27T07:30:00Z","source_system":"oa","org_unit":"finance-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":499950,"attributes":{"applicant_id":"E-2002","table_id":1002}}"#,
];

const REJECT: &str = "unmappable: source oa-approvals, event 1 (approved), field amount_cents: after.amount: \"300.125\" has more than two decimals (set round = \"half_up\" or \"half_even\" to round)";

#[test]
fn sources_test_prints_mapped_events_on_stdout_and_rejects_on_stderr() {
    let out = sunlight()
        .args(["sources", "test"])
        .arg(repo("examples/sources/oa-approvals.toml"))
        .arg("--input")
        .arg(repo("examples/sources/oa-approvals.sample.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), MAPPED.to_vec());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr, format!("line 5: {REJECT}\n"));

    let explained = sunlight()
        .args(["sources", "test", "--explain"])
        .arg(repo("examples/sources/oa-approvals.toml"))
        .arg("--input")
        .arg(repo("examples/sources/oa-approvals.sample.jsonl"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(explained.stderr).unwrap(),
        format!(
            "line 3: nothing: no_rule_matched\nline 4: nothing: no_rule_matched\nline 5: {REJECT}\nline 6: nothing: delete\nline 7: nothing: tombstone\n2 mapped, 4 mapped to nothing, 1 rejected\n"
        )
    );
}

#[test]
fn sources_check_lists_the_sources_or_every_problem() {
    let ok = sunlight()
        .args(["sources", "check"])
        .arg(repo("examples/sources/oa-approvals.toml"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert_eq!(
        String::from_utf8(ok.stdout).unwrap(),
        "ok: 1 source\n  oa-approvals             topics oa.public.oa_approval\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[source]]\nname = \"fuel\"\ntopics = [\"fuel\"]\nformat = \"json\"\n[[source.event]]\nkind = \"fuel\"\nevent_id = { path = \"id\" }\nofficial_id = { path = \"card.holder\" }\noccurred_at = { path = \"t\", time = \"epoch_ms\", round = \"half_up\" }\n",
    )
    .unwrap();
    let failed = sunlight()
        .args(["sources", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(failed.stderr).unwrap(),
        format!(
            "{}: fuel: event 1: occurred_at: round applies to money\n",
            bad.display()
        )
    );
}

/// A pack where every approval is a yellow warning.
const PACK: &str = r#"
[pack]
name = "approvals"
version = "1"

[[rule]]
id = "approval"
version = 1
kind = "predicate"
title = "approval by {official_id}"
level = "yellow"
filter = { kind = "approval" }

# Keeps approvals in a window for a day, so a change delivered again later is
# recognised as a duplicate (it never fires here).
[[rule]]
id = "many-approvals"
version = 1
kind = "aggregate"
title = "{count} approvals"
window = "1d"
filter = { kind = "approval" }
red = { count = ">= 100" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_topic_gives_the_same_warnings_and_dead_letters_live_and_in_replay() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("oa");
    let mapping = dir.path().join("oa.toml");
    let contract = std::fs::read_to_string(repo("examples/sources/oa-approvals.toml")).unwrap();
    std::fs::write(&mapping, contract.replace("oa.public.oa_approval", &topic)).unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, PACK).unwrap();
    let sample =
        std::fs::read_to_string(repo("examples/sources/oa-approvals.sample.jsonl")).unwrap();
    let mut lines: Vec<&str> = sample.lines().collect();
    // Debezium re-sends a change after a connector restart: the same event id.
    lines.push(lines[0]);
    let input = dir.path().join("changes.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let errors = dir.path().join("rejects.jsonl");
    let replayed = sunlight()
        .args(["replay", "--rules"])
        .arg(&pack)
        .arg("--input")
        .arg(&input)
        .arg("--sources")
        .arg(&mapping)
        .arg("--errors")
        .arg(&errors)
        .output()
        .unwrap();
    assert!(replayed.status.success(), "{replayed:?}");
    let summary = String::from_utf8(replayed.stderr).unwrap();
    assert!(
        summary.contains("mapped to nothing 4 (delete 1, no_rule_matched 2, tombstone 1)"),
        "{summary}"
    );
    assert!(
        summary.contains("rejected 1 (unmappable 1), duplicates 1,"),
        "{summary}"
    );
    let mut expected =
        without_detected_at(json_lines(&String::from_utf8(replayed.stdout).unwrap()));
    let triggers: Vec<&str> = expected
        .iter()
        .map(|w| w["trigger_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        ["oa_approval:1001:u:24023128", "oa_approval:1002:c:24023912"]
    );
    let rejects = json_lines(&std::fs::read_to_string(&errors).unwrap());
    assert_eq!(rejects.len(), 1);
    assert_eq!(
        format!(
            "{}: {}",
            rejects[0]["reason"].as_str().unwrap(),
            rejects[0]["detail"].as_str().unwrap()
        ),
        REJECT
    );

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (warnings, dlq) = (unique("warnings"), unique("dlq"));
    for t in [&topic, &warnings, &dlq] {
        cluster.create_topic(t, 1, 1).expect("topic");
    }
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for line in &lines {
        // The sample's `null` line is a Kafka tombstone: a record without a value.
        let record = FutureRecord::<(), str>::to(&topic);
        let record = if *line == "null" {
            record
        } else {
            record.payload(*line)
        };
        producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("produce");
    }
    let settings = dir.path().join("sunlight.toml");
    std::fs::write(
        &settings,
        format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup = \"{}\"\ninput_topics = []\nsources = \"{}\"\nwarnings_topic = \"{warnings}\"\ndlq_topic = \"{dlq}\"\nidle_timeout = \"2s\"\n[http]\naddr = \"127.0.0.1:0\"\n",
            unique("group"),
            mapping.display()
        ),
    )
    .unwrap();
    let _engine = KillOnDrop(
        std::process::Command::new(assert_cmd::cargo::cargo_bin("sunlight"))
            .args(["run", "--config"])
            .arg(&settings)
            .arg("--rules")
            .arg(&pack)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sunlight run"),
    );
    let dead = read_records(&brokers, &dlq, |r| !r.is_empty()).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        format!(
            "{}: {}",
            dead[0].header("sunlight.reason").unwrap(),
            dead[0].header("sunlight.detail").unwrap()
        ),
        REJECT
    );
    assert_eq!(dead[0].payload, lines[4], "the original bytes");
    let mut got = without_detected_at(
        read_records(&brokers, &warnings, |r| r.len() >= 2)
            .await
            .iter()
            .map(|r| r.json())
            .collect(),
    );
    for list in [&mut expected, &mut got] {
        list.sort_by_key(|w| w["warning_id"].as_str().unwrap().to_string());
    }
    assert_eq!(got, expected, "the same warnings live and in replay");
}

/// A pack where every payment is a yellow warning.
const PAYMENTS: &str = r#"
[pack]
name = "payments"
version = "1"

[[rule]]
id = "payment"
version = 1
kind = "predicate"
title = "payment by {official_id}"
level = "yellow"
filter = { kind = "payment" }
"#;

/// A ledger row paid by `handler`, approved by `approver`, posted at 09:`minute`.
fn ledger_row(voucher: &str, handler: &str, approver: &str, minute: u32) -> String {
    format!(
        r#"{{"voucher_no":"{voucher}","entry_type":"付款","handler_id":"{handler}","approver_id":"{approver}","payee":"华兴建材有限公司","amount_yuan":"100.00","posted_at":"2026-11-27 09:{minute:02}:00","dept":"finance-01","region":"330100"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_mapping_is_swapped_in_live_and_one_with_other_topics_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("ledger");
    let mapping = dir.path().join("ledger.toml");
    let v1 = std::fs::read_to_string(repo("examples/sources/finance-ledger.toml"))
        .unwrap()
        .replace("\"finance.ledger\"", &format!("\"{topic}\""));
    // The integrator finds that the official to watch is the approver, not the clerk.
    let v2 = v1.replace(
        "official_id = { path = \"handler_id\" }",
        "official_id = { path = \"approver_id\" }",
    );
    assert_ne!(v1, v2);
    std::fs::write(&mapping, &v1).unwrap();
    let pack = dir.path().join("pack.toml");
    std::fs::write(&pack, PAYMENTS).unwrap();

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (warnings, dlq) = (unique("warnings"), unique("dlq"));
    for t in [&topic, &warnings, &dlq] {
        cluster.create_topic(t, 1, 1).expect("topic");
    }
    let settings = dir.path().join("sunlight.toml");
    std::fs::write(
        &settings,
        format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup = \"{}\"\ninput_topics = []\nsources = \"{}\"\nwarnings_topic = \"{warnings}\"\ndlq_topic = \"{dlq}\"\nidle_timeout = \"1s\"\n[engine]\nreload_interval = \"off\"\n[http]\naddr = \"127.0.0.1:0\"\n",
            unique("group"),
            mapping.display()
        ),
    )
    .unwrap();
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .args(["run", "--config"])
        .arg(&settings)
        .arg("--rules")
        .arg(&pack);
    let (engine, addr) = spawn_engine(command);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let produce = |row: String| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            producer
                .send(
                    FutureRecord::<(), str>::to(&topic).payload(&row),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce");
        }
    };
    let officials = |records: &[crate::support::Record]| -> Vec<(String, String)> {
        records
            .iter()
            .map(|r| {
                let w = r.json();
                (
                    w["trigger_event_id"].as_str().unwrap().to_string(),
                    w["official_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    produce(ledger_row("PZ-1", "O-CLERK", "O-BOSS", 30)).await;
    let got = read_records(&brokers, &warnings, |r| !r.is_empty()).await;
    assert_eq!(officials(&got), [("ledger:PZ-1".into(), "O-CLERK".into())]);

    // A version that maps another topic cannot be applied without a restart.
    std::fs::write(&mapping, v2.replace(&topic, "other.topic")).unwrap();
    hangup(&engine.0);
    let rejected = "sunlight_source_reloads_total{outcome=\"rejected\"}";
    assert_eq!(await_sample(&addr, rejected, 1.0).await, Some(1.0));
    produce(ledger_row("PZ-2", "O-CLERK", "O-BOSS", 31)).await;
    let got = read_records(&brokers, &warnings, |r| r.len() >= 2).await;
    assert_eq!(
        officials(&got)[1],
        ("ledger:PZ-2".into(), "O-CLERK".into()),
        "the running mapping stays"
    );

    std::fs::write(&mapping, &v2).unwrap();
    hangup(&engine.0);
    let applied = "sunlight_source_reloads_total{outcome=\"applied\"}";
    assert_eq!(await_sample(&addr, applied, 1.0).await, Some(1.0));
    produce(ledger_row("PZ-3", "O-CLERK", "O-BOSS", 32)).await;
    let got = read_records(&brokers, &warnings, |r| r.len() >= 3).await;
    assert_eq!(
        officials(&got),
        [
            ("ledger:PZ-1".into(), "O-CLERK".into()),
            ("ledger:PZ-2".into(), "O-CLERK".into()),
            ("ledger:PZ-3".into(), "O-BOSS".into()),
        ]
    );
    assert_eq!(sample(&scrape(&addr), rejected), Some(1.0));
    assert_eq!(
        await_sample(
            &addr,
            "sunlight_rule_reloads_total{outcome=\"applied\"}",
            2.0
        )
        .await,
        Some(2.0),
        "SIGHUP re-reads the rule pack too (its reference files may have changed)"
    );
}
