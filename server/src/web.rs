//! The Leptos side of the server: server-side rendering of the app's routes, server
//! functions, and static files (the WASM bundle, CSS, icons) from the site root.
//! Server functions and SSR get [`Services`] as context; they call the domain from there.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use vcore_app::{shell, App};

use crate::http::AppState;

/// Where the build step (or cargo-leptos) put the site (`LEPTOS_SITE_ROOT`, default `target/site`).
pub fn leptos_options() -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    let pkg = std::env::var("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|_| "pkg".into());
    LeptosOptions::builder()
        .output_name("vcore")
        .site_root(site_root)
        .site_pkg_dir(pkg)
        .build()
}

pub fn router(state: &AppState) -> Router<AppState> {
    let routes = generate_route_list(App);
    let services = state.services.clone();
    let context = move || provide_context(services.clone());
    let options = state.leptos.clone();
    Router::new()
        .leptos_routes_with_context(state, routes, context.clone(), move || shell(options.clone()))
        // Only the pages (layers wrap the routes added before them, not the fallback).
        .layer(axum::middleware::from_fn(render_watchdog))
        .merge(crate::pwa::router())
        // Static files (with their build-time .br/.gz, and conditional requests answered
        // with a 304), else the app's own 404 page (rendered with the same context).
        // leptos_axum's own file handler would do both, but drops `If-Modified-Since`.
        .fallback_service(
            tower_http::services::ServeDir::new(&*state.leptos.site_root)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(
                    leptos_axum::file_and_error_handler_with_context::<AppState, _>(context, shell)
                        .with_state(state.clone()),
                ),
        )
        .layer(axum::middleware::from_fn(
            crate::http::middleware::server_fn_status,
        ))
        .layer(axum::middleware::from_fn(static_revalidate))
}

/// Static files (the bundle under `/pkg/`, icons, the offline page) keep their names from
/// one build to the next, so a browser must ask again before it reuses one: `no-cache`
/// (answered with a 304 while the file is unchanged). Without it, browsers cache them by
/// guesswork from `Last-Modified` and could run last release's WASM against this server.
async fn static_revalidate(req: Request, next: Next) -> Response {
    let is_file = {
        let path = req.uri().path();
        !path.starts_with("/api/") && path.rsplit('/').next().is_some_and(|last| last.contains('.'))
    };
    let mut res = next.run(req).await;
    if is_file && !res.headers().contains_key(axum::http::header::CACHE_CONTROL) {
        res.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-cache"),
        );
    }
    res
}

/// How long one server render of a page may take before it is abandoned and started again.
const RENDER_LIMIT: Duration = Duration::from_secs(5);
/// Renders of one request, the first included.
const RENDER_TRIES: u32 = 3;
/// The largest page we buffer (every page is a few tens of KB).
const PAGE_LIMIT: usize = 16 * 1024 * 1024;

/// Guards against server renders that never finish. Under load, a small fraction of the
/// server renders of a page whose `<Transition>`s wait on shared resources stalled for good
/// (Leptos 0.8.23; seen on `/users` in about one of a few thousand renders when the machine
/// is busy): the response started and its body never ended. Pages render whole before they
/// are sent (`SsrMode::Async`), so buffering costs nothing; a render that takes over
/// `RENDER_LIMIT` is dropped and run again, and after `RENDER_TRIES` the visitor gets a 503
/// asking to reload instead of a page that never loads. Each stall is logged.
async fn render_watchdog(req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        return next.run(req).await;
    }
    let (parts, _) = req.into_parts();
    for attempt in 1..=RENDER_TRIES {
        let req = Request::from_parts(parts.clone(), Body::empty());
        let render = async {
            let (head, body) = next.clone().run(req).await.into_parts();
            axum::body::to_bytes(body, PAGE_LIMIT)
                .await
                .map(|bytes| (head, bytes))
        };
        match tokio::time::timeout(RENDER_LIMIT, render).await {
            Ok(Ok((head, bytes))) => return Response::from_parts(head, Body::from(bytes)),
            Ok(Err(e)) => {
                tracing::error!(uri = %parts.uri, error = %e, "reading a rendered page failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            Err(_) => tracing::warn!(uri = %parts.uri, attempt, "server render stalled; rendering again"),
        }
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(http::header::RETRY_AFTER, "1")],
        "This page took too long to render. Please reload.",
    )
        .into_response()
}
