//! Evaluating one rule at one trigger event: measures from the window state, the
//! level, the cooldown, and the warning with its evidence, title and id.

use compact_str::CompactString;
use smallvec::SmallVec;

use super::{EngineStats, Hits, hit};
use crate::copies::OFFICIAL_ATTRIBUTE;
use crate::event::AttrValue;
use crate::event::{FieldRef, FieldValue, PowerEvent};
use crate::evidence::EventCopy;
use crate::rules::measure::{Level, MeasureValue};
use crate::rules::template::TemplateContext;
use crate::rules::{CompiledPack, CompiledRule, RuleLogic, Slot};
use crate::state::{Entry as WindowEntry, Extras, GroupKey, LastFired, OfficialState, SlotState};
use crate::time::Timestamp;
use crate::warning::{Warning, warning_id};

/// One rule evaluation at one event.
pub(super) struct Trigger<'a> {
    pub rule_index: usize,
    pub rule: &'a CompiledRule,
    pub event: &'a PowerEvent,
    pub hits: &'a Hits,
    /// The trigger's source tag (see `Engine::ingest_from`).
    pub source: u64,
}

/// Evaluates one rule at one trigger event and appends the warning, if any.
pub(super) fn evaluate(
    pack: &CompiledPack,
    stats: &mut EngineStats,
    clock: fn() -> Timestamp,
    trigger: Trigger<'_>,
    official: &mut OfficialState,
    out: &mut Vec<Warning>,
) {
    let Trigger {
        rule_index,
        rule,
        event,
        hits,
        source,
    } = trigger;
    let t = event.occurred_at.0;
    let window_start = t.saturating_sub(rule.window.0);
    // The values of the title's extra placeholders (relation, table row).
    let mut extras: SmallVec<[CompactString; 4]> = SmallVec::new();
    if let Some(gate) = &rule.before_date {
        // Only events within the span before the row's date fire; the row's columns
        // are the title's extra placeholders.
        let Some(key) = gate.admits(event, t) else {
            return;
        };
        if let Some(row) = pack.tables[gate.table].row(&key) {
            extras.extend(row.iter().cloned());
        }
    }
    let mut evidence = EvidenceOut::default();
    let evidence_total: u64;
    let mut trigger_in_evidence = false;
    let (key, measures): (GroupKey, SmallVec<[MeasureValue; 4]>) = match &rule.logic {
        RuleLogic::Absence { slot } => {
            // A follow-up: the `first` events of its key waiting until now are
            // answered (every one there is at most this old), except the trigger
            // itself. Their timers find them gone (absence.rs).
            let Some(key) = group_key(event, &pack.slots[*slot].group_by) else {
                return;
            };
            if let Some(state) = official
                .cell_mut_existing(*slot as u32)
                .and_then(|cell| cell.get_mut(&key))
            {
                state.answer_all_but(&event.event_id, t);
            }
            return;
        }
        RuleLogic::Aggregate {
            slot,
            last: Some(last),
        } => {
            // A count window: the measures of the newest `last` entries inside the
            // rule's window, scanned (the slot may be shared with a longer span).
            let s = &pack.slots[*slot];
            let Some(input) = slot_input(event, s) else {
                return;
            };
            let Some(state) = state_mut(official, *slot, &input.key, t.saturating_sub(s.span.0))
            else {
                return;
            };
            let all = state.entries.as_slice();
            let from = all.partition_point(|e| e.time < window_start);
            let start = from.max(all.len().saturating_sub(*last as usize));
            let tail = &all[start..];
            let count = tail.len() as i64;
            let sum: i128 = tail.iter().map(|e| i128::from(e.value)).sum();
            let min = tail.iter().map(|e| e.value).min().unwrap_or(0);
            let max = tail.iter().map(|e| e.value).max().unwrap_or(0);
            let mut m: SmallVec<[MeasureValue; 4]> = SmallVec::new();
            m.push(MeasureValue::Int(count));
            for measure in &rule.measures[1..] {
                use crate::rules::measure::Measure as M;
                m.push(match measure {
                    M::Sum => MeasureValue::Int(
                        sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                    ),
                    M::Avg => MeasureValue::Float(sum as f64 / count.max(1) as f64),
                    M::Min => MeasureValue::Int(min),
                    M::Max => MeasureValue::Int(max),
                    M::Spread => {
                        MeasureValue::Float(crate::rules::measure::spread(min, max, s.scale))
                    }
                    M::Distinct => {
                        // Distinct values run parallel to the entries.
                        let distinct = state.extras.as_deref().map_or(0, |x| {
                            // From the back: the tail's values, however many there are.
                            let values = x.distinct_values.as_slice();
                            values[values.len().saturating_sub(tail.len())..]
                                .iter()
                                .collect::<rustc_hash::FxHashSet<_>>()
                                .len()
                        });
                        MeasureValue::Int(distinct as i64)
                    }
                    other => unreachable!("aggregate rules have no {other:?}"),
                });
            }
            evidence_total = count as u64;
            evidence.last(tail, rule.evidence_limit);
            crate::rules::measure::unscale(&rule.measures, &mut m, s.scale);
            (input.key, m)
        }
        RuleLogic::Aggregate { slot, .. } => {
            let s = &pack.slots[*slot];
            let Some(input) = slot_input(event, s) else {
                return;
            };
            let Some(state) = state_mut(official, *slot, &input.key, window_start) else {
                return;
            };
            let count = state.entries.len() as i64;
            let mut m: SmallVec<[MeasureValue; 4]> = SmallVec::new();
            m.push(MeasureValue::Int(count));
            let x = state.extras.as_deref();
            let sum = state.sum.get();
            for measure in &rule.measures[1..] {
                use crate::rules::measure::Measure as M;
                m.push(match measure {
                    M::Sum => MeasureValue::Int(
                        sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                    ),
                    M::Avg => MeasureValue::Float(sum as f64 / count.max(1) as f64),
                    M::Min => MeasureValue::Int(x.and_then(Extras::min).unwrap_or(0)),
                    M::Max => MeasureValue::Int(x.and_then(Extras::max).unwrap_or(0)),
                    M::Distinct => MeasureValue::Int(x.map_or(0, |x| x.distinct_count()) as i64),
                    M::Spread => {
                        let min = x.and_then(Extras::min).unwrap_or(0);
                        let max = x.and_then(Extras::max).unwrap_or(0);
                        MeasureValue::Float(crate::rules::measure::spread(min, max, s.scale))
                    }
                    other => unreachable!("aggregate rules have no {other:?}"),
                });
            }
            evidence_total = count as u64;
            evidence.last(state.entries.as_slice(), rule.evidence_limit);
            crate::rules::measure::unscale(&rule.measures, &mut m, s.scale);
            (input.key, m)
        }
        RuleLogic::Ratio {
            numerator,
            denominator,
        } => {
            let Some(key) = group_key(event, &pack.slots[*numerator].group_by) else {
                return;
            };
            let num = state_mut(official, *numerator, &key, window_start).map_or(0, |s| {
                evidence.last(s.entries.as_slice(), rule.evidence_limit);
                s.entries.len()
            });
            // Keyed by official only, or by the group_by too (`denominator_keyed`).
            let den_key = if pack.slots[*denominator].group_by.is_empty() {
                GroupKey::default()
            } else {
                key.clone()
            };
            let den = state_mut(official, *denominator, &den_key, window_start)
                .map_or(0, |s| s.entries.len());
            evidence_total = num as u64;
            let ratio = num as f64 / den.max(1) as f64;
            let m = [num, num, den].map(|v| MeasureValue::Int(v as i64));
            let mut m: SmallVec<[MeasureValue; 4]> = SmallVec::from_slice(&m);
            m.push(MeasureValue::Float(ratio));
            (key, m)
        }
        RuleLogic::Baseline { slot, baseline } => {
            let s = &pack.slots[*slot];
            let Some(key) = group_key(event, &s.group_by) else {
                return;
            };
            let bound = window_start.saturating_sub(baseline.0);
            let Some(state) = state_mut(official, *slot, &key, bound) else {
                return;
            };
            let recent_from = state
                .entries
                .as_slice()
                .partition_point(|e| e.time < window_start);
            let count = state.entries.len() - recent_from;
            let expected = recent_from as f64 * rule.window.0 as f64 / baseline.0 as f64;
            evidence_total = count as u64;
            evidence.last(
                &state.entries.as_slice()[recent_from..],
                rule.evidence_limit,
            );
            let m = [
                MeasureValue::Int(count as i64),
                MeasureValue::Int(recent_from as i64),
                MeasureValue::Float(expected),
                MeasureValue::Float(count as f64 / expected.max(1.0)),
            ];
            (key, SmallVec::from_slice(&m))
        }
        RuleLogic::Sequence { first } => {
            let s = &pack.slots[*first];
            let Some(key) = group_key(event, &s.group_by) else {
                return;
            };
            let self_included = hit(hits, s.filter);
            let mut count = 0usize;
            if let Some(state) = state_mut(official, *first, &key, window_start) {
                let is_trigger =
                    |e: &WindowEntry| self_included && e.time == t && e.id == event.event_id;
                count = state
                    .entries
                    .as_slice()
                    .iter()
                    .filter(|e| !is_trigger(e))
                    .count();
                let skip = count.saturating_sub(rule.evidence_limit.saturating_sub(1));
                state
                    .entries
                    .as_slice()
                    .iter()
                    .filter(|e| !is_trigger(e))
                    .skip(skip)
                    .for_each(|e| evidence.push(e));
            }
            evidence_total = count as u64 + 1;
            trigger_in_evidence = true;
            (
                key,
                SmallVec::from_slice(&[MeasureValue::Int(count as i64)]),
            )
        }
        RuleLogic::RelatedParty { field } => {
            let Some(relations) = &pack.relations else {
                return;
            };
            let party = match event.field(field) {
                Some(FieldValue::Str(s)) => s,
                _ => return,
            };
            let table = relations.current();
            let Some(found) = table.relation(&event.official_id, party) else {
                return;
            };
            extras.push(CompactString::from(found));
            evidence_total = 1;
            trigger_in_evidence = true;
            one_party(party)
        }
        RuleLogic::Reference {
            field,
            table,
            after,
        } => {
            let Some(FieldValue::Str(party)) = event.field(field) else {
                return;
            };
            let Some(row) = pack.tables[*table].row(party) else {
                return;
            };
            if let Some((by, dates)) = after
                && dates
                    .get(party)
                    .is_none_or(|date| t <= date.saturating_add(by.0))
            {
                return;
            }
            extras.extend(row.iter().cloned());
            evidence_total = 1;
            trigger_in_evidence = true;
            one_party(party)
        }
        RuleLogic::Predicate => {
            let Some(key) = group_key(event, &rule.key_fields) else {
                return;
            };
            evidence_total = 1;
            trigger_in_evidence = true;
            (key, SmallVec::from_slice(&[MeasureValue::Int(1)]))
        }
    };
    let Some(level) = rule.levels.decide_for(&measures, Some(event)) else {
        return;
    };
    if !passes_cooldown(rule, rule_index, official, &key, t, level) {
        stats.rules[rule_index].suppressed += 1;
        return;
    }
    let counts = &mut stats.rules[rule_index];
    match level {
        Level::Yellow => counts.yellow += 1,
        Level::Red => counts.red += 1,
    }
    // The copies, found only now that a warning fires.
    let mut copies: Vec<EventCopy> = Vec::new();
    // An entity key's copies carry their officials (`copies::OFFICIAL_ATTRIBUTE`).
    let mut officials: Vec<CompactString> = Vec::new();
    if pack.copy_attributes.is_some() {
        let keep = &rule.evidence_attributes;
        if let Some(store) = official.copies.as_deref() {
            if rule.entity.is_some() {
                let mut with_official = Vec::with_capacity(keep.len() + 1);
                with_official.push(CompactString::const_new(OFFICIAL_ATTRIBUTE));
                with_official.extend(keep.iter().cloned());
                copies = store.find_all(&evidence.ids, &evidence.times, &with_official);
                for copy in &mut copies {
                    if let Some(at) = copy
                        .attributes
                        .iter()
                        .position(|(name, _)| name == OFFICIAL_ATTRIBUTE)
                        && let (_, AttrValue::Str(o)) = copy.attributes.remove(at)
                    {
                        officials.push(o);
                    }
                }
            } else {
                copies = store.find_all(&evidence.ids, &evidence.times, keep);
            }
        }
        if trigger_in_evidence {
            copies.push(EventCopy::of(event, keep));
        }
    }
    if rule.entity.is_some() {
        officials.push(event.official_id.clone());
        officials.sort_unstable();
        officials.dedup();
    }
    if trigger_in_evidence {
        evidence.ids.push(event.event_id.clone());
    }
    let (key_pairs, title) =
        key_and_title(rule, &key, &event.official_id, level, &measures, &extras);
    out.push(Warning {
        warning_id: warning_id(
            &rule.id,
            rule.version,
            &event.official_id,
            &key_pairs,
            &event.event_id,
        ),
        rule_id: rule.id.clone(),
        rule_version: rule.version,
        official_id: event.official_id.clone(),
        officials,
        key: key_pairs,
        level,
        trigger_event_id: event.event_id.clone(),
        trigger_source: source,
        scope: crate::warning::Scope::of(event),
        occurred_at: event.occurred_at,
        window_start: Timestamp(window_start),
        window_end: event.occurred_at,
        conditions: rule
            .levels
            .fired_for(level, &rule.measures, &measures, Some(event)),
        measures: rule.measures.iter().copied().zip(measures).collect(),
        evidence: evidence.ids,
        evidence_events: copies,
        evidence_total,
        title,
        detected_at: clock(),
    });
}

/// A warning's key pairs (the rule's key fields with `key`'s values) and its title.
pub(super) fn key_and_title(
    rule: &CompiledRule,
    key: &GroupKey,
    official_id: &str,
    level: Level,
    measures: &[MeasureValue],
    extras: &[CompactString],
) -> (Vec<(CompactString, CompactString)>, String) {
    let key_pairs: Vec<(CompactString, CompactString)> = rule
        .key_fields
        .iter()
        .zip(key.parts())
        .map(|(f, v)| (CompactString::from(f.key_name()), CompactString::from(v)))
        .collect();
    let title = {
        let key_refs: SmallVec<[(&str, &str); 2]> = key_pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let extra_refs: SmallVec<[&str; 4]> = extras.iter().map(CompactString::as_str).collect();
        rule.title.render(&TemplateContext {
            rule_id: &rule.id,
            official_id,
            level,
            window: &rule.window_text,
            key: &key_refs,
            measures,
            extras: &extra_refs,
        })
    };
    (key_pairs, title)
}

/// Whether a warning of `rule` for `key` at `t` and `level` passes the rule's
/// cooldown (none, or the last one of the key is older or lower); if it does, it
/// becomes the last one.
pub(super) fn passes_cooldown(
    rule: &CompiledRule,
    rule_index: usize,
    state: &mut OfficialState,
    key: &GroupKey,
    t: i64,
    level: Level,
) -> bool {
    let Some(cooldown) = rule.cooldown else {
        return true;
    };
    let rule_no = rule_index as u32;
    match state
        .fired
        .iter_mut()
        .find(|f| f.rule == rule_no && f.key == *key)
    {
        Some(last) if t.saturating_sub(last.time) < cooldown.0 && level <= last.level => {
            return false;
        }
        Some(last) => {
            last.time = t;
            last.level = level;
        }
        None => state.fired.push(LastFired {
            rule: rule_no,
            key: key.clone(),
            time: t,
            level,
        }),
    }
    true
}

/// What an event contributes to a slot.
pub(super) struct SlotInput {
    pub key: GroupKey,
    pub value: Option<i64>,
    pub distinct: Option<CompactString>,
}

/// The event's key, value and distinct value for `slot`; `None` if it lacks a
/// group-by field, an integer value field or the distinct field the slot needs.
pub(super) fn slot_input(event: &PowerEvent, slot: &Slot) -> Option<SlotInput> {
    let key = group_key(event, &slot.group_by)?;
    let value = match &slot.value {
        None => None,
        Some(f) => Some(crate::rules::measure::scaled_value(
            event.field(f)?,
            slot.scale,
        )?),
    };
    let distinct = match &slot.distinct {
        None => None,
        Some(f) => Some(text_of(event.field(f)?)),
    };
    Some(SlotInput {
        key,
        value,
        distinct,
    })
}

pub(crate) fn group_key(event: &PowerEvent, fields: &[FieldRef]) -> Option<GroupKey> {
    let mut key = GroupKey::default();
    for f in fields {
        match event.field(f)? {
            FieldValue::Str(s) => key.push(s),
            other => key.push(&text_of(other)),
        }
    }
    Some(key)
}

fn text_of(value: FieldValue<'_>) -> CompactString {
    match value {
        FieldValue::Str(s) => CompactString::from(s),
        other => {
            let mut text = CompactString::default();
            other.write_text(&mut text);
            text
        }
    }
}

/// The slot state for `key`, with entries before `bound` evicted.
/// The key and measures of a rule that fires on one party (`count` = 1).
fn one_party(party: &str) -> (GroupKey, SmallVec<[MeasureValue; 4]>) {
    let mut key = GroupKey::default();
    key.push(party);
    (key, SmallVec::from_slice(&[MeasureValue::Int(1)]))
}

fn state_mut<'a>(
    official: &'a mut OfficialState,
    slot: usize,
    key: &GroupKey,
    bound: i64,
) -> Option<&'a mut SlotState> {
    let state = official.cell_mut_existing(slot as u32)?.get_mut(key)?;
    state.evict_before(bound);
    Some(state)
}

/// A warning's evidence as it is collected: ids and their event times (to find
/// their copies by).
#[derive(Default)]
struct EvidenceOut {
    ids: Vec<CompactString>,
    times: Vec<i64>,
}

impl EvidenceOut {
    fn push(&mut self, entry: &WindowEntry) {
        self.ids.push(entry.id.clone());
        self.times.push(entry.time);
    }

    /// The last `limit` of `entries`.
    fn last(&mut self, entries: &[WindowEntry], limit: usize) {
        let skip = entries.len().saturating_sub(limit);
        entries[skip..].iter().for_each(|e| self.push(e));
    }
}
