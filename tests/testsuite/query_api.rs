//! The query API on a running `sunlight run` with the closed loop on (mock cluster):
//! an official's open warnings equal the replay's, the risk code equals the last one
//! published on the risk-codes topic, masking follows the token, an out-of-scope
//! official is a 404 identical to an unknown one, feedback shows up in a warning's
//! history, and every request is audited in the file and on the audit topic.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

use crate::support::{http_get, json_lines, read_until, repo, spawn_engine, sunlight, unique};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!!";

fn token(sub: &str, regions: &[&str], sensitive: bool, exp_offset: i64) -> String {
    let exp = get_current_timestamp() as i64 + exp_offset;
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": exp, "regions": regions, "sensitive": sensitive}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn get(addr: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    http_get(addr, path, bearer)
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_api_answers_scoped_masked_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let events_file = dir.path().join("events.jsonl");
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "1500",
            "--officials",
            "30",
            "--days",
            "90",
        ])
        .args(["--scenario-every", "3", "--seed", "5", "--output"])
        .arg(&events_file)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let replay = sunlight()
        .arg("replay")
        .arg("--rules")
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&events_file)
        .arg("--quiet")
        .output()
        .unwrap();
    let expected = json_lines(&String::from_utf8(replay.stdout).unwrap());
    // The official with the most warnings that has a split-payment one (keyed by
    // counterparty, the attribute the settings mark sensitive).
    let official = expected
        .iter()
        .filter(|w| w["rule_id"] == "split-payment")
        .map(|w| w["official_id"].as_str().unwrap().to_string())
        .max_by_key(|o| {
            expected
                .iter()
                .filter(|w| w["official_id"] == *o.as_str())
                .count()
        })
        .expect("a split-payment warning");
    let theirs: Vec<&Value> = expected
        .iter()
        .filter(|w| w["official_id"] == *official.as_str())
        .collect();
    let events = json_lines(&std::fs::read_to_string(&events_file).unwrap());
    let region = events
        .iter()
        .rev()
        .find(|e| e["official_id"] == *official.as_str())
        .and_then(|e| e["region"].as_str())
        .unwrap()
        .to_string();

    let cluster = MockCluster::new(1).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for (topic, partitions) in [(input.as_str(), 2), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    for topic in ["sunlight.feedback", "sunlight.risk-codes", "sunlight.audit"] {
        cluster.create_topic(topic, 1, 1).unwrap();
    }
    let settings = dir.path().join("sunlight.toml");
    std::fs::write(
        &settings,
        format!(
            "[kafka]\nmask_in_warnings = [\"counterparty\"]\n\n[casework]\nenabled = true\ntick_interval = \"200ms\"\n\n[api]\naudit_file = \"audit.jsonl\"\nsensitive_attributes = [\"counterparty\"]\n[[api.keys]]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .arg("--config")
        .arg(&settings)
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
        .arg(repo("rules/default.toml"));
    let (mut child, addr) = spawn_engine(command);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let text = std::fs::read_to_string(&events_file).unwrap();
    for (line, e) in text.lines().zip(&events) {
        producer
            .send(
                FutureRecord::to(&input)
                    .key(e["official_id"].as_str().unwrap())
                    .payload(line),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let published = read_until(&brokers, &warnings, |w| w.len() >= expected.len()).await;
    assert_eq!(published.len(), expected.len());
    // Published warnings carry the masked key (mask_in_warnings), same ids.
    for w in &published {
        let want = expected
            .iter()
            .find(|e| e["warning_id"] == w["warning_id"])
            .unwrap();
        match want["key"].get("counterparty") {
            Some(raw) => {
                assert_eq!(w["key"]["counterparty"], "***");
                let title = w["title"].as_str().unwrap();
                assert!(!title.contains(raw.as_str().unwrap()), "{title}");
            }
            None => assert_eq!(w["key"], want["key"]),
        }
    }
    let mut requests = 0;
    let inspector = token("inspector-1", &[&region], false, 600);
    let (status, body) = get(
        &addr,
        &format!("/v1/officials/{official}"),
        Some(&inspector),
    );
    requests += 1;
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    assert_eq!(answer["official_id"], official.as_str());
    assert_eq!(answer["region"], region.as_str());
    let score = answer["risk"]["score"].as_f64().unwrap();
    // The code the loop published last for the official. Codes are published when
    // the code changes; the topic may still be catching up, so it is read until the
    // latest code of the official is the API's (or 60 s).
    let latest = |c: &[serde_json::Value]| {
        c.iter()
            .rev()
            .find(|c| c["official_id"] == *official.as_str())
            .cloned()
    };
    let codes = read_until(&brokers, "sunlight.risk-codes", |c| {
        latest(c).is_some_and(|c| c["code"] == answer["risk"]["code"])
    })
    .await;
    let last_code = latest(&codes).expect("a code change for the official");
    assert_eq!(answer["risk"]["code"], last_code["code"]);
    // Warnings after the change raise the score without changing the code (red stays
    // red); decay since then lowers it by far less than one warning's weight.
    let coded = last_code["score"].as_f64().unwrap();
    assert!(score >= coded - 1e-3, "{score} vs {last_code}");
    let open: BTreeSet<&str> = answer["open_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["warning_id"].as_str().unwrap())
        .collect();
    let want: BTreeSet<&str> = theirs
        .iter()
        .map(|w| w["warning_id"].as_str().unwrap())
        .collect();
    assert_eq!(open, want, "every warning of the official is open");
    for w in answer["open_warnings"].as_array().unwrap() {
        assert_eq!(w["status"], "pushed");
        if let Some(c) = w["key"].get("counterparty") {
            assert_eq!(c, "***", "masked for a token without sensitive access");
        }
    }
    assert!(answer["windows"].as_array().is_some_and(|w| !w.is_empty()));

    // With sensitive access, the keys are the warnings' own.
    let senior = token("inspector-2", &[&region], true, 600);
    let (_, body) = get(&addr, &format!("/v1/officials/{official}"), Some(&senior));
    requests += 1;
    let split = theirs
        .iter()
        .find(|w| w["rule_id"] == "split-payment")
        .unwrap();
    let unmasked = json(&body)["open_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["warning_id"] == split["warning_id"])
        .unwrap()
        .clone();
    assert_eq!(unmasked["key"], split["key"]);
    assert_eq!(unmasked["title"], split["title"]);

    // Out of scope answers exactly like unknown.
    let elsewhere = token("inspector-3", &["R-nowhere"], true, 600);
    let hidden = get(
        &addr,
        &format!("/v1/officials/{official}"),
        Some(&elsewhere),
    );
    let unknown = get(&addr, "/v1/officials/nobody-at-all", Some(&elsewhere));
    requests += 2;
    assert_eq!(hidden.0, 404);
    assert_eq!(hidden, unknown);
    // The same for the official's warnings.
    let their_warning = theirs[0]["warning_id"].as_str().unwrap();
    let hidden = get(
        &addr,
        &format!("/v1/warnings/{their_warning}"),
        Some(&elsewhere),
    );
    let unknown = get(&addr, "/v1/warnings/no-such-warning", Some(&elsewhere));
    requests += 2;
    assert_eq!(hidden.0, 404);
    assert_eq!(hidden, unknown);
    // No token, an expired one, a tampered one.
    assert_eq!(get(&addr, "/v1/rules", None).0, 401);
    let expired = get(
        &addr,
        "/v1/rules",
        Some(&token("inspector-1", &["*"], false, -3600)),
    );
    assert_eq!(
        (expired.0, json(&expired.1)["error"].clone()),
        (401, json!("expired"))
    );
    let mut tampered = token("inspector-1", &["*"], false, 600);
    tampered.insert(tampered.len() - 5, 'x');
    assert_eq!(get(&addr, "/v1/rules", Some(&tampered)).0, 401);
    requests += 3;
    let (status, body) = get(&addr, "/v1/rules", Some(&inspector));
    requests += 1;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["pack"], "default");

    // Feedback through Kafka shows in the warning's lifecycle.
    let warning_id = theirs[0]["warning_id"].as_str().unwrap();
    let feedback = json!({"warning_id": warning_id, "status": "received", "handler": "case-desk",
        "note": "assigned", "at": "2026-11-27T09:00:00Z"})
    .to_string();
    producer
        .send(
            FutureRecord::<str, str>::to("sunlight.feedback").payload(&feedback),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let mut lifecycle = Value::Null;
    for _ in 0..100 {
        let (status, body) = get(&addr, &format!("/v1/warnings/{warning_id}"), Some(&senior));
        requests += 1;
        assert_eq!(status, 200, "{body}");
        lifecycle = json(&body);
        if lifecycle["status"] == "received" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lifecycle["status"], "received");
    let history: Vec<(&str, &str)> = lifecycle["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap(),
                h["handler"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(history, [("pushed", "sunlight"), ("received", "case-desk")]);
    assert!(lifecycle["case_id"].as_str().is_some());

    // Every request audited: the file, then the topic.
    let lines = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let audited: Vec<Value> = json_lines(&lines);
    assert_eq!(audited.len(), requests);
    assert_eq!(audited[0]["sub"], "inspector-1");
    assert_eq!(audited[0]["official_id"], official.as_str());
    assert_eq!(audited[0]["status"], 200);
    assert_eq!(audited[2]["outcome"], "not_found");
    assert_eq!(audited[6]["sub"], Value::Null);
    assert_eq!(audited[6]["status"], 401);
    let on_topic = read_until(&brokers, "sunlight.audit", |r| r.len() >= requests).await;
    let ids = |records: &[Value]| -> BTreeSet<String> {
        records
            .iter()
            .map(|r| r["request_id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(ids(&on_topic), ids(&audited));

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.0.wait().unwrap().success());
}
