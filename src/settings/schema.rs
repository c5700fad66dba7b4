//! The one schema of `sunlight run`'s settings: every setting is a field here, with
//! its built-in default in the section's `Default`. The file, the `SUNLIGHT__`
//! environment and the flags are merged into one TOML tree (layers.rs) and
//! deserialised into [`Schema`]; cross-field rules live in validate.rs.
//!
//! Values are typed: durations are written `10s`, `5m`, `1d` ([`Dur`]), limits that
//! can be switched off also take `off` ([`Limit`]), and lists take a TOML array or,
//! from the environment, a comma-separated string ([`List`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};
use sunlight_core::time::Duration;
use sunlight_kafka::KafkaConfig;

/// Every setting.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Schema {
    /// `[kafka]`.
    pub kafka: Kafka,
    /// `[engine]`.
    pub engine: Engine,
    /// `[http]`.
    pub http: Http,
    /// `[casework]`: the closed loop.
    pub casework: Casework,
    /// `[state]`: durable window state.
    pub state: State,
    /// `[api]`: the query API (served on the HTTP address when present).
    pub api: Option<sunlight_api::ApiConfig>,
}

/// `[kafka]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Kafka {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group id.
    pub group: String,
    /// Input topics (JSON).
    pub input_topics: List,
    /// Input topics carrying protobuf (added to the inputs).
    pub protobuf_topics: List,
    /// Warnings topic.
    pub warnings_topic: String,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Where a new group starts: `earliest` or `latest`.
    pub start_from: String,
    /// A quiet partition releases its pending events after this long.
    pub idle_timeout: Dur,
    /// Watermark alignment, or `off`.
    pub max_watermark_drift: Limit,
    /// How often safe offsets are committed.
    pub commit_interval: Dur,
    /// Outputs awaiting acknowledgement before consumption pauses.
    pub max_in_flight: usize,
    /// `json` or `protobuf`.
    pub warnings_format: String,
    /// How long shutdown waits for outstanding outputs.
    pub shutdown_timeout: Dur,
    /// librdkafka properties passed to both clients.
    pub properties: BTreeMap<String, String>,
    /// Key fields masked in every record written.
    pub mask_in_warnings: List,
    /// A source mapping file (docs/SOURCES.md): its topics carry department data,
    /// mapped to events, and are added to the inputs.
    pub sources: Option<PathBuf>,
}

impl Default for Kafka {
    fn default() -> Self {
        let k = KafkaConfig::default();
        Kafka {
            brokers: k.brokers,
            group: k.group,
            input_topics: List(k.input_topics),
            protobuf_topics: List(k.protobuf_topics),
            warnings_topic: k.warnings_topic,
            dlq_topic: k.dlq_topic,
            start_from: k.auto_offset_reset,
            idle_timeout: Dur(k.idle_timeout),
            max_watermark_drift: Limit(k.max_watermark_drift),
            commit_interval: Dur(k.commit_interval),
            max_in_flight: k.max_in_flight,
            warnings_format: "json".into(),
            shutdown_timeout: Dur(k.shutdown_timeout),
            properties: k.properties,
            mask_in_warnings: List(k.mask_in_warnings),
            sources: None,
        }
    }
}

/// `[engine]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Engine {
    /// The rule pack (relative to the settings file when set there).
    pub rules: Option<PathBuf>,
    /// Event-time disorder tolerated per partition.
    pub allowed_lateness: Dur,
    /// Events dated further ahead of the clock are bad input; `off` accepts any.
    pub max_future_skew: Limit,
    /// How often the rule pack file is checked for changes; `off`: only on SIGHUP.
    pub reload_interval: Limit,
    /// Which rules this instance evaluates: `all`, `officials`, or an entity key's
    /// fields (`sunlight_core::lanes`).
    pub lane: String,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            rules: None,
            allowed_lateness: Dur(sunlight_core::engine::DEFAULT_ALLOWED_LATENESS),
            max_future_skew: Limit(Some(super::DEFAULT_MAX_FUTURE_SKEW)),
            reload_interval: Limit(Some(super::DEFAULT_RELOAD_INTERVAL)),
            lane: "all".into(),
        }
    }
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Http {
    /// Listen address of /metrics, /healthz, /readyz (and the API and console).
    pub addr: String,
    /// PEM certificate chain: with `tls_key_file`, the endpoint serves HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            addr: super::DEFAULT_HTTP_ADDR.into(),
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// `[casework]`: the closed loop (off unless `enabled`).
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Casework {
    /// Turns the loop on.
    pub enabled: bool,
    /// Feedback topic.
    pub feedback_topic: String,
    /// Risk-code topic.
    pub risk_codes_topic: String,
    /// Audit topic.
    pub audit_topic: String,
    /// How often deadlines and decay are checked.
    pub tick_interval: Dur,
    /// `[casework.policy]`: weights, half-life, thresholds, deadlines, suppression.
    pub policy: sunlight_core::casework::CaseworkPolicy,
}

impl Default for Casework {
    fn default() -> Self {
        let c = sunlight_kafka::casework::CaseworkConfig::default();
        Casework {
            enabled: false,
            feedback_topic: c.feedback_topic,
            risk_codes_topic: c.risk_codes_topic,
            audit_topic: c.audit_topic,
            tick_interval: Dur(c.tick_interval),
            policy: c.policy,
        }
    }
}

/// `[state]`: durable window state (off unless `enabled`).
#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct State {
    /// Turns snapshots on.
    pub enabled: bool,
    /// The state topic.
    pub topic: String,
    /// Snapshot interval.
    pub interval: Dur,
    /// Every how many snapshots of a partition one is full (1: all).
    pub full_every: u32,
    /// Kafka transactions around outputs, snapshots and offsets.
    pub exactly_once: bool,
}

impl Default for State {
    fn default() -> Self {
        let s = sunlight_kafka::StateConfig::default();
        State {
            enabled: false,
            topic: s.topic,
            interval: Dur(s.interval),
            full_every: s.full_every,
            exactly_once: false,
        }
    }
}

/// A duration written `250ms`, `10s`, `5m`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// A duration, or `off` (None). Settings and flags (`replay --max-future-skew`)
/// read it alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Duration>);

impl std::str::FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Limit, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(Limit(None));
        }
        Duration::parse(text)
            .map(|d| Limit(Some(d)))
            .map_err(|e| format!("{e} (or `off`)"))
    }
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A list of names: a TOML array of strings, or one comma-separated string (as
/// environment variables give them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Many(Vec<String>),
            One(String),
        }
        Ok(List(
            match Either::deserialize(d).map_err(|_| {
                serde::de::Error::custom("expected a list of names or a comma-separated string")
            })? {
                Either::Many(v) => v,
                Either::One(s) => s
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            },
        ))
    }
}
