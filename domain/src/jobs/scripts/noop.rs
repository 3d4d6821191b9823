//! `noop`: does nothing and returns `null`. The benchmark's unit of work, and a smoke test.

use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};

pub struct Noop;

impl Script for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }
    fn description(&self) -> &'static str {
        "Does nothing; for tests and benchmarks"
    }
    fn run<'a>(
        &'a self,
        _: &'a ScriptCtx,
        _: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>> {
        Box::pin(async { Ok(serde_json::Value::Null) })
    }
}
