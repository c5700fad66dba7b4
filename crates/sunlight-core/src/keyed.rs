//! [`KeyedStates`]: the window states of one official's slot, one per group key.
//!
//! Most officials deal with a handful of payees per window, and a hash map costs at
//! least four buckets. Up to [`FEW`] keys live in a vector searched linearly (one
//! 104-byte element per key); beyond that, a hash map. Sweeps move shrunk maps back.

use std::mem::size_of;

use rustc_hash::FxHashMap;

use crate::state::{GroupKey, SlotState};

/// Keys kept in a plain vector before switching to a hash map.
pub const FEW: usize = 8;

/// The states of one slot for one official, by group key.
#[derive(Debug)]
pub(crate) enum KeyedStates {
    Few(Vec<(GroupKey, SlotState)>),
    Many(FxHashMap<GroupKey, SlotState>),
}

impl Default for KeyedStates {
    fn default() -> Self {
        KeyedStates::Few(Vec::new())
    }
}

impl KeyedStates {
    /// The state of `key`, if any.
    #[inline]
    pub fn get_mut(&mut self, key: &GroupKey) -> Option<&mut SlotState> {
        match self {
            KeyedStates::Few(v) => v.iter_mut().find(|(k, _)| k == key).map(|(_, s)| s),
            KeyedStates::Many(m) => m.get_mut(key),
        }
    }

    /// The state of `key`, created empty if absent.
    #[inline]
    pub fn get_or_default(&mut self, key: GroupKey) -> &mut SlotState {
        if let KeyedStates::Few(v) = self
            && v.len() >= FEW
            && !v.iter().any(|(k, _)| *k == key)
        {
            *self = KeyedStates::Many(std::mem::take(v).into_iter().collect());
        }
        match self {
            KeyedStates::Few(v) => {
                let i = match v.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        v.reserve_exact(1);
                        v.push((key, SlotState::default()));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            KeyedStates::Many(m) => m.entry(key).or_default(),
        }
    }

    /// Keeps the states for which `keep` returns true; shrinks storage.
    pub fn retain(&mut self, mut keep: impl FnMut(&GroupKey, &mut SlotState) -> bool) {
        match self {
            KeyedStates::Few(v) => {
                v.retain_mut(|(k, s)| keep(k, s));
                v.shrink_to_fit();
            }
            KeyedStates::Many(m) => {
                m.retain(|k, s| keep(k, s));
                if m.len() <= FEW / 2 {
                    let mut few: Vec<_> = std::mem::take(m).into_iter().collect();
                    few.shrink_to_fit();
                    *self = KeyedStates::Few(few);
                } else {
                    m.shrink_to_fit();
                }
            }
        }
    }

    /// Whether no key has state.
    pub fn is_empty(&self) -> bool {
        match self {
            KeyedStates::Few(v) => v.is_empty(),
            KeyedStates::Many(m) => m.is_empty(),
        }
    }

    /// All states.
    pub fn states(&self) -> Box<dyn Iterator<Item = (&GroupKey, &SlotState)> + '_> {
        match self {
            KeyedStates::Few(v) => Box::new(v.iter().map(|(k, s)| (k, s))),
            KeyedStates::Many(m) => Box::new(m.iter()),
        }
    }

    /// Every key's state, mutably.
    pub fn states_mut(&mut self) -> Box<dyn Iterator<Item = &mut SlotState> + '_> {
        match self {
            KeyedStates::Few(v) => Box::new(v.iter_mut().map(|(_, s)| s)),
            KeyedStates::Many(m) => Box::new(m.values_mut()),
        }
    }

    /// Approximate heap bytes of the container itself (not of the states' contents).
    pub fn table_bytes(&self) -> usize {
        let element = size_of::<(GroupKey, SlotState)>();
        match self {
            KeyedStates::Few(v) => v.capacity() * element,
            KeyedStates::Many(m) => m.capacity() * (element + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Entry;

    fn key(i: usize) -> GroupKey {
        let mut k = GroupKey::default();
        k.push(&format!("k{i}"));
        k
    }

    #[test]
    fn grows_into_a_map_and_shrinks_back() {
        let mut states = KeyedStates::default();
        for i in 0..20 {
            let entry = Entry {
                time: i as i64,
                value: 1,
                id: "e".into(),
            };
            states.get_or_default(key(i)).push(entry, None, false);
            states.get_or_default(key(i)).push(
                Entry {
                    time: 100,
                    value: 1,
                    id: "f".into(),
                },
                None,
                false,
            );
        }
        assert!(matches!(states, KeyedStates::Many(_)));
        for i in 0..20 {
            assert_eq!(states.get_mut(&key(i)).unwrap().entries.len(), 2);
        }
        states.retain(|_, s| {
            s.evict_before(17);
            s.entries.len() == 2
        });
        assert!(matches!(states, KeyedStates::Few(ref v) if v.len() == 3));
        assert!(states.get_mut(&key(16)).is_none());
        assert_eq!(states.get_mut(&key(19)).unwrap().sum.get(), 2);
        states.retain(|_, _| false);
        assert!(states.is_empty());
    }
}
