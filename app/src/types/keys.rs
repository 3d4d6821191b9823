//! API keys: what their owners see, create and revoke.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// What a key may be used for. A key never does more than its owner's role allows.
/// `jobs:read`: jobs, logs, live events, schedulers, nodes. `jobs:write`: enqueue, change,
/// kill, retry, cancel, delete jobs. `schedulers`: create, change, toggle, delete
/// schedulers. `admin`: accounts (one's own; everyone's for a superuser) and consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub enum ApiScope {
    #[serde(rename = "jobs:read")]
    JobsRead,
    #[serde(rename = "jobs:write")]
    JobsWrite,
    #[serde(rename = "schedulers")]
    Schedulers,
    #[serde(rename = "admin")]
    Admin,
}

impl ApiScope {
    pub const ALL: [ApiScope; 4] = [
        ApiScope::JobsRead,
        ApiScope::JobsWrite,
        ApiScope::Schedulers,
        ApiScope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::JobsRead => "jobs:read",
            ApiScope::JobsWrite => "jobs:write",
            ApiScope::Schedulers => "schedulers",
            ApiScope::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A key as its owner sees it: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiKeyPublic {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// The key's visible start (`vk_` and 12 hex digits), to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<ApiScope>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; none: never expires.
    pub expires_at: Option<String>,
    /// RFC 3339, UTC (updated at most once a minute).
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    /// RFC 3339, UTC; set once revoked.
    pub revoked_at: Option<String>,
}

/// A page of keys, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiKeysPage {
    pub data: Vec<ApiKeyPublic>,
    pub count: i64,
}

/// `POST /api-keys/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiKeyCreate {
    /// 1–100 characters, to remember what the key is for.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// At least one.
    #[cfg_attr(feature = "ssr", schema(min_items = 1))]
    pub scopes: Vec<ApiScope>,
    /// Days until the key expires (1–3650); none: never.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 3650))]
    pub expires_in_days: Option<i64>,
    /// Whose key (a superuser may create keys for others); none: one's own.
    #[serde(default)]
    pub user_id: Option<i64>,
}

/// The answer to `POST /api-keys/`: the key and, this once, its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ApiKeyCreated {
    /// Send it as `Authorization: Bearer <secret>`. It is not stored and cannot be shown again.
    pub secret: String,
    pub key: ApiKeyPublic,
}

/// `GET /api-keys/` filters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(IntoParams), into_params(parameter_in = Query))]
pub struct ApiKeyQuery {
    /// Another user's keys (superuser).
    pub user_id: Option<i64>,
    /// Every user's keys (superuser).
    pub all: Option<bool>,
}
