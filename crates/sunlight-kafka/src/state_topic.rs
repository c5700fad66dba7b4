//! Window state on Kafka: each input partition's engine state (a
//! [`sunlight_core::engine::Snapshot`] of the officials whose events come from it),
//! with the input position it is valid for, as records of the state topic (default
//! `sunlight.state`).
//!
//! One snapshot is [postcard](https://postcard.jamesmunns.com/wire-format) (a compact
//! binary form of the same serde structures; header `sunlight.state.encoding` =
//! `postcard.v5`), cut into chunks of at most [`CHUNK_BYTES`] (below the broker's
//! default 1 MB record limit). Postcard is not self-describing, so the header names
//! the layout: `postcard.v5` is [`PartitionState`] with casebook format 2, evidence
//! copies, warnings' `officials` and sparse patches; `postcard.v4` the same without
//! sparse patches (read with [`with_layout_before_sparse_patches`]);
//! `postcard.v3` without `officials` either
//! (read with [`with_layout_before_officials`]); `postcard.v2` without the copies
//! either (read with [`with_layout_before_copies`]); `postcard` (earlier versions) is
//! [`PartitionStateV1`] with casebook format 1, read and converted. Snapshots without that header are JSON (written by earlier
//! versions) and are read as such (fields added since default to empty). Every chunk has key `group|topic|partition`
//! and headers `sunlight.state.epoch` (when it was taken, ns), `sunlight.state.chunk`
//! and `sunlight.state.chunks`, and [`COHORT_HEADER`] (the partitions written in
//! the same epoch). The newest epoch whose chunks are all present wins, so a
//! snapshot cut short by a crash is ignored and the previous one is used; a restore
//! may take an older complete one ([`Assembler::state_at`]) so that partitions
//! written together are restored at one epoch (`pipeline/cut.rs`).
//!
//! Snapshots are incremental: a **full** snapshot holds the partition's whole state;
//! a **delta** (header `sunlight.state.follows` = the epoch it follows) holds only
//! what changed since that epoch ([`sunlight_core::Engine::delta`],
//! [`sunlight_core::casework::Casebook::delta`]). The state of a partition is its
//! newest complete full snapshot with the unbroken chain of complete deltas after
//! it, laid over it in order ([`PartitionState::apply`]). A delta whose predecessor
//! is missing ends the chain there. The
//! offset commit that goes with a snapshot names its epoch in the commit metadata
//! ([`commit_metadata`]), so a restore can tell a snapshot it has not found yet from
//! one that never existed. A
//! compacted topic would keep only the newest chunk per key, so the topic must use
//! `cleanup.policy=delete` with a retention longer than a few snapshot intervals.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sunlight_core::casework::snapshot_v1::CasebookSnapshotV1;
use sunlight_core::engine::Snapshot;
use sunlight_core::evidence::{
    with_layout_before_copies, with_layout_before_officials, with_layout_before_sparse_patches,
};

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
    #[serde(default)]
    pub casebook: Option<sunlight_core::casework::CasebookSnapshot>,
}

/// [`PartitionState`] as versions before casebook format 2 wrote it (encoding
/// `postcard`): the same but for the casebook's layout. Never change it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionStateV1 {
    /// The next input offset to read.
    pub position: i64,
    /// The partition's largest event time seen.
    pub max_seen: i64,
    /// The engine state.
    pub snapshot: Snapshot,
    /// The closed loop's cases, casebook format 1.
    pub casebook: Option<CasebookSnapshotV1>,
}

impl From<PartitionStateV1> for PartitionState {
    fn from(v1: PartitionStateV1) -> PartitionState {
        PartitionState {
            position: v1.position,
            max_seen: v1.max_seen,
            snapshot: v1.snapshot,
            casebook: v1.casebook.map(Into::into),
        }
    }
}

impl PartitionState {
    /// Lays a delta (taken after this state, of the same partition) over it.
    pub fn apply(&mut self, delta: PartitionState) -> Result<(), String> {
        self.position = delta.position;
        self.max_seen = delta.max_seen;
        self.snapshot
            .apply(delta.snapshot)
            .map_err(|e| e.to_string())?;
        match (&mut self.casebook, delta.casebook) {
            (Some(base), Some(cases)) => base.apply(cases).map_err(|e| e.to_string()),
            (None, Some(_)) => Err("a delta carries cases its base does not have".into()),
            (_, None) => Ok(()),
        }
    }
}

/// A record to write: key, payload, headers.
pub type StateRecord = (String, Vec<u8>, Vec<(&'static str, String)>);

/// The key of a partition's state records.
pub fn key(group: &str, topic: &str, partition: i32) -> String {
    format!("{group}|{topic}|{partition}")
}

/// The records carrying `state`: a full snapshot, or (`follows` = the epoch it
/// follows) a delta.
pub fn encode(
    group: &str,
    topic: &str,
    partition: i32,
    epoch: u64,
    follows: Option<u64>,
    state: &PartitionState,
) -> Vec<StateRecord> {
    // Written straight into chunk-sized buffers: no growing (and re-copying) one
    // body of hundreds of megabytes, no second copy to cut it.
    let mut writer = ChunkWriter::default();
    postcard::to_io(state, &mut writer).expect("state always serialises");
    let chunks = writer.chunks;
    let n = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut headers = vec![
                ("sunlight.state.epoch", epoch.to_string()),
                ("sunlight.state.chunk", i.to_string()),
                ("sunlight.state.chunks", n.to_string()),
                (ENCODING_HEADER, POSTCARD_V5.to_string()),
            ];
            if let Some(previous) = follows {
                headers.push(("sunlight.state.follows", previous.to_string()));
            }
            (key(group, topic, partition), c, headers)
        })
        .collect()
}

/// The header naming a snapshot's encoding (absent: JSON).
const ENCODING_HEADER: &str = "sunlight.state.encoding";
/// Postcard of [`PartitionStateV1`] (casebook format 1; read only).
const POSTCARD_V1: &str = "postcard";
/// Postcard of [`PartitionState`] before evidence copies (read only, in
/// [`with_layout_before_copies`]).
const POSTCARD_V2: &str = "postcard.v2";
/// Postcard of [`PartitionState`] with evidence copies, before warnings' `officials`
/// (read only, in [`with_layout_before_officials`]).
const POSTCARD_V3: &str = "postcard.v3";
/// Postcard of [`PartitionState`] with warnings' `officials`, before sparse patches
/// (read only, in [`with_layout_before_sparse_patches`]).
const POSTCARD_V4: &str = "postcard.v4";
/// Postcard of [`PartitionState`] (casebook format 2, evidence copies, warnings'
/// `officials`, sparse patches: `CellSnapshot::gone`; written).
const POSTCARD_V5: &str = "postcard.v5";

/// Collects written bytes in buffers of at most [`CHUNK_BYTES`] each.
struct ChunkWriter {
    chunks: Vec<Vec<u8>>,
}

impl Default for ChunkWriter {
    fn default() -> Self {
        ChunkWriter {
            chunks: vec![Vec::new()],
        }
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, mut buf: &[u8]) -> std::io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let last = self.chunks.last_mut().expect("one chunk at least");
            if last.len() == CHUNK_BYTES {
                self.chunks.push(Vec::new());
                continue;
            }
            let take = buf.len().min(CHUNK_BYTES - last.len());
            last.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct Epoch {
    chunks: usize,
    parts: BTreeMap<usize, Vec<u8>>,
    /// A delta: the epoch it follows.
    follows: Option<u64>,
    /// `sunlight.state.encoding` (None: JSON).
    encoding: Option<String>,
    /// The state keys of every partition written in this epoch (the header
    /// [`COHORT_HEADER`]; None in records of earlier versions).
    cohort: Option<Vec<String>>,
}

/// A state a key can be restored to: the epoch its chain ends at, and the keys
/// written in that epoch with it (None: not recorded, earlier versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restorable {
    /// The epoch the key's chain ends at.
    pub epoch: u64,
    /// The state keys written in that epoch (None: not recorded).
    pub cohort: Option<Vec<String>>,
}

/// Collects state records and assembles the complete snapshots per key: the
/// newest, or one at an older epoch (a restore needs every partition it owns at one
/// epoch: `pipeline/cut.rs`).
#[derive(Default)]
pub struct Assembler {
    keys: HashMap<String, BTreeMap<u64, Epoch>>,
    /// Per key, the epoch its committed offsets name: kept however many full
    /// snapshots follow it ([`Assembler::keeping`]).
    floors: HashMap<String, u64>,
}

impl Assembler {
    /// An assembler that also keeps, per key, the state at the epoch its commit
    /// names (`floors`), with the full snapshot its chain starts from. A restore may
    /// have to go back there for every partition written with it: one partition's
    /// writes can fail for a while (every later snapshot of the others is then full)
    /// while the commit stays at the last epoch that every partition wrote.
    pub fn keeping(floors: HashMap<String, u64>) -> Assembler {
        Assembler {
            keys: HashMap::new(),
            floors,
        }
    }

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
        e.follows = header("sunlight.state.follows");
        e.encoding = headers
            .iter()
            .find(|(k, _)| k == ENCODING_HEADER)
            .map(|(_, v)| v.clone());
        e.cohort = headers
            .iter()
            .find(|(k, _)| k == COHORT_HEADER)
            .map(|(_, v)| cohort_keys(key, v));
        e.parts.insert(chunk as usize, payload.to_vec());
        if e.is_complete() && e.follows.is_none() {
            // Nothing older than the second newest whole full snapshot is used, nor
            // than the full snapshot at or before the commit's epoch: keep the
            // reader's memory to those, their deltas and newer ones. (The older
            // chains serve a restore that must go back for a partition whose newer
            // snapshots are not whole: `pipeline/cut.rs`.)
            let fulls = || {
                epochs
                    .iter()
                    .rev()
                    .filter(|(_, e)| e.is_complete() && e.follows.is_none())
                    .map(|(n, _)| *n)
            };
            let second = fulls().take(2).last();
            let floor = self
                .floors
                .get(key)
                .and_then(|floor| fulls().find(|n| n <= floor));
            if let Some(oldest_kept) = second.into_iter().chain(floor).min() {
                *epochs = epochs.split_off(&oldest_kept);
            }
        }
    }

    /// The epochs `key` can be restored to, oldest first: each complete full
    /// snapshot and each delta of its unbroken chain of complete deltas.
    pub fn restorable(&self, key: &str) -> Vec<Restorable> {
        let Some(epochs) = self.keys.get(key) else {
            return Vec::new();
        };
        epochs
            .iter()
            .filter(|(epoch, _)| self.chain(epochs, **epoch).is_some())
            .map(|(epoch, e)| Restorable {
                epoch: *epoch,
                cohort: e.cohort.clone(),
            })
            .collect()
    }

    /// The state of `key` at `epoch` (one of [`Assembler::restorable`]), or why it
    /// does not parse or apply.
    pub fn state_at(&self, key: &str, epoch: u64) -> Option<Result<PartitionState, String>> {
        let epochs = self.keys.get(key)?;
        let chain = self.chain(epochs, epoch)?;
        let (base, deltas) = chain.split_first()?;
        let mut state = epochs[base].parse(key, *base);
        for epoch in deltas {
            state = state.and_then(|mut s| {
                s.apply(epochs[epoch].parse(key, *epoch)?).map_err(|err| {
                    format!("state delta {key} epoch {epoch} does not apply: {err}")
                })?;
                Ok(s)
            });
        }
        Some(state)
    }

    /// The newest complete state of `key` with its epoch, or the error of the newest
    /// complete one that does not parse. (A restore chooses among the restorable
    /// states with `pipeline/cut.rs`.)
    pub fn latest(&self, key: &str) -> Option<(u64, Result<PartitionState, String>)> {
        let newest = self.restorable(key).pop()?.epoch;
        Some((newest, self.state_at(key, newest)?))
    }

    /// The epochs whose records make the state at `epoch`, full snapshot first, if
    /// it is complete: a complete full snapshot and an unbroken chain of complete
    /// deltas, each following the one before, ending at `epoch`.
    fn chain(&self, epochs: &BTreeMap<u64, Epoch>, epoch: u64) -> Option<Vec<u64>> {
        let mut chain = vec![epoch];
        let mut at = epochs.get(&epoch)?;
        loop {
            if !at.is_complete() {
                return None;
            }
            let Some(previous) = at.follows else {
                chain.reverse();
                return Some(chain);
            };
            // Epochs only grow along a chain (a loop would be another writer's).
            if previous >= *chain.last()? {
                return None;
            }
            chain.push(previous);
            at = epochs.get(&previous)?;
        }
    }
}

/// The header listing the partitions written in a snapshot's epoch
/// (`topic:partition,...`): a restore takes partitions written together at one
/// epoch together, since entity buckets and officials hold several partitions'
/// events (`pipeline/cut.rs`).
pub const COHORT_HEADER: &str = "sunlight.state.cohort";

/// The value of [`COHORT_HEADER`] for these partitions.
pub fn cohort_value(partitions: &[(String, i32)]) -> String {
    partitions
        .iter()
        .map(|(topic, partition)| format!("{topic}:{partition}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The state keys a [`COHORT_HEADER`] value names, in the group of `key` (a record
/// of that group carries it).
fn cohort_keys(key: &str, value: &str) -> Vec<String> {
    // `group|topic|partition`: topic names cannot hold `|`, partitions are numbers.
    let group = key.rsplitn(3, '|').nth(2).unwrap_or_default();
    value
        .split(',')
        .filter_map(|entry| {
            let (topic, partition) = entry.rsplit_once(':')?;
            Some(self::key(group, topic, partition.parse().ok()?))
        })
        .collect()
}

impl Epoch {
    fn is_complete(&self) -> bool {
        self.chunks > 0 && (0..self.chunks).all(|i| self.parts.contains_key(&i))
    }

    fn parse(&self, key: &str, epoch: u64) -> Result<PartitionState, String> {
        let body: Vec<u8> = (0..self.chunks)
            .flat_map(|i| self.parts[&i].iter().copied())
            .collect();
        let parsed = match self.encoding.as_deref() {
            None => serde_json::from_slice(&body).map_err(|err| err.to_string()),
            Some(POSTCARD_V5) => postcard::from_bytes(&body).map_err(|err| err.to_string()),
            Some(POSTCARD_V4) => with_layout_before_sparse_patches(|| postcard::from_bytes(&body))
                .map_err(|err| err.to_string()),
            Some(POSTCARD_V3) => with_layout_before_officials(|| postcard::from_bytes(&body))
                .map_err(|err| err.to_string()),
            Some(POSTCARD_V2) => with_layout_before_copies(|| postcard::from_bytes(&body))
                .map_err(|err| err.to_string()),
            Some(POSTCARD_V1) => {
                with_layout_before_copies(|| postcard::from_bytes::<PartitionStateV1>(&body))
                    .map(Into::into)
                    .map_err(|err| err.to_string())
            }
            Some(other) => Err(format!("unknown encoding {other:?}")),
        };
        parsed.map_err(|err| format!("state snapshot {key} epoch {epoch} does not parse: {err}"))
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
        for (k, p, h) in encode("g", "t", 3, 10, None, &s) {
            a.add(&k, &headers(&h), &p);
        }
        let newer = PartitionState {
            position: 99,
            ..s.clone()
        };
        let records = encode("g", "t", 3, 20, None, &newer);
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
            vec![10, 20],
            "the full snapshot before the newest is kept (a restore may go back to it)"
        );
        // An older snapshot completing late (a slow writer) changes nothing but
        // which older one is kept.
        for (k, p, h) in encode("g", "t", 3, 15, None, &s) {
            a.add(&k, &headers(&h), &p);
        }
        assert_eq!(a.latest("g|t|3").unwrap().0, 20);
        assert_eq!(
            a.keys["g|t|3"].keys().copied().collect::<Vec<_>>(),
            vec![15, 20],
            "nothing older than the second newest full snapshot"
        );
        assert_eq!(a.latest("g|t|4"), None);
    }

    /// Snapshots are written as postcard; JSON ones without the encoding header
    /// (earlier versions) still read, and an unknown encoding is an error.
    #[test]
    fn postcard_is_written_and_json_from_earlier_versions_still_reads() {
        let mut s = state();
        s.snapshot.officials.push(official("o1", 5));
        let records = encode("g", "t", 1, 10, None, &s);
        assert!(
            records[0]
                .2
                .contains(&(ENCODING_HEADER, POSTCARD_V5.to_string()))
        );
        assert_eq!(
            postcard::from_bytes::<PartitionState>(&records[0].1).unwrap(),
            s
        );
        let mut a = Assembler::default();
        let json = serde_json::to_vec(&s).unwrap();
        let legacy = [
            ("sunlight.state.epoch".to_string(), "11".to_string()),
            ("sunlight.state.chunk".to_string(), "0".to_string()),
            ("sunlight.state.chunks".to_string(), "1".to_string()),
        ];
        a.add("g|t|1", &legacy, &json);
        assert_eq!(a.latest("g|t|1"), Some((11, Ok(s.clone()))));
        let mut other = legacy.to_vec();
        other[0].1 = "12".into();
        other.push((ENCODING_HEADER.to_string(), "cbor".to_string()));
        a.add("g|t|1", &other, &json);
        let (epoch, err) = a.latest("g|t|1").unwrap();
        assert_eq!(epoch, 12);
        assert_eq!(
            err.unwrap_err(),
            "state snapshot g|t|1 epoch 12 does not parse: unknown encoding \"cbor\""
        );
    }

    /// A state record of an earlier version (encoding `postcard`, casebook format 1)
    /// reads into the current types (no conditions, no code history), restores, and
    /// a delta written since (`postcard.v2`) lays over it.
    #[test]
    fn format_1_postcard_records_read_into_the_current_types() {
        use sunlight_core::casework::snapshot::{
            BookSnapshot, OfficialCases, TrackedSnapshot, WarningSnapshot,
        };
        use sunlight_core::casework::snapshot_v1::{
            BookSnapshotV1, OfficialCasesV1, TrackedSnapshotV1, WarningSnapshotV1,
        };
        let base = state();
        let warning = WarningSnapshotV1 {
            warning_id: "w1".into(),
            rule_id: "burst".into(),
            rule_version: 1,
            key: vec![("counterparty".into(), "C1".into())],
            level: "red".into(),
            trigger_event_id: "e1".into(),
            times: [1, 2, 3, 4],
            measures: vec![("count".into(), Some(5), None)],
            evidence: vec!["e1".into()],
            evidence_total: 5,
            title: "five".into(),
            trigger_source: 3,
            scope: (Some("north".into()), None),
        };
        let old = PartitionStateV1 {
            position: 42,
            max_seen: 7,
            snapshot: base.snapshot.clone(),
            casebook: Some(CasebookSnapshotV1 {
                format: 1,
                officials: vec![OfficialCasesV1 {
                    official_id: "o1".into(),
                    source: 3,
                    book: Some(BookSnapshotV1 {
                        region: Some("north".into()),
                        org_unit: None,
                        open: vec!["w1".into()],
                        code: Some("red".into()),
                    }),
                    warnings: vec![TrackedSnapshotV1 {
                        warning,
                        pushed_at: 10,
                        status: "pushed".into(),
                        history: vec![("pushed".into(), "sunlight".into(), String::new(), 10)],
                        case_id: "w1".into(),
                        escalation: None,
                        closed_at: None,
                    }],
                    cases: vec![(
                        ("burst".into(), vec![("counterparty".into(), "C1".into())]),
                        "w1".into(),
                        vec!["w1".into()],
                    )],
                    suppressions: Vec::new(),
                    closed: Vec::new(),
                    outcomes: Vec::new(),
                }],
            }),
        };
        let body = postcard::to_stdvec(&old).unwrap();
        let h = |epoch: u64| {
            headers(&[
                ("sunlight.state.epoch", epoch.to_string()),
                ("sunlight.state.chunk", "0".to_string()),
                ("sunlight.state.chunks", "1".to_string()),
                (ENCODING_HEADER, POSTCARD_V1.to_string()),
            ])
        };
        let mut a = Assembler::default();
        a.add("g|t|1", &h(10), &body);
        let expected_official = OfficialCases {
            official_id: "o1".into(),
            source: 3,
            book: Some(BookSnapshot {
                region: Some("north".into()),
                org_unit: None,
                open: vec!["w1".into()],
                code: Some("red".into()),
            }),
            warnings: vec![TrackedSnapshot {
                warning: WarningSnapshot {
                    warning_id: "w1".into(),
                    rule_id: "burst".into(),
                    rule_version: 1,
                    key: vec![("counterparty".into(), "C1".into())],
                    level: "red".into(),
                    trigger_event_id: "e1".into(),
                    times: [1, 2, 3, 4],
                    measures: vec![("count".into(), Some(5), None)],
                    evidence: vec!["e1".into()],
                    evidence_total: 5,
                    title: "five".into(),
                    trigger_source: 3,
                    scope: (Some("north".into()), None),
                    conditions: Vec::new(),
                    evidence_events: Vec::new(),
                    officials: Vec::new(),
                },
                pushed_at: 10,
                status: "pushed".into(),
                history: vec![("pushed".into(), "sunlight".into(), String::new(), 10)],
                case_id: "w1".into(),
                escalation: None,
                closed_at: None,
            }],
            cases: vec![(
                ("burst".into(), vec![("counterparty".into(), "C1".into())]),
                "w1".into(),
                vec!["w1".into()],
            )],
            suppressions: Vec::new(),
            closed: Vec::new(),
            outcomes: Vec::new(),
            code_history: Vec::new(),
        };
        let expected = PartitionState {
            position: 42,
            max_seen: 7,
            snapshot: base.snapshot.clone(),
            casebook: Some(sunlight_core::casework::CasebookSnapshot {
                format: 1,
                officials: vec![expected_official.clone()],
            }),
        };
        let (epoch, read) = a.latest("g|t|1").unwrap();
        assert_eq!((epoch, read.clone()), (10, Ok(expected.clone())));
        let mut book = sunlight_core::casework::Casebook::new(Default::default());
        assert_eq!(
            book.restore(read.unwrap().casebook.as_ref().unwrap()),
            Ok(1)
        );
        let w = &book.warning("w1").unwrap().warning;
        assert_eq!((w.conditions.len(), w.measures.len()), (0, 1));
        assert_eq!(book.code_history("o1"), []);
        // The same bytes read as the current layout would be wrong: the header decides.
        assert_ne!(
            postcard::from_bytes::<PartitionState>(&body).ok(),
            Some(expected.clone())
        );
        // A delta written since (format 2) lays over the format-1 base.
        let mut delta = base.clone();
        delta.position = 50;
        let mut changed = expected_official;
        changed.source = 4;
        delta.casebook = Some(sunlight_core::casework::CasebookSnapshot {
            format: 2,
            officials: vec![changed.clone()],
        });
        for (k, p, h) in encode("g", "t", 1, 20, Some(10), &delta) {
            assert!(h.contains(&(ENCODING_HEADER, POSTCARD_V5.to_string())));
            a.add(&k, &headers(&h), &p);
        }
        let (epoch, got) = a.latest("g|t|1").unwrap();
        let got = got.unwrap();
        assert_eq!((epoch, got.position), (20, 50));
        assert_eq!(
            got.casebook,
            Some(sunlight_core::casework::CasebookSnapshot {
                format: 2,
                officials: vec![changed],
            })
        );
    }

    /// A state with window entries and their evidence copies: written as
    /// `postcard.v3` it reads back whole; the same state as the previous version
    /// wrote it (`postcard.v2`, no copies) reads into the current types with the
    /// copies absent.
    #[test]
    fn evidence_copies_survive_and_records_without_them_still_read() {
        use sunlight_core::time::Timestamp;
        use sunlight_core::{PowerEvent, Warning};
        let pack = sunlight_core::rules::compile_pack(
            "[pack]\nname = \"t\"\nversion = \"1\"\n\
             [[rule]]\nid = \"burst\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\n\
             window = \"1h\"\nfilter = { kind = \"payment\", \"attributes.urgent\" = true }\n\
             red = { count = \">= 2\" }\n",
            std::path::Path::new("."),
            "t",
        )
        .unwrap();
        let mut engine = Engine::new(Arc::new(pack) as Arc<CompiledPack>, EngineConfig::default());
        let mut warnings: Vec<Warning> = Vec::new();
        for i in 0..2 {
            let mut e = PowerEvent::new(
                &format!("e{i}"),
                "o1",
                "payment",
                Timestamp(1_000_000_000 * (i + 1)),
            );
            e.counterparty = Some("C1".into());
            e.amount_cents = Some(100 * (i + 1));
            e.attributes = vec![
                ("urgent".into(), sunlight_core::event::AttrValue::Bool(true)),
                (
                    "memo".into(),
                    sunlight_core::event::AttrValue::Str("x".into()),
                ),
            ];
            engine.ingest(e, &mut warnings);
        }
        engine.flush(&mut warnings);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].evidence_events.len(), 2);
        let mut book = sunlight_core::casework::Casebook::new(Default::default());
        book.admit(
            &warnings[0],
            Timestamp(5_000_000_000),
            &mut sunlight_core::casework::Outputs::default(),
        );
        let mut s = PartitionState {
            position: 2,
            max_seen: 2_000_000_000,
            snapshot: engine.snapshot(|_, _| true),
            casebook: Some(book.snapshot(|_, _| true)),
        };
        // As a sparse patch of a keyed cell would carry it.
        s.snapshot.officials[0].cells[0].gone = Some(vec!["\u{2}C0".into()]);
        // As an entity-keyed rule's warning would carry them.
        s.casebook.as_mut().unwrap().officials[0].warnings[0]
            .warning
            .officials = vec!["o1".into(), "o2".into()];
        let copies = &s.snapshot.officials[0].copies;
        assert_eq!(copies.len(), 1);
        assert_eq!(copies[0].copies.len(), 2);
        let copy = &copies[0].copies[1];
        assert_eq!(
            (
                copy.event_id.as_str(),
                copy.amount_cents,
                copy.attributes.len()
            ),
            ("e1", Some(200), 1),
            "the copy keeps the attribute the rule reads, not the memo"
        );
        let mut a = Assembler::default();
        for (k, p, h) in encode("g", "t", 1, 10, None, &s) {
            a.add(&k, &headers(&h), &p);
        }
        assert_eq!(a.latest("g|t|1"), Some((10, Ok(s.clone()))));

        let old = with_layout_before_copies(|| postcard::to_stdvec(&s)).unwrap();
        assert!(old.len() < postcard::to_stdvec(&s).unwrap().len());
        let h = headers(&[
            ("sunlight.state.epoch", "11".to_string()),
            ("sunlight.state.chunk", "0".to_string()),
            ("sunlight.state.chunks", "1".to_string()),
            (ENCODING_HEADER, POSTCARD_V2.to_string()),
        ]);
        a.add("g|t|1", &h, &old);
        let mut expected = s.clone();
        for o in &mut expected.snapshot.officials {
            o.copies.clear();
            o.cells[0].gone = None;
        }
        for o in &mut expected.casebook.as_mut().unwrap().officials {
            for t in &mut o.warnings {
                t.warning.evidence_events.clear();
            }
        }
        for o in &mut expected.casebook.as_mut().unwrap().officials {
            for t in &mut o.warnings {
                t.warning.officials.clear();
            }
        }
        assert_ne!(expected, s);
        assert_eq!(a.latest("g|t|1"), Some((11, Ok(expected))));

        // The layout before warnings' `officials` (postcard.v3): copies, no officials.
        let v3 = with_layout_before_officials(|| postcard::to_stdvec(&s)).unwrap();
        let h = headers(&[
            ("sunlight.state.epoch", "12".to_string()),
            ("sunlight.state.chunk", "0".to_string()),
            ("sunlight.state.chunks", "1".to_string()),
            (ENCODING_HEADER, POSTCARD_V3.to_string()),
        ]);
        a.add("g|t|1", &h, &v3);
        let mut expected = s.clone();
        expected.casebook.as_mut().unwrap().officials[0].warnings[0]
            .warning
            .officials
            .clear();
        expected.snapshot.officials[0].cells[0].gone = None;
        assert_eq!(a.latest("g|t|1"), Some((12, Ok(expected))));

        // The layout before sparse patches (postcard.v4): no `gone` keys.
        let v4 = with_layout_before_sparse_patches(|| postcard::to_stdvec(&s)).unwrap();
        let h = headers(&[
            ("sunlight.state.epoch", "13".to_string()),
            ("sunlight.state.chunk", "0".to_string()),
            ("sunlight.state.chunks", "1".to_string()),
            (ENCODING_HEADER, POSTCARD_V4.to_string()),
        ]);
        a.add("g|t|1", &h, &v4);
        let mut expected = s.clone();
        expected.snapshot.officials[0].cells[0].gone = None;
        assert_ne!(expected, s);
        assert_eq!(a.latest("g|t|1"), Some((13, Ok(expected))));
    }

    fn official(id: &str, last_source: u64) -> sunlight_core::engine::OfficialSnapshot {
        sunlight_core::engine::OfficialSnapshot {
            id: id.into(),
            scope: None,
            cells: Vec::new(),
            fired: Vec::new(),
            last_source,
            patch: false,
            copies: Vec::new(),
        }
    }

    #[test]
    fn a_full_snapshot_and_its_unbroken_chain_of_deltas_make_the_state() {
        fn add(
            a: &mut Assembler,
            epoch: u64,
            follows: Option<u64>,
            s: &PartitionState,
            drop_last: bool,
        ) {
            let mut records = encode("g", "t", 1, epoch, follows, s);
            if drop_last {
                let (k, p, mut h) = records.pop().unwrap();
                h[2].1 = "2".into();
                records.push((k, p, h));
            }
            for (k, p, h) in records {
                a.add(&k, &headers(&h), &p);
            }
        }
        let mut a = Assembler::default();
        let mut base = state();
        base.snapshot.officials = vec![official("a", 1), official("b", 1)];
        add(&mut a, 10, None, &base, false);
        let mut d1 = state();
        d1.position = 50;
        d1.snapshot.officials = vec![official("c", 5)];
        d1.snapshot.removed = vec!["a".into()];
        add(&mut a, 20, Some(10), &d1, false);
        let mut d2 = state();
        d2.position = 60;
        d2.snapshot.officials = vec![official("b", 6)];
        add(&mut a, 30, Some(20), &d2, false);
        // A delta cut short by a crash, one that follows it, and one that follows
        // an epoch this chain does not have (another writer): none is used.
        let mut stray = state();
        stray.position = 99;
        add(&mut a, 35, Some(30), &stray, true);
        add(&mut a, 36, Some(35), &stray, false);
        add(&mut a, 40, Some(25), &stray, false);
        let (epoch, got) = a.latest("g|t|1").unwrap();
        let got = got.unwrap();
        assert_eq!((epoch, got.position), (30, 60));
        assert_eq!(
            got.snapshot.officials,
            vec![official("b", 6), official("c", 5)]
        );
        assert!(got.casebook.is_some());
        // A newer full snapshot replaces the chain, and the reader forgets it.
        let mut full = state();
        full.position = 70;
        add(&mut a, 50, None, &full, false);
        let (epoch, got) = a.latest("g|t|1").unwrap();
        assert_eq!((epoch, got.unwrap().position), (50, 70));
        // The older chain can still be restored to, at each of its epochs.
        let epochs: Vec<u64> = a.restorable("g|t|1").iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, vec![10, 20, 30, 50]);
        let at_20 = a.state_at("g|t|1", 20).unwrap().unwrap();
        assert_eq!(at_20.position, 50);
        assert_eq!(
            at_20.snapshot.officials,
            vec![official("b", 1), official("c", 5)]
        );
        assert_eq!(a.state_at("g|t|1", 35), None, "cut short");
        assert_eq!(a.state_at("g|t|1", 40), None, "follows what is not there");
        // A delta that does not parse spoils the state (it is behind the commit).
        let (k, _, h) = encode("g", "t", 1, 60, Some(50), &full).remove(0);
        a.add(&k, &headers(&h), b"{");
        let (epoch, got) = a.latest("g|t|1").unwrap();
        assert_eq!(epoch, 60);
        assert!(got.unwrap_err().contains("epoch 60 does not parse"));
    }

    #[test]
    fn the_state_a_commit_names_is_kept_behind_newer_full_snapshots() {
        let key = "g|t|1";
        let read = |mut a: Assembler| {
            let mut delta = state();
            delta.position = 20;
            for (epoch, follows) in [
                (10, None),
                (20, Some(10)),
                (30, None),
                (40, None),
                (50, None),
            ] {
                let s = if follows.is_some() {
                    delta.clone()
                } else {
                    state()
                };
                for (k, p, h) in encode("g", "t", 1, epoch, follows, &s) {
                    a.add(&k, &headers(&h), &p);
                }
            }
            let epochs: Vec<u64> = a.restorable(key).iter().map(|r| r.epoch).collect();
            (epochs, a)
        };
        // Without a commit: the two newest full snapshots.
        assert_eq!(read(Assembler::default()).0, vec![40, 50]);
        // The commit names epoch 20 (a delta): its chain, from the full snapshot at
        // 10, and everything after it stay.
        let (epochs, a) = read(Assembler::keeping(HashMap::from([(key.to_string(), 20)])));
        assert_eq!(epochs, vec![10, 20, 30, 40, 50]);
        assert_eq!(a.state_at(key, 20).unwrap().unwrap().position, 20);
        // A commit on another key keeps nothing more here.
        let other = HashMap::from([("g|t|2".to_string(), 20)]);
        assert_eq!(read(Assembler::keeping(other)).0, vec![40, 50]);
    }

    #[test]
    fn each_snapshot_names_the_partitions_written_with_it() {
        let cohort = cohort_value(&[("in.x".into(), 0), ("in.x".into(), 2), ("y".into(), 1)]);
        assert_eq!(cohort, "in.x:0,in.x:2,y:1");
        let mut a = Assembler::default();
        for (k, p, mut h) in encode("g|1", "in.x", 2, 10, None, &state()) {
            h.push((COHORT_HEADER, cohort.clone()));
            a.add(&k, &headers(&h), &p);
        }
        // Written by an earlier version: no cohort.
        for (k, p, h) in encode("g|1", "in.x", 2, 20, Some(10), &state()) {
            a.add(&k, &headers(&h), &p);
        }
        let keys = ["g|1|in.x|0", "g|1|in.x|2", "g|1|y|1"].map(String::from);
        assert_eq!(
            a.restorable("g|1|in.x|2"),
            vec![
                Restorable {
                    epoch: 10,
                    cohort: Some(keys.to_vec())
                },
                Restorable {
                    epoch: 20,
                    cohort: None
                }
            ]
        );
    }

    #[test]
    fn large_states_are_cut_into_chunks_and_put_back_together() {
        let mut s = state();
        s.snapshot.released = (0..200_000).map(|i| (i, i as i64)).collect();
        let records = encode("g", "t", 0, 1, None, &s);
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
