//! Schedulers: a scheduler, creating and changing one, listings.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// A job scheduler as clients see it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SchedulerPublic {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    /// on_start, repeat or cron.
    pub trigger_type: String,
    pub repeat_every_seconds: Option<i64>,
    pub cron: Option<String>,
    /// The IANA time zone the cron expression is read in.
    pub timezone: String,
    /// The job each run makes, as in `POST /jobs/` (without `run_at`).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub job_template: serde_json::Value,
    pub enabled: bool,
    pub owner_id: Option<i64>,
    /// When the next run is due (none when disabled or on_start).
    pub next_run_at: Option<String>,
    pub last_run_at: Option<String>,
    /// The last job it made.
    pub last_job_id: Option<i64>,
    pub run_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// `POST /job-schedulers/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SchedulerCreate {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::name))]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// on_start, repeat or cron.
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::trigger))]
    pub trigger_type: String,
    /// For repeat: seconds between runs (1 to 31,622,400).
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 31622400))]
    pub repeat_every_seconds: Option<i64>,
    /// For cron: 5 fields (minute hour day-of-month month day-of-week) or @hourly, @daily,
    /// @weekly, @monthly, @yearly.
    #[serde(default)]
    pub cron: Option<String>,
    /// IANA name, default UTC.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The job each run makes: `name`, `type`, `command`, and optionally `meta`,
    /// `queue_name`, `priority`, `max_attempts`, `timeout_secs`, `unique_key`.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub job_template: serde_json::Value,
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_true() -> bool {
    true
}

/// `PUT /job-schedulers/{id}`: the fields to change; the result is checked whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SchedulerUpdate {
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::name_or_null))]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::trigger_or_null))]
    pub trigger_type: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 31622400))]
    pub repeat_every_seconds: Option<i64>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub job_template: Option<serde_json::Value>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A page of schedulers, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SchedulersPage {
    pub data: Vec<SchedulerPublic>,
    pub count: i64,
}
