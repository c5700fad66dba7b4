//! Unit tests of labels parsing and scoring, with exact expected numbers.

use proptest::prelude::*;

use super::*;

const RULES: [&str; 3] = ["big", "burst", "never"];

fn labels(text: &str) -> Labels {
    Labels::parse(text.as_bytes(), &RULES).unwrap()
}

fn error(text: &str) -> String {
    Labels::parse(text.as_bytes(), &RULES)
        .unwrap_err()
        .to_string()
}

/// Warnings of the hand-made case: (rule, official, level, trigger, evidence).
fn observe_case(b: &mut Backtest) {
    b.observe("big", "o1", Level::Red, "e1", &["e1"]);
    b.observe("burst", "o1", Level::Yellow, "e2", &["e1", "e2"]);
    b.observe("burst", "o1", Level::Yellow, "e3", &["e2", "e3"]);
    b.observe("big", "o2", Level::Red, "e4", &["e4"]);
    b.observe("big", "o4", Level::Red, "e6", &["e6"]);
    // Unknown rules are ignored.
    b.observe::<&str>("other", "o1", Level::Red, "e1", &[]);
}

fn score(
    rule: &str,
    (tp, fp, unlabelled): (u64, u64, u64),
    precision: Option<f64>,
    (positives, flagged): (u64, u64),
    recall: Option<f64>,
    missed: &[&str],
) -> RuleScore {
    RuleScore {
        rule_id: rule.into(),
        true_positives: tp,
        false_positives: fp,
        unlabelled,
        precision,
        positives,
        positives_flagged: flagged,
        recall,
        missed: missed.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn scores_the_hand_made_case_exactly() {
    let text = r#"
# officials
{"official_id": "o1", "positive": true}
{"official_id": "o1", "positive": false, "rule_id": "big"}
{"official_id": "o2", "positive": false}
{"official_id": "o3", "positive": true, "rule_id": "burst"}
{"official_id": "o4", "positive": true, "rule_id": "big"}
{"official_id": "o5", "positive": true}

{"event_id": "e1", "positive": true}
{"event_id": "e3", "positive": false, "rule_id": "burst"}
{"event_id": "e5", "positive": true}
{"event_id": "e6", "positive": false}
{"event_id": "e6", "positive": false}
"#;
    let mut b = Backtest::new(labels(text));
    observe_case(&mut b);
    let report = b.report();
    assert_eq!(report.format, 1);
    let volume = |rule: &str, warnings, yellow, red, officials| RuleVolume {
        rule_id: rule.into(),
        warnings,
        yellow,
        red,
        officials_flagged: officials,
    };
    assert_eq!(
        report.rules,
        vec![
            volume("big", 3, 0, 3, 3),
            volume("burst", 2, 2, 0, 1),
            volume("never", 0, 0, 0, 0),
        ]
    );
    assert_eq!(
        report.by_official,
        Some(Section {
            labelled: 5,
            rules: vec![
                // o1 is negative for `big` (its own label wins), o2 negative, o4 positive.
                score(
                    "big",
                    (1, 2, 0),
                    Some(1.0 / 3.0),
                    (2, 1),
                    Some(0.5),
                    &["o5"]
                ),
                score(
                    "burst",
                    (2, 0, 0),
                    Some(1.0),
                    (3, 1),
                    Some(1.0 / 3.0),
                    &["o3", "o5"]
                ),
                score("never", (0, 0, 0), None, (2, 0), Some(0.0), &["o1", "o5"]),
            ],
        })
    );
    assert_eq!(
        report.by_event,
        Some(Section {
            labelled: 4,
            rules: vec![
                score("big", (1, 1, 1), Some(0.5), (2, 1), Some(0.5), &["e5"]),
                // e3's warning lists e2 and e3 only (e1 was cut by the evidence limit).
                score("burst", (1, 1, 0), Some(0.5), (2, 1), Some(0.5), &["e5"]),
                score("never", (0, 0, 0), None, (2, 0), Some(0.0), &["e1", "e5"]),
            ],
        })
    );
}

#[test]
fn recall_is_undefined_without_positives_and_sections_without_labels() {
    let mut b = Backtest::new(labels(
        "{\"official_id\": \"o2\", \"positive\": false}\n{\"official_id\": \"o9\", \"positive\": true, \"rule_id\": \"never\"}\n",
    ));
    observe_case(&mut b);
    let report = b.report();
    assert_eq!(report.by_event, None);
    let section = report.by_official.unwrap();
    assert_eq!(section.labelled, 2);
    assert_eq!(
        section.rules,
        vec![
            score("big", (0, 1, 2), Some(0.0), (0, 0), None, &[]),
            score("burst", (0, 0, 2), None, (0, 0), None, &[]),
            score("never", (0, 0, 0), None, (1, 0), Some(0.0), &["o9"]),
        ]
    );
    let empty = Backtest::new(labels("# nothing\n\n")).report();
    assert_eq!((empty.by_official, empty.by_event), (None, None));
}

#[test]
fn the_report_has_a_stable_json_shape() {
    let mut b = Backtest::new(labels("{\"event_id\": \"e4\", \"positive\": true}"));
    observe_case(&mut b);
    let json = serde_json::to_value(b.report()).unwrap();
    assert_eq!(json["by_official"], serde_json::Value::Null);
    assert_eq!(
        json["by_event"]["rules"][1],
        serde_json::json!({
            "rule_id": "burst", "true_positives": 0, "false_positives": 0, "unlabelled": 2,
            "precision": null, "positives": 1, "positives_flagged": 0, "recall": 0.0,
            "missed": ["e4"]
        })
    );
    assert_eq!(
        json["rules"][0],
        serde_json::json!({"rule_id": "big", "warnings": 3, "yellow": 0, "red": 3, "officials_flagged": 3})
    );
}

#[test]
fn malformed_lines_name_the_line_and_the_problem() {
    let ok = "{\"official_id\": \"o1\", \"positive\": true}\n";
    let cases = [
        ("{\"official_id\": \"o1\"}", "missing `positive`"),
        (
            "{\"official_id\": \"o1\", \"positive\": \"yes\"}",
            "invalid type: string \"yes\", expected a boolean (column 39)",
        ),
        (
            "{\"official_id\": \"o1\", \"event_id\": \"e\", \"positive\": true}",
            "has both `official_id` and `event_id`",
        ),
        (
            "{\"positive\": true}",
            "needs `official_id` or `event_id` (exactly one)",
        ),
        (
            "{\"official_id\": \"o1\", \"postive\": true}",
            "unknown field `postive`",
        ),
        ("not json", "is not a JSON object"),
        ("[1, 2]", "is not a JSON object"),
        (
            "{\"official_id\": \"o1\", ",
            "EOF while parsing a value (column 21)",
        ),
        (
            "{\"event_id\": \"\", \"positive\": true}",
            "the id is empty",
        ),
        (
            "{\"official_id\": \"o1\", \"positive\": false}",
            "contradicts line 1",
        ),
        (
            "{\"official_id\": \"o1\", \"positive\": true, \"rule_id\": \"nope\"}",
            "unknown rule_id `nope`; the pack's rules are: big, burst, never",
        ),
    ];
    for (line, want) in cases {
        let text = format!("{ok}# comment\n{line}\n{ok}");
        let got = error(&text);
        assert!(got.starts_with("labels line 3: "), "{got}");
        assert!(got.contains(want), "{got} lacks {want}");
    }
    let got = error(
        "{\"event_id\": \"e1\", \"positive\": true, \"rule_id\": \"big\"}\n{\"event_id\": \"e1\", \"positive\": false, \"rule_id\": \"big\"}",
    );
    assert!(
        got.starts_with("labels line 2: contradicts line 1"),
        "{got}"
    );
    let bad_utf8: &[u8] = b"\n\xff\n";
    let got = Labels::parse(bad_utf8, &RULES).unwrap_err().to_string();
    assert_eq!(got, "labels line 2: is not valid UTF-8");
}

#[test]
fn a_rule_label_and_an_all_rules_label_may_differ() {
    let l = labels(
        "{\"official_id\": \"o1\", \"positive\": true}\n\
         {\"official_id\": \"o1\", \"positive\": false, \"rule_id\": \"burst\"}\n\
         {\"official_id\": \"o1\", \"positive\": true}\n",
    );
    assert_eq!((l.officials(), l.events()), (1, 0));
    let s = &l.officials.subjects[0];
    assert_eq!(
        (s.label(0), s.label(1), s.label(2)),
        (Some(true), Some(false), Some(true))
    );
}

proptest! {
    /// Whatever the labels and warnings: TP + FP + unlabelled = warnings in both
    /// sections, flagged positives never exceed positives, ratios stay in [0, 1].
    #[test]
    fn tallies_add_up(
        official_labels in prop::collection::vec((0u8..6, any::<bool>(), prop::option::of(0usize..3)), 0..12),
        event_labels in prop::collection::vec((0u8..10, any::<bool>(), prop::option::of(0usize..3)), 0..20),
        warnings in prop::collection::vec(
            (0usize..3, 0u8..6, any::<bool>(), 0u8..10, prop::collection::vec(0u8..10, 0..4)),
            0..30,
        ),
    ) {
        let mut text = String::new();
        let mut seen = HashMap::new();
        for (kind, labels) in [("official_id", &official_labels), ("event_id", &event_labels)] {
            for (id, positive, rule) in labels {
                // Skip contradictions: they are errors, tested above.
                if *seen.entry((kind, *id, *rule)).or_insert(*positive) != *positive {
                    continue;
                }
                let rule = rule.map(|r| format!(", \"rule_id\": \"{}\"", RULES[r])).unwrap_or_default();
                text.push_str(&format!("{{\"{kind}\": \"x{id}\", \"positive\": {positive}{rule}}}\n"));
            }
        }
        let mut b = Backtest::new(labels(&text));
        for (rule, official, red, trigger, evidence) in &warnings {
            let evidence: Vec<String> = evidence.iter().map(|e| format!("x{e}")).collect();
            let level = if *red { Level::Red } else { Level::Yellow };
            b.observe(RULES[*rule], &format!("x{official}"), level, &format!("x{trigger}"), &evidence);
        }
        let report = b.report();
        for (r, volume) in report.rules.iter().enumerate() {
            let n = warnings.iter().filter(|w| w.0 == r).count() as u64;
            prop_assert_eq!(volume.warnings, n);
            prop_assert_eq!(volume.yellow + volume.red, n);
            prop_assert!(volume.officials_flagged <= n);
            for section in [&report.by_official, &report.by_event].into_iter().flatten() {
                let s = &section.rules[r];
                prop_assert_eq!(s.true_positives + s.false_positives + s.unlabelled, n);
                prop_assert!(s.positives_flagged <= s.positives);
                prop_assert_eq!(s.positives - s.positives_flagged, s.missed.len() as u64);
                for x in [s.precision, s.recall].into_iter().flatten() {
                    prop_assert!((0.0..=1.0).contains(&x));
                }
                prop_assert_eq!(s.precision.is_none(), s.true_positives + s.false_positives == 0);
                prop_assert_eq!(s.recall.is_none(), s.positives == 0);
            }
        }
    }
}
