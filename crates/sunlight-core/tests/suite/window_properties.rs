//! Property tests: the engine against the brute-force oracle
//! (`sunlight_core::reference_model`) on random events, random arrival orders,
//! duplicates and late events, for every rule kind, and for count windows (`last`)
//! inside time windows, and for rules keyed by an entity (`key`) instead of the
//! official, and for absence timers (`kind = "absence"`).

use crate::common::{at, oracle, run};
use proptest::prelude::*;
use sunlight_core::PowerEvent;
use sunlight_core::time::{Duration, Timestamp};

const PACK: &str = r#"
[pack]
name = "properties"
version = "1"

# o1 leaves at 20s and o2 at 300s (`at(20)`, `at(300)`): see `properties_pack`.
[reference.tables.leaving]
file = "leaving.csv"
key = "official_id"

[[rule]]
id = "count"
version = 1
kind = "aggregate"
title = "{count} payments"
window = "10s"
filter = { kind = "payment" }
yellow = { count = ">= 2" }
red = { count = ">= 4" }
evidence_limit = 3

[[rule]]
id = "sums"
version = 2
kind = "aggregate"
title = "{sum} {avg} {min} {max} to {counterparty}"
window = "7s"
group_by = ["counterparty"]
measures = { sum = "amount_cents", avg = "amount_cents", min = "amount_cents", max = "amount_cents" }
yellow = { sum = ">= 100" }
red = { max = ">= 90", min = "<= 10" }

[[rule]]
id = "distinct"
version = 1
kind = "aggregate"
title = "{distinct} parties"
window = "20s"
measures = { distinct = "counterparty" }
yellow = { distinct = ">= 2" }
red = { distinct = ">= 3" }
cooldown = "5s"

[[rule]]
id = "ratio"
version = 1
kind = "ratio"
title = "{numerator}/{denominator}"
window = "15s"
filter = { kind = "payment" }
group_by = ["counterparty"]
numerator = { amount_cents = { gte = 50 } }
denominator = { amount_cents = { exists = true } }
yellow = { ratio = ">= 0.5", denominator = ">= 2" }

[[rule]]
id = "baseline"
version = 1
kind = "baseline"
title = "{count} vs {expected}"
window = "5s"
baseline = "10s"
filter = { kind = "approval" }
yellow = { count = ">= 2", ratio = ">= 1" }

[[rule]]
id = "sequence"
version = 1
kind = "sequence"
title = "approved then paid {counterparty}"
window = "6s"
first = { kind = "approval" }
then = { kind = ["payment", "approval"] }
on = ["counterparty"]
red = { count = ">= 1" }
evidence_limit = 2

[[rule]]
id = "last3"
version = 1
kind = "aggregate"
title = "last {count}: spread {spread}, {sum} to {counterparty}"
window = "12s"
last = 3
group_by = ["counterparty"]
filter = { kind = "payment" }
measures = { spread = "amount_cents", sum = "amount_cents", min = "amount_cents", max = "amount_cents" }
yellow = { count = ">= 3", spread = "<= 2" }
red = { count = ">= 3", spread = "<= 0.3" }
evidence_limit = 2

# Shares last3's slot (same events, key and measured field): a shorter window and
# count taken from the newest entries of a slot that keeps more.
[[rule]]
id = "last2-sum"
version = 1
kind = "aggregate"
title = "last {count}: {sum} to {counterparty}"
window = "6s"
last = 2
group_by = ["counterparty"]
filter = { kind = "payment" }
measures = { sum = "amount_cents", max = "amount_cents" }
yellow = { count = ">= 2", sum = ">= 100" }
red = { count = ">= 2", max = "<= 20" }

[[rule]]
id = "last2-distinct"
version = 1
kind = "aggregate"
title = "last {count}: {distinct} parties"
window = "30s"
last = 2
measures = { distinct = "counterparty" }
yellow = { count = ">= 2", distinct = "<= 1" }
cooldown = "4s"

# Keyed by an entity, not the official: the payments to one party by any official.
[[rule]]
id = "by-party"
version = 1
kind = "aggregate"
title = "{count} payments to {counterparty} by {distinct} officials"
window = "8s"
key = ["counterparty"]
filter = { kind = "payment" }
measures = { distinct = "official_id" }
yellow = { count = ">= 3" }
red = { distinct = ">= 2" }
cooldown = "3s"
evidence_limit = 3

# An entity key with a count window, and a group_by inside the entity.
[[rule]]
id = "by-party-last"
version = 1
kind = "aggregate"
title = "last {count} {kind} to {counterparty}: {sum}"
window = "20s"
last = 2
key = ["counterparty"]
group_by = ["kind"]
measures = { sum = "amount_cents" }
yellow = { count = ">= 2", sum = ">= 120" }

# A decimal measure (amounts read with one decimal) and a threshold from the
# trigger's own field: the window's sum against the triggering amount.
[[rule]]
id = "over-own"
version = 1
kind = "aggregate"
title = "{sum} to {counterparty}, more than this {count}th payment"
window = "5s"
group_by = ["counterparty"]
filter = { kind = "payment" }
measures = { sum = "amount_cents", decimals = 1 }
yellow = { count = ">= 2", sum = "> amount_cents" }
red = { sum = ">= 150" }

# Absence after an event: an approval of a party not followed by a payment to it
# within 6s (a timer on the watermark).
[[rule]]
id = "unanswered"
version = 1
kind = "absence"
title = "approved {counterparty}, no payment within {window}"
window = "6s"
first = { kind = "approval" }
then = { kind = "payment" }
on = ["counterparty"]
level = "yellow"
cooldown = "3s"

# An absence without shared fields: any approval of the official answers.
[[rule]]
id = "unanswered-any"
version = 1
kind = "absence"
title = "no approval within {window}"
window = "4s"
first = { kind = "other" }
then = { kind = "approval" }
level = "red"

# Absence before an event: a payment with no approval of its party before it.
[[rule]]
id = "absent"
version = 1
kind = "sequence"
title = "paid {counterparty} with no approval before"
window = "5s"
first = { kind = "approval" }
then = { kind = "payment" }
on = ["counterparty"]
red = { count = "== 0" }
cooldown = "2s"

[[rule]]
id = "self"
version = 1
kind = "predicate"
title = "self"
level = "red"
cooldown = "3s"
filter = { kind = "approval", counterparty = { eq_field = "official_id" } }

# Each party's share of its own payments (the denominator keyed by it too).
[[rule]]
id = "ratio-own"
version = 1
kind = "ratio"
title = "{numerator}/{denominator} of {counterparty}'s"
window = "9s"
filter = { kind = "payment" }
group_by = ["counterparty"]
numerator = { amount_cents = { gte = 70 } }
denominator_keyed = true
yellow = { ratio = ">= 0.6", denominator = ">= 2" }
red = { ratio = ">= 1", denominator = ">= 3" }

# Only in the 8s before the official leaves (table `leaving`).
[[rule]]
id = "before-leaving"
version = 1
kind = "aggregate"
title = "{count} approvals before leaving at {leaves_at}"
window = "6s"
filter = { kind = "approval" }
before_date = { table = "leaving", column = "leaves_at", within = "8s" }
yellow = { count = ">= 2" }
red = { count = ">= 4" }
"#;

/// The property pack, with its table of leaving dates written beside it.
fn properties_pack() -> std::sync::Arc<sunlight_core::CompiledPack> {
    static PACK_ONCE: std::sync::OnceLock<std::sync::Arc<sunlight_core::CompiledPack>> =
        std::sync::OnceLock::new();
    PACK_ONCE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let leaves = |secs: i64| at(secs).to_jiff().to_string();
            std::fs::write(
                dir.path().join("leaving.csv"),
                format!(
                    "official_id,leaves_at\no1,{}\no2,{}\n",
                    leaves(20),
                    leaves(300)
                ),
            )
            .unwrap();
            std::sync::Arc::new(
                sunlight_core::rules::compile_pack(PACK, dir.path(), "properties")
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .clone()
}

/// (official, kind, counterparty, amount, whole seconds, sub-second part).
type RawEvent = (u8, u8, Option<u8>, Option<i64>, u8, u16);

/// One random event: few officials, parties and seconds, so windows, peers and
/// keys collide often.
fn event() -> impl Strategy<Value = RawEvent> {
    (
        0u8..2,                       // official
        0u8..3,                       // kind
        proptest::option::of(0u8..3), // counterparty
        proptest::option::of(0i64..100),
        0u8..40, // whole seconds
        0u16..3, // sub-second part: 0 most of the time
    )
}

fn build(raw: &[RawEvent]) -> Vec<PowerEvent> {
    raw.iter()
        .enumerate()
        .map(|(i, &(o, k, c, a, s, sub))| {
            let official = ["o1", "o2"][o as usize];
            let kind = ["payment", "approval", "other"][k as usize];
            let t = Timestamp(at(i64::from(s)).0 + i64::from(sub / 2) * 250_000_000);
            let mut e = PowerEvent::new(&format!("e{i}"), official, kind, t);
            e.counterparty = c.map(|c| ["c1", "c2", "o1"][c as usize].into());
            e.amount_cents = a;
            e
        })
        .collect()
}

/// Arrival order: each event delayed by its own delay, ties by position.
fn arrive(events: &[PowerEvent], delays: &[u8], dups: &[usize]) -> Vec<PowerEvent> {
    let mut keyed: Vec<(i64, usize, PowerEvent)> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                e.occurred_at.0 + i64::from(delays[i % delays.len()]) * 1_000_000_000,
                i,
                e.clone(),
            )
        })
        .collect();
    for (n, d) in dups.iter().enumerate() {
        if let Some(original) = events.get(d % events.len().max(1)) {
            let arrival =
                original.occurred_at.0 + i64::from(delays[(n + 1) % delays.len()]) * 1_000_000_000;
            keyed.push((arrival, events.len() + n, original.clone()));
        }
    }
    keyed.sort_by_key(|(a, i, _)| (*a, *i));
    keyed.into_iter().map(|(_, _, e)| e).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Within the allowed lateness, the engine equals the oracle exactly, and the
    /// warnings do not depend on the arrival order at all.
    #[test]
    fn engine_matches_oracle_within_lateness(
        raw in proptest::collection::vec(event(), 1..60),
        delays in proptest::collection::vec(0u8..=5, 1..20),
        dups in proptest::collection::vec(0usize..60, 0..8),
    ) {
        let pack = properties_pack();
        let lateness = Duration::from_secs(5);
        let events = build(&raw);
        let arrived = arrive(&events, &delays, &dups);
        let got = run(&pack, &arrived, lateness);
        let want = oracle(&pack, &arrived, lateness);
        prop_assert_eq!(&got, &want);
        // Time order with no delay at all gives byte-identical warnings.
        let in_order = arrive(&events, &[0], &[]);
        prop_assert_eq!(&run(&pack, &in_order, lateness), &got);
    }

    /// Beyond the allowed lateness, late events are excluded exactly as the
    /// contract says (`t < max seen - lateness`), and everything else still matches.
    #[test]
    fn engine_matches_oracle_with_late_events(
        raw in proptest::collection::vec(event(), 1..60),
        delays in proptest::collection::vec(0u8..=20, 1..20),
        dups in proptest::collection::vec(0usize..60, 0..8),
        lateness in 0i64..6,
    ) {
        let pack = properties_pack();
        let lateness = Duration::from_secs(lateness);
        let arrived = arrive(&build(&raw), &delays, &dups);
        prop_assert_eq!(run(&pack, &arrived, lateness), oracle(&pack, &arrived, lateness));
    }
}

/// A long seeded stream through the same pack: every rule fires (so the properties
/// above exercise every rule kind), and engine and oracle agree on all of it.
#[test]
fn busy_stream_fires_every_rule_and_matches_the_oracle() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let raw: Vec<_> = (0..3_000)
        .map(|i| {
            (
                rng.random_range(0..2u8),
                rng.random_range(0..3u8),
                rng.random_bool(0.9).then(|| rng.random_range(0..3u8)),
                rng.random_bool(0.9).then(|| rng.random_range(0..100i64)),
                // Time advances slowly with the index so windows slide.
                0u8,
                (i as u16) % 3,
            )
        })
        .collect();
    let mut events = build(&raw);
    for (i, e) in events.iter_mut().enumerate() {
        e.occurred_at = Timestamp(at(i as i64 / 4).0 + e.occurred_at.0 % 1_000_000_000);
    }
    let delays: Vec<u8> = (0..97).map(|_| rng.random_range(0..=5)).collect();
    let dups: Vec<usize> = (0..50).map(|_| rng.random_range(0..3_000)).collect();
    let arrived = arrive(&events, &delays, &dups);
    let pack = properties_pack();
    let lateness = Duration::from_secs(5);
    let got = run(&pack, &arrived, lateness);
    assert_eq!(got, oracle(&pack, &arrived, lateness));
    for rule in [
        "count",
        "sums",
        "distinct",
        "ratio",
        "baseline",
        "sequence",
        "self",
        "last3",
        "last2-distinct",
        "last2-sum",
        "absent",
        "by-party",
        "by-party-last",
        "unanswered",
        "unanswered-any",
        "over-own",
        "ratio-own",
        "before-leaving",
    ] {
        for level in ["yellow", "red"] {
            let n = got
                .iter()
                .filter(|w| w.rule_id == rule && w.level.name() == level)
                .count();
            let possible = !matches!(
                (rule, level),
                (
                    "ratio" | "baseline" | "last2-distinct" | "by-party-last",
                    "red"
                ) | ("sequence" | "self" | "absent" | "unanswered-any", "yellow")
                    | ("unanswered", "red")
            );
            assert_eq!(n > 0, possible, "{rule} {level}: {n} warnings");
        }
    }
}
