//! [`OffsetTracker`]: which input offsets of one partition are safe to commit.
//!
//! At least once means: commit offset `c` only when no record below `c` can still
//! matter. A record still matters while
//! - its event waits for the watermark (not evaluated yet),
//! - an output it caused (warning, dead letter) is not acknowledged by the broker, or
//! - its event can still be inside a window of a future event (event time at or
//!   after `watermark - retention`): window state lives in memory, so after a restart
//!   or a partition move the new owner must re-read it to rebuild the windows.
//!
//! The committed offset is therefore the first record that still matters. Re-read
//! records re-produce identical warnings (deterministic ids) for the case system to
//! drop. Durable state (changelog or snapshots) will let the commit point move
//! closer to the head; until then long windows mean long re-reads.

use std::collections::{BTreeMap, VecDeque};

/// Commit bookkeeping for one partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Consumed records in offset order: (offset, event time; i64::MIN for bad input).
    records: VecDeque<(i64, i64)>,
    /// Outputs not yet acknowledged, by the offset they are tagged with.
    unacked: BTreeMap<i64, u32>,
    /// The offset after the last consumed record.
    next: Option<i64>,
    /// The last offset handed out by [`OffsetTracker::committable`].
    committed: Option<i64>,
}

impl OffsetTracker {
    /// Records a consumed record.
    pub fn consumed(&mut self, offset: i64, event_time: Option<i64>) {
        self.records
            .push_back((offset, event_time.unwrap_or(i64::MIN)));
        self.next = Some(offset + 1);
    }

    /// An output tagged with `offset` was handed to the producer.
    pub fn produced(&mut self, offset: i64) {
        *self.unacked.entry(offset).or_default() += 1;
    }

    /// The broker acknowledged an output tagged with `offset`.
    pub fn acknowledged(&mut self, offset: i64) {
        if let Some(n) = self.unacked.get_mut(&offset) {
            *n -= 1;
            if *n == 0 {
                self.unacked.remove(&offset);
            }
        }
    }

    /// Outputs still waiting for the broker.
    pub fn unacknowledged(&self) -> u32 {
        self.unacked.values().sum()
    }

    /// The offset to commit now, if it moved since the last call: the first record
    /// that still matters (see the module docs), or the next offset if none does.
    pub fn committable(
        &mut self,
        watermark: Option<i64>,
        retention: i64,
        oldest_pending: Option<i64>,
    ) -> Option<i64> {
        let bound = watermark.map_or(i64::MIN, |w| w.saturating_sub(retention));
        let first_unacked = self.unacked.keys().next().copied();
        while let Some(&(offset, time)) = self.records.front() {
            let out_of_windows = time < bound || time == i64::MIN;
            let acked = first_unacked.is_none_or(|u| offset < u);
            let evaluated = oldest_pending.is_none_or(|p| offset < p);
            if !(out_of_windows && acked && evaluated) {
                break;
            }
            self.records.pop_front();
        }
        let commit = self.records.front().map(|r| r.0).or(self.next)?;
        if self.committed == Some(commit) {
            return None;
        }
        self.committed = Some(commit);
        Some(commit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_what_no_longer_matters() {
        let mut t = OffsetTracker::default();
        t.consumed(10, Some(100));
        t.consumed(11, None); // bad input, dead-lettered
        t.produced(11);
        t.consumed(12, Some(300));
        // Nothing released yet: offset 10 is pending.
        assert_eq!(t.committable(None, 50, Some(10)), Some(10));
        // Released, but still inside a window (100 >= 200 - 150).
        assert_eq!(t.committable(Some(200), 150, None), None);
        // Out of windows; 11's dead letter is not acknowledged yet.
        assert_eq!(t.committable(Some(200), 50, None), Some(11));
        t.acknowledged(11);
        // 12 is still within the window reach (300 >= 200 - 50).
        assert_eq!(t.committable(Some(200), 50, None), Some(12));
        assert_eq!(t.committable(Some(200), 50, None), None, "unchanged");
        assert_eq!(t.committable(Some(400), 50, None), Some(13));
    }

    #[test]
    fn an_unacknowledged_warning_holds_back_its_trigger() {
        let mut t = OffsetTracker::default();
        for o in 0..5 {
            t.consumed(o, Some(o * 10));
        }
        t.produced(2);
        assert_eq!(t.committable(Some(1_000), 10, None), Some(2));
        assert_eq!(t.unacknowledged(), 1);
        t.acknowledged(2);
        assert_eq!(t.committable(Some(1_000), 10, None), Some(5));
    }
}
