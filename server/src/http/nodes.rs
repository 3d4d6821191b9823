//! `/nodes/`: the vcore processes sharing the database (superusers). Registered and kept
//! alive by `vcore_domain::cluster`.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::NodesPage;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::CurrentUser;
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_nodes))
}

/// The live nodes (serve and worker processes), oldest first: what each runs, its last
/// heartbeat, which one runs the maintenance; and the queues stopped for all (superuser).
#[utoipa::path(get, path = "/nodes/", tag = "nodes", security(("bearer" = [])),
    responses((status = 200, body = NodesPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_nodes(State(svc): State<Services>, CurrentUser(me): CurrentUser) -> ApiResult<Json<NodesPage>> {
    let nodes = svc.list_nodes(&me).await?;
    let paused_queues = svc.paused_queues().await?;
    Ok(Json(NodesPage {
        count: nodes.len() as i64,
        data: nodes.into_iter().map(Into::into).collect(),
        paused_queues,
    }))
}
