//! `sunlight replay`: run recorded events through a rule pack.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use sunlight_core::codec::{Format, Reason};
use sunlight_core::replay::{ReplayOptions, ReplaySummary, Replayer};
use sunlight_core::{CompiledPack, EngineConfig};

use crate::cli::ReplayArgs;

/// Replays `args.input` and prints the summary on stderr.
pub fn run(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let pack = Arc::new(super::load_pack_with_tables(
        &args.rules,
        &args.tables,
        true,
    )?);
    let format = super::resolve_format(args.format, Some(&args.input));
    let options = ReplayOptions {
        format,
        engine: EngineConfig {
            allowed_lateness: args.allowed_lateness,
            max_future_skew: args.max_future_skew.0,
            ..EngineConfig::default()
        },
        decode_only: args.decode_only,
        state_sample_every: args.state_sample_every,
        ..ReplayOptions::default()
    };
    // Mappings and labels first: a bad file fails before any output is written.
    let source = match &args.sources {
        Some(path) => {
            if format == Format::Protobuf {
                anyhow::bail!("--sources maps JSON records: the input must be JSON lines");
            }
            let mappings = sunlight_core::sources::SourceFile::load(path)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            match super::sources::pick(&mappings, args.source.as_deref()) {
                Some(s) => Some(s.clone()),
                None => return Ok(ExitCode::from(2)),
            }
        }
        None => None,
    };
    let mut backtest = match &args.labels {
        Some(path) => Some(super::backtest::load(path, &pack)?),
        None => None,
    };
    let warnings: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let errors: Box<dyn Write> = match &args.errors {
        Some(path) => Box::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stderr()),
    };
    let input: Box<dyn Read> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(
            File::open(&args.input)
                .with_context(|| format!("cannot open {}", args.input.display()))?,
        )
    };
    let started = Instant::now();
    let mut replayer = Replayer::new(
        Arc::clone(&pack),
        options,
        BufWriter::with_capacity(1 << 20, warnings),
        BufWriter::with_capacity(64 << 10, errors),
    );
    if let Some(source) = source {
        replayer = replayer.with_source(source);
    }
    let mut replayer = replayer.with_observer(backtest.as_mut());
    match format {
        Format::Json => replayer.json_lines(BufReader::with_capacity(1 << 20, input))?,
        Format::Protobuf => {
            let mut data = Vec::new();
            BufReader::new(input).read_to_end(&mut data)?;
            replayer.protobuf_records(&data)?;
        }
    }
    let summary = replayer.finish()?;
    let elapsed = started.elapsed().as_secs_f64();
    if !args.quiet {
        eprint!(
            "{}",
            render_summary(&pack, &summary, &args.input.display().to_string(), elapsed)
        );
    }
    if let Some(backtest) = &backtest {
        let report = backtest.report();
        if !args.quiet {
            eprint!("{}", super::backtest::render(&report));
        }
        if let Some(path) = &args.report {
            super::backtest::write(path, &report)?;
        }
    }
    let rejected: u64 = summary.rejected.values().sum();
    Ok(if args.strict && rejected > 0 {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// The human summary printed after a replay.
fn render_summary(pack: &CompiledPack, s: &ReplaySummary, input: &str, seconds: f64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let rate = s.records as f64 / seconds.max(1e-9);
    let _ = writeln!(
        out,
        "replayed {} records from {input} in {seconds:.3} s ({rate:.0} records/s) with pack `{}` {}",
        s.records, pack.name, pack.version
    );
    let rejected: Vec<String> = Reason::ALL
        .iter()
        .filter_map(|r| s.rejected.get(r).map(|n| format!("{} {n}", r.code())))
        .collect();
    let _ = writeln!(
        out,
        "  decoded {}, rejected {} ({}), duplicates {}, unmatched {}, unknown fields {}",
        s.decoded,
        s.rejected.values().sum::<u64>(),
        if rejected.is_empty() {
            "none".to_string()
        } else {
            rejected.join(", ")
        },
        s.engine.duplicates,
        s.engine.unmatched,
        s.unknown_fields
    );
    if !s.mapped_to_nothing.is_empty() {
        let nothing: Vec<String> = s
            .mapped_to_nothing
            .iter()
            .map(|(why, n)| format!("{why} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  mapped to nothing {} ({})",
            s.mapped_to_nothing.values().sum::<u64>(),
            nothing.join(", ")
        );
    }
    let _ = writeln!(out, "  warnings {}", s.warnings);
    let _ = writeln!(
        out,
        "  {:<24} {:>8} {:>8} {:>10}",
        "rule", "yellow", "red", "suppressed"
    );
    for (rule, counts) in pack.rules.iter().zip(&s.engine.rules) {
        let _ = writeln!(
            out,
            "  {:<24} {:>8} {:>8} {:>10}",
            rule.id, counts.yellow, counts.red, counts.suppressed
        );
    }
    for (label, st) in [
        ("before the final flush", &s.state_before_flush),
        ("largest sample", &s.state_peak),
    ] {
        let per_event = st.window_bytes as f64 / st.retained_events.max(1) as f64;
        let _ = writeln!(
            out,
            "  state {label}: {} officials, {} events in windows ({} entries), {} bytes ({per_event:.1} bytes/event), duplicate detection {} bytes",
            st.officials, st.retained_events, st.window_entries, st.window_bytes, st.dedup_bytes
        );
    }
    if let Some(kib) = peak_rss_kib() {
        let _ = writeln!(out, "  peak RSS {:.1} MiB", kib as f64 / 1024.0);
    }
    out
}

/// Peak resident set size from /proc (Linux); None elsewhere.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
