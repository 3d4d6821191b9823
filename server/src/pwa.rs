//! What makes the app installable (a PWA): the web manifest (named after `PROJECT_NAME`,
//! coloured with `ACCENT`) and the service worker, whose cache is named after a digest of
//! this build's WASM, JS and CSS, so a new build empties the old cache.
//!
//! The worker never caches the API, server functions, the WebSocket or pages (pages are per
//! user): it serves pages from the network and the offline page when there is none. The
//! bundle (`/pkg/…`) is network-first, its cached copy used only offline, so a browser never
//! runs an old WASM against a new server; icons, manifest and the offline page are
//! cache-first.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use vcore_domain::Services;

use crate::http::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/manifest.webmanifest", get(manifest))
        .route("/sw.js", get(service_worker))
}

async fn manifest(State(svc): State<Services>) -> impl IntoResponse {
    let c = &svc.config;
    let body = serde_json::json!({
        "name": c.project_name,
        "short_name": c.project_name.chars().take(12).collect::<String>(),
        "description": "Jobs, schedules and tools",
        "id": "/",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": c.accent,
        "icons": [
            { "src": "/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any" },
            { "src": "/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any" },
            { "src": "/icon-maskable-512.png", "sizes": "512x512", "type": "image/png", "purpose": "maskable" },
            { "src": "/favicon.svg", "sizes": "any", "type": "image/svg+xml" }
        ]
    });
    (
        [
            (header::CONTENT_TYPE, "application/manifest+json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body.to_string(),
    )
}

/// A digest of the built bundle (site root `pkg/`), computed once per process.
fn build_version(site_root: &str) -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_PKG_VERSION").hash(&mut h);
        for f in ["vcore.wasm", "vcore.js", "vcore.css"] {
            std::fs::read(std::path::Path::new(site_root).join("pkg").join(f))
                .unwrap_or_default()
                .hash(&mut h);
        }
        format!("{:016x}", h.finish())
    })
}

async fn service_worker(State(state): State<AppState>) -> impl IntoResponse {
    let version = build_version(&state.leptos.site_root);
    let body = SERVICE_WORKER.replace("__VERSION__", version);
    (
        [
            (header::CONTENT_TYPE, "text/javascript"),
            // Browsers check for a new worker on each visit; never let a cache hide one.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

const SERVICE_WORKER: &str = r#"// vcore's service worker (served by the server with this build's version).
const CACHE = 'vcore-__VERSION__';
const STATIC = ['/offline.html', '/favicon.svg', '/icon-192.png', '/icon-512.png', '/manifest.webmanifest'];
const BUNDLE = ['/pkg/vcore.js', '/pkg/vcore.wasm', '/pkg/vcore.css'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => cache.addAll([...STATIC, ...BUNDLE].map((u) => new Request(u, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('vcore-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // Never cached: the REST API, server functions and the WebSocket (all under /api/), the
  // docs, the probes and this worker itself.
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/docs') || url.pathname === '/sw.js'
      || url.pathname === '/healthz' || url.pathname === '/readyz' || url.pathname === '/metrics') return;
  if (request.mode === 'navigate') {
    // Pages belong to the signed-in user: always the network; offline, the offline page.
    event.respondWith(fetch(request).catch(() => caches.match('/offline.html')));
    return;
  }
  if (BUNDLE.includes(url.pathname)) {
    // The network first, so a new build is never shadowed by an old one; the copy offline.
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            caches.open(CACHE).then((cache) => cache.put(request, copy));
          }
          return response;
        })
        .catch(() => caches.match(request).then((hit) => hit || Response.error())),
    );
    return;
  }
  if (STATIC.includes(url.pathname)) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});
"#;
