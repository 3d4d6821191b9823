//! Server side only: conversions between the domain layer and the wire types, so that REST
//! handlers and server functions map results the same way. Internal errors are logged here,
//! once, with their cause chain; the client sees only "Internal server error".

use vcore_domain::users::{NewUser, User, UserChanges};
use vcore_domain::DomainError;

use crate::types::*;

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => AppError::Invalid { field, message },
            DomainError::Unauthorized(m) => AppError::Unauthorized(m),
            DomainError::Forbidden(m) => AppError::Forbidden(m),
            DomainError::NotFound(m) => AppError::NotFound(m),
            DomainError::Conflict(m) => AppError::Conflict(m),
            DomainError::TooManyRequests(m) => AppError::TooManyRequests(m),
            DomainError::Internal(cause) => {
                tracing::error!(error = ?cause, "internal error");
                AppError::Internal
            }
        }
    }
}

fn rfc3339(t: &chrono::NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl From<&User> for UserPublic {
    fn from(u: &User) -> Self {
        UserPublic {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            full_name: u.full_name.clone(),
            is_active: u.is_active,
            is_superuser: u.is_superuser,
            created_at: rfc3339(&u.created_at),
            updated_at: rfc3339(&u.updated_at),
        }
    }
}

impl From<User> for UserPublic {
    fn from(u: User) -> Self {
        UserPublic::from(&u)
    }
}

impl From<UserCreate> for NewUser {
    fn from(c: UserCreate) -> Self {
        NewUser {
            username: c.username,
            email: c.email,
            password: c.password,
            full_name: c.full_name,
            is_active: c.is_active,
            is_superuser: c.is_superuser,
        }
    }
}

impl From<UserUpdate> for UserChanges {
    fn from(u: UserUpdate) -> Self {
        UserChanges {
            username: u.username,
            email: u.email,
            password: u.password,
            full_name: u.full_name,
            is_active: u.is_active,
            is_superuser: u.is_superuser,
        }
    }
}

impl From<UserUpdateMe> for UserChanges {
    fn from(u: UserUpdateMe) -> Self {
        UserChanges {
            username: u.username,
            email: u.email,
            full_name: u.full_name,
            ..Default::default()
        }
    }
}

impl Token {
    pub fn from_pair(p: vcore_domain::sessions::TokenPair) -> Self {
        Token {
            access_token: p.access_token,
            refresh_token: p.refresh_token,
            token_type: "bearer".into(),
            expires_in: p.access_expires_in,
        }
    }
}

impl SiteInfo {
    pub fn from_config(c: &vcore_domain::Config) -> Self {
        SiteInfo {
            project_name: c.project_name.clone(),
            open_registration: c.users_open_registration,
            accent: c.accent.clone(),
        }
    }
}
