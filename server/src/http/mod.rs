//! The HTTP surface: application state, the REST API under `API_V1_PREFIX` (one module per
//! resource, each with its own `router()`), its OpenAPI document and docs page, the probes,
//! and the middleware stack. Handlers here are thin: extract, call `vcore_domain`, map.

mod api_keys;
mod audit;
pub mod error;
pub mod extract;
mod jobs;
mod login;
mod mfa;
pub mod middleware;
mod nodes;
mod ops;
mod schedulers;
mod scripts;
mod users;
mod ws;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::Router;
use leptos::config::LeptosOptions;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;
use vcore_domain::Services;

/// Everything handlers can reach. Sub-states are taken with `State<Services>` and
/// `State<LeptosOptions>` through `FromRef`.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub leptos: LeptosOptions,
}

impl FromRef<AppState> for Services {
    fn from_ref(s: &AppState) -> Self {
        s.services.clone()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(s: &AppState) -> Self {
        s.leptos.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "vcore API", description = "REST API of vcore: accounts, sign-in and the job queue."),
    modifiers(&BearerAuth),
    tags((name = "login", description = "Tokens and registration"), (name = "users", description = "Accounts"), (name = "jobs", description = "The job queue"), (name = "job-schedulers", description = "Jobs made on a trigger"), (name = "nodes", description = "The processes sharing the database"), (name = "scripts", description = "The scripts jobs can run"), (name = "api-keys", description = "Keys for scripts and service accounts"), (name = "audit-log", description = "Who did what, when, from where"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key (vk_…)")
                    .build(),
            ),
        );
    }
}

/// The versioned REST API, vcore's resources and the application's (`extra`), and its
/// OpenAPI document (paths include the prefix).
pub fn api(prefix: &str, extra: &[OpenApiRouter<AppState>]) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut api = OpenApiRouter::<AppState>::new()
        .merge(login::router())
        .merge(users::router())
        .merge(jobs::router())
        .merge(schedulers::router())
        .merge(nodes::router())
        .merge(scripts::router())
        .merge(api_keys::router())
        .merge(mfa::router())
        .merge(audit::router());
    for r in extra {
        api = api.merge(r.clone());
    }
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(prefix, api)
        .split_for_parts();
    declare_rate_limits(&mut doc);
    (router, doc)
}

/// Every operation may answer 429 (`middleware::rate_limit`): say so in the document, with
/// the `Retry-After` header, so that generated clients expect it.
fn declare_rate_limits(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
    let limited = ResponseBuilder::new()
        .description("Too many requests: wait for Retry-After seconds")
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(utoipa::openapi::schema::Object::with_type(
                    utoipa::openapi::schema::Type::Integer,
                )))
                .description(Some("Seconds until the request may be retried"))
                .build(),
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            op.responses
                .responses
                .entry("429".to_string())
                .or_insert_with(|| limited.clone().into());
        }
    }
}

/// vcore's own OpenAPI document (without an application's resources).
pub fn openapi_document(prefix: &str) -> utoipa::openapi::OpenApi {
    api(prefix, &[]).1
}

/// REST API + OpenAPI JSON + interactive docs at `/docs` (Swagger UI, vendored into the
/// binary: no CDN) + probes.
pub fn router(prefix: &str, extra: &[OpenApiRouter<AppState>]) -> Router<AppState> {
    let (api, doc) = api(prefix, extra);
    // Unknown API paths answer JSON, not the web app's HTML 404 page.
    let not_found = || async { error::detail(StatusCode::NOT_FOUND, "Not Found") };
    api.route(
        &format!("{prefix}/ws/job-queue"),
        axum::routing::get(ws::job_queue),
    )
    .route(&format!("{prefix}/{{*rest}}"), axum::routing::any(not_found))
    .merge(SwaggerUi::new("/docs").url(format!("{prefix}/openapi.json"), doc))
    .merge(ops::router())
}
