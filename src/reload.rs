//! Live rule updates for `sunlight run`: the rule pack is reloaded on SIGHUP, and when
//! the pack file's content changes (checked every `engine.reload_interval`). A new
//! version is compiled and validated off to the side (a blocking task); only a pack
//! that compiles is handed to the pipeline, which swaps it in between two records.
//! An invalid pack is logged with every error and counted; the running one stays.
//!
//! Reference files (e.g. relations.csv) are re-read with every reload: after editing
//! only them, send SIGHUP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sunlight_core::CompiledPack;
use tokio::sync::watch;

/// `sunlight_rule_reloads_total{outcome}`: `applied`, `rejected`.
pub const RULE_RELOADS: &str = "sunlight_rule_reloads_total";

/// Registers the reload counter's outcomes at zero.
pub fn register() {
    metrics::describe_counter!(
        RULE_RELOADS,
        "Rule-pack reload attempts by outcome: applied, rejected (invalid; the running pack stays)."
    );
    for outcome in ["applied", "rejected"] {
        metrics::counter!(RULE_RELOADS, "outcome" => outcome).increment(0);
    }
}

/// SIGHUP, installed before the watcher starts (SIGHUP's default action ends the
/// process, so it must be caught from the first moment the engine runs).
pub struct Hangup(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangup {
    /// Catches SIGHUP from now on (no-op where there are no signals).
    pub fn install() -> Hangup {
        #[cfg(unix)]
        {
            Hangup(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
        }
        #[cfg(not(unix))]
        {
            Hangup()
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(s) = &mut self.0 {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    }
}

fn fingerprint(path: &PathBuf) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .map(|bytes| xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Watches `path`; sends each new valid pack on `sender`. Ends when the pipeline
/// (every receiver) is gone.
pub async fn watch_pack(
    path: PathBuf,
    interval: Option<Duration>,
    mut hangup: Hangup,
    sender: watch::Sender<Arc<CompiledPack>>,
) {
    let mut last = fingerprint(&path);
    let mut poll = interval.map(tokio::time::interval);
    loop {
        let signal = hangup.recv();
        let tick = async {
            match &mut poll {
                Some(p) => p.tick().await,
                None => std::future::pending().await,
            }
        };
        let forced = tokio::select! {
            () = signal => true,
            _ = tick => false,
            () = sender.closed() => return,
        };
        let now = fingerprint(&path);
        if !forced && now == last {
            continue;
        }
        last = now;
        let load_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || CompiledPack::load(&load_path)).await;
        match loaded {
            Ok(Ok(pack)) => {
                tracing::info!(pack = %pack.name, version = %pack.version, rules = pack.rules.len(), "rule pack reloaded; swapping it in");
                crate::telemetry::rules_replaced(&sender.borrow(), &pack);
                metrics::counter!(RULE_RELOADS, "outcome" => "applied").increment(1);
                if sender.send(Arc::new(pack)).is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, path = %path.display(), "new rule pack rejected; the running pack stays");
                metrics::counter!(RULE_RELOADS, "outcome" => "rejected").increment(1);
            }
            Err(e) => {
                tracing::error!(error = %e, "rule pack reload task failed; the running pack stays");
                metrics::counter!(RULE_RELOADS, "outcome" => "rejected").increment(1);
            }
        }
    }
}
