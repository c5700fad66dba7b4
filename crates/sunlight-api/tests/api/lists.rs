//! The list endpoints, the board, code history, the session and handler feedback:
//! pages walked to the end equal a brute-force filter and sort of the fixture,
//! out-of-scope officials never appear in items or counts, bad parameters are 400s
//! naming the parameter, and feedback obeys role, scope and lifecycle order.

use axum::http::StatusCode;
use serde_json::{Value, json};
use sunlight_api::*;

use crate::support::*;

const REGIONS: [&str; 3] = ["north", "south", "east"];
const UNITS: [&str; 2] = ["finance", "audit"];

/// 257 officials over three regions and two units with mixed codes, one or two
/// warnings for every third official.
fn big_fixture() -> Fixture {
    let mut f = Fixture {
        officials: Vec::new(),
        warnings: Vec::new(),
        ..Fixture::default()
    };
    let codes = [
        RiskCode::Green,
        RiskCode::Yellow,
        RiskCode::Red,
        RiskCode::Green,
    ];
    for i in 0..257u32 {
        // Ids not in insertion order, so the order is the API's work.
        let id = format!("OF-{:05}", (i * 7919) % 1000);
        let region = REGIONS[(i % 3) as usize];
        let unit = UNITS[(i % 2) as usize];
        let code = codes[((i / 2) % 4) as usize];
        let open = if i % 3 == 0 { 2 } else { 0 };
        f.officials.push(OfficialItem {
            official_id: id.clone(),
            region: region.into(),
            org_unit: unit.into(),
            code,
            score: Some(f64::from(i) / 10.0),
            open_warnings: open,
        });
        for n in 0..open {
            let mut w = warning_item(&warning(&format!("W-{id}-{n}"), &id, region, unit));
            w.rule_id = if n == 0 { "split-payment" } else { "burst" }.into();
            w.level = if i % 2 == 0 {
                Level::Red
            } else {
                Level::Yellow
            };
            w.status = if i % 5 == 0 {
                WarningStatus::Dismissed
            } else {
                WarningStatus::Pushed
            };
            // Several warnings share a time: ids break the tie.
            let t = 1_760_000_000_000_000_000 + i64::from(i % 40) * 1_000_000_000;
            f.warnings.push((w, t));
        }
    }
    f
}

fn in_north(region: &str) -> bool {
    region == "north"
}

/// Every page of `path` (a query string already started with `?`), items joined.
async fn walk(app: &App, path: &str, token: &str) -> (Vec<Value>, Vec<u64>) {
    let mut items = Vec::new();
    let mut totals = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_string(),
        };
        let a = get_with(&app.router, &url, token).await;
        assert_eq!(a.status, StatusCode::OK, "{url}: {}", a.text());
        let page = a.json();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        totals.push(page["total"].as_u64().unwrap());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return (items, totals),
        }
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn officials_pages_equal_a_sorted_scoped_filter() {
    let fixture = big_fixture();
    let mut expected: Vec<&OfficialItem> = fixture
        .officials
        .iter()
        .filter(|o| in_north(&o.region))
        .collect();
    expected.sort_by(|a, b| a.official_id.cmp(&b.official_id));
    let expected_red: Vec<String> = expected
        .iter()
        .filter(|o| o.code == RiskCode::Red && o.org_unit == "audit")
        .map(|o| o.official_id.clone())
        .collect();
    let expected: Vec<Value> = expected
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect();
    let app = app_with(fixture);
    let token = north_token();

    let (items, totals) = walk(&app, "/v1/officials?limit=13", &token).await;
    assert_eq!(items, expected);
    assert_eq!(expected.len(), 86);
    assert!(totals.iter().all(|t| *t == 86), "{totals:?}");
    assert_eq!(totals.len(), 7);

    let (items, _) = walk(
        &app,
        "/v1/officials?code=red&org_unit=audit&limit=5",
        &token,
    )
    .await;
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["official_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected_red);
    assert!(!ids.is_empty());

    // Filtering by another region shows nothing of it: it is out of scope.
    let a = get_with(&app.router, "/v1/officials?region=south", &token).await;
    assert_eq!(
        a.json(),
        json!({"items": [], "total": 0, "next_cursor": null, "casework": true})
    );
}

#[tokio::test]
async fn summary_counts_only_what_the_token_sees() {
    let fixture = big_fixture();
    let mut by_code = [0u64; 4];
    let mut units = std::collections::BTreeMap::<&str, [u64; 4]>::new();
    for o in fixture.officials.iter().filter(|o| in_north(&o.region)) {
        let i = RiskCode::ALL.iter().position(|c| *c == o.code).unwrap();
        by_code[i] += 1;
        units.entry(o.org_unit.as_str()).or_default()[i] += 1;
    }
    let units: Vec<(String, [u64; 4])> =
        units.into_iter().map(|(u, c)| (u.to_string(), c)).collect();
    let mut rules = std::collections::BTreeMap::<String, [u64; 3]>::new();
    for (w, _) in fixture.warnings.iter().filter(|(w, _)| in_north(&w.region)) {
        if w.status.is_closed() {
            continue;
        }
        let r = rules.entry(w.rule_id.clone()).or_default();
        r[0] += 1;
        r[if w.level == Level::Red { 1 } else { 2 }] += 1;
    }
    let counts = |c: [u64; 4]| json!({"total": c.iter().sum::<u64>(), "red": c[0], "yellow": c[1], "green": c[2], "unknown": c[3]});
    let app = app_with(fixture);
    let a = get_with(&app.router, "/v1/summary", &north_token()).await;
    assert_eq!(a.status, StatusCode::OK);
    let mut got = a.json();
    assert!(got["computed_at"].as_str().unwrap().ends_with('Z'));
    got["computed_at"] = json!("-");
    let mut region = counts(by_code);
    region["region"] = json!("north");
    let open_total: u64 = rules.values().map(|r| r[0]).sum();
    assert_eq!(
        got,
        json!({
            "casework": true,
            "computed_at": "-",
            "officials": counts(by_code),
            "regions": [region],
            "org_units": units.iter().map(|(u, c)| {
                let mut v = counts(*c);
                v["region"] = json!("north");
                v["org_unit"] = json!(u);
                v
            }).collect::<Vec<_>>(),
            "open_warnings": {
                "total": open_total,
                "by_rule": rules.iter().map(|(r, c)| json!({"rule_id": r, "total": c[0], "red": c[1], "yellow": c[2]})).collect::<Vec<_>>()
            }
        })
    );
    assert_eq!(got["officials"]["total"], 86);
    assert!(open_total > 0);

    // A token of every region sees all three.
    let all = hs256(
        Some(HS_KID),
        HS_SECRET,
        &claims("chief", &["*"], &[], false),
    );
    let a = get_with(&app.router, "/v1/summary", &all).await;
    let regions = a.json()["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["region"].as_str().unwrap().to_owned())
        .collect::<Vec<String>>();
    assert_eq!(regions, ["east", "north", "south"]);
    assert_eq!(a.json()["officials"]["total"], 257);
}

#[tokio::test]
async fn warnings_pages_are_newest_first_and_filtered() {
    let fixture = big_fixture();
    let mut expected: Vec<&(WarningItem, i64)> = fixture
        .warnings
        .iter()
        .filter(|(w, t)| {
            in_north(&w.region)
                && !w.status.is_closed()
                && w.level == Level::Red
                && *t >= 1_760_000_005_000_000_000
        })
        .collect();
    expected.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| a.0.warning_id.cmp(&b.0.warning_id))
    });
    let expected_ids: Vec<String> = expected.iter().map(|(w, _)| w.warning_id.clone()).collect();
    let app = app_with(fixture);
    let (items, totals) = walk(
        &app,
        "/v1/warnings?status=open&level=red&since=2025-10-09T08:53:25Z&limit=4",
        &north_token(),
    )
    .await;
    let ids: Vec<&str> = items
        .iter()
        .map(|i| i["warning_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected_ids);
    assert!(expected_ids.len() > 8, "{expected_ids:?}");
    assert!(totals.iter().all(|t| *t == expected_ids.len() as u64));
    // Items are masked for tokens without sensitive: true.
    assert_eq!(items[0]["key"]["national_id"], "***");
    assert_eq!(items[0]["region"], "north");
}

#[tokio::test]
async fn bad_parameters_name_themselves() {
    let app = app();
    let token = north_token();
    for (path, name) in [
        ("/v1/officials?code=purple", "code"),
        ("/v1/officials?limit=0", "limit"),
        ("/v1/officials?limit=501", "limit"),
        ("/v1/officials?cursor=%%%", "cursor"),
        ("/v1/officials?colour=red", "colour"),
        ("/v1/warnings?status=lost", "status"),
        ("/v1/warnings?level=green", "level"),
        ("/v1/warnings?since=yesterday", "since"),
        ("/v1/warnings?cursor=bm8tY29sb24", "cursor"),
    ] {
        let a = get_with(&app.router, path, &token).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(a.json()["error"], "bad_request");
        let message = a.json()["message"].as_str().unwrap().to_string();
        assert!(
            message.starts_with(&format!("query parameter `{name}`")),
            "{path}: {message}"
        );
    }
}

#[tokio::test]
async fn code_history_and_session() {
    let app = app();
    let token = north_token();
    let a = get_with(&app.router, "/v1/officials/OF-1/codes", &token).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["history"][0]["warnings"], json!(["W-OF-1"]));
    assert_eq!(a.json()["current"]["code"], "red");
    let hidden = get_with(&app.router, "/v1/officials/OF-2/codes", &token).await;
    let unknown = get_with(&app.router, "/v1/officials/OF-9/codes", &token).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, unknown.body);

    let a = get_with(&app.router, "/v1/session", &token).await;
    assert_eq!(
        a.json(),
        json!({"sub": "inspector-1", "roles": [], "can_handle": false, "sensitive": false,
               "casework": true, "regions": ["north"], "org_units": []})
    );
    let handler = token_with_roles("h-1", &["north"], &["handler"]);
    let a = get_with(&app.router, "/v1/session", &handler).await;
    assert_eq!(a.json()["can_handle"], true);
    assert_eq!(a.json()["roles"], json!(["handler"]));
}

#[tokio::test]
async fn feedback_needs_the_handler_role_scope_and_a_forward_status() {
    let app = app();
    let handler = token_with_roles("h-1", &["north"], &["handler"]);
    let reader = north_token();
    let body = r#"{"status":"confirmed","note":"checked the ledger"}"#;

    let a = post_json(&app.router, "/v1/warnings/W-OF-1/feedback", &reader, body).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.json()["error"], "forbidden");
    // Out of scope answers like unknown, for handlers too.
    let hidden = post_json(&app.router, "/v1/warnings/W-OF-2/feedback", &handler, body).await;
    let unknown = post_json(&app.router, "/v1/warnings/W-X/feedback", &handler, body).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!(hidden.body, unknown.body);
    // W-OF-1 is verifying: received would move it back.
    let a = post_json(
        &app.router,
        "/v1/warnings/W-OF-1/feedback",
        &handler,
        r#"{"status":"received"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    for bad in [
        r#"{"status":"pushed"}"#,
        r#"{"status":"done"}"#,
        r#"{"note":"x"}"#,
        "not json",
        r#"{"status":"confirmed","extra":1}"#,
    ] {
        let a = post_json(&app.router, "/v1/warnings/W-OF-1/feedback", &handler, bad).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    assert!(app.feedback.lock().unwrap().is_empty());

    let a = post_json(&app.router, "/v1/warnings/W-OF-1/feedback", &handler, body).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let answer = a.json();
    assert_eq!(answer["accepted"], true);
    assert_eq!(answer["status"], "confirmed");
    assert_eq!(answer["handler"], "h-1");
    let sent = app.feedback.lock().unwrap().clone();
    assert_eq!(
        sent,
        [FeedbackSubmission {
            warning_id: "W-OF-1".into(),
            official_id: "OF-1".into(),
            status: WarningStatus::Confirmed,
            handler: "h-1".into(),
            note: "checked the ledger".into(),
            at: answer["at"].as_str().unwrap().into(),
        }]
    );
}

#[tokio::test]
async fn feedback_with_the_loop_off_is_refused() {
    let app = app_with(Fixture {
        casework: false,
        ..Fixture::default()
    });
    let handler = token_with_roles("h-1", &["north"], &["handler"]);
    let a = post_json(
        &app.router,
        "/v1/warnings/W-OF-1/feedback",
        &handler,
        r#"{"status":"confirmed"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json()["error"], "casework_off");
}

#[tokio::test]
async fn new_routes_are_audited_with_their_ids() {
    let app = app();
    let token = north_token();
    let handler = token_with_roles("h-1", &["north"], &["handler"]);
    get_with(&app.router, "/v1/officials?code=red", &token).await;
    get_with(&app.router, "/v1/officials/OF-1/codes", &token).await;
    post_json(
        &app.router,
        "/v1/warnings/W-OF-1/feedback",
        &handler,
        r#"{"status":"confirmed"}"#,
    )
    .await;
    let lines = audit_lines(&app.audit_file);
    let brief: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!([
                l["sub"],
                l["method"],
                l["path"],
                l["official_id"],
                l["warning_id"],
                l["status"],
                l["outcome"]
            ])
        })
        .collect();
    assert_eq!(
        brief,
        [
            json!(["inspector-1", "GET", "/v1/officials", null, null, 200, "ok"]),
            json!([
                "inspector-1",
                "GET",
                "/v1/officials/OF-1/codes",
                "OF-1",
                null,
                200,
                "ok"
            ]),
            json!([
                "h-1",
                "POST",
                "/v1/warnings/W-OF-1/feedback",
                null,
                "W-OF-1",
                202,
                "accepted"
            ]),
        ]
    );
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let app = app();
    let router: axum::Router = sunlight_api::console::router();
    let _ = app;
    let a = get(&router, "/console/", None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        a.header("content-security-policy"),
        sunlight_api::console::CONTENT_SECURITY_POLICY
    );
    assert!(
        a.header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert_eq!(a.header("x-frame-options"), "DENY");
    assert!(
        a.text()
            .contains(r#"<script type="module" src="/console/app.js"></script>"#)
    );
    let js = get(&router, "/console/app.js", None).await;
    assert_eq!(js.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(js.header("x-content-type-options"), "nosniff");
    assert_eq!(
        get(&router, "/console/missing.js", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&router, "/console", None).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), "/console/");
    // No inline script anywhere in the page: the policy would block it.
    let html = a.text();
    assert_eq!(html.matches("<script").count(), 1);
    assert!(!html.contains(" style="));
    assert!(!html.contains(" onclick="));
}
