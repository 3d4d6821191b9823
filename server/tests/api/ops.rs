//! Operations (S6, S8): the probes, a request id on every response, the OpenAPI document
//! and the interactive docs served by the app itself.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(
    health_and_readiness_probes_answer,
    readiness_fails_while_a_migration_is_missing,
    every_response_carries_a_request_id,
    pages_carry_a_nonce_csp_and_every_answer_the_security_headers,
    unknown_api_paths_answer_json_404,
    openapi_document_lists_every_endpoint,
    interactive_docs_are_served_without_a_cdn,
    the_manifest_and_service_worker_are_served,
    pages_and_json_are_compressed_for_clients_that_accept_it,
);

/// The PWA's two generated files: the manifest names the project and its icons; the
/// service worker carries a build version, is never cached by HTTP, and leaves the API alone.
async fn the_manifest_and_service_worker_are_served(b: Backend) {
    let opts = Opts {
        env: vec![("PROJECT_NAME", "Acme Ops".into()), ("ACCENT", "#0a7f5c".into())],
        ..Default::default()
    };
    let app = spawn_app(b, opts).await;
    let resp = app
        .client
        .get(app.url("/manifest.webmanifest"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "application/manifest+json");
    let m: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (m["name"].as_str(), m["theme_color"].as_str()),
        (Some("Acme Ops"), Some("#0a7f5c"))
    );
    assert_eq!(m["display"], "standalone");
    let sizes: Vec<&str> = m["icons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["sizes"].as_str())
        .collect();
    assert!(sizes.contains(&"192x192") && sizes.contains(&"512x512"), "{m}");
    assert!(m["icons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["purpose"] == "maskable"));

    let resp = app.client.get(app.url("/sw.js")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/javascript");
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    let js = resp.text().await.unwrap();
    assert!(
        !js.contains("__VERSION__") && js.contains("const CACHE = 'vcore-"),
        "versioned"
    );
    assert!(
        js.contains("url.pathname.startsWith('/api/')"),
        "the API is left alone"
    );
}

async fn health_and_readiness_probes_answer(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let ready = assert_status(app.client.get(app.url("/readyz")).send().await.unwrap(), 200).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["database"], "ok", "{ready}");
    assert_eq!(ready["migrations"], "ok", "{ready}");
}

async fn readiness_fails_while_a_migration_is_missing(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    // Forget the newest migration, as if the binary were newer than the schema.
    app.execute_sql(
        "DELETE FROM __diesel_schema_migrations \
         WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
    )
    .await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    let (status, _, body) = read(resp).await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["status"], "ready", "{body}");
    assert_ne!(body["migrations"], "ok", "{body}");
    assert_eq!(body["database"], "ok", "the database itself is reachable: {body}");
    // Alive, though: liveness must not depend on the schema.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

async fn every_response_carries_a_request_id(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let requests: Vec<(Method, String, Option<&'static str>, u16)> = vec![
        (Method::GET, app.url("/healthz"), None, 200),
        (Method::GET, app.url("/readyz"), None, 200),
        (Method::GET, app.api("/users/me"), None, 401),
        (Method::GET, app.api("/no/such/endpoint"), None, 404),
        (Method::POST, app.api("/login/refresh-token"), Some("{"), 422),
        (Method::GET, app.api("/openapi.json"), None, 200),
    ];
    let mut seen = HashSet::new();
    for (method, url, body, expected) in requests {
        let mut req = app.client.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{method} {url}");
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{method} {url}: no x-request-id header"))
            .to_string();
        assert!(!id.trim().is_empty(), "{method} {url}: empty x-request-id");
        assert!(
            seen.insert(id.clone()),
            "{method} {url}: request id {id} was used before"
        );
    }
    // Pages too, whatever they answer.
    for path in ["/", "/login", "/no-such-page"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert!(
            resp.headers().get("x-request-id").is_some(),
            "GET {path} ({}): no x-request-id",
            resp.status()
        );
    }
}

async fn unknown_api_paths_answer_json_404(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    assert_status(app.get("/no/such/endpoint", Some(&admin)).await, 404).await;
    assert_status(app.get("/no/such/endpoint", None).await, 404).await;
}

/// `/api/v1/users/{user_id}` and `/api/v1/users/{id}` are the same route; so are the
/// forms with and without a trailing slash.
fn normalise(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if !in_param => out.push(c),
            _ => {}
        }
    }
    out.trim_end_matches('/').to_string()
}

async fn openapi_document_lists_every_endpoint(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let doc = assert_status(app.get("/openapi.json", None).await, 200).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document: {}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    let paths = doc["paths"].as_object().expect("paths");
    let available: HashSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, ops)| {
            let p = normalise(path);
            ops.as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .map(move |method| (method.to_lowercase(), p.clone()))
        })
        .collect();
    let expected = [
        ("post", "/api/v1/login/access-token"),
        ("post", "/api/v1/login/refresh-token"),
        ("post", "/api/v1/login/test-token"),
        ("post", "/api/v1/logout"),
        ("post", "/api/v1/register"),
        ("get", "/api/v1/users/me"),
        ("put", "/api/v1/users/me"),
        ("post", "/api/v1/users/me/password"),
        ("get", "/api/v1/users/"),
        ("post", "/api/v1/users/"),
        ("get", "/api/v1/users/{id}"),
        ("put", "/api/v1/users/{id}"),
        ("delete", "/api/v1/users/{id}"),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|(m, p)| !available.contains(&(m.to_string(), normalise(p))))
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the OpenAPI document: {missing:?}\npaths: {:?}",
        paths.keys().collect::<Vec<_>>()
    );

    // The sign-in operation documents its form body; protected ones document bearer auth.
    let login = &doc["paths"]["/api/v1/login/access-token"]["post"];
    assert!(
        login["requestBody"]["content"]
            .get("application/x-www-form-urlencoded")
            .is_some(),
        "sign-in takes the OAuth2 form: {login}"
    );
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    assert!(
        schemes.values().any(|s| s["scheme"]
            .as_str()
            .is_some_and(|v| v.eq_ignore_ascii_case("bearer"))),
        "a bearer security scheme: {schemes:?}"
    );
    let me = paths
        .iter()
        .find(|(p, _)| normalise(p) == "/api/v1/users/me")
        .map(|(_, ops)| &ops["get"])
        .expect("GET /users/me");
    assert!(
        me["security"].is_array() || doc["security"].is_array(),
        "GET /users/me declares its security: {me}"
    );
}

/// Every `src=`/`href=` value in `html`.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=", "href="] {
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                continue;
            };
            let value: String = rest[1..].chars().take_while(|c| *c != quote).collect();
            urls.push(value);
        }
    }
    urls
}

/// The host of every absolute `http(s)://` URL written anywhere in `text`.
fn absolute_hosts(text: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    for scheme in ["http://", "https://"] {
        let mut rest = text;
        while let Some(at) = rest.find(scheme) {
            rest = &rest[at + scheme.len()..];
            let host: String = rest
                .chars()
                .take_while(|c| {
                    !matches!(c, '/' | '"' | '\'' | ')' | '>' | '<' | '?' | '#' | '`') && !c.is_whitespace()
                })
                .collect();
            hosts.push(host);
        }
    }
    hosts
}

async fn interactive_docs_are_served_without_a_cdn(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    // The docs page may redirect (`/docs` → `/docs/`): follow like a browser would.
    let browser = reqwest::Client::new();
    let resp = browser.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET /docs");
    let page_url = resp.url().clone();
    assert_eq!(
        page_url.host_str(),
        Some("127.0.0.1"),
        "redirected off the app: {page_url}"
    );
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("text/html"),
        "content-type {content_type}"
    );
    let html = resp.text().await.unwrap();

    let own_hosts = [
        format!("127.0.0.1:{}", app.port),
        format!("localhost:{}", app.port),
    ];
    // XML namespace names are identifiers, never fetched.
    let foreign: Vec<String> = absolute_hosts(&html)
        .into_iter()
        .filter(|h| !own_hosts.contains(h) && h != "www.w3.org")
        .collect();
    assert!(
        foreign.is_empty(),
        "the docs page references other hosts {foreign:?}:\n{html}"
    );

    let links = linked_urls(&html);
    let assets: Vec<&String> = links
        .iter()
        .filter(|u| u.ends_with(".js") || u.ends_with(".css"))
        .collect();
    assert!(
        !assets.is_empty(),
        "the docs page loads its UI from scripts or styles:\n{html}"
    );
    for link in &links {
        assert!(
            !link.starts_with("//"),
            "protocol-relative link to another host: {link}"
        );
    }
    for asset in assets {
        let url = page_url.join(asset).unwrap_or_else(|e| panic!("{asset}: {e}"));
        assert_eq!(
            url.host_str(),
            Some("127.0.0.1"),
            "{asset} is not served by the app"
        );
        let resp = browser.get(url.clone()).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{url} (linked from the docs page)");
        let body = resp.bytes().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
    }
    // The docs point at our own document.
    let doc = assert_status(app.get("/openapi.json", None).await, 200).await;
    assert_ne!(doc, Value::Null);
    assert_ne!(doc, json!({}));
}

/// Pages and API answers go out compressed when the client says it can read brotli or gzip
/// (and as they are otherwise); a WebSocket upgrade through the same layers still works (see
/// the ws tests).
async fn pages_and_json_are_compressed_for_clients_that_accept_it(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    for url in [app.url("/login"), app.api("/openapi.json")] {
        let plain = app.client.get(&url).send().await.unwrap();
        assert_eq!(plain.status().as_u16(), 200, "{url}");
        assert!(plain.headers().get("content-encoding").is_none(), "{url}");
        let plain_len = plain.bytes().await.unwrap().len();
        for (accept, expected) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br")] {
            let r = app
                .client
                .get(&url)
                .header("accept-encoding", accept)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{url}");
            assert_eq!(r.headers()["content-encoding"], expected, "{url} with {accept}");
            let len = r.bytes().await.unwrap().len();
            assert!(
                len * 2 < plain_len,
                "{url} with {accept}: {len} of {plain_len} bytes"
            );
        }
    }
}

async fn pages_carry_a_nonce_csp_and_every_answer_the_security_headers(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let mut nonces = std::collections::HashSet::new();
    for (path, cookie) in [
        ("/login", None),
        ("/", Some(&admin)),
        ("/jobs", Some(&admin)),
        ("/profile", Some(&admin)),
    ] {
        let mut req = app.client.get(app.url(path));
        if let Some(t) = cookie {
            req = req.header("cookie", format!("vcore_access={t}"));
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        for part in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "'wasm-unsafe-eval'",
        ] {
            assert!(csp.contains(part), "{path}: {csp}");
        }
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{path}: {csp}"
        );
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"))
            .to_string();
        assert!(nonce.len() >= 16, "{path}: a short nonce {nonce}");
        nonces.insert(nonce.clone());
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["x-frame-options"], "DENY");
        // Every script of the page carries this response's nonce.
        let html = resp.text().await.unwrap();
        let scripts = html.matches("<script").count();
        assert!(scripts >= 2, "{path}: {scripts} scripts");
        assert_eq!(
            html.matches(&format!("<script nonce=\"{nonce}\"")).count()
                + html
                    .matches(&format!("<script type=\"module\" nonce=\"{nonce}\""))
                    .count(),
            scripts,
            "{path}: a script without the nonce in {html}"
        );
    }
    assert_eq!(nonces.len(), 4, "each response has its own nonce");
    // The API's answers carry the headers too.
    let resp = app.get("/users/me", None).await;
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
}
