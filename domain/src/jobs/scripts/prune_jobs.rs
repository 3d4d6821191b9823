//! `prune_jobs`: deletes finished jobs (done, failed, cancelled) older than
//! `{"older_than_days": n}` (default 30) and their log files: everyone's, so superusers
//! only. The runner's retention loop does the same hourly (`JOB_RETENTION_DAYS`); this is
//! the by-hand version.

use chrono::{Duration, Utc};

use super::{InputError, Script, ScriptCtx};
use crate::jobs::store;

pub struct PruneJobs;

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct PruneInput {
    /// Age in days of the newest finished job to delete, from 0 to 36500 (default 30).
    #[serde(default = "thirty")]
    #[schema(default = 30)]
    pub older_than_days: i64,
}

fn thirty() -> i64 {
    30
}

#[derive(serde::Serialize)]
pub struct Pruned {
    deleted: usize,
    older_than_days: i64,
}

impl Script for PruneJobs {
    const NAME: &'static str = "prune_jobs";
    const DESCRIPTION: &'static str =
        "Deletes finished jobs older than {\"older_than_days\": n} (default 30) and their logs";
    const SUPERUSER_ONLY: bool = true;
    type Input = PruneInput;
    type Output = Pruned;

    fn check(&self, input: &PruneInput) -> Result<(), InputError> {
        match (0..=36_500).contains(&input.older_than_days) {
            true => Ok(()),
            false => Err(InputError::new(
                "older_than_days",
                "expected a whole number from 0 to 36500",
            )),
        }
    }

    async fn run(&self, ctx: &ScriptCtx, input: PruneInput) -> anyhow::Result<Pruned> {
        let days = input.older_than_days;
        let cutoff = (Utc::now() - Duration::days(days)).naive_utc();
        let ids = store::prune_finished(&ctx.db, cutoff).await?;
        store::remove_logs(&ctx.log_dir, &ids).await;
        Ok(Pruned {
            deleted: ids.len(),
            older_than_days: days,
        })
    }
}
