//! Jobs: a job, creating and changing one, bulk actions, listings and their filters, the
//! log, the consumers, and the scripts jobs can run.

use serde::{Deserialize, Serialize};
#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// A job as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobPublic {
    pub id: i64,
    pub name: String,
    /// command, script or api_post.
    #[serde(rename = "type")]
    pub kind: String,
    /// The shell command, the script's name, or the URL.
    pub command: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub meta: serde_json::Value,
    pub queue_name: String,
    /// highest, high, normal, low or lowest.
    pub priority: String,
    /// pending, queued, running, done, failed or cancelled.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub timeout_secs: Option<i32>,
    pub run_at: String,
    pub unique_key: Option<String>,
    pub owner_id: Option<i64>,
    /// The scheduler that made it, if any.
    pub scheduler_id: Option<i64>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// How long the last attempt ran (`finished_at - started_at`), once the job has ended.
    pub duration_ms: Option<i64>,
    pub exit_code: Option<i32>,
    /// A script's JSON output, as text.
    pub result: Option<String>,
    pub error: Option<String>,
}

/// `POST /jobs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobCreate {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::name))]
    pub name: String,
    /// The shell command (type command, superusers only), the script's name (script) or the
    /// URL to POST to (api_post).
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::command))]
    pub command: String,
    /// command, script or api_post.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::job_type))]
    pub kind: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::priority_or_null))]
    pub priority: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
    /// A script's input, a POST's body, or a command's `env` and `cwd`.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<serde_json::Value>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 100))]
    pub max_attempts: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 604800))]
    pub timeout_secs: Option<i32>,
    /// RFC 3339; later than now makes a delayed job.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::time_or_null))]
    pub run_at: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::unique_key_or_null))]
    pub unique_key: Option<String>,
}

/// `PUT /jobs/{id}`: only while the job is pending or queued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobUpdate {
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::name_or_null))]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::priority_or_null))]
    pub priority: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<serde_json::Value>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 100))]
    pub max_attempts: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(minimum = 1, maximum = 604800))]
    pub timeout_secs: Option<i32>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::time_or_null))]
    pub run_at: Option<String>,
}

/// `PUT /jobs/{id}/status`: `queued` retries a failed or cancelled job; `cancelled`
/// cancels a pending or queued one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobStatusUpdate {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::job_status))]
    pub status: String,
}

/// `POST /jobs/bulk`: one action on many jobs (`retry`, `kill` or `delete`; at most 500).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobsBulk {
    #[cfg_attr(feature = "ssr", schema(schema_with = super::schema::bulk_action))]
    pub action: String,
    #[cfg_attr(feature = "ssr", schema(min_items = 1, max_items = 500))]
    pub ids: Vec<i64>,
}

/// What a bulk action did: the jobs acted on, and the others with the reason each was left
/// alone (the error the single call would have given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct BulkResult {
    pub done: Vec<i64>,
    pub skipped: Vec<BulkSkipped>,
}

/// A job a bulk action left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct BulkSkipped {
    pub id: i64,
    pub reason: String,
}

/// A page of jobs, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobsPage {
    pub data: Vec<JobPublic>,
    pub count: i64,
    /// The live updates' sequence number when the list was read: events numbered from
    /// `seq` on may not be in it. `WS /ws/job-queue?since={seq - 1}` delivers them.
    pub seq: u64,
}

/// A script jobs of type `script` can run (name it in `command`, its input in `meta`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ScriptPublic {
    pub name: String,
    pub description: String,
    /// Only superusers may run it.
    pub superuser_only: bool,
    /// The input's JSON Schema.
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub input_schema: serde_json::Value,
    /// The input's top-level fields, read from the schema (for forms).
    pub fields: Vec<ScriptField>,
    /// A `meta` to start from: the required fields with placeholder values.
    pub example: String,
}

/// One top-level field of a script's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ScriptField {
    pub name: String,
    /// JSON type: string, number, integer, boolean, array, object (or a `|` of several).
    pub kind: String,
    pub required: bool,
    pub description: String,
}

/// The registered scripts, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ScriptsPage {
    pub data: Vec<ScriptPublic>,
    pub count: i64,
}

/// `?status=&queue_name=&priority=&offset=&limit=` of `GET /jobs/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams), into_params(parameter_in = Query))]
pub struct JobsQuery {
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::job_status))]
    pub status: Option<String>,
    pub queue_name: Option<String>,
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::priority))]
    pub priority: Option<String>,
    /// Only jobs whose name contains this, ignoring case.
    #[cfg_attr(feature = "ssr", param(schema_with = super::schema::name_filter))]
    pub name: Option<String>,
    /// Only the jobs this scheduler made.
    pub scheduler_id: Option<i64>,
    /// Rows to skip (default 0).
    #[cfg_attr(feature = "ssr", param(minimum = 0))]
    pub offset: Option<i64>,
    /// Rows to return, 1–1000 (default 100).
    #[cfg_attr(feature = "ssr", param(minimum = 1, maximum = 1000))]
    pub limit: Option<i64>,
}

/// `?offset=` of `GET /jobs/{id}/log`: where to start reading (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams), into_params(parameter_in = Query))]
pub struct LogQuery {
    /// Bytes to skip (tail a running job by asking again from `next_offset`).
    pub offset: Option<u64>,
    /// `true`: the end of the output instead, its last 64 KiB from a line start; with
    /// `offset`, nothing before it (what the caller already has).
    pub tail: Option<bool>,
}

/// A slice of a job's log. Tail a running job by asking again from `next_offset`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobLog {
    pub content: String,
    pub offset: u64,
    pub next_offset: u64,
    /// True when the job has ended (nothing more will be written).
    pub finished: bool,
}

/// `POST /jobs/start-consumer` and `/stop-consumer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConsumerRequest {
    #[serde(default = "default_queue")]
    pub queue_name: String,
}

fn default_queue() -> String {
    "default".into()
}

/// Whether a queue's consumer is running in this process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConsumerState {
    pub queue_name: String,
    pub paused: bool,
}
