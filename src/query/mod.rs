//! [`EngineSource`]: the query API's view of a running pipeline — the casebook (risk,
//! open warnings, lifecycles) and the current engine's windows — translated into the
//! API's answer types. Every call is an in-memory look-up under short locks.

mod feedback;
mod lists;

pub use feedback::FeedbackWriter;
use sunlight_api::lists::CodeHistory;
use sunlight_api::model::{
    ConditionView, Evidence, EvidenceEvent, HistoryEntry, KeyMap, Level, MeasureValue, Measures,
    OfficialView, Risk, RiskCode, RuleInfo, RulesView, TimeRange, WarningStatus, WarningSummary,
    WarningView, WindowAggregate,
};
use sunlight_api::{
    FeedbackSubmission, OfficialRow, QuerySource, SubmitError, SubmitFuture, WarningItem,
    WarningRow,
};
use sunlight_core::casework::{RiskCode as CoreCode, Status, Tracked};
use sunlight_core::rules::measure::{Level as CoreLevel, MeasureValue as CoreValue};
use sunlight_core::time::Timestamp;
use sunlight_core::warning::Scope;
use sunlight_kafka::ViewSlot;
use sunlight_kafka::casework::SharedCasebook;

/// Reads the pipeline's shared state.
pub struct EngineSource {
    /// The current engine's windows and pack.
    pub views: ViewSlot,
    /// The closed loop's state (None when the loop is off: no risk, no lifecycles).
    pub casebook: Option<SharedCasebook>,
    /// Processing time (the engine's clock).
    pub clock: fn() -> Timestamp,
    /// Where handlers' feedback goes (None with the loop off).
    pub feedback: Option<FeedbackWriter>,
}

pub(super) fn status(s: Status) -> WarningStatus {
    match s {
        Status::Pushed => WarningStatus::Pushed,
        Status::Received => WarningStatus::Received,
        Status::Verifying => WarningStatus::Verifying,
        Status::Rectified => WarningStatus::Rectified,
        Status::Confirmed => WarningStatus::Confirmed,
        Status::Dismissed => WarningStatus::Dismissed,
    }
}

pub(super) fn level(l: CoreLevel) -> Level {
    match l {
        CoreLevel::Yellow => Level::Yellow,
        CoreLevel::Red => Level::Red,
    }
}

fn value(v: CoreValue) -> MeasureValue {
    match v {
        CoreValue::Int(i) => MeasureValue::Int(i),
        CoreValue::Float(f) => MeasureValue::Float(f),
    }
}

/// A threshold as the pack wrote it: an integer when it is one.
fn threshold(t: f64) -> MeasureValue {
    if t.fract() == 0.0 && t.abs() < 9.0e15 {
        MeasureValue::Int(t as i64)
    } else {
        MeasureValue::Float(t)
    }
}

pub(super) fn code(c: CoreCode) -> RiskCode {
    match c {
        CoreCode::Green => RiskCode::Green,
        CoreCode::Yellow => RiskCode::Yellow,
        CoreCode::Red => RiskCode::Red,
    }
}

/// An evidence copy in the API's form.
fn evidence_event(c: &sunlight_core::evidence::EventCopy) -> EvidenceEvent {
    use sunlight_core::event::AttrValue;
    EvidenceEvent {
        event_id: c.event_id.to_string(),
        kind: c.kind.to_string(),
        occurred_at: Timestamp(c.occurred_at).to_string(),
        amount_cents: c.amount_cents,
        counterparty: c.counterparty.as_ref().map(|p| p.to_string()),
        attributes: c
            .attributes
            .iter()
            .map(|(name, v)| {
                let v = match v {
                    AttrValue::Str(s) => serde_json::Value::from(s.as_str()),
                    AttrValue::Int(i) => serde_json::Value::from(*i),
                    AttrValue::Float(f) => serde_json::Value::from(*f),
                    AttrValue::Bool(b) => serde_json::Value::from(*b),
                };
                (name.to_string(), v)
            })
            .collect(),
    }
}

fn key(pairs: &[(compact_str::CompactString, compact_str::CompactString)]) -> KeyMap {
    KeyMap(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn summary(t: &Tracked) -> WarningSummary {
    let w = &t.warning;
    WarningSummary {
        warning_id: w.warning_id.clone(),
        rule_id: w.rule_id.clone(),
        rule_version: w.rule_version,
        level: level(t.effective_level()),
        status: status(t.status),
        occurred_at: w.occurred_at.to_string(),
        key: key(&w.key),
        title: w.title.clone(),
    }
}

pub(super) fn text(s: &Option<compact_str::CompactString>) -> String {
    s.as_deref().unwrap_or_default().to_string()
}

fn view_scope(v: &WarningView) -> Scope {
    let opt = |t: &str| (!t.is_empty()).then(|| compact_str::CompactString::from(t));
    Scope {
        region: opt(&v.region),
        org_unit: opt(&v.org_unit),
    }
}

pub(super) fn known(s: &Scope) -> bool {
    s.region.is_some() || s.org_unit.is_some()
}

/// Where an official belongs, the one rule both endpoints use: the casebook's
/// scope, else the engine's (asked only when needed), else `fallback` (a warning's
/// own trigger event).
pub(super) fn resolve_scope(
    book: Option<Scope>,
    engine: impl FnOnce() -> Option<Scope>,
    fallback: Option<Scope>,
) -> Scope {
    book.filter(known)
        .or_else(|| engine().filter(known))
        .or_else(|| fallback.filter(known))
        .unwrap_or_default()
}

impl EngineSource {
    /// The casebook's scope of an official (its latest warning with one).
    fn book_scope(&self, official_id: &str) -> Option<Scope> {
        let book = self.casebook.as_ref()?.lock();
        book.official(official_id, (self.clock)()).map(|r| r.scope)
    }

    /// The engine's scope of an official (its latest event with one).
    fn engine_scope(&self, official_id: &str) -> Option<Scope> {
        self.views.get()?.official(official_id).map(|o| o.scope)
    }

    /// The warning as the casebook holds it, with its trigger event's scope.
    fn warning_view(&self, id: &str) -> Option<WarningView> {
        let book = self.casebook.as_ref()?.lock();
        let t = book.warning(id)?;
        let w = &t.warning;
        Some(WarningView {
            warning_id: w.warning_id.clone(),
            rule_id: w.rule_id.clone(),
            rule_version: w.rule_version,
            official_id: w.official_id.to_string(),
            key: key(&w.key),
            level: level(t.effective_level()),
            trigger_event_id: w.trigger_event_id.to_string(),
            occurred_at: w.occurred_at.to_string(),
            window: TimeRange {
                start: w.window_start.to_string(),
                end: w.window_end.to_string(),
            },
            measures: Measures(
                w.measures
                    .iter()
                    .map(|(m, v)| (m.name().to_string(), value(*v)))
                    .collect(),
            ),
            conditions: w
                .conditions
                .iter()
                .map(|c| ConditionView {
                    measure: c.measure.name().to_string(),
                    op: c.op.symbol().to_string(),
                    threshold: threshold(c.threshold),
                    value: value(c.value),
                })
                .collect(),
            evidence: Evidence {
                event_ids: w.evidence.iter().map(|e| e.to_string()).collect(),
                total: w.evidence_total,
                events: w.evidence_events.iter().map(evidence_event).collect(),
            },
            title: w.title.clone(),
            detected_at: w.detected_at.to_string(),
            status: status(t.status),
            history: t
                .history
                .iter()
                .map(|h| HistoryEntry {
                    status: status(h.status),
                    handler: Some(h.handler.to_string()),
                    note: (!h.note.is_empty()).then(|| h.note.clone()),
                    at: h.at.to_string(),
                })
                .collect(),
            case_id: Some(t.case_id.to_string()),
            escalated: t.escalation.is_some(),
            region: text(&w.scope.region),
            org_unit: text(&w.scope.org_unit),
        })
    }
}

impl QuerySource for EngineSource {
    fn casework(&self) -> bool {
        self.casebook.is_some()
    }

    fn for_each_official(&self, visit: &mut dyn FnMut(OfficialRow<'_>)) {
        self.scan_officials(visit)
    }

    fn for_each_warning(&self, visit: &mut dyn FnMut(WarningRow<'_>)) {
        self.scan_warnings(visit)
    }

    fn warning_item(&self, id: &str) -> Option<WarningItem> {
        self.list_item(id)
    }

    fn code_history(&self, id: &str) -> Option<CodeHistory> {
        self.history(id)
    }

    fn submit_feedback(&self, feedback: FeedbackSubmission) -> SubmitFuture {
        match (&self.casebook, &self.feedback) {
            (Some(_), Some(writer)) => writer.submit(feedback),
            _ => Box::pin(async { Err(SubmitError::CaseworkOff) }),
        }
    }

    fn official(&self, id: &str) -> Option<OfficialView> {
        let now = (self.clock)();
        let windows = self.views.get().and_then(|v| v.official(id));
        let (risk, open, book_scope) = match &self.casebook {
            Some(book) => {
                let book = book.lock();
                match book.official(id, now) {
                    Some(r) => {
                        let open: Vec<WarningSummary> = r
                            .open
                            .iter()
                            .filter_map(|w| book.warning(w))
                            .map(summary)
                            .collect();
                        (Some((r.code, r.score)), open, Some(r.scope))
                    }
                    None => (None, Vec::new(), None),
                }
            }
            None => (None, Vec::new(), None),
        };
        if risk.is_none() && windows.is_none() {
            return None;
        }
        let engine_scope = windows.as_ref().map(|w| w.scope.clone());
        let scope = resolve_scope(book_scope, || engine_scope, None);
        // With the loop on, an official without open warnings is green; with it
        // off nothing computes a code: unknown, not green.
        let (c, score) = match (&self.casebook, risk) {
            (None, _) => (RiskCode::Unknown, None),
            (Some(_), Some((c, s))) => (code(c), Some(s)),
            (Some(_), None) => (RiskCode::Green, Some(0.0)),
        };
        Some(OfficialView {
            official_id: id.to_string(),
            region: text(&scope.region),
            org_unit: text(&scope.org_unit),
            risk: Risk {
                code: c,
                score,
                computed_at: now.to_string(),
            },
            open_warnings: open,
            windows: windows
                .map(|w| {
                    w.windows
                        .into_iter()
                        .map(|a| WindowAggregate {
                            rule_id: a.rule_id,
                            key: KeyMap(a.key),
                            count: a.count,
                            sum: a.sum.map(|s| {
                                i64::try_from(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX })
                            }),
                            window: TimeRange {
                                start: a.start.to_string(),
                                end: a.end.to_string(),
                            },
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    fn warning(&self, id: &str) -> Option<WarningView> {
        let mut view = self.warning_view(id)?;
        let official = view.official_id.clone();
        let scope = resolve_scope(
            self.book_scope(&official),
            || self.engine_scope(&official),
            Some(view_scope(&view)),
        );
        view.region = text(&scope.region);
        view.org_unit = text(&scope.org_unit);
        Some(view)
    }

    fn rules(&self) -> RulesView {
        let Some(view) = self.views.get() else {
            return RulesView {
                pack: String::new(),
                version: String::new(),
                rules: Vec::new(),
            };
        };
        let pack = view.pack();
        RulesView {
            pack: pack.name.clone(),
            version: pack.version.clone(),
            rules: pack
                .rules
                .iter()
                .map(|r| RuleInfo {
                    rule_id: r.id.clone(),
                    version: r.version,
                    title: Some(r.title.source().to_string()),
                    description: (!r.description.is_empty()).then(|| r.description.clone()),
                    window: r.window_text.clone(),
                    field: view.measured_field(r).map(str::to_string),
                })
                .collect(),
        }
    }
}
