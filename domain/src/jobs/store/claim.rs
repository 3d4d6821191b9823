//! The worker's side of the queue: claims, fenced results (one by one and in batches),
//! lease heartbeats, promotion of due jobs, rescue of expired leases, hand-back at shutdown.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::*;

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
