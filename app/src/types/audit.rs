//! The audit log as clients see it.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// One entry: who (a user, through a session or an API key), what, to what, when, from
/// where, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditEntryPublic {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    /// The acting user's id (none for a failed sign-in or the command line).
    pub actor_id: Option<i64>,
    /// The API key acted with, if any.
    pub actor_key_id: Option<i64>,
    /// The username then (for a failed sign-in: the login tried; `command line`).
    pub actor_name: Option<String>,
    /// e.g. `auth.login`, `job.kill`, `api_key.create` (docs/security.md lists them).
    pub action: String,
    /// `user`, `job`, `api_key`, `scheduler`, `queue`.
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// `success`, `failure`, `denied` or `error`.
    pub outcome: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// What else was recorded (changed fields, the reason of a refusal, …).
    pub detail: Option<serde_json::Value>,
}

/// A page of entries, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditPage {
    pub data: Vec<AuditEntryPublic>,
    pub count: i64,
}

/// `GET /audit-log/` filters; all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(IntoParams), into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// A user id or a name (username, the login tried, `command line`).
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::text_filter))]
    pub actor: Option<String>,
    /// An action (`job.kill`) or a family ending in a dot (`job.`).
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::text_filter))]
    pub action: Option<String>,
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::text_filter))]
    pub target_type: Option<String>,
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::text_filter))]
    pub target_id: Option<String>,
    /// `success`, `failure`, `denied` or `error`.
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::outcome_filter))]
    pub outcome: Option<String>,
    /// RFC 3339: entries at or after.
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::time_filter))]
    pub since: Option<String>,
    /// RFC 3339: entries before.
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::time_filter))]
    pub until: Option<String>,
    /// Rows to skip (default 0).
    #[cfg_attr(feature = "ssr", param(minimum = 0))]
    pub offset: Option<i64>,
    /// Rows to return, 1–1000 (default 100).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}
