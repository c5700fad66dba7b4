//! Change tracking for incremental snapshots.
//!
//! With tracking on ([`Engine::mark_changes`]), the engine remembers which officials'
//! state changed (an event applied, or the official swept away) and which released
//! ids were added or extended since the last mark. [`Engine::delta`] writes only
//! those: the changed officials in full, the officials gone, the new released ids,
//! and — small, bounded by the allowed lateness — every pending event and the clocks.
//! [`Snapshot::apply`] lays a delta over the snapshot it follows. A full snapshot
//! plus its chain of deltas holds the officials, pending events and clocks of a
//! full snapshot taken at the last delta, and an engine restored from it produces
//! exactly the warnings of an engine that was never stopped (tests).
//!
//! Entries that a sweep evicts from an official that stays are not tracked: the
//! base still holds them, and an engine restored from the chain drops them at its
//! first sweep (restore makes every slot due), before any event could see them —
//! they are older than every window of any event still to come.

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::snapshot::{OfficialSnapshot, RestoreError, Snapshot};
use super::{Engine, IdHash};

/// What changed since the last mark.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// Officials whose state changed, with the source tag of the change (for one
    /// still present, its state's own tag decides).
    pub officials: FxHashMap<CompactString, u64>,
    /// Released ids added or extended: (source tag of the event, id, until).
    pub released: Vec<(u64, IdHash, i64)>,
    /// Something changed all state at once (a pack swap, a restore): only a full
    /// snapshot can carry it.
    pub everything: bool,
}

impl Engine {
    /// Starts tracking changes, or starts a new interval: whatever changed before
    /// this call counts as written. Incremental snapshots call it after each one.
    pub fn mark_changes(&mut self) {
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
                    officials.push(self.official_snapshot(id, &o));
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
        self.officials = merge_by_id(
            std::mem::take(&mut self.officials),
            delta.officials,
            &delta.removed,
            |o| &o.id,
        );
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
    let mut out = Vec::with_capacity(base.len() + changed.len());
    let mut changed = changed.into_iter().peekable();
    for item in base {
        while let Some(c) = changed.next_if(|c| id(c) < id(&item)) {
            out.push(c);
        }
        if changed.peek().is_some_and(|c| id(c) == id(&item))
            || removed
                .binary_search_by(|r| r.as_str().cmp(id(&item)))
                .is_ok()
        {
            continue;
        }
        out.push(item);
    }
    out.extend(changed);
    out
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
                delta_officials += delta.officials.len();
                chains[p as usize].apply(delta).unwrap();
                let full = engine.snapshot(select);
                full_officials += full.officials.len();
                let chain = &chains[p as usize];
                assert_eq!(ids(chain), ids(&full), "partition {p}, event {i}");
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
