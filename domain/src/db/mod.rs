//! The database handle: one pool, SQLite (embedded default) or PostgreSQL (production,
//! multi-node), and the embedded migrations of each.
//!
//! Queries are written once with Diesel's DSL and compiled for both backends by
//! [`with_conn!`](crate::with_conn), which hands the body a connection of whichever kind the
//! pool holds. SQLite runs through diesel-async's `SyncConnectionWrapper` (each call on the
//! blocking pool, never on the executor); PostgreSQL uses the native async driver.
//! Nothing outside this module knows which backend is in use.

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use crate::extend::{AppMigrations, Source};
use futures_util::FutureExt;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;
pub type PgConn = AsyncPgConnection;
pub type PoolError = diesel_async::pooled_connection::deadpool::PoolError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations =
    diesel_migrations::embed_migrations!("../migrations/sqlite");
pub const PG_MIGRATIONS: EmbeddedMigrations = diesel_migrations::embed_migrations!("../migrations/postgres");

/// Per-connection SQLite settings. WAL lets readers run beside the one writer;
/// `synchronous=NORMAL` in WAL mode survives a process crash (kill -9) without losing a
/// committed transaction (only an OS crash or power cut can drop the last few); the busy
/// timeout makes a writer wait for the lock instead of failing at once.
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";

#[derive(Clone)]
pub enum Backend {
    Sqlite(Pool<SqliteConn>),
    Pg(Pool<PgConn>),
}

/// A pool's connections: the most it may open, open now, idle now, and requests waiting.
#[derive(Debug, Clone, Copy)]
pub struct PoolStatus {
    pub max_size: usize,
    pub size: usize,
    pub available: usize,
    pub waiting: usize,
}

/// The pool handle. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend `$db` uses.
/// The body is compiled once per backend, so it must use only backend-neutral Diesel DSL.
#[macro_export]
macro_rules! with_conn {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db.backend() {
            $crate::db::Backend::Sqlite(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut $crate::db::SqliteConn = &mut *guard;
                $body
            }
            $crate::db::Backend::Pg(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut $crate::db::PgConn = &mut *guard;
                $body
            }
        }
    };
}

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

impl Db {
    /// The pool's state now (for `GET /metrics`).
    pub fn pool_status(&self) -> PoolStatus {
        let (max_size, size, available, waiting) = match &self.backend {
            Backend::Sqlite(p) => {
                let s = p.status();
                (s.max_size, s.size, s.available, s.waiting)
            }
            Backend::Pg(p) => {
                let s = p.status();
                (s.max_size, s.size, s.available, s.waiting)
            }
        };
        PoolStatus {
            max_size,
            size,
            available,
            waiting,
        }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Pg(_))
    }

    /// `sql` written with PostgreSQL's numbered parameters (`$1`, `$2`, …), for this
    /// backend: SQLite takes the same numbers as `?1`, `?2`, … (so `sql` must hold no other
    /// `$`). One text for both, bound once; only the connection differs.
    pub fn numbered<'a>(&self, sql: &'a str) -> std::borrow::Cow<'a, str> {
        match self.backend {
            Backend::Pg(_) => std::borrow::Cow::Borrowed(sql),
            Backend::Sqlite(_) => std::borrow::Cow::Owned(sql.replace('$', "?")),
        }
    }

    /// Opens a pool for `url` (`sqlite://path` or `postgres://…`). Creates the SQLite file's
    /// directory when needed. Does not run migrations.
    pub async fn connect(url: &str, pool_size: usize) -> anyhow::Result<Db> {
        let backend = if url.starts_with("sqlite://") {
            let path = sqlite_path(url).to_string();
            if let Some(dir) = std::path::Path::new(&path).parent() {
                crate::files::create_private_dir(dir)?;
            }
            let mut cfg = ManagerConfig::<SqliteConn>::default();
            cfg.custom_setup = Box::new(|url: &str| {
                let url = url.to_string();
                async move {
                    let mut conn = SqliteConn::establish(&url).await?;
                    conn.batch_execute(SQLITE_PRAGMAS)
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    Ok(conn)
                }
                .boxed()
            });
            cfg.recycling_method = RecyclingMethod::Fast;
            let mgr = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, cfg);
            Backend::Sqlite(Pool::builder(mgr).max_size(pool_size).build()?)
        } else {
            // No test query on every checkout (the default would double each round trip): a
            // closed connection is still refused, and a query on one that died unnoticed fails
            // once, which every caller handles (the loops retry, requests answer an error).
            let mut cfg = ManagerConfig::<PgConn>::default();
            cfg.recycling_method = RecyclingMethod::Fast;
            let mgr = AsyncDieselConnectionManager::<PgConn>::new_with_config(url, cfg);
            Backend::Pg(Pool::builder(mgr).max_size(pool_size).build()?)
        };
        let db = Db { backend };
        // Fail now, with the cause, rather than on the first request.
        db.ping().await?;
        Ok(db)
    }

    /// A trivial round trip to the database.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let result: anyhow::Result<()> = async {
            with_conn!(self, |conn| {
                conn.batch_execute("SELECT 1").await?;
                Ok(())
            })
        }
        .await;
        result
    }

    /// How many embedded migrations (vcore's and `apps`') are not yet applied (0 when the
    /// schema is current).
    pub async fn pending_migrations(&self, apps: &[AppMigrations]) -> anyhow::Result<usize> {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        diesel::table! {
            __diesel_schema_migrations (version) {
                version -> Text,
            }
        }
        let expected = migration_versions(self.is_postgres(), apps)?;
        let applied: Vec<String> = with_conn!(self, |conn| {
            __diesel_schema_migrations::table
                .select(__diesel_schema_migrations::version)
                .load::<String>(conn)
                .await
                .unwrap_or_default()
        });
        Ok(expected.iter().filter(|(v, _)| !applied.contains(v)).count())
    }

    /// Applies pending migrations, vcore's and then each application's, and returns the
    /// versions it applied.
    pub async fn migrate(url: &str, apps: &[AppMigrations]) -> anyhow::Result<Vec<String>> {
        let url = url.to_string();
        let apps = apps.to_vec();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
            let postgres = !url.starts_with("sqlite://");
            migration_versions(postgres, &apps)?;
            let mut done = Vec::new();
            if !postgres {
                let path = sqlite_path(&url).to_string();
                if let Some(dir) = std::path::Path::new(&path).parent() {
                    crate::files::create_private_dir(dir)?;
                }
                let mut conn = SqliteConnection::establish(&path)?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                for source in
                    std::iter::once(Source(&SQLITE_MIGRATIONS)).chain(apps.iter().map(|a| Source(a.sqlite)))
                {
                    let applied = conn
                        .run_pending_migrations(source)
                        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
                    done.extend(applied.iter().map(|v| v.to_string()));
                }
            } else {
                use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
                let mut conn = <AsyncConnectionWrapper<PgConn> as Connection>::establish(&url)?;
                for source in
                    std::iter::once(Source(&PG_MIGRATIONS)).chain(apps.iter().map(|a| Source(a.postgres)))
                {
                    let applied = conn
                        .run_pending_migrations(source)
                        .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
                    done.extend(applied.iter().map(|v| v.to_string()));
                }
            }
            Ok(done)
        })
        .await?
    }
}

/// Every embedded migration's version for one backend, with whose it is (`vcore` or the
/// application's name). Refuses two of the same version: diesel would take the second as
/// applied and never run it.
fn migration_versions(postgres: bool, apps: &[AppMigrations]) -> anyhow::Result<Vec<(String, &'static str)>> {
    use diesel::migration::MigrationSource;
    let sources = std::iter::once((
        "vcore",
        if postgres {
            &PG_MIGRATIONS
        } else {
            &SQLITE_MIGRATIONS
        },
    ))
    .chain(
        apps.iter()
            .map(|a| (a.app, if postgres { a.postgres } else { a.sqlite })),
    );
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (owner, source) in sources {
        let list = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&Source(source))
            .map_err(|e| anyhow::anyhow!("reading the migrations of {owner}: {e}"))?;
        for m in list {
            let version = m.name().version().to_string();
            if let Some((_, other)) = out.iter().find(|(v, _)| *v == version) {
                anyhow::bail!(
                    "migration version {version} of {owner} is also one of {other}'s: give it a \
                     later timestamp (the directory name's leading digits)"
                );
            }
            out.push((version, owner));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_migrates_and_reports_pending() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let db = Db::connect(&url, 2).await.unwrap();
        assert!(db.pending_migrations(&[]).await.unwrap() > 0);
        let applied = Db::migrate(&url, &[]).await.unwrap();
        assert!(!applied.is_empty());
        assert_eq!(db.pending_migrations(&[]).await.unwrap(), 0);
        assert!(
            Db::migrate(&url, &[]).await.unwrap().is_empty(),
            "second run applies nothing"
        );
    }
}
