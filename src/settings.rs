//! Layered settings of `sunlight run`: built-in defaults, then the `--config` file,
//! then `SUNLIGHT__SECTION__KEY` environment variables, then flags (later layers
//! win). Every layer is validated, and errors name the file, variable or field.
//! Documented in docs/CONFIG.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use sunlight_core::time::Duration;
use sunlight_kafka::KafkaConfig;

use crate::cli::RunArgs;

/// The settings file: `[kafka]`, `[engine]`, `[http]`, `[state]`, `[casework]` and
/// `[api]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSettings {
    /// Kafka settings.
    pub kafka: KafkaSection,
    /// Engine settings.
    pub engine: EngineSection,
    /// HTTP endpoint settings.
    pub http: HttpSection,
    /// The closed loop.
    pub casework: CaseworkSection,
    /// The query API (served on the HTTP address when present).
    pub api: Option<sunlight_api::ApiConfig>,
    /// Durable window state.
    pub state: StateSection,
}

/// `[state]`: durable window state (off unless `enabled = true`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateSection {
    /// Turns snapshots on.
    pub enabled: Option<bool>,
    /// The state topic (default `sunlight.state`).
    pub topic: Option<String>,
    /// Snapshot interval (default `30s`).
    pub interval: Option<String>,
    /// Every how many snapshots of a partition one is full (default 10; 1 = all).
    pub full_every: Option<u32>,
    /// Kafka transactions around outputs, snapshots and offsets.
    pub exactly_once: Option<bool>,
}

/// `[casework]`: the closed loop (off unless `enabled = true` or `--casework`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseworkSection {
    /// Turns the loop on.
    pub enabled: Option<bool>,
    /// Feedback topic (default `sunlight.feedback`).
    pub feedback_topic: Option<String>,
    /// Risk-code topic (default `sunlight.risk-codes`).
    pub risk_codes_topic: Option<String>,
    /// Audit topic (default `sunlight.audit`).
    pub audit_topic: Option<String>,
    /// How often deadlines and decay are checked (default `5s`).
    pub tick_interval: Option<String>,
    /// `[casework.policy]`: weights, half-life, thresholds, deadlines, suppression.
    pub policy: Option<sunlight_core::casework::CaseworkPolicy>,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Listen address of /metrics, /healthz and /readyz.
    pub addr: Option<String>,
    /// PEM certificate chain: with `tls_key_file`, the endpoint serves HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

/// Certificate and key of an HTTPS endpoint (`[http] tls_cert_file`, `tls_key_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// Default address of the HTTP endpoint: loopback, so nothing is exposed unless asked
/// (containers set `0.0.0.0:9464`).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9464";

/// `[kafka]`: every field optional; absent fields keep the previous layer's value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSection {
    /// `bootstrap.servers`.
    pub brokers: Option<String>,
    /// Consumer group id.
    pub group: Option<String>,
    /// Input topics (JSON).
    pub input_topics: Option<Vec<String>>,
    /// Input topics carrying protobuf.
    pub protobuf_topics: Option<Vec<String>>,
    /// Warnings topic.
    pub warnings_topic: Option<String>,
    /// Dead-letter topic.
    pub dlq_topic: Option<String>,
    /// `earliest` or `latest`.
    pub start_from: Option<String>,
    /// Idle timeout, e.g. `10s`.
    pub idle_timeout: Option<String>,
    /// Watermark alignment, e.g. `10m`, or `off`.
    pub max_watermark_drift: Option<String>,
    /// Commit interval, e.g. `1s`.
    pub commit_interval: Option<String>,
    /// Most outputs awaiting acknowledgement.
    pub max_in_flight: Option<usize>,
    /// `json` or `protobuf`.
    pub warnings_format: Option<String>,
    /// How long shutdown waits for outstanding outputs, e.g. `10s`.
    pub shutdown_timeout: Option<String>,
    /// librdkafka properties passed to both clients.
    pub properties: BTreeMap<String, String>,
    /// Key fields masked in published warnings.
    pub mask_in_warnings: Option<Vec<String>>,
}

/// `[engine]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSection {
    /// Rule pack path (relative to the settings file).
    pub rules: Option<PathBuf>,
    /// Allowed lateness, e.g. `1m`.
    pub allowed_lateness: Option<String>,
    /// Largest accepted lead of event time over the clock, e.g. `1d`, or `off`.
    pub max_future_skew: Option<String>,
    /// How often the rule pack file is checked for changes, e.g. `5s`, or `off`.
    pub reload_interval: Option<String>,
}

/// The resolved settings.
#[derive(Debug)]
pub struct RunSettings {
    /// Kafka side.
    pub kafka: KafkaConfig,
    /// Rule pack path.
    pub rules: PathBuf,
    /// Allowed lateness.
    pub allowed_lateness: Duration,
    /// Largest accepted lead of event time over the clock (None: no limit).
    pub max_future_skew: Option<Duration>,
    /// HTTP endpoint address.
    pub http_addr: std::net::SocketAddr,
    /// Serve HTTPS with these (None: plain HTTP).
    pub http_tls: Option<TlsFiles>,
    /// The query API's settings (key files relative to the settings file), if on.
    pub api: Option<sunlight_api::ApiConfig>,
    /// How often the rule pack file is checked for changes (None: only on SIGHUP).
    pub reload_interval: Option<Duration>,
}

/// Default `engine.max_future_skew`.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(86_400);

/// Default `engine.reload_interval`.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Resolves the layers for `sunlight run`.
pub fn resolve(
    args: &RunArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<RunSettings> {
    let mut kafka = KafkaConfig::default();
    let mut rules: Option<PathBuf> = None;
    let mut lateness = sunlight_core::engine::DEFAULT_ALLOWED_LATENESS;
    let mut max_future_skew = Some(DEFAULT_MAX_FUTURE_SKEW);
    let mut http_addr = (DEFAULT_HTTP_ADDR.to_string(), "default".to_string());
    let (mut tls_cert, mut tls_key): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut casework = CaseworkSection::default();
    let mut casework_origin = "default".to_string();
    let mut api: Option<sunlight_api::ApiConfig> = None;
    let mut reload_interval = Some(DEFAULT_RELOAD_INTERVAL);
    let mut state = StateSection::default();

    // Layer 2: the file.
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read settings file {}", path.display()))?;
        let file: FileSettings = toml::from_str(&text)
            .with_context(|| format!("{} is not a valid settings file", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        apply_kafka(&mut kafka, file.kafka, &path.display().to_string())?;
        if let Some(r) = file.engine.rules {
            rules = Some(base.join(r));
        }
        if let Some(l) = file.engine.allowed_lateness {
            lateness = duration(&l, &format!("{}: engine.allowed_lateness", path.display()))?;
        }
        if let Some(v) = file.engine.reload_interval {
            reload_interval = skew(&v, &format!("{}: engine.reload_interval", path.display()))?;
        }
        if let Some(v) = file.engine.max_future_skew {
            max_future_skew = skew(&v, &format!("{}: engine.max_future_skew", path.display()))?;
        }
        if let Some(a) = file.http.addr {
            http_addr = (a, format!("{}: http.addr", path.display()));
        }
        tls_cert = file.http.tls_cert_file.map(|f| base.join(f)).or(tls_cert);
        tls_key = file.http.tls_key_file.map(|f| base.join(f)).or(tls_key);
        casework = file.casework;
        casework_origin = path.display().to_string();
        state = file.state;
        if let Some(mut a) = file.api {
            // Key and audit files relative to the settings file.
            for k in &mut a.keys {
                for f in [&mut k.secret_file, &mut k.public_key_file]
                    .into_iter()
                    .flatten()
                {
                    *f = base.join(&*f);
                }
            }
            if let Some(f) = &mut a.audit_file {
                *f = base.join(&*f);
            }
            a.validate()
                .map_err(|e| anyhow::anyhow!("{}: api: {e}", path.display()))?;
            api = Some(a);
        }
    }

    // Layer 3: the environment.
    let mut section = KafkaSection::default();
    for (name, value) in env {
        let Some(key) = name.strip_prefix("SUNLIGHT__") else {
            continue;
        };
        let list = || {
            value
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        match key {
            "KAFKA__BROKERS" => section.brokers = Some(value.clone()),
            "KAFKA__GROUP" => section.group = Some(value.clone()),
            "KAFKA__INPUT_TOPICS" => section.input_topics = Some(list()),
            "KAFKA__PROTOBUF_TOPICS" => section.protobuf_topics = Some(list()),
            "KAFKA__WARNINGS_TOPIC" => section.warnings_topic = Some(value.clone()),
            "KAFKA__DLQ_TOPIC" => section.dlq_topic = Some(value.clone()),
            "KAFKA__START_FROM" => section.start_from = Some(value.clone()),
            "KAFKA__IDLE_TIMEOUT" => section.idle_timeout = Some(value.clone()),
            "KAFKA__MAX_WATERMARK_DRIFT" => section.max_watermark_drift = Some(value.clone()),
            "KAFKA__COMMIT_INTERVAL" => section.commit_interval = Some(value.clone()),
            "KAFKA__WARNINGS_FORMAT" => section.warnings_format = Some(value.clone()),
            "KAFKA__SHUTDOWN_TIMEOUT" => section.shutdown_timeout = Some(value.clone()),
            "KAFKA__MASK_IN_WARNINGS" => section.mask_in_warnings = Some(list()),
            "HTTP__ADDR" => http_addr = (value.clone(), name.clone()),
            "HTTP__TLS_CERT_FILE" => tls_cert = Some(PathBuf::from(&value)),
            "HTTP__TLS_KEY_FILE" => tls_key = Some(PathBuf::from(&value)),
            "KAFKA__MAX_IN_FLIGHT" => {
                section.max_in_flight = Some(
                    value
                        .parse()
                        .with_context(|| format!("{name}={value:?} is not a number"))?,
                )
            }
            "CASEWORK__ENABLED" => {
                casework.enabled = Some(
                    value
                        .parse()
                        .with_context(|| format!("{name}={value:?} must be true or false"))?,
                )
            }
            "CASEWORK__FEEDBACK_TOPIC" => casework.feedback_topic = Some(value.clone()),
            "CASEWORK__RISK_CODES_TOPIC" => casework.risk_codes_topic = Some(value.clone()),
            "CASEWORK__AUDIT_TOPIC" => casework.audit_topic = Some(value.clone()),
            "CASEWORK__TICK_INTERVAL" => casework.tick_interval = Some(value.clone()),
            "STATE__ENABLED" => {
                state.enabled = Some(
                    value
                        .parse()
                        .with_context(|| format!("{name}={value:?} must be true or false"))?,
                )
            }
            "STATE__TOPIC" => state.topic = Some(value.clone()),
            "STATE__INTERVAL" => state.interval = Some(value.clone()),
            "STATE__FULL_EVERY" => {
                state.full_every = Some(value.parse().with_context(|| {
                    format!("{name}={value:?} must be a whole number of snapshots")
                })?)
            }
            "STATE__EXACTLY_ONCE" => {
                state.exactly_once = Some(
                    value
                        .parse()
                        .with_context(|| format!("{name}={value:?} must be true or false"))?,
                )
            }
            "ENGINE__RULES" => rules = Some(PathBuf::from(&value)),
            "ENGINE__ALLOWED_LATENESS" => lateness = duration(&value, &name)?,
            "ENGINE__MAX_FUTURE_SKEW" => max_future_skew = skew(&value, &name)?,
            "ENGINE__RELOAD_INTERVAL" => reload_interval = skew(&value, &name)?,
            other => match other.strip_prefix("KAFKA__PROPERTIES__") {
                // SUNLIGHT__KAFKA__PROPERTIES__SECURITY_PROTOCOL -> security.protocol
                Some(property) if !property.is_empty() => {
                    section.properties.insert(
                        property.to_ascii_lowercase().replace('_', "."),
                        value.clone(),
                    );
                }
                _ => bail!(
                    "unknown setting {name} (see docs/CONFIG.md for the SUNLIGHT__ variables)"
                ),
            },
        }
    }
    apply_kafka(&mut kafka, section, "environment")?;

    // Layer 4: flags.
    let flags = KafkaSection {
        brokers: args.brokers.clone(),
        group: args.group.clone(),
        input_topics: (!args.input_topics.is_empty()).then(|| args.input_topics.clone()),
        protobuf_topics: (!args.protobuf_topics.is_empty()).then(|| args.protobuf_topics.clone()),
        warnings_topic: args.warnings_topic.clone(),
        dlq_topic: args.dlq_topic.clone(),
        start_from: args.start_from.clone(),
        idle_timeout: args.idle_timeout.clone(),
        max_watermark_drift: None,
        commit_interval: None,
        max_in_flight: None,
        warnings_format: args.warnings_format.clone(),
        shutdown_timeout: None,
        properties: args.properties.iter().cloned().collect(),
        mask_in_warnings: None,
    };
    apply_kafka(&mut kafka, flags, "flags")?;
    if let Some(r) = &args.rules {
        rules = Some(r.clone());
    }
    if let Some(l) = &args.allowed_lateness {
        lateness = duration(l, "--allowed-lateness")?;
    }
    if let Some(a) = &args.http_addr {
        http_addr = (a.clone(), "--http-addr".to_string());
    }
    if args.casework {
        casework.enabled = Some(true);
    }
    kafka.casework = casework_config(casework, &casework_origin)?;
    if state.enabled == Some(true) {
        let mut c = sunlight_kafka::StateConfig::default();
        if let Some(t) = state.topic {
            c.topic = t;
        }
        if let Some(i) = state.interval {
            c.interval = duration(&i, "state.interval")?;
            if c.interval.0 <= 0 {
                bail!("state.interval must be longer than zero");
            }
        }
        if let Some(n) = state.full_every {
            if n == 0 {
                bail!("state.full_every must be at least 1 (1: every snapshot is full)");
            }
            c.full_every = n;
        }
        c.exactly_once = state.exactly_once == Some(true);
        kafka.state = Some(c);
    } else if state.exactly_once == Some(true) {
        bail!("state.exactly_once needs state.enabled = true (transactions commit the snapshots)");
    }
    let http_addr = http_addr.0.parse().map_err(|e| {
        anyhow::anyhow!(
            "{}: {:?} is not an address like 0.0.0.0:9464 ({e})",
            http_addr.1,
            http_addr.0
        )
    })?;

    // Cross-field checks.
    let rules = rules.context("no rule pack: give --rules, [engine] rules in the settings file, or SUNLIGHT__ENGINE__RULES")?;
    if kafka.input_topics.is_empty() {
        bail!("kafka.input_topics is empty: give at least one input topic");
    }
    for t in &kafka.protobuf_topics {
        if !kafka.input_topics.contains(t) {
            kafka.input_topics.push(t.clone());
        }
    }
    if kafka.input_topics.contains(&kafka.warnings_topic)
        || kafka.input_topics.contains(&kafka.dlq_topic)
    {
        bail!("kafka.warnings_topic and kafka.dlq_topic must differ from the input topics");
    }
    if let Some(c) = &kafka.casework
        && let Some(t) = [&c.risk_codes_topic, &c.audit_topic]
            .into_iter()
            .find(|t| kafka.input_topics.contains(t))
    {
        bail!(
            "casework output topic {t:?} must differ from the input topics (its records would come back as events)"
        );
    }
    if let Some(st) = &kafka.state
        && (kafka.input_topics.contains(&st.topic)
            || [&kafka.warnings_topic, &kafka.dlq_topic].contains(&&st.topic))
    {
        bail!(
            "state.topic {:?} must differ from the input, warnings and dead-letter topics",
            st.topic
        );
    }
    if let Some(a) = &api
        && kafka.input_topics.contains(&a.audit_topic)
    {
        bail!(
            "api.audit_topic {:?} must differ from the input topics",
            a.audit_topic
        );
    }
    if let Some(c) = &kafka.casework
        && (kafka.input_topics.contains(&c.feedback_topic)
            || [&kafka.warnings_topic, &kafka.dlq_topic, &c.risk_codes_topic]
                .contains(&&c.feedback_topic))
    {
        bail!(
            "casework.feedback_topic {:?} must differ from the input, warnings, dead-letter and risk-code topics",
            c.feedback_topic
        );
    }
    let http_tls = match (tls_cert, tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        (Some(_), None) => {
            bail!("http.tls_cert_file is set but http.tls_key_file is not: HTTPS needs both")
        }
        (None, Some(_)) => {
            bail!("http.tls_key_file is set but http.tls_cert_file is not: HTTPS needs both")
        }
    };
    Ok(RunSettings {
        kafka,
        rules,
        allowed_lateness: lateness,
        max_future_skew,
        http_addr,
        http_tls,
        api,
        reload_interval: reload_interval.filter(|d| d.0 > 0),
    })
}

/// The loop's settings, or None when it is off.
fn casework_config(
    s: CaseworkSection,
    origin: &str,
) -> anyhow::Result<Option<sunlight_kafka::casework::CaseworkConfig>> {
    if s.enabled != Some(true) {
        return Ok(None);
    }
    let mut c = sunlight_kafka::casework::CaseworkConfig::default();
    if let Some(p) = s.policy {
        p.validate().map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        c.policy = p;
    }
    if let Some(t) = s.feedback_topic {
        c.feedback_topic = t;
    }
    if let Some(t) = s.risk_codes_topic {
        c.risk_codes_topic = t;
    }
    if let Some(t) = s.audit_topic {
        c.audit_topic = t;
    }
    if let Some(t) = s.tick_interval {
        c.tick_interval = duration(&t, &format!("{origin}: casework.tick_interval"))?;
        if c.tick_interval.0 <= 0 {
            bail!("{origin}: casework.tick_interval must be longer than zero");
        }
    }
    Ok(Some(c))
}

fn apply_kafka(kafka: &mut KafkaConfig, s: KafkaSection, origin: &str) -> anyhow::Result<()> {
    if let Some(v) = s.brokers {
        kafka.brokers = v;
    }
    if let Some(v) = s.group {
        kafka.group = v;
    }
    if let Some(v) = s.input_topics {
        kafka.input_topics = v;
    }
    if let Some(v) = s.protobuf_topics {
        kafka.protobuf_topics = v;
    }
    if let Some(v) = s.warnings_topic {
        kafka.warnings_topic = v;
    }
    if let Some(v) = s.dlq_topic {
        kafka.dlq_topic = v;
    }
    if let Some(v) = s.start_from {
        if !matches!(v.as_str(), "earliest" | "latest") {
            bail!("{origin}: kafka.start_from = {v:?} must be earliest or latest");
        }
        kafka.auto_offset_reset = v;
    }
    if let Some(v) = s.idle_timeout {
        kafka.idle_timeout = duration(&v, &format!("{origin}: kafka.idle_timeout"))?;
    }
    if let Some(v) = s.commit_interval {
        kafka.commit_interval = duration(&v, &format!("{origin}: kafka.commit_interval"))?;
    }
    if let Some(v) = s.max_watermark_drift {
        kafka.max_watermark_drift = skew(&v, &format!("{origin}: kafka.max_watermark_drift"))?;
    }
    if let Some(v) = s.warnings_format {
        kafka.warnings_format = sunlight_kafka::WarningFormat::parse(&v).with_context(|| {
            format!("{origin}: kafka.warnings_format = {v:?} must be json or protobuf")
        })?;
    }
    if let Some(v) = s.shutdown_timeout {
        kafka.shutdown_timeout = duration(&v, &format!("{origin}: kafka.shutdown_timeout"))?;
    }
    if let Some(v) = s.max_in_flight {
        if v == 0 {
            bail!("{origin}: kafka.max_in_flight must be at least 1");
        }
        kafka.max_in_flight = v;
    }
    kafka.properties.extend(s.properties);
    if let Some(v) = s.mask_in_warnings {
        kafka.mask_in_warnings = v;
    }
    Ok(())
}

/// A duration, or `off` (None).
fn skew(text: &str, field: &str) -> anyhow::Result<Option<Duration>> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    duration(text, field).map(Some)
}

fn duration(text: &str, field: &str) -> anyhow::Result<Duration> {
    Duration::parse(text).map_err(|e| anyhow::anyhow!("{field}: {e}"))
}

#[cfg(test)]
mod tests {
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
        let err =
            |a: &[&str], e: &[(&str, &str)]| resolve(&args(a), env(e)).unwrap_err().to_string();
        assert!(err(&[], &[]).contains("no rule pack"));
        assert!(
            err(&["--rules", "p.toml"], &[("SUNLIGHT__KAFKA__BROKER", "x")])
                .contains("unknown setting SUNLIGHT__KAFKA__BROKER")
        );
        assert!(
            err(&["--rules", "p.toml", "--idle-timeout", "soon"], &[])
                .contains("flags: kafka.idle_timeout")
        );
        assert!(
            err(
                &["--rules", "p.toml"],
                &[("SUNLIGHT__KAFKA__START_FROM", "middle")]
            )
            .contains("environment: kafka.start_from")
        );
        assert!(
            err(
                &["--rules", "p.toml"],
                &[("SUNLIGHT__HTTP__ADDR", "localhost")]
            )
            .contains("SUNLIGHT__HTTP__ADDR: \"localhost\" is not an address")
        );
        assert!(
            err(
                &["--rules", "p.toml"],
                &[("SUNLIGHT__KAFKA__WARNINGS_FORMAT", "avro")]
            )
            .contains("environment: kafka.warnings_format = \"avro\" must be json or protobuf")
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
            err.contains("casework.feedback_topic \"sunlight.events\" must differ"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
