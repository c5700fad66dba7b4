//! A brute-force evaluator of a rule pack: the test oracle for the [`Engine`](crate::Engine).
//!
//! It implements the contract literally, with none of the engine's machinery: drop
//! late events (`t < max seen so far - allowed lateness`), keep the first of each
//! `event_id`, sort by `(occurred_at, official_id, event_id)`, and for each trigger
//! event scan every kept event of the same official to compute the window
//! `[t - W, t]` (for an entity-keyed rule, every kept event with the same key, of any
//! official). Quadratic per official: for tests, never for production.

use compact_str::CompactString;
use rustc_hash::FxHashSet;

use crate::event::{FieldRef, FieldValue, PowerEvent};
use crate::rules::measure::{Level, Measure, MeasureValue};
use crate::rules::template::TemplateContext;
use crate::rules::{CompiledPack, RuleLogic, Slot};
use crate::time::{Duration, Timestamp};
use crate::warning::{Warning, warning_id};

/// Evaluates `pack` over `events` given in arrival order. `detected_at` of every
/// warning is `detected_at`.
pub fn evaluate(
    pack: &CompiledPack,
    events: &[PowerEvent],
    allowed_lateness: Duration,
    detected_at: Timestamp,
) -> Vec<Warning> {
    let mut max_seen = i64::MIN;
    let mut seen_ids = FxHashSet::default();
    let mut kept: Vec<&PowerEvent> = Vec::new();
    for e in events {
        let t = e.occurred_at.0;
        let late = max_seen != i64::MIN && t < max_seen.saturating_sub(allowed_lateness.0);
        // Late events and repeats are dropped and do not move event time forward.
        if late || !seen_ids.insert(e.event_id.clone()) {
            continue;
        }
        max_seen = max_seen.max(t);
        kept.push(e);
    }
    kept.sort_by(|a, b| {
        (a.occurred_at, &a.official_id, &a.event_id).cmp(&(
            b.occurred_at,
            &b.official_id,
            &b.event_id,
        ))
    });
    let mut out = Vec::new();
    // Cooldown memory: (rule, official, key) -> (time, level).
    let mut fired: Vec<(usize, CompactString, Vec<CompactString>, i64, Level)> = Vec::new();
    let mut by_official: rustc_hash::FxHashMap<&str, Vec<&PowerEvent>> = Default::default();
    for e in &kept {
        by_official
            .entry(e.official_id.as_str())
            .or_default()
            .push(e);
    }
    // Absence rules: every `first` event is a timer `(deadline, official, id, slot,
    // rule)`; it fires, after every event at or before its deadline, unless a `then`
    // event of the same official and key (not itself) came in `[t, deadline]`, and
    // only if the input reaches its deadline.
    let last_time = kept
        .iter()
        .map(|e| e.occurred_at.0)
        .max()
        .unwrap_or(i64::MIN);
    let mut timers: Vec<Timer<'_>> = Vec::new();
    for (rule_index, rule) in pack.rules.iter().enumerate() {
        let RuleLogic::Absence { slot } = &rule.logic else {
            continue;
        };
        let s = &pack.slots[*slot];
        for a in &kept {
            let Some((key, _, _)) = input(a, s).filter(|_| pack.filters[s.filter].matches(a))
            else {
                continue;
            };
            let deadline = a.occurred_at.0.saturating_add(s.span.0);
            let answered = by_official[a.official_id.as_str()].iter().any(|b| {
                b.event_id != a.event_id
                    && (a.occurred_at.0..=deadline).contains(&b.occurred_at.0)
                    && pack.filters[rule.trigger].matches(b)
                    && key_of(b, &s.group_by).is_some_and(|k| k == key)
            });
            if !answered && deadline <= last_time {
                timers.push((
                    deadline,
                    &a.official_id,
                    &a.event_id,
                    *slot,
                    rule_index,
                    a,
                    key,
                ));
            }
        }
    }
    timers.sort_by(|x, y| (x.0, x.1, x.2, x.3, x.4).cmp(&(y.0, y.1, y.2, y.3, y.4)));
    let mut timers = timers.into_iter().peekable();
    let mut fire =
        |upto: i64,
         out: &mut Vec<Warning>,
         fired: &mut Vec<(usize, CompactString, Vec<CompactString>, i64, Level)>| {
            while let Some(timer) = timers.next_if(|t| t.0 < upto) {
                let (deadline, _, _, _, rule_index, a, key) = timer;
                let rule = &pack.rules[rule_index];
                let level = rule
                    .levels
                    .decide(&[MeasureValue::Int(0)])
                    .expect("a fixed level");
                let t = a.occurred_at.0;
                if let Some(cooldown) = rule.cooldown {
                    let last = fired.iter_mut().find(|(r, o, k, _, _)| {
                        *r == rule_index && *o == a.official_id && *k == key
                    });
                    match last {
                        Some((_, _, _, time, lvl))
                            if t.saturating_sub(*time) < cooldown.0 && level <= *lvl =>
                        {
                            continue;
                        }
                        Some((_, _, _, time, lvl)) => {
                            *time = t;
                            *lvl = level;
                        }
                        None => {
                            fired.push((rule_index, a.official_id.clone(), key.clone(), t, level))
                        }
                    }
                }
                let key_pairs: Vec<(CompactString, CompactString)> = rule
                    .key_fields
                    .iter()
                    .zip(&key)
                    .map(|(f, v)| (CompactString::from(f.key_name()), v.clone()))
                    .collect();
                let refs: Vec<(&str, &str)> = key_pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let measures = vec![MeasureValue::Int(0)];
                let title = rule.title.render(&TemplateContext {
                    rule_id: &rule.id,
                    official_id: &a.official_id,
                    level,
                    window: &rule.window_text,
                    key: &refs,
                    measures: &measures,
                    extras: &[],
                });
                out.push(Warning {
                    warning_id: warning_id(
                        &rule.id,
                        rule.version,
                        &a.official_id,
                        &key_pairs,
                        &a.event_id,
                    ),
                    rule_id: rule.id.clone(),
                    rule_version: rule.version,
                    official_id: a.official_id.clone(),
                    officials: Vec::new(),
                    key: key_pairs,
                    level,
                    trigger_event_id: a.event_id.clone(),
                    occurred_at: a.occurred_at,
                    window_start: a.occurred_at,
                    window_end: Timestamp(deadline),
                    conditions: rule.levels.fired(level, &rule.measures, &measures),
                    measures: rule.measures.iter().copied().zip(measures).collect(),
                    evidence: vec![a.event_id.clone()],
                    evidence_events: if pack.evidence_copies() {
                        vec![crate::evidence::EventCopy::of(a, &rule.evidence_attributes)]
                    } else {
                        Vec::new()
                    },
                    evidence_total: 1,
                    title,
                    detected_at,
                    trigger_source: 0,
                    scope: crate::warning::Scope::of(a),
                });
            }
        };
    for e in &kept {
        let t = e.occurred_at.0;
        fire(t, &mut out, &mut fired);
        // The official's events up to and including t's peers.
        let all = &by_official[e.official_id.as_str()];
        let own_history = &all[..all.partition_point(|f| f.occurred_at.0 <= t)];
        // An entity-keyed rule sees every official's events (its key selects them).
        let every_history = &kept[..kept.partition_point(|f| f.occurred_at.0 <= t)];
        for (rule_index, rule) in pack.rules.iter().enumerate() {
            if !pack.filters[rule.trigger].matches(e) {
                continue;
            }
            let history = if rule.entity.is_some() {
                every_history
            } else {
                own_history
            };
            let start = t.saturating_sub(rule.window.0);
            let in_slot =
                |f: &PowerEvent, slot: &Slot, key: &[CompactString], from: i64, to: i64| {
                    f.occurred_at.0 >= from
                        && f.occurred_at.0 <= to
                        && pack.filters[slot.filter].matches(f)
                        && input(f, slot).is_some_and(|(k, _, _)| k == key)
                };
            let mut extras: Vec<String> = Vec::new();
            if let Some(gate) = &rule.before_date {
                // Only in [date - within, date) of the row the field's value keys.
                // (A number is looked up by its text.)
                let k: CompactString = match e.field(&gate.field) {
                    Some(FieldValue::Str(k)) => k.into(),
                    Some(other) => {
                        let mut text = CompactString::default();
                        other.write_text(&mut text);
                        text
                    }
                    None => continue,
                };
                let Some(&date) = gate.dates.get(&k) else {
                    continue;
                };
                if !(date.saturating_sub(gate.within.0) <= t && t < date) {
                    continue;
                }
                let row = pack.tables[gate.table]
                    .row(&k)
                    .expect("a dated key has a row");
                extras = row.iter().map(|v| v.to_string()).collect();
            }
            let mut trigger_evidence = false;
            let (key, measures, mut evidence): (
                Vec<CompactString>,
                Vec<MeasureValue>,
                Vec<&PowerEvent>,
            ) = match &rule.logic {
                RuleLogic::Aggregate { slot, last } => {
                    let s = &pack.slots[*slot];
                    let Some((key, _, _)) = input(e, s) else {
                        continue;
                    };
                    let mut window: Vec<&PowerEvent> = history
                        .iter()
                        .copied()
                        .filter(|f| in_slot(f, s, &key, start, t))
                        .collect();
                    if let Some(n) = last {
                        // The last n in release order (time, then official and id).
                        window.drain(..window.len().saturating_sub(*n as usize));
                    }
                    let values: Vec<i64> = window
                        .iter()
                        .filter_map(|f| input(f, s).and_then(|x| x.1))
                        .collect();
                    let sum: i128 = values.iter().map(|v| i128::from(*v)).sum();
                    let mut m = vec![MeasureValue::Int(window.len() as i64)];
                    for measure in &rule.measures[1..] {
                        m.push(match measure {
                            Measure::Sum => MeasureValue::Int(
                                sum.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
                            ),
                            Measure::Avg => {
                                MeasureValue::Float(sum as f64 / window.len().max(1) as f64)
                            }
                            Measure::Min => {
                                MeasureValue::Int(values.iter().copied().min().unwrap_or(0))
                            }
                            Measure::Max => {
                                MeasureValue::Int(values.iter().copied().max().unwrap_or(0))
                            }
                            Measure::Spread => MeasureValue::Float(crate::rules::measure::spread(
                                values.iter().copied().min().unwrap_or(0),
                                values.iter().copied().max().unwrap_or(0),
                                s.scale,
                            )),
                            Measure::Distinct => {
                                let d: FxHashSet<CompactString> = window
                                    .iter()
                                    .filter_map(|f| input(f, s).and_then(|x| x.2))
                                    .collect();
                                MeasureValue::Int(d.len() as i64)
                            }
                            _ => unreachable!(),
                        });
                    }
                    crate::rules::measure::unscale(&rule.measures, &mut m, s.scale);
                    (key, m, window)
                }
                RuleLogic::Ratio {
                    numerator,
                    denominator,
                } => {
                    let (ns, ds) = (&pack.slots[*numerator], &pack.slots[*denominator]);
                    let Some(key) = key_of(e, &ns.group_by) else {
                        continue;
                    };
                    let num: Vec<&PowerEvent> = history
                        .iter()
                        .copied()
                        .filter(|f| in_slot(f, ns, &key, start, t))
                        .collect();
                    // Keyed by the official only, or by the group_by too.
                    let Some(den_key) = key_of(e, &ds.group_by) else {
                        continue;
                    };
                    let den = history
                        .iter()
                        .filter(|f| in_slot(f, ds, &den_key, start, t))
                        .count();
                    let n = num.len();
                    let m = vec![
                        MeasureValue::Int(n as i64),
                        MeasureValue::Int(n as i64),
                        MeasureValue::Int(den as i64),
                        MeasureValue::Float(n as f64 / den.max(1) as f64),
                    ];
                    (key, m, num)
                }
                RuleLogic::Baseline { slot, baseline } => {
                    let s = &pack.slots[*slot];
                    let Some(key) = key_of(e, &s.group_by) else {
                        continue;
                    };
                    let recent: Vec<&PowerEvent> = history
                        .iter()
                        .copied()
                        .filter(|f| in_slot(f, s, &key, start, t))
                        .collect();
                    let before = history
                        .iter()
                        .filter(|f| {
                            in_slot(
                                f,
                                s,
                                &key,
                                start.saturating_sub(baseline.0),
                                start.saturating_sub(1),
                            )
                        })
                        .count();
                    let expected = before as f64 * rule.window.0 as f64 / baseline.0 as f64;
                    let m = vec![
                        MeasureValue::Int(recent.len() as i64),
                        MeasureValue::Int(before as i64),
                        MeasureValue::Float(expected),
                        MeasureValue::Float(recent.len() as f64 / expected.max(1.0)),
                    ];
                    (key, m, recent)
                }
                RuleLogic::Sequence { first } => {
                    let s = &pack.slots[*first];
                    let Some(key) = key_of(e, &s.group_by) else {
                        continue;
                    };
                    let earlier: Vec<&PowerEvent> = history
                        .iter()
                        .copied()
                        .filter(|f| f.event_id != e.event_id && in_slot(f, s, &key, start, t))
                        .collect();
                    trigger_evidence = true;
                    (key, vec![MeasureValue::Int(earlier.len() as i64)], earlier)
                }
                RuleLogic::RelatedParty { field } => {
                    let Some(FieldValue::Str(party)) = e.field(field) else {
                        continue;
                    };
                    let table = pack
                        .relations
                        .as_ref()
                        .expect("compiled with relations")
                        .current();
                    let Some(r) = table.relation(&e.official_id, party) else {
                        continue;
                    };
                    extras = vec![r.to_string()];
                    trigger_evidence = true;
                    (vec![party.into()], vec![MeasureValue::Int(1)], Vec::new())
                }
                RuleLogic::Reference {
                    field,
                    table,
                    after,
                } => {
                    let Some(FieldValue::Str(party)) = e.field(field) else {
                        continue;
                    };
                    let Some(row) = pack.tables[*table].row(party) else {
                        continue;
                    };
                    if let Some((by, dates)) = after {
                        let date = dates[party];
                        if t <= date.saturating_add(by.0) {
                            continue;
                        }
                    }
                    extras = row.iter().map(|v| v.to_string()).collect();
                    trigger_evidence = true;
                    (vec![party.into()], vec![MeasureValue::Int(1)], Vec::new())
                }
                // Timers, above.
                RuleLogic::Absence { .. } => continue,
                RuleLogic::Predicate => {
                    let Some(key) = key_of(e, &rule.key_fields) else {
                        continue;
                    };
                    trigger_evidence = true;
                    (key, vec![MeasureValue::Int(1)], Vec::new())
                }
            };
            let Some(level) = rule.levels.decide_for(&measures, Some(e)) else {
                continue;
            };
            if let Some(cooldown) = rule.cooldown {
                // An entity-keyed rule's repeats are the entity's, whoever triggers.
                let owner = if rule.entity.is_some() {
                    CompactString::default()
                } else {
                    e.official_id.clone()
                };
                let last = fired
                    .iter_mut()
                    .find(|(r, o, k, _, _)| *r == rule_index && *o == owner && *k == key);
                match last {
                    Some((_, _, _, time, lvl))
                        if t.saturating_sub(*time) < cooldown.0 && level <= *lvl =>
                    {
                        continue;
                    }
                    Some((_, _, _, time, lvl)) => {
                        *time = t;
                        *lvl = level;
                    }
                    None => fired.push((rule_index, owner, key.clone(), t, level)),
                }
            }
            let total = evidence.len() as u64 + u64::from(trigger_evidence);
            let cap = rule.evidence_limit - usize::from(trigger_evidence);
            let skip = evidence.len().saturating_sub(cap);
            evidence.drain(..skip);
            if trigger_evidence {
                evidence.push(e);
            }
            let mut officials: Vec<CompactString> = Vec::new();
            if rule.entity.is_some() {
                officials = evidence.iter().map(|f| f.official_id.clone()).collect();
                officials.push(e.official_id.clone());
                officials.sort_unstable();
                officials.dedup();
            }
            let key_pairs: Vec<(CompactString, CompactString)> = rule
                .key_fields
                .iter()
                .zip(&key)
                .map(|(f, v)| (CompactString::from(f.key_name()), v.clone()))
                .collect();
            let refs: Vec<(&str, &str)> = key_pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let title = rule.title.render(&TemplateContext {
                rule_id: &rule.id,
                official_id: &e.official_id,
                level,
                window: &rule.window_text,
                key: &refs,
                measures: &measures,
                extras: &extras.iter().map(String::as_str).collect::<Vec<_>>(),
            });
            out.push(Warning {
                warning_id: warning_id(
                    &rule.id,
                    rule.version,
                    &e.official_id,
                    &key_pairs,
                    &e.event_id,
                ),
                rule_id: rule.id.clone(),
                rule_version: rule.version,
                official_id: e.official_id.clone(),
                officials,
                key: key_pairs,
                level,
                trigger_event_id: e.event_id.clone(),
                occurred_at: e.occurred_at,
                window_start: Timestamp(start),
                window_end: e.occurred_at,
                conditions: rule
                    .levels
                    .fired_for(level, &rule.measures, &measures, Some(e)),
                measures: rule.measures.iter().copied().zip(measures).collect(),
                evidence: evidence.iter().map(|f| f.event_id.clone()).collect(),
                evidence_events: if pack.evidence_copies() {
                    evidence
                        .iter()
                        .map(|f| crate::evidence::EventCopy::of(f, &rule.evidence_attributes))
                        .collect()
                } else {
                    Vec::new()
                },
                evidence_total: total,
                title,
                detected_at,
                trigger_source: 0,
                scope: crate::warning::Scope::of(e),
            });
        }
    }
    fire(last_time.saturating_add(1), &mut out, &mut fired);
    out
}

/// An absence timer: (deadline, official, event id, slot, rule, the event, its key).
type Timer<'a> = (
    i64,
    &'a str,
    &'a str,
    usize,
    usize,
    &'a PowerEvent,
    Vec<CompactString>,
);

type Input = (Vec<CompactString>, Option<i64>, Option<CompactString>);

fn input(e: &PowerEvent, slot: &Slot) -> Option<Input> {
    let key = key_of(e, &slot.group_by)?;
    let value = match &slot.value {
        None => None,
        Some(f) => Some(crate::rules::measure::scaled_value(
            e.field(f)?,
            slot.scale,
        )?),
    };
    let distinct = match &slot.distinct {
        None => None,
        Some(f) => Some(text(e.field(f)?)),
    };
    Some((key, value, distinct))
}

fn key_of(e: &PowerEvent, fields: &[FieldRef]) -> Option<Vec<CompactString>> {
    fields.iter().map(|f| e.field(f).map(text)).collect()
}

fn text(v: FieldValue<'_>) -> CompactString {
    let mut out = CompactString::default();
    v.write_text(&mut out);
    out
}
