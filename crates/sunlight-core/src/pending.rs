//! [`PendingQueue`]: events waiting for the watermark, smallest first.
//!
//! Inputs are mostly in event-time order, so items that arrive in order go to the
//! back of a deque (O(1), no large moves) and only out-of-order items go to a binary
//! heap (O(log n)). The smallest item is at the front of one of the two.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A min-queue tuned for nearly sorted input.
#[derive(Debug)]
pub(crate) struct PendingQueue<T: Ord> {
    in_order: VecDeque<T>,
    out_of_order: BinaryHeap<Reverse<T>>,
}

impl<T: Ord> Default for PendingQueue<T> {
    fn default() -> Self {
        PendingQueue {
            in_order: VecDeque::new(),
            out_of_order: BinaryHeap::new(),
        }
    }
}

impl<T: Ord> PendingQueue<T> {
    /// Adds an item.
    #[inline]
    pub fn push(&mut self, item: T) {
        if self.in_order.back().is_none_or(|last| *last <= item) {
            self.in_order.push_back(item);
        } else {
            self.out_of_order.push(Reverse(item));
        }
    }

    /// The smallest item.
    #[inline]
    pub fn peek(&self) -> Option<&T> {
        match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(a), Some(Reverse(b))) => Some(if b < a { b } else { a }),
            (Some(a), None) => Some(a),
            (None, Some(Reverse(b))) => Some(b),
            (None, None) => None,
        }
    }

    /// Removes the smallest item.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let from_heap = match (self.in_order.front(), self.out_of_order.peek()) {
            (Some(a), Some(Reverse(b))) => b < a,
            (None, Some(_)) => true,
            _ => false,
        };
        if from_heap {
            self.out_of_order.pop().map(|Reverse(item)| item)
        } else {
            self.in_order.pop_front()
        }
    }

    /// Removes every item, smallest first.
    pub fn drain_sorted(&mut self) -> Vec<T> {
        let mut all = Vec::with_capacity(self.len());
        while let Some(item) = self.pop() {
            all.push(item);
        }
        all
    }

    /// Every item, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.in_order
            .iter()
            .chain(self.out_of_order.iter().map(|r| &r.0))
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.in_order.len() + self.out_of_order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pops_in_sorted_order(items in proptest::collection::vec(0u32..50, 0..200), pops in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut queue = PendingQueue::default();
            let mut model = std::collections::BinaryHeap::new();
            for (i, item) in items.iter().enumerate() {
                queue.push((*item, i));
                model.push(Reverse((*item, i)));
                if pops.get(i).copied().unwrap_or(false) {
                    prop_assert_eq!(queue.pop(), model.pop().map(|r| r.0));
                }
                prop_assert_eq!(queue.peek(), model.peek().map(|r| &r.0));
                prop_assert_eq!(queue.len(), model.len());
            }
            while let Some(Reverse(want)) = model.pop() {
                prop_assert_eq!(queue.pop(), Some(want));
            }
            prop_assert_eq!(queue.pop(), None);
        }
    }
}
