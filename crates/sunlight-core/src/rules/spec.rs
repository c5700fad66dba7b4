//! The rule pack file as written (TOML), before validation. Every field is
//! documented in docs/RULES.md; [`super::compile`] turns this into a [`super::CompiledPack`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole rule pack file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackSpec {
    /// Pack metadata.
    pub pack: PackHeader,
    /// Reference data files used by `related_party` rules.
    #[serde(default)]
    pub reference: ReferenceSpec,
    /// The rules, in evaluation and output order.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleSpec>,
}

/// `[pack]`: name, version and defaults shared by the rules.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackHeader {
    /// Pack name, e.g. `default`.
    pub name: String,
    /// Pack version, free text (e.g. `2026.11.1`; a bare integer is accepted too);
    /// reported in summaries and metrics.
    #[serde(deserialize_with = "text_or_integer")]
    pub version: String,
    /// The locale titles are rendered in: `en` (default, each rule's `title`) or
    /// `zh-CN` (each rule's `titles."zh-CN"`, money in yuan).
    #[serde(default)]
    pub locale: Option<String>,
    /// Default IANA time zone for `local_time` and `weekday` filters (default `UTC`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// What the pack is for.
    #[serde(default)]
    pub description: String,
    /// Whether warnings carry compact copies of their evidence events (default
    /// true); off, window entries keep ids only (less memory per retained event).
    #[serde(default = "yes")]
    pub evidence_copies: bool,
}

/// `[reference]`: reference data files, paths relative to the pack file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// CSV with header `official_id,counterparty,relation`: the declared relatives'
    /// companies (or other related parties) of each official.
    #[serde(default)]
    pub relations: Option<String>,
    /// Named tables (`[reference.tables.deaths]`) that `reference` rules look up.
    #[serde(default)]
    pub tables: BTreeMap<String, TableSpec>,
}

/// `[reference.tables.NAME]`: rows keyed by one of their columns, from a CSV file
/// or from a compacted Kafka topic (one of the two).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// The CSV file, relative to the pack file; its first row names the columns.
    pub file: Option<String>,
    /// A compacted Kafka topic whose records are the rows (`sunlight run` reads it
    /// from the beginning and follows it; [`super::topic_tables`]).
    pub topic: Option<String>,
    /// The column whose values the rule's field is looked up by.
    pub key: String,
    /// The columns of a topic's rows (the key among them); a file's header names
    /// its own.
    pub columns: Option<Vec<String>>,
}

/// `after = { column = "registered_on", by = "30d" }` of a `reference` rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterSpec {
    /// A date (`YYYY-MM-DD`, the start of that day in the pack's zone) or RFC 3339
    /// column of the table.
    pub column: String,
    /// How long after that date the event must be (default 0: any time after it).
    pub by: Option<String>,
}

/// `before_date = { table = "departures", column = "leaves_on", within = "90d" }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeforeDateSpec {
    /// The table (`[reference.tables.NAME]`) looked up.
    pub table: String,
    /// The event field whose value is the table's key (default `official_id`).
    pub field: Option<String>,
    /// A date (`YYYY-MM-DD`, the start of that day in the pack's zone) or RFC 3339
    /// column of the table.
    pub column: String,
    /// How long before that date an event may be: `[date - within, date)`.
    pub within: String,
}

/// One `[[rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique id, e.g. `split-payment`.
    pub id: String,
    /// Version of this rule; part of every warning id.
    pub version: u32,
    /// What the rule computes.
    pub kind: RuleKindSpec,
    /// Title template, e.g. `"{count} payments to {counterparty} within 7 days"`.
    pub title: String,
    /// Titles in other locales than English: `titles."zh-CN" = "..."`.
    #[serde(default)]
    pub titles: BTreeMap<String, String>,
    /// What the model detects and why it matters.
    #[serde(default)]
    pub description: String,
    /// `false` keeps the rule in the file but does not evaluate it.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Sliding window length (`30s`, `24h`, `7d`).
    pub window: Option<String>,
    /// `aggregate` rules: only the last N matching events of the window count (a
    /// count window inside the time window).
    pub last: Option<u32>,
    /// `baseline` rules: length of the comparison period before the window.
    pub baseline: Option<String>,
    /// Which events the rule looks at.
    pub filter: Option<toml::Table>,
    /// `ratio` rules: the extra filter of the numerator.
    pub numerator: Option<toml::Table>,
    /// `ratio` rules: the extra filter of the denominator (default: none).
    pub denominator: Option<toml::Table>,
    /// `sequence` and `absence` rules: the earlier event.
    pub first: Option<toml::Table>,
    /// `sequence` rules: the later event, which triggers the check; `absence` rules:
    /// the later event that must follow `first`.
    pub then: Option<toml::Table>,
    /// `aggregate` rules: key the windows by these fields instead of by the
    /// official (an entity key, e.g. `["attributes.invoice_no"]`): the events of every
    /// official with the same values share one window.
    #[serde(default)]
    pub key: Vec<String>,
    /// Extra key fields besides `official_id` (e.g. `["counterparty"]`), or besides
    /// `key`.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// `sequence` and `absence` rules: the fields the two events must share.
    #[serde(default)]
    pub on: Vec<String>,
    /// `related_party` and `reference` rules: the event field looked up (default
    /// `counterparty`).
    pub field: Option<String>,
    /// `reference` rules: the table (`[reference.tables.NAME]`) looked up.
    pub table: Option<String>,
    /// `reference` rules: fire only when the event is this long after a date of the
    /// row found.
    pub after: Option<AfterSpec>,
    /// Rules with a trigger event (`aggregate`, `ratio`, `baseline`, `sequence`,
    /// `predicate`): fire only at events within a span before a date of a reference
    /// table's row (e.g. the official's known transfer or retirement).
    pub before_date: Option<BeforeDateSpec>,
    /// `ratio` rules: key the denominator by `group_by` too, so the ratio is each
    /// key's share of its own events (a supplier's wins among its own bids).
    #[serde(default)]
    pub denominator_keyed: bool,
    /// `aggregate` rules: which measures to compute besides `count`.
    #[serde(default)]
    pub measures: MeasuresSpec,
    /// Conditions for a yellow warning: measure name -> comparison (`">= 5"`).
    pub yellow: Option<BTreeMap<String, String>>,
    /// Conditions for a red warning (checked before yellow).
    pub red: Option<BTreeMap<String, String>>,
    /// Fixed level for `related_party` and `predicate` rules.
    pub level: Option<String>,
    /// Suppress repeats for the same rule and key within this span of event time.
    pub cooldown: Option<String>,
    /// Most evidence event ids listed in a warning (default 20).
    pub evidence_limit: Option<usize>,
}

fn yes() -> bool {
    true
}

fn text_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrInteger {
        Text(String),
        Integer(i64),
    }
    Ok(match TextOrInteger::deserialize(d)? {
        TextOrInteger::Text(t) => t,
        TextOrInteger::Integer(i) => i.to_string(),
    })
}

/// The rule kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKindSpec {
    /// Windowed count/sum/avg/min/max/distinct with thresholds.
    Aggregate,
    /// Numerator count / denominator count in one window.
    Ratio,
    /// Count in the window compared with the key's own earlier baseline.
    Baseline,
    /// Event `first` then event `then` within the window, sharing the `on` fields.
    Sequence,
    /// The event's party is a declared related party of the official.
    RelatedParty,
    /// The event's field is a key of a reference table (optionally: and the event is
    /// later than a date of its row).
    Reference,
    /// A condition on the single event.
    Predicate,
    /// Event `first` not followed by event `then` (sharing the `on` fields) within
    /// the window: raised when the watermark passes the deadline.
    Absence,
}

/// `measures = { sum = "amount_cents", distinct = "counterparty" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasuresSpec {
    /// Numeric field to sum.
    pub sum: Option<String>,
    /// Numeric field to average.
    pub avg: Option<String>,
    /// Numeric field whose minimum is reported.
    pub min: Option<String>,
    /// Numeric field whose maximum is reported.
    pub max: Option<String>,
    /// Numeric field whose spread is reported: (max - min) / |min|.
    pub spread: Option<String>,
    /// Field whose distinct values are counted.
    pub distinct: Option<String>,
    /// The sum/avg/min/max/spread field is a decimal number with up to this many
    /// decimals (0 to 6; default 0: an integer), e.g. litres.
    pub decimals: Option<u8>,
}
