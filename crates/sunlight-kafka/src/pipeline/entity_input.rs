//! Rules keyed by an entity (`key = [...]` in the pack) see every official's events
//! only when one engine reads every input partition. After each assignment the
//! pipeline compares what it owns with the input topics' partitions and says so:
//! gauge `sunlight_entity_rules_partial_input` and a warning naming the rules.
//! (On several instances each such rule still finds everything among the officials
//! its instance owns: never less than a rule keyed by the official.) An entity
//! key's lane (`sunlight_core::lanes`) reads input re-keyed by its entity, so there
//! every share of the partitions is whole.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use sunlight_core::CompiledPack;
use tracing::{info, warn};

use crate::telemetry as m;

/// How long after a failed check the next one is made (each may block the loop for
/// up to the metadata timeout).
pub(super) const RETRY: Duration = Duration::from_secs(30);

/// Whether `owned` leaves out a partition of an input topic, for a pack with
/// entity-keyed rules (None: the pack has none, or the metadata could not be read:
/// the caller tries again after [`RETRY`]). Sets the gauge and logs once per answer.
pub(super) fn check<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    pack: &CompiledPack,
    topics: &[String],
    owned: &[(String, i32)],
) -> Option<bool> {
    let rules = pack.entity_keyed_rules();
    if rules.is_empty() {
        metrics::gauge!(m::ENTITY_RULES_PARTIAL_INPUT).set(0.0);
        return None;
    }
    if let sunlight_core::lanes::Lane::Entity(_) = &pack.lane {
        // An entity lane's input is keyed by its entity (`sunlight repartition
        // --key`): any share of its partitions holds whole entities.
        metrics::gauge!(m::ENTITY_RULES_PARTIAL_INPUT).set(0.0);
        return Some(false);
    }
    let owned: BTreeSet<(&str, i32)> = owned.iter().map(|(t, p)| (t.as_str(), *p)).collect();
    let mut missing = 0usize;
    for topic in topics {
        let metadata = tokio::task::block_in_place(|| {
            consumer.fetch_metadata(Some(topic), Duration::from_secs(5))
        });
        let metadata = match metadata {
            Ok(m) => m,
            Err(e) => {
                warn!(%topic, error = %e, "cannot read topic metadata; the entity-key input check waits");
                return None;
            }
        };
        let partitions = match metadata.topics().iter().find(|t| t.name() == topic) {
            Some(t) if t.error().is_none() => {
                t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>()
            }
            found => {
                let error = found.and_then(|t| t.error()).map(|e| format!("{e:?}"));
                warn!(%topic, ?error, "no partitions in the topic metadata; the entity-key input check waits");
                return None;
            }
        };
        missing += partitions
            .iter()
            .filter(|p| !owned.contains(&(topic.as_str(), **p)))
            .count();
    }
    let partial = missing > 0;
    metrics::gauge!(m::ENTITY_RULES_PARTIAL_INPUT).set(if partial { 1.0 } else { 0.0 });
    let names: Vec<&str> = rules.iter().map(|(id, _)| *id).collect();
    if partial {
        warn!(
            rules = ?names,
            missing_partitions = missing,
            "this instance reads only some input partitions: the rules keyed by an entity see only the officials it owns (run one instance for them; docs/RULES.md, \"Entity keys\")"
        );
    } else {
        info!(rules = ?names, "this instance reads every input partition: the rules keyed by an entity see every official");
    }
    Some(partial)
}
