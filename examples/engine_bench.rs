//! Benchmarks of `sunlight run` as a process against a real broker (tansu), each as
//! two runs in one command over the same events, so the result is a ratio:
//!
//! ```text
//! scripts/install-tools.sh            # tansu, once per machine
//! cargo build --release --bin sunlight --example engine_bench
//! target/release/examples/engine_bench api [EVENTS [RATE]]        # default 1000000 200
//! target/release/examples/engine_bench state [EVENTS [INTERVAL [casework|plain [OFFICIALS [DAYS]]]]]
//! #   default 1000000 5s plain 20000 365
//! ```
//!
//! A tansu broker gets EVENTS generated events on 4 partitions; each run consumes the
//! backlog with a fresh consumer group. Throughput is records over the time from the
//! first to the last record consumed (from `/metrics`). Everything shares this
//! machine's cores: broker, engine, producer and load generator.
//!
//! - `api` (issue 6): run A with the query API and the closed loop on but no requests;
//!   run B the same while RATE requests per second (one new connection each, bearer
//!   JWT, `GET /v1/officials/{id}` over officials with and without warnings) hit the
//!   API. Reports B / A and the API's latency during B.
//! - `state` (issue 5): run A without durable state; run B with snapshots to the
//!   state topic every INTERVAL. Reports B / A: what durable state costs. With
//!   `casework` (issue 13) both runs have the closed loop on, so B's snapshots carry
//!   the cases too (the feedback topic is co-partitioned with the input). OFFICIALS
//!   and DAYS shape the workload: how many officials the events spread over, and how
//!   many days of event time they cover (a backlog of a year read in seconds turns
//!   every window over within one snapshot interval; a few days does not).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_gen::{GenConfig, Generator};

#[path = "../crates/sunlight-kafka/tests/kafka/tansu.rs"]
#[allow(dead_code)]
mod tansu;

const SECRET: &str = "a-benchmark-secret-of-at-least-32-bytes";

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

fn token() -> String {
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "bench", "exp": exp, "regions": ["*"]}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn get(addr: &str, path: &str, bearer: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn consumed(addr: &str, topic: &str) -> f64 {
    let (_, body) = get(addr, "/metrics", "none");
    let series = format!("sunlight_records_consumed_total{{topic=\"{topic}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0.0, |v| v.trim().parse().unwrap_or(0.0))
}

struct Engine {
    child: Child,
    addr: String,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn start_engine(bin: &str, settings: &std::path::Path, brokers: &str, input: &str) -> Engine {
    let mut child = Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(settings)
        .args([
            "--brokers",
            brokers,
            "--group",
            &unique("bench"),
            "--input-topic",
            input,
        ])
        .args([
            "--http-addr",
            "127.0.0.1:0",
            "--idle-timeout",
            "2s",
            "--rules",
            "rules/default.toml",
        ])
        .env("SUNLIGHT__ENGINE__MAX_FUTURE_SKEW", "off")
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sunlight (cargo build --release --bin sunlight first)");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("engine output").unwrap();
        if let Some((_, a)) = line.split_once(" on http://") {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Engine { child, addr }
}

struct Run {
    throughput: f64,
    latencies_ms: Vec<f64>,
    errors: usize,
}

async fn run(
    bin: &str,
    settings: &std::path::Path,
    brokers: &str,
    input: &str,
    events: usize,
    rate: u64,
    officials: Arc<Vec<String>>,
) -> Run {
    let engine = start_engine(bin, settings, brokers, input);
    let addr = engine.addr.clone();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = (rate > 0).then(|| {
        let (addr, stop, officials) = (addr.clone(), Arc::clone(&stop), Arc::clone(&officials));
        tokio::spawn(async move {
            let bearer = Arc::new(token());
            let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
            let mut handles = Vec::new();
            let mut i = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                let path = format!("/v1/officials/{}", officials[i % officials.len()]);
                i += 1;
                let (addr, bearer) = (addr.clone(), Arc::clone(&bearer));
                handles.push(tokio::task::spawn_blocking(move || {
                    let started = Instant::now();
                    let (status, _) = get(&addr, &path, &bearer);
                    (status, started.elapsed().as_secs_f64() * 1e3)
                }));
            }
            let mut out = Vec::new();
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        })
    });
    let started = Instant::now();
    let mut first = None;
    loop {
        let n = consumed(&addr, input);
        if n > 0.0 && first.is_none() {
            first = Some(Instant::now());
        }
        if n >= events as f64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "engine stalled at {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = first.unwrap().elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = match load {
        Some(l) => l.await.unwrap(),
        None => Vec::new(),
    };
    drop(engine);
    let errors = answers
        .iter()
        .filter(|(s, _)| *s != 200 && *s != 404)
        .count();
    let mut latencies_ms: Vec<f64> = answers.iter().map(|(_, ms)| *ms).collect();
    latencies_ms.sort_by(f64::total_cmp);
    Run {
        throughput: events as f64 / seconds,
        latencies_ms,
        errors,
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("api");
    assert!(
        matches!(mode, "api" | "state"),
        "usage: engine_bench api [EVENTS [RATE]] | state [EVENTS [INTERVAL [casework|plain [OFFICIALS [DAYS]]]]]"
    );
    let events: usize = args
        .get(2)
        .map_or(1_000_000, |a| a.parse().expect("EVENTS"));
    let rate: u64 = if mode == "api" {
        args.get(3).map_or(200, |a| a.parse().expect("RATE"))
    } else {
        0
    };
    let interval = if mode == "state" {
        args.get(3).cloned().unwrap_or_else(|| "5s".into())
    } else {
        String::new()
    };
    let bin = std::env::var("SUNLIGHT_BIN").unwrap_or_else(|_| "target/release/sunlight".into());
    let broker = tansu::Tansu::start();
    let brokers = broker.brokers.clone();
    let input = unique("events");
    broker
        .create_topics(&[
            (input.as_str(), 4),
            ("sunlight.warnings", 1),
            ("sunlight.dlq", 1),
            // Co-partitioned with the input (required with casework and state).
            ("sunlight.feedback", 4),
            ("sunlight.risk-codes", 1),
            ("sunlight.audit", 1),
            ("sunlight.state", 1),
        ])
        .await;
    // state mode: [casework|plain] [OFFICIALS] [DAYS] after INTERVAL.
    let population: u32 = args
        .get(5)
        .filter(|_| mode == "state")
        .map_or(20_000, |a| a.parse().expect("OFFICIALS"));
    let days: u32 = args
        .get(6)
        .filter(|_| mode == "state")
        .map_or(365, |a| a.parse().expect("DAYS"));
    let generated: Vec<sunlight_core::PowerEvent> = Generator::new(GenConfig {
        events: events as u64,
        officials: population,
        days,
        seed: 42,
        ..GenConfig::default()
    })
    .collect();
    let mut officials: Vec<String> = generated
        .iter()
        .map(|e| e.official_id.to_string())
        .collect();
    officials.sort();
    officials.dedup();
    let officials = Arc::new(officials);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let produced = Instant::now();
    for chunk in generated.chunks(20_000) {
        let sends = chunk.iter().map(|e| {
            let mut payload = String::new();
            sunlight_core::codec::json::encode(e, &mut payload);
            let (producer, input) = (&producer, &input);
            async move {
                producer
                    .send(
                        FutureRecord::to(input)
                            .key(e.official_id.as_str())
                            .payload(&payload),
                        Duration::from_secs(60),
                    )
                    .await
                    .expect("produce");
            }
        });
        futures::future::join_all(sends).await;
    }
    eprintln!(
        "produced {events} events in {:.1} s",
        produced.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    if mode == "state" {
        let casework = args.get(4).is_some_and(|a| a == "casework");
        let lp = if casework {
            "[casework]\nenabled = true\n\n"
        } else {
            ""
        };
        let plain = dir.path().join("plain.toml");
        std::fs::write(&plain, lp).unwrap();
        let durable = dir.path().join("durable.toml");
        std::fs::write(
            &durable,
            format!("{lp}[state]\nenabled = true\ninterval = \"{interval}\"\n"),
        )
        .unwrap();
        let a = run(
            &bin,
            &plain,
            &brokers,
            &input,
            events,
            0,
            Arc::clone(&officials),
        )
        .await;
        let b = run(
            &bin,
            &durable,
            &brokers,
            &input,
            events,
            0,
            Arc::clone(&officials),
        )
        .await;
        println!(
            "events {events}, snapshots every {interval}, closed loop {}, 2 cores shared",
            if casework { "on" } else { "off" }
        );
        println!(
            "run A (no durable state):   {:>10.0} events/s",
            a.throughput
        );
        println!(
            "run B (snapshots):          {:>10.0} events/s  = {:.2} of run A",
            b.throughput,
            b.throughput / a.throughput
        );
        return;
    }
    let settings = dir.path().join("sunlight.toml");
    std::fs::write(
        &settings,
        format!(
            "[casework]\nenabled = true\n\n[api]\naudit_file = \"audit.jsonl\"\n[[api.keys]]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let a = run(
        &bin,
        &settings,
        &brokers,
        &input,
        events,
        0,
        Arc::clone(&officials),
    )
    .await;
    let b = run(
        &bin,
        &settings,
        &brokers,
        &input,
        events,
        rate,
        Arc::clone(&officials),
    )
    .await;
    let audited =
        std::fs::read_to_string(dir.path().join("audit.jsonl")).map_or(0, |t| t.lines().count());
    println!("events {events}, API load {rate} requests/s (one connection each), 2 cores shared");
    println!("run A (API on, idle):      {:>10.0} events/s", a.throughput);
    println!(
        "run B (API under load):    {:>10.0} events/s  = {:.2} of run A",
        b.throughput,
        b.throughput / a.throughput
    );
    println!(
        "API latency during run B:  {} requests, {} errors, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} audit lines",
        b.latencies_ms.len(),
        b.errors,
        quantile(&b.latencies_ms, 0.5),
        quantile(&b.latencies_ms, 0.99),
        b.latencies_ms.last().copied().unwrap_or(f64::NAN),
        audited
    );
    assert!(a.latencies_ms.is_empty() && a.errors == 0);
}
