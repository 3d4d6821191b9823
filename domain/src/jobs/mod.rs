//! The job engine's data: what a job is, the states it moves through and who moves it, and
//! the parsed input of a new job. Storage (all queue SQL) is in [`store`]; the runner that
//! claims and executes jobs is built on it. Nothing here runs a job.

pub mod api_post;
pub mod command;
pub mod events;
pub mod logs;
pub mod runner;
pub mod schedule;
pub mod scheduler_service;
pub mod schedulers;
pub mod scripts;
pub mod service;
pub mod ssrf;
pub mod store;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// Where a job is in its life. Each state says who moves a job into it and out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Accepted and waiting for its `run_at`: a delayed job, or a retry in backoff.
    /// In: enqueue with a future `run_at`; a failed attempt with attempts left; a rescued
    /// lease with attempts left. Out: the promoter when `run_at` arrives (→ queued);
    /// cancel (→ cancelled); delete.
    Pending,
    /// Ready to run, waiting for a worker of its queue.
    /// In: enqueue; the promoter; retrying a failed or cancelled job; graceful shutdown
    /// handing back unfinished work. Out: a worker's claim (→ running); cancel; delete.
    Queued,
    /// Held by one worker, under a lease it renews by heartbeat, with a fencing token.
    /// In: claim. Out: that worker's result (→ done, failed, or pending to retry); kill
    /// (→ cancelled); the rescuer when the lease expires (→ pending or failed); graceful
    /// shutdown (→ queued).
    Running,
    /// Finished successfully. Terminal. Out: retention pruning deletes it.
    Done,
    /// Out of attempts (error, non-zero exit, timeout, lost lease). Out: retry (→ queued);
    /// pruning.
    Failed,
    /// Stopped by a person (kill or cancel). Out: retry (→ queued); pruning.
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<JobStatus, DomainError> {
        JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("must be one of pending, queued, running, done, failed, cancelled; got {s:?}"),
                )
            })
    }

    /// Live states: a unique key blocks a second job while one of these holds it.
    pub fn is_live(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Queued | JobStatus::Running)
    }
}

/// Higher runs first. Stored as 4 (highest) … 0 (lowest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Lowest,
    Low,
    Normal,
    High,
    Highest,
}

impl Priority {
    pub const ALL: [Priority; 5] = [
        Priority::Lowest,
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Highest,
    ];

    pub fn as_i16(self) -> i16 {
        self as i16
    }

    pub fn from_i16(v: i16) -> Option<Priority> {
        Priority::ALL.get(usize::try_from(v).ok()?).copied()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Lowest => "lowest",
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Highest => "highest",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Priority, DomainError> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("must be one of highest, high, normal, low, lowest; got {s:?}"),
                )
            })
    }
}

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A shell command (`sh -c`), in its own process group.
    Command,
    /// A Rust handler registered by name, with JSON input and output.
    Script,
    /// An HTTP POST of a JSON body to a URL.
    ApiPost,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Command => "command",
            JobKind::Script => "script",
            JobKind::ApiPost => "api_post",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<JobKind, DomainError> {
        [JobKind::Command, JobKind::Script, JobKind::ApiPost]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid(
                    field,
                    format!("must be one of command, script, api_post; got {s:?}"),
                )
            })
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub name: String,
    pub kind: JobKind,
    /// The shell command, the script's name, or the URL to POST to.
    pub command: String,
    /// Free-form JSON: a script's input, a POST's body, a command's `env`/`cwd`.
    pub meta: serde_json::Value,
    pub queue: String,
    pub priority: Priority,
    pub status: JobStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub timeout_secs: Option<i32>,
    pub run_at: NaiveDateTime,
    pub unique_key: Option<String>,
    pub owner_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub started_at: Option<NaiveDateTime>,
    pub finished_at: Option<NaiveDateTime>,
    pub exit_code: Option<i32>,
    pub result: Option<String>,
    pub error: Option<String>,
    pub log_path: Option<String>,
    /// Which worker holds the lease, while running.
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<NaiveDateTime>,
    /// Incremented by every claim; a worker may record a result only with the value it
    /// claimed with, so a worker whose lease was rescued cannot complete the job.
    pub fence: i64,
    /// The scheduler that made it, if any.
    pub scheduler_id: Option<i64>,
}

/// Limits on new jobs.
pub const MAX_NAME: usize = 200;
pub const MAX_COMMAND: usize = 16 * 1024;
pub const MAX_ATTEMPTS: i32 = 100;
pub const MAX_TIMEOUT_SECS: i32 = 7 * 24 * 3600;
pub const DEFAULT_MAX_ATTEMPTS: i32 = 3;

/// A new job, parsed: every field valid. Build it with [`NewJob::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub name: String,
    pub kind: JobKind,
    pub command: String,
    pub meta: serde_json::Value,
    pub queue: String,
    pub priority: Priority,
    pub max_attempts: i32,
    pub timeout_secs: Option<i32>,
    pub run_at: Option<DateTime<Utc>>,
    pub unique_key: Option<String>,
    pub owner_id: Option<i64>,
}

/// The raw input of a new job (wire or CLI), before parsing.
#[derive(Debug, Clone, Default)]
pub struct JobInput {
    pub name: String,
    pub kind: String,
    pub command: String,
    pub meta: Option<serde_json::Value>,
    pub queue_name: Option<String>,
    pub priority: Option<String>,
    pub max_attempts: Option<i32>,
    pub timeout_secs: Option<i32>,
    pub run_at: Option<DateTime<Utc>>,
    pub unique_key: Option<String>,
}

/// A job's name: trimmed, 1 to [`MAX_NAME`] printable characters. The field parsers below
/// serve both a new job and a change to one, so the two cannot drift apart.
pub fn parse_name(raw: &str) -> Result<String, DomainError> {
    let name = raw.trim().to_string();
    if name.is_empty() {
        return Err(DomainError::invalid("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            format!("must be at most {MAX_NAME} printable characters"),
        ));
    }
    Ok(name)
}

/// `meta` must be a JSON object.
pub fn parse_meta(meta: serde_json::Value) -> Result<serde_json::Value, DomainError> {
    if !meta.is_object() {
        return Err(DomainError::invalid("meta", "must be a JSON object"));
    }
    Ok(meta)
}

/// One of the queues this installation runs.
pub fn parse_queue(queue: String, queues: &[String]) -> Result<String, DomainError> {
    if !queues.contains(&queue) {
        return Err(DomainError::invalid(
            "queue_name",
            format!("unknown queue {queue:?}; queues: {}", queues.join(", ")),
        ));
    }
    Ok(queue)
}

pub fn parse_max_attempts(n: i32) -> Result<i32, DomainError> {
    if !(1..=MAX_ATTEMPTS).contains(&n) {
        return Err(DomainError::invalid(
            "max_attempts",
            format!("must be from 1 to {MAX_ATTEMPTS}"),
        ));
    }
    Ok(n)
}

pub fn parse_timeout(t: i32) -> Result<i32, DomainError> {
    if !(1..=MAX_TIMEOUT_SECS).contains(&t) {
        return Err(DomainError::invalid(
            "timeout_secs",
            format!("must be from 1 to {MAX_TIMEOUT_SECS}"),
        ));
    }
    Ok(t)
}

impl NewJob {
    /// Checks every field; `queues` are the queues this installation runs.
    pub fn parse(input: JobInput, queues: &[String], owner_id: Option<i64>) -> Result<NewJob, DomainError> {
        let name = parse_name(&input.name)?;
        let kind = JobKind::parse("type", &input.kind)?;
        let command = input.command.trim().to_string();
        if command.is_empty() {
            return Err(DomainError::invalid("command", "must not be empty"));
        }
        if command.chars().count() > MAX_COMMAND || command.contains('\0') {
            return Err(DomainError::invalid(
                "command",
                format!("must be at most {MAX_COMMAND} characters, without NUL"),
            ));
        }
        if kind == JobKind::ApiPost && !(command.starts_with("http://") || command.starts_with("https://")) {
            return Err(DomainError::invalid(
                "command",
                "an api_post job's command is the URL: http:// or https://",
            ));
        }
        let meta = parse_meta(input.meta.unwrap_or_else(|| serde_json::json!({})))?;
        let queue = parse_queue(input.queue_name.unwrap_or_else(|| "default".into()), queues)?;
        let priority = match input.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => Priority::parse("priority", p)?,
        };
        let max_attempts = parse_max_attempts(input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))?;
        let timeout_secs = input.timeout_secs.map(parse_timeout).transpose()?;
        let unique_key = match input.unique_key.map(|k| k.trim().to_string()) {
            Some(k) if k.is_empty() || k.chars().count() > 256 => {
                return Err(DomainError::invalid("unique_key", "must be 1 to 256 characters"))
            }
            other => other,
        };
        Ok(NewJob {
            name,
            kind,
            command,
            meta,
            queue,
            priority,
            max_attempts,
            timeout_secs,
            run_at: input.run_at,
            unique_key,
            owner_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues() -> Vec<String> {
        vec!["default".into(), "reserved".into()]
    }

    fn input() -> JobInput {
        JobInput {
            name: "n".into(),
            kind: "command".into(),
            command: "true".into(),
            ..Default::default()
        }
    }

    fn field_of(e: DomainError) -> String {
        match e {
            DomainError::Invalid { field, .. } => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_round_trips() {
        let j = NewJob::parse(input(), &queues(), Some(1)).unwrap();
        assert_eq!(
            (j.queue.as_str(), j.priority, j.max_attempts),
            ("default", Priority::Normal, DEFAULT_MAX_ATTEMPTS)
        );
        for p in Priority::ALL {
            assert_eq!(Priority::from_i16(p.as_i16()), Some(p));
            assert_eq!(Priority::parse("p", p.as_str()).unwrap(), p);
        }
        assert!(Priority::Highest > Priority::High && Priority::Low > Priority::Lowest);
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse("s", s.as_str()).unwrap(), s);
        }
        assert_eq!(Priority::from_i16(5), None);
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases: Vec<(JobInput, &str)> = vec![
            (
                JobInput {
                    name: " ".into(),
                    ..input()
                },
                "name",
            ),
            (
                JobInput {
                    kind: "shell".into(),
                    ..input()
                },
                "type",
            ),
            (
                JobInput {
                    command: "".into(),
                    ..input()
                },
                "command",
            ),
            (
                JobInput {
                    kind: "api_post".into(),
                    command: "ftp://x".into(),
                    ..input()
                },
                "command",
            ),
            (
                JobInput {
                    meta: Some(serde_json::json!([1])),
                    ..input()
                },
                "meta",
            ),
            (
                JobInput {
                    queue_name: Some("nope".into()),
                    ..input()
                },
                "queue_name",
            ),
            (
                JobInput {
                    priority: Some("urgent".into()),
                    ..input()
                },
                "priority",
            ),
            (
                JobInput {
                    max_attempts: Some(0),
                    ..input()
                },
                "max_attempts",
            ),
            (
                JobInput {
                    timeout_secs: Some(-1),
                    ..input()
                },
                "timeout_secs",
            ),
            (
                JobInput {
                    unique_key: Some("".into()),
                    ..input()
                },
                "unique_key",
            ),
        ];
        for (i, field) in cases {
            assert_eq!(field_of(NewJob::parse(i, &queues(), None).unwrap_err()), field);
        }
    }
}
