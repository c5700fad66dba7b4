//! What may be committed, and committing it.
//!
//! Without durable state, each owned partition commits the first record that still
//! matters ([`OffsetTracker`](crate::OffsetTracker)): its outputs are not all
//! acknowledged, or its event can still be inside a window. The window bound is the
//! watermark, held back by any unacknowledged warning's trigger time
//! ([`commit_bound`]). Commits go out asynchronously on every tick and synchronously
//! at shutdown. With durable state the offsets are committed with each snapshot
//! instead (snapshots.rs), so [`commit`] does nothing there.

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, warn};

use super::events::{CommitDone, Reporter};
use crate::partitions::Partitions;

/// The event time that bounds commits: the watermark, or an earlier unacknowledged
/// warning's trigger time. A warning's window reaches back `span <= retention` from
/// its trigger, so until the broker acknowledges it, every event of that window must
/// stay re-readable, on every partition.
pub fn commit_bound(watermark: Option<i64>, oldest_unacked_trigger: Option<i64>) -> Option<i64> {
    match (watermark, oldest_unacked_trigger) {
        (Some(w), Some(t)) => Some(w.min(t)),
        (w, _) => w,
    }
}

/// The offsets that moved since the last commit, per owned partition, with events
/// before `bound - retention` out of every window.
pub(super) fn committable(
    partitions: &mut Partitions,
    bound: Option<i64>,
    retention: i64,
) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for p in partitions.iter_mut() {
        if let Some(offset) = p.offsets.committable(bound, retention)
            && list
                .add_partition_offset(&p.topic, p.partition, Offset::Offset(offset))
                .is_err()
        {
            warn!(topic = %p.topic, partition = p.partition, offset, "cannot list offset for commit");
        }
    }
    list
}

/// Commits what may be committed (see [`committable`]); a failed commit hands every
/// partition's commit point out again next time.
pub(super) fn commit<C: ConsumerContext>(
    consumer: &StreamConsumer<C>,
    partitions: &mut Partitions,
    bound: Option<i64>,
    retention: i64,
    mode: CommitMode,
    report: &mut Reporter,
) {
    let list = committable(partitions, bound, retention);
    if list.count() == 0 {
        return;
    }
    debug!(offsets = ?list.to_topic_map(), "committing");
    match consumer.commit(&list, mode) {
        Ok(()) => report.emit(CommitDone { ok: true }),
        Err(e) => {
            report.emit(CommitDone { ok: false });
            warn!(error = %e, "commit failed; will retry with the next commit");
            forget_commits(partitions);
        }
    }
}

/// The next commit lists every partition's commit point, changed or not (after a
/// commit failed, synchronously here or asynchronously in the commit callback).
pub(super) fn forget_commits(partitions: &mut Partitions) {
    for p in partitions.iter_mut() {
        p.offsets.forget_commit();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn an_unacknowledged_warning_holds_commits_back_to_its_trigger() {
        assert_eq!(commit_bound(None, None), None);
        assert_eq!(
            commit_bound(None, Some(5)),
            None,
            "no watermark: nothing released"
        );
        assert_eq!(commit_bound(Some(100), None), Some(100));
        assert_eq!(commit_bound(Some(100), Some(40)), Some(40));
        assert_eq!(commit_bound(Some(100), Some(140)), Some(100));
    }

    fn listed(list: &TopicPartitionList) -> Vec<(String, i32, Offset)> {
        list.elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
            .collect()
    }

    #[test]
    fn each_partition_commits_its_first_record_that_still_matters_once() {
        let now = Instant::now();
        let owned = [("in".to_string(), 0), ("in".to_string(), 1)];
        let mut partitions = Partitions::new(owned, 0, Duration::from_secs(60), now);
        let p0 = partitions.get_mut(0).unwrap();
        p0.offsets.consumed(5, Some(100), None);
        p0.offsets.consumed(6, Some(250), None);
        p0.offsets.produced(6);
        let p1 = partitions.get_mut(1).unwrap();
        p1.offsets.consumed(9, None, None); // a dead letter, not acknowledged yet
        p1.offsets.produced(9);

        // Bound 300, retention 100: events before 200 are out of every window.
        assert_eq!(
            listed(&committable(&mut partitions, Some(300), 100)),
            vec![
                ("in".to_string(), 0, Offset::Offset(6)),
                ("in".to_string(), 1, Offset::Offset(9)),
            ]
        );
        // Nothing moved: nothing listed.
        assert_eq!(
            listed(&committable(&mut partitions, Some(300), 100)),
            vec![]
        );
        // The dead letter is acknowledged: partition 1 moves past it.
        partitions.get_mut(1).unwrap().offsets.acknowledged(9);
        assert_eq!(
            listed(&committable(&mut partitions, Some(300), 100)),
            vec![("in".to_string(), 1, Offset::Offset(10))]
        );
        // A failed commit: both commit points are listed again.
        forget_commits(&mut partitions);
        assert_eq!(
            listed(&committable(&mut partitions, Some(300), 100)),
            vec![
                ("in".to_string(), 0, Offset::Offset(6)),
                ("in".to_string(), 1, Offset::Offset(10)),
            ]
        );
        // No watermark: nothing has left the windows.
        let mut fresh = Partitions::new([("in".to_string(), 0)], 0, Duration::from_secs(60), now);
        fresh
            .get_mut(0)
            .unwrap()
            .offsets
            .consumed(3, Some(10), None);
        assert_eq!(
            listed(&committable(&mut fresh, None, 0)),
            vec![("in".to_string(), 0, Offset::Offset(3))]
        );
    }
}
