//! Per-official window state.
//!
//! Each official keeps, per window slot and key, a [`SlotState`]: a deque of
//! `(time, value, event id)` entries (40 bytes; ids up to 24 bytes are stored inline)
//! plus
//! running aggregates (sum, monotonic min/max deques, distinct-value counts). Entries
//! enter in event-time order, because the engine releases events in that order, so
//! sliding a window is popping from the front: O(1) amortised per event. Each slot
//! keeps its entries for its own span only, so a ten-year contract rule does not make
//! a one-day payment rule's events live ten years.

use std::collections::VecDeque;
use std::mem::size_of;

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use smallvec::SmallVec;
use thin_vec::ThinVec;

use crate::fifo::Fifo;
use crate::keyed::KeyedStates;
use crate::rules::measure::Level;

/// Values of a slot's group-by fields, packed into one string: each part is
/// prefixed by its length (one char below 127, else `\u{7f}` + decimal + `;`).
/// A two-part key such as a payee and an invoice number usually fits the 24 bytes a
/// `CompactString` keeps inline, so keys cost no allocation and hash as one string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GroupKey(CompactString);

impl GroupKey {
    /// Appends one part.
    pub fn push(&mut self, part: &str) {
        use std::fmt::Write;
        match u8::try_from(part.len()) {
            Ok(n) if n < 0x7f => self.0.push(char::from(n)),
            _ => {
                let _ = write!(self.0, "\u{7f}{};", part.len());
            }
        }
        self.0.push_str(part);
    }

    /// The packed form (snapshots store it as is).
    pub(crate) fn raw(&self) -> &str {
        &self.0
    }

    /// From the packed form of [`GroupKey::raw`].
    pub(crate) fn from_raw(raw: &str) -> GroupKey {
        GroupKey(raw.into())
    }

    /// The parts, in order.
    pub fn parts(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.0.as_str();
        std::iter::from_fn(move || {
            let first = rest.bytes().next()?;
            let len = if first < 0x7f {
                rest = &rest[1..];
                usize::from(first)
            } else {
                let end = rest.find(';')?;
                let len = rest[1..end].parse().ok()?;
                rest = &rest[end + 1..];
                len
            };
            let (part, tail) = rest.split_at(len);
            rest = tail;
            Some(part)
        })
    }

    /// The packed form of the first `parts` parts (all of them if there are fewer).
    pub(crate) fn prefix(&self, parts: usize) -> &str {
        let mut rest = self.0.as_str();
        for _ in 0..parts {
            let Some(first) = rest.bytes().next() else {
                break;
            };
            let (skip, len) = if first < 0x7f {
                (1, usize::from(first))
            } else {
                match rest.find(';') {
                    Some(end) => (end + 1, rest[1..end].parse().unwrap_or(rest.len())),
                    None => return self.0.as_str(),
                }
            };
            rest = rest.get(skip + len..).unwrap_or("");
        }
        &self.0[..self.0.len() - rest.len()]
    }

    fn heap_bytes(&self) -> usize {
        heap_of(&self.0)
    }
}

/// A sum of i64 values that cannot overflow: i128 arithmetic, stored as two 8-byte
/// halves so that window states keep 8-byte alignment (an `i128` field would pad
/// every state to 16).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WideSum {
    lo: u64,
    hi: i64,
}

impl WideSum {
    pub fn get(self) -> i128 {
        (i128::from(self.hi) << 64) | i128::from(self.lo)
    }

    fn set(&mut self, value: i128) {
        self.lo = value as u64;
        self.hi = (value >> 64) as i64;
    }

    #[inline]
    pub fn add(&mut self, value: i64) {
        self.set(self.get() + i128::from(value));
    }

    #[inline]
    pub fn sub(&mut self, value: i64) {
        self.set(self.get() - i128::from(value));
    }
}

/// One event in one slot: when, its value (0 when the slot sums nothing) and its id
/// for evidence. 40 bytes; ids up to 24 bytes need no allocation. (The event's
/// evidence copy is kept once per official, in [`crate::copies::Copies`].)
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    pub time: i64,
    pub value: i64,
    pub id: CompactString,
}

/// Min/max and distinct-count bookkeeping (only for slots that need them).
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// Min/max deques (slots measuring min, max or spread).
    pub min_max: Option<Box<MinMax>>,
    /// Distinct values parallel to `entries` (one inline: a window of one invoice
    /// holds one), and, once there are more than [`FEW_DISTINCT`] of them, their
    /// multiplicities (fewer are counted by scanning: a map would cost about 130
    /// bytes a window).
    pub distinct_values: Fifo<CompactString>,
    pub distinct: Option<FxHashMap<CompactString, u32>>,
}

/// Monotonic deques for a window's min and max.
#[derive(Debug, Default)]
pub(crate) struct MinMax {
    /// Entries pushed and evicted so far: an entry's ordinal identifies it below.
    pub pushed: u64,
    pub evicted: u64,
    /// Monotonic deques of `(ordinal, value)` for min and max.
    pub min: VecDeque<(u64, i64)>,
    pub max: VecDeque<(u64, i64)>,
}

impl MinMax {
    fn push(&mut self, value: i64) {
        let ordinal = self.pushed;
        self.pushed += 1;
        while self.min.back().is_some_and(|&(_, m)| m >= value) {
            self.min.pop_back();
        }
        self.min.push_back((ordinal, value));
        while self.max.back().is_some_and(|&(_, m)| m <= value) {
            self.max.pop_back();
        }
        self.max.push_back((ordinal, value));
    }

    fn pop(&mut self) {
        let ordinal = self.evicted;
        self.evicted += 1;
        if self.min.front().is_some_and(|&(o, _)| o == ordinal) {
            self.min.pop_front();
        }
        if self.max.front().is_some_and(|&(o, _)| o == ordinal) {
            self.max.pop_front();
        }
    }
}

/// Distinct values counted by scanning, without a map of multiplicities.
pub(crate) const FEW_DISTINCT: usize = 8;

impl Extras {
    /// The window's smallest value (slots with min/max).
    pub fn min(&self) -> Option<i64> {
        self.min_max.as_ref()?.min.front().map(|m| m.1)
    }

    /// The window's largest value (slots with min/max).
    pub fn max(&self) -> Option<i64> {
        self.min_max.as_ref()?.max.front().map(|m| m.1)
    }

    /// How many distinct values the window holds.
    pub fn distinct_count(&self) -> usize {
        match &self.distinct {
            Some(map) => map.len(),
            None => {
                let v = self.distinct_values.as_slice();
                (0..v.len()).filter(|&i| !v[..i].contains(&v[i])).count()
            }
        }
    }

    fn push_distinct(&mut self, value: CompactString) {
        match &mut self.distinct {
            Some(map) => *map.entry(value.clone()).or_insert(0) += 1,
            None if self.distinct_values.len() >= FEW_DISTINCT => {
                let mut map: FxHashMap<CompactString, u32> = FxHashMap::default();
                for v in self.distinct_values.as_slice().iter().chain([&value]) {
                    *map.entry(v.clone()).or_insert(0) += 1;
                }
                self.distinct = Some(map);
            }
            None => {}
        }
        self.distinct_values.push_back(value);
    }

    fn pop_distinct(&mut self) {
        let Some(d) = self.distinct_values.pop_front() else {
            return;
        };
        if let Some(map) = &mut self.distinct {
            if let Some(n) = map.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&d);
                }
            }
            if self.distinct_values.len() <= FEW_DISTINCT / 2 {
                self.distinct = None;
            }
        }
    }
}

/// The events of one slot and key currently inside the slot's span.
#[derive(Debug, Default)]
pub(crate) struct SlotState {
    pub entries: Fifo<Entry>,
    /// Sum of the entries' values.
    pub sum: WideSum,
    pub extras: Option<Box<Extras>>,
    /// Entries appended and evicted since the last snapshot mark (incremental
    /// snapshots write only the appended ones and the count evicted; saturating).
    pub appended: u32,
    pub evicted: u32,
}

impl SlotState {
    /// Appends an event (times must be non-decreasing).
    pub fn push(&mut self, entry: Entry, distinct: Option<CompactString>, min_max: bool) {
        self.appended = self.appended.saturating_add(1);
        self.sum.add(entry.value);
        let value = entry.value;
        self.entries.push_back(entry);
        if !min_max && distinct.is_none() {
            return;
        }
        let x = self.extras.get_or_insert_with(Default::default);
        if min_max {
            x.min_max.get_or_insert_with(Default::default).push(value);
        }
        if let Some(d) = distinct {
            x.push_distinct(d);
        }
    }

    /// Drops entries older than `bound` (strictly): the window `[bound, t]` stays.
    /// Returns whether it dropped any.
    #[inline]
    pub fn evict_before(&mut self, bound: i64) -> bool {
        let mut any = false;
        while self.entries.front().is_some_and(|front| front.time < bound) {
            any = true;
            self.evict_front();
        }
        any
    }

    /// Drops the oldest entries beyond the last `n` (a count window).
    #[inline]
    pub fn keep_last(&mut self, n: u32) {
        while self.entries.len() > n as usize {
            self.evict_front();
        }
    }

    /// An absence slot's follow-up at `time`: drops every entry (all are at most
    /// that old) but the one of event `keep` at `time`, if there is one, which is
    /// appended again (it is the newest). Front evictions and an append, so
    /// incremental snapshots carry it like any other change.
    pub fn answer_all_but(&mut self, keep: &str, time: i64) {
        let mut kept = None;
        while let Some(front) = self.entries.front() {
            if front.time == time && front.id == keep {
                kept = Some(front.clone());
            }
            self.evict_front();
        }
        if let Some(entry) = kept {
            self.push(entry, None, false);
        }
    }

    /// The front entry, if it is event `id` at `time`: dropped (an absence timer
    /// firing; a timer whose entry is gone was answered).
    pub fn take_front(&mut self, id: &str, time: i64) -> bool {
        let due = self
            .entries
            .front()
            .is_some_and(|front| front.time == time && front.id == id);
        if due {
            self.evict_front();
        }
        due
    }

    /// Drops the oldest entry, if any, with its share of the running aggregates.
    fn evict_front(&mut self) {
        if let Some(front) = self.entries.front() {
            self.evicted = self.evicted.saturating_add(1);
            self.sum.sub(front.value);
            self.entries.pop_front();
            if let Some(x) = self.extras.as_deref_mut() {
                if let Some(m) = x.min_max.as_deref_mut() {
                    m.pop();
                }
                x.pop_distinct();
            }
        }
    }

    /// Gives back memory after a burst has left the window.
    pub fn shrink(&mut self) {
        self.entries.shrink();
        if let Some(x) = self.extras.as_deref_mut() {
            x.distinct_values.shrink();
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let spilled = if self.entries.spilled() {
            self.entries.capacity() * size_of::<Entry>()
        } else {
            0
        };
        let mut bytes = spilled
            + self
                .entries
                .as_slice()
                .iter()
                .map(|e| heap_of(&e.id))
                .sum::<usize>();
        if let Some(x) = &self.extras {
            bytes += size_of::<Extras>()
                + x.min_max.as_ref().map_or(0, |m| {
                    size_of::<MinMax>()
                        + (m.min.capacity() + m.max.capacity()) * size_of::<(u64, i64)>()
                })
                + if x.distinct_values.spilled() {
                    x.distinct_values.capacity() * size_of::<CompactString>()
                } else {
                    0
                }
                + x.distinct_values
                    .as_slice()
                    .iter()
                    .map(heap_of)
                    .sum::<usize>()
                + x.distinct.as_ref().map_or(0, |m| {
                    m.capacity() * (size_of::<(CompactString, u32)>() + 1)
                });
        }
        bytes
    }
}

/// A slot's states for one official: one state, or one per group key.
#[derive(Debug)]
pub(crate) enum SlotCell {
    Single(SlotState),
    Keyed(KeyedStates),
}

impl SlotCell {
    pub fn get_mut(&mut self, key: &GroupKey) -> Option<&mut SlotState> {
        match self {
            SlotCell::Single(s) => Some(s),
            SlotCell::Keyed(states) => states.get_mut(key),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            SlotCell::Single(s) => s.heap_bytes(),
            SlotCell::Keyed(states) => {
                states.table_bytes()
                    + states
                        .states()
                        .map(|(k, s)| s.heap_bytes() + k.heap_bytes())
                        .sum::<usize>()
            }
        }
    }
}

/// The last warning of a rule and key, for cooldowns.
#[derive(Debug)]
pub(crate) struct LastFired {
    pub rule: u32,
    pub key: GroupKey,
    pub time: i64,
    pub level: Level,
}

/// Everything held for one official.
#[derive(Debug, Default)]
pub(crate) struct OfficialState {
    /// The slot index of each cell, parallel to `cells`. Kept inline so finding a
    /// cell reads memory the map entry already brought into cache.
    pub slot_ids: SmallVec<[u32; 4]>,
    /// Slot cells; absent until the official has an event in the slot.
    pub cells: Vec<SlotCell>,
    /// Last warnings of rules with a cooldown (a `ThinVec`: 8 bytes while empty,
    /// as it is for most officials and every entity owner without a cooldown rule).
    pub fired: ThinVec<LastFired>,
    /// Region and org_unit of the latest event that had them (for scoped reads).
    pub scope: Option<Box<crate::warning::Scope>>,
    /// The caller's source tag of the latest event applied (the live pipeline: its
    /// partition), so a snapshot can be split by where officials' events come from.
    pub last_source: u64,
    /// `last_source` at the last snapshot mark plus one, which the entry counts of
    /// its slot states start from (0: not marked since it was created; 8 bytes where
    /// an `Option<u64>` takes 16, in every official's and owner's state). Read with
    /// [`OfficialState::marked_source`].
    pub(crate) marked: u64,
    /// Evidence copies of the retained events (packs with `evidence_copies`).
    pub copies: Option<Box<crate::copies::Copies>>,
}

impl OfficialState {
    /// The cell of `slot`, creating it.
    #[inline]
    pub fn cell_mut(&mut self, slot: u32, keyed: bool) -> &mut SlotCell {
        let i = match self.slot_ids.iter().position(|s| *s == slot) {
            Some(i) => i,
            None => {
                // Officials touch few slots: grow one at a time, not by doubling.
                self.cells.reserve_exact(1);
                self.cells.push(if keyed {
                    SlotCell::Keyed(KeyedStates::default())
                } else {
                    SlotCell::Single(SlotState::default())
                });
                self.slot_ids.push(slot);
                self.cells.len() - 1
            }
        };
        &mut self.cells[i]
    }

    /// The cell of `slot`, if any.
    #[inline]
    pub fn cell_mut_existing(&mut self, slot: u32) -> Option<&mut SlotCell> {
        let i = self.slot_ids.iter().position(|s| *s == slot)?;
        Some(&mut self.cells[i])
    }

    /// Keeps the cells for which `keep(slot, cell)` returns true.
    pub fn retain_cells(&mut self, mut keep: impl FnMut(u32, &mut SlotCell) -> bool) {
        let mut i = 0;
        while i < self.cells.len() {
            if keep(self.slot_ids[i], &mut self.cells[i]) {
                i += 1;
            } else {
                self.cells.swap_remove(i);
                self.slot_ids.swap_remove(i);
            }
        }
    }

    /// `last_source` at the last snapshot mark (None: not marked since it was
    /// created).
    pub fn marked_source(&self) -> Option<u64> {
        self.marked.checked_sub(1)
    }

    /// Whether nothing is held any more.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.fired.is_empty() && self.copies.is_none()
    }

    /// Starts counting appended and evicted entries afresh (a snapshot holds them).
    pub fn reset_marks(&mut self) {
        // A tag of u64::MAX reads as unmarked: its next snapshot writes it whole.
        self.marked = self.last_source.wrapping_add(1);
        if let Some(c) = &mut self.copies {
            c.reset_marks();
        }
        for cell in &mut self.cells {
            match cell {
                SlotCell::Single(s) => (s.appended, s.evicted) = (0, 0),
                SlotCell::Keyed(states) => {
                    for s in states.states_mut() {
                        (s.appended, s.evicted) = (0, 0);
                    }
                }
            }
        }
    }

    /// How many distinct values of their first `parts` parts the keys of the keyed
    /// cells have (an entity bucket: how many entities it holds).
    pub fn key_prefixes(&self, parts: usize) -> usize {
        let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
        for cell in &self.cells {
            if let SlotCell::Keyed(states) = cell {
                seen.extend(states.states().map(|(k, _)| k.prefix(parts)));
            }
        }
        seen.len()
    }

    /// Every entry in every slot (an event in two slots counts twice).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.cells
            .iter()
            .flat_map(|cell| -> Box<dyn Iterator<Item = &Entry>> {
                match cell {
                    SlotCell::Single(s) => Box::new(s.entries.as_slice().iter()),
                    SlotCell::Keyed(states) => Box::new(
                        states
                            .states()
                            .flat_map(|(_, s)| s.entries.as_slice().iter()),
                    ),
                }
            })
    }

    /// Approximate bytes held, including the official's own map entry.
    pub fn bytes(&self, official_id: &CompactString) -> usize {
        size_of::<(CompactString, OfficialState)>()
            + heap_of(official_id)
            + if self.slot_ids.spilled() {
                self.slot_ids.capacity() * size_of::<u32>()
            } else {
                0
            }
            + self.cells.capacity() * size_of::<SlotCell>()
            + self.cells.iter().map(SlotCell::heap_bytes).sum::<usize>()
            + if self.fired.capacity() > 0 {
                // The allocation's header: length and capacity.
                2 * size_of::<usize>() + self.fired.capacity() * size_of::<LastFired>()
            } else {
                0
            }
            + self.scope.as_ref().map_or(0, |s| {
                size_of::<crate::warning::Scope>()
                    + s.region.as_ref().map_or(0, heap_of)
                    + s.org_unit.as_ref().map_or(0, heap_of)
            })
            + self
                .copies
                .as_ref()
                .map_or(0, |c| size_of::<crate::copies::Copies>() + c.heap_bytes())
    }
}

/// Heap bytes of a string (zero when stored inline).
fn heap_of(s: &CompactString) -> usize {
    if s.is_heap_allocated() {
        s.capacity()
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_official_state_is_88_bytes() {
        // Every official and every entity owner (one per invoice, contract, ...)
        // has one: BENCHMARKS.md §11.
        assert_eq!(size_of::<OfficialState>(), 88);
        assert_eq!(size_of::<crate::copies::Copies>(), 64);
    }

    #[test]
    fn an_entry_is_40_bytes() {
        assert_eq!(size_of::<Entry>(), 40);
    }

    #[test]
    fn running_aggregates_follow_the_window() {
        let mut s = SlotState::default();
        let values = [5, 3, 8, 3, 1];
        for (i, v) in values.iter().enumerate() {
            let d: CompactString = format!("c{}", v % 2).into();
            let entry = Entry {
                time: i as i64 * 10,
                value: *v,
                id: format!("e{i}").into(),
            };
            s.push(entry, Some(d), true);
        }
        let x = s.extras.as_ref().unwrap();
        assert_eq!(
            (s.sum.get(), x.min().unwrap(), x.max().unwrap()),
            (20, 1, 8)
        );
        assert_eq!(x.distinct_count(), 1 + 1);
        s.evict_before(25); // keeps times 30 and 40 (values 3, 1)
        let x = s.extras.as_ref().unwrap();
        assert_eq!(s.entries.len(), 2);
        assert_eq!((s.sum.get(), x.min().unwrap(), x.max().unwrap()), (4, 1, 3));
        assert_eq!(x.distinct_count(), 1);
        s.evict_before(40); // keeps time 40 exactly (inclusive bound)
        assert_eq!(s.entries.len(), 1);
        s.evict_before(41);
        assert!(s.entries.is_empty());
        assert_eq!(s.sum.get(), 0);
        assert_eq!(s.extras.as_ref().unwrap().distinct_count(), 0);
    }

    #[test]
    fn distinct_values_are_counted_by_scanning_until_there_are_many() {
        let mut s = SlotState::default();
        let value = |i: i64| -> CompactString { format!("o{}", (i * 7) % 11 % 6).into() };
        let brute = |from: i64, to: i64| {
            (from..to)
                .map(value)
                .collect::<std::collections::HashSet<_>>()
                .len()
        };
        let mut maps = 0;
        for t in 0..40 {
            let entry = Entry {
                time: t,
                value: 0,
                id: format!("e{t}").into(),
            };
            s.push(entry, Some(value(t)), false);
            // A window of 12 while t < 25, then of 3.
            let span = if t < 25 { 12 } else { 3 };
            s.evict_before(t - span + 1);
            let from = (t - span + 1).max(0);
            let x = s.extras.as_ref().unwrap();
            assert_eq!(x.distinct_count(), brute(from, t + 1), "at {t}");
            assert_eq!(
                x.distinct.is_some(),
                x.distinct_values.len() > FEW_DISTINCT / 2 && t >= 8
            );
            maps += usize::from(x.distinct.is_some());
        }
        assert!(maps > 10, "the map was used: {maps}");
        let mut one = SlotState::default();
        one.push(Entry::default(), Some("o1".into()), false);
        assert!(!one.extras.as_ref().unwrap().distinct_values.spilled());
        assert_eq!(size_of::<Extras>(), 80);
    }
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn group_keys_round_trip_and_stay_inline() {
        let long = "x".repeat(300);
        for parts in [
            vec![],
            vec![""],
            vec!["SUP-0123", "INV-000012345"],
            vec!["a;b", long.as_str(), "\u{7f}1;"],
        ] {
            let mut key = GroupKey::default();
            for p in &parts {
                key.push(p);
            }
            assert_eq!(key.parts().collect::<Vec<_>>(), parts);
        }
        let mut key = GroupKey::default();
        key.push("SUP-0123");
        key.push("INV-000012345");
        assert_eq!(key.heap_bytes(), 0, "two typical parts fit inline");
        let mut first = GroupKey::default();
        first.push("SUP-0123");
        assert_eq!(key.prefix(1), first.raw());
        assert_eq!(key.prefix(2), key.raw());
        assert_eq!(key.prefix(5), key.raw());
        assert_eq!(key.prefix(0), "");
        let mut long_first = GroupKey::default();
        long_first.push(&long);
        let mut both = long_first.clone();
        both.push("b");
        assert_eq!(both.prefix(1), long_first.raw());
        // Different splits of the same characters are different keys.
        let (mut a, mut b) = (GroupKey::default(), GroupKey::default());
        a.push("ab");
        a.push("c");
        b.push("a");
        b.push("bc");
        assert_ne!(a, b);
    }

    #[test]
    fn wide_sums_do_not_overflow() {
        let mut s = WideSum::default();
        s.add(i64::MAX);
        s.add(i64::MAX);
        assert_eq!(s.get(), 2 * i128::from(i64::MAX));
        s.sub(i64::MAX);
        s.add(i64::MIN);
        assert_eq!(s.get(), -1);
    }
}
