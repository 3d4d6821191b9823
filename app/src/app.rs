//! The root component, the route table and the HTML document the server streams. Routes
//! only pick a page; pages own their data. Nothing here calls the server.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Stylesheet};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::auth::Auth;
use crate::components::shell::AppShell;
use crate::components::theme::{provide_theme, ThemeRoot};
use crate::pages::home::HomePage;
use crate::pages::job::JobPage;
use crate::pages::jobs::{JobsPage, NewJobPage};
use crate::pages::login::LoginPage;
use crate::pages::not_found::NotFound;
use crate::pages::profile::ProfilePage;
use crate::pages::recover::{RecoverPasswordPage, ResetPasswordPage};
use crate::pages::register::RegisterPage;
use crate::pages::schedulers::SchedulersPage;
use crate::pages::tools::{ToolPage, ToolsPage};
use crate::pages::users::UsersPage;

/// The Content-Security-Policy of every page: scripts only from this origin or inline with
/// this response's nonce (Leptos's hydration data, the loader, the service worker's
/// registration), WebAssembly compiled from our own bundle, no plugins, no framing, forms
/// and connections (fetch, the WebSocket) to this origin only. Inline styles are allowed:
/// leptos_meta inserts the accent's `<style>` in the browser too, where no nonce exists.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Puts the page's Content-Security-Policy, with the nonce Leptos gave this render, on the
/// response (server only).
fn set_content_security_policy() {
    #[cfg(feature = "ssr")]
    {
        let nonce = leptos::nonce::use_nonce();
        let response = use_context::<leptos_axum::ResponseOptions>();
        if let (Some(nonce), Some(response)) = (nonce, response) {
            if let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce.to_string())) {
                response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
}

/// The whole HTML document, rendered by the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    set_content_security_policy();
    let nonce = leptos::nonce::use_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrateAfterPaint options />
                <MetaTags />
                <link rel="manifest" href="/manifest.webmanifest" />
                <link rel="apple-touch-icon" href="/icon-192.png" />
                // The service worker: installable app, offline page (see server/src/pwa.rs).
                <script nonce=nonce inner_html=REGISTER_SERVICE_WORKER></script>
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Loads the WASM bundle and hydrates the page, starting after the browser has painted the
/// server's HTML (Leptos's `<HydrationScripts>` preloads the bundle from the `<head>`, so on a
/// slow phone its download competes with the first paint; Lighthouse counted 3 s of LCP for
/// it). The page reads and its forms post before this; the script is Leptos's own loader.
#[component]
fn HydrateAfterPaint(options: LeptosOptions) -> impl IntoView {
    let pkg = format!("/{}/{}", options.site_pkg_dir, options.output_name);
    let script = format!(
        "requestAnimationFrame(() => setTimeout(() => import('{pkg}.js').then(m => m.default({{module_or_path: '{pkg}.wasm'}}).then(() => m.hydrate())), 0));"
    );
    view! { <script type="module" nonce=leptos::nonce::use_nonce() inner_html=script></script> }
}

/// Registers the service worker once the page has loaded (nothing happens without one).
const REGISTER_SERVICE_WORKER: &str = "if ('serviceWorker' in navigator) { addEventListener('load', () => navigator.serviceWorker.register('/sw.js').catch(() => {})); }";

/// The stylesheet the build step (or cargo-leptos) puts beside the bundle; the Trunk build links its own copy
/// from `frontend/index.html`, so there it is left out (it would be a 404).
#[cfg(not(feature = "csr"))]
const STYLESHEET: Option<&str> = Some("/pkg/vcore.css");
#[cfg(feature = "csr")]
const STYLESHEET: Option<&str> = None;

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    Auth::provide();
    provide_theme();
    // Effects run only in the browser, after hydration: the marker tells tests (and anyone
    // debugging) that the WASM bundle has taken over the server-rendered page.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
    view! {
        {STYLESHEET.map(|href| view! { <Stylesheet id="leptos" href=href /> })}
        <Meta name="color-scheme" content="light dark" />
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg" />
        <ThemeRoot />
        <Router>
            // `SsrMode::Async`: these pages are rendered whole on the server, after their data
            // has loaded. So they read fine without JavaScript, the <title> is right, and a
            // visitor without a session gets a real 302 to /login (from <Redirect/>), which
            // streamed rendering could not send once the headers were out.
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <Route path=path!("/register") view=RegisterPage ssr=SsrMode::Async />
                <Route path=path!("/recover-password") view=RecoverPasswordPage ssr=SsrMode::Async />
                <Route path=path!("/reset-password") view=ResetPasswordPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=AppShell ssr=SsrMode::Async>
                    <Route path=path!("") view=HomePage />
                    <Route path=path!("/users") view=UsersPage />
                    <Route path=path!("/audit") view=crate::pages::audit::AuditPage />
                    <Route path=path!("/jobs") view=JobsPage />
                    <Route path=path!("/jobs/new") view=NewJobPage />
                    <Route path=path!("/jobs/:id") view=JobPage />
                    <Route path=path!("/schedulers") view=SchedulersPage />
                    <Route path=path!("/tools") view=ToolsPage />
                    <Route path=path!("/tools/:slug") view=ToolPage />
                    <Route path=path!("/profile") view=ProfilePage />
                    // The application's pages (crate::ext), after vcore's.
                    {crate::ext::routes()}
                </ParentRoute>
            </Routes>
        </Router>
    }
}
