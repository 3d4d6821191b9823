//! What an application built on vcore adds to the domain layer: its scripts, its database
//! migrations (one set per backend, applied after vcore's) and its schedulers (created at
//! start when missing). `vcore_server::App` collects these from the application's
//! `main.rs` and hands them to [`Services::start`](crate::Services::start); see
//! `docs/extending.md`.

use diesel::backend::Backend;
use diesel::migration::{Migration, MigrationSource};
use diesel_migrations::EmbeddedMigrations;

use crate::jobs::scheduler_service::SchedulerInput;
use crate::jobs::scripts::{Script, ScriptRegistry};

/// An application's migrations, embedded with `diesel_migrations::embed_migrations!`: one
/// directory per backend with the same versions. Their versions (the directory names'
/// leading timestamps) must differ from vcore's, or they would be taken as applied.
#[derive(Clone, Copy)]
pub struct AppMigrations {
    /// Who they belong to, for messages.
    pub app: &'static str,
    pub sqlite: &'static EmbeddedMigrations,
    pub postgres: &'static EmbeddedMigrations,
}

/// A `&'static EmbeddedMigrations` as a migration source (diesel takes sources by value).
#[derive(Clone, Copy)]
pub(crate) struct Source(pub &'static EmbeddedMigrations);

impl<DB: Backend> MigrationSource<DB> for Source {
    fn migrations(&self) -> diesel::migration::Result<Vec<Box<dyn Migration<DB>>>> {
        MigrationSource::<DB>::migrations(self.0)
    }
}

/// Everything an application adds below HTTP. Cheap to clone.
#[derive(Clone)]
pub struct Extensions {
    /// vcore's built-in scripts and the application's.
    pub scripts: ScriptRegistry,
    pub migrations: Vec<AppMigrations>,
    /// Schedulers the application needs (a nightly clean-up, a report): created by the
    /// first `serve` start that does not find one of the same name among the schedulers
    /// without an owner, then managed like any other (a superuser may pause or edit it;
    /// a deleted one comes back at the next start).
    pub schedulers: Vec<SchedulerInput>,
}

impl Default for Extensions {
    /// vcore alone: the built-in scripts, nothing else.
    fn default() -> Self {
        Extensions {
            scripts: ScriptRegistry::with_builtins(),
            migrations: Vec::new(),
            schedulers: Vec::new(),
        }
    }
}

impl Extensions {
    pub fn script<S: Script>(mut self, script: S) -> Self {
        self.scripts.register(script);
        self
    }

    pub fn migrations(mut self, m: AppMigrations) -> Self {
        self.migrations.push(m);
        self
    }

    pub fn scheduler(mut self, s: SchedulerInput) -> Self {
        self.schedulers.push(s);
        self
    }
}
