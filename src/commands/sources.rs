//! `sunlight sources check FILE` and `sunlight sources test FILE --input SAMPLE`: an
//! integrator's loop for a department feed, before it goes live.

use std::io::{BufRead, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sunlight_core::codec::{DecodeLimits, json};
use sunlight_core::sources::{Mapped, Source, SourceFile};

/// Validates `file`; prints each source, or every problem (one per line, naming the
/// source and field) and exits 1.
pub fn check(file: &Path) -> anyhow::Result<ExitCode> {
    let Some(mappings) = load(file) else {
        return Ok(ExitCode::from(1));
    };
    println!(
        "ok: {} source{}",
        mappings.sources.len(),
        if mappings.sources.len() == 1 { "" } else { "s" }
    );
    for s in &mappings.sources {
        println!("  {:<24} topics {}", s.name, s.topics.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Maps every line of `input` with the file's source (or the one named `source`).
/// Exit status 0 when the sample was read, whatever its rejects; 1 when the mapping
/// file or the choice of source is wrong.
pub fn test(
    file: &Path,
    input: &Path,
    source: Option<&str>,
    explain: bool,
) -> anyhow::Result<ExitCode> {
    let Some(mappings) = load(file) else {
        return Ok(ExitCode::from(1));
    };
    let Some(source) = pick(&mappings, source) else {
        return Ok(ExitCode::from(1));
    };
    let reader = std::io::BufReader::new(
        std::fs::File::open(input).with_context(|| format!("cannot open {}", input.display()))?,
    );
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut mapped, mut nothing, mut rejected) = (0u64, 0u64, 0u64);
    let mut line = String::new();
    for (number, record) in reader.split(b'\n').enumerate() {
        let number = number + 1;
        let mut record = record.with_context(|| format!("cannot read {}", input.display()))?;
        if record.last() == Some(&b'\r') {
            record.pop();
        }
        match source.map_within(&record, &DecodeLimits::default()) {
            Ok(Mapped::Event(event)) => {
                mapped += 1;
                line.clear();
                json::encode(&event, &mut line);
                writeln!(out, "{line}")?;
            }
            Ok(Mapped::Nothing(why)) => {
                nothing += 1;
                if explain {
                    out.flush()?;
                    eprintln!("line {number}: nothing: {}", why.code());
                }
            }
            Err(e) => {
                rejected += 1;
                out.flush()?;
                eprintln!("line {number}: {}: {}", e.reason, e.detail);
            }
        }
    }
    out.flush()?;
    if explain {
        eprintln!("{mapped} mapped, {nothing} mapped to nothing, {rejected} rejected");
    }
    Ok(ExitCode::SUCCESS)
}

/// The mapping file, or None after printing every problem (one per line).
fn load(file: &Path) -> Option<SourceFile> {
    match SourceFile::load(file) {
        Ok(m) => Some(m),
        Err(e) => {
            for problem in &e.problems {
                eprintln!("{problem}");
            }
            None
        }
    }
}

/// The source to test: the one named, or the only one.
pub(crate) fn pick<'a>(mappings: &'a SourceFile, name: Option<&str>) -> Option<&'a Source> {
    let names = || {
        mappings
            .sources
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => {
            let found = mappings.named(n);
            if found.is_none() {
                eprintln!("no source named {n:?} (the file has: {})", names());
            }
            found
        }
        None if mappings.sources.len() == 1 => mappings.sources.first(),
        None => {
            eprintln!(
                "the file has several sources ({}): choose one with --source",
                names()
            );
            None
        }
    }
}
