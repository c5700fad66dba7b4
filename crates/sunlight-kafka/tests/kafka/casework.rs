//! The closed loop through a Kafka-protocol broker (mock cluster): warnings are
//! linked to cases, risk-code changes, feedback, suppression, dead-lettered feedback
//! and escalations all match what a [`Casebook`] computes from the replay's warnings.
//! The engine's clock is a test-controlled instant, so scores and deadlines are exact.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::EngineConfig;
use sunlight_core::casework::{Casebook, CaseworkPolicy, Feedback, Outputs, Status};
use sunlight_core::time::{Duration, Timestamp};
use sunlight_kafka::casework::{CaseworkConfig, SharedCasebook, code_change_json};
use sunlight_kafka::{Health, Services};

use crate::support::*;

/// 2026-06-01T00:00:00Z, moved forward by the test.
static NOW: AtomicI64 = AtomicI64::new(1_780_272_000_000_000_000);

fn clock() -> Timestamp {
    Timestamp(NOW.load(Ordering::SeqCst))
}

fn header<'a>(headers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closed_loop_codes_officials_applies_feedback_and_escalates() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings_topic, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    let (feedback_topic, risk, audit) = (unique("feedback"), unique("risk"), unique("audit"));
    cluster.create_topic(&input, 3, 1).expect("topic");
    for t in [&warnings_topic, &dlq, &feedback_topic, &risk, &audit] {
        cluster.create_topic(t, 1, 1).expect("topic");
    }
    let (pack, events, expected_ids) = workload(11);
    let replayed = replay_warnings(&pack, &events);

    let policy = CaseworkPolicy {
        yellow_receive_within: Duration::from_secs(3_600),
        red_receive_within: Duration::from_secs(3_600),
        suppress_for: Duration::from_secs(86_400),
        ..CaseworkPolicy::default()
    };
    let mut config = config(&brokers, &unique("sunlight"), &input, &warnings_topic, &dlq);
    config.casework = Some(CaseworkConfig {
        policy: policy.clone(),
        feedback_topic: feedback_topic.clone(),
        risk_codes_topic: risk.clone(),
        audit_topic: audit.clone(),
        tick_interval: Duration(100_000_000),
    });
    let shared = SharedCasebook::new(policy.clone());
    let services = Services {
        casebook: Some(shared.clone()),
        ..Services::new(Arc::new(Health::default()))
    };
    let engine = EngineConfig {
        clock,
        ..EngineConfig::default()
    };

    // What the loop must do, computed without Kafka from the replay's warnings.
    let t0 = clock();
    let mut model = Casebook::new(policy);
    let mut model_out = Outputs::default();
    let cases: Vec<(String, String)> = replayed
        .iter()
        .map(|w| {
            let admit = model.admit(w, t0, &mut model_out);
            let case = model
                .warning(&w.warning_id)
                .expect("tracked")
                .case_id
                .to_string();
            let kind = match admit {
                sunlight_core::casework::Admit::NewCase => "new",
                sunlight_core::casework::Admit::Attached { .. } => "attached",
                other => panic!("unexpected {other:?}"),
            };
            (case, kind.to_string())
        })
        .collect();

    produce_all(&brokers, &input, &events).await;
    let (stop, pipeline) = start_with(config, &pack, engine, services);

    // 1. Every warning, linked to the case the model opened or joined.
    let got = read_topic(
        &brokers,
        &warnings_topic,
        replayed.len(),
        StdDuration::from_secs(60),
    )
    .await;
    assert_eq!(distinct_ids(&got), expected_ids);
    for ((payload, headers), (w, (case, kind))) in got.iter().zip(replayed.iter().zip(&cases)) {
        let v: serde_json::Value = serde_json::from_str(payload).expect("JSON");
        assert_eq!(
            v["warning_id"].as_str(),
            Some(w.warning_id.as_str()),
            "replay order"
        );
        assert_eq!(header(headers, "sunlight.case_id"), Some(case.as_str()));
        assert_eq!(header(headers, "sunlight.case"), Some(kind.as_str()));
    }
    assert!(
        cases.iter().any(|(_, k)| k == "attached"),
        "the workload repeats a case"
    );

    // 2. The risk-code changes, exactly.
    let expected_codes: Vec<serde_json::Value> = model_out
        .codes
        .drain(..)
        .map(|c| code_change_json(&c))
        .collect();
    assert!(expected_codes.len() > 5);
    let codes = read_topic(
        &brokers,
        &risk,
        expected_codes.len(),
        StdDuration::from_secs(30),
    )
    .await;
    let codes: Vec<serde_json::Value> = codes
        .iter()
        .map(|(p, _)| serde_json::from_str(p).expect("JSON"))
        .collect();
    assert_eq!(codes, expected_codes);

    // 3. Feedback: one received, one dismissed, then three bad records.
    let received = &replayed[0];
    // Two warnings of one rule for two other officials: one dismissed, one confirmed.
    let (dismissed, confirmed) = replayed
        .iter()
        .filter(|w| w.official_id != received.official_id)
        .find_map(|d| {
            replayed
                .iter()
                .find(|c| {
                    c.rule_id == d.rule_id
                        && c.official_id != d.official_id
                        && c.official_id != received.official_id
                })
                .map(|c| (d, c))
        })
        .expect("a rule that fired for two other officials");
    let records = [
        feedback_json(&received.warning_id, "received", t0),
        feedback_json(&dismissed.warning_id, "dismissed", t0),
        feedback_json(&confirmed.warning_id, "confirmed", t0),
        "{not json".to_string(),
        feedback_json("no-such-warning", "received", t0),
        feedback_json(&dismissed.warning_id, "received", t0),
    ];
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    for r in &records {
        producer
            .send(
                FutureRecord::<str, str>::to(&feedback_topic).payload(r),
                StdDuration::from_secs(5),
            )
            .await
            .expect("produce feedback");
    }
    for r in &records[..3] {
        let fb = Feedback::from_json(r.as_bytes()).expect("valid");
        model.feedback(&fb, t0, &mut model_out).expect("applies");
    }
    let dead = read_topic(&brokers, &dlq, 3, StdDuration::from_secs(30)).await;
    let reasons: Vec<&str> = dead
        .iter()
        .map(|(_, h)| header(h, "sunlight.reason").unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        ["invalid_feedback", "unknown_warning", "invalid_transition"]
    );
    assert_eq!(dead[0].0, "{not json", "original bytes kept");
    assert_eq!(
        header(&dead[2].1, "sunlight.detail"),
        Some(
            format!(
                "warning `{}` is dismissed; it cannot become received",
                dismissed.warning_id
            )
            .as_str()
        )
    );
    let audited = read_topic(&brokers, &audit, 1, StdDuration::from_secs(30)).await;
    let a: serde_json::Value = serde_json::from_str(&audited[0].0).expect("JSON");
    assert_eq!(a["action"], "suppression_created");
    assert_eq!(a["actor"], "inspector-7");
    assert_eq!(
        a["warning_id"].as_str(),
        Some(dismissed.warning_id.as_str())
    );
    assert_eq!(
        a["until"].as_str(),
        Some(
            t0.saturating_add(Duration::from_secs(86_400))
                .to_string()
                .as_str()
        )
    );
    {
        let book = shared.lock();
        assert_eq!(
            book.warning(&received.warning_id).expect("known").status,
            Status::Received
        );
        assert_eq!(
            book.warning(&dismissed.warning_id).expect("known").status,
            Status::Dismissed
        );
    }

    // 4. Two hours later every warning still only pushed escalates, once.
    let later = t0.saturating_add(Duration::from_secs(7_200));
    model.tick(later, &mut model_out);
    let expected_escalations: BTreeSet<String> = model_out
        .escalations
        .iter()
        .map(|w| w.warning_id.clone())
        .collect();
    assert!(!expected_escalations.is_empty());
    NOW.store(later.0, Ordering::SeqCst);
    let all = read_topic(
        &brokers,
        &warnings_topic,
        replayed.len() + expected_escalations.len(),
        StdDuration::from_secs(30),
    )
    .await;
    let escalations: BTreeSet<String> = all[replayed.len()..]
        .iter()
        .map(|(p, h)| {
            assert_eq!(header(h, "sunlight.escalation"), Some("true"));
            let v: serde_json::Value = serde_json::from_str(p).expect("JSON");
            assert_eq!(v["level"], "red");
            v["warning_id"].as_str().expect("id").to_string()
        })
        .collect();
    assert_eq!(escalations, expected_escalations);
    let expected_codes: Vec<serde_json::Value> = expected_codes_after(&mut model_out);
    let codes = read_topic(
        &brokers,
        &risk,
        codes.len() + expected_codes.len(),
        StdDuration::from_secs(30),
    )
    .await;
    let tail: Vec<serde_json::Value> = codes[codes.len() - expected_codes.len()..]
        .iter()
        .map(|(p, _)| serde_json::from_str(p).expect("JSON"))
        .collect();
    assert_eq!(tail, expected_codes);

    let rendered = metrics().render();
    let rule = &dismissed.rule_id;
    assert_eq!(
        sample(
            &rendered,
            "sunlight_feedback_rejected_total{reason=\"unknown_warning\"}"
        ),
        1.0
    );
    let _ = stop.send(());
    pipeline.await.expect("task").expect("pipeline ran");
    assert_eq!(
        sample(
            &metrics().render(),
            &format!("sunlight_rule_precision{{rule_id=\"{rule}\"}}")
        ),
        0.5,
        "one confirmed, one dismissed"
    );
}

/// The code changes the model produced since the last drain, as records.
fn expected_codes_after(out: &mut Outputs) -> Vec<serde_json::Value> {
    out.codes.drain(..).map(|c| code_change_json(&c)).collect()
}
