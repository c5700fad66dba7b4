//! `sunlight repartition`: re-keys input by official_id until SIGINT or SIGTERM
//! (`sunlight_kafka::repartition`).

use std::process::ExitCode;

use anyhow::Context;
use sunlight_kafka::repartition::{RepartitionConfig, run as repartition};

use crate::cli::RepartitionArgs;

/// Runs the re-keying step; prints its counters on exit.
pub fn run(args: &RepartitionArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !args.from.contains(&args.to) && !args.protobuf_from.contains(&args.to),
        "--to {} must differ from the source topics",
        args.to
    );
    let config = RepartitionConfig {
        brokers: args.brokers.clone(),
        group: args.group.clone(),
        from: args.from.clone(),
        protobuf_from: args.protobuf_from.clone(),
        to: args.to.clone(),
        dlq_topic: args.dlq_topic.clone(),
        properties: args.properties.iter().cloned().collect(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    eprintln!(
        "sunlight: re-keying {:?} (protobuf {:?}) by official_id into `{}`",
        config.from, config.protobuf_from, config.to
    );
    let stats = runtime.block_on(repartition(&config, super::run::shutdown_signal()))?;
    eprintln!(
        "sunlight: stopped; consumed {}, forwarded {}, dead letters {}",
        stats.consumed, stats.forwarded, stats.dead_letters
    );
    Ok(ExitCode::SUCCESS)
}
