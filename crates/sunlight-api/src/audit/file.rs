//! [`FileSink`]: an append-only JSON-lines file; one write and a flush per record.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use super::{AuditError, AuditRecord, AuditSink};

/// Appends records to a file opened in append mode (created if missing).
#[derive(Debug)]
pub struct FileSink {
    file: Mutex<File>,
}

impl FileSink {
    /// Opens `path` for appending; an error here should stop start-up.
    pub fn open(path: &Path) -> std::io::Result<FileSink> {
        let file = OpenOptions::new().append(true).create(true).open(path)?;
        Ok(FileSink {
            file: Mutex::new(file),
        })
    }
}

impl AuditSink for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = record.to_json_line();
        line.push('\n');
        // A poisoned lock only means another writer panicked; the file is still usable.
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.write_all(line.as_bytes())?;
        file.flush()?;
        Ok(())
    }
}
