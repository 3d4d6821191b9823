//! Two-factor sign-in over REST (`vcore_domain::mfa` decides): one's own factor under
//! `/users/me/mfa`, a superuser's reset at `/users/{user_id}/mfa`, and the sign-in set-up
//! for a role that requires it (`/login/mfa-setup`). Signing in with a code is
//! `POST /login/access-token` with `mfa_code`.

use axum::extract::State;
use axum::Json;
use utoipa_axum::{router::OpenApiRouter, routes};
use vcore_app::types::{Message, MfaCode, MfaSetupPublic, MfaSignInSetup, MfaStatusPublic, RecoveryCodes};
use vcore_domain::Services;

use super::error::{ApiResult, ErrorBody};
use super::extract::{Client, CurrentUser, IdPath, ValidForm, ValidJson};
use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(setup))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(reset))
        .routes(routes!(setup_at_sign_in))
}

/// Whether the caller has a second factor, how many recovery codes are left, and whether
/// their role requires one.
#[utoipa::path(get, path = "/users/me/mfa", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = MfaStatusPublic), (status = 401, body = ErrorBody)))]
async fn status(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
) -> ApiResult<Json<MfaStatusPublic>> {
    Ok(Json(svc.mfa_status(&me).await?.into()))
}

/// Start setting up a second factor: a new secret (pending until enabled with a code).
/// Needs a signed-in session (not an API key).
#[utoipa::path(post, path = "/users/me/mfa/setup", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = MfaSetupPublic), (status = 401, body = ErrorBody), (status = 403, description = "An API key: needs a session", body = ErrorBody), (status = 409, description = "Already on", body = ErrorBody)))]
async fn setup(State(svc): State<Services>, CurrentUser(me): CurrentUser) -> ApiResult<Json<MfaSetupPublic>> {
    Ok(Json(svc.mfa_setup(&me).await?.into()))
}

/// Turn the pending secret on with the app's current code; answers the recovery codes,
/// shown this once.
#[utoipa::path(post, path = "/users/me/mfa/enable", tag = "users", security(("bearer" = [])), request_body = MfaCode,
    responses((status = 200, body = RecoveryCodes), (status = 401, body = ErrorBody), (status = 403, description = "An API key: needs a session", body = ErrorBody), (status = 409, description = "Already on", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn enable(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<MfaCode>,
) -> ApiResult<Json<RecoveryCodes>> {
    let recovery_codes = svc.mfa_enable(&me, &c.code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// Turn one's second factor off, with a current code or a recovery code.
#[utoipa::path(post, path = "/users/me/mfa/disable", tag = "users", security(("bearer" = [])), request_body = MfaCode,
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, description = "An API key: needs a session", body = ErrorBody), (status = 409, description = "Not on", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn disable(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    ValidJson(c): ValidJson<MfaCode>,
) -> ApiResult<Json<Message>> {
    svc.mfa_disable(&me, &c.code).await?;
    Ok(Json(Message {
        message: "Two-factor sign-in is off".into(),
    }))
}

/// Remove another user's second factor, e.g. after a lost phone (superuser; audited). A
/// user without one: 200 all the same, saying so.
#[utoipa::path(delete, path = "/users/{user_id}/mfa", tag = "users", security(("bearer" = [])), params(("user_id" = i64, Path)),
    responses((status = 200, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reset(
    State(svc): State<Services>,
    CurrentUser(me): CurrentUser,
    IdPath(id): IdPath,
) -> ApiResult<Json<Message>> {
    let message = match svc.mfa_reset(&me, id).await? {
        true => "Second factor removed",
        false => "The user had no second factor",
    };
    Ok(Json(Message {
        message: message.into(),
    }))
}

/// For an account whose role requires a second factor and that has none (sign-in answered
/// 401 with that message): the password again, and a secret to scan. Then sign in with
/// `mfa_code` from it: that turns it on, and the answer holds the recovery codes.
#[utoipa::path(post, path = "/login/mfa-setup", tag = "login",
    request_body(content = MfaSignInSetup, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = MfaSetupPublic), (status = 401, body = ErrorBody), (status = 409, description = "Not required for this account, or already on", body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn setup_at_sign_in(
    State(svc): State<Services>,
    Client(client): Client,
    ValidForm(f): ValidForm<MfaSignInSetup>,
) -> ApiResult<Json<MfaSetupPublic>> {
    Ok(Json(
        svc.mfa_setup_at_sign_in(&f.username, &f.password, &client)
            .await?
            .into(),
    ))
}
