//! `sleep`: waits `{"seconds": n}` (at most a day), stopping early on kill, timeout or
//! shutdown. Handy for trying out kills, timeouts and concurrency.

use std::time::Duration;

use anyhow::Context;
use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};

pub struct Sleep;

impl Script for Sleep {
    fn name(&self) -> &'static str {
        "sleep"
    }
    fn description(&self) -> &'static str {
        "Waits {\"seconds\": n}"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>> {
        Box::pin(async move {
            let secs = input
                .get("seconds")
                .and_then(serde_json::Value::as_f64)
                .filter(|s| (0.0..=86_400.0).contains(s))
                .context("input.seconds: expected a number from 0 to 86400")?;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => Ok(serde_json::json!({ "slept": secs })),
                _ = ctx.cancel.cancelled() => anyhow::bail!("cancelled"),
            }
        })
    }
}
