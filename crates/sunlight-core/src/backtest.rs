//! Backtesting: score a rule pack's warnings against known outcomes.
//!
//! Analysts label officials or events from closed cases ([`Labels`], parsed from
//! JSON lines). A [`Backtest`] sees every warning of a replay as it is produced
//! ([`Backtest::observe`], or as a [`crate::replay::WarningObserver`]) and keeps
//! per-rule tallies only: memory grows with the warnings and the labels, never with
//! the events. [`Backtest::report`] gives the [`Report`] (serialisable, the JSON shape
//! of `sunlight replay --report`).
//!
//! Semantics, per rule `r` (docs/RULES.md, "Backtesting"):
//!
//! - The label of a subject for `r` is its label for `r` if it has one, else its
//!   label for all rules, else none.
//! - **By official**: a warning of `r` is a true positive if its official is labelled
//!   positive for `r`, a false positive if labelled negative, unlabelled otherwise.
//!   Recall = distinct positive officials flagged by `r` / officials positive for `r`.
//! - **By event**: a warning of `r` is a true positive if its trigger or any listed
//!   evidence event is positive for `r`; a false positive if none is positive and at
//!   least one is negative; unlabelled otherwise. Recall = events positive for `r`
//!   that are the trigger or listed evidence of some warning of `r` / events
//!   positive for `r`. Only the evidence a warning lists counts (at most the rule's
//!   `evidence_limit` ids).
//! - Precision = TP / (TP + FP), `None` when TP + FP = 0; recall is `None` when `r`
//!   has no positives.

mod labels;

use std::collections::{HashMap, HashSet};

use compact_str::CompactString;
use serde::Serialize;

pub use labels::{LabelError, Labels, SubjectKind};

use crate::rules::measure::Level;
use crate::warning::Warning;

/// The version of the report's JSON shape; bumped on incompatible changes.
pub const REPORT_FORMAT: u32 = 1;

/// Per-rule tallies of one kind of label.
#[derive(Debug, Clone, Default)]
struct Tally {
    true_positives: u64,
    false_positives: u64,
    unlabelled: u64,
    /// Indices of positive subjects flagged (trigger or evidence, or official).
    found: HashSet<usize>,
}

/// Per-rule alert volume and tallies.
#[derive(Debug, Clone, Default)]
struct RuleTally {
    warnings: u64,
    yellow: u64,
    red: u64,
    officials: HashSet<CompactString>,
    by_official: Tally,
    by_event: Tally,
}

/// Scores warnings against [`Labels`] as they come.
#[derive(Debug, Clone)]
pub struct Backtest {
    labels: Labels,
    index: HashMap<String, usize>,
    rules: Vec<RuleTally>,
}

impl Backtest {
    /// A backtest of the rules the labels were parsed for.
    pub fn new(labels: Labels) -> Backtest {
        let index = labels
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.clone(), i))
            .collect();
        let rules = vec![RuleTally::default(); labels.rules.len()];
        Backtest {
            labels,
            index,
            rules,
        }
    }

    /// Counts one warning.
    pub fn observe_warning(&mut self, w: &Warning) {
        self.observe(
            &w.rule_id,
            &w.official_id,
            w.level,
            &w.trigger_event_id,
            &w.evidence,
        );
    }

    /// Counts one warning given by its parts: rule, official, level, trigger event
    /// and the evidence event ids it lists. A rule the labels do not know is ignored.
    pub fn observe<S: AsRef<str>>(
        &mut self,
        rule_id: &str,
        official_id: &str,
        level: Level,
        trigger: &str,
        evidence: &[S],
    ) {
        let Some(&r) = self.index.get(rule_id) else {
            return;
        };
        let tally = &mut self.rules[r];
        tally.warnings += 1;
        match level {
            Level::Yellow => tally.yellow += 1,
            Level::Red => tally.red += 1,
        }
        if !tally.officials.contains(official_id) {
            tally.officials.insert(official_id.into());
        }

        let officials = &self.labels.officials;
        let subject = officials.get(official_id);
        let label = subject.and_then(|i| officials.subjects[i].label(r));
        let t = &mut tally.by_official;
        match label {
            Some(true) => {
                t.true_positives += 1;
                t.found.extend(subject);
            }
            Some(false) => t.false_positives += 1,
            None => t.unlabelled += 1,
        }

        let events = &self.labels.events;
        let t = &mut tally.by_event;
        let (mut positive, mut negative) = (false, false);
        let ids = std::iter::once(trigger).chain(evidence.iter().map(AsRef::as_ref));
        for i in ids.filter_map(|id| events.get(id)) {
            match events.subjects[i].label(r) {
                Some(true) => {
                    positive = true;
                    t.found.insert(i);
                }
                Some(false) => negative = true,
                None => {}
            }
        }
        match (positive, negative) {
            (true, _) => t.true_positives += 1,
            (false, true) => t.false_positives += 1,
            (false, false) => t.unlabelled += 1,
        }
    }

    /// The scores so far.
    pub fn report(&self) -> Report {
        let rules = self
            .labels
            .rules
            .iter()
            .zip(&self.rules)
            .map(|(id, t)| RuleVolume {
                rule_id: id.clone(),
                warnings: t.warnings,
                yellow: t.yellow,
                red: t.red,
                officials_flagged: t.officials.len() as u64,
            })
            .collect();
        Report {
            format: REPORT_FORMAT,
            rules,
            by_official: self.section(SubjectKind::Official),
            by_event: self.section(SubjectKind::Event),
        }
    }

    fn section(&self, kind: SubjectKind) -> Option<Section> {
        let set = match kind {
            SubjectKind::Official => &self.labels.officials,
            SubjectKind::Event => &self.labels.events,
        };
        if set.subjects.is_empty() {
            return None;
        }
        let rules = self
            .labels
            .rules
            .iter()
            .zip(&self.rules)
            .enumerate()
            .map(|(r, (id, t))| {
                let t = match kind {
                    SubjectKind::Official => &t.by_official,
                    SubjectKind::Event => &t.by_event,
                };
                let mut positives = 0u64;
                let mut missed = Vec::new();
                for (i, s) in set.subjects.iter().enumerate() {
                    if s.label(r) == Some(true) {
                        positives += 1;
                        if !t.found.contains(&i) {
                            missed.push(s.id.clone());
                        }
                    }
                }
                missed.sort();
                let found = t.found.len() as u64;
                RuleScore {
                    rule_id: id.clone(),
                    true_positives: t.true_positives,
                    false_positives: t.false_positives,
                    unlabelled: t.unlabelled,
                    precision: ratio(t.true_positives, t.true_positives + t.false_positives),
                    positives,
                    positives_flagged: found,
                    recall: ratio(found, positives),
                    missed,
                }
            })
            .collect();
        Some(Section {
            labelled: set.subjects.len() as u64,
            rules,
        })
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The backtest result: `sunlight replay --report FILE` writes it as one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// Alert volume per rule, in pack order (whatever the labels).
    pub rules: Vec<RuleVolume>,
    /// Scores against official labels; `None` (JSON `null`) without such labels.
    pub by_official: Option<Section>,
    /// Scores against event labels; `None` (JSON `null`) without such labels.
    pub by_event: Option<Section>,
}

/// Alert volume of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleVolume {
    /// The rule.
    pub rule_id: String,
    /// Warnings.
    pub warnings: u64,
    /// Yellow warnings.
    pub yellow: u64,
    /// Red warnings.
    pub red: u64,
    /// Distinct officials with at least one warning.
    pub officials_flagged: u64,
}

/// Scores against one kind of label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Distinct labelled officials (or events).
    pub labelled: u64,
    /// One score per rule, in pack order.
    pub rules: Vec<RuleScore>,
}

/// One rule's scores against one kind of label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleScore {
    /// The rule.
    pub rule_id: String,
    /// Warnings that are true positives.
    pub true_positives: u64,
    /// Warnings that are false positives.
    pub false_positives: u64,
    /// Warnings that are neither.
    pub unlabelled: u64,
    /// TP / (TP + FP); `None` (JSON `null`) when TP + FP = 0.
    pub precision: Option<f64>,
    /// Subjects labelled positive for this rule.
    pub positives: u64,
    /// Of those, how many the rule flagged.
    pub positives_flagged: u64,
    /// positives_flagged / positives; `None` (JSON `null`) without positives.
    pub recall: Option<f64>,
    /// The positives not flagged, sorted.
    pub missed: Vec<String>,
}

#[cfg(test)]
mod tests;

impl crate::replay::WarningObserver for Backtest {
    fn on_warning(&mut self, warning: &Warning) {
        self.observe_warning(warning);
    }
}
