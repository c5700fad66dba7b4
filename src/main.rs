//! `sunlight`: the streaming early-warning engine's command line.
//!
//! | command | module |
//! |---|---|
//! | `sunlight replay` | [`commands::replay`] (`--labels`: [`commands::backtest`]) |
//! | `sunlight rules check` | [`commands::rules`] |
//! | `sunlight gen` | [`commands::generate`] |
//! | `sunlight run` | [`commands::run`] |
//! | `sunlight demo` | [`commands::demo`] |
//! | `sunlight repartition` | [`commands::repartition`] |
//!
//! [`http`] serves /metrics, /healthz and /readyz; [`telemetry`] installs the metrics
//! recorder; [`settings`] resolves the layered settings of `run`.
//!
//! Exit codes: 0 success; 1 error (bad rule pack, unreadable file, invalid setting,
//! including `run` flag values checked with the settings); 2 usage error reported by
//! clap (unknown flag, missing argument, a value the flag's parser refuses);
//! 3 `replay --strict` rejected some input.

mod audit_topic;
mod cli;
mod commands;
mod http;
mod query;
mod reload;
mod settings;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the engine allocates small strings per event
/// on one thread while snapshots built there are freed on another, which glibc's
/// per-arena locks make contend (BENCHMARKS.md §6). Built without transparent huge
/// pages (`no_thp`, BENCHMARKS.md §10).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match cli.log_format {
        cli::LogFormat::Text => logs.init(),
        cli::LogFormat::Json => logs.json().init(),
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
