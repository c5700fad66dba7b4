//! The closed loop on Kafka: feedback in from `sunlight.feedback`, risk-code changes
//! out to `sunlight.risk-codes`, escalations out to the warnings topic, the loop's
//! own audit records out to `sunlight.audit`. The decisions are made by
//! [`sunlight_core::casework::Casebook`]; this module encodes them as records.

use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::message::{Header, OwnedHeaders};
use serde_json::json;
use sunlight_core::casework::{
    Admit, Applied, AuditEvent, Casebook, CaseworkPolicy, CodeChange, Feedback, FeedbackError,
    Outputs,
};
use sunlight_core::time::{Duration, Timestamp};

use crate::masking::{FILL, Masking, warning_record};
use crate::output::Output;

/// Where the loop reads and writes.
#[derive(Debug, Clone)]
pub struct CaseworkConfig {
    /// Scores, deadlines, suppression.
    pub policy: CaseworkPolicy,
    /// Feedback from the case system.
    pub feedback_topic: String,
    /// Where code changes go (keyed by official_id).
    pub risk_codes_topic: String,
    /// Where the loop's audit records go (and the query API's, when it runs).
    pub audit_topic: String,
    /// How often deadlines and decay are checked.
    pub tick_interval: Duration,
}

impl Default for CaseworkConfig {
    fn default() -> Self {
        CaseworkConfig {
            policy: CaseworkPolicy::default(),
            feedback_topic: "sunlight.feedback".into(),
            risk_codes_topic: "sunlight.risk-codes".into(),
            audit_topic: "sunlight.audit".into(),
            tick_interval: Duration::from_secs(5),
        }
    }
}

/// The casebook shared by the pipeline (writer) and the query API (reader).
#[derive(Debug, Clone)]
pub struct SharedCasebook(Arc<Mutex<Casebook>>);

impl SharedCasebook {
    /// A new, empty casebook under `policy`.
    pub fn new(policy: CaseworkPolicy) -> SharedCasebook {
        SharedCasebook(Arc::new(Mutex::new(Casebook::new(policy))))
    }

    /// Locks it (a panic in another holder does not make it unusable).
    pub fn lock(&self) -> MutexGuard<'_, Casebook> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Encodes the loop's outputs as records.
pub struct Encoder<'a> {
    /// Topics.
    pub config: &'a CaseworkConfig,
    /// Where escalations go.
    pub warnings_topic: &'a str,
    /// `ce_source`.
    pub source: &'a str,
    /// What is masked in escalations and audit records.
    pub masking: Masking<'a>,
}

fn headers(pairs: &[(&str, &str)]) -> OwnedHeaders {
    pairs.iter().fold(OwnedHeaders::new(), |h, (key, value)| {
        h.insert(Header {
            key,
            value: Some(*value),
        })
    })
}

impl Encoder<'_> {
    /// Every record `outputs` calls for, escalations first.
    pub fn records(&self, outputs: Outputs, format: crate::WarningFormat) -> Vec<Output> {
        let mut records = Vec::new();
        for w in &outputs.escalations {
            records.push(warning_record(
                self.warnings_topic,
                w,
                self.source,
                format,
                self.masking,
                [("sunlight.escalation", "true")],
            ));
        }
        for change in &outputs.codes {
            records.push(self.code_change(change));
        }
        for event in &outputs.audit {
            records.push(self.audit(event));
        }
        records
    }

    fn code_change(&self, c: &CodeChange) -> Output {
        let body = code_change_json(c);
        Output {
            topic: self.config.risk_codes_topic.clone(),
            key: Some(c.official_id.as_bytes().to_vec()),
            payload: body.to_string().into_bytes(),
            headers: headers(&[("content-type", "application/json")]),
        }
    }

    fn audit(&self, e: &AuditEvent) -> Output {
        Output {
            topic: self.config.audit_topic.clone(),
            key: Some(e.case_key.official_id.as_bytes().to_vec()),
            payload: audit_json(e, self.masking).to_string().into_bytes(),
            headers: headers(&[("content-type", "application/json")]),
        }
    }
}

/// The risk-codes record: `{"official_id", "code", "previous", "score", "at",
/// "warnings", "region", "org_unit"}`.
pub fn code_change_json(c: &CodeChange) -> serde_json::Value {
    json!({
        "official_id": c.official_id.as_str(),
        "code": c.code.name(),
        "previous": c.previous.name(),
        "score": c.score,
        "at": c.at.to_string(),
        "warnings": c.warnings.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        "region": c.scope.region.as_deref(),
        "org_unit": c.scope.org_unit.as_deref(),
    })
}

/// The loop's audit record (same envelope as the query API's: `at`, `actor`, `action`),
/// with masked key values also masked where the note quotes them.
pub fn audit_json(e: &AuditEvent, masking: Masking<'_>) -> serde_json::Value {
    let raw = masking.raw_values(e.case_key.key.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let key: serde_json::Map<String, serde_json::Value> = e
        .case_key
        .key
        .iter()
        .map(|(k, v)| {
            let value = if masking.masks(k) && !v.is_empty() {
                FILL
            } else {
                v.as_str()
            };
            (k.to_string(), json!(value))
        })
        .collect();
    json!({
        "at": e.at.to_string(),
        "actor": e.actor.as_str(),
        "action": e.action,
        "warning_id": e.warning_id.as_str(),
        "rule_id": e.case_key.rule_id,
        "official_id": e.case_key.official_id.as_str(),
        "key": key,
        "until": e.until.to_string(),
        "note": masking.text(&e.note, &raw),
    })
}

/// Applies one feedback record; the error is the dead-letter reason.
pub fn apply_feedback(
    casebook: &SharedCasebook,
    payload: &[u8],
    now: Timestamp,
    out: &mut Outputs,
) -> Result<(Feedback, Applied), FeedbackError> {
    let fb = Feedback::from_json(payload)?;
    let applied = casebook.lock().feedback(&fb, now, out)?;
    Ok((fb, applied))
}

/// The headers that link a published warning to its case.
pub fn case_headers(admit: &Admit, warning_id: &str) -> Option<[(&'static str, String); 2]> {
    match admit {
        Admit::NewCase => Some([
            ("sunlight.case_id", warning_id.to_string()),
            ("sunlight.case", "new".into()),
        ]),
        Admit::Attached { case_id } => Some([
            ("sunlight.case_id", case_id.to_string()),
            ("sunlight.case", "attached".into()),
        ]),
        Admit::Repeat { case_id } => Some([
            ("sunlight.case_id", case_id.to_string()),
            ("sunlight.case", "repeat".into()),
        ]),
        Admit::Suppressed { .. } | Admit::Closed => None,
    }
}
