//! Metric names of the API (recorded through the `metrics` facade; the binary's
//! Prometheus recorder exports them, docs/METRICS.md).

/// Counter: requests to `/v1/*`, labels `route` (the route template, or `unmatched`)
/// and `outcome` (the audit reason code).
pub const REQUESTS_TOTAL: &str = "sunlight_api_requests_total";
/// Histogram: request handling time in seconds, label `route`.
pub const REQUEST_SECONDS: &str = "sunlight_api_request_seconds";
/// Counter: audit records a sink failed to take, labels `sink` (`file`, `channel`)
/// and `reason` (`io`, `full`, `closed`).
pub const AUDIT_FAILURES_TOTAL: &str = "sunlight_audit_failures_total";

/// Counts one audit failure.
pub(crate) fn audit_failure(sink: &'static str, reason: &'static str) {
    metrics::counter!(AUDIT_FAILURES_TOTAL, "sink" => sink, "reason" => reason).increment(1);
}
