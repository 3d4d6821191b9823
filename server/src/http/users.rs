//! `/users/*`: accounts. Who may do what is decided in `vcore_domain::users`; these
//! handlers only extract, call and map.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{
    Message, PageQuery, PasswordChange, UserCreate, UserPublic, UserUpdate, UserUpdateMe, UsersPage,
};
use vcore_domain::users::Page;
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::{CurrentUser, IdPath, ValidJson, ValidQuery, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_me, update_me))
        .routes(routes!(change_my_password))
        .routes(routes!(list_users, create_user))
        .routes(routes!(read_user, update_user, delete_user))
}

/// The signed-in user.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserPublic), (status = 401, body = ErrorBody)))]
async fn read_me(CurrentUser(me): CurrentUser) -> Json<UserPublic> {
    Json(me.user.into())
}

/// Change one's own username, email or full name.
#[utoipa::path(put, path = "/users/me", tag = "users", security(("bearer" = [])), request_body = UserUpdateMe,
    responses((status = 200, body = UserPublic), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_me(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(u): ValidJson<UserUpdateMe>,
) -> ApiResult<Json<UserPublic>> {
    let id = me.id;
    Ok(Json(svc.update_user(&me, id, u.into()).await?.into()))
}

/// Change one's own password (the current one is required). Ends all of the user's sessions.
#[utoipa::path(post, path = "/users/me/password", tag = "users", security(("bearer" = [])), request_body = PasswordChange,
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, description = "An API key: changing a password needs a session", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn change_my_password(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(p): ValidJson<PasswordChange>,
) -> ApiResult<Json<Message>> {
    svc.change_password(&me, &p.current_password, &p.new_password)
        .await?;
    Ok(Json(Message {
        message: "Password changed; sign in again".into(),
    }))
}

/// All users, oldest first (superuser).
#[utoipa::path(get, path = "/users/", tag = "users", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = UsersPage), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list_users(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidQuery(q): ValidQuery<PageQuery>,
) -> ApiResult<Json<UsersPage>> {
    let page = Page::parse(q.offset, q.limit).map_err(|e| super::error::RestError {
        location: "query",
        ..super::error::RestError::from(e)
    })?;
    let (rows, count) = svc.list_users(&me, page).await?;
    Ok(Json(UsersPage {
        data: rows.into_iter().map(Into::into).collect(),
        count,
    }))
}

/// Create a user (superuser).
#[utoipa::path(post, path = "/users/", tag = "users", security(("bearer" = [])), request_body = UserCreate,
    responses((status = 201, body = UserPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_user(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<UserCreate>,
) -> ApiResult<(StatusCode, Json<UserPublic>)> {
    let user = svc.create_user(Some(&me), c.into()).await?;
    Ok((CREATED, Json(user.into())))
}

/// One user (self or superuser).
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = i64, Path)),
    responses((status = 200, body = UserPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn read_user(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<UserPublic>> {
    Ok(Json(svc.get_user(&me, id).await?.into()))
}

/// Change a user (self, or superuser; only a superuser changes privileges).
#[utoipa::path(put, path = "/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = i64, Path)), request_body = UserUpdate,
    responses((status = 200, body = UserPublic), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_user(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
    ValidJson(u): ValidJson<UserUpdate>,
) -> ApiResult<Json<UserPublic>> {
    Ok(Json(svc.update_user(&me, id, u.into()).await?.into()))
}

/// Delete a user (superuser; not oneself, not the last superuser).
#[utoipa::path(delete, path = "/users/{user_id}", tag = "users", security(("bearer" = [])), params(("user_id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn delete_user(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Message>> {
    svc.delete_user(&me, id).await?;
    Ok(Json(Message {
        message: "User deleted".into(),
    }))
}
