//! Server functions for one's own API keys (the profile page): list, create, revoke. The
//! domain refuses calls made with a key (403): keys are managed from a signed-in session.

use leptos::prelude::*;

use crate::types::{ApiKeyCreated, ApiKeyPublic, ApiKeysPage, AppError};

/// The caller's keys, newest first (revoked ones too).
#[server]
pub async fn list_api_keys() -> Result<ApiKeysPage, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let keys = svc.list_api_keys(&me, None, false).await?;
    Ok(crate::convert::api_keys_page(&keys))
}

/// Creates a key for the caller; the answer holds its secret, shown this once. Each scope
/// is a checkbox of the form; `expires_in_days` empty means never.
#[server]
pub async fn create_api_key(
    name: String,
    #[server(default)] jobs_read: bool,
    #[server(default)] jobs_write: bool,
    #[server(default)] schedulers: bool,
    #[server(default)] admin: bool,
    #[server(default)] expires_in_days: String,
) -> Result<ApiKeyCreated, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let scopes = [
        (jobs_read, "jobs:read"),
        (jobs_write, "jobs:write"),
        (schedulers, "schedulers"),
        (admin, "admin"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| s.to_string())
    .collect();
    let input = vcore_domain::api_keys::NewApiKey {
        name,
        scopes,
        expires_in_days: super::ctx::form_number("expires_in_days", expires_in_days, " of days")?,
        user_id: None,
    };
    let (key, secret) = svc.create_api_key(&me, input).await?;
    Ok(ApiKeyCreated {
        secret,
        key: (&key).into(),
    })
}

/// Revokes one of the caller's keys at once.
#[server]
pub async fn revoke_api_key(id: i64) -> Result<ApiKeyPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    Ok((&svc.revoke_api_key(&me, id).await?).into())
}
