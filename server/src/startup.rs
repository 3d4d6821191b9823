//! Building and running the server. [`Application::build`] does everything that can fail
//! (config already parsed: migrations, first superuser, binding the port) before
//! [`Application::run_until`] serves until [`shutdown_signal`] (or, in tests, a future of
//! their own); tests build one on port 0 and read the port.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::http::{HeaderName, Request};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::Predicate as _;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use vcore_domain::{Config, Services};

use crate::http::{self, middleware, AppState};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    services: Services,
    port: u16,
    /// This process's row among the nodes sharing the database.
    membership: vcore_domain::cluster::Membership,
    /// Username and generated-password file of a first superuser created by this start.
    pub first_superuser: Option<(String, Option<std::path::PathBuf>)>,
    pub applied_migrations: Vec<String>,
}

impl Application {
    /// vcore alone (no application parts): [`crate::App::build`] of `App::new("vcore")`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        crate::App::default().build(config).await
    }

    pub(crate) async fn build_app(app: crate::App, mut config: Config) -> anyhow::Result<Application> {
        let addr = format!("{}:{}", config.server_host, config.server_port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let port = listener.local_addr()?.port();
        // With port 0 and no BASE_URL, the derived base URL names the port actually bound.
        if config.server_port == 0 && config.base_url == format!("http://{}:0", config.server_host) {
            config.base_url = format!("http://{}:{port}", config.server_host);
        }
        // Before any route is generated: the routes and the navigation read it.
        vcore_app::ext::install(app.ui.clone());
        let mut started = Services::start(config, app.domain.clone()).await?;
        if started.services.config.job_runner {
            started.services = started.services.with_runner();
        }
        started.services.announce_start("server");
        let membership = started
            .services
            .join_cluster(vcore_domain::cluster::NodeKind::Serve);
        vcore_app::api::start_system_clock();
        let state = AppState {
            services: started.services.clone(),
            leptos: crate::web::leptos_options(),
        };
        Ok(Application {
            router: app_router(state, &app.api),
            listener,
            membership,
            services: started.services,
            port,
            first_superuser: started.first_superuser,
            applied_migrations: started.applied_migrations,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn services(&self) -> Services {
        self.services.clone()
    }

    /// Serves until `stop` resolves (for `vcore serve`, [`shutdown_signal`], created before
    /// [`Application::build`] starts the runner), then shuts the job runner down gracefully.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(stop)
            .await?;
        // HTTP is done; now the jobs: finish within the grace period or hand them back.
        if let Some(runner) = &self.services.runner {
            let grace = Duration::from_secs(self.services.config.job_shutdown_grace_secs);
            tracing::info!(grace_secs = grace.as_secs(), "stopping the job runner");
            let handed_back = runner.shutdown(grace).await;
            tracing::info!(handed_back, "job runner stopped");
        }
        self.membership.leave().await;
        Ok(())
    }
}

/// The whole app: REST API (vcore's resources and the application's `api`), docs, probes,
/// pages and server functions, behind the middleware stack (outermost first).
pub fn app_router(state: AppState, api: &[utoipa_axum::router::OpenApiRouter<AppState>]) -> Router {
    let prefix = state.services.config.api_v1_prefix.clone();
    let svc = state.services.clone();
    let routes = http::router(&prefix, api)
        .merge(crate::web::router(&state))
        .with_state(state);
    routes.layer(
        ServiceBuilder::new()
            // Outermost: every answer is counted, refusals of the layers below included.
            .layer(axum::middleware::from_fn_with_state(
                svc.clone(),
                middleware::http_metrics,
            ))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                let uri = redact_token(req.uri());
                tracing::info_span!("request", request_id = %id, method = %req.method(), uri = %uri)
            }))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            // On every answer: no MIME sniffing, no referrer beyond this origin, no framing
            // (pages also say `frame-ancestors 'none'` in their Content-Security-Policy,
            // set with the render's nonce in `vcore_app::app::shell`).
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("DENY"),
            ))
            // Pages, JSON and logs go out compressed (brotli or gzip, as the client accepts).
            // Not the WASM bundle: a release build compresses it once (the build step's
            // `vcore-xtask build --release`, as scripts/start.sh runs it) and those files are
            // served as they are; compressing a debug bundle (16 MB) on every load would cost a
            // second each time.
            .layer(tower_http::compression::CompressionLayer::new().compress_when(
                tower_http::compression::DefaultPredicate::new().and(
                    tower_http::compression::predicate::NotForContentType::const_new("application/wasm"),
                ),
            ))
            .layer(CatchPanicLayer::custom(|_| {
                http::error::detail(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                )
            }))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(60),
            ))
            .layer(axum::middleware::from_fn(middleware::client_info))
            .layer(axum::middleware::from_fn_with_state(
                svc.clone(),
                middleware::rate_limit,
            ))
            .layer(axum::middleware::from_fn_with_state(
                svc.clone(),
                middleware::csrf,
            ))
            .layer(axum::middleware::from_fn_with_state(
                svc,
                middleware::refresh_session,
            )),
    )
}

/// Listens for SIGINT and SIGTERM from the moment it is called, and resolves on the first.
/// Call it before the job runner starts: until a listener exists, SIGTERM has its default
/// action and kills the process on the spot, with no graceful hand-back (a SIGTERM right
/// after the first job was claimed did exactly that while this registered on first poll).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        tokio::select! {
            _ = received(term) => {},
            _ = received(int) => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received; finishing in-flight requests");
    }
}

/// Resolves when `signal` arrives; never, when it could not be listened for.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// The URI as logged: a `token` query parameter (the WebSocket's credentials, possibly an
/// API key) is replaced by `<redacted>`.
fn redact_token(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=<redacted>".to_string(),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

#[cfg(test)]
mod redact_tests {
    #[test]
    fn a_token_in_the_query_is_not_logged() {
        let uri: axum::http::Uri = "/api/v1/ws/job-queue?since=3&token=vk_abc_def".parse().unwrap();
        assert_eq!(
            super::redact_token(&uri),
            "/api/v1/ws/job-queue?since=3&token=<redacted>"
        );
        let plain: axum::http::Uri = "/jobs?status=failed".parse().unwrap();
        assert_eq!(super::redact_token(&plain), "/jobs?status=failed");
    }
}
