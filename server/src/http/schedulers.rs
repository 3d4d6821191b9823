//! `/job-schedulers/*`: jobs made on a trigger. Who may do what is decided in
//! `vcore_domain::jobs::scheduler_service`; these handlers only extract, call and map.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{
    Message, PageQuery, SchedulerCreate, SchedulerPublic, SchedulerUpdate, SchedulersPage,
};
use vcore_domain::users::Page;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody, RestError};
use super::extract::{CurrentUser, IdPath, ValidJson, ValidQuery, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_schedulers, create_scheduler))
        .routes(routes!(read_scheduler, update_scheduler, delete_scheduler))
        .routes(routes!(toggle_scheduler))
}

/// Schedulers, newest first: all for a superuser, one's own otherwise.
#[utoipa::path(get, path = "/job-schedulers/", tag = "job-schedulers", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = SchedulersPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_schedulers(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<SchedulersPage>> {
    let page = Page::parse(q.offset, q.limit).map_err(|e| RestError {
        location: "query",
        ..RestError::from(e)
    })?;
    let (rows, count) = svc.list_schedulers(&me, page).await?;
    Ok(Json(SchedulersPage {
        data: rows.into_iter().map(Into::into).collect(),
        count,
    }))
}

/// Create a scheduler. Command templates are for superusers only.
#[utoipa::path(post, path = "/job-schedulers/", tag = "job-schedulers", security(("bearer" = [])), request_body = SchedulerCreate,
    responses((status = 201, body = SchedulerPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_scheduler(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<SchedulerCreate>,
) -> ApiResult<(StatusCode, Json<SchedulerPublic>)> {
    let s = svc.create_scheduler(&me, c.into()).await?;
    Ok((CREATED, Json(s.into())))
}

/// One scheduler (its owner or a superuser).
#[utoipa::path(get, path = "/job-schedulers/{scheduler_id}", tag = "job-schedulers", security(("bearer" = [])), params(("scheduler_id" = i64, Path)),
    responses((status = 200, body = SchedulerPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn read_scheduler(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<SchedulerPublic>> {
    Ok(Json(svc.get_scheduler(&me, id).await?.into()))
}

/// Change a scheduler; the result is checked whole. A changed trigger starts afresh.
#[utoipa::path(put, path = "/job-schedulers/{scheduler_id}", tag = "job-schedulers", security(("bearer" = [])), params(("scheduler_id" = i64, Path)), request_body = SchedulerUpdate,
    responses((status = 200, body = SchedulerPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_scheduler(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ValidJson(u): ValidJson<SchedulerUpdate>,
) -> ApiResult<Json<SchedulerPublic>> {
    Ok(Json(
        svc.update_scheduler(&me, id, |input| u.apply(input))
            .await?
            .into(),
    ))
}

/// Delete a scheduler; the jobs it made stay.
#[utoipa::path(delete, path = "/job-schedulers/{scheduler_id}", tag = "job-schedulers", security(("bearer" = [])), params(("scheduler_id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_scheduler(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Message>> {
    svc.delete_scheduler(&me, id).await?;
    Ok(Json(Message {
        message: "Scheduler deleted successfully".into(),
    }))
}

/// Enable a disabled scheduler, or disable an enabled one.
#[utoipa::path(post, path = "/job-schedulers/{scheduler_id}/toggle", tag = "job-schedulers", security(("bearer" = [])), params(("scheduler_id" = i64, Path)),
    responses((status = 200, body = SchedulerPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn toggle_scheduler(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<SchedulerPublic>> {
    Ok(Json(svc.toggle_scheduler(&me, id).await?.into()))
}
