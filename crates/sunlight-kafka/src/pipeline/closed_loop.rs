//! The pipeline's side of the closed loop: a feedback consumer of its own, warnings
//! admitted to the casebook before they are published, and the periodic tick that
//! escalates and re-codes. The loop's records carry [`Tag::casework`]: they hold no
//! input offset back and are retried until the broker takes them.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    CommitMode, Consumer, DefaultConsumerContext, MessageStream, StreamConsumer,
};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use sunlight_core::Warning;
use sunlight_core::casework::{
    Admit, Applied, Feedback, FeedbackError, FeedbackErrorKind, Outputs, RiskCode, Status,
};
use tracing::{debug, info, warn};

use super::PipelineError;
use super::instance::Pipeline;
use crate::casework::{CaseworkConfig, Encoder, apply_feedback, case_headers};
use crate::config::KafkaConfig;
use crate::headers::{DeadLetterOrigin, dead_letter_headers};
use crate::output::Output;
use crate::telemetry as m;

/// The closed loop's state in the pipeline (the casebook itself is shared with the
/// query API: `Pipeline::casebook`).
#[derive(Default)]
pub(super) struct CaseLoop {
    /// When the casebook last checked deadlines and decay.
    pub(super) last_tick: Option<Instant>,
    /// Feedback for warnings not held yet, right after a restore, with the warning
    /// id it names.
    pub(super) parked: Vec<(String, OwnedMessage)>,
    /// Next offset read per feedback partition.
    pub(super) feedback_positions: BTreeMap<i32, i64>,
    /// A snapshot is on the broker: the feedback positions of its barrier, to
    /// commit (none for the partitions it did not write).
    pub(super) feedback_commit: Option<BTreeMap<i32, i64>>,
    /// When cases were last restored (durable state with casework).
    pub(super) restored_at: Option<Instant>,
    /// The feedback consumer must take the partitions of a new assignment.
    pub(super) feedback_assign_due: bool,
    /// After a restore, per feedback partition, the high watermark to read up to
    /// before deadlines are checked (feedback already sent must apply first).
    pub(super) feedback_backlog: BTreeMap<i32, i64>,
}

/// How long after a restore feedback for a warning not held yet waits for the
/// re-read input to re-emit it before it is refused as `unknown_warning`.
pub(super) const PARK_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// The feedback consumer: group `<group>.casework`; it commits automatically without
/// durable state, and only after snapshots with it.
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
    // With durable state the casebook is in the snapshots, and feedback positions are
    // committed only after a snapshot (`commit_feedback`): a restart re-applies the
    // feedback that came after the snapshot it restores. Without it the casebook
    // lives in memory and re-reading feedback after a restart would find nothing.
    let durable = config.state.is_some();
    client
        .set("group.id", &group)
        .set("enable.auto.commit", if durable { "false" } else { "true" })
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
    if durable {
        // Co-partitioned with the input: assigned the partitions of the input this
        // instance owns, after each restore (`assign_feedback`).
        check_co_partitioned(&consumer, config, casework)?;
        info!(topic = %casework.feedback_topic, group = %group, "case-system feedback co-partitioned with the input");
        return Ok(consumer);
    }
    consumer
        .subscribe(&[casework.feedback_topic.as_str()])
        .map_err(|source| PipelineError::Subscribe {
            topics: vec![casework.feedback_topic.clone()],
            source,
        })?;
    info!(topic = %casework.feedback_topic, group = %group, "consuming case-system feedback");
    Ok(consumer)
}

/// The routing contract of feedback with durable state: the feedback topic has as
/// many partitions as every input topic (feedback keyed by the warning's official_id
/// then lands on the partition number of the official's events), and with several
/// input topics the assignor must give one member the same partition numbers of
/// each (range). Refuses to start otherwise; when the broker cannot say (not
/// reachable yet), the check is skipped with a warning.
fn check_co_partitioned(
    consumer: &StreamConsumer,
    config: &KafkaConfig,
    casework: &CaseworkConfig,
) -> Result<(), PipelineError> {
    if config.input_topics.len() > 1
        && config
            .properties
            .get("partition.assignment.strategy")
            .is_some_and(|s| !s.trim_start().starts_with("range"))
    {
        return Err(PipelineError::Unsupported(format!(
            "casework with durable state and several input topics needs partition.assignment.strategy=range, so that one instance owns the same partition numbers of every input topic and of the feedback topic `{}`",
            casework.feedback_topic
        )));
    }
    let timeout = std::time::Duration::from_secs(10);
    let mut counts = Vec::new();
    for topic in config
        .input_topics
        .iter()
        .chain(std::iter::once(&casework.feedback_topic))
    {
        let metadata =
            tokio::task::block_in_place(|| consumer.fetch_metadata(Some(topic), timeout));
        match metadata {
            Ok(m) => {
                let n = m
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic)
                    .filter(|t| t.error().is_none())
                    .map_or(0, |t| t.partitions().len());
                counts.push((topic.clone(), n));
            }
            Err(e) => {
                warn!(%topic, error = %e, "cannot read topic metadata; the co-partitioning check of the feedback topic is skipped");
                return Ok(());
            }
        }
    }
    let feedback = counts.last().map_or(0, |(_, n)| *n);
    if feedback == 0 || counts.iter().any(|(_, n)| *n != feedback) {
        let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        return Err(PipelineError::Unsupported(format!(
            "with casework and durable state the feedback topic must have as many partitions as the input (feedback keyed by official_id reaches the instance that owns the official); partitions: {}",
            list.join(", ")
        )));
    }
    Ok(())
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
        let now = (self.intake.engine_config.clock)();
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
        if matches!(
            admit,
            Admit::NewCase | Admit::Attached { .. } | Admit::Repeat { .. }
        ) {
            self.unpark(&warning.warning_id);
        }
        case_headers(&admit, &warning.warning_id)
    }

    /// Applies one feedback record, or dead-letters it with the reason. Right after a
    /// restore, feedback for a warning not held (yet) is parked instead: the re-read
    /// of the input re-emits the warnings pushed after the snapshot, and the feedback
    /// is applied when its warning is admitted (or dead-lettered after
    /// [`PARK_GRACE`]).
    pub(super) fn on_feedback(&mut self, message: &impl Message) {
        self.feedback_read(message);
        let Some(book) = self.casebook.clone() else {
            return;
        };
        let now = (self.intake.engine_config.clock)();
        let payload = message.payload().unwrap_or_default();
        let mut out = Outputs::default();
        let result = if self.config.state.is_some() && message.key().is_none() {
            Err(FeedbackError::new(
                FeedbackErrorKind::UnroutableFeedback,
                "feedback without a key: with durable state it must be keyed by the warning's official_id, so that it reaches the instance holding the official's cases (docs/CASEWORK.md, routing contract)",
            ))
        } else {
            apply_feedback(&book, payload, now, &mut out)
        };
        match result {
            Ok((fb, Applied::Changed(_))) => {
                metrics::counter!(m::FEEDBACK, "status" => fb.status.name()).increment(1);
            }
            Ok((_, Applied::Unchanged)) => {}
            Err(e)
                if e.kind == FeedbackErrorKind::UnknownWarning
                    && self
                        .cases
                        .restored_at
                        .is_some_and(|t| t.elapsed() < PARK_GRACE) =>
            {
                debug!(detail = %e.detail, "feedback for a warning not re-emitted yet: parked");
                let warning_id = Feedback::from_json(payload)
                    .map(|fb| fb.warning_id.to_string())
                    .unwrap_or_default();
                let copy = OwnedMessage::new(
                    message.payload().map(<[u8]>::to_vec),
                    message.key().map(<[u8]>::to_vec),
                    message.topic().to_string(),
                    message.timestamp(),
                    message.partition(),
                    message.offset(),
                    None,
                );
                self.cases.parked.push((warning_id, copy));
            }
            Err(e) => {
                let reason = e.kind.code();
                warn!(reason, detail = %e.detail, "feedback refused");
                metrics::counter!(m::FEEDBACK_REJECTED, "reason" => reason).increment(1);
                metrics::counter!(m::DEAD_LETTERS, "reason" => reason).increment(1);
                self.report.stats.dead_letters += 1;
                let headers = dead_letter_headers(&DeadLetterOrigin {
                    reason,
                    detail: &e.detail,
                    topic: message.topic(),
                    partition: message.partition(),
                    offset: message.offset(),
                });
                // The case system's note may quote a masked value: masked by field
                // name and, for a warning held here, by its key values.
                let key = Feedback::from_json(payload).ok().and_then(|fb| {
                    book.lock()
                        .warning(&fb.warning_id)
                        .map(|t| t.warning.key.clone())
                });
                let masking = self.masking();
                let known = key.as_ref().map_or_else(Vec::new, |key| {
                    masking.raw_values(key.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                });
                let masked = masking.json_bytes(payload, &known);
                let (payload, headers) = crate::headers::cut_to_size(&masked, headers);
                let output = Output {
                    topic: self.config.dlq_topic.clone(),
                    key: message.key().map(<[u8]>::to_vec),
                    payload,
                    headers,
                };
                self.publisher.casework(output);
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
        if !self.feedback_caught_up() {
            return;
        }
        let every = std::time::Duration::from_nanos(config.tick_interval.0.max(0) as u64);
        if self
            .cases
            .last_tick
            .is_some_and(|t| now.duration_since(t) < every)
        {
            return;
        }
        self.cases.last_tick = Some(now);
        let mut out = Outputs::default();
        {
            let mut book = book.lock();
            book.tick((self.intake.engine_config.clock)(), &mut out);
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
        let escalated: Vec<String> = out
            .escalations
            .iter()
            .map(|w| w.warning_id.clone())
            .collect();
        self.send_casework(out);
        for id in escalated {
            self.unpark(&id);
        }
    }

    /// Whether feedback may be applied: always without durable state; with it, once
    /// the cases of the owned partitions are restored (and not while a handover or
    /// restore is under way).
    pub(super) fn cases_ready(&self) -> bool {
        self.config.state.is_none() || (self.cases.restored_at.is_some() && self.phase.evaluates())
    }

    /// With durable state, after a restore: the feedback consumer takes the same
    /// partition numbers of the feedback topic as the input partitions owned, from
    /// their committed positions; positions and parked records of partitions no
    /// longer owned are dropped (their new owner reads them).
    pub(super) fn assign_feedback(&mut self, consumer: &StreamConsumer) {
        let (Some(casework), Some(_)) = (self.config.casework.as_ref(), &self.config.state) else {
            return;
        };
        let mut numbers: Vec<i32> = self
            .intake
            .partitions
            .iter_mut()
            .map(|p| p.partition)
            .collect();
        numbers.sort_unstable();
        numbers.dedup();
        let topic = casework.feedback_topic.clone();
        let mut list = TopicPartitionList::new();
        for n in &numbers {
            let _ = list.add_partition_offset(&topic, *n, Offset::Stored);
        }
        if let Err(e) = consumer.assign(&list) {
            warn!(error = %e, "cannot assign the feedback partitions");
            self.fatal = Some(PipelineError::State(format!(
                "cannot assign feedback partitions {numbers:?} of {topic}: {e}"
            )));
            return;
        }
        // Read again from the committed positions: what was read or parked before
        // comes again.
        self.cases.feedback_positions.clear();
        self.cases.parked.clear();
        self.cases.feedback_backlog = feedback_backlog(consumer, &topic, &numbers);
        debug!(?numbers, backlog = ?self.cases.feedback_backlog, "feedback partitions assigned");
    }

    /// Whether the feedback sent before the restore has been read (or the grace is
    /// over): deadlines are checked only then, so a warning whose closing feedback is
    /// already on the topic does not escalate.
    fn feedback_caught_up(&self) -> bool {
        self.cases.feedback_backlog.is_empty()
            || self
                .cases
                .restored_at
                .is_none_or(|t| t.elapsed() >= PARK_GRACE)
    }

    /// Feedback parked for `warning_id`, applied now that its warning is admitted.
    pub(super) fn unpark(&mut self, warning_id: &str) {
        if self.cases.parked.is_empty() {
            return;
        }
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cases.parked)
            .into_iter()
            .partition(|(id, _)| id == warning_id);
        self.cases.parked = keep;
        for (_, m) in due {
            self.apply_parked(&m);
        }
    }

    /// After [`PARK_GRACE`] since the restore, parked feedback is applied or refused
    /// for good.
    pub(super) fn release_parked(&mut self) {
        if self.cases.parked.is_empty()
            || self
                .cases
                .restored_at
                .is_some_and(|t| t.elapsed() < PARK_GRACE)
        {
            return;
        }
        for (_, m) in std::mem::take(&mut self.cases.parked) {
            self.apply_parked(&m);
        }
    }

    fn apply_parked(&mut self, m: &OwnedMessage) {
        let restored_at = self.cases.restored_at.take();
        self.on_feedback(m);
        self.cases.restored_at = restored_at;
    }

    /// Bookkeeping of the feedback read: the next offset per partition, for the
    /// commit after the next snapshot.
    fn feedback_read(&mut self, message: &impl Message) {
        let next = self
            .cases
            .feedback_positions
            .entry(message.partition())
            .or_insert(0);
        *next = (*next).max(message.offset() + 1);
        let next = *next;
        if self
            .cases
            .feedback_backlog
            .get(&message.partition())
            .is_some_and(|high| next >= *high)
        {
            self.cases.feedback_backlog.remove(&message.partition());
        }
    }

    /// The feedback positions a snapshot taken now covers: per feedback partition
    /// whose input partition it writes, the next offset to read, but not past
    /// feedback still parked.
    pub(super) fn feedback_offsets(&self, unwritten: &[i32]) -> BTreeMap<i32, i64> {
        self.cases
            .feedback_positions
            .iter()
            // A partition not in the snapshot: nor are its cases.
            .filter(|(partition, _)| !unwritten.contains(partition))
            .map(|(partition, next)| {
                let parked = self
                    .cases
                    .parked
                    .iter()
                    .filter(|(_, m)| m.partition() == *partition)
                    .map(|(_, m)| m.offset())
                    .min();
                (*partition, parked.map_or(*next, |p| p.min(*next)))
            })
            .collect()
    }

    /// With durable state, after a snapshot: commits the feedback read so far, but
    /// not past any parked record (a crash must not lose it).
    pub(super) fn commit_feedback(&mut self, consumer: &StreamConsumer) {
        let (Some(offsets), Some(casework)) = (
            self.cases.feedback_commit.take(),
            self.config.casework.as_ref(),
        ) else {
            return;
        };
        let mut list = TopicPartitionList::new();
        for (partition, offset) in offsets {
            let _ = list.add_partition_offset(
                &casework.feedback_topic,
                partition,
                Offset::Offset(offset),
            );
        }
        if list.count() == 0 {
            return;
        }
        if let Err(e) = consumer.commit(&list, CommitMode::Async) {
            warn!(error = %e, "feedback positions not committed; the next snapshot commits them");
        }
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
            // In the snapshot barrier: a snapshot's casebook must not be ahead of
            // the loop records it caused.
            self.publisher.casework(record);
        }
        self.report
            .outputs_in_flight
            .set(self.publisher.in_flight() as f64);
    }
}

/// Per feedback partition among `numbers`, the high watermark when it is behind it
/// (its committed position, or its start without one): what must be read before
/// deadlines are checked. A partition the broker cannot describe is left out.
fn feedback_backlog(
    consumer: &StreamConsumer,
    topic: &str,
    numbers: &[i32],
) -> std::collections::BTreeMap<i32, i64> {
    let timeout = std::time::Duration::from_secs(5);
    tokio::task::block_in_place(|| {
        let mut list = TopicPartitionList::new();
        for n in numbers {
            list.add_partition(topic, *n);
        }
        let committed = consumer.committed_offsets(list, timeout).ok();
        numbers
            .iter()
            .filter_map(|n| {
                let (low, high) = consumer.fetch_watermarks(topic, *n, timeout).ok()?;
                let from = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(topic, *n))
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    })
                    .unwrap_or(low);
                (from < high).then_some((*n, high))
            })
            .collect()
    })
}
