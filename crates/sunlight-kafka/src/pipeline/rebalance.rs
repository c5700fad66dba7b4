//! What the consumer's callbacks report, from inside its poll: assignment changes
//! (eager and cooperative), asynchronous commit failures, and the statistics that
//! feed broker reachability and the lag gauge. The loop reads the shared
//! [`Assignment`] between records and applies it itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};
use tracing::warn;

use crate::health::Health;
use crate::telemetry as m;

/// The assignment as the consumer's rebalance callbacks last reported it.
#[derive(Default)]
pub(super) struct Assignment {
    /// Bumped by every callback that changes the assignment: a record polled after
    /// it belongs to the new assignment, so a batch of records ends there.
    pub(super) epoch: u64,
    pub(super) owned: Vec<(String, i32)>,
    pub(super) changed: bool,
    /// The group assigns incrementally (cooperative): an assignment adds to what is
    /// owned instead of replacing it.
    pub(super) incremental: bool,
}

/// Rebalance and statistics callbacks (they run inside the consumer's poll).
pub(super) struct PipelineContext {
    pub(super) assignment: Arc<Mutex<Assignment>>,
    pub(super) health: Arc<Health>,
    /// An asynchronous commit failed since the last look.
    pub(super) commit_failed: Arc<AtomicBool>,
}

impl ClientContext for PipelineContext {
    fn stats(&self, statistics: Statistics) {
        let up = statistics
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        self.health.set_broker_reachable(up);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(m::CONSUMER_LAG, "topic" => topic.clone(), "partition" => partition.to_string())
                        .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl ConsumerContext for PipelineContext {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            warn!(error = %e, "offset commit failed; will retry with the next commit");
            metrics::counter!(m::COMMITS, "outcome" => "error").increment(1);
            self.commit_failed.store(true, Ordering::Relaxed);
        }
    }

    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
        match rebalance {
            Rebalance::Revoke(list) => {
                let gone: Vec<(String, i32)> = list
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect();
                a.owned.retain(|k| !gone.contains(k));
                a.changed = true;
                a.epoch += 1;
            }
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                // librdkafka unassigns everything on a rebalance error.
                warn!(error = %e, "rebalance error; dropping the assignment");
                a.owned.clear();
                a.changed = true;
                a.epoch += 1;
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
            let listed: Vec<(String, i32)> = list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            a.incremental = matches!(
                consumer.rebalance_protocol(),
                RebalanceProtocol::Cooperative
            );
            if a.incremental {
                for tp in listed {
                    if !a.owned.contains(&tp) {
                        a.owned.push(tp);
                    }
                }
            } else {
                a.owned = listed;
            }
            a.changed = true;
            a.epoch += 1;
        }
    }
}
