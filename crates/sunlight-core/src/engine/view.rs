//! [`StateView`]: a read-only window onto an engine's state from other threads (the
//! query API). The engine keeps writing; a reader locks one official's shard for the
//! time it takes to sum that official's windows.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use compact_str::CompactString;
use dashmap::DashMap;
use rustc_hash::FxBuildHasher;

use super::is_entity_owner;
use crate::rules::{CompiledPack, RuleLogic};
use crate::state::{OfficialState, SlotCell, SlotState};
use crate::time::Timestamp;
use crate::warning::Scope;

/// One rule's current window for one key, as of the watermark.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowAggregate {
    /// The rule.
    pub rule_id: String,
    /// The window's key fields and values (empty for rules keyed by official only).
    pub key: Vec<(String, String)>,
    /// Events in the window.
    pub count: u64,
    /// Sum of the rule's summed field, when it sums one.
    pub sum: Option<i128>,
    /// Window start (inclusive): watermark − window.
    pub start: Timestamp,
    /// Window end: the watermark.
    pub end: Timestamp,
}

/// What the engine holds for one official.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialWindows {
    /// Region and org_unit of the official's latest event that had them.
    pub scope: Scope,
    /// Non-empty windows, in rule order, keys sorted.
    pub windows: Vec<WindowAggregate>,
}

/// A shared, read-only view of an engine's state.
#[derive(Clone)]
pub struct StateView {
    pub(super) officials: Arc<DashMap<CompactString, OfficialState, FxBuildHasher>>,
    pub(super) pack: Arc<CompiledPack>,
    pub(super) watermark: Arc<AtomicI64>,
}

impl StateView {
    /// The pack the engine evaluates.
    pub fn pack(&self) -> &Arc<CompiledPack> {
        &self.pack
    }

    /// The engine's watermark (None before the first release).
    pub fn watermark(&self) -> Option<Timestamp> {
        let w = self.watermark.load(Ordering::Relaxed);
        (w != i64::MIN).then_some(Timestamp(w))
    }

    /// Calls `visit` with every official the engine holds state for and its scope
    /// (empty when no event had one), in no particular order. Each shard of the
    /// state is read-locked while it is visited: keep `visit` quick.
    pub fn for_each_official(&self, mut visit: impl FnMut(&str, &Scope)) {
        let none = Scope::default();
        // Entity keys' owners (`key = [...]` rules) are not officials.
        for entry in self.officials.iter().filter(|e| !is_entity_owner(e.key())) {
            visit(entry.key(), entry.value().scope.as_deref().unwrap_or(&none));
        }
    }

    /// The official's scope as its latest event with one said (None: the engine
    /// holds nothing for them, or no event had a scope).
    pub fn scope_of(&self, official_id: &str) -> Option<Scope> {
        if is_entity_owner(official_id) {
            return None;
        }
        self.officials.get(official_id)?.scope.as_deref().cloned()
    }

    /// Whether the engine holds state for the official.
    pub fn contains(&self, official_id: &str) -> bool {
        !is_entity_owner(official_id) && self.officials.contains_key(official_id)
    }

    /// The field a rule's value measures (`sum`, `avg`, `min`, `max`) read, if any.
    pub fn measured_field(&self, rule: &crate::rules::CompiledRule) -> Option<&str> {
        let slot = match rule.logic {
            RuleLogic::Aggregate { slot, .. } | RuleLogic::Baseline { slot, .. } => slot,
            _ => return None,
        };
        self.pack
            .slots
            .get(slot)?
            .value
            .as_ref()
            .map(|f| f.key_name())
    }

    /// The official's windows as of the watermark; None if the engine holds nothing
    /// for them.
    pub fn official(&self, official_id: &str) -> Option<OfficialWindows> {
        let wm = self.watermark()?;
        if is_entity_owner(official_id) {
            return None;
        }
        let official = self.officials.get(official_id)?;
        let mut windows = Vec::new();
        for rule in &self.pack.rules {
            let slot = match rule.logic {
                RuleLogic::Aggregate { slot, .. }
                | RuleLogic::Baseline { slot, .. }
                | RuleLogic::Ratio {
                    numerator: slot, ..
                }
                | RuleLogic::Sequence { first: slot }
                // The `first` events still waiting for their follow-up.
                | RuleLogic::Absence { slot } => slot,
                RuleLogic::RelatedParty { .. }
                | RuleLogic::Reference { .. }
                | RuleLogic::Predicate => continue,
            };
            let Some(i) = official.slot_ids.iter().position(|s| *s as usize == slot) else {
                continue;
            };
            let spec = &self.pack.slots[slot];
            let start = wm.saturating_sub(rule.window);
            // A count window shows what its rule sees: the newest `last` entries.
            let last = match rule.logic {
                RuleLogic::Aggregate { last, .. } => last.map(|n| n as usize),
                _ => None,
            };
            let names: Vec<&str> = spec.group_by.iter().map(|f| f.key_name()).collect();
            let mut found: Vec<WindowAggregate> = Vec::new();
            let mut add = |key: Vec<(String, String)>, state: &SlotState| {
                let all = state.entries.as_slice();
                let from = all.partition_point(|e| e.time < start.0);
                let to = all.partition_point(|e| e.time <= wm.0);
                let from = last.map_or(from, |n| from.max(to.saturating_sub(n)));
                let inside = all[from..to.max(from)].iter();
                let (mut count, mut sum) = (0u64, 0i128);
                for e in inside {
                    count += 1;
                    sum += i128::from(e.value);
                }
                if count > 0 {
                    found.push(WindowAggregate {
                        rule_id: rule.id.clone(),
                        key,
                        count,
                        // (A decimal field's sum is kept in 10^-decimals units:
                        // not shown as if it were minor units.)
                        sum: (spec.value.is_some() && spec.scale == 0).then_some(sum),
                        start,
                        end: wm,
                    });
                }
            };
            match &official.cells[i] {
                SlotCell::Single(state) => add(Vec::new(), state),
                SlotCell::Keyed(states) => {
                    for (key, state) in states.states() {
                        let pairs = names
                            .iter()
                            .zip(key.parts())
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect();
                        add(pairs, state);
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            windows.extend(found);
        }
        Some(OfficialWindows {
            scope: official.scope.as_deref().cloned().unwrap_or_default(),
            windows,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::event::PowerEvent;

    const PACK: &str = r#"
[pack]
name = "t"
version = "1"

[[rule]]
id = "burst"
version = 1
kind = "aggregate"
title = "{count} payments"
window = "1h"
group_by = ["counterparty"]
measures = { sum = "amount_cents" }
yellow = { count = ">= 100" }
[rule.filter]
kind = "payment"

[[rule]]
id = "approvals"
version = 1
kind = "aggregate"
title = "{count} approvals"
window = "2h"
yellow = { count = ">= 100" }
[rule.filter]
kind = "approval"
"#;

    fn event(id: &str, kind: &str, minute: i64, payee: &str, cents: i64) -> PowerEvent {
        let mut e = PowerEvent::new(id, "o1", kind, Timestamp(minute * 60_000_000_000));
        e.counterparty = Some(payee.into());
        e.amount_cents = Some(cents);
        e.region = Some("r1".into());
        e.org_unit = Some("u1".into());
        e
    }

    #[test]
    fn windows_are_summed_per_rule_and_key_as_of_the_watermark() {
        let pack = crate::rules::compile_pack(PACK, Path::new("."), "test").unwrap();
        let mut engine = Engine::new(Arc::new(pack), EngineConfig::default());
        let view = engine.view();
        assert!(view.official("o1").is_none());
        let mut out = Vec::new();
        for e in [
            event("p1", "payment", 0, "C1", 100),
            event("p2", "payment", 30, "C1", 250),
            event("p3", "payment", 40, "C2", 7),
            event("a1", "approval", 45, "C1", 0),
            event("p4", "payment", 62, "C1", 1_000),
        ] {
            engine.ingest(e, &mut out);
        }
        engine.advance_watermark(Timestamp(61 * 60_000_000_000), &mut out);
        let got = view.official("o1").unwrap();
        assert_eq!(got.scope.region.as_deref(), Some("r1"));
        let start = |m: i64| Timestamp(m * 60_000_000_000);
        // Watermark 61 min: burst window [1 min, 61 min] holds p2 (C1) and p3 (C2);
        // the approvals window [−59 min, 61 min] holds a1; p4 is not released yet.
        assert_eq!(
            got.windows,
            vec![
                WindowAggregate {
                    rule_id: "burst".into(),
                    key: vec![("counterparty".into(), "C1".into())],
                    count: 1,
                    sum: Some(250),
                    start: start(1),
                    end: start(61),
                },
                WindowAggregate {
                    rule_id: "burst".into(),
                    key: vec![("counterparty".into(), "C2".into())],
                    count: 1,
                    sum: Some(7),
                    start: start(1),
                    end: start(61),
                },
                WindowAggregate {
                    rule_id: "approvals".into(),
                    key: vec![],
                    count: 1,
                    sum: None,
                    start: start(-59),
                    end: start(61),
                },
            ]
        );
    }

    #[test]
    fn a_count_window_shows_the_newest_entries_its_rule_sees() {
        let pack = crate::rules::compile_pack(
            "[pack]\nname = \"t\"\nversion = \"1\"\n[[rule]]\nid = \"last2\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"1h\"\nlast = 2\ngroup_by = [\"counterparty\"]\nmeasures = { sum = \"amount_cents\" }\nyellow = { count = \">= 9\" }\nfilter = { kind = \"payment\" }\n",
            Path::new("."),
            "test",
        )
        .unwrap();
        let mut engine = Engine::new(Arc::new(pack), EngineConfig::default());
        let view = engine.view();
        let mut out = Vec::new();
        for e in [
            event("p1", "payment", 0, "C1", 100),
            event("p2", "payment", 10, "C1", 250),
            event("p3", "payment", 20, "C1", 7),
        ] {
            engine.ingest(e, &mut out);
        }
        engine.advance_watermark(Timestamp(30 * 60_000_000_000), &mut out);
        let got = view.official("o1").unwrap();
        assert_eq!(got.windows.len(), 1);
        assert_eq!((got.windows[0].count, got.windows[0].sum), (2, Some(257)));
    }
}
