//! Validates a [`PackSpec`] into a [`CompiledPack`], reporting every problem by rule
//! id and field so a pack author can fix them all in one pass.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::tz::TimeZone;

use super::filter::{self, Filter};
use super::locale::Locale;
use super::measure::{Condition, Level, Levels, Measure};
use super::reference::{ReferenceTable, Relations};
use super::spec::{PackSpec, RuleKindSpec, RuleSpec};
use super::template::Template;
use super::topic_tables::{TableFeeds, TopicTableSpec};
use super::{CompiledPack, CompiledRule, EntityKey, RuleLogic, Slot};
use crate::event::FieldRef;
use crate::lanes::{Lane, key_fields};
use crate::time::Duration;

/// The longest window (or window + baseline) a rule may have: 100 years.
pub const MAX_SPAN: Duration = Duration::from_secs(100 * 365 * 86_400);
/// The largest count window (`last`) of an aggregate rule.
pub const MAX_LAST: u32 = 10_000;

/// One problem in one rule (or in the pack header, with rule id `pack`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The rule's id (or `pack` / `reference`).
    pub rule_id: String,
    /// The offending field, e.g. `filter.amount_cents.gte`.
    pub field: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule `{}`, field `{}`: {}",
            self.rule_id, self.field, self.message
        )
    }
}

/// Why a pack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The file could not be read.
    #[error("cannot read rule pack {path}: {source}")]
    Io {
        /// The pack path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not have the pack's shape.
    #[error("{origin} is not a valid rule pack: {message}")]
    Syntax {
        /// File name or description.
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The pack parsed but some rules are invalid.
    #[error("{origin} has {} error(s):\n{}", errors.len(), errors.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// File name or description.
        origin: String,
        /// Every problem found.
        errors: Vec<RuleError>,
    },
}

/// Reads and compiles a pack file.
pub fn load_pack(path: &Path) -> Result<CompiledPack, PackError> {
    load_pack_in(path, &Lane::All)
}

/// Reads and compiles a pack file for one lane.
pub fn load_pack_in(path: &Path, lane: &Lane) -> Result<CompiledPack, PackError> {
    load_pack_with(path, lane, None)
}

/// Reads and compiles a pack file for one lane, its topic tables
/// ([`super::topic_tables`]) with the rows `feeds` holds (none: every topic table
/// is empty and [`CompiledPack::unfed_tables`] names it).
pub fn load_pack_with(
    path: &Path,
    lane: &Lane,
    feeds: Option<&Arc<TableFeeds>>,
) -> Result<CompiledPack, PackError> {
    let text = std::fs::read_to_string(path).map_err(|source| PackError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    compile_pack_with(&text, base, &path.display().to_string(), lane, feeds)
}

/// Compiles pack text; reference files are resolved against `base_dir`.
pub fn compile_pack(text: &str, base_dir: &Path, origin: &str) -> Result<CompiledPack, PackError> {
    compile_pack_in(text, base_dir, origin, &Lane::All)
}

/// Compiles pack text for one lane ([`crate::lanes`]): every rule is validated, and
/// the rules of other lanes are compiled as if disabled. An entity lane whose key
/// no enabled rule has is an error.
pub fn compile_pack_in(
    text: &str,
    base_dir: &Path,
    origin: &str,
    lane: &Lane,
) -> Result<CompiledPack, PackError> {
    compile_pack_with(text, base_dir, origin, lane, None)
}

/// [`compile_pack_in`], with topic tables fed from `feeds` ([`load_pack_with`]).
pub fn compile_pack_with(
    text: &str,
    base_dir: &Path,
    origin: &str,
    lane: &Lane,
    feeds: Option<&Arc<TableFeeds>>,
) -> Result<CompiledPack, PackError> {
    let spec: PackSpec = toml::from_str(text).map_err(|e| PackError::Syntax {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    let mut errors = Vec::new();
    let tz = match &spec.pack.timezone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).unwrap_or_else(|e| {
            errors.push(RuleError {
                rule_id: "pack".into(),
                field: "timezone".into(),
                message: format!("unknown time zone {name:?}: {e}"),
            });
            TimeZone::UTC
        }),
    };
    let locale = match spec.pack.locale.as_deref().map(Locale::parse) {
        None => Locale::En,
        Some(Ok(l)) => l,
        Some(Err(message)) => {
            errors.push(RuleError {
                rule_id: "pack".into(),
                field: "locale".into(),
                message,
            });
            Locale::En
        }
    };
    let mut tables = Vec::new();
    let mut topic_tables = Vec::new();
    let mut reference_files = Vec::new();
    for (name, table) in &spec.reference.tables {
        let loaded = match (&table.file, &table.topic) {
            (Some(file), None) => {
                let path = base_dir.join(file);
                reference_files.push(path.clone());
                if table.columns.is_some() {
                    Err((
                        "columns",
                        "a file's header names its columns: `columns` is for `topic` tables"
                            .to_string(),
                    ))
                } else {
                    ReferenceTable::load(name, &path, &table.key)
                        .map(Arc::new)
                        .map_err(|m| ("", m))
                }
            }
            (None, Some(topic)) => topic_table(name, topic, &table.key, table.columns.as_deref())
                .map(|spec| {
                    let fed = feeds.and_then(|f| f.get(&spec));
                    let t = fed.unwrap_or_else(|| {
                        Arc::new(ReferenceTable::unread(
                            name,
                            spec.origin(),
                            spec.columns.clone(),
                        ))
                    });
                    topic_tables.push(spec);
                    t
                }),
            (Some(_), Some(_)) => Err((
                "",
                "give either `file` (a CSV file) or `topic` (a compacted Kafka topic), not both"
                    .to_string(),
            )),
            (None, None) => Err((
                "",
                "needs `file` (a CSV file) or `topic` (a compacted Kafka topic)".to_string(),
            )),
        };
        match loaded {
            Ok(t) => tables.push(t),
            Err((part, message)) => errors.push(RuleError {
                rule_id: "reference".into(),
                field: if part.is_empty() {
                    format!("tables.{name}")
                } else {
                    format!("tables.{name}.{part}")
                },
                message,
            }),
        }
    }
    let mut builder = Builder {
        filters: Vec::new(),
        slots: Vec::new(),
        tz,
        locale,
        tables,
        table_names: spec.reference.tables.keys().cloned().collect(),
        entities: Vec::new(),
        evidence_copies: spec.pack.evidence_copies,
    };
    let mut rules = Vec::new();
    let mut seen = HashSet::new();
    for rule in &spec.rules {
        let mut errs = Vec::new();
        if !seen.insert(rule.id.clone()) {
            errs.push(("id".to_string(), format!("duplicate rule id `{}`", rule.id)));
        }
        if rule.id.is_empty()
            || !rule
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            errs.push((
                "id".to_string(),
                "must be non-empty and use only letters, digits, `-`, `_` and `.`".to_string(),
            ));
        }
        // A disabled rule is validated on a copy, so its filters and windows are not
        // registered and cost nothing at run time.
        // So is a rule of another lane.
        let in_lane =
            key_fields(rule.key.iter().map(String::as_str)).is_ok_and(|key| lane.admits(&key));
        let enabled = rule.enabled && in_lane;
        let result = if enabled {
            builder.rule(rule)
        } else {
            Builder {
                filters: builder.filters.clone(),
                slots: builder.slots.clone(),
                tz: builder.tz.clone(),
                locale: builder.locale,
                tables: builder.tables.clone(),
                table_names: builder.table_names.clone(),
                entities: builder.entities.clone(),
                evidence_copies: builder.evidence_copies,
            }
            .rule(rule)
        };
        match result {
            Ok(compiled) if errs.is_empty() && enabled => rules.push(compiled),
            Ok(_) => {}
            Err(more) => errs.extend(more),
        }
        errors.extend(errs.into_iter().map(|(field, message)| RuleError {
            rule_id: rule.id.clone(),
            field,
            message,
        }));
    }
    let needs_relations = rules
        .iter()
        .any(|r| matches!(r.logic, RuleLogic::RelatedParty { .. }));
    let relations = match (&spec.reference.relations, needs_relations) {
        (Some(file), _) => match Relations::load(&base_dir.join(file)) {
            Ok(r) if r.path().is_some() => {
                reference_files.extend(r.path().map(Path::to_path_buf));
                Some(Arc::new(r))
            }
            Ok(r) => Some(Arc::new(r)),
            Err(message) => {
                errors.push(RuleError {
                    rule_id: "reference".into(),
                    field: "relations".into(),
                    message,
                });
                None
            }
        },
        (None, true) => {
            errors.push(RuleError {
                rule_id: "reference".into(),
                field: "relations".into(),
                message: "a related_party rule needs `[reference] relations = \"FILE.csv\"`".into(),
            });
            None
        }
        (None, false) => None,
    };
    if matches!(lane, Lane::Entity(_)) && rules.is_empty() {
        let mut keys: Vec<String> = spec
            .rules
            .iter()
            .filter(|r| r.enabled && !r.key.is_empty())
            .map(|r| r.key.iter().map(|f| f.trim()).collect::<Vec<_>>().join(","))
            .collect();
        keys.sort();
        keys.dedup();
        errors.push(RuleError {
            rule_id: "pack".into(),
            field: "lane".into(),
            message: format!(
                "no enabled rule is keyed by `{lane}` (the pack's entity keys: {})",
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join("; ")
                }
            ),
        });
    }
    if !errors.is_empty() {
        return Err(PackError::Invalid {
            origin: origin.to_string(),
            errors,
        });
    }
    for rule in &mut rules {
        rule.evidence_attributes =
            super::reads::attributes_read(rule, &builder.filters, &builder.slots);
    }
    let copy_attributes = spec
        .pack
        .evidence_copies
        .then(|| super::reads::union(&rules));
    let owner_slots = (0..=builder.entities.len())
        .map(|owner| {
            let entity = owner.checked_sub(1).map(|k| k as u16);
            (0..builder.slots.len() as u32)
                .filter(|&i| builder.slots[i as usize].entity == entity)
                .collect()
        })
        .collect();
    let retention = builder
        .slots
        .iter()
        .map(|s| s.span)
        .max()
        .unwrap_or_default();
    Ok(CompiledPack {
        name: spec.pack.name,
        version: spec.pack.version,
        lane: lane.clone(),
        rules,
        filters: builder.filters,
        slots: builder.slots,
        retention,
        relations,
        locale: builder.locale,
        tables: builder.tables,
        topic_tables,
        table_feeds: feeds.cloned(),
        reference_files,
        owner_slots,
        entities: builder.entities,
        copy_attributes,
    })
}

/// The spec of topic table `name`: `columns` given, distinct and naming `key`.
fn topic_table(
    name: &str,
    topic: &str,
    key: &str,
    columns: Option<&[String]>,
) -> Result<TopicTableSpec, (&'static str, String)> {
    if topic.trim().is_empty() {
        return Err(("topic", "the topic name is empty".into()));
    }
    let columns: Vec<String> = columns
        .ok_or((
            "columns",
            "a `topic` table needs `columns = [...]`: the row's columns, its key among them"
                .to_string(),
        ))?
        .iter()
        .map(|c| c.trim().to_string())
        .collect();
    if let Some(c) = columns.iter().find(|c| c.is_empty()) {
        return Err(("columns", format!("a column name is empty ({c:?})")));
    }
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(("columns", format!("column `{c}` is named twice")));
        }
    }
    let key = key.trim();
    if !columns.iter().any(|c| c == key) {
        return Err((
            "key",
            format!(
                "the key column `{key}` is not among the columns ({})",
                columns.join(", ")
            ),
        ));
    }
    Ok(TopicTableSpec {
        name: name.to_string(),
        topic: topic.trim().to_string(),
        key: key.to_string(),
        columns,
    })
}

struct Builder {
    filters: Vec<Filter>,
    slots: Vec<Slot>,
    tz: TimeZone,
    /// The locale titles are rendered in.
    locale: Locale,
    /// The tables that loaded, and the names of all declared (a rule naming one that
    /// failed to load is not reported twice).
    tables: Vec<Arc<ReferenceTable>>,
    table_names: Vec<String>,
    /// Entity keys in order of first use (`CompiledPack::entities`).
    entities: Vec<EntityKey>,
    /// `[pack] evidence_copies`: entity-keyed rules name their officials from the
    /// copies.
    evidence_copies: bool,
}

type Errors = Vec<(String, String)>;

impl Builder {
    fn filter_index(&mut self, filter: Filter) -> usize {
        if let Some(i) = self.filters.iter().position(|f| *f == filter) {
            return i;
        }
        self.filters.push(filter);
        self.filters.len() - 1
    }

    /// The count-window slot keeping the events of `slot` (same filter, key and
    /// measured fields), widened to its span and count; or a new one.
    fn count_slot(&mut self, slot: Slot) -> usize {
        let shared = self.slots.iter().position(|s| {
            s.last.is_some()
                && s.filter == slot.filter
                && s.group_by == slot.group_by
                && s.entity == slot.entity
                && s.value == slot.value
                && s.scale == slot.scale
                && s.distinct == slot.distinct
        });
        match shared {
            Some(i) => {
                let s = &mut self.slots[i];
                s.span = s.span.max(slot.span);
                s.last = s.last.max(slot.last);
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    fn entity_index(&mut self, written: &[String], fields: &[FieldRef]) -> u16 {
        if let Some(i) = self.entities.iter().position(|e| e.fields == fields) {
            return i as u16;
        }
        let label: compact_str::CompactString = written
            .iter()
            .map(|f| f.trim())
            .collect::<Vec<_>>()
            .join(",")
            .into();
        let short = EntityKey::short_tag(&label);
        let tag = if self.entities.iter().any(|e| e.tag == short) {
            let mut full = compact_str::CompactString::from("\0");
            full.push_str(&label);
            full.push('\0');
            full
        } else {
            short
        };
        self.entities.push(EntityKey {
            label,
            fields: fields.to_vec(),
            tag,
        });
        (self.entities.len() - 1) as u16
    }

    fn slot_index(&mut self, slot: Slot) -> usize {
        if let Some(i) = self.slots.iter().position(|s| *s == slot) {
            return i;
        }
        self.slots.push(slot);
        self.slots.len() - 1
    }

    fn rule(&mut self, r: &RuleSpec) -> Result<CompiledRule, Errors> {
        use RuleKindSpec as K;
        let mut errs: Errors = Vec::new();
        let kind = r.kind;
        // As packs write it (`related_party`).
        let kind_name: String = format!("{kind:?}")
            .chars()
            .enumerate()
            .flat_map(|(i, c)| {
                let sep = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                sep.into_iter()
                    .chain(std::iter::once(c.to_ascii_lowercase()))
            })
            .collect();
        let mut not_for = |present: bool, field: &str, kinds: &[K]| {
            if present && !kinds.contains(&kind) {
                errs.push((
                    field.to_string(),
                    format!("does not apply to `{kind_name}` rules"),
                ));
            }
        };
        let thresholds = [K::Aggregate, K::Ratio, K::Baseline, K::Sequence];
        let windowed = [K::Aggregate, K::Ratio, K::Baseline, K::Sequence, K::Absence];
        not_for(r.window.is_some(), "window", &windowed);
        not_for(r.baseline.is_some(), "baseline", &[K::Baseline]);
        not_for(r.numerator.is_some(), "numerator", &[K::Ratio]);
        not_for(r.denominator.is_some(), "denominator", &[K::Ratio]);
        not_for(r.first.is_some(), "first", &[K::Sequence, K::Absence]);
        not_for(r.then.is_some(), "then", &[K::Sequence, K::Absence]);
        not_for(!r.on.is_empty(), "on", &[K::Sequence, K::Absence]);
        not_for(r.field.is_some(), "field", &[K::RelatedParty, K::Reference]);
        not_for(r.table.is_some(), "table", &[K::Reference]);
        not_for(r.after.is_some(), "after", &[K::Reference]);
        not_for(r.last.is_some(), "last", &[K::Aggregate]);
        not_for(r.denominator_keyed, "denominator_keyed", &[K::Ratio]);
        not_for(
            r.before_date.is_some(),
            "before_date",
            &[
                K::Aggregate,
                K::Ratio,
                K::Baseline,
                K::Sequence,
                K::Predicate,
            ],
        );
        not_for(!r.key.is_empty(), "key", &[K::Aggregate]);
        let m = &r.measures;
        let has_measures = m.sum.is_some()
            || m.avg.is_some()
            || m.min.is_some()
            || m.max.is_some()
            || m.spread.is_some()
            || m.distinct.is_some()
            || m.decimals.is_some();
        not_for(has_measures, "measures", &[K::Aggregate]);
        not_for(
            !r.group_by.is_empty(),
            "group_by",
            &[K::Aggregate, K::Ratio, K::Baseline, K::Predicate],
        );
        not_for(r.yellow.is_some(), "yellow", &thresholds);
        not_for(r.red.is_some(), "red", &thresholds);
        not_for(
            r.level.is_some(),
            "level",
            &[K::RelatedParty, K::Reference, K::Predicate, K::Absence],
        );

        let duration =
            |field: &str, text: &Option<String>, errs: &mut Errors| -> Option<Duration> {
                let text = text.as_ref()?;
                match Duration::parse(text) {
                    Ok(d) if d.0 > 0 => Some(d),
                    Ok(_) => {
                        errs.push((field.into(), "must be longer than zero".into()));
                        None
                    }
                    Err(e) => {
                        errs.push((field.into(), e));
                        None
                    }
                }
            };
        let window = duration("window", &r.window, &mut errs);
        if window.is_some_and(|w| w > MAX_SPAN) {
            errs.push(("window".into(), format!("must not exceed {MAX_SPAN}")));
        }
        if windowed.contains(&kind) && r.window.is_none() {
            errs.push((
                "window".into(),
                format!("`{kind_name}` rules need a window, e.g. window = \"24h\""),
            ));
        }
        if r.last.is_some_and(|n| !(1..=MAX_LAST).contains(&n)) {
            errs.push(("last".into(), format!("must be between 1 and {MAX_LAST}")));
        }
        let cooldown = duration("cooldown", &r.cooldown, &mut errs);
        let evidence_limit = r.evidence_limit.unwrap_or(20);
        if !(1..=1000).contains(&evidence_limit) {
            errs.push(("evidence_limit".into(), "must be between 1 and 1000".into()));
        }

        let tz = self.tz.clone();
        let table_filter = |name: &str, table: &Option<toml::Table>, errs: &mut Errors| -> Filter {
            match table {
                None => Filter::True,
                Some(t) => filter::compile(t, name, &tz).unwrap_or_else(|e| {
                    errs.push((name.to_string(), e));
                    Filter::True
                }),
            }
        };
        let base = table_filter("filter", &r.filter, &mut errs);
        let fields = |name: &str, list: &[String], errs: &mut Errors| -> Vec<FieldRef> {
            let mut out = Vec::new();
            for (i, f) in list.iter().enumerate() {
                match FieldRef::parse(f) {
                    Some(FieldRef::OfficialId) => errs.push((
                        format!("{name}[{i}]"),
                        if name == "key" {
                            "leave `key` out to key the rule by official_id".into()
                        } else {
                            "official_id is always part of the key; leave it out".into()
                        },
                    )),
                    Some(field) if out.contains(&field) => {
                        errs.push((format!("{name}[{i}]"), format!("`{f}` is listed twice")))
                    }
                    Some(field) => out.push(field),
                    None => errs.push((
                        format!("{name}[{i}]"),
                        format!("unknown field `{f}` (use counterparty, region, org_unit, kind, attributes.NAME, ...)"),
                    )),
                }
            }
            out
        };
        let entity_fields = fields("key", &r.key, &mut errs);
        let mut group_by = fields("group_by", &r.group_by, &mut errs);
        if let Some(i) = group_by.iter().position(|f| entity_fields.contains(f)) {
            errs.push((
                format!("group_by[{i}]"),
                "is already in `key`; list it once".into(),
            ));
            group_by.retain(|f| !entity_fields.contains(f));
        }
        if !entity_fields.is_empty() && !self.evidence_copies {
            errs.push((
                "key".into(),
                "an entity-keyed rule names the officials of its evidence from the evidence copies; set [pack] evidence_copies = true".into(),
            ));
        }
        // An entity-keyed rule's windows are owned by the entity's values; inside,
        // they are keyed by the entity's fields and then group_by (the warning's key).
        let entity = (!entity_fields.is_empty()).then(|| self.entity_index(&r.key, &entity_fields));
        if entity.is_some() {
            group_by.splice(0..0, entity_fields);
        }
        let window = window.unwrap_or(Duration::from_secs(1));
        let and = |a: &Filter, b: Filter| match (a, b) {
            (Filter::True, b) => b,
            (a, Filter::True) => a.clone(),
            (a, b) => Filter::All(vec![a.clone(), b]),
        };

        // A `reference` rule whose table is unknown or did not load: its title's
        // placeholders (the table's columns) cannot be checked.
        let mut unresolved_table = false;
        let (logic, trigger, measures, key_fields) = match kind {
            K::Aggregate => {
                let numeric: Vec<(&str, &String)> = [
                    ("sum", &m.sum),
                    ("avg", &m.avg),
                    ("min", &m.min),
                    ("max", &m.max),
                    ("spread", &m.spread),
                ]
                .into_iter()
                .filter_map(|(n, f)| f.as_ref().map(|f| (n, f)))
                .collect();
                let mut value = None;
                if let Some((_, first)) = numeric.first() {
                    if numeric.iter().any(|(_, f)| f != first) {
                        errs.push((
                            "measures".into(),
                            "sum, avg, min, max and spread must all name the same field".into(),
                        ));
                    }
                    value = FieldRef::parse(first);
                    match &value {
                        None => errs.push(("measures".into(), format!("unknown field `{first}`"))),
                        Some(FieldRef::AmountCents | FieldRef::Attribute(_)) => {}
                        Some(_) => errs.push((
                            "measures".into(),
                            format!("`{first}` is a text field; sum, avg, min, max and spread need amount_cents or a numeric attribute (with `decimals` for a decimal one)"),
                        )),
                    }
                }
                let scale = match m.decimals {
                    None => 0,
                    Some(_) if value.is_none() => {
                        errs.push((
                            "measures.decimals".into(),
                            "needs a sum, avg, min, max or spread field to apply to".into(),
                        ));
                        0
                    }
                    Some(d) if d > 6 => {
                        errs.push(("measures.decimals".into(), "must be between 0 and 6".into()));
                        0
                    }
                    Some(d) => d,
                };
                let distinct = m.distinct.as_ref().and_then(|f| {
                    let parsed = FieldRef::parse(f);
                    if parsed.is_none() {
                        errs.push(("measures.distinct".into(), format!("unknown field `{f}`")));
                    }
                    parsed
                });
                let mut measures = vec![Measure::Count];
                for (flag, measure) in [
                    (&m.sum, Measure::Sum),
                    (&m.avg, Measure::Avg),
                    (&m.min, Measure::Min),
                    (&m.max, Measure::Max),
                    (&m.spread, Measure::Spread),
                ] {
                    if flag.is_some() {
                        measures.push(measure);
                    }
                }
                if distinct.is_some() {
                    measures.push(Measure::Distinct);
                }
                let filter = self.filter_index(base);
                let slot = match r.last {
                    // Count windows are measured by scanning their few newest entries
                    // (no min/max deques), and share a slot with the same events.
                    Some(last) => self.count_slot(Slot {
                        entity,
                        filter,
                        group_by: group_by.clone(),
                        span: window,
                        value,
                        scale,
                        min_max: false,
                        distinct,
                        last: Some(last),
                        absence: None,
                    }),
                    None => self.slot_index(Slot {
                        entity,
                        filter,
                        group_by: group_by.clone(),
                        span: window,
                        value,
                        scale,
                        min_max: m.min.is_some() || m.max.is_some() || m.spread.is_some(),
                        distinct,
                        last: None,
                        absence: None,
                    }),
                };
                (
                    RuleLogic::Aggregate { slot, last: r.last },
                    filter,
                    measures,
                    group_by,
                )
            }
            K::Ratio => {
                if r.numerator.is_none() {
                    errs.push((
                        "numerator".into(),
                        "`ratio` rules need a numerator filter table".into(),
                    ));
                }
                let num = and(&base, table_filter("numerator", &r.numerator, &mut errs));
                let (den, trigger) = match &r.denominator {
                    None => (base.clone(), base.clone()),
                    Some(_) => {
                        let den = and(
                            &base,
                            table_filter("denominator", &r.denominator, &mut errs),
                        );
                        (den.clone(), Filter::Any(vec![num.clone(), den]))
                    }
                };
                let num_filter = self.filter_index(num);
                let den_filter = self.filter_index(den);
                let trigger = self.filter_index(trigger);
                let slot = |filter, group_by| Slot {
                    entity: None,
                    filter,
                    group_by,
                    span: window,
                    value: None,
                    scale: 0,
                    min_max: false,
                    distinct: None,
                    last: None,
                    absence: None,
                };
                let numerator = self.slot_index(slot(num_filter, group_by.clone()));
                if r.denominator_keyed && group_by.is_empty() {
                    errs.push((
                        "denominator_keyed".into(),
                        "keys the denominator by `group_by`: give group_by too".into(),
                    ));
                }
                let den_key = if r.denominator_keyed {
                    group_by.clone()
                } else {
                    Vec::new()
                };
                let denominator = self.slot_index(slot(den_filter, den_key));
                (
                    RuleLogic::Ratio {
                        numerator,
                        denominator,
                    },
                    trigger,
                    vec![
                        Measure::Count,
                        Measure::Numerator,
                        Measure::Denominator,
                        Measure::Ratio,
                    ],
                    group_by,
                )
            }
            K::Baseline => {
                if r.baseline.is_none() {
                    errs.push((
                        "baseline".into(),
                        "`baseline` rules need a baseline period, e.g. baseline = \"360d\"".into(),
                    ));
                }
                let baseline =
                    duration("baseline", &r.baseline, &mut errs).unwrap_or(Duration::from_secs(1));
                if window
                    .0
                    .checked_add(baseline.0)
                    .is_none_or(|span| span > MAX_SPAN.0)
                {
                    errs.push((
                        "baseline".into(),
                        format!("window + baseline must not exceed {MAX_SPAN}"),
                    ));
                }
                let filter = self.filter_index(base);
                let slot = self.slot_index(Slot {
                    entity: None,
                    filter,
                    group_by: group_by.clone(),
                    span: Duration(window.0.saturating_add(baseline.0)),
                    value: None,
                    scale: 0,
                    min_max: false,
                    distinct: None,
                    last: None,
                    absence: None,
                });
                (
                    RuleLogic::Baseline { slot, baseline },
                    filter,
                    vec![
                        Measure::Count,
                        Measure::BaselineCount,
                        Measure::Expected,
                        Measure::Ratio,
                    ],
                    group_by,
                )
            }
            K::Absence => {
                for (name, t) in [("first", &r.first), ("then", &r.then)] {
                    if t.is_none() {
                        errs.push((
                            name.into(),
                            format!("`absence` rules need a `{name}` filter table"),
                        ));
                    }
                }
                let on = fields("on", &r.on, &mut errs);
                let first = and(&base, table_filter("first", &r.first, &mut errs));
                let then = and(&base, table_filter("then", &r.then, &mut errs));
                let first_filter = self.filter_index(first);
                let trigger = self.filter_index(then);
                // Never shared with another kind's slot: its entries are cleared by
                // `then` events and fired at their deadline.
                let slot = self.slot_index(Slot {
                    entity: None,
                    filter: first_filter,
                    group_by: on.clone(),
                    span: window,
                    value: None,
                    scale: 0,
                    min_max: false,
                    distinct: None,
                    last: None,
                    absence: Some(trigger),
                });
                (
                    RuleLogic::Absence { slot },
                    trigger,
                    vec![Measure::Count],
                    on,
                )
            }
            K::Sequence => {
                for (name, t) in [("first", &r.first), ("then", &r.then)] {
                    if t.is_none() {
                        errs.push((
                            name.into(),
                            format!("`sequence` rules need a `{name}` filter table"),
                        ));
                    }
                }
                let on = fields("on", &r.on, &mut errs);
                let first = and(&base, table_filter("first", &r.first, &mut errs));
                let then = and(&base, table_filter("then", &r.then, &mut errs));
                let first_filter = self.filter_index(first);
                let trigger = self.filter_index(then);
                let slot = self.slot_index(Slot {
                    entity: None,
                    filter: first_filter,
                    group_by: on.clone(),
                    span: window,
                    value: None,
                    scale: 0,
                    min_max: false,
                    distinct: None,
                    last: None,
                    absence: None,
                });
                (
                    RuleLogic::Sequence { first: slot },
                    trigger,
                    vec![Measure::Count],
                    on,
                )
            }
            K::RelatedParty => {
                let name = r.field.as_deref().unwrap_or("counterparty");
                let field = match FieldRef::parse(name) {
                    Some(FieldRef::AmountCents) | None => {
                        errs.push((
                            "field".into(),
                            format!("`{name}` is not a text field naming a party"),
                        ));
                        FieldRef::Counterparty
                    }
                    Some(field) => field,
                };
                let trigger = self.filter_index(base);
                (
                    RuleLogic::RelatedParty {
                        field: field.clone(),
                    },
                    trigger,
                    vec![Measure::Count],
                    vec![field],
                )
            }
            K::Reference => {
                let name = r.field.as_deref().unwrap_or("counterparty");
                let field = match FieldRef::parse(name) {
                    Some(FieldRef::AmountCents) | None => {
                        errs.push((
                            "field".into(),
                            format!("`{name}` is not a text field to look up"),
                        ));
                        FieldRef::Counterparty
                    }
                    Some(field) => field,
                };
                let table = match r.table.as_deref() {
                    None => {
                        errs.push((
                            "table".into(),
                            "`reference` rules need table = \"NAME\" (a [reference.tables.NAME])"
                                .into(),
                        ));
                        None
                    }
                    Some(t) => match self.tables.iter().position(|x| x.name == t) {
                        Some(i) => Some(i),
                        None if self.table_names.iter().any(|n| n == t) => None,
                        None => {
                            errs.push((
                                "table".into(),
                                format!(
                                    "no table `{t}` in [reference.tables] (declared: {})",
                                    self.table_names.join(", ")
                                ),
                            ));
                            None
                        }
                    },
                };
                let after = match (&r.after, table) {
                    (Some(a), Some(t)) => {
                        let by = match a.by.as_deref().map(Duration::parse) {
                            None => Duration::ZERO,
                            Some(Ok(d)) if d <= MAX_SPAN => d,
                            Some(Ok(_)) => {
                                errs.push((
                                    "after.by".into(),
                                    format!("must not exceed {MAX_SPAN}"),
                                ));
                                Duration::ZERO
                            }
                            Some(Err(e)) => {
                                errs.push(("after.by".into(), e));
                                Duration::ZERO
                            }
                        };
                        match super::before_date::column_dates(&self.tables[t], &a.column, &self.tz)
                        {
                            Ok(dates) => Some((by, Arc::new(dates))),
                            Err(e) => {
                                errs.push(("after.column".into(), e));
                                None
                            }
                        }
                    }
                    _ => None,
                };
                unresolved_table = table.is_none();
                let trigger = self.filter_index(base);
                (
                    RuleLogic::Reference {
                        field: field.clone(),
                        table: table.unwrap_or(0),
                        after,
                    },
                    trigger,
                    vec![Measure::Count],
                    vec![field],
                )
            }
            K::Predicate => {
                let trigger = self.filter_index(base);
                (
                    RuleLogic::Predicate,
                    trigger,
                    vec![Measure::Count],
                    group_by,
                )
            }
        };

        let levels = if thresholds.contains(&kind) {
            let conds = |name: &str, map: &Option<BTreeMap<String, String>>, errs: &mut Errors| {
                let map = map.as_ref()?;
                let mut out = Vec::new();
                for (measure, text) in map {
                    let Some(index) = measures.iter().position(|m| m.name() == measure) else {
                        let known: Vec<&str> = measures.iter().map(|m| m.name()).collect();
                        errs.push((
                            format!("{name}.{measure}"),
                            format!(
                                "this rule has no measure `{measure}` (it has: {})",
                                known.join(", ")
                            ),
                        ));
                        continue;
                    };
                    if let Some((op, field)) = Condition::parse_field_comparison(text) {
                        out.push(Condition {
                            measure_index: index,
                            op,
                            value: 0.0,
                            field: Some(field),
                        });
                        continue;
                    }
                    match Condition::parse_comparison(text) {
                        Ok((op, value)) => out.push(Condition {
                            measure_index: index,
                            op,
                            value,
                            field: None,
                        }),
                        Err(e) => errs.push((
                            format!("{name}.{measure}"),
                            format!("{e} (or a numeric field of the trigger event, e.g. \"> attributes.tank_l\")"),
                        )),
                    }
                }
                if map.is_empty() {
                    errs.push((name.into(), "needs at least one condition".into()));
                }
                Some(out)
            };
            let red = conds("red", &r.red, &mut errs);
            let yellow = conds("yellow", &r.yellow, &mut errs);
            if red.is_none() && yellow.is_none() {
                errs.push((
                    "yellow".into(),
                    "give `yellow` and/or `red` conditions, e.g. yellow = { count = \">= 5\" }"
                        .into(),
                ));
            }
            Levels::Thresholds { red, yellow }
        } else {
            match r.level.as_deref().map(|l| (l, Level::parse(l))) {
                Some((_, Some(level))) => Levels::Fixed(level),
                Some((other, None)) => {
                    errs.push((
                        "level".into(),
                        format!("`{other}` is not a level (yellow or red)"),
                    ));
                    Levels::Fixed(Level::Yellow)
                }
                None => {
                    errs.push((
                        "level".into(),
                        format!("`{kind_name}` rules need level = \"yellow\" or \"red\""),
                    ));
                    Levels::Fixed(Level::Yellow)
                }
            }
        };

        let key_names: Vec<&str> = key_fields.iter().map(FieldRef::key_name).collect();
        let key_field = match kind {
            K::Sequence | K::Absence => "on",
            K::RelatedParty | K::Reference => "field",
            _ => "group_by",
        };
        for (i, name) in key_names.iter().enumerate() {
            let reserved = ["official_id", "rule_id", "level", "window", "relation"];
            if key_names[..i].contains(name) {
                errs.push((
                    key_field.into(),
                    format!("two key fields are both named `{name}` in the warning's key"),
                ));
            } else if reserved.contains(name) || measures.iter().any(|m| m.name() == *name) {
                errs.push((
                    key_field.into(),
                    format!("a key field named `{name}` would clash with the built-in `{name}`; key attributes must have other names"),
                ));
            }
        }
        let before_date = r.before_date.as_ref().and_then(|spec| {
            let compiled = super::before_date::compile(
                spec,
                &self.tables,
                &self.table_names,
                &self.tz,
                &mut errs,
            );
            // A table that failed to load is reported by the pack; its placeholders
            // are not known, so the titles are not checked.
            unresolved_table |= compiled.is_none();
            compiled
        });
        let extra_names: Vec<&str> = match &logic {
            _ if before_date.is_some() => before_date
                .as_ref()
                .and_then(|b| self.tables.get(b.table))
                .map(|t| t.columns().iter().map(String::as_str).collect())
                .unwrap_or_default(),
            RuleLogic::RelatedParty { .. } => vec!["relation"],
            RuleLogic::Reference { table, .. } => self
                .tables
                .get(*table)
                .map(|t| t.columns().iter().map(String::as_str).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        // Every title is checked, in whichever locale; the pack's locale picks one.
        let compile_title = |text: &str, field: String, errs: &mut Errors| {
            Template::compile(text, &measures, &key_names, &extra_names)
                .map_err(|e| {
                    if !unresolved_table {
                        errs.push((field, e));
                    }
                })
                .ok()
        };
        let english = compile_title(&r.title, "title".into(), &mut errs);
        let mut chosen = (self.locale == Locale::En).then_some(english).flatten();
        for (name, text) in &r.titles {
            let field = format!("titles.{name}");
            match Locale::parse(name) {
                Ok(Locale::En) => errs.push((field, "the English title is `title`".into())),
                Ok(locale) => {
                    let compiled = compile_title(text, field, &mut errs);
                    if locale == self.locale {
                        chosen = compiled;
                    }
                }
                Err(e) => errs.push((field, e)),
            }
        }
        if self.locale != Locale::En && !r.titles.contains_key(self.locale.name()) {
            errs.push((
                "titles".into(),
                format!(
                    "the pack's locale is {0}: give titles.\"{0}\"",
                    self.locale.name()
                ),
            ));
        }
        let title = chosen
            .unwrap_or_else(|| Template::compile("", &[], &[], &[]).expect("empty template"))
            .in_locale(self.locale);
        let window = if windowed.contains(&kind) {
            window
        } else {
            Duration::ZERO
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(CompiledRule {
            id: r.id.clone(),
            version: r.version,
            description: r.description.clone(),
            title,
            logic,
            levels,
            measures,
            key_fields,
            entity,
            trigger,
            cooldown,
            evidence_limit,
            evidence_attributes: Vec::new(),
            before_date,
            window,
            window_text: self.locale.duration(window),
        })
    }
}
