//! Rule packs: the TOML format ([`spec`]), filters ([`filter`]), measures and levels
//! ([`measure`]), title templates ([`template`]), reference data ([`reference`]) and
//! the compiler ([`compile`]) that validates a pack into a [`CompiledPack`].

pub mod before_date;
mod compile;
pub mod filter;
pub mod locale;
pub mod measure;
pub mod names;
mod reads;
pub mod reference;
pub mod spec;
pub mod template;
pub mod topic_tables;

use std::path::Path;
use std::sync::Arc;

use compact_str::CompactString;

use crate::event::FieldRef;
use crate::time::Duration;
pub use compile::{
    PackError, RuleError, compile_pack, compile_pack_in, compile_pack_with, load_pack,
    load_pack_in, load_pack_with,
};
use filter::Filter;
use measure::{Levels, Measure};
use reference::{ReferenceTable, Relations};
use template::Template;

/// A validated rule pack, ready to evaluate.
#[derive(Debug)]
pub struct CompiledPack {
    /// `[pack] name`.
    pub name: String,
    /// `[pack] version`.
    pub version: String,
    /// The rules of which lane it holds ([`crate::lanes`]): the others are compiled
    /// as if disabled.
    pub lane: crate::lanes::Lane,
    /// Enabled rules in file order.
    pub rules: Vec<CompiledRule>,
    /// Distinct filters; events are tested against each once.
    pub(crate) filters: Vec<Filter>,
    /// Window slots: per-key event lists the rules read.
    pub(crate) slots: Vec<Slot>,
    /// How long an event must be kept: the longest slot span.
    pub(crate) retention: Duration,
    /// Related parties, when a `related_party` rule needs them.
    pub relations: Option<Arc<Relations>>,
    /// The locale titles are rendered in (`[pack] locale`).
    pub locale: locale::Locale,
    /// The reference tables of `[reference.tables]`, in name order.
    pub tables: Vec<Arc<ReferenceTable>>,
    /// The tables read from topics, in name order ([`topic_tables`]).
    pub topic_tables: Vec<topic_tables::TopicTableSpec>,
    /// Where the topic tables' rows came from: a pack compiled again (a reload)
    /// reads the rows fed since.
    pub table_feeds: Option<Arc<topic_tables::TableFeeds>>,
    /// The files the pack read besides itself (relations, file tables): a reload
    /// watches them too.
    pub reference_files: Vec<std::path::PathBuf>,
    /// The entity keys rules are keyed by instead of the official (`key = [...]`),
    /// in order of first use; [`Slot::entity`] indexes them.
    pub(crate) entities: Vec<EntityKey>,
    /// The slots each kind of owner keeps: `[0]` the official's, `[1 + k]` entity
    /// key k's (so entering an event walks only its owner's slots).
    pub(crate) owner_slots: Vec<Vec<u32>>,
    /// With `[pack] evidence_copies` on (the default): the attributes window entries
    /// keep in their evidence copies (every rule's, sorted); `None`: no copies.
    pub(crate) copy_attributes: Option<Vec<CompactString>>,
}

impl CompiledPack {
    /// Whether slot `index`'s cells hold one state per key (group-by fields, or an
    /// entity key's), or one state.
    pub(crate) fn slot_keyed(&self, index: usize) -> bool {
        // An entity's windows are keyed by its values inside the owner (a bucket of
        // entities: `engine::owner_key`), so entity slots always are.
        !self.slots[index].group_by.is_empty()
    }

    /// Loads and compiles a pack file (reference paths relative to it).
    pub fn load(path: &Path) -> Result<CompiledPack, PackError> {
        load_pack(path)
    }

    /// The topic tables compiled without fed rows (empty): no feed held them.
    pub fn unfed_tables(&self) -> Vec<&topic_tables::TopicTableSpec> {
        self.topic_tables
            .iter()
            .filter(|spec| {
                self.table_feeds
                    .as_ref()
                    .and_then(|f| f.get(spec))
                    .is_none()
            })
            .collect()
    }

    /// Whether window entries keep evidence copies (`[pack] evidence_copies`).
    pub fn evidence_copies(&self) -> bool {
        self.copy_attributes.is_some()
    }

    /// The longest span of event time any rule looks back.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// The event kinds the pack's filters name (sorted, distinct). A filter that
    /// accepts any kind adds nothing. Metrics label events by these kinds and count
    /// every other kind as `other`, which keeps the label set bounded.
    pub fn kinds(&self) -> Vec<CompactString> {
        let mut kinds: Vec<CompactString> = self
            .filters
            .iter()
            .filter_map(Filter::required_kinds)
            .flatten()
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// The rules keyed by an entity rather than the official, with their keys as
    /// written (`rules check` lists them: their events must all reach one engine).
    pub fn entity_keyed_rules(&self) -> Vec<(&str, &str)> {
        self.rules
            .iter()
            .filter_map(|r| {
                Some((
                    r.id.as_str(),
                    self.entities[r.entity? as usize].label.as_str(),
                ))
            })
            .collect()
    }
}

/// An entity key: the fields (as written, joined by `,` in `label`) whose values
/// own a window instead of the official.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntityKey {
    /// The fields as written, e.g. `attributes.invoice_no`.
    pub label: CompactString,
    /// The fields.
    pub fields: Vec<FieldRef>,
    /// What the state keys of its owners start with: NUL, two characters from a
    /// hash of the label, NUL (the full label instead, between NULs, if two labels
    /// of the pack share those characters). Short, so most owner keys stay within a
    /// `CompactString`'s 24 inline bytes; derived from the label alone, so the same
    /// key finds its state again after a pack swap or a restore.
    pub tag: CompactString,
}

impl EntityKey {
    /// The tag a label gets when no other label of the pack shares it.
    pub(crate) fn short_tag(label: &str) -> CompactString {
        const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let h = xxhash_rust::xxh3::xxh3_64(label.as_bytes());
        let a = DIGITS[(h % 62) as usize] as char;
        let b = DIGITS[((h / 62) % 62) as usize] as char;
        let mut tag = CompactString::default();
        tag.push('\0');
        tag.push(a);
        tag.push(b);
        tag.push('\0');
        tag
    }
}

/// A per-key list of events matching one filter, kept for `span`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Slot {
    /// Index into [`CompiledPack::filters`].
    pub filter: usize,
    /// Key fields besides official_id (or, in an entity-keyed slot, the entity's
    /// fields then the rule's group_by); events lacking one are not kept.
    pub group_by: Vec<FieldRef>,
    /// The entity key owning this slot's windows (index into
    /// [`CompiledPack::entities`]); None: the official.
    pub entity: Option<u16>,
    /// How far back entries are kept (window, or window + baseline).
    pub span: Duration,
    /// Numeric field for sum/avg/min/max.
    pub value: Option<FieldRef>,
    /// Its values are kept as integers times 10^scale (`measures.decimals`; 0: the
    /// field must be an integer).
    pub scale: u8,
    /// Whether min/max are needed (monotonic deques).
    pub min_max: bool,
    /// Field whose distinct values are counted.
    pub distinct: Option<FieldRef>,
    /// Only the last N entries are kept (a count window; None: all in the span).
    pub last: Option<u32>,
    /// An absence slot: its entries are the `first` events waiting for a follow-up
    /// (the filter index of `then`, whose events clear them); each is a timer that
    /// fires when the watermark passes its time + span.
    pub absence: Option<usize>,
}

/// One compiled rule.
#[derive(Debug)]
pub struct CompiledRule {
    /// Rule id.
    pub id: String,
    /// Rule version.
    pub version: u32,
    /// Description.
    pub description: String,
    /// Title template.
    pub title: Template,
    /// What the rule computes.
    pub logic: RuleLogic,
    /// How the level is decided.
    pub levels: Levels,
    /// Measures reported, in output order.
    pub measures: Vec<Measure>,
    /// The key fields besides official_id, in output order (an entity-keyed rule's
    /// entity fields first).
    pub key_fields: Vec<FieldRef>,
    /// The entity key owning the rule's windows (index into the pack's entity
    /// keys); None: the official.
    pub(crate) entity: Option<u16>,
    /// Index of the filter an event must pass to trigger an evaluation.
    pub(crate) trigger: usize,
    /// Repeats for the same key within this span are suppressed (unless the level rises).
    pub cooldown: Option<Duration>,
    /// Most evidence ids (and event copies) in a warning.
    pub evidence_limit: usize,
    /// The attributes this rule reads (sorted): what its warnings' evidence copies
    /// keep.
    pub evidence_attributes: Vec<CompactString>,
    /// `before_date`: the rule fires only at events within a span before a date of
    /// a reference table's row.
    pub before_date: Option<before_date::BeforeDate>,
    /// The window length (zero for per-event rules).
    pub window: Duration,
    /// `window` as text, for titles.
    pub window_text: String,
}

/// The evaluation logic of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleLogic {
    /// Aggregates of `slot` over `[t - window, t]` (the last `last` events of it,
    /// for a count window).
    Aggregate {
        /// The slot.
        slot: usize,
        /// The rule's count window: its measures are taken from the slot's newest
        /// entries, so count-window rules of one filter and key share a slot (the
        /// slot keeps the longest span and the largest count among them).
        last: Option<u32>,
    },
    /// Numerator slot count / denominator slot count over `[t - window, t]`.
    Ratio {
        /// Numerator slot (keyed by the rule's group_by).
        numerator: usize,
        /// Denominator slot (keyed by official only, or by the group_by too with
        /// `denominator_keyed`: its slot's group_by says which).
        denominator: usize,
    },
    /// Count over `[t - window, t]` against `[t - window - baseline, t - window)`.
    Baseline {
        /// The slot (span window + baseline).
        slot: usize,
        /// Baseline period length.
        baseline: Duration,
    },
    /// Count of `first` events over `[t - window, t]` sharing the key, excluding the trigger.
    Sequence {
        /// Slot of `first` events keyed by the `on` fields.
        first: usize,
    },
    /// The event's `field` is a related party of the official.
    RelatedParty {
        /// The party field.
        field: FieldRef,
    },
    /// The event's `field` is a key of `tables[table]`, and (with `after`) the event
    /// is later than the row's date in that column by more than the duration.
    Reference {
        /// The field looked up.
        field: FieldRef,
        /// Index into [`CompiledPack::tables`].
        table: usize,
        /// The duration, and the instant of each key's row in the `after` column
        /// (read when the pack is compiled).
        after: Option<(Duration, Arc<rustc_hash::FxHashMap<CompactString, i64>>)>,
    },
    /// The trigger filter is the whole condition.
    Predicate,
    /// `first` events of `slot` not followed within the window by a `then` event
    /// (the rule's trigger filter) with the same key: the trigger clears them, and
    /// the rest fire when the watermark passes their deadline.
    Absence {
        /// The absence slot (keyed by the `on` fields, span = window).
        slot: usize,
    },
}
