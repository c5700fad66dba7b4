//! Casebook snapshots: everything the closed loop holds for a set of officials — their
//! tracked warnings with history and escalation, open cases, suppressions, closed ids
//! remembered, decisions per rule, code and scope — as plain data
//! ([`CasebookSnapshot`], serde), and the restore that puts it back. Everything in a
//! [`Casebook`] belongs to exactly one official, so a casebook splits by official
//! (and therefore by input partition, through each official's source tag) like the
//! engine's window state. A casebook restored from a snapshot decides every later
//! admit, feedback and tick exactly as the casebook that took it (tests).
//!
//! Format 2 (this one) adds each warning's fired conditions and each official's
//! code history to format 1. Postcard data is not self-describing, so format 1 as
//! postcard decodes into its own copy of the structures ([`super::snapshot_v1`]) and
//! converts; format 1 as JSON decodes here directly (the new fields default to
//! empty). [`Casebook::restore`] reads both.

use std::collections::BTreeMap;

use compact_str::CompactString;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::RuleOutcomes;
use super::casebook::{
    CaseKey, Casebook, CodeRecord, Escalation, OfficialBook, Suppression, Tracked, Transition,
};
use super::feedback::Status;
use super::risk::RiskCode;
use crate::rules::filter::CmpOp;
use crate::rules::measure::{FiredCondition, Level, Measure, MeasureValue};
use crate::time::Timestamp;
use crate::warning::{Scope, Warning};

/// Casebook snapshot format version written; [`Casebook::restore`] reads it and
/// format 1 ([`CASEBOOK_FORMATS_READ`]) and refuses others.
pub const CASEBOOK_FORMAT: u32 = 2;

/// The formats [`Casebook::restore`] and [`CasebookSnapshot::apply`] accept: 1 (no
/// conditions, no code history) and 2.
pub const CASEBOOK_FORMATS_READ: [u32; 2] = [1, 2];

/// The casebook of some officials as plain data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CasebookSnapshot {
    /// [`CASEBOOK_FORMAT`].
    pub format: u32,
    /// Per official, sorted by id.
    pub officials: Vec<OfficialCases>,
}

impl CasebookSnapshot {
    /// Lays `delta` (a [`Casebook::delta`] taken after this snapshot, of the same
    /// selection) over this snapshot: each official in the delta replaces its
    /// entry. (An official, once admitted, keeps an entry — at least its source
    /// tag — until its partition is given up, so a delta never needs to remove one.)
    ///
    /// Formats 1 and 2 mix (a format-1 base read from an earlier version, deltas
    /// written since): the result has the newer format.
    pub fn apply(&mut self, delta: CasebookSnapshot) -> Result<(), CasebookRestoreError> {
        for format in [self.format, delta.format] {
            if !CASEBOOK_FORMATS_READ.contains(&format) {
                return Err(CasebookRestoreError::Format(format));
            }
        }
        self.format = self.format.max(delta.format);
        self.officials = crate::engine::merge_by_id(
            std::mem::take(&mut self.officials),
            delta.officials,
            &[],
            |o| &o.official_id,
        );
        Ok(())
    }
}

/// One official's part of the casebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficialCases {
    /// The official.
    pub official_id: String,
    /// Source tag of the latest warning admitted.
    pub source: u64,
    /// Region and org_unit as the warnings said; present while the official has a book.
    pub book: Option<BookSnapshot>,
    /// Tracked warnings (open, and closed ones still kept), by id.
    pub warnings: Vec<TrackedSnapshot>,
    /// Open cases: key, case id, open members.
    pub cases: Vec<(KeySnapshot, String, Vec<String>)>,
    /// Suppressions: key and until (ns).
    pub suppressions: Vec<(KeySnapshot, i64)>,
    /// Closed warnings remembered by id hash: (XXH3, closed at ns).
    pub closed: Vec<(u64, i64)>,
    /// Decisions per rule: (rule id, confirmed, dismissed, rectified).
    pub outcomes: Vec<(String, u64, u64, u64)>,
    /// Code changes, oldest first (at most [`super::casebook::CODE_HISTORY_CAP`]);
    /// kept after the book is forgotten. Format 2; empty from format 1.
    #[serde(default)]
    pub code_history: Vec<CodeRecordSnapshot>,
}

/// One code change of an official.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecordSnapshot {
    /// When (ns, processing time).
    pub at: i64,
    /// New code name.
    pub code: String,
    /// Previous code name.
    pub previous: String,
    /// Score.
    pub score: f64,
    /// Open warning ids behind it.
    pub warnings: Vec<String>,
}

/// One fired condition of a warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionSnapshot {
    /// Measure name.
    pub measure: String,
    /// Operator symbol (`>=`, ...).
    pub op: String,
    /// Threshold.
    pub threshold: f64,
    /// The measured value: (integer, float), one of the two is set.
    pub value: (Option<i64>, Option<f64>),
}

/// An official's book: scope, open warnings in push order, code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshot {
    /// Region.
    pub region: Option<String>,
    /// Org unit.
    pub org_unit: Option<String>,
    /// Open warning ids, in push order.
    pub open: Vec<String>,
    /// `green`, `yellow`, `red`, or none yet.
    pub code: Option<String>,
}

/// A case key without the official: rule id and key pairs.
pub type KeySnapshot = (String, Vec<(String, String)>);

/// A tracked warning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedSnapshot {
    /// The warning as published.
    pub warning: WarningSnapshot,
    /// Pushed at (ns, processing time).
    pub pushed_at: i64,
    /// Status name.
    pub status: String,
    /// (status, handler, note, at ns), oldest first.
    pub history: Vec<(String, String, String, i64)>,
    /// Case id.
    pub case_id: String,
    /// (escalation id, at ns, reason).
    pub escalation: Option<(String, i64, String)>,
    /// Closed at (ns).
    pub closed_at: Option<i64>,
}

/// A warning, every field (the contract JSON drops bookkeeping a restore needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningSnapshot {
    /// Id.
    pub warning_id: String,
    /// Rule.
    pub rule_id: String,
    /// Rule version.
    pub rule_version: u32,
    /// Key pairs.
    pub key: Vec<(String, String)>,
    /// `yellow` or `red`.
    pub level: String,
    /// Trigger event id.
    pub trigger_event_id: String,
    /// Times (ns): occurred, window start, window end, detected.
    pub times: [i64; 4],
    /// (measure name, integer value, float value): one of the two is set.
    pub measures: Vec<(String, Option<i64>, Option<f64>)>,
    /// Evidence ids.
    pub evidence: Vec<String>,
    /// Evidence in total.
    pub evidence_total: u64,
    /// Title.
    pub title: String,
    /// Trigger source tag.
    pub trigger_source: u64,
    /// Region and org unit.
    pub scope: (Option<String>, Option<String>),
    /// The conditions that fired, in the rule's order. Format 2; empty from format 1.
    #[serde(default)]
    pub conditions: Vec<ConditionSnapshot>,
    /// The evidence copies. Added with evidence copies (encoding `postcard.v3`):
    /// empty when read from earlier layouts
    /// ([`crate::evidence::with_layout_before_copies`]).
    #[serde(
        default,
        deserialize_with = "crate::evidence::added_with_copies",
        serialize_with = "crate::evidence::write_added_with_copies"
    )]
    pub evidence_events: Vec<crate::evidence::EventCopy>,
    /// The officials of an entity-keyed rule's warning (encoding `postcard.v4`):
    /// empty when read from earlier layouts
    /// ([`crate::evidence::with_layout_before_officials`]).
    #[serde(
        default,
        deserialize_with = "crate::evidence::added_with_officials",
        serialize_with = "crate::evidence::write_added_with_officials"
    )]
    pub officials: Vec<String>,
}

impl WarningSnapshot {
    /// Every field of `w` but its official (casebook snapshots key warnings by it).
    pub fn of(w: &Warning) -> WarningSnapshot {
        warning_snapshot(w)
    }

    /// The warning back, as `official`'s.
    pub fn to_warning(&self, official: &str) -> Result<Warning, CasebookRestoreError> {
        Names(official).warning(self)
    }
}

/// Why a casebook snapshot cannot be restored.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CasebookRestoreError {
    /// Written by another format.
    #[error("casebook snapshot format {0} is not supported (this build reads formats 1 and 2)")]
    Format(u32),
    /// A name that this build does not know (status, level, measure, operator, code).
    #[error("casebook snapshot of official `{official}`: unknown {what} `{name}`")]
    Unknown {
        /// The official.
        official: String,
        /// status, level, measure, operator or code.
        what: &'static str,
        /// The name read.
        name: String,
    },
}

fn s(c: &CompactString) -> String {
    c.to_string()
}

fn key_snapshot(k: &CaseKey) -> KeySnapshot {
    (
        k.rule_id.clone(),
        k.key.iter().map(|(a, b)| (s(a), s(b))).collect(),
    )
}

fn case_key(official: &str, (rule_id, key): &KeySnapshot) -> CaseKey {
    CaseKey {
        rule_id: rule_id.clone(),
        official_id: official.into(),
        key: key
            .iter()
            .map(|(a, b)| (a.as_str().into(), b.as_str().into()))
            .collect(),
    }
}

fn value_snapshot(v: MeasureValue) -> (Option<i64>, Option<f64>) {
    match v {
        MeasureValue::Int(i) => (Some(i), None),
        MeasureValue::Float(f) => (None, Some(f)),
    }
}

fn value_of((int, float): (Option<i64>, Option<f64>)) -> MeasureValue {
    match (int, float) {
        (Some(i), _) => MeasureValue::Int(i),
        (None, Some(f)) => MeasureValue::Float(f),
        (None, None) => MeasureValue::Int(0),
    }
}

fn code_record_snapshot(r: &CodeRecord) -> CodeRecordSnapshot {
    CodeRecordSnapshot {
        at: r.at.0,
        code: r.code.name().to_string(),
        previous: r.previous.name().to_string(),
        score: r.score,
        warnings: r.warnings.iter().map(s).collect(),
    }
}

fn warning_snapshot(w: &Warning) -> WarningSnapshot {
    WarningSnapshot {
        warning_id: w.warning_id.clone(),
        rule_id: w.rule_id.clone(),
        rule_version: w.rule_version,
        key: w.key.iter().map(|(a, b)| (s(a), s(b))).collect(),
        level: w.level.name().to_string(),
        trigger_event_id: s(&w.trigger_event_id),
        times: [
            w.occurred_at.0,
            w.window_start.0,
            w.window_end.0,
            w.detected_at.0,
        ],
        measures: w
            .measures
            .iter()
            .map(|(m, v)| match v {
                MeasureValue::Int(i) => (m.name().to_string(), Some(*i), None),
                MeasureValue::Float(f) => (m.name().to_string(), None, Some(*f)),
            })
            .collect(),
        evidence: w.evidence.iter().map(s).collect(),
        evidence_total: w.evidence_total,
        title: w.title.clone(),
        trigger_source: w.trigger_source,
        scope: (
            w.scope.region.as_ref().map(s),
            w.scope.org_unit.as_ref().map(s),
        ),
        conditions: w
            .conditions
            .iter()
            .map(|c| ConditionSnapshot {
                measure: c.measure.name().to_string(),
                op: c.op.symbol().to_string(),
                threshold: c.threshold,
                value: value_snapshot(c.value),
            })
            .collect(),
        evidence_events: w.evidence_events.clone(),
        officials: w.officials.iter().map(s).collect(),
    }
}

/// Reads names back, naming the official in errors.
struct Names<'a>(&'a str);

impl Names<'_> {
    fn unknown(&self, what: &'static str, name: &str) -> CasebookRestoreError {
        CasebookRestoreError::Unknown {
            official: self.0.to_string(),
            what,
            name: name.to_string(),
        }
    }

    fn status(&self, name: &str) -> Result<Status, CasebookRestoreError> {
        Status::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| self.unknown("status", name))
    }

    fn level(&self, name: &str) -> Result<Level, CasebookRestoreError> {
        Level::parse(name).ok_or_else(|| self.unknown("level", name))
    }

    fn code(&self, name: &str) -> Result<RiskCode, CasebookRestoreError> {
        RiskCode::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| self.unknown("code", name))
    }

    fn measure(&self, name: &str) -> Result<Measure, CasebookRestoreError> {
        Measure::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| self.unknown("measure", name))
    }

    fn op(&self, symbol: &str) -> Result<CmpOp, CasebookRestoreError> {
        [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Gt,
            CmpOp::Gte,
            CmpOp::Lt,
            CmpOp::Lte,
        ]
        .into_iter()
        .find(|op| op.symbol() == symbol)
        .ok_or_else(|| self.unknown("operator", symbol))
    }

    fn code_record(&self, r: &CodeRecordSnapshot) -> Result<CodeRecord, CasebookRestoreError> {
        Ok(CodeRecord {
            at: Timestamp(r.at),
            code: self.code(&r.code)?,
            previous: self.code(&r.previous)?,
            score: r.score,
            warnings: r.warnings.iter().map(|w| w.as_str().into()).collect(),
        })
    }

    fn warning(&self, w: &WarningSnapshot) -> Result<Warning, CasebookRestoreError> {
        let measures = w
            .measures
            .iter()
            .map(|(name, int, float)| Ok((self.measure(name)?, value_of((*int, *float)))))
            .collect::<Result<_, CasebookRestoreError>>()?;
        let conditions = w
            .conditions
            .iter()
            .map(|c| {
                Ok(FiredCondition {
                    measure: self.measure(&c.measure)?,
                    op: self.op(&c.op)?,
                    threshold: c.threshold,
                    value: value_of(c.value),
                })
            })
            .collect::<Result<_, CasebookRestoreError>>()?;
        Ok(Warning {
            warning_id: w.warning_id.clone(),
            rule_id: w.rule_id.clone(),
            rule_version: w.rule_version,
            official_id: self.0.into(),
            officials: w.officials.iter().map(|o| o.as_str().into()).collect(),
            key: w
                .key
                .iter()
                .map(|(a, b)| (a.as_str().into(), b.as_str().into()))
                .collect(),
            level: self.level(&w.level)?,
            trigger_event_id: w.trigger_event_id.as_str().into(),
            occurred_at: Timestamp(w.times[0]),
            window_start: Timestamp(w.times[1]),
            window_end: Timestamp(w.times[2]),
            measures,
            conditions,
            evidence: w.evidence.iter().map(|e| e.as_str().into()).collect(),
            evidence_events: w.evidence_events.clone(),
            evidence_total: w.evidence_total,
            title: w.title.clone(),
            detected_at: Timestamp(w.times[3]),
            trigger_source: w.trigger_source,
            scope: Scope {
                region: w.scope.0.as_deref().map(Into::into),
                org_unit: w.scope.1.as_deref().map(Into::into),
            },
        })
    }
}

impl Casebook {
    /// Every official the casebook holds anything for, with its source tag.
    fn holders(&self) -> FxHashSet<&CompactString> {
        let mut all: FxHashSet<&CompactString> = self.sources.keys().collect();
        all.extend(self.officials.keys());
        all.extend(self.warnings.values().map(|t| &t.warning.official_id));
        all.extend(self.official_outcomes.keys());
        all.extend(self.closed.values().map(|(_, o)| o));
        all.extend(self.suppressions.keys().map(|k| &k.official_id));
        all.extend(self.code_history.keys());
        all
    }

    /// The source tag of `official`'s latest warning (0 when none was admitted here).
    pub fn source_of(&self, official: &str) -> u64 {
        self.sources.get(official).copied().unwrap_or(0)
    }

    /// Starts tracking which officials' part changes, or starts a new interval:
    /// whatever changed before this call counts as written.
    pub fn mark_changes(&mut self) {
        self.changed = Some(FxHashSet::default());
    }

    /// The part of the casebook that changed since the last mark, of the officials
    /// `select(official_id, source)` accepts (None when changes are not tracked):
    /// what [`CasebookSnapshot::apply`] lays over the snapshot it follows.
    pub fn delta(&self, select: impl Fn(&str, u64) -> bool) -> Option<CasebookSnapshot> {
        let changed = self.changed.as_ref()?;
        if changed.is_empty() {
            return Some(CasebookSnapshot {
                format: CASEBOOK_FORMAT,
                officials: Vec::new(),
            });
        }
        Some(self.snapshot(|o, source| changed.contains(o) && select(o, source)))
    }

    /// The part of the casebook of the officials `select(official_id, source)`
    /// accepts, as plain data (sorted, so equal casebooks give equal snapshots).
    pub fn snapshot(&self, select: impl Fn(&str, u64) -> bool) -> CasebookSnapshot {
        let mut chosen: Vec<&CompactString> = self
            .holders()
            .into_iter()
            .filter(|o| select(o.as_str(), self.source_of(o)))
            .collect();
        chosen.sort();
        let wanted: FxHashSet<&str> = chosen.iter().map(|o| o.as_str()).collect();
        let mut per: BTreeMap<&str, OfficialCases> = chosen
            .iter()
            .map(|o| {
                (
                    o.as_str(),
                    OfficialCases {
                        official_id: o.to_string(),
                        source: self.source_of(o),
                        book: self.officials.get(*o).map(|b| BookSnapshot {
                            region: b.scope.region.as_ref().map(s),
                            org_unit: b.scope.org_unit.as_ref().map(s),
                            open: b.open.iter().map(s).collect(),
                            code: b.code.map(|c| c.name().to_string()),
                        }),
                        warnings: Vec::new(),
                        cases: Vec::new(),
                        suppressions: Vec::new(),
                        closed: Vec::new(),
                        outcomes: self
                            .official_outcomes
                            .get(*o)
                            .map(|by_rule| {
                                by_rule
                                    .iter()
                                    .map(|(r, o)| {
                                        (r.clone(), o.confirmed, o.dismissed, o.rectified)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        code_history: self
                            .code_history
                            .get(*o)
                            .map(|h| h.iter().map(code_record_snapshot).collect())
                            .unwrap_or_default(),
                    },
                )
            })
            .collect();
        for t in self.warnings.values() {
            if let Some(o) = per.get_mut(t.warning.official_id.as_str()) {
                o.warnings.push(TrackedSnapshot {
                    warning: warning_snapshot(&t.warning),
                    pushed_at: t.pushed_at.0,
                    status: t.status.name().to_string(),
                    history: t
                        .history
                        .iter()
                        .map(|h| {
                            (
                                h.status.name().to_string(),
                                s(&h.handler),
                                h.note.clone(),
                                h.at.0,
                            )
                        })
                        .collect(),
                    case_id: s(&t.case_id),
                    escalation: t
                        .escalation
                        .as_ref()
                        .map(|e| (e.warning_id.clone(), e.at.0, e.reason.clone())),
                    closed_at: t.closed_at.map(|c| c.0),
                });
            }
        }
        for (key, (case_id, members)) in &self.cases {
            if let Some(o) = per.get_mut(key.official_id.as_str()) {
                o.cases.push((
                    key_snapshot(key),
                    s(case_id),
                    members.iter().map(s).collect(),
                ));
            }
        }
        for (key, sup) in &self.suppressions {
            if let Some(o) = per.get_mut(key.official_id.as_str()) {
                o.suppressions.push((key_snapshot(key), sup.until.0));
            }
        }
        for (hash, (at, official)) in &self.closed {
            if wanted.contains(official.as_str())
                && let Some(o) = per.get_mut(official.as_str())
            {
                o.closed.push((*hash, at.0));
            }
        }
        let mut officials: Vec<OfficialCases> = per.into_values().collect();
        for o in &mut officials {
            o.warnings
                .sort_by(|a, b| a.warning.warning_id.cmp(&b.warning.warning_id));
            o.cases.sort_by(|a, b| a.0.cmp(&b.0));
            o.suppressions.sort_by(|a, b| a.0.cmp(&b.0));
            o.closed.sort_unstable();
        }
        CasebookSnapshot {
            format: CASEBOOK_FORMAT,
            officials,
        }
    }

    /// Drops everything held for the officials `drop(official_id, source)` accepts
    /// (their partitions moved to another instance); returns how many.
    pub fn forget_officials(&mut self, drop: impl Fn(&str, u64) -> bool) -> usize {
        let gone: FxHashSet<CompactString> = self
            .holders()
            .into_iter()
            .filter(|o| drop(o.as_str(), self.source_of(o)))
            .cloned()
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let held = |o: &CompactString| !gone.contains(o);
        self.warnings.retain(|_, t| held(&t.warning.official_id));
        let warnings = &self.warnings;
        self.aliases
            .retain(|_, original| warnings.contains_key(original));
        self.cases.retain(|k, _| held(&k.official_id));
        self.suppressions.retain(|k, _| held(&k.official_id));
        self.officials.retain(|o, _| held(o));
        self.closed.retain(|_, (_, o)| held(o));
        self.sources.retain(|o, _| held(o));
        self.code_history.retain(|o, _| held(o));
        for o in &gone {
            if let Some(by_rule) = self.official_outcomes.remove(o) {
                for (rule, decided) in by_rule {
                    if let Some(total) = self.outcomes.get_mut(&rule) {
                        total.confirmed -= decided.confirmed.min(total.confirmed);
                        total.dismissed -= decided.dismissed.min(total.dismissed);
                        total.rectified -= decided.rectified.min(total.rectified);
                    }
                }
            }
        }
        gone.len()
    }

    /// Puts the officials of `snapshot` back, replacing whatever is held for them.
    /// Returns the number of officials restored.
    pub fn restore(&mut self, snapshot: &CasebookSnapshot) -> Result<usize, CasebookRestoreError> {
        if !CASEBOOK_FORMATS_READ.contains(&snapshot.format) {
            return Err(CasebookRestoreError::Format(snapshot.format));
        }
        // Decode everything first: a corrupt snapshot changes nothing.
        let mut decoded = Vec::with_capacity(snapshot.officials.len());
        for o in &snapshot.officials {
            let names = Names(&o.official_id);
            let mut tracked = Vec::with_capacity(o.warnings.len());
            for t in &o.warnings {
                let history = t
                    .history
                    .iter()
                    .map(|(status, handler, note, at)| {
                        Ok(Transition {
                            status: names.status(status)?,
                            handler: handler.as_str().into(),
                            note: note.clone(),
                            at: Timestamp(*at),
                        })
                    })
                    .collect::<Result<Vec<_>, CasebookRestoreError>>()?;
                tracked.push(Tracked {
                    warning: names.warning(&t.warning)?,
                    pushed_at: Timestamp(t.pushed_at),
                    status: names.status(&t.status)?,
                    history,
                    case_id: t.case_id.as_str().into(),
                    escalation: t.escalation.as_ref().map(|(id, at, reason)| Escalation {
                        warning_id: id.clone(),
                        at: Timestamp(*at),
                        reason: reason.clone(),
                    }),
                    closed_at: t.closed_at.map(Timestamp),
                });
            }
            let book = match &o.book {
                Some(b) => Some(OfficialBook {
                    scope: Scope {
                        region: b.region.as_deref().map(Into::into),
                        org_unit: b.org_unit.as_deref().map(Into::into),
                    },
                    open: b.open.iter().map(|w| w.as_str().into()).collect(),
                    code: b.code.as_deref().map(|c| names.code(c)).transpose()?,
                }),
                None => None,
            };
            let history = o
                .code_history
                .iter()
                .map(|r| names.code_record(r))
                .collect::<Result<Vec<_>, CasebookRestoreError>>()?;
            decoded.push((o, tracked, book, history));
        }
        let ids: FxHashSet<&str> = snapshot
            .officials
            .iter()
            .map(|o| o.official_id.as_str())
            .collect();
        self.forget_officials(|o, _| ids.contains(o));
        for (o, tracked, book, history) in decoded {
            let official: CompactString = o.official_id.as_str().into();
            self.sources.insert(official.clone(), o.source);
            if !history.is_empty() {
                self.code_history.insert(official.clone(), history);
            }
            if let Some(book) = book {
                self.officials.insert(official.clone(), book);
            }
            for t in tracked {
                if let Some(e) = &t.escalation {
                    self.aliases.insert(
                        e.warning_id.as_str().into(),
                        t.warning.warning_id.as_str().into(),
                    );
                }
                self.warnings
                    .insert(t.warning.warning_id.as_str().into(), t);
            }
            for (key, case_id, members) in &o.cases {
                self.cases.insert(
                    case_key(&o.official_id, key),
                    (
                        case_id.as_str().into(),
                        members.iter().map(|m| m.as_str().into()).collect(),
                    ),
                );
            }
            for (key, until) in &o.suppressions {
                self.suppressions.insert(
                    case_key(&o.official_id, key),
                    Suppression {
                        until: Timestamp(*until),
                    },
                );
            }
            for (hash, at) in &o.closed {
                self.closed
                    .insert(*hash, (Timestamp(*at), official.clone()));
            }
            if !o.outcomes.is_empty() {
                let by_rule = self.official_outcomes.entry(official.clone()).or_default();
                for (rule, confirmed, dismissed, rectified) in &o.outcomes {
                    let decided = RuleOutcomes {
                        confirmed: *confirmed,
                        dismissed: *dismissed,
                        rectified: *rectified,
                    };
                    by_rule.insert(rule.clone(), decided);
                    let total = self.outcomes.entry(rule.clone()).or_default();
                    total.confirmed += decided.confirmed;
                    total.dismissed += decided.dismissed;
                    total.rectified += decided.rectified;
                }
            }
        }
        Ok(snapshot.officials.len())
    }
}

impl CasebookSnapshot {
    /// Re-tags every official's source and its warnings' trigger sources with
    /// `retag`, for a restore into an assignment whose partition indexes differ.
    pub fn retag(&mut self, retag: impl Fn(u64) -> u64) {
        for o in &mut self.officials {
            o.source = retag(o.source);
            for t in &mut o.warnings {
                if t.warning.trigger_source != 0 {
                    t.warning.trigger_source = retag(t.warning.trigger_source);
                }
            }
        }
    }
}
