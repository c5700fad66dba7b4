//! The default rule pack (`rules/default.toml`), model by model: each fires on the
//! misconduct it describes and stays silent on a near miss. Every case also checks
//! that the engine and the brute-force oracle agree.

use sunlight_core::PowerEvent;
use sunlight_core::event::AttrValue;
use sunlight_core::time::Duration;

use crate::common::{DAY, Ev, HOUR, fired, oracle, pack_file, run};

/// Runs the default pack over the events in time order and returns (rule, level,
/// trigger) of every warning.
fn default_pack(mut events: Vec<PowerEvent>) -> Vec<(String, &'static str, String)> {
    events.sort_by_key(|e| e.occurred_at);
    let pack = pack_file("rules/default.toml");
    let lateness = Duration::from_secs(60);
    let got = run(&pack, &events, lateness);
    assert_eq!(
        got,
        oracle(&pack, &events, lateness),
        "engine and oracle disagree"
    );
    fired(&got)
}

/// Like [`default_pack`], and the officials each warning names (`officials`: set
/// for the rules keyed by an entity).
fn default_pack_officials(mut events: Vec<PowerEvent>) -> Vec<(String, String, Vec<String>)> {
    events.sort_by_key(|e| e.occurred_at);
    let pack = pack_file("rules/default.toml");
    let lateness = Duration::from_secs(60);
    let got = run(&pack, &events, lateness);
    assert_eq!(
        got,
        oracle(&pack, &events, lateness),
        "engine and oracle disagree"
    );
    got.iter()
        .map(|w| {
            (
                w.rule_id.clone(),
                w.official_id.to_string(),
                w.officials.iter().map(ToString::to_string).collect(),
            )
        })
        .collect()
}

fn named(rule: &str, official: &str, officials: &[&str]) -> (String, String, Vec<String>) {
    (
        rule.to_string(),
        official.to_string(),
        officials.iter().map(ToString::to_string).collect(),
    )
}

fn w(rule: &str, level: &'static str, trigger: &str) -> (String, &'static str, String) {
    (rule.to_string(), level, trigger.to_string())
}

fn pay(id: &str, official: &str, secs: i64, payee: &str, cents: i64) -> Ev {
    Ev::new(id, official, "payment", secs)
        .to(payee)
        .amount(cents)
}

#[test]
fn split_payment() {
    let hit = default_pack(vec![
        pay("p1", "o", 0, "C", 4_712_345).build(),
        pay("p2", "o", 29 * DAY, "C", 4_623_456).build(),
    ]);
    assert_eq!(hit, vec![w("split-payment", "red", "p2")]);
    let later = default_pack(vec![
        pay("p1", "o", 0, "C", 4_712_345).build(),
        pay("p2", "o", 30 * DAY + 1, "C", 4_623_456).build(),
    ]);
    assert_eq!(later, vec![]);
    let below = default_pack(vec![
        pay("p1", "o", 0, "C", 4_712_345).build(),
        pay("p2", "o", HOUR, "C", 3_999_999).build(),
    ]);
    assert_eq!(below, vec![]);
}

#[test]
fn threshold_clustering() {
    let mut events: Vec<PowerEvent> = (0..4)
        .map(|i| {
            pay(
                &format!("n{i}"),
                "o",
                i * 10 * DAY,
                &format!("C{i}"),
                4_812_345 + i,
            )
            .build()
        })
        .collect();
    events.push(pay("d1", "o", DAY, "D1", 4_212_345).build());
    assert_eq!(
        default_pack(events.clone()),
        vec![w("threshold-clustering", "yellow", "n3")]
    );
    events.push(pay("d2", "o", 2 * DAY, "D2", 4_312_345).build());
    assert_eq!(
        default_pack(events),
        vec![],
        "4 near the line against 2 further below is a ratio of 2"
    );
}

#[test]
fn duplicate_payment() {
    let hit = default_pack(vec![
        pay("p1", "o", 0, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
        pay("p2", "o", 3 * DAY, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
    ]);
    assert_eq!(hit, vec![w("duplicate-payment", "red", "p2")]);
    let other_payee = default_pack(vec![
        pay("p1", "o", 0, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
        pay("p2", "o", 3 * DAY, "D", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
    ]);
    assert_eq!(other_payee, vec![]);
    // Keyed by the invoice: paid once by each of two officials.
    let two_officials = default_pack_officials(vec![
        pay("p1", "o1", 0, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
        pay("p2", "o2", 3 * DAY, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
    ]);
    assert_eq!(
        two_officials,
        vec![named("duplicate-payment", "o2", &["o1", "o2"])]
    );
    let other_invoice = default_pack(vec![
        pay("p1", "o1", 0, "C", 123_456)
            .s("invoice_no", "INV-9")
            .build(),
        pay("p2", "o2", 3 * DAY, "C", 123_456)
            .s("invoice_no", "INV-10")
            .build(),
    ]);
    assert_eq!(other_invoice, vec![]);
}

#[test]
fn similar_amounts_over_the_last_three_payments() {
    // An unrelated payment first: only the last three count.
    let hit = default_pack(vec![
        pay("p0", "o", 0, "C", 3_333_300).build(),
        pay("p1", "o", DAY, "C", 1_213_500).build(),
        pay("p2", "o", 10 * DAY, "C", 1_247_000).build(),
        pay("p3", "o", 20 * DAY, "C", 1_262_800).build(),
    ]);
    assert_eq!(hit, vec![w("similar-amounts", "yellow", "p3")]);
    // 16% apart, or under 10,000.00, or another payee: silent.
    for last in [
        pay("p3", "o", 20 * DAY, "C", 1_410_000),
        pay("p3", "o", 20 * DAY, "C", 999_999),
        pay("p3", "o", 20 * DAY, "D", 1_262_800),
    ] {
        let near = default_pack(vec![
            pay("p1", "o", DAY, "C", 1_213_500).build(),
            pay("p2", "o", 10 * DAY, "C", 1_247_000).build(),
            last.build(),
        ]);
        assert_eq!(near, vec![]);
    }
}

#[test]
fn near_duplicate_payment_by_amount() {
    // Two invoices, one bill: 34,567.00 then 34,580.00 a week later (0.04% apart).
    let hit = default_pack(vec![
        pay("p1", "o", 0, "C", 3_456_700).build(),
        pay("p2", "o", 7 * DAY, "C", 3_458_000).build(),
    ]);
    assert_eq!(hit, vec![w("near-duplicate-payment", "yellow", "p2")]);
    // 2% apart, 31 days apart, or to another payee: silent.
    for second in [
        pay("p2", "o", 7 * DAY, "C", 3_526_000),
        pay("p2", "o", 31 * DAY, "C", 3_458_000),
        pay("p2", "o", 7 * DAY, "D", 3_458_000),
    ] {
        let near = default_pack(vec![
            pay("p1", "o", 0, "C", 3_456_700).build(),
            second.build(),
        ]);
        assert_eq!(near, vec![]);
    }
}

#[test]
fn self_payment() {
    let hit = default_pack(vec![pay("p1", "OF-1", 0, "OF-1", 380_000).build()]);
    assert_eq!(hit, vec![w("self-payment", "red", "p1")]);
    let other = default_pack(vec![pay("p1", "OF-1", 0, "OF-2", 380_000).build()]);
    assert_eq!(other, vec![]);
}

#[test]
fn round_amounts() {
    let hit = default_pack(vec![
        pay("p1", "o", 0, "C", 1_000_000).build(),
        pay("p2", "o", 5 * DAY, "C", 2_300_000).build(),
        pay("p3", "o", 9 * DAY, "C", 700_000).build(),
    ]);
    assert_eq!(hit, vec![w("round-amounts", "yellow", "p3")]);
    let odd = default_pack(vec![
        pay("p1", "o", 0, "C", 1_000_000).build(),
        pay("p2", "o", 5 * DAY, "C", 2_300_000).build(),
        pay("p3", "o", 9 * DAY, "C", 700_050).build(),
    ]);
    assert_eq!(odd, vec![]);
}

#[test]
fn payment_burst_with_cooldown_and_escalation() {
    let events: Vec<PowerEvent> = (1..=10)
        .map(|i| {
            pay(
                &format!("p{i:02}"),
                "o",
                i * 30 * 60,
                &format!("C{i}"),
                10_001 + i,
            )
            .build()
        })
        .collect();
    // Yellow at the 5th; the 6th-9th are within the 6h cooldown at the same level;
    // the 10th reaches red, which a cooldown never holds back.
    assert_eq!(
        default_pack(events),
        vec![
            w("payment-burst", "yellow", "p05"),
            w("payment-burst", "red", "p10")
        ]
    );
    let spread: Vec<PowerEvent> = (0..5)
        .map(|i| {
            pay(
                &format!("p{i}"),
                "o",
                i * (6 * HOUR) + i64::from(i == 4),
                &format!("C{i}"),
                10_001 + i,
            )
            .build()
        })
        .collect();
    assert_eq!(
        default_pack(spread),
        vec![],
        "the 1st payment is 24h and 1s before the 5th"
    );
}

#[test]
fn payment_burst_counts_same_time_peers_whatever_their_arrival_order() {
    // Five payments at the same instant: every one sees all five (RANGE peers).
    let mut events: Vec<PowerEvent> = (0..5)
        .map(|i| pay(&format!("p{i}"), "o", 0, &format!("C{i}"), 10_001 + i).build())
        .collect();
    events.reverse();
    // The first evaluated (p0) fires; the rest are within the cooldown.
    assert_eq!(
        default_pack(events),
        vec![w("payment-burst", "yellow", "p0")]
    );
}

fn approval(id: &str, official: &str, secs: i64, to: &str, decision: &str) -> Ev {
    Ev::new(id, official, "approval", secs)
        .to(to)
        .s("decision", decision)
        .s("applicant", "P-1")
}

#[test]
fn off_hours_approvals() {
    // 22:00 in Shanghai is 14 hours after at(0) (08:00 local); day 5 is Saturday.
    let hit = default_pack(vec![
        approval("a1", "o", 14 * HOUR, "X1", "rejected").build(),
        approval("a2", "o", DAY + 14 * HOUR, "X2", "rejected").build(),
        approval("a3", "o", 5 * DAY + 2 * HOUR, "X3", "rejected").build(),
    ]);
    assert_eq!(hit, vec![w("off-hours-approvals", "yellow", "a3")]);
    let office = default_pack(vec![
        approval("a1", "o", 14 * HOUR, "X1", "rejected").build(),
        approval("a2", "o", DAY + 14 * HOUR, "X2", "rejected").build(),
        approval("a3", "o", 2 * DAY + 10 * HOUR - 60, "X3", "rejected").build(),
    ]);
    assert_eq!(office, vec![], "17:59 on a Wednesday is office time");
}

#[test]
fn approval_then_payment() {
    let hit = default_pack(vec![
        approval("a1", "o", 0, "C", "granted").build(),
        pay("p1", "o", 72 * HOUR, "C", 880_001).build(),
    ]);
    assert_eq!(hit, vec![w("approval-then-payment", "red", "p1")]);
    let late = default_pack(vec![
        approval("a1", "o", 0, "C", "granted").build(),
        pay("p1", "o", 72 * HOUR + 1, "C", 880_001).build(),
    ]);
    assert_eq!(late, vec![]);
    let rejected = default_pack(vec![
        approval("a1", "o", 0, "C", "rejected").build(),
        pay("p1", "o", HOUR, "C", 880_001).build(),
    ]);
    assert_eq!(rejected, vec![]);
}

#[test]
fn related_party() {
    let hit = default_pack(vec![
        pay("p1", "OF-00007", 0, "Qingshan Trading Co.", 256_001).build(),
    ]);
    assert_eq!(hit, vec![w("related-party", "red", "p1")]);
    let pack = pack_file("rules/default.toml");
    let warnings = run(
        &pack,
        &[pay("p1", "OF-00007", 0, "Qingshan Trading Co.", 256_001).build()],
        Duration::ZERO,
    );
    assert_eq!(
        warnings[0].title,
        "Dealing with Qingshan Trading Co., a related party (spouse is legal representative) of OF-00007"
    );
    let unrelated = default_pack(vec![
        pay("p1", "OF-00008", 0, "Qingshan Trading Co.", 256_001).build(),
    ]);
    assert_eq!(unrelated, vec![]);
}

fn award(id: &str, official: &str, secs: i64, supplier: &str, bidders: i64) -> Ev {
    Ev::new(id, official, "award", secs)
        .to(supplier)
        .i("bidders", bidders)
}

#[test]
fn favoured_supplier() {
    let suppliers = ["S1", "S2", "S1", "S3", "S1"];
    let events: Vec<PowerEvent> = suppliers
        .iter()
        .enumerate()
        .map(|(i, s)| award(&format!("w{i}"), "o", i as i64 * 30 * DAY, s, 3).build())
        .collect();
    assert_eq!(
        default_pack(events),
        vec![w("favoured-supplier", "yellow", "w4")]
    );
    let suppliers = ["S1", "S2", "S1", "S3", "S4"];
    let events: Vec<PowerEvent> = suppliers
        .iter()
        .enumerate()
        .map(|(i, s)| award(&format!("w{i}"), "o", i as i64 * 30 * DAY, s, 3).build())
        .collect();
    assert_eq!(default_pack(events), vec![]);
}

fn bid(id: &str, secs: i64, supplier: &str, outcome: &str) -> PowerEvent {
    Ev::new(id, "o", "bid", secs)
        .to(supplier)
        .s("outcome", outcome)
        .build()
}

#[test]
fn always_wins() {
    // S1 wins each of its 5 bids while S2 loses each of its own: S1's share is of its
    // own bids (the denominator is keyed by the supplier too).
    let mut events: Vec<PowerEvent> = (0..5)
        .map(|i| bid(&format!("b{i}"), i * 30 * DAY, "S1", "won"))
        .collect();
    events.extend((0..5).map(|i| bid(&format!("l{i}"), i * 30 * DAY + 60, "S2", "lost")));
    assert_eq!(default_pack(events), vec![w("always-wins", "yellow", "b4")]);
    // One lost bid of five, or only four bids: silent.
    let outcomes = ["won", "won", "lost", "won", "won"];
    let events: Vec<PowerEvent> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| bid(&format!("b{i}"), i as i64 * 30 * DAY, "S1", o))
        .collect();
    assert_eq!(default_pack(events), vec![]);
    let events: Vec<PowerEvent> = (0..4)
        .map(|i| bid(&format!("b{i}"), i * 30 * DAY, "S1", "won"))
        .collect();
    assert_eq!(default_pack(events), vec![]);
}

#[test]
fn single_bid_awards() {
    let hit = default_pack(
        (0..3)
            .map(|i| award(&format!("w{i}"), "o", i * 50 * DAY, "S", 1).build())
            .collect(),
    );
    assert_eq!(hit, vec![w("single-bid-awards", "yellow", "w2")]);
    let competed = default_pack(
        (0..3)
            .map(|i| {
                award(
                    &format!("w{i}"),
                    "o",
                    i * 50 * DAY,
                    "S",
                    1 + i64::from(i == 1),
                )
                .build()
            })
            .collect(),
    );
    assert_eq!(competed, vec![]);
}

fn change(id: &str, secs: i64, contract: &str, bp: i64) -> PowerEvent {
    Ev::new(id, "o", "contract_change", secs)
        .s("contract_id", contract)
        .i("increase_bp", bp)
        .build()
}

#[test]
fn contract_inflation() {
    let hit = default_pack(vec![
        change("c1", 0, "K", 900),
        change("c2", 200 * DAY, "K", 900),
        change("c3", 400 * DAY, "K", 900),
    ]);
    assert_eq!(hit, vec![w("contract-inflation", "yellow", "c3")]);
    let exactly = default_pack(vec![
        change("c1", 0, "K", 1_000),
        change("c2", 400 * DAY, "K", 1_000),
    ]);
    assert_eq!(exactly, vec![], "20% is not more than 20%");
    // Keyed by the contract: three officials' modifications add up.
    let mut by_three = vec![
        change("c1", 0, "K", 900),
        change("c2", 200 * DAY, "K", 900),
        change("c3", 400 * DAY, "K", 900),
    ];
    for (e, official) in by_three.iter_mut().zip(["o1", "o2", "o3"]) {
        e.official_id = official.into();
    }
    assert_eq!(
        default_pack_officials(by_three.clone()),
        vec![named("contract-inflation", "o3", &["o1", "o2", "o3"])]
    );
    by_three[2].attributes[0].1 = AttrValue::Str("K2".into());
    assert_eq!(default_pack(by_three), vec![], "another contract");
}

fn promotion(id: &str, secs: i64) -> PowerEvent {
    Ev::new(id, "o", "appointment", secs)
        .to(id)
        .s("action", "promotion")
        .build()
}

#[test]
fn rush_promotions() {
    // Baseline: 4 promotions in the 360 days before the 90-day window -> 1 expected.
    let mut events: Vec<PowerEvent> = (0..4)
        .map(|i| promotion(&format!("b{i}"), i * 80 * DAY))
        .collect();
    events.extend((0..5).map(|i| promotion(&format!("r{i}"), 400 * DAY + i * 10 * DAY)));
    assert_eq!(
        default_pack(events),
        vec![w("rush-promotions", "yellow", "r4")]
    );
    // A busier baseline (12 -> 3 expected) makes 5 ordinary.
    let mut events: Vec<PowerEvent> = (0..12)
        .map(|i| promotion(&format!("b{i:02}"), i * 26 * DAY))
        .collect();
    events.extend((0..5).map(|i| promotion(&format!("r{i}"), 400 * DAY + i * 10 * DAY)));
    assert_eq!(default_pack(events), vec![]);
}

#[test]
fn promotions_before_departure() {
    // rules/departures.csv: OF-00058 retires on 2026-11-16 (Asia/Shanghai), i.e. at
    // 2026-11-15T16:00Z; `at(0)` is 2026-03-02T00:00Z.
    let leaves = 1_794_758_400 - 1_772_409_600;
    let promote = |id: &str, official: &str, secs: i64| {
        Ev::new(id, official, "appointment", secs)
            .to(id)
            .s("action", "promotion")
            .build()
    };
    // Two promotions in the year before the window: 0.5 expected in 90 days.
    let history = |official: &str| {
        vec![
            promote("h0", official, leaves - 300 * DAY),
            promote("h1", official, leaves - 200 * DAY),
        ]
    };
    let rush = |official: &str, offsets: &[i64]| {
        let mut events = history(official);
        events.extend(
            offsets
                .iter()
                .enumerate()
                .map(|(i, off)| promote(&format!("p{i}"), official, leaves + off)),
        );
        events
    };
    let before = [-60 * DAY, -40 * DAY, -20 * DAY];
    assert_eq!(
        default_pack(rush("OF-00058", &before)),
        vec![w("promotions-before-departure", "yellow", "p2")]
    );
    // Five: red (a higher level passes the cooldown), and the general surge rule too.
    assert_eq!(
        default_pack(rush(
            "OF-00058",
            &[-80 * DAY, -60 * DAY, -40 * DAY, -20 * DAY, -1]
        )),
        vec![
            w("promotions-before-departure", "yellow", "p2"),
            w("rush-promotions", "yellow", "p4"),
            w("promotions-before-departure", "red", "p4"),
        ]
    );
    // The title names the date and the reason from the table.
    let pack = pack_file("rules/default.toml");
    let events = rush("OF-00058", &before);
    let got = run(&pack, &events, Duration::from_secs(60));
    assert_eq!(
        got[0].title,
        "3 promotions within 90d before leaving on 2026-11-16 (retirement), 3x the usual 0.5"
    );
    // Near misses: an official with no known departure; the same promotions after
    // the date, at the date itself, or more than 90 days before it.
    assert_eq!(default_pack(rush("OF-00059", &before)), vec![]);
    assert_eq!(
        default_pack(rush("OF-00058", &[DAY, 10 * DAY, 20 * DAY])),
        vec![]
    );
    assert_eq!(
        default_pack(rush("OF-00058", &[-60 * DAY, -40 * DAY, 0])),
        vec![]
    );
    assert_eq!(
        default_pack(rush("OF-00058", &[-140 * DAY, -120 * DAY, -91 * DAY])),
        vec![]
    );
}

#[test]
fn self_approval() {
    let hit = default_pack(vec![
        approval("a1", "o", 0, "X", "granted")
            .s("applicant", "o")
            .build(),
    ]);
    // The approval's `applicant` attribute is set twice by the builder; the first wins.
    assert_eq!(hit, vec![]);
    let mut e = approval("a1", "o", 0, "X", "granted").build();
    e.attributes[1].1 = AttrValue::Str("o".into());
    assert_eq!(default_pack(vec![e]), vec![w("self-approval", "red", "a1")]);
    let payee = approval("a2", "o", 0, "o", "granted").build();
    assert_eq!(
        default_pack(vec![payee]),
        vec![w("self-approval", "red", "a2")]
    );
}

fn subsidy(id: &str, secs: i64, person: &str, benefit: &str) -> PowerEvent {
    Ev::new(id, "o", "subsidy", secs)
        .to(person)
        .amount(150_000)
        .s("benefit", benefit)
        .attr("exclusive", AttrValue::Bool(true))
        .build()
}

#[test]
fn exclusive_benefits() {
    let hit = default_pack(vec![
        subsidy("s1", 0, "P", "housing"),
        subsidy("s2", 20 * DAY, "P", "minimum-living"),
    ]);
    assert_eq!(hit, vec![w("exclusive-benefits", "yellow", "s2")]);
    let apart = default_pack(vec![
        subsidy("s1", 0, "P", "housing"),
        subsidy("s2", 32 * DAY, "P", "minimum-living"),
    ]);
    assert_eq!(apart, vec![]);
    let same = default_pack(vec![
        subsidy("s1", 0, "P", "housing"),
        subsidy("s2", 20 * DAY, "P", "housing"),
    ]);
    assert_eq!(same, vec![]);
    // Keyed by the beneficiary: one subsidy from each of two departments' officials.
    let mut two = vec![
        subsidy("s1", 0, "P", "housing"),
        subsidy("s2", 20 * DAY, "P", "minimum-living"),
    ];
    two[0].official_id = "civil-affairs-1".into();
    two[1].official_id = "housing-bureau-7".into();
    assert_eq!(
        default_pack_officials(two.clone()),
        vec![named(
            "exclusive-benefits",
            "housing-bureau-7",
            &["civil-affairs-1", "housing-bureau-7"]
        )]
    );
    two[1].counterparty = Some("Q".into());
    assert_eq!(default_pack(two), vec![], "another beneficiary");
}

#[test]
fn fuel_shared_vehicle() {
    let fill = |id: &str, official: &str, secs: i64, vehicle: &str| {
        Ev::new(id, official, "fuel", secs)
            .s("vehicle", vehicle)
            .attr("volume_l", AttrValue::Float(20.0))
            .i("tank_l", 60)
            .build()
    };
    assert_eq!(
        default_pack_officials(vec![
            fill("f1", "o1", 0, "V-1"),
            fill("f2", "o2", 3 * HOUR, "V-1"),
        ]),
        vec![named("fuel-shared-vehicle", "o2", &["o1", "o2"])]
    );
    // One card holder twice, two vehicles, or more than 4 hours apart: silent.
    for (official, secs, vehicle) in [
        ("o1", HOUR, "V-1"),
        ("o2", HOUR, "V-2"),
        ("o2", 4 * HOUR + 1, "V-1"),
    ] {
        let quiet = default_pack(vec![
            fill("f1", "o1", 0, "V-1"),
            fill("f2", official, secs, vehicle),
        ]);
        assert_eq!(quiet, vec![], "{official} {secs} {vehicle}");
    }
}

#[test]
fn fuel_exceeds_tank() {
    let fill = |id: &str, official: &str, secs: i64, vehicle: &str, litres: f64| {
        Ev::new(id, official, "fuel", secs)
            .s("vehicle", vehicle)
            .attr("volume_l", AttrValue::Float(litres))
            .i("tank_l", 60)
            .build()
    };
    // 35.5 + 30.25 = 65.75 litres within 3 hours, tank 60; one card holder.
    let events = vec![
        fill("f1", "o1", 0, "V-1", 35.5),
        fill("f2", "o1", 3 * HOUR, "V-1", 30.25),
    ];
    assert_eq!(
        default_pack(events.clone()),
        vec![w("fuel-exceeds-tank", "yellow", "f2")]
    );
    let pack = pack_file("rules/default.toml");
    let got = run(&pack, &events, Duration::from_secs(60));
    let warning = &got[0];
    assert_eq!(
        warning.measures,
        vec![
            (
                sunlight_core::rules::measure::Measure::Count,
                sunlight_core::rules::measure::MeasureValue::Int(2)
            ),
            (
                sunlight_core::rules::measure::Measure::Sum,
                sunlight_core::rules::measure::MeasureValue::Float(65.75)
            ),
        ]
    );
    assert_eq!(
        (warning.conditions[1].threshold, warning.title.as_str()),
        (
            60.0,
            "Vehicle V-1 took 65.75 litres in 2 fills within 4h, more than its tank"
        )
    );
    // The evidence keeps the tank the threshold read.
    let names: Vec<&str> = warning.evidence_events[1]
        .attributes
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["vehicle", "volume_l", "tank_l"]);
    // Exactly the tank, more than 4 hours apart, two vehicles, or one fill: silent.
    for (secs, vehicle, litres) in [
        (3 * HOUR, "V-1", 24.5),
        (4 * HOUR + 1, "V-1", 30.25),
        (3 * HOUR, "V-2", 30.25),
    ] {
        let quiet = default_pack(vec![
            fill("f1", "o1", 0, "V-1", 35.5),
            fill("f2", "o1", secs, vehicle, litres),
        ]);
        assert_eq!(quiet, vec![], "{secs} {vehicle} {litres}");
    }
    // A fill without a tank figure compares with nothing: silent.
    let mut no_tank = fill("f2", "o1", 3 * HOUR, "V-1", 30.25);
    no_tank.attributes.retain(|(n, _)| n != "tank_l");
    assert_eq!(
        default_pack(vec![fill("f1", "o1", 0, "V-1", 35.5), no_tank]),
        vec![]
    );
}

#[test]
fn fuel_overfill() {
    let fill = |id: &str, volume: f64| {
        Ev::new(id, "o", "fuel", 0)
            .s("vehicle", "V-1")
            .attr("volume_l", AttrValue::Float(volume))
            .i("tank_l", 60)
            .build()
    };
    assert_eq!(
        default_pack(vec![fill("f1", 85.5)]),
        vec![w("fuel-overfill", "yellow", "f1")]
    );
    assert_eq!(default_pack(vec![fill("f1", 60.0)]), vec![]);
}

#[test]
fn deceased_beneficiary() {
    // rules/deaths.csv registers P-D00002 on 2025-11-02 (Asia/Shanghai): a subsidy in
    // 2026 is far more than 30 days later.
    let subsidy = |id: &str, to: &str, secs: i64| {
        Ev::new(id, "o", "subsidy", secs)
            .to(to)
            .amount(150_000)
            .build()
    };
    let hit = default_pack(vec![subsidy("s1", "P-D00002", 0)]);
    assert_eq!(hit, vec![w("deceased-beneficiary", "red", "s1")]);
    // 2026-03-02 is `at(0)`: P-D00002's registration + 30 days is 2025-12-02 00:00
    // Shanghai, i.e. 2025-12-01T16:00Z; an event at that instant or before is silent.
    let registered_plus_30d = 1_764_604_800 - 1_772_409_600;
    assert_eq!(
        default_pack(vec![subsidy("s2", "P-D00002", registered_plus_30d)]),
        vec![]
    );
    assert_eq!(
        default_pack(vec![subsidy("s3", "P-D00002", registered_plus_30d + 1)]),
        vec![w("deceased-beneficiary", "red", "s3")]
    );
    // Someone not in the registry, and an approval (not a payment) to a registered one.
    assert_eq!(default_pack(vec![subsidy("s4", "P-000123", 0)]), vec![]);
    assert_eq!(
        default_pack(vec![
            Ev::new("a1", "o", "approval", 0).to("P-D00002").build()
        ]),
        vec![]
    );
}

/// `sunlight gen` injects every model as a scenario, and the default pack catches
/// each with the rule it is aimed at (so the demo shows every model).
#[test]
fn every_generated_scenario_fires_its_rule() {
    use sunlight_gen::scenarios::KINDS;
    use sunlight_gen::{GenConfig, Generator};
    let officials = KINDS.len() as u32 * 2 * 10;
    let events: Vec<PowerEvent> = Generator::new(GenConfig {
        events: 20_000,
        officials,
        scenario_every: 10,
        ..GenConfig::default()
    })
    .collect();
    let pack = pack_file("rules/default.toml");
    let warnings = run(&pack, &events, Duration::from_secs(60));
    for (kind, rule) in KINDS {
        let prefix = format!("SC-{kind}-");
        assert!(
            warnings
                .iter()
                .any(|w| w.rule_id == rule && w.trigger_event_id.starts_with(&prefix)),
            "scenario {kind} does not fire {rule}"
        );
    }
}

#[test]
fn emergency_award_unfiled() {
    let award = |id: &str, secs: i64, procedure: &str| {
        Ev::new(id, "o", "award", secs)
            .to("S")
            .amount(12_000_000)
            .i("bidders", 1)
            .s("procedure", procedure)
            .build()
    };
    let filing = |secs: i64, supplier: &str| {
        Ev::new("f1", "o", "procurement_filing", secs)
            .to(supplier)
            .build()
    };
    // Raised at the deadline (the input runs past it): no filing for S.
    let later = || {
        Ev::new("x", "o2", "payment", 20 * DAY)
            .to("Z")
            .amount(100)
            .build()
    };
    assert_eq!(
        default_pack(vec![
            award("a1", 0, "emergency"),
            filing(3 * DAY, "T"),
            later()
        ]),
        vec![w("emergency-award-unfiled", "yellow", "a1")]
    );
    // Filed in time, an open tender, or the input ends before the deadline: silent.
    assert_eq!(
        default_pack(vec![
            award("a1", 0, "emergency"),
            filing(14 * DAY, "S"),
            later()
        ]),
        vec![]
    );
    assert_eq!(
        default_pack(vec![award("a1", 0, "open_tender"), later()]),
        vec![]
    );
    assert_eq!(default_pack(vec![award("a1", 0, "emergency")]), vec![]);
}
