//! Handlers of the list, board, history, session and feedback endpoints: parse the
//! query (400 naming the parameter), scope (out of scope answers like unknown),
//! mask unless the token may see sensitive values, answer JSON.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::Api;
use crate::auth::Principal;
use crate::error::{error_response, not_found};
use crate::handlers::ok;
use crate::listing::{self, OfficialsQuery, ParamError, Params, WarningsQuery};
use crate::lists::{
    FeedbackAccepted, FeedbackRequest, FeedbackSubmission, Page, SessionView, SubmitError,
};
use crate::model::WarningStatus;
use crate::outcome::Outcome;

fn bad_request(e: &ParamError) -> Response {
    let mut r = error_response(StatusCode::BAD_REQUEST, "bad_request", &e.to_string());
    r.extensions_mut().insert(Outcome("bad_request"));
    r
}

fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

/// `GET /v1/session`.
pub(crate) async fn session(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
) -> Response {
    let c = &principal.claims;
    ok(&SessionView {
        sub: c.sub.clone(),
        roles: c.roles.clone(),
        can_handle: c.can_handle(),
        sensitive: c.sensitive,
        casework: api.source.casework(),
        regions: c.regions.clone(),
        org_units: c.org_units.clone(),
    })
}

/// `GET /v1/officials`.
pub(crate) async fn officials(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<Params>,
) -> Response {
    match OfficialsQuery::parse(&params) {
        Ok(q) => ok(&listing::officials(
            api.source.as_ref(),
            &principal.scope,
            &q,
        )),
        Err(e) => bad_request(&e),
    }
}

/// `GET /v1/warnings`.
pub(crate) async fn warnings(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Query(params): Query<Params>,
) -> Response {
    let q = match WarningsQuery::parse(&params) {
        Ok(q) => q,
        Err(e) => return bad_request(&e),
    };
    let (ids, total, next_cursor) = listing::warning_ids(api.source.as_ref(), &principal.scope, &q);
    let items = ids
        .iter()
        .filter_map(|id| api.source.warning_item(id))
        .map(|mut item| {
            if !principal.claims.sensitive {
                api.masker.warning_item(&mut item);
            }
            item
        })
        .collect();
    ok(&Page {
        items,
        total,
        next_cursor,
        casework: api.source.casework(),
    })
}

/// `GET /v1/summary`.
pub(crate) async fn summary(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
) -> Response {
    ok(&listing::summary(
        api.source.as_ref(),
        &principal.scope,
        now(),
    ))
}

/// `GET /v1/officials/{id}/codes`.
pub(crate) async fn codes(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    match api.source.code_history(&id) {
        Some(h) if principal.scope.permits(&h.region, &h.org_unit) => ok(&h),
        _ => not_found(),
    }
}

/// `POST /v1/warnings/{id}/feedback`: checks scope (404), role (403), the body and
/// the status (400), that the status moves the warning forward (409), then writes
/// the feedback to the feedback topic (202); the pipeline applies it.
pub(crate) async fn feedback(
    State(api): State<Arc<Api>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Result<Json<FeedbackRequest>, JsonRejection>,
) -> Response {
    let Some(view) = api
        .source
        .warning(&id)
        .filter(|v| principal.scope.permits(&v.region, &v.org_unit))
    else {
        return not_found();
    };
    if !principal.claims.can_handle() {
        let mut r = error_response(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token may only read: recording feedback needs the role `handler`",
        );
        r.extensions_mut().insert(Outcome("forbidden"));
        return r;
    }
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => {
            return bad_request(&ParamError {
                name: "body".into(),
                problem: format!(
                    "{} (expected {{\"status\": \"received\", \"note\": \"...\"}})",
                    e.body_text()
                ),
            });
        }
    };
    let status = match WarningStatus::parse(&body.status).filter(|s| *s != WarningStatus::Pushed) {
        Some(s) => s,
        None => {
            return bad_request(&ParamError {
                name: "status".into(),
                problem: format!(
                    "{:?} is not one of received, verifying, rectified, confirmed, dismissed",
                    body.status
                ),
            });
        }
    };
    if status.stage() <= view.status.stage() {
        let mut r = error_response(
            StatusCode::CONFLICT,
            "conflict",
            &format!(
                "the warning is {}; a status never moves backwards or sideways",
                view.status.name()
            ),
        );
        r.extensions_mut().insert(Outcome("conflict"));
        return r;
    }
    let submission = FeedbackSubmission {
        warning_id: view.warning_id.clone(),
        official_id: view.official_id.clone(),
        status,
        handler: principal.claims.sub.clone(),
        note: body.note,
        at: now(),
    };
    let accepted = FeedbackAccepted {
        accepted: true,
        warning_id: submission.warning_id.clone(),
        status,
        handler: submission.handler.clone(),
        at: submission.at.clone(),
    };
    match api.source.submit_feedback(submission).await {
        Ok(()) => {
            let mut r = (StatusCode::ACCEPTED, Json(&accepted)).into_response();
            r.extensions_mut().insert(Outcome("accepted"));
            r
        }
        Err(e) => {
            let code = match e {
                SubmitError::CaseworkOff => "casework_off",
                SubmitError::Unavailable(_) => "unavailable",
            };
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, code, &e.to_string());
            r.extensions_mut().insert(Outcome(code));
            r
        }
    }
}
