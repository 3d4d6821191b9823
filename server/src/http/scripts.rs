//! `/scripts/`: the scripts jobs of type `script` can run (vcore's and the application's),
//! with their input's JSON Schema (signed-in users).

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::ScriptsPage;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::CurrentUser;
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_scripts))
}

/// Every registered script by name: its description, whether only superusers may run it,
/// and its input (a job's `meta`) as a JSON Schema and as a list of fields.
#[utoipa::path(get, path = "/scripts/", tag = "scripts", security(("bearer" = [])),
    responses((status = 200, body = ScriptsPage), (status = 401, body = ErrorBody)))]
async fn list_scripts(
    State(svc): State<Services>,
    CurrentUser(_me): CurrentUser,
) -> ApiResult<Json<ScriptsPage>> {
    Ok(Json(vcore_app::convert::scripts_page(&svc)))
}
