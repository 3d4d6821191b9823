//! Probes for orchestrators: `/healthz` says the process is alive; `/readyz` says it can
//! serve (database reachable, every migration applied).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use vcore_domain::Services;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
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
