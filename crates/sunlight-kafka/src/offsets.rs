//! [`OffsetTracker`]: which input offsets of one partition are safe to commit.
//!
//! At least once means: commit offset `c` only when no record below `c` can still
//! matter. A record still matters while
//! - an output it caused (warning, dead letter) is not acknowledged by the broker, or
//! - its event can still be inside a window of a future event (event time at or
//!   after `watermark - retention`): window state lives in memory, so after a restart
//!   or a partition move the new owner must re-read it to rebuild the windows.
//!
//! The committed offset is therefore the first record that still matters. Re-read
//! records re-produce identical warnings (deterministic ids) for the case system to
//! drop. This tracker decides commits without durable state; with durable state
//! (`[state]`, docs/STATE.md) offsets are committed only with each snapshot, which
//! covers the window contents, so long windows no longer mean long re-reads.

use std::collections::{BTreeMap, VecDeque};

/// One consumed record still held back from the commit.
#[derive(Debug, Clone, Copy)]
struct Record {
    offset: i64,
    /// Event time; `i64::MIN` for bad input.
    event_time: i64,
    /// The broker's timestamp of the record, in milliseconds (latency metrics).
    appended_ms: Option<i64>,
}

/// Commit bookkeeping for one partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Consumed records in offset order.
    records: VecDeque<Record>,
    /// Outputs not yet acknowledged, by the offset they are tagged with.
    unacked: BTreeMap<i64, u32>,
    /// The offset after the last consumed record.
    next: Option<i64>,
    /// The last offset handed out by [`OffsetTracker::committable`].
    committed: Option<i64>,
}

impl OffsetTracker {
    /// Records a consumed record: its event time (None for bad input) and the
    /// broker's timestamp in milliseconds, if the record has one.
    pub fn consumed(&mut self, offset: i64, event_time: Option<i64>, appended_ms: Option<i64>) {
        self.records.push_back(Record {
            offset,
            event_time: event_time.unwrap_or(i64::MIN),
            appended_ms,
        });
        self.next = Some(offset + 1);
    }

    /// The broker timestamp of a record not yet committed.
    pub fn appended_at(&self, offset: i64) -> Option<i64> {
        let i = self
            .records
            .binary_search_by_key(&offset, |r| r.offset)
            .ok()?;
        self.records[i].appended_ms
    }

    /// The last commit failed: hand out the commit point again next time.
    pub fn forget_commit(&mut self) {
        self.committed = None;
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
    ///
    /// An event older than `watermark - retention` is also older than the watermark,
    /// so it has been evaluated: the window bound covers "still pending" too.
    pub fn committable(&mut self, watermark: Option<i64>, retention: i64) -> Option<i64> {
        let bound = watermark.map_or(i64::MIN, |w| w.saturating_sub(retention.max(0)));
        let first_unacked = self.unacked.keys().next().copied();
        while let Some(r) = self.records.front() {
            let out_of_windows = r.event_time < bound || r.event_time == i64::MIN;
            let acked = first_unacked.is_none_or(|u| r.offset < u);
            if !(out_of_windows && acked) {
                break;
            }
            self.records.pop_front();
        }
        let commit = self.records.front().map(|r| r.offset).or(self.next)?;
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
        t.consumed(10, Some(100), Some(7));
        t.consumed(11, None, None); // bad input, dead-lettered
        t.produced(11);
        t.consumed(12, Some(300), None);
        assert_eq!(t.appended_at(10), Some(7));
        assert_eq!(t.appended_at(11), None);
        // No watermark yet: offset 10 is pending.
        assert_eq!(t.committable(None, 50), Some(10));
        // Released, but still inside a window (100 >= 200 - 150).
        assert_eq!(t.committable(Some(200), 150), None);
        // Not released yet (100 >= 90), whatever the retention.
        assert_eq!(t.committable(Some(90), 0), None);
        // Out of windows; 11's dead letter is not acknowledged yet.
        assert_eq!(t.committable(Some(200), 50), Some(11));
        t.acknowledged(11);
        // 12 is still within the window reach (300 >= 200 - 50).
        assert_eq!(t.committable(Some(200), 50), Some(12));
        assert_eq!(t.committable(Some(200), 50), None, "unchanged");
        t.forget_commit();
        assert_eq!(
            t.committable(Some(200), 50),
            Some(12),
            "after a failed commit"
        );
        assert_eq!(t.committable(Some(400), 50), Some(13));
        assert_eq!(t.appended_at(10), None, "committed records are forgotten");
    }

    #[test]
    fn an_unacknowledged_warning_holds_back_its_trigger() {
        let mut t = OffsetTracker::default();
        for o in 0..5 {
            t.consumed(o, Some(o * 10), None);
        }
        t.produced(2);
        assert_eq!(t.committable(Some(1_000), 10), Some(2));
        assert_eq!(t.unacknowledged(), 1);
        t.acknowledged(2);
        assert_eq!(t.committable(Some(1_000), 10), Some(5));
    }
}
