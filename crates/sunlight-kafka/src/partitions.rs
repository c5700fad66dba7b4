//! [`Partitions`]: the input partitions this instance owns, and the event-time
//! watermark they allow together.
//!
//! One engine serves every partition of the instance, so an official whose events
//! arrive on two partitions (a producer keyed them by something else) still meets
//! all of them in one window. Its watermark is therefore the minimum over the
//! partitions of each one's `max event time seen - allowed lateness`, as Flink's
//! per-split watermarks are: a partition that is behind holds everyone back, so none
//! of its events turns late because another partition ran ahead.
//!
//! A partition with no message for the idle timeout stops holding the watermark (a
//! quiet source system must not freeze every warning); when all are idle, everything
//! pending is released. A partition that has not delivered anything since it was
//! assigned holds the watermark until it does or until it goes idle, so a partition
//! that is merely slower to fetch does not see its first events dead-lettered as late.
//! A quiet partition goes idle only if it is also caught up (the caller asks the
//! broker): one whose fetch stalls with records still unread keeps holding, or its
//! records would turn late once they arrive.
//!
//! **Watermark alignment** ([`Partitions::align`], as Flink's): while reading a
//! backlog, partitions are fetched at different speeds, and every event of a
//! partition ahead of the slowest waits for the watermark, in memory and in every
//! snapshot (two million events were seen pending). A partition whose own watermark
//! runs more than the allowed drift ahead of the slowest active one is paused, and
//! resumed once it is within half the drift, so the slowest one gets the fetches.

use std::time::{Duration, Instant};

use crate::offsets::OffsetTracker;

/// Bits of an engine source tag that hold the input offset; the bits above hold the
/// partition's index in [`Partitions`] (the engine's entity buckets read it there).
pub const OFFSET_BITS: u32 = sunlight_core::engine::SOURCE_OFFSET_BITS;

/// One owned input partition.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
    /// Which offsets are safe to commit.
    pub offsets: OffsetTracker,
    /// Largest event time seen (`i64::MIN` before the first event).
    pub max_seen: i64,
    /// When the last message arrived (or the partition was assigned).
    pub last_activity: Instant,
    /// Quiet for the idle timeout: not holding the watermark.
    pub idle: bool,
    /// The next offset to read (`i64::MIN` before the first record).
    pub next_offset: i64,
    /// The watermark of the snapshot this partition's state was restored from
    /// (`i64::MIN`: none): its later events behind it are late, as they were for the
    /// instance that took the snapshot, even when the engine's own watermark is
    /// lower because another partition is rebuilt from its start.
    pub floor: i64,
    /// Where reading starts, if known (a restore moved the partition there, or it is
    /// the committed offset): the position of a partition that has delivered nothing.
    pub start: Option<i64>,
}

impl Partition {
    /// The offset this partition reads next, if known: after its last delivered
    /// record, or where reading starts.
    pub fn position(&self) -> Option<i64> {
        if self.next_offset == i64::MIN {
            self.start
        } else {
            Some(self.next_offset)
        }
    }
}

/// The partitions of one assignment, indexed in assignment order.
#[derive(Debug)]
pub struct Partitions {
    list: Vec<Partition>,
    lateness: i64,
    idle_after: Duration,
    last_hit: usize,
}

/// What the partitions allow the engine's watermark to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Up to this event time (`i64::MIN`: not yet known).
    Until(i64),
    /// Every partition is idle: release everything pending.
    Everything,
}

impl Partitions {
    /// An assignment of `owned` partitions, all active from `now`.
    pub fn new(
        owned: impl IntoIterator<Item = (String, i32)>,
        lateness: i64,
        idle_after: Duration,
        now: Instant,
    ) -> Partitions {
        let mut set = Partitions {
            list: Vec::new(),
            lateness,
            idle_after,
            last_hit: 0,
        };
        for (topic, partition) in owned {
            set.index_of(&topic, partition, now);
        }
        set
    }

    /// Partitions owned.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether none is owned.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The index of a partition, adding it if it is new.
    pub fn index_of(&mut self, topic: &str, partition: i32, now: Instant) -> usize {
        let hit = |p: &Partition| p.partition == partition && p.topic == topic;
        if self.list.get(self.last_hit).is_some_and(hit) {
            return self.last_hit;
        }
        let index = match self.list.iter().position(hit) {
            Some(i) => i,
            None => {
                self.list.push(Partition {
                    topic: topic.to_string(),
                    partition,
                    offsets: OffsetTracker::default(),
                    max_seen: i64::MIN,
                    last_activity: now,
                    idle: false,
                    next_offset: i64::MIN,
                    floor: i64::MIN,
                    start: None,
                });
                self.list.len() - 1
            }
        };
        self.last_hit = index;
        index
    }

    /// The partition at `index`.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut Partition> {
        self.list.get_mut(index)
    }

    /// Every partition.
    pub fn iter(&self) -> impl Iterator<Item = &Partition> {
        self.list.iter()
    }

    /// Every partition, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Partition> {
        self.list.iter_mut()
    }

    /// A message arrived on partition `index` (with an event at `event_time`, if it
    /// decoded). Returns whether the partition's event time moved forward.
    pub fn observe(&mut self, index: usize, event_time: Option<i64>, now: Instant) -> bool {
        let p = &mut self.list[index];
        p.last_activity = now;
        p.idle = false;
        match event_time {
            Some(t) if t > p.max_seen => {
                p.max_seen = t;
                true
            }
            _ => false,
        }
    }

    /// Watermark alignment: which partitions (by topic and number) are more than
    /// `max_drift` ahead of the slowest active partition that has a watermark, given
    /// the ones `paused` now; a paused one stays paused until it is within half the
    /// drift. Partitions that delivered nothing and idle ones take no part.
    pub fn align(
        &self,
        max_drift: i64,
        paused: &std::collections::BTreeSet<(String, i32)>,
    ) -> std::collections::BTreeSet<(String, i32)> {
        let own = |p: &Partition| p.max_seen.saturating_sub(self.lateness);
        let active = || {
            self.list
                .iter()
                .filter(|p| !p.idle && p.max_seen != i64::MIN)
        };
        let Some(slowest) = active().map(own).min() else {
            return Default::default();
        };
        active()
            .filter(|p| {
                let ahead = own(p).saturating_sub(slowest);
                let key = (p.topic.clone(), p.partition);
                if paused.contains(&key) {
                    ahead > max_drift / 2
                } else {
                    ahead > max_drift
                }
            })
            .map(|p| (p.topic.clone(), p.partition))
            .collect()
    }

    /// Consumption resumes after a pause of the pipeline's own making (backpressure),
    /// which lasted `paused`: quiet partitions were not idle, just unread, so their
    /// quiet time is moved forward by the pause. Partitions already idle before the
    /// pause stay idle.
    pub fn resume_after(&mut self, paused: Duration) {
        for p in self.list.iter_mut().filter(|p| !p.idle) {
            p.last_activity += paused;
        }
    }

    /// Marks partitions quiet for the idle timeout and `caught_up` (nothing unread
    /// on the broker) as idle; returns how many became idle. A quiet partition that
    /// is not caught up is slow, not idle: its quiet time starts again.
    pub fn mark_idle(
        &mut self,
        now: Instant,
        mut caught_up: impl FnMut(&Partition) -> bool,
    ) -> usize {
        let mut n = 0;
        for p in &mut self.list {
            if !p.idle && now.duration_since(p.last_activity) >= self.idle_after {
                if caught_up(p) {
                    p.idle = true;
                    n += 1;
                } else {
                    p.last_activity = now;
                }
            }
        }
        n
    }

    /// The watermark the partitions allow together (see the module docs).
    pub fn allowed(&self) -> Allowed {
        let mut min = None::<i64>;
        for p in self.list.iter().filter(|p| !p.idle) {
            let own = if p.max_seen == i64::MIN {
                i64::MIN
            } else {
                p.max_seen.saturating_sub(self.lateness)
            };
            min = Some(min.map_or(own, |m| m.min(own)));
        }
        match min {
            Some(m) => Allowed::Until(m),
            None => Allowed::Everything,
        }
    }

    /// Splits an engine source tag into partition index and offset.
    pub fn split_source(source: u64) -> (usize, i64) {
        (
            (source >> OFFSET_BITS) as usize,
            (source & ((1 << OFFSET_BITS) - 1)) as i64,
        )
    }

    /// The engine source tag of `offset` on partition `index`.
    pub fn source(index: usize, offset: i64) -> u64 {
        ((index as u64) << OFFSET_BITS) | (offset as u64 & ((1 << OFFSET_BITS) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two(now: Instant) -> Partitions {
        Partitions::new(
            [("t".to_string(), 0), ("t".to_string(), 1)],
            10,
            Duration::from_secs(5),
            now,
        )
    }

    #[test]
    fn partitions_too_far_ahead_are_paused_until_within_half_the_drift() {
        let now = Instant::now();
        let mut set = Partitions::new(
            [
                ("t".to_string(), 0),
                ("t".to_string(), 1),
                ("t".to_string(), 2),
            ],
            10,
            Duration::from_secs(5),
            now,
        );
        let key = |p: i32| ("t".to_string(), p);
        let none = std::collections::BTreeSet::new();
        assert!(set.align(100, &none).is_empty(), "no watermarks yet");
        set.observe(0, Some(1_000), now);
        set.observe(1, Some(1_101), now);
        // Partition 2 delivered nothing: it takes no part.
        assert_eq!(set.align(100, &none), [key(1)].into());
        assert!(set.align(101, &none).is_empty(), "exactly at the drift");
        // Paused, it stays paused until within half the drift.
        let paused = set.align(100, &none);
        set.observe(0, Some(1_050), now);
        assert_eq!(set.align(100, &paused), [key(1)].into());
        set.observe(0, Some(1_051), now);
        assert!(set.align(100, &paused).is_empty());
        // The slowest partition going idle frees the ones ahead of it.
        set.observe(2, Some(2_000), now);
        assert_eq!(set.align(100, &none), [key(2)].into());
        let later = now + Duration::from_secs(5);
        set.observe(1, Some(1_102), later);
        set.observe(2, Some(2_001), later);
        assert_eq!(set.mark_idle(later, |_| true), 1, "0 goes idle");
        assert_eq!(set.align(100, &none), [key(2)].into(), "1 is still active");
        set.observe(2, Some(2_002), later + Duration::from_secs(5));
        assert_eq!(set.mark_idle(later + Duration::from_secs(5), |_| true), 1);
        assert!(set.align(100, &none).is_empty(), "only 2 is active");
    }

    #[test]
    fn the_slowest_active_partition_holds_the_watermark() {
        let now = Instant::now();
        let mut set = two(now);
        assert_eq!(set.allowed(), Allowed::Until(i64::MIN));
        set.observe(0, Some(1_000), now);
        assert_eq!(
            set.allowed(),
            Allowed::Until(i64::MIN),
            "partition 1 has said nothing yet"
        );
        set.observe(1, Some(300), now);
        assert_eq!(set.allowed(), Allowed::Until(290));
        set.observe(1, Some(200), now);
        assert_eq!(
            set.allowed(),
            Allowed::Until(290),
            "disorder does not move it back"
        );
        set.observe(1, None, now);
        assert_eq!(
            set.allowed(),
            Allowed::Until(290),
            "bad input is activity only"
        );
    }

    #[test]
    fn idle_partitions_stop_holding_and_all_idle_releases_everything() {
        let now = Instant::now();
        let mut set = two(now);
        set.observe(0, Some(1_000), now);
        let later = now + Duration::from_secs(6);
        set.observe(0, Some(2_000), later);
        assert_eq!(set.mark_idle(later, |_| true), 1);
        assert_eq!(set.allowed(), Allowed::Until(1_990));
        assert_eq!(set.mark_idle(later + Duration::from_secs(5), |_| true), 1);
        assert_eq!(set.allowed(), Allowed::Everything);
        // A message wakes a partition up again.
        set.observe(1, Some(50), later + Duration::from_secs(6));
        assert_eq!(set.allowed(), Allowed::Until(40));
        // A pause of the pipeline's own making does not count as quiet time.
        let resumed = later + Duration::from_secs(6) + Duration::from_secs(60);
        set.resume_after(Duration::from_secs(60));
        assert_eq!(set.mark_idle(resumed + Duration::from_secs(4), |_| true), 0);
        assert_eq!(set.allowed(), Allowed::Until(40));
    }

    #[test]
    fn a_quiet_partition_with_records_still_unread_is_slow_not_idle() {
        let now = Instant::now();
        let mut set = two(now);
        set.observe(0, Some(1_000), now);
        set.get_mut(0).unwrap().next_offset = 8;
        set.get_mut(1).unwrap().start = Some(3);
        let later = now + Duration::from_secs(6);
        // Partition 1 delivered nothing but the broker holds records from its start;
        // partition 0 has read everything there is.
        let high = [8, 5];
        let unread = |p: &Partition| p.position() < Some(high[p.partition as usize]);
        assert_eq!(set.mark_idle(later, |p| !unread(p)), 1);
        assert_eq!(
            set.allowed(),
            Allowed::Until(i64::MIN),
            "the stalled partition still holds the watermark"
        );
        // Its quiet time started again: not re-checked before another timeout.
        assert_eq!(set.mark_idle(later + Duration::from_secs(4), |_| true), 0);
        assert_eq!(set.mark_idle(later + Duration::from_secs(5), |_| true), 1);
        assert_eq!(set.allowed(), Allowed::Everything);
    }

    #[test]
    fn source_tags_round_trip() {
        for (index, offset) in [(0, 0), (3, 17), (65_535, (1 << OFFSET_BITS) - 1)] {
            assert_eq!(
                Partitions::split_source(Partitions::source(index, offset)),
                (index, offset)
            );
        }
        let now = Instant::now();
        let mut set = two(now);
        assert_eq!(set.index_of("t", 1, now), 1);
        assert_eq!(
            set.index_of("u", 0, now),
            2,
            "an unexpected partition is added"
        );
    }
}
