//! Casebook snapshot format 1, as earlier versions wrote it: without fired
//! conditions and code history. Postcard data is not self-describing, so a format-1
//! postcard record must decode into exactly these structures (field for field, in
//! this order); [`From`] converts one to the current structures (empty conditions,
//! empty history, format kept at 1, which [`super::Casebook::restore`] reads).
//! Conditions can be recomputed from the rule with
//! [`crate::rules::measure::Levels::fired`]. Never change these structures.

use serde::{Deserialize, Serialize};

use super::Casebook;
use super::snapshot::{
    BookSnapshot, CasebookSnapshot, KeySnapshot, OfficialCases, TrackedSnapshot, WarningSnapshot,
};

/// [`CasebookSnapshot`], format 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CasebookSnapshotV1 {
    /// 1.
    pub format: u32,
    /// Per official, sorted by id.
    pub officials: Vec<OfficialCasesV1>,
}

/// [`OfficialCases`], format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficialCasesV1 {
    /// The official.
    pub official_id: String,
    /// Source tag of the latest warning admitted.
    pub source: u64,
    /// Scope, open warnings and code.
    pub book: Option<BookSnapshotV1>,
    /// Tracked warnings, by id.
    pub warnings: Vec<TrackedSnapshotV1>,
    /// Open cases: key, case id, open members.
    pub cases: Vec<(KeySnapshot, String, Vec<String>)>,
    /// Suppressions: key and until (ns).
    pub suppressions: Vec<(KeySnapshot, i64)>,
    /// Closed warnings remembered by id hash: (XXH3, closed at ns).
    pub closed: Vec<(u64, i64)>,
    /// Decisions per rule: (rule id, confirmed, dismissed, rectified).
    pub outcomes: Vec<(String, u64, u64, u64)>,
}

/// [`BookSnapshot`], format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshotV1 {
    /// Region.
    pub region: Option<String>,
    /// Org unit.
    pub org_unit: Option<String>,
    /// Open warning ids, in push order.
    pub open: Vec<String>,
    /// Code name, or none yet.
    pub code: Option<String>,
}

/// [`TrackedSnapshot`], format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedSnapshotV1 {
    /// The warning as published.
    pub warning: WarningSnapshotV1,
    /// Pushed at (ns).
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

/// [`WarningSnapshot`], format 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningSnapshotV1 {
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
    /// (measure name, integer value, float value).
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
}

impl From<CasebookSnapshotV1> for CasebookSnapshot {
    fn from(v1: CasebookSnapshotV1) -> CasebookSnapshot {
        CasebookSnapshot {
            format: v1.format,
            officials: v1.officials.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<OfficialCasesV1> for OfficialCases {
    fn from(o: OfficialCasesV1) -> OfficialCases {
        OfficialCases {
            official_id: o.official_id,
            source: o.source,
            book: o.book.map(|b| BookSnapshot {
                region: b.region,
                org_unit: b.org_unit,
                open: b.open,
                code: b.code,
            }),
            warnings: o.warnings.into_iter().map(Into::into).collect(),
            cases: o.cases,
            suppressions: o.suppressions,
            closed: o.closed,
            outcomes: o.outcomes,
            code_history: Vec::new(),
        }
    }
}

impl From<TrackedSnapshotV1> for TrackedSnapshot {
    fn from(t: TrackedSnapshotV1) -> TrackedSnapshot {
        let w = t.warning;
        TrackedSnapshot {
            warning: WarningSnapshot {
                warning_id: w.warning_id,
                rule_id: w.rule_id,
                rule_version: w.rule_version,
                key: w.key,
                level: w.level,
                trigger_event_id: w.trigger_event_id,
                times: w.times,
                measures: w.measures,
                evidence: w.evidence,
                evidence_total: w.evidence_total,
                title: w.title,
                trigger_source: w.trigger_source,
                scope: w.scope,
                conditions: Vec::new(),
                evidence_events: Vec::new(),
                officials: Vec::new(),
            },
            pushed_at: t.pushed_at,
            status: t.status,
            history: t.history,
            case_id: t.case_id,
            escalation: t.escalation,
            closed_at: t.closed_at,
        }
    }
}

impl Casebook {
    /// Fills in the conditions of tracked warnings that have none (restored from
    /// format 1) from the rule that fired them: the rule of the same id and version
    /// in `pack`, whose measures are the warning's. Warnings of rules or versions not
    /// in the pack, and of rules with a fixed level, stay without. Returns how many
    /// warnings got conditions. Not recorded as a change: a later delta carries them
    /// only with the official's next change.
    pub fn recompute_conditions(&mut self, pack: &crate::rules::CompiledPack) -> usize {
        let mut filled = 0;
        for t in self.warnings.values_mut() {
            let w = &mut t.warning;
            if !w.conditions.is_empty() {
                continue;
            }
            let Some(rule) = pack
                .rules
                .iter()
                .find(|r| r.id == w.rule_id && r.version == w.rule_version)
            else {
                continue;
            };
            if !rule.measures.iter().eq(w.measures.iter().map(|(m, _)| m)) {
                continue;
            }
            let values: Vec<_> = w.measures.iter().map(|(_, v)| *v).collect();
            w.conditions = rule.levels.fired(w.level, &rule.measures, &values);
            filled += usize::from(!w.conditions.is_empty());
        }
        filled
    }
}
