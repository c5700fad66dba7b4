//! Reference tables fed from compacted Kafka topics: [`ReferenceFeed`] reads each
//! table's topic from its beginning to its end before the pipeline starts, then
//! follows it on a thread of its own, publishing every changed table to the
//! [`TableFeeds`] the rule pack compiles from and announcing the change, so that
//! `sunlight run` compiles the pack again and swaps it in. The record format and the
//! rows are `sunlight_core::rules::topic_tables`'.
//!
//! Changes are published at most once a second while records keep coming, and as
//! soon as the topics go quiet; a table's `sunlight_reference_loaded_timestamp_seconds`
//! is when its current rows were published. A rejected record is logged with its
//! topic, partition, offset and reason, counted, and changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sunlight_core::rules::topic_tables::{RowChange, TableFeeds, TableRows, TopicTableSpec};
use tracing::{info, warn};

/// `sunlight_reference_records_total{table, outcome}`: `upserted`, `deleted`,
/// `rejected`.
pub const REFERENCE_RECORDS: &str = "sunlight_reference_records_total";

/// While records keep coming, changes are published at most this often (at once
/// when the topics go quiet).
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Why the tables could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// A table's topic is missing or unreadable.
    #[error("reference table `{table}`: {message}")]
    Table {
        /// The table's name in the pack.
        table: String,
        /// What went wrong.
        message: String,
    },
    /// The topics were not read to their end in time.
    #[error(
        "the reference tables' topics were not read to their end within {0:?} (still behind: {1})"
    )]
    CatchUp(Duration, String),
    /// The client failed.
    #[error("reference tables: {0}")]
    Kafka(#[from] KafkaError),
}

/// Where the feed reads from.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    /// librdkafka properties (security settings).
    pub properties: BTreeMap<String, String>,
    /// The consumer's `group.id` (nothing is committed under it).
    pub group: String,
    /// How long the first read to the topics' end may take.
    pub catch_up: Duration,
}

/// A running feed; dropping it stops it.
pub struct ReferenceFeed {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ReferenceFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Reader {
    consumer: BaseConsumer,
    rows: Rows,
}

/// The tables' rows, and which changed since they were last published.
struct Rows {
    tables: Vec<TableRows>,
    feeds: Arc<TableFeeds>,
    dirty: Vec<bool>,
}

impl Rows {
    fn apply(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        for (i, rows) in self.tables.iter_mut().enumerate() {
            if rows.spec().topic != m.topic() {
                continue;
            }
            let table = rows.spec().name.clone();
            match rows.apply(m.key(), m.payload()) {
                Ok(change) => {
                    let outcome = match change {
                        RowChange::Upserted => "upserted",
                        RowChange::Deleted => "deleted",
                    };
                    metrics::counter!(REFERENCE_RECORDS, "table" => table, "outcome" => outcome)
                        .increment(1);
                    self.dirty[i] = true;
                }
                Err(reason) => {
                    warn!(table = %table, topic = m.topic(), partition = m.partition(), offset = m.offset(), %reason, "reference record rejected; the table keeps its row");
                    metrics::counter!(REFERENCE_RECORDS, "table" => table, "outcome" => "rejected")
                        .increment(1);
                }
            }
        }
    }

    /// Publishes the changed tables; whether any changed.
    fn publish(&mut self) -> bool {
        let mut any = false;
        for (rows, dirty) in self.tables.iter().zip(&mut self.dirty) {
            if std::mem::take(dirty) {
                self.feeds.publish(rows.spec(), rows.table());
                any = true;
            }
        }
        any
    }
}

impl ReferenceFeed {
    /// Reads every table of `specs` to the end of its topic, publishes them all to
    /// `feeds`, and follows the topics; each later publication adds one to
    /// `changed`.
    pub fn start(
        config: &FeedConfig,
        specs: &[TopicTableSpec],
        feeds: Arc<TableFeeds>,
        changed: tokio::sync::watch::Sender<u64>,
    ) -> Result<ReferenceFeed, FeedError> {
        metrics::describe_counter!(
            REFERENCE_RECORDS,
            "Records of the reference tables' topics by table and outcome: upserted, deleted (tombstones), rejected (logged with the reason; the table keeps its row)."
        );
        // Every series from the start, so `rate()` and alerts see zeros, not gaps.
        for spec in specs {
            for outcome in ["upserted", "deleted", "rejected"] {
                metrics::counter!(REFERENCE_RECORDS, "table" => spec.name.clone(), "outcome" => outcome)
                    .increment(0);
            }
        }
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &config.brokers);
        for (k, v) in &config.properties {
            client.set(k, v);
        }
        // Every topic is read from its beginning, and nothing is committed; an
        // offset compacted away while reading resumes at the earliest one left.
        client
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer = client.create()?;
        let mut assignment = TopicPartitionList::new();
        let mut ends: HashMap<(String, i32), i64> = HashMap::new();
        let mut topics: Vec<&str> = specs.iter().map(|s| s.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            let failed = |e: KafkaError| FeedError::Table {
                table: tables_of(specs, topic),
                message: format!("topic `{topic}`: {e}"),
            };
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .map_err(failed)?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                return Err(FeedError::Table {
                    table: tables_of(specs, topic),
                    message: format!(
                        "topic `{topic}` does not exist (create it, compacted: cleanup.policy=compact)"
                    ),
                });
            }
            for p in partitions {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map_err(failed)?;
                if high > low {
                    ends.insert((topic.to_string(), p), high);
                }
                assignment
                    .add_partition_offset(topic, p, Offset::Beginning)
                    .map_err(failed)?;
            }
        }
        consumer.assign(&assignment)?;
        let mut reader = Reader {
            consumer,
            rows: Rows {
                tables: specs.iter().cloned().map(TableRows::new).collect(),
                feeds,
                dirty: vec![true; specs.len()],
            },
        };
        let started = Instant::now();
        let mut checked = Instant::now();
        while !ends.is_empty() {
            if started.elapsed() >= config.catch_up {
                let mut behind: Vec<String> = ends
                    .iter()
                    .map(|((t, p), end)| {
                        format!("{t}/{p} (end {end}, table {})", tables_of(specs, t))
                    })
                    .collect();
                behind.sort();
                return Err(FeedError::CatchUp(config.catch_up, behind.join(", ")));
            }
            match reader.consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    reader.rows.apply(&m);
                    let at = (m.topic().to_string(), m.partition());
                    if ends.get(&at).is_some_and(|end| m.offset() + 1 >= *end) {
                        ends.remove(&at);
                    }
                }
                Some(Err(e)) => {
                    let tables: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                    return Err(FeedError::Table {
                        table: tables.join(", "),
                        message: format!("reading the topics to their end failed: {e}"),
                    });
                }
                None => {}
            }
            // The rest may end in records no message shows (transaction markers,
            // compacted-away offsets); the position tells, checked every 200 ms
            // whether or not records keep coming.
            if checked.elapsed() >= Duration::from_millis(200) {
                checked = Instant::now();
                let position = reader.consumer.position()?;
                ends.retain(|(t, p), end| {
                    position
                        .find_partition(t, *p)
                        .and_then(|e| e.offset().to_raw())
                        .is_none_or(|at| at < *end)
                });
            }
        }
        reader.rows.publish();
        for rows in &reader.rows.tables {
            info!(table = %rows.spec().name, topic = %rows.spec().topic, rows = rows.len(), "reference table read from its topic");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("reference-feed".into())
            .spawn(move || follow(reader, &stopping, &changed))
            .map_err(|e| FeedError::Table {
                table: "*".into(),
                message: format!("cannot start the feed's thread: {e}"),
            })?;
        Ok(ReferenceFeed {
            stop,
            thread: Some(thread),
        })
    }
}

/// The names of the tables read from `topic`, for errors.
fn tables_of(specs: &[TopicTableSpec], topic: &str) -> String {
    specs
        .iter()
        .filter(|s| s.topic == topic)
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn follow(mut reader: Reader, stop: &AtomicBool, changed: &tokio::sync::watch::Sender<u64>) {
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let quiet = match reader.consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                reader.rows.apply(&m);
                false
            }
            Some(Err(e)) => {
                warn!(error = %e, "reading the reference tables' topics failed; retrying");
                std::thread::sleep(Duration::from_millis(500));
                true
            }
            None => true,
        };
        if (quiet || last.elapsed() >= PUBLISH_EVERY) && reader.rows.dirty.iter().any(|d| *d) {
            last = Instant::now();
            if reader.rows.publish() {
                changed.send_modify(|n| *n += 1);
            }
        }
    }
}
