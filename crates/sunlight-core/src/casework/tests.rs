//! Exact-value tests of the closed loop.

use compact_str::CompactString;

use super::*;
use crate::rules::measure::Level;
use crate::time::{Duration, Timestamp};
use crate::warning::{Scope, Warning};

const DAY: i64 = 86_400;

pub(super) fn day(d: f64) -> Timestamp {
    Timestamp((d * DAY as f64 * 1e9) as i64)
}

pub(super) fn days(d: i64) -> Duration {
    Duration::from_secs(d * DAY)
}

pub(super) fn warning(id: &str, rule: &str, official: &str, key: &str, level: Level) -> Warning {
    Warning {
        warning_id: id.into(),
        rule_id: rule.into(),
        rule_version: 1,
        official_id: official.into(),
        officials: Vec::new(),
        key: if key.is_empty() {
            vec![]
        } else {
            vec![("counterparty".into(), key.into())]
        },
        level,
        trigger_event_id: format!("e-{id}").into(),
        occurred_at: day(0.0),
        window_start: day(0.0),
        window_end: day(0.0),
        measures: vec![],
        conditions: vec![],
        evidence: vec![],
        evidence_events: vec![],
        evidence_total: 0,
        title: format!("title of {id}"),
        detected_at: day(0.0),
        trigger_source: 0,
        scope: Scope {
            region: Some("r1".into()),
            org_unit: Some("u1".into()),
        },
    }
}

pub(super) fn feedback(id: &str, status: Status, at: Timestamp) -> Feedback {
    Feedback {
        warning_id: id.into(),
        status,
        handler: "h1".into(),
        note: "n".into(),
        at,
    }
}

/// Long deadlines, so only decay moves codes.
fn decay_policy() -> CaseworkPolicy {
    CaseworkPolicy {
        half_life: days(10),
        yellow_receive_within: days(1000),
        red_receive_within: days(1000),
        yellow_resolve_within: days(1000),
        red_resolve_within: days(1000),
        ..CaseworkPolicy::default()
    }
}

fn codes(out: &mut Outputs) -> Vec<(String, &'static str, &'static str, f64)> {
    out.codes
        .drain(..)
        .map(|c| {
            (
                c.official_id.to_string(),
                c.previous.name(),
                c.code.name(),
                c.score,
            )
        })
        .collect()
}

#[test]
fn scores_add_up_and_decay_into_new_codes() {
    let mut book = Casebook::new(decay_policy());
    let mut out = Outputs::default();
    let w1 = warning("w1", "burst", "o1", "", Level::Yellow);
    let w2 = warning("w2", "split", "o1", "C1", Level::Red);
    assert_eq!(book.admit(&w1, day(0.0), &mut out), Admit::NewCase);
    assert_eq!(codes(&mut out), vec![("o1".into(), "green", "yellow", 1.0)]);
    assert_eq!(book.admit(&w2, day(0.0), &mut out), Admit::NewCase);
    let change = out.codes[0].clone();
    assert_eq!(
        change.warnings,
        vec![CompactString::from("w1"), "w2".into()]
    );
    assert_eq!(change.scope.region.as_deref(), Some("r1"));
    assert_eq!(codes(&mut out), vec![("o1".into(), "yellow", "red", 4.0)]);
    // One half-life: 0.5 + 1.5.
    book.tick(day(10.0), &mut out);
    assert_eq!(codes(&mut out), vec![("o1".into(), "red", "yellow", 2.0)]);
    // Three half-lives: 0.125 + 0.375 = 0.5, still yellow: no change.
    book.tick(day(30.0), &mut out);
    assert!(out.codes.is_empty());
    assert_eq!(book.official("o1", day(30.0)).unwrap().score, 0.5);
    book.tick(day(40.0), &mut out);
    assert_eq!(
        codes(&mut out),
        vec![("o1".into(), "yellow", "green", 0.25)]
    );
    // Still held (open warnings) and answered with its score.
    let risk = book.official("o1", day(40.0)).unwrap();
    assert_eq!((risk.code, risk.score), (RiskCode::Green, 0.25));
}

#[test]
fn rule_weights_scale_a_warning() {
    let mut policy = decay_policy();
    policy.rule_weights.insert("split".into(), 0.5);
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    book.admit(
        &warning("w", "split", "o1", "C1", Level::Red),
        day(0.0),
        &mut out,
    );
    assert_eq!(codes(&mut out), vec![("o1".into(), "green", "yellow", 1.5)]);
}

#[test]
fn repeated_warnings_attach_and_feedback_moves_the_whole_case() {
    let mut book = Casebook::new(decay_policy());
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Yellow),
        day(0.0),
        &mut out,
    );
    let attached = book.admit(
        &warning("w2", "split", "o1", "C1", Level::Yellow),
        day(1.0),
        &mut out,
    );
    assert_eq!(
        attached,
        Admit::Attached {
            case_id: "w1".into()
        }
    );
    // Another key is another case.
    let other = book.admit(
        &warning("w3", "split", "o1", "C2", Level::Yellow),
        day(1.0),
        &mut out,
    );
    assert_eq!(other, Admit::NewCase);
    // A repeat of a pushed warning is published again, in its case.
    let repeat = book.admit(
        &warning("w2", "split", "o1", "C1", Level::Yellow),
        day(2.0),
        &mut out,
    );
    assert_eq!(
        repeat,
        Admit::Repeat {
            case_id: "w1".into()
        }
    );
    out.codes.clear();

    let applied = book.feedback(
        &feedback("w2", Status::Received, day(2.0)),
        day(2.0),
        &mut out,
    );
    assert_eq!(
        applied,
        Ok(Applied::Changed(vec!["w1".into(), "w2".into()]))
    );
    assert_eq!(book.warning("w1").unwrap().status, Status::Received);
    assert_eq!(book.warning("w3").unwrap().status, Status::Pushed);
    // The same status again changes nothing.
    assert_eq!(
        book.feedback(
            &feedback("w1", Status::Received, day(2.0)),
            day(2.0),
            &mut out
        ),
        Ok(Applied::Unchanged)
    );
    let applied = book.feedback(
        &feedback("w1", Status::Rectified, day(3.0)),
        day(3.0),
        &mut out,
    );
    assert_eq!(
        applied,
        Ok(Applied::Changed(vec!["w1".into(), "w2".into()]))
    );
    let t = book.warning("w2").unwrap();
    let statuses: Vec<&str> = t.history.iter().map(|h| h.status.name()).collect();
    assert_eq!(statuses, ["pushed", "received", "rectified"]);
    assert_eq!(t.closed_at, Some(day(3.0)));
    // Only w3 stays open: 2^(-0.2) of a yellow.
    let risk = book.official("o1", day(3.0)).unwrap();
    assert_eq!(risk.open, vec![CompactString::from("w3")]);
    assert_eq!(risk.score, (-0.2f64).exp2());
    assert_eq!(book.outcomes()["split"].rectified, 1);
    // The case closed: the next warning of that key opens a new one.
    let next = book.admit(
        &warning("w4", "split", "o1", "C1", Level::Yellow),
        day(4.0),
        &mut out,
    );
    assert_eq!(next, Admit::NewCase);
}

#[test]
fn bad_feedback_is_refused_with_a_reason() {
    let mut book = Casebook::new(decay_policy());
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Yellow),
        day(0.0),
        &mut out,
    );
    let unknown = book
        .feedback(
            &feedback("nope", Status::Received, day(1.0)),
            day(1.0),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(unknown.kind, FeedbackErrorKind::UnknownWarning);
    assert_eq!(unknown.detail, "no warning `nope` is known here");
    book.feedback(
        &feedback("w1", Status::Confirmed, day(1.0)),
        day(1.0),
        &mut out,
    )
    .unwrap();
    for status in [Status::Received, Status::Dismissed] {
        let err = book
            .feedback(&feedback("w1", status, day(2.0)), day(2.0), &mut out)
            .unwrap_err();
        assert_eq!(err.kind, FeedbackErrorKind::InvalidTransition);
        assert_eq!(
            err.detail,
            format!(
                "warning `w1` is confirmed; it cannot become {}",
                status.name()
            )
        );
    }
    assert_eq!(book.outcomes()["split"].confirmed, 1);
    assert_eq!(book.outcomes()["split"].precision(), Some(1.0));
}

#[test]
fn dismissal_suppresses_the_rule_and_key_with_an_audit_trail() {
    let policy = CaseworkPolicy {
        suppress_for: days(30),
        ..decay_policy()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Red),
        day(0.0),
        &mut out,
    );
    book.admit(
        &warning("x1", "split", "o2", "C1", Level::Red),
        day(0.0),
        &mut out,
    );
    book.feedback(
        &feedback("x1", Status::Confirmed, day(1.0)),
        day(1.0),
        &mut out,
    )
    .unwrap();
    book.feedback(
        &feedback("w1", Status::Dismissed, day(2.0)),
        day(2.5),
        &mut out,
    )
    .unwrap();
    let created = out.audit.remove(0);
    assert_eq!(created.action, "suppression_created");
    assert_eq!(created.actor, "h1");
    assert_eq!(created.warning_id, "w1");
    // On processing time (2.5), not the case system's clock (2.0).
    assert_eq!(created.until, day(32.5));
    assert_eq!(created.at, day(2.5));
    assert_eq!(created.case_key.official_id, "o1");
    // Same rule, official and key: suppressed while the dismissal is in force.
    let again = warning("w2", "split", "o1", "C1", Level::Red);
    assert_eq!(
        book.admit(&again, day(32.4), &mut out),
        Admit::Suppressed { until: day(32.5) }
    );
    let suppressed = out.audit.remove(0);
    assert_eq!(
        (
            suppressed.action,
            suppressed.warning_id.as_str(),
            suppressed.actor.as_str()
        ),
        ("warning_suppressed", "w2", "sunlight")
    );
    assert!(book.warning("w2").is_none());
    // Another key of the same rule is not suppressed.
    let other = warning("w3", "split", "o1", "C9", Level::Red);
    assert_eq!(book.admit(&other, day(3.0), &mut out), Admit::NewCase);
    // After it ends, the key opens a new case.
    assert_eq!(book.admit(&again, day(32.5), &mut out), Admit::NewCase);
    let split = book.outcomes()["split"];
    assert_eq!((split.confirmed, split.dismissed), (1, 1));
    assert_eq!(split.precision(), Some(0.5));
}

#[test]
fn overdue_warnings_escalate_once_with_a_deterministic_id() {
    let policy = CaseworkPolicy {
        half_life: days(3),
        yellow_receive_within: days(3),
        yellow_resolve_within: days(12),
        ..CaseworkPolicy::default()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    let w = warning("w1", "burst", "o1", "", Level::Yellow);
    book.admit(&w, day(0.0), &mut out);
    out.codes.clear();
    book.tick(Timestamp(day(3.0).0 - 1), &mut out);
    assert!(out.escalations.is_empty());
    // Decayed to just over half a yellow: still yellow.
    assert!(out.codes.is_empty());
    book.tick(day(3.0), &mut out);
    assert_eq!(out.escalations.len(), 1);
    let e = out.escalations.remove(0);
    assert_eq!(e.warning_id, escalation_id("w1"));
    assert_eq!(escalation_id("w1"), escalation_id("w1"));
    assert_ne!(escalation_id("w1"), escalation_id("w2"));
    assert_eq!(e.level, Level::Red);
    assert_eq!(e.title, "Escalated (not received within 3d): title of w1");
    assert_eq!(e.detected_at, day(3.0));
    // Re-pushed as red: a fresh red weight (3), decaying from the escalation.
    assert_eq!(book.official("o1", day(3.0)).unwrap().score, 3.0);
    assert_eq!(codes(&mut out), vec![("o1".into(), "yellow", "red", 3.0)]);
    assert_eq!(book.official("o1", day(6.0)).unwrap().score, 1.5);
    // Escalates once only.
    book.tick(day(20.0), &mut out);
    assert!(out.escalations.is_empty());
    // Feedback by the escalation's id reaches the original.
    book.feedback(
        &feedback(&e.warning_id, Status::Received, day(21.0)),
        day(21.0),
        &mut out,
    )
    .unwrap();
    assert_eq!(book.warning("w1").unwrap().status, Status::Received);
    assert_eq!(
        book.warning(&e.warning_id).unwrap().warning.warning_id,
        "w1"
    );
}

#[test]
fn received_warnings_escalate_when_not_resolved_in_time() {
    let policy = CaseworkPolicy {
        red_receive_within: days(1),
        red_resolve_within: days(5),
        ..CaseworkPolicy::default()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Red),
        day(0.0),
        &mut out,
    );
    book.feedback(
        &feedback("w1", Status::Received, day(0.5)),
        day(0.5),
        &mut out,
    )
    .unwrap();
    book.tick(day(4.9), &mut out);
    assert!(out.escalations.is_empty());
    book.tick(day(5.0), &mut out);
    assert_eq!(
        out.escalations[0].title,
        "Escalated (not resolved within 5d): title of w1"
    );
}

#[test]
fn closed_warnings_are_forgotten_after_keep_closed_for() {
    let policy = CaseworkPolicy {
        keep_closed_for: days(10),
        ..decay_policy()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Red),
        day(0.0),
        &mut out,
    );
    book.feedback(
        &feedback("w1", Status::Rectified, day(1.0)),
        day(1.0),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        codes(&mut out),
        vec![
            ("o1".into(), "green", "red", 3.0),
            ("o1".into(), "red", "green", 0.0)
        ]
    );
    // A green official with nothing open is not held.
    assert!(book.official("o1", day(1.0)).is_none());
    book.tick(day(10.9), &mut out);
    assert_eq!(book.tracked(), 1);
    book.tick(day(11.0), &mut out);
    assert_eq!(book.tracked(), 0);
    let late = book
        .feedback(
            &feedback("w1", Status::Confirmed, day(12.0)),
            day(12.0),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(late.kind, FeedbackErrorKind::UnknownWarning);
}

#[test]
fn a_warning_joining_a_received_case_takes_its_status_and_does_not_escalate() {
    let policy = CaseworkPolicy {
        yellow_receive_within: days(1),
        ..decay_policy()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    book.admit(
        &warning("w1", "split", "o1", "C1", Level::Yellow),
        day(0.0),
        &mut out,
    );
    book.feedback(
        &feedback("w1", Status::Received, day(0.5)),
        day(0.5),
        &mut out,
    )
    .unwrap();
    let joined = book.admit(
        &warning("w2", "split", "o1", "C1", Level::Yellow),
        day(0.6),
        &mut out,
    );
    assert_eq!(
        joined,
        Admit::Attached {
            case_id: "w1".into()
        }
    );
    let t = book.warning("w2").unwrap();
    assert_eq!(t.status, Status::Received);
    assert_eq!(t.history.last().unwrap().note, "joined case w1");
    book.tick(day(5.0), &mut out);
    assert!(out.escalations.is_empty(), "the case is being handled");
    // `received` again for the first warning changes nothing; `verifying` moves both.
    assert_eq!(
        book.feedback(
            &feedback("w1", Status::Received, day(6.0)),
            day(6.0),
            &mut out
        ),
        Ok(Applied::Unchanged)
    );
    assert_eq!(
        book.feedback(
            &feedback("w1", Status::Verifying, day(6.0)),
            day(6.0),
            &mut out
        ),
        Ok(Applied::Changed(vec!["w1".into(), "w2".into()]))
    );
}

#[test]
fn a_closed_warning_emitted_again_does_not_reopen_its_case() {
    let policy = CaseworkPolicy {
        keep_closed_for: days(1),
        remember_closed_for: days(100),
        ..decay_policy()
    };
    let mut book = Casebook::new(policy);
    let mut out = Outputs::default();
    let w = warning("w1", "split", "o1", "C1", Level::Red);
    book.admit(&w, day(0.0), &mut out);
    book.feedback(
        &feedback("w1", Status::Rectified, day(1.0)),
        day(1.0),
        &mut out,
    )
    .unwrap();
    // Still tracked: closed.
    assert_eq!(book.admit(&w, day(1.5), &mut out), Admit::Closed);
    book.tick(day(2.0), &mut out);
    assert_eq!((book.tracked(), book.remembered_closed()), (0, 1));
    // Forgotten, but remembered by id: still not reopened.
    assert_eq!(book.admit(&w, day(50.0), &mut out), Admit::Closed);
    book.tick(day(101.0), &mut out);
    assert_eq!(book.remembered_closed(), 0);
    assert_eq!(book.admit(&w, day(102.0), &mut out), Admit::NewCase);
}

#[test]
fn the_same_feedback_again_changes_nothing_and_is_not_refused() {
    let mut book = Casebook::new(decay_policy());
    let mut out = Outputs::default();
    let w = warning("w1", "r1", "o1", "k1", Level::Red);
    book.admit(&w, day(0.0), &mut out);
    let received = feedback("w1", Status::Received, day(0.1));
    let verifying = feedback("w1", Status::Verifying, day(0.2));
    assert!(matches!(
        book.feedback(&received, day(0.1), &mut out),
        Ok(Applied::Changed(_))
    ));
    assert!(matches!(
        book.feedback(&verifying, day(0.2), &mut out),
        Ok(Applied::Changed(_))
    ));
    // Read again after a restore: the older message is no backwards move.
    assert_eq!(
        book.feedback(&received, day(0.3), &mut out),
        Ok(Applied::Unchanged)
    );
    // A different message with the older status still is.
    let other = Feedback {
        note: "again".into(),
        ..received
    };
    assert_eq!(
        book.feedback(&other, day(0.3), &mut out).unwrap_err().kind,
        FeedbackErrorKind::InvalidTransition
    );
    assert_eq!(book.warning("w1").unwrap().history.len(), 3);
}
