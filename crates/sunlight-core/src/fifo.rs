//! [`Fifo`]: the entry queue of one window, in one contiguous buffer.
//!
//! Windows push at the back and evict at the front. A `VecDeque` would allocate for
//! the first entry, and most keyed windows (one invoice, one contract) only ever hold
//! one or two. `Fifo` keeps the first entry inline and evicts by moving a head index,
//! compacting once the dead prefix is as long as the live part (amortised O(1)).
//! Live entries are one slice, so binary search and evidence slicing are direct.

use smallvec::SmallVec;

/// A first-in first-out queue with one inline slot.
#[derive(Debug, Default)]
pub struct Fifo<T: Default> {
    buf: SmallVec<[T; 1]>,
    head: usize,
}

impl<T: Default> Fifo<T> {
    /// Appends at the back.
    #[inline]
    pub fn push_back(&mut self, item: T) {
        self.buf.push(item);
    }

    /// The oldest item.
    #[inline]
    pub fn front(&self) -> Option<&T> {
        self.buf.get(self.head)
    }

    /// Removes and returns the oldest item.
    #[inline]
    pub fn pop_front(&mut self) -> Option<T> {
        if self.head >= self.buf.len() {
            return None;
        }
        let item = std::mem::take(&mut self.buf[self.head]);
        self.head += 1;
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head >= 16 && self.head * 2 >= self.buf.len() {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        Some(item)
    }

    /// Live items, oldest first.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.head..]
    }

    /// Number of live items.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Whether there is no live item.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots allocated (inline or on the heap).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether the buffer lives on the heap.
    pub fn spilled(&self) -> bool {
        self.buf.spilled()
    }

    /// Releases memory once a burst has left: keeps at most twice the live items.
    pub fn shrink(&mut self) {
        if self.buf.spilled() && self.len() * 4 < self.buf.capacity() {
            self.buf.drain(..self.head);
            self.head = 0;
            self.buf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Fifo behaves like VecDeque under any sequence of pushes and pops.
        #[test]
        fn behaves_like_a_vecdeque(ops in proptest::collection::vec(any::<Option<u16>>(), 0..400)) {
            let mut fifo: Fifo<u32> = Fifo::default();
            let mut model = std::collections::VecDeque::new();
            for op in ops {
                match op {
                    Some(v) => { fifo.push_back(u32::from(v)); model.push_back(u32::from(v)); }
                    None => prop_assert_eq!(fifo.pop_front(), model.pop_front()),
                }
                prop_assert_eq!(fifo.len(), model.len());
                prop_assert_eq!(fifo.front(), model.front());
                prop_assert!(fifo.as_slice().iter().eq(model.iter()));
                fifo.shrink();
                prop_assert!(fifo.as_slice().iter().eq(model.iter()));
            }
        }
    }
}
