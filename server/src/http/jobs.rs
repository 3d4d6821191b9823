//! `/jobs/*`: the job queue. Who may do what is decided in `vcore_domain::jobs::service`;
//! these handlers only extract, call and map.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{
    BulkResult, ConsumerRequest, ConsumerState, JobCreate, JobLog, JobPublic, JobStatusUpdate, JobUpdate,
    JobsBulk, JobsPage, JobsQuery, LogQuery, Message,
};
use vcore_domain::users::Page;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody, RestError};
use super::extract::{CurrentUser, IdPath, ValidJson, ValidQuery, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, create_job))
        .routes(routes!(bulk))
        .routes(routes!(start_consumer))
        .routes(routes!(stop_consumer))
        .routes(routes!(read_job, update_job, delete_job))
        .routes(routes!(set_status))
        .routes(routes!(kill_job))
        .routes(routes!(read_log))
        .routes(routes!(download_log))
}

/// Errors from query parameters name them with loc `["query", …]`.
fn in_query(e: vcore_domain::DomainError) -> RestError {
    RestError {
        location: "query",
        ..RestError::from(e)
    }
}

/// Jobs, newest first: all of them for a superuser, one's own otherwise.
#[utoipa::path(get, path = "/jobs/", tag = "jobs", security(("bearer" = [])), params(JobsQuery),
    responses((status = 200, body = JobsPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_jobs(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidQuery(q): ValidQuery<JobsQuery>,
) -> ApiResult<Json<JobsPage>> {
    let page = Page::parse(q.offset, q.limit).map_err(in_query)?;
    let seq = svc.hub.next_seq();
    let (rows, count) = svc
        .list_jobs(
            &me,
            vcore_domain::jobs::service::JobQuery {
                status: q.status.as_deref(),
                queue: q.queue_name.as_deref(),
                priority: q.priority.as_deref(),
                name: q.name.as_deref(),
                scheduler_id: q.scheduler_id,
            },
            page,
        )
        .await
        .map_err(in_query)?;
    Ok(Json(JobsPage {
        data: rows.into_iter().map(Into::into).collect(),
        count,
        seq,
    }))
}

/// Enqueue a job. Shell commands (`type: command`) are for superusers only.
#[utoipa::path(post, path = "/jobs/", tag = "jobs", security(("bearer" = [])), request_body = JobCreate,
    responses((status = 201, body = JobPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_job(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<JobCreate>,
) -> ApiResult<(StatusCode, Json<JobPublic>)> {
    let job = svc.enqueue_job(&me, c.into_input()?).await?;
    Ok((CREATED, Json(job.into())))
}

/// One action on many jobs: `retry` (failed or cancelled ones), `kill` (running or waiting
/// ones) or `delete` (any not running), at most 500 ids. Each job is handled as the single
/// call would handle it; the ones it refuses are listed in `skipped` with the reason.
#[utoipa::path(post, path = "/jobs/bulk", tag = "jobs", security(("bearer" = [])), request_body = JobsBulk,
    responses((status = 200, body = BulkResult), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bulk(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(b): ValidJson<JobsBulk>,
) -> ApiResult<Json<BulkResult>> {
    Ok(Json(svc.bulk_jobs(&me, &b.action, &b.ids).await?.into()))
}

/// One job (its owner or a superuser).
#[utoipa::path(get, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)),
    responses((status = 200, body = JobPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn read_job(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<JobPublic>> {
    Ok(Json(svc.get_job(&me, id).await?.into()))
}

/// Change a job that has not started (pending or queued).
#[utoipa::path(put, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)), request_body = JobUpdate,
    responses((status = 200, body = JobPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_job(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ValidJson(u): ValidJson<JobUpdate>,
) -> ApiResult<Json<JobPublic>> {
    Ok(Json(svc.update_job(&me, id, u.into()).await?.into()))
}

/// Delete a job that is not running, and its log.
#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_job(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Message>> {
    svc.delete_job(&me, id).await?;
    Ok(Json(Message {
        message: "Job deleted".into(),
    }))
}

/// `queued` retries a failed or cancelled job; `cancelled` cancels a pending or queued one.
#[utoipa::path(put, path = "/jobs/{job_id}/status", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)), request_body = JobStatusUpdate,
    responses((status = 200, body = JobPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ValidJson(s): ValidJson<JobStatusUpdate>,
) -> ApiResult<Json<JobPublic>> {
    Ok(Json(svc.set_job_status(&me, id, &s.status).await?.into()))
}

/// Kill a running job (with its whole process group) or cancel a waiting one.
#[utoipa::path(post, path = "/jobs/{job_id}/kill", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)),
    responses((status = 200, body = JobPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn kill_job(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<JobPublic>> {
    Ok(Json(svc.kill_job(&me, id).await?.into()))
}

/// A job's output from `offset` (bytes); tail by asking again from `next_offset`.
#[utoipa::path(get, path = "/jobs/{job_id}/log", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path), LogQuery),
    responses((status = 200, body = JobLog), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn read_log(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ValidQuery(q): ValidQuery<LogQuery>,
) -> ApiResult<Json<JobLog>> {
    let slice = match (q.tail, q.offset) {
        // The end of the output, but nothing before `offset` (what the caller already has).
        (Some(true), Some(from)) => match svc.job_log_tail(&me, id).await? {
            tail if tail.offset >= from => tail,
            _ => svc.job_log(&me, id, from).await?,
        },
        (Some(true), None) => svc.job_log_tail(&me, id).await?,
        (_, offset) => svc.job_log(&me, id, offset.unwrap_or(0)).await?,
    };
    Ok(Json(slice.into()))
}

/// A job's whole output as a text file (`job-{id}.log`), streamed. Signed-in browsers can
/// follow a plain link to it: the session cookie authenticates a GET.
#[utoipa::path(get, path = "/jobs/{job_id}/log/download", tag = "jobs", security(("bearer" = [])), params(("job_id" = i64, Path)),
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn download_log(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use vcore_domain::jobs::service::LogDownload;
    let body = match svc.open_job_log(&me, id).await? {
        Some(LogDownload::File(file)) => {
            axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
        Some(LogDownload::Database(db, job)) => {
            axum::body::Body::from_stream(vcore_domain::jobs::logs::stream(db, job))
        }
        None => axum::body::Body::empty(),
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"job-{id}.log\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response())
}

/// Start the consumers of a queue again, on every node (superuser).
#[utoipa::path(post, path = "/jobs/start-consumer", tag = "jobs", security(("bearer" = [])), request_body = ConsumerRequest,
    responses((status = 200, body = ConsumerState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such queue", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn start_consumer(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(r): ValidJson<ConsumerRequest>,
) -> ApiResult<Json<ConsumerState>> {
    let paused = svc.set_consumer(&me, &r.queue_name, false).await?;
    Ok(Json(ConsumerState {
        queue_name: r.queue_name,
        paused,
    }))
}

/// Stop the consumers of a queue on every node, until started again (also across
/// restarts); running jobs go on. Once this returns, no node claims from it (superuser).
#[utoipa::path(post, path = "/jobs/stop-consumer", tag = "jobs", security(("bearer" = [])), request_body = ConsumerRequest,
    responses((status = 200, body = ConsumerState), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "No such queue", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn stop_consumer(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(r): ValidJson<ConsumerRequest>,
) -> ApiResult<Json<ConsumerState>> {
    let paused = svc.set_consumer(&me, &r.queue_name, true).await?;
    Ok(Json(ConsumerState {
        queue_name: r.queue_name,
        paused,
    }))
}
