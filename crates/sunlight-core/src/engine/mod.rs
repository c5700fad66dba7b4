//! The [`Engine`]: admits events, orders them by event time behind a watermark, keeps
//! per-official window state and evaluates the rule pack.
//!
//! ## Ordering and the watermark
//! The watermark is `max event time seen - allowed lateness`. An event older than the
//! watermark is late: [`Admission::Refused`] hands back its dead-letter reason
//! (see [`admission`] for every admission decision).
//! Every other event waits in `pending` until the watermark passes it; then events are
//! released in `(event time, official_id, event_id)` order and all events sharing one
//! timestamp enter the windows before any of them is evaluated (SQL `RANGE` peers).
//! Warnings are therefore a function of the events' contents, not their arrival order,
//! and come out in a deterministic order. [`Engine::flush`] releases everything (end
//! of a replay); [`Engine::advance_watermark`] moves the watermark on processing time
//! (idle inputs).
//!
//! ## Duplicates
//! An event whose `event_id` is pending, or is still visible to one of its
//! official's windows, is a duplicate: dropped and counted, never applied twice. (A repeat that
//! arrives after the first copy has left every window is applied as a new event; it
//! can no longer be counted twice.) When two copies differ, the first one admitted
//! wins, so conflicting copies make the result depend on arrival order: they are a
//! producer error that the duplicate counter makes visible.

mod absence;
pub mod admission;
mod changes;
mod evaluate;
pub(crate) use evaluate::group_key;
mod owners;
pub use owners::{SOURCE_OFFSET_BITS, retag_owner};
use owners::{bucket_id, entity_of_owner};
pub(crate) use owners::{is_entity_owner, owner_key};
mod snapshot;
mod swap;
mod view;

use std::cmp::Ordering;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};

use compact_str::CompactString;
use dashmap::DashMap;
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::collections::hash_map::Entry;

use crate::event::PowerEvent;
use crate::pending::PendingQueue;
use crate::rules::CompiledPack;
use crate::state::{Entry as WindowEntry, OfficialState, SlotCell};
use crate::time::{Duration, Timestamp};
use crate::warning::Warning;
pub use admission::{Admission, Origin};
pub(crate) use changes::merge_by_id;
use evaluate::{Trigger, evaluate, slot_input};
pub use snapshot::{
    CellSnapshot, EntrySnapshot, OfficialSnapshot, PendingEvent, PendingSnapshot, RestoreError,
    RestoreReport, SNAPSHOT_FORMAT, Snapshot,
};
pub use swap::SwapReport;
pub use view::{OfficialWindows, StateView, WindowAggregate};

/// Default allowed lateness: how much event-time disorder is tolerated.
pub const DEFAULT_ALLOWED_LATENESS: Duration = Duration::from_secs(60);

/// Event time between two sweeps of a slot's expired keys, for slots shorter than this.
pub const MIN_SWEEP_INTERVAL: Duration = Duration::from_secs(7 * 86_400);

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Events older than `max seen - allowed_lateness` are late.
    pub allowed_lateness: Duration,
    /// Source of `detected_at` (processing time).
    pub clock: fn() -> Timestamp,
    /// Who moves the watermark.
    pub watermark: WatermarkMode,
    /// Events dated further ahead of `clock` are bad input (None: no limit). See
    /// [`admission`].
    pub max_future_skew: Option<Duration>,
}

/// Who moves the watermark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WatermarkMode {
    /// The engine: `max event time seen - allowed lateness` after every event (one
    /// ordered input, as in a replay).
    #[default]
    FromEvents,
    /// The caller, through [`Engine::advance_watermark`]: a live pipeline with several
    /// partitions takes the minimum of the partitions' own watermarks, so an official
    /// whose events arrive on two partitions is still evaluated in event-time order.
    External,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            allowed_lateness: DEFAULT_ALLOWED_LATENESS,
            clock: Timestamp::now,
            watermark: WatermarkMode::FromEvents,
            max_future_skew: None,
        }
    }
}

/// Counters per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Yellow warnings emitted.
    pub yellow: u64,
    /// Red warnings emitted.
    pub red: u64,
    /// Warnings held back by the rule's cooldown.
    pub suppressed: u64,
}

/// Counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Events buffered for evaluation.
    pub accepted: u64,
    /// Events no rule looks at.
    pub unmatched: u64,
    /// Duplicate event ids dropped.
    pub duplicates: u64,
    /// Late events refused (behind the watermark or a restored floor).
    pub late: u64,
    /// Events refused for being dated beyond `max_future_skew`.
    pub future_dated: u64,
    /// Warnings carried in from entity lanes and emitted ([`crate::lanes`]).
    pub carried: u64,
    /// Per rule, in pack order.
    pub rules: Vec<RuleCounts>,
}

/// What the engine holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateStats {
    /// Officials with state.
    pub officials: usize,
    /// Entity keys (of `key = [...]` rules) with state.
    pub entity_keys: usize,
    /// Distinct events retained in windows.
    pub retained_events: usize,
    /// Window entries (an event in two rules' windows is two entries).
    pub window_entries: usize,
    /// Events waiting for the watermark.
    pub pending_events: usize,
    /// Approximate bytes of window state (excluding pending events).
    pub window_bytes: usize,
    /// Approximate bytes of the id tables that detect duplicates.
    pub dedup_bytes: usize,
}

/// A 64-bit hash of an event id (XXH3). The id table stores only this (16 bytes per
/// remembered id); a hit is confirmed against the real ids before an event is
/// dropped, so a hash collision costs a look-up, never an event, except for events
/// entering count-window, absence or entity-keyed slots, where the hash decides
/// alone (`Engine::hash_decides`; a collision there drops the event, at odds of
/// about 2^-64 per pair of ids within a window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct IdHash(u64);

impl IdHash {
    fn of(id: &str) -> IdHash {
        IdHash(xxhash_rust::xxh3::xxh3_64(id.as_bytes()))
    }
}

/// Bit set of the pack's filters an event passes.
type Hits = SmallVec<[u64; 2]>;

#[inline]
fn hit(hits: &Hits, index: usize) -> bool {
    hits.get(index / 64)
        .is_some_and(|w| w & (1 << (index % 64)) != 0)
}

/// An event waiting for the watermark.
struct Pending {
    time: i64,
    arrival: u64,
    /// The caller's tag for where the event came from (e.g. a partition offset).
    source: u64,
    id: IdHash,
    hits: Hits,
    /// Shared, so a snapshot takes it without copying or encoding it on the engine's
    /// thread (and the queue moves small items).
    event: Arc<PowerEvent>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    /// Event time, then arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.time, self.arrival).cmp(&(other.time, other.arrival))
    }
}

/// The evaluation engine for one stream of events (a replay, or one input partition).
pub struct Engine {
    pack: Arc<CompiledPack>,
    config: EngineConfig,
    /// Per-official state. A DashMap so that readers on other threads (the query API,
    /// metrics) can look at one official while this engine writes another.
    officials: Arc<DashMap<CompactString, OfficialState, FxBuildHasher>>,
    /// The watermark, for [`StateView`] readers.
    shared_watermark: Arc<AtomicI64>,
    pending: PendingQueue<Pending>,
    /// Ids of pending events (small: a lateness worth of events).
    pending_ids: FxHashSet<IdHash>,
    /// Ids of released events, with the last instant some window can see them (a
    /// repeat before then is a duplicate) and the event's source tag (so a snapshot
    /// split by source carries each id once).
    released: FxHashMap<IdHash, (i64, u64)>,
    max_seen: i64,
    watermark: i64,
    arrival: u64,
    /// When each slot's keys are next swept for expired state, and the earliest of those.
    slot_sweeps: Vec<i64>,
    next_sweep: i64,
    stats: EngineStats,
    batch: Vec<Pending>,
    /// Per filter, the kinds it requires (None: any kind).
    filter_kinds: Vec<Option<Vec<CompactString>>>,
    /// Per event kind seen, the filters worth evaluating.
    kind_candidates: FxHashMap<CompactString, Hits>,
    /// What changed since the last snapshot (incremental snapshots; None: not tracked).
    changes: Option<Box<changes::Changes>>,
    /// The deadlines of absence rules' waiting `first` events (absence.rs).
    timers: absence::Timers,
    /// Per entity key, the filters of its slots and of its rules' triggers: an
    /// event passing none of them has no owner of that key to find.
    entity_filters: Vec<Hits>,
    /// The owners of the timestamp being released: per event of the batch, its
    /// owner per entity key (`batch index * entity keys + entity key`; None: it has
    /// none, or none is needed). Computed once as the events enter the entities'
    /// windows, read again when their rules are evaluated.
    batch_owners: Vec<Option<CompactString>>,
}

/// Most distinct event kinds whose candidate filters are cached.
const MAX_CACHED_KINDS: usize = 1024;

impl Engine {
    /// A new engine for `pack`.
    pub fn new(pack: Arc<CompiledPack>, config: EngineConfig) -> Engine {
        let slot_count = pack.slots.len();
        let filter_kinds = pack.filters.iter().map(|f| f.required_kinds()).collect();
        let entity_filters = entity_filters(&pack);
        let stats = EngineStats {
            rules: vec![RuleCounts::default(); pack.rules.len()],
            ..EngineStats::default()
        };
        Engine {
            pack,
            config,
            officials: Arc::new(DashMap::with_hasher(FxBuildHasher)),
            shared_watermark: Arc::new(AtomicI64::new(i64::MIN)),
            pending: PendingQueue::default(),
            pending_ids: FxHashSet::default(),
            released: FxHashMap::default(),
            max_seen: i64::MIN,
            watermark: i64::MIN,
            arrival: 0,
            slot_sweeps: vec![i64::MIN; slot_count],
            next_sweep: i64::MIN,
            stats,
            batch: Vec::new(),
            filter_kinds,
            kind_candidates: FxHashMap::default(),
            changes: None,
            timers: absence::Timers::default(),
            entity_filters,
            batch_owners: Vec::new(),
        }
    }

    /// The pack in use.
    pub fn pack(&self) -> &Arc<CompiledPack> {
        &self.pack
    }

    /// A read-only view of the state for other threads (the query API).
    pub fn view(&self) -> StateView {
        StateView {
            officials: Arc::clone(&self.officials),
            pack: Arc::clone(&self.pack),
            watermark: Arc::clone(&self.shared_watermark),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The largest event time admitted so far (`None` before the first event).
    pub fn max_seen(&self) -> Option<Timestamp> {
        (self.max_seen != i64::MIN).then_some(Timestamp(self.max_seen))
    }

    /// The smallest source tag among events still waiting for the watermark.
    pub fn oldest_pending_source(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.source).min()
    }

    /// The current watermark (`None` before the first event).
    pub fn watermark(&self) -> Option<Timestamp> {
        (self.watermark != i64::MIN).then_some(Timestamp(self.watermark))
    }

    /// Admits one event (see [`admission`]); warnings that become final are appended
    /// to `out`.
    pub fn ingest(&mut self, event: PowerEvent, out: &mut Vec<Warning>) -> Admission {
        self.admit(event, Origin::new(0), out)
    }

    /// Like [`Engine::ingest`], with a tag for where the event came from (the live
    /// pipeline passes the input offset). Warnings carry their trigger's tag in
    /// [`Warning::trigger_source`], and [`Engine::oldest_pending_source`] tells which
    /// inputs are still waiting, so a consumer knows which offsets are safe to commit.
    pub fn ingest_from(
        &mut self,
        event: PowerEvent,
        source: u64,
        out: &mut Vec<Warning>,
    ) -> Admission {
        self.admit(event, Origin::new(source), out)
    }

    /// The engine's own part of admission, after the checks of [`Engine::admit`]:
    /// late against the watermark, duplicate, accepted or unmatched.
    fn enter(&mut self, event: PowerEvent, source: u64, out: &mut Vec<Warning>) -> Admission {
        let time = event.occurred_at.0;
        let id = IdHash::of(&event.event_id);
        if time < self.watermark {
            // A late redelivery of an event still in a window is a duplicate.
            let until = self.released.get(&id).map(|(until, _)| *until);
            if until.is_some_and(|u| u >= time) {
                let hits = self.filter_hits(&event);
                if self.hash_decides(&hits) || self.in_windows(&event) {
                    self.stats.duplicates += 1;
                    return Admission::Duplicate;
                }
            }
            self.stats.late += 1;
            return Admission::Refused(self.late_error(&event));
        }
        if self.pending_ids.contains(&id) && self.is_pending(&event) {
            self.stats.duplicates += 1;
            return Admission::Duplicate;
        }
        let hits = self.filter_hits(&event);
        let admission = if hits.iter().all(|w| *w == 0) {
            self.stats.unmatched += 1;
            Admission::Unmatched
        } else {
            self.stats.accepted += 1;
            self.pending_ids.insert(id);
            self.arrival += 1;
            self.pending.push(Pending {
                time,
                arrival: self.arrival,
                source,
                id,
                hits,
                event: Arc::new(event),
            });
            Admission::Accepted
        };
        if time > self.max_seen {
            self.max_seen = time;
            if self.config.watermark == WatermarkMode::External {
                return admission;
            }
            self.advance_watermark(
                Timestamp(time.saturating_sub(self.config.allowed_lateness.0)),
                out,
            );
        }
        admission
    }

    /// Confirms a pending-id hash hit against the pending events' ids.
    #[cold]
    fn is_pending(&self, event: &PowerEvent) -> bool {
        self.pending
            .iter()
            .any(|p| p.event.event_id == event.event_id)
    }

    /// Confirms a released-id hash hit against the window entries of the event's
    /// official and of its entity keys' owners.
    #[cold]
    fn in_windows(&self, event: &PowerEvent) -> bool {
        let stored = |owner: &str| {
            self.officials
                .get(owner)
                .is_some_and(|o| o.entries().any(|e| e.id == event.event_id))
        };
        // (An event that entered an entity's windows is never looked for here: for
        // those the hash decides, `hash_decides`.)
        stored(event.official_id.as_str())
    }

    /// Moves the watermark forward to `to` (never backwards) and evaluates what it
    /// passes. Live pipelines call this on processing time when an input is idle.
    pub fn advance_watermark(&mut self, to: Timestamp, out: &mut Vec<Warning>) {
        if to.0 <= self.watermark {
            return;
        }
        self.watermark = to.0;
        self.release(out);
        self.shared_watermark
            .store(self.watermark, AtomicOrdering::Relaxed);
        if self.watermark >= self.next_sweep && self.watermark != i64::MAX {
            self.sweep();
        }
    }

    /// Evaluates every pending event (end of input).
    pub fn flush(&mut self, out: &mut Vec<Warning>) {
        self.advance_watermark(Timestamp::MAX, out);
    }

    /// The filters `event` passes. Filters that require another `kind` are skipped
    /// without evaluation (the per-kind candidate masks are cached).
    fn filter_hits(&mut self, event: &PowerEvent) -> Hits {
        let words = self.pack.filters.len().div_ceil(64);
        let candidates = match self.kind_candidates.get(event.kind.as_str()) {
            Some(mask) => mask.clone(),
            None => {
                let mut mask = Hits::from_elem(0, words);
                for (i, kinds) in self.filter_kinds.iter().enumerate() {
                    if kinds.as_ref().is_none_or(|k| k.contains(&event.kind)) {
                        mask[i / 64] |= 1 << (i % 64);
                    }
                }
                // The kind set is open; stop caching rather than grow without bound.
                if self.kind_candidates.len() < MAX_CACHED_KINDS {
                    self.kind_candidates
                        .insert(event.kind.clone(), mask.clone());
                }
                mask
            }
        };
        let mut hits = Hits::from_elem(0, words);
        for (w, word) in candidates.iter().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if self.pack.filters[i].matches(event) {
                    hits[w] |= 1 << (i % 64);
                }
            }
        }
        hits
    }

    fn release(&mut self, out: &mut Vec<Warning>) {
        let mut batch = std::mem::take(&mut self.batch);
        let mut duplicate: Vec<bool> = Vec::new();
        while let Some(top) = self.pending.peek() {
            // At the end of input (watermark MAX) everything goes, even an event at
            // the largest representable instant.
            if top.time >= self.watermark && self.watermark != i64::MAX {
                break;
            }
            let time = top.time;
            // Absence deadlines before this instant have seen every event they wait for.
            if self.timers.next_deadline().is_some_and(|d| d < time) {
                self.fire_due(time, out);
            }
            batch.clear();
            while self.pending.peek().is_some_and(|p| p.time == time) {
                let p = self.pending.pop().expect("peeked");
                self.pending_ids.remove(&p.id);
                batch.push(p);
            }
            batch.sort_unstable_by(|a, b| {
                (&a.event.official_id, &a.event.event_id)
                    .cmp(&(&b.event.official_id, &b.event.event_id))
            });
            duplicate.clear();
            for p in &batch {
                let repeat = self.is_repeat(time, p);
                duplicate.push(repeat);
            }
            self.stats.duplicates += duplicate.iter().filter(|d| **d).count() as u64;
            // Entity keys' windows take the whole timestamp's events (of every
            // official) before any rule is evaluated at it.
            let entities = self.pack.entities.len();
            if entities > 0 {
                self.find_owners(&batch, &duplicate);
                for entity in 0..entities as u16 {
                    self.enter_entity(time, entity, &batch, &duplicate);
                }
            }
            let mut start = 0;
            while start < batch.len() {
                let official = &batch[start].event.official_id;
                let end = start
                    + batch[start..]
                        .iter()
                        .take_while(|p| p.event.official_id == *official)
                        .count();
                self.process_group(
                    time,
                    (start, &batch[start..end]),
                    &duplicate[start..end],
                    out,
                );
                start = end;
            }
        }
        batch.clear();
        self.batch = batch;
        // At the end of input, the deadlines the events reached (no later event can
        // answer them); otherwise those the watermark passed.
        let threshold = if self.watermark == i64::MAX {
            self.max_seen.saturating_add(1)
        } else {
            self.watermark
        };
        if self.timers.next_deadline().is_some_and(|d| d < threshold) {
            self.fire_due(threshold, out);
        }
    }

    /// One probe of the released-id table per event: a repeat of an event still in
    /// a window is a duplicate; otherwise it is remembered for as long as the
    /// longest window it can enter can see it.
    fn is_repeat(&mut self, time: i64, p: &Pending) -> bool {
        let pack = &self.pack;
        let until = pack
            .slots
            .iter()
            .filter(|slot| hit(&p.hits, slot.filter))
            .map(|slot| time.saturating_add(slot.span.0))
            .max();
        let repeat = match self.released.entry(p.id) {
            Entry::Occupied(e) if e.get().0 >= time => true,
            Entry::Occupied(mut e) => {
                match until {
                    Some(u) => *e.get_mut() = (u, p.source),
                    None => {
                        e.remove();
                    }
                }
                false
            }
            Entry::Vacant(v) => {
                if let Some(u) = until {
                    v.insert((u, p.source));
                }
                false
            }
        };
        // (A removed id needs no record: one whose until has passed is no repeat.)
        if !repeat && let (Some(u), Some(c)) = (until, self.changes.as_deref_mut()) {
            c.released.push((p.source, p.id, u));
        }
        // Confirm against the stored ids: a hash collision must not drop an event.
        // An event a count window (`last`) has dropped, or an answered or fired
        // absence has taken, is no longer stored but is still a repeat within its
        // span: there the 64-bit id hash decides alone.
        // (Looked at only for a repeat: rare.)
        repeat && (self.hash_decides(&p.hits) || self.in_windows(&p.event))
    }

    /// Whether a released-id hash hit is a repeat by the hash alone: the event
    /// enters a slot that may no longer store it (a count window, an absence slot)
    /// or whose owner its own fields name (an entity key: a repeat with other
    /// values would be looked for under another owner).
    fn hash_decides(&self, hits: &Hits) -> bool {
        self.pack.slots.iter().any(|slot| {
            (slot.last.is_some() || slot.absence.is_some() || slot.entity.is_some())
                && hit(hits, slot.filter)
        })
    }

    /// The owner of each of the batch's events per entity key (`batch_owners`), for
    /// the events that enter the key's windows or trigger its rules.
    fn find_owners(&mut self, batch: &[Pending], duplicate: &[bool]) {
        let Engine {
            pack,
            entity_filters,
            batch_owners,
            ..
        } = self;
        batch_owners.clear();
        for (p, duplicate) in batch.iter().zip(duplicate) {
            for (key, filters) in pack.entities.iter().zip(entity_filters.iter()) {
                let wanted = !duplicate && p.hits.iter().zip(filters).any(|(h, f)| h & f != 0);
                batch_owners.push(
                    wanted
                        .then(|| owner_key(pack, key, &p.event, p.source))
                        .flatten(),
                );
            }
        }
    }

    /// Enters the timestamp's events into the windows of entity key `entity`: per
    /// owner (the entity's values, `batch_owners`), in the batch's order.
    fn enter_entity(&mut self, time: i64, entity: u16, batch: &[Pending], duplicate: &[bool]) {
        // (Fields borrowed apart: no reference count touched per timestamp.)
        let Engine {
            pack,
            officials,
            changes,
            timers,
            batch_owners,
            ..
        } = self;
        let entities = pack.entities.len();
        let mut owned: SmallVec<[(&CompactString, usize); 4]> = SmallVec::new();
        let slots = &pack.owner_slots[1 + entity as usize];
        for (i, p) in batch.iter().enumerate() {
            if duplicate[i]
                || !slots
                    .iter()
                    .any(|&s| hit(&p.hits, pack.slots[s as usize].filter))
            {
                continue;
            }
            if let Some(Some(owner)) = batch_owners.get(i * entities + entity as usize) {
                owned.push((owner, i));
            }
        }
        owned.sort_by(|a, b| a.0.cmp(b.0));
        for (owner, i) in owned {
            let p = &batch[i];
            // A bucket keeps the source tag of the event that created it, so it
            // stays in one partition's snapshots whichever partitions' events change
            // it (`owner_key`).
            let mut entry = officials
                .entry(owner.clone())
                .or_insert_with(|| OfficialState {
                    last_source: p.source,
                    ..OfficialState::default()
                });
            let (owner, state) = entry.pair_mut();
            if let Some(c) = changes.as_deref_mut() {
                c.touch(owner, state.last_source);
            }
            enter_slots(pack, (owner, state), timers, time, p, Some(entity));
        }
    }

    /// Events of one official at one timestamp (`group`, from index `first` of the
    /// batch): all enter the windows, then each is evaluated.
    fn process_group(
        &mut self,
        time: i64,
        (first, group): (usize, &[Pending]),
        duplicate: &[bool],
        out: &mut Vec<Warning>,
    ) {
        // (Fields borrowed apart: no reference count touched per group.)
        let Engine {
            pack,
            officials,
            changes,
            timers,
            stats,
            config,
            batch_owners,
            ..
        } = self;
        let official_id = &group[0].event.official_id;
        let mut official = officials.entry(official_id.clone()).or_default();
        let source = group[group.len() - 1].source;
        if let Some(c) = changes.as_deref_mut() {
            c.touch(official_id, official.marked_source().unwrap_or(source));
        }
        official.last_source = source;
        let latest = &group[group.len() - 1].event;
        if (latest.region.is_some() || latest.org_unit.is_some())
            && official
                .scope
                .as_deref()
                .is_none_or(|s| s.region != latest.region || s.org_unit != latest.org_unit)
        {
            official.scope = Some(Box::new(crate::warning::Scope::of(latest)));
        }
        for (p, _) in group.iter().zip(duplicate).filter(|(_, d)| !**d) {
            enter_slots(pack, (official_id, &mut official), timers, time, p, None);
        }
        // The official's state is held between its rules; an entity-keyed rule
        // releases it to take its owner's (one map: two guards could share a shard).
        let mut held = Some(official);
        let entities = pack.entities.len();
        for (i, (p, _)) in group
            .iter()
            .zip(duplicate)
            .enumerate()
            .filter(|(_, (_, d))| !**d)
        {
            for (index, rule) in pack.rules.iter().enumerate() {
                if !hit(&p.hits, rule.trigger) {
                    continue;
                }
                let trigger = Trigger {
                    rule_index: index,
                    rule,
                    event: &p.event,
                    hits: &p.hits,
                    source: p.source,
                };
                let clock = config.clock;
                match rule.entity {
                    None => {
                        let state = held.get_or_insert_with(|| {
                            officials.entry(official_id.clone()).or_default()
                        });
                        evaluate(pack, stats, clock, trigger, state, out);
                    }
                    Some(entity) => {
                        held = None;
                        // (Found by `find_owners`: the rule's trigger is among the
                        // key's filters.)
                        let at = (first + i) * entities + entity as usize;
                        let Some(Some(owner)) = batch_owners.get(at) else {
                            continue;
                        };
                        if let Some(mut state) = officials.get_mut(owner) {
                            evaluate(pack, stats, clock, trigger, &mut state, out);
                        }
                    }
                }
            }
        }
    }
}

/// Per entity key, the filters an event must pass one of to need its owner: those
/// of the key's slots and of its rules' triggers.
fn entity_filters(pack: &CompiledPack) -> Vec<Hits> {
    let words = pack.filters.len().div_ceil(64);
    let mut masks = vec![Hits::from_elem(0, words); pack.entities.len()];
    let mut set = |entity: usize, filter: usize| masks[entity][filter / 64] |= 1 << (filter % 64);
    for (entity, slots) in pack.owner_slots.iter().skip(1).enumerate() {
        for &slot in slots {
            set(entity, pack.slots[slot as usize].filter);
        }
    }
    for rule in &pack.rules {
        if let Some(entity) = rule.entity {
            set(entity as usize, rule.trigger);
        }
    }
    masks
}

/// Enters event `p` into the windows of `state` that `entity` owns (None: the
/// official's), and keeps its evidence copy once, in the class of the longest-span
/// slot it enters (`copies`).
fn enter_slots(
    pack: &CompiledPack,
    (owner, state): (&CompactString, &mut OfficialState),
    timers: &mut absence::Timers,
    time: i64,
    p: &Pending,
    entity: Option<u16>,
) {
    let mut class: Option<(u32, Duration)> = None;
    let owner_slots = &pack.owner_slots[entity.map_or(0, |k| 1 + k as usize)];
    for &index in owner_slots {
        let index = index as usize;
        let slot = &pack.slots[index];
        if !hit(&p.hits, slot.filter) {
            continue;
        }
        let Some(input) = slot_input(&p.event, slot) else {
            continue;
        };
        if class.is_none_or(|(_, span)| slot.span > span) {
            class = Some((index as u32, slot.span));
        }
        if slot.absence.is_some() {
            timers.register(owner, index as u32, slot.span.0, input.key.clone(), p);
        }
        let cell = state.cell_mut(index as u32, pack.slot_keyed(index));
        let window = match cell {
            SlotCell::Single(s) => s,
            SlotCell::Keyed(states) => states.get_or_default(input.key),
        };
        window.evict_before(time.saturating_sub(slot.span.0));
        let entry = WindowEntry {
            time,
            value: input.value.unwrap_or(0),
            id: p.event.event_id.clone(),
        };
        window.push(entry, input.distinct, slot.min_max);
        if let Some(n) = slot.last {
            window.keep_last(n);
        }
    }
    if let (Some((slot, span)), Some(keep)) = (class, &pack.copy_attributes) {
        state
            .copies
            .get_or_insert_with(Default::default)
            .push_event(
                slot,
                time.saturating_sub(span.0),
                &p.event,
                keep,
                entity.is_some(),
            );
    }
}

impl Engine {
    /// Drops state that no future event can see: events older than
    /// `watermark - span`, empty keys, expired cooldowns, officials with nothing left.
    ///
    /// Each slot is swept once per its own span (at least [`MIN_SWEEP_INTERVAL`]), so
    /// the cost per key created is O(1) however long the window, and the walk over all
    /// officials stays rare. Between sweeps, an active key evicts on every push anyway;
    /// only quiet keys wait for the sweep, holding at most one span of events.
    fn sweep(&mut self) {
        let pack = Arc::clone(&self.pack);
        let wm = self.watermark;
        let due: Vec<bool> = self.slot_sweeps.iter().map(|next| wm >= *next).collect();
        for (slot, next) in pack.slots.iter().zip(self.slot_sweeps.iter_mut()) {
            if wm >= *next {
                *next = wm.saturating_add(slot.span.0.max(MIN_SWEEP_INTERVAL.0));
            }
        }
        self.next_sweep = self.slot_sweeps.iter().copied().min().unwrap_or(i64::MAX);
        self.released.retain(|_, (until, _)| *until >= wm);
        if self.released.len() < self.released.capacity() / 4 {
            self.released.shrink_to_fit();
        }
        let mut changes = self.changes.as_deref_mut();
        self.officials.retain(|id, official| {
            // Whether anything went: then a delta must carry this official (its
            // entries are counted out from the snapshot before).
            let mut swept = false;
            // Keys swept out while changes are tracked (sparse patches list them).
            let mut gone: Vec<(u32, crate::state::GroupKey)> = Vec::new();
            let tracked = changes.is_some();
            official.retain_cells(|index, cell| {
                if !due[index as usize] {
                    return true;
                }
                let bound = wm.saturating_sub(pack.slots[index as usize].span.0);
                let keep = match cell {
                    SlotCell::Single(s) => {
                        swept |= s.evict_before(bound);
                        s.shrink();
                        !s.entries.is_empty()
                    }
                    SlotCell::Keyed(states) => {
                        states.retain(|key, s| {
                            swept |= s.evict_before(bound);
                            s.shrink();
                            let keep = !s.entries.is_empty();
                            // (A key an absence timer emptied goes here too.)
                            swept |= !keep;
                            if !keep && tracked {
                                gone.push((index, key.clone()));
                            }
                            keep
                        });
                        !states.is_empty()
                    }
                };
                swept |= !keep;
                keep
            });
            if !gone.is_empty()
                && let Some(c) = changes.as_deref_mut()
            {
                c.gone_keys.entry(id.clone()).or_default().extend(gone);
            }
            if let Some(copies) = official.copies.as_deref_mut() {
                for q in copies.queues.iter_mut().filter(|q| due[q.slot as usize]) {
                    let bound = wm.saturating_sub(pack.slots[q.slot as usize].span.0);
                    swept |= q.evict_before(bound);
                    q.shrink();
                }
                if !copies.retain_nonempty() {
                    official.copies = None;
                }
            }
            let cooldowns = official.fired.len();
            official.fired.retain(|f| {
                let rule = &pack.rules[f.rule as usize];
                let cooldown = rule.cooldown.unwrap_or_default();
                // An absence warning fires a window after its time, and so can the
                // next one its cooldown holds back.
                let late = match rule.logic {
                    crate::rules::RuleLogic::Absence { .. } => rule.window.0,
                    _ => 0,
                };
                wm.saturating_sub(f.time) < cooldown.0.saturating_add(late)
            });
            swept |= official.fired.len() != cooldowns;
            let keep = !official.is_empty();
            if (swept || !keep)
                && let Some(c) = changes.as_deref_mut()
            {
                c.touch(id, official.last_source);
            }
            keep
        });
    }

    /// Events admitted and waiting for the watermark (constant time).
    pub fn pending_events(&self) -> usize {
        self.pending.len()
    }

    /// What the engine holds now. Walks all state: call it for reports, not per event.
    pub fn state_stats(&self) -> StateStats {
        let id_table = |capacity: usize, entry: usize| capacity * (entry + 1);
        let mut stats = StateStats {
            pending_events: self.pending.len(),
            dedup_bytes: id_table(
                self.released.capacity(),
                std::mem::size_of::<(IdHash, (i64, u64))>(),
            ) + id_table(self.pending_ids.capacity(), std::mem::size_of::<IdHash>()),
            window_bytes: self.timers.bytes(),
            ..StateStats::default()
        };
        let mut distinct: FxHashSet<IdHash> = FxHashSet::default();
        for entry in self.officials.iter() {
            if is_entity_owner(entry.key()) {
                stats.entity_keys += match entity_of_owner(&self.pack, entry.key()) {
                    Some((e, None)) => entry
                        .value()
                        .key_prefixes(self.pack.entities[e as usize].fields.len()),
                    _ => 1,
                };
            } else {
                stats.officials += 1;
            }
            for e in entry.value().entries() {
                stats.window_entries += 1;
                // An event can be in an official's and an entity's windows: count it
                // once (by id hash; events of different officials have distinct ids).
                distinct.insert(IdHash::of(&e.id));
            }
            stats.window_bytes += entry.value().bytes(entry.key());
        }
        stats.retained_events = distinct.len();
        stats
    }
}
