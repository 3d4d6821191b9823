//! The domain layer's single error type. Adapters map each variant to a status code;
//! the mapping is stated on each variant so the REST and server-function layers agree.

/// Errors a domain operation can end with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation. Becomes 422, naming `field`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The caller is not authenticated, or their credentials are bad. Becomes 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is authenticated but may not do this. Becomes 403.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist (or the caller may not know it exists). Becomes 404.
    #[error("{0}")]
    NotFound(String),
    /// A uniqueness rule would be broken. Becomes 409.
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts. Becomes 429.
    #[error("{0}")]
    TooManyRequests(String),
    /// A feature that is switched off or needs a service that is not configured (email).
    /// Becomes 503.
    #[error("{0}")]
    Unavailable(String),
    /// Anything else: a bug or an outage. Becomes 500 with a generic message; the cause is
    /// logged once where it is converted, never sent to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<diesel::result::Error> for DomainError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => DomainError::NotFound("not found".into()),
            // Each insert or update that can break a unique rule maps it where it happens,
            // in words of its own (`users::user_conflict`, `store::unique_conflict`); this is
            // the fallback for one that does not.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                DomainError::Conflict("an equal record already exists".into())
            }
            other => DomainError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<crate::db::PoolError> for DomainError {
    fn from(e: crate::db::PoolError) -> Self {
        DomainError::Internal(anyhow::anyhow!("database pool: {e}"))
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
