//! `/api-keys/`: create, list and revoke API keys. Who may do what is decided in
//! `vcore_domain::api_keys`: one's own keys with a signed-in session (never with a key), a
//! superuser also others'.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::convert::api_keys_page;
use vcore_app::types::{ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeyQuery, ApiKeysPage};
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::{CurrentUser, IdPath, ValidJson, ValidQuery, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// One's own API keys, newest first (revoked ones too); a superuser may ask for another
/// user's (`user_id`) or everyone's (`all=true`). Needs a signed-in session.
#[utoipa::path(get, path = "/api-keys/", tag = "api-keys", security(("bearer" = [])), params(ApiKeyQuery),
    responses((status = 200, body = ApiKeysPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_keys(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidQuery(q): ValidQuery<ApiKeyQuery>,
) -> ApiResult<Json<ApiKeysPage>> {
    let keys = svc.list_api_keys(&me, q.user_id, q.all.unwrap_or(false)).await?;
    Ok(Json(api_keys_page(&keys)))
}

/// Create an API key; its secret is in this answer only. Needs a signed-in session.
#[utoipa::path(post, path = "/api-keys/", tag = "api-keys", security(("bearer" = [])), request_body = ApiKeyCreate,
    responses((status = 201, body = ApiKeyCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_key(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    let (key, secret) = svc.create_api_key(&me, c.into()).await?;
    Ok((
        CREATED,
        Json(ApiKeyCreated {
            secret,
            key: (&key).into(),
        }),
    ))
}

/// Revoke an API key at once (one's own; a superuser any). Needs a signed-in session.
#[utoipa::path(delete, path = "/api-keys/{key_id}", tag = "api-keys", security(("bearer" = [])), params(("key_id" = i64, Path)),
    responses((status = 200, body = ApiKeyPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn revoke_key(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<ApiKeyPublic>> {
    Ok(Json((&svc.revoke_api_key(&me, id).await?).into()))
}
