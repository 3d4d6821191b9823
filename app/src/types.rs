//! Wire types: what the browser and the server exchange, over REST and server functions
//! alike. Browser-safe (no server crates); the server derives OpenAPI schemas for them.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// A user as clients see it (never the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserPublic {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub full_name: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A page of users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UsersPage {
    pub data: Vec<UserPublic>,
    pub count: i64,
}

/// `POST /users/` (superuser).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserCreate {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub is_superuser: bool,
}

fn yes() -> bool {
    true
}

/// `POST /register` (when open registration is on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserRegister {
    pub username: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub full_name: Option<String>,
}

/// `PUT /users/{id}`: every field optional; privileges only by a superuser.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserUpdate {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// An empty string clears the name.
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub is_superuser: Option<bool>,
}

/// `PUT /users/me`: one's own profile (no privileges, no password: see [`PasswordChange`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserUpdateMe {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
}

/// `POST /users/me/password`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Answer of `POST /login/access-token` and `/login/refresh-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    /// Always "bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

/// `POST /login/refresh-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Body of `POST /reset-password`: the token from the recovery email and the new password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewPassword {
    pub token: String,
    pub new_password: String,
}

/// OAuth2 password form of `POST /login/access-token` (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub grant_type: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// A plain message answer, e.g. `{"message": "User deleted"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Message {
    pub message: String,
}

/// `?offset=&limit=` of list endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct PageQuery {
    /// Rows to skip (default 0).
    pub offset: Option<i64>,
    /// Rows to return, 1–1000 (default 100).
    pub limit: Option<i64>,
}

/// The dashboard's data: jobs per queue, throughput over the last hour, latest failures,
/// running jobs, and (for superusers) the machine's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub queues: Vec<QueueCounts>,
    /// 60 entries, oldest first: jobs that ended in each minute of the last hour.
    pub per_minute: Vec<MinuteCounts>,
    pub recent_failures: Vec<JobPublic>,
    pub running: Vec<JobPublic>,
    pub system: Option<SystemStatus>,
    /// The nodes sharing the database and the stopped queues (superusers only).
    pub nodes: Option<NodesPage>,
    /// The live updates' sequence number when the numbers were read (see `JobsPage::seq`).
    pub seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub queue: String,
    pub pending: i64,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteCounts {
    pub done: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// All CPUs together, 0–100, since the previous reading.
    pub cpu_percent: f32,
    pub cpus: usize,
    pub memory_used: u64,
    pub memory_total: u64,
    /// The disk holding the data directory.
    pub disk_used: u64,
    pub disk_total: u64,
    pub system_uptime_secs: u64,
    pub process_uptime_secs: u64,
    pub version: String,
}

/// Public facts the UI needs before sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SiteInfo {
    pub project_name: String,
    pub open_registration: bool,
    pub accent: String,
    /// Whether "forgot your password?" works (the server can send email).
    #[serde(default)]
    pub password_recovery: bool,
}

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
    pub name: String,
    /// The shell command (type command, superusers only), the script's name (script) or the
    /// URL to POST to (api_post).
    pub command: String,
    /// command, script or api_post.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
    /// A script's input, a POST's body, or a command's `env` and `cwd`.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<serde_json::Value>,
    #[serde(default)]
    pub max_attempts: Option<i32>,
    #[serde(default)]
    pub timeout_secs: Option<i32>,
    /// RFC 3339; later than now makes a delayed job.
    #[serde(default)]
    pub run_at: Option<String>,
    #[serde(default)]
    pub unique_key: Option<String>,
}

/// `PUT /jobs/{id}`: only while the job is pending or queued.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobUpdate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub queue_name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub meta: Option<serde_json::Value>,
    #[serde(default)]
    pub max_attempts: Option<i32>,
    #[serde(default)]
    pub timeout_secs: Option<i32>,
    #[serde(default)]
    pub run_at: Option<String>,
}

/// `PUT /jobs/{id}/status`: `queued` retries a failed or cancelled job; `cancelled`
/// cancels a pending or queued one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobStatusUpdate {
    pub status: String,
}

/// `POST /jobs/bulk`: one action on many jobs (`retry`, `kill` or `delete`; at most 500).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct JobsBulk {
    pub action: String,
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
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// on_start, repeat or cron.
    pub trigger_type: String,
    /// For repeat: seconds between runs (1 to 31,622,400).
    #[serde(default)]
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
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub trigger_type: Option<String>,
    #[serde(default)]
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

/// A queue a node consumes, and how many of its jobs it runs at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodeQueuePublic {
    pub name: String,
    pub concurrency: usize,
}

/// A vcore process sharing the database (`GET /nodes/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodePublic {
    /// `host:pid:random`; also the `lease_owner` of the jobs it runs.
    pub id: String,
    /// serve or worker.
    pub kind: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// Empty for a web-only node.
    pub queues: Vec<NodeQueuePublic>,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Runs the once-only maintenance (promoting due jobs, rescuing leases, schedulers,
    /// retention).
    pub leader: bool,
}

/// The live nodes, oldest first, and the queues stopped for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodesPage {
    pub data: Vec<NodePublic>,
    pub count: i64,
    /// Queues whose consumers are stopped (stop-consumer), on every node.
    pub paused_queues: Vec<String>,
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
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct JobsQuery {
    pub status: Option<String>,
    pub queue_name: Option<String>,
    pub priority: Option<String>,
    /// Only jobs whose name contains this, ignoring case.
    pub name: Option<String>,
    /// Only the jobs this scheduler made.
    pub scheduler_id: Option<i64>,
    pub offset: Option<i64>,
    pub limit: Option<i64>,
}

/// `?offset=` of `GET /jobs/{id}/log`: where to start reading (bytes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct LogQuery {
    /// Bytes to skip (tail a running job by asking again from `next_offset`).
    pub offset: Option<u64>,
    /// `true`: the end of the output instead, its last 64 KiB from a line start (not with
    /// `offset`).
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

/// The error every server function (and, as JSON `detail`, every REST endpoint) ends with.
/// `Invalid` names the field so forms can show the message next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// 422
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 401
    #[error("{0}")]
    Unauthorized(String),
    /// 403
    #[error("{0}")]
    Forbidden(String),
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 409
    #[error("{0}")]
    Conflict(String),
    /// 429
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: switched off, or needs a service that is not configured.
    #[error("{0}")]
    Unavailable(String),
    /// 500: details are in the server log only.
    #[error("Internal server error")]
    Internal,
    /// The call itself failed (network, decoding): raised on the client side.
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::Invalid { .. } => 422,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Unavailable(_) => 503,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }

    /// The message for `field`, when this error is about it.
    /// The message for the field `name`, or for a field inside it (`meta.seconds` for `meta`,
    /// prefixed with `seconds: `).
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            AppError::Invalid { field, message } if field == name => Some(message.clone()),
            AppError::Invalid { field, message } => field
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .map(|inner| format!("{inner}: {message}")),
            _ => None,
        }
    }
}

impl server_fn::error::FromServerFnError for AppError {
    type Encoder = server_fn::codec::JsonEncoding;
    fn from_server_fn_error(value: server_fn::error::ServerFnErrorErr) -> Self {
        use server_fn::error::ServerFnErrorErr as E;
        match value {
            // Raised on the server for a malformed call: the client's fault, so a 422
            // naming the argument when serde names it ("missing field `password`").
            E::Args(msg) | E::MissingArg(msg) => {
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.contains("field `"))
                    .unwrap_or_default()
                    .to_string();
                AppError::Invalid { field, message: msg }
            }
            other => AppError::Transport(other.to_string()),
        }
    }
}

/// An API time (`2026-01-31T12:00:00.250Z`) to the second, for lists: `2026-01-31 12:00:00`.
pub fn short_time(t: &str) -> String {
    let t = t.trim_end_matches('Z');
    let t = t.split_once('.').map_or(t, |(whole, _)| whole);
    t.replacen('T', " ", 1)
}

/// A duration for people: `250 ms`, `4.2 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
pub fn human_duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..10_000 => format!("{}.{} s", s, (ms % 1000) / 100),
        10_000..60_000 => format!("{s} s"),
        60_000..3_600_000 => format!("{} min {} s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use server_fn::error::{FromServerFnError, ServerFnErrorErr};

    #[test]
    fn malformed_server_fn_calls_are_the_clients_fault() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Args("missing field `password`".into()));
        assert_eq!(e.status(), 422);
        assert_eq!(
            e.for_field("password").as_deref(),
            Some("missing field `password`")
        );
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Request("offline".into()));
        assert!(matches!(e, AppError::Transport(_)));
    }

    #[test]
    fn list_times_stop_at_the_second() {
        assert_eq!(short_time("2026-01-31T12:00:00.250Z"), "2026-01-31 12:00:00");
        assert_eq!(short_time("2026-01-31T12:00:00Z"), "2026-01-31 12:00:00");
    }

    #[test]
    fn durations_read_naturally() {
        for (ms, text) in [
            (-5, "0 ms"),
            (250, "250 ms"),
            (999, "999 ms"),
            (1_000, "1.0 s"),
            (4_290, "4.2 s"),
            (59_999, "59 s"),
            (185_000, "3 min 5 s"),
            (7_800_000, "2 h 10 min"),
            (273_600_000, "3 d 4 h"),
        ] {
            assert_eq!(human_duration(ms), text, "{ms} ms");
        }
    }

    #[test]
    fn statuses_follow_the_variant() {
        assert_eq!(AppError::Unauthorized("x".into()).status(), 401);
        assert_eq!(AppError::Forbidden("x".into()).status(), 403);
        assert_eq!(AppError::Conflict("x".into()).status(), 409);
        assert_eq!(AppError::Internal.to_string(), "Internal server error");
    }
}
