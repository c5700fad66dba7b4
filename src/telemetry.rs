//! Process-wide telemetry: the Prometheus recorder behind the `metrics` facade (with
//! histogram buckets for the latency metrics), build and rule-pack info, and logs.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sunlight_core::CompiledPack;
use sunlight_kafka::telemetry as m;

/// Buckets of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Installs the Prometheus recorder; the handle renders `/metrics`.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(m::EVENT_TO_WARNING_LATENCY.to_string()),
            LATENCY_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(m::EVALUATION_TIME.to_string()),
            LATENCY_BUCKETS,
        )?
        .install_recorder()?;
    metrics::describe_gauge!(
        "sunlight_build_info",
        "Always 1; labels carry the version of the running binary."
    );
    metrics::gauge!("sunlight_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// A reload replaced `old` with `new`: the info series moves to the new labels.
pub fn rules_replaced(old: &CompiledPack, new: &CompiledPack) {
    if (&old.name, &old.version) != (&new.name, &new.version) {
        metrics::gauge!("sunlight_rules_info", "pack" => old.name.clone(), "version" => old.version.clone())
            .set(0.0);
    }
    rules_loaded(new);
}

/// Publishes which rule pack is loaded (`sunlight_rules_info{pack, version} 1`).
pub fn rules_loaded(pack: &CompiledPack) {
    metrics::describe_gauge!(
        "sunlight_rules_info",
        "Always 1; labels carry the loaded rule pack's name and version."
    );
    metrics::describe_gauge!("sunlight_rules_loaded", "Enabled rules in the loaded pack.");
    metrics::gauge!("sunlight_rules_info", "pack" => pack.name.clone(), "version" => pack.version.clone())
        .set(1.0);
    metrics::gauge!("sunlight_rules_loaded").set(pack.rules.len() as f64);
    metrics::describe_gauge!(
        "sunlight_reference_rows",
        "Rows of each reference table of the loaded pack ([reference.tables])."
    );
    metrics::describe_gauge!(
        "sunlight_reference_loaded_timestamp_seconds",
        "When each reference table was read (Unix seconds): its age is time() minus this."
    );
    for table in &pack.tables {
        metrics::gauge!("sunlight_reference_rows", "table" => table.name.clone())
            .set(table.len() as f64);
        let at = table
            .loaded_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        metrics::gauge!("sunlight_reference_loaded_timestamp_seconds", "table" => table.name.clone())
            .set(at);
    }
}
