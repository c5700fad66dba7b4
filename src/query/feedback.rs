//! [`FeedbackWriter`]: a handler's feedback from the console or API, written to the
//! feedback topic exactly as the case system writes it (JSON
//! `{"warning_id","status","handler","note","at"}`, keyed by the warning's
//! `official_id`, murmur2 partitioner: docs/CASEWORK.md's routing contract), so the
//! pipeline validates, orders, applies and audits it like any other feedback.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use sunlight_api::{FeedbackSubmission, SubmitError, SubmitFuture};
use sunlight_kafka::KafkaConfig;

/// How long a write may wait for the broker's acknowledgement.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes feedback records.
#[derive(Clone)]
pub struct FeedbackWriter {
    producer: FutureProducer,
    topic: String,
}

impl FeedbackWriter {
    /// A writer to `topic` of the cluster `kafka` names (its `-X` properties too).
    pub fn new(kafka: &KafkaConfig, topic: String) -> anyhow::Result<FeedbackWriter> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &kafka.brokers);
        for (k, v) in &kafka.properties {
            client.set(k, v);
        }
        let producer: FutureProducer = client
            .set("enable.idempotence", "true")
            // The partitioner of Java clients and of the case system (routing contract).
            .set("partitioner", "murmur2_random")
            .create()?;
        Ok(FeedbackWriter { producer, topic })
    }

    /// The record's JSON.
    pub fn payload(f: &FeedbackSubmission) -> String {
        serde_json::json!({
            "warning_id": f.warning_id,
            "status": f.status.name(),
            "handler": f.handler,
            "note": f.note,
            "at": f.at,
        })
        .to_string()
    }

    /// Writes one record; resolves when the broker has it.
    pub fn submit(&self, f: FeedbackSubmission) -> SubmitFuture {
        let writer = self.clone();
        Box::pin(async move {
            let payload = FeedbackWriter::payload(&f);
            writer
                .producer
                .send(
                    FutureRecord::to(&writer.topic)
                        .key(&f.official_id)
                        .payload(&payload),
                    SEND_TIMEOUT,
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| SubmitError::Unavailable(e.to_string()))
        })
    }
}
