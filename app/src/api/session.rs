//! Server functions for the session: the public site facts, who is signed in, sign-in,
//! sign-out and registration. Cookies are set here because they are HTTP, not domain;
//! credentials are checked only by `vcore_domain`.

use leptos::prelude::*;

use crate::types::{AppError, SignedIn, SiteInfo, UserPublic};

/// Public facts the UI needs before sign-in (project name, accent, open registration).
// Named explicitly: the default struct name, `SiteInfo`, is taken by the wire type.
#[server(name = GetSiteInfo)]
pub async fn site_info() -> Result<SiteInfo, AppError> {
    Ok(SiteInfo::from_config(&super::ctx::services()?.config))
}

/// The signed-in user, or `None` (not an error) for a visitor without a live session.
#[server]
pub async fn current_user() -> Result<Option<UserPublic>, AppError> {
    Ok(super::ctx::current_user()
        .await?
        .map(|a| UserPublic::from(a.user)))
}

/// Checks the credentials (and the second factor's code, for a user who has one) and
/// stores a new session in the browser's cookies.
#[server]
pub async fn login(
    username: String,
    password: String,
    #[server(default)] mfa_code: String,
) -> Result<SignedIn, AppError> {
    let svc = super::ctx::services()?;
    let code = Some(mfa_code.as_str()).filter(|c| !c.trim().is_empty());
    let (user, recovery_codes) = super::ctx::sign_in_with_code(&svc, &username, &password, code).await?;
    Ok(SignedIn {
        user: user.into(),
        recovery_codes,
    })
}

/// Ends this browser's session and removes its cookies.
#[server]
pub async fn logout() -> Result<(), AppError> {
    super::ctx::sign_out(&super::ctx::services()?).await
}

/// Open registration (refused by the domain unless enabled), then signs the new user in.
#[server]
pub async fn register(
    username: String,
    email: String,
    password: String,
    #[server(default)] full_name: String,
) -> Result<UserPublic, AppError> {
    let svc = super::ctx::services()?;
    let user = svc
        .register(username, email, password.clone(), Some(full_name))
        .await?;
    super::ctx::sign_in(&svc, &user.username, &password).await?;
    Ok(user.into())
}

/// Emails a password-recovery link if the address belongs to an account (the answer is the
/// same either way).
#[server]
pub async fn recover_password(email: String) -> Result<(), AppError> {
    let svc = super::ctx::services()?;
    svc.recover_password(&email, &super::ctx::client_info()).await?;
    Ok(())
}

/// Sets a new password with the token from a recovery email; ends all the user's sessions.
#[server]
pub async fn reset_password(token: String, new_password: String) -> Result<(), AppError> {
    let svc = super::ctx::services()?;
    svc.reset_password(&token, &new_password, &super::ctx::client_info())
        .await?;
    Ok(())
}
