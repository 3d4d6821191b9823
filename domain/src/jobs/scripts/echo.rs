//! `echo`: returns its input, so a job's result shows what it was given.

use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};

pub struct Echo;

impl Script for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn description(&self) -> &'static str {
        "Returns its input"
    }
    fn run<'a>(
        &'a self,
        _: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>> {
        Box::pin(async move { Ok(input) })
    }
}
