//! Server functions for two-factor sign-in: the profile page's set-up, enabling and turning
//! off; the sign-in page's set-up for a role that requires it; a superuser's reset of
//! another user's factor. The rules are `vcore_domain::mfa`'s.

use leptos::prelude::*;

use crate::types::{AppError, MfaSetupPublic, MfaStatusPublic};

/// The caller's second factor.
#[server]
pub async fn mfa_status() -> Result<MfaStatusPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.mfa_status(&me).await?.into())
}

/// A new secret to scan, pending until [`enable_mfa`] gets a right code.
#[server]
pub async fn setup_mfa() -> Result<MfaSetupPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.mfa_setup(&me).await?.into())
}

/// Turns the pending secret on; answers the recovery codes (shown once).
#[server]
pub async fn enable_mfa(code: String) -> Result<Vec<String>, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.mfa_enable(&me, &code).await?)
}

/// Turns the caller's second factor off (a current code or a recovery code).
#[server]
pub async fn disable_mfa(code: String) -> Result<(), AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.mfa_disable(&me, &code).await?)
}

/// Removes another user's second factor (superusers).
#[server]
pub async fn reset_user_mfa(user_id: i64) -> Result<bool, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok(svc.mfa_reset(&me, user_id).await?)
}

/// At sign-in, for a role that requires a second factor and a user without one: the
/// password again, and a secret to scan.
#[server]
pub async fn setup_mfa_at_sign_in(username: String, password: String) -> Result<MfaSetupPublic, AppError> {
    let svc = super::ctx::services()?;
    Ok(svc
        .mfa_setup_at_sign_in(&username, &password, &super::ctx::client_info())
        .await?
        .into())
}
