//! Test fixtures: a fixed [`QuerySource`], keys (HS256 secrets, the committed test-only
//! RSA pair under tests/keys/), token minting with jsonwebtoken's `encode`, and a
//! `call` helper around `tower::ServiceExt::oneshot`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::{Value, json};
use sunlight_api::lists::{self, CodeHistory};
use sunlight_api::*;
use tower::ServiceExt;

pub const HS_KID: &str = "hs-1";
pub const HS_SECRET: &str = "0123456789abcdef0123456789abcdef";
/// A second HS256 key without kid, read from a file.
pub const HS_SECRET_2: &str = "fedcba9876543210fedcba9876543210-second";
pub const RS_KID: &str = "rs-1";
pub const ISSUER: &str = "sunlight-idp";
pub const AUDIENCE: &str = "sunlight-api";

pub fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

pub fn rsa_private_pem() -> Vec<u8> {
    std::fs::read(keys_dir().join("rs256-private.pem")).unwrap()
}

pub fn rsa_public_pem() -> Vec<u8> {
    std::fs::read(keys_dir().join("rs256-public.pem")).unwrap()
}

/// The fixture's officials and warnings: OF-1 (north, finance) and OF-2 (south,
/// audit) by default, with one warning each; list tests add more. Feedback handed
/// to it is recorded.
pub struct Fixture {
    pub casework: bool,
    pub officials: Vec<OfficialItem>,
    /// Warnings and their trigger time (ns).
    pub warnings: Vec<(WarningItem, i64)>,
    pub feedback: Arc<Mutex<Vec<FeedbackSubmission>>>,
}

impl Default for Fixture {
    fn default() -> Fixture {
        let item = |id: &str, region: &str, unit: &str| OfficialItem {
            official_id: id.into(),
            region: region.into(),
            org_unit: unit.into(),
            code: RiskCode::Red,
            score: Some(0.92),
            open_warnings: 1,
        };
        Fixture {
            casework: true,
            officials: vec![
                item("OF-1", "north", "finance"),
                item("OF-2", "south", "audit"),
            ],
            warnings: vec![
                (
                    warning_item(&warning("W-OF-1", "OF-1", "north", "finance")),
                    1_760_493_600_000_000_000,
                ),
                (
                    warning_item(&warning("W-OF-2", "OF-2", "south", "audit")),
                    1_760_493_600_000_000_000,
                ),
            ],
            feedback: Arc::default(),
        }
    }
}

/// The list item of a warning view.
pub fn warning_item(w: &WarningView) -> WarningItem {
    WarningItem {
        warning_id: w.warning_id.clone(),
        rule_id: w.rule_id.clone(),
        rule_version: w.rule_version,
        official_id: w.official_id.clone(),
        region: w.region.clone(),
        org_unit: w.org_unit.clone(),
        level: w.level,
        status: w.status,
        occurred_at: w.occurred_at.clone(),
        detected_at: w.detected_at.clone(),
        title: w.title.clone(),
        key: w.key.clone(),
        case_id: w.case_id.clone(),
        escalated: w.escalated,
    }
}

pub fn official(id: &str, region: &str, org_unit: &str) -> OfficialView {
    OfficialView {
        official_id: id.into(),
        region: region.into(),
        org_unit: org_unit.into(),
        risk: Risk {
            code: RiskCode::Red,
            score: Some(0.92),
            computed_at: "2026-10-15T02:05:00Z".into(),
        },
        open_warnings: vec![WarningSummary {
            warning_id: format!("W-{id}"),
            rule_id: "relative-company".into(),
            rule_version: 1,
            level: Level::Red,
            status: WarningStatus::Pushed,
            occurred_at: "2026-10-15T02:00:00Z".into(),
            key: KeyMap::from_pairs([
                ("counterparty", "SUP-1443"),
                ("national_id", "110101199003070011"),
            ]),
            title: "payment to SUP-1443, owned by relative 110101199003070011".into(),
        }],
        windows: vec![
            WindowAggregate {
                rule_id: "split-payment".into(),
                key: KeyMap::from_pairs([("counterparty", "SUP-1443")]),
                count: 2,
                sum: Some(9_300_000),
                window: TimeRange {
                    start: "2026-09-15T02:00:00Z".into(),
                    end: "2026-10-15T02:00:00Z".into(),
                },
            },
            WindowAggregate {
                rule_id: "calls".into(),
                key: KeyMap::from_pairs([("phone", "13800138000")]),
                count: 7,
                sum: None,
                window: TimeRange {
                    start: "2026-10-14T02:00:00Z".into(),
                    end: "2026-10-15T02:00:00Z".into(),
                },
            },
        ],
    }
}

pub fn warning(id: &str, official_id: &str, region: &str, org_unit: &str) -> WarningView {
    WarningView {
        warning_id: id.into(),
        rule_id: "relative-company".into(),
        rule_version: 1,
        official_id: official_id.into(),
        key: KeyMap::from_pairs([
            ("counterparty", "SUP-1443"),
            ("national_id", "110101199003070011"),
        ]),
        level: Level::Red,
        trigger_event_id: "EV-9".into(),
        occurred_at: "2026-10-15T02:00:00Z".into(),
        window: TimeRange {
            start: "2026-09-15T02:00:00Z".into(),
            end: "2026-10-15T02:00:00Z".into(),
        },
        measures: Measures(vec![
            ("count".into(), MeasureValue::Int(2)),
            ("sum".into(), MeasureValue::Int(9_300_000)),
        ]),
        conditions: vec![ConditionView {
            measure: "count".into(),
            op: ">=".into(),
            threshold: MeasureValue::Int(2),
            value: MeasureValue::Int(2),
        }],
        evidence: Evidence {
            event_ids: vec!["EV-8".into(), "EV-9".into()],
            total: 2,
            events: vec![sunlight_api::model::EvidenceEvent {
                event_id: "EV-9".into(),
                kind: "payment".into(),
                occurred_at: "2026-10-15T02:00:00Z".into(),
                amount_cents: Some(4_600_000),
                counterparty: Some("SUP-1443".into()),
                attributes: [("national_id".to_string(), "110101199003070011".into())].into(),
            }],
        },
        title: "payment to SUP-1443, owned by relative 110101199003070011".into(),
        detected_at: "2026-10-15T02:01:00Z".into(),
        status: WarningStatus::Verifying,
        history: vec![
            HistoryEntry {
                status: WarningStatus::Pushed,
                handler: None,
                note: None,
                at: "2026-10-15T02:01:00Z".into(),
            },
            HistoryEntry {
                status: WarningStatus::Verifying,
                handler: Some("inspector-7".into()),
                note: Some("relative 110101199003070011 confirmed".into()),
                at: "2026-10-16T09:00:00Z".into(),
            },
        ],
        case_id: Some("CASE-2026-001".into()),
        escalated: true,
        region: region.into(),
        org_unit: org_unit.into(),
    }
}

impl QuerySource for Fixture {
    fn casework(&self) -> bool {
        self.casework
    }

    fn official(&self, id: &str) -> Option<OfficialView> {
        let o = self.officials.iter().find(|o| o.official_id == id)?;
        Some(official(id, &o.region, &o.org_unit))
    }

    fn warning(&self, id: &str) -> Option<WarningView> {
        let (w, _) = self.warnings.iter().find(|(w, _)| w.warning_id == id)?;
        let mut view = warning(id, &w.official_id, &w.region, &w.org_unit);
        view.status = w.status;
        Some(view)
    }

    fn for_each_official(&self, visit: &mut dyn FnMut(OfficialRow<'_>)) {
        for o in &self.officials {
            visit(OfficialRow {
                official_id: &o.official_id,
                region: &o.region,
                org_unit: &o.org_unit,
                code: o.code,
                score: o.score,
                open_warnings: o.open_warnings,
            });
        }
    }

    fn for_each_warning(&self, visit: &mut dyn FnMut(WarningRow<'_>)) {
        for (w, t) in &self.warnings {
            visit(WarningRow {
                warning_id: &w.warning_id,
                official_id: &w.official_id,
                region: &w.region,
                org_unit: &w.org_unit,
                rule_id: &w.rule_id,
                level: w.level,
                status: w.status,
                occurred_at_ns: *t,
            });
        }
    }

    fn warning_item(&self, id: &str) -> Option<WarningItem> {
        self.warnings
            .iter()
            .find(|(w, _)| w.warning_id == id)
            .map(|(w, _)| w.clone())
    }

    fn code_history(&self, id: &str) -> Option<CodeHistory> {
        let o = self.officials.iter().find(|o| o.official_id == id)?;
        Some(CodeHistory {
            official_id: id.into(),
            region: o.region.clone(),
            org_unit: o.org_unit.clone(),
            casework: self.casework,
            current: lists::CurrentCode {
                code: o.code,
                score: o.score,
                computed_at: "2026-10-15T02:05:00Z".into(),
            },
            history: vec![CodeEntry {
                at: "2026-10-15T02:01:00Z".into(),
                code: o.code,
                previous: RiskCode::Green,
                score: 3.0,
                warnings: vec![format!("W-{id}")],
            }],
        })
    }

    fn submit_feedback(&self, feedback: FeedbackSubmission) -> SubmitFuture {
        let sink = Arc::clone(&self.feedback);
        let casework = self.casework;
        Box::pin(async move {
            if !casework {
                return Err(SubmitError::CaseworkOff);
            }
            sink.lock().unwrap().push(feedback);
            Ok(())
        })
    }

    fn rules(&self) -> RulesView {
        RulesView {
            pack: "default".into(),
            version: "2026.11.1".into(),
            rules: vec![RuleInfo {
                rule_id: "split-payment".into(),
                version: 1,
                title: Some("{count} payments to {counterparty}".into()),
                description: Some("A payment split to dodge approval.".into()),
                window: "30d".into(),
                field: Some("amount_cents".into()),
            }],
        }
    }
}

/// The test configuration; secret and key files live in `dir`.
pub fn config(dir: &Path) -> ApiConfig {
    std::fs::write(dir.join("hs2.secret"), format!("{HS_SECRET_2}\n")).unwrap();
    std::fs::write(dir.join("rs.pem"), rsa_public_pem()).unwrap();
    serde_json::from_value(json!({
        "keys": [
            {"kid": HS_KID, "algorithm": "HS256", "secret": HS_SECRET},
            {"algorithm": "HS256", "secret_file": dir.join("hs2.secret")},
            {"kid": RS_KID, "algorithm": "RS256", "public_key_file": dir.join("rs.pem")},
        ],
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "sensitive_attributes": ["national_id", "phone"],
        "audit_file": dir.join("audit.jsonl"),
    }))
    .unwrap()
}

/// A test app: the router, its audit file and a channel receiver.
pub struct App {
    pub router: Router,
    /// What the API submitted as feedback.
    pub feedback: Arc<Mutex<Vec<FeedbackSubmission>>>,
    pub audit_file: PathBuf,
    pub channel: tokio::sync::mpsc::Receiver<AuditRecord>,
    _dir: tempfile::TempDir,
}

pub fn app() -> App {
    app_with(Fixture::default())
}

/// A test app over `fixture`.
pub fn app_with(fixture: Fixture) -> App {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let (sink, channel) = ChannelSink::new(64);
    let feedback = Arc::clone(&fixture.feedback);
    let api = Api::new(&config, Arc::new(fixture), vec![Arc::new(sink)]).unwrap();
    App {
        feedback,
        router: router(Arc::new(api)),
        audit_file: dir.path().join("audit.jsonl"),
        channel,
        _dir: dir,
    }
}

/// Claims valid for an hour, issuer and audience as configured.
pub fn claims(sub: &str, regions: &[&str], org_units: &[&str], sensitive: bool) -> Value {
    let now = get_current_timestamp();
    json!({
        "sub": sub, "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "exp": now + 3600,
        "regions": regions, "org_units": org_units, "sensitive": sensitive,
    })
}

/// A token with `roles`.
pub fn token_with_roles(sub: &str, regions: &[&str], roles: &[&str]) -> String {
    let mut c = claims(sub, regions, &[], false);
    c["roles"] = json!(roles);
    hs256(Some(HS_KID), HS_SECRET, &c)
}

/// `POST path` with `Bearer token` and a JSON body.
pub async fn post_json(router: &Router, path: &str, token: &str, body: &str) -> Answer {
    let request = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    call(router, request).await
}

pub fn hs256(kid: Option<&str>, secret: &str, claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(Into::into);
    encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn rs256(kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = kid.map(Into::into);
    let key = EncodingKey::from_rsa_pem(&rsa_private_pem()).unwrap();
    encode(&header, claims, &key).unwrap()
}

/// A token for a region-north inspector without sensitive access.
pub fn north_token() -> String {
    hs256(
        Some(HS_KID),
        HS_SECRET,
        &claims("inspector-1", &["north"], &[], false),
    )
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

/// `GET path` with an optional `Authorization` header value.
pub async fn get(router: &Router, path: &str, authorization: Option<&str>) -> Answer {
    let mut request = Request::get(path);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    call(router, request.body(Body::empty()).unwrap()).await
}

/// `GET path` with `Bearer token`.
pub async fn get_with(router: &Router, path: &str, token: &str) -> Answer {
    get(router, path, Some(&format!("Bearer {token}"))).await
}

pub async fn call(router: &Router, mut request: Request<Body>) -> Answer {
    let peer: SocketAddr = "192.0.2.10:40000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// The audit file's lines, parsed.
pub fn audit_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
