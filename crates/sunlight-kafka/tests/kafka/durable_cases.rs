//! The closed loop survives a crash with durable state on (mock cluster): an engine
//! with casework is killed (no shutdown, no final snapshot) after warnings were
//! pushed and feedback applied; while it is down the receive deadline passes; a new
//! engine restores the cases from the state topic. Then feedback on a warning pushed
//! before the crash is accepted (nothing is `unknown_warning`), every status and
//! history is there, every overdue warning escalates exactly once, codes, scores and
//! precision per rule equal a casebook that never stopped, and the risk-codes topic
//! reports no change that casebook did not make (no red -> green -> red flicker).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::casework::{Casebook, CaseworkPolicy, Feedback, Outputs, Status};
use sunlight_core::time::{Duration, Timestamp};
use sunlight_core::{EngineConfig, Warning};
use sunlight_kafka::StateConfig;
use sunlight_kafka::casework::{CaseworkConfig, SharedCasebook};
use sunlight_kafka::{Health, Services};

use crate::support::*;

/// 2026-06-01T00:00:00Z, moved forward by the test (its own clock: tests of one
/// binary may run in parallel).
static NOW: AtomicI64 = AtomicI64::new(1_780_272_000_000_000_000);

fn clock() -> Timestamp {
    Timestamp(NOW.load(Ordering::SeqCst))
}

/// A clock that does not move (2026-06-01T00:00:00Z).
fn fixed_clock() -> Timestamp {
    Timestamp(1_780_272_000_000_000_000)
}

/// An engine with the closed loop on `config`, its clock and casebook.
fn start_loop(
    config: &sunlight_kafka::KafkaConfig,
    pack: &Arc<sunlight_core::CompiledPack>,
    clock: fn() -> Timestamp,
    book: &SharedCasebook,
) -> Running {
    start_with(
        config.clone(),
        pack,
        EngineConfig {
            clock,
            ..EngineConfig::default()
        },
        Services {
            casebook: Some(book.clone()),
            ..Services::new(Arc::new(Health::default()))
        },
    )
}

/// Polls the shared casebook until `done` holds (or 30 s pass).
async fn until(book: &SharedCasebook, done: impl Fn(&Casebook) -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        if done(&book.lock()) {
            return true;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    false
}

/// Per official, the (previous, code) changes in order, repeats of the same change
/// in a row dropped (a record re-sent after the crash is the same change).
fn changes(records: &[serde_json::Value]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut per: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for r in records {
        let list = per
            .entry(r["official_id"].as_str().unwrap().to_string())
            .or_default();
        let change = (
            r["previous"].as_str().unwrap().to_string(),
            r["code"].as_str().unwrap().to_string(),
        );
        if list.last() != Some(&change) {
            list.push(change);
        }
    }
    per
}

/// A mock cluster with the topics of the loop (input and feedback with
/// `partitions`, the others with one), a group, and the settings of an engine with
/// casework and durable state that notices a crashed peer within seconds.
struct Setup {
    _cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    brokers: String,
    input: String,
    warnings_topic: String,
    dlq: String,
    feedback_topic: String,
    risk: String,
    group: String,
    config: sunlight_kafka::KafkaConfig,
}

impl Setup {
    fn new(partitions: i32, policy: &CaseworkPolicy, interval: Duration) -> Setup {
        let cluster = MockCluster::new(1).expect("mock cluster");
        let brokers = cluster.bootstrap_servers();
        let [
            input,
            warnings_topic,
            dlq,
            feedback_topic,
            risk,
            audit,
            state,
            group,
        ] = [
            "events", "warnings", "dlq", "feedback", "risk", "audit", "state", "group",
        ]
        .map(unique);
        // The feedback topic co-partitioned with the input.
        cluster.create_topic(&input, partitions, 1).expect("topic");
        cluster
            .create_topic(&feedback_topic, partitions, 1)
            .expect("topic");
        for t in [&warnings_topic, &dlq, &risk, &audit, &state] {
            cluster.create_topic(t, 1, 1).expect("topic");
        }
        let mut config = config(&brokers, &group, &input, &warnings_topic, &dlq);
        config.casework = Some(CaseworkConfig {
            policy: policy.clone(),
            feedback_topic: feedback_topic.clone(),
            risk_codes_topic: risk.clone(),
            audit_topic: audit,
            tick_interval: Duration(100_000_000),
        });
        config.state = Some(StateConfig {
            topic: state,
            interval,
            ..StateConfig::default()
        });
        for (key, value) in [
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ] {
            config.properties.insert(key.into(), value.into());
        }
        Setup {
            _cluster: cluster,
            brokers,
            input,
            warnings_topic,
            dlq,
            feedback_topic,
            risk,
            group,
            config,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cases_survive_a_crash_and_deadlines_keep_running() {
    let policy = CaseworkPolicy {
        yellow_receive_within: Duration::from_secs(3_600),
        red_receive_within: Duration::from_secs(3_600),
        suppress_for: Duration::from_secs(86_400),
        ..CaseworkPolicy::default()
    };
    let Setup {
        _cluster,
        brokers,
        input,
        warnings_topic,
        dlq,
        feedback_topic,
        group,
        config,
        risk,
        ..
    } = Setup::new(3, &policy, Duration(1_000_000_000));
    let (pack, events, expected_ids) = workload(23);
    let replayed = replay_warnings(&pack, &events);
    assert!(replayed.len() >= 6, "enough warnings for the scenario");
    let start_engine = |book: &SharedCasebook| start_loop(&config, &pack, clock, book);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    // Keyed by the warning's official, as the routing contract says.
    let send_feedback = |records: Vec<(String, String)>| {
        let producer = producer.clone();
        let topic = feedback_topic.clone();
        async move {
            for (key, r) in records {
                producer
                    .send(
                        FutureRecord::<str, str>::to(&topic).key(&key).payload(&r),
                        StdDuration::from_secs(5),
                    )
                    .await
                    .expect("produce feedback");
            }
        }
    };

    // The casebook that never stops, fed what the engines are fed.
    let t0 = clock();
    let mut model = Casebook::new(policy.clone());
    let mut model_out = Outputs::default();
    for w in &replayed {
        model.admit(w, t0, &mut model_out);
    }
    // Three officials' warnings: received, dismissed (suppression), confirmed.
    let mut officials = replayed
        .iter()
        .map(|w| w.official_id.clone())
        .collect::<Vec<_>>();
    officials.dedup();
    let pick = |n: usize| {
        replayed
            .iter()
            .find(|w| w.official_id == officials[n % officials.len()])
            .expect("a warning")
    };
    let (received, dismissed, confirmed) = (pick(0), pick(1), pick(2));
    let later_received = replayed
        .iter()
        .rev()
        .find(|w| {
            ![
                &received.official_id,
                &dismissed.official_id,
                &confirmed.official_id,
            ]
            .contains(&&w.official_id)
        })
        .expect("a fourth official's warning");
    let keyed = |w: &Warning, status: &str| {
        (
            w.official_id.to_string(),
            feedback_json(&w.warning_id, status, fixed_clock()),
        )
    };
    let before_snapshot = vec![keyed(received, "received"), keyed(dismissed, "dismissed")];
    let after_snapshot = vec![keyed(confirmed, "confirmed")];
    let after_restart = vec![keyed(later_received, "received")];
    for (_, r) in before_snapshot.iter().chain(&after_snapshot) {
        let fb = Feedback::from_json(r.as_bytes()).unwrap();
        model.feedback(&fb, t0, &mut model_out).expect("applies");
    }

    // 1. The first engine pushes every warning, applies feedback, snapshots, crashes.
    produce_all(&brokers, &input, &events).await;
    let first_book = SharedCasebook::new(policy.clone());
    let (_stop, first) = start_engine(&first_book);
    let got = await_warning_ids(
        &brokers,
        &warnings_topic,
        &expected_ids,
        StdDuration::from_secs(60),
    )
    .await;
    assert_eq!(got, expected_ids);
    send_feedback(before_snapshot.clone()).await;
    assert!(
        until(&first_book, |b| {
            b.warning(&dismissed.warning_id)
                .is_some_and(|t| t.status == Status::Dismissed)
        })
        .await
    );
    // A snapshot after that feedback: its position is committed with it.
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while committed(&brokers, &format!("{group}.casework"), &feedback_topic, 3) < 2
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(
        committed(&brokers, &format!("{group}.casework"), &feedback_topic, 3),
        2
    );
    send_feedback(after_snapshot).await;
    assert!(
        until(&first_book, |b| {
            b.warning(&confirmed.warning_id)
                .is_some_and(|t| t.status == Status::Confirmed)
        })
        .await
    );
    first.abort();
    let _ = first.await;

    // 2. Down for two hours: every warning still only pushed is overdue.
    let later = t0.saturating_add(Duration::from_secs(7_200));
    NOW.store(later.0, Ordering::SeqCst);
    let second_book = SharedCasebook::new(policy.clone());
    let (stop, second) = start_engine(&second_book);
    model.tick(later, &mut model_out);
    let expected_escalations: BTreeSet<String> = model_out
        .escalations
        .iter()
        .map(|w| w.warning_id.clone())
        .collect();
    assert!(!expected_escalations.is_empty());

    // 3. Escalations: each overdue warning exactly once (also those whose deadline
    // passed while no engine was up).
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
    let mut escalated: BTreeMap<String, usize> = BTreeMap::new();
    while tokio::time::Instant::now() < deadline {
        escalated.clear();
        for (payload, headers) in &read_topic(
            &brokers,
            &warnings_topic,
            usize::MAX,
            StdDuration::from_secs(2),
        )
        .await
        {
            if headers
                .iter()
                .any(|(k, v)| k == "sunlight.escalation" && v == "true")
            {
                let v: serde_json::Value = serde_json::from_str(payload).unwrap();
                *escalated
                    .entry(v["warning_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
            }
        }
        if escalated.len() >= expected_escalations.len() {
            break;
        }
    }
    assert_eq!(
        escalated.keys().cloned().collect::<BTreeSet<_>>(),
        expected_escalations
    );
    assert!(escalated.values().all(|n| *n == 1), "{escalated:?}");

    // Feedback on a warning pushed before the crash is accepted.
    send_feedback(after_restart.clone()).await;
    let fb = Feedback::from_json(after_restart[0].1.as_bytes()).unwrap();
    model.feedback(&fb, later, &mut model_out).expect("applies");
    assert!(
        until(&second_book, |b| {
            b.warning(&later_received.warning_id)
                .is_some_and(|t| t.status == Status::Received)
        })
        .await,
        "feedback on a warning pushed before the crash is accepted"
    );

    // 4. Statuses, histories, codes, scores and precision as if nothing happened.
    {
        let book = second_book.lock();
        for w in &replayed {
            let (got, want) = (
                book.warning(&w.warning_id).expect("restored"),
                model.warning(&w.warning_id).expect("model"),
            );
            assert_eq!(got.status, want.status, "{}", w.warning_id);
            assert_eq!(got.history, want.history, "{}", w.warning_id);
            assert_eq!(got.case_id, want.case_id);
            assert_eq!(
                got.escalation.as_ref().map(|e| &e.warning_id),
                want.escalation.as_ref().map(|e| &e.warning_id)
            );
        }
        for o in &officials {
            assert_eq!(book.official(o, later), model.official(o, later), "{o}");
        }
        assert_eq!(book.outcomes(), model.outcomes(), "precision continues");
    }
    let _ = stop.send(());
    let stats = second.await.expect("task").expect("pipeline ran");
    assert_eq!(stats.dead_letters, 0, "no feedback refused: {stats:?}");
    assert!(
        read_topic(&brokers, &dlq, usize::MAX, StdDuration::from_secs(2))
            .await
            .is_empty()
    );

    // 5. The risk-codes topic: exactly the changes of the casebook that never stopped.
    let published: Vec<serde_json::Value> =
        read_topic(&brokers, &risk, usize::MAX, StdDuration::from_secs(3))
            .await
            .iter()
            .map(|(p, _)| serde_json::from_str(p).unwrap())
            .collect();
    let modelled: Vec<serde_json::Value> = model_out
        .codes
        .iter()
        .map(sunlight_kafka::casework::code_change_json)
        .collect();
    assert_eq!(changes(&published), changes(&modelled));
}

/// Two instances, feedback co-partitioned with the input: each feedback record keyed
/// by the warning's official reaches the instance that owns the official's cases. One
/// instance is killed mid-stream (the input's second half arriving, its progress
/// since its last snapshot lost); the other takes its partition over with its cases
/// and later feedback is still accepted; the killed instance comes back and every
/// case is held exactly once, with every status, and every code equals one casebook
/// that saw everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_reaches_the_owner_across_instances_and_a_crash() {
    let policy = CaseworkPolicy::default();
    let Setup {
        _cluster,
        brokers,
        input,
        warnings_topic,
        dlq,
        feedback_topic,
        group,
        config,
        ..
    } = Setup::new(2, &policy, Duration(500_000_000));
    let (pack, events, expected_ids) = workload(29);
    let replayed = replay_warnings(&pack, &events);
    // The first "half": the shortest prefix from the middle on whose events give
    // warnings of several officials (on both partitions), not all warnings (the
    // generator's misconduct comes late).
    let (half, first_half) = (events.len() / 2..events.len())
        .step_by(50)
        .map(|k| (k, replay_warnings(&pack, &events[..k])))
        .find(|(_, w)| {
            let officials: BTreeSet<&str> = w.iter().map(|w| w.official_id.as_str()).collect();
            officials.len() >= 4 && w.len() < replayed.len()
        })
        .expect("warnings on both sides of some cut");
    let start_engine = |book: &SharedCasebook| start_loop(&config, &pack, fixed_clock, book);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .expect("producer");
    // Officials in first-seen order; the second round confirms the even ones' cases.
    let mut officials: Vec<String> = Vec::new();
    for w in &replayed {
        if !officials.contains(&w.official_id.to_string()) {
            officials.push(w.official_id.to_string());
        }
    }
    let chosen = |w: &Warning, status: &str| {
        status == "received"
            || officials
                .iter()
                .position(|o| *o == w.official_id.as_str())
                .unwrap()
                % 2
                == 0
    };
    let feedback_for_all = |status: &'static str, warnings: &[Warning]| {
        let producer = producer.clone();
        let topic = feedback_topic.clone();
        let records: Vec<(String, String)> = warnings
            .iter()
            .filter(|w| chosen(w, status))
            .map(|w| {
                (
                    w.official_id.to_string(),
                    feedback_json(&w.warning_id, status, fixed_clock()),
                )
            })
            .collect();
        async move {
            for (key, r) in records {
                producer
                    .send(
                        FutureRecord::<str, str>::to(&topic).key(&key).payload(&r),
                        StdDuration::from_secs(5),
                    )
                    .await
                    .expect("produce feedback");
            }
        }
    };
    // Every one of `warnings` held by exactly one of `books`, each with `status`
    // (or, for `confirmed`, with what the second round gave it), and nothing else.
    let all_at = |books: &[&SharedCasebook], status: Status, warnings: &[Warning]| {
        warnings.iter().all(|w| {
            let want = if status == Status::Confirmed && !chosen(w, "confirmed") {
                Status::Received
            } else {
                status
            };
            books
                .iter()
                .filter(|b| {
                    b.lock()
                        .warning(&w.warning_id)
                        .is_some_and(|t| t.status == want)
                })
                .count()
                == 1
        }) && books.iter().map(|b| b.lock().tracked()).sum::<usize>() == warnings.len()
    };
    let wait = |books: Vec<SharedCasebook>, status: Status, warnings: Vec<Warning>| {
        let all_at = &all_at;
        async move {
            let deadline = tokio::time::Instant::now() + StdDuration::from_secs(90);
            let refs: Vec<&SharedCasebook> = books.iter().collect();
            while !all_at(&refs, status, &warnings) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(StdDuration::from_millis(100)).await;
            }
            all_at(&refs, status, &warnings)
        }
    };

    produce_all(&brokers, &input, &events[..half]).await;
    let (a_book, b_book) = (
        SharedCasebook::new(policy.clone()),
        SharedCasebook::new(policy.clone()),
    );
    let (_a_stop, a) = start_engine(&a_book);
    let (b_stop, b) = start_engine(&b_book);
    let first_ids: BTreeSet<String> = first_half.iter().map(|w| w.warning_id.clone()).collect();
    let got = await_warning_ids(
        &brokers,
        &warnings_topic,
        &first_ids,
        StdDuration::from_secs(90),
    )
    .await;
    assert_eq!(got, first_ids);
    // Both instances joined and hold their partition's cases (one may briefly hold
    // everything before the other joins).
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(90);
    let both = || a_book.lock().tracked() > 0 && b_book.lock().tracked() > 0;
    while !both() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(both(), "both instances hold cases");
    let both_books = || vec![a_book.clone(), b_book.clone()];
    assert!(
        wait(both_books(), Status::Pushed, first_half.clone()).await,
        "every case held once"
    );

    // 1. Feedback keyed by official reaches the owner: all received, none refused.
    feedback_for_all("received", &first_half).await;
    assert!(wait(both_books(), Status::Received, first_half.clone()).await);
    // Snapshots with that feedback are committed (both feedback partitions).
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
    while committed(&brokers, &format!("{group}.casework"), &feedback_topic, 2)
        < first_half.len() as i64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert_eq!(
        committed(&brokers, &format!("{group}.casework"), &feedback_topic, 2),
        first_half.len() as i64
    );

    // 2. Mid-stream: the second half arrives, and A is killed while reading it (no
    // shutdown, no final snapshot). B takes A's partition over with its cases,
    // reads what A had not snapshotted again, and applies the feedback of both
    // halves (feedback for warnings not emitted yet waits for them).
    produce_all(&brokers, &input, &events[half..]).await;
    a.abort();
    let _ = a.await;
    let second_half: Vec<Warning> = replayed
        .iter()
        .filter(|w| !first_ids.contains(&w.warning_id))
        .cloned()
        .collect();
    feedback_for_all("received", &second_half).await;
    feedback_for_all("confirmed", &replayed).await;
    assert!(
        wait(vec![b_book.clone()], Status::Confirmed, replayed.clone()).await,
        "B holds every case, all confirmed"
    );

    // 3. A comes back: every case held once, all confirmed, precision intact.
    let a_book = SharedCasebook::new(policy.clone());
    let (a_stop, a) = start_engine(&a_book);
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
    while a_book.lock().tracked() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    assert!(
        a_book.lock().tracked() > 0,
        "A owns a partition again, with its cases"
    );
    assert!(
        wait(
            vec![a_book.clone(), b_book.clone()],
            Status::Confirmed,
            replayed.clone()
        )
        .await
    );
    let published = await_warning_ids(
        &brokers,
        &warnings_topic,
        &expected_ids,
        StdDuration::from_secs(30),
    )
    .await;
    assert_eq!(published, expected_ids, "every warning published");
    let confirmed: u64 = [&a_book, &b_book]
        .iter()
        .flat_map(|b| {
            b.lock()
                .outcomes()
                .values()
                .map(|o| o.confirmed)
                .collect::<Vec<_>>()
        })
        .sum();
    let mut cases = BTreeSet::new();
    for w in &replayed {
        for b in [&a_book, &b_book] {
            if let Some(t) = b.lock().warning(&w.warning_id) {
                cases.insert(t.case_id.to_string());
            }
        }
    }
    let decided: BTreeSet<String> = replayed
        .iter()
        .filter(|w| chosen(w, "confirmed"))
        .map(|w| {
            let (a, b) = (a_book.lock(), b_book.lock());
            a.warning(&w.warning_id)
                .or(b.warning(&w.warning_id))
                .map(|t| t.case_id.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert!(decided.len() < cases.len(), "some cases stay open");
    assert_eq!(confirmed, decided.len() as u64, "one decision per case");
    // Codes and scores equal one casebook that saw everything, without instances.
    let mut single = Casebook::new(policy.clone());
    let mut out = Outputs::default();
    let t0 = fixed_clock();
    for w in &replayed {
        single.admit(w, t0, &mut out);
    }
    for status in ["received", "confirmed"] {
        for w in replayed.iter().filter(|w| chosen(w, status)) {
            let fb =
                Feedback::from_json(feedback_json(&w.warning_id, status, fixed_clock()).as_bytes())
                    .unwrap();
            single.feedback(&fb, t0, &mut out).expect("applies");
        }
    }
    for o in &officials {
        let held = {
            let (a, b) = (a_book.lock(), b_book.lock());
            a.official(o, t0).or(b.official(o, t0))
        };
        assert_eq!(held, single.official(o, t0), "{o}");
    }
    // Nothing refused so far; then one record without a key cannot be routed.
    assert!(
        read_topic(&brokers, &dlq, usize::MAX, StdDuration::from_secs(2))
            .await
            .is_empty(),
        "no feedback refused"
    );
    let unkeyed = feedback_json(&replayed[0].warning_id, "verifying", fixed_clock());
    producer
        .send(
            FutureRecord::<str, str>::to(&feedback_topic).payload(&unkeyed),
            StdDuration::from_secs(5),
        )
        .await
        .expect("produce feedback");
    let refused = read_topic(&brokers, &dlq, 1, StdDuration::from_secs(30)).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, unkeyed, "original bytes");
    assert!(
        refused[0].1.contains(&(
            "sunlight.reason".to_string(),
            "unroutable_feedback".to_string()
        )),
        "{:?}",
        refused[0].1
    );
    let _ = a_stop.send(());
    let _ = b_stop.send(());
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
}

/// A feedback topic that is not co-partitioned with the input is refused at start,
/// naming the partition counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feedback_topic_with_other_partition_counts_is_refused() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let [input, warnings_topic, dlq, feedback_topic, state, group] =
        ["events", "warnings", "dlq", "feedback", "state", "group"].map(unique);
    cluster.create_topic(&input, 2, 1).expect("topic");
    for t in [&warnings_topic, &dlq, &feedback_topic, &state] {
        cluster.create_topic(t, 1, 1).expect("topic");
    }
    let (pack, _, _) = workload(3);
    let mut config = config(&brokers, &group, &input, &warnings_topic, &dlq);
    config.casework = Some(CaseworkConfig {
        feedback_topic: feedback_topic.clone(),
        ..CaseworkConfig::default()
    });
    config.state = Some(StateConfig {
        topic: state,
        interval: Duration(500_000_000),
        ..StateConfig::default()
    });
    let (_stop, task) = start(config, &pack);
    let error = task.await.expect("task").expect_err("refused").to_string();
    assert!(
        error.contains(&format!("partitions: {input}: 2, {feedback_topic}: 1")),
        "{error}"
    );
}
