//! Server functions for the schedulers page: list, create, toggle, delete, and the preview
//! of a cron expression's next runs. The domain checks everything (who may schedule what,
//! every field); the form's flat fields are gathered into a job template here.

use leptos::prelude::*;

use crate::types::{AppError, SchedulerPublic, SchedulersPage};

/// The caller's schedulers (all for a superuser), oldest first.
#[server]
pub async fn list_schedulers() -> Result<SchedulersPage, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let page = vcore_domain::users::Page::parse(None, Some(1000))?;
    let (rows, count) = svc.list_schedulers(&me, page).await?;
    Ok(SchedulersPage {
        data: rows.into_iter().map(SchedulerPublic::from).collect(),
        count,
    })
}

/// Creates a scheduler from the form; the job each run makes is `job_name`/`job_kind`/
/// `job_command` (on the default queue).
#[allow(clippy::too_many_arguments)]
#[server]
pub async fn create_scheduler(
    name: String,
    trigger_type: String,
    #[server(default)] repeat_every_seconds: String,
    #[server(default)] cron: String,
    #[server(default)] timezone: String,
    job_name: String,
    job_kind: String,
    job_command: String,
) -> Result<SchedulerPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    use super::ctx::filled as some;
    let input = crate::types::SchedulerCreate {
        name,
        description: None,
        trigger_type,
        repeat_every_seconds: seconds(repeat_every_seconds)?,
        cron: some(cron),
        timezone: some(timezone),
        job_template: serde_json::json!({ "name": job_name, "type": job_kind, "command": job_command }),
        enabled: true,
    };
    Ok(svc
        .create_scheduler(&me, input.into())
        .await
        .map_err(form_error)?
        .into())
}

/// Saves the edit form: the trigger and the job's name, type and command are replaced; the
/// job template's other fields (queue, priority, meta …) and the description stay. The whole
/// result is checked as on creation; a changed trigger starts afresh.
#[allow(clippy::too_many_arguments)]
#[server]
pub async fn update_scheduler(
    id: i64,
    name: String,
    trigger_type: String,
    #[server(default)] repeat_every_seconds: String,
    #[server(default)] cron: String,
    #[server(default)] timezone: String,
    job_name: String,
    job_kind: String,
    job_command: String,
) -> Result<SchedulerPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    use super::ctx::filled as some;
    let repeat = seconds(repeat_every_seconds)?;
    let changed = svc
        .update_scheduler(&me, id, |input| {
            input.name = name;
            input.trigger_type = trigger_type;
            input.repeat_every_seconds = repeat;
            input.cron = some(cron);
            input.timezone = some(timezone);
            let t = &mut input.job_template;
            if !t.is_object() {
                *t = serde_json::json!({});
            }
            t["name"] = job_name.into();
            t["type"] = job_kind.into();
            t["command"] = job_command.into();
        })
        .await
        .map_err(form_error)?;
    Ok(changed.into())
}

#[cfg(feature = "ssr")]
fn seconds(text: String) -> Result<Option<i64>, AppError> {
    super::ctx::form_number::<i64>("repeat_every_seconds", text, " of seconds")
}

/// The template's fields are flat on the form: name them as the form does.
#[cfg(feature = "ssr")]
fn form_error(e: vcore_domain::DomainError) -> AppError {
    match AppError::from(e) {
        AppError::Invalid { field, message } => {
            let field = match field.as_str() {
                "job_template.name" => "job_name",
                "job_template.type" => "job_kind",
                f if f.starts_with("job_template") => "job_command",
                f => f,
            };
            AppError::Invalid {
                field: field.into(),
                message,
            }
        }
        other => other,
    }
}

/// Enables a disabled scheduler, or disables an enabled one.
#[server]
pub async fn toggle_scheduler(id: i64) -> Result<SchedulerPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.toggle_scheduler(&me, id).await?.into())
}

/// Deletes a scheduler (the jobs it made stay).
#[server]
pub async fn delete_scheduler(id: i64) -> Result<(), AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    svc.delete_scheduler(&me, id).await?;
    Ok(())
}

/// The next five runs of `cron` in `timezone`, one per line, or why it is not valid.
#[server]
pub async fn preview_cron(cron: String, #[server(default)] timezone: String) -> Result<String, AppError> {
    super::ctx::user().await?;
    let tz = match timezone.trim() {
        "" => "UTC",
        t => t,
    };
    crate::tools::cron_next_runs(&cron, tz, chrono::Utc::now()).map_err(|message| AppError::Invalid {
        field: "cron".into(),
        message,
    })
}
