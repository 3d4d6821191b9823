//! `echo`: returns its input, so a job's result shows what it was given.

use super::{Script, ScriptCtx};

pub struct Echo;

impl Script for Echo {
    const NAME: &'static str = "echo";
    const DESCRIPTION: &'static str = "Returns its input";
    /// Any JSON.
    type Input = serde_json::Value;
    type Output = serde_json::Value;

    async fn run(&self, _: &ScriptCtx, input: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        Ok(input)
    }
}
