//! `sunlight repartition`: re-keys input by official_id (or by `--key` fields) until
//! SIGINT or SIGTERM (`sunlight_kafka::repartition`).

use std::process::ExitCode;

use anyhow::Context;
use sunlight_core::lanes::Lane;
use sunlight_kafka::repartition::{RepartitionConfig, run as repartition};

use crate::cli::RepartitionArgs;

/// Runs the re-keying step; prints its counters on exit.
pub fn run(args: &RepartitionArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.from.contains(&args.to) && !args.protobuf_from.contains(&args.to),
        "--to {} must differ from the source topics",
        args.to
    );
    let key = match args.key.as_deref().map(Lane::parse) {
        None => Vec::new(),
        Some(Ok(Lane::Entity(fields))) => fields,
        Some(Ok(other)) => anyhow::bail!(
            "--key takes an entity key's fields, not `{other}` (without --key, records are keyed by official_id)"
        ),
        Some(Err(e)) => anyhow::bail!("--key: {e}"),
    };
    let by = if key.is_empty() {
        "official_id".to_string()
    } else {
        Lane::Entity(key.clone()).to_string()
    };
    let config = RepartitionConfig {
        brokers: args.brokers.clone(),
        group: args.group.clone(),
        from: args.from.clone(),
        protobuf_from: args.protobuf_from.clone(),
        to: args.to.clone(),
        key,
        dlq_topic: args.dlq_topic.clone(),
        properties: args.properties.iter().cloned().collect(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    eprintln!(
        "sunlight: re-keying {:?} (protobuf {:?}) by {by} into `{}`",
        config.from, config.protobuf_from, config.to
    );
    let stats = runtime.block_on(repartition(&config, super::run::shutdown_signal()))?;
    eprintln!(
        "sunlight: stopped; consumed {}, forwarded {}, dead letters {}, skipped (no key) {}",
        stats.consumed, stats.forwarded, stats.dead_letters, stats.skipped
    );
    Ok(ExitCode::SUCCESS)
}
