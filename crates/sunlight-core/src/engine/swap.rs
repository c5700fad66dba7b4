//! [`Engine::swap_pack`]: a new rule-pack version takes over while window state
//! carries over.
//!
//! A window slot of the new pack keeps the state of an old slot with the same
//! definition (same filter, key fields, entity key, value and distinct fields,
//! min/max needs, count window or not (a count window whose N changed keeps its
//! newest N entries), absence or not);
//! if its span grew, it starts with what the old span held and fills up over the
//! difference; a slot with no old twin starts empty. Cooldowns carry over by rule id.
//! Pending events are re-matched against the new filters, so everything evaluated
//! after the swap is evaluated by the new version.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::{Engine, RuleCounts};
use crate::rules::{CompiledPack, Slot};
use crate::state::SlotCell;

/// What a swap kept and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwapReport {
    /// New slots that kept an old slot's state.
    pub slots_kept: usize,
    /// New slots that start empty.
    pub slots_new: usize,
    /// Old slots whose state was dropped.
    pub slots_dropped: usize,
    /// Pending events re-matched against the new filters.
    pub pending_rematched: usize,
}

/// Trims every state of a count-window cell to its newest `n` entries.
pub(super) fn keep_last(cell: &mut SlotCell, n: u32) {
    match cell {
        SlotCell::Single(s) => s.keep_last(n),
        SlotCell::Keyed(states) => states.retain(|_, s| {
            s.keep_last(n);
            true
        }),
    }
}

fn same_slot(old: &CompiledPack, a: &Slot, new: &CompiledPack, b: &Slot) -> bool {
    old.filters[a.filter] == new.filters[b.filter]
        && a.group_by == b.group_by
        && a.value == b.value
        && a.scale == b.scale
        && a.min_max == b.min_max
        && a.distinct == b.distinct
        // A count window keeps its state when its N changes (trimmed to the new N).
        && a.last.is_some() == b.last.is_some()
        // Entity keys are compared by their fields (indices differ between packs);
        // an absence slot's entries are waiting events, no other slot's.
        && a.entity.map(|e| &old.entities[e as usize].fields)
            == b.entity.map(|e| &new.entities[e as usize].fields)
        && a.absence.map(|f| &old.filters[f]) == b.absence.map(|f| &new.filters[f])
}

impl Engine {
    /// Replaces the rule pack, keeping the window state the new pack can use.
    pub fn swap_pack(&mut self, new: Arc<CompiledPack>) -> SwapReport {
        let old = Arc::clone(&self.pack);
        let mut report = SwapReport::default();
        self.changed_everything();
        // old slot index -> new slot index
        let mut slot_map: FxHashMap<u32, u32> = FxHashMap::default();
        for (j, b) in new.slots.iter().enumerate() {
            let twin = old
                .slots
                .iter()
                .enumerate()
                .find(|(i, a)| !slot_map.contains_key(&(*i as u32)) && same_slot(&old, a, &new, b))
                .map(|(i, _)| i as u32);
            match twin {
                Some(i) => {
                    slot_map.insert(i, j as u32);
                    report.slots_kept += 1;
                }
                None => report.slots_new += 1,
            }
        }
        report.slots_dropped = old.slots.len() - report.slots_kept;
        let rule_map: FxHashMap<u32, u32> = old
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                new.rules
                    .iter()
                    .position(|n| n.id == r.id)
                    .map(|j| (i as u32, j as u32))
            })
            .collect();
        // Copies whose class slot is gone live for the new pack's longest span (they
        // may still back entries of kept slots; the sweep evicts them in time).
        let longest = new
            .slots
            .iter()
            .enumerate()
            .max_by_key(|(_, s)| s.span)
            .map(|(j, _)| j as u32);
        self.officials.retain(|_, official| {
            let mut ids = std::mem::take(&mut official.slot_ids);
            let mut cells: Vec<SlotCell> = std::mem::take(&mut official.cells);
            for (id, cell) in ids.drain(..).zip(cells.drain(..)) {
                if let Some(&j) = slot_map.get(&id) {
                    let mut cell = cell;
                    if let Some(n) = new.slots[j as usize].last {
                        keep_last(&mut cell, n);
                    }
                    official.slot_ids.push(j);
                    official.cells.push(cell);
                }
            }
            match (&new.copy_attributes, official.cells.is_empty(), longest) {
                (Some(_), false, Some(longest)) => {
                    if let Some(copies) = official.copies.as_deref_mut() {
                        for q in &mut copies.queues {
                            q.slot = slot_map.get(&q.slot).copied().unwrap_or(longest);
                        }
                    }
                }
                _ => official.copies = None,
            }
            official.fired.retain_mut(|f| match rule_map.get(&f.rule) {
                Some(&j) => {
                    f.rule = j;
                    true
                }
                None => false,
            });
            !official.is_empty()
        });
        // Counters follow rules by id.
        let old_counts = std::mem::take(&mut self.stats.rules);
        self.stats.rules = new
            .rules
            .iter()
            .map(|r| {
                old.rules
                    .iter()
                    .position(|o| o.id == r.id)
                    .map(|i| old_counts[i].clone())
                    .unwrap_or_default()
            })
            .collect::<Vec<RuleCounts>>();
        self.pack = Arc::clone(&new);
        self.filter_kinds = new.filters.iter().map(|f| f.required_kinds()).collect();
        self.entity_filters = super::entity_filters(&new);
        self.kind_candidates.clear();
        // Sweep every slot at the next watermark step: spans may have changed.
        self.slot_sweeps = vec![i64::MIN; new.slots.len()];
        self.next_sweep = i64::MIN;
        // Re-match pending events; one that no rule looks at any more is dropped.
        let pending: Vec<super::Pending> = self.pending.drain_sorted();
        report.pending_rematched = pending.len();
        for mut p in pending {
            p.hits = self.filter_hits(&p.event);
            if p.hits.iter().all(|w| *w == 0) {
                self.pending_ids.remove(&p.id);
                continue;
            }
            self.pending.push(p);
        }
        self.rebuild_timers();
        report
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::EngineConfig;
    use crate::event::PowerEvent;
    use crate::time::Timestamp;

    fn pack(
        burst_version: u32,
        burst_at: u32,
        with_approvals: bool,
        with_burst: bool,
    ) -> Arc<CompiledPack> {
        let mut text = String::from("[pack]\nname = \"t\"\nversion = \"v\"\n");
        if with_burst {
            text.push_str(&format!(
                "[[rule]]\nid = \"burst\"\nversion = {burst_version}\nkind = \"aggregate\"\ntitle = \"{{count}} payments\"\nwindow = \"1h\"\nyellow = {{ count = \">= {burst_at}\" }}\nfilter = {{ kind = \"payment\" }}\n"
            ));
        }
        if with_approvals {
            text.push_str("[[rule]]\nid = \"approvals\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"{count} approvals\"\nwindow = \"1h\"\nyellow = { count = \">= 1\" }\nfilter = { kind = \"approval\" }\n");
        }
        Arc::new(crate::rules::compile_pack(&text, Path::new("."), "test").unwrap())
    }

    fn payment(id: &str, minute: i64) -> PowerEvent {
        PowerEvent::new(id, "o1", "payment", Timestamp(minute * 60_000_000_000))
    }

    #[test]
    fn a_new_version_takes_over_with_the_window_state_it_shares() {
        let mut engine = Engine::new(pack(1, 3, false, true), EngineConfig::default());
        let mut out = Vec::new();
        engine.ingest(payment("p1", 0), &mut out);
        engine.ingest(payment("p2", 10), &mut out);
        // p3 is still pending (within the allowed lateness) when the pack changes.
        engine.ingest(payment("p3", 20), &mut out);
        assert!(out.is_empty());
        let report = engine.swap_pack(pack(2, 2, true, true));
        assert_eq!(
            report,
            SwapReport {
                slots_kept: 1,
                slots_new: 1,
                slots_dropped: 0,
                pending_rematched: 1,
            }
        );
        engine.flush(&mut out);
        // v2's threshold (2) on the window v1 filled: p1, p2 carried over, plus p3.
        assert_eq!(out.len(), 1);
        let w = &out[0];
        assert_eq!((w.rule_id.as_str(), w.rule_version), ("burst", 2));
        assert_eq!(w.trigger_event_id, "p3");
        assert_eq!(w.evidence, ["p1", "p2", "p3"]);
        assert_eq!(engine.stats().rules.len(), 2);
    }

    #[test]
    fn without_carrying_state_the_same_event_would_not_fire() {
        let mut engine = Engine::new(pack(2, 2, true, true), EngineConfig::default());
        let mut out = Vec::new();
        engine.ingest(payment("p3", 20), &mut out);
        engine.flush(&mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_removed_rule_drops_its_state_and_its_pending_events() {
        let mut engine = Engine::new(pack(1, 3, false, true), EngineConfig::default());
        let mut out = Vec::new();
        engine.ingest(payment("p1", 0), &mut out);
        engine.ingest(payment("p2", 10), &mut out);
        let report = engine.swap_pack(pack(1, 3, true, false));
        assert_eq!(
            (report.slots_kept, report.slots_new, report.slots_dropped),
            (0, 1, 1)
        );
        let state = engine.state_stats();
        assert_eq!((state.officials, state.pending_events), (0, 0));
    }

    /// A swap to a pack with entity keys (or with other filters) finds the
    /// entities' owners by the new pack's filters.
    #[test]
    fn a_swap_to_a_pack_with_entity_keys_keys_events_by_entity() {
        let by_invoice = "[pack]\nname = \"t\"\nversion = \"v\"\n\
            [[rule]]\nid = \"approvals\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1h\"\n\
            yellow = { count = \">= 5\" }\nfilter = { kind = \"approval\" }\n\
            [[rule]]\nid = \"dup\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1h\"\n\
            key = [\"attributes.invoice_no\"]\nred = { count = \">= 2\" }\nfilter = { kind = \"payment\" }\n";
        let by_invoice =
            Arc::new(crate::rules::compile_pack(by_invoice, Path::new("."), "test").unwrap());
        let paid = |id: &str, official: &str, minute: i64| {
            let mut e =
                PowerEvent::new(id, official, "payment", Timestamp(minute * 60_000_000_000));
            e.attributes.push((
                "invoice_no".into(),
                crate::event::AttrValue::Str("INV-7".into()),
            ));
            e
        };
        let mut engine = Engine::new(pack(1, 3, false, true), EngineConfig::default());
        let mut out = Vec::new();
        engine.ingest(payment("p0", 0), &mut out);
        engine.swap_pack(by_invoice);
        engine.ingest(paid("p1", "o1", 1), &mut out);
        engine.ingest(paid("p2", "o2", 2), &mut out);
        engine.flush(&mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].rule_id, "dup");
        assert_eq!(out[0].evidence, ["p1", "p2"]);
        assert_eq!(out[0].officials, ["o1", "o2"]);
    }
}
