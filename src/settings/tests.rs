//! Layers, defaults and problems of the settings.
use super::*;
use clap::Parser;

fn args(flags: &[&str]) -> RunArgs {
    let mut argv = vec!["sunlight", "run"];
    argv.extend(flags);
    match crate::cli::Cli::parse_from(argv).command {
        crate::cli::Command::Run(a) => *a,
        _ => unreachable!("parsed the run command"),
    }
}

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn later_layers_win() {
    let dir = std::env::temp_dir().join(format!("sunlight-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sunlight.toml");
    std::fs::write(
        &file,
        "[kafka]\nbrokers = \"file:9092\"\ngroup = \"file-group\"\ninput_topics = [\"a\", \"b\"]\nidle_timeout = \"30s\"\n[kafka.properties]\n\"security.protocol\" = \"SSL\"\n[engine]\nrules = \"pack.toml\"\nallowed_lateness = \"5m\"\n",
    )
    .unwrap();
    let config = file.display().to_string();
    let s = resolve(
        &args(&["--config", &config, "--group", "flag-group"]),
        env(&[
            ("SUNLIGHT__KAFKA__BROKERS", "env:9092"),
            (
                "SUNLIGHT__KAFKA__PROPERTIES__SASL_MECHANISM",
                "SCRAM-SHA-512",
            ),
            ("PATH", "/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(s.kafka.brokers, "env:9092");
    assert_eq!(s.kafka.group, "flag-group");
    assert_eq!(s.kafka.input_topics, vec!["a", "b"]);
    assert_eq!(s.kafka.idle_timeout, Duration::from_secs(30));
    assert_eq!(s.kafka.warnings_topic, "sunlight.warnings", "default kept");
    assert_eq!(
        s.rules,
        dir.join("pack.toml"),
        "relative to the settings file"
    );
    assert_eq!(s.allowed_lateness, Duration::from_secs(300));
    assert_eq!(s.http_addr.to_string(), DEFAULT_HTTP_ADDR);
    assert_eq!(s.max_future_skew, Some(Duration::from_secs(86_400)));
    let off = resolve(
        &args(&["--rules", "p.toml"]),
        env(&[("SUNLIGHT__ENGINE__MAX_FUTURE_SKEW", "off")]),
    )
    .unwrap();
    assert_eq!(off.max_future_skew, None);
    assert_eq!(
        s.kafka.max_watermark_drift, None,
        "alignment off by default"
    );
    let aligned = resolve(
        &args(&["--rules", "p.toml"]),
        env(&[("SUNLIGHT__KAFKA__MAX_WATERMARK_DRIFT", "10m")]),
    )
    .unwrap();
    assert_eq!(
        aligned.kafka.max_watermark_drift,
        Some(Duration::from_secs(600))
    );
    assert_eq!(s.kafka.warnings_format, sunlight_kafka::WarningFormat::Json);
    assert_eq!(
        s.kafka
            .properties
            .get("security.protocol")
            .map(String::as_str),
        Some("SSL")
    );
    assert_eq!(
        s.kafka.properties.get("sasl.mechanism").map(String::as_str),
        Some("SCRAM-SHA-512")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_the_setting() {
    let err = |a: &[&str], e: &[(&str, &str)]| resolve(&args(a), env(e)).unwrap_err().to_string();
    assert!(err(&[], &[]).contains("no rule pack"));
    assert!(
        err(&["--rules", "p.toml"], &[("SUNLIGHT__KAFKA__BROKER", "x")])
            .contains("environment SUNLIGHT__KAFKA__BROKER: kafka.broker: unknown setting")
    );
    assert!(
        err(&["--rules", "p.toml", "--idle-timeout", "soon"], &[])
            .contains("--idle-timeout: kafka.idle_timeout: ")
    );
    assert!(
        err(
            &["--rules", "p.toml"],
            &[("SUNLIGHT__KAFKA__START_FROM", "middle")]
        )
        .contains("environment SUNLIGHT__KAFKA__START_FROM: kafka.start_from: \"middle\" must be earliest or latest")
    );
    assert!(
        err(
            &["--rules", "p.toml"],
            &[("SUNLIGHT__HTTP__ADDR", "localhost")]
        )
        .contains("environment SUNLIGHT__HTTP__ADDR: http.addr: \"localhost\" is not an address")
    );
    assert!(
        err(
            &["--rules", "p.toml"],
            &[("SUNLIGHT__KAFKA__WARNINGS_FORMAT", "avro")]
        )
        .contains("environment SUNLIGHT__KAFKA__WARNINGS_FORMAT: kafka.warnings_format: \"avro\" must be json or protobuf")
    );
    assert!(
        err(
            &["--rules", "p.toml", "--warnings-topic", "sunlight.events"],
            &[]
        )
        .contains("must differ from the input topics")
    );
}

#[test]
fn the_closed_loop_is_off_by_default_and_configured_in_layers() {
    let s = resolve(&args(&["--rules", "p.toml"]), env(&[])).unwrap();
    assert!(s.kafka.casework.is_none());
    let dir = std::env::temp_dir().join(format!("sunlight-casework-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sunlight.toml");
    std::fs::write(
        &file,
        "[casework]\nenabled = true\nfeedback_topic = \"fb\"\n[casework.policy]\nhalf_life = \"10d\"\nred_at = 5.0\n[casework.policy.rule_weights]\nsplit-payment = 2.0\n",
    )
    .unwrap();
    let config = file.display().to_string();
    let s = resolve(
        &args(&["--config", &config, "--rules", "p.toml"]),
        env(&[("SUNLIGHT__CASEWORK__TICK_INTERVAL", "250ms")]),
    )
    .unwrap();
    let c = s.kafka.casework.expect("on");
    assert_eq!(c.feedback_topic, "fb");
    assert_eq!(c.risk_codes_topic, "sunlight.risk-codes");
    assert_eq!(c.tick_interval, Duration(250_000_000));
    assert_eq!(c.policy.half_life, Duration::from_secs(10 * 86_400));
    assert_eq!(c.policy.red_at, 5.0);
    assert_eq!(c.policy.yellow_at, 0.5, "default kept");
    assert_eq!(c.policy.rule_weights["split-payment"], 2.0);
    let on = resolve(&args(&["--rules", "p.toml", "--casework"]), env(&[])).unwrap();
    assert_eq!(
        on.kafka.casework.unwrap().feedback_topic,
        "sunlight.feedback"
    );
    std::fs::write(
        &file,
        "[casework]\nenabled = true\n[casework.policy]\nred_at = 0.4\n",
    )
    .unwrap();
    let err = resolve(&args(&["--config", &config, "--rules", "p.toml"]), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("casework.red_at must be a number >= casework.yellow_at"),
        "{err}"
    );
    let err = resolve(
        &args(&["--rules", "p.toml", "--casework"]),
        env(&[("SUNLIGHT__CASEWORK__FEEDBACK_TOPIC", "sunlight.events")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("casework.feedback_topic: \"sunlight.events\" must differ"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_problem_is_reported_at_once_naming_its_origin_and_setting() {
    let dir = tempfile_dir("problems");
    let file = dir.join("sunlight.toml");
    std::fs::write(
        &file,
        "[kafka]\nmax_in_flight = \"many\"\ncommit_intervall = \"1s\"\n[state]\nexactly_once = true\n",
    )
    .unwrap();
    let config = file.display().to_string();
    let err = resolve(
        &args(&["--config", &config, "--idle-timeout", "soon"]),
        env(&[
            ("SUNLIGHT__KAFKA__START_FROM", "middle"),
            ("SUNLIGHT__HTTP__ADDR", "localhost"),
            ("SUNLIGHT__STATE__FULL_EVERY", "often"),
        ]),
    )
    .unwrap_err()
    .to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "8 problems in the settings:", "{err}");
    let mut problems: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.trim_start_matches("  - "))
        .collect();
    problems.sort();
    let file = file.display();
    let expected = [
        "--idle-timeout: kafka.idle_timeout: ".to_string(),
        format!("{file}: kafka.commit_intervall: unknown setting"),
        format!("{file}: kafka.max_in_flight: invalid type: string \"many\", expected usize"),
        format!("{file}: state.exactly_once: needs state.enabled = true (transactions commit the snapshots)"),
        "environment SUNLIGHT__HTTP__ADDR: http.addr: \"localhost\" is not an address like 0.0.0.0:9464 (invalid socket address syntax)".to_string(),
        "environment SUNLIGHT__KAFKA__START_FROM: kafka.start_from: \"middle\" must be earliest or latest".to_string(),
        "environment SUNLIGHT__STATE__FULL_EVERY: state.full_every: invalid type: string \"often\", expected u32".to_string(),
        "no rule pack: give --rules, [engine] rules in the settings file, or SUNLIGHT__ENGINE__RULES".to_string(),
    ];
    let mut expected: Vec<String> = expected.to_vec();
    expected.sort();
    assert_eq!(problems.len(), expected.len(), "{err}");
    for (got, want) in problems.iter().zip(&expected) {
        assert!(
            got.starts_with(want.as_str()),
            "{got:?} does not start with {want:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn environment_values_are_read_as_the_schema_types_them() {
    let s = resolve(
        &args(&["--rules", "p.toml"]),
        env(&[
            ("SUNLIGHT__KAFKA__MAX_IN_FLIGHT", "250"),
            ("SUNLIGHT__KAFKA__INPUT_TOPICS", "a, b,c"),
            ("SUNLIGHT__KAFKA__WARNINGS_TOPIC", "2024"),
            ("SUNLIGHT__STATE__ENABLED", "true"),
            ("SUNLIGHT__STATE__FULL_EVERY", "3"),
            ("SUNLIGHT__ENGINE__RELOAD_INTERVAL", "off"),
        ]),
    )
    .unwrap();
    assert_eq!(s.kafka.max_in_flight, 250);
    assert_eq!(s.kafka.input_topics, ["a", "b", "c"]);
    assert_eq!(
        s.kafka.warnings_topic, "2024",
        "a number-like name stays text"
    );
    let state = s.kafka.state.expect("on");
    assert_eq!(state.full_every, 3);
    assert_eq!(s.reload_interval, None);
    let err = resolve(
        &args(&["--rules", "p.toml"]),
        env(&[("SUNLIGHT__KAFKA__IDLE_TIMEOUT", "10")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("environment SUNLIGHT__KAFKA__IDLE_TIMEOUT: kafka.idle_timeout: `10`"),
        "the duration's own error, not the number's: {err}"
    );
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sunlight-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_source_mapping_adds_its_topics_and_its_problems_are_reported_with_the_others() {
    let oa = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sources/oa-approvals.toml"
    );
    let s = resolve(
        &args(&["--rules", "p.toml"]),
        env(&[
            ("SUNLIGHT__KAFKA__INPUT_TOPICS", "native"),
            ("SUNLIGHT__KAFKA__SOURCES", oa),
        ]),
    )
    .unwrap();
    assert_eq!(s.kafka.input_topics, ["native", "oa.public.oa_approval"]);
    let sources = s.kafka.sources.expect("loaded");
    assert_eq!(sources.sources[0].name, "oa-approvals");

    let dir = tempfile_dir("sources");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[source]]\nname = \"x\"\ntopics = [\"native\"]\nformat = \"csv\"\n",
    )
    .unwrap();
    let bad_path = bad.display().to_string();
    let err = resolve(
        &args(&["--rules", "p.toml", "--protobuf-topic", "native"]),
        env(&[("SUNLIGHT__KAFKA__SOURCES", &bad_path)]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!(
            "environment SUNLIGHT__KAFKA__SOURCES: kafka.sources: {bad_path}: x: format: \"csv\" is not one of \"debezium\", \"json\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{bad_path}: x: no [[source.event]] declared")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lanes_are_set_in_layers_and_an_entity_lane_runs_without_the_closed_loop() {
    use sunlight_core::lanes::Lane;
    let base = ["--rules", "pack.toml", "--brokers", "b:9092"];
    let s = resolve(&args(&base), env(&[])).unwrap();
    assert_eq!(s.lane, Lane::All);
    assert_eq!(s.kafka.warnings_format, sunlight_kafka::WarningFormat::Json);
    let s = resolve(
        &args(&[&base[..], &["--lane", "officials"]].concat()),
        env(&[("SUNLIGHT__ENGINE__LANE", "attributes.vehicle")]),
    )
    .unwrap();
    assert_eq!(s.lane, Lane::Officials, "the flag wins");
    // An entity lane writes carriers for the officials lane.
    let s = resolve(
        &args(&base),
        env(&[("SUNLIGHT__ENGINE__LANE", "attributes.vehicle")]),
    )
    .unwrap();
    assert_eq!(s.lane, Lane::parse("attributes.vehicle").unwrap());
    assert_eq!(
        s.kafka.warnings_format,
        sunlight_kafka::WarningFormat::Carrier
    );
    let err = resolve(
        &args(&[&base[..], &["--lane", "attributes.vehicle", "--casework"]].concat()),
        env(&[("SUNLIGHT__KAFKA__WARNINGS_FORMAT", "protobuf")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--casework: casework.enabled: an entity key's lane hands its warnings to the officials lane, which runs the closed loop: turn casework off in this lane"),
        "{err}"
    );
    assert!(
        err.contains("environment SUNLIGHT__KAFKA__WARNINGS_FORMAT: kafka.warnings_format: an entity key's lane writes carrier events (JSON)"),
        "{err}"
    );
    let err = resolve(
        &args(&[&base[..], &["--lane", "official_id"]].concat()),
        env(&[]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--lane: engine.lane: `official_id` is the officials lane: use `officials`"),
        "{err}"
    );
}
