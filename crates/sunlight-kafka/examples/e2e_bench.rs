//! End-to-end benchmark of the live pipeline (documented in BENCHMARKS.md):
//!
//! - `throughput [EVENTS]`: a real broker process (tansu) holds EVENTS JSON events
//!   (default 300,000); a plain rdkafka consumer reads the topic to nowhere, then the
//!   Sunlight pipeline with the default pack processes it, twice each, interleaved.
//!   Rates are measured from first to last record and reported as a ratio.
//! - `latency [SECONDS]`: events stamped with the wall clock are produced at a steady
//!   10,000 per second for SECONDS (default 30) to tansu; a reader on the warnings
//!   topic measures, per warning, the time from producing its trigger event to
//!   receiving the warning, minus the configured watermark delay (allowed lateness).
//! - `stall`: on librdkafka's mock cluster with two brokers, the warnings topic's
//!   broker goes down while preloaded input is consumed; the pipeline's outputs in
//!   flight, records consumed and the process RSS are sampled every second, then the
//!   broker comes back and every warning is delivered.
//!
//! Run: `cargo run --release -p sunlight-kafka --example e2e_bench -- throughput`.
//! Environment knobs: `PACK=path/to/pack.toml` (default: the default pack),
//! `FETCH_WAIT_MS` (the engine consumer's fetch.wait.max.ms in `latency`),
//! `MAX_IN_FLIGHT` (the pipeline's output bound in `throughput` and `latency`).

#[path = "../tests/kafka/tansu.rs"]
#[allow(dead_code)]
mod tansu;

/// The shipped binary's allocator (src/main.rs), so the pipeline is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use futures::StreamExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_core::codec::DecodeLimits;
use sunlight_core::time::{Duration, Timestamp};
use sunlight_core::{CompiledPack, EngineConfig, PowerEvent};
use sunlight_gen::{GenConfig, Generator};
use sunlight_kafka::{Health, KafkaConfig};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{prefix}-{nanos}")
}

fn default_pack() -> Arc<CompiledPack> {
    let path = std::env::var("PACK").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/default.toml"),
        std::path::PathBuf::from,
    );
    Arc::new(CompiledPack::load(&path).expect("default pack"))
}

fn json(e: &PowerEvent) -> String {
    let mut text = String::new();
    sunlight_core::codec::json::encode(e, &mut text);
    text
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The value of a sample in the rendered metrics, 0 if absent.
fn sample(handle: &PrometheusHandle, series: &str) -> f64 {
    handle
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("producer")
}

async fn produce(brokers: &str, topic: &str, events: &[PowerEvent]) {
    let producer = producer(brokers);
    for chunk in events.chunks(20_000) {
        let sends = chunk.iter().map(|e| {
            let payload = json(e);
            let producer = &producer;
            async move {
                producer
                    .send(
                        FutureRecord::to(topic)
                            .key(e.official_id.as_str())
                            .payload(&payload),
                        StdDuration::from_secs(60),
                    )
                    .await
                    .expect("produce");
            }
        });
        futures::future::join_all(sends).await;
    }
}

fn config(brokers: &str, input: &str, warnings: &str, dlq: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        group: unique("sunlight"),
        input_topics: vec![input.to_string()],
        warnings_topic: warnings.to_string(),
        dlq_topic: dlq.to_string(),
        idle_timeout: Duration::from_secs(2),
        max_in_flight: std::env::var("MAX_IN_FLIGHT")
            .map_or(10_000, |v| v.parse().expect("a number")),
        ..KafkaConfig::default()
    }
}

/// Runs the pipeline until `done` says so; returns its stats.
fn spawn_pipeline(
    config: KafkaConfig,
    pack: Arc<CompiledPack>,
    lateness: Duration,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<sunlight_kafka::RunStats> {
    tokio::spawn(async move {
        sunlight_kafka::run(
            &config,
            pack,
            EngineConfig {
                allowed_lateness: lateness,
                ..EngineConfig::default()
            },
            DecodeLimits::default(),
            Arc::new(Health::default()),
            async {
                let _ = stop.await;
            },
        )
        .await
        .expect("pipeline")
    })
}

/// Seconds from the first to the last of `n` records read by a plain consumer.
async fn plain_consumer(brokers: &str, topic: &str, n: usize) -> f64 {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("plain"))
        // The same fetch settings as the pipeline's consumer.
        .set("fetch.wait.max.ms", "10")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut stream = consumer.stream();
    let mut first = None;
    let mut bytes = 0usize;
    for _ in 0..n {
        let m = stream.next().await.expect("stream").expect("message");
        bytes += m.payload().map_or(0, <[u8]>::len);
        first.get_or_insert_with(Instant::now);
    }
    std::hint::black_box(bytes);
    first.expect("records").elapsed().as_secs_f64()
}

/// Seconds from the pipeline's first to its `n`th consumed record.
async fn engine_run(
    metrics: &PrometheusHandle,
    brokers: &str,
    topics: (&str, &str, &str),
    n: usize,
) -> (f64, sunlight_kafka::RunStats) {
    let series = format!("sunlight_records_consumed_total{{topic=\"{}\"}}", topics.0);
    let before = sample(metrics, &series);
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = spawn_pipeline(
        config(brokers, topics.0, topics.1, topics.2),
        default_pack(),
        Duration::from_secs(60),
        stopped,
    );
    let mut first = None;
    loop {
        let consumed = sample(metrics, &series) - before;
        if consumed > 0.0 {
            first.get_or_insert_with(Instant::now);
        }
        if consumed >= n as f64 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    let elapsed = first.expect("records").elapsed().as_secs_f64();
    let _ = stop.send(());
    (elapsed, task.await.expect("pipeline task"))
}

async fn throughput(n: usize, on_mock: bool) {
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    // Keep whichever broker runs alive until the end.
    let (_tansu, _mock, brokers);
    if on_mock {
        let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
        for (topic, partitions) in [(&input, 3), (&warnings, 1), (&dlq, 1)] {
            cluster.create_topic(topic, partitions, 1).expect("topic");
        }
        brokers = cluster.bootstrap_servers();
        (_tansu, _mock) = (None, Some(cluster));
    } else {
        let broker = tansu::Tansu::start();
        broker
            .create_topics(&[(&input, 3), (&warnings, 1), (&dlq, 1)])
            .await;
        brokers = broker.brokers.clone();
        (_tansu, _mock) = (Some(broker), None);
    }
    let broker_name = if on_mock {
        "librdkafka mock cluster (in process)"
    } else {
        "tansu"
    };
    let officials = (n / 100).max(10) as u32;
    let events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: n as u64,
        officials,
        days: 30,
        ..GenConfig::default()
    })
    .collect();
    let total = events.len();
    let started = Instant::now();
    produce(&brokers, &input, &events).await;
    println!(
        "produced {total} events ({officials} officials, 30 days) to {broker_name} in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let mut plain = Vec::new();
    let mut engine = Vec::new();
    for round in 1..=2 {
        let p = plain_consumer(&brokers, &input, total).await;
        let (e, stats) = engine_run(&metrics, &brokers, (&input, &warnings, &dlq), total).await;
        println!(
            "round {round}: plain consumer {:>9.0} events/s | sunlight (pack `{}`) {:>9.0} events/s ({} warnings) | ratio {:.2}",
            total as f64 / p,
            default_pack().name,
            total as f64 / e,
            stats.warnings,
            p / e
        );
        plain.push(total as f64 / p);
        engine.push(total as f64 / e);
    }
    let best = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "best of 2: plain {:.0} events/s, sunlight {:.0} events/s, ratio {:.2}; peak RSS {:.0} MiB (includes the producer's copy)",
        best(&plain),
        best(&engine),
        best(&engine) / best(&plain),
        rss_mib()
    );
}

async fn latency(seconds: u64) {
    const RATE: u64 = 10_000;
    let lateness = Duration(200_000_000);
    let _metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    let broker = tansu::Tansu::start();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    broker
        .create_topics(&[(&input, 3), (&warnings, 1), (&dlq, 1)])
        .await;
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let mut cfg = config(&broker.brokers, &input, &warnings, &dlq);
    // FETCH_WAIT_MS=500 shows librdkafka's default fetch wait instead of Sunlight's.
    if let Ok(wait) = std::env::var("FETCH_WAIT_MS") {
        cfg.properties.insert("fetch.wait.max.ms".into(), wait);
    }
    let task = spawn_pipeline(cfg, default_pack(), lateness, stopped);
    // Wait until the pipeline's group has joined (its first commit tick needs none).
    tokio::time::sleep(StdDuration::from_secs(6)).await;

    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let (brokers, warnings, sent) =
            (broker.brokers.clone(), warnings.clone(), Arc::clone(&sent));
        tokio::spawn(async move {
            let consumer: StreamConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("group.id", unique("reader"))
                .set("auto.offset.reset", "earliest")
                .set("fetch.wait.max.ms", "5")
                .create()
                .expect("reader");
            consumer.subscribe(&[&warnings]).expect("subscribe");
            let mut latencies = Vec::new();
            let deadline = Instant::now() + StdDuration::from_secs(seconds + 10);
            while Instant::now() < deadline {
                let Ok(Ok(m)) =
                    tokio::time::timeout(StdDuration::from_secs(1), consumer.recv()).await
                else {
                    continue;
                };
                let arrived = Instant::now();
                let w: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).expect("warning");
                let trigger = w["trigger_event_id"].as_str().unwrap_or_default();
                if let Some(at) = sent.lock().expect("lock").get(trigger) {
                    latencies.push(arrived.duration_since(*at).as_secs_f64());
                }
            }
            latencies
        })
    };

    let producer = producer(&broker.brokers);
    let mut source = Generator::new(GenConfig {
        events: RATE * seconds * 2,
        officials: 2_000,
        days: 365,
        scenario_every: 5,
        ..GenConfig::default()
    });
    let mut tick = tokio::time::interval(StdDuration::from_millis(10));
    let per_tick = (RATE / 100) as usize;
    let started = Instant::now();
    let mut produced = 0u64;
    let mut in_flight = futures::stream::FuturesUnordered::new();
    while started.elapsed() < StdDuration::from_secs(seconds) {
        tick.tick().await;
        for _ in 0..per_tick {
            let Some(mut e) = source.next() else { break };
            e.occurred_at = Timestamp::now();
            e.event_id = format!("LAT-{produced}").into();
            let payload = json(&e);
            sent.lock()
                .expect("lock")
                .insert(e.event_id.to_string(), Instant::now());
            let delivery = producer
                .send_result(
                    FutureRecord::to(&input)
                        .key(e.official_id.as_str())
                        .payload(&payload),
                )
                .expect("queue");
            in_flight.push(delivery);
            produced += 1;
        }
        while let Some(Some(_)) = futures::FutureExt::now_or_never(in_flight.next()) {}
    }
    while in_flight.next().await.is_some() {}
    let offered = produced as f64 / started.elapsed().as_secs_f64();
    let mut latencies = reader.await.expect("reader");
    let _ = stop.send(());
    let stats = task.await.expect("pipeline");
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] * 1_000.0;
    let delay_ms = lateness.0 as f64 / 1e6;
    println!(
        "offered {offered:.0} events/s for {seconds}s ({produced} events); {} warnings measured of {} produced",
        latencies.len(),
        stats.warnings
    );
    println!(
        "event-to-warning latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; watermark delay {delay_ms:.0} ms; beyond it: p50 {:.1} ms, p99 {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        pct(0.5) - delay_ms,
        pct(0.99) - delay_ms
    );
}

async fn stall() {
    use rdkafka::mocking::MockCluster;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .expect("recorder");
    let cluster = MockCluster::new(2).expect("mock cluster");
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    cluster.create_topic(&input, 3, 1).expect("topic");
    cluster.create_topic(&warnings, 1, 1).expect("topic");
    cluster.create_topic(&dlq, 1, 1).expect("topic");
    for p in 0..3 {
        cluster
            .partition_leader(&input, p, Some(1))
            .expect("leader");
    }
    cluster
        .partition_leader(&warnings, 0, Some(2))
        .expect("leader");
    cluster.partition_leader(&dlq, 0, Some(2)).expect("leader");
    // The mock cluster keeps a bounded log per partition: stay well inside it.
    let events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: 40_000,
        officials: 2_000,
        days: 30,
        scenario_every: 1,
        ..GenConfig::default()
    })
    .collect();
    produce(&brokers, &input, &events).await;
    println!(
        "preloaded {} events; taking the warnings broker down",
        events.len()
    );
    cluster.broker_down(2).expect("down");
    let mut cfg = config(&brokers, &input, &warnings, &dlq);
    cfg.max_in_flight = 500;
    // The consumer group's coordinator stays on the input's broker.
    cluster
        .coordinator(
            rdkafka::mocking::MockCoordinator::Group(cfg.group.clone()),
            1,
        )
        .expect("coordinator");
    cfg.properties
        .insert("message.timeout.ms".into(), "600000".into());
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let task = spawn_pipeline(cfg, default_pack(), Duration::from_secs(60), stopped);
    let consumed = format!("sunlight_records_consumed_total{{topic=\"{input}\"}}");
    for second in 1..=20 {
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        println!(
            "t={second:>2}s stalled: consumed {:>7.0}, outputs in flight {:>5.0}, RSS {:.1} MiB",
            sample(&metrics, &consumed),
            sample(&metrics, "sunlight_outputs_in_flight"),
            rss_mib()
        );
    }
    cluster.broker_up(2).expect("up");
    println!("warnings broker back");
    for second in 21..=30 {
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        println!(
            "t={second:>2}s resumed: consumed {:>7.0}, outputs in flight {:>5.0}, RSS {:.1} MiB",
            sample(&metrics, &consumed),
            sample(&metrics, "sunlight_outputs_in_flight"),
            rss_mib()
        );
    }
    let _ = stop.send(());
    let stats = task.await.expect("pipeline");
    println!(
        "consumed {} of {}, warnings {}, delivery errors {}",
        stats.consumed,
        events.len(),
        stats.warnings,
        stats.delivery_errors
    );
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let number = |i: usize, default: u64| {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a number"))
    };
    match args.first().map(String::as_str) {
        Some("throughput") => runtime.block_on(throughput(
            number(1, 300_000) as usize,
            args.get(2).is_some_and(|b| b == "mock"),
        )),
        Some("latency") => runtime.block_on(latency(number(1, 30))),
        Some("stall") => runtime.block_on(stall()),
        _ => eprintln!(
            "usage: e2e_bench throughput [EVENTS [tansu|mock]] | latency [SECONDS] | stall"
        ),
    }
}
