//! Changes made on a person's behalf: cancel (and the fenced cancel of a kill), edits of a
//! job that has not started, retry, delete, and pruning finished jobs.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::*;

/// Cancels a job that has not ended. `fence: None` cancels a pending or queued job;
/// `Some(fence)` cancels a running one on behalf of the worker holding that fence (a kill).
/// Returns whether the job was cancelled.
pub async fn cancel(db: &Db, id: i64, fence: Option<i64>, reason: &str) -> DomainResult<bool> {
    let t = now();
    let set = (
        jobs::status.eq(JobStatus::Cancelled.as_str()),
        jobs::finished_at.eq(t),
        jobs::error.eq(reason),
        jobs::lease_owner.eq(None::<String>),
        jobs::lease_expires_at.eq(None::<NaiveDateTime>),
    );
    let n = crate::with_conn!(db, |conn| match fence {
        None => {
            diesel::update(
                jobs::table
                    .find(id)
                    .filter(jobs::status.eq_any(["pending", "queued"])),
            )
            .set(set)
            .execute(conn)
            .await?
        }
        Some(f) => {
            diesel::update(
                jobs::table
                    .find(id)
                    .filter(jobs::status.eq("running"))
                    .filter(jobs::fence.eq(f)),
            )
            .set(set)
            .execute(conn)
            .await?
        }
    });
    Ok(n == 1)
}

/// Deletes finished jobs (done, failed, cancelled) that ended before `cutoff`; returns
/// their ids (their log files are the caller's: see [`remove_logs`]).
pub async fn prune_finished(db: &Db, cutoff: NaiveDateTime) -> DomainResult<Vec<i64>> {
    Ok(crate::with_conn!(db, |conn| {
        diesel::delete(
            jobs::table
                .filter(jobs::status.eq_any(["done", "failed", "cancelled"]))
                .filter(jobs::finished_at.lt(cutoff)),
        )
        .returning(jobs::id)
        .get_results(conn)
        .await?
    }))
}

/// Changes to a job that has not started.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub priority: Option<Priority>,
    pub queue: Option<String>,
    pub meta: Option<serde_json::Value>,
    pub max_attempts: Option<i32>,
    pub timeout_secs: Option<i32>,
    pub run_at: Option<NaiveDateTime>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = jobs)]
struct ChangeRow {
    name: Option<String>,
    priority: Option<i16>,
    queue: Option<String>,
    meta: Option<String>,
    max_attempts: Option<i32>,
    timeout_secs: Option<i32>,
    run_at: Option<NaiveDateTime>,
    status: Option<String>,
}

/// Applies `changes` while the job is pending or queued. `None` when it is not (any more).
pub async fn update(db: &Db, id: i64, c: &Changes) -> DomainResult<Option<Job>> {
    // A new run_at decides between waiting and ready, as at enqueue.
    let status = c.run_at.map(|r| {
        if r > now() {
            JobStatus::Pending
        } else {
            JobStatus::Queued
        }
    });
    let row = ChangeRow {
        name: c.name.clone(),
        priority: c.priority.map(Priority::as_i16),
        queue: c.queue.clone(),
        meta: c.meta.as_ref().map(|m| m.to_string()),
        max_attempts: c.max_attempts,
        timeout_secs: c.timeout_secs,
        run_at: c.run_at,
        status: status.map(|s| s.as_str().to_string()),
    };
    if row.name.is_none()
        && row.priority.is_none()
        && row.queue.is_none()
        && row.meta.is_none()
        && row.max_attempts.is_none()
        && row.timeout_secs.is_none()
        && row.run_at.is_none()
    {
        return get(db, id)
            .await
            .map(|j| j.filter(|j| matches!(j.status, JobStatus::Pending | JobStatus::Queued)));
    }
    let updated: Option<JobRow> = crate::with_conn!(db, |conn| {
        diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq_any(["pending", "queued"])),
        )
        .set(&row)
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
    });
    updated.map(Job::try_from).transpose()
}

/// Puts a failed or cancelled job back in its queue for a fresh set of attempts.
pub async fn retry(db: &Db, id: i64) -> DomainResult<Option<Job>> {
    let t = now();
    let row: Option<JobRow> = crate::with_conn!(db, |conn| {
        diesel::update(
            jobs::table
                .find(id)
                .filter(jobs::status.eq_any(["failed", "cancelled"])),
        )
        .set((
            jobs::status.eq(JobStatus::Queued.as_str()),
            jobs::attempts.eq(0),
            jobs::run_at.eq(t),
            jobs::started_at.eq(None::<NaiveDateTime>),
            jobs::finished_at.eq(None::<NaiveDateTime>),
            jobs::exit_code.eq(None::<i32>),
            jobs::result.eq(None::<String>),
            jobs::error.eq(None::<String>),
        ))
        .returning(JobRow::as_returning())
        .get_result(conn)
        .await
        .optional()?
    });
    row.map(Job::try_from).transpose()
}

/// Deletes a job that is not running. Returns whether it was deleted.
pub async fn delete(db: &Db, id: i64) -> DomainResult<bool> {
    let n = crate::with_conn!(db, |conn| {
        diesel::delete(
            jobs::table
                .find(id)
                .filter(jobs::status.ne(JobStatus::Running.as_str())),
        )
        .execute(conn)
        .await?
    });
    Ok(n == 1)
}
