//! Repartitioning: re-keys an input topic that is not keyed by official_id (say, keyed
//! by event id, or not keyed at all) into an internal topic keyed by official_id, so
//! each official's events land on one partition and state locality holds when several
//! engines share the work (the "through" topic of Kafka Streams).
//!
//! With `key` set, records are keyed by those fields instead
//! ([`sunlight_core::lanes::partition_key`]): the input of an entity key's lane
//! ([`sunlight_core::lanes`]). A record lacking one of the fields is consumed and
//! skipped (no rule of that key sees it).
//!
//! Records are copied byte for byte (JSON or protobuf, Schema Registry frame kept)
//! with the official_id as key and the original headers; a record whose official_id
//! cannot be read goes to the dead-letter topic with the reason, as in the engine. A
//! source offset is committed only when its output is acknowledged (at least once;
//! the engine drops the duplicates a restart can cause by event_id).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use sunlight_core::codec::{self, DecodeLimits, Format};
use sunlight_core::event::FieldRef;
use sunlight_core::lanes::partition_key;
use tracing::{info, warn};

use crate::headers::{DeadLetterOrigin, dead_letter_headers};
use crate::pipeline::PipelineError;

/// What to re-key.
#[derive(Debug, Clone)]
pub struct RepartitionConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// Consumer group of the repartitioner.
    pub group: String,
    /// Source topics carrying JSON events.
    pub from: Vec<String>,
    /// Source topics carrying protobuf events.
    pub protobuf_from: Vec<String>,
    /// The internal topic keyed by official_id (the engine's input), or by `key`.
    pub to: String,
    /// Key by these fields instead of official_id (empty: by official_id).
    pub key: Vec<FieldRef>,
    /// Where records without a readable official_id go.
    pub dlq_topic: String,
    /// librdkafka properties for both clients.
    pub properties: BTreeMap<String, String>,
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepartitionStats {
    /// Records read.
    pub consumed: u64,
    /// Records written to `to`.
    pub forwarded: u64,
    /// Records dead-lettered.
    pub dead_letters: u64,
    /// Records without one of the `key` fields: consumed, not forwarded.
    pub skipped: u64,
}

type Sent = std::pin::Pin<Box<dyn Future<Output = (String, i32, i64, bool)> + Send>>;

fn copy_headers(m: &BorrowedMessage<'_>) -> OwnedHeaders {
    m.headers().map_or_else(OwnedHeaders::new, |h| h.detach())
}

/// Runs until `shutdown` resolves.
pub async fn run(
    config: &RepartitionConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<RepartitionStats, PipelineError> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.brokers);
    for (k, v) in &config.properties {
        client.set(k, v);
    }
    let consumer: StreamConsumer = client
        .clone()
        .set("group.id", &config.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(|source| PipelineError::Client {
            client: "consumer",
            source,
        })?;
    let producer: FutureProducer = client
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .map_err(|source| PipelineError::Client {
            client: "producer",
            source,
        })?;
    let topics: Vec<String> = config
        .from
        .iter()
        .chain(&config.protobuf_from)
        .cloned()
        .collect();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|source| PipelineError::Subscribe {
            topics: topics.clone(),
            source,
        })?;
    let by = if config.key.is_empty() {
        "official_id".to_string()
    } else {
        sunlight_core::lanes::Lane::Entity(config.key.clone()).to_string()
    };
    info!(from = ?topics, to = %config.to, %by, "repartitioning");
    let limits = DecodeLimits::default();
    let mut stats = RepartitionStats::default();
    let mut in_flight: FuturesUnordered<Sent> = FuturesUnordered::new();
    // Per source partition: offsets sent and not yet acknowledged, and the highest read.
    let mut pending: BTreeMap<(String, i32), (std::collections::BTreeSet<i64>, i64)> =
        BTreeMap::new();
    let mut committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut messages = consumer.stream();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some((topic, partition, offset, ok)) = in_flight.next(), if !in_flight.is_empty() => {
                if ok && let Some((open, _)) = pending.get_mut(&(topic.clone(), partition)) {
                    open.remove(&offset);
                }
                if !ok {
                    warn!(%topic, partition, offset, "a re-keyed record was not acknowledged; it is read again after a restart");
                }
            }
            _ = tick.tick() => commit(&consumer, &pending, &mut committed),
            Some(message) = messages.next(), if in_flight.len() < 10_000 => {
                let m = match message {
                    Ok(m) => m,
                    Err(e) => {
                        warn!(error = %e, "consume error; retrying");
                        continue;
                    }
                };
                stats.consumed += 1;
                let (topic, partition, offset) = (m.topic().to_string(), m.partition(), m.offset());
                let payload = m.payload().unwrap_or_default();
                let format = if config.protobuf_from.contains(&topic) {
                    Format::Protobuf
                } else {
                    Format::Json
                };
                let decoded = codec::decode_message(payload, format, &limits);
                let key = match &decoded {
                    Ok(_) if config.key.is_empty() => None,
                    Ok((event, _, _)) => Some(partition_key(event, &config.key)),
                    Err(_) => None,
                };
                if let Some(None) = key {
                    // No rule of the key sees it: nothing to send, nothing to wait for.
                    stats.skipped += 1;
                    let entry = pending.entry((topic.clone(), partition)).or_default();
                    entry.1 = entry.1.max(offset);
                    continue;
                }
                let (target, key, headers, dead) = match decoded {
                    Ok((event, _, _)) => {
                        stats.forwarded += 1;
                        let key = match key {
                            Some(Some(k)) => k.to_string(),
                            _ => event.official_id.to_string(),
                        };
                        (config.to.as_str(), Some(key), copy_headers(&m), false)
                    }
                    Err(e) => {
                        stats.dead_letters += 1;
                        let headers = dead_letter_headers(&DeadLetterOrigin {
                            reason: e.reason.code(),
                            detail: &e.detail,
                            topic: &topic,
                            partition,
                            offset,
                        });
                        (config.dlq_topic.as_str(), None, headers, true)
                    }
                };
                let entry = pending.entry((topic.clone(), partition)).or_default();
                entry.0.insert(offset);
                entry.1 = entry.1.max(offset);
                let mut record = FutureRecord::to(target).payload(payload).headers(headers);
                let raw_key = m.key().map(<[u8]>::to_vec);
                if let Some(k) = &key {
                    record = record.key(k.as_bytes());
                } else if let Some(k) = &raw_key {
                    record = record.key(&k[..]);
                }
                let delivery = producer.send_result(record);
                let fut: Sent = match delivery {
                    Ok(d) => Box::pin(async move {
                        let ok = matches!(d.await, Ok(Ok(_)));
                        (topic, partition, offset, ok)
                    }),
                    Err((e, _)) => {
                        warn!(error = %e, dead, "cannot queue a re-keyed record");
                        Box::pin(async move { (topic, partition, offset, false) })
                    }
                };
                in_flight.push(fut);
            }
        }
    }
    while let Ok(Some((topic, partition, offset, ok))) =
        tokio::time::timeout(Duration::from_secs(10), in_flight.next()).await
    {
        if ok && let Some((open, _)) = pending.get_mut(&(topic, partition)) {
            open.remove(&offset);
        }
    }
    commit(&consumer, &pending, &mut committed);
    Ok(stats)
}

/// Commits, per source partition, the lowest offset still unacknowledged (or one
/// past the highest read when everything is acknowledged).
fn commit(
    consumer: &StreamConsumer,
    pending: &BTreeMap<(String, i32), (std::collections::BTreeSet<i64>, i64)>,
    committed: &mut BTreeMap<(String, i32), i64>,
) {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), (open, highest)) in pending {
        let next = open.first().copied().unwrap_or(highest + 1);
        if committed.get(&(topic.clone(), *partition)) == Some(&next) {
            continue;
        }
        if list
            .add_partition_offset(topic, *partition, Offset::Offset(next))
            .is_ok()
        {
            committed.insert((topic.clone(), *partition), next);
        }
    }
    if list.count() > 0
        && let Err(e) = consumer.commit(&list, CommitMode::Async)
    {
        warn!(error = %e, "repartition commit failed; retrying with the next one");
        committed.clear();
    }
}
