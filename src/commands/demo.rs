//! `sunlight demo`: an embedded Kafka-protocol broker (librdkafka's mock cluster),
//! simulated source systems publishing power-exercise events with injected
//! misconduct, the engine running through the same pipeline as `sunlight run`, and
//! every warning printed as it arrives on the warnings topic. Payments,
//! appointments, awards and fuel fills are published as the departments' own records
//! (ledger rows, personnel decisions, Debezium changes, card transactions) and mapped
//! by the example mapping files (`sunlight_gen::departments`); the rest as events. The closed loop runs
//! (risk codes, feedback, escalation), and the query API and the console are served
//! with a demo signing key made for this run; the console's sign-in links (one for
//! a handler, one read-only) are printed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::codec::DecodeLimits;
use sunlight_core::{CompiledPack, EngineConfig};
use sunlight_gen::departments::{self, FEEDS};
use sunlight_gen::{GenConfig, Generator};
use sunlight_kafka::casework::{CaseworkConfig, SharedCasebook};
use sunlight_kafka::{Health, KafkaConfig, Services};

use crate::cli::DemoArgs;

const EVENTS: &str = "sunlight.events";
const WARNINGS: &str = "sunlight.warnings";
const DLQ: &str = "sunlight.dlq";
const FEEDBACK: &str = "sunlight.feedback";
const RISK_CODES: &str = "sunlight.risk-codes";
const AUDIT: &str = "sunlight.audit";
/// How long the demo's tokens are valid.
const TOKEN_HOURS: u64 = 12;

/// Runs the demo until Ctrl-C (or `--duration`).
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rate > 0, "--rate must be at least 1");
    anyhow::ensure!(args.officials > 0, "--officials must be at least 1");
    let pack = Arc::new(super::load_pack_with_tables(&args.rules, &[], false)?);
    let metrics = crate::telemetry::install_metrics()?;
    crate::telemetry::rules_loaded(&pack);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args, pack, metrics))
}

async fn demo(
    args: &DemoArgs,
    pack: Arc<CompiledPack>,
    metrics: PrometheusHandle,
) -> anyhow::Result<ExitCode> {
    let cluster = MockCluster::new(1).context("cannot start the embedded broker")?;
    let brokers = cluster.bootstrap_servers();
    cluster.create_topic(EVENTS, 3, 1)?;
    cluster.create_topic(WARNINGS, 1, 1)?;
    cluster.create_topic(DLQ, 1, 1)?;
    cluster.create_topic(FEEDBACK, 3, 1)?;
    cluster.create_topic(RISK_CODES, 1, 1)?;
    cluster.create_topic(AUDIT, 1, 1)?;
    for feed in &FEEDS {
        cluster.create_topic(feed.topic, 1, 1)?;
    }
    let sources = sunlight_core::sources::compile(&departments::mapping_text(), "example feeds")
        .context("the example mappings")?;
    println!("embedded Kafka-protocol broker (librdkafka mock cluster): {brokers}");
    println!(
        "  topics: {EVENTS} (3 partitions), {WARNINGS}, {DLQ}, {FEEDBACK} (3 partitions), {RISK_CODES}, {AUDIT}"
    );
    let feeds: Vec<String> = FEEDS
        .iter()
        .map(|f| format!("{} ({})", f.topic, f.name))
        .collect();
    println!(
        "  department data, mapped by examples/sources/: {}",
        feeds.join(", ")
    );
    println!("  watch with a standard client, e.g.: kcat -b {brokers} -C -t {WARNINGS}");
    println!(
        "  simulated source systems: {} events from {} officials over a year, {} per second, with injected misconduct",
        args.events, args.officials, args.rate
    );

    let stop = stop_signal(args.duration);
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let health = Arc::new(Health::default());
    let casework = CaseworkConfig {
        feedback_topic: FEEDBACK.into(),
        risk_codes_topic: RISK_CODES.into(),
        audit_topic: AUDIT.into(),
        ..CaseworkConfig::default()
    };
    let config = KafkaConfig {
        brokers: brokers.clone(),
        group: "sunlight-demo".into(),
        input_topics: std::iter::once(EVENTS)
            .chain(FEEDS.iter().map(|f| f.topic))
            .map(String::from)
            .collect(),
        sources: Some(Arc::new(sources)),
        warnings_topic: WARNINGS.into(),
        dlq_topic: DLQ.into(),
        idle_timeout: sunlight_core::time::Duration::from_secs(2),
        source_name: format!("sunlight/{}", pack.name),
        casework: Some(casework.clone()),
        ..KafkaConfig::default()
    };
    let services = Services {
        casebook: Some(SharedCasebook::new(casework.policy.clone())),
        ..Services::new(Arc::clone(&health))
    };
    let secret = demo_secret();
    let (api, audit_drain) = demo_api(&config, &services, &secret)?;
    let mut http_stop = stop_tx.subscribe();
    let (addr, http) = crate::http::serve(
        args.http_addr,
        metrics,
        Arc::clone(&health),
        Some(api),
        async move {
            let _ = http_stop.recv().await;
        },
    )
    .await?;
    println!("  metrics: http://{addr}/metrics (also /healthz, /readyz)");
    println!(
        "  console (a handler; valid {TOKEN_HOURS} h): http://{addr}/console/#token={}",
        demo_token(&secret, "demo-handler", &["handler"])?
    );
    println!(
        "  console (read-only):  http://{addr}/console/#token={}",
        demo_token(&secret, "demo-reader", &[])?
    );
    println!("warnings as they are published (Ctrl-C to stop):");
    let mut pipeline_stop = stop_tx.subscribe();
    let pipeline = tokio::spawn(async move {
        sunlight_kafka::run_with(
            &config,
            pack,
            // No future-skew limit: the simulated year runs ahead of today's date.
            EngineConfig::default(),
            DecodeLimits::default(),
            services,
            async move {
                let _ = pipeline_stop.recv().await;
            },
        )
        .await
    });
    let generator = tokio::spawn(publish(
        brokers.clone(),
        GenConfig {
            events: args.events,
            officials: args.officials,
            seed: args.seed,
            scenario_every: 10,
            ..GenConfig::default()
        },
        args.rate,
        stop_tx.subscribe(),
    ));
    let printer = tokio::spawn(print_warnings(brokers, stop_tx.subscribe()));
    stop.await;
    let _ = stop_tx.send(());
    let (published, from_departments) = generator.await.context("generator task")??;
    let printed = printer.await.context("printer task")??;
    let stats = pipeline.await.context("pipeline task")??;
    let _ = http.await;
    let _ = tokio::time::timeout(Duration::from_secs(5), audit_drain).await;
    println!(
        "stopped: published {published} records ({from_departments} as department data); engine consumed {}, produced {} warnings and {} dead letters; {printed} warnings printed",
        stats.consumed, stats.warnings, stats.dead_letters
    );
    drop(cluster);
    Ok(ExitCode::SUCCESS)
}

/// A fresh HS256 secret for this run (64 hex digits): tokens of one demo run are
/// worthless in any other.
fn demo_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token of every region for `sub` with `roles`, signed with `secret`.
fn demo_token(secret: &str, sub: &str, roles: &[&str]) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = serde_json::json!({
        "sub": sub, "iat": now, "exp": now + TOKEN_HOURS * 3600,
        "regions": ["*"], "roles": roles,
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The query API and the console over the demo's pipeline, audited to the audit
/// topic.
fn demo_api(
    config: &KafkaConfig,
    services: &Services,
    secret: &str,
) -> anyhow::Result<(axum::Router, tokio::task::JoinHandle<()>)> {
    let api_config: sunlight_api::ApiConfig = serde_json::from_value(serde_json::json!({
        "keys": [{"algorithm": "HS256", "secret": secret}],
        "audit_topic": AUDIT,
    }))?;
    let (channel, records) = sunlight_api::ChannelSink::new(4096);
    let source = Arc::new(crate::query::EngineSource {
        views: services.views.clone(),
        casebook: services.casebook.clone(),
        clock: EngineConfig::default().clock,
        feedback: Some(crate::query::FeedbackWriter::new(config, FEEDBACK.into())?),
    });
    let api = sunlight_api::Api::new(&api_config, source, vec![Arc::new(channel)])?;
    let drain = crate::audit_topic::spawn_drain(records, config, AUDIT.into())?;
    Ok((
        sunlight_api::router(Arc::new(api)).merge(sunlight_api::console::router()),
        drain,
    ))
}

/// Resolves on Ctrl-C/SIGTERM or after `duration`.
async fn stop_signal(duration: Option<sunlight_core::time::Duration>) {
    match duration {
        Some(d) => {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_nanos(d.0.max(0) as u64)) => {}
                () = super::run::shutdown_signal() => {}
            }
        }
        None => super::run::shutdown_signal().await,
    }
}

/// Publishes generated events at `rate` per second: as department records where a
/// feed carries them (keyed as the department keys them), else as events keyed by
/// official_id. Returns the records published and how many were department data.
async fn publish(
    brokers: String,
    config: GenConfig,
    rate: u64,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) -> anyhow::Result<(u64, u64)> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let per_tick = (rate / 10).max(1);
    let mut events = Generator::new(config);
    let (mut published, mut from_departments) = (0, 0);
    loop {
        tokio::select! {
            _ = stop.recv() => return Ok((published, from_departments)),
            _ = tick.tick() => {}
        }
        let batch: Vec<_> = events.by_ref().take(per_tick as usize).collect();
        if batch.is_empty() {
            let _ = stop.recv().await;
            return Ok((published, from_departments));
        }
        let records: Vec<(&str, String, String)> = batch
            .iter()
            .enumerate()
            .map(|(i, e)| {
                // The event's place in the generated sequence (an award's binlog position).
                match departments::render(e, published + i as u64) {
                    Some((feed, record)) => {
                        from_departments += 1;
                        (FEEDS[feed].topic, e.event_id.to_string(), record)
                    }
                    None => {
                        let mut text = String::new();
                        sunlight_core::codec::json::encode(e, &mut text);
                        (EVENTS, e.official_id.to_string(), text)
                    }
                }
            })
            .collect();
        let sends = records.iter().map(|(topic, key, payload)| {
            let producer = &producer;
            async move {
                producer
                    .send(
                        FutureRecord::to(topic).key(key).payload(payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("cannot publish a record: {e}"))
            }
        });
        for result in futures::future::join_all(sends).await {
            result?;
            published += 1;
        }
    }
}

/// Prints each warning on the warnings topic as one readable line.
async fn print_warnings(
    brokers: String,
    mut stop: tokio::sync::broadcast::Receiver<()>,
) -> anyhow::Result<u64> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "sunlight-demo-viewer")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[WARNINGS])?;
    let mut printed = 0;
    loop {
        let message = tokio::select! {
            _ = stop.recv() => return Ok(printed),
            m = consumer.recv() => m,
        };
        let Ok(message) = message else { continue };
        let Ok(w) =
            serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
        else {
            continue;
        };
        let level = w["level"].as_str().unwrap_or_default().to_uppercase();
        let key: Vec<String> = w["key"]
            .as_object()
            .map(|k| {
                k.iter()
                    .map(|(n, v)| format!("{n}={}", v.as_str().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "[{level:<6}] {:<22} {} {}| {} (at {}, trigger {})",
            w["rule_id"].as_str().unwrap_or_default(),
            w["official_id"].as_str().unwrap_or_default(),
            if key.is_empty() {
                String::new()
            } else {
                format!("{} ", key.join(" "))
            },
            w["title"].as_str().unwrap_or_default(),
            w["occurred_at"].as_str().unwrap_or_default(),
            w["trigger_event_id"].as_str().unwrap_or_default(),
        );
        printed += 1;
    }
}
