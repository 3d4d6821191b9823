//! `/audit-log/`: the audit log, read-only (superusers; a key needs `admin`). Nothing in the
//! API changes or deletes an entry.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{AuditPage, AuditQuery};
use vcore_domain::users::Page;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody, RestError};
use super::extract::{CurrentUser, ValidQuery};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Audit log entries, newest first, filtered by actor, action, target, outcome and time.
#[utoipa::path(get, path = "/audit-log/", tag = "audit-log", security(("bearer" = [])), params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_audit(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidQuery(q): ValidQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let in_query = |e| RestError {
        location: "query",
        ..RestError::from(e)
    };
    let page = Page::parse(q.offset, q.limit).map_err(in_query)?;
    let (rows, count) = svc.list_audit(&me, q.into(), page).await.map_err(in_query)?;
    Ok(Json(AuditPage {
        data: rows.into_iter().map(Into::into).collect(),
        count,
    }))
}
