//! Admission: every decision about whether a decoded event enters the engine, made in
//! one place so that `sunlight replay` and `sunlight run` agree on the same input.
//!
//! In order, an event is
//! 0. **refused as bad input** (`wrong_type`) when its official_id starts with NUL
//!    (U+0000): such keys name the state of entity-keyed rules;
//! 1. **refused as bad input** (`invalid_timestamp`) when it is dated more than
//!    [`EngineConfig::max_future_skew`](super::EngineConfig::max_future_skew) ahead
//!    of the engine's clock: one far-future timestamp would drag the watermark along
//!    and make every later event late;
//! 2. **refused as late** when it is behind its input's restored floor (the watermark
//!    of the snapshot a live partition was restored from: it was late for the
//!    instance that took the snapshot, so it is late here too);
//! 3. **dropped as a duplicate**, **refused as late** (behind the engine's watermark),
//!    **accepted** into pending, or found **unmatched** by every rule.
//!
//! Refusals carry a [`DecodeError`] with the reason and a detail naming the event, so
//! both callers write the same dead letter.

use super::Engine;
use crate::codec::{DecodeError, Reason};
use crate::event::PowerEvent;
use crate::time::Timestamp;
use crate::warning::Warning;

/// What happened to an ingested event.
#[derive(Debug, PartialEq)]
pub enum Admission {
    /// Buffered; it will be evaluated once the watermark passes it.
    Accepted,
    /// No rule looks at events like it; it only moved event time forward.
    Unmatched,
    /// Its `event_id` is already pending or in a window: dropped and counted.
    Duplicate,
    /// Not applied: write it to the dead-letter output with this reason (`late`, or
    /// `invalid_timestamp` for an event dated too far ahead).
    Refused(DecodeError),
    /// A carrier from an entity lane ([`crate::lanes`]): its warning was appended to
    /// the output as it is. It is in no window and does not move event time.
    Carried,
}

impl Admission {
    /// Whether the event was refused as bad input (not late): such a record is not
    /// activity of its input (a partition carrying only bad input must still go idle).
    /// A late record, behind the watermark or a restored floor, is activity, as it
    /// was for the instance that took the snapshot.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Admission::Refused(e) if e.reason != Reason::Late)
    }
}

/// Where an event comes from, as far as admission cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The source tag warnings carry back (see [`Engine::ingest_from`]).
    pub source: u64,
    /// Events before this time are late whatever the engine's watermark says (a live
    /// partition restored from a snapshot: that snapshot's watermark).
    pub floor: Timestamp,
}

impl Origin {
    /// An origin with no floor (a replay, or a partition that was not restored).
    pub fn new(source: u64) -> Origin {
        Origin {
            source,
            floor: Timestamp(i64::MIN),
        }
    }
}

impl Engine {
    /// Admits one event from `origin`; warnings that become final go to `out`.
    pub fn admit(
        &mut self,
        event: PowerEvent,
        origin: Origin,
        out: &mut Vec<Warning>,
    ) -> Admission {
        let time = event.occurred_at.0;
        if super::is_entity_owner(&event.official_id) {
            return Admission::Refused(DecodeError::new(
                Reason::WrongType,
                format!(
                    "event `{}`: official_id must not start with U+0000 (reserved for the state of entity keys)",
                    event.event_id
                ),
            ));
        }
        if event.kind == crate::lanes::CARRIER_KIND {
            return self.carry(&event, origin, out);
        }
        if let Some(skew) = self.config.max_future_skew
            && time > (self.config.clock)().0.saturating_add(skew.0)
        {
            self.stats.future_dated += 1;
            return Admission::Refused(DecodeError::new(
                Reason::InvalidTimestamp,
                format!(
                    "occurred_at {} is more than {skew} ahead of this engine's clock (max_future_skew)",
                    event.occurred_at
                ),
            ));
        }
        if time < origin.floor.0 {
            self.stats.late += 1;
            return Admission::Refused(DecodeError::new(
                Reason::Late,
                format!(
                    "event `{}` at {} is behind the watermark {} its input was restored at (allowed lateness {})",
                    event.event_id, event.occurred_at, origin.floor, self.config.allowed_lateness
                ),
            ));
        }
        self.enter(event, origin.source, out)
    }

    /// Emits the warning a carrier holds, whatever the watermark (its entity lane
    /// decided it; a repeat is the casebook's to recognise).
    fn carry(&mut self, event: &PowerEvent, origin: Origin, out: &mut Vec<Warning>) -> Admission {
        if !self.pack.lane.emits_carried() {
            return Admission::Refused(DecodeError::new(
                Reason::WrongType,
                format!(
                    "carrier `{}` reached the lane `{}`: carriers go to the input of the officials lane (`--lane officials`)",
                    event.event_id, self.pack.lane
                ),
            ));
        }
        match crate::lanes::carried_warning(event) {
            Ok(mut warning) => {
                warning.trigger_source = origin.source;
                self.stats.carried += 1;
                out.push(warning);
                Admission::Carried
            }
            Err(detail) => Admission::Refused(DecodeError::new(Reason::WrongType, detail)),
        }
    }

    /// The dead-letter reason for an event behind the watermark.
    pub(super) fn late_error(&self, event: &PowerEvent) -> DecodeError {
        let watermark = self.watermark().map(|w| w.to_string()).unwrap_or_default();
        DecodeError::new(
            Reason::Late,
            format!(
                "event `{}` at {} is behind the watermark {watermark} (allowed lateness {})",
                event.event_id, event.occurred_at, self.config.allowed_lateness
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::engine::snapshot::tests::default_pack;
    use crate::time::Duration;

    const DAY: i64 = 86_400 * 1_000_000_000;

    /// The engine's clock: day 10.
    fn day_ten() -> Timestamp {
        Timestamp(10 * DAY)
    }

    fn engine(max_future_skew: Option<Duration>) -> Engine {
        Engine::new(
            default_pack(),
            EngineConfig {
                clock: day_ten,
                max_future_skew,
                ..EngineConfig::default()
            },
        )
    }

    fn payment(id: &str, day: i64) -> PowerEvent {
        let mut e = PowerEvent::new(id, "o1", "payment", Timestamp(day * DAY));
        e.amount_cents = Some(100);
        e
    }

    fn refused(admission: Admission) -> (Reason, String) {
        match admission {
            Admission::Refused(e) => (e.reason, e.detail),
            other => panic!("refused, not {other:?}"),
        }
    }

    #[test]
    fn an_event_beyond_the_future_skew_is_bad_input_and_moves_nothing() {
        let mut engine = engine(Some(Duration::from_secs(86_400)));
        let mut out = Vec::new();
        assert_eq!(
            engine.ingest(payment("p1", 11), &mut out),
            Admission::Accepted
        );
        let admission = engine.ingest(payment("p2", 12), &mut out);
        assert!(admission.is_bad_input());
        assert_eq!(
            refused(admission),
            (
                Reason::InvalidTimestamp,
                "occurred_at 1970-01-13T00:00:00Z is more than 1d ahead of this engine's clock (max_future_skew)".to_string()
            )
        );
        assert_eq!(engine.max_seen(), Some(Timestamp(11 * DAY)));
        assert_eq!(engine.stats().future_dated, 1);
        // Without a limit any date is admitted.
        let mut open = self::engine(None);
        assert_eq!(
            open.ingest(payment("p2", 400), &mut out),
            Admission::Accepted
        );
    }

    #[test]
    fn an_event_behind_its_inputs_restored_floor_is_late() {
        let mut engine = engine(None);
        let mut out = Vec::new();
        let origin = Origin {
            source: 7,
            floor: Timestamp(5 * DAY),
        };
        let admission = engine.admit(payment("p1", 4), origin, &mut out);
        assert!(!admission.is_bad_input());
        assert_eq!(
            refused(admission),
            (
                Reason::Late,
                "event `p1` at 1970-01-05T00:00:00Z is behind the watermark 1970-01-06T00:00:00Z its input was restored at (allowed lateness 1m)".to_string()
            )
        );
        assert_eq!(engine.stats().late, 1);
        // At the floor it is admitted, and the engine has seen nothing else.
        assert_eq!(
            engine.admit(payment("p2", 5), origin, &mut out),
            Admission::Accepted
        );
        assert_eq!(engine.max_seen(), Some(Timestamp(5 * DAY)));
    }

    #[test]
    fn an_event_behind_the_watermark_is_late_with_the_watermark_named() {
        let mut engine = engine(None);
        let mut out = Vec::new();
        engine.ingest(payment("p1", 3), &mut out);
        assert_eq!(
            refused(engine.ingest(payment("p0", 1), &mut out)),
            (
                Reason::Late,
                "event `p0` at 1970-01-02T00:00:00Z is behind the watermark 1970-01-03T23:59:00Z (allowed lateness 1m)".to_string()
            )
        );
    }
}
