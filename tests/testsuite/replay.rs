//! `sunlight replay` end to end: the README sample, outputs, errors, exit codes,
//! determinism, protobuf input.

use std::sync::Arc;

use sunlight_core::codec::{DecodeLimits, json};
use sunlight_core::time::{Duration, Timestamp};

use crate::support::{expected_json, json_lines, repo, sunlight, without_detected_at};

/// The events of a JSON lines file that decode (bad lines skipped), in file order.
fn decodable(path: &std::path::Path) -> Vec<sunlight_core::PowerEvent> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            json::decode(l.as_bytes(), &DecodeLimits::default())
                .ok()
                .map(|(e, _)| e)
        })
        .collect()
}

#[test]
fn replays_the_readme_sample_exactly_as_the_oracle_says() {
    // The README's command, run from the repository root.
    let out = sunlight()
        .current_dir(repo(""))
        .args([
            "replay",
            "--rules",
            "rules/default.toml",
            "--input",
            "examples/data/sample.jsonl",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let got = without_detected_at(json_lines(&stdout));

    let pack = Arc::new(sunlight_core::CompiledPack::load(&repo("rules/default.toml")).unwrap());
    let events = decodable(&repo("examples/data/sample.jsonl"));
    let want = sunlight_core::reference_model::evaluate(
        &pack,
        &events,
        Duration::from_secs(60),
        Timestamp(0),
    );
    assert_eq!(got, expected_json(&want));

    // Every model of the default pack fires on the sample's injected scenarios.
    for rule in &pack.rules {
        assert!(
            got.iter().any(|w| w["rule_id"] == rule.id.as_str()),
            "{} never fired",
            rule.id
        );
    }
    // Rejected lines go to stderr with line numbers and reasons, then the summary.
    for (line, reason) in [
        (3060, "invalid_timestamp"),
        (3061, "missing_field"),
        (3062, "invalid_json"),
        (3063, "late"),
    ] {
        let needle = format!("{{\"line\":{line},\"reason\":\"{reason}\"");
        assert!(stderr.contains(&needle), "{needle} missing from:\n{stderr}");
    }
    assert!(
        stderr
            .contains("rejected 4 (invalid_json 1, missing_field 1, invalid_timestamp 1, late 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("warnings {}", got.len())),
        "{stderr}"
    );
}

#[test]
fn writes_outputs_to_files_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let run = |n: u32| {
        let (w, e) = (
            dir.path().join(format!("w{n}.jsonl")),
            dir.path().join(format!("e{n}.jsonl")),
        );
        sunlight()
            .args(["replay", "--quiet", "--rules"])
            .arg(repo("rules/default.toml"))
            .arg("--input")
            .arg(repo("examples/data/sample.jsonl"))
            .arg("--output")
            .arg(&w)
            .arg("--errors")
            .arg(&e)
            .assert()
            .success()
            .stdout("")
            .stderr("");
        (
            std::fs::read_to_string(w).unwrap(),
            std::fs::read_to_string(e).unwrap(),
        )
    };
    let (w1, e1) = run(1);
    let (w2, e2) = run(2);
    assert_eq!(
        without_detected_at(json_lines(&w1)),
        without_detected_at(json_lines(&w2))
    );
    // Byte-identical apart from detected_at.
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l[..l.find(",\"detected_at\"").unwrap()].to_string())
            .collect()
    };
    assert_eq!(strip(&w1), strip(&w2));
    assert_eq!(e1, e2);
    let errors = json_lines(&e1);
    let lines: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3060, 3061, 3062, 3063]);
    assert_eq!(errors[2]["input"], "this line is not JSON");
}

#[test]
fn strict_fails_on_rejected_input_and_reports_invalid_utf8_losslessly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut bytes = br#"{"event_id":"e1","official_id":"o","kind":"payment","occurred_at":"2026-03-02T00:00:00Z"}"#.to_vec();
    bytes.extend_from_slice(b"\n\n{\"event_id\":\"\xff\"}\r\n");
    std::fs::write(&input, &bytes).unwrap();
    let errors = dir.path().join("errors.jsonl");
    let base = || {
        let mut c = sunlight();
        c.args(["replay", "--quiet", "--rules"])
            .arg(repo("examples/rules/parity.toml"))
            .arg("--input")
            .arg(&input)
            .arg("--errors")
            .arg(&errors);
        c
    };
    base().assert().success();
    base().arg("--strict").assert().code(3);
    let rejected = json_lines(&std::fs::read_to_string(&errors).unwrap());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["reason"], "invalid_utf8");
    assert_eq!(rejected[0]["input_base64"], "eyJldmVudF9pZCI6Iv8ifQ==");
}

#[test]
fn protobuf_and_stdin_inputs_give_the_same_warnings_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let generate = [
        "gen",
        "--events",
        "4000",
        "--officials",
        "60",
        "--days",
        "30",
        "--seed",
        "9",
    ];
    let jsonl = dir.path().join("events.jsonl");
    let pb = dir.path().join("events.pb");
    sunlight()
        .args(generate)
        .arg("--output")
        .arg(&jsonl)
        .assert()
        .success();
    sunlight()
        .args(generate)
        .arg("--output")
        .arg(&pb)
        .assert()
        .success();
    let replay = |input: &std::path::Path| {
        let out = sunlight()
            .args(["replay", "--quiet", "--rules"])
            .arg(repo("rules/default.toml"))
            .arg("--input")
            .arg(input)
            .output()
            .unwrap();
        assert!(out.status.success());
        without_detected_at(json_lines(&String::from_utf8(out.stdout).unwrap()))
    };
    let from_json = replay(&jsonl);
    assert!(
        from_json.len() > 10,
        "the workload should produce warnings: {}",
        from_json.len()
    );
    assert_eq!(replay(&pb), from_json);
    let out = sunlight()
        .args(["replay", "--quiet", "--input", "-", "--rules"])
        .arg(repo("rules/default.toml"))
        .write_stdin(std::fs::read(&jsonl).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        without_detected_at(json_lines(&String::from_utf8(out.stdout).unwrap())),
        from_json
    );
}

#[test]
fn missing_files_are_clear_errors() {
    let out = sunlight()
        .args(["replay", "--rules", "nope.toml", "--input", "x.jsonl"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("cannot read rule pack nope.toml"), "{err}");
}

#[test]
fn an_oversized_line_is_rejected_without_losing_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let mut text = format!("{{\"event_id\":\"{}\"}}\n", "x".repeat(3 << 20));
    for i in 0..5 {
        text.push_str(&format!(
            "{{\"event_id\":\"p{i}\",\"official_id\":\"o\",\"kind\":\"payment\",\"occurred_at\":\"2026-03-02T0{i}:00:00Z\"}}\n"
        ));
    }
    std::fs::write(&input, text).unwrap();
    let errors = dir.path().join("errors.jsonl");
    let out = sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(repo("examples/rules/parity.toml"))
        .arg("--input")
        .arg(&input)
        .arg("--errors")
        .arg(&errors)
        .output()
        .unwrap();
    assert!(out.status.success());
    let rejected = json_lines(&std::fs::read_to_string(&errors).unwrap());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 1);
    assert_eq!(rejected[0]["reason"], "too_large");
    assert_eq!(
        rejected[0]["detail"],
        "line of 3145744 bytes exceeds the limit of 1048576 bytes"
    );
    assert_eq!(rejected[0]["input"].as_str().unwrap().len(), 1024);
    let warnings = json_lines(&String::from_utf8(out.stdout).unwrap());
    let triggers: Vec<&str> = warnings
        .iter()
        .map(|w| w["trigger_event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        triggers,
        vec!["p4"],
        "the five payments after the long line are all counted"
    );
}
