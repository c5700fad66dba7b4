//! Generated events as the departments' own systems would publish them: the records
//! of four example feeds in `examples/sources/` (finance ledger rows, personnel
//! decisions with Chinese field names, procurement awards as Debezium changes from
//! MySQL, fuel-card transactions). `sunlight demo` publishes these raw records and
//! maps them back with the same mapping files, so the demo shows department data
//! becoming warnings.
//!
//! A record is rendered only when its feed carries everything the event holds
//! (every attribute, in a form the mapping reads back to the same value); other
//! events stay native. Mapping a rendered record gives the event back with:
//! the feed's event id (`ledger:{event_id}` ...), the feed's `source_system`, the
//! time cut to what the feed writes (seconds, minutes or milliseconds), and the
//! feed's extra attributes (the ledger's `channel`, an award's `project`, a fill's
//! `card`, a decision's `document`). Awards are keyed by a hash of the event id, so a
//! re-delivered event is the same award. The OA approvals contract is not among them:
//! its approvals carry `applicant_id` and `table_id`, not the `decision` and
//! `applicant` the default pack's approval models read, so approvals stay native.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use sunlight_core::PowerEvent;
use sunlight_core::event::AttrValue;

/// One department feed: its mapping (the example file's text) and its topic.
#[derive(Debug, Clone, Copy)]
pub struct Feed {
    /// The source's name in its mapping file.
    pub name: &'static str,
    /// The topic its records go to (the mapping file's).
    pub topic: &'static str,
    /// The mapping file's text.
    pub mapping: &'static str,
}

/// The feeds events are rendered into.
pub const FEEDS: [Feed; 4] = [
    Feed {
        name: "finance-ledger",
        topic: "finance.ledger",
        mapping: include_str!("../../../examples/sources/finance-ledger.toml"),
    },
    Feed {
        name: "personnel-appointments",
        topic: "personnel.appointments",
        mapping: include_str!("../../../examples/sources/personnel-appointments.toml"),
    },
    Feed {
        name: "procurement-awards",
        topic: "procurement.gov_purchase.bid_award",
        mapping: include_str!("../../../examples/sources/procurement-awards.toml"),
    },
    Feed {
        name: "fuel-cards",
        topic: "fleet.fuel_card_txn",
        mapping: include_str!("../../../examples/sources/fuel-cards.toml"),
    },
];

/// Every feed's mapping in one file's text (each is a list of `[[source]]`).
pub fn mapping_text() -> String {
    FEEDS
        .iter()
        .map(|f| f.mapping)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `event` as a record of one of [`FEEDS`] (its index and the record's JSON), or
/// None when no feed carries it.
pub fn render(event: &PowerEvent, position: u64) -> Option<(usize, String)> {
    let (feed, record) = match event.kind.as_str() {
        "payment" => (0, ledger(event)?),
        "appointment" => (1, decision(event)?),
        "award" => (2, award(event, position)?),
        "fuel" => (3, fill(event)?),
        _ => return None,
    };
    Some((feed, record.to_string()))
}

/// The attributes of `event`, if each is one of `carried` (by name); else None.
fn attributes<'e>(
    event: &'e PowerEvent,
    carried: &[&str],
) -> Option<Vec<(&'e str, &'e AttrValue)>> {
    event
        .attributes
        .iter()
        .map(|(n, v)| carried.contains(&n.as_str()).then_some((n.as_str(), v)))
        .collect()
}

fn text<'e>(attrs: &[(&str, &'e AttrValue)], name: &str) -> Option<Option<&'e str>> {
    match attrs.iter().find(|(n, _)| *n == name) {
        None => Some(None),
        Some((_, AttrValue::Str(s))) => Some(Some(s.as_str())),
        Some(_) => None,
    }
}

/// Cents as yuan text, digit by digit (`-12345` -> `-123.45`).
fn yuan(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Local time in Asia/Shanghai in `pattern`.
fn local(event: &PowerEvent, pattern: &str) -> String {
    static ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();
    let zone = ZONE.get_or_init(|| jiff::tz::TimeZone::get("Asia/Shanghai").expect("bundled zone"));
    event
        .occurred_at
        .to_jiff()
        .to_zoned(zone.clone())
        .strftime(pattern)
        .to_string()
}

fn insert_opt(record: &mut Map<String, Value>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        record.insert(name.into(), Value::from(v));
    }
}

/// A payment as a ledger posting (`finance-ledger.toml`).
fn ledger(e: &PowerEvent) -> Option<Value> {
    let attrs = attributes(e, &["invoice_no"])?;
    let mut r = Map::new();
    r.insert("voucher_no".into(), e.event_id.as_str().into());
    r.insert("entry_type".into(), "付款".into());
    r.insert("handler_id".into(), e.official_id.as_str().into());
    insert_opt(&mut r, "payee", e.counterparty.as_deref());
    if let Some(cents) = e.amount_cents {
        r.insert("amount_yuan".into(), yuan(cents).into());
    }
    r.insert("posted_at".into(), local(e, "%Y-%m-%d %H:%M:%S").into());
    insert_opt(&mut r, "dept", e.org_unit.as_deref());
    insert_opt(&mut r, "region", e.region.as_deref());
    insert_opt(&mut r, "invoice_no", text(&attrs, "invoice_no")?);
    r.insert("channel".into(), "银行".into());
    Some(Value::Object(r))
}

/// An appointment as a personnel decision (`personnel-appointments.toml`).
fn decision(e: &PowerEvent) -> Option<Value> {
    let attrs = attributes(e, &["action", "rank", "position"])?;
    let action = match text(&attrs, "action")?? {
        "appointment" => "任职",
        "removal" => "免职",
        "promotion" => "晋升",
        "transfer" => "调任",
        _ => return None,
    };
    let appointee = e.counterparty.as_deref()?;
    let mut r = Map::new();
    r.insert("任免文号".into(), format!("组任〔{}〕", e.event_id).into());
    r.insert("干部".into(), json!({ "编号": appointee }));
    r.insert("审批人编号".into(), e.official_id.as_str().into());
    r.insert("任免类型".into(), action.into());
    insert_opt(&mut r, "职务", text(&attrs, "position")?);
    match attrs.iter().find(|(n, _)| *n == "rank") {
        None => {}
        Some((_, AttrValue::Int(rank))) => {
            r.insert("职级".into(), (*rank).into());
        }
        Some(_) => return None,
    }
    r.insert("决定时间".into(), local(e, "%Y-%m-%d %H:%M").into());
    insert_opt(&mut r, "单位代码", e.org_unit.as_deref());
    insert_opt(&mut r, "地区代码", e.region.as_deref());
    r.insert("状态".into(), "已生效".into());
    Some(Value::Object(r))
}

/// An award as a Debezium insert of a published award (`procurement-awards.toml`),
/// at binlog position `position`.
fn award(e: &PowerEvent, position: u64) -> Option<Value> {
    let attrs = attributes(e, &["bidders", "procedure"])?;
    // An award without a procedure has no method (the mapping leaves it out).
    let method = match text(&attrs, "procedure")? {
        None => None,
        Some("open_tender") => Some("01"),
        Some("invited_tender") => Some("02"),
        Some("competitive_negotiation") => Some("03"),
        Some("single_source") => Some("04"),
        Some(_) => return None,
    };
    // Required by the mapping: an award without a bid count stays native.
    let bidders = match attrs.iter().find(|(n, _)| *n == "bidders")?.1 {
        AttrValue::Int(b) => *b,
        _ => return None,
    };
    let after = json!({
        "award_id": award_id(e.event_id.as_str()),
        "project_no": format!("ZC-{}", e.event_id),
        "buyer_official_id": e.official_id.as_str(),
        "buyer_unit": e.org_unit.as_deref(),
        "buyer_region": e.region.as_deref(),
        "supplier_name": e.counterparty.as_deref(),
        "award_amount": e.amount_cents.map(yuan),
        "valid_bids": bidders,
        "method": method,
        "status": "PUBLISHED",
        "published_at": e.occurred_at.to_string(),
    });
    Some(json!({
        "before": null,
        "after": after,
        "source": {
            "connector": "mysql", "db": "gov_purchase", "table": "bid_award",
            "file": "mysql-bin.000001", "pos": position, "row": 0,
        },
        "op": "c",
    }))
}

/// A stable integer primary key for an award made from `event_id` (FNV-1a, 53 bits
/// so that it is exact in any JSON reader): a re-delivered event keeps its award.
fn award_id(event_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in event_id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash & ((1 << 53) - 1)
}

/// A fuel fill as a fuel-card transaction (`fuel-cards.toml`).
fn fill(e: &PowerEvent) -> Option<Value> {
    let attrs = attributes(e, &["vehicle", "volume_l", "tank_l"])?;
    let vehicle = text(&attrs, "vehicle")??;
    let number = |name: &str| -> Option<Value> {
        match attrs.iter().find(|(n, _)| *n == name)?.1 {
            // Decimal text, as the issuer's export writes litres; Rust's shortest
            // round-trip form reads back to the same float.
            AttrValue::Float(f) if f.is_finite() => {
                // Plain decimal digits (Display never writes an exponent), with a
                // fraction so that the text reads back as a float.
                let mut s = String::new();
                write!(s, "{f}").ok()?;
                if !s.contains('.') {
                    s.push_str(".0");
                }
                Some(Value::from(s))
            }
            AttrValue::Int(i) => Some(Value::from(*i)),
            _ => None,
        }
    };
    let mut r = Map::new();
    r.insert("txn_no".into(), e.event_id.as_str().into());
    r.insert("txn_type".into(), "加油".into());
    r.insert(
        "card_no".into(),
        format!("YK-{}", e.official_id.as_str()).into(),
    );
    r.insert("holder_id".into(), e.official_id.as_str().into());
    insert_opt(&mut r, "unit_code", e.org_unit.as_deref());
    insert_opt(&mut r, "region_code", e.region.as_deref());
    r.insert(
        "vehicle".into(),
        json!({ "plate": vehicle, "tank_litres": number("tank_l")? }),
    );
    r.insert("litres".into(), number("volume_l")?);
    if let Some(cents) = e.amount_cents {
        r.insert("amount".into(), yuan(cents).into());
    }
    insert_opt(&mut r, "station", e.counterparty.as_deref());
    let (seconds, nanos) = e.occurred_at.to_parts();
    r.insert(
        "txn_time".into(),
        (seconds * 1000 + i64::from(nanos) / 1_000_000).into(),
    );
    Some(Value::Object(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GenConfig, Generator};
    use sunlight_core::sources::{Mapped, compile};

    /// How far a feed's time format cuts `occurred_at` (nanoseconds).
    const CUT: [i64; 4] = [1_000_000_000, 60_000_000_000, 1, 1_000_000];

    #[test]
    fn rendered_records_map_back_to_their_events() {
        let file = compile(&mapping_text(), "feeds").expect("the example mappings compile");
        let config = GenConfig {
            events: 20_000,
            officials: 200,
            scenario_every: 3,
            ..GenConfig::default()
        };
        let mut per_feed = [0u32; 4];
        let mut native = 0u32;
        for (position, e) in Generator::new(config).enumerate() {
            let Some((feed, record)) = render(&e, position as u64) else {
                native += 1;
                continue;
            };
            per_feed[feed] += 1;
            let source = file.named(FEEDS[feed].name).expect("feed's source");
            assert!(
                file.for_topic(FEEDS[feed].topic)
                    .is_some_and(|s| s.name == FEEDS[feed].name)
            );
            let mapped = match source.map(record.as_bytes()) {
                Ok(Mapped::Event(m)) => m,
                other => panic!("{record} mapped to {other:?}"),
            };
            assert_eq!(
                (
                    &mapped.official_id,
                    &mapped.kind,
                    &mapped.counterparty,
                    mapped.amount_cents,
                    &mapped.org_unit,
                    &mapped.region
                ),
                (
                    &e.official_id,
                    &e.kind,
                    &e.counterparty,
                    e.amount_cents,
                    &e.org_unit,
                    &e.region
                ),
                "{record}"
            );
            let cut = e.occurred_at.0 - e.occurred_at.0.rem_euclid(CUT[feed]);
            assert_eq!(mapped.occurred_at.0, cut, "{record}");
            for (name, value) in &e.attributes {
                let got = mapped.attributes.iter().find(|(n, _)| n == name);
                assert_eq!(got.map(|(_, v)| v), Some(value), "{name} of {record}");
            }
            // Nothing is added but the feed's own documented extras.
            let extras = [&["channel"][..], &["document"], &["project"], &["card"]][feed];
            for (name, _) in &mapped.attributes {
                assert!(
                    e.attributes.iter().any(|(n, _)| n == name) || extras.contains(&name.as_str()),
                    "{name} added to {record}"
                );
            }
            assert!(
                mapped.event_id.contains(e.event_id.as_str()) || feed == 2,
                "{}",
                mapped.event_id
            );
        }
        assert!(per_feed.iter().all(|n| *n > 100), "{per_feed:?}");
        assert!(native > 1_000, "{native}");
    }

    #[test]
    fn events_a_feed_cannot_carry_stay_native() {
        let mut e = PowerEvent::new("EV-1", "OF-1", "payment", sunlight_core::time::Timestamp(0));
        assert!(render(&e, 0).is_some());
        e.attributes
            .push(("approval_ref".into(), AttrValue::Str("A-1".into())));
        assert_eq!(
            render(&e, 0),
            None,
            "an attribute the ledger does not carry"
        );
        let award = PowerEvent::new("EV-2", "OF-1", "award", sunlight_core::time::Timestamp(0));
        assert_eq!(render(&award, 0), None, "an award without its bid count");
        let approval = PowerEvent::new(
            "EV-3",
            "OF-1",
            "approval",
            sunlight_core::time::Timestamp(0),
        );
        assert_eq!(render(&approval, 0), None, "approvals stay native");
    }

    #[test]
    fn litres_of_any_size_read_back_as_the_same_float() {
        let file = compile(&mapping_text(), "feeds").unwrap();
        let source = file.named("fuel-cards").unwrap();
        for litres in [1e16, 1e-5, 85.0, 38.2, 123_456.789] {
            let mut e = PowerEvent::new("F-1", "OF-1", "fuel", sunlight_core::time::Timestamp(0));
            e.attributes
                .push(("vehicle".into(), AttrValue::Str("V-1".into())));
            e.attributes
                .push(("volume_l".into(), AttrValue::Float(litres)));
            e.attributes.push(("tank_l".into(), AttrValue::Int(60)));
            let (_, record) = render(&e, 0).unwrap();
            let Ok(Mapped::Event(m)) = source.map(record.as_bytes()) else {
                panic!("{record}");
            };
            let got = m.attributes.iter().find(|(n, _)| n == "volume_l").unwrap();
            assert_eq!(got.1, AttrValue::Float(litres), "{record}");
        }
    }

    #[test]
    fn yuan_text_is_exact() {
        assert_eq!(yuan(0), "0.00");
        assert_eq!(yuan(5), "0.05");
        assert_eq!(yuan(-12_345), "-123.45");
        assert_eq!(yuan(i64::MIN), "-92233720368547758.08");
    }
}
