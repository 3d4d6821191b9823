//! [`Services`]: the single handle that REST handlers and server functions hold. It owns
//! the configuration, the database pool and the token keys; the operations themselves are
//! `impl Services` blocks in their own modules (`users`, `sessions`).

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::jobs::runner::Runner;
use crate::sessions::Throttle;
use crate::tokens::TokenKeys;

#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<TokenKeys>,
    pub(crate) throttle: Arc<Throttle>,
    /// The API's rate limits (per caller and per address), applied by the server's middleware.
    pub limiter: Arc<crate::rate_limit::RateLimiter>,
    /// This process's job runner, when it runs one (`serve`, `worker`).
    pub runner: Option<Runner>,
    /// Job changes for live viewers (fed by this process's runner and services).
    pub hub: crate::jobs::events::Hub,
    /// Email and alert sending, when email or a notification channel is configured.
    pub notifier: Option<crate::notify::Notifier>,
    /// This process's id among the nodes sharing the database (`host:pid:random`); also the
    /// `lease_owner` of the jobs it runs.
    pub node_id: Arc<str>,
    /// Live events and output lines to and from the other nodes (PostgreSQL with
    /// `JOB_NOTIFY`; set by [`Services::join_cluster`]).
    pub relay: Option<crate::relay::Relay>,
    /// What the application built on vcore adds: scripts (with vcore's), migrations,
    /// schedulers.
    pub extensions: Arc<crate::Extensions>,
    /// What the HTTP layer counts for `GET /metrics` (the rest is read when scraped).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// What start-up did, for the caller to report.
pub struct Started {
    pub services: Services,
    pub applied_migrations: Vec<String>,
    /// Set when this start created the first superuser: its username, and the file holding
    /// its generated password (None when FIRST_SUPERUSER_PASSWORD was given).
    pub first_superuser: Option<(String, Option<std::path::PathBuf>)>,
}

impl Services {
    /// Sends the start-up alert (`NOTIFY_ON_START`) for a `serve` or `worker` process.
    pub fn announce_start(&self, role: &str) {
        if let Some(n) = &self.notifier {
            n.alert(crate::notify::Alert::Started {
                role: role.to_string(),
            });
        }
    }

    /// Connects, applies pending migrations (vcore's, then the application's), creates the
    /// first superuser if needed and the application's schedulers that are missing.
    pub async fn start(config: Config, extensions: crate::Extensions) -> anyhow::Result<Started> {
        let applied_migrations = Db::migrate(&config.db_url, &extensions.migrations).await?;
        let db = Db::connect(&config.db_url, config.db_pool_size).await?;
        let services = Services::new(config, db, extensions);
        let first_superuser = services
            .ensure_first_superuser()
            .await
            .map_err(|e| anyhow::anyhow!("creating the first superuser: {e}"))?
            .map(|(u, path)| (u.username, path));
        services
            .ensure_app_schedulers()
            .await
            .map_err(|e| anyhow::anyhow!("creating the application's schedulers: {e}"))?;
        Ok(Started {
            services,
            applied_migrations,
            first_superuser,
        })
    }

    /// Connects and applies pending migrations, nothing more: for the commands that are not
    /// the server (`worker`, `enqueue`, `jobs list`, `create-superuser`), which must not
    /// create the first superuser behind the operator's back.
    pub async fn open(config: Config, extensions: crate::Extensions) -> anyhow::Result<Services> {
        Db::migrate(&config.db_url, &extensions.migrations).await?;
        let db = Db::connect(&config.db_url, config.db_pool_size).await?;
        Ok(Services::new(config, db, extensions))
    }

    /// How many migrations (vcore's and the application's) are not applied yet.
    pub async fn pending_migrations(&self) -> anyhow::Result<usize> {
        self.db.pending_migrations(&self.extensions.migrations).await
    }

    pub fn new(config: Config, db: Db, extensions: crate::Extensions) -> Services {
        Services {
            db,
            throttle: Arc::new(Throttle::default()),
            limiter: Arc::new(crate::rate_limit::RateLimiter::new(
                config.rate_limit,
                config.rate_limit_ip,
            )),
            runner: None,
            hub: crate::jobs::events::Hub::default(),
            notifier: crate::notify::Notifier::start(&config),
            node_id: crate::cluster::new_node_id().into(),
            relay: None,
            extensions: Arc::new(extensions),
            metrics: Arc::default(),
            keys: Arc::new(TokenKeys::new(&config)),
            config: Arc::new(config),
        }
    }
}
