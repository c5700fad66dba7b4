//! Which event attributes a rule reads: its filters (trigger and windows), its
//! windows' group-by, value and distinct fields, its key fields and the field its
//! `before_date` looks up. Evidence copies
//! keep exactly these ([`crate::evidence`]).

use compact_str::CompactString;

use super::filter::Filter;
use super::{CompiledRule, RuleLogic, Slot};
use crate::event::FieldRef;

/// The attribute names `rule` reads (sorted, distinct).
pub(crate) fn attributes_read(
    rule: &CompiledRule,
    filters: &[Filter],
    slots: &[Slot],
) -> Vec<CompactString> {
    let mut fields: Vec<&FieldRef> = Vec::new();
    filters[rule.trigger].fields(&mut fields);
    let used: Vec<usize> = match &rule.logic {
        RuleLogic::Aggregate { slot, .. } | RuleLogic::Baseline { slot, .. } => vec![*slot],
        RuleLogic::Ratio {
            numerator,
            denominator,
        } => vec![*numerator, *denominator],
        RuleLogic::Sequence { first } | RuleLogic::Absence { slot: first } => vec![*first],
        RuleLogic::RelatedParty { field } | RuleLogic::Reference { field, .. } => {
            fields.push(field);
            vec![]
        }
        RuleLogic::Predicate => vec![],
    };
    for slot in used.iter().map(|&i| &slots[i]) {
        filters[slot.filter].fields(&mut fields);
        fields.extend(&slot.group_by);
        fields.extend(&slot.value);
        fields.extend(&slot.distinct);
    }
    fields.extend(&rule.key_fields);
    fields.extend(rule.before_date.as_ref().map(|b| &b.field));
    // Fields of the trigger that thresholds read (`sum = "> attributes.tank_l"`).
    if let super::measure::Levels::Thresholds { red, yellow } = &rule.levels {
        for c in red.iter().chain(yellow).flatten() {
            fields.extend(&c.field);
        }
    }
    let mut names: Vec<CompactString> = fields
        .into_iter()
        .filter_map(|f| match f {
            FieldRef::Attribute(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The union of the rules' attribute lists (sorted, distinct).
pub(crate) fn union(rules: &[CompiledRule]) -> Vec<CompactString> {
    let mut all: Vec<CompactString> = rules
        .iter()
        .flat_map(|r| r.evidence_attributes.iter().cloned())
        .collect();
    all.sort();
    all.dedup();
    all
}
