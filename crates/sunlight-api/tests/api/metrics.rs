//! Metrics: requests counted by route template (not raw path) and outcome, latency
//! by route, and audit failures when the channel sink is full.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use serde_json::json;
use sunlight_api::{Api, ChannelSink};

use crate::support::*;

/// Counts increments per `name{label=value,...}` and histogram samples per key.
#[derive(Default, Clone)]
struct Captured(Arc<Mutex<BTreeMap<String, u64>>>);

struct Handle(String, Captured);

impl Captured {
    fn bump(&self, key: &str, by: u64) {
        *self.0.lock().unwrap().entry(key.to_string()).or_default() += by;
    }
    fn get(&self, key: &str) -> u64 {
        self.0.lock().unwrap().get(key).copied().unwrap_or(0)
    }
    fn keys(&self) -> Vec<String> {
        self.0.lock().unwrap().keys().cloned().collect()
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.1.bump(&self.0, value);
    }
    fn absolute(&self, _: u64) {}
}

impl HistogramFn for Handle {
    fn record(&self, _: f64) {
        self.1.bump(&self.0, 1);
    }
}

fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for Captured {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Handle(render(key), self.clone())))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Handle(render(key), self.clone())))
    }
}

#[test]
fn requests_latency_and_audit_failures() {
    let captured = Captured::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    metrics::with_local_recorder(&captured, || {
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut config = config(dir.path());
            config.audit_file = None;
            // Room for one record: the second request's record is dropped.
            let (sink, _receiver) = ChannelSink::new(1);
            let sink = Arc::new(sink);
            let api = Api::new(&config, Arc::new(Fixture::default()), vec![sink.clone()]).unwrap();
            let router: axum::Router = sunlight_api::router(Arc::new(api));
            let token = north_token();
            get_with(&router, "/v1/officials/OF-1", &token).await;
            get_with(&router, "/v1/officials/OF-2", &token).await;
            get_with(&router, "/v1/officials/OF-3", &token).await;
            get(&router, "/v1/rules", None).await;
            assert_eq!(sink.dropped(), 3);
        })
    });
    let route = "/v1/officials/{id}";
    assert_eq!(
        captured.get(&format!(
            "sunlight_api_requests_total{{route={route},outcome=ok}}"
        )),
        1
    );
    assert_eq!(
        captured.get(&format!(
            "sunlight_api_requests_total{{route={route},outcome=not_found}}"
        )),
        2
    );
    assert_eq!(
        captured.get(
            "sunlight_api_requests_total{route=/v1/rules,outcome=unauthenticated:missing_header}"
        ),
        1
    );
    assert_eq!(
        captured.get(&format!("sunlight_api_request_seconds{{route={route}}}")),
        3
    );
    assert_eq!(
        captured.get("sunlight_audit_failures_total{sink=channel,reason=full}"),
        3
    );
    // Labels are route templates, never raw paths.
    let keys = json!(captured.keys()).to_string();
    assert!(!keys.contains("OF-1") && !keys.contains("OF-2"), "{keys}");
}
