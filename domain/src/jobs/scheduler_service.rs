//! Who may do what with schedulers, and the checks on their input. A regular user manages
//! their own schedulers, whose jobs run as theirs: script and api_post templates, not the
//! privileged (superuser-only) scripts. Command templates and other users' schedulers are
//! for superusers and operators; viewers read every scheduler and change none. Through an
//! API key, reading needs `jobs:read` and changing needs `schedulers`. Every change wakes
//! this process's scheduler loop.

use chrono::Utc;

use super::schedule::Trigger;
use super::schedulers::{self, JobTemplate, NewScheduler, Scheduler};
use super::{parse_name, JobKind};
use crate::access::{Actor, Scope};
use crate::error::{DomainError, DomainResult};
use crate::users::Page;
use crate::Services;

/// Longest description accepted.
pub const MAX_DESCRIPTION: usize = 2000;

/// A scheduler as the API receives it (create, or a complete replacement).
#[derive(Debug, Clone)]
pub struct SchedulerInput {
    pub name: String,
    pub description: Option<String>,
    pub trigger_type: String,
    pub repeat_every_seconds: Option<i64>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub job_template: serde_json::Value,
    pub enabled: bool,
}

impl SchedulerInput {
    /// The input of an existing scheduler, to apply a partial change to.
    pub fn of(s: &Scheduler) -> DomainResult<SchedulerInput> {
        Ok(SchedulerInput {
            name: s.name.clone(),
            description: s.description.clone(),
            trigger_type: s.trigger_type.clone(),
            repeat_every_seconds: s.repeat_every_seconds,
            cron: s.cron.clone(),
            timezone: Some(s.timezone.clone()),
            job_template: serde_json::from_str(&s.job_template).map_err(|e| {
                DomainError::Internal(anyhow::anyhow!("scheduler {}: bad template: {e}", s.id))
            })?,
            enabled: s.enabled,
        })
    }
}

fn not_found() -> DomainError {
    DomainError::NotFound("Scheduler not found".into())
}

impl Services {
    /// Checks `input` for `owner` (acting as `actor`; `None`: the application's own
    /// schedulers, with every right): every field, then the rights the template needs.
    /// Returns what to store and its trigger.
    fn check_scheduler(
        &self,
        actor: Option<&Actor>,
        owner: Option<i64>,
        input: SchedulerInput,
    ) -> DomainResult<(NewScheduler, Trigger)> {
        let name = parse_name(&input.name)?;
        let description = input
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION || d.contains('\0'))
        {
            return Err(DomainError::invalid(
                "description",
                format!("must be at most {MAX_DESCRIPTION} characters, without NUL"),
            ));
        }
        // Only the fields of the chosen trigger are kept.
        let (every, cron) = match input.trigger_type.as_str() {
            "repeat" => (input.repeat_every_seconds, None),
            "cron" => (None, input.cron.map(|c| c.trim().to_string())),
            _ => (None, None),
        };
        let trigger = Trigger::parse(
            &input.trigger_type,
            every,
            cron.as_deref(),
            input.timezone.as_deref(),
        )?;
        let timezone = match &trigger {
            Trigger::Cron { tz, .. } => tz.name().to_string(),
            _ => "UTC".to_string(),
        };
        if !input.job_template.is_object() {
            return Err(DomainError::invalid("job_template", "must be a JSON object"));
        }
        let job = JobTemplate::parse(&input.job_template, &self.queue_names(), owner)?;
        if job.kind == JobKind::Command && actor.is_some_and(|a| !a.operates()) {
            return Err(DomainError::Forbidden(
                "Only superusers and operators may schedule shell commands".into(),
            ));
        }
        self.check_script(actor, &job, "job_template.")?;
        self.check_target(actor, &job, "job_template.")?;
        let new = NewScheduler {
            name,
            description,
            trigger_type: input.trigger_type,
            repeat_every_seconds: every,
            cron,
            timezone,
            job_template: input.job_template,
            enabled: input.enabled,
            owner_id: owner,
        };
        Ok((new, trigger))
    }

    /// Wakes the scheduler loop here, and (through a hint) on the node that fires
    /// schedulers, which may be another.
    fn schedulers_changed(&self) {
        if let Some(r) = &self.runner {
            r.schedulers_changed();
        }
        if self.db.is_postgres() {
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::cluster::send(&db, &crate::cluster::Hint::Schedulers).await {
                    tracing::warn!(error = %e, "telling the other nodes about a scheduler change failed; they will see it when they poll");
                }
            });
        }
    }

    /// Creates each of the application's schedulers (`Extensions::schedulers`) that is
    /// missing: none without an owner has its name. Returns how many it created. Two nodes
    /// starting at once cannot both create one: a unique index covers the names of the
    /// schedulers without an owner.
    pub async fn ensure_app_schedulers(&self) -> DomainResult<usize> {
        let mut created = 0;
        for input in &self.extensions.schedulers {
            let name = input.name.clone();
            if schedulers::unowned_named(&self.db, &name).await?.is_some() {
                continue;
            }
            let (new, trigger) = self.check_scheduler(None, None, input.clone()).map_err(|e| {
                DomainError::Internal(anyhow::anyhow!("the scheduler {name:?} of the application: {e}"))
            })?;
            match schedulers::insert(&self.db, &new, &trigger, Utc::now()).await {
                Ok(s) => {
                    created += 1;
                    tracing::info!(scheduler = s.id, name = %s.name, "created the application's scheduler");
                }
                // Another node created it meanwhile.
                Err(DomainError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if created > 0 {
            self.schedulers_changed();
        }
        Ok(created)
    }

    pub async fn create_scheduler(&self, actor: &Actor, input: SchedulerInput) -> DomainResult<Scheduler> {
        let name = input.name.clone();
        let result = self.create_scheduler_with(actor, input).await;
        let target = result.as_ref().ok().map(|s| ("scheduler", s.id.to_string()));
        let detail = serde_json::json!({ "name": name.chars().take(200).collect::<String>() });
        self.audited(actor, "scheduler.create", target, Some(detail), result)
            .await
    }

    async fn create_scheduler_with(&self, actor: &Actor, input: SchedulerInput) -> DomainResult<Scheduler> {
        actor.need(Scope::Schedulers)?;
        actor.need_writer()?;
        let (new, trigger) = self.check_scheduler(Some(actor), Some(actor.id), input)?;
        let stored = schedulers::insert(&self.db, &new, &trigger, Utc::now()).await?;
        self.schedulers_changed();
        tracing::info!(scheduler = stored.id, by = actor.id, "scheduler created");
        Ok(stored)
    }

    /// A scheduler the actor may see: their own, or any for those who read all.
    pub async fn get_scheduler(&self, actor: &Actor, id: i64) -> DomainResult<Scheduler> {
        actor.need(Scope::JobsRead)?;
        let s = schedulers::get(&self.db, id).await?.ok_or_else(not_found)?;
        if !actor.may_read(s.owner_id) {
            return Err(DomainError::Forbidden(
                "Not enough permissions for this scheduler".into(),
            ));
        }
        Ok(s)
    }

    /// A scheduler the actor may change: their own, or any for a superuser or operator.
    async fn changeable_scheduler(&self, actor: &Actor, id: i64) -> DomainResult<Scheduler> {
        actor.need(Scope::Schedulers)?;
        let s = schedulers::get(&self.db, id).await?.ok_or_else(not_found)?;
        if !actor.may_change(s.owner_id) {
            return Err(DomainError::Forbidden(
                "Not enough permissions for this scheduler".into(),
            ));
        }
        Ok(s)
    }

    pub async fn list_schedulers(&self, actor: &Actor, page: Page) -> DomainResult<(Vec<Scheduler>, i64)> {
        actor.need(Scope::JobsRead)?;
        schedulers::list(&self.db, actor.own_filter(), page.offset, page.limit).await
    }

    /// Applies `change` to the scheduler's current definition and checks the result whole.
    pub async fn update_scheduler(
        &self,
        actor: &Actor,
        id: i64,
        change: impl FnOnce(&mut SchedulerInput),
    ) -> DomainResult<Scheduler> {
        let result = self.update_scheduler_with(actor, id, change).await;
        self.audited(
            actor,
            "scheduler.update",
            Some(("scheduler", id.to_string())),
            None,
            result,
        )
        .await
    }

    async fn update_scheduler_with(
        &self,
        actor: &Actor,
        id: i64,
        change: impl FnOnce(&mut SchedulerInput),
    ) -> DomainResult<Scheduler> {
        let current = self.changeable_scheduler(actor, id).await?;
        let mut input = SchedulerInput::of(&current)?;
        change(&mut input);
        let (new, trigger) = self.check_scheduler(Some(actor), current.owner_id, input)?;
        let stored = schedulers::replace(&self.db, &current, &new, &trigger, Utc::now())
            .await?
            .ok_or_else(not_found)?;
        self.schedulers_changed();
        Ok(stored)
    }

    /// Enables a disabled scheduler or disables an enabled one.
    pub async fn toggle_scheduler(&self, actor: &Actor, id: i64) -> DomainResult<Scheduler> {
        let result = self.toggle_scheduler_with(actor, id).await;
        let detail = result
            .as_ref()
            .ok()
            .map(|s| serde_json::json!({ "enabled": s.enabled }));
        self.audited(
            actor,
            "scheduler.toggle",
            Some(("scheduler", id.to_string())),
            detail,
            result,
        )
        .await
    }

    async fn toggle_scheduler_with(&self, actor: &Actor, id: i64) -> DomainResult<Scheduler> {
        let current = self.changeable_scheduler(actor, id).await?;
        let stored = schedulers::set_enabled(&self.db, id, !current.enabled, Utc::now())
            .await?
            .ok_or_else(not_found)?;
        self.schedulers_changed();
        Ok(stored)
    }

    /// Deletes a scheduler; the jobs it made stay.
    pub async fn delete_scheduler(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        let result = self.delete_scheduler_with(actor, id).await;
        self.audited(
            actor,
            "scheduler.delete",
            Some(("scheduler", id.to_string())),
            None,
            result,
        )
        .await
    }

    async fn delete_scheduler_with(&self, actor: &Actor, id: i64) -> DomainResult<()> {
        self.changeable_scheduler(actor, id).await?;
        if !schedulers::delete(&self.db, id).await? {
            return Err(not_found());
        }
        tracing::info!(scheduler = id, by = actor.id, "scheduler deleted");
        Ok(())
    }
}
