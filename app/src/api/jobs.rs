//! Server functions for the jobs pages: list (filtered, paged), one job, its log, create,
//! kill, retry, cancel, delete. Who may do what is the domain's: a regular user sees and acts
//! on their own jobs only, shell commands are for superusers.

use leptos::prelude::*;

use crate::types::{AppError, BulkResult, JobLog, JobPublic, JobsPage};

/// Jobs the caller may see, newest first. Empty filters mean "any".
#[server]
pub async fn list_jobs(
    #[server(default)] status: String,
    #[server(default)] queue_name: String,
    #[server(default)] priority: String,
    #[server(default)] name: String,
    offset: Option<i64>,
    limit: Option<i64>,
) -> Result<JobsPage, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let page = vcore_domain::users::Page::parse(offset, limit)?;
    let seq = svc.hub.next_seq();
    let some = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string);
    let (rows, count) = svc
        .list_jobs(
            &me,
            vcore_domain::jobs::service::JobQuery {
                status: some(&status).as_deref(),
                queue: some(&queue_name).as_deref(),
                priority: some(&priority).as_deref(),
                name: some(&name).as_deref(),
                scheduler_id: None,
            },
            page,
        )
        .await?;
    Ok(JobsPage {
        data: rows.iter().map(JobPublic::from).collect(),
        count,
        seq,
    })
}

/// One job (its owner or a superuser).
#[server]
pub async fn get_job(id: i64) -> Result<JobPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.get_job(&me, id).await?.into())
}

/// The job's output from `offset` on, or (`tail`) its last 64 KiB from a line start.
#[server]
pub async fn read_job_log(
    id: i64,
    #[server(default)] offset: u64,
    #[server(default)] tail: bool,
) -> Result<JobLog, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(match tail {
        true => svc.job_log_tail(&me, id).await?,
        false => svc.job_log(&me, id, offset).await?,
    }
    .into())
}

/// Enqueues a job from the new-job form. `meta` is JSON text (empty: none). (One argument
/// per form field: that is how server functions read a form.)
#[allow(clippy::too_many_arguments)]
#[server]
pub async fn create_job(
    name: String,
    kind: String,
    command: String,
    #[server(default)] priority: String,
    #[server(default)] queue_name: String,
    #[server(default)] meta: String,
    #[server(default)] max_attempts: String,
    #[server(default)] timeout_secs: String,
) -> Result<JobPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    use super::ctx::{filled as some, form_number};
    let meta = match some(meta) {
        None => None,
        Some(text) => Some(serde_json::from_str(&text).map_err(|e| AppError::Invalid {
            field: "meta".into(),
            message: format!("is not valid JSON: {e}"),
        })?),
    };
    let input = crate::types::JobCreate {
        name,
        command,
        kind,
        priority: some(priority),
        queue_name: some(queue_name),
        meta,
        max_attempts: form_number("max_attempts", max_attempts, "")?,
        timeout_secs: form_number("timeout_secs", timeout_secs, "")?,
        run_at: None,
        unique_key: None,
    };
    Ok(svc.enqueue_job(&me, input.into_input()?).await?.into())
}

/// Stops a running job (its process group gets SIGTERM, then SIGKILL).
#[server]
pub async fn kill_job(id: i64) -> Result<JobPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.kill_job(&me, id).await?.into())
}

/// Retries an ended job (`queued`) or cancels one that has not started (`cancelled`).
#[server]
pub async fn set_job_status(id: i64, status: String) -> Result<JobPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.set_job_status(&me, id, &status).await?.into())
}

/// Deletes a job that is not running, with its log.
#[server]
pub async fn delete_job(id: i64) -> Result<(), AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    svc.delete_job(&me, id).await?;
    Ok(())
}

/// `retry`, `kill` or `delete` each of `ids` (the jobs page's selection); jobs the caller may
/// not touch, or in the wrong state, are skipped with the reason.
#[server]
pub async fn bulk_jobs(action: String, ids: Vec<i64>) -> Result<BulkResult, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.bulk_jobs(&me, &action, &ids).await?.into())
}

/// The scripts jobs of type `script` can run, with their input's fields (signed-in users).
#[server]
pub async fn list_scripts() -> Result<crate::types::ScriptsPage, AppError> {
    let (_, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(crate::convert::scripts_page(&svc))
}
