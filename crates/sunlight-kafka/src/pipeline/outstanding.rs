//! Outputs handed to the producer and not yet settled, per assignment generation: the
//! state that decides when a snapshot barrier is reached (nothing outstanding) and
//! how far commits may go (no further back than the oldest unacknowledged warning's
//! trigger). It owns no producer, so it is tested without a broker.

use std::collections::BTreeMap;

use crate::output::Tag;

/// How an output ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    /// The broker has it.
    Acknowledged,
    /// It will not be sent again by this instance (a loop record the broker never
    /// takes; an input's output is re-produced by re-reading instead).
    GivenUp,
}

/// Outputs of the current assignment not yet settled.
#[derive(Debug, Default)]
pub(super) struct Outstanding {
    /// Bumped on every assignment change; outputs of older generations are ignored.
    generation: u64,
    /// Outputs of this generation not yet settled: warnings, dead letters and the
    /// loop's own records (the snapshot barrier waits for all of them).
    awaiting: usize,
    /// Trigger times of warnings not yet acknowledged, with their counts.
    unacked_triggers: BTreeMap<i64, u32>,
}

impl Outstanding {
    /// The current generation.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// A new assignment: what was outstanding belongs to the old one.
    pub(super) fn next_generation(&mut self) {
        self.generation += 1;
        self.awaiting = 0;
        self.unacked_triggers.clear();
    }

    /// Registers an output for the input at (`index`, `offset`); `trigger_time` for
    /// a warning. Returns the tag its delivery report carries.
    pub(super) fn queued(&mut self, index: usize, offset: i64, trigger_time: Option<i64>) -> Tag {
        self.awaiting += 1;
        if let Some(t) = trigger_time {
            *self.unacked_triggers.entry(t).or_default() += 1;
        }
        Tag {
            generation: self.generation,
            index,
            offset,
            trigger_time,
        }
    }

    /// Registers one of the closed loop's own records.
    pub(super) fn queued_casework(&mut self) -> Tag {
        self.awaiting += 1;
        Tag::casework(self.generation)
    }

    /// Whether `tag` belongs to the current generation.
    pub(super) fn is_current(&self, tag: &Tag) -> bool {
        tag.generation == self.generation
    }

    /// Settles the output of `tag` (ignored for an older generation).
    pub(super) fn settled(&mut self, tag: &Tag, how: Settled) {
        if !self.is_current(tag) {
            return;
        }
        self.awaiting = self.awaiting.saturating_sub(1);
        if how == Settled::Acknowledged
            && let Some(t) = tag.trigger_time
            && let Some(n) = self.unacked_triggers.get_mut(&t)
        {
            *n -= 1;
            if *n == 0 {
                self.unacked_triggers.remove(&t);
            }
        }
    }

    /// Whether every output of this generation is settled (the snapshot barrier).
    pub(super) fn none(&self) -> bool {
        self.awaiting == 0
    }

    /// The oldest trigger time of an unacknowledged warning.
    pub(super) fn oldest_unacked_trigger(&self) -> Option<i64> {
        self.unacked_triggers.keys().next().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_barrier_and_the_commit_bound_follow_the_acknowledgements() {
        let mut o = Outstanding::default();
        assert!(o.none());
        let w1 = o.queued(0, 10, Some(500));
        let w2 = o.queued(1, 11, Some(300));
        let w3 = o.queued(1, 12, Some(300));
        let dead = o.queued(0, 13, None);
        let loop_record = o.queued_casework();
        assert_eq!(o.oldest_unacked_trigger(), Some(300));
        o.settled(&w2, Settled::Acknowledged);
        assert_eq!(o.oldest_unacked_trigger(), Some(300), "w3 still holds 300");
        o.settled(&w3, Settled::Acknowledged);
        assert_eq!(o.oldest_unacked_trigger(), Some(500));
        o.settled(&dead, Settled::Acknowledged);
        o.settled(&loop_record, Settled::GivenUp);
        assert!(!o.none(), "w1 is outstanding");
        o.settled(&w1, Settled::Acknowledged);
        assert!(o.none());
        assert_eq!(o.oldest_unacked_trigger(), None);
    }

    #[test]
    fn outputs_of_an_older_generation_settle_nothing() {
        let mut o = Outstanding::default();
        let old = o.queued(0, 1, Some(100));
        o.next_generation();
        assert!(o.none());
        assert_eq!(o.oldest_unacked_trigger(), None);
        let new = o.queued(0, 1, Some(100));
        assert!(!o.is_current(&old));
        o.settled(&old, Settled::Acknowledged);
        assert!(!o.none(), "the old tag did not settle the new output");
        assert_eq!(o.oldest_unacked_trigger(), Some(100));
        o.settled(&new, Settled::Acknowledged);
        assert!(o.none());
    }

    #[test]
    fn a_warning_given_up_still_holds_the_commit_bound() {
        let mut o = Outstanding::default();
        let w = o.queued(0, 1, Some(100));
        o.settled(&w, Settled::GivenUp);
        assert!(o.none(), "the barrier no longer waits for it");
        assert_eq!(
            o.oldest_unacked_trigger(),
            Some(100),
            "its input is re-read: its window must stay re-readable"
        );
    }
}
