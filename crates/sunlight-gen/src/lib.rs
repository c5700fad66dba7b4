//! # sunlight-gen
//!
//! Synthetic power-exercise events for demos, benchmarks and tests: background
//! traffic that looks like real source systems (payments, approvals, appointments,
//! awards, subsidies, fuel cards, contract changes) across many officials, plus
//! injected misconduct [`scenarios`] that the default rule pack should catch.
//!
//! Generation is deterministic for a given [`GenConfig`] (seeded RNG). Background
//! events fall in office hours (08:00-18:00 Asia/Shanghai, Monday to Friday) so the
//! off-hours model only sees the injected cases. Optional arrival disorder and
//! duplicate redelivery exercise the engine's watermark and deduplication.

pub mod departments;
pub mod scenarios;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sunlight_core::PowerEvent;
use sunlight_core::event::AttrValue;
use sunlight_core::time::{Duration, NANOS_PER_SECOND, Timestamp};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Background events (scenario events come on top).
    pub events: u64,
    /// Number of officials (`OF-00000` ...).
    pub officials: u32,
    /// RNG seed: the same config gives the same events.
    pub seed: u64,
    /// First instant (should be a Monday 00:00 UTC for office-hours realism).
    pub start: Timestamp,
    /// Calendar days covered.
    pub days: u32,
    /// Inject misconduct scenarios (one per this many officials; 0 = none).
    pub scenario_every: u32,
    /// Fraction of events delivered twice (redelivery), 0.0..1.0.
    pub duplicate_rate: f64,
    /// Largest arrival delay: events arrive out of order by up to this much event time.
    pub disorder: Duration,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            events: 100_000,
            officials: 1_000,
            seed: 7,
            // Monday 2026-01-05.
            start: Timestamp(1_767_571_200 * NANOS_PER_SECOND),
            days: 365,
            scenario_every: 50,
            duplicate_rate: 0.0,
            disorder: Duration::ZERO,
        }
    }
}

const OFFICE_SECONDS: i64 = 10 * 3600;
const DAY: i64 = 86_400 * NANOS_PER_SECOND;
const SUPPLIERS: u32 = 2_000;

/// Events in arrival order (see [`GenConfig`]).
pub struct Generator {
    config: GenConfig,
    rng: SmallRng,
    next: u64,
    workdays: i64,
    scenario_events: std::vec::IntoIter<PowerEvent>,
    peeked_scenario: Option<PowerEvent>,
    /// Arrival-ordered buffer: (arrival time, sequence) -> event.
    arrivals: BinaryHeap<Reverse<(i64, u64, usize)>>,
    parked: Vec<Option<PowerEvent>>,
    free: Vec<usize>,
    sequence: u64,
    done: bool,
}

impl Generator {
    /// A generator for `config`.
    pub fn new(config: GenConfig) -> Generator {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let workdays = i64::from(config.days) / 7 * 5 + i64::from(config.days % 7).min(5);
        let mut scenario_events = if config.scenario_every > 0 {
            scenarios::inject(&config, &mut rng)
        } else {
            Vec::new()
        };
        scenario_events
            .sort_by(|a, b| (a.occurred_at, &a.event_id).cmp(&(b.occurred_at, &b.event_id)));
        Generator {
            config,
            rng,
            next: 0,
            workdays: workdays.max(1),
            scenario_events: scenario_events.into_iter(),
            peeked_scenario: None,
            arrivals: BinaryHeap::new(),
            parked: Vec::new(),
            free: Vec::new(),
            sequence: 0,
            done: false,
        }
    }

    /// The next event in event-time order (before disorder and duplicates).
    fn next_in_time_order(&mut self) -> Option<PowerEvent> {
        if self.peeked_scenario.is_none() {
            self.peeked_scenario = self.scenario_events.next();
        }
        let background_time =
            (self.next < self.config.events).then(|| self.background_time(self.next));
        match (&self.peeked_scenario, background_time) {
            (Some(s), Some(t)) if s.occurred_at.0 <= t => self.peeked_scenario.take(),
            (Some(_), None) => self.peeked_scenario.take(),
            (_, Some(t)) => {
                let i = self.next;
                self.next += 1;
                Some(self.background(i, Timestamp(t)))
            }
            (None, None) => None,
        }
    }

    /// Office-hours timeline: event `i` of `n` spread evenly over the working time.
    fn background_time(&self, i: u64) -> i64 {
        let total =
            self.workdays as i128 * i128::from(OFFICE_SECONDS) * i128::from(NANOS_PER_SECOND);
        let at = (i128::from(i) * total / i128::from(self.config.events.max(1))) as i64;
        let office = OFFICE_SECONDS * NANOS_PER_SECOND;
        let workday = at / office;
        let calendar_day = workday / 5 * 7 + workday % 5;
        // 00:00-10:00 UTC is 08:00-18:00 in Asia/Shanghai.
        self.config.start.0 + calendar_day * DAY + at % office
    }

    fn background(&mut self, i: u64, at: Timestamp) -> PowerEvent {
        let rng = &mut self.rng;
        let official = rng.random_range(0..self.config.officials);
        let official_id = official_name(official);
        let mut e = PowerEvent::new(&format!("EV-{i:09}"), &official_id, "payment", at);
        e.region = Some(format!("R{:02}", official % 31).into());
        e.org_unit = Some(format!("U{:03}", official % 400).into());
        let supplier = |rng: &mut SmallRng| {
            supplier_name((official * 7 + rng.random_range(0..15)) % SUPPLIERS)
        };
        let roll: f64 = rng.random();
        if roll < 0.45 {
            e.source_system = Some("finance".into());
            e.counterparty = Some(supplier(rng).into());
            let band: f64 = rng.random();
            e.amount_cents = Some(if band < 0.70 {
                rng.random_range(100_001..3_000_000)
            } else if band < 0.73 {
                rng.random_range(4_000_001..5_000_000)
            } else {
                rng.random_range(5_000_001..200_000_000)
            });
            e.attributes.push((
                "invoice_no".into(),
                AttrValue::Str(format!("INV-{i:09}").into()),
            ));
        } else if roll < 0.70 {
            e.kind = "approval".into();
            e.source_system = Some("oa".into());
            e.counterparty = Some(supplier_name(rng.random_range(0..SUPPLIERS)).into());
            let granted = rng.random_bool(0.8);
            e.attributes.push((
                "decision".into(),
                AttrValue::Str(if granted { "granted" } else { "rejected" }.into()),
            ));
            e.attributes.push((
                "applicant".into(),
                AttrValue::Str(format!("P-{:06}", rng.random_range(0..500_000)).into()),
            ));
        } else if roll < 0.75 {
            e.kind = "appointment".into();
            e.source_system = Some("personnel".into());
            e.counterparty = Some(format!("P-{:06}", rng.random_range(0..500_000)).into());
            let action = if rng.random_bool(0.5) {
                "promotion"
            } else {
                "transfer"
            };
            e.attributes
                .push(("action".into(), AttrValue::Str(action.into())));
            e.attributes
                .push(("rank".into(), AttrValue::Int(rng.random_range(1..12))));
        } else if roll < 0.85 {
            e.kind = "award".into();
            e.source_system = Some("procurement".into());
            e.counterparty = Some(supplier_name(rng.random_range(0..SUPPLIERS)).into());
            e.amount_cents = Some(rng.random_range(1_000_000..500_000_000));
            e.attributes
                .push(("bidders".into(), AttrValue::Int(rng.random_range(2..7))));
            e.attributes
                .push(("procedure".into(), AttrValue::Str("open_tender".into())));
        } else if roll < 0.93 {
            e.kind = "subsidy".into();
            e.source_system = Some("civil-affairs".into());
            e.counterparty = Some(format!("P-{:06}", rng.random_range(0..500_000)).into());
            e.amount_cents = Some(rng.random_range(10_000..500_000));
            let benefit =
                ["minimum-living", "disability", "elderly-care", "housing"][rng.random_range(0..4)];
            e.attributes
                .push(("benefit".into(), AttrValue::Str(benefit.into())));
            e.attributes.push((
                "exclusive".into(),
                AttrValue::Bool(benefit == "minimum-living" || benefit == "housing"),
            ));
        } else if roll < 0.98 {
            e.kind = "fuel".into();
            e.source_system = Some("fleet".into());
            e.attributes.push((
                "vehicle".into(),
                AttrValue::Str(format!("V-{:05}", official * 2 + rng.random_range(0..2)).into()),
            ));
            e.attributes.push((
                "volume_l".into(),
                AttrValue::Float(f64::from(rng.random_range(150..600u32)) / 10.0),
            ));
            e.attributes.push(("tank_l".into(), AttrValue::Int(60)));
        } else {
            e.kind = "contract_change".into();
            e.source_system = Some("procurement".into());
            e.counterparty = Some(supplier(rng).into());
            e.attributes.push((
                "contract_id".into(),
                AttrValue::Str(format!("CT-{i:09}").into()),
            ));
            e.attributes.push((
                "increase_bp".into(),
                AttrValue::Int(rng.random_range(10..800)),
            ));
        }
        e
    }

    fn park(&mut self, event: PowerEvent) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.parked[slot] = Some(event);
                slot
            }
            None => {
                self.parked.push(Some(event));
                self.parked.len() - 1
            }
        }
    }
}

impl Iterator for Generator {
    type Item = PowerEvent;

    fn next(&mut self) -> Option<PowerEvent> {
        let disorder = self.config.disorder.0;
        if disorder == 0 && self.config.duplicate_rate == 0.0 {
            return self.next_in_time_order();
        }
        loop {
            // An event may leave once nothing generated later can arrive before it.
            if let Some(Reverse((arrival, _, slot))) = self.arrivals.peek().copied() {
                let horizon = self.arrivals_horizon();
                if self.done || arrival <= horizon {
                    self.arrivals.pop();
                    self.free.push(slot);
                    return self.parked[slot].take();
                }
            } else if self.done {
                return None;
            }
            match self.next_in_time_order() {
                None => self.done = true,
                Some(event) => {
                    let copies = if self.rng.random_bool(self.config.duplicate_rate) {
                        2
                    } else {
                        1
                    };
                    for _ in 0..copies {
                        let delay = if disorder > 0 {
                            self.rng.random_range(0..=disorder)
                        } else {
                            0
                        };
                        let arrival = event.occurred_at.0 + delay;
                        let slot = self.park(event.clone());
                        self.sequence += 1;
                        self.arrivals.push(Reverse((arrival, self.sequence, slot)));
                    }
                }
            }
        }
    }
}

impl Generator {
    /// Everything arriving at or before this instant has been generated.
    fn arrivals_horizon(&mut self) -> i64 {
        if self.peeked_scenario.is_none() {
            self.peeked_scenario = self.scenario_events.next();
        }
        let background = (self.next < self.config.events).then(|| self.background_time(self.next));
        let scenario = self.peeked_scenario.as_ref().map(|e| e.occurred_at.0);
        match (background, scenario) {
            (Some(a), Some(b)) => a.min(b) - 1,
            (Some(a), None) | (None, Some(a)) => a - 1,
            (None, None) => i64::MAX,
        }
    }
}

/// `OF-00042`.
pub fn official_name(index: u32) -> String {
    format!("OF-{index:05}")
}

/// `SUP-0042`.
pub fn supplier_name(index: u32) -> String {
    format!("SUP-{index:04}")
}

/// Writes `events` as JSON lines.
pub fn write_json_lines<W: std::io::Write>(
    events: impl Iterator<Item = PowerEvent>,
    mut out: W,
) -> std::io::Result<u64> {
    let mut n = 0;
    let mut line = String::with_capacity(512);
    for e in events {
        line.clear();
        sunlight_core::codec::json::encode(&e, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GenConfig {
        GenConfig {
            events: 5_000,
            officials: 100,
            days: 60,
            scenario_every: 5,
            ..GenConfig::default()
        }
    }

    #[test]
    fn deterministic_and_in_office_hours_when_ordered() {
        let a: Vec<PowerEvent> = Generator::new(config()).collect();
        let b: Vec<PowerEvent> = Generator::new(config()).collect();
        assert_eq!(a, b);
        assert_eq!(
            a.iter().filter(|e| e.event_id.starts_with("EV-")).count(),
            5_000
        );
        assert!(a.iter().filter(|e| e.event_id.starts_with("SC-")).count() > 20);
        assert!(a.windows(2).all(|w| w[0].occurred_at <= w[1].occurred_at));
        for e in a.iter().filter(|e| e.event_id.starts_with("EV-")) {
            let secs = (e.occurred_at.0 - config().start.0) / NANOS_PER_SECOND;
            let (day, second) = (secs / 86_400, secs % 86_400);
            assert!(day % 7 < 5, "{} falls on a weekend", e.event_id);
            assert!(
                second < OFFICE_SECONDS,
                "{} is outside office hours",
                e.event_id
            );
        }
    }

    #[test]
    fn disorder_stays_within_the_bound_and_duplicates_repeat_events() {
        let disorder = Duration::from_secs(1_800);
        let shuffled: Vec<PowerEvent> = Generator::new(GenConfig {
            disorder,
            duplicate_rate: 0.05,
            ..config()
        })
        .collect();
        let mut max_seen = i64::MIN;
        let mut displaced = 0;
        for e in &shuffled {
            assert!(
                e.occurred_at.0 >= max_seen.saturating_sub(disorder.0),
                "{} is later than the bound",
                e.event_id
            );
            if e.occurred_at.0 < max_seen {
                displaced += 1;
            }
            max_seen = max_seen.max(e.occurred_at.0);
        }
        assert!(displaced > 100, "only {displaced} events out of order");
        let mut ids: Vec<&str> = shuffled.iter().map(|e| e.event_id.as_str()).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        let repeats = before - ids.len();
        assert!(
            (100..500).contains(&repeats),
            "{repeats} duplicates for 5% of ~5,100 events"
        );
    }
}
