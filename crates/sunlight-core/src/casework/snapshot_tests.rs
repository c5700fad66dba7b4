//! Casebook snapshots are exact: a casebook restored from a snapshot taken after
//! operation `k` (admit, feedback, tick) gives, for every later operation, the same
//! outputs and results as the casebook that was never interrupted; snapshots split
//! by official and restored side by side equal the whole.

use super::tests::{day, days, feedback, warning};
use super::*;
use crate::rules::filter::CmpOp;
use crate::rules::measure::{FiredCondition, Level, Measure, MeasureValue};
use crate::warning::Warning;

#[derive(Clone)]
enum Op {
    Admit(Box<Warning>, f64),
    Feedback(Feedback, f64),
    Tick(f64),
}

/// Short deadlines, suppressions and memories, so a month of operations escalates,
/// closes, forgets, suppresses and expires.
fn busy_policy() -> CaseworkPolicy {
    CaseworkPolicy {
        half_life: days(5),
        yellow_receive_within: days(2),
        red_receive_within: days(1),
        yellow_resolve_within: days(8),
        red_resolve_within: days(4),
        suppress_for: days(6),
        keep_closed_for: days(3),
        remember_closed_for: days(12),
        ..CaseworkPolicy::default()
    }
}

/// A deterministic month: six officials, two rules, two keys; warnings (some
/// re-emitted), feedback of every kind (some refused), ticks twice a day.
fn script() -> Vec<Op> {
    let mut ops = Vec::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut pushed: Vec<String> = Vec::new();
    let mut emitted: Vec<Warning> = Vec::new();
    for step in 0..240u64 {
        let t = step as f64 / 8.0;
        match next(6) {
            0..=2 => {
                let o = next(6);
                let id = format!("w{step}");
                let mut w = warning(
                    &id,
                    ["r1", "r2"][next(2) as usize],
                    &format!("o{o}"),
                    ["k1", "k2", ""][next(3) as usize],
                    if next(3) == 0 {
                        Level::Red
                    } else {
                        Level::Yellow
                    },
                );
                w.trigger_source = (o % 3 + 1) << 40 | step;
                w.measures = vec![
                    (Measure::Count, MeasureValue::Int(step as i64)),
                    (Measure::Ratio, MeasureValue::Float(step as f64 / 7.0)),
                ];
                w.conditions = vec![
                    FiredCondition {
                        measure: Measure::Count,
                        op: CmpOp::Gte,
                        threshold: 2.0,
                        value: MeasureValue::Int(step as i64),
                    },
                    FiredCondition {
                        measure: Measure::Ratio,
                        op: CmpOp::Lt,
                        threshold: 0.5,
                        value: MeasureValue::Float(step as f64 / 7.0),
                    },
                ];
                w.evidence = vec![format!("e{step}").into()];
                w.evidence_total = 3;
                ops.push(Op::Admit(Box::new(w.clone()), t));
                pushed.push(id);
                emitted.push(w);
                if next(4) == 0 {
                    // A re-read emits an earlier warning again.
                    let again = emitted[next(emitted.len() as u64) as usize].clone();
                    ops.push(Op::Admit(Box::new(again), t));
                }
            }
            3 | 4 if !pushed.is_empty() => {
                let id = pushed[next(pushed.len() as u64) as usize].clone();
                let status = Status::ALL[1 + next(5) as usize];
                let id = if next(6) == 0 { escalation_id(&id) } else { id };
                ops.push(Op::Feedback(feedback(&id, status, day(t)), t));
            }
            _ => ops.push(Op::Tick(t)),
        }
    }
    ops
}

/// Applies `op`; what it returned and produced, as text (every field, exactly).
fn apply(book: &mut Casebook, op: &Op) -> String {
    let mut out = Outputs::default();
    let result = match op {
        Op::Admit(w, t) => format!("{:?}", book.admit(w, day(*t), &mut out)),
        Op::Feedback(f, t) => format!("{:?}", book.feedback(f, day(*t), &mut out)),
        Op::Tick(t) => {
            book.tick(day(*t), &mut out);
            String::new()
        }
    };
    format!("{result} {out:?}")
}

fn observe(book: &Casebook, t: f64) -> String {
    let mut officials: Vec<String> = (0..6)
        .map(|o| {
            let id = format!("o{o}");
            format!(
                "{:?} {:?}",
                book.official(&id, day(t)),
                book.code_history(&id)
            )
        })
        .collect();
    officials.push(format!("{:?}", book.outcomes()));
    officials.push(format!(
        "{} {} {} {}",
        book.tracked(),
        book.open(),
        book.remembered_closed(),
        book.suppressions()
    ));
    officials.join("\n")
}

#[test]
fn a_restored_casebook_continues_exactly_like_the_uninterrupted_one() {
    let ops = script();
    let mut whole = Casebook::new(busy_policy());
    let mut whole_log = Vec::new();
    for op in &ops {
        whole_log.push(apply(&mut whole, op));
    }
    assert!(
        whole_log
            .iter()
            .any(|l| l.contains("escalations: [Warning")),
        "the script escalates"
    );
    assert!(whole_log.iter().any(|l| l.contains("suppression_created")));
    assert!(
        whole_log.iter().any(|l| l.contains("Closed")),
        "re-reads of closed warnings"
    );
    assert!(whole.remembered_closed() > 0, "closed ids remembered");
    for cut in (0..ops.len()).step_by(17) {
        let mut first = Casebook::new(busy_policy());
        for op in &ops[..cut] {
            apply(&mut first, op);
        }
        let snapshot = first.snapshot(|_, _| true);
        // Through JSON, as it travels on the state topic.
        let text = serde_json::to_string(&snapshot).unwrap();
        let read: CasebookSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(read, snapshot);
        let mut restored = Casebook::new(busy_policy());
        restored.restore(&read).unwrap();
        assert_eq!(restored.snapshot(|_, _| true), snapshot, "cut {cut}");
        for (i, op) in ops.iter().enumerate().skip(cut) {
            assert_eq!(apply(&mut restored, op), whole_log[i], "cut {cut}, op {i}");
        }
        assert_eq!(observe(&restored, 31.0), observe(&whole, 31.0), "cut {cut}");
        assert_eq!(restored.snapshot(|_, _| true), whole.snapshot(|_, _| true));
    }
}

#[test]
fn snapshots_split_by_source_and_restored_side_by_side_equal_the_whole() {
    let ops = script();
    let cut = ops.len() / 2;
    let mut book = Casebook::new(busy_policy());
    for op in &ops[..cut] {
        apply(&mut book, op);
    }
    let partition = |source: u64| source >> 40;
    let parts: Vec<CasebookSnapshot> = (1..=3)
        .map(|p| book.snapshot(|_, source| partition(source) == p))
        .collect();
    assert!(parts.iter().all(|p| !p.officials.is_empty()));
    let total: usize = parts.iter().map(|p| p.officials.len()).sum();
    assert_eq!(
        total,
        book.snapshot(|_, _| true).officials.len(),
        "disjoint"
    );
    let mut joined = Casebook::new(busy_policy());
    for part in parts.iter().rev() {
        joined.restore(part).unwrap();
    }
    assert_eq!(joined.snapshot(|_, _| true), book.snapshot(|_, _| true));
    for op in &ops[cut..] {
        assert_eq!(apply(&mut joined, op), apply(&mut book, op));
    }
    assert_eq!(observe(&joined, 31.0), observe(&book, 31.0));
}

#[test]
fn forgetting_a_partition_leaves_the_others_and_their_precision_intact() {
    let ops = script();
    let mut book = Casebook::new(busy_policy());
    for op in &ops {
        apply(&mut book, op);
    }
    let partition = |source: u64| source >> 40;
    let kept = book.snapshot(|_, source| partition(source) != 2);
    let mut only_kept = Casebook::new(busy_policy());
    only_kept.restore(&kept).unwrap();
    let forgotten = book.forget_officials(|_, source| partition(source) == 2);
    assert!(forgotten > 0);
    assert_eq!(book.snapshot(|_, _| true), kept);
    assert_eq!(
        book.outcomes(),
        only_kept.outcomes(),
        "precision of the rest"
    );
    assert_eq!(observe(&book, 31.0), observe(&only_kept, 31.0));
}

#[test]
fn restore_refuses_other_formats_and_unknown_names_and_changes_nothing() {
    let ops = script();
    let mut book = Casebook::new(busy_policy());
    for op in &ops[..100] {
        apply(&mut book, op);
    }
    let good = book.snapshot(|_, _| true);
    let mut other = good.clone();
    other.format = 3;
    assert_eq!(
        Casebook::new(busy_policy()).restore(&other),
        Err(CasebookRestoreError::Format(3))
    );
    let mut bad = good.clone();
    let official = bad
        .officials
        .iter_mut()
        .find(|o| !o.warnings.is_empty())
        .unwrap();
    official.warnings[0].status = "lost".into();
    let name = official.official_id.clone();
    let mut target = Casebook::new(busy_policy());
    target.restore(&good).unwrap();
    assert_eq!(
        target.restore(&bad),
        Err(CasebookRestoreError::Unknown {
            official: name,
            what: "status",
            name: "lost".into()
        })
    );
    assert_eq!(target.snapshot(|_, _| true), good, "nothing changed");
}

#[test]
fn retag_moves_sources_and_trigger_sources() {
    let mut book = Casebook::new(busy_policy());
    let mut w = warning("w1", "r1", "o1", "k1", Level::Red);
    w.trigger_source = 5 << 40 | 9;
    book.admit(&w, day(0.0), &mut Outputs::default());
    let mut snapshot = book.snapshot(|_, _| true);
    snapshot.retag(|s| (s & ((1 << 40) - 1)) | 7 << 40);
    let mut moved = Casebook::new(busy_policy());
    moved.restore(&snapshot).unwrap();
    assert_eq!(moved.source_of("o1"), 7 << 40 | 9);
    assert_eq!(
        moved.warning("w1").unwrap().warning.trigger_source,
        7 << 40 | 9
    );
}

/// Incremental snapshots: per partition, a full snapshot plus every delta after it
/// equals the full snapshot taken at the last delta — through JSON, at every step.
#[test]
fn a_full_snapshot_plus_its_deltas_equals_the_full_snapshot_at_the_last_delta() {
    let ops = script();
    let partition = |source: u64| source >> 40;
    let mut book = Casebook::new(busy_policy());
    assert_eq!(book.delta(|_, _| true), None, "not tracked yet");
    let mut chains: Vec<CasebookSnapshot> = Vec::new();
    let mut delta_officials = 0;
    for (step, op) in ops.iter().enumerate() {
        apply(&mut book, op);
        if step % 9 != 0 {
            continue;
        }
        for (i, p) in (1..=3).enumerate() {
            let select = |_: &str, source: u64| partition(source) == p;
            if step == 0 {
                chains.push(book.snapshot(select));
                continue;
            }
            let delta = book.delta(select).unwrap();
            delta_officials += delta.officials.len();
            let text = serde_json::to_string(&delta).unwrap();
            chains[i]
                .apply(serde_json::from_str(&text).unwrap())
                .unwrap();
            assert_eq!(chains[i], book.snapshot(select), "partition {p}, op {step}");
        }
        book.mark_changes();
    }
    let steps = ops.len() / 9;
    assert!(
        delta_officials < steps * 6,
        "deltas carry only changed officials: {delta_officials} in {steps} steps of 6"
    );
    let mut restored = Casebook::new(busy_policy());
    for chain in &chains {
        restored.restore(chain).unwrap();
    }
    assert_eq!(observe(&restored, 31.0), observe(&book, 31.0));
}

#[test]
fn a_delta_of_another_format_is_refused() {
    let mut base = Casebook::new(busy_policy()).snapshot(|_, _| true);
    let delta = CasebookSnapshot {
        format: 7,
        officials: Vec::new(),
    };
    assert_eq!(base.apply(delta), Err(CasebookRestoreError::Format(7)));
}

/// Format 2 keeps every warning's conditions and every official's code history,
/// exactly, through postcard (the state topic) and JSON.
#[test]
fn format_2_round_trips_conditions_and_code_history_exactly() {
    let ops = script();
    let mut book = Casebook::new(busy_policy());
    for op in &ops {
        apply(&mut book, op);
    }
    let snapshot = book.snapshot(|_, _| true);
    assert_eq!(snapshot.format, 2);
    let histories: usize = snapshot
        .officials
        .iter()
        .map(|o| o.code_history.len())
        .sum();
    assert!(histories > 0, "codes changed");
    assert!(
        snapshot
            .officials
            .iter()
            .flat_map(|o| &o.warnings)
            .all(|t| t.warning.conditions.len() == 2)
    );
    let bytes = postcard::to_stdvec(&snapshot).unwrap();
    let read: CasebookSnapshot = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(read, snapshot);
    let json: CasebookSnapshot =
        serde_json::from_str(&serde_json::to_string(&snapshot).unwrap()).unwrap();
    assert_eq!(json, snapshot);
    let mut restored = Casebook::new(busy_policy());
    restored.restore(&read).unwrap();
    for o in 0..6 {
        let id = format!("o{o}");
        assert_eq!(restored.code_history(&id), book.code_history(&id), "{id}");
    }
    for t in book.tracked_warnings() {
        let id = t.warning.warning_id.as_str();
        assert_eq!(restored.warning(id).unwrap().warning, t.warning, "{id}");
    }
    assert_eq!(restored.snapshot(|_, _| true), snapshot);
}

/// Format 1 as an earlier version wrote it.
fn to_v1(s: &CasebookSnapshot) -> super::snapshot_v1::CasebookSnapshotV1 {
    use super::snapshot_v1::*;
    CasebookSnapshotV1 {
        format: 1,
        officials: s
            .officials
            .iter()
            .map(|o| OfficialCasesV1 {
                official_id: o.official_id.clone(),
                source: o.source,
                book: o.book.as_ref().map(|b| BookSnapshotV1 {
                    region: b.region.clone(),
                    org_unit: b.org_unit.clone(),
                    open: b.open.clone(),
                    code: b.code.clone(),
                }),
                warnings: o
                    .warnings
                    .iter()
                    .map(|t| TrackedSnapshotV1 {
                        warning: WarningSnapshotV1 {
                            warning_id: t.warning.warning_id.clone(),
                            rule_id: t.warning.rule_id.clone(),
                            rule_version: t.warning.rule_version,
                            key: t.warning.key.clone(),
                            level: t.warning.level.clone(),
                            trigger_event_id: t.warning.trigger_event_id.clone(),
                            times: t.warning.times,
                            measures: t.warning.measures.clone(),
                            evidence: t.warning.evidence.clone(),
                            evidence_total: t.warning.evidence_total,
                            title: t.warning.title.clone(),
                            trigger_source: t.warning.trigger_source,
                            scope: t.warning.scope.clone(),
                        },
                        pushed_at: t.pushed_at,
                        status: t.status.clone(),
                        history: t.history.clone(),
                        case_id: t.case_id.clone(),
                        escalation: t.escalation.clone(),
                        closed_at: t.closed_at,
                    })
                    .collect(),
                cases: o.cases.clone(),
                suppressions: o.suppressions.clone(),
                closed: o.closed.clone(),
                outcomes: o.outcomes.clone(),
            })
            .collect(),
    }
}

/// A format-1 snapshot (postcard into the legacy structures, or JSON straight into
/// the current ones) restores: everything but conditions and code history, which
/// start empty; the restored casebook then decides like the original.
#[test]
fn format_1_snapshots_restore_without_conditions_and_history() {
    let ops = script();
    let cut = ops.len() / 2;
    let mut book = Casebook::new(busy_policy());
    for op in &ops[..cut] {
        apply(&mut book, op);
    }
    let current = book.snapshot(|_, _| true);
    let v1 = to_v1(&current);
    let mut expected = current.clone();
    expected.format = 1;
    for o in &mut expected.officials {
        o.code_history.clear();
        for t in &mut o.warnings {
            t.warning.conditions.clear();
        }
    }
    let bytes = postcard::to_stdvec(&v1).unwrap();
    let from_postcard: CasebookSnapshot =
        postcard::from_bytes::<super::snapshot_v1::CasebookSnapshotV1>(&bytes)
            .unwrap()
            .into();
    assert_eq!(from_postcard, expected);
    let from_json: CasebookSnapshot =
        serde_json::from_str(&serde_json::to_string(&v1).unwrap()).unwrap();
    assert_eq!(from_json, expected);
    let mut restored = Casebook::new(busy_policy());
    assert_eq!(
        restored.restore(&from_postcard),
        Ok(current.officials.len())
    );
    let mut again = expected.clone();
    again.format = 2;
    assert_eq!(restored.snapshot(|_, _| true), again);
    // Later decisions are the original's (but for the conditions of warnings
    // admitted before the snapshot, which format 1 did not keep).
    let mut escalated = false;
    for op in &ops[cut..] {
        let (a, b) = (apply(&mut restored, op), apply(&mut book, op));
        escalated |= b.contains("escalations: [Warning");
        assert_eq!(without_conditions(&a), without_conditions(&b));
    }
    assert!(escalated, "outputs carry warnings");
}

/// `Debug` text with every warning's conditions emptied.
fn without_conditions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("conditions: [") {
        let from = start + "conditions: [".len();
        let end = rest[from..].find("], evidence").expect("conditions end") + from;
        out.push_str(&rest[..from]);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// After a format-1 restore, conditions come back from the rule pack.
#[test]
fn conditions_are_recomputed_from_the_rule_of_the_same_version() {
    let pack = crate::rules::compile_pack(
        r#"
[pack]
name = "t"
version = "1"

[[rule]]
id = "split"
version = 1
kind = "aggregate"
title = "t"
window = "30d"
group_by = ["counterparty"]
measures = { sum = "amount_cents" }
red = { count = ">= 2", sum = ">= 5000000" }
yellow = { count = ">= 2" }
[rule.filter]
kind = "payment"
"#,
        std::path::Path::new("."),
        "t",
    )
    .unwrap();
    let mut book = Casebook::new(busy_policy());
    let mut out = Outputs::default();
    let mut split = warning("w1", "split", "o1", "k1", Level::Red);
    split.measures = vec![
        (Measure::Count, MeasureValue::Int(3)),
        (Measure::Sum, MeasureValue::Int(9_000_000)),
    ];
    let mut newer = split.clone();
    newer.warning_id = "w2".into();
    newer.rule_version = 2;
    let mut other = split.clone();
    other.warning_id = "w3".into();
    other.rule_id = "burst".into();
    for w in [&split, &newer, &other] {
        book.admit(w, day(0.0), &mut out);
    }
    assert_eq!(book.recompute_conditions(&pack), 1);
    assert_eq!(
        book.warning("w1").unwrap().warning.conditions,
        vec![
            FiredCondition {
                measure: Measure::Count,
                op: CmpOp::Gte,
                threshold: 2.0,
                value: MeasureValue::Int(3),
            },
            FiredCondition {
                measure: Measure::Sum,
                op: CmpOp::Gte,
                threshold: 5_000_000.0,
                value: MeasureValue::Int(9_000_000),
            },
        ]
    );
    assert_eq!(book.warning("w2").unwrap().warning.conditions, vec![]);
    assert_eq!(book.warning("w3").unwrap().warning.conditions, vec![]);
    assert_eq!(book.recompute_conditions(&pack), 0, "already filled");
}
