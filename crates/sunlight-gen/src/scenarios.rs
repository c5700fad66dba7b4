//! Injected misconduct: small groups of events that one default rule should catch.
//! Event ids name the scenario (`SC-burst-17-3`), so a demo viewer can see which
//! warning came from which injected case.

use rand::Rng;
use rand::rngs::SmallRng;
use sunlight_core::PowerEvent;
use sunlight_core::event::AttrValue;
use sunlight_core::time::{NANOS_PER_SECOND, Timestamp};

use crate::{GenConfig, official_name, supplier_name};

const HOUR: i64 = 3_600 * NANOS_PER_SECOND;
const DAY: i64 = 24 * HOUR;

/// The scenario kinds, each with the rule of `rules/default.toml` it is aimed at.
pub const KINDS: [(&str, &str); 24] = [
    ("split", "split-payment"),
    ("burst", "payment-burst"),
    ("duplicate", "duplicate-payment"),
    ("round", "round-amounts"),
    ("off-hours", "off-hours-approvals"),
    ("approve-pay", "approval-then-payment"),
    ("related", "related-party"),
    ("favoured", "favoured-supplier"),
    ("single-bid", "single-bid-awards"),
    ("inflation", "contract-inflation"),
    ("rush-promotions", "rush-promotions"),
    ("self-approval", "self-approval"),
    ("benefits", "exclusive-benefits"),
    ("fuel", "fuel-overfill"),
    ("clustering", "threshold-clustering"),
    ("similar", "similar-amounts"),
    ("deceased", "deceased-beneficiary"),
    ("self-payment", "self-payment"),
    ("near-duplicate", "near-duplicate-payment"),
    ("shared-vehicle", "fuel-shared-vehicle"),
    ("emergency", "emergency-award-unfiled"),
    ("tank", "fuel-exceeds-tank"),
    ("always-wins", "always-wins"),
    ("departure", "promotions-before-departure"),
];

/// The persons `rules/deaths.csv` registers as deceased (all before 2025-12-01).
pub const DECEASED: [&str; 3] = ["P-D00001", "P-D00002", "P-D00003"];

/// The officials that `rules/departures.csv` says leave their post, with the date
/// of departure (as Unix seconds at 00:00 UTC of that date).
pub const DEPARTING: [(u32, i64); 3] = [
    (3, 1_790_726_400),  // 2026-09-30
    (58, 1_794_787_200), // 2026-11-16
    (96, 1_796_083_200), // 2026-12-01
];

/// The officials that `rules/relations.csv` relates to companies, with the company.
pub const RELATED: [(u32, &str); 3] = [
    (7, "Qingshan Trading Co."),
    (42, "Hengtong Construction Ltd."),
    (113, "Mingda Consulting"),
];

/// One scenario per `scenario_every` officials, kinds in rotation, at random times
/// in the second half of the span (so baselines have history).
pub fn inject(config: &GenConfig, rng: &mut SmallRng) -> Vec<PowerEvent> {
    let mut out = Vec::new();
    let count = config.officials / config.scenario_every.max(1);
    let span = i64::from(config.days) * DAY;
    for n in 0..count {
        let kind = KINDS[n as usize % KINDS.len()].0;
        let official = if kind == "related" {
            RELATED[(n as usize / KINDS.len()) % RELATED.len()]
                .0
                .min(config.officials.saturating_sub(1))
        } else if kind == "departure" {
            DEPARTING[(n as usize / KINDS.len()) % DEPARTING.len()]
                .0
                .min(config.officials.saturating_sub(1))
        } else {
            rng.random_range(0..config.officials)
        };
        // Mid-morning Shanghai time (02:00 UTC) on a day in the second half.
        let day = rng
            .random_range(span / DAY / 2..(span / DAY).saturating_sub(20).max(span / DAY / 2 + 1));
        let at = config.start.0 + day * DAY + 2 * HOUR;
        let mut s = Scenario {
            out: &mut out,
            id: format!("SC-{kind}-{n}"),
            official: official_name(official),
            step: 0,
        };
        let payee = supplier_name(rng.random_range(0..2_000));
        // A second official, for the models keyed by an entity rather than one official.
        let other = official_name((official + 1) % config.officials.max(1));
        match kind {
            "split" => {
                for (i, amount) in [4_700_000, 4_600_000].into_iter().enumerate() {
                    s.payment(at + i as i64 * DAY, &payee, amount);
                }
            }
            "burst" => {
                for i in 0..11 {
                    s.payment(
                        at + i * 20 * 60 * NANOS_PER_SECOND,
                        &payee,
                        120_000 + i * 1_357,
                    );
                }
            }
            "duplicate" => {
                // One invoice paid by two officials (the rule is keyed by the invoice).
                for i in 0..2 {
                    let e = s.payment(at + i * 5 * DAY, &payee, 1_234_567);
                    e.attributes[0].1 = AttrValue::Str(format!("INV-DUP-{n}").into());
                    if i == 1 {
                        e.official_id = other.as_str().into();
                    }
                }
            }
            "emergency" => {
                // An emergency award never filed (the filing names another party).
                let e = s.award(at, &payee, 1);
                e.attributes
                    .push(("procedure".into(), AttrValue::Str("emergency".into())));
                let e = s.event(at + 2 * DAY, "procurement_filing");
                e.counterparty = Some(format!("{payee}-BRANCH").into());
            }
            "tank" => {
                // Two fills of one vehicle within 3 hours: 35.5 + 32.0 litres, tank 60.
                for (i, litres) in [35.5, 32.0].into_iter().enumerate() {
                    let e = s.event(at + i as i64 * 3 * HOUR, "fuel");
                    e.attributes.push((
                        "vehicle".into(),
                        AttrValue::Str(format!("V-SC-T{n}").into()),
                    ));
                    e.attributes
                        .push(("volume_l".into(), AttrValue::Float(litres)));
                    e.attributes.push(("tank_l".into(), AttrValue::Int(60)));
                }
            }
            "shared-vehicle" => {
                // One vehicle filled on two officials' cards two hours apart (20 and
                // 18.5 litres: within its tank).
                for (i, litres) in [20.0, 18.5].into_iter().enumerate() {
                    let i = i as i64;
                    let e = s.event(at + i * 2 * HOUR, "fuel");
                    if i == 1 {
                        e.official_id = other.as_str().into();
                    }
                    e.attributes
                        .push(("vehicle".into(), AttrValue::Str(format!("V-SC-{n}").into())));
                    e.attributes
                        .push(("volume_l".into(), AttrValue::Float(litres)));
                    e.attributes.push(("tank_l".into(), AttrValue::Int(60)));
                }
            }
            "round" => {
                // 20,000.00, 23,000.00, 26,000.00: round, and too far apart to be
                // similar amounts.
                for i in 0..3 {
                    s.payment(at + i * 4 * DAY, &payee, 2_000_000 + i * 300_000);
                }
            }
            "off-hours" => {
                for i in 0..3 {
                    // 14:00 UTC is 22:00 in Shanghai.
                    s.approval(at + i * 3 * DAY + 12 * HOUR, &payee, "granted");
                }
            }
            "approve-pay" => {
                s.approval(at, &payee, "granted");
                s.payment(at + DAY, &payee, 880_000);
            }
            "related" => {
                let company = RELATED[(n as usize / KINDS.len()) % RELATED.len()].1;
                s.payment(at, company, 2_560_000);
            }
            "favoured" => {
                for i in 0..12 {
                    let winner = if i == 5 {
                        supplier_name(rng.random_range(0..2_000))
                    } else {
                        payee.clone()
                    };
                    s.award(at + i * 10 * DAY, &winner, 3);
                }
            }
            "single-bid" => {
                for i in 0..3 {
                    s.award(at + i * 30 * DAY, &payee, 1);
                }
            }
            "inflation" => {
                for i in 0..3 {
                    let e = s.event(at + i * 40 * DAY, "contract_change");
                    e.counterparty = Some(payee.as_str().into());
                    e.attributes.push((
                        "contract_id".into(),
                        AttrValue::Str(format!("CT-SC-{n}").into()),
                    ));
                    e.attributes
                        .push(("increase_bp".into(), AttrValue::Int(900)));
                }
            }
            "rush-promotions" => {
                for i in 0..8 {
                    let e = s.event(at + i * 7 * DAY, "appointment");
                    e.counterparty = Some(format!("P-SC-{n}-{i}").into());
                    e.attributes
                        .push(("action".into(), AttrValue::Str("promotion".into())));
                }
            }
            "self-approval" => {
                let official = s.official.clone();
                let e = s.approval(at, &payee, "granted");
                e.attributes[1].1 = AttrValue::Str(official.into());
            }
            "benefits" => {
                for (i, benefit) in ["minimum-living", "housing"].into_iter().enumerate() {
                    let e = s.event(at + i as i64 * 6 * DAY, "subsidy");
                    e.counterparty = Some(format!("P-SC-{n}").into());
                    e.amount_cents = Some(150_000);
                    e.attributes
                        .push(("benefit".into(), AttrValue::Str(benefit.into())));
                    e.attributes
                        .push(("exclusive".into(), AttrValue::Bool(true)));
                }
            }
            "fuel" => {
                let e = s.event(at, "fuel");
                e.attributes
                    .push(("vehicle".into(), AttrValue::Str(format!("V-SC-{n}").into())));
                e.attributes
                    .push(("volume_l".into(), AttrValue::Float(85.5)));
                e.attributes.push(("tank_l".into(), AttrValue::Int(60)));
            }
            "clustering" => {
                for i in 0..5 {
                    let other = supplier_name(rng.random_range(0..2_000));
                    s.payment(at + i * 9 * DAY, &other, 4_910_000 + i * 10_000);
                }
            }
            "similar" => {
                // Three payments to one payee within 4% of each other.
                for (i, amount) in [1_213_500, 1_247_000, 1_262_800].into_iter().enumerate() {
                    s.payment(at + i as i64 * 10 * DAY, &payee, amount);
                }
            }
            "self-payment" => {
                let official = s.official.clone();
                s.payment(at, &official, 380_000);
            }
            "near-duplicate" => {
                // One bill paid twice a week apart, under two invoice numbers.
                s.payment(at, &payee, 3_456_700);
                s.payment(at + 7 * DAY, &payee, 3_458_000);
            }
            "deceased" => {
                // A subsidy still paid to a person registered as deceased.
                let person = DECEASED[(n as usize / KINDS.len()) % DECEASED.len()];
                let e = s.event(at, "subsidy");
                e.counterparty = Some(person.into());
                e.amount_cents = Some(150_000);
                e.attributes
                    .push(("benefit".into(), AttrValue::Str("elderly-care".into())));
                e.attributes
                    .push(("exclusive".into(), AttrValue::Bool(false)));
            }
            "always-wins" => {
                // Six tenders, the same supplier bids in each and wins each.
                for i in 0..6 {
                    let e = s.event(at + i * 20 * DAY, "bid");
                    e.counterparty = Some(payee.as_str().into());
                    e.attributes
                        .push(("outcome".into(), AttrValue::Str("won".into())));
                }
            }
            "departure" => {
                // Five promotions in the 75 days before a known departure (its dates
                // are fixed by rules/departures.csv, whatever the span).
                let leaves =
                    DEPARTING[(n as usize / KINDS.len()) % DEPARTING.len()].1 * NANOS_PER_SECOND;
                for i in 0..5 {
                    let e = s.event(leaves - 75 * DAY + i * 12 * DAY + 2 * HOUR, "appointment");
                    e.counterparty = Some(format!("P-SC-{n}-{i}").into());
                    e.attributes
                        .push(("action".into(), AttrValue::Str("promotion".into())));
                }
            }
            _ => unreachable!("every kind is handled"),
        }
    }
    out
}

struct Scenario<'a> {
    out: &'a mut Vec<PowerEvent>,
    id: String,
    official: String,
    step: u32,
}

impl Scenario<'_> {
    fn event(&mut self, at: i64, kind: &str) -> &mut PowerEvent {
        self.step += 1;
        let id = format!("{}-{}", self.id, self.step);
        let mut e = PowerEvent::new(&id, &self.official, kind, Timestamp(at));
        e.source_system = Some("scenario".into());
        self.out.push(e);
        self.out.last_mut().expect("just pushed")
    }

    fn payment(&mut self, at: i64, payee: &str, amount: i64) -> &mut PowerEvent {
        let id = format!("INV-{}-{}", self.id, self.step + 1);
        let e = self.event(at, "payment");
        e.counterparty = Some(payee.into());
        e.amount_cents = Some(amount);
        e.attributes
            .push(("invoice_no".into(), AttrValue::Str(id.into())));
        e
    }

    fn approval(&mut self, at: i64, applicant_company: &str, decision: &str) -> &mut PowerEvent {
        let e = self.event(at, "approval");
        e.counterparty = Some(applicant_company.into());
        e.attributes
            .push(("decision".into(), AttrValue::Str(decision.into())));
        e.attributes
            .push(("applicant".into(), AttrValue::Str("P-000001".into())));
        e
    }

    fn award(&mut self, at: i64, supplier: &str, bidders: i64) -> &mut PowerEvent {
        let e = self.event(at, "award");
        e.counterparty = Some(supplier.into());
        e.amount_cents = Some(12_000_000);
        e.attributes
            .push(("bidders".into(), AttrValue::Int(bidders)));
        e
    }
}
