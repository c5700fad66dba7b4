//! Layered settings of `sunlight run`: built-in defaults, then the `--config` file,
//! then `SUNLIGHT__SECTION__KEY` environment variables, then flags (later layers
//! win, key by key). All layers merge into one tree (layers.rs) that deserialises
//! into one schema (schema.rs, where each setting and its default is declared once);
//! every cross-field rule is in validate.rs. Every problem is reported at once, each
//! naming the file, variable or flag it came from and the setting. Documented in
//! docs/CONFIG.md.

mod layers;
mod schema;
mod validate;

pub use schema::Limit;

use std::fmt;
use std::path::PathBuf;

use sunlight_core::time::Duration;
use sunlight_kafka::KafkaConfig;
use toml::Value;

use crate::cli::RunArgs;

/// Default address of the HTTP endpoint: loopback, so nothing is exposed unless asked
/// (containers set `0.0.0.0:9464`).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9464";

/// Default `engine.max_future_skew`.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(86_400);

/// Default `engine.reload_interval`.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// Certificate and key of an HTTPS endpoint (`[http] tls_cert_file`, `tls_key_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The resolved settings.
#[derive(Debug)]
pub struct RunSettings {
    /// Kafka side.
    pub kafka: KafkaConfig,
    /// Rule pack path.
    pub rules: PathBuf,
    /// Which rules this instance evaluates (`engine.lane`).
    pub lane: sunlight_core::lanes::Lane,
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
    /// How often the rule pack and source mapping files are checked for changes
    /// (None: only on SIGHUP).
    pub reload_interval: Option<Duration>,
    /// The source mapping file (`kafka.sources`), watched like the rule pack.
    pub sources: Option<PathBuf>,
}

/// One thing wrong with the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, `environment SUNLIGHT__...` variable, `--flag` or `default`.
    pub origin: String,
    /// The setting (`kafka.start_from`), empty when the problem is not one setting's.
    pub setting: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn new(origin: &str, setting: &str, message: String) -> Problem {
        Problem {
            origin: origin.to_string(),
            setting: setting.to_string(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.origin.as_str(), self.setting.is_empty()) {
            ("default", true) => write!(f, "{}", self.message),
            (origin, true) => write!(f, "{origin}: {}", self.message),
            ("default", false) => write!(f, "{}: {}", self.setting, self.message),
            (origin, false) => write!(f, "{origin}: {}: {}", self.setting, self.message),
        }
    }
}

/// Every problem found, in the order found.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, p: Problem) {
        self.0.push(p);
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems in the settings:", many.len())?;
                for p in many {
                    write!(f, "\n  - {p}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Problems {}

/// Resolves the layers for `sunlight run`; an error lists every problem.
pub fn resolve(
    args: &RunArgs,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<RunSettings> {
    let mut problems = Problems::default();
    let mut layers = layers::Layers::default();
    if let Some(path) = &args.config {
        layers.file(path, &mut problems);
    }
    layers.environment(env, &mut problems);
    layers.flags(flags(args));
    let (schema, layers) = layers.extract(&mut problems);
    let settings = validate::validate(schema, &layers, &mut problems);
    match settings {
        Some(s) if problems.0.is_empty() => Ok(s),
        _ => Err(problems.into()),
    }
}

/// The flags that were given, as (setting, value, flag).
fn flags(args: &RunArgs) -> Vec<(&'static str, Value, &'static str)> {
    let text = |v: &Option<String>| v.clone().map(Value::String);
    let list = |v: &[String]| {
        (!v.is_empty()).then(|| Value::Array(v.iter().cloned().map(Value::String).collect()))
    };
    let flags: [(&'static str, Option<Value>, &'static str); 14] = [
        (
            "engine.rules",
            args.rules
                .as_ref()
                .map(|p| Value::String(p.display().to_string())),
            "--rules",
        ),
        ("kafka.brokers", text(&args.brokers), "--brokers"),
        ("kafka.group", text(&args.group), "--group"),
        (
            "kafka.input_topics",
            list(&args.input_topics),
            "--input-topic",
        ),
        (
            "kafka.protobuf_topics",
            list(&args.protobuf_topics),
            "--protobuf-topic",
        ),
        (
            "kafka.warnings_topic",
            text(&args.warnings_topic),
            "--warnings-topic",
        ),
        ("kafka.dlq_topic", text(&args.dlq_topic), "--dlq-topic"),
        ("kafka.start_from", text(&args.start_from), "--start-from"),
        (
            "engine.allowed_lateness",
            text(&args.allowed_lateness),
            "--allowed-lateness",
        ),
        ("engine.lane", text(&args.lane), "--lane"),
        (
            "kafka.idle_timeout",
            text(&args.idle_timeout),
            "--idle-timeout",
        ),
        (
            "kafka.warnings_format",
            text(&args.warnings_format),
            "--warnings-format",
        ),
        ("http.addr", text(&args.http_addr), "--http-addr"),
        (
            "casework.enabled",
            args.casework.then_some(Value::Boolean(true)),
            "--casework",
        ),
    ];
    let mut given: Vec<(&'static str, Value, &'static str)> = flags
        .into_iter()
        .filter_map(|(path, value, flag)| value.map(|v| (path, v, flag)))
        .collect();
    if !args.properties.is_empty() {
        let table = args
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        given.push(("kafka.properties", Value::Table(table), "-X"));
    }
    given
}

#[cfg(test)]
mod tests;
