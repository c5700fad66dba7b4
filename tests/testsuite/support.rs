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
