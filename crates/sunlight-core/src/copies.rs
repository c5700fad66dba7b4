//! [`Copies`]: one official's evidence copies, one per retained event, encoded.
//!
//! An event can be in several windows; its copy is kept once, in the queue of the
//! longest-span slot it entered (its *class*), and lives as long as that slot keeps
//! events: a queue evicts copies older than its slot's span, like the slot's own
//! entries, so every entry of the event in any window finds its copy.
//!
//! A queue is one byte buffer of records in event-time order: the time (8 bytes),
//! the body's length (4 bytes) and the body in postcard (id, kind, amount,
//! counterparty, the attributes the pack reads): about 40-60 bytes an event, no
//! allocation per copy, nothing to free at eviction (a head offset moves; the
//! buffer is compacted once the dead prefix is as long as the live part). A push
//! evicts only when the buffer is full, so copies may outlive their span a little
//! (never the other way round); the sweep evicts the rest. Copies are
//! decoded only when a warning fires (one forward pass per queue for all of its
//! evidence, whose times are ascending) or a snapshot is written. Like slot states,
//! each queue counts the copies appended and evicted since the last snapshot mark, so
//! incremental snapshots write only those.

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeSeq, SerializeStruct, Serializer};
use smallvec::SmallVec;

use crate::event::{AttrValue, PowerEvent};
use crate::evidence::EventCopy;

const HEADER: usize = 12;
/// Free bytes below which a push evicts first (a record is 40-100 bytes).
const ROOM: usize = 256;

/// A record body as written: borrowed from the event.
struct Body<'a> {
    id: &'a str,
    kind: &'a str,
    amount: Option<i64>,
    counterparty: Option<&'a str>,
    attributes: &'a [(CompactString, AttrValue)],
    /// Attribute names to keep (sorted); None: all.
    keep: Option<&'a [CompactString]>,
    /// The event's official, for copies of an entity key's windows, whose events
    /// come from several officials: a field of its own (10 bytes for a 8-character
    /// id), read back as the attribute [`OFFICIAL_ATTRIBUTE`].
    official: Option<&'a str>,
}

/// The attribute under which an entity key's copies keep their event's official
/// (a name no event attribute can clash with in practice: it starts with NUL, so
/// it also sorts before every other name). Warnings take it out of their copies and
/// list the officials in `officials`.
pub(crate) const OFFICIAL_ATTRIBUTE: &str = "\u{0}official_id";

impl Body<'_> {
    fn kept(&self) -> impl Iterator<Item = &(CompactString, AttrValue)> {
        self.attributes.iter().filter(|(name, _)| match self.keep {
            Some(k) => k.binary_search(name).is_ok(),
            // A restored copy: its official is in `official`.
            None => name != OFFICIAL_ATTRIBUTE,
        })
    }
}

struct Kept<'a, 'b>(&'b Body<'a>);

impl Serialize for Kept<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.kept().count()))?;
        for pair in self.0.kept() {
            seq.serialize_element(pair)?;
        }
        seq.end()
    }
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Body", 6)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("kind", self.kind)?;
        st.serialize_field("amount", &self.amount)?;
        st.serialize_field("counterparty", &self.counterparty)?;
        st.serialize_field("official", &self.official)?;
        st.serialize_field("attributes", &Kept(self))?;
        st.end()
    }
}

/// A record body as read (the same layout as [`Body`]).
#[derive(serde::Deserialize)]
struct OwnedBody {
    id: CompactString,
    kind: CompactString,
    amount: Option<i64>,
    counterparty: Option<CompactString>,
    official: Option<CompactString>,
    attributes: Vec<(CompactString, AttrValue)>,
}

/// The copies of one class (slot index), in event-time order.
#[derive(Debug, Default)]
pub(crate) struct CopyQueue {
    pub slot: u32,
    buf: Vec<u8>,
    head: usize,
    len: usize,
    /// Appended and evicted since the last snapshot mark (saturating).
    pub appended: u32,
    pub evicted: u32,
}

fn header(buf: &[u8], at: usize) -> (i64, usize) {
    let time = i64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(buf[at + 8..at + 12].try_into().expect("4 bytes"));
    (time, len as usize)
}

impl CopyQueue {
    /// Copies kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    fn append(&mut self, time: i64, body: &Body<'_>) {
        if self.buf.capacity() == 0 {
            // Most queues of entity keys (one invoice, one contract) only ever hold
            // one copy: the first gets a buffer of its exact size, not the 8, 16,
            // 32, 64 bytes of doubling.
            let size =
                postcard::serialize_with_flavor(body, postcard::ser_flavors::Size::default())
                    .expect("copies always encode");
            self.buf.reserve_exact(HEADER + size);
        } else if !self.buf.capacity().is_power_of_two()
            && self.buf.capacity() - self.buf.len() < ROOM
        {
            // A second copy: from here the buffer grows by doubling from a power
            // of two, as if the first had not been exact.
            let to = (self.buf.len() + ROOM).next_power_of_two();
            self.buf.reserve_exact(to - self.buf.len());
        }
        let at = self.buf.len();
        self.buf.extend_from_slice(&time.to_le_bytes());
        self.buf.extend_from_slice(&[0; 4]);
        // Writing into a Vec cannot fail.
        let buf = std::mem::take(&mut self.buf);
        self.buf = postcard::to_extend(body, buf).expect("copies always encode");
        let len = (self.buf.len() - at - HEADER) as u32;
        self.buf[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
        self.len += 1;
        self.appended = self.appended.saturating_add(1);
    }

    /// Drops copies older than `bound` (strictly); whether it dropped any.
    pub fn evict_before(&mut self, bound: i64) -> bool {
        let mut any = false;
        while self.head < self.buf.len() {
            let (time, len) = header(&self.buf, self.head);
            if time >= bound {
                break;
            }
            self.head += HEADER + len;
            self.len -= 1;
            self.evicted = self.evicted.saturating_add(1);
            any = true;
        }
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        } else if self.head >= self.buf.len() - self.head {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        any
    }

    /// Releases spare capacity (the sweep calls this for quiet queues).
    pub fn shrink(&mut self) {
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// The records from the `skip`th on: (time, body bytes).
    fn records(&self, skip: usize) -> impl Iterator<Item = (i64, &[u8])> {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let (time, len) = header(&self.buf, at);
            let body = &self.buf[at + HEADER..at + HEADER + len];
            at += HEADER + len;
            Some((time, body))
        })
        .skip(skip)
    }

    /// The copies from the `skip`th on, every attribute kept (for snapshots).
    pub fn copies_from(&self, skip: usize) -> Vec<EventCopy> {
        self.records(skip)
            .filter_map(|(time, body)| decode(time, body, None))
            .collect()
    }

    /// `from`, evicted count for a patch: the index of the first copy appended since
    /// the mark and the number evicted, or `(0, None)` when the queue must be written
    /// whole (all of it is new, or the counts saturated).
    pub fn patch(&self) -> (usize, Option<u64>) {
        let appended = self.appended as usize;
        if appended >= self.len || self.appended == u32::MAX || self.evicted == u32::MAX {
            return (0, None);
        }
        (self.len - appended, Some(u64::from(self.evicted)))
    }
}

fn decode(time: i64, body: &[u8], keep: Option<&[CompactString]>) -> Option<EventCopy> {
    // A record this build wrote always decodes; a failure would drop one copy only.
    let b: OwnedBody = postcard::from_bytes(body).ok()?;
    let kept =
        |name: &str| keep.is_none_or(|k| k.binary_search_by(|n| n.as_str().cmp(name)).is_ok());
    // The official first, as its name sorts before every other.
    let mut attributes: Vec<(CompactString, AttrValue)> = b
        .official
        .filter(|_| kept(OFFICIAL_ATTRIBUTE))
        .map(|o| {
            (
                CompactString::const_new(OFFICIAL_ATTRIBUTE),
                AttrValue::Str(o),
            )
        })
        .into_iter()
        .collect();
    attributes.extend(b.attributes.into_iter().filter(|(name, _)| kept(name)));
    Some(EventCopy {
        event_id: b.id,
        kind: b.kind,
        occurred_at: time,
        amount_cents: b.amount,
        counterparty: b.counterparty,
        attributes,
    })
}

/// The id in a record body (postcard: a varint length, then the bytes).
fn body_id(body: &[u8]) -> Option<&[u8]> {
    let (mut len, mut shift, mut i) = (0usize, 0u32, 0usize);
    loop {
        let byte = *body.get(i)?;
        len |= usize::from(byte & 0x7f) << shift;
        i += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    body.get(i..i + len)
}

/// One official's copies, by class.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// One inline: an entity key's owner (an invoice, a contract) has one class.
    pub queues: SmallVec<[CopyQueue; 1]>,
}

impl Copies {
    fn queue_mut(&mut self, slot: u32) -> &mut CopyQueue {
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

    /// Keeps the copy of `event` (the attributes in `keep`, sorted) in class `slot`,
    /// first evicting what is older than `bound` when the buffer is full (evicting on
    /// every push would read the cold front of the buffer for each event; this way
    /// the buffer stays within about twice what the span holds, and the sweep evicts
    /// quiet queues).
    pub fn push_event(
        &mut self,
        slot: u32,
        bound: i64,
        event: &PowerEvent,
        keep: &[CompactString],
        official: bool,
    ) {
        let q = self.queue_mut(slot);
        if q.buf.capacity() - q.buf.len() < ROOM {
            q.evict_before(bound);
        }
        q.append(
            event.occurred_at.0,
            &Body {
                id: &event.event_id,
                kind: &event.kind,
                amount: event.amount_cents,
                counterparty: event.counterparty.as_deref(),
                attributes: &event.attributes,
                keep: Some(keep),
                official: official.then_some(event.official_id.as_str()),
            },
        );
    }

    /// Keeps restored copies, whole, in class `slot` among the ones there, in time
    /// order (entities restored into one bucket from several snapshots).
    pub fn merge_copies<'a>(&mut self, slot: u32, copies: impl IntoIterator<Item = &'a EventCopy>) {
        let mut all = match self.queues.iter().position(|q| q.slot == slot) {
            Some(i) => self.queues.remove(i).copies_from(0),
            None => Vec::new(),
        };
        all.extend(copies.into_iter().cloned());
        all.sort_by_key(|c| c.occurred_at);
        for copy in &all {
            self.push_copy(slot, copy);
        }
    }

    /// Keeps a restored copy, whole, in class `slot` (after the ones there).
    pub fn push_copy(&mut self, slot: u32, copy: &EventCopy) {
        self.queue_mut(slot).append(
            copy.occurred_at,
            &Body {
                id: &copy.event_id,
                kind: &copy.kind,
                amount: copy.amount_cents,
                counterparty: copy.counterparty.as_deref(),
                attributes: &copy.attributes,
                keep: None,
                official: copy
                    .attributes
                    .iter()
                    .find_map(|(name, value)| match value {
                        AttrValue::Str(o) if name == OFFICIAL_ATTRIBUTE => Some(o.as_str()),
                        _ => None,
                    }),
            },
        );
    }

    /// The copies of the listed events (`(id, time)`, times ascending), narrowed to
    /// `keep`, in the list's order; events without a copy are left out.
    pub fn find_all(
        &self,
        ids: &[CompactString],
        times: &[i64],
        keep: &[CompactString],
    ) -> Vec<EventCopy> {
        let mut found: Vec<Option<EventCopy>> = vec![None; ids.len()];
        for q in &self.queues {
            let mut want = 0;
            for (time, body) in q.records(0) {
                while want < times.len() && times[want] < time {
                    want += 1;
                }
                if want == times.len() {
                    break;
                }
                if times[want] > time {
                    continue;
                }
                let Some(id) = body_id(body) else { continue };
                // Same time: any of the listed events at this time may be this one.
                for i in (want..times.len()).take_while(|&i| times[i] == time) {
                    if found[i].is_none() && ids[i].as_bytes() == id {
                        found[i] = decode(time, body, Some(keep));
                        break;
                    }
                }
            }
        }
        found.into_iter().flatten().collect()
    }

    /// Drops queues with nothing left; whether any copies remain.
    pub fn retain_nonempty(&mut self) -> bool {
        self.queues.retain(|q| q.len > 0);
        !self.queues.is_empty()
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        let spilled = if self.queues.spilled() {
            self.queues.capacity() * std::mem::size_of::<CopyQueue>()
        } else {
            0
        };
        spilled + self.queues.iter().map(|q| q.buf.capacity()).sum::<usize>()
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
    use crate::time::Timestamp;

    fn event(time: i64, id: &str) -> PowerEvent {
        let mut e = PowerEvent::new(id, "o1", "payment", Timestamp(time));
        e.amount_cents = Some(time * 100);
        e.counterparty = Some("Hengtong Construction Ltd.".into());
        e.attributes = vec![
            ("invoice".into(), AttrValue::Str(format!("INV-{id}").into())),
            ("memo".into(), AttrValue::Str("not read".into())),
        ];
        e
    }

    fn keep() -> Vec<CompactString> {
        vec!["invoice".into()]
    }

    fn ids(copies: &[EventCopy]) -> Vec<&str> {
        copies.iter().map(|c| c.event_id.as_str()).collect()
    }

    #[test]
    fn an_entity_copy_names_its_official_first_and_keeps_it_through_a_restore() {
        let mut c = Copies::default();
        c.push_event(0, 0, &event(10, "a"), &keep(), true);
        let official = (
            CompactString::const_new(OFFICIAL_ATTRIBUTE),
            AttrValue::Str("o1".into()),
        );
        let invoice = ("invoice".into(), AttrValue::Str("INV-a".into()));
        let whole = c.queues[0].copies_from(0);
        assert_eq!(whole[0].attributes, vec![official.clone(), invoice.clone()]);
        let with_official = vec![
            CompactString::const_new(OFFICIAL_ATTRIBUTE),
            "invoice".into(),
        ];
        let found = c.find_all(&["a".into()], &[10], &with_official);
        assert_eq!(found, whole);
        let found = c.find_all(&["a".into()], &[10], &keep());
        assert_eq!(found[0].attributes, vec![invoice]);

        let mut restored = Copies::default();
        restored.push_copy(0, &whole[0]);
        assert_eq!(restored.queues[0].copies_from(0), whole);
        assert_eq!(restored.queues[0].buf, c.queues[0].buf, "the same record");
    }

    #[test]
    fn copies_are_found_by_id_and_time_and_evicted_with_their_class() {
        let mut c = Copies::default();
        for (t, id) in [(10, "a"), (20, "b"), (20, "c")] {
            c.push_event(3, 0, &event(t, id), &keep(), false);
        }
        c.push_event(5, 0, &event(15, "d"), &keep(), false);
        let found = c.find_all(
            &["a".into(), "d".into(), "c".into(), "x".into()],
            &[10, 15, 20, 20],
            &keep(),
        );
        assert_eq!(ids(&found), ["a", "d", "c"]);
        assert_eq!(
            found[2],
            EventCopy {
                event_id: "c".into(),
                kind: "payment".into(),
                occurred_at: 20,
                amount_cents: Some(2000),
                counterparty: Some("Hengtong Construction Ltd.".into()),
                attributes: vec![("invoice".into(), AttrValue::Str("INV-c".into()))],
            }
        );
        // Narrowed further for a rule that reads no attribute.
        assert!(
            c.find_all(&["a".into()], &[10], &[])[0]
                .attributes
                .is_empty()
        );
        // Eviction is per class.
        c.queues[0].evict_before(20);
        c.push_event(3, 20, &event(30, "e"), &keep(), false);
        assert!(c.find_all(&["a".into()], &[10], &keep()).is_empty());
        assert_eq!(ids(&c.find_all(&["d".into()], &[15], &keep())), ["d"]);
        let q = &c.queues[0];
        assert_eq!((q.len(), q.appended, q.evicted), (3, 4, 1));
        assert_eq!(q.patch(), (0, None), "an appended copy went: written whole");
        assert_eq!(ids(&q.copies_from(1)), ["c", "e"]);
        assert_eq!(q.copies_from(0)[0].attributes.len(), 1);
        c.reset_marks();
        c.push_event(3, 0, &event(40, "f"), &keep(), false);
        assert_eq!(c.queues[0].patch(), (3, Some(0)));
        assert!(c.queues[1].evict_before(100));
        assert!(c.retain_nonempty());
        assert_eq!(c.queues.len(), 1);
    }

    #[test]
    fn restored_copies_keep_every_attribute_and_compaction_keeps_order() {
        let mut c = Copies::default();
        let whole = EventCopy {
            event_id: "r".into(),
            kind: "award".into(),
            occurred_at: 5,
            amount_cents: None,
            counterparty: None,
            attributes: vec![
                ("a".into(), AttrValue::Int(-3)),
                ("b".into(), AttrValue::Bool(false)),
                ("c".into(), AttrValue::Float(0.5)),
            ],
        };
        c.push_copy(1, &whole);
        assert_eq!(c.queues[0].copies_from(0), vec![whole.clone()]);
        // One copy: a buffer of exactly its size.
        assert_eq!(c.queues[0].buf.capacity(), c.queues[0].buf.len());
        for t in 6..200 {
            c.push_event(1, t - 50, &event(t, &format!("e{t}")), &keep(), false);
            // A push evicts only when the buffer is full: it holds at most about
            // twice what the span does.
            let q = &c.queues[0];
            assert!(q.len() <= 2 * 51 + 8, "{} copies at {t}", q.len());
            assert_eq!(q.copies_from(q.len() - 1)[0].event_id, format!("e{t}"));
        }
        c.queues[0].evict_before(149);
        let q = &c.queues[0];
        assert_eq!(q.len(), 51);
        let all = q.copies_from(0);
        assert_eq!(all.first().unwrap().event_id, "e149");
        assert_eq!(all.last().unwrap().event_id, "e199");
        // Records here are 77 bytes; the dead prefix never outgrows the live part.
        assert!(
            q.buf.len() - q.head <= 51 * 77,
            "{} live bytes",
            q.buf.len() - q.head
        );
        assert!(
            q.head <= q.buf.len() - q.head,
            "compacted: {} dead bytes",
            q.head
        );
    }
}
