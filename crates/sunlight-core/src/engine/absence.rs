//! Absence rules (`kind = "absence"`): a `first` event not followed by a `then`
//! event of the same key within the window, raised when the watermark passes the
//! deadline.
//!
//! The waiting `first` events are the entries of the rule's absence slot; a `then`
//! event clears its key's entries (`evaluate`: [`SlotState::answer_all_but`]).
//! Each entry is also a timer here, ordered by `(deadline, owner, event id, slot)`.
//! The engine fires the timers whose deadline the events released so far have
//! passed: before each batch of a later instant, and after a release for the
//! watermark (at the end of input, every deadline up to the last event time). A
//! timer whose entry is no longer at the front of its key was answered: it is
//! dropped without a warning (lazy deletion, so answering costs no timer look-up).
//! Timers are not snapshotted: they are rebuilt from the slot entries after a
//! restore (with the official's latest scope instead of the event's) or a pack swap
//! (keeping the scopes of the timers that were there).
//!
//! [`SlotState::answer_all_but`]: crate::state::SlotState::answer_all_but

use std::collections::BTreeMap;

use compact_str::CompactString;

use super::{Engine, Pending};
use crate::rules::measure::MeasureValue;
use crate::rules::{CompiledPack, RuleLogic};
use crate::state::{GroupKey, OfficialState, SlotCell};
use crate::time::Timestamp;
use crate::warning::{Scope, Warning, warning_id};

/// `(deadline, owner, event id, slot)`: the firing order.
type TimerKey = (i64, CompactString, CompactString, u32);

/// What a timer needs besides its key.
struct TimerData {
    key: GroupKey,
    time: i64,
    scope: Scope,
    source: u64,
}

/// The absence timers of an engine.
#[derive(Default)]
pub(super) struct Timers {
    map: BTreeMap<TimerKey, TimerData>,
}

impl Timers {
    /// A `first` event entered absence slot `slot` of `owner` under `key`.
    pub fn register(
        &mut self,
        owner: &CompactString,
        slot: u32,
        span: i64,
        key: GroupKey,
        p: &Pending,
    ) {
        let time = p.time;
        self.map.insert(
            (
                time.saturating_add(span),
                owner.clone(),
                p.event.event_id.clone(),
                slot,
            ),
            TimerData {
                key,
                time,
                scope: Scope::of(&p.event),
                source: p.source,
            },
        );
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.map.first_key_value().map(|(k, _)| k.0)
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.map.len() * (std::mem::size_of::<TimerKey>() + std::mem::size_of::<TimerData>() + 16)
    }
}

impl Engine {
    /// Fires the timers whose deadline is before `threshold`, in their order.
    pub(super) fn fire_due(&mut self, threshold: i64, out: &mut Vec<Warning>) {
        let pack = std::sync::Arc::clone(&self.pack);
        while self.timers.next_deadline().is_some_and(|d| d < threshold) {
            let Some(((deadline, owner, id, slot), data)) = self.timers.map.pop_first() else {
                break;
            };
            let Some(mut state) = self.officials.get_mut(&owner) else {
                continue;
            };
            let answered = !state
                .cell_mut_existing(slot)
                .and_then(|cell| cell.get_mut(&data.key))
                .is_some_and(|window| window.take_front(&id, data.time));
            if answered {
                continue;
            }
            if let Some(c) = self.changes.as_deref_mut() {
                c.touch(&owner, state.last_source);
            }
            for (index, rule) in pack.rules.iter().enumerate() {
                if rule.logic
                    != (RuleLogic::Absence {
                        slot: slot as usize,
                    })
                {
                    continue;
                }
                let due = Due {
                    rule_index: index,
                    official: &owner,
                    id: &id,
                    deadline,
                    data: &data,
                };
                if let Some(w) = absence_warning(&pack, self.config.clock, &due, &mut state) {
                    let counts = &mut self.stats.rules[index];
                    match w.level {
                        crate::rules::measure::Level::Yellow => counts.yellow += 1,
                        crate::rules::measure::Level::Red => counts.red += 1,
                    }
                    out.push(w);
                } else {
                    self.stats.rules[index].suppressed += 1;
                }
            }
        }
    }

    /// The timers of every waiting entry, from the state (after a restore or a pack
    /// swap). The events' scopes are gone: the official's latest stands in.
    pub(super) fn rebuild_timers(&mut self) {
        // A timer that was there before (a pack swap) keeps its event's scope and source.
        let before: rustc_hash::FxHashMap<(CompactString, CompactString, i64), (Scope, u64)> =
            std::mem::take(&mut self.timers.map)
                .into_iter()
                .map(|((_, owner, id, _), d)| ((owner, id, d.time), (d.scope, d.source)))
                .collect();
        let pack = &self.pack;
        for item in self.officials.iter() {
            let state = item.value();
            let scope = state.scope.as_deref().cloned().unwrap_or_default();
            for (slot, cell) in state.slot_ids.iter().zip(&state.cells) {
                let spec = &pack.slots[*slot as usize];
                if spec.absence.is_none() {
                    continue;
                }
                let mut add = |key: &GroupKey, window: &crate::state::SlotState| {
                    for e in window.entries.as_slice() {
                        let (scope, source) = before
                            .get(&(item.key().clone(), e.id.clone(), e.time))
                            .cloned()
                            .unwrap_or_else(|| (scope.clone(), state.last_source));
                        self.timers.map.insert(
                            (
                                e.time.saturating_add(spec.span.0),
                                item.key().clone(),
                                e.id.clone(),
                                *slot,
                            ),
                            TimerData {
                                key: key.clone(),
                                time: e.time,
                                scope,
                                source,
                            },
                        );
                    }
                };
                match cell {
                    SlotCell::Single(window) => add(&GroupKey::default(), window),
                    SlotCell::Keyed(states) => {
                        for (key, window) in states.states() {
                            add(key, window);
                        }
                    }
                }
            }
        }
    }
}

/// A timer that fired, for one of its rules.
struct Due<'a> {
    rule_index: usize,
    official: &'a CompactString,
    id: &'a CompactString,
    deadline: i64,
    data: &'a TimerData,
}

/// The warning of a `first` event left unanswered (None: held back by the cooldown).
fn absence_warning(
    pack: &CompiledPack,
    clock: fn() -> Timestamp,
    due: &Due<'_>,
    state: &mut OfficialState,
) -> Option<Warning> {
    let rule = &pack.rules[due.rule_index];
    let level = rule.levels.decide(&[MeasureValue::Int(0)])?;
    let (t, key) = (due.data.time, &due.data.key);
    if !super::evaluate::passes_cooldown(rule, due.rule_index, state, key, t, level) {
        return None;
    }
    let evidence = vec![due.id.clone()];
    let copies = match (&pack.copy_attributes, state.copies.as_deref()) {
        (Some(_), Some(store)) => store.find_all(&evidence, &[t], &rule.evidence_attributes),
        _ => Vec::new(),
    };
    let measures = [MeasureValue::Int(0)];
    let (key_pairs, title) =
        super::evaluate::key_and_title(rule, key, due.official, level, &measures, &[]);
    Some(Warning {
        warning_id: warning_id(&rule.id, rule.version, due.official, &key_pairs, due.id),
        rule_id: rule.id.clone(),
        rule_version: rule.version,
        official_id: due.official.clone(),
        officials: Vec::new(),
        key: key_pairs,
        level,
        trigger_event_id: due.id.clone(),
        occurred_at: Timestamp(t),
        window_start: Timestamp(t),
        window_end: Timestamp(due.deadline),
        measures: rule.measures.iter().copied().zip(measures).collect(),
        conditions: rule.levels.fired(level, &rule.measures, &measures),
        evidence,
        evidence_events: copies,
        evidence_total: 1,
        title,
        detected_at: clock(),
        trigger_source: due.data.source,
        scope: due.data.scope.clone(),
    })
}
