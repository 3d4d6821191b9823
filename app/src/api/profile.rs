//! Server functions for one's own account: profile fields and password.

use leptos::prelude::*;

use crate::types::{AppError, UserPublic};

/// Changes the caller's email and full name (an empty name clears it).
#[server]
pub async fn update_profile(
    email: String,
    #[server(default)] full_name: String,
) -> Result<UserPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let changes = crate::types::UserUpdateMe {
        username: None,
        email: Some(email),
        full_name: Some(full_name),
    };
    Ok(svc.update_user(&me, me.id, changes.into()).await?.into())
}

/// Changes the caller's password. The domain ends every session of the user, this one
/// included, so the browser is signed in again with the new password.
#[server]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    svc.change_password(&me, &current_password, &new_password).await?;
    super::ctx::sign_in(&svc, &me.username, &new_password).await?;
    Ok(())
}
