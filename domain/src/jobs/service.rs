//! Who may do what with jobs, on top of [`store`](super::store) and the [`Runner`]
//! (the table in [`crate::access`]): users run scripts and HTTP calls and see and manage
//! their own jobs; superusers and operators see and manage every job, run shell commands
//! and privileged scripts, and stop and start consumers; viewers read every job and log
//! and change nothing. Through an API key, reads need `jobs:read`, changes `jobs:write`,
//! consumers `admin`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::events::EventKind;
use super::runner::{QueueConfig, Runner, RunnerConfig};
use super::store::{self, Changes, ListFilter};
use super::{
    parse_max_attempts, parse_meta, parse_name, parse_queue, parse_timeout, Job, JobInput, JobKind,
    JobStatus, NewJob, Priority,
};
use crate::access::{Actor, Scope};
use crate::error::{DomainError, DomainResult};
use crate::users::Page;
use crate::Services;

/// Bytes returned by one log read; clients tail by asking again from `next_offset`.
pub const LOG_CHUNK: u64 = 64 * 1024;

/// Where a job's whole output comes from (a download).
pub enum LogDownload {
    /// This node's log file (SQLite).
    File(tokio::fs::File),
    /// The chunks in the database (PostgreSQL): stream them with [`super::logs::stream`].
    Database(crate::db::Db, i64),
}

/// A slice of a job's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSlice {
    pub content: String,
    pub offset: u64,
    pub next_offset: u64,
    pub finished: bool,
}

/// The filters of [`Services::list_jobs`], as the client gave them (checked there).
#[derive(Debug, Clone, Copy, Default)]
pub struct JobQuery<'a> {
    pub status: Option<&'a str>,
    pub queue: Option<&'a str>,
    pub priority: Option<&'a str>,
    /// Part of the name, any case.
    pub name: Option<&'a str>,
    pub scheduler_id: Option<i64>,
}

/// Most jobs one bulk call may name.
pub const BULK_MAX: usize = 500;

/// What [`Services::bulk_jobs`] did: the jobs it acted on, and why it left the others alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BulkOutcome {
    pub done: Vec<i64>,
    /// (job, the error acting on it alone would have given).
    pub skipped: Vec<(i64, String)>,
}

/// See [`Services::job_stats`].
#[derive(Debug, Clone)]
pub struct JobStats {
    /// (queue, status, count).
    pub by_queue: Vec<(String, String, i64)>,
    /// (minutes since an hour ago, status, count) of jobs that ended.
    pub per_minute: Vec<(i64, String, i64)>,
    pub recent_failures: Vec<Job>,
    pub running: Vec<Job>,
}

/// Raw changes to a job (wire input), parsed by [`Services::update_job`].
#[derive(Debug, Clone, Default)]
pub struct JobEdit {
    pub name: Option<String>,
    pub priority: Option<String>,
    pub queue_name: Option<String>,
    pub meta: Option<serde_json::Value>,
    pub max_attempts: Option<i32>,
    pub timeout_secs: Option<i32>,
    pub run_at: Option<String>,
}

/// Parses an RFC 3339 time for `field`.
pub fn parse_time(field: &str, raw: &str) -> DomainResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            DomainError::invalid(
                field,
                format!("expected an RFC 3339 time like 2026-01-31T12:00:00Z, got {raw:?}"),
            )
        })
}

/// A script's refusal of its input as a 422 naming `{prefix}meta.<field>`.
fn meta_error(prefix: &str, e: super::scripts::InputError) -> DomainError {
    let field = match e.field.is_empty() {
        true => format!("{prefix}meta"),
        false => format!("{prefix}meta.{}", e.field),
    };
    DomainError::invalid(field, e.message)
}

fn forbidden() -> DomainError {
    DomainError::Forbidden("Not enough permissions for this job".into())
}

fn not_found() -> DomainError {
    DomainError::NotFound("Job not found".into())
}

impl Services {
    /// Starts this process's job runner with the configured queues and the registered
    /// scripts.
    pub fn with_runner(mut self) -> Services {
        let scripts = self.extensions.scripts.clone();
        let c = &self.config;
        let mut cfg = RunnerConfig::new(c.job_log_dir.clone());
        cfg.queues = c
            .job_queues
            .iter()
            .map(|(name, n)| QueueConfig {
                name: name.clone(),
                concurrency: *n,
            })
            .collect();
        cfg.lease = Duration::from_secs(c.job_lease_secs);
        cfg.heartbeat_every = Duration::from_secs((c.job_lease_secs / 3).max(1));
        cfg.worker_id = self.node_id.to_string();
        cfg.maintenance_lease = Duration::from_secs(c.job_lease_secs.min(15));
        cfg.listen_url = (self.db.is_postgres() && c.job_notify).then(|| c.db_url.clone());
        cfg.idle_poll = Duration::from_secs(c.job_poll_secs);
        cfg.listen_poll = cfg.idle_poll.max(Duration::from_secs(60));
        cfg.retry_base = Duration::from_secs(c.job_retry_base_secs);
        cfg.backup_dir = c.data_dir.join("backups");
        cfg.hub = self.hub.clone();
        cfg.notifier = self.notifier.clone();
        cfg.api_post_allowed = super::ssrf::AllowedHosts::new(&c.api_post_allowed_hosts);
        cfg.retention =
            (c.job_retention_days > 0).then(|| Duration::from_secs(u64::from(c.job_retention_days) * 86_400));
        cfg.audit_retention = (c.audit_retention_days > 0)
            .then(|| Duration::from_secs(u64::from(c.audit_retention_days) * 86_400));
        self.runner = Some(Runner::start(self.db.clone(), cfg, scripts));
        self
    }

    pub(crate) fn queue_names(&self) -> Vec<String> {
        self.config.job_queues.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Where a job's output is written.
    pub fn job_log_path(&self, id: i64) -> std::path::PathBuf {
        store::log_file(&self.config.job_log_dir, id)
    }

    /// Stores a new job and wakes the runner.
    pub async fn enqueue_job(&self, actor: &Actor, input: JobInput) -> DomainResult<Job> {
        actor.need(Scope::JobsWrite)?;
        actor.need_writer()?;
        let new = NewJob::parse(input, &self.queue_names(), Some(actor.id))?;
        if new.kind == JobKind::Command && !actor.operates() {
            return Err(DomainError::Forbidden(
                "Only superusers and operators may run shell commands".into(),
            ));
        }
        self.check_script(Some(actor), &new, "")?;
        self.check_target(Some(actor), &new, "")?;
        let job = self.store_and_announce(&new).await?;
        if let Some(r) = &self.runner {
            r.notify(&job);
        }
        Ok(job)
    }

    /// Stores a new job and announces it to live viewers before it commits (so that its
    /// creation comes before its claim, even when a hint wakes this process's runner first).
    async fn store_and_announce(&self, new: &NewJob) -> DomainResult<Job> {
        store::insert_announced(
            &self.db,
            new,
            |job| {
                self.hub.job(EventKind::Created, job);
            },
            |job| {
                self.hub
                    .publish(EventKind::Deleted, job.id, job.owner_id, job.status);
            },
        )
        .await
    }

    /// A script job must name a registered script with an input it accepts (`meta`, checked
    /// by the script's types and its own `check`), and a superuser-only script needs a
    /// superuser or operator `actor` (`None`: the server's CLI, the application's
    /// schedulers).
    /// `prefix` goes before the field names in a 422 (`command`, `meta.<field>`).
    pub(crate) fn check_script(&self, actor: Option<&Actor>, new: &NewJob, prefix: &str) -> DomainResult<()> {
        if new.kind != JobKind::Script {
            return Ok(());
        }
        let scripts = &self.extensions.scripts;
        let Some(script) = scripts.get(&new.command) else {
            return Err(DomainError::invalid(
                format!("{prefix}command"),
                format!(
                    "no script named {:?}; scripts: {}",
                    new.command,
                    scripts.names().join(", ")
                ),
            ));
        };
        if actor.is_some_and(|a| !a.operates()) && script.info().superuser_only {
            return Err(DomainError::Forbidden(format!(
                "Only superusers and operators may run the script {:?}",
                new.command
            )));
        }
        script.check(&new.meta).map_err(|e| meta_error(prefix, e))
    }

    /// An api_post job of a user below operator may not name a loopback or private address
    /// (`prefix` as in [`Self::check_script`]). Names are checked again, after DNS, every
    /// time the job runs (see [`super::ssrf`]).
    pub(crate) fn check_target(&self, actor: Option<&Actor>, new: &NewJob, prefix: &str) -> DomainResult<()> {
        if new.kind != JobKind::ApiPost || actor.is_none_or(|a| a.operates()) {
            return Ok(());
        }
        let allowed = super::ssrf::AllowedHosts::new(&self.config.api_post_allowed_hosts);
        let refusal = reqwest::Url::parse(&new.command)
            .ok()
            .and_then(|url| super::ssrf::literal_refusal(&url, &allowed));
        match refusal {
            Some(why) => Err(DomainError::invalid(format!("{prefix}command"), why)),
            None => Ok(()),
        }
    }

    /// Stores a new job on behalf of the operator (the CLI): no owner, any type.
    pub async fn enqueue_job_as_operator(&self, input: JobInput) -> DomainResult<Job> {
        let new = NewJob::parse(input, &self.queue_names(), None)?;
        self.check_script(None, &new, "")?;
        let job = self.store_and_announce(&new).await?;
        if let Some(r) = &self.runner {
            r.notify(&job);
        }
        Ok(job)
    }

    /// Jobs for the operator (the CLI): all owners.
    pub async fn list_jobs_as_operator(
        &self,
        status: Option<&str>,
        queue: Option<&str>,
        page: Page,
    ) -> DomainResult<(Vec<Job>, i64)> {
        let filter = ListFilter {
            status: status.map(|s| JobStatus::parse("status", s)).transpose()?,
            queue: queue.map(str::to_string),
            ..Default::default()
        };
        store::list(&self.db, &filter, page.offset, page.limit).await
    }

    /// A job the actor may see: their own, or any for those who read all.
    pub async fn get_job(&self, actor: &Actor, id: i64) -> DomainResult<Job> {
        actor.need(Scope::JobsRead)?;
        let job = store::get(&self.db, id).await?.ok_or_else(not_found)?;
        if !actor.may_read(job.owner_id) {
            return Err(forbidden());
        }
        Ok(job)
    }

    /// Changing or retrying a shell command or a privileged script needs the right to run
    /// one now (an owner demoted since keeps no way to run it again).
    fn need_right_to_run(&self, actor: &Actor, job: &Job) -> DomainResult<()> {
        let privileged = match job.kind {
            JobKind::Command => true,
            JobKind::Script => self
                .extensions
                .scripts
                .get(&job.command)
                .is_some_and(|s| s.info().superuser_only),
            JobKind::ApiPost => false,
        };
        if privileged && !actor.operates() {
            return Err(DomainError::Forbidden(
                "Only superusers and operators may change or retry this job".into(),
            ));
        }
        Ok(())
    }

    /// A job the actor may change: their own, or any for a superuser or operator.
    async fn changeable_job(&self, actor: &Actor, id: i64) -> DomainResult<Job> {
        actor.need(Scope::JobsWrite)?;
        let job = store::get(&self.db, id).await?.ok_or_else(not_found)?;
        if !actor.may_change(job.owner_id) {
            return Err(forbidden());
        }
        Ok(job)
    }

    /// Jobs the actor may see, newest first, filtered.
    pub async fn list_jobs(
        &self,
        actor: &Actor,
        q: JobQuery<'_>,
        page: Page,
    ) -> DomainResult<(Vec<Job>, i64)> {
        actor.need(Scope::JobsRead)?;
        let name = q.name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().any(char::is_control)) {
            return Err(DomainError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        if name.is_some_and(|n| n.chars().count() > super::MAX_NAME) {
            return Err(DomainError::invalid(
                "name",
                format!("must be at most {} characters", super::MAX_NAME),
            ));
        }
        let filter = ListFilter {
            status: q.status.map(|s| JobStatus::parse("status", s)).transpose()?,
            queue: q.queue.map(str::to_string),
            priority: q.priority.map(|p| Priority::parse("priority", p)).transpose()?,
            owner_id: actor.own_filter(),
            scheduler_id: q.scheduler_id,
            name: name.map(str::to_string),
        };
        store::list(&self.db, &filter, page.offset, page.limit).await
    }

    /// What the dashboard shows: jobs per queue and status, jobs ended per minute over the
    /// last hour, the latest failures and the running jobs; a regular user's own only.
    pub async fn job_stats(&self, actor: &Actor) -> DomainResult<JobStats> {
        actor.need(Scope::JobsRead)?;
        let owner = actor.own_filter();
        let since = (chrono::Utc::now() - chrono::Duration::minutes(60)).naive_utc();
        let listing = |status| ListFilter {
            status: Some(status),
            owner_id: owner,
            ..Default::default()
        };
        Ok(JobStats {
            by_queue: store::count_by_queue_status(&self.db, owner).await?,
            per_minute: store::finished_per_minute(&self.db, owner, since).await?,
            recent_failures: store::list(&self.db, &listing(JobStatus::Failed), 0, 5).await?.0,
            running: store::list(&self.db, &listing(JobStatus::Running), 0, 10)
                .await?
                .0,
        })
    }

    /// Changes a job that has not started yet (409 otherwise).
    pub async fn update_job(&self, actor: &Actor, id: i64, e: JobEdit) -> DomainResult<Job> {
        let job = self.changeable_job(actor, id).await?;
        self.need_right_to_run(actor, &job)?;
        let queues = self.queue_names();
        let mut c = Changes {
            name: e.name.as_deref().map(parse_name).transpose()?,
            priority: e
                .priority
                .as_deref()
                .map(|p| Priority::parse("priority", p))
                .transpose()?,
            queue: e.queue_name.map(|q| parse_queue(q, &queues)).transpose()?,
            meta: e.meta.map(parse_meta).transpose()?,
            max_attempts: e.max_attempts.map(parse_max_attempts).transpose()?,
            timeout_secs: e.timeout_secs.map(parse_timeout).transpose()?,
            ..Changes::default()
        };
        c.run_at = e
            .run_at
            .as_deref()
            .map(|r| parse_time("run_at", r).map(|t| t.naive_utc()))
            .transpose()?;
        if let (JobKind::Script, Some(meta)) = (job.kind, &c.meta) {
            let script = self.extensions.scripts.get(&job.command);
            if let Some(Err(e)) = script.map(|s| s.check(meta)) {
                return Err(meta_error("", e));
            }
        }
        let updated = store::update(&self.db, id, &c).await?.ok_or_else(|| {
            DomainError::Conflict(format!(
                "job {id} is {}; only pending or queued jobs can be changed",
                job.status.as_str()
            ))
        })?;
        if let Some(r) = &self.runner {
            r.notify(&updated);
        }
        Ok(updated)
    }

    /// Deletes a job that is not running (409 for a running one: kill it first).
    pub async fn delete_job(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        let result = self.delete_job_with(actor, id).await;
        self.audited(actor, "job.delete", Some(("job", id.to_string())), None, result)
            .await
    }

    async fn delete_job_with(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        let job = self.changeable_job(actor, id).await?;
        if !store::delete(&self.db, id).await? {
            return Err(DomainError::Conflict(format!(
                "job {id} is running; kill it first"
            )));
        }
        let _ = tokio::fs::remove_file(self.job_log_path(id)).await;
        self.hub.publish(EventKind::Deleted, id, job.owner_id, job.status);
        tracing::info!(job = id, by = actor.id, "job deleted");
        Ok(())
    }

    /// `queued` retries a failed or cancelled job; `cancelled` cancels a pending or queued one.
    pub async fn set_job_status(&self, actor: &Actor, id: i64, status: &str) -> DomainResult<Job> {
        let result = self.set_job_status_with(actor, id, status).await;
        let action = match status {
            "queued" => "job.retry",
            "cancelled" => "job.cancel",
            _ => "job.status",
        };
        let detail = serde_json::json!({ "status": status });
        self.audited(actor, action, Some(("job", id.to_string())), Some(detail), result)
            .await
    }

    async fn set_job_status_with(&self, actor: &Actor, id: i64, status: &str) -> DomainResult<Job> {
        let target = JobStatus::parse("status", status)?;
        let job = self.changeable_job(actor, id).await?;
        let refused = || {
            DomainError::Conflict(format!(
                "cannot move job {id} from {} to {}",
                job.status.as_str(),
                target.as_str()
            ))
        };
        match target {
            JobStatus::Queued => {
                self.need_right_to_run(actor, &job)?;
                let retried = store::retry(&self.db, id).await?.ok_or_else(refused)?;
                self.hub.job(EventKind::Status, &retried);
                if let Some(r) = &self.runner {
                    r.notify(&retried);
                }
                Ok(retried)
            }
            JobStatus::Cancelled => {
                if !store::cancel(&self.db, id, None, "cancelled").await? {
                    return Err(refused());
                }
                self.hub
                    .publish(EventKind::Status, id, job.owner_id, JobStatus::Cancelled);
                store::get(&self.db, id).await?.ok_or_else(not_found)
            }
            _ => Err(refused()),
        }
    }

    /// Stops a job: a running one is killed (its process group included) and ends
    /// `cancelled`; a pending or queued one is cancelled. 409 when it has already ended.
    pub async fn kill_job(&self, actor: &Actor, id: i64) -> DomainResult<Job> {
        let result = self.kill_job_with(actor, id).await;
        self.audited(actor, "job.kill", Some(("job", id.to_string())), None, result)
            .await
    }

    async fn kill_job_with(&self, actor: &Actor, id: i64) -> DomainResult<Job> {
        let job = self.changeable_job(actor, id).await?;
        match job.status {
            JobStatus::Pending | JobStatus::Queued => {
                if store::cancel(&self.db, id, None, "killed").await? {
                    self.hub
                        .publish(EventKind::Status, id, job.owner_id, JobStatus::Cancelled);
                }
            }
            JobStatus::Running => {
                let local = self.runner.as_ref().is_some_and(|r| r.kill(id));
                if !local {
                    // Held by another process: fence it off (its result will not be
                    // recorded) and tell it to stop the job now. Without hints its keeper
                    // notices within a second that it no longer holds the job.
                    if store::cancel(&self.db, id, Some(job.fence), "killed").await? {
                        self.hub
                            .publish(EventKind::Status, id, job.owner_id, JobStatus::Cancelled);
                        if let Err(e) = crate::cluster::send(&self.db, &crate::cluster::Hint::Kill(id)).await
                        {
                            tracing::warn!(job = id, error = %e, "telling the other nodes about a kill failed; the worker's keeper will notice");
                        }
                    }
                }
                // Give the worker a moment to stop the process and record the kill.
                for _ in 0..250 {
                    let now = store::get(&self.db, id).await?.ok_or_else(not_found)?;
                    if now.status != JobStatus::Running {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            ended => {
                return Err(DomainError::Conflict(format!(
                    "job {id} has already ended ({})",
                    ended.as_str()
                )));
            }
        }
        tracing::info!(job = id, by = actor.id, "job killed");
        store::get(&self.db, id).await?.ok_or_else(not_found)
    }

    /// `retry`, `kill` or `delete` each of `ids`, as the single calls would (same rules, same
    /// refusals), one job at a time except kills, which wait for their processes together.
    /// A job the actor may not touch or that is in the wrong state is skipped with the reason;
    /// only an outage fails the whole call.
    pub async fn bulk_jobs(&self, actor: &Actor, action: &str, ids: &[i64]) -> DomainResult<BulkOutcome> {
        let result = self.bulk_jobs_with(actor, action, ids).await;
        let mut detail = serde_json::json!({ "action": action, "ids": ids.len() });
        if let Ok(o) = &result {
            detail["done"] = serde_json::json!(o.done);
            detail["skipped"] = serde_json::json!(o.skipped.iter().map(|(id, _)| id).collect::<Vec<_>>());
        }
        self.audited(actor, "job.bulk", None, Some(detail), result).await
    }

    async fn bulk_jobs_with(&self, actor: &Actor, action: &str, ids: &[i64]) -> DomainResult<BulkOutcome> {
        use futures_util::stream::{self, StreamExt};
        actor.need(Scope::JobsWrite)?;
        actor.need_writer()?;
        if !matches!(action, "retry" | "kill" | "delete") {
            return Err(DomainError::invalid(
                "action",
                "must be one of retry, kill, delete",
            ));
        }
        if ids.is_empty() {
            return Err(DomainError::invalid("ids", "name at least one job"));
        }
        if ids.len() > BULK_MAX {
            return Err(DomainError::invalid(
                "ids",
                format!("at most {BULK_MAX} jobs per call (got {})", ids.len()),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        let ids: Vec<i64> = ids.iter().copied().filter(|id| seen.insert(*id)).collect();
        let results: Vec<(i64, DomainResult<()>)> = match action {
            // Each kill waits (up to 5 s) for its process to stop: wait for several at once.
            "kill" => {
                stream::iter(ids.iter().copied())
                    .map(|id| async move { (id, self.kill_job_with(actor, id).await.map(drop)) })
                    .buffered(16)
                    .collect()
                    .await
            }
            _ => {
                let mut out = Vec::with_capacity(ids.len());
                for &id in &ids {
                    let r = match action {
                        "retry" => self.set_job_status_with(actor, id, "queued").await.map(drop),
                        _ => self.delete_job_with(actor, id).await,
                    };
                    out.push((id, r));
                }
                out
            }
        };
        let mut outcome = BulkOutcome::default();
        for (id, r) in results {
            match r {
                Ok(()) => outcome.done.push(id),
                Err(DomainError::Internal(e)) => return Err(DomainError::Internal(e)),
                Err(e) => outcome.skipped.push((id, e.to_string())),
            }
        }
        tracing::info!(
            action,
            done = outcome.done.len(),
            skipped = outcome.skipped.len(),
            by = actor.id,
            "bulk job action"
        );
        Ok(outcome)
    }

    /// The end of a job's output: its last [`LOG_CHUNK`] bytes at most, from the start of a
    /// line (`offset` > 0 says that earlier output was left out).
    pub async fn job_log_tail(&self, actor: &Actor, id: i64) -> DomainResult<LogSlice> {
        let job = self.get_job(actor, id).await?;
        let in_db = self.db_output_end(id).await?;
        let size = match in_db {
            Some(end) => end,
            None => match tokio::fs::metadata(self.job_log_path(id)).await {
                Ok(m) => m.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(anyhow::Error::from(e).into()),
            },
        };
        let start = size.saturating_sub(LOG_CHUNK);
        let mut slice = self.read_log(&job, start, in_db.is_some()).await?;
        if start > 0 {
            // Begin at a whole line (unless the chunk is one long line).
            if let Some(nl) = slice.content.find('\n') {
                slice.content.drain(..=nl);
                slice.offset += nl as u64 + 1;
            }
        }
        Ok(slice)
    }

    /// A job's whole output, to stream (None: the job has written nothing yet).
    pub async fn open_job_log(&self, actor: &Actor, id: i64) -> DomainResult<Option<LogDownload>> {
        self.get_job(actor, id).await?;
        if self.db_output_end(id).await?.is_some() {
            return Ok(Some(LogDownload::Database(self.db.clone(), id)));
        }
        match tokio::fs::File::open(self.job_log_path(id)).await {
            Ok(f) => Ok(Some(LogDownload::File(f))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::Error::from(e).into()),
        }
    }

    /// Where job `id`'s output ends in the database, when it is read from there: on
    /// PostgreSQL, unless the database has none of it and this node has its log file (output
    /// written before vcore kept it in the database). None: read the file.
    async fn db_output_end(&self, id: i64) -> DomainResult<Option<u64>> {
        if !self.db.is_postgres() {
            return Ok(None);
        }
        let end = super::logs::end(&self.db, id).await?;
        if end == 0
            && tokio::fs::try_exists(self.job_log_path(id))
                .await
                .unwrap_or(false)
        {
            return Ok(None);
        }
        Ok(Some(end))
    }

    /// Up to [`LOG_CHUNK`] bytes of a job's output from `offset`.
    pub async fn job_log(&self, actor: &Actor, id: i64, offset: u64) -> DomainResult<LogSlice> {
        let job = self.get_job(actor, id).await?;
        let in_db = self.db_output_end(id).await?.is_some();
        self.read_log(&job, offset, in_db).await
    }

    /// [`LOG_CHUNK`] bytes at most of `job`'s output from `offset`, from the database
    /// (`in_db`) or the log file (the caller checked who may read it).
    async fn read_log(&self, job: &Job, offset: u64, in_db: bool) -> DomainResult<LogSlice> {
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let id = job.id;
        let finished = matches!(
            job.status,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        );
        let mut buf = Vec::new();
        let file = match in_db {
            // On PostgreSQL the output is in the database, whichever node ran the job.
            true => {
                buf = super::logs::read(&self.db, id, offset, LOG_CHUNK).await?;
                Err(std::io::Error::from(std::io::ErrorKind::NotFound))
            }
            false => tokio::fs::File::open(self.job_log_path(id)).await,
        };
        match file {
            Ok(mut f) => {
                f.seek(std::io::SeekFrom::Start(offset))
                    .await
                    .map_err(anyhow::Error::from)?;
                f.take(LOG_CHUNK)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(anyhow::Error::from)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
        // Never split a UTF-8 character: stop before an incomplete one at the end.
        let valid = match std::str::from_utf8(&buf) {
            Ok(_) => buf.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => buf.len(),
        };
        buf.truncate(valid);
        let next_offset = offset + buf.len() as u64;
        Ok(LogSlice {
            content: String::from_utf8_lossy(&buf).into_owned(),
            offset,
            next_offset,
            finished,
        })
    }

    /// Stops (`paused = true`) or starts a queue's consumers on every node, until changed
    /// again (the state is in the database, so it survives restarts). Once a stop returns,
    /// no node claims from the queue; running jobs go on.
    pub async fn set_consumer(&self, actor: &Actor, queue: &str, paused: bool) -> DomainResult<bool> {
        let result = self.set_consumer_with(actor, queue, paused).await;
        let action = if paused { "queue.stop" } else { "queue.start" };
        let target = Some(("queue", queue.chars().take(100).collect()));
        self.audited(actor, action, target, None, result).await
    }

    async fn set_consumer_with(&self, actor: &Actor, queue: &str, paused: bool) -> DomainResult<bool> {
        actor.need(Scope::Admin)?;
        if !actor.operates() {
            return Err(DomainError::Forbidden(
                "Only superusers and operators may start or stop consumers".into(),
            ));
        }
        if !self.queue_names().iter().any(|q| q == queue) {
            return Err(DomainError::NotFound(format!("No queue named {queue:?}")));
        }
        crate::cluster::set_paused(&self.db, queue, paused).await?;
        if let Some(runner) = &self.runner {
            runner.set_stopped(queue, paused).await;
        }
        let hint = crate::cluster::Hint::Paused(queue.to_string(), paused);
        if let Err(e) = crate::cluster::send(&self.db, &hint).await {
            tracing::warn!(queue, error = %e, "telling the other nodes about a consumer change failed; they will read it when they poll");
        }
        tracing::info!(queue, paused, by = actor.id, "queue consumer changed");
        Ok(paused)
    }

    /// The queues whose consumers are stopped (for every node).
    pub async fn paused_queues(&self) -> DomainResult<Vec<String>> {
        crate::cluster::paused_queues(&self.db).await
    }
}
