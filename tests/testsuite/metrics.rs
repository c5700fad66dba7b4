//! `/metrics`, `/healthz` and `/readyz` of a running `sunlight run`: the scrape passes
//! `promtool check metrics`, every metric docs/METRICS.md lists is present, counters
//! show what happened, and readiness explains itself when there is no broker.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::support::{json_lines, repo, sample, sunlight, unique};

/// A running `sunlight run` and the address of its HTTP endpoint.
struct Running {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("sunlight"))
        .arg("run")
        .args(args)
        .envs(env.iter().copied())
        .args(["--http-addr", "127.0.0.1:0", "--rules"])
        .arg(repo("rules/default.toml"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sunlight run");
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no HTTP address announced: {seen}");
        };
        if let Some((_, addr)) = line.split_once(" on http://") {
            return Running {
                child,
                addr: addr.trim().to_string(),
                stderr: rx,
            };
        }
        seen.push_str(&line);
        seen.push('\n');
    }
}

impl Running {
    /// SIGTERM; returns whether it exited successfully and the rest of its stderr.
    fn terminate(mut self) -> (bool, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().expect("exits");
        let rest: Vec<String> = self.stderr.iter().collect();
        (exit.success(), rest.join("\n"))
    }
}

impl Drop for Running {
    /// A failing test must not leave the engine running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn get(addr: &str, path: &str) -> (u16, String) {
    crate::support::http_get(addr, path, None)
}

/// The sum of `sunlight_warnings_total` over its rules and levels.
fn warnings_total(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("sunlight_warnings_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Metric names listed in the first column of docs/METRICS.md's table, except
/// those marked "(topic tables only)", which must be checked by
/// tests/testsuite/reference_topics.rs instead (the pack run here has no topic tables).
fn documented_metrics() -> Vec<String> {
    let doc = std::fs::read_to_string(repo("docs/METRICS.md")).unwrap();
    let topic_test = std::fs::read_to_string(repo("tests/testsuite/reference_topics.rs")).unwrap();
    let mut names = Vec::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `sunlight_") else {
            continue;
        };
        let name = format!("sunlight_{}", rest.split('`').next().unwrap());
        if line.contains("*(topic tables only)*") {
            assert!(
                topic_test.contains(&name),
                "{name} is marked topic tables only but tests/testsuite/reference_topics.rs does not check it"
            );
        } else {
            names.push(name);
        }
    }
    names
}

/// Metric names in the alert rules and the Grafana dashboard's queries.
fn queried_metrics() -> std::collections::BTreeSet<String> {
    let alerts: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/dashboards/sunlight.json")).unwrap(),
    )
    .unwrap();
    let mut exprs: Vec<String> = alerts["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["expr"].as_str().unwrap().to_string())
        .collect();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("sunlight_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            names.insert(name);
        }
    }
    assert!(names.len() >= 15, "{names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scrape_passes_promtool_and_has_every_documented_metric() {
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
    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for (topic, partitions) in [(&input, 2), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).expect("topic");
    }
    // The closed loop's topics, under their default names (this cluster is the test's own).
    // The feedback topic co-partitioned with the input (durable state is on).
    cluster
        .create_topic("sunlight.feedback", 2, 1)
        .expect("topic");
    for topic in ["sunlight.risk-codes", "sunlight.audit"] {
        cluster.create_topic(topic, 1, 1).expect("topic");
    }
    // Durable state on too (as compose and Kubernetes run it), so its metrics show.
    let state = unique("state");
    cluster.create_topic(&state, 1, 1).expect("topic");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let mut records: Vec<(String, String)> = text
        .lines()
        .zip(&events)
        .map(|(line, e)| {
            (
                e["official_id"].as_str().unwrap().to_string(),
                line.to_string(),
            )
        })
        .collect();
    // Bad input, a redelivery and a record keyed by something else.
    // The last payment: still in its windows when the copy arrives (a redelivery of
    // an event that has left every window would be late instead).
    let payment = events
        .iter()
        .rposition(|e| e["kind"] == "payment")
        .expect("a payment");
    let last = records.len() - 1;
    records.push(records[payment].clone());
    records.push(("OF-1".into(), "not json".into()));
    records.push((
        "someone-else".into(),
        records[last]
            .1
            .replace("\"event_id\":\"", "\"event_id\":\"X"),
    ));
    for (key, payload) in &records {
        producer
            .send(
                FutureRecord::to(&input).key(key).payload(payload),
                Duration::from_secs(10),
            )
            .await
            .expect("produce");
    }

    // The final count to wait for: replay of the same payloads in the same order
    // (the redelivery is a duplicate, the bad line a reject, the re-keyed copy a new
    // event in both).
    let mut replay_input = String::new();
    for (_, payload) in &records {
        replay_input.push_str(payload);
        replay_input.push('\n');
    }
    let replayed = sunlight()
        .args([
            "replay",
            "--quiet",
            "--input",
            "-",
            "--errors",
            "/dev/null",
            "--rules",
        ])
        .arg(repo("rules/default.toml"))
        .write_stdin(replay_input)
        .output()
        .unwrap();
    let replayed = json_lines(&String::from_utf8(replayed.stdout).unwrap());
    let expected_warnings = replayed.len();

    let running = spawn(
        &[
            "--brokers",
            &brokers,
            "--group",
            &unique("group"),
            "--idle-timeout",
            "1s",
            "--input-topic",
            &input,
            "--warnings-topic",
            &warnings,
            "--dlq-topic",
            &dlq,
            "--casework",
        ],
        &[
            ("SUNLIGHT__STATE__ENABLED", "true"),
            ("SUNLIGHT__STATE__TOPIC", &state),
            ("SUNLIGHT__STATE__INTERVAL", "1s"),
        ],
    );
    // Wait for final counts: everything consumed, and every warning the same input
    // gives in replay published (a warning is counted when it is handed to the
    // producer; pending events are released only once the partitions go idle, so
    // "consumed" alone is not final), and the statistics have reported lag.
    let consumed = format!("sunlight_records_consumed_total{{topic=\"{input}\"}}");
    let lag = format!("sunlight_consumer_lag_records{{topic=\"{input}\",partition=\"0\"}}");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut scrape = String::new();
    while std::time::Instant::now() < deadline {
        let (status, body) = get(&running.addr, "/metrics");
        assert_eq!(status, 200);
        scrape = body;
        if sample(&scrape, &consumed) == Some(records.len() as f64)
            && warnings_total(&scrape) == expected_warnings as f64
            && sample(&scrape, &lag).is_some()
            && scrape.contains("sunlight_event_to_warning_latency_seconds_bucket")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // One case decision, so the precision per rule is exported too.
    let decided = &replayed[0];
    let feedback = serde_json::json!({"warning_id": decided["warning_id"], "status": "confirmed",
        "handler": "desk-1", "at": "2026-11-27T09:00:00Z"})
    .to_string();
    producer
        .send(
            FutureRecord::<str, str>::to("sunlight.feedback")
                .key(decided["official_id"].as_str().unwrap())
                .payload(&feedback),
            Duration::from_secs(10),
        )
        .await
        .expect("produce feedback");
    let precision = format!(
        "sunlight_rule_precision{{rule_id=\"{}\"}}",
        decided["rule_id"].as_str().unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline && sample(&scrape, &precision).is_none() {
        tokio::time::sleep(Duration::from_millis(200)).await;
        scrape = get(&running.addr, "/metrics").1;
    }
    assert_eq!(sample(&scrape, &precision), Some(1.0), "{scrape}");
    assert_eq!(get(&running.addr, "/healthz"), (200, "ok\n".to_string()));
    let (status, ready) = get(&running.addr, "/readyz");
    let (success, stderr) = running.terminate();
    assert!(success, "{stderr}");
    assert_eq!((status, ready.as_str()), (200, "{\"ready\":true}"));

    assert_eq!(
        sample(&scrape, &consumed),
        Some(records.len() as f64),
        "{scrape}"
    );
    assert_eq!(
        sample(&scrape, "sunlight_bad_input_total{reason=\"invalid_json\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "sunlight_bad_input_total{reason=\"missing_field\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "sunlight_dead_letters_total{reason=\"invalid_json\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "sunlight_duplicate_events_total"),
        Some(1.0),
        "{scrape}"
    );
    assert_eq!(sample(&scrape, "sunlight_key_mismatches_total"), Some(1.0));
    assert_eq!(sample(&scrape, "sunlight_late_events_total"), Some(0.0));
    assert_eq!(sample(&scrape, "sunlight_partitions_assigned"), Some(2.0));
    assert_eq!(
        sample(&scrape, "sunlight_produce_errors_total{output=\"warning\"}"),
        Some(0.0)
    );
    assert!(expected_warnings >= 5, "the workload warns");
    assert_eq!(
        warnings_total(&scrape),
        expected_warnings as f64,
        "{scrape}"
    );
    assert!(
        stderr.contains(&format!(
            "warnings {expected_warnings} (carried from entity lanes 0),"
        )),
        "the count at stop equals the scrape's: {stderr}"
    );

    for name in queried_metrics() {
        assert!(
            scrape.lines().any(|l| l.starts_with(&name)
                && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))),
            "{name} is queried by an alert or the dashboard but not exported"
        );
    }
    for name in documented_metrics() {
        assert!(
            scrape.lines().any(|l| l.starts_with(&name)
                && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{' | b'_'))),
            "{name} is documented but not exported:\n{scrape}"
        );
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (scripts/install-tools.sh installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readiness_names_what_is_missing_without_a_broker() {
    // Nothing listens on port 1: no broker, so no assignment either.
    let running = spawn(
        &["--brokers", "127.0.0.1:1", "--group", &unique("group")],
        &[],
    );
    let expected =
        "{\"ready\":false,\"reasons\":[\"no broker reachable\",\"no input partitions assigned\"]}";
    // Until librdkafka has given up on the broker (a condition, not a fixed sleep).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut status, mut body) = get(&running.addr, "/readyz");
    while body != expected && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        (status, body) = get(&running.addr, "/readyz");
    }
    let (healthz, _) = get(&running.addr, "/healthz");
    let (success, stderr) = running.terminate();
    assert!(success, "{stderr}");
    assert_eq!(healthz, 200);
    assert_eq!(status, 503);
    assert_eq!(body, expected);
}
