//! Live updates for `sunlight run`: the rule pack and the source mapping file
//! (`kafka.sources`) are reloaded on SIGHUP, and when a file's content changes
//! (checked every `engine.reload_interval`). A new version is compiled and validated
//! off to the side (a blocking task); only one that compiles is handed to the
//! pipeline, which swaps it in at the next turn of its loop (between two turns of up
//! to four batches of records). An invalid version is
//! logged with every error and counted; the running one stays.
//!
//! Reference files (e.g. relations.csv) are re-read with every pack reload: after
//! editing only them, send SIGHUP. A mapping file must keep mapping the same topics:
//! the subscription is made at start, so a change of topics is rejected (restart).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sunlight_core::CompiledPack;
use sunlight_core::sources::SourceFile;
use tokio::sync::watch;

/// `sunlight_rule_reloads_total{outcome}`: `applied`, `rejected`.
pub const RULE_RELOADS: &str = "sunlight_rule_reloads_total";

/// `sunlight_source_reloads_total{outcome}`: `applied`, `rejected`.
pub const SOURCE_RELOADS: &str = "sunlight_source_reloads_total";

/// Registers the reload counters' outcomes at zero.
pub fn register() {
    metrics::describe_counter!(
        RULE_RELOADS,
        "Rule-pack reload attempts by outcome: applied, rejected (invalid; the running pack stays)."
    );
    metrics::describe_counter!(
        SOURCE_RELOADS,
        "Source-mapping reload attempts by outcome: applied, rejected (invalid or other topics; the running mapping stays)."
    );
    for outcome in ["applied", "rejected"] {
        metrics::counter!(RULE_RELOADS, "outcome" => outcome).increment(0);
        metrics::counter!(SOURCE_RELOADS, "outcome" => outcome).increment(0);
    }
}

/// A file that `sunlight run` reloads while running.
pub trait Reloadable: Send + Sync + Sized + 'static {
    /// What it is, for the log (`rule pack`).
    const WHAT: &'static str;
    /// The counter of reload attempts by outcome.
    const COUNTER: &'static str;
    /// Reads and validates a new version; `running` is the version in use.
    fn load(path: &Path, running: &Self) -> Result<Self, String>;
    /// Logs and publishes that `new` replaces `old`.
    fn applied(old: &Self, new: &Self);
}

impl Reloadable for CompiledPack {
    const WHAT: &'static str = "rule pack";
    const COUNTER: &'static str = RULE_RELOADS;

    fn load(path: &Path, running: &Self) -> Result<Self, String> {
        // In the running pack's lane.
        sunlight_core::rules::load_pack_in(path, &running.lane).map_err(|e| e.to_string())
    }

    fn applied(old: &Self, new: &Self) {
        tracing::info!(pack = %new.name, version = %new.version, rules = new.rules.len(), "rule pack reloaded; swapping it in");
        crate::telemetry::rules_replaced(old, new);
    }
}

impl Reloadable for SourceFile {
    const WHAT: &'static str = "source mapping";
    const COUNTER: &'static str = SOURCE_RELOADS;

    fn load(path: &Path, running: &Self) -> Result<Self, String> {
        let new = SourceFile::load(path).map_err(|e| e.to_string())?;
        let (was, now) = (topics(running), topics(&new));
        if was != now {
            let added: Vec<&String> = now.difference(&was).collect();
            let removed: Vec<&String> = was.difference(&now).collect();
            return Err(format!(
                "the mapped topics changed (added {added:?}, removed {removed:?}): the subscription is made at start, so restart to change it"
            ));
        }
        Ok(new)
    }

    fn applied(_old: &Self, new: &Self) {
        let names: Vec<&str> = new.sources.iter().map(|s| s.name.as_str()).collect();
        tracing::info!(sources = ?names, "source mapping reloaded; swapping it in");
    }
}

fn topics(file: &SourceFile) -> BTreeSet<String> {
    file.sources
        .iter()
        .flat_map(|s| s.topics.iter().cloned())
        .collect()
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

fn fingerprint(path: &Path) -> Option<u64> {
    std::fs::read(path)
        .ok()
        .map(|bytes| xxhash_rust::xxh3::xxh3_64(&bytes))
}

/// Watches `path`; sends each new valid version on `sender`. Ends when the pipeline
/// (every receiver) is gone.
pub async fn watch_file<T: Reloadable>(
    path: PathBuf,
    interval: Option<Duration>,
    mut hangup: Hangup,
    sender: watch::Sender<Arc<T>>,
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
        let running = Arc::clone(&sender.borrow());
        let loaded = tokio::task::spawn_blocking(move || T::load(&load_path, &running)).await;
        match loaded {
            Ok(Ok(new)) => {
                T::applied(&sender.borrow(), &new);
                let gone = sender.send(Arc::new(new)).is_err();
                // Counted once sent: whoever reads `applied` may rely on the pipeline
                // taking it at its next turn (before the records it fetches then).
                metrics::counter!(T::COUNTER, "outcome" => "applied").increment(1);
                if gone {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, path = %path.display(), "new {} rejected; the running one stays", T::WHAT);
                metrics::counter!(T::COUNTER, "outcome" => "rejected").increment(1);
            }
            Err(e) => {
                tracing::error!(error = %e, "{} reload task failed; the running one stays", T::WHAT);
                metrics::counter!(T::COUNTER, "outcome" => "rejected").increment(1);
            }
        }
    }
}
