//! Which snapshot each owned partition restores: one consistent cut.
//!
//! One partition's snapshot holds other partitions' events: an entity bucket stays
//! with the partition that created it, whichever partitions' events enter it, and
//! an official goes with the partition of its latest event. The snapshots written
//! at one barrier (one epoch of one instance) agree on which events are in. Mixing
//! epochs does not: restoring partition A from epoch 2 and partition B from epoch 1
//! re-reads B's events from epoch 1 on, and those already in A's buckets at epoch 2
//! enter them twice (invented warnings); B's buckets at epoch 1 miss A's events
//! between the two epochs, which A does not re-read (lost ones). This happens when
//! a restore cannot see a partition's newest snapshot: a crash while writing it,
//! or a broker that shows it late.
//!
//! Every record names the partitions written in its epoch (its cohort,
//! `state_topic::COHORT_HEADER`). The cut starts from each partition's newest
//! complete snapshot; while a partition's epoch has an owned cohort member
//! restored at another epoch, the one further ahead steps back to its previous
//! restorable epoch (or to none: rebuilt from its oldest retained input). Each step
//! moves one partition back, so it ends; at the end every owned partition written
//! in a restored epoch is restored at that epoch. A partition outside the cohort of
//! an epoch had read nothing before it in that run, so it holds none of the events
//! there. Partitions owned elsewhere now are not waited for (their buckets are in
//! another engine: entity rules across instances need the input re-keyed).

use std::collections::BTreeMap;

use crate::state_topic::Restorable;

/// Per owned state key (with what it can be restored to, oldest first), the epoch
/// it restores; keys absent restore nothing.
pub(super) fn consistent_cut(ends: &BTreeMap<String, Vec<Restorable>>) -> BTreeMap<String, u64> {
    // Per key, the index of the restorable epoch chosen (None: nothing).
    let mut at: BTreeMap<&str, Option<usize>> = ends
        .iter()
        .map(|(key, r)| (key.as_str(), r.len().checked_sub(1)))
        .collect();
    while let Some(behind) = inconsistent(ends, &at) {
        if let Some(slot) = at.get_mut(behind) {
            *slot = slot.and_then(|i| i.checked_sub(1));
        }
    }
    at.into_iter()
        .filter_map(|(key, i)| Some((key.to_string(), ends[key][i?].epoch)))
        .collect()
}

/// A key that must step back: of a restored epoch and an owned member of its
/// cohort at another epoch, the one further ahead.
fn inconsistent<'a>(
    ends: &'a BTreeMap<String, Vec<Restorable>>,
    at: &BTreeMap<&'a str, Option<usize>>,
) -> Option<&'a str> {
    for (key, chosen) in at {
        let Some(i) = chosen else { continue };
        let restorable = &ends[*key][*i];
        let Some(cohort) = &restorable.cohort else {
            continue;
        };
        for mate in cohort {
            let Some((mate, mate_at)) = at.get_key_value(mate.as_str()) else {
                continue; // not owned here
            };
            match mate_at.map(|j| ends[*mate][j].epoch) {
                Some(e) if e == restorable.epoch => {}
                Some(e) if e > restorable.epoch => return Some(mate),
                _ => return Some(key),
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(epoch: u64, cohort: &[&str]) -> Restorable {
        Restorable {
            epoch,
            cohort: Some(cohort.iter().map(|k| k.to_string()).collect()),
        }
    }

    fn cut(ends: &[(&str, Vec<Restorable>)]) -> Vec<(String, u64)> {
        let ends: BTreeMap<String, Vec<Restorable>> = ends
            .iter()
            .map(|(k, r)| (k.to_string(), r.clone()))
            .collect();
        consistent_cut(&ends).into_iter().collect()
    }

    fn want(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
        pairs.iter().map(|(k, e)| (k.to_string(), *e)).collect()
    }

    #[test]
    fn partitions_written_together_restore_together() {
        // Everything at its newest epoch already agrees.
        let all = ["a", "b", "c"];
        assert_eq!(
            cut(&[
                ("a", vec![r(1, &all), r(2, &all)]),
                ("b", vec![r(1, &all), r(2, &all)]),
                ("c", vec![r(1, &all), r(2, &all)]),
            ]),
            want(&[("a", 2), ("b", 2), ("c", 2)])
        );
        // A crash while writing epoch 2: only a's is whole. a goes back to 1.
        assert_eq!(
            cut(&[
                ("a", vec![r(1, &all), r(2, &all)]),
                ("b", vec![r(1, &all)]),
                ("c", vec![r(1, &all)]),
            ]),
            want(&[("a", 1), ("b", 1), ("c", 1)])
        );
    }

    #[test]
    fn a_partition_that_had_read_nothing_is_not_in_the_older_cohort() {
        // Epoch 1 wrote b and c (a had read nothing); epoch 2 wrote all three and
        // only a's shows. a has nothing at or before 1: it is rebuilt, and b and
        // c (whose epoch-1 state holds none of a's events) restore at 1.
        let all = ["a", "b", "c"];
        assert_eq!(
            cut(&[
                ("a", vec![r(2, &all)]),
                ("b", vec![r(1, &["b", "c"])]),
                ("c", vec![r(1, &["b", "c"])]),
            ]),
            want(&[("b", 1), ("c", 1)])
        );
        // If b's epoch 1 is gone too, a partition of a restored cohort has
        // nothing, so the whole cohort is rebuilt.
        assert_eq!(
            cut(&[
                ("a", vec![r(2, &all)]),
                ("b", vec![]),
                ("c", vec![r(1, &["b", "c"]), r(2, &all)]),
            ]),
            Vec::new()
        );
    }

    #[test]
    fn partitions_owned_elsewhere_and_records_without_a_cohort_bind_nothing() {
        assert_eq!(
            cut(&[
                // z is owned by another instance now.
                ("a", vec![r(1, &["a", "z"]), r(3, &["a", "z"])]),
                // Written by another instance (its own cohort), or by an earlier
                // version.
                ("b", vec![r(2, &["b"])]),
                (
                    "c",
                    vec![Restorable {
                        epoch: 5,
                        cohort: None,
                    }]
                ),
            ]),
            want(&[("a", 3), ("b", 2), ("c", 5)])
        );
    }
}
