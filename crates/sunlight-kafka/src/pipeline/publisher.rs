//! The publisher: every output the pipeline writes (warnings, dead letters, the
//! closed loop's records) goes through it. It owns the producer, the outputs in
//! flight and their bookkeeping per assignment generation ([`Outstanding`]), and
//! decides what happens to each delivery report: acknowledged, sent again after a
//! backoff, given up, or (inside a Kafka transaction) fatal. Backpressure is its
//! bound on outputs in flight.

use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rdkafka::producer::{FutureProducer, Producer};

use super::PipelineError;
use super::events::{self, ProduceFailed, Reporter};
use super::outstanding::{Outstanding, Settled};
use crate::output::{Delivery, InFlight, Output, Tag, send};

/// What became of one delivery report.
#[derive(Debug)]
pub(super) enum Settlement {
    /// The broker has the output tagged with this input record (partition index
    /// and offset; [`Tag::CASEWORK`] for the loop's own records).
    Acknowledged {
        /// Partition index in the current assignment.
        index: usize,
        /// Input offset.
        offset: i64,
    },
    /// Refused, and sent again after its backoff.
    Retried,
    /// Refused and not sent again by this instance (an older assignment's output,
    /// re-produced by re-reading; or a loop record the broker can never take), or
    /// acknowledged for an older assignment.
    Dropped,
    /// Refused inside a transaction: the pipeline stops.
    Fatal(PipelineError),
}

/// Outputs handed to the producer and their delivery reports.
pub(super) struct Publisher {
    /// The run's producer (also used for state records and transactions).
    pub(super) producer: FutureProducer,
    /// Outputs not settled yet, per generation.
    pub(super) outstanding: Outstanding,
    /// Outputs go in Kafka transactions (exactly-once).
    pub(super) transactional: bool,
    in_flight: FuturesUnordered<InFlight>,
    max_in_flight: usize,
}

impl Publisher {
    /// A publisher that lets at most `max_in_flight` outputs wait for the broker.
    pub(super) fn new(producer: FutureProducer, transactional: bool, max_in_flight: usize) -> Self {
        Publisher {
            producer,
            outstanding: Outstanding::default(),
            transactional,
            in_flight: FuturesUnordered::new(),
            max_in_flight,
        }
    }

    /// Whether another record may be read without passing the in-flight bound.
    pub(super) fn has_room(&self) -> bool {
        self.in_flight.len() < self.max_in_flight
    }

    /// Outputs waiting for the broker.
    pub(super) fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A warning caused by the input record at (`index`, `offset`), triggered at
    /// `trigger_time` (its window stays re-readable until it is acknowledged).
    pub(super) fn warning(&mut self, output: Output, index: usize, offset: i64, trigger_time: i64) {
        let tag = self.outstanding.queued(index, offset, Some(trigger_time));
        self.in_flight.push(send(&self.producer, output, tag, 0));
    }

    /// The dead letter of the input record at (`index`, `offset`).
    pub(super) fn dead_letter(&mut self, output: Output, index: usize, offset: i64) {
        let tag = self.outstanding.queued(index, offset, None);
        self.in_flight.push(send(&self.producer, output, tag, 0));
    }

    /// One of the closed loop's own records (it holds no input back).
    pub(super) fn casework(&mut self, output: Output) {
        let tag = self.outstanding.queued_casework();
        self.in_flight.push(send(&self.producer, output, tag, 0));
    }

    /// The next delivery report (pending while nothing is in flight).
    pub(super) async fn next_delivery(&mut self) -> Delivery {
        match self.in_flight.next().await {
            Some(delivery) => delivery,
            None => std::future::pending().await,
        }
    }

    /// Settles one delivery report (see [`Settlement`]).
    pub(super) fn settle(&mut self, delivery: Delivery, report: &mut Reporter) -> Settlement {
        let Delivery { tag, ok, retry } = delivery;
        let current = self.outstanding.is_current(&tag);
        let settlement = if ok {
            if current {
                self.outstanding.settled(&tag, Settled::Acknowledged);
                Settlement::Acknowledged {
                    index: tag.index,
                    offset: tag.offset,
                }
            } else {
                Settlement::Dropped
            }
        } else {
            self.refused(tag, current, retry, report)
        };
        report.outputs_in_flight.set(self.in_flight.len() as f64);
        settlement
    }

    /// Not acknowledged: the input stays uncommitted and the output is sent again
    /// (outputs of an older assignment are re-produced by the re-read instead).
    fn refused(
        &mut self,
        tag: Tag,
        current: bool,
        retry: Option<(Output, u32)>,
        report: &mut Reporter,
    ) -> Settlement {
        let kind = output_kind(&tag);
        report.emit(ProduceFailed { output: kind });
        if self.transactional && current {
            // A failed produce poisons the transaction: stop; a restart resumes from
            // the last committed one.
            return Settlement::Fatal(PipelineError::Transaction(format!(
                "an output was refused inside a transaction ({})",
                kind.label()
            )));
        }
        // The loop's own records are not re-produced by re-reading: always retry.
        match (current || tag.is_casework(), retry) {
            (true, Some((output, attempt))) => {
                self.in_flight
                    .push(send(&self.producer, output, tag, attempt));
                Settlement::Retried
            }
            // Given up (a loop record the broker can never take): it no longer
            // holds the snapshot barrier.
            _ => {
                self.outstanding.settled(&tag, Settled::GivenUp);
                Settlement::Dropped
            }
        }
    }

    /// A new assignment: what is outstanding belongs to the old one. In exactly-once
    /// mode the outputs since the last committed transaction belong to records the
    /// next owner re-reads from that transaction's offsets: they are abandoned.
    pub(super) fn next_generation(&mut self) -> Result<(), PipelineError> {
        let mut result = Ok(());
        if self.transactional && self.outstanding.generation() > 0 {
            result = tokio::task::block_in_place(|| {
                self.producer.abort_transaction(Duration::from_secs(30))?;
                self.producer.begin_transaction()
            })
            .map_err(|e| {
                PipelineError::Transaction(format!(
                    "cannot abort the transaction after a rebalance: {e}"
                ))
            });
        }
        self.outstanding.next_generation();
        result
    }

    /// Abandons the open transaction (exactly-once mode), before stopping.
    pub(super) fn abort_transaction(&self) {
        if self.transactional {
            tokio::task::block_in_place(|| {
                let _ = self.producer.abort_transaction(Duration::from_secs(10));
            });
        }
    }
}

/// Which kind of output a tag belongs to (the `output` label of produce errors).
fn output_kind(tag: &Tag) -> events::Output {
    if tag.is_casework() {
        events::Output::Casework
    } else if tag.trigger_time.is_some() {
        events::Output::Warning
    } else {
        events::Output::DeadLetter
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::config::ClientConfig;
    use rdkafka::message::OwnedHeaders;

    use super::*;

    /// A producer pointed at a port nothing listens on: outputs are queued, never
    /// acknowledged, so each test hands the publisher the delivery reports itself.
    fn publisher(transactional: bool) -> Publisher {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .create()
            .expect("a producer needs no broker to be created");
        Publisher::new(producer, transactional, 2)
    }

    fn output() -> Output {
        Output {
            topic: "warnings".into(),
            key: None,
            payload: b"{}".to_vec(),
            headers: OwnedHeaders::new(),
        }
    }

    fn report() -> Reporter {
        Reporter::new(&super::super::test_support::default_pack())
    }

    fn tag(generation: u64, index: usize, offset: i64, trigger_time: Option<i64>) -> Tag {
        Tag {
            generation,
            index,
            offset,
            trigger_time,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn acknowledgements_settle_the_current_generation_only() {
        let mut p = publisher(false);
        let mut r = report();
        p.next_generation().unwrap();
        p.warning(output(), 0, 7, 500);
        p.dead_letter(output(), 1, 8);
        assert!(!p.has_room(), "two in flight is the bound");
        let acked = p.settle(
            Delivery {
                tag: tag(1, 0, 7, Some(500)),
                ok: true,
                retry: None,
            },
            &mut r,
        );
        assert!(matches!(
            acked,
            Settlement::Acknowledged {
                index: 0,
                offset: 7
            }
        ));
        assert_eq!(p.outstanding.oldest_unacked_trigger(), None);
        assert!(!p.outstanding.none(), "the dead letter is outstanding");
        // An acknowledgement of the previous assignment settles nothing.
        let stale = p.settle(
            Delivery {
                tag: tag(0, 1, 8, None),
                ok: true,
                retry: None,
            },
            &mut r,
        );
        assert!(matches!(stale, Settlement::Dropped));
        assert!(!p.outstanding.none());
        assert_eq!(r.stats.delivery_errors, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn refused_outputs_are_retried_given_up_or_fatal() {
        let mut p = publisher(false);
        let mut r = report();
        p.next_generation().unwrap();
        p.warning(output(), 0, 7, 500);
        let retried = p.settle(
            Delivery {
                tag: tag(1, 0, 7, Some(500)),
                ok: false,
                retry: Some((output(), 1)),
            },
            &mut r,
        );
        assert!(matches!(retried, Settlement::Retried));
        assert_eq!(p.in_flight(), 2, "the first send and its retry");
        assert_eq!(p.outstanding.oldest_unacked_trigger(), Some(500));
        // An older assignment's refused output is re-produced by re-reading.
        let old = p.settle(
            Delivery {
                tag: tag(0, 0, 3, Some(100)),
                ok: false,
                retry: Some((output(), 1)),
            },
            &mut r,
        );
        assert!(matches!(old, Settlement::Dropped));
        // A loop record the broker can never take (no retry) is given up: it no
        // longer holds the snapshot barrier.
        p.casework(output());
        let given_up = p.settle(
            Delivery {
                tag: Tag::casework(1),
                ok: false,
                retry: None,
            },
            &mut r,
        );
        assert!(matches!(given_up, Settlement::Dropped));
        assert_eq!(r.stats.delivery_errors, 3);

        let mut t = publisher(true);
        let fatal = t.settle(
            Delivery {
                tag: tag(0, 0, 7, None),
                ok: false,
                retry: Some((output(), 1)),
            },
            &mut r,
        );
        match fatal {
            Settlement::Fatal(e) => assert_eq!(
                e.to_string(),
                "transaction failed: an output was refused inside a transaction (dead_letter)"
            ),
            other => panic!("expected a fatal settlement, got {other:?}"),
        }
    }
}
