//! Live updates for `sunlight run`: the rule pack and the source mapping file
//! (`kafka.sources`) are reloaded on SIGHUP, and when a file's content changes
//! (checked every `engine.reload_interval`). A new version is compiled and validated
//! off to the side (a blocking task); only one that compiles is handed to the
//! pipeline, which swaps it in at the next turn of its loop (between two turns of up
//! to four batches of records). An invalid version is
//! logged with every error and counted; the running one stays.
//!
//! The pack's reference files (relations, file tables) are watched with it: a change
//! of either reloads the pack. Tables fed from topics (`sunlight_kafka::reference_feed`)
//! reload it too, whenever the feed publishes new rows. A mapping file must keep
//! mapping the same topics: the subscription is made at start, so a change of topics
//! is rejected (restart).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sunlight_core::CompiledPack;
use sunlight_core::rules::topic_tables::TopicTableSpec;
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
    /// Other files whose change reloads it (read with the running version).
    fn watched(_running: &Self) -> Vec<PathBuf> {
        Vec::new()
    }
}

impl Reloadable for CompiledPack {
    const WHAT: &'static str = "rule pack";
    const COUNTER: &'static str = RULE_RELOADS;

    fn load(path: &Path, running: &Self) -> Result<Self, String> {
        // In the running pack's lane, its topic tables with the rows fed so far.
        let new =
            sunlight_core::rules::load_pack_with(path, &running.lane, running.table_feeds.as_ref())
                .map_err(|e| e.to_string())?;
        // The feed reads the topic tables declared at start; a table added or
        // declared anew would run empty and silently lose its warnings.
        if let Some(spec) = new.unfed_tables().first() {
            return Err(unfed_table(spec, running));
        }
        Ok(new)
    }

    fn watched(running: &Self) -> Vec<PathBuf> {
        running.reference_files.clone()
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

/// Why a reloaded pack whose topic table `spec` the running feed does not read is
/// refused.
fn unfed_table(spec: &TopicTableSpec, running: &CompiledPack) -> String {
    let was = running.topic_tables.iter().find(|t| t.name == spec.name);
    let what = match was {
        None => "is new".to_string(),
        Some(was) if was.topic != spec.topic => format!("moved from topic `{}`", was.topic),
        Some(was) if was.key != spec.key => format!("changed its key from `{}`", was.key),
        Some(was) => format!("changed its columns from {}", was.columns.join(", ")),
    };
    format!(
        "topic table `{}` {what}: the topics are read from the start, so restart to read topic `{}` as declared (key `{}`, columns {})",
        spec.name,
        spec.topic,
        spec.key,
        spec.columns.join(", ")
    )
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

/// The contents of `path` and `others`, hashed (a missing file counts as empty).
fn fingerprint(path: &Path, others: &[PathBuf]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    for p in std::iter::once(path).chain(others.iter().map(PathBuf::as_path)) {
        let bytes = std::fs::read(p).unwrap_or_default();
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher.digest()
}

/// Watches `path` (and the files [`Reloadable::watched`] names); sends each new
/// valid version on `sender`. A change on `also` (a topic table's new rows) reloads
/// too. Ends when the pipeline (every receiver) is gone.
pub async fn watch_file<T: Reloadable>(
    path: PathBuf,
    interval: Option<Duration>,
    mut hangup: Hangup,
    sender: watch::Sender<Arc<T>>,
    mut also: Option<watch::Receiver<u64>>,
) {
    let mut last = fingerprint(&path, &T::watched(&sender.borrow()));
    let mut poll = interval.map(tokio::time::interval);
    loop {
        let signal = hangup.recv();
        let tick = async {
            match &mut poll {
                Some(p) => p.tick().await,
                None => std::future::pending().await,
            }
        };
        let fed = async {
            match &mut also {
                Some(r) => {
                    if r.changed().await.is_err() {
                        // The feed is gone: nothing more comes from it.
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        let forced = tokio::select! {
            () = signal => true,
            () = fed => true,
            _ = tick => false,
            () = sender.closed() => return,
        };
        let now = fingerprint(&path, &T::watched(&sender.borrow()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_of_a_watched_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let (pack, table) = (dir.path().join("pack.toml"), dir.path().join("deaths.csv"));
        std::fs::write(&pack, "pack").unwrap();
        std::fs::write(&table, "a,b\n").unwrap();
        let before = fingerprint(&pack, std::slice::from_ref(&table));
        assert_eq!(before, fingerprint(&pack, std::slice::from_ref(&table)));
        std::fs::write(&table, "a,b\n1,2\n").unwrap();
        let after = fingerprint(&pack, std::slice::from_ref(&table));
        assert_ne!(before, after, "the table's change is seen");
        std::fs::remove_file(&table).unwrap();
        assert_ne!(after, fingerprint(&pack, std::slice::from_ref(&table)));
        // Contents move between files without looking the same.
        std::fs::write(&pack, "packa").unwrap();
        std::fs::write(&table, "").unwrap();
        let moved = fingerprint(&pack, std::slice::from_ref(&table));
        std::fs::write(&pack, "pack").unwrap();
        std::fs::write(&table, "a").unwrap();
        assert_ne!(moved, fingerprint(&pack, std::slice::from_ref(&table)));
    }

    const TABLE_PACK: &str = r#"[pack]
name = "registry"
version = "1"

[reference.tables.deaths]
topic = "registry.deaths"
key = "person_id"
columns = ["person_id", "registered_on"]

[[rule]]
id = "deceased-beneficiary"
version = 1
kind = "reference"
title = "Paid to {counterparty} after {registered_on}"
table = "deaths"
field = "counterparty"
after = { column = "registered_on", by = "30d" }
level = "red"
filter = { kind = ["payment"] }
"#;

    /// The running pack, compiled with the rows its feed holds for `deaths`.
    fn running_with_feed(path: &Path) -> CompiledPack {
        use sunlight_core::rules::topic_tables::{TableFeeds, TableRows};
        std::fs::write(path, TABLE_PACK).unwrap();
        let unfed = sunlight_core::rules::load_pack(path).unwrap();
        let feeds = TableFeeds::new();
        let mut rows = TableRows::new(unfed.topic_tables[0].clone());
        rows.apply(Some(b"P-1"), Some(br#"{"registered_on":"2026-01-01"}"#))
            .unwrap();
        feeds.publish(rows.spec(), rows.table());
        sunlight_core::rules::load_pack_with(path, &unfed.lane, Some(&feeds)).unwrap()
    }

    #[test]
    fn a_reload_keeps_the_fed_rows_and_refuses_a_table_the_feed_does_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        let running = running_with_feed(&path);
        assert!(running.unfed_tables().is_empty());

        // Another title: the same table, its fed row kept.
        std::fs::write(&path, TABLE_PACK.replace("Paid to", "Payment to")).unwrap();
        let reloaded = <CompiledPack as Reloadable>::load(&path, &running).unwrap();
        let table = reloaded.tables.iter().find(|t| t.name == "deaths").unwrap();
        assert_eq!(table.len(), 1);

        for (from, to, expected) in [
            (
                "key = \"person_id\"\ncolumns = [\"person_id\", \"registered_on\"]",
                "key = \"registered_on\"\ncolumns = [\"person_id\", \"registered_on\"]",
                "topic table `deaths` changed its key from `person_id`: the topics are read from the start, so restart to read topic `registry.deaths` as declared (key `registered_on`, columns person_id, registered_on)",
            ),
            (
                "columns = [\"person_id\", \"registered_on\"]",
                "columns = [\"person_id\", \"registered_on\", \"registry\"]",
                "topic table `deaths` changed its columns from person_id, registered_on: the topics are read from the start, so restart to read topic `registry.deaths` as declared (key `person_id`, columns person_id, registered_on, registry)",
            ),
            (
                "topic = \"registry.deaths\"",
                "topic = \"registry.deaths.v2\"",
                "topic table `deaths` moved from topic `registry.deaths`: the topics are read from the start, so restart to read topic `registry.deaths.v2` as declared (key `person_id`, columns person_id, registered_on)",
            ),
            (
                "[[rule]]",
                "[reference.tables.transfers]\ntopic = \"hr.transfers\"\nkey = \"official_id\"\ncolumns = [\"official_id\", \"on\"]\n\n[[rule]]",
                "topic table `transfers` is new: the topics are read from the start, so restart to read topic `hr.transfers` as declared (key `official_id`, columns official_id, on)",
            ),
        ] {
            let edited = TABLE_PACK.replacen(from, to, 1);
            assert_ne!(edited, TABLE_PACK, "{from}");
            std::fs::write(&path, edited).unwrap();
            let err = <CompiledPack as Reloadable>::load(&path, &running)
                .map(|_| ())
                .unwrap_err();
            assert_eq!(err, expected);
        }
    }

    #[test]
    fn a_pack_without_a_feed_refuses_a_topic_table_added_by_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.toml");
        let without = TABLE_PACK
            .split("[[rule]]")
            .next()
            .unwrap()
            .replace("[reference.tables.deaths]\ntopic = \"registry.deaths\"\nkey = \"person_id\"\ncolumns = [\"person_id\", \"registered_on\"]\n", "");
        std::fs::write(&path, &without).unwrap();
        let running = sunlight_core::rules::load_pack(&path).unwrap();
        assert!(running.topic_tables.is_empty());
        std::fs::write(&path, TABLE_PACK).unwrap();
        let err = <CompiledPack as Reloadable>::load(&path, &running)
            .map(|_| ())
            .unwrap_err();
        assert!(err.starts_with("topic table `deaths` is new: "), "{err}");
    }
}
