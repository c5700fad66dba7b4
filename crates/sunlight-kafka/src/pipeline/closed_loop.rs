//! The pipeline's side of the closed loop: a feedback consumer of its own, warnings
//! admitted to the casebook before they are published, and the periodic tick that
//! escalates and re-codes. The loop's records carry [`Tag::casework`]: they hold no
//! input offset back and are retried until the broker takes them.

use std::time::Instant;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, DefaultConsumerContext, MessageStream, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message};
use sunlight_core::Warning;
use sunlight_core::casework::{Admit, Applied, Outputs, RiskCode, Status};
use tracing::{debug, info, warn};

use super::{Pipeline, PipelineError};
use crate::casework::{CaseworkConfig, Encoder, apply_feedback, case_headers};
use crate::config::KafkaConfig;
use crate::headers::{DeadLetterOrigin, dead_letter_headers};
use crate::output::{Output, Tag, send};
use crate::telemetry as m;

/// The feedback consumer: group `<group>.casework`, committing automatically (the
/// casebook lives in memory, so re-reading feedback after a restart would find no
/// warnings to apply it to).
pub(super) fn feedback_consumer(
    config: &KafkaConfig,
    casework: &CaseworkConfig,
) -> Result<StreamConsumer, PipelineError> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        client.set(k, v);
    }
    let group = format!("{}.casework", config.group);
    client
        .set("group.id", &group)
        .set("enable.auto.commit", "true")
        .set("auto.offset.reset", "earliest");
    for (key, value) in [
        ("fetch.wait.max.ms", "10"),
        ("fetch.queue.backoff.ms", "10"),
    ] {
        if !config.properties.contains_key(key) {
            client.set(key, value);
        }
    }
    let consumer: StreamConsumer = client.create().map_err(|source| PipelineError::Client {
        client: "feedback consumer",
        source,
    })?;
    consumer
        .subscribe(&[casework.feedback_topic.as_str()])
        .map_err(|source| PipelineError::Subscribe {
            topics: vec![casework.feedback_topic.clone()],
            source,
        })?;
    info!(topic = %casework.feedback_topic, group = %group, "consuming case-system feedback");
    Ok(consumer)
}

/// The next feedback record, or never when the loop is off.
pub(super) async fn next<'a>(
    stream: &mut Option<MessageStream<'a, DefaultConsumerContext>>,
) -> Option<KafkaResult<BorrowedMessage<'a>>> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

impl Pipeline<'_> {
    /// Admits a warning to the casebook: the headers linking it to its case, or
    /// None when a dismissal suppresses it.
    pub(super) fn admit(&mut self, warning: &Warning) -> Option<[(&'static str, String); 2]> {
        let book = self.casebook.as_ref()?;
        let now = (self.engine_config.clock)();
        let mut out = Outputs::default();
        let admit = book.lock().admit(warning, now, &mut out);
        let rule = warning.rule_id.clone();
        match &admit {
            Admit::Suppressed { until } => {
                debug!(warning_id = %warning.warning_id, %until, "warning suppressed by a dismissal");
                metrics::counter!(m::WARNINGS_SUPPRESSED, "rule_id" => rule).increment(1);
            }
            Admit::Attached { .. } => {
                metrics::counter!(m::WARNINGS_ATTACHED, "rule_id" => rule).increment(1);
            }
            Admit::Closed => {
                debug!(warning_id = %warning.warning_id, "warning closed before; not published again");
            }
            Admit::NewCase | Admit::Repeat { .. } => {}
        }
        self.send_casework(out);
        case_headers(&admit, &warning.warning_id)
    }

    /// Applies one feedback record, or dead-letters it with the reason.
    pub(super) fn on_feedback(&mut self, message: &BorrowedMessage<'_>) {
        let Some(book) = self.casebook.clone() else {
            return;
        };
        let now = (self.engine_config.clock)();
        let payload = message.payload().unwrap_or_default();
        let mut out = Outputs::default();
        match apply_feedback(&book, payload, now, &mut out) {
            Ok((fb, Applied::Changed(_))) => {
                metrics::counter!(m::FEEDBACK, "status" => fb.status.name()).increment(1);
            }
            Ok((_, Applied::Unchanged)) => {}
            Err(e) => {
                let reason = e.kind.code();
                warn!(reason, detail = %e.detail, "feedback refused");
                metrics::counter!(m::FEEDBACK_REJECTED, "reason" => reason).increment(1);
                metrics::counter!(m::DEAD_LETTERS, "reason" => reason).increment(1);
                self.stats.dead_letters += 1;
                let headers = dead_letter_headers(&DeadLetterOrigin {
                    reason,
                    detail: &e.detail,
                    topic: message.topic(),
                    partition: message.partition(),
                    offset: message.offset(),
                });
                // The case system's note may quote a masked value: masked by field
                // name, like every other record written.
                let masked = self.masking().json_bytes(payload);
                let (payload, headers) = crate::headers::cut_to_size(&masked, headers);
                let output = Output {
                    topic: self.config.dlq_topic.clone(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload,
                    headers,
                };
                self.in_flight.push(send(
                    &self.producer,
                    output,
                    Tag::casework(self.generation),
                    0,
                ));
            }
        }
        self.send_casework(out);
    }

    /// Every `tick_interval`: escalations, decay, forgetting; then the loop's gauges.
    pub(super) fn casework_tick(&mut self, now: Instant) {
        let (Some(book), Some(config)) = (self.casebook.clone(), self.config.casework.as_ref())
        else {
            return;
        };
        let every = std::time::Duration::from_nanos(config.tick_interval.0.max(0) as u64);
        if self
            .last_casework_tick
            .is_some_and(|t| now.duration_since(t) < every)
        {
            return;
        }
        self.last_casework_tick = Some(now);
        let mut out = Outputs::default();
        {
            let mut book = book.lock();
            book.tick((self.engine_config.clock)(), &mut out);
            metrics::gauge!(m::OPEN_WARNINGS).set(book.open() as f64);
            metrics::gauge!(m::OVERDUE_WARNINGS).set(book.overdue() as f64);
            for (kind, n) in [
                ("tracked", book.tracked()),
                ("closed_ids", book.remembered_closed()),
                ("suppressions", book.suppressions()),
            ] {
                metrics::gauge!(m::CASEBOOK_ENTRIES, "kind" => kind).set(n as f64);
            }
            let (mut yellow, mut red) = (0u64, 0u64);
            for (_, code) in book.coded() {
                match code {
                    RiskCode::Yellow => yellow += 1,
                    RiskCode::Red => red += 1,
                    RiskCode::Green => {}
                }
            }
            metrics::gauge!(m::CODED_OFFICIALS, "code" => "yellow").set(yellow as f64);
            metrics::gauge!(m::CODED_OFFICIALS, "code" => "red").set(red as f64);
            for (rule, o) in book.outcomes() {
                for (outcome, n) in [
                    (Status::Confirmed, o.confirmed),
                    (Status::Dismissed, o.dismissed),
                    (Status::Rectified, o.rectified),
                ] {
                    metrics::counter!(m::RULE_OUTCOMES, "rule_id" => rule.clone(), "outcome" => outcome.name())
                        .absolute(n);
                }
                if let Some(p) = o.precision() {
                    metrics::gauge!(m::RULE_PRECISION, "rule_id" => rule.clone()).set(p);
                }
            }
        }
        self.send_casework(out);
    }

    /// Publishes the loop's records.
    fn send_casework(&mut self, out: Outputs) {
        let Some(config) = self.config.casework.as_ref() else {
            return;
        };
        if out.codes.is_empty() && out.escalations.is_empty() && out.audit.is_empty() {
            return;
        }
        for w in &out.escalations {
            metrics::counter!(m::ESCALATIONS, "rule_id" => w.rule_id.clone()).increment(1);
        }
        for c in &out.codes {
            metrics::counter!(m::CODE_CHANGES, "code" => c.code.name()).increment(1);
        }
        let encoder = Encoder {
            config,
            warnings_topic: &self.config.warnings_topic,
            source: &self.config.source_name,
            masking: self.masking(),
        };
        for record in encoder.records(out, self.config.warnings_format) {
            self.in_flight.push(send(
                &self.producer,
                record,
                Tag::casework(self.generation),
                0,
            ));
        }
        metrics::gauge!(m::OUTPUTS_IN_FLIGHT).set(self.in_flight.len() as f64);
    }
}
