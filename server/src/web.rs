//! The Leptos side of the server: server-side rendering of the app's routes, server
//! functions, and static files (the WASM bundle, CSS, icons) from the site root.
//! Server functions and SSR get [`Services`] as context; they call the domain from there.

use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use vcore_app::{shell, App};

use crate::http::AppState;

/// Where cargo-leptos put the site (`LEPTOS_SITE_ROOT`, default `target/site`).
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
        // Static files, else the app's own 404 page (rendered with the same context).
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            context, shell,
        ))
        .layer(axum::middleware::from_fn(
            crate::http::middleware::server_fn_status,
        ))
}
