//! Probes for orchestrators: `/healthz` says the process is alive; `/readyz` says it can
//! serve (database reachable, every migration applied). And `/metrics`, for Prometheus.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use vcore_domain::Services;

use super::extract::Client;
use super::AppState;
use vcore_domain::access::Scope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Prometheus metrics (text exposition format). Readable with `Authorization: Bearer
/// <METRICS_TOKEN>`, or by a superuser or operator (session, or an API key with the `admin`
/// scope). Without credentials 401; with credentials that may not read it 403.
async fn metrics(
    State(svc): State<Services>,
    Client(client): Client,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let Some(token) = vcore_domain::session_http::access_token(&headers) else {
        let mut resp = super::error::detail(StatusCode::UNAUTHORIZED, "Not authenticated");
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return resp;
    };
    let by_token = svc
        .config
        .metrics_token
        .as_deref()
        .is_some_and(|t| vcore_domain::tokens::same_secret(t, token));
    if !by_token {
        let allowed = match svc.authenticate(token, &client).await {
            Ok(actor) => actor.need(Scope::Admin).is_ok() && actor.operates(),
            Err(e) => return super::error::RestError::from(e).into_response(),
        };
        if !allowed {
            return super::error::detail(
                StatusCode::FORBIDDEN,
                "Only superusers and operators (a key needs the admin scope), or METRICS_TOKEN, may read metrics",
            );
        }
    }
    match svc.metrics_text().await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            text,
        )
            .into_response(),
        Err(e) => super::error::RestError::from(e).into_response(),
    }
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(svc): State<Services>) -> impl IntoResponse {
    let database = match svc.db.ping().await {
        Ok(()) => "ok".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable".to_string()
        }
    };
    let migrations = match svc.pending_migrations().await {
        Ok(0) => "ok".to_string(),
        Ok(n) => format!("{n} pending"),
        Err(_) => "unknown".to_string(),
    };
    let ready = database == "ok" && migrations == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": database,
        "migrations": migrations,
    });
    (status, Json(body))
}
