//! The mapping contract on `examples/sources/oa-approvals.toml`, the checks of
//! `compile`, and a fuzz of `map` over arbitrary JSON.

use proptest::prelude::*;

use super::*;
use crate::codec::json;

fn oa() -> SourceFile {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sources/oa-approvals.toml");
    SourceFile::load(&path).unwrap()
}

fn sample() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/sources/oa-approvals.sample.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn event_json(m: &Mapped) -> String {
    match m {
        Mapped::Event(e) => {
            let mut out = String::new();
            json::encode(e, &mut out);
            out
        }
        Mapped::Nothing(why) => format!("nothing: {}", why.code()),
    }
}

#[test]
fn the_oa_approval_changes_map_as_the_contract_says() {
    let file = oa();
    let source = file.for_topic("oa.public.oa_approval").unwrap();
    let results: Vec<String> = sample()
        .iter()
        .map(|line| match source.map(line.as_bytes()) {
            Ok(m) => event_json(&m),
            Err(e) => format!("{}: {}", e.reason, e.detail),
        })
        .collect();
    assert_eq!(
        results,
        vec![
            r#"{"event_id":"oa_approval:1001:u:24023128","official_id":"O-3001","kind":"approval","occurred_at":"2026-11-27T06:03:00Z","source_system":"oa","org_unit":"finance-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":4850000,"attributes":{"applicant_id":"E-2001","table_id":1001}}"#.to_string(),
            r#"{"event_id":"oa_approval:1002:c:24023912","official_id":"O-3001","kind":"approval","occurred_at":"2026-11-27T07:30:00Z","source_system":"oa","org_unit":"finance-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":499950,"attributes":{"applicant_id":"E-2002","table_id":1002}}"#.to_string(),
            "nothing: no_rule_matched".to_string(),
            "nothing: no_rule_matched".to_string(),
            "unmappable: source oa-approvals, event 1 (approved), field amount_cents: after.amount: \"300.125\" has more than two decimals (set round = \"half_up\" or \"half_even\" to round)".to_string(),
            "nothing: delete".to_string(),
            "nothing: tombstone".to_string(),
        ]
    );
}

#[test]
fn a_change_delivered_twice_maps_to_the_same_event_id() {
    let file = oa();
    let source = &file.sources[0];
    let line = &sample()[0];
    assert_eq!(
        source.map(line.as_bytes()).unwrap(),
        source.map(line.as_bytes()).unwrap()
    );
    // Without a source position the capture time identifies the change.
    let no_lsn = line.replace(r#""lsn":24023128,"#, "");
    match source.map(no_lsn.as_bytes()).unwrap() {
        Mapped::Event(e) => assert_eq!(e.event_id, "oa_approval:1001:u:1764223380000"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn missing_and_malformed_fields_are_refused_naming_the_field() {
    let file = oa();
    let source = &file.sources[0];
    let line = &sample()[0];
    let refuse = |text: &str| source.map(text.as_bytes()).unwrap_err();
    let e = refuse(&line.replace(r#""approver_id":"O-3001","payee":"华兴建材有限公司","amount":"48500.00","status":"APPROVED""#, r#""payee":"华兴建材有限公司","amount":"48500.00","status":"APPROVED""#));
    assert_eq!(
        (e.reason, e.detail.as_str()),
        (
            Reason::Unmappable,
            "source oa-approvals, event 1 (approved), field official_id: after.approver_id is missing"
        )
    );
    let e = refuse(&line.replace("2026-11-27 14:03:00", "27/11/2026 14:03"));
    assert_eq!(e.reason, Reason::Unmappable);
    assert!(
        e.detail.starts_with("source oa-approvals, event 1 (approved), field occurred_at: after.updated_at: \"27/11/2026 14:03\" does not match \"%Y-%m-%d %H:%M:%S\""),
        "{}",
        e.detail
    );
    let e = refuse(r#"{"before":null}"#);
    assert_eq!(
        e.detail,
        "source oa-approvals, field op: not a Debezium change event: no op, and no payload object"
    );
    assert_eq!(refuse("{\"op\":").reason, Reason::InvalidJson);
    assert_eq!(refuse("[1]").reason, Reason::InvalidJson);
    assert_eq!(
        refuse(&line.replace(
            r#""48500.00","status":"APPROVED""#,
            r#"{"v":1},"status":"APPROVED""#
        ))
        .detail,
        "source oa-approvals, event 1 (approved), field amount_cents: after.amount is an object or array, not a value"
    );
}

#[test]
fn plain_json_code_tables_constants_and_epoch_times() {
    let file = compile(
        r#"
[[source]]
name = "ledger"
topics = ["finance.ledger"]
format = "json"

[[source.event]]
when = [{ path = "类型", one_of = ["01", "03"] }]
event_id = { template = "ledger:{凭证号}" }
official_id = { path = "经办人.工号" }
kind = { path = "类型", codes = { "01" = "payment", "03" = "reimbursement" } }
occurred_at = { path = "记账时间", time = "epoch_ms" }
amount_cents = { path = "金额", money = "yuan", round = "half_even" }

[source.event.attributes]
urgent = { path = "加急" }
channel = { value = "bank" }
"#,
        "inline",
    )
    .unwrap();
    let source = file.named("ledger").unwrap();
    let record = r#"{"凭证号":"V-9","经办人":{"工号":"O-1"},"类型":"03","记账时间":1764223380000,"金额":1234.565,"加急":true}"#;
    assert_eq!(
        event_json(&source.map(record.as_bytes()).unwrap()),
        r#"{"event_id":"ledger:V-9","official_id":"O-1","kind":"reimbursement","occurred_at":"2025-11-27T06:03:00Z","amount_cents":123456,"attributes":{"channel":"bank","urgent":true}}"#
    );
    for broken in [
        "[1]",
        "{\"凭证号\":\"V-9\"} trailing",
        "{\"凭证号\":",
        "\"text\"",
    ] {
        assert_eq!(
            source.map(broken.as_bytes()).unwrap_err().reason,
            Reason::InvalidJson,
            "{broken}"
        );
    }
    let escaped = record.replace("V-9", "V\\u002d9");
    match source.map(escaped.as_bytes()).unwrap() {
        Mapped::Event(e) => assert_eq!(e.event_id, "ledger:V-9"),
        other => panic!("{other:?}"),
    }
    let other_type = record.replace(r#""类型":"03""#, r#""类型":"02""#);
    assert_eq!(
        source.map(other_type.as_bytes()).unwrap(),
        Mapped::Nothing(Skipped::NoRuleMatched)
    );
}

#[test]
fn every_problem_in_a_mapping_file_is_reported_with_source_and_field() {
    let e = compile(
        r#"
[[source]]
name = "fuel"
topics = ["fleet.fuel"]
format = "csv"
timezone = "Mars/Olympus"

[[source.event]]
when = [{ path = "a", equals = "x", exists = true }]
event_id = { template = "fill" }
kind = "fuel"
occurred_at = { path = "t", time = "dd.MM.yyyy" }
amount_cents = { path = "amount", time = "%Y" }
counterparty = { path = "station", money = "yuan" }

[[source]]
name = "fuel2"
topics = ["fleet.fuel"]
format = "json"
"#,
        "fuel.toml",
    )
    .unwrap_err();
    assert_eq!(
        e.problems,
        vec![
            "fuel.toml: fuel: format: \"csv\" is not one of \"debezium\", \"json\"",
            "fuel.toml: fuel: timezone: unknown time zone \"Mars/Olympus\" (an IANA name such as \"Asia/Shanghai\")",
            "fuel.toml: fuel: event 1: when[0]: path \"a\": needs exactly one of equals, not_equals, one_of, exists",
            "fuel.toml: fuel: event 1: event_id: template \"fill\": no {path} in it (use value = for a constant)",
            "fuel.toml: fuel: event 1: official_id: required (a path, a template or a value)",
            "fuel.toml: fuel: event 1: occurred_at: unknown time format \"dd.MM.yyyy\": use rfc3339, epoch_ms, epoch_us, epoch_s or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\"",
            "fuel.toml: fuel: event 1: counterparty: money applies to amount_cents and attributes",
            "fuel.toml: fuel: event 1: amount_cents: time applies to occurred_at",
            "fuel.toml: fuel2: no [[source.event]] declared: nothing would ever be mapped",
        ]
    );
    let e = compile(
        "[[source]]\nname = \"x\"\nformat = \"json\"\ncolour = 1\n",
        "x.toml",
    )
    .unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(
        e.problems[0].starts_with("x.toml: unknown field `colour`"),
        "{:?}",
        e.problems
    );
}

/// Arbitrary JSON values, nested a few levels, with the keys the mapping reads.
fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop::sample::select(vec![
        "before",
        "after",
        "op",
        "source",
        "payload",
        "schema",
        "id",
        "status",
        "amount",
        "updated_at",
        "approver_id",
        "payee",
        "lsn",
        "ts_ms",
        "applicant_id",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        prop::sample::select(vec![
            "APPROVED",
            "SUBMITTED",
            "u",
            "c",
            "d",
            "r",
            "2026-11-27 14:03:00",
            "12.5",
            "",
            "1e3"
        ])
        .prop_map(|s| serde_json::Value::String(s.into())),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8).prop_map(|kvs| {
                serde_json::Value::Object(
                    kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                )
            }),
        ]
    })
}

proptest! {
    /// A mapping never panics, on any JSON and on any bytes: it maps, skips or refuses.
    #[test]
    fn mapping_never_panics(value in arbitrary_json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let file = oa();
        let source = &file.sources[0];
        let text = value.to_string();
        let _ = source.map(text.as_bytes());
        let _ = source.map(&bytes);
        let cut = &text.as_bytes()[..text.len() / 2];
        let _ = source.map(cut);
    }
}

#[test]
fn attributes_are_copied_from_an_object_in_order_and_named_ones_take_their_place() {
    let file = compile(
        r#"
[[source]]
name = "rows"
topics = ["rows"]
format = "json"

[[source.event]]
event_id = { path = "id" }
official_id = { path = "who" }
kind = "payment"
occurred_at = { path = "at" }
attributes_from = "extra"

[source.event.attributes]
channel = { value = "bank" }
"#,
        "inline",
    )
    .unwrap();
    let source = &file.sources[0];
    let row = r#"{"id":"p1","who":"o1","at":"2026-11-27T06:03:00Z","extra":{"urgent":true,"channel":"cash","n":3,"ratio":0.5,"gone":null}}"#;
    assert_eq!(
        event_json(&source.map(row.as_bytes()).unwrap()),
        r#"{"event_id":"p1","official_id":"o1","kind":"payment","occurred_at":"2026-11-27T06:03:00Z","attributes":{"urgent":true,"channel":"bank","n":3,"ratio":0.5}}"#
    );
    let nested = row.replace(r#""n":3"#, r#""n":[3]"#);
    assert_eq!(
        source.map(nested.as_bytes()).unwrap_err().detail,
        "source rows, event 1, field attributes.n: extra.n is an object or array, not a value"
    );
}

#[test]
fn updates_without_a_before_status_and_snapshot_rows_follow_the_contract() {
    let file = oa();
    let source = &file.sources[0];
    let line = &sample()[0];
    // REPLICA IDENTITY DEFAULT: no before image. It cannot say the status changed,
    // so it is not a second approval of a row that may already be approved.
    let before_start = line.find(r#""before":"#).unwrap();
    let before_end = line.find(r#","after":"#).unwrap();
    let no_before = format!(
        "{}\"before\":null{}",
        &line[..before_start],
        &line[before_end..]
    );
    assert_eq!(
        source.map(no_before.as_bytes()).unwrap(),
        Mapped::Nothing(Skipped::NoRuleMatched)
    );
    let key_only = format!(
        "{}\"before\":{{\"id\":1001}}{}",
        &line[..before_start],
        &line[before_end..]
    );
    assert_eq!(
        source.map(key_only.as_bytes()).unwrap(),
        Mapped::Nothing(Skipped::NoRuleMatched)
    );
    // A snapshot read of a row already approved is like an insert.
    let read = no_before.replace(r#""op":"u""#, r#""op":"r""#);
    match source.map(read.as_bytes()).unwrap() {
        Mapped::Event(e) => {
            assert_eq!(e.event_id, "oa_approval:1001:r:24023128");
            assert_eq!(e.official_id, "O-3001");
        }
        other => panic!("{other:?}"),
    }
    // An insert that is not approved yet maps to nothing.
    let draft = read
        .replace(r#""op":"r""#, r#""op":"c""#)
        .replace(r#""status":"APPROVED""#, r#""status":"DRAFT""#);
    assert_eq!(
        source.map(draft.as_bytes()).unwrap(),
        Mapped::Nothing(Skipped::NoRuleMatched)
    );
}

#[test]
fn mapped_events_are_held_to_the_decoder_limits() {
    let file = oa();
    let source = &file.sources[0];
    let line = &sample()[0];
    let limits = DecodeLimits {
        max_attributes: 1,
        ..DecodeLimits::default()
    };
    let e = source.map_within(line.as_bytes(), &limits).unwrap_err();
    assert_eq!(
        (e.reason, e.detail.as_str()),
        (
            Reason::TooLarge,
            "source oa-approvals, field attributes: 2 attributes exceed the limit of 1"
        )
    );
    let small = DecodeLimits {
        max_message_bytes: 100,
        ..DecodeLimits::default()
    };
    assert_eq!(
        source
            .map_within(line.as_bytes(), &small)
            .unwrap_err()
            .reason,
        Reason::TooLarge
    );
    let short_ids = DecodeLimits {
        max_id_bytes: 8,
        ..DecodeLimits::default()
    };
    assert_eq!(
        source
            .map_within(line.as_bytes(), &short_ids)
            .unwrap_err()
            .detail,
        "source oa-approvals, field event_id: 27 bytes exceed the limit of 8"
    );
}

/// Each line of an example feed's sample, as `sources test` reports it: the event's
/// JSON, `nothing: why`, or `reason: detail`.
fn example(name: &str) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sources");
    let file = SourceFile::load(&dir.join(format!("{name}.toml"))).unwrap();
    let source = &file.sources[0];
    std::fs::read_to_string(dir.join(format!("{name}.sample.jsonl")))
        .unwrap()
        .lines()
        .map(|line| match source.map(line.as_bytes()) {
            Ok(m) => event_json(&m),
            Err(e) => format!("{}: {}", e.reason, e.detail),
        })
        .collect()
}

#[test]
fn the_finance_ledger_feed_maps_payments_and_reimbursements_in_yuan() {
    assert_eq!(
        example("finance-ledger"),
        vec![
            r#"{"event_id":"ledger:PZ-2026-11-000123","official_id":"O-1001","kind":"payment","occurred_at":"2026-11-27T01:30:00Z","source_system":"finance","org_unit":"finance-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":4980000,"attributes":{"channel":"bank","invoice_no":"INV-88301"}}"#.to_string(),
            r#"{"event_id":"ledger:PZ-2026-11-000124","official_id":"O-1002","kind":"reimbursement","occurred_at":"2026-11-27T02:05:12Z","source_system":"finance","org_unit":"finance-01","region":"330100","counterparty":"张三","amount_cents":38650,"attributes":{"channel":"cash"}}"#.to_string(),
            "nothing: no_rule_matched".to_string(),
            "unmappable: source finance-ledger, event 1 (payment or reimbursement), field amount_cents: amount_yuan: \"49,800.00\" is not a decimal number".to_string(),
        ]
    );
}

#[test]
fn the_personnel_feed_maps_decisions_with_chinese_field_names() {
    assert_eq!(
        example("personnel-appointments"),
        vec![
            r#"{"event_id":"appointment:组任〔2026〕118号:P-5531","official_id":"O-3001","kind":"appointment","occurred_at":"2026-11-20T08:00:00Z","source_system":"personnel","org_unit":"org-3","region":"330100","counterparty":"P-5531","attributes":{"action":"promotion","document":"组任〔2026〕118号","position":"副处长"}}"#.to_string(),
            "nothing: no_rule_matched".to_string(),
            "unmappable: source personnel-appointments, event 1 (appointment decision), field event_id: template placeholder {干部.编号}: none of its paths is present".to_string(),
        ]
    );
}

#[test]
fn the_fuel_card_feed_maps_fills_with_number_attributes() {
    assert_eq!(
        example("fuel-cards"),
        vec![
            r#"{"event_id":"fuel:FC-20261127-000117","official_id":"O-2001","kind":"fuel","occurred_at":"2026-11-27T00:15:00Z","source_system":"fleet","org_unit":"fleet-02","region":"330100","counterparty":"中石化西湖加油站","amount_cents":68315,"attributes":{"card":"YK-0301","tank_l":60,"vehicle":"浙A·D1234","volume_l":85.5}}"#.to_string(),
            r#"{"event_id":"fuel:FC-20261127-000142","official_id":"O-2001","kind":"fuel","occurred_at":"2026-11-27T03:40:00Z","source_system":"fleet","org_unit":"fleet-02","region":"330100","counterparty":"中石油文三路加油站","amount_cents":30522,"attributes":{"card":"YK-0301","tank_l":60,"vehicle":"浙A·D1234","volume_l":38.2}}"#.to_string(),
            "nothing: no_rule_matched".to_string(),
            "unmappable: source fuel-cards, event 1 (fill), field attributes.volume_l: litres: \"3O.5\" is not a decimal number".to_string(),
        ]
    );
}

#[test]
fn the_procurement_feed_maps_published_awards_from_mysql_changes() {
    assert_eq!(
        example("procurement-awards"),
        vec![
            "nothing: no_rule_matched".to_string(),
            r#"{"event_id":"award:7301:published","official_id":"O-4001","kind":"award","occurred_at":"2026-11-27T03:40:00Z","source_system":"procurement","org_unit":"procure-01","region":"330100","counterparty":"华兴建材有限公司","amount_cents":128000000,"attributes":{"bidders":1,"procedure":"single_source","project":"ZC-2026-7301"}}"#.to_string(),
            r#"{"event_id":"award:7188:published","official_id":"O-4001","kind":"award","occurred_at":"2026-11-20T02:00:00Z","source_system":"procurement","org_unit":"procure-01","region":"330100","counterparty":"明达信息技术有限公司","amount_cents":35600050,"attributes":{"bidders":3,"procedure":"open_tender","project":"ZC-2026-7188"}}"#.to_string(),
            "nothing: no_rule_matched".to_string(),
            "unmappable: source procurement-awards, event 1 (published), field attributes.procedure: after.method = \"09\" has no entry in the code table".to_string(),
        ]
    );
}

#[test]
fn number_attributes_read_decimal_text_and_refuse_anything_else() {
    for (text, expected) in [
        ("60", Ok(AttrValue::Int(60))),
        ("-12", Ok(AttrValue::Int(-12))),
        ("85.50", Ok(AttrValue::Float(85.5))),
        ("0.125", Ok(AttrValue::Float(0.125))),
        ("1e3", Err("\"1e3\" is not a decimal number")),
        ("NaN", Err("\"NaN\" is not a decimal number")),
        (" 5", Err("\" 5\" is not a decimal number")),
        ("5.", Err("\"5.\" is not a decimal number")),
        (".5", Err("\".5\" is not a decimal number")),
        ("", Err("\"\" is not a decimal number")),
        (
            "99999999999999999999",
            Err("\"99999999999999999999\" is out of the integer range"),
        ),
        ("1e400", Err("\"1e400\" is not a decimal number")),
    ] {
        assert_eq!(
            super::number(text),
            expected.map_err(str::to_string),
            "{text:?}"
        );
    }
    // 400 digits and a fraction: beyond f64, refused rather than infinite.
    let huge = format!("{}.5", "9".repeat(400));
    assert_eq!(
        super::number(&huge),
        Err(format!("{huge:?} is out of the number range"))
    );
    let wrong = "[[source]]\nname = \"x\"\ntopics = [\"x\"]\nformat = \"json\"\n[[source.event]]\nevent_id = { path = \"id\" }\nofficial_id = { path = \"o\", number = true }\nkind = \"fuel\"\noccurred_at = { path = \"t\" }\n";
    assert_eq!(
        compile(wrong, "f.toml").unwrap_err().problems,
        [
            "f.toml: x: event 1: official_id: number applies to attributes that are neither money nor time"
        ]
    );
    let bad_default = wrong.replace(
        "official_id = { path = \"o\", number = true }",
        "official_id = { path = \"o\" }",
    ) + "[source.event.attributes]\nlitres = { path = \"l\", number = true, default = \"n/a\" }\n";
    assert_eq!(
        compile(&bad_default, "f.toml").unwrap_err().problems,
        [
            "f.toml: x: event 1: attributes.litres: number: the default or code \"n/a\" is not a decimal number"
        ]
    );
}

#[test]
fn precise_debezium_decimals_are_read_with_the_columns_scale() {
    // Debezium's default decimal.handling.mode=precise: DECIMAL(12,2) 48500.00 is the
    // unscaled 4,850,000 as base64 big-endian bytes.
    let text = oa_text().replace(
        "amount_cents = { path = \"after.amount\", money = \"yuan\" }",
        "amount_cents = { path = \"after.amount\", money = \"yuan\", decimal_scale = 2 }",
    );
    let file = compile(&text, "precise.toml").unwrap();
    let source = &file.sources[0];
    let line = sample()[0].replace("\"48500.00\"", "\"SgFQ\"");
    match source.map(line.as_bytes()).unwrap() {
        Mapped::Event(e) => assert_eq!(e.amount_cents, Some(4_850_000)),
        other => panic!("{other:?}"),
    }
    // The same column captured in string mode does not read as precise.
    let bad = sample()[0].clone();
    assert_eq!(
        source.map(bad.as_bytes()).unwrap_err().detail,
        "source oa-approvals, event 1 (approved), field amount_cents: after.amount: \"48500.00\" is not a base64 Connect Decimal: Invalid symbol 46, offset 5."
    );
    let wrong = text.replace(
        "kind = \"approval\"",
        "kind = { value = \"approval\", decimal_scale = 2 }",
    );
    assert_eq!(
        compile(&wrong, "w.toml").unwrap_err().problems,
        [
            "w.toml: oa-approvals: event 1 (approved): kind: decimal_scale applies to money",
            "w.toml: oa-approvals: event 2 (inserted approved): kind: decimal_scale applies to money",
        ]
    );
}

fn oa_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sources/oa-approvals.toml"),
    )
    .unwrap()
}
