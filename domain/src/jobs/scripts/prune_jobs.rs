//! `prune_jobs`: deletes finished jobs (done, failed, cancelled) older than
//! `{"older_than_days": n}` (default 30) and their log files: everyone's, so superusers
//! only. The runner's retention loop does the same hourly (`JOB_RETENTION_DAYS`); this is
//! the by-hand version.

use chrono::{Duration, Utc};
use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};
use crate::jobs::store;

pub struct PruneJobs;

impl Script for PruneJobs {
    fn name(&self) -> &'static str {
        "prune_jobs"
    }
    fn description(&self) -> &'static str {
        "Deletes finished jobs older than {\"older_than_days\": n} (default 30) and their logs"
    }
    fn superuser_only(&self) -> bool {
        true
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>> {
        Box::pin(async move {
            let days = match input.get("older_than_days") {
                None => 30,
                Some(v) => v.as_i64().filter(|d| (0..=36_500).contains(d)).ok_or_else(|| {
                    anyhow::anyhow!("input.older_than_days: expected a whole number from 0 to 36500")
                })?,
            };
            let cutoff = (Utc::now() - Duration::days(days)).naive_utc();
            let ids = store::prune_finished(&ctx.db, cutoff).await?;
            store::remove_logs(&ctx.log_dir, &ids).await;
            let deleted = ids.len();
            Ok(serde_json::json!({ "deleted": deleted, "older_than_days": days }))
        })
    }
}
