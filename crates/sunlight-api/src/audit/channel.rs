//! [`ChannelSink`]: hands records to a bounded tokio channel (the binary drains it to
//! the audit topic). A full channel drops the record, logs and counts it, and never
//! blocks the request.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

use super::{AuditError, AuditRecord, AuditSink};

/// Sends records to a bounded channel with `try_send`.
#[derive(Debug)]
pub struct ChannelSink {
    sender: mpsc::Sender<AuditRecord>,
    dropped: AtomicU64,
}

impl ChannelSink {
    /// A sink and the receiver to drain, holding at most `capacity` records (at least 1).
    pub fn new(capacity: usize) -> (ChannelSink, mpsc::Receiver<AuditRecord>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (
            ChannelSink {
                sender,
                dropped: AtomicU64::new(0),
            },
            receiver,
        )
    }

    /// Records dropped so far (channel full or closed).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl AuditSink for ChannelSink {
    fn name(&self) -> &'static str {
        "channel"
    }

    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.sender.try_send(record.clone()).map_err(|e| {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => AuditError::Full,
                mpsc::error::TrySendError::Closed(_) => AuditError::Closed,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> AuditRecord {
        AuditRecord {
            request_id: id.into(),
            at: "2026-01-01T00:00:00Z".into(),
            sub: None,
            method: "GET".into(),
            path: "/v1/rules".into(),
            official_id: None,
            warning_id: None,
            status: 401,
            outcome: "unauthenticated:missing_header".into(),
            remote_addr: None,
        }
    }

    #[test]
    fn full_and_closed_channels_drop_without_blocking() {
        let (sink, mut rx) = ChannelSink::new(1);
        assert!(sink.record(&record("a")).is_ok());
        assert!(matches!(sink.record(&record("b")), Err(AuditError::Full)));
        assert_eq!(sink.dropped(), 1);
        assert_eq!(rx.try_recv().unwrap().request_id, "a");
        drop(rx);
        assert!(matches!(sink.record(&record("c")), Err(AuditError::Closed)));
        assert_eq!(sink.dropped(), 2);
    }
}
