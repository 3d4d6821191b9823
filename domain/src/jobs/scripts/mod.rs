//! Scripts: Rust handlers that jobs of type `script` run by name, with JSON input (the job's
//! `meta`) and JSON output (stored as the job's result). This is how apps built on vcore
//! add work: one file implementing [`Script`], one `register` line in [`ScriptRegistry::with_builtins`]
//! (or in the app's own start-up). A script must honour `ctx.cancel` at its await points so
//! that kill, timeout and shutdown can stop it.

mod backup_sqlite;
mod echo;
mod noop;
mod prune_jobs;
mod sleep;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::db::Db;

/// What a running script may use.
#[derive(Clone)]
pub struct ScriptCtx {
    pub job_id: i64,
    pub db: Db,
    /// Fires on kill, timeout or shutdown.
    pub cancel: CancellationToken,
    /// Where command jobs' logs are (`job-<id>.log`).
    pub log_dir: std::path::PathBuf,
    /// Where backups go unless the input names a file.
    pub backup_dir: std::path::PathBuf,
}

/// A unit of work runnable by name.
pub trait Script: Send + Sync + 'static {
    /// The name jobs use in their `command` field.
    fn name(&self) -> &'static str;
    /// One line for listings.
    fn description(&self) -> &'static str;
    /// Whether only superusers (and the operator's CLI) may run it: true for anything that
    /// reaches beyond the job owner's own data (pruning everyone's jobs, copying the
    /// database). Checked when a job is stored and again before it runs.
    fn superuser_only(&self) -> bool {
        false
    }
    /// Runs once per attempt. An `Err` fails the attempt (and retries, while attempts remain).
    fn run<'a>(
        &'a self,
        ctx: &'a ScriptCtx,
        input: serde_json::Value,
    ) -> BoxFuture<'a, anyhow::Result<serde_json::Value>>;
}

/// The scripts this process can run.
#[derive(Clone, Default)]
pub struct ScriptRegistry {
    scripts: BTreeMap<&'static str, Arc<dyn Script>>,
}

impl ScriptRegistry {
    /// The built-in scripts.
    pub fn with_builtins() -> Self {
        let mut r = ScriptRegistry::default();
        r.register(noop::Noop);
        r.register(echo::Echo);
        r.register(sleep::Sleep);
        r.register(prune_jobs::PruneJobs);
        r.register(backup_sqlite::BackupSqlite);
        r
    }

    /// Adds (or replaces) a script under its name.
    pub fn register(&mut self, script: impl Script) {
        self.scripts.insert(script.name(), Arc::new(script));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Script>> {
        self.scripts.get(name).cloned()
    }

    /// (name, description) of every script, by name.
    pub fn list(&self) -> Vec<(&'static str, &'static str)> {
        self.scripts
            .values()
            .map(|s| (s.name(), s.description()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_registered_by_name() {
        let r = ScriptRegistry::with_builtins();
        let names: Vec<_> = r.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["backup_sqlite", "echo", "noop", "prune_jobs", "sleep"]);
        assert!(r.get("noop").is_some() && r.get("missing").is_none());
    }
}
