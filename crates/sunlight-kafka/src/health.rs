//! [`Health`]: what `/readyz` reports, updated by the pipeline as it runs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Readiness facts the pipeline keeps current.
#[derive(Debug, Default)]
pub struct Health {
    rules_loaded: AtomicBool,
    broker_reachable: AtomicBool,
    partitions: AtomicUsize,
    restoring: AtomicBool,
    stopping: AtomicBool,
}

impl Health {
    /// A rule pack compiled and is in use.
    pub fn set_rules_loaded(&self, loaded: bool) {
        self.rules_loaded.store(loaded, Ordering::Relaxed);
    }

    /// Whether at least one broker connection is up (from librdkafka statistics and
    /// consume errors).
    pub fn set_broker_reachable(&self, up: bool) {
        self.broker_reachable.store(up, Ordering::Relaxed);
    }

    /// Input partitions owned now.
    pub fn set_partitions(&self, n: usize) {
        self.partitions.store(n, Ordering::Relaxed);
    }

    /// Window state is being restored from the state topic (not ready meanwhile).
    pub fn set_restoring(&self, restoring: bool) {
        self.restoring.store(restoring, Ordering::Relaxed);
    }

    /// Shutdown has begun.
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Ready, or the reasons why not (for `/readyz`).
    pub fn readiness(&self) -> Result<(), Vec<&'static str>> {
        let mut reasons = Vec::new();
        if !self.rules_loaded.load(Ordering::Relaxed) {
            reasons.push("rules not loaded");
        }
        if !self.broker_reachable.load(Ordering::Relaxed) {
            reasons.push("no broker reachable");
        }
        if self.partitions.load(Ordering::Relaxed) == 0 {
            reasons.push("no input partitions assigned");
        }
        if self.restoring.load(Ordering::Relaxed) {
            reasons.push("restoring window state");
        }
        if self.stopping.load(Ordering::Relaxed) {
            reasons.push("shutting down");
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_fact_holds() {
        let h = Health::default();
        assert_eq!(
            h.readiness(),
            Err(vec![
                "rules not loaded",
                "no broker reachable",
                "no input partitions assigned"
            ])
        );
        h.set_rules_loaded(true);
        h.set_broker_reachable(true);
        h.set_partitions(3);
        assert_eq!(h.readiness(), Ok(()));
        h.set_stopping();
        assert_eq!(h.readiness(), Err(vec!["shutting down"]));
    }
}
