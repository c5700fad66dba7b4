//! Window state on Kafka: each input partition's engine state (a
//! [`sunlight_core::engine::Snapshot`] of the officials whose events come from it),
//! with the input position it is valid for, as records of the state topic (default
//! `sunlight.state`).
//!
//! One snapshot is JSON, cut into chunks of at most [`CHUNK_BYTES`] (below the
//! broker's default 1 MB record limit). Every chunk has key `group|topic|partition`
//! and headers `sunlight.state.epoch` (when it was taken, ns), `sunlight.state.chunk`
//! and `sunlight.state.chunks`. The newest epoch whose chunks are all present wins,
//! so a snapshot cut short by a crash is ignored and the previous one is used. The
//! offset commit that goes with a snapshot names its epoch in the commit metadata
//! ([`commit_metadata`]), so a restore can tell a snapshot it has not found yet from
//! one that never existed. A
//! compacted topic would keep only the newest chunk per key, so the topic must use
//! `cleanup.policy=delete` with a retention longer than a few snapshot intervals.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sunlight_core::engine::Snapshot;

/// Largest chunk payload.
pub const CHUNK_BYTES: usize = 512 * 1024;

/// One partition's state and where its input continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// The next input offset to read: everything before it is in `snapshot`.
    pub position: i64,
    /// The partition's largest event time seen.
    pub max_seen: i64,
    /// The engine state of the partition's officials and pending events.
    pub snapshot: Snapshot,
    /// The closed loop's cases of the partition's officials (with casework on;
    /// absent in snapshots written without it or by earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub casebook: Option<sunlight_core::casework::CasebookSnapshot>,
}

/// A record to write: key, payload, headers.
pub type StateRecord = (String, Vec<u8>, Vec<(&'static str, String)>);

/// The key of a partition's state records.
pub fn key(group: &str, topic: &str, partition: i32) -> String {
    format!("{group}|{topic}|{partition}")
}

/// The records carrying `state`.
pub fn encode(
    group: &str,
    topic: &str,
    partition: i32,
    epoch: u64,
    state: &PartitionState,
) -> Vec<StateRecord> {
    let body = serde_json::to_vec(state).expect("state always serialises");
    let chunks: Vec<&[u8]> = if body.is_empty() {
        vec![&body[..]]
    } else {
        body.chunks(CHUNK_BYTES).collect()
    };
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            (
                key(group, topic, partition),
                c.to_vec(),
                vec![
                    ("sunlight.state.epoch", epoch.to_string()),
                    ("sunlight.state.chunk", i.to_string()),
                    ("sunlight.state.chunks", n.to_string()),
                ],
            )
        })
        .collect()
}

#[derive(Default)]
struct Epoch {
    chunks: usize,
    parts: BTreeMap<usize, Vec<u8>>,
}

/// Collects state records and assembles the newest complete snapshot per key.
#[derive(Default)]
pub struct Assembler {
    keys: HashMap<String, BTreeMap<u64, Epoch>>,
}

impl Assembler {
    /// Adds one record (records of other keys or without the headers are ignored).
    pub fn add(&mut self, key: &str, headers: &[(String, String)], payload: &[u8]) {
        let header = |name: &str| -> Option<u64> {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
        };
        let (Some(epoch), Some(chunk), Some(chunks)) = (
            header("sunlight.state.epoch"),
            header("sunlight.state.chunk"),
            header("sunlight.state.chunks"),
        ) else {
            return;
        };
        let epochs = self.keys.entry(key.to_string()).or_default();
        let e = epochs.entry(epoch).or_default();
        e.chunks = chunks as usize;
        e.parts.insert(chunk as usize, payload.to_vec());
        if e.is_complete() {
            // Older snapshots are never used once a newer one is whole: keep the
            // reader's memory to one snapshot per key (plus newer partial ones).
            if let Some(newest) = epochs
                .iter()
                .rev()
                .find(|(_, e)| e.is_complete())
                .map(|(n, _)| *n)
            {
                *epochs = epochs.split_off(&newest);
            }
        }
    }

    /// The newest complete state of `key` with its epoch, or the error of the newest
    /// complete one that does not parse (older ones are not used: they are behind
    /// the commit).
    pub fn latest(&self, key: &str) -> Option<(u64, Result<PartitionState, String>)> {
        let epochs = self.keys.get(key)?;
        let (epoch, e) = epochs.iter().rev().find(|(_, e)| e.is_complete())?;
        let body: Vec<u8> = (0..e.chunks)
            .flat_map(|i| e.parts[&i].iter().copied())
            .collect();
        Some((
            *epoch,
            serde_json::from_slice(&body)
                .map_err(|err| format!("state snapshot {key} epoch {epoch} does not parse: {err}")),
        ))
    }
}

impl Epoch {
    fn is_complete(&self) -> bool {
        self.chunks > 0 && (0..self.chunks).all(|i| self.parts.contains_key(&i))
    }
}

/// Commit metadata naming the snapshot an offset commit goes with.
pub fn commit_metadata(epoch: u64) -> String {
    format!("{COMMIT_METADATA_PREFIX}{epoch}")
}

/// The snapshot epoch named by an offset commit's metadata (None: the commit was not
/// made with a snapshot, e.g. by a run without durable state).
pub fn epoch_of_commit(metadata: &str) -> Option<u64> {
    metadata.strip_prefix(COMMIT_METADATA_PREFIX)?.parse().ok()
}

const COMMIT_METADATA_PREFIX: &str = "sunlight.state epoch=";

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use sunlight_core::{CompiledPack, Engine, EngineConfig};

    fn state() -> PartitionState {
        let pack = sunlight_core::rules::compile_pack(
            "[pack]\nname = \"t\"\nversion = \"1\"\n",
            std::path::Path::new("."),
            "t",
        )
        .unwrap();
        let engine = Engine::new(Arc::new(pack) as Arc<CompiledPack>, EngineConfig::default());
        PartitionState {
            position: 42,
            max_seen: 7,
            snapshot: engine.snapshot(|_, _| true),
            casebook: Some(
                sunlight_core::casework::Casebook::new(Default::default()).snapshot(|_, _| true),
            ),
        }
    }

    fn headers(h: &[(&'static str, String)]) -> Vec<(String, String)> {
        h.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn the_newest_complete_epoch_wins() {
        let s = state();
        let mut a = Assembler::default();
        for (k, p, h) in encode("g", "t", 3, 10, &s) {
            a.add(&k, &headers(&h), &p);
        }
        let newer = PartitionState {
            position: 99,
            ..s.clone()
        };
        let records = encode("g", "t", 3, 20, &newer);
        assert_eq!(records.len(), 1);
        assert_eq!(a.latest("g|t|3"), Some((10, Ok(s.clone()))));
        // A newer epoch whose chunks are not all there is ignored.
        let (k, p, mut h) = records[0].clone();
        h[2].1 = "2".into();
        a.add(&k, &headers(&h), &p);
        assert_eq!(a.latest("g|t|3").unwrap().1.unwrap().position, 42);
        for (k, p, h) in records {
            a.add(&k, &headers(&h), &p);
        }
        let (epoch, newest) = a.latest("g|t|3").unwrap();
        assert_eq!((epoch, newest.unwrap().position), (20, 99));
        assert_eq!(
            a.keys["g|t|3"].keys().copied().collect::<Vec<_>>(),
            vec![20],
            "the older snapshot is dropped once a newer one is whole"
        );
        // An older snapshot completing late (a slow writer) changes nothing.
        for (k, p, h) in encode("g", "t", 3, 15, &s) {
            a.add(&k, &headers(&h), &p);
        }
        assert_eq!(a.latest("g|t|3").unwrap().0, 20);
        assert_eq!(a.latest("g|t|4"), None);
    }

    #[test]
    fn large_states_are_cut_into_chunks_and_put_back_together() {
        let mut s = state();
        s.snapshot.released = (0..200_000).map(|i| (i, i as i64)).collect();
        let records = encode("g", "t", 0, 1, &s);
        assert!(records.len() > 1, "{}", records.len());
        assert!(records.iter().all(|(_, p, _)| p.len() <= CHUNK_BYTES));
        let mut a = Assembler::default();
        // Arrival order does not matter.
        for (k, p, h) in records.iter().rev() {
            a.add(k, &headers(h), p);
        }
        assert_eq!(a.latest("g|t|0"), Some((1, Ok(s))));
    }

    #[test]
    fn commit_metadata_names_the_snapshot_epoch() {
        assert_eq!(
            epoch_of_commit(&commit_metadata(1_795_793_717)),
            Some(1_795_793_717)
        );
        assert_eq!(epoch_of_commit(""), None, "a commit without durable state");
        assert_eq!(epoch_of_commit("sunlight.state epoch=x"), None);
        assert_eq!(epoch_of_commit("other tool"), None);
    }
}
