//! `/login/*`, `/logout`, `/register` and password recovery: token issue, refresh, check,
//! sign-out, and resetting a forgotten password by email.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{LoginForm, Message, NewPassword, RefreshRequest, Token, UserPublic, UserRegister};
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::{AccessToken, Client, CurrentUser, TextPath, ValidForm, ValidJson, CREATED};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(access_token))
        .routes(routes!(refresh_token))
        .routes(routes!(test_token))
        .routes(routes!(logout))
        .routes(routes!(register))
        .routes(routes!(recover_password))
        .routes(routes!(reset_password))
}

/// Sign in with the OAuth2 password form; returns an access and a refresh token. A user with
/// two-factor sign-in adds `mfa_code` (the app's code, or a recovery code); without it the
/// answer is 401 "Two-factor code required". A role that requires it, without one set up:
/// 401 "Two-factor sign-in is required…", then `POST /login/mfa-setup`.
#[utoipa::path(post, path = "/login/access-token", tag = "login",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Token), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn access_token(
    State(svc): State<Services>,
    Client(client): Client,
    ValidForm(f): ValidForm<LoginForm>,
) -> ApiResult<Json<Token>> {
    let code = f.mfa_code.as_deref().filter(|c| !c.trim().is_empty());
    let (_, pair, codes) = svc
        .login_with_code(&f.username, &f.password, code, &client)
        .await?;
    let mut token = Token::from_pair(pair);
    token.recovery_codes = (!codes.is_empty()).then_some(codes);
    Ok(Json(token))
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
async fn test_token(CurrentUser(me): CurrentUser) -> Json<UserPublic> {
    Json(me.user.into())
}

/// End the session the access token belongs to (its refresh tokens stop working too).
#[utoipa::path(post, path = "/logout", tag = "login", security(("bearer" = [])),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, description = "An API key: signing out needs a session", body = ErrorBody)))]
async fn logout(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    AccessToken(token): AccessToken,
) -> ApiResult<Json<Message>> {
    me.need_session()?;
    svc.logout(&token, &me.client).await?;
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

/// Email a password-recovery link to the account with this address. The answer is the same
/// whether or not such an account exists. 503 when email is not configured.
#[utoipa::path(post, path = "/password-recovery/{email}", tag = "login",
    params(("email" = String, Path, format = "email", description = "The account's email address")),
    responses((status = 200, body = Message), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn recover_password(
    State(svc): State<Services>,
    Client(client): Client,
    TextPath(email): TextPath,
) -> ApiResult<Json<Message>> {
    svc.recover_password(&email, &client)
        .await
        .map_err(|e| super::error::RestError::from(e).at("path"))?;
    Ok(Json(Message {
        message: "If that address belongs to an account, a recovery email is on its way".into(),
    }))
}

/// Set a new password with the token from a recovery email. Ends all the user's sessions.
#[utoipa::path(post, path = "/reset-password", tag = "login", request_body = NewPassword,
    responses((status = 200, body = Message), (status = 422, body = ErrorBody)))]
async fn reset_password(
    State(svc): State<Services>,
    Client(client): Client,
    ValidJson(r): ValidJson<NewPassword>,
) -> ApiResult<Json<Message>> {
    svc.reset_password(&r.token, &r.new_password, &client).await?;
    Ok(Json(Message {
        message: "Password updated; sign in with the new one".into(),
    }))
}
