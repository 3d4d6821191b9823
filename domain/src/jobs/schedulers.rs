//! Schedulers: a job template and a [`Trigger`]; each due run makes one job. This file holds
//! their model and SQL. The loop that fires them lives in the runner; who may create or
//! change one is decided by the services above.
//!
//! **Exactly one job per due run**, also with several processes on one database: firing a
//! run is one transaction that moves `next_run_at` from the due time it read to the next
//! one (compare-and-set: only one process can make that change) and stores the job. A
//! process that loses the race changes nothing; a crash before the commit leaves the run due.
//!
//! **Runs missed while no runner was up** are coalesced: the first tick after start makes
//! one job for them, then the trigger goes on from the next due time after *now* (a
//! scheduler due every minute that was down for an hour runs once, not sixty times).
//! `repeat` keeps its cadence from the due time (no drift from tick delays) unless that too
//! has passed. `on_start` schedulers make one job each time a runner starts.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};
use serde::Deserialize;

use super::schedule::Trigger;
use super::store::{JobRow, NewRow};
use super::{Job, JobInput, JobKind, NewJob};
use crate::db::Db;
use crate::error::{DomainError, DomainResult};
use crate::schema::{job_schedulers as s, jobs};

/// A stored scheduler.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = s)]
pub struct Scheduler {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub trigger_type: String,
    pub repeat_every_seconds: Option<i64>,
    pub cron: Option<String>,
    pub timezone: String,
    /// JSON of a [`JobTemplate`].
    pub job_template: String,
    pub enabled: bool,
    pub owner_id: Option<i64>,
    /// When the next run is due; `None` when disabled or `on_start`.
    pub next_run_at: Option<NaiveDateTime>,
    pub last_run_at: Option<NaiveDateTime>,
    pub last_job_id: Option<i64>,
    pub run_count: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl Scheduler {
    /// Its trigger (validated when it was stored).
    pub fn trigger(&self) -> DomainResult<Trigger> {
        Trigger::parse(
            &self.trigger_type,
            self.repeat_every_seconds,
            self.cron.as_deref(),
            Some(&self.timezone),
        )
    }
}

/// The job a scheduler makes, as in a job's create body (no `run_at`: the trigger decides).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub command: String,
    #[serde(default)]
    pub meta: Option<serde_json::Value>,
    #[serde(default)]
    pub queue_name: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub max_attempts: Option<i32>,
    #[serde(default)]
    pub timeout_secs: Option<i32>,
    #[serde(default)]
    pub unique_key: Option<String>,
}

impl JobTemplate {
    /// Parses and checks a template like a new job; errors name `job_template.<field>`.
    pub fn parse(
        value: &serde_json::Value,
        queues: &[String],
        owner_id: Option<i64>,
    ) -> DomainResult<NewJob> {
        let t: JobTemplate = serde_json::from_value(value.clone())
            .map_err(|e| DomainError::invalid("job_template", e.to_string()))?;
        let input = JobInput {
            name: t.name,
            kind: t.kind,
            command: t.command,
            meta: t.meta,
            queue_name: t.queue_name,
            priority: t.priority,
            max_attempts: t.max_attempts,
            timeout_secs: t.timeout_secs,
            run_at: None,
            unique_key: t.unique_key,
        };
        NewJob::parse(input, queues, owner_id).map_err(|e| match e {
            DomainError::Invalid { field, message } => {
                DomainError::invalid(format!("job_template.{field}"), message)
            }
            other => other,
        })
    }
}

/// A scheduler to store, already validated.
#[derive(Debug, Clone)]
pub struct NewScheduler {
    pub name: String,
    pub description: Option<String>,
    pub trigger_type: String,
    pub repeat_every_seconds: Option<i64>,
    pub cron: Option<String>,
    pub timezone: String,
    pub job_template: serde_json::Value,
    pub enabled: bool,
    pub owner_id: Option<i64>,
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// The columns a scheduler's definition sets, when stored and when replaced.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = s, treat_none_as_null = true)]
struct Definition<'a> {
    name: &'a str,
    description: Option<&'a str>,
    trigger_type: &'a str,
    repeat_every_seconds: Option<i64>,
    cron: Option<&'a str>,
    timezone: &'a str,
    job_template: String,
    enabled: bool,
    next_run_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

impl<'a> Definition<'a> {
    fn of(new: &'a NewScheduler, next_run_at: Option<NaiveDateTime>, now: NaiveDateTime) -> Self {
        Definition {
            name: &new.name,
            description: new.description.as_deref(),
            trigger_type: &new.trigger_type,
            repeat_every_seconds: new.repeat_every_seconds,
            cron: new.cron.as_deref(),
            timezone: &new.timezone,
            job_template: new.job_template.to_string(),
            enabled: new.enabled,
            next_run_at,
            updated_at: now,
        }
    }
}

/// The first due time after `now` for a scheduler being stored or enabled.
fn first_due(trigger: &Trigger, enabled: bool, now: DateTime<Utc>) -> Option<NaiveDateTime> {
    enabled.then(|| trigger.next_after(now)).flatten().map(naive)
}

/// Stores a scheduler; its first run is the trigger's first due time after `now`.
pub async fn insert(
    db: &Db,
    new: &NewScheduler,
    trigger: &Trigger,
    now: DateTime<Utc>,
) -> DomainResult<Scheduler> {
    let t = naive(now);
    let values = (
        Definition::of(new, first_due(trigger, new.enabled, now), t),
        s::owner_id.eq(new.owner_id),
        s::created_at.eq(t),
    );
    Ok(crate::with_conn!(db, |conn| {
        diesel::insert_into(s::table)
            .values(values)
            .returning(Scheduler::as_returning())
            .get_result(conn)
            .await?
    }))
}

/// The id of the scheduler without an owner named `name` (the application's own).
pub async fn unowned_named(db: &Db, name: &str) -> DomainResult<Option<i64>> {
    Ok(crate::with_conn!(db, |conn| {
        s::table
            .filter(s::owner_id.is_null().and(s::name.eq(name)))
            .select(s::id)
            .first::<i64>(conn)
            .await
            .optional()?
    }))
}

pub async fn get(db: &Db, id: i64) -> DomainResult<Option<Scheduler>> {
    Ok(crate::with_conn!(db, |conn| {
        s::table
            .find(id)
            .select(Scheduler::as_select())
            .first(conn)
            .await
            .optional()?
    }))
}

/// Enables or disables; enabling schedules the next run after `now` (runs missed while it
/// was off are not made up). `None` when there is no such scheduler.
pub async fn set_enabled(
    db: &Db,
    id: i64,
    enabled: bool,
    now: DateTime<Utc>,
) -> DomainResult<Option<Scheduler>> {
    let Some(current) = get(db, id).await? else {
        return Ok(None);
    };
    let next = first_due(&current.trigger()?, enabled, now);
    Ok(crate::with_conn!(db, |conn| {
        diesel::update(s::table.find(id))
            .set((
                s::enabled.eq(enabled),
                s::next_run_at.eq(next),
                s::updated_at.eq(naive(now)),
            ))
            .returning(Scheduler::as_returning())
            .get_result(conn)
            .await
            .optional()?
    }))
}

/// When the next enabled scheduler is due, if any (the loop sleeps until then).
pub async fn next_due(db: &Db) -> DomainResult<Option<NaiveDateTime>> {
    Ok(crate::with_conn!(db, |conn| {
        s::table
            .filter(s::enabled.eq(true))
            .select(diesel::dsl::min(s::next_run_at))
            .first::<Option<NaiveDateTime>>(conn)
            .await?
    }))
}

/// What firing one run did.
#[derive(Debug, Clone, PartialEq)]
pub enum Fired {
    /// The job it made.
    Made(Box<Job>),
    /// The run was taken (its due time moved on) but no job was made: the template or its
    /// owner no longer allows it. The reason is logged.
    Skipped { scheduler: i64, reason: String },
}

/// Fires every run due at `now`: for each enabled scheduler whose `next_run_at` has come,
/// one job (see the module doc for exactly-once and missed runs). `queues`: the queues this
/// installation runs, for checking the template.
pub async fn fire_due(db: &Db, now: DateTime<Utc>, queues: &[String]) -> DomainResult<Vec<Fired>> {
    let due: Vec<Scheduler> = crate::with_conn!(db, |conn| {
        s::table
            .filter(s::enabled.eq(true))
            .filter(s::next_run_at.le(naive(now)))
            .order(s::next_run_at)
            .limit(100)
            .select(Scheduler::as_select())
            .load(conn)
            .await?
    });
    let mut fired = Vec::new();
    for sched in due {
        let Some(was_due) = sched.next_run_at else {
            continue;
        };
        let trigger = match sched.trigger() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(scheduler = sched.id, error = %e, "a stored scheduler's trigger is invalid; skipping it");
                continue;
            }
        };
        let next = match trigger.next_after(utc(was_due)) {
            Some(n) if n > now => Some(n),
            _ => trigger.next_after(now),
        };
        if let Some(f) = fire(db, &sched, Some(was_due), next.map(naive), now, queues).await? {
            fired.push(f);
        }
    }
    Ok(fired)
}

/// Fires every enabled `on_start` scheduler once (called when a runner starts).
pub async fn fire_on_start(db: &Db, now: DateTime<Utc>, queues: &[String]) -> DomainResult<Vec<Fired>> {
    let on_start: Vec<Scheduler> = crate::with_conn!(db, |conn| {
        s::table
            .filter(s::enabled.eq(true))
            .filter(s::trigger_type.eq("on_start"))
            .select(Scheduler::as_select())
            .load(conn)
            .await?
    });
    let mut fired = Vec::new();
    for sched in on_start {
        if let Some(f) = fire(db, &sched, None, None, now, queues).await? {
            fired.push(f);
        }
    }
    Ok(fired)
}

/// One run in one transaction: take it (the compare-and-set on `next_run_at`, when it is
/// a timed run), then store its job. `None` when another process took it first.
async fn fire(
    db: &Db,
    sched: &Scheduler,
    was_due: Option<NaiveDateTime>,
    next: Option<NaiveDateTime>,
    now: DateTime<Utc>,
    queues: &[String],
) -> DomainResult<Option<Fired>> {
    let job = match allowed_job(db, sched, queues).await {
        Ok(job) => Some(NewRow::new(&job, naive(now))),
        Err(reason) => {
            tracing::warn!(scheduler = sched.id, %reason, "scheduled run skipped");
            None
        }
    };
    let (id, t) = (sched.id, naive(now));
    let result: Result<Option<Option<JobRow>>, diesel::result::Error> = crate::with_conn!(db, |conn| {
        conn.transaction(async move |conn| {
            let taken = match was_due {
                Some(due) => {
                    diesel::update(
                        s::table
                            .find(id)
                            .filter(s::enabled.eq(true))
                            .filter(s::next_run_at.eq(due)),
                    )
                    .set((
                        s::next_run_at.eq(next),
                        s::last_run_at.eq(t),
                        s::run_count.eq(s::run_count + 1),
                    ))
                    .execute(conn)
                    .await?
                }
                None => {
                    diesel::update(s::table.find(id))
                        .set((s::last_run_at.eq(t), s::run_count.eq(s::run_count + 1)))
                        .execute(conn)
                        .await?
                }
            };
            if taken != 1 {
                return Ok(None);
            }
            let Some(row) = job else { return Ok(Some(None)) };
            let stored: JobRow = diesel::insert_into(jobs::table)
                .values(&row)
                .returning(JobRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::update(jobs::table.find(stored.id))
                .set(jobs::scheduler_id.eq(id))
                .execute(conn)
                .await?;
            diesel::update(s::table.find(id))
                .set(s::last_job_id.eq(stored.id))
                .execute(conn)
                .await?;
            Ok(Some(Some(stored)))
        })
        .await
    });
    match result {
        Ok(None) => Ok(None),
        Ok(Some(Some(row))) => Ok(Some(Fired::Made(Box::new(row.try_into()?)))),
        Ok(Some(None)) => Ok(Some(Fired::Skipped {
            scheduler: id,
            reason: "the template or its owner no longer allows this job".into(),
        })),
        // A live job with the template's unique key: this run is skipped, the next comes.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            let skipped = "a job with the template's unique_key is still live";
            tracing::info!(scheduler = id, "{skipped}; run skipped");
            skip_run(db, id, was_due, next, t).await?;
            Ok(Some(Fired::Skipped {
                scheduler: id,
                reason: skipped.into(),
            }))
        }
        Err(e) => Err(e.into()),
    }
}

/// Takes a run without making its job (the insert failed on the unique key).
async fn skip_run(
    db: &Db,
    id: i64,
    was_due: Option<NaiveDateTime>,
    next: Option<NaiveDateTime>,
    t: NaiveDateTime,
) -> DomainResult<()> {
    let Some(due) = was_due else { return Ok(()) };
    crate::with_conn!(db, |conn| {
        diesel::update(s::table.find(id).filter(s::next_run_at.eq(due)))
            .set((s::next_run_at.eq(next), s::last_run_at.eq(t)))
            .execute(conn)
            .await?
    });
    Ok(())
}

/// The scheduler's job, if its template still parses and its owner may still run it (a
/// command needs an active superuser or operator; a removed owner's schedulers are deleted with them).
async fn allowed_job(db: &Db, sched: &Scheduler, queues: &[String]) -> Result<NewJob, String> {
    let value: serde_json::Value =
        serde_json::from_str(&sched.job_template).map_err(|e| format!("job_template: {e}"))?;
    let job = JobTemplate::parse(&value, queues, sched.owner_id).map_err(|e| e.to_string())?;
    if job.kind == JobKind::Command {
        if let Some(owner) = sched.owner_id {
            match crate::users::find_user(db, owner).await {
                Ok(Some(u)) if crate::access::Role::from_stored(&u.role).operates() && u.is_active => {}
                Ok(_) => return Err("command jobs need an active superuser or operator as owner".into()),
                Err(e) => return Err(format!("checking the owner failed: {e}")),
            }
        }
    }
    Ok(job)
}

/// A page of schedulers, newest first, and the total; only `owner`'s when given.
pub async fn list(
    db: &Db,
    owner: Option<i64>,
    offset: i64,
    limit: i64,
) -> DomainResult<(Vec<Scheduler>, i64)> {
    macro_rules! filtered {
        () => {{
            let mut q = s::table.into_boxed();
            if let Some(o) = owner {
                q = q.filter(s::owner_id.eq(o));
            }
            q
        }};
    }
    Ok(crate::with_conn!(db, |conn| {
        let total = filtered!().count().get_result(conn).await?;
        let rows = filtered!()
            .order(s::id.desc())
            .offset(offset)
            .limit(limit)
            .select(Scheduler::as_select())
            .load(conn)
            .await?;
        (rows, total)
    }))
}

/// Replaces a scheduler's definition (validated), keeping its history (last run, count).
/// A changed trigger or a re-enabled scheduler is due at the trigger's first time after
/// `now`; otherwise the planned next run stands.
pub async fn replace(
    db: &Db,
    current: &Scheduler,
    new: &NewScheduler,
    trigger: &Trigger,
    now: DateTime<Utc>,
) -> DomainResult<Option<Scheduler>> {
    let same_trigger = current.trigger_type == new.trigger_type
        && current.repeat_every_seconds == new.repeat_every_seconds
        && current.cron == new.cron
        && current.timezone == new.timezone;
    let next = if same_trigger && current.enabled && new.enabled {
        current.next_run_at
    } else {
        first_due(trigger, new.enabled, now)
    };
    let values = Definition::of(new, next, naive(now));
    Ok(crate::with_conn!(db, |conn| {
        diesel::update(s::table.find(current.id))
            .set(values)
            .returning(Scheduler::as_returning())
            .get_result(conn)
            .await
            .optional()?
    }))
}

/// Deletes a scheduler (its jobs stay, unlinked). Whether it existed.
pub async fn delete(db: &Db, id: i64) -> DomainResult<bool> {
    let n = crate::with_conn!(db, |conn| {
        diesel::delete(s::table.find(id)).execute(conn).await?
    });
    Ok(n == 1)
}
