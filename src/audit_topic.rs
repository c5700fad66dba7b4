//! Drains the query API's audit channel to the audit topic (`api.audit_topic`,
//! default `sunlight.audit`), one JSON record per request, keyed by the token's
//! subject. A record the broker refuses is retried with a backoff; a failure is
//! logged and counted in `sunlight_audit_failures_total{sink="kafka"}`.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_api::AuditRecord;
use sunlight_kafka::KafkaConfig;
use tokio::sync::mpsc::Receiver;

/// Attempts per record before it is given up (and counted).
const ATTEMPTS: u32 = 5;

/// Starts the drain; it ends when every sender is gone and the channel is empty.
pub fn spawn_drain(
    mut records: Receiver<AuditRecord>,
    kafka: &KafkaConfig,
    topic: String,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &kafka.brokers);
    for (k, v) in &kafka.properties {
        client.set(k, v);
    }
    let producer: FutureProducer = client
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    Ok(tokio::spawn(async move {
        // Up to MAX_IN_FLIGHT records on their way at once: one at a time would cap
        // the drain at one record per broker round trip and let the channel fill.
        let mut in_flight = FuturesUnordered::new();
        let mut open = true;
        while open || !in_flight.is_empty() {
            tokio::select! {
                record = records.recv(), if open && in_flight.len() < MAX_IN_FLIGHT => match record {
                    Some(record) => in_flight.push(deliver(producer.clone(), topic.clone(), record)),
                    None => open = false,
                },
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            }
        }
    }))
}

/// Records being delivered at once.
const MAX_IN_FLIGHT: usize = 512;

async fn deliver(producer: FutureProducer, topic: String, record: AuditRecord) {
    let payload = record.to_json_line();
    let key = record.sub.clone().unwrap_or_default();
    let mut attempt = 0;
    loop {
        let sent = producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await;
        match sent {
            Ok(_) => return,
            Err((e, _)) if attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "audit record refused; retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err((e, _)) => {
                tracing::error!(error = %e, request_id = %record.request_id, "audit record lost on the way to {topic}");
                metrics::counter!(sunlight_api::telemetry::AUDIT_FAILURES_TOTAL, "sink" => "kafka", "reason" => "produce")
                    .increment(1);
                return;
            }
        }
    }
}
