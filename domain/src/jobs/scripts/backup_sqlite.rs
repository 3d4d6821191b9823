//! `backup_sqlite`: an online, consistent copy of the SQLite database (`VACUUM INTO`),
//! taken while the app keeps reading and writing. Input: `{"path": "/file.db"}` (default:
//! `<DATA_DIR>/backups/vcore-<UTC time>.db`) and `{"keep": n}` to delete all but the newest
//! n `vcore-*.db` files of the backup directory afterwards. Superusers only: it copies
//! everyone's data. On PostgreSQL it fails saying to use `pg_dump`.

use anyhow::Context;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;
use futures_util::future::BoxFuture;

use super::{Script, ScriptCtx};
use crate::db::Backend;

pub struct BackupSqlite;

impl Script for BackupSqlite {
    fn name(&self) -> &'static str {
        "backup_sqlite"
    }
    fn description(&self) -> &'static str {
        "Online copy of the SQLite database: {\"path\": file (optional), \"keep\": n newest (optional)}"
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
            let Backend::Sqlite(pool) = ctx.db.backend() else {
                anyhow::bail!(
                    "the database is PostgreSQL: back it up with pg_dump or your provider's snapshots"
                );
            };
            let path = match input.get("path") {
                None | Some(serde_json::Value::Null) => {
                    crate::config::create_private_dir(&ctx.backup_dir)?;
                    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                    ctx.backup_dir.join(format!("vcore-{stamp}.db"))
                }
                Some(serde_json::Value::String(p)) if !p.is_empty() && !p.contains('\0') => p.into(),
                Some(_) => anyhow::bail!("input.path: expected a file path"),
            };
            let keep = match input.get("keep") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|n| (1..=10_000).contains(n))
                        .context("input.keep: expected a whole number from 1 to 10000")?
                        as usize,
                ),
            };
            if path.exists() {
                anyhow::bail!("input.path: {} already exists", path.display());
            }
            let target = path.to_str().context("input.path: not valid UTF-8")?.to_string();
            diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(&target)
                .execute(&mut *pool.get().await?)
                .await
                .with_context(|| format!("backing up to {target}"))?;
            let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let deleted = match keep {
                Some(n) => prune_backups(&ctx.backup_dir, n)?,
                None => 0,
            };
            Ok(serde_json::json!({ "path": target, "bytes": bytes, "deleted_old": deleted }))
        })
    }
}

/// Deletes all but the newest `keep` `vcore-*.db` files in `dir` (names sort by time).
fn prune_backups(dir: &std::path::Path, keep: usize) -> anyhow::Result<usize> {
    let mut names: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vcore-") && n.ends_with(".db"))
        })
        .collect();
    names.sort();
    let old = names.len().saturating_sub(keep);
    for p in &names[..old] {
        std::fs::remove_file(p)?;
    }
    Ok(old)
}
