//! [`Casebook`]: the lifecycle of every pushed warning, the open cases, the
//! suppressions, and each official's risk code. Pure and single-threaded: the caller
//! passes processing time (`now`) into every method, so tests are exact and a replay
//! of feedback gives the same result.
//!
//! - [`Casebook::admit`] takes a warning the engine produced, before it is published:
//!   it is suppressed (a dismissal of the same rule, official and key is in force),
//!   attached to the open case of its rule, official and key, or opens a new case.
//! - [`Casebook::feedback`] applies a case-system status to the named warning's case.
//! - [`Casebook::tick`] escalates overdue warnings, re-codes officials whose score
//!   decayed, and forgets what has been closed for long enough.
//!
//! Every change of an official's code is reported in [`Outputs::codes`] and kept in
//! the official's code history ([`Casebook::code_history`], the newest
//! [`CODE_HISTORY_CAP`] changes).

use std::collections::BTreeMap;

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};
use uuid::Uuid;

use super::feedback::{Feedback, FeedbackError, FeedbackErrorKind, Status};
use super::policy::CaseworkPolicy;
use super::risk::{RiskCode, decayed_weight};
use crate::rules::measure::Level;
use crate::time::Timestamp;
use crate::warning::{Scope, WARNING_ID_NAMESPACE, Warning};

/// A rule, official and key: one case at a time, one suppression at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CaseKey {
    /// The rule.
    pub rule_id: String,
    /// The official.
    pub official_id: CompactString,
    /// The rule's further key fields.
    pub key: Vec<(CompactString, CompactString)>,
}

impl CaseKey {
    /// The case key of a warning.
    pub fn of(w: &Warning) -> CaseKey {
        CaseKey {
            rule_id: w.rule_id.clone(),
            official_id: w.official_id.clone(),
            key: w.key.clone(),
        }
    }
}

/// One status change of a warning.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The new status.
    pub status: Status,
    /// Who (the case system's handler, or `sunlight`).
    pub handler: CompactString,
    /// Free text.
    pub note: String,
    /// When, by the sender's clock.
    pub at: Timestamp,
}

/// Why and when a warning escalated.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The escalation warning's id (deterministic from the original's).
    pub warning_id: String,
    /// When (processing time).
    pub at: Timestamp,
    /// `not received within 1d`, `not resolved within 15d`.
    pub reason: String,
}

/// A pushed warning and its disposal.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The warning as published.
    pub warning: Warning,
    /// When it was pushed (processing time).
    pub pushed_at: Timestamp,
    /// Current status.
    pub status: Status,
    /// Every status it had, oldest first (starts with `pushed`).
    pub history: Vec<Transition>,
    /// The case it belongs to: the id of the case's first warning.
    pub case_id: CompactString,
    /// Set once it escalated.
    pub escalation: Option<Escalation>,
    /// When it closed (processing time).
    pub closed_at: Option<Timestamp>,
}

impl Tracked {
    /// The level it counts at: red once escalated.
    pub fn effective_level(&self) -> Level {
        if self.escalation.is_some() {
            Level::Red
        } else {
            self.warning.level
        }
    }
}

/// What [`Casebook::admit`] decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Admit {
    /// Publish it: it opens a new case (its own id is the case id).
    NewCase,
    /// Publish it: it joins the open case `case_id` of the same rule, official and key.
    Attached {
        /// The open case.
        case_id: CompactString,
    },
    /// Publish it again: already pushed (a re-read after a rebalance or restart).
    Repeat {
        /// Its case.
        case_id: CompactString,
    },
    /// Do not publish: this warning was pushed and closed before (a re-read after a
    /// rebalance or restart emits it again); the case system has it.
    Closed,
    /// Do not publish: a dismissal of this rule, official and key is in force.
    Suppressed {
        /// Until when.
        until: Timestamp,
    },
}

/// An official's code changed.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeChange {
    /// The official.
    pub official_id: CompactString,
    /// The new code.
    pub code: RiskCode,
    /// The code before.
    pub previous: RiskCode,
    /// The score that earned it.
    pub score: f64,
    /// When (processing time).
    pub at: Timestamp,
    /// The open warnings behind it (ids, oldest first).
    pub warnings: Vec<CompactString>,
    /// The official's scope.
    pub scope: Scope,
}

/// Code changes kept per official ([`Casebook::code_history`]): the newest 100; an
/// older change is dropped when a newer one arrives.
pub const CODE_HISTORY_CAP: usize = 100;

/// One change of an official's code, as kept in its history (a [`CodeChange`]
/// without the official and the scope).
#[derive(Debug, Clone, PartialEq)]
pub struct CodeRecord {
    /// When (processing time).
    pub at: Timestamp,
    /// The new code.
    pub code: RiskCode,
    /// The code before.
    pub previous: RiskCode,
    /// The score that earned it.
    pub score: f64,
    /// The open warnings behind it (ids, oldest first).
    pub warnings: Vec<CompactString>,
}

/// A record for the audit trail produced by the loop itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `suppression_created` or `warning_suppressed`.
    pub action: &'static str,
    /// When (processing time).
    pub at: Timestamp,
    /// Who caused it (the handler who dismissed; `sunlight` for a suppressed warning).
    pub actor: CompactString,
    /// The warning dismissed or suppressed.
    pub warning_id: CompactString,
    /// Its rule, official and key.
    pub case_key: CaseKey,
    /// The suppression's end.
    pub until: Timestamp,
    /// The dismissal's note.
    pub note: String,
}

/// What a call produced for the outside world.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Code changes, to publish on the risk-codes topic.
    pub codes: Vec<CodeChange>,
    /// Escalation warnings, to publish on the warnings topic.
    pub escalations: Vec<Warning>,
    /// Audit records.
    pub audit: Vec<AuditEvent>,
}

/// What a feedback message did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The warning's case moved to the new status (these warnings changed).
    Changed(Vec<CompactString>),
    /// The warning already had this status: nothing changed.
    Unchanged,
}

/// Confirmed, dismissed and rectified decisions of one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleOutcomes {
    /// Cases confirmed (true positives).
    pub confirmed: u64,
    /// Cases dismissed (false positives).
    pub dismissed: u64,
    /// Cases rectified.
    pub rectified: u64,
}

impl RuleOutcomes {
    /// confirmed / (confirmed + dismissed); None before any such decision.
    pub fn precision(&self) -> Option<f64> {
        let decided = self.confirmed + self.dismissed;
        (decided > 0).then(|| self.confirmed as f64 / decided as f64)
    }
}

/// An official's current risk.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialRisk {
    /// Score now.
    pub score: f64,
    /// Code now.
    pub code: RiskCode,
    /// Where the official belongs.
    pub scope: Scope,
    /// Open warnings, oldest first.
    pub open: Vec<CompactString>,
}

#[derive(Debug, Default)]
pub(super) struct OfficialBook {
    pub(super) scope: Scope,
    /// Open warning ids, in push order.
    pub(super) open: Vec<CompactString>,
    pub(super) code: Option<RiskCode>,
}

#[derive(Debug, Clone)]
pub(super) struct Suppression {
    pub(super) until: Timestamp,
}

/// The closed loop's state. See the module docs. Everything in it belongs to one
/// official, so it can be snapshotted and restored by official (`snapshot.rs`).
#[derive(Debug, Default)]
pub struct Casebook {
    pub(super) policy: CaseworkPolicy,
    pub(super) warnings: FxHashMap<CompactString, Tracked>,
    /// Escalation id -> original warning id.
    pub(super) aliases: FxHashMap<CompactString, CompactString>,
    /// Open cases: key -> (case id, open member ids).
    pub(super) cases: FxHashMap<CaseKey, (CompactString, Vec<CompactString>)>,
    pub(super) suppressions: FxHashMap<CaseKey, Suppression>,
    pub(super) officials: FxHashMap<CompactString, OfficialBook>,
    /// Decisions per rule, over every official held (the sum of `official_outcomes`).
    pub(super) outcomes: BTreeMap<String, RuleOutcomes>,
    /// Decisions per official and rule (what a snapshot of the official carries).
    pub(super) official_outcomes: FxHashMap<CompactString, BTreeMap<String, RuleOutcomes>>,
    /// Closed warnings already forgotten (XXH3 of the id -> closed at, official), so a
    /// re-read that emits them again does not reopen their case.
    pub(super) closed: FxHashMap<u64, (Timestamp, CompactString)>,
    /// Per official, the source tag of the latest warning admitted (the caller's
    /// partition bookkeeping, as [`Warning::trigger_source`]).
    pub(super) sources: FxHashMap<CompactString, u64>,
    /// Per official, its code changes, oldest first (at most [`CODE_HISTORY_CAP`]).
    /// Kept apart from the book: a book is forgotten when its official turns green
    /// with nothing open, the history of that change is not (it goes with the
    /// official's other state, when its partition is given up).
    pub(super) code_history: FxHashMap<CompactString, Vec<CodeRecord>>,
    /// Officials whose part changed since the last mark (incremental snapshots;
    /// None: not tracked).
    pub(super) changed: Option<FxHashSet<CompactString>>,
}

/// The handler name Sunlight uses for its own transitions.
pub const SUNLIGHT: &str = "sunlight";

/// The id of the escalation of `warning_id`: UUIDv5, stable across runs.
pub fn escalation_id(warning_id: &str) -> String {
    let mut name = b"sunlight.escalation.v1\0".to_vec();
    name.extend_from_slice(warning_id.as_bytes());
    Uuid::new_v5(&WARNING_ID_NAMESPACE, &name)
        .hyphenated()
        .to_string()
}

impl Casebook {
    /// An empty casebook (validate the policy first).
    pub fn new(policy: CaseworkPolicy) -> Casebook {
        Casebook {
            policy,
            ..Casebook::default()
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &CaseworkPolicy {
        &self.policy
    }

    /// Warnings tracked (open, and closed but not yet forgotten).
    pub fn tracked(&self) -> usize {
        self.warnings.len()
    }

    /// Open warnings.
    pub fn open(&self) -> usize {
        self.officials.values().map(|o| o.open.len()).sum()
    }

    /// Open warnings that escalated (missed a deadline) and are still open.
    pub fn overdue(&self) -> usize {
        self.officials
            .values()
            .flat_map(|o| &o.open)
            .filter(|id| {
                self.warnings
                    .get(*id)
                    .is_some_and(|t| t.escalation.is_some())
            })
            .count()
    }

    /// Closed warnings remembered by id hash only (forgotten otherwise).
    pub fn remembered_closed(&self) -> usize {
        self.closed.len()
    }

    /// Suppressions in force (some may have expired since the last tick).
    pub fn suppressions(&self) -> usize {
        self.suppressions.len()
    }

    /// Per rule, the decisions so far.
    pub fn outcomes(&self) -> &BTreeMap<String, RuleOutcomes> {
        &self.outcomes
    }

    /// A warning (or, by its escalation id, the escalated original).
    pub fn warning(&self, id: &str) -> Option<&Tracked> {
        let id = self.aliases.get(id).map_or(id, |o| o.as_str());
        self.warnings.get(id)
    }

    /// Officials whose code is not green, with their codes.
    pub fn coded(&self) -> impl Iterator<Item = (&str, RiskCode)> {
        self.officials.iter().filter_map(|(id, o)| {
            o.code
                .filter(|c| *c != RiskCode::Green)
                .map(|c| (id.as_str(), c))
        })
    }

    /// The official's risk now; None if Sunlight holds no warnings for them.
    pub fn official(&self, official_id: &str, now: Timestamp) -> Option<OfficialRisk> {
        let book = self.officials.get(official_id)?;
        let score = self.score(book, now);
        Some(OfficialRisk {
            score,
            code: RiskCode::of(score, &self.policy),
            scope: book.scope.clone(),
            open: book.open.clone(),
        })
    }

    /// Decides what happens to a warning about to be published, and tracks it.
    pub fn admit(&mut self, warning: &Warning, now: Timestamp, out: &mut Outputs) -> Admit {
        if let Some(t) = self.warnings.get(warning.warning_id.as_str()) {
            if t.status.is_closed() {
                return Admit::Closed;
            }
            return Admit::Repeat {
                case_id: t.case_id.clone(),
            };
        }
        if self
            .closed
            .contains_key(&xxhash_rust::xxh3::xxh3_64(warning.warning_id.as_bytes()))
        {
            return Admit::Closed;
        }
        let key = CaseKey::of(warning);
        if let Some(s) = self.suppressions.get(&key) {
            if s.until > now {
                let until = s.until;
                out.audit.push(AuditEvent {
                    action: "warning_suppressed",
                    at: now,
                    actor: SUNLIGHT.into(),
                    warning_id: warning.warning_id.as_str().into(),
                    case_key: key,
                    until,
                    note: String::new(),
                });
                return Admit::Suppressed { until };
            }
            self.suppressions.remove(&key);
        }
        let id = CompactString::from(warning.warning_id.as_str());
        let mut history = vec![Transition {
            status: Status::Pushed,
            handler: SUNLIGHT.into(),
            note: String::new(),
            at: now,
        }];
        let (decision, case_id, status) = match self.cases.get_mut(&key) {
            Some((case_id, members)) => {
                // A warning joining a case takes the case's progress: the case
                // system handles the case, not each warning of it.
                let status = members
                    .iter()
                    .filter_map(|m| self.warnings.get(m))
                    .map(|t| t.status)
                    .max_by_key(|s| s.stage())
                    .unwrap_or(Status::Pushed);
                members.push(id.clone());
                if status != Status::Pushed {
                    history.push(Transition {
                        status,
                        handler: SUNLIGHT.into(),
                        note: format!("joined case {case_id}"),
                        at: now,
                    });
                }
                (
                    Admit::Attached {
                        case_id: case_id.clone(),
                    },
                    case_id.clone(),
                    status,
                )
            }
            None => {
                self.cases.insert(key, (id.clone(), vec![id.clone()]));
                (Admit::NewCase, id.clone(), Status::Pushed)
            }
        };
        self.warnings.insert(
            id.clone(),
            Tracked {
                warning: warning.clone(),
                pushed_at: now,
                status,
                history,
                case_id,
                escalation: None,
                closed_at: None,
            },
        );
        self.sources
            .insert(warning.official_id.clone(), warning.trigger_source);
        let book = self
            .officials
            .entry(warning.official_id.clone())
            .or_default();
        book.open.push(id);
        if warning.scope.region.is_some() {
            book.scope.region = warning.scope.region.clone();
        }
        if warning.scope.org_unit.is_some() {
            book.scope.org_unit = warning.scope.org_unit.clone();
        }
        self.recode(warning.official_id.as_str(), now, out);
        if let Some(c) = self.changed.as_mut() {
            c.insert(warning.official_id.clone());
        }
        decision
    }

    /// Applies one feedback message to the named warning's whole case: every open
    /// warning of the case at an earlier stage moves to the new status.
    pub fn feedback(
        &mut self,
        fb: &Feedback,
        now: Timestamp,
        out: &mut Outputs,
    ) -> Result<Applied, FeedbackError> {
        let id = self
            .aliases
            .get(fb.warning_id.as_str())
            .cloned()
            .unwrap_or_else(|| fb.warning_id.clone());
        let Some(named) = self.warnings.get(&id) else {
            return Err(FeedbackError::new(
                FeedbackErrorKind::UnknownWarning,
                format!("no warning `{}` is known here", fb.warning_id),
            ));
        };
        if named.history.iter().any(|h| {
            h.status == fb.status && h.handler == fb.handler && h.at == fb.at && h.note == fb.note
        }) {
            // The same message again (a redelivery, or feedback read again after a
            // restore): already applied.
            return Ok(Applied::Unchanged);
        }
        if named.status != fb.status && fb.status.stage() <= named.status.stage() {
            return Err(FeedbackError::new(
                FeedbackErrorKind::InvalidTransition,
                format!(
                    "warning `{}` is {}; it cannot become {}",
                    fb.warning_id,
                    named.status.name(),
                    fb.status.name()
                ),
            ));
        }
        let key = CaseKey::of(&named.warning);
        let official = named.warning.official_id.clone();
        let members: Vec<CompactString> = match self.cases.get(&key) {
            Some((case_id, members)) if *case_id == named.case_id => members.clone(),
            _ => vec![id.clone()],
        };
        let mut changed = Vec::new();
        for member in members {
            let Some(t) = self.warnings.get_mut(&member) else {
                continue;
            };
            if t.status.stage() >= fb.status.stage() {
                continue;
            }
            t.status = fb.status;
            t.history.push(Transition {
                status: fb.status,
                handler: fb.handler.clone(),
                note: fb.note.clone(),
                at: fb.at,
            });
            if fb.status.is_closed() {
                t.closed_at = Some(now);
            }
            changed.push(member);
        }
        if changed.is_empty() {
            return Ok(Applied::Unchanged);
        }
        if let Some(c) = self.changed.as_mut() {
            c.insert(official.clone());
        }
        if fb.status.is_closed() {
            let by_official = self.official_outcomes.entry(official.clone()).or_default();
            for outcome in [
                self.outcomes.entry(key.rule_id.clone()).or_default(),
                by_official.entry(key.rule_id.clone()).or_default(),
            ] {
                match fb.status {
                    Status::Confirmed => outcome.confirmed += 1,
                    Status::Dismissed => outcome.dismissed += 1,
                    _ => outcome.rectified += 1,
                }
            }
            if let Some(book) = self.officials.get_mut(&official) {
                book.open.retain(|w| !changed.contains(w));
            }
            if let Some((_, open)) = self.cases.get_mut(&key) {
                open.retain(|w| !changed.contains(w));
                if open.is_empty() {
                    self.cases.remove(&key);
                }
            }
            if fb.status == Status::Dismissed {
                // Processing time, like every deadline of the loop: the case
                // system's clock does not decide how long a suppression lasts.
                let until = now.saturating_add(self.policy.suppress_for);
                self.suppressions.insert(key.clone(), Suppression { until });
                out.audit.push(AuditEvent {
                    action: "suppression_created",
                    at: now,
                    actor: fb.handler.clone(),
                    warning_id: fb.warning_id.clone(),
                    case_key: key,
                    until,
                    note: fb.note.clone(),
                });
            }
            self.recode(&official, now, out);
        }
        Ok(Applied::Changed(changed))
    }

    /// Escalates overdue warnings, re-codes officials (scores decay), forgets
    /// warnings closed longer than `keep_closed_for` and expired suppressions.
    pub fn tick(&mut self, now: Timestamp, out: &mut Outputs) {
        let mut overdue: Vec<(CompactString, String)> = Vec::new();
        for (id, t) in &self.warnings {
            if t.escalation.is_some() || t.status.is_closed() {
                continue;
            }
            let level = t.warning.level;
            let receive = self.policy.receive_within(level);
            let resolve = self.policy.resolve_within(level);
            if t.status == Status::Pushed && now >= t.pushed_at.saturating_add(receive) {
                overdue.push((id.clone(), format!("not received within {receive}")));
            } else if now >= t.pushed_at.saturating_add(resolve) {
                overdue.push((id.clone(), format!("not resolved within {resolve}")));
            }
        }
        overdue.sort();
        for (id, reason) in overdue {
            let t = self.warnings.get_mut(&id).expect("listed above");
            let esc_id = escalation_id(&id);
            let mut w = t.warning.clone();
            w.warning_id = esc_id.clone();
            w.level = Level::Red;
            w.title = format!("Escalated ({reason}): {}", t.warning.title);
            w.detected_at = now;
            w.trigger_source = 0;
            t.escalation = Some(Escalation {
                warning_id: esc_id.clone(),
                at: now,
                reason,
            });
            self.aliases.insert(esc_id.into(), id.clone());
            if let Some(c) = self.changed.as_mut() {
                c.insert(w.official_id.clone());
            }
            out.escalations.push(w);
        }
        let mut officials: Vec<CompactString> = self.officials.keys().cloned().collect();
        officials.sort();
        for official in officials {
            self.recode(&official, now, out);
        }
        let keep = self.policy.keep_closed_for;
        let forget: Vec<CompactString> = self
            .warnings
            .iter()
            .filter(|(_, t)| t.closed_at.is_some_and(|c| now >= c.saturating_add(keep)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in forget {
            if let Some(t) = self.warnings.remove(&id) {
                if let Some(c) = self.changed.as_mut() {
                    c.insert(t.warning.official_id.clone());
                }
                if let Some(e) = t.escalation {
                    self.aliases.remove(e.warning_id.as_str());
                }
                self.closed.insert(
                    xxhash_rust::xxh3::xxh3_64(id.as_bytes()),
                    (t.closed_at.unwrap_or(now), t.warning.official_id.clone()),
                );
            }
        }
        let remember = self.policy.remember_closed_for;
        let changed = &mut self.changed;
        self.closed.retain(|_, (closed_at, official)| {
            let keep = now < closed_at.saturating_add(remember);
            if !keep && let Some(c) = changed.as_mut() {
                c.insert(official.clone());
            }
            keep
        });
        self.suppressions.retain(|key, s| {
            let keep = s.until > now;
            if !keep && let Some(c) = changed.as_mut() {
                c.insert(key.official_id.clone());
            }
            keep
        });
    }

    pub(super) fn score(&self, book: &OfficialBook, now: Timestamp) -> f64 {
        book.open
            .iter()
            .filter_map(|id| self.warnings.get(id))
            .map(|t| {
                // An escalation re-pushes the warning: it counts as a fresh red.
                let since = t.escalation.as_ref().map_or(t.pushed_at, |e| e.at);
                decayed_weight(
                    &self.policy,
                    &t.warning.rule_id,
                    t.effective_level(),
                    since,
                    now,
                )
            })
            .sum()
    }

    /// Recomputes one official's code, reporting a change; forgets green officials
    /// with nothing open.
    fn recode(&mut self, official_id: &str, now: Timestamp, out: &mut Outputs) {
        let Some(book) = self.officials.get(official_id) else {
            return;
        };
        let score = self.score(book, now);
        let code = RiskCode::of(score, &self.policy);
        let previous = book.code.unwrap_or(RiskCode::Green);
        let forget = book.open.is_empty() && code == RiskCode::Green;
        if (forget || book.code != Some(code))
            && let Some(c) = self.changed.as_mut()
        {
            c.insert(official_id.into());
        }
        if code != previous {
            let history = self.code_history.entry(official_id.into()).or_default();
            if history.len() >= CODE_HISTORY_CAP {
                history.drain(..=history.len() - CODE_HISTORY_CAP);
            }
            history.push(CodeRecord {
                at: now,
                code,
                previous,
                score,
                warnings: book.open.clone(),
            });
            out.codes.push(CodeChange {
                official_id: official_id.into(),
                code,
                previous,
                score,
                at: now,
                warnings: book.open.clone(),
                scope: book.scope.clone(),
            });
        }
        if forget {
            self.officials.remove(official_id);
        } else if let Some(book) = self.officials.get_mut(official_id) {
            book.code = Some(code);
        }
    }
}
