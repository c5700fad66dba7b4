//! The scans behind the list endpoints and the board: every official the engine or
//! the casebook knows, every tracked warning, each as a borrowed row; and an
//! official's code history. Scopes follow the one rule of `resolve_scope`.

use rustc_hash::FxHashMap;
use sunlight_api::lists::{CodeEntry, CodeHistory, CurrentCode};
use sunlight_api::{OfficialRow, QuerySource, RiskCode, WarningItem, WarningRow};
use sunlight_core::casework::Casebook;
use sunlight_core::time::Timestamp;
use sunlight_core::warning::Scope;

use super::{EngineSource, code, known, level, resolve_scope, status, text};

fn str_of(s: &Option<compact_str::CompactString>) -> &str {
    s.as_deref().unwrap_or_default()
}

/// The row of an official: code from the casebook (green when it holds nothing
/// open for them), unknown with the loop off.
fn row<'a>(
    id: &'a str,
    scope: &'a Scope,
    book: Option<&Casebook>,
    now: Timestamp,
) -> OfficialRow<'a> {
    let (code, score, open) = match book {
        None => (RiskCode::Unknown, None, 0),
        Some(book) => match book.official_code(id, now) {
            Some((c, s, open)) => (code(c), Some(s), open as u32),
            None => (RiskCode::Green, Some(0.0), 0),
        },
    };
    OfficialRow {
        official_id: id,
        region: str_of(&scope.region),
        org_unit: str_of(&scope.org_unit),
        code,
        score,
        open_warnings: open,
    }
}

impl EngineSource {
    pub(super) fn scan_officials(&self, visit: &mut dyn FnMut(OfficialRow<'_>)) {
        let now = (self.clock)();
        let guard = self.casebook.as_ref().map(|b| b.lock());
        let book = guard.as_deref();
        // The casebook's scopes win (its latest warning said them).
        let book_scopes: FxHashMap<&str, &Scope> = book
            .map(|b| b.officials().filter(|(_, s)| known(s)).collect())
            .unwrap_or_default();
        let view = self.views.get();
        if let Some(view) = &view {
            view.for_each_official(|id, engine_scope| {
                let scope = book_scopes.get(id).copied().unwrap_or(engine_scope);
                visit(row(id, scope, book, now));
            });
        }
        if let Some(b) = book {
            for (id, scope) in b.officials() {
                if view.as_ref().is_some_and(|v| v.contains(id)) {
                    continue;
                }
                visit(row(id, scope, book, now));
            }
        }
    }

    pub(super) fn scan_warnings(&self, visit: &mut dyn FnMut(WarningRow<'_>)) {
        let Some(shared) = &self.casebook else {
            return;
        };
        let book = shared.lock();
        let view = self.views.get();
        // The casebook's scope, else the engine's, else the trigger event's: the
        // order of `resolve_scope` (a trigger event may carry no region).
        let mut scopes: FxHashMap<&str, Scope> = book
            .officials()
            .filter(|(_, s)| known(s))
            .map(|(id, s)| (id, s.clone()))
            .collect();
        for t in book.tracked_warnings() {
            let w = &t.warning;
            let official = w.official_id.as_str();
            if !scopes.contains_key(official) {
                let engine = view.as_ref().and_then(|v| v.scope_of(official));
                let scope = engine.filter(known).unwrap_or_else(|| w.scope.clone());
                scopes.insert(official, scope);
            }
        }
        for t in book.tracked_warnings() {
            let w = &t.warning;
            let scope = &scopes[w.official_id.as_str()];
            visit(WarningRow {
                warning_id: &w.warning_id,
                official_id: &w.official_id,
                region: str_of(&scope.region),
                org_unit: str_of(&scope.org_unit),
                rule_id: &w.rule_id,
                level: level(t.effective_level()),
                status: status(t.status),
                occurred_at_ns: w.occurred_at.0,
            });
        }
    }

    pub(super) fn list_item(&self, id: &str) -> Option<WarningItem> {
        let view = self.warning(id)?;
        Some(WarningItem {
            warning_id: view.warning_id,
            rule_id: view.rule_id,
            rule_version: view.rule_version,
            official_id: view.official_id,
            region: view.region,
            org_unit: view.org_unit,
            level: view.level,
            status: view.status,
            occurred_at: view.occurred_at,
            detected_at: view.detected_at,
            title: view.title,
            key: view.key,
            case_id: view.case_id,
            escalated: view.escalated,
        })
    }

    pub(super) fn history(&self, id: &str) -> Option<CodeHistory> {
        let now = (self.clock)();
        let engine = self.engine_scope(id);
        let Some(shared) = &self.casebook else {
            // The loop is off: an official the engine knows has an unknown code.
            let scope = engine?;
            return Some(CodeHistory {
                official_id: id.to_string(),
                region: text(&scope.region),
                org_unit: text(&scope.org_unit),
                casework: false,
                current: CurrentCode {
                    code: RiskCode::Unknown,
                    score: None,
                    computed_at: now.to_string(),
                },
                history: Vec::new(),
            });
        };
        let book = shared.lock();
        let history = book.code_history(id);
        let current = book.official_code(id, now);
        if engine.is_none() && current.is_none() && history.is_empty() {
            return None;
        }
        let book_scope = book.official(id, now).map(|r| r.scope);
        let scope = resolve_scope(book_scope, || engine, None);
        let (c, score) = current.map_or((RiskCode::Green, 0.0), |(c, s, _)| (code(c), s));
        Some(CodeHistory {
            official_id: id.to_string(),
            region: text(&scope.region),
            org_unit: text(&scope.org_unit),
            casework: true,
            current: CurrentCode {
                code: c,
                score: Some(score),
                computed_at: now.to_string(),
            },
            history: history
                .iter()
                .map(|r| CodeEntry {
                    at: r.at.to_string(),
                    code: code(r.code),
                    previous: code(r.previous),
                    score: r.score,
                    warnings: r.warnings.iter().map(|w| w.to_string()).collect(),
                })
                .collect(),
        })
    }
}
