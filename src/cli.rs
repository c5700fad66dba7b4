//! Command-line arguments (clap derive): one struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Sunlight: streaming early warnings over the exercise of public power.
#[derive(Debug, Parser)]
#[command(name = "sunlight", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format on stderr: human-readable text or one JSON object per line.
    /// Levels are filtered with RUST_LOG (default: info).
    #[arg(long, global = true, env = "SUNLIGHT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log shippers).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay recorded events through a rule pack and write the warnings.
    Replay(ReplayArgs),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate synthetic events (background traffic plus misconduct scenarios).
    Gen(GenArgs),
    /// Consume events from Kafka and publish warnings live.
    Run(Box<RunArgs>),
    /// Everything in one process: an embedded Kafka-protocol broker, synthetic
    /// source systems, the live engine, and the warnings printed as they come.
    Demo(DemoArgs),
    /// Re-key input that is not keyed by official_id into an internal topic that is,
    /// so several engines can share the work with each official's state in one place.
    Repartition(RepartitionArgs),
    /// Work with source mappings (department data to events; docs/SOURCES.md).
    #[command(subcommand)]
    Sources(SourcesCommand),
}

/// `sunlight sources ...`
#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Validate a mapping file; every error names the source and field.
    Check {
        /// The mapping file (TOML).
        file: PathBuf,
    },
    /// Map a sample of records (one JSON record per line): each mapped event is
    /// printed as one JSON line on stdout, each reject as `line N: reason: detail`
    /// on stderr. Records that map to nothing print nothing (`--explain` says why).
    Test {
        /// The mapping file (TOML).
        file: PathBuf,
        /// The sample: one record value per line (`null` or an empty line: a tombstone).
        #[arg(long)]
        input: PathBuf,
        /// The source to use, when the file has several.
        #[arg(long)]
        source: Option<String>,
        /// Also say on stderr why each record mapped to nothing, and end with counts.
        #[arg(long)]
        explain: bool,
    },
}

/// `sunlight repartition`
#[derive(Debug, Args)]
pub struct RepartitionArgs {
    /// Bootstrap servers.
    #[arg(long)]
    pub brokers: String,
    /// Source topic with JSON events (repeatable).
    #[arg(
        long = "from",
        value_name = "TOPIC",
        required_unless_present = "protobuf_from"
    )]
    pub from: Vec<String>,
    /// Source topic with protobuf events (repeatable).
    #[arg(long = "protobuf-from", value_name = "TOPIC")]
    pub protobuf_from: Vec<String>,
    /// The internal topic keyed by official_id (the engines' input topic).
    #[arg(long, value_name = "TOPIC")]
    pub to: String,
    /// Key by these fields instead of official_id: an entity key as `rules check`
    /// prints it (`attributes.vehicle`, `counterparty,attributes.invoice_no`), for
    /// the input of that key's lane (`run --lane`). Records lacking a field are
    /// skipped.
    #[arg(long, value_name = "FIELDS")]
    pub key: Option<String>,
    /// Consumer group of the repartitioner.
    #[arg(long, default_value = "sunlight-repartition")]
    pub group: String,
    /// Where records without a readable official_id go.
    #[arg(long, default_value = "sunlight.dlq")]
    pub dlq_topic: String,
    /// Extra librdkafka property for both clients (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
}

/// `sunlight demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The rule pack (TOML).
    #[arg(long, default_value = "rules/default.toml")]
    pub rules: PathBuf,
    /// Background events the simulated source systems publish.
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Number of officials.
    #[arg(long, default_value_t = 300)]
    pub officials: u32,
    /// Events published per second (the year of activity plays faster than real time).
    #[arg(long, default_value_t = 2_000)]
    pub rate: u64,
    /// Random seed of the simulated activity.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<sunlight_core::time::Duration>,
    /// Address of /metrics, /healthz and /readyz (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub http_addr: std::net::SocketAddr,
}

/// `sunlight run`. Settings come in layers, later ones winning: built-in defaults,
/// the `--config` file, `SUNLIGHT__SECTION__KEY` environment variables, these flags
/// (docs/CONFIG.md).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML, sections `[kafka]`, `[engine]`, `[http]`, `[state]`,
    /// `[casework]` and `[api]`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The rule pack (TOML). Required here, in the file or in the environment.
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Kafka bootstrap servers (`bootstrap.servers`).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Consumer group id [default: sunlight].
    #[arg(long)]
    pub group: Option<String>,
    /// Input topic with JSON events keyed by official_id (repeatable) [default: sunlight.events].
    #[arg(long = "input-topic")]
    pub input_topics: Vec<String>,
    /// Input topic with protobuf `sunlight.v1.PowerEvent` events (repeatable).
    #[arg(long = "protobuf-topic")]
    pub protobuf_topics: Vec<String>,
    /// Where warnings go [default: sunlight.warnings].
    #[arg(long)]
    pub warnings_topic: Option<String>,
    /// Where bad and late input goes [default: sunlight.dlq].
    #[arg(long)]
    pub dlq_topic: Option<String>,
    /// Where a new consumer group starts [default: earliest].
    #[arg(long, value_parser = ["earliest", "latest"])]
    pub start_from: Option<String>,
    /// Event-time disorder tolerated per partition, e.g. 30s, 5m [default: 1m].
    #[arg(long)]
    pub allowed_lateness: Option<String>,
    /// Which rules to evaluate: `all`, `officials`, or an entity key's fields as
    /// `rules check` prints them, on input `sunlight repartition --key` re-keyed by
    /// them (docs/RULES.md, "Lanes") [default: all].
    #[arg(long)]
    pub lane: Option<String>,
    /// A partition quiet for this long releases its pending events [default: 10s].
    #[arg(long)]
    pub idle_timeout: Option<String>,
    /// Encoding of warnings on the warnings topic [default: json].
    #[arg(long, value_parser = ["json", "protobuf"])]
    pub warnings_format: Option<String>,
    /// Address of the HTTP endpoint (/metrics, /healthz, /readyz) [default: 127.0.0.1:9464].
    #[arg(long)]
    pub http_addr: Option<String>,
    /// Extra librdkafka property for both clients, e.g. `-X security.protocol=SASL_SSL`
    /// (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_property)]
    pub properties: Vec<(String, String)>,
    /// Resolve the settings and compile the rule pack, print the result, and exit
    /// without connecting (exit 1 on any error): checks a deployment's configuration.
    #[arg(long)]
    pub check: bool,
    /// Turn on the closed loop: feedback, risk codes, escalation, suppression
    /// (same as `[casework] enabled = true`).
    #[arg(long)]
    pub casework: bool,
}

fn parse_property(text: &str) -> Result<(String, String), String> {
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: write KEY=VALUE, e.g. security.protocol=SSL"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

/// `sunlight rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rule pack; errors name the rule and field.
    Check {
        /// The rule pack (TOML).
        file: PathBuf,
    },
}

/// Input encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// `.pb`, `.binpb` or `.protobuf` files are protobuf, anything else JSON lines.
    Auto,
    /// One JSON object per line.
    Json,
    /// Length-delimited `sunlight.v1.PowerEvent` records.
    Protobuf,
}

/// `sunlight replay`
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The rule pack (TOML).
    #[arg(long)]
    pub rules: PathBuf,
    /// Recorded events: JSON lines or length-delimited protobuf; `-` reads stdin.
    #[arg(long)]
    pub input: PathBuf,
    /// Where warnings go, as JSON lines (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where rejected inputs (bad, late) go, as JSON lines with line and reason
    /// (default: stderr).
    #[arg(long)]
    pub errors: Option<PathBuf>,
    /// How much event-time disorder is tolerated before an event counts as late
    /// (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub allowed_lateness: sunlight_core::time::Duration,
    /// Refuse events dated more than this ahead of the clock (`invalid_timestamp`),
    /// as `sunlight run` does with `engine.max_future_skew` (1d); `off` accepts any
    /// date (recorded files are judged against today's clock, so it is off unless
    /// asked).
    #[arg(long, default_value = "off")]
    pub max_future_skew: crate::settings::Limit,
    /// Input encoding.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// The rows of a table the pack reads from a Kafka topic (`[reference.tables.NAME]
    /// topic`), as a CSV file whose header names the table's columns: NAME=FILE.
    /// Repeat for each such table; replay refuses a pack with one left out.
    #[arg(long = "table", value_name = "NAME=FILE")]
    pub tables: Vec<String>,
    /// The input is department data (JSON lines): map each record with this source
    /// mapping file (docs/SOURCES.md) instead of reading Sunlight events.
    #[arg(long, value_name = "FILE")]
    pub sources: Option<PathBuf>,
    /// With `--sources`: the source to map with, when the file has several.
    #[arg(long, value_name = "NAME", requires = "sources")]
    pub source: Option<String>,
    /// Exit with code 3 if any input was rejected (bad or late).
    #[arg(long)]
    pub strict: bool,
    /// Do not print the summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Only decode the input (no rules, no warnings): measures the decoding limit.
    #[arg(long)]
    pub decode_only: bool,
    /// Sample the window state every N records and report the largest sample
    /// (slows the replay: for memory measurements).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub state_sample_every: u64,
    /// Backtest: score each rule against known outcomes (JSON lines) and print a
    /// table after the summary (docs/RULES.md, "Backtesting").
    ///
    /// One object per line (blank lines and `#` lines ignored), labelling an
    /// official or an event, for every rule or for one:
    /// `{"official_id": "o-17", "positive": true}`,
    /// `{"event_id": "e-123", "positive": false, "rule_id": "split-payment"}`.
    /// A rule's own label for a subject wins over its all-rules label.
    ///
    /// By official: a warning is a true positive (TP) if its official is labelled
    /// positive, a false positive (FP) if negative, else unlabelled; recall =
    /// positive officials flagged / positive officials.
    ///
    /// By event: a warning is TP if its trigger or any listed evidence event is
    /// positive, FP if none is positive and one is negative, else unlabelled;
    /// recall = positive events that are the trigger or listed evidence of a
    /// warning / positive events (only the evidence a warning lists counts: at
    /// most the rule's `evidence_limit` ids).
    ///
    /// Precision = TP / (TP + FP); `-` (JSON null) when undefined, as is recall
    /// without positives. A malformed line or unknown rule_id fails the command
    /// before anything is replayed.
    #[arg(long, value_name = "FILE", conflicts_with = "decode_only")]
    pub labels: Option<PathBuf>,
    /// With --labels: also write the backtest as one JSON document to FILE
    /// (shape in docs/RULES.md, "Backtesting").
    #[arg(long, value_name = "FILE", requires = "labels")]
    pub report: Option<PathBuf>,
}

/// `sunlight gen`
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Background events to generate (scenario events come on top).
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Number of officials.
    #[arg(long, default_value_t = 200)]
    pub officials: u32,
    /// Random seed: the same arguments give the same file.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Calendar days covered, starting Monday 2026-01-05.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// Inject one misconduct scenario per this many officials (0: none).
    #[arg(long, default_value_t = 10)]
    pub scenario_every: u32,
    /// Fraction of events delivered twice (0.0-1.0).
    #[arg(long, default_value_t = 0.0)]
    pub duplicates: f64,
    /// Largest arrival delay in event time (e.g. 30s): shuffles events within it.
    #[arg(long, default_value = "0", value_parser = parse_duration)]
    pub disorder: sunlight_core::time::Duration,
    /// Output encoding (`auto` picks protobuf for .pb files).
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Output file (default: stdout).
    #[arg(long, conflicts_with = "topic")]
    pub output: Option<PathBuf>,
    /// Publish to this Kafka topic instead of writing a file (keyed by official_id).
    #[arg(long, requires = "brokers")]
    pub topic: Option<String>,
    /// Kafka bootstrap servers, with `--topic`.
    #[arg(long)]
    pub brokers: Option<String>,
    /// With `--topic`: publish at most this many events per second (0: as fast as
    /// the broker takes them), so a deployment sees a steady stream.
    #[arg(long, default_value_t = 0, requires = "topic")]
    pub rate: u64,
}

fn parse_duration(text: &str) -> Result<sunlight_core::time::Duration, String> {
    sunlight_core::time::Duration::parse(text)
}
