//! [`Masker`]: hides the values of sensitive attributes (`api.sensitive_attributes`)
//! from tokens without `sensitive: true` — in key/value pairs (a warning's key, a
//! window's key) and wherever those raw values occur in free text (titles, notes).

use std::collections::HashSet;

use crate::config::MaskConfig;
use crate::lists::WarningItem;
use crate::model::{KeyMap, OfficialView, WarningView};

/// Masks sensitive values in answers.
#[derive(Debug, Clone)]
pub struct Masker {
    names: HashSet<String>,
    fill: String,
    keep_last: usize,
}

impl Masker {
    /// Masks the attributes `names` as `mask` says.
    pub fn new(names: impl IntoIterator<Item = String>, mask: &MaskConfig) -> Masker {
        Masker {
            names: names.into_iter().collect(),
            fill: mask.fill.clone(),
            keep_last: mask.keep_last,
        }
    }

    /// Whether attribute `name` is sensitive.
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The masked form of `value`: the fill and the last `keep_last` characters, or
    /// the fill alone when the value is not longer than `keep_last`.
    pub fn mask_value(&self, value: &str) -> String {
        let chars = value.chars().count();
        if self.keep_last == 0 || chars <= self.keep_last {
            return self.fill.clone();
        }
        let tail: String = value.chars().skip(chars - self.keep_last).collect();
        format!("{}{tail}", self.fill)
    }

    /// Masks an official's answer in place.
    pub fn official(&self, view: &mut OfficialView) {
        let mut found = Replacements::default();
        for w in &mut view.open_warnings {
            self.pairs(&mut w.key, &mut found);
        }
        for w in &mut view.windows {
            self.pairs(&mut w.key, &mut found);
        }
        for w in &mut view.open_warnings {
            w.title = found.apply(&w.title);
        }
    }

    /// Masks a warning's answer in place.
    pub fn warning(&self, view: &mut WarningView) {
        let mut found = Replacements::default();
        self.pairs(&mut view.key, &mut found);
        for e in &mut view.evidence.events {
            if self.is_sensitive("counterparty")
                && let Some(c) = &mut e.counterparty
            {
                let masked = self.mask_value(c);
                found.add(std::mem::replace(c, masked.clone()), masked);
            }
            for (name, value) in &mut e.attributes {
                if self.is_sensitive(name) {
                    let raw = match &*value {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let masked = self.mask_value(&raw);
                    *value = serde_json::Value::String(masked.clone());
                    found.add(raw, masked);
                }
            }
        }
        view.title = found.apply(&view.title);
        for h in &mut view.history {
            if let Some(note) = &mut h.note {
                *note = found.apply(note);
            }
        }
    }

    /// Masks a warning's list item in place (key and title).
    pub fn warning_item(&self, item: &mut WarningItem) {
        let mut found = Replacements::default();
        self.pairs(&mut item.key, &mut found);
        item.title = found.apply(&item.title);
    }

    fn pairs(&self, map: &mut KeyMap, found: &mut Replacements) {
        for (name, value) in &mut map.0 {
            if self.is_sensitive(name) {
                let masked = self.mask_value(value);
                let raw = std::mem::replace(value, masked.clone());
                found.add(raw, masked);
            }
        }
    }
}

/// Raw values and their masks, replaced longest first in one pass over a text.
#[derive(Debug, Default)]
struct Replacements(Vec<(String, String)>);

impl Replacements {
    fn add(&mut self, raw: String, masked: String) {
        if !raw.is_empty() && !self.0.iter().any(|(r, _)| *r == raw) {
            self.0.push((raw, masked));
            self.0.sort_by_key(|(raw, _)| std::cmp::Reverse(raw.len()));
        }
    }

    fn apply(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        'scan: while let Some(c) = rest.chars().next() {
            for (raw, masked) in &self.0 {
                if let Some(after) = rest.strip_prefix(raw.as_str()) {
                    out.push_str(masked);
                    rest = after;
                    continue 'scan;
                }
            }
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn masker(keep_last: usize) -> Masker {
        Masker::new(
            ["national_id".to_string(), "phone".to_string()],
            &MaskConfig {
                fill: "***".into(),
                keep_last,
            },
        )
    }

    #[test]
    fn values() {
        assert_eq!(masker(0).mask_value("110101199003070011"), "***");
        assert_eq!(masker(4).mask_value("110101199003070011"), "***0011");
        assert_eq!(masker(4).mask_value("0011"), "***");
        assert_eq!(masker(2).mask_value("电话号码"), "***号码");
        assert_eq!(masker(0).mask_value(""), "***");
    }

    #[test]
    fn text_replacement_is_one_pass_longest_first() {
        let mut r = Replacements::default();
        r.add("1234".into(), "***".into());
        r.add("123456".into(), "#".into());
        r.add(String::new(), "never".into());
        assert_eq!(r.apply("a123456b1234c12"), "a#b***c12");
        assert_eq!(r.apply("号1234号"), "号***号");
    }

    fn warning() -> WarningView {
        WarningView {
            warning_id: "w1".into(),
            rule_id: "relative-company".into(),
            rule_version: 1,
            official_id: "OF-1".into(),
            key: KeyMap::from_pairs([
                ("counterparty", "SUP-9"),
                ("national_id", "110101199003070011"),
            ]),
            level: Level::Red,
            trigger_event_id: "e1".into(),
            occurred_at: "2026-10-15T02:00:00Z".into(),
            window: TimeRange {
                start: "2026-09-15T02:00:00Z".into(),
                end: "2026-10-15T02:00:00Z".into(),
            },
            measures: Measures(vec![("count".into(), MeasureValue::Int(1))]),
            conditions: Vec::new(),
            evidence: Evidence {
                event_ids: vec!["e1".into()],
                total: 1,
                events: vec![EvidenceEvent {
                    event_id: "e1".into(),
                    kind: "payment".into(),
                    occurred_at: "2026-10-15T02:00:00Z".into(),
                    amount_cents: Some(120_000),
                    counterparty: Some("SUP-9".into()),
                    attributes: [
                        ("national_id".to_string(), "110101199003070011".into()),
                        ("urgent".to_string(), true.into()),
                    ]
                    .into(),
                }],
            },
            title: "payment to SUP-9 owned by 110101199003070011".into(),
            detected_at: "2026-10-15T02:01:00Z".into(),
            status: WarningStatus::Pushed,
            history: vec![HistoryEntry {
                status: WarningStatus::Pushed,
                handler: Some("h1".into()),
                note: Some("checked 110101199003070011 twice".into()),
                at: "2026-10-15T03:00:00Z".into(),
            }],
            case_id: None,
            escalated: false,
            region: "north".into(),
            org_unit: "finance".into(),
        }
    }

    #[test]
    fn warning_masking_exact() {
        let mut w = warning();
        masker(4).warning(&mut w);
        assert_eq!(
            serde_json::to_value(&w.key).unwrap(),
            serde_json::json!({"counterparty": "SUP-9", "national_id": "***0011"})
        );
        assert_eq!(w.title, "payment to SUP-9 owned by ***0011");
        assert_eq!(w.history[0].note.as_deref(), Some("checked ***0011 twice"));
        // The evidence copy: the sensitive attribute masked, the rest as it was.
        assert_eq!(
            serde_json::to_value(&w.evidence.events[0]).unwrap(),
            serde_json::json!({
                "event_id": "e1", "kind": "payment", "occurred_at": "2026-10-15T02:00:00Z",
                "amount_cents": 120000, "counterparty": "SUP-9",
                "attributes": {"national_id": "***0011", "urgent": true}
            })
        );
        // A sensitive counterparty is masked in the copy and wherever it is quoted.
        let mut w = warning();
        Masker::new(
            ["counterparty".to_string()],
            &MaskConfig {
                fill: "***".into(),
                keep_last: 0,
            },
        )
        .warning(&mut w);
        assert_eq!(w.evidence.events[0].counterparty.as_deref(), Some("***"));
        assert_eq!(w.title, "payment to *** owned by 110101199003070011");
        let mut w = warning();
        masker(0).warning(&mut w);
        assert_eq!(w.title, "payment to SUP-9 owned by ***");
    }

    #[test]
    fn official_masking_spans_the_answer() {
        let mut o = OfficialView {
            official_id: "OF-1".into(),
            region: "north".into(),
            org_unit: "finance".into(),
            risk: Risk {
                code: RiskCode::Yellow,
                score: Some(0.5),
                computed_at: "2026-10-15T02:00:00Z".into(),
            },
            open_warnings: vec![WarningSummary {
                warning_id: "w1".into(),
                rule_id: "r".into(),
                rule_version: 1,
                level: Level::Yellow,
                status: WarningStatus::Pushed,
                occurred_at: "2026-10-15T02:00:00Z".into(),
                key: KeyMap::default(),
                title: "calls to 13800138000".into(),
            }],
            windows: vec![WindowAggregate {
                rule_id: "r".into(),
                key: KeyMap::from_pairs([("phone", "13800138000")]),
                count: 3,
                sum: None,
                window: TimeRange {
                    start: "a".into(),
                    end: "b".into(),
                },
            }],
        };
        masker(0).official(&mut o);
        assert_eq!(o.windows[0].key, KeyMap::from_pairs([("phone", "***")]));
        assert_eq!(o.open_warnings[0].title, "calls to ***");
    }
}
