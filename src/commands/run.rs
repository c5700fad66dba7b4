//! `sunlight run`: the live pipeline until SIGINT or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sunlight_core::EngineConfig;
use sunlight_core::codec::DecodeLimits;
use sunlight_kafka::casework::SharedCasebook;
use sunlight_kafka::{Health, KafkaConfig, Services};

use crate::cli::RunArgs;

/// Runs the pipeline; prints the run's counters on exit.
pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = crate::settings::resolve(args, std::env::vars())?;
    let pack = Arc::new(sunlight_core::rules::load_pack_in(
        &settings.rules,
        &settings.lane,
    )?);
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
        match &settings.lane {
            sunlight_core::lanes::Lane::All => println!("lane all: every rule"),
            sunlight_core::lanes::Lane::Officials => println!(
                "lane officials: the rules keyed by the official, and the warnings carried from the entity lanes"
            ),
            lane => println!(
                "lane {lane}: its {} rule(s); warnings to {} as carriers for the officials lane",
                pack.rules.len(),
                k.warnings_topic
            ),
        }
        match &settings.api {
            Some(a) => println!(
                "query API on: {} key(s), audit file {}, audit topic {}",
                a.keys.len(),
                a.audit_file
                    .as_ref()
                    .map_or("none".to_string(), |f| f.display().to_string()),
                a.audit_topic
            ),
            None => println!("query API off"),
        }
        match &settings.http_tls {
            Some(t) => {
                crate::http::tls_config(t)?;
                println!(
                    "https on: certificate {}, key {}",
                    t.cert.display(),
                    t.key.display()
                );
            }
            None => println!("https off (plain HTTP; put a TLS proxy in front, docs/CONSOLE.md)"),
        }
        match &k.state {
            Some(st) => println!(
                "durable state on: snapshots to {} every {}",
                st.topic, st.interval
            ),
            None => println!("durable state off (restarts rebuild windows by re-reading)"),
        }
        for t in &pack.topic_tables {
            println!(
                "reference table {} from topic {} (read to its end before the first event, then followed)",
                t.name, t.topic
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let metrics = crate::telemetry::install_metrics()?;
    let (pack, feed) = read_topic_tables(pack, &settings)?;
    crate::telemetry::rules_loaded(&pack);
    let config = KafkaConfig {
        source_name: format!("sunlight/{}", pack.name),
        ..settings.kafka
    };
    let engine = EngineConfig {
        allowed_lateness: settings.allowed_lateness,
        max_future_skew: settings.max_future_skew,
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
        crate::reload::register();
        let interval = settings
            .reload_interval
            .map(|d| std::time::Duration::from_nanos(d.0 as u64));
        let (pack_sender, packs) = tokio::sync::watch::channel(Arc::clone(&pack));
        let watcher = tokio::spawn(crate::reload::watch_file(
            settings.rules.clone(),
            interval,
            crate::reload::Hangup::install(),
            pack_sender,
            feed.as_ref().map(|(_, changed)| changed.clone()),
        ));
        let (mut source_watcher, mut source_versions) = (None, None);
        if let (Some(path), Some(file)) = (&settings.sources, &config.sources) {
            let (sender, receiver) = tokio::sync::watch::channel(Arc::clone(file));
            source_versions = Some(receiver);
            source_watcher = Some(tokio::spawn(crate::reload::watch_file(
                path.clone(),
                interval,
                crate::reload::Hangup::install(),
                sender,
                None,
            )));
        }
        let services = Services {
            casebook: config
                .casework
                .as_ref()
                .map(|c| SharedCasebook::new(c.policy.clone())),
            packs: Some(packs),
            sources: source_versions,
            ..Services::new(Arc::clone(&health))
        };
        let mut audit_drain = None;
        let api = match &settings.api {
            Some(api_config) => {
                let (channel, records) = sunlight_api::ChannelSink::new(4096);
                let feedback = match &config.casework {
                    Some(c) => Some(
                        crate::query::FeedbackWriter::new(&config, c.feedback_topic.clone())
                            .context("cannot start the feedback writer of the query API")?,
                    ),
                    None => None,
                };
                let source = Arc::new(crate::query::EngineSource {
                    views: services.views.clone(),
                    casebook: services.casebook.clone(),
                    clock: engine.clock,
                    feedback,
                });
                let api = sunlight_api::Api::new(api_config, source, vec![Arc::new(channel)])
                    .context("cannot start the query API")?;
                audit_drain = Some(crate::audit_topic::spawn_drain(
                    records,
                    &config,
                    api_config.audit_topic.clone(),
                )?);
                Some(sunlight_api::router(Arc::new(api)).merge(sunlight_api::console::router()))
            }
            None => None,
        };
        let with_api = api.is_some();
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, http) = crate::http::serve_with(
            settings.http_addr,
            settings.http_tls.as_ref(),
            metrics,
            Arc::clone(&health),
            api,
            async {
                let _ = http_stopped.await;
            },
        )
        .await?;
        let scheme = if settings.http_tls.is_some() { "https" } else { "http" };
        if with_api {
            eprintln!(
                "sunlight: /metrics, /healthz, /readyz, the query API (/v1) and the console (/console/) on {scheme}://{addr}"
            );
        } else {
            eprintln!("sunlight: /metrics, /healthz and /readyz on {scheme}://{addr}");
        }
        let stats = sunlight_kafka::run_with(
            &config,
            pack,
            engine,
            DecodeLimits::default(),
            services,
            shutdown_signal(),
        )
        .await;
        watcher.abort();
        drop(feed);
        if let Some(w) = source_watcher {
            w.abort();
        }
        let _ = stop_http.send(());
        let _ = http.await;
        if let Some(drain) = audit_drain {
            // The API is gone with the server: the drain ends once the channel is empty.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), drain).await;
        }
        anyhow::Ok(stats?)
    })?;
    eprintln!(
        "sunlight: stopped; consumed {}, warnings {} (carried from entity lanes {}), dead letters {} ({:?}), duplicates {}, key mismatches {}, delivery errors {}, commits {}",
        stats.consumed,
        stats.warnings,
        stats.carried,
        stats.dead_letters,
        stats.rejected,
        stats.duplicates,
        stats.key_mismatches,
        stats.delivery_errors,
        stats.commits
    );
    Ok(ExitCode::SUCCESS)
}

/// How long `sunlight run` may take to read the reference tables' topics to their end
/// before it starts.
const TABLES_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(120);

/// A running feed of topic tables and the counter it bumps on each change.
type Feed = (
    sunlight_kafka::reference_feed::ReferenceFeed,
    tokio::sync::watch::Receiver<u64>,
);

/// The pack compiled again with its topic tables read to their end, and the feed
/// that follows them (with the counter it bumps on each change); the pack as it is
/// when it has no topic table.
fn read_topic_tables(
    pack: Arc<sunlight_core::CompiledPack>,
    settings: &crate::settings::RunSettings,
) -> anyhow::Result<(Arc<sunlight_core::CompiledPack>, Option<Feed>)> {
    if pack.topic_tables.is_empty() {
        return Ok((pack, None));
    }
    let feeds = sunlight_core::rules::topic_tables::TableFeeds::new();
    let (changed, announced) = tokio::sync::watch::channel(0u64);
    let config = sunlight_kafka::reference_feed::FeedConfig {
        brokers: settings.kafka.brokers.clone(),
        properties: settings.kafka.properties.clone(),
        group: format!("{}.reference-reader", settings.kafka.group),
        catch_up: TABLES_CATCH_UP,
    };
    let feed = sunlight_kafka::reference_feed::ReferenceFeed::start(
        &config,
        &pack.topic_tables,
        std::sync::Arc::clone(&feeds),
        changed,
    )?;
    let pack = sunlight_core::rules::load_pack_with(&settings.rules, &pack.lane, Some(&feeds))?;
    for t in &pack.tables {
        eprintln!(
            "sunlight: reference table `{}`: {} rows from {}",
            t.name,
            t.len(),
            t.origin
        );
    }
    Ok((Arc::new(pack), Some((feed, announced))))
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
