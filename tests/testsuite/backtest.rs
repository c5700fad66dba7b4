//! `sunlight replay --labels`: a hand-made case with known numbers, a generated
//! workload scored independently from the warnings file, and bad labels files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{json_lines, repo, sunlight, without_detected_at};

const PACK: &str = r#"
[pack]
name = "backtest"
version = "1"

[[rule]]
id = "big-payment"
version = 1
kind = "predicate"
title = "big payment"
level = "red"
filter = { kind = "payment", amount_cents = { gte = 100000 } }

[[rule]]
id = "burst"
version = 1
kind = "aggregate"
title = "{count} payments"
window = "1d"
evidence_limit = 2
filter = { kind = "payment" }
yellow = { count = ">= 2" }

[[rule]]
id = "never"
version = 1
kind = "predicate"
title = "an award"
level = "yellow"
filter = { kind = "award" }
"#;

/// (event, official, hour, amount): big-payment fires on e1, e4, e6; burst on e2
/// (evidence e1, e2) and e3 (evidence e2, e3: e1 is cut by `evidence_limit`).
const EVENTS: [(&str, &str, u32, i64); 6] = [
    ("e1", "o1", 1, 200_000),
    ("e2", "o1", 2, 50),
    ("e3", "o1", 3, 50),
    ("e4", "o2", 1, 300_000),
    ("e5", "o3", 1, 100),
    ("e6", "o4", 5, 150_000),
];

const LABELS: &str = r#"# closed cases
{"official_id": "o1", "positive": true}
{"official_id": "o1", "positive": false, "rule_id": "big-payment"}
{"official_id": "o2", "positive": false}
{"official_id": "o3", "positive": true, "rule_id": "burst"}
{"official_id": "o4", "positive": true, "rule_id": "big-payment"}
{"official_id": "o5", "positive": true}

{"event_id": "e1", "positive": true}
{"event_id": "e3", "positive": false, "rule_id": "burst"}
{"event_id": "e5", "positive": true}
{"event_id": "e6", "positive": false}
"#;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(labels: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pack.toml"), PACK).unwrap();
        // In event-time order: nothing is late.
        let mut sorted = EVENTS;
        sorted.sort_by_key(|e| e.2);
        let events: String = sorted
            .iter()
            .map(|(id, official, hour, amount)| {
                format!(
                    "{{\"event_id\":\"{id}\",\"official_id\":\"{official}\",\"kind\":\"payment\",\"occurred_at\":\"2026-03-02T0{hour}:00:00Z\",\"amount_cents\":{amount}}}\n"
                )
            })
            .collect();
        std::fs::write(dir.path().join("events.jsonl"), events).unwrap();
        std::fs::write(dir.path().join("labels.jsonl"), labels).unwrap();
        Case { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn replay(&self) -> assert_cmd::Command {
        let mut c = sunlight();
        c.arg("replay")
            .arg("--rules")
            .arg(self.path("pack.toml"))
            .arg("--input")
            .arg(self.path("events.jsonl"))
            .arg("--output")
            .arg(self.path("warnings.jsonl"))
            .arg("--labels")
            .arg(self.path("labels.jsonl"))
            .arg("--report")
            .arg(self.path("report.json"));
        c
    }
}

fn score(
    rule: &str,
    (tp, fp, unlabelled): (u64, u64, u64),
    precision: Value,
    (positives, flagged): (u64, u64),
    recall: Value,
    missed: &[&str],
) -> Value {
    json!({
        "rule_id": rule, "true_positives": tp, "false_positives": fp,
        "unlabelled": unlabelled, "precision": precision, "positives": positives,
        "positives_flagged": flagged, "recall": recall, "missed": missed,
    })
}

#[test]
fn the_hand_made_case_has_the_known_numbers() {
    let case = Case::new(LABELS);
    let out = case.replay().assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(case.path("report.json")).unwrap()).unwrap();
    let volume = |rule: &str, warnings: u64, yellow: u64, red: u64, officials: u64| json!({"rule_id": rule, "warnings": warnings, "yellow": yellow, "red": red, "officials_flagged": officials});
    let third = json!(1.0 / 3.0);
    let want = json!({
        "format": 1,
        "rules": [
            volume("big-payment", 3, 0, 3, 3),
            volume("burst", 2, 2, 0, 1),
            volume("never", 0, 0, 0, 0),
        ],
        "by_official": {"labelled": 5, "rules": [
            // o1's own label for big-payment (negative) wins over its all-rules label.
            score("big-payment", (1, 2, 0), third.clone(), (2, 1), json!(0.5), &["o5"]),
            score("burst", (2, 0, 0), json!(1.0), (3, 1), third, &["o3", "o5"]),
            score("never", (0, 0, 0), Value::Null, (2, 0), json!(0.0), &["o1", "o5"]),
        ]},
        "by_event": {"labelled": 4, "rules": [
            score("big-payment", (1, 1, 1), json!(0.5), (2, 1), json!(0.5), &["e5"]),
            score("burst", (1, 1, 0), json!(0.5), (2, 1), json!(0.5), &["e5"]),
            score("never", (0, 0, 0), Value::Null, (2, 0), json!(0.0), &["e1", "e5"]),
        ]},
    });
    assert_eq!(report, want);

    // The table follows the usual summary on stderr.
    let summary = stderr.find("  warnings 5").expect(&stderr);
    let table = &stderr[stderr.find("backtest: alert volume").expect(&stderr)..];
    assert!(summary < stderr.len() - table.len(), "{stderr}");
    for line in [
        "  big-payment                     3        0        3         3",
        "backtest by official labels (5 officials labelled)",
        "  rule                         TP     FP unlabelled precision positives flagged recall",
        "  big-payment                   1      2          0     0.333         2       1  0.500",
        "    missed: o3, o5",
        "  never                         0      0          0         -         2       0  0.000",
        "backtest by event labels (4 events labelled)",
        "  burst                         1      1          0     0.500         2       1  0.500",
    ] {
        assert!(
            table.contains(&format!("{line}\n")),
            "{line:?} missing from\n{table}"
        );
    }

    // --quiet drops the table, not the report; the warnings are those of a plain replay.
    std::fs::remove_file(case.path("report.json")).unwrap();
    case.replay().arg("--quiet").assert().success().stderr("");
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(case.path("report.json")).unwrap()).unwrap();
    assert_eq!(again, want);
    let with_labels = std::fs::read_to_string(case.path("warnings.jsonl")).unwrap();
    let plain = sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(case.path("pack.toml"))
        .arg("--input")
        .arg(case.path("events.jsonl"))
        .output()
        .unwrap();
    assert_eq!(
        without_detected_at(json_lines(&String::from_utf8(plain.stdout).unwrap())),
        without_detected_at(json_lines(&with_labels))
    );
}

#[test]
fn malformed_labels_fail_before_anything_is_written() {
    for (labels, message) in [
        (
            "{\"official_id\": \"o1\", \"positive\": true}\n\n{\"official_id\": \"o2\"}\n",
            "labels line 3: missing `positive`: write `\"positive\": true` or `\"positive\": false`",
        ),
        (
            "# a comment\n{\"event_id\": \"e1\", \"positive\": true, \"rule_id\": \"nope\"}\n",
            "labels line 2: unknown rule_id `nope`; the pack's rules are: big-payment, burst, never",
        ),
        (
            "{\"official_id\": \"o1\", \"event_id\": \"e1\", \"positive\": true}\n",
            "labels line 1: has both `official_id` and `event_id`",
        ),
    ] {
        let case = Case::new(labels);
        let out = case.replay().assert().code(1).stdout("");
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        let file = case.path("labels.jsonl").display().to_string();
        assert!(
            stderr.contains(&format!("error: invalid labels file {file}: {message}")),
            "{stderr}"
        );
        assert!(!case.path("report.json").exists());
        assert!(!case.path("warnings.jsonl").exists());
    }
    // A report needs labels.
    sunlight()
        .args([
            "replay", "--rules", "r.toml", "--input", "i.jsonl", "--report", "x.json",
        ])
        .assert()
        .code(2);
}

/// Equal counts and ids, equal ratios up to the last bit serde_json's default float
/// parser may get wrong when reading the report back.
fn assert_same_score(got: &Value, want: &Value, section: &str) {
    let (mut g, mut w) = (got.clone(), want.clone());
    for key in ["precision", "recall"] {
        let (a, b) = (g[key].take(), w[key].take());
        match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => {
                assert!((a - b).abs() < 1e-12, "{section} {key}: {got} vs {want}")
            }
            _ => assert_eq!(a, b, "{section} {key}: {got} vs {want}"),
        }
    }
    assert_eq!(g, w, "{section}");
}

/// Labels of one kind as the test reads them: (rule or None, id) -> positive.
type LabelMap = HashMap<(Option<String>, String), bool>;

fn label_of(labels: &LabelMap, rule: &str, id: &str) -> Option<bool> {
    labels
        .get(&(Some(rule.to_string()), id.to_string()))
        .or_else(|| labels.get(&(None, id.to_string())))
        .copied()
}

/// The scores of one section, computed from the warnings the replay wrote.
fn expected_section(
    rules: &[String],
    warnings: &[Value],
    labels: &LabelMap,
    ids_of: impl Fn(&Value) -> Vec<String>,
) -> Value {
    let subjects: BTreeSet<&String> = labels.keys().map(|(_, id)| id).collect();
    let scores: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let (mut tp, mut fp, mut unlabelled) = (0u64, 0u64, 0u64);
            let mut flagged = BTreeSet::new();
            for w in warnings.iter().filter(|w| w["rule_id"] == rule.as_str()) {
                let found: Vec<(String, Option<bool>)> = ids_of(w)
                    .into_iter()
                    .map(|id| (id.clone(), label_of(labels, rule, &id)))
                    .collect();
                flagged.extend(
                    found
                        .iter()
                        .filter(|(_, l)| *l == Some(true))
                        .map(|(id, _)| id.clone()),
                );
                if found.iter().any(|(_, l)| *l == Some(true)) {
                    tp += 1;
                } else if found.iter().any(|(_, l)| *l == Some(false)) {
                    fp += 1;
                } else {
                    unlabelled += 1;
                }
            }
            let positives: Vec<&String> = subjects
                .iter()
                .copied()
                .filter(|id| label_of(labels, rule, id) == Some(true))
                .collect();
            let missed: Vec<&String> = positives
                .iter()
                .copied()
                .filter(|id| !flagged.contains(*id))
                .collect();
            let div = |a: u64, b: u64| {
                if b == 0 {
                    Value::Null
                } else {
                    json!(a as f64 / b as f64)
                }
            };
            let found = (positives.len() - missed.len()) as u64;
            json!({
                "rule_id": rule, "true_positives": tp, "false_positives": fp,
                "unlabelled": unlabelled, "precision": div(tp, tp + fp),
                "positives": positives.len(), "positives_flagged": found,
                "recall": div(found, positives.len() as u64), "missed": missed,
            })
        })
        .collect();
    json!({"labelled": subjects.len(), "rules": scores})
}

/// Labels for a generated workload: officials in turn positive, negative, unlabelled
/// (the first positive one negative for one rule); scenario events positive, every
/// fifth background event negative (one of them positive for one rule).
fn generated_labels(events: &Path, rule: &str) -> (String, LabelMap, LabelMap) {
    let text = std::fs::read_to_string(events).unwrap();
    let events = json_lines(&text);
    let officials: BTreeSet<&str> = events
        .iter()
        .map(|e| e["official_id"].as_str().unwrap())
        .collect();
    let (mut lines, mut by_official, mut by_event) =
        (String::new(), LabelMap::new(), LabelMap::new());
    let mut add =
        |map: &mut LabelMap, field: &str, id: &str, positive: bool, rule: Option<&str>| {
            let scope = rule
                .map(|r| format!(", \"rule_id\": \"{r}\""))
                .unwrap_or_default();
            lines.push_str(&format!(
                "{{\"{field}\": \"{id}\", \"positive\": {positive}{scope}}}\n"
            ));
            map.insert((rule.map(str::to_string), id.to_string()), positive);
        };
    for (i, official) in officials.iter().enumerate() {
        match i % 3 {
            0 => add(&mut by_official, "official_id", official, true, None),
            1 => add(&mut by_official, "official_id", official, false, None),
            _ => {}
        }
        if i == 0 {
            add(&mut by_official, "official_id", official, false, Some(rule));
        }
    }
    let mut overridden = false;
    for (i, e) in events.iter().enumerate() {
        let id = e["event_id"].as_str().unwrap();
        if id.starts_with("SC-") {
            add(&mut by_event, "event_id", id, true, None);
        } else if i % 5 == 0 {
            add(&mut by_event, "event_id", id, false, None);
            if !overridden && e["kind"] == "payment" {
                add(&mut by_event, "event_id", id, true, Some(rule));
                overridden = true;
            }
        }
    }
    (lines, by_official, by_event)
}

#[test]
fn a_generated_workload_scores_as_computed_from_its_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    sunlight()
        .args([
            "gen",
            "--events",
            "4000",
            "--officials",
            "60",
            "--days",
            "30",
            "--seed",
            "9",
        ])
        .arg("--output")
        .arg(&events)
        .assert()
        .success();
    let pack = sunlight_core::CompiledPack::load(&repo("rules/default.toml")).unwrap();
    let rules: Vec<String> = pack.rules.iter().map(|r| r.id.clone()).collect();
    let (labels, by_official, by_event) = generated_labels(&events, "payment-burst");
    std::fs::write(dir.path().join("labels.jsonl"), labels).unwrap();
    let (warnings_path, report_path) = (dir.path().join("w.jsonl"), dir.path().join("r.json"));
    sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&events)
        .arg("--output")
        .arg(&warnings_path)
        .arg("--labels")
        .arg(dir.path().join("labels.jsonl"))
        .arg("--report")
        .arg(&report_path)
        .assert()
        .success();
    let warnings = json_lines(&std::fs::read_to_string(&warnings_path).unwrap());
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();

    let volume: Vec<Value> = rules
        .iter()
        .map(|rule| {
            let mine: Vec<&Value> = warnings
                .iter()
                .filter(|w| w["rule_id"] == rule.as_str())
                .collect();
            let level = |l: &str| mine.iter().filter(|w| w["level"] == l).count();
            let officials: BTreeSet<&str> = mine
                .iter()
                .map(|w| w["official_id"].as_str().unwrap())
                .collect();
            json!({"rule_id": rule, "warnings": mine.len(), "yellow": level("yellow"),
                   "red": level("red"), "officials_flagged": officials.len()})
        })
        .collect();
    let want = json!({
        "format": 1,
        "rules": volume,
        "by_official": expected_section(&rules, &warnings, &by_official, |w| {
            vec![w["official_id"].as_str().unwrap().to_string()]
        }),
        "by_event": expected_section(&rules, &warnings, &by_event, |w| {
            let mut ids = vec![w["trigger_event_id"].as_str().unwrap().to_string()];
            ids.extend(w["evidence"]["event_ids"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()));
            ids
        }),
    });
    assert_eq!(report["rules"], want["rules"]);
    for section in ["by_official", "by_event"] {
        assert_eq!(
            report[section]["labelled"], want[section]["labelled"],
            "{section}"
        );
        for (got, want) in report[section]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .zip(want[section]["rules"].as_array().unwrap())
        {
            assert_same_score(got, want, section);
        }
    }

    // The workload exercises every outcome somewhere.
    let totals = |section: &str| {
        let mut t: BTreeMap<&str, u64> = BTreeMap::new();
        for s in report[section]["rules"].as_array().unwrap() {
            for k in ["true_positives", "false_positives", "unlabelled"] {
                *t.entry(k).or_default() += s[k].as_u64().unwrap();
            }
        }
        t
    };
    for section in ["by_official", "by_event"] {
        let t = totals(section);
        assert!(t.values().all(|n| *n > 0), "{section}: {t:?}");
        assert_eq!(t.values().sum::<u64>(), warnings.len() as u64);
    }
}
