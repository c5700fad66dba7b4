//! Owners: the state keys of the engine's one map. An official's state is keyed by
//! its id; an entity key's windows (`key = [...]` rules) live in buckets of
//! entities, each keyed inside by the entity's values.
//!
//! An entity owner of its own per invoice would cost an official-shaped state per
//! invoice (map entry, cell vector, copy store), where the same rule keyed by the
//! official costs one window state per invoice in its official's table. Buckets
//! make the two alike: [`ENTITY_BUCKETS`] owners per entity key, each holding the
//! windows of the entities whose values hash to it, keyed by those values (and the
//! rule's `group_by`), with one copy store for all of them (BENCHMARKS.md §11).

use compact_str::CompactString;

use crate::event::PowerEvent;
use crate::rules::CompiledPack;

/// Owners (state keys) per entity key: each entity's windows live in one of this
/// many owners, keyed inside by the entity's values, as an official's windows are
/// keyed by payee. Half a million invoices then cost what half a million payees
/// of officials cost: one window state each, not an official-shaped state each
/// (BENCHMARKS.md §11).
/// (1,024 rather than 4,096: the same speed and bytes per event, a smaller map
/// of owners and 13% less peak memory on the standard workload.)
/// Snapshots name buckets by number: changing it leaves the entity state of
/// earlier snapshots where no event finds it.
pub(crate) const ENTITY_BUCKETS: u64 = 1024;
const _: () = assert!(ENTITY_BUCKETS <= 64 * 64);

/// Bits of a live pipeline's source tag below its partition index (the partition's
/// index in the instance's assignment, then the offset).
pub const SOURCE_OFFSET_BITS: u32 = 40;

/// What follows an entity key's tag in the id of one of its buckets (no packed
/// key starts with it: `GroupKey` parts begin with a length below 0x80).
const BUCKET_MARK: char = '\u{80}';

/// The digits of a bucket number (two of them: up to 64 * 64 buckets).
const BUCKET_DIGITS: &[u8; 64] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";

/// The state key of the owner of an event's entity: the entity key's tag (NUL, two
/// characters or the label, NUL), [`BUCKET_MARK`] and the bucket of the entity's
/// values (two digits of their hash); in an entity lane also `/` and the
/// partition index of the event's source tag. `None` if the event lacks one of the
/// fields. Official ids never start with NUL (admission refuses them), so officials
/// and entity buckets share one map without clashing.
///
/// In an entity lane the input is keyed by the entity's values, so each value comes
/// from one partition and each bucket holds one partition's entities: the
/// snapshot of that partition carries it whole. (An entity that comes from two
/// partitions there, e.g. after the re-keyed topic's partition count changed, has
/// two states until its windows pass.) Reading every partition (`Lane::All`), an
/// entity's events may come from several partitions and the bucket stays one; it
/// stays with the partition of the event that created it (the engine sets
/// `last_source` once), so deltas carry only its changed entities. The pipeline
/// writes that partition's snapshot even while it reads nothing after a restore,
/// since other partitions' events change its buckets; all partitions are restored
/// into the one instance.
pub(crate) fn owner_key(
    pack: &CompiledPack,
    key: &crate::rules::EntityKey,
    event: &PowerEvent,
    source: u64,
) -> Option<CompactString> {
    let values = super::evaluate::group_key(event, &key.fields)?;
    Some(bucket_id(pack, key, values.raw(), source))
}

/// The owner of the entity with packed values `values` ([`owner_key`]).
pub(super) fn bucket_id(
    pack: &CompiledPack,
    key: &crate::rules::EntityKey,
    values: &str,
    source: u64,
) -> CompactString {
    let bucket = xxhash_rust::xxh3::xxh3_64(values.as_bytes()) % ENTITY_BUCKETS;
    let mut owner = CompactString::with_capacity(key.tag.len() + 12);
    owner.push_str(&key.tag);
    owner.push(BUCKET_MARK);
    owner.push(char::from(BUCKET_DIGITS[(bucket / 64) as usize]));
    owner.push(char::from(BUCKET_DIGITS[(bucket % 64) as usize]));
    if matches!(pack.lane, crate::lanes::Lane::Entity(_)) {
        use std::fmt::Write;
        let _ = write!(owner, "/{}", source >> SOURCE_OFFSET_BITS);
    }
    owner
}

/// An entity bucket's id with its partition index replaced by `index` (the
/// partition's index in another assignment), or `None` if `id` names none: what a
/// restore into another instance does to source tags, done to the bucket.
pub fn retag_owner(id: &str, index: usize) -> Option<String> {
    if !is_entity_owner(id) {
        return None;
    }
    // The tag ends at the second NUL; a bucket's mark follows it directly (an id of
    // one entity, from snapshots before buckets, has its values there).
    let tag_end = 2 + id[1..].find('\0')?;
    let rest = id[tag_end..].strip_prefix(BUCKET_MARK)?;
    let slash = rest.find('/')?;
    Some(format!("{}/{index}", &id[..id.len() - rest.len() + slash]))
}

/// The entity key of an owner id, and the packed values if the id names one entity
/// (as snapshots before buckets did) rather than a bucket.
pub(super) fn entity_of_owner<'a>(
    pack: &CompiledPack,
    id: &'a str,
) -> Option<(u16, Option<&'a str>)> {
    let index = pack
        .entities
        .iter()
        .position(|e| id.starts_with(e.tag.as_str()))?;
    let rest = &id[pack.entities[index].tag.len()..];
    let values = (!rest.starts_with(BUCKET_MARK)).then_some(rest);
    Some((index as u16, values))
}

/// Whether a state key is an entity bucket (or, in snapshots from before buckets,
/// one entity), not an official.
pub(crate) fn is_entity_owner(key: &str) -> bool {
    key.starts_with('\0')
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::engine::snapshot::tests::{config, default_pack, events};
    use crate::engine::{Engine, Snapshot};
    use crate::lanes::Lane;
    use crate::state::GroupKey;
    use crate::time::Timestamp;

    const PACK: &str = "[pack]\nname = \"t\"\nversion = \"v\"\n\
        [[rule]]\nid = \"dup\"\nversion = 1\nkind = \"aggregate\"\ntitle = \"t\"\nwindow = \"30d\"\n\
        key = [\"attributes.invoice_no\"]\nred = { count = \">= 2\" }\nfilter = { kind = \"payment\" }\n";

    fn pack(lane: &Lane) -> CompiledPack {
        crate::rules::compile_pack_in(PACK, Path::new("."), "t", lane).unwrap()
    }

    fn payment(id: &str, official: &str, invoice: &str, minute: i64) -> PowerEvent {
        let mut e = PowerEvent::new(id, official, "payment", Timestamp(minute * 60_000_000_000));
        e.attributes.push((
            "invoice_no".into(),
            crate::event::AttrValue::Str(invoice.into()),
        ));
        e
    }

    #[test]
    fn an_entity_has_one_bucket_and_an_entity_lane_names_its_partition() {
        let all = pack(&Lane::All);
        let key = &all.entities[0];
        let (a, b) = (
            payment("1", "OF-1", "INV-7", 0),
            payment("2", "OF-2", "INV-7", 1),
        );
        let p3 = 3 << SOURCE_OFFSET_BITS;
        let owner = owner_key(&all, key, &a, 0).unwrap();
        assert_eq!(owner_key(&all, key, &b, p3 | 9), Some(owner.clone()));
        assert!(!owner.is_heap_allocated(), "{owner:?} stays inline");
        assert_eq!(entity_of_owner(&all, &owner), Some((0, None)));
        assert_eq!(
            owner_key(
                &all,
                key,
                &PowerEvent::new("3", "OF-1", "payment", Timestamp(0)),
                0
            ),
            None
        );

        let lane = pack(&Lane::parse("attributes.invoice_no").unwrap());
        let key = &lane.entities[0];
        let in_lane = owner_key(&lane, key, &b, p3 | 9).unwrap();
        assert_eq!(in_lane, format!("{owner}/3"));
        assert_eq!(retag_owner(&in_lane, 12), Some(format!("{owner}/12")));
        assert_eq!(retag_owner(&owner, 12), None, "no partition in its name");
        assert_eq!(retag_owner("OF-1", 12), None, "an official");
        let one_entity = format!("{}\u{5}A\u{80}/2B", key.tag);
        assert_eq!(retag_owner(&one_entity, 12), None, "an id of one entity");
    }

    /// Reading every partition, a bucket stays with the partition that created it,
    /// whichever partitions' events change it (deltas stay small).
    #[test]
    fn a_bucket_stays_with_the_partition_that_created_it() {
        let mut engine = Engine::new(Arc::new(pack(&Lane::All)), config());
        let mut out = Vec::new();
        let p1 = 1 << SOURCE_OFFSET_BITS;
        engine.ingest_from(payment("1", "OF-1", "INV-7", 0), 0, &mut out);
        engine.ingest_from(payment("2", "OF-2", "INV-7", 1), p1, &mut out);
        engine.flush(&mut out);
        assert_eq!(out.len(), 1, "the invoice paid twice, from two partitions");
        let of = |p: u64| {
            let snap = engine.snapshot(move |_, s| s >> SOURCE_OFFSET_BITS == p);
            snap.officials
                .iter()
                .filter(|o| is_entity_owner(&o.id))
                .count()
        };
        assert_eq!((of(0), of(1)), (1, 0));
    }

    #[test]
    fn state_stats_count_entities_not_buckets() {
        let mut engine = Engine::new(Arc::new(pack(&Lane::All)), config());
        let mut out = Vec::new();
        for (i, invoice) in ["INV-1", "INV-2", "INV-3", "INV-1"].iter().enumerate() {
            engine.ingest(payment(&i.to_string(), "OF-1", invoice, i as i64), &mut out);
        }
        engine.flush(&mut out);
        let stats = engine.state_stats();
        // (The official's entry, empty, waits for the next sweep.)
        assert_eq!((stats.officials, stats.entity_keys), (1, 3));
        assert_eq!(stats.retained_events, 4);
        assert_eq!(out.len(), 1, "INV-1 paid twice");
        assert_eq!(out[0].officials, vec!["OF-1"]);
    }

    /// The snapshot as it was before buckets: one owner per entity (tag and values),
    /// whose cells are unkeyed when the rule has no `group_by` beyond the key.
    fn one_owner_per_entity(pack: &CompiledPack, snap: &Snapshot) -> Snapshot {
        use crate::engine::{CellSnapshot, OfficialSnapshot};
        use std::collections::BTreeMap;
        let mut old = snap.clone();
        old.officials.clear();
        for o in &snap.officials {
            let Some((e, None)) = entity_of_owner(pack, &o.id) else {
                old.officials.push(o.clone());
                continue;
            };
            let key = &pack.entities[e as usize];
            let parts = key.fields.len();
            let mut owners: BTreeMap<String, OfficialSnapshot> = BTreeMap::new();
            let mut owner_of_event: BTreeMap<String, String> = BTreeMap::new();
            for cell in &o.cells {
                let keyed = pack.slots[cell.slot as usize].group_by.len() > parts;
                for (k, entries) in &cell.keys {
                    let k = GroupKey::from_raw(k.as_deref().unwrap());
                    let id = format!("{}{}", key.tag, k.prefix(parts));
                    let owner = owners
                        .entry(id.clone())
                        .or_insert_with(|| OfficialSnapshot {
                            id: id.clone(),
                            scope: None,
                            cells: Vec::new(),
                            fired: Vec::new(),
                            last_source: o.last_source,
                            patch: false,
                            copies: Vec::new(),
                        });
                    let at = match owner.cells.iter().position(|c| c.slot == cell.slot) {
                        Some(at) => at,
                        None => {
                            owner.cells.push(CellSnapshot {
                                slot: cell.slot,
                                keys: Vec::new(),
                                evicted: Vec::new(),
                                gone: None,
                            });
                            owner.cells.len() - 1
                        }
                    };
                    let old_key = keyed.then(|| k.raw().to_string());
                    owner.cells[at].keys.push((old_key, entries.clone()));
                    for entry in entries {
                        owner_of_event.insert(entry.id.to_string(), id.clone());
                    }
                }
            }
            for class in &o.copies {
                for copy in &class.copies {
                    let owner = owners
                        .get_mut(&owner_of_event[copy.event_id.as_str()])
                        .unwrap();
                    match owner.copies.iter_mut().find(|c| c.slot == class.slot) {
                        Some(c) => c.copies.push(copy.clone()),
                        None => owner.copies.push(crate::engine::snapshot::CopiesSnapshot {
                            slot: class.slot,
                            evicted: None,
                            copies: vec![copy.clone()],
                        }),
                    }
                }
            }
            for fired in &o.fired {
                let id = format!("{}{}", key.tag, GroupKey::from_raw(&fired.1).prefix(parts));
                owners.get_mut(&id).unwrap().fired.push(fired.clone());
            }
            old.officials.extend(owners.into_values());
        }
        old
    }

    #[test]
    fn a_snapshot_with_one_owner_per_entity_restores_into_buckets_and_continues_exactly() {
        let pack = default_pack();
        assert!(
            pack.entities.len() >= 3,
            "the default pack keys rules by entities"
        );
        let events = events();
        let run = |engine: &mut Engine, from: usize, to: usize, out: &mut Vec<_>| {
            for (i, e) in events[from..to].iter().enumerate() {
                engine.ingest_from(e.clone(), (from + i) as u64, out);
            }
        };
        let mut whole = Engine::new(Arc::clone(&pack), config());
        let mut expected = Vec::new();
        run(&mut whole, 0, events.len(), &mut expected);
        whole.flush(&mut expected);
        assert!(expected.iter().filter(|w| !w.officials.is_empty()).count() > 3);

        let cut = events.len() * 3 / 5;
        let mut first = Engine::new(Arc::clone(&pack), config());
        let mut got = Vec::new();
        run(&mut first, 0, cut, &mut got);
        let snap = first.snapshot(|_, _| true);
        let old = one_owner_per_entity(&pack, &snap);
        let entities = old
            .officials
            .iter()
            .filter(|o| is_entity_owner(&o.id))
            .count();
        assert!(
            entities
                > snap
                    .officials
                    .iter()
                    .filter(|o| is_entity_owner(&o.id))
                    .count()
        );
        assert_eq!(entities, first.state_stats().entity_keys);

        // Restored in two parts (as two partitions' snapshots are), whose entities
        // share buckets: each bucket's copies must end up in time order.
        let (mut a, mut b) = (old.clone(), old.clone());
        a.officials.clear();
        b.officials.clear();
        b.released.clear();
        b.pending.clear();
        for (i, o) in old.officials.iter().enumerate() {
            if i % 2 == 0 { &mut a } else { &mut b }
                .officials
                .push(o.clone());
        }
        let mut second = Engine::new(Arc::clone(&pack), config());
        // (The later part first: its copies are not the older ones.)
        let report = second.restore(&b).unwrap();
        assert_eq!(report.entries_dropped, 0);
        assert_eq!(second.restore(&a).unwrap().entries_dropped, 0);
        assert_eq!(second.snapshot(|_, _| true), snap, "the same buckets");
        run(&mut second, cut, events.len(), &mut got);
        second.flush(&mut got);
        assert_eq!(got, expected);
    }
}
