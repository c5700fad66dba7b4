//! The console in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `chromedriver` over W3C WebDriver with fantoccini) against a running `sunlight
//! run` with the closed loop and the API on (mock cluster). An inspector of one
//! region signs in from a `#token=` link, sees exactly that region's officials on
//! the board and in the list, opens a red official and each of its warnings, sees
//! the conditions and the evidence the API holds, records `received` then
//! `dismissed`, and sees the official turn green; a read-only token sees no
//! feedback buttons and gets 403 if it posts anyway. Screenshots of every page go
//! to `target/console-screenshots/` (test artefacts).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

use crate::support::{
    KillOnDrop, http_get, json_lines, read_until, repo, spawn_engine, sunlight, unique,
};

const SECRET: &str = "a-console-test-secret-of-32-bytes!!";
const WAIT: Duration = Duration::from_secs(30);

fn token(sub: &str, regions: &[&str], roles: &[&str]) -> String {
    let exp = get_current_timestamp() + 3600;
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "exp": exp, "regions": regions, "roles": roles}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn api(addr: &str, path: &str, bearer: &str) -> Value {
    let (status, body) = http_get(addr, path, Some(bearer));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// A plain HTTP/1.1 POST of a JSON body: (status, body).
fn http_post(addr: &str, path: &str, bearer: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium.
async fn browser() -> (KillOnDrop, Client) {
    let port = free_port();
    let driver = KillOnDrop(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/install-tools.sh installs chromium-driver)"),
    );
    let deadline = std::time::Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,900", "--lang=en-US"]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");
    (driver, client)
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

async fn attrs(client: &Client, css: &str, attr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.attr(attr).await.unwrap().unwrap_or_default());
    }
    out
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

async fn screenshot(client: &Client, name: &str) {
    let dir = repo("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        client.screenshot().await.unwrap(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_handles_a_red_official_in_the_browser() {
    // Input: generated events with misconduct; the replay says which warnings come.
    let dir = tempfile::tempdir().unwrap();
    let events_file = dir.path().join("events.jsonl");
    let generated = sunlight()
        .args([
            "gen",
            "--events",
            "1500",
            "--officials",
            "30",
            "--days",
            "90",
        ])
        .args(["--scenario-every", "3", "--seed", "5", "--output"])
        .arg(&events_file)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let replay = sunlight()
        .args(["replay", "--quiet", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--input")
        .arg(&events_file)
        .output()
        .unwrap();
    let expected = json_lines(&String::from_utf8(replay.stdout).unwrap());
    let text = std::fs::read_to_string(&events_file).unwrap();
    let events = json_lines(&text);
    // Each official's region, as its latest event says.
    let mut regions: BTreeMap<String, String> = BTreeMap::new();
    for e in &events {
        if let Some(r) = e["region"].as_str() {
            regions.insert(e["official_id"].as_str().unwrap().into(), r.into());
        }
    }
    // The token's scope: the regions of the four officials with the most warnings
    // (the generator gives each of these 30 officials a region of its own).
    let mut busiest: Vec<&str> = expected
        .iter()
        .map(|w| w["official_id"].as_str().unwrap())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    busiest.sort_by_key(|o| {
        std::cmp::Reverse(expected.iter().filter(|w| w["official_id"] == *o).count())
    });
    let scope: BTreeSet<String> = busiest[..4].iter().map(|o| regions[*o].clone()).collect();
    let scope_refs: Vec<&str> = scope.iter().map(String::as_str).collect();
    let in_region: BTreeSet<String> = regions
        .iter()
        .filter(|(_, r)| scope.contains(*r))
        .map(|(o, _)| o.clone())
        .collect();
    assert!(
        in_region.len() < regions.len(),
        "the data has other regions"
    );

    // The engine: casework and the API on, the console with it.
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for (topic, partitions) in [(input.as_str(), 2), (&warnings, 1), (&dlq, 1)] {
        cluster.create_topic(topic, partitions, 1).unwrap();
    }
    for topic in ["sunlight.feedback", "sunlight.risk-codes", "sunlight.audit"] {
        cluster.create_topic(topic, 1, 1).unwrap();
    }
    let settings = dir.path().join("sunlight.toml");
    std::fs::write(
        &settings,
        format!(
            "[casework]\nenabled = true\ntick_interval = \"200ms\"\n\n[api]\n[[api.keys]]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .arg("--config")
        .arg(&settings)
        .args(["--brokers", &brokers, "--group", &unique("group")])
        .args(["--idle-timeout", "1s", "--input-topic", &input])
        .args(["--warnings-topic", &warnings, "--dlq-topic", &dlq])
        .args(["--http-addr", "127.0.0.1:0", "--rules"])
        .arg(repo("rules/default.toml"));
    let (_engine, addr) = spawn_engine(command);
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for (line, e) in text.lines().zip(&events) {
        producer
            .send(
                FutureRecord::to(&input)
                    .key(e["official_id"].as_str().unwrap())
                    .payload(line),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        read_until(&brokers, &warnings, |w| w.len() >= expected.len())
            .await
            .len(),
        expected.len()
    );

    let handler = token("handler-1", &scope_refs, &["handler"]);
    let reader = token("reader-1", &scope_refs, &[]);
    // A red official of the region, as the API says (the browser must show it so).
    let reds = api(&addr, "/v1/officials?code=red", &handler);
    let red = reds["items"][0]["official_id"]
        .as_str()
        .expect("a red official in the region")
        .to_string();
    assert!(in_region.contains(&red));

    let (_driver, client) = browser().await;
    let console = format!("http://{addr}/console/");

    // Sign in from a link: the token leaves the address bar at once.
    client
        .goto(&format!("{console}#token={handler}"))
        .await
        .unwrap();
    wait_for(&client, "#board tbody tr[data-region]").await;
    assert!(
        !client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains(&handler)
    );
    assert_eq!(
        wait_for(&client, "#whoami").await.text().await.unwrap(),
        "handler-1"
    );
    // The board: a row per region of the token, and the red counts are the API's.
    assert_eq!(
        attrs(&client, "#board tbody tr[data-region]", "data-region").await,
        scope.iter().cloned().collect::<Vec<_>>()
    );
    let region = regions[&red].clone();
    let tile = wait_for(
        &client,
        &format!("#board button.tile[data-region=\"{region}\"][data-code=\"red\"] .count"),
    )
    .await;
    let reds_here = reds["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["region"] == region.as_str())
        .count();
    assert_eq!(tile.text().await.unwrap(), reds_here.to_string());
    screenshot(&client, "board").await;

    // The officials list: exactly the region's officials.
    client.goto(&format!("{console}#/officials")).await.unwrap();
    wait_for(&client, "#officials tbody tr[data-official-id]").await;
    let listed: BTreeSet<String> = attrs(
        &client,
        "#officials tbody tr[data-official-id]",
        "data-official-id",
    )
    .await
    .into_iter()
    .collect();
    assert_eq!(listed, in_region);
    screenshot(&client, "officials").await;

    // Clicking the red tile filters the list to the red officials.
    client.goto(&format!("{console}#/board")).await.unwrap();
    wait_for(
        &client,
        &format!("#board button.tile[data-region=\"{region}\"][data-code=\"red\"]"),
    )
    .await
    .click()
    .await
    .unwrap();
    wait_for(&client, "#officials tbody tr[data-official-id]").await;
    let red_ids: Vec<String> = reds["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["region"] == region.as_str())
        .map(|o| o["official_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        attrs(
            &client,
            "#officials tbody tr[data-official-id]",
            "data-official-id"
        )
        .await,
        red_ids
    );

    // The red official, and each of its open warnings.
    client
        .goto(&format!("{console}#/official/{red}"))
        .await
        .unwrap();
    let code = wait_for(&client, "#official-code[data-code]").await;
    assert_eq!(
        code.attr("data-code").await.unwrap().as_deref(),
        Some("red")
    );
    wait_for(&client, "#open-warnings tbody tr[data-warning-id]").await;
    screenshot(&client, "official").await;
    let open = attrs(
        &client,
        "#open-warnings tbody tr[data-warning-id]",
        "data-warning-id",
    )
    .await;
    let official = api(&addr, &format!("/v1/officials/{red}"), &handler);
    let want: Vec<&str> = official["open_warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["warning_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        open.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        want.iter().copied().collect()
    );
    let mut conditions_seen = 0;
    for (n, id) in open.iter().enumerate() {
        client
            .goto(&format!("{console}#/warning/{id}"))
            .await
            .unwrap();
        let view = api(&addr, &format!("/v1/warnings/{id}"), &handler);
        // A warning of a case handled earlier in this loop moved with it.
        let now = view["status"].as_str().unwrap();
        wait_for(&client, &format!("#warning-status[data-status=\"{now}\"]")).await;
        assert_eq!(
            wait_for(&client, "#warning-title")
                .await
                .text()
                .await
                .unwrap(),
            view["title"].as_str().unwrap()
        );
        let conditions = view["conditions"].as_array().unwrap();
        assert_eq!(
            attrs(
                &client,
                "#conditions tbody tr[data-measure]",
                "data-measure"
            )
            .await,
            conditions
                .iter()
                .map(|c| c["measure"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        );
        conditions_seen += conditions.len();
        let evidence: Vec<String> = view["evidence"]["event_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            attrs(
                &client,
                "#evidence tbody tr[data-event-id]",
                "data-event-id"
            )
            .await,
            evidence
        );
        // Every listed event has its compact copy, shown in its row.
        let copies = view["evidence"]["events"].as_array().unwrap();
        assert_eq!(
            copies
                .iter()
                .map(|c| c["event_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>(),
            evidence
        );
        assert_eq!(
            texts(&client, "#evidence tbody tr td:nth-of-type(1)").await,
            copies
                .iter()
                .map(|c| c["kind"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        );
        if n == 0 {
            screenshot(&client, "warning").await;
        }
        if now == "dismissed" {
            assert!(client.find(Locator::Css("button.feedback")).await.is_err());
            continue;
        }
        assert_eq!(now, "pushed");
        // received, then dismissed: each shows once the pipeline applied it.
        for status in ["received", "dismissed"] {
            wait_for(
                &client,
                &format!("button.feedback[data-status=\"{status}\"]"),
            )
            .await
            .click()
            .await
            .unwrap();
            wait_for(
                &client,
                &format!("#warning-status[data-status=\"{status}\"]"),
            )
            .await;
        }
        if n == 0 {
            screenshot(&client, "warning-dismissed").await;
        }
    }
    assert!(conditions_seen > 0, "the warnings carry their conditions");

    // Every warning dismissed: the official is green.
    client
        .goto(&format!("{console}#/official/{red}"))
        .await
        .unwrap();
    wait_for(&client, "#official-code[data-code=\"green\"]").await;
    screenshot(&client, "official-green").await;

    // A read-only token: no feedback buttons, and a 403 when it posts anyway.
    let other = api(&addr, "/v1/warnings?status=open", &reader);
    let other = other["items"][0]["warning_id"]
        .as_str()
        .expect("another open warning in scope")
        .to_string();
    client
        .execute("sessionStorage.clear()", vec![])
        .await
        .unwrap();
    client
        .goto(&format!("{console}#token={reader}"))
        .await
        .unwrap();
    wait_for(&client, "#board tbody tr[data-region]").await;
    client
        .goto(&format!("{console}#/warning/{other}"))
        .await
        .unwrap();
    wait_for(&client, "#warning-status[data-status]").await;
    assert!(client.find(Locator::Css("#feedback")).await.is_err());
    assert!(client.find(Locator::Css("button.feedback")).await.is_err());
    screenshot(&client, "warning-read-only").await;
    let (status, body) = http_post(
        &addr,
        &format!("/v1/warnings/{other}/feedback"),
        &reader,
        r#"{"status":"received"}"#,
    );
    assert_eq!(status, 403, "{body}");
    client.close().await.unwrap();
}
