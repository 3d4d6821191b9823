//! `/login/*`, `/logout` and `/register`: token issue, refresh, check and sign-out.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{LoginForm, Message, RefreshRequest, Token, UserPublic, UserRegister};
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::{AccessToken, Client, CurrentUser, ValidForm, ValidJson, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_token))
        .routes(routes!(refresh_token))
        .routes(routes!(test_token))
        .routes(routes!(logout))
        .routes(routes!(register))
}

/// Sign in with the OAuth2 password form; returns an access and a refresh token.
#[utoipa::path(post, path = "/login/access-token", tag = "login",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn access_token(
    State(svc): State<Services>,
    Client(client): Client,
    ValidForm(f): ValidForm<LoginForm>,
) -> ApiResult<Json<Token>> {
    let (_, pair) = svc.login(&f.username, &f.password, &client).await?;
    Ok(Json(Token::from_pair(pair)))
}

/// Spend a refresh token for a new pair. Reusing a spent token revokes its session.
#[utoipa::path(post, path = "/login/refresh-token", tag = "login", request_body = RefreshRequest,
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn refresh_token(
    State(svc): State<Services>,
    ValidJson(r): ValidJson<RefreshRequest>,
) -> ApiResult<Json<Token>> {
    let (_, pair) = svc.refresh(&r.refresh_token).await?;
    Ok(Json(Token::from_pair(pair)))
}

/// Check an access token; returns its user.
#[utoipa::path(post, path = "/login/test-token", tag = "login", security(("bearer" = [])),
    responses((status = 200, body = UserPublic), (status = 401, body = ErrorBody)))]
async fn test_token(CurrentUser(user): CurrentUser) -> Json<UserPublic> {
    Json(user.into())
}

/// End the session the access token belongs to (its refresh tokens stop working too).
#[utoipa::path(post, path = "/logout", tag = "login", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody)))]
async fn logout(
    State(svc): State<Services>,
    _user: CurrentUser,
    AccessToken(token): AccessToken,
) -> ApiResult<Json<Message>> {
    svc.logout(&token).await?;
    Ok(Json(Message {
        message: "Signed out".into(),
    }))
}

/// Create an account without signing in (only when USERS_OPEN_REGISTRATION is on).
#[utoipa::path(post, path = "/register", tag = "login", request_body = UserRegister,
    responses((status = 201, body = UserPublic), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn register(
    State(svc): State<Services>,
    ValidJson(r): ValidJson<UserRegister>,
) -> ApiResult<(axum::http::StatusCode, Json<UserPublic>)> {
    let user = svc.register(r.username, r.email, r.password, r.full_name).await?;
    Ok((CREATED, Json(user.into())))
}
