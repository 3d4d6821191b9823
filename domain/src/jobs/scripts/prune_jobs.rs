//! `prune_jobs`: deletes finished jobs (done, failed, cancelled) older than
//! `{"older_than_days": n}` (default 30) and their log files. Retention runs it on a
//! schedule; it is also runnable by hand.

use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};
use crate::schema::jobs;

pub struct PruneJobs;

impl Script for PruneJobs {
    fn name(&self) -> &'static str {
        "prune_jobs"
    }
    fn description(&self) -> &'static str {
        "Deletes finished jobs older than {\"older_than_days\": n} (default 30) and their logs"
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
            let finished = jobs::status
                .eq_any(["done", "failed", "cancelled"])
                .and(jobs::finished_at.lt(cutoff));
            let db = &ctx.db;
            let result: anyhow::Result<(Vec<Option<String>>, usize)> = async {
                Ok(crate::with_conn!(db, |conn| {
                    let logs = jobs::table
                        .filter(finished.clone())
                        .select(jobs::log_path)
                        .load(conn)
                        .await?;
                    let n = diesel::delete(jobs::table.filter(finished)).execute(conn).await?;
                    (logs, n)
                }))
            }
            .await;
            let (logs, deleted) = result?;
            for path in logs.into_iter().flatten() {
                // Already gone is fine: the goal is that it does not exist.
                let _ = tokio::fs::remove_file(&path).await;
            }
            Ok(serde_json::json!({ "deleted": deleted, "older_than_days": days }))
        })
    }
}
