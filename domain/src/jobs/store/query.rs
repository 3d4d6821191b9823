//! Reads for the API and the dashboard: counts by status and queue, jobs finished per
//! minute, and the filtered, paged listing.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::*;

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

/// Per queue with queued jobs: the earliest due time among them.
pub async fn earliest_queued(db: &Db) -> DomainResult<Vec<(String, NaiveDateTime)>> {
    let rows = crate::with_conn!(db, |conn| {
        jobs::table
            .filter(jobs::status.eq(JobStatus::Queued.as_str()))
            .group_by(jobs::queue)
            .select((jobs::queue, diesel::dsl::min(jobs::run_at)))
            .load::<(String, Option<NaiveDateTime>)>(conn)
            .await?
    });
    Ok(rows.into_iter().filter_map(|(q, t)| t.map(|t| (q, t))).collect())
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
