//! `sunlight rules check FILE`: validate a pack and describe it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use sunlight_core::CompiledPack;
use sunlight_core::rules::RuleLogic;

/// Validates `file`; prints a summary, or every error by rule and field.
pub fn check(file: &Path) -> anyhow::Result<ExitCode> {
    let pack = match CompiledPack::load(file) {
        Ok(pack) => pack,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for rule in &pack.rules {
        *kinds.entry(kind_name(&rule.logic)).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!(
        "ok: pack `{}` version {}: {} rules ({}), longest window {}",
        pack.name,
        pack.version,
        pack.rules.len(),
        kinds.join(", "),
        pack.retention()
    );
    println!("titles in {}", pack.locale.name());
    if let Some(relations) = &pack.relations {
        println!("relations: {} declared", relations.current().len());
    }
    for table in &pack.tables {
        if pack.topic_tables.iter().any(|t| t.name == table.name) {
            println!(
                "table {}: from {}, read by `sunlight run` from its beginning and followed (columns {})",
                table.name,
                table.origin,
                table.columns().join(", ")
            );
        } else {
            println!(
                "table {}: {} rows from {} (columns {})",
                table.name,
                table.len(),
                table.origin,
                table.columns().join(", ")
            );
        }
    }
    let entity_keyed: BTreeMap<&str, &str> = pack.entity_keyed_rules().into_iter().collect();
    let width = pack
        .rules
        .iter()
        .map(|r| r.id.len())
        .max()
        .unwrap_or(0)
        .max(24);
    for rule in &pack.rules {
        let keyed = entity_keyed
            .get(rule.id.as_str())
            .map(|key| format!("  keyed by {key}"))
            .unwrap_or_default();
        let before = rule
            .before_date
            .as_ref()
            .map(|b| {
                format!(
                    "  fires within {} before {}.{}",
                    b.within, pack.tables[b.table].name, b.column
                )
            })
            .unwrap_or_default();
        println!(
            "  {:<width$} v{:<3} {}{keyed}{before}",
            rule.id,
            rule.version,
            kind_name(&rule.logic)
        );
    }
    if !entity_keyed.is_empty() {
        println!(
            "{} rules keyed by an entity, not the official, need every official's events in one engine: \
             `sunlight replay`, or `sunlight run` as one instance. On several instances, run them in \
             lanes (docs/RULES.md, \"Lanes\"): `sunlight run --lane officials`, and per key below \
             `sunlight repartition --key KEY` into `sunlight run --lane KEY`.",
            entity_keyed.len()
        );
        let keys: std::collections::BTreeSet<&str> = entity_keyed.values().copied().collect();
        for key in keys {
            println!("  lane {key}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The rule kind as written in packs.
pub fn kind_name(logic: &RuleLogic) -> &'static str {
    match logic {
        RuleLogic::Aggregate { .. } => "aggregate",
        RuleLogic::Ratio { .. } => "ratio",
        RuleLogic::Baseline { .. } => "baseline",
        RuleLogic::Sequence { .. } => "sequence",
        RuleLogic::RelatedParty { .. } => "related_party",
        RuleLogic::Reference { .. } => "reference",
        RuleLogic::Predicate => "predicate",
        RuleLogic::Absence { .. } => "absence",
    }
}
