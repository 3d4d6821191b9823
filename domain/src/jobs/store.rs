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

/// What a claim asks for.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub queue: &'a str,
    pub limit: i64,
    pub worker: &'a str,
    pub lease_until: NaiveDateTime,
    /// The starvation rule's turn: take the oldest jobs, not the highest.
    pub oldest_first: bool,
}

/// Moves up to `limit` queued jobs of a queue to `running` for `worker`, in claim order
/// (none while the queue is in `paused_queues`: a stopped consumer holds for every node),
/// counting an attempt and bumping each job's fence. One statement: the UPDATE claims the
/// ids its own subquery picks (written in SQL because Diesel's DSL cannot express an update
/// whose filter selects from the same table with ORDER BY, LIMIT and a row lock).
pub async fn claim(db: &Db, c: &Claim<'_>) -> DomainResult<Vec<Job>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    let order = if c.oldest_first { "id" } else { "priority DESC, id" };
    let (t, queued, running) = (now(), JobStatus::Queued.as_str(), JobStatus::Running.as_str());
    // SQLite serialises writes, so only PostgreSQL needs the row locks.
    let lock = if db.is_postgres() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE jobs SET status = $1, attempts = attempts + 1, started_at = $2, lease_owner = $3, \
         lease_expires_at = $4, fence = fence + 1 WHERE id IN (SELECT id FROM jobs \
         WHERE queue = $5 AND status = $6 AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.queue = $5) \
         ORDER BY {order} LIMIT $7{lock}) RETURNING *"
    );
    let query = diesel::sql_query(db.numbered(&sql))
        .bind::<Text, _>(running)
        .bind::<Timestamp, _>(t)
        .bind::<Text, _>(c.worker)
        .bind::<Timestamp, _>(c.lease_until)
        .bind::<Text, _>(c.queue)
        .bind::<Text, _>(queued)
        .bind::<BigInt, _>(c.limit);
    let mut rows: Vec<JobRow> = match db.backend() {
        Backend::Sqlite(pool) => query.load(&mut *pool.get().await?).await?,
        Backend::Pg(pool) => query.load(&mut *pool.get().await?).await?,
    };
    // RETURNING has no order; hand jobs to workers in claim order.
    if c.oldest_first {
        rows.sort_by_key(|r| r.id);
    } else {
        rows.sort_by_key(|r| (std::cmp::Reverse(r.priority), r.id));
    }
    to_jobs(rows)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done {
        result: Option<String>,
        exit_code: Option<i32>,
    },
    /// Failed; retried at `retry_at` while attempts remain, else the job is `failed`.
    Failed {
        error: String,
        exit_code: Option<i32>,
        retry_at: NaiveDateTime,
    },
}

/// What [`finish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Done,
    /// Back to `pending` for another attempt.
    Retrying,
    Failed,
    /// The fence did not match or the job is no longer running: nothing was written.
    Stale,
}

/// Records the end of an attempt, fenced. A success is written as a batch of one
/// (see [`finish_batch`]); a failure goes back to `pending` while attempts remain, else ends
/// `failed`.
pub async fn finish(db: &Db, id: i64, fence: i64, outcome: &Outcome) -> DomainResult<Finished> {
    let (error, exit_code, retry_at) = match outcome {
        Outcome::Done { result, exit_code } => {
            let done = DoneRow {
                id,
                fence,
                result: result.clone(),
                exit_code: *exit_code,
            };
            let recorded = finish_done(db, vec![done]).await?;
            return Ok(if recorded.contains(&id) {
                Finished::Done
            } else {
                Finished::Stale
            });
        }
        Outcome::Failed {
            error,
            exit_code,
            retry_at,
        } => (error, exit_code, retry_at),
    };
    let t = now();
    let held = jobs::id
        .eq(id)
        .and(jobs::fence.eq(fence))
        .and(jobs::status.eq(JobStatus::Running.as_str()));
    let lease_cleared = (
        jobs::lease_owner.eq(None::<String>),
        jobs::lease_expires_at.eq(None::<NaiveDateTime>),
    );
    Ok(crate::with_conn!(db, |conn| {
        let retried = diesel::update(
            jobs::table
                .filter(held)
                .filter(jobs::attempts.lt(jobs::max_attempts)),
        )
        .set((
            jobs::status.eq(JobStatus::Pending.as_str()),
            jobs::run_at.eq(retry_at),
            jobs::error.eq(error),
            jobs::exit_code.eq(exit_code),
            lease_cleared.clone(),
        ))
        .execute(conn)
        .await?;
        if retried == 1 {
            Finished::Retrying
        } else {
            let n = diesel::update(jobs::table.filter(held))
                .set((
                    jobs::status.eq(JobStatus::Failed.as_str()),
                    jobs::finished_at.eq(t),
                    jobs::error.eq(error),
                    jobs::exit_code.eq(exit_code),
                    lease_cleared,
                ))
                .execute(conn)
                .await?;
            if n == 1 {
                Finished::Failed
            } else {
                Finished::Stale
            }
        }
    }))
}

/// The end of one attempt, for [`finish_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub id: i64,
    pub fence: i64,
    /// The job's owner (for the live events; not written).
    pub owner_id: Option<i64>,
    /// The job's name, for notifications (empty when there is no notifier; not written).
    pub name: String,
    pub outcome: Outcome,
}

/// Records many attempts' ends at once, each fenced as in [`finish`]; returns what
/// happened to each, in input order. Successes, the bulk of any busy queue, are written
/// together: on SQLite in one transaction on one connection (one commit, one trip to the
/// blocking pool), on PostgreSQL in one `UPDATE … FROM unnest(…)` statement. Failures go
/// one by one through [`finish`] because each picks between retry and failed.
pub async fn finish_batch(db: &Db, batch: &[Completion]) -> DomainResult<Vec<Finished>> {
    let mut out = vec![Finished::Stale; batch.len()];
    let done: Vec<DoneRow> = batch
        .iter()
        .filter_map(|c| match &c.outcome {
            Outcome::Done { result, exit_code } => Some(DoneRow {
                id: c.id,
                fence: c.fence,
                result: result.clone(),
                exit_code: *exit_code,
            }),
            Outcome::Failed { .. } => None,
        })
        .collect();
    let recorded = if done.is_empty() {
        Vec::new()
    } else {
        finish_done(db, done).await?
    };
    for (slot, c) in out.iter_mut().zip(batch) {
        *slot = match &c.outcome {
            Outcome::Done { .. } if recorded.contains(&c.id) => Finished::Done,
            Outcome::Done { .. } => Finished::Stale,
            failed => finish(db, c.id, c.fence, failed).await?,
        };
    }
    Ok(out)
}

struct DoneRow {
    id: i64,
    fence: i64,
    result: Option<String>,
    exit_code: Option<i32>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Marks the given running jobs done (fenced); returns the ids it recorded, sorted.
async fn finish_done(db: &Db, rows: Vec<DoneRow>) -> DomainResult<Vec<i64>> {
    let t = now();
    let mut ids = match db.backend() {
        Backend::Sqlite(pool) => {
            let mut conn = pool.get().await?;
            conn.spawn_blocking(move |c| {
                use diesel::connection::Connection;
                c.transaction(|c| {
                    let mut ids = Vec::with_capacity(rows.len());
                    for r in &rows {
                        let held = jobs::id
                            .eq(r.id)
                            .and(jobs::fence.eq(r.fence))
                            .and(jobs::status.eq(JobStatus::Running.as_str()));
                        let n = diesel::RunQueryDsl::execute(
                            diesel::update(jobs::table.filter(held)).set((
                                jobs::status.eq(JobStatus::Done.as_str()),
                                jobs::finished_at.eq(t),
                                jobs::result.eq(r.result.as_deref()),
                                jobs::exit_code.eq(r.exit_code),
                                jobs::error.eq(None::<String>),
                                jobs::lease_owner.eq(None::<String>),
                                jobs::lease_expires_at.eq(None::<NaiveDateTime>),
                            )),
                            c,
                        )?;
                        if n == 1 {
                            ids.push(r.id);
                        }
                    }
                    Ok::<_, diesel::result::Error>(ids)
                })
            })
            .await?
        }
        Backend::Pg(pool) => {
            use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
            let (mut id, mut fence, mut result, mut code) = (vec![], vec![], vec![], vec![]);
            for r in rows {
                id.push(r.id);
                fence.push(r.fence);
                result.push(r.result);
                code.push(r.exit_code);
            }
            let sql = "UPDATE jobs SET status = 'done', finished_at = $1, result = u.result, \
                 exit_code = u.exit_code, error = NULL, lease_owner = NULL, lease_expires_at = NULL \
                 FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::int[]) AS u(id, fence, result, exit_code) \
                 WHERE jobs.id = u.id AND jobs.fence = u.fence AND jobs.status = 'running' \
                 RETURNING jobs.id";
            let rows: Vec<IdRow> = diesel::sql_query(sql)
                .bind::<Timestamp, _>(t)
                .bind::<Array<BigInt>, _>(id)
                .bind::<Array<BigInt>, _>(fence)
                .bind::<Array<Nullable<Text>>, _>(result)
                .bind::<Array<Nullable<Integer>>, _>(code)
                .load(&mut *pool.get().await?)
                .await?;
            rows.into_iter().map(|r| r.id).collect()
        }
    };
    ids.sort_unstable();
    Ok(ids)
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

/// Extends the lease of `worker`'s running jobs; returns the ids it still holds (a job
/// missing from them was killed from another node, or rescued: stop it).
pub async fn heartbeat(db: &Db, worker: &str, until: NaiveDateTime) -> DomainResult<Vec<i64>> {
    Ok(crate::with_conn!(db, |conn| {
        diesel::update(
            jobs::table
                .filter(jobs::lease_owner.eq(worker))
                .filter(jobs::status.eq(JobStatus::Running.as_str())),
        )
        .set(jobs::lease_expires_at.eq(until))
        .returning(jobs::id)
        .get_results(conn)
        .await?
    }))
}

/// The ids of the jobs `worker` holds (running under its lease), without renewing.
pub async fn held_by(db: &Db, worker: &str) -> DomainResult<Vec<i64>> {
    Ok(crate::with_conn!(db, |conn| {
        jobs::table
            .filter(jobs::status.eq(JobStatus::Running.as_str()))
            .filter(jobs::lease_owner.eq(worker))
            .select(jobs::id)
            .load(conn)
            .await?
    }))
}

/// Moves `pending` jobs whose `run_at` has come to `queued`; returns how many.
pub async fn promote_due(db: &Db) -> DomainResult<usize> {
    let t = now();
    Ok(crate::with_conn!(db, |conn| {
        diesel::update(
            jobs::table
                .filter(jobs::status.eq(JobStatus::Pending.as_str()))
                .filter(jobs::run_at.le(t)),
        )
        .set(jobs::status.eq(JobStatus::Queued.as_str()))
        .execute(conn)
        .await?
    }))
}

/// When the next `pending` job becomes due, if any (the promoter sleeps until then).
pub async fn next_due(db: &Db) -> DomainResult<Option<NaiveDateTime>> {
    Ok(crate::with_conn!(db, |conn| {
        jobs::table
            .filter(jobs::status.eq(JobStatus::Pending.as_str()))
            .select(diesel::dsl::min(jobs::run_at))
            .first::<Option<NaiveDateTime>>(conn)
            .await?
    }))
}

/// Rescues jobs whose lease has expired (their worker died or hung): back to `pending`
/// (due at once) while attempts remain, else `failed`. The bumped fence makes sure the
/// lost worker can no longer record a result. Returns the rescued job ids.
pub async fn rescue_expired(db: &Db) -> DomainResult<Vec<TakenBack>> {
    use diesel::sql_types::{Text, Timestamp};
    // One statement (the maintenance node runs it every few seconds, busy or idle): each
    // expired job goes to `pending` or `failed` by its own attempts.
    const SQL: &str = "UPDATE jobs SET \
         status = CASE WHEN attempts < max_attempts THEN 'pending' ELSE 'failed' END, \
         run_at = CASE WHEN attempts < max_attempts THEN $1 ELSE run_at END, \
         finished_at = CASE WHEN attempts < max_attempts THEN finished_at ELSE $1 END, \
         error = $2, fence = fence + 1, lease_owner = NULL, lease_expires_at = NULL \
         WHERE status = 'running' AND lease_expires_at < $1 \
         RETURNING id, owner_id, name, status";
    let lost = "lease expired: the worker stopped renewing it (crash or hang)";
    let query = diesel::sql_query(db.numbered(SQL))
        .bind::<Timestamp, _>(now())
        .bind::<Text, _>(lost);
    let rows: Vec<TakenBackRow> = match db.backend() {
        Backend::Sqlite(pool) => query.load(&mut *pool.get().await?).await?,
        Backend::Pg(pool) => query.load(&mut *pool.get().await?).await?,
    };
    let mut taken: Vec<TakenBack> = rows
        .into_iter()
        .map(|r| TakenBack {
            id: r.id,
            owner_id: r.owner_id,
            name: r.name,
            status: if r.status == JobStatus::Failed.as_str() {
                JobStatus::Failed
            } else {
                JobStatus::Pending
            },
        })
        .collect();
    taken.sort_by_key(|t| t.id);
    Ok(taken)
}

#[derive(QueryableByName)]
struct TakenBackRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    owner_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
}

/// A job taken back from a worker (rescue or shutdown), and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenBack {
    pub id: i64,
    pub owner_id: Option<i64>,
    pub name: String,
    pub status: JobStatus,
}

/// Graceful shutdown: hands `worker`'s unfinished jobs back to the queue, not counting the
/// interrupted attempt. Returns them.
pub async fn release(db: &Db, worker: &str) -> DomainResult<Vec<TakenBack>> {
    Ok(crate::with_conn!(db, |conn| {
        diesel::update(
            jobs::table
                .filter(jobs::lease_owner.eq(worker))
                .filter(jobs::status.eq(JobStatus::Running.as_str())),
        )
        .set((
            jobs::status.eq(JobStatus::Queued.as_str()),
            jobs::attempts.eq(jobs::attempts - 1),
            jobs::fence.eq(jobs::fence + 1),
            jobs::lease_owner.eq(None::<String>),
            jobs::lease_expires_at.eq(None::<NaiveDateTime>),
        ))
        .returning((jobs::id, jobs::owner_id, jobs::name))
        .get_results::<(i64, Option<i64>, String)>(conn)
        .await?
        .into_iter()
        .map(|(id, owner_id, name)| TakenBack {
            id,
            owner_id,
            name,
            status: JobStatus::Queued,
        })
        .collect()
    }))
}

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

/// How many jobs are in each status (statuses with none are left out).
pub async fn count_by_status(db: &Db) -> DomainResult<Vec<(String, i64)>> {
    Ok(crate::with_conn!(db, |conn| {
        jobs::table
            .group_by(jobs::status)
            .select((jobs::status, diesel::dsl::count_star()))
            .order(jobs::status)
            .load::<(String, i64)>(conn)
            .await?
    }))
}

/// Jobs per queue and status, for the dashboard; `owner`: only theirs.
pub async fn count_by_queue_status(db: &Db, owner: Option<i64>) -> DomainResult<Vec<(String, String, i64)>> {
    Ok(crate::with_conn!(db, |conn| {
        let mut q = jobs::table
            .group_by((jobs::queue, jobs::status))
            .select((jobs::queue, jobs::status, diesel::dsl::count_star()))
            .order((jobs::queue, jobs::status))
            .into_boxed();
        if let Some(o) = owner {
            q = q.filter(jobs::owner_id.eq(o));
        }
        q.load::<(String, String, i64)>(conn).await?
    }))
}

#[derive(diesel::QueryableByName)]
struct MinuteRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    m: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Jobs that ended at or after `since`, counted per whole minute after `since` and status:
/// `(minute, status, count)`. `owner`: only theirs.
pub async fn finished_per_minute(
    db: &Db,
    owner: Option<i64>,
    since: NaiveDateTime,
) -> DomainResult<Vec<(i64, String, i64)>> {
    use diesel::sql_types::{BigInt, Nullable, Timestamp};
    let rows: Vec<MinuteRow> = match db.backend() {
        Backend::Sqlite(pool) => {
            diesel::sql_query(
                "SELECT CAST((julianday(finished_at) - julianday(?)) * 1440 AS INTEGER) AS m, status, \
                 COUNT(*) AS n FROM jobs WHERE finished_at >= ? AND (? IS NULL OR owner_id = ?) \
                 GROUP BY m, status",
            )
            .bind::<Timestamp, _>(since)
            .bind::<Timestamp, _>(since)
            .bind::<Nullable<BigInt>, _>(owner)
            .bind::<Nullable<BigInt>, _>(owner)
            .load(&mut *pool.get().await?)
            .await?
        }
        Backend::Pg(pool) => {
            diesel::sql_query(
                "SELECT FLOOR(EXTRACT(EPOCH FROM (finished_at - $1)) / 60)::BIGINT AS m, status, \
                 COUNT(*) AS n FROM jobs WHERE finished_at >= $1 AND ($2::BIGINT IS NULL OR owner_id = $2) \
                 GROUP BY m, status",
            )
            .bind::<Timestamp, _>(since)
            .bind::<Nullable<BigInt>, _>(owner)
            .load(&mut *pool.get().await?)
            .await?
        }
    };
    Ok(rows.into_iter().map(|r| (r.m, r.status, r.n)).collect())
}

/// Filters of a job listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<JobStatus>,
    pub queue: Option<String>,
    pub priority: Option<Priority>,
    /// Only this owner's jobs (regular users).
    pub owner_id: Option<i64>,
    /// Only the jobs this scheduler made.
    pub scheduler_id: Option<i64>,
    /// Only jobs whose name contains this, ignoring case (ASCII).
    pub name: Option<String>,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

/// `%text%` for LIKE, with `%`, `_` and `\` taken literally (escaped with `\`).
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A page of jobs, newest first, and the total that match.
pub async fn list(db: &Db, f: &ListFilter, offset: i64, limit: i64) -> DomainResult<(Vec<Job>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = jobs::table.into_boxed();
            if let Some(s) = f.status {
                q = q.filter(jobs::status.eq(s.as_str()));
            }
            if let Some(queue) = &f.queue {
                q = q.filter(jobs::queue.eq(queue));
            }
            if let Some(p) = f.priority {
                q = q.filter(jobs::priority.eq(p.as_i16()));
            }
            if let Some(o) = f.owner_id {
                q = q.filter(jobs::owner_id.eq(o));
            }
            if let Some(sid) = f.scheduler_id {
                q = q.filter(jobs::scheduler_id.eq(sid));
            }
            if let Some(name) = &f.name {
                q = q.filter(lower(jobs::name).like(contains_pattern(name)).escape('\\'));
            }
            q
        }};
    }
    let (rows, total): (Vec<JobRow>, i64) = crate::with_conn!(db, |conn| {
        let total = filtered!().count().get_result(conn).await?;
        let rows = filtered!()
            .order(jobs::id.desc())
            .offset(offset)
            .limit(limit)
            .select(JobRow::as_select())
            .load(conn)
            .await?;
        (rows, total)
    });
    Ok((to_jobs(rows)?, total))
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
