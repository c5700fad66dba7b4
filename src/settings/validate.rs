//! Every rule about the settings that one field's type cannot say: allowed values,
//! ranges, settings that need each other, topics that must differ. Each problem
//! names the setting and where its value came from; all are collected.

use sunlight_kafka::KafkaConfig;

use super::layers::Layers;
use super::schema::Schema;
use super::{Problem, Problems, RunSettings, TlsFiles};

/// Checks `s` and builds the run's settings (None when something required is
/// missing; problems are pushed either way).
pub fn validate(s: Schema, layers: &Layers, problems: &mut Problems) -> Option<RunSettings> {
    let mut problem = |setting: &str, message: String| {
        problems.push(Problem::new(&layers.origin(setting), setting, message));
    };
    let k = s.kafka;
    if !matches!(k.start_from.as_str(), "earliest" | "latest") {
        problem(
            "kafka.start_from",
            format!("{:?} must be earliest or latest", k.start_from),
        );
    }
    let warnings_format = sunlight_kafka::WarningFormat::parse(&k.warnings_format);
    if warnings_format.is_none() {
        problem(
            "kafka.warnings_format",
            format!("{:?} must be json or protobuf", k.warnings_format),
        );
    }
    if k.max_in_flight == 0 {
        problem("kafka.max_in_flight", "must be at least 1".into());
    }
    let mut input_topics = k.input_topics.0;
    for t in &k.protobuf_topics.0 {
        if !input_topics.contains(t) {
            input_topics.push(t.clone());
        }
    }
    let sources_path = k.sources.clone();
    let sources = match &k.sources {
        None => None,
        Some(path) => match sunlight_core::sources::SourceFile::load(path) {
            Ok(file) => {
                for topic in file.sources.iter().flat_map(|s| &s.topics) {
                    if k.protobuf_topics.0.contains(topic) {
                        problem(
                            "kafka.sources",
                            format!(
                                "topic {topic:?} is mapped as department data and listed in kafka.protobuf_topics: it can only be one"
                            ),
                        );
                    }
                    if !input_topics.contains(topic) {
                        input_topics.push(topic.clone());
                    }
                }
                Some(std::sync::Arc::new(file))
            }
            Err(e) => {
                for p in e.problems {
                    problem("kafka.sources", p);
                }
                None
            }
        },
    };
    if input_topics.is_empty() {
        problem(
            "kafka.input_topics",
            "is empty: give at least one input topic (or map one with kafka.sources)".into(),
        );
    }
    for (setting, topic) in [
        ("kafka.warnings_topic", &k.warnings_topic),
        ("kafka.dlq_topic", &k.dlq_topic),
    ] {
        if input_topics.contains(topic) {
            problem(
                setting,
                format!("{topic:?} must differ from the input topics"),
            );
        }
    }

    let casework = s.casework;
    if casework.enabled {
        if let Err(e) = casework.policy.validate() {
            problem("casework.policy", e.to_string());
        }
        if casework.tick_interval.0.0 <= 0 {
            problem("casework.tick_interval", "must be longer than zero".into());
        }
        for (setting, topic) in [
            ("casework.risk_codes_topic", &casework.risk_codes_topic),
            ("casework.audit_topic", &casework.audit_topic),
        ] {
            if input_topics.contains(topic) {
                problem(
                    setting,
                    format!(
                        "{topic:?} must differ from the input topics (its records would come back as events)"
                    ),
                );
            }
        }
        if input_topics.contains(&casework.feedback_topic)
            || [&k.warnings_topic, &k.dlq_topic, &casework.risk_codes_topic]
                .contains(&&casework.feedback_topic)
        {
            problem(
                "casework.feedback_topic",
                format!(
                    "{:?} must differ from the input, warnings, dead-letter and risk-code topics",
                    casework.feedback_topic
                ),
            );
        }
    }

    let lane = sunlight_core::lanes::Lane::parse(&s.engine.lane)
        .map_err(|e| problem("engine.lane", e))
        .ok();
    let entity_lane = matches!(lane, Some(sunlight_core::lanes::Lane::Entity(_)));
    if entity_lane {
        if casework.enabled {
            problem(
                "casework.enabled",
                "an entity key's lane hands its warnings to the officials lane, which runs the closed loop: turn casework off in this lane".into(),
            );
        }
        if warnings_format == Some(sunlight_kafka::WarningFormat::Protobuf) {
            problem(
                "kafka.warnings_format",
                "an entity key's lane writes carrier events (JSON) to the officials lane's input topic: leave it json".into(),
            );
        }
    }

    let state = s.state;
    if state.enabled {
        if state.interval.0.0 <= 0 {
            problem("state.interval", "must be longer than zero".into());
        }
        if state.full_every == 0 {
            problem(
                "state.full_every",
                "must be at least 1 (1: every snapshot is full)".into(),
            );
        }
        if input_topics.contains(&state.topic)
            || [&k.warnings_topic, &k.dlq_topic].contains(&&state.topic)
        {
            problem(
                "state.topic",
                format!(
                    "{:?} must differ from the input, warnings and dead-letter topics",
                    state.topic
                ),
            );
        }
    } else if state.exactly_once {
        problem(
            "state.exactly_once",
            "needs state.enabled = true (transactions commit the snapshots)".into(),
        );
    }

    if let Some(api) = &s.api {
        if let Err(e) = api.validate() {
            problem("api", e.to_string());
        }
        if input_topics.contains(&api.audit_topic) {
            problem(
                "api.audit_topic",
                format!("{:?} must differ from the input topics", api.audit_topic),
            );
        }
    }

    let http_addr = match s.http.addr.parse() {
        Ok(a) => Some(a),
        Err(e) => {
            problem(
                "http.addr",
                format!(
                    "{:?} is not an address like 0.0.0.0:9464 ({e})",
                    s.http.addr
                ),
            );
            None
        }
    };
    let http_tls = match (s.http.tls_cert_file, s.http.tls_key_file) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            problem(
                "http.tls_key_file",
                "is not set but http.tls_cert_file is: HTTPS needs both".into(),
            );
            None
        }
        (None, Some(_)) => {
            problem(
                "http.tls_cert_file",
                "is not set but http.tls_key_file is: HTTPS needs both".into(),
            );
            None
        }
    };
    let rules = s.engine.rules;
    if rules.is_none() {
        problem(
            "",
            "no rule pack: give --rules, [engine] rules in the settings file, or SUNLIGHT__ENGINE__RULES".into(),
        );
    }

    let kafka = KafkaConfig {
        brokers: k.brokers,
        group: k.group,
        input_topics,
        protobuf_topics: k.protobuf_topics.0,
        sources,
        warnings_topic: k.warnings_topic,
        dlq_topic: k.dlq_topic,
        auto_offset_reset: k.start_from,
        idle_timeout: k.idle_timeout.0,
        max_watermark_drift: k.max_watermark_drift.0,
        commit_interval: k.commit_interval.0,
        max_in_flight: k.max_in_flight,
        warnings_format: if entity_lane {
            sunlight_kafka::WarningFormat::Carrier
        } else {
            warnings_format.unwrap_or(sunlight_kafka::WarningFormat::Json)
        },
        shutdown_timeout: k.shutdown_timeout.0,
        properties: k.properties,
        mask_in_warnings: k.mask_in_warnings.0,
        casework: casework
            .enabled
            .then_some(sunlight_kafka::casework::CaseworkConfig {
                feedback_topic: casework.feedback_topic,
                risk_codes_topic: casework.risk_codes_topic,
                audit_topic: casework.audit_topic,
                tick_interval: casework.tick_interval.0,
                policy: casework.policy,
            }),
        state: state.enabled.then_some(sunlight_kafka::StateConfig {
            topic: state.topic,
            interval: state.interval.0,
            full_every: state.full_every,
            exactly_once: state.exactly_once,
        }),
        ..KafkaConfig::default()
    };
    Some(RunSettings {
        kafka,
        rules: rules?,
        lane: lane?,
        allowed_lateness: s.engine.allowed_lateness.0,
        max_future_skew: s.engine.max_future_skew.0,
        http_addr: http_addr?,
        http_tls,
        api: s.api,
        reload_interval: s.engine.reload_interval.0.filter(|d| d.0 > 0),
        sources: sources_path,
    })
}
