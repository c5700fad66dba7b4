//! `sunlight run`: the live pipeline until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sunlight_core::codec::DecodeLimits;
use sunlight_core::{CompiledPack, EngineConfig};
use sunlight_kafka::casework::SharedCasebook;
use sunlight_kafka::{Health, KafkaConfig, Services};

use crate::cli::RunArgs;

/// Runs the pipeline; prints the run's counters on exit.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::settings::resolve(args, std::env::vars())?;
    let pack = Arc::new(CompiledPack::load(&settings.rules)?);
    if args.check {
        let k = &settings.kafka;
        println!(
            "settings ok: brokers {}, group {}, inputs {:?} (protobuf {:?}), warnings {} ({:?}), dead letters {}, rules {} (pack `{}` {}, {} rules), allowed lateness {}, idle timeout {}, http {}",
            k.brokers,
            k.group,
            k.input_topics,
            k.protobuf_topics,
            k.warnings_topic,
            k.warnings_format,
            k.dlq_topic,
            settings.rules.display(),
            pack.name,
            pack.version,
            pack.rules.len(),
            settings.allowed_lateness,
            k.idle_timeout,
            settings.http_addr
        );
        match &k.casework {
            Some(c) => println!(
                "casework on: feedback {}, risk codes {}, audit {}, tick {}",
                c.feedback_topic, c.risk_codes_topic, c.audit_topic, c.tick_interval
            ),
            None => println!("casework off"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let metrics = crate::telemetry::install_metrics()?;
    crate::telemetry::rules_loaded(&pack);
    let config = KafkaConfig {
        source_name: format!("sunlight/{}", pack.name),
        ..settings.kafka
    };
    let engine = EngineConfig {
        allowed_lateness: settings.allowed_lateness,
        ..EngineConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    eprintln!(
        "sunlight: pack `{}` {}, consuming {:?} from {} as group `{}`; warnings to `{}`, dead letters to `{}`",
        pack.name,
        pack.version,
        config.input_topics,
        config.brokers,
        config.group,
        config.warnings_topic,
        config.dlq_topic
    );
    let stats = runtime.block_on(async {
        let health = Arc::new(Health::default());
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, http) =
            crate::http::serve(settings.http_addr, metrics, Arc::clone(&health), async {
                let _ = http_stopped.await;
            })
            .await?;
        eprintln!("sunlight: /metrics, /healthz and /readyz on http://{addr}");
        let services = Services {
            casebook: config
                .casework
                .as_ref()
                .map(|c| SharedCasebook::new(c.policy.clone())),
            ..Services::new(health)
        };
        let stats = sunlight_kafka::run_with(
            &config,
            pack,
            engine,
            DecodeLimits::default(),
            services,
            shutdown_signal(),
        )
        .await;
        let _ = stop_http.send(());
        let _ = http.await;
        anyhow::Ok(stats?)
    })?;
    eprintln!(
        "sunlight: stopped; consumed {}, warnings {}, dead letters {} ({:?}), duplicates {}, key mismatches {}, delivery errors {}, commits {}",
        stats.consumed,
        stats.warnings,
        stats.dead_letters,
        stats.rejected,
        stats.duplicates,
        stats.key_mismatches,
        stats.delivery_errors,
        stats.commits
    );
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
