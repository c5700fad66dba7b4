//! Change tracking for incremental snapshots.
//!
//! With tracking on ([`Engine::mark_changes`]), the engine remembers which officials'
//! state changed (an event applied, entries or cooldowns swept, the official swept
//! away) and which released ids were added or extended since the last mark. Each
//! slot state also counts the entries appended to it and evicted from it since the
//! mark. [`Engine::delta`] writes only what changed: for each changed official a
//! patch (per key: how many of the earlier entries are gone, and the entries
//! appended), the officials gone, the new released ids, every pending event and the
//! clocks. (Pending events are few while the partitions keep pace with each other;
//! a backlog read unevenly can leave millions behind the watermark, BENCHMARKS.md
//! §6.) A delta of a backlog that
//! touches every official is therefore about as large as the events of the
//! interval, not as the whole state. [`Snapshot::apply`] lays a delta over the
//! snapshot it follows. A full snapshot plus its chain of deltas equals a full
//! snapshot taken at the last delta, and an engine restored from it produces
//! exactly the warnings of an engine that was never stopped (tests).
//!
//! An official whose events move to another selection (an official on two
//! partitions) is written whole into the new one and removed from the old one.

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::snapshot::{OfficialSnapshot, RestoreError, Snapshot};
use super::{Engine, IdHash};
use crate::state::GroupKey;

/// What changed since the last mark.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Officials whose state changed, with the source tag first noted since the
    /// mark (for one still present, its state's own tag decides; for one gone or
    /// created anew since the mark, this one says which selection may hold it from
    /// before; callers note the marked tag where they know it).
    pub officials: FxHashMap<CompactString, u64>,
    /// Released ids added or extended: (source tag of the event, id, until).
    pub released: Vec<(u64, IdHash, i64)>,
    /// Keys swept out of keyed cells, per owner: (slot, key). Sparse patches list
    /// them as gone.
    pub gone_keys: FxHashMap<CompactString, Vec<(u32, GroupKey)>>,
    /// Something changed all state at once (a pack swap, a restore): only a full
    /// snapshot can carry it.
    pub everything: bool,
}

impl Changes {
    /// Notes that `id`'s state changed; the first source tag noted stays.
    pub fn touch(&mut self, id: &CompactString, source: u64) {
        if !self.officials.contains_key(id) {
            self.officials.insert(id.clone(), source);
        }
    }
}

impl Engine {
    /// Starts tracking changes, or starts a new interval: whatever changed before
    /// this call counts as written. Incremental snapshots call it after each one.
    pub fn mark_changes(&mut self) {
        // Entry counts start afresh where a snapshot wrote the official: the changed
        // ones (a sweep that drops entries marks its official changed), or all.
        match self.changes.as_deref() {
            Some(c) if !c.everything => {
                for id in c.officials.keys() {
                    if let Some(mut o) = self.officials.get_mut(id) {
                        o.reset_marks();
                    }
                }
            }
            _ => self.officials.iter_mut().for_each(|mut o| o.reset_marks()),
        }
        self.changes = Some(Box::default());
    }

    /// The state that changed since the last mark, of what `select` accepts: changed
    /// officials (by their latest event's source tag), officials gone (by their last
    /// one), released ids added (by the releasing event's tag, with an empty official
    /// id) and all pending events `select` accepts. `None` when only a full
    /// snapshot can say it (tracking off, or all state changed since the mark).
    pub fn delta(&self, select: impl Fn(&str, u64) -> bool) -> Option<Snapshot> {
        let changes = self.changes.as_deref().filter(|c| !c.everything)?;
        let mut officials: Vec<OfficialSnapshot> = Vec::new();
        let mut removed = Vec::new();
        for (id, source) in &changes.officials {
            match self.officials.get(id) {
                Some(o) if select(id, o.last_source) => {
                    // A patch needs the official's state in this selection's
                    // snapshot before: it was there at the mark.
                    let patch = o.marked_source().is_some_and(|m| select(id, m));
                    officials.push(self.official_data(id, &o, patch));
                }
                // Its events now come from elsewhere (an official on two
                // partitions): it leaves this selection's state.
                Some(o) if o.marked_source().is_some_and(|m| select(id, m)) => {
                    removed.push(id.to_string());
                }
                // Gone and created anew since the mark (an entity bucket swept empty
                // and filled from another partition): it leaves where it was.
                Some(o) if o.marked_source().is_none() && select(id, *source) => {
                    removed.push(id.to_string());
                }
                Some(_) => {}
                None if select(id, *source) => removed.push(id.to_string()),
                None => {}
            }
        }
        officials.sort_by(|a, b| a.id.cmp(&b.id));
        removed.sort();
        let mut released: Vec<(u64, i64)> = changes
            .released
            .iter()
            .filter(|(source, _, _)| select("", *source))
            .map(|(_, id, until)| (id.0, *until))
            .collect();
        merge_released(&mut released);
        Some(self.assemble(officials, released, removed, select))
    }

    /// The keys of `slot` swept out of owner `id` since the mark, packed, in order.
    pub(super) fn keys_gone(&self, id: &str, slot: u32) -> Vec<String> {
        let mut gone: Vec<String> = self
            .changes
            .as_deref()
            .and_then(|c| c.gone_keys.get(id))
            .into_iter()
            .flatten()
            .filter(|(s, _)| *s == slot)
            .map(|(_, k)| k.raw().to_string())
            .collect();
        gone.sort_unstable();
        gone.dedup();
        gone
    }

    pub(super) fn changed_everything(&mut self) {
        if let Some(c) = self.changes.as_deref_mut() {
            c.everything = true;
        }
    }
}

impl Snapshot {
    /// Lays `delta` (an [`Engine::delta`] taken after this snapshot, of the same
    /// selection) over this snapshot: changed officials replace theirs, officials
    /// gone are dropped, released ids merge, pending events and clocks are the
    /// delta's.
    pub fn apply(&mut self, delta: Snapshot) -> Result<(), RestoreError> {
        if delta.format != self.format {
            return Err(RestoreError::Format(delta.format));
        }
        if delta.pack != self.pack || delta.slots != self.slots {
            return Err(RestoreError::Delta(format!(
                "the delta was taken with pack {} {} and other slots than its base ({} {})",
                delta.pack.0, delta.pack.1, self.pack.0, self.pack.1
            )));
        }
        self.officials = merge_by_id_with(
            std::mem::take(&mut self.officials),
            delta.officials,
            &delta.removed,
            |o| &o.id,
            patch_official,
        )?;
        let mut released = std::mem::take(&mut self.released);
        released.extend(delta.released);
        merge_released(&mut released);
        self.released = released;
        self.pending = delta.pending;
        self.max_seen = delta.max_seen;
        self.watermark = delta.watermark;
        self.arrival = delta.arrival;
        Ok(())
    }
}

/// Sorts released ids and keeps one entry per id, with its largest until (several
/// updates of one id: the last one extended it).
fn merge_released(released: &mut Vec<(u64, i64)>) {
    released.sort_unstable();
    released.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            earlier.1 = earlier.1.max(later.1);
            true
        } else {
            false
        }
    });
}

/// Merges two lists sorted by id: `changed` replaces or adds, ids in `removed`
/// (sorted) go. The result is sorted by id.
pub(crate) fn merge_by_id<T>(
    base: Vec<T>,
    changed: Vec<T>,
    removed: &[String],
    id: impl Fn(&T) -> &str,
) -> Vec<T> {
    let merged = merge_by_id_with(base, changed, removed, id, |_, c| {
        Ok::<T, std::convert::Infallible>(c)
    });
    match merged {
        Ok(v) => v,
        Err(never) => match never {},
    }
}

/// [`merge_by_id`] where `combine(base item or None, changed item)` makes the
/// merged item.
fn merge_by_id_with<T, E>(
    base: Vec<T>,
    changed: Vec<T>,
    removed: &[String],
    id: impl Fn(&T) -> &str,
    mut combine: impl FnMut(Option<T>, T) -> Result<T, E>,
) -> Result<Vec<T>, E> {
    let mut out = Vec::with_capacity(base.len() + changed.len());
    let mut changed = changed.into_iter().peekable();
    for item in base {
        while let Some(c) = changed.next_if(|c| id(c) < id(&item)) {
            out.push(combine(None, c)?);
        }
        if let Some(c) = changed.next_if(|c| id(c) == id(&item)) {
            out.push(combine(Some(item), c)?);
            continue;
        }
        if removed
            .binary_search_by(|r| r.as_str().cmp(id(&item)))
            .is_ok()
        {
            continue;
        }
        out.push(item);
    }
    for c in changed {
        out.push(combine(None, c)?);
    }
    Ok(out)
}

/// Lays a delta's official over the base's: a whole one replaces it; a patch keeps,
/// per key it lists, the base's entries after the evicted ones and appends its own.
fn patch_official(
    base: Option<OfficialSnapshot>,
    mut delta: OfficialSnapshot,
) -> Result<OfficialSnapshot, RestoreError> {
    if !delta.patch {
        return Ok(delta);
    }
    delta.patch = false;
    let (mut base_cells, mut base_copies) = base.map(|b| (b.cells, b.copies)).unwrap_or_default();
    for class in &mut delta.copies {
        let Some(gone) = class.evicted.take() else {
            continue;
        };
        let Some(at) = base_copies.iter().position(|c| c.slot == class.slot) else {
            return Err(RestoreError::Delta(format!(
                "official {}: a patch extends the copies of slot {}, which its base lacks",
                delta.id, class.slot
            )));
        };
        let mut kept = base_copies.swap_remove(at).copies;
        let gone = usize::try_from(gone).unwrap_or(usize::MAX);
        if gone > kept.len() {
            return Err(RestoreError::Delta(format!(
                "official {}: a patch evicts {gone} copies of slot {}, which has {}",
                delta.id,
                class.slot,
                kept.len()
            )));
        }
        kept.drain(..gone);
        kept.append(&mut class.copies);
        class.copies = kept;
    }
    for cell in &mut delta.cells {
        let evicted = std::mem::take(&mut cell.evicted);
        if evicted.len() != cell.keys.len() {
            return Err(RestoreError::Delta(format!(
                "official {}: a patched cell lists {} keys and {} eviction counts",
                delta.id,
                cell.keys.len(),
                evicted.len()
            )));
        }
        let mut base_keys = base_cells
            .iter_mut()
            .find(|c| c.slot == cell.slot)
            .map(|c| std::mem::take(&mut c.keys))
            .unwrap_or_default();
        // Sparse: the keys not listed stay as they were, but those gone.
        let kept_as_they_were = match cell.gone.take() {
            Some(gone) => {
                base_keys
                    .retain(|(k, _)| k.as_ref().is_none_or(|k| gone.binary_search(k).is_err()));
                true
            }
            None => false,
        };
        for ((key, entries), gone) in cell.keys.iter_mut().zip(evicted) {
            let Some(gone) = gone else { continue };
            let Some(at) = base_keys.iter().position(|(k, _)| k == key) else {
                return Err(RestoreError::Delta(format!(
                    "official {}: a patch extends slot {} key {key:?}, which its base lacks",
                    delta.id, cell.slot
                )));
            };
            let mut kept = base_keys.swap_remove(at).1;
            let gone = usize::try_from(gone).unwrap_or(usize::MAX);
            if gone > kept.len() {
                return Err(RestoreError::Delta(format!(
                    "official {}: a patch evicts {gone} entries of slot {} key {key:?}, \
                     which has {}",
                    delta.id,
                    cell.slot,
                    kept.len()
                )));
            }
            kept.drain(..gone);
            kept.append(entries);
            *entries = kept;
        }
        if kept_as_they_were {
            // (Listed keys that replace theirs: the base's copy goes.)
            base_keys.retain(|(k, _)| !cell.keys.iter().any(|(listed, _)| listed == k));
            cell.keys.append(&mut base_keys);
            cell.keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
    }
    Ok(delta)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::snapshot::tests::{config, default_pack, events};
    use crate::event::PowerEvent;
    use crate::time::Timestamp;

    /// Three "partitions", by official (as the pipeline's input is keyed).
    fn partition_of(official: &str) -> u64 {
        official.bytes().map(u64::from).sum::<u64>() % 3
    }

    fn source(e: &PowerEvent, i: usize) -> u64 {
        partition_of(&e.official_id) << 40 | i as u64
    }

    fn through_json(s: &Snapshot) -> Snapshot {
        serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap()
    }

    fn ids(s: &Snapshot) -> Vec<&str> {
        s.officials.iter().map(|o| o.id.as_str()).collect()
    }

    #[test]
    fn a_full_snapshot_plus_its_deltas_restores_an_engine_that_continues_exactly() {
        let pack = default_pack();
        let events = events();
        let mut whole = Engine::new(Arc::clone(&pack), config());
        let mut expected = Vec::new();
        for (i, e) in events.iter().enumerate() {
            whole.ingest_from(e.clone(), source(e, i), &mut expected);
        }
        whole.flush(&mut expected);
        assert!(expected.len() > 10, "{}", expected.len());

        let mut engine = Engine::new(Arc::clone(&pack), config());
        assert_eq!(engine.delta(|_, _| true), None, "not tracked yet");
        let mut got = Vec::new();
        let step = events.len() / 7;
        let mut chains: Vec<Snapshot> = Vec::new();
        let (mut delta_officials, mut full_officials) = (0, 0);
        let (mut delta_entries, mut full_entries) = (0, 0);
        for (i, e) in events.iter().enumerate() {
            engine.ingest_from(e.clone(), source(e, i), &mut got);
            if (i + 1) % step != 0 {
                continue;
            }
            for p in 0..3u64 {
                let select = |_: &str, s: u64| s >> 40 == p;
                if chains.len() < 3 {
                    chains.push(through_json(&engine.snapshot(select)));
                    continue;
                }
                let delta = through_json(&engine.delta(select).unwrap());
                let delta_copy = delta.clone();
                delta_officials += delta.officials.len();
                chains[p as usize].apply(delta).unwrap();
                let full = engine.snapshot(select);
                full_officials += full.officials.len();
                full_entries += entries(&full);
                delta_entries += entries(&delta_copy);
                let chain = &chains[p as usize];
                assert_eq!(ids(chain), ids(&full), "partition {p}, event {i}");
                assert!(
                    chain.officials == full.officials,
                    "partition {p}, event {i}: the chain's officials equal a full snapshot's"
                );
                assert_eq!(chain.pending, full.pending);
                assert_eq!(
                    (chain.max_seen, chain.watermark, chain.arrival),
                    (full.max_seen, full.watermark, full.arrival)
                );
            }
            engine.mark_changes();
            if i + 1 < 2 * step {
                continue;
            }
            // A fresh engine from the chains continues exactly.
            let mut restored = Engine::new(Arc::clone(&pack), config());
            for chain in &chains {
                restored.restore(chain).unwrap();
            }
            let mut all = got.clone();
            for (j, e) in events.iter().enumerate().skip(i + 1) {
                restored.ingest_from(e.clone(), source(e, j), &mut all);
            }
            restored.flush(&mut all);
            assert_eq!(all, expected, "restored after event {i}");
        }
        assert!(
            delta_officials < full_officials,
            "deltas carry fewer officials: {delta_officials} against {full_officials}"
        );
        assert!(
            delta_entries * 2 < full_entries,
            "deltas carry the entries appended, not the officials' whole windows: \
             {delta_entries} against {full_entries}"
        );
    }

    fn entries(s: &Snapshot) -> usize {
        s.officials
            .iter()
            .flat_map(|o| &o.cells)
            .flat_map(|c| &c.keys)
            .map(|(_, e)| e.len())
            .sum()
    }

    /// Duplicate-detection ids follow their events' partition: each partition's
    /// full snapshot carries its own, and a restore tags them with the partition
    /// it restores, so its next snapshot carries them again.
    #[test]
    fn each_partition_snapshot_carries_only_its_own_released_ids() {
        let events = events();
        let mut engine = Engine::new(default_pack(), config());
        let mut out = Vec::new();
        for (i, e) in events.iter().enumerate() {
            engine.ingest_from(e.clone(), source(e, i), &mut out);
        }
        let whole = engine.snapshot(|_, _| true);
        let parts: Vec<Snapshot> = (0..3u64)
            .map(|p| engine.snapshot(|_, s| s >> 40 == p))
            .collect();
        assert!(parts.iter().all(|p| !p.released.is_empty()));
        let mut joined: Vec<(u64, i64)> = parts.iter().flat_map(|p| p.released.clone()).collect();
        joined.sort_unstable();
        assert_eq!(joined, whole.released, "each id in exactly one part");
        let mut restored = Engine::new(default_pack(), config());
        let mut part = through_json(&parts[1]);
        part.released_source = Some(7 << 40);
        restored.restore(&part).unwrap();
        assert_eq!(
            restored.snapshot(|_, s| s >> 40 == 7).released,
            parts[1].released
        );
        assert!(restored.snapshot(|_, s| s >> 40 == 1).released.is_empty());
    }

    #[test]
    fn an_official_swept_away_is_removed_by_the_next_delta() {
        let day = |d: i64| Timestamp(d * 86_400_000_000_000);
        let mut engine = Engine::new(default_pack(), config());
        let mut out = Vec::new();
        engine.mark_changes();
        engine.ingest(PowerEvent::new("g1", "gone", "payment", day(0)), &mut out);
        engine.ingest(PowerEvent::new("s1", "stays", "payment", day(1)), &mut out);
        engine.advance_watermark(day(2), &mut out);
        let mut base = engine.snapshot(|_, _| true);
        assert_eq!(ids(&base), ["gone", "stays"]);
        engine.mark_changes();
        engine.ingest(
            PowerEvent::new("s2", "stays", "payment", day(400)),
            &mut out,
        );
        engine.advance_watermark(day(401), &mut out);
        let delta = engine.delta(|_, _| true).unwrap();
        assert_eq!(delta.removed, ["gone"]);
        assert_eq!(ids(&delta), ["stays"]);
        assert_eq!(delta.released.len(), 1, "only the new event's id");
        base.apply(delta).unwrap();
        assert_eq!(ids(&base), ["stays"]);
        assert_eq!(base.released.len(), 3);
    }

    /// A keyed cell's patch is sparse: the key that changed, the key swept out as
    /// gone, and none of the keys that stayed as they were.
    #[test]
    fn a_patch_lists_the_keys_that_changed_and_those_gone() {
        let text = "[pack]\nname = \"t\"\nversion = \"v\"\n\
            [[rule]]\nid = \"per-payee\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"2d\"\n\
            group_by = [\"counterparty\"]\nyellow = { count = \">= 9\" }\nfilter = { kind = \"payment\" }\n";
        let pack =
            Arc::new(crate::rules::compile_pack(text, std::path::Path::new("."), "t").unwrap());
        let hour = |h: i64| Timestamp(h * 3_600_000_000_000);
        let payment = |id: &str, payee: &str, h: i64| {
            let mut e = PowerEvent::new(id, "o1", "payment", hour(h));
            e.counterparty = Some(payee.into());
            e
        };
        let mut engine = Engine::new(pack, config());
        let mut out = Vec::new();
        engine.mark_changes();
        // The first event sweeps (nothing yet) and sets the next sweep a week on.
        for (id, payee, h) in [("a", "old", 0), ("b", "same", 144), ("c", "busy", 144)] {
            engine.ingest(payment(id, payee, h), &mut out);
        }
        engine.advance_watermark(hour(150), &mut out);
        let mut base = engine.snapshot(|_, _| true);
        assert_eq!(base.officials[0].cells[0].keys.len(), 3);
        engine.mark_changes();
        // A week on: the sweep takes `old` (older than 2 days); `busy` gets an event.
        engine.ingest(payment("d", "busy", 180), &mut out);
        engine.advance_watermark(hour(181), &mut out);
        let delta = engine.delta(|_, _| true).unwrap();
        let packed = |payee: &str| {
            let mut k = GroupKey::default();
            k.push(payee);
            k.raw().to_string()
        };
        let cell = &delta.officials[0].cells[0];
        assert!(delta.officials[0].patch);
        assert_eq!(
            cell.keys
                .iter()
                .map(|(k, e)| (k.clone().unwrap(), e.len()))
                .collect::<Vec<_>>(),
            [(packed("busy"), 1)]
        );
        assert_eq!(cell.evicted, [Some(0)]);
        assert_eq!(cell.gone, Some(vec![packed("old")]));
        base.apply(through_json(&delta)).unwrap();
        // (The chain keeps expired released ids until a full snapshot.)
        assert_eq!(base.officials, engine.snapshot(|_, _| true).officials);
    }

    /// An official whose events come from two partitions: the partition of its
    /// latest event holds it whole, the other one drops it.
    #[test]
    fn an_official_moving_to_another_partition_is_written_whole_there_and_removed_here() {
        let hour = |h: i64| Timestamp(h * 3_600_000_000_000);
        let mut engine = Engine::new(default_pack(), config());
        let mut out = Vec::new();
        let part = |p: u64| move |_: &str, s: u64| s >> 40 == p;
        engine.mark_changes();
        let payment = |id: &str, h: i64| {
            let mut e = PowerEvent::new(id, "mover", "payment", hour(h));
            e.amount_cents = Some(100);
            e
        };
        engine.ingest_from(payment("m1", 0), 0, &mut out);
        engine.advance_watermark(hour(1), &mut out);
        let mut bases = [engine.snapshot(part(0)), engine.snapshot(part(1))];
        assert_eq!(ids(&bases[0]), ["mover"]);
        assert!(bases[1].officials.is_empty());
        engine.mark_changes();
        engine.ingest_from(payment("m2", 2), 1 << 40, &mut out);
        engine.advance_watermark(hour(3), &mut out);
        let deltas = [
            engine.delta(part(0)).unwrap(),
            engine.delta(part(1)).unwrap(),
        ];
        assert_eq!(deltas[0].removed, ["mover"]);
        assert_eq!(ids(&deltas[1]), ["mover"]);
        assert!(!deltas[1].officials[0].patch, "written whole");
        for (base, delta) in bases.iter_mut().zip(deltas) {
            base.apply(delta).unwrap();
        }
        assert!(bases[0].officials.is_empty());
        assert_eq!(bases[1].officials, engine.snapshot(part(1)).officials);
    }

    #[test]
    fn a_pack_swap_needs_a_full_snapshot_and_a_foreign_delta_is_refused() {
        let mut engine = Engine::new(default_pack(), config());
        engine.mark_changes();
        let mut base = engine.snapshot(|_, _| true);
        let mut delta = engine.delta(|_, _| true).unwrap();
        delta.slots.pop();
        assert!(matches!(base.apply(delta), Err(RestoreError::Delta(_))));
        engine.swap_pack(default_pack());
        assert_eq!(
            engine.delta(|_, _| true),
            None,
            "a swap needs a full snapshot"
        );
        engine.mark_changes();
        assert!(engine.delta(|_, _| true).is_some());
    }
}
