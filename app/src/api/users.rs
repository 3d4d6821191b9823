//! Server functions for account administration: list, create, activate/deactivate. The
//! domain refuses non-superusers (403) and guards the last active superuser (409).

use leptos::prelude::*;

use crate::types::{AppError, UserPublic, UsersPage};

/// One page of accounts, oldest first (superuser only).
#[server]
pub async fn list_users(offset: Option<i64>, limit: Option<i64>) -> Result<UsersPage, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let page = vcore_domain::users::Page::parse(offset, limit)?;
    let (rows, count) = svc.list_users(&me, page).await?;
    Ok(UsersPage {
        data: rows.iter().map(UserPublic::from).collect(),
        count,
    })
}

/// Creates an active account (superuser only).
#[server]
pub async fn create_user(
    username: String,
    email: String,
    password: String,
    #[server(default)] full_name: String,
    #[server(default)] role: String,
) -> Result<UserPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let input = vcore_domain::users::NewUser {
        username,
        email,
        password,
        full_name: Some(full_name),
        is_active: true,
        is_superuser: false,
        role: super::ctx::filled(role),
    };
    Ok(svc.create_user(Some(&me), input).await?.into())
}

/// Activates or deactivates an account (superuser only); deactivation ends its sessions.
#[server]
pub async fn set_user_active(id: i64, active: bool) -> Result<UserPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let changes = crate::types::UserUpdate {
        is_active: Some(active),
        ..Default::default()
    };
    Ok(svc.update_user(&me, id, changes.into()).await?.into())
}

/// Gives an account another role (superuser only; never the last active superuser's).
#[server]
pub async fn set_user_role(id: i64, role: String) -> Result<UserPublic, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let changes = vcore_domain::users::UserChanges {
        role: Some(role),
        ..Default::default()
    };
    Ok(svc.update_user(&me, id, changes).await?.into())
}
