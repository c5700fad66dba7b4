//! `sunlight gen`: synthetic events to a file or stdout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use sunlight_core::codec::{Format, protobuf};
use sunlight_gen::{GenConfig, Generator};

use crate::cli::GenArgs;

/// Writes the generated events.
pub fn run(args: &GenArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.officials > 0, "--officials must be at least 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.duplicates),
        "--duplicates must be between 0.0 and 1.0"
    );
    anyhow::ensure!(
        (1..=36_500).contains(&args.days),
        "--days must be between 1 and 36500 (timestamps stop at the year 2262)"
    );
    let config = GenConfig {
        events: args.events,
        officials: args.officials,
        seed: args.seed,
        days: args.days,
        scenario_every: args.scenario_every,
        duplicate_rate: args.duplicates,
        disorder: args.disorder,
        ..GenConfig::default()
    };
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    let events = Generator::new(config);
    match super::resolve_format(args.format, args.output.as_deref()) {
        Format::Json => {
            sunlight_gen::write_json_lines(events, &mut out)?;
        }
        Format::Protobuf => {
            let mut buf = Vec::with_capacity(512);
            for e in events {
                buf.clear();
                protobuf::encode_length_delimited(&e, &mut buf);
                out.write_all(&buf)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
