//! Engine snapshots: everything an engine holds — window entries per official, slot
//! and key, cooldowns, the ids that detect duplicates, events still waiting for the
//! watermark, the watermark itself — as plain data ([`Snapshot`], serde), and the
//! restore that rebuilds an engine from it. An engine restored from a snapshot taken
//! after event `k` and fed events `k+1..` produces exactly the warnings an engine fed
//! all events without interruption produces after event `k` (tests below).
//!
//! Running aggregates (sums, min/max deques, distinct counts) are not stored: restore
//! pushes the entries again, which rebuilds them exactly. Slots are identified by
//! their definition (filter, key fields, measured fields), as in
//! [`Engine::swap_pack`]: a snapshot restores into a changed pack, keeping the slots
//! both share. `select` picks, by official id and source tag (the official's latest
//! event's, or a pending event's), what goes into a snapshot, so state can be split
//! by partition.

use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::{Engine, IdHash, Pending};
use crate::codec::{DecodeLimits, json};
use crate::event::PowerEvent;
use crate::rules::CompiledPack;
use crate::rules::measure::Level;
use crate::state::{Entry, GroupKey, LastFired, OfficialState, SlotCell, SlotState};
use crate::warning::Scope;

/// Snapshot format version; [`Engine::restore`] refuses others.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// An engine's state as plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// `[pack] name` and `version` of the pack that built the state.
    pub pack: (String, String),
    /// Largest event time admitted.
    pub max_seen: i64,
    /// The watermark.
    pub watermark: i64,
    /// Arrival counter (orders pending events of equal time).
    pub arrival: u64,
    /// Definitions of the pack's slots, by index (what `slot` below refers to).
    pub slots: Vec<String>,
    /// Per official.
    pub officials: Vec<OfficialSnapshot>,
    /// Released event ids (XXH3) and until when a repeat is a duplicate: those of
    /// the events `select` accepts by source tag (with an empty official id).
    pub released: Vec<(u64, i64)>,
    /// Events waiting for the watermark.
    pub pending: Vec<PendingSnapshot>,
    /// Not stored: the source tag the restore gives `released` ids (the caller's
    /// partition bookkeeping; None: 0).
    #[serde(skip)]
    pub released_source: Option<u64>,
    /// In a delta ([`Engine::delta`]): officials whose state is gone since the
    /// snapshot the delta follows. Empty in a full snapshot.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// One official's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficialSnapshot {
    /// The official.
    pub id: String,
    /// Region and org_unit, if known.
    pub scope: Option<(Option<String>, Option<String>)>,
    /// Window entries per slot and key.
    pub cells: Vec<CellSnapshot>,
    /// Cooldowns: rule id, packed key, time, level (0 yellow, 1 red).
    pub fired: Vec<(String, String, i64, u8)>,
    /// Source tag of the latest event applied.
    pub last_source: u64,
    /// In a delta ([`Engine::delta`]): `cells` patch the official's cells in the
    /// snapshot before (see [`CellSnapshot::evicted`]); scope and cooldowns are
    /// whole. False: `cells` are all of them.
    #[serde(default)]
    pub patch: bool,
    /// Evidence copies by class (in a patch, like `cells`: classes not listed are
    /// gone). Added with evidence copies (encoding `postcard.v3`): empty when read
    /// from earlier layouts ([`crate::evidence::with_layout_before_copies`]).
    #[serde(
        default,
        deserialize_with = "crate::evidence::added_with_copies",
        serialize_with = "crate::evidence::write_added_with_copies"
    )]
    pub copies: Vec<CopiesSnapshot>,
}

/// One slot's entries for one official.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellSnapshot {
    /// Index into [`Snapshot::slots`].
    pub slot: u32,
    /// `None` key: a slot keyed by official only; else the packed group key.
    pub keys: Vec<(Option<String>, Vec<EntrySnapshot>)>,
    /// In a patch ([`OfficialSnapshot::patch`]), parallel to `keys`: `Some(n)`:
    /// the key's entries in the snapshot before lose `n` from the front and the
    /// listed entries follow the rest; `None`: the listed entries are all of them.
    /// A dense patch (`gone` is `None`) lists every key the official has; keys it
    /// does not list are gone.
    #[serde(default)]
    pub evicted: Vec<Option<u64>>,
    /// In a sparse patch: the keys gone since the snapshot before. A sparse patch
    /// lists only the keys that changed; the others are as they were. (An entity
    /// bucket holds hundreds of keys, of which an interval changes a few.) Added
    /// with sparse patches (encoding `postcard.v5`).
    #[serde(
        default,
        deserialize_with = "crate::evidence::added_with_sparse_patches",
        serialize_with = "crate::evidence::write_added_with_sparse_patches"
    )]
    pub gone: Option<Vec<String>>,
}

/// One window entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntrySnapshot {
    /// Event time.
    pub time: i64,
    /// The slot's value.
    pub value: i64,
    /// Event id.
    pub id: CompactString,
    /// The distinct-counted value, for slots that count one.
    pub distinct: Option<CompactString>,
}

/// One class of an official's evidence copies ([`crate::copies`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopiesSnapshot {
    /// Index into [`Snapshot::slots`]: the slot whose span the copies live for.
    pub slot: u32,
    /// In a patch: `Some(n)`: the class's copies in the snapshot before lose `n`
    /// from the front and `copies` follow the rest; `None`: `copies` are all of them.
    pub evicted: Option<u64>,
    /// The copies, in event-time order, with every attribute kept.
    pub copies: Vec<crate::evidence::EventCopy>,
}

/// An event waiting for the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingSnapshot {
    /// The caller's source tag.
    pub source: u64,
    /// Arrival number.
    pub arrival: u64,
    /// The event (contract JSON in the serialised form).
    pub event: PendingEvent,
}

/// A pending event in a snapshot. Serialised as its contract JSON (a string). Taken
/// from a live engine it shares the engine's event and is encoded only when the
/// snapshot is serialised, on whichever thread does that, not at the barrier.
#[derive(Debug, Clone)]
pub struct PendingEvent(PendingRepr);

#[derive(Debug, Clone)]
enum PendingRepr {
    Json(String),
    Shared(Arc<PowerEvent>),
}

impl PendingEvent {
    /// From contract JSON.
    pub fn from_json(json: String) -> PendingEvent {
        PendingEvent(PendingRepr::Json(json))
    }

    /// The event's contract JSON.
    pub fn json(&self) -> std::borrow::Cow<'_, str> {
        match &self.0 {
            PendingRepr::Json(s) => std::borrow::Cow::Borrowed(s),
            PendingRepr::Shared(event) => {
                let mut s = String::new();
                json::encode(event, &mut s);
                std::borrow::Cow::Owned(s)
            }
        }
    }

    /// The event, decoded if it is JSON.
    fn event(&self) -> Result<Arc<PowerEvent>, RestoreError> {
        match &self.0 {
            PendingRepr::Shared(event) => Ok(Arc::clone(event)),
            PendingRepr::Json(s) => json::decode(s.as_bytes(), &DecodeLimits::default())
                .map(|(event, _)| Arc::new(event))
                .map_err(|e| RestoreError::Pending(e.to_string())),
        }
    }
}

impl PartialEq for PendingEvent {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Serialize for PendingEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.json())
    }
}

impl<'de> Deserialize<'de> for PendingEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(PendingEvent::from_json)
    }
}

/// Why a snapshot cannot be restored.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RestoreError {
    /// Written by another snapshot format.
    #[error("snapshot format {0} is not supported (this build reads format {SNAPSHOT_FORMAT})")]
    Format(u32),
    /// A pending event does not decode (a corrupt snapshot).
    #[error("snapshot pending event does not decode: {0}")]
    Pending(String),
    /// A delta does not follow the snapshot it is applied to.
    #[error("snapshot delta does not fit: {0}")]
    Delta(String),
}

/// What a restore kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Officials restored.
    pub officials: usize,
    /// Window entries restored.
    pub entries: usize,
    /// Entries of slots the engine's pack no longer has.
    pub entries_dropped: usize,
    /// Pending events restored.
    pub pending: usize,
}

/// What a restore matches slots by: the definition with a count window's N left
/// out (a count window whose N changed keeps its newest N entries).
fn slot_identity(definition: &str) -> String {
    match definition.find("|last ") {
        Some(at) => {
            let rest = &definition[at + 6..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            format!("{}|last{}", &definition[..at], &rest[digits..])
        }
        None => definition.to_string(),
    }
}

/// A slot's identity: what decides which events it keeps and what it measures.
fn slot_definition(pack: &CompiledPack, index: usize) -> String {
    let s = &pack.slots[index];
    let mut definition = format!(
        "{:?}|{:?}|{:?}|{}|{:?}",
        pack.filters[s.filter], s.group_by, s.value, s.min_max, s.distinct
    );
    // Appended only when set, so snapshots of slots without it keep their identity.
    if let Some(n) = s.last {
        definition.push_str(&format!("|last {n}"));
    }
    if let Some(e) = s.entity {
        definition.push_str(&format!("|entity {}", pack.entities[e as usize].label));
    }
    if let Some(then) = s.absence {
        definition.push_str(&format!("|absence {:?}", pack.filters[then]));
    }
    if s.scale > 0 {
        definition.push_str(&format!("|decimals {}", s.scale));
    }
    definition
}

impl Engine {
    /// The state of the officials `select(official_id, source)` accepts (by their
    /// latest event's source tag), the pending events it accepts (by theirs), and the
    /// released ids it accepts (by their event's, with an empty official id), as
    /// plain data.
    pub fn snapshot(&self, select: impl Fn(&str, u64) -> bool) -> Snapshot {
        let mut officials: Vec<OfficialSnapshot> = self
            .officials
            .iter()
            .filter(|item| select(item.key(), item.value().last_source))
            .map(|item| self.official_snapshot(item.key(), item.value()))
            .collect();
        officials.sort_by(|a, b| a.id.cmp(&b.id));
        let mut released: Vec<(u64, i64)> = self
            .released
            .iter()
            .filter(|(_, (_, source))| select("", *source))
            .map(|(k, (until, _))| (k.0, *until))
            .collect();
        released.sort_unstable();
        self.assemble(officials, released, Vec::new(), &select)
    }

    /// One official's state as plain data.
    pub(super) fn official_snapshot(&self, id: &str, o: &OfficialState) -> OfficialSnapshot {
        self.official_data(id, o, false)
    }

    /// One official's state as plain data: all of it, or (`patch`) only what
    /// changed since the last mark ([`OfficialSnapshot::patch`]).
    pub(super) fn official_data(
        &self,
        id: &str,
        o: &OfficialState,
        patch: bool,
    ) -> OfficialSnapshot {
        let pack = &self.pack;
        let cells = o
            .slot_ids
            .iter()
            .zip(&o.cells)
            .map(|(slot, cell)| {
                // A patch of a keyed cell is sparse: the keys that changed since the
                // mark and those gone. Keys are in order, so a chain of patches
                // equals a full snapshot.
                let mut states: Vec<(Option<String>, &SlotState)> = match cell {
                    SlotCell::Single(s) => vec![(None, s)],
                    SlotCell::Keyed(states) => states
                        .states()
                        .filter(|(_, s)| !patch || s.appended > 0 || s.evicted > 0)
                        .map(|(k, s)| (Some(k.raw().to_string()), s))
                        .collect(),
                };
                states.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                let gone = match cell {
                    SlotCell::Keyed(_) if patch => Some(self.keys_gone(id, *slot)),
                    _ => None,
                };
                let mut evicted = Vec::new();
                let mut keys = Vec::with_capacity(states.len());
                for (key, s) in states {
                    if patch {
                        let (from, gone) = patch_of(s);
                        evicted.push(gone);
                        keys.push((key, entries_of(s, from)));
                    } else {
                        keys.push((key, entries_of(s, 0)));
                    }
                }
                CellSnapshot {
                    slot: *slot,
                    keys,
                    evicted,
                    gone,
                }
            })
            .collect();
        let copies = o
            .copies
            .iter()
            .flat_map(|c| c.queues.iter())
            .map(|q| {
                let (from, evicted) = if patch { q.patch() } else { (0, None) };
                CopiesSnapshot {
                    slot: q.slot,
                    evicted,
                    copies: q.copies_from(from),
                }
            })
            .collect();
        OfficialSnapshot {
            patch,
            copies,
            id: id.to_string(),
            scope: o.scope.as_deref().map(|s| {
                (
                    s.region.as_ref().map(|r| r.to_string()),
                    s.org_unit.as_ref().map(|u| u.to_string()),
                )
            }),
            cells,
            last_source: o.last_source,
            fired: o
                .fired
                .iter()
                .map(|f| {
                    (
                        pack.rules[f.rule as usize].id.clone(),
                        f.key.raw().to_string(),
                        f.time,
                        u8::from(f.level == Level::Red),
                    )
                })
                .collect(),
        }
    }

    /// A snapshot of the given officials and released ids, with the pending events
    /// `select` accepts and the engine's clocks.
    pub(super) fn assemble(
        &self,
        officials: Vec<OfficialSnapshot>,
        released: Vec<(u64, i64)>,
        removed: Vec<String>,
        select: impl Fn(&str, u64) -> bool,
    ) -> Snapshot {
        let pack = &self.pack;
        let mut pending: Vec<PendingSnapshot> = self
            .pending
            .iter()
            .filter(|p| select(&p.event.official_id, p.source))
            .map(|p| PendingSnapshot {
                source: p.source,
                arrival: p.arrival,
                event: PendingEvent(PendingRepr::Shared(Arc::clone(&p.event))),
            })
            .collect();
        pending.sort_by_key(|p| p.arrival);
        Snapshot {
            format: SNAPSHOT_FORMAT,
            pack: (pack.name.clone(), pack.version.clone()),
            max_seen: self.max_seen,
            watermark: self.watermark,
            arrival: self.arrival,
            slots: (0..pack.slots.len())
                .map(|i| slot_definition(pack, i))
                .collect(),
            officials,
            released,
            pending,
            removed,
            released_source: None,
        }
    }

    /// Adds a snapshot's state to this engine (a fresh one, or one holding other
    /// officials: snapshots of different partitions combine). A fresh engine takes the
    /// snapshot's watermark; combining takes the smaller one (no input of either side
    /// turns late), and the larger largest-event-time.
    pub fn restore(&mut self, snap: &Snapshot) -> Result<RestoreReport, RestoreError> {
        if snap.format != SNAPSHOT_FORMAT {
            return Err(RestoreError::Format(snap.format));
        }
        let pack: Arc<CompiledPack> = Arc::clone(&self.pack);
        let mut report = RestoreReport::default();
        self.changed_everything();
        // snapshot slot index -> this pack's slot index
        let here: Vec<String> = (0..pack.slots.len())
            .map(|i| slot_identity(&slot_definition(&pack, i)))
            .collect();
        let mut used = vec![false; here.len()];
        let map: Vec<Option<u32>> = snap
            .slots
            .iter()
            .map(|def| {
                let j = here
                    .iter()
                    .enumerate()
                    .position(|(j, h)| !used[j] && *h == slot_identity(def))?;
                used[j] = true;
                Some(j as u32)
            })
            .collect();
        // Copies of entities restored into buckets, put in time order at the end.
        let mut bucket_copies: Vec<(CompactString, u32, &crate::evidence::EventCopy)> = Vec::new();
        for o in &snap.officials {
            // Snapshots from before entity buckets name one entity per owner: its
            // state joins its bucket, keyed by its values.
            let entity = super::entity_of_owner(&pack, &o.id).and_then(|(e, v)| v.map(|v| (e, v)));
            let (owner, mut state) = match entity {
                Some((e, values)) => {
                    let key = &pack.entities[e as usize];
                    let owner = super::bucket_id(&pack, key, values, o.last_source);
                    let state = self.officials.remove(&owner).map_or_else(
                        || OfficialState {
                            last_source: o.last_source,
                            ..OfficialState::default()
                        },
                        |(_, s)| s,
                    );
                    (owner, state)
                }
                None => (
                    CompactString::from(o.id.as_str()),
                    OfficialState {
                        last_source: o.last_source,
                        ..OfficialState::default()
                    },
                ),
            };
            let unkeyed = entity.map_or_else(GroupKey::default, |(_, v)| GroupKey::from_raw(v));
            if let Some((region, org_unit)) = &o.scope {
                state.scope = Some(Box::new(Scope {
                    region: region.as_deref().map(CompactString::from),
                    org_unit: org_unit.as_deref().map(CompactString::from),
                }));
            }
            for cell in &o.cells {
                let Some(Some(j)) = map.get(cell.slot as usize).copied() else {
                    report.entries_dropped += cell.keys.iter().map(|(_, e)| e.len()).sum::<usize>();
                    continue;
                };
                let slot = &pack.slots[j as usize];
                let keyed = pack.slot_keyed(j as usize);
                for (key, entries) in &cell.keys {
                    let target = match (state.cell_mut(j, keyed), key) {
                        (SlotCell::Single(s), _) => s,
                        (SlotCell::Keyed(states), Some(k)) => {
                            states.get_or_default(GroupKey::from_raw(k))
                        }
                        (SlotCell::Keyed(states), None) => states.get_or_default(unkeyed.clone()),
                    };
                    for e in entries {
                        target.push(
                            Entry {
                                time: e.time,
                                value: e.value,
                                id: e.id.clone(),
                            },
                            e.distinct.clone(),
                            slot.min_max,
                        );
                        report.entries += 1;
                    }
                    // A count window restored under a smaller N keeps its newest N.
                    if let Some(n) = slot.last {
                        target.keep_last(n);
                    }
                }
            }
            if pack.copy_attributes.is_some() {
                for class in &o.copies {
                    let Some(Some(j)) = map.get(class.slot as usize).copied() else {
                        continue;
                    };
                    if entity.is_some() {
                        bucket_copies.extend(class.copies.iter().map(|c| (owner.clone(), j, c)));
                        continue;
                    }
                    let copies = state.copies.get_or_insert_with(Default::default);
                    for c in &class.copies {
                        copies.push_copy(j, c);
                    }
                }
            }
            for (rule_id, key, time, level) in &o.fired {
                if let Some(rule) = pack.rules.iter().position(|r| r.id == *rule_id) {
                    state.fired.push(LastFired {
                        rule: rule as u32,
                        key: GroupKey::from_raw(key),
                        time: *time,
                        level: if *level == 1 {
                            Level::Red
                        } else {
                            Level::Yellow
                        },
                    });
                }
            }
            // (A bucket is put back whatever it holds: a sweep drops it if empty.)
            if !state.is_empty() || state.scope.is_some() || entity.is_some() {
                report.officials += 1;
                self.officials.insert(owner, state);
            }
        }
        // In time order among the bucket's copies, also those an earlier restore
        // (another partition's snapshot) put there.
        bucket_copies.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for group in bucket_copies.chunk_by(|a, b| (&a.0, a.1) == (&b.0, b.1)) {
            let (owner, j) = (&group[0].0, group[0].1);
            if let Some(mut state) = self.officials.get_mut(owner) {
                state
                    .copies
                    .get_or_insert_with(Default::default)
                    .merge_copies(j, group.iter().map(|(_, _, c)| *c));
            }
        }
        let source = snap.released_source.unwrap_or(0);
        for (id, until) in &snap.released {
            let slot = self.released.entry(IdHash(*id)).or_insert((*until, source));
            slot.0 = slot.0.max(*until);
        }
        for p in &snap.pending {
            let event = p.event.event()?;
            let hits = self.filter_hits(&event);
            let id = IdHash::of(&event.event_id);
            self.pending_ids.insert(id);
            self.pending.push(Pending {
                time: event.occurred_at.0,
                arrival: p.arrival,
                source: p.source,
                id,
                hits,
                event,
            });
            report.pending += 1;
        }
        let fresh = self.watermark == i64::MIN && self.max_seen == i64::MIN;
        self.max_seen = self.max_seen.max(snap.max_seen);
        self.watermark = if fresh {
            snap.watermark
        } else {
            self.watermark.min(snap.watermark)
        };
        self.arrival = self.arrival.max(snap.arrival);
        self.shared_watermark
            .store(self.watermark, std::sync::atomic::Ordering::Relaxed);
        self.slot_sweeps = vec![i64::MIN; pack.slots.len()];
        self.next_sweep = i64::MIN;
        self.rebuild_timers();
        Ok(report)
    }

    /// Lowers the watermark of a freshly restored engine back to "none": input
    /// without a snapshot is about to be read from its start, and its events must
    /// not be taken for late. Whoever calls this keeps restored sources from going
    /// back behind their own snapshot's watermark (the pipeline does, per partition).
    pub fn forget_watermark(&mut self) {
        self.watermark = i64::MIN;
        self.shared_watermark
            .store(self.watermark, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a patch writes of a key's state: from which entry on, and how many of the
/// snapshot before's entries are gone (`None`: every entry is new, or the counts
/// saturated: the listed entries are all of them).
fn patch_of(s: &SlotState) -> (usize, Option<u64>) {
    let len = s.entries.len();
    let appended = s.appended as usize;
    if appended >= len || s.appended == u32::MAX || s.evicted == u32::MAX {
        (0, None)
    } else {
        (len - appended, Some(u64::from(s.evicted)))
    }
}

/// A key's entries from index `from` on.
fn entries_of(s: &SlotState, from: usize) -> Vec<EntrySnapshot> {
    let distinct = s.extras.as_deref().map(|x| &x.distinct_values);
    s.entries
        .as_slice()
        .iter()
        .enumerate()
        .skip(from)
        .map(|(i, e)| EntrySnapshot {
            time: e.time,
            value: e.value,
            id: e.id.clone(),
            distinct: distinct
                .filter(|d| d.len() == s.entries.len())
                .and_then(|d| d.as_slice().get(i))
                .cloned(),
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::EngineConfig;
    use crate::event::PowerEvent;
    use crate::time::Timestamp;
    use crate::warning::Warning;

    fn fixed() -> Timestamp {
        Timestamp(0)
    }

    pub(in crate::engine) fn config() -> EngineConfig {
        EngineConfig {
            clock: fixed,
            ..EngineConfig::default()
        }
    }

    pub(in crate::engine) fn default_pack() -> Arc<CompiledPack> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml");
        Arc::new(CompiledPack::load(&path).unwrap())
    }

    pub(in crate::engine) fn events() -> Vec<PowerEvent> {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample.jsonl"),
        )
        .unwrap();
        text.lines()
            .filter_map(|l| json::decode(l.as_bytes(), &DecodeLimits::default()).ok())
            .map(|(e, _)| e)
            .collect()
    }

    fn run(engine: &mut Engine, events: &[PowerEvent], out: &mut Vec<Warning>) {
        for (i, e) in events.iter().enumerate() {
            engine.ingest_from(e.clone(), i as u64, out);
        }
    }

    #[test]
    fn a_restored_engine_continues_exactly_where_the_snapshot_was_taken() {
        let pack = default_pack();
        let events = events();
        assert!(events.len() > 3_000, "{}", events.len());
        let mut whole = Engine::new(Arc::clone(&pack), config());
        let mut expected = Vec::new();
        run(&mut whole, &events, &mut expected);
        whole.flush(&mut expected);
        assert!(expected.len() > 10, "{}", expected.len());
        for cut in [
            1,
            events.len() / 10,
            events.len() * 37 / 100,
            events.len() * 4 / 5,
        ] {
            let mut first = Engine::new(Arc::clone(&pack), config());
            let mut got = Vec::new();
            run(&mut first, &events[..cut], &mut got);
            // Through JSON, as it would travel.
            let text = serde_json::to_string(&first.snapshot(|_, _| true)).unwrap();
            let snap: Snapshot = serde_json::from_str(&text).unwrap();
            let mut second = Engine::new(Arc::clone(&pack), config());
            let report = second.restore(&snap).unwrap();
            assert_eq!(report.entries_dropped, 0);
            assert_eq!(second.snapshot(|_, _| true), snap, "restore is lossless");
            for (i, e) in events[cut..].iter().enumerate() {
                second.ingest_from(e.clone(), (cut + i) as u64, &mut got);
            }
            second.flush(&mut got);
            assert_eq!(got, expected, "cut after {cut} events");
        }
    }

    #[test]
    fn snapshots_of_disjoint_officials_combine_into_the_whole() {
        let pack = default_pack();
        let events = events();
        let cut = events.len() / 2;
        let mut first = Engine::new(Arc::clone(&pack), config());
        let mut got = Vec::new();
        run(&mut first, &events[..cut], &mut got);
        let even = |id: &str, _: u64| id.bytes().map(u32::from).sum::<u32>() % 2 == 0;
        let a = first.snapshot(even);
        let b = first.snapshot(|id, s| !even(id, s));
        assert!(!a.officials.is_empty() && !b.officials.is_empty());
        let mut second = Engine::new(Arc::clone(&pack), config());
        second.restore(&a).unwrap();
        second.restore(&b).unwrap();
        assert_eq!(second.snapshot(|_, _| true), first.snapshot(|_, _| true));
    }

    /// A restored engine joined by input without a snapshot: once the watermark is
    /// forgotten, that input's old events are evaluated, not taken for late, and
    /// the restored official's warning still comes out.
    #[test]
    fn a_forgotten_watermark_admits_input_read_from_its_start() {
        let at = |m: i64| Timestamp(m * 60_000_000_000);
        let mut engine = Engine::new(default_pack(), config());
        let mut out = Vec::new();
        engine.ingest(
            PowerEvent::new("a1", "restored", "payment", at(100)),
            &mut out,
        );
        engine.advance_watermark(at(101), &mut out);
        let snap = engine.snapshot(|_, _| true);

        let mut late = Engine::new(default_pack(), config());
        late.restore(&snap).unwrap();
        assert!(matches!(
            late.ingest(PowerEvent::new("b1", "rebuilt", "payment", at(5)), &mut out),
            crate::engine::Admission::Refused(e) if e.reason == crate::codec::Reason::Late
        ));

        let mut joined = Engine::new(default_pack(), config());
        joined.restore(&snap).unwrap();
        joined.forget_watermark();
        assert_eq!(joined.watermark(), None);
        assert!(matches!(
            joined.ingest(PowerEvent::new("b1", "rebuilt", "payment", at(5)), &mut out),
            crate::engine::Admission::Accepted
        ));
        assert_eq!(
            joined.state_stats().retained_events,
            1,
            "the restored window stays"
        );
    }

    #[test]
    fn other_formats_are_refused() {
        let engine = Engine::new(default_pack(), config());
        let mut snap = engine.snapshot(|_, _| true);
        snap.format = 99;
        let mut fresh = Engine::new(default_pack(), config());
        assert_eq!(fresh.restore(&snap), Err(RestoreError::Format(99)));
    }

    #[test]
    fn a_snapshot_restores_into_a_changed_pack_keeping_the_slots_both_share() {
        let text = |threshold: &str, approvals_window: &str| {
            format!(
                "[pack]\nname = \"t\"\nversion = \"v\"\n\
                 [[rule]]\nid = \"burst\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1h\"\n\
                 yellow = {{ count = \"{threshold}\" }}\nfilter = {{ kind = \"payment\" }}\n\
                 [[rule]]\nid = \"approvals\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1h\"\n\
                 yellow = {{ count = \">= 5\" }}\nfilter = {{ kind = \"approval\", counterparty = \"{approvals_window}\" }}\n"
            )
        };
        let compile =
            |t: String| Arc::new(crate::rules::compile_pack(&t, Path::new("."), "t").unwrap());
        let v1 = compile(text(">= 3", "C1"));
        // v2: the payment rule's threshold changes (same slot); the approval rule's
        // filter changes (another slot).
        let v2 = compile(text(">= 2", "C2"));
        let mut engine = Engine::new(Arc::clone(&v1), config());
        let mut out = Vec::new();
        let at = |m: i64| crate::time::Timestamp(m * 60_000_000_000);
        let mut p1 = PowerEvent::new("p1", "o1", "payment", at(0));
        p1.counterparty = Some("C1".into());
        let mut a1 = PowerEvent::new("a1", "o1", "approval", at(1));
        a1.counterparty = Some("C1".into());
        engine.ingest(p1, &mut out);
        engine.ingest(a1, &mut out);
        engine.advance_watermark(at(2), &mut out);
        let snap = engine.snapshot(|_, _| true);
        let mut restarted = Engine::new(v2, config());
        let report = restarted.restore(&snap).unwrap();
        assert_eq!((report.entries, report.entries_dropped), (1, 1));
        // The kept payment window: one more payment reaches v2's threshold of 2.
        let mut p2 = PowerEvent::new("p2", "o1", "payment", at(3));
        p2.counterparty = Some("C1".into());
        restarted.ingest(p2, &mut out);
        restarted.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].evidence, ["p1", "p2"]);
    }
}
