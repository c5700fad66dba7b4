//! [`Copies`]: one official's evidence copies, one per retained event.
//!
//! An event can be in several windows; its copy is kept once, in the queue of the
//! longest-span slot it entered (its *class*), and lives exactly as long as that
//! slot keeps events: the copy is evicted when that slot's span has passed, like the
//! slot's own entries, so every entry of the event in any window finds it. Each
//! class is a time-ordered FIFO in one buffer: keeping a copy is one push (no
//! allocation unless a counterparty is longer than 24 bytes or attributes are kept),
//! evicting it is moving a head index, and a warning finds the copies of its
//! evidence by binary search on time. Like slot states, each queue counts the copies
//! appended and evicted since the last snapshot mark, so incremental snapshots write
//! only those.

use compact_str::CompactString;
use smallvec::SmallVec;

use crate::evidence::{EntryCopy, EventCopy};
use crate::fifo::Fifo;

/// One kept copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredCopy {
    pub time: i64,
    pub id: CompactString,
    pub copy: EntryCopy,
}

/// The copies of one class (slot index), in event-time order.
#[derive(Debug, Default)]
pub(crate) struct CopyQueue {
    pub slot: u32,
    pub items: Fifo<StoredCopy>,
    /// Appended and evicted since the last snapshot mark (saturating).
    pub appended: u32,
    pub evicted: u32,
}

impl CopyQueue {
    /// Drops copies older than `bound` (strictly); whether it dropped any.
    pub fn evict_before(&mut self, bound: i64) -> bool {
        let mut any = false;
        while self.items.front().is_some_and(|c| c.time < bound) {
            self.items.pop_front();
            self.evicted = self.evicted.saturating_add(1);
            any = true;
        }
        any
    }

    /// `from`, evicted count for a patch: the index of the first copy appended since
    /// the mark and the number evicted, or `(0, None)` when the counts saturated (the
    /// queue is then written whole).
    pub fn patch(&self) -> (usize, Option<u64>) {
        let len = self.items.len();
        if self.appended == u32::MAX || self.evicted == u32::MAX || self.appended as usize >= len {
            return (0, None);
        }
        (len - self.appended as usize, Some(u64::from(self.evicted)))
    }
}

/// One official's copies, by class.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    pub queues: SmallVec<[CopyQueue; 2]>,
}

impl Copies {
    /// The queue of class `slot`, creating it.
    pub fn queue_mut(&mut self, slot: u32) -> &mut CopyQueue {
        let i = match self.queues.iter().position(|q| q.slot == slot) {
            Some(i) => i,
            None => {
                self.queues.push(CopyQueue {
                    slot,
                    ..CopyQueue::default()
                });
                self.queues.len() - 1
            }
        };
        &mut self.queues[i]
    }

    /// Keeps `copy` in class `slot`, first evicting what is older than `bound`.
    pub fn push(&mut self, slot: u32, bound: i64, item: StoredCopy) {
        let q = self.queue_mut(slot);
        q.evict_before(bound);
        q.items.push_back(item);
        q.appended = q.appended.saturating_add(1);
    }

    /// The copy of event `id` at `time`, narrowed to the attributes in `keep`.
    pub fn find(&self, id: &CompactString, time: i64, keep: &[CompactString]) -> Option<EventCopy> {
        self.queues.iter().find_map(|q| {
            let items = q.items.as_slice();
            let from = items.partition_point(|c| c.time < time);
            items[from..]
                .iter()
                .take_while(|c| c.time == time)
                .find(|c| c.id == *id)
                .map(|c| c.copy.to_event_copy(&c.id, c.time, keep))
        })
    }

    /// Drops queues with nothing left; whether any copies remain.
    pub fn retain_nonempty(&mut self) -> bool {
        self.queues.retain(|q| !q.items.is_empty());
        !self.queues.is_empty()
    }

    /// Copies kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queues.iter().map(|q| q.items.len()).sum()
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        let spilled = if self.queues.spilled() {
            self.queues.capacity() * std::mem::size_of::<CopyQueue>()
        } else {
            0
        };
        spilled
            + self
                .queues
                .iter()
                .map(|q| {
                    q.items.capacity() * std::mem::size_of::<StoredCopy>()
                        + q.items
                            .as_slice()
                            .iter()
                            .map(|c| {
                                (if c.id.is_heap_allocated() {
                                    c.id.capacity()
                                } else {
                                    0
                                }) + c.copy.heap_bytes()
                            })
                            .sum::<usize>()
                })
                .sum::<usize>()
    }

    /// Starts counting appended and evicted copies afresh.
    pub fn reset_marks(&mut self) {
        for q in &mut self.queues {
            (q.appended, q.evicted) = (0, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(time: i64, id: &str) -> StoredCopy {
        StoredCopy {
            time,
            id: id.into(),
            copy: EntryCopy {
                kind: "payment".into(),
                ..EntryCopy::default()
            },
        }
    }

    #[test]
    fn copies_are_found_by_id_and_time_and_evicted_with_their_class() {
        let mut c = Copies::default();
        c.push(3, 0, item(10, "a"));
        c.push(3, 0, item(20, "b"));
        c.push(3, 0, item(20, "c"));
        c.push(5, 0, item(15, "d"));
        assert_eq!(c.find(&"c".into(), 20, &[]).unwrap().event_id, "c");
        assert_eq!(c.find(&"d".into(), 15, &[]).unwrap().kind, "payment");
        assert!(c.find(&"c".into(), 10, &[]).is_none());
        // A push evicts its own class only.
        c.push(3, 20, item(30, "e"));
        assert!(c.find(&"a".into(), 10, &[]).is_none());
        assert!(c.find(&"d".into(), 15, &[]).is_some());
        assert_eq!(c.len(), 4);
        let q = c.queue_mut(3);
        assert_eq!((q.appended, q.evicted), (4, 1));
        assert_eq!(q.patch(), (0, None), "an appended copy went: written whole");
        c.reset_marks();
        c.push(3, 0, item(40, "f"));
        assert_eq!(c.queue_mut(3).patch(), (3, Some(0)));
        assert!(c.queue_mut(5).evict_before(100));
        assert!(c.retain_nonempty());
        assert_eq!(c.queues.len(), 1);
    }
}
