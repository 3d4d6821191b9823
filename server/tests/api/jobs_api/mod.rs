//! The jobs REST API (`/api/v1/jobs/*`) against the runner the server starts in-process
//! (queues `default` and `reserved`, built-in scripts `noop`, `echo`, `sleep`): jobs run end
//! to end (a command's exit code and log, a script's result), who may see and do what, bad
//! input, kill, retry and cancel, stopping consumers, conflicts, and the list's filters.
//!
//! Waits poll every 20 ms (10 s at most); the only fixed pause is the one proving that a
//! stopped consumer leaves its queue alone.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

mod input;
mod lifecycle;
mod listing;
mod logs;
mod running;

const KINDS: [&str; 3] = ["command", "script", "api_post"];
const PRIORITIES: [&str; 5] = ["highest", "high", "normal", "low", "lowest"];
const STATUSES: [&str; 6] = ["pending", "queued", "running", "done", "failed", "cancelled"];
const ENDED: [&str; 3] = ["done", "failed", "cancelled"];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

pub(crate) fn job_path(id: i64) -> String {
    format!("/jobs/{id}")
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(job: &Value, field: &str) -> DateTime<Utc> {
    let s = job[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {job}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{field} is not RFC 3339 ({e}): {job}"))
        .with_timezone(&Utc)
}

/// A script job's `result`, parsed (None when absent or not JSON).
fn result_json(job: &Value) -> Option<Value> {
    job["result"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
}

/// A script job.
fn script(name: &str, script: &str, meta: Value) -> Value {
    json!({ "name": name, "type": "script", "command": script, "meta": meta })
}

/// A `noop` script job that may not run for an hour: it stays `pending` for the whole test.
fn delayed(name: &str) -> Value {
    json!({ "name": name, "type": "script", "command": "noop", "run_at": in_an_hour() })
}

/// A `JobPublic`: exactly its fields, each of the right type, timestamps in RFC 3339.
pub(crate) fn assert_job_public(job: &Value) {
    let keys: BTreeSet<&str> = job
        .as_object()
        .unwrap_or_else(|| panic!("a job is a JSON object, got {job}"))
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "id",
        "name",
        "type",
        "command",
        "meta",
        "queue_name",
        "priority",
        "status",
        "attempts",
        "max_attempts",
        "timeout_secs",
        "run_at",
        "unique_key",
        "owner_id",
        "scheduler_id",
        "created_at",
        "started_at",
        "finished_at",
        "duration_ms",
        "exit_code",
        "result",
        "error",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected, "JobPublic fields: {job}");
    assert!(job["id"].is_i64(), "id: {job}");
    assert!(job["name"].is_string() && job["command"].is_string(), "{job}");
    assert!(job["queue_name"].is_string(), "{job}");
    for (field, allowed) in [
        ("type", &KINDS[..]),
        ("priority", &PRIORITIES[..]),
        ("status", &STATUSES[..]),
    ] {
        let v = job[field].as_str().unwrap_or_default();
        assert!(
            allowed.contains(&v),
            "{field} {v:?} is not one of {allowed:?}: {job}"
        );
    }
    assert!(job["meta"].is_object(), "meta is an object: {job}");
    assert!(job["attempts"].is_i64() && job["max_attempts"].is_i64(), "{job}");
    for k in [
        "timeout_secs",
        "owner_id",
        "scheduler_id",
        "exit_code",
        "duration_ms",
    ] {
        assert!(job[k].is_null() || job[k].is_i64(), "{k}: {job}");
    }
    for k in ["unique_key", "result", "error"] {
        assert!(job[k].is_null() || job[k].is_string(), "{k}: {job}");
    }
    parse_time(job, "run_at");
    parse_time(job, "created_at");
    for k in ["run_at", "created_at", "started_at", "finished_at"] {
        if let Some(t) = job[k].as_str() {
            // Milliseconds, always: 2026-01-31T12:00:00.250Z.
            let frac = t.split('.').nth(1).unwrap_or_default();
            assert!(
                frac.len() == 4 && frac.ends_with('Z'),
                "{k} has millisecond precision: {job}"
            );
            parse_time(job, k);
        }
    }
    assert_eq!(
        job["duration_ms"].is_null(),
        job["finished_at"].is_null() || job["started_at"].is_null(),
        "duration_ms is given exactly when the job started and ended: {job}"
    );
}

/// `POST /jobs/`, expecting 201 and a `JobPublic`.
pub(crate) async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let job = assert_status(app.post("/jobs/", Some(token), &body).await, 201).await;
    assert_job_public(&job);
    job
}

/// `GET /jobs/{id}`, expecting 200 and a `JobPublic`.
pub(crate) async fn get_job(app: &TestApp, token: &str, id: i64) -> Value {
    let job = assert_status(app.get(&job_path(id), Some(token)).await, 200).await;
    assert_job_public(&job);
    job
}

/// Polls the job every 20 ms until it is `status` (10 s at most). Fails at once when the job
/// ends in another state.
pub(crate) async fn wait_for_status(app: &TestApp, token: &str, id: i64, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = get_job(app, token, id).await;
        if job["status"] == status {
            return job;
        }
        let now = job["status"].as_str().unwrap_or_default();
        assert!(
            !ENDED.contains(&now),
            "job {id} ended {now} while we waited for {status}: {job}"
        );
        assert!(
            Instant::now() < deadline,
            "job {id} was not {status} after 10 s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `PUT /jobs/{id}/status`.
async fn put_status(app: &TestApp, token: &str, id: i64, status: &str) -> reqwest::Response {
    app.put(
        &format!("/jobs/{id}/status"),
        Some(token),
        &json!({ "status": status }),
    )
    .await
}

/// `POST /jobs/{id}/kill`.
async fn kill(app: &TestApp, token: &str, id: i64) -> reqwest::Response {
    app.post_empty(&format!("/jobs/{id}/kill"), Some(token)).await
}

/// `GET /jobs/{id}/log[?offset=N]`, expecting 200 and exactly the `JobLog` fields.
async fn read_log(app: &TestApp, token: &str, id: i64, offset: Option<u64>) -> Value {
    let path = match offset {
        Some(o) => format!("/jobs/{id}/log?offset={o}"),
        None => format!("/jobs/{id}/log"),
    };
    let log = assert_status(app.get(&path, Some(token)).await, 200).await;
    let keys: BTreeSet<&str> = log
        .as_object()
        .unwrap_or_else(|| panic!("a log is a JSON object, got {log}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["content", "finished", "next_offset", "offset"]),
        "JobLog fields: {log}"
    );
    assert!(
        log["content"].is_string() && log["finished"].is_boolean(),
        "{log}"
    );
    assert!(log["offset"].is_u64() && log["next_offset"].is_u64(), "{log}");
    log
}

/// `POST /jobs/{start|stop}-consumer` as a superuser; checks the answered state.
async fn consumer(app: &TestApp, token: &str, action: &str, queue: &str) {
    let body = assert_status(
        app.post(
            &format!("/jobs/{action}-consumer"),
            Some(token),
            &json!({ "queue_name": queue }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        body,
        json!({ "queue_name": queue, "paused": action == "stop" }),
        "{action}-consumer {queue}"
    );
}

/// One page of `GET /jobs/{query}`.
struct Listing {
    count: i64,
    ids: Vec<i64>,
    data: Vec<Value>,
}

/// `GET /jobs/{query}`: checks the page's shape and that it is newest first.
async fn list(app: &TestApp, token: &str, query: &str) -> Listing {
    let page = assert_status(app.get(&format!("/jobs/{query}"), Some(token)).await, 200).await;
    let keys: BTreeSet<&str> = page
        .as_object()
        .unwrap_or_else(|| panic!("{query}: a page is a JSON object, got {page}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["count", "data", "seq"]),
        "JobsPage fields: {page}"
    );
    let data = page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: data is not a list: {page}"))
        .clone();
    data.iter().for_each(assert_job_public);
    let ids: Vec<i64> = data.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "{query}: not newest first: {ids:?}"
    );
    let count = page["count"]
        .as_i64()
        .unwrap_or_else(|| panic!("{query}: count is not a number: {page}"));
    assert!(
        count >= ids.len() as i64,
        "{query}: count below the page size: {page}"
    );
    Listing { count, ids, data }
}

// ---------------------------------------------------------------------------------------
// 1. A command job, end to end
// ---------------------------------------------------------------------------------------
