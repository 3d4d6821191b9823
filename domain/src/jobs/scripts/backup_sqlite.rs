//! `backup_sqlite`: an online, consistent copy of the SQLite database (`VACUUM INTO`),
//! taken while the app keeps reading and writing. Input: `{"path": "/file.db"}` (default:
//! `<DATA_DIR>/backups/vcore-<UTC time>.db`) and `{"keep": n}` to delete all but the newest
//! n `vcore-*.db` files of the backup directory afterwards. Superusers only: it copies
//! everyone's data. On PostgreSQL it fails saying to use `pg_dump`.

use anyhow::Context;
use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

use super::{InputError, Script, ScriptCtx};
use crate::db::Backend;

pub struct BackupSqlite;

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct BackupInput {
    /// The file to write (must not exist); default `<DATA_DIR>/backups/vcore-<UTC time>.db`.
    #[serde(default)]
    pub path: Option<String>,
    /// Afterwards, delete all but the newest `keep` `vcore-*.db` files of the backup
    /// directory (1 to 10000).
    #[serde(default)]
    pub keep: Option<u64>,
}

#[derive(serde::Serialize)]
pub struct BackedUp {
    path: String,
    bytes: u64,
    deleted_old: usize,
}

impl Script for BackupSqlite {
    const NAME: &'static str = "backup_sqlite";
    const DESCRIPTION: &'static str =
        "Online copy of the SQLite database: {\"path\": file (optional), \"keep\": n newest (optional)}";
    const SUPERUSER_ONLY: bool = true;
    type Input = BackupInput;
    type Output = BackedUp;

    fn check(&self, input: &BackupInput) -> Result<(), InputError> {
        if input
            .path
            .as_deref()
            .is_some_and(|p| p.is_empty() || p.contains('\0'))
        {
            return Err(InputError::new("path", "expected a file path"));
        }
        if input.keep.is_some_and(|n| !(1..=10_000).contains(&n)) {
            return Err(InputError::new("keep", "expected a whole number from 1 to 10000"));
        }
        Ok(())
    }

    async fn run(&self, ctx: &ScriptCtx, input: BackupInput) -> anyhow::Result<BackedUp> {
        let Backend::Sqlite(pool) = ctx.db.backend() else {
            anyhow::bail!("the database is PostgreSQL: back it up with pg_dump or your provider's snapshots");
        };
        let path: std::path::PathBuf = match input.path {
            None => {
                crate::files::create_private_dir(&ctx.backup_dir)?;
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
                ctx.backup_dir.join(format!("vcore-{stamp}.db"))
            }
            Some(p) => p.into(),
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
        let deleted_old = match input.keep {
            Some(n) => prune_backups(&ctx.backup_dir, n as usize)?,
            None => 0,
        };
        Ok(BackedUp {
            path: target,
            bytes,
            deleted_old,
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
