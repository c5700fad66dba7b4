//! `sunlight replay --labels`: load the labels, print the backtest table, write the
//! JSON report. The scoring itself is `sunlight_core::backtest`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use sunlight_core::CompiledPack;
use sunlight_core::backtest::{Backtest, Labels, Report, Section};

/// Most missed ids listed per rule in the table (the JSON report lists all).
const MISSED_SHOWN: usize = 10;

/// Parses the labels file against the pack's (enabled) rules.
pub fn load(path: &Path, pack: &CompiledPack) -> anyhow::Result<Backtest> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let rules: Vec<&str> = pack.rules.iter().map(|r| r.id.as_str()).collect();
    let labels = Labels::parse(BufReader::new(file), &rules)
        .with_context(|| format!("invalid labels file {}", path.display()))?;
    Ok(Backtest::new(labels))
}

/// Writes the report as one pretty-printed JSON document.
pub fn write(path: &Path, report: &Report) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The human table printed after the replay summary.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "backtest: alert volume");
    let _ = writeln!(
        out,
        "  {:<24} {:>8} {:>8} {:>8} {:>9}",
        "rule", "warnings", "yellow", "red", "officials"
    );
    for r in &report.rules {
        let _ = writeln!(
            out,
            "  {:<24} {:>8} {:>8} {:>8} {:>9}",
            r.rule_id, r.warnings, r.yellow, r.red, r.officials_flagged
        );
    }
    for (name, section) in [
        ("official", &report.by_official),
        ("event", &report.by_event),
    ] {
        if let Some(section) = section {
            render_section(&mut out, name, section);
        }
    }
    out
}

fn render_section(out: &mut String, name: &str, section: &Section) {
    let _ = writeln!(
        out,
        "backtest by {name} labels ({} {name}s labelled)",
        section.labelled
    );
    let _ = writeln!(
        out,
        "  {:<24} {:>6} {:>6} {:>10} {:>9} {:>9} {:>7} {:>6}",
        "rule", "TP", "FP", "unlabelled", "precision", "positives", "flagged", "recall"
    );
    for s in &section.rules {
        let _ = writeln!(
            out,
            "  {:<24} {:>6} {:>6} {:>10} {:>9} {:>9} {:>7} {:>6}",
            s.rule_id,
            s.true_positives,
            s.false_positives,
            s.unlabelled,
            ratio(s.precision),
            s.positives,
            s.positives_flagged,
            ratio(s.recall)
        );
        if !s.missed.is_empty() {
            let shown: Vec<&str> = s
                .missed
                .iter()
                .take(MISSED_SHOWN)
                .map(String::as_str)
                .collect();
            let more = s.missed.len().saturating_sub(MISSED_SHOWN);
            let _ = write!(out, "    missed: {}", shown.join(", "));
            if more > 0 {
                let _ = write!(out, " and {more} more");
            }
            out.push('\n');
        }
    }
}

/// Three decimals, or `-` when undefined.
fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}
