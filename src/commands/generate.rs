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
    if let (Some(topic), Some(brokers)) = (&args.topic, &args.brokers) {
        let format = super::resolve_format(args.format, None);
        let published = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(publish(
                brokers,
                topic,
                format,
                args.rate,
                Generator::new(config),
            ))?;
        eprintln!("published {published} events to {topic} at {brokers}");
        return Ok(ExitCode::SUCCESS);
    }
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

/// Publishes events keyed by official_id, in batches, waiting for every delivery;
/// with `rate > 0`, at most `rate` events per second.
async fn publish(
    brokers: &str,
    topic: &str,
    format: Format,
    rate: u64,
    events: Generator,
) -> anyhow::Result<u64> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .create()
        .context("cannot create the Kafka producer")?;
    let mut published = 0u64;
    let mut events = events.peekable();
    // Batches of 1,000, or a tenth of a second's worth when throttled.
    let batch_size = if rate == 0 {
        1_000
    } else {
        (rate / 10).clamp(1, 1_000)
    } as usize;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs_f64(
        batch_size as f64 / rate.max(1) as f64,
    ));
    while events.peek().is_some() {
        if rate > 0 {
            tick.tick().await;
        }
        let batch: Vec<(String, Vec<u8>)> = events
            .by_ref()
            .take(batch_size)
            .map(|e| {
                let payload = match format {
                    Format::Json => {
                        let mut text = String::new();
                        sunlight_core::codec::json::encode(&e, &mut text);
                        text.into_bytes()
                    }
                    Format::Protobuf => protobuf::encode(&e),
                };
                (e.official_id.to_string(), payload)
            })
            .collect();
        let sends = batch.iter().map(|(key, payload)| {
            producer.send(
                FutureRecord::to(topic)
                    .key(key.as_str())
                    .payload(payload.as_slice()),
                std::time::Duration::from_secs(30),
            )
        });
        for result in futures::future::join_all(sends).await {
            result.map_err(|(e, _)| anyhow::anyhow!("cannot publish to {topic}: {e}"))?;
            published += 1;
        }
    }
    Ok(published)
}
