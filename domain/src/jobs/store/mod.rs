//! All job-queue SQL, in one place. Every state change that a worker makes is fenced: it
//! names the job *and* the fence value it claimed with, and only applies while the job is
//! still `running` under that fence, so a worker whose lease was rescued (and whose job may
//! be running elsewhere) cannot record a result.
//!
//! Claim order is priority (highest first), then id (first in, first out). Starvation rule:
//! the runner makes every `STARVATION_EVERY`-th claim of a queue with `oldest_first`, which
//! takes the oldest queued jobs whatever their priority. Under any stream of higher-priority
//! work a low-priority job therefore waits at most `STARVATION_EVERY` claims for each job
//! queued before it. On SQLite, claims are safe because writes are serialised; on
//! PostgreSQL, the candidate rows are locked with `FOR UPDATE SKIP LOCKED`, so concurrent
//! claimers (other processes included) take disjoint jobs without waiting on each other.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::{Job, JobKind, JobStatus, NewJob, Priority};
use crate::db::{Backend, Db};
use crate::error::{DomainError, DomainResult};
use crate::schema::jobs;

mod claim;
mod edit;
mod query;

pub use claim::*;
pub use edit::*;
pub use query::*;

/// Every this many claims of a queue, one takes the oldest jobs instead of the highest.
pub const STARVATION_EVERY: u64 = 8;

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = jobs)]
pub(super) struct JobRow {
    pub(super) id: i64,
    name: String,
    kind: String,
    command: String,
    meta: String,
    queue: String,
    priority: i16,
    status: String,
    attempts: i32,
    max_attempts: i32,
    timeout_secs: Option<i32>,
    run_at: NaiveDateTime,
    unique_key: Option<String>,
    owner_id: Option<i64>,
    created_at: NaiveDateTime,
    started_at: Option<NaiveDateTime>,
    finished_at: Option<NaiveDateTime>,
    exit_code: Option<i32>,
    result: Option<String>,
    error: Option<String>,
    log_path: Option<String>,
    lease_owner: Option<String>,
    lease_expires_at: Option<NaiveDateTime>,
    fence: i64,
    scheduler_id: Option<i64>,
}

impl TryFrom<JobRow> for Job {
    type Error = DomainError;
    fn try_from(r: JobRow) -> Result<Job, DomainError> {
        let corrupt = |what: &str| {
            DomainError::Internal(anyhow::anyhow!("job {}: invalid {what} in the database", r.id))
        };
        Ok(Job {
            kind: JobKind::parse("kind", &r.kind).map_err(|_| corrupt("kind"))?,
            status: JobStatus::parse("status", &r.status).map_err(|_| corrupt("status"))?,
            priority: Priority::from_i16(r.priority).ok_or_else(|| corrupt("priority"))?,
            meta: serde_json::from_str(&r.meta).map_err(|_| corrupt("meta"))?,
            id: r.id,
            name: r.name,
            command: r.command,
            queue: r.queue,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            timeout_secs: r.timeout_secs,
            run_at: r.run_at,
            unique_key: r.unique_key,
            owner_id: r.owner_id,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            exit_code: r.exit_code,
            result: r.result,
            error: r.error,
            log_path: r.log_path,
            lease_owner: r.lease_owner,
            lease_expires_at: r.lease_expires_at,
            fence: r.fence,
            scheduler_id: r.scheduler_id,
        })
    }
}

fn to_jobs(rows: Vec<JobRow>) -> DomainResult<Vec<Job>> {
    rows.into_iter().map(Job::try_from).collect()
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

/// A new job's row: `queued` when it may run now, `pending` when `run_at` is later.
#[derive(Insertable)]
#[diesel(table_name = jobs)]
pub(super) struct NewRow {
    name: String,
    kind: &'static str,
    command: String,
    meta: String,
    queue: String,
    priority: i16,
    status: &'static str,
    max_attempts: i32,
    timeout_secs: Option<i32>,
    run_at: NaiveDateTime,
    unique_key: Option<String>,
    owner_id: Option<i64>,
    created_at: NaiveDateTime,
}

impl NewRow {
    pub(super) fn new(new: &NewJob, t: NaiveDateTime) -> Self {
        let run_at = new.run_at.map(|r| r.naive_utc()).unwrap_or(t);
        let status = if run_at > t {
            JobStatus::Pending
        } else {
            JobStatus::Queued
        };
        NewRow {
            name: new.name.clone(),
            kind: new.kind.as_str(),
            command: new.command.clone(),
            meta: new.meta.to_string(),
            queue: new.queue.clone(),
            priority: new.priority.as_i16(),
            status: status.as_str(),
            max_attempts: new.max_attempts,
            timeout_secs: new.timeout_secs,
            run_at,
            unique_key: new.unique_key.clone(),
            owner_id: new.owner_id,
            created_at: t,
        }
    }
}

/// Stores a new job (see [`NewRow`] for its first status). A live job with the same `unique_key` makes this a 409.
pub async fn insert(db: &Db, new: &NewJob) -> DomainResult<Job> {
    let row = NewRow::new(new, now());
    let inserted: Result<JobRow, diesel::result::Error> = crate::with_conn!(db, |conn| {
        diesel::insert_into(jobs::table)
            .values(&row)
            .returning(JobRow::as_returning())
            .get_result(conn)
            .await
    });
    inserted.map_err(unique_conflict)?.try_into()
}

/// [`insert`], calling `announce` with the stored job before it commits: a hint of the new
/// job (PostgreSQL `NOTIFY`, sent at commit) can wake a runner of this very process, whose
/// claim would otherwise be announced before the job's creation. If the commit then fails,
/// `retract` is called with the job.
pub async fn insert_announced(
    db: &Db,
    new: &NewJob,
    announce: impl FnOnce(&Job) + Send,
    retract: impl FnOnce(&Job) + Send,
) -> DomainResult<Job> {
    use diesel_async::AsyncConnection;
    let row = NewRow::new(new, now());
    let announced: std::sync::Mutex<Option<Job>> = std::sync::Mutex::new(None);
    let inserted: Result<JobRow, DomainError> = crate::with_conn!(db, |conn| {
        conn.transaction::<_, DomainError, _>(async |c| {
            let stored: JobRow = diesel::insert_into(jobs::table)
                .values(&row)
                .returning(JobRow::as_returning())
                .get_result(c)
                .await
                .map_err(unique_conflict)?;
            let job = Job::try_from(stored.clone())?;
            announce(&job);
            *announced.lock().unwrap_or_else(|p| p.into_inner()) = Some(job);
            Ok(stored)
        })
        .await
    });
    match inserted {
        Ok(row) => row.try_into(),
        Err(e) => {
            if let Some(job) = announced.lock().unwrap_or_else(|p| p.into_inner()).take() {
                retract(&job);
            }
            Err(e)
        }
    }
}

fn unique_conflict(e: diesel::result::Error) -> DomainError {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            DomainError::Conflict("a job with this unique_key is already pending, queued or running".into())
        }
        e => e.into(),
    }
}

pub async fn get(db: &Db, id: i64) -> DomainResult<Option<Job>> {
    let row: Option<JobRow> = crate::with_conn!(db, |conn| {
        jobs::table
            .find(id)
            .select(JobRow::as_select())
            .first(conn)
            .await
            .optional()?
    });
    row.map(Job::try_from).transpose()
}

/// Stores many jobs at once (bulk enqueue: imports, the benchmark). Unlike [`insert`] it
/// returns only how many were stored; a unique-key clash fails the whole call.
pub async fn insert_many(db: &Db, new: &[NewJob]) -> DomainResult<usize> {
    let t = now();
    let mut stored = 0;
    // SQLite allows 32,766 bound values per statement; 13 per row.
    for chunk in new.chunks(2000) {
        let rows: Vec<NewRow> = chunk.iter().map(|n| NewRow::new(n, t)).collect();
        stored += match db.backend() {
            // Diesel writes a multi-row insert on SQLite as one INSERT per row: one transaction.
            Backend::Sqlite(pool) => {
                pool.get()
                    .await?
                    .spawn_blocking(move |c| {
                        use diesel::connection::Connection;
                        c.transaction(|c| {
                            diesel::RunQueryDsl::execute(diesel::insert_into(jobs::table).values(&rows), c)
                        })
                    })
                    .await?
            }
            Backend::Pg(pool) => {
                diesel::insert_into(jobs::table)
                    .values(&rows)
                    .execute(&mut *pool.get().await?)
                    .await?
            }
        };
    }
    Ok(stored)
}

/// Where job `id`'s command output is written.
pub fn log_file(log_dir: &std::path::Path, id: i64) -> std::path::PathBuf {
    log_dir.join(format!("job-{id}.log"))
}

/// Removes the log files of deleted jobs (missing ones are fine: not every job has one).
pub async fn remove_logs(log_dir: &std::path::Path, ids: &[i64]) {
    for id in ids {
        let _ = tokio::fs::remove_file(log_file(log_dir, *id)).await;
    }
}

/// Exponential backoff before retry `attempt` (1-based): `base · 2^(attempt-1)`, capped at
/// `max`, plus up to 10 % jitter so that a burst of failures does not retry in lockstep.
pub fn backoff(attempt: i32, base: std::time::Duration, max: std::time::Duration) -> std::time::Duration {
    use rand::Rng;
    let exp = 2u32.saturating_pow(u32::try_from(attempt.max(1) - 1).unwrap_or(0).min(30));
    let d = base.saturating_mul(exp).min(max);
    let jitter = rand::thread_rng().gen_range(0.0..0.1);
    d + d.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(2), Duration::from_secs(60));
        for (attempt, expect) in [(1, 2), (2, 4), (3, 8), (4, 16), (6, 60), (40, 60)] {
            let d = backoff(attempt, base, max);
            let lo = Duration::from_secs(expect);
            assert!(d >= lo && d <= lo.mul_f64(1.1), "attempt {attempt}: {d:?}");
        }
    }
}
