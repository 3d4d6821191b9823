//! `sleep`: waits `{"seconds": n}` (at most a day), stopping early on kill, timeout or
//! shutdown. Handy for trying out kills, timeouts and concurrency.

use std::time::Duration;

use super::{InputError, Script, ScriptCtx};

pub struct Sleep;

#[derive(serde::Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct SleepInput {
    /// How long to wait, from 0 to 86400.
    pub seconds: f64,
}

#[derive(serde::Serialize)]
pub struct Slept {
    slept: f64,
}

impl Script for Sleep {
    const NAME: &'static str = "sleep";
    const DESCRIPTION: &'static str = "Waits {\"seconds\": n}";
    type Input = SleepInput;
    type Output = Slept;

    fn check(&self, input: &SleepInput) -> Result<(), InputError> {
        match (0.0..=86_400.0).contains(&input.seconds) {
            true => Ok(()),
            false => Err(InputError::new("seconds", "expected a number from 0 to 86400")),
        }
    }

    async fn run(&self, ctx: &ScriptCtx, input: SleepInput) -> anyhow::Result<Slept> {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(input.seconds)) => Ok(Slept { slept: input.seconds }),
            _ = ctx.cancel.cancelled() => anyhow::bail!("cancelled"),
        }
    }
}
