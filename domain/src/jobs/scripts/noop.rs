//! `noop`: does nothing and returns `null`. The benchmark's unit of work, and a smoke test.

use super::{Script, ScriptCtx};

pub struct Noop;

impl Script for Noop {
    const NAME: &'static str = "noop";
    const DESCRIPTION: &'static str = "Does nothing; for tests and benchmarks";
    /// Any input, ignored.
    type Input = serde_json::Value;
    type Output = ();

    async fn run(&self, _: &ScriptCtx, _: serde_json::Value) -> anyhow::Result<()> {
        Ok(())
    }
}
