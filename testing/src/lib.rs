//! Test support for vcore and for applications built on it (a dev-dependency only):
//!
//! - [`pg`]: a throwaway PostgreSQL cluster, one per test process, one database per test.
//! - [`Backend`] and [`both_backends!`]: a test written once as `async fn name(b: Backend)`
//!   runs as `name_sqlite` and `name_postgres`. The PostgreSQL variant skips (with a line on
//!   stderr) when no PostgreSQL binaries are installed, unless `VCORE_REQUIRE_POSTGRES=1`,
//!   which CI sets so that a missing install cannot pass silently.
//! - [`TestDb`]: a fresh, migrated database on either backend, for tests of the domain
//!   layer that need no HTTP server.

pub mod pg;

#[doc(hidden)]
pub use paste;
use vcore_domain::db::Db;
use vcore_domain::extend::AppMigrations;

/// The database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `#[tokio::test] fn <name>_sqlite()` and `<name>_postgres()` for each named
/// `async fn name(b: Backend)` in the calling module.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            $crate::paste::paste! {
                #[tokio::test]
                async fn [<$name _sqlite>]() {
                    $name($crate::Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn [<$name _postgres>]() {
                    if !$crate::pg::available_or_skip(concat!(module_path!(), "::", stringify!($name), "_postgres")) {
                        return;
                    }
                    $name($crate::Backend::Postgres).await;
                }
            }
        )+
    };
}

/// A fresh database URL for one test: a SQLite file in `dir`, or a new database in this
/// process's PostgreSQL cluster.
pub async fn database_url(b: Backend, dir: &std::path::Path) -> String {
    match b {
        Backend::Sqlite => format!("sqlite://{}", dir.join("test.db").display()),
        Backend::Postgres => pg::create_database().await,
    }
}

/// A fresh database with vcore's migrations (and `apps`') applied, and its pool.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    /// The SQLite file (and anything else the test writes) lives here.
    pub dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(b: Backend, apps: &[AppMigrations]) -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("vcore-test-")
            .tempdir()
            .expect("creating the test dir");
        let url = database_url(b, dir.path()).await;
        Db::migrate(&url, apps)
            .await
            .expect("migrating the test database");
        let db = Db::connect(&url, 4)
            .await
            .expect("connecting to the test database");
        TestDb { db, url, dir }
    }

    /// Runs raw SQL (to set up a state the API cannot reach, or to break it on purpose).
    pub async fn execute_sql(&self, sql: &str) {
        execute_sql(&self.db, sql).await
    }
}

/// Runs raw SQL on `db`; panics with the statement and the cause when it fails.
pub async fn execute_sql(db: &Db, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    let result: anyhow::Result<()> = async {
        vcore_domain::with_conn!(db, |conn| {
            conn.batch_execute(sql).await?;
            Ok(())
        })
    }
    .await;
    result.unwrap_or_else(|e| panic!("executing {sql:?}: {e:#}"));
}
