//! [`App`]: the one way in for an application built on vcore. Its `main.rs` names what it
//! adds (scripts, migrations, schedulers, REST resources, pages, navigation, quick tools) and
//! hands over to vcore's command line, which then serves, runs workers, migrates and so on
//! with those parts. vcore's own binary is `App::new("vcore").main()`. See
//! `docs/extending.md`.
//!
//! ```text
//! fn main() {
//!     vcore_server::App::new("notes")
//!         .migrations(notes_app::MIGRATIONS)
//!         .script(notes_app::Digest)
//!         .scheduler(notes_app::nightly_digest())
//!         .api(notes_server::api::router())
//!         .ui(notes_app::extension())
//!         .main()
//! }
//! ```

use utoipa_axum::router::OpenApiRouter;
use vcore_domain::extend::AppMigrations;
use vcore_domain::jobs::scheduler_service::SchedulerInput;
use vcore_domain::jobs::scripts::Script;
use vcore_domain::{Config, Extensions};

use crate::http::AppState;
use crate::startup::Application;

/// An application: vcore plus what it adds. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub(crate) name: &'static str,
    pub(crate) domain: Extensions,
    pub(crate) api: Vec<OpenApiRouter<AppState>>,
    pub(crate) ui: vcore_app::ext::Extension,
}

impl Default for App {
    /// vcore alone.
    fn default() -> Self {
        App::new("vcore")
    }
}

impl App {
    /// `name` is the program's name in its help and messages.
    pub fn new(name: &'static str) -> App {
        App {
            name,
            domain: Extensions::default(),
            api: Vec::new(),
            ui: vcore_app::ext::Extension::default(),
        }
    }

    /// Registers a typed script: jobs of type `script` may then name it, on every node
    /// built from this `main.rs`.
    pub fn script<S: Script>(mut self, script: S) -> Self {
        self.domain = self.domain.script(script);
        self
    }

    /// The application's migrations, applied after vcore's (by `serve`, `worker`,
    /// `migrate`, …), on SQLite or PostgreSQL as configured.
    pub fn migrations(mut self, migrations: AppMigrations) -> Self {
        self.domain = self.domain.migrations(migrations);
        self
    }

    /// A scheduler the application needs, created at start when missing (see
    /// [`Extensions::schedulers`]).
    pub fn scheduler(mut self, scheduler: SchedulerInput) -> Self {
        self.domain = self.domain.scheduler(scheduler);
        self
    }

    /// REST resources, mounted under `API_V1_PREFIX` beside vcore's and described in the
    /// same OpenAPI document (`/api/v1/openapi.json`, `/docs`, `vcore openapi`). Handlers
    /// take vcore's extractors (`CurrentUser`, `ValidJson`, …) and return `ApiResult`.
    pub fn api(mut self, router: OpenApiRouter<AppState>) -> Self {
        self.api.push(router);
        self
    }

    /// Pages, navigation entries and quick tools. The application's WASM entry point
    /// must hydrate with the same extension (`vcore_app::ext::hydrate_with`).
    pub fn ui(mut self, ui: vcore_app::ext::Extension) -> Self {
        self.ui = ui;
        self
    }

    /// What the domain layer gets.
    pub fn extensions(&self) -> &Extensions {
        &self.domain
    }

    /// Migrates, starts the job runner (unless `JOB_RUNNER=false`) and binds the port; for
    /// tests and embedding. [`App::main`] is the command line around it.
    pub async fn build(self, config: Config) -> anyhow::Result<Application> {
        Application::build_app(self, config).await
    }

    /// The OpenAPI document with the application's resources.
    pub fn openapi(&self, prefix: &str) -> utoipa::openapi::OpenApi {
        crate::http::api(prefix, &self.api).1
    }

    /// Runs the command line (`serve` by default; `--help` lists the rest) and exits the
    /// process with its code.
    pub fn main(self) -> ! {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                eprintln!("{}: cannot start the async runtime: {e}", self.name);
                std::process::exit(1)
            });
        let code = runtime.block_on(crate::cli::run(self));
        drop(runtime);
        std::process::exit(code)
    }
}
