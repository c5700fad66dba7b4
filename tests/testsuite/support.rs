//! Helpers: run the binary, read JSON lines, compare warnings without `detected_at`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

/// The `sunlight` binary built for this test run.
pub fn sunlight() -> Command {
    Command::cargo_bin("sunlight").expect("the sunlight binary is built")
}

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Parses JSON lines.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Warnings as JSON values with `detected_at` removed (the only processing-time field).
pub fn without_detected_at(mut warnings: Vec<Value>) -> Vec<Value> {
    for w in &mut warnings {
        let removed = w
            .as_object_mut()
            .expect("a warning is an object")
            .remove("detected_at");
        assert!(removed.is_some(), "every warning has detected_at");
    }
    warnings
}

/// Serialises core warnings the way the binary does, minus `detected_at`.
pub fn expected_json(warnings: &[sunlight_core::Warning]) -> Vec<Value> {
    without_detected_at(
        warnings
            .iter()
            .map(|w| serde_json::from_str(&w.to_json()).expect("valid JSON"))
            .collect(),
    )
}

/// A name no other test run uses (topics, consumer groups).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A child process killed when the test ends, passed or not (a panicking test must
/// not leave an engine running).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET, with a bearer token if given: (status, body).
pub fn http_get(addr: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the HTTP endpoint");
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Starts `command` (a `sunlight run` with `--http-addr 127.0.0.1:0`) with stderr
/// piped; returns it and the HTTP address it announces.
pub fn spawn_engine(mut command: std::process::Command) -> (KillOnDrop, String) {
    use std::io::BufRead;
    let mut child = KillOnDrop(
        command
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start sunlight run"),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("HTTP address announced");
        if let Some((_, a)) = line
            .split_once(" on http://")
            .or_else(|| line.split_once(" on https://"))
        {
            return (child, a.trim().to_string());
        }
    }
}

/// One record as read back: payload text and header (name, value) pairs.
pub struct Record {
    /// The payload (lossy UTF-8).
    pub payload: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// The payload as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or_else(|e| panic!("{e}: {}", self.payload))
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `topic` from the start (one group per call) until `done` says so or 60 s.
pub async fn read_records(
    brokers: &str,
    topic: &str,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let reader: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    rdkafka::consumer::Consumer::subscribe(&reader, &[topic]).unwrap();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done(&out) {
        let Ok(Ok(m)) = tokio::time::timeout_at(deadline, reader.recv()).await else {
            break;
        };
        out.push(Record {
            payload: String::from_utf8_lossy(
                rdkafka::message::Message::payload(&m).unwrap_or_default(),
            )
            .to_string(),
            headers: sunlight_kafka::headers::header_pairs(&m),
        });
    }
    out
}

/// Reads JSON records of `topic` from the start until `done` says so or 60 s.
pub async fn read_until(brokers: &str, topic: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let done = |records: &[Record]| done(&records.iter().map(Record::json).collect::<Vec<_>>());
    read_records(brokers, topic, done)
        .await
        .iter()
        .map(Record::json)
        .collect()
}

/// The Prometheus text of the engine at `addr`.
pub fn scrape(addr: &str) -> String {
    http_get(addr, "/metrics", None).1
}

/// The value of `series` (name with labels, exactly as exported) in `text`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .map(|v| v.trim().parse().expect("numeric"))
}

/// Polls /metrics until `series` has `value` (or 60 s pass); returns the last value.
pub async fn await_sample(addr: &str, series: &str, value: f64) -> Option<f64> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = sample(&scrape(addr), series);
        if got == Some(value) || tokio::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Sends SIGHUP to `child` (reload its files).
pub fn hangup(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
