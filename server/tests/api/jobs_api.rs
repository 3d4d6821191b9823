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

both_backends!(
    a_command_job_runs_end_to_end_with_its_log,
    a_script_jobs_result_is_its_output,
    regular_users_run_scripts_and_see_only_their_own_jobs,
    maintenance_scripts_are_for_superusers_and_do_their_work,
    the_hub_reports_each_change_of_a_job_in_order,
    every_jobs_endpoint_from_every_side,
    bad_job_input_names_the_field_and_changes_nothing,
    a_killed_job_ends_cancelled,
    failed_jobs_retry_and_only_allowed_transitions_pass,
    a_stopped_consumer_leaves_its_queue_alone,
    unique_keys_and_state_conflicts,
    the_list_filters_and_pages_newest_first,
    bulk_actions_touch_only_the_callers_jobs_in_the_right_state,
    the_log_tail_starts_at_a_line_and_the_download_is_the_whole_log,
    a_log_file_from_before_the_database_kept_output_is_still_read,
);

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

fn in_an_hour() -> String {
    rfc3339(Utc::now() + chrono::Duration::hours(1))
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

async fn a_command_job_runs_end_to_end_with_its_log(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;

    let created = create(
        &app,
        &admin,
        json!({ "name": "greet", "type": "command", "command": "echo hello; echo err >&2" }),
    )
    .await;
    let id = id_of(&created);
    assert_eq!(created["name"], "greet");
    assert_eq!(created["type"], "command");
    assert_eq!(created["command"], "echo hello; echo err >&2");
    assert_eq!(created["meta"], json!({}), "meta defaults to an empty object");
    assert_eq!(created["queue_name"], "default");
    assert_eq!(created["priority"], "normal");
    assert_eq!(created["status"], "queued", "{created}");
    assert_eq!(created["attempts"], 0);
    assert_eq!(created["max_attempts"], 3, "the default: {created}");
    assert_eq!(created["owner_id"], admin_id);
    for k in [
        "timeout_secs",
        "unique_key",
        "started_at",
        "finished_at",
        "exit_code",
        "result",
        "error",
    ] {
        assert!(created[k].is_null(), "{k} is null on a new job: {created}");
    }

    let done = wait_for_status(&app, &admin, id, "done").await;
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(done["attempts"], 1, "{done}");
    assert!(done["error"].is_null(), "{done}");
    let took = parse_time(&done, "finished_at") - parse_time(&done, "started_at");
    assert!(took >= chrono::Duration::zero(), "{done}");
    assert_eq!(done["duration_ms"], took.num_milliseconds(), "{done}");

    // The log: stdout as written, stderr prefixed. The two pipes are read separately, so
    // their order is not asserted.
    let log = read_log(&app, &admin, id, None).await;
    let content = log["content"].as_str().unwrap().to_string();
    let mut lines: Vec<&str> = content.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["[stderr] err", "hello"], "log: {content:?}");
    assert!(content.ends_with('\n'), "{content:?}");
    assert_eq!(log["offset"], 0);
    assert_eq!(log["next_offset"], content.len() as u64, "{log}");
    assert_eq!(log["finished"], true, "{log}");

    // Tailing from next_offset: nothing new.
    let next = log["next_offset"].as_u64().unwrap();
    let tail = read_log(&app, &admin, id, Some(next)).await;
    assert_eq!(
        tail,
        json!({ "content": "", "offset": next, "next_offset": next, "finished": true })
    );
    // From the middle: only what follows.
    let first_len = content.find('\n').unwrap() + 1;
    let rest = read_log(&app, &admin, id, Some(first_len as u64)).await;
    assert_eq!(rest["content"], &content[first_len..], "{rest}");
    assert_eq!(rest["offset"], first_len as u64);
    assert_eq!(rest["next_offset"], next);

    // A job that has not run has an empty log, and is not finished.
    let waiting = create(
        &app,
        &admin,
        json!({ "name": "later", "type": "command", "command": "echo later", "run_at": in_an_hour() }),
    )
    .await;
    assert_eq!(waiting["status"], "pending", "{waiting}");
    let empty = read_log(&app, &admin, id_of(&waiting), None).await;
    assert_eq!(
        empty,
        json!({ "content": "", "offset": 0, "next_offset": 0, "finished": false })
    );

    // Deleting the finished job removes it and its output (the file on SQLite, the
    // chunks on PostgreSQL).
    let db = &app.services.db;
    let log_file = app.services.job_log_path(id);
    let has_output = || async {
        if db.is_postgres() {
            vcore_domain::jobs::logs::end(db, id).await.unwrap() > 0
        } else {
            log_file.exists()
        }
    };
    assert!(has_output().await, "the output exists while the job does");
    let deleted = assert_status(app.delete(&job_path(id), Some(&admin)).await, 200).await;
    assert!(
        deleted["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{deleted}"
    );
    assert_status(app.get(&job_path(id), Some(&admin)).await, 404).await;
    assert_status(app.get(&format!("/jobs/{id}/log"), Some(&admin)).await, 404).await;
    assert_status(app.delete(&job_path(id), Some(&admin)).await, 404).await;
    assert!(!has_output().await, "the output was removed");
    let left = list(&app, &admin, "").await;
    assert_eq!((left.count, left.ids), (1, vec![id_of(&waiting)]));
}

// ---------------------------------------------------------------------------------------
// 2. A script job's result
// ---------------------------------------------------------------------------------------

async fn a_script_jobs_result_is_its_output(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;

    let job = create(&app, &admin, script("echo it", "echo", json!({ "x": 1 }))).await;
    assert_eq!(job["type"], "script");
    assert_eq!(job["command"], "echo");
    assert_eq!(job["meta"], json!({ "x": 1 }));
    let done = wait_for_status(&app, &admin, id_of(&job), "done").await;
    let text = done["result"]
        .as_str()
        .unwrap_or_else(|| panic!("a script's result is text: {done}"));
    let result: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("the result is JSON ({e}): {done}"));
    assert_eq!(result, json!({ "x": 1 }), "{done}");
    assert!(done["exit_code"].is_null() && done["error"].is_null(), "{done}");
    assert_eq!(done["attempts"], 1);

    // A script's input is checked by its types when the job is stored: a 422 naming the
    // field inside meta, and nothing stored.
    let before = list(&app, &admin, "").await.count;
    for (meta, field) in [
        (json!({ "seconds": "soon" }), "seconds"),
        (json!({}), "seconds"),
        (json!({ "seconds": 1e9 }), "seconds"),
    ] {
        let body = json!({ "name": "bad nap", "type": "script", "command": "sleep", "meta": meta });
        assert_422(
            app.post("/jobs/", Some(&admin), &body).await,
            &["body", "meta", field],
        )
        .await;
    }
    assert_eq!(list(&app, &admin, "").await.count, before, "nothing stored");

    // A script that fails records why, and no result (the file exists, or the database is
    // PostgreSQL).
    let bad = create(
        &app,
        &admin,
        json!({
            "name": "bad copy", "type": "script", "command": "backup_sqlite",
            "meta": { "path": "/" }, "max_attempts": 1
        }),
    )
    .await;
    let failed = wait_for_status(&app, &admin, id_of(&bad), "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("already exists") || e.contains("PostgreSQL")),
        "{failed}"
    );
    assert!(failed["result"].is_null(), "{failed}");
    assert_eq!(failed["attempts"], 1);
}

async fn maintenance_scripts_are_for_superusers_and_do_their_work(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;

    // A regular user may not prune everyone's jobs or copy the database; nothing is stored.
    for name in ["prune_jobs", "backup_sqlite"] {
        let before = list(&app, &admin, "").await.count;
        assert_error(
            app.post("/jobs/", Some(alice.access()), &script("mine", name, json!({})))
                .await,
            403,
            &format!("Only superusers may run the script {name:?}"),
        )
        .await;
        assert_eq!(
            list(&app, &admin, "").await.count,
            before,
            "{name}: nothing stored"
        );
    }

    // prune_jobs deletes finished jobs older than the cutoff (and keeps younger ones).
    let old = create(&app, &admin, script("old", "noop", json!({}))).await;
    wait_for_status(&app, &admin, id_of(&old), "done").await;
    let young = create(&app, &admin, script("young", "noop", json!({}))).await;
    wait_for_status(&app, &admin, id_of(&young), "done").await;
    app.execute_sql(&format!(
        "UPDATE jobs SET finished_at = '2000-01-01 00:00:00' WHERE id = {}",
        id_of(&old)
    ))
    .await;
    let prune = create(
        &app,
        &admin,
        script("prune", "prune_jobs", json!({ "older_than_days": 5 })),
    )
    .await;
    let pruned = wait_for_status(&app, &admin, id_of(&prune), "done").await;
    assert_eq!(
        result_json(&pruned),
        Some(json!({ "deleted": 1, "older_than_days": 5 }))
    );
    assert_status(app.get(&job_path(id_of(&old)), Some(&admin)).await, 404).await;
    get_job(&app, &admin, id_of(&young)).await;

    // backup_sqlite: a usable copy on SQLite; a clear refusal on PostgreSQL.
    let backup = create(
        &app,
        &admin,
        json!({ "name": "backup", "type": "script", "command": "backup_sqlite",
                "meta": { "keep": 1 }, "max_attempts": 1 }),
    )
    .await;
    match b {
        Backend::Sqlite => {
            let done = wait_for_status(&app, &admin, id_of(&backup), "done").await;
            let result = result_json(&done).unwrap();
            let path = result["path"].as_str().unwrap();
            assert!(result["bytes"].as_u64().unwrap() > 0, "{result}");
            let copy = vcore_domain::db::Db::connect(&format!("sqlite://{path}"), 1)
                .await
                .unwrap();
            let users = vcore_domain::users::find_user(&copy, app.admin_id().await)
                .await
                .unwrap();
            assert_eq!(
                users.map(|u| u.username),
                Some(ADMIN_USERNAME.to_string()),
                "the copy holds the data"
            );
        }
        Backend::Postgres => {
            let failed = wait_for_status(&app, &admin, id_of(&backup), "failed").await;
            assert!(
                failed["error"].as_str().unwrap_or("").contains("pg_dump"),
                "{failed}"
            );
        }
    }
}

/// The live-event hub (what the WebSocket endpoint will serve) sees a job's whole life, in
/// order, with its owner: stored, running, done; a killed one ends cancelled; a deleted one
/// is reported deleted.
async fn the_hub_reports_each_change_of_a_job_in_order(b: Backend) {
    use vcore_domain::jobs::events::{EventKind, Resume};
    let app = spawn_app(b, Opts::default()).await;
    let alice = app.create_and_login("alice").await;
    let (resume, mut rx) = app.services.hub.subscribe(None);
    assert_eq!(resume, Resume::Fresh);
    type Seen = (u64, EventKind, i64, Option<i64>, String);
    async fn next_event(
        rx: &mut tokio::sync::broadcast::Receiver<std::sync::Arc<vcore_domain::jobs::events::JobEvent>>,
        what: &str,
    ) -> Seen {
        let e = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event for {what} within 10 s"))
            .unwrap();
        (
            e.seq,
            e.event,
            e.job_id,
            e.owner_id,
            e.status.as_str().to_string(),
        )
    }
    let job = create(&app, alice.access(), script("echo", "echo", json!({ "x": 1 }))).await;
    let id = id_of(&job);
    let a = next_event(&mut rx, "created").await;
    let b2 = next_event(&mut rx, "running").await;
    let c = next_event(&mut rx, "done").await;
    assert_eq!(
        (a.1, a.2, a.3, a.4.as_str()),
        (EventKind::Created, id, Some(alice.id), "queued")
    );
    assert_eq!((b2.1, b2.2, b2.4.as_str()), (EventKind::Status, id, "running"));
    assert_eq!(
        (c.1, c.2, c.3, c.4.as_str()),
        (EventKind::Status, id, Some(alice.id), "done")
    );
    assert!(a.0 < b2.0 && b2.0 < c.0, "in sequence order: {a:?} {b2:?} {c:?}");

    let nap = create(
        &app,
        alice.access(),
        script("nap", "sleep", json!({ "seconds": 30 })),
    )
    .await;
    assert_eq!(next_event(&mut rx, "created").await.4, "queued");
    assert_eq!(next_event(&mut rx, "running").await.4, "running");
    assert_status(kill(&app, alice.access(), id_of(&nap)).await, 200).await;
    let killed = next_event(&mut rx, "cancelled").await;
    assert_eq!((killed.2, killed.4.as_str()), (id_of(&nap), "cancelled"));

    assert_status(app.delete(&job_path(id), Some(alice.access())).await, 200).await;
    let gone = next_event(&mut rx, "deleted").await;
    assert_eq!((gone.1, gone.2), (EventKind::Deleted, id));
    // A viewer that saw the first event resumes with everything after it.
    match app.services.hub.subscribe(Some(a.0)).0 {
        Resume::Replay(es) => assert_eq!(es.len(), 6, "{es:?}"),
        other => panic!("expected a replay, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// 3. Regular users
// ---------------------------------------------------------------------------------------

async fn regular_users_run_scripts_and_see_only_their_own_jobs(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    let (a, bb) = (alice.access(), bob.access());

    // No shell commands for regular users, and nothing is stored.
    assert_eq!(list(&app, &admin, "").await.count, 0);
    assert_status(
        app.post(
            "/jobs/",
            Some(a),
            &json!({ "name": "sneaky", "type": "command", "command": "id" }),
        )
        .await,
        403,
    )
    .await;
    assert_eq!(
        list(&app, &admin, "").await.count,
        0,
        "a refused job is not stored"
    );

    // Scripts and HTTP calls are allowed, and run.
    let a1 = create(&app, a, script("a1", "noop", json!({}))).await;
    let a2 = create(&app, a, script("a2", "echo", json!({ "who": "alice" }))).await;
    let a3 = create(
        &app,
        a,
        json!({
            "name": "hook", "type": "api_post", "command": "http://127.0.0.1:9/hook",
            "run_at": in_an_hour()
        }),
    )
    .await;
    for j in [&a1, &a2, &a3] {
        assert_eq!(j["owner_id"], alice.id, "{j}");
    }
    assert_eq!(a3["type"], "api_post");
    assert_eq!(a3["status"], "pending");
    wait_for_status(&app, a, id_of(&a1), "done").await;
    let a2_done = wait_for_status(&app, a, id_of(&a2), "done").await;
    assert_eq!(
        result_json(&a2_done),
        Some(json!({ "who": "alice" })),
        "{a2_done}"
    );
    let b1 = create(&app, bb, script("b1", "noop", json!({}))).await;
    assert_eq!(b1["owner_id"], bob.id);
    let admins = create(
        &app,
        &admin,
        json!({ "name": "admin's", "type": "command", "command": "true" }),
    )
    .await;

    // Each regular user lists only their own jobs, filters included.
    let alices = list(&app, a, "").await;
    assert_eq!(alices.count, 3);
    assert_eq!(alices.ids, vec![id_of(&a3), id_of(&a2), id_of(&a1)]);
    assert!(alices.data.iter().all(|j| j["owner_id"] == alice.id));
    let bobs = list(&app, bb, "").await;
    assert_eq!((bobs.count, bobs.ids), (1, vec![id_of(&b1)]));
    let bobs_pending = list(&app, bb, "?status=pending").await;
    assert_eq!(bobs_pending.count, 0, "alice's pending job is not bob's to see");
    assert!(bobs_pending.ids.is_empty());
    // The superuser sees everyone's.
    let all = list(&app, &admin, "").await;
    assert_eq!(all.count, 5);
    assert_eq!(
        all.ids,
        vec![id_of(&admins), id_of(&b1), id_of(&a3), id_of(&a2), id_of(&a1)]
    );
    assert_eq!(get_job(&app, &admin, id_of(&a3)).await["owner_id"], alice.id);

    // Bob may not see or touch alice's job in any way; it is left exactly as it was.
    let target = id_of(&a3);
    let before = get_job(&app, a, target).await;
    let p = job_path(target);
    assert_status(app.get(&p, Some(bb)).await, 403).await;
    assert_status(app.put(&p, Some(bb), &json!({ "name": "stolen" })).await, 403).await;
    assert_status(app.delete(&p, Some(bb)).await, 403).await;
    assert_status(put_status(&app, bb, target, "cancelled").await, 403).await;
    assert_status(kill(&app, bb, target).await, 403).await;
    assert_status(app.get(&format!("{p}/log"), Some(bb)).await, 403).await;
    assert_eq!(
        get_job(&app, a, target).await,
        before,
        "refused calls changed nothing"
    );
    // The superuser may.
    let renamed = assert_status(
        app.put(&p, Some(&admin), &json!({ "name": "renamed" })).await,
        200,
    )
    .await;
    assert_eq!(renamed["name"], "renamed");
    assert_eq!(
        renamed["owner_id"], alice.id,
        "a superuser's edit keeps the owner"
    );
    // And alice may not see the superuser's job.
    assert_status(app.get(&job_path(id_of(&admins)), Some(a)).await, 403).await;
}

// ---------------------------------------------------------------------------------------
// 4. The authorisation table
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Actor {
    Anonymous,
    Owner,
    Other,
    Superuser,
}

const ACTORS: [Actor; 4] = [Actor::Anonymous, Actor::Owner, Actor::Other, Actor::Superuser];

/// One endpoint. In `path`, `{job}` is the owner's long-lived pending job, `{fresh}` a new
/// pending job of the owner's made for each request (for calls that end or delete it), and
/// `{missing}` an id nobody has. In `body`, `{uniq}` is a fresh string and `{run_at}` an
/// hour from now.
struct Row {
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
    /// Anonymous, owner, other user, superuser; 200 means any success.
    expect: [u16; 4],
}

fn row(method: Method, path: &'static str, body: Option<&'static str>, expect: [u16; 4]) -> Row {
    Row {
        method,
        path,
        body,
        expect,
    }
}

fn jobs_table() -> Vec<Row> {
    const SCRIPT: &str = r#"{"name":"s {uniq}","type":"script","command":"noop"}"#;
    const API_POST: &str =
        r#"{"name":"p {uniq}","type":"api_post","command":"http://127.0.0.1:9/x","run_at":"{run_at}"}"#;
    const COMMAND: &str = r#"{"name":"c {uniq}","type":"command","command":"true"}"#;
    vec![
        // The list: anyone signed in (each sees their own; checked below).
        row(Method::GET, "/jobs/", None, [401, 200, 200, 200]),
        row(
            Method::GET,
            "/jobs/?status=pending&limit=10",
            None,
            [401, 200, 200, 200],
        ),
        // Creation: scripts and HTTP calls for anyone signed in, commands for superusers.
        row(Method::POST, "/jobs/", Some(SCRIPT), [401, 200, 200, 200]),
        row(Method::POST, "/jobs/", Some(API_POST), [401, 200, 200, 200]),
        row(Method::POST, "/jobs/", Some(COMMAND), [401, 403, 403, 200]),
        // One job: its owner or a superuser.
        row(Method::GET, "/jobs/{job}", None, [401, 200, 403, 200]),
        row(
            Method::PUT,
            "/jobs/{job}",
            Some(r#"{"name":"renamed {uniq}"}"#),
            [401, 200, 403, 200],
        ),
        row(Method::GET, "/jobs/{job}/log", None, [401, 200, 403, 200]),
        row(
            Method::GET,
            "/jobs/{job}/log?offset=0",
            None,
            [401, 200, 403, 200],
        ),
        // The permission is checked before the state: another user learns nothing.
        row(
            Method::PUT,
            "/jobs/{job}/status",
            Some(r#"{"status":"done"}"#),
            [401, 409, 403, 409],
        ),
        row(
            Method::PUT,
            "/jobs/{fresh}/status",
            Some(r#"{"status":"cancelled"}"#),
            [401, 200, 403, 200],
        ),
        row(Method::POST, "/jobs/{fresh}/kill", None, [401, 200, 403, 200]),
        row(Method::DELETE, "/jobs/{fresh}", None, [401, 200, 403, 200]),
        // A job that does not exist.
        row(Method::GET, "/jobs/{missing}", None, [401, 404, 404, 404]),
        row(
            Method::PUT,
            "/jobs/{missing}",
            Some(r#"{"name":"x"}"#),
            [401, 404, 404, 404],
        ),
        row(Method::DELETE, "/jobs/{missing}", None, [401, 404, 404, 404]),
        row(Method::POST, "/jobs/{missing}/kill", None, [401, 404, 404, 404]),
        row(Method::GET, "/jobs/{missing}/log", None, [401, 404, 404, 404]),
        row(
            Method::PUT,
            "/jobs/{missing}/status",
            Some(r#"{"status":"queued"}"#),
            [401, 404, 404, 404],
        ),
        // Consumers: superusers only (stop, then start again: the queue ends as it began).
        row(
            Method::POST,
            "/jobs/stop-consumer",
            Some(r#"{"queue_name":"reserved"}"#),
            [401, 403, 403, 200],
        ),
        row(
            Method::POST,
            "/jobs/start-consumer",
            Some(r#"{"queue_name":"reserved"}"#),
            [401, 403, 403, 200],
        ),
    ]
}

fn uniq() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

async fn every_jobs_endpoint_from_every_side(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let owner = app.create_and_login("owner").await;
    let other = app.create_and_login("other").await;
    let admin = app.admin_token().await;
    let job_id = id_of(&create(&app, owner.access(), delayed("owned")).await);

    let mut failures: Vec<String> = Vec::new();
    let mut checked = 0;
    for row in jobs_table() {
        for (actor, &expected) in ACTORS.iter().zip(row.expect.iter()) {
            let fresh = if row.path.contains("{fresh}") {
                Some(id_of(&create(&app, owner.access(), delayed("fresh")).await))
            } else {
                None
            };
            let path = row
                .path
                .replace("{job}", &job_id.to_string())
                .replace("{fresh}", &fresh.unwrap_or_default().to_string())
                .replace("{missing}", "987654321");
            let (token, caller_id) = match actor {
                Actor::Anonymous => (None, None),
                Actor::Owner => (Some(owner.access()), Some(owner.id)),
                Actor::Other => (Some(other.access()), Some(other.id)),
                Actor::Superuser => (Some(admin.as_str()), None),
            };
            let mut req = app.client.request(row.method.clone(), app.api(&path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(template) = row.body {
                req = req.header("content-type", "application/json").body(
                    template
                        .replace("{uniq}", &uniq())
                        .replace("{run_at}", &in_an_hour()),
                );
            }
            let resp = req.send().await.expect("request failed to send");
            checked += 1;
            let label = format!("{} {} as {actor:?}", row.method, row.path);
            let Some((status, body)) = check_cell(resp, &label, expected, &mut failures).await else {
                continue;
            };
            let success = (200..300).contains(&status);
            // Reads of the owner's job answer with that job.
            if success && row.method == Method::GET && row.path == "/jobs/{job}" && body["id"] != job_id {
                failures.push(format!("{label}: answered with another job: {body}"));
            }
            // A regular user's list holds only their own jobs; the superuser's holds the owner's.
            let is_list =
                row.method == Method::GET && (row.path == "/jobs/" || row.path.starts_with("/jobs/?"));
            if success && is_list {
                let data = body["data"].as_array().cloned().unwrap_or_default();
                match caller_id {
                    Some(me) => {
                        if let Some(j) = data.iter().find(|j| j["owner_id"] != me) {
                            failures.push(format!("{label}: lists a job of someone else: {j}"));
                        }
                    }
                    None => {
                        if !data.iter().any(|j| j["id"] == job_id) {
                            failures.push(format!(
                                "{label}: the superuser does not see the owner's job: {body}"
                            ));
                        }
                    }
                }
            }
            // Jobs are created for the caller.
            if success && row.method == Method::POST && row.path == "/jobs/" {
                let owner_ok = match caller_id {
                    Some(me) => body["owner_id"] == me,
                    None => {
                        body["owner_id"].is_i64()
                            && body["owner_id"] != owner.id
                            && body["owner_id"] != other.id
                    }
                };
                if !owner_ok {
                    failures.push(format!("{label}: not owned by the caller: {body}"));
                }
            }
            // What happened to the fresh job: refused calls left it alone, allowed ones acted.
            if let Some(id) = fresh {
                let after = app.get(&job_path(id), Some(&admin)).await;
                let after_status = after.status().as_u16();
                let after_body: Value = after.json().await.unwrap_or(Value::Null);
                let state = if after_status == 404 {
                    "deleted".to_string()
                } else {
                    after_body["status"].as_str().unwrap_or("?").to_string()
                };
                let wanted = if !success {
                    "pending"
                } else if row.method == Method::DELETE {
                    "deleted"
                } else {
                    "cancelled"
                };
                if state != wanted {
                    failures.push(format!(
                        "{label}: the job is {state} afterwards, expected {wanted}"
                    ));
                }
            }
        }
    }
    assert_eq!(checked, jobs_table().len() * ACTORS.len());
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The owner's job is still theirs, still waiting, renamed by the allowed updates only.
    let job = get_job(&app, owner.access(), job_id).await;
    assert_eq!(job["owner_id"], owner.id);
    assert_eq!(job["status"], "pending");
    assert!(job["name"].as_str().unwrap().starts_with("renamed "), "{job}");
}

// ---------------------------------------------------------------------------------------
// 5. Validation
// ---------------------------------------------------------------------------------------

/// A valid `JobCreate` with each `(field, value)` set (or removed when `value` is None).
fn job_create_with(changes: &[(&str, Option<Value>)]) -> Value {
    let mut body = json!({ "name": "valid", "type": "script", "command": "noop" });
    let obj = body.as_object_mut().unwrap();
    for (field, value) in changes {
        match value {
            Some(v) => {
                obj.insert((*field).to_string(), v.clone());
            }
            None => {
                obj.remove(*field);
            }
        }
    }
    body
}

async fn bad_job_input_names_the_field_and_changes_nothing(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;

    let s = |v: &str| Some(json!(v));
    let create_cases: Vec<(Value, &str)> = vec![
        (job_create_with(&[("type", s("shell"))]), "type"),
        (job_create_with(&[("type", Some(json!(3)))]), "type"),
        (job_create_with(&[("type", None)]), "type"),
        (job_create_with(&[("priority", s("urgent"))]), "priority"),
        (job_create_with(&[("queue_name", s("nope"))]), "queue_name"),
        (job_create_with(&[("name", s(""))]), "name"),
        (job_create_with(&[("name", s("   "))]), "name"),
        (job_create_with(&[("name", Some(json!("x".repeat(201))))]), "name"),
        (job_create_with(&[("name", None)]), "name"),
        (job_create_with(&[("command", s(""))]), "command"),
        (job_create_with(&[("command", None)]), "command"),
        // A script job must name a registered script.
        (
            job_create_with(&[("type", s("script")), ("command", s("no_such_script"))]),
            "command",
        ),
        (
            job_create_with(&[("type", s("api_post")), ("command", s("ftp://example.com/x"))]),
            "command",
        ),
        (job_create_with(&[("meta", Some(json!([1])))]), "meta"),
        (job_create_with(&[("meta", s("text"))]), "meta"),
        (
            job_create_with(&[("max_attempts", Some(json!(0)))]),
            "max_attempts",
        ),
        (
            job_create_with(&[("max_attempts", Some(json!(101)))]),
            "max_attempts",
        ),
        (job_create_with(&[("max_attempts", s("three"))]), "max_attempts"),
        (
            job_create_with(&[("timeout_secs", Some(json!(0)))]),
            "timeout_secs",
        ),
        (
            job_create_with(&[("timeout_secs", Some(json!(604_801)))]),
            "timeout_secs",
        ),
        (job_create_with(&[("run_at", s("tomorrow"))]), "run_at"),
        (
            job_create_with(&[("run_at", s("2030-02-30T00:00:00Z"))]),
            "run_at",
        ),
        (job_create_with(&[("run_at", Some(json!(12345)))]), "run_at"),
        (job_create_with(&[("unique_key", s(""))]), "unique_key"),
        (job_create_with(&[("colour", s("red"))]), "colour"),
        // Clients do not choose the state or the owner.
        (job_create_with(&[("status", s("done"))]), "status"),
        (job_create_with(&[("owner_id", Some(json!(1)))]), "owner_id"),
    ];
    for (body, field) in create_cases {
        let resp = app.post("/jobs/", Some(&admin), &body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            status, 422,
            "{body}: expected 422 naming {field}, got {status}: {text}"
        );
        assert_validation_detail(&parsed, &["body", field]);
    }
    // Not JSON, or not an object: the location is the body.
    for raw in ["{\"name\": ", "[]", ""] {
        let resp = app
            .send_raw(
                Method::POST,
                "/jobs/",
                Some(&admin),
                Some("application/json"),
                raw,
            )
            .await;
        let body = assert_status(resp, 422).await;
        assert_eq!(body["detail"][0]["loc"][0], "body", "{raw:?}: {body}");
    }
    // The limits themselves are accepted.
    let edge = create(
        &app,
        &admin,
        job_create_with(&[
            ("max_attempts", Some(json!(100))),
            ("timeout_secs", Some(json!(604_800))),
            ("run_at", Some(json!(in_an_hour()))),
        ]),
    )
    .await;
    assert_eq!(
        (edge["max_attempts"].clone(), edge["timeout_secs"].clone()),
        (json!(100), json!(604_800))
    );
    assert_eq!(
        list(&app, &admin, "").await.count,
        1,
        "no refused request created a job"
    );

    // Query parameters of the list.
    for (query, param) in [
        ("status=bogus", "status"),
        ("priority=urgent", "priority"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("name=a%00b", "name"),
    ] {
        let body = assert_status(app.get(&format!("/jobs/?{query}"), Some(&admin)).await, 422).await;
        assert_validation_detail(&body, &["query", param]);
    }
    for ok in [
        "status=pending",
        "priority=normal",
        "limit=1",
        "limit=1000",
        "offset=5",
    ] {
        assert_status(app.get(&format!("/jobs/?{ok}"), Some(&admin)).await, 200).await;
    }

    // Path ids.
    for id in ["abc", "1.5", "99999999999999999999"] {
        let p = format!("/jobs/{id}");
        let loc = ["path", "job_id"];
        assert_422(app.get(&p, Some(&admin)).await, &loc).await;
        assert_422(app.put(&p, Some(&admin), &json!({ "name": "x" })).await, &loc).await;
        assert_422(app.delete(&p, Some(&admin)).await, &loc).await;
        assert_422(app.get(&format!("{p}/log"), Some(&admin)).await, &loc).await;
        assert_422(app.post_empty(&format!("{p}/kill"), Some(&admin)).await, &loc).await;
        assert_422(
            app.put(
                &format!("{p}/status"),
                Some(&admin),
                &json!({ "status": "cancelled" }),
            )
            .await,
            &loc,
        )
        .await;
    }

    // Updates, status changes and log offsets on a waiting job: refused, and nothing changes.
    let id = id_of(&edge);
    let before = get_job(&app, &admin, id).await;
    let update_cases: Vec<(Value, &str)> = vec![
        (json!({ "priority": "urgent" }), "priority"),
        (json!({ "queue_name": "nope" }), "queue_name"),
        (json!({ "name": "" }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "meta": [1] }), "meta"),
        (json!({ "max_attempts": 0 }), "max_attempts"),
        (json!({ "max_attempts": 101 }), "max_attempts"),
        (json!({ "timeout_secs": 0 }), "timeout_secs"),
        (json!({ "run_at": "soon" }), "run_at"),
        (json!({ "command": "rm -rf /" }), "command"),
        (json!({ "status": "done" }), "status"),
        (json!({ "owner_id": 1 }), "owner_id"),
    ];
    for (body, field) in update_cases {
        let answer = assert_status(app.put(&job_path(id), Some(&admin), &body).await, 422).await;
        assert_validation_detail(&answer, &["body", field]);
    }
    for body in [json!({ "status": "bogus" }), json!({ "status": 1 }), json!({})] {
        let answer = assert_status(
            app.put(&format!("/jobs/{id}/status"), Some(&admin), &body).await,
            422,
        )
        .await;
        assert_validation_detail(&answer, &["body", "status"]);
    }
    for query in ["offset=-1", "offset=abc"] {
        let answer = assert_status(
            app.get(&format!("/jobs/{id}/log?{query}"), Some(&admin)).await,
            422,
        )
        .await;
        assert_validation_detail(&answer, &["query", "offset"]);
    }
    assert_eq!(
        get_job(&app, &admin, id).await,
        before,
        "refused calls changed nothing"
    );

    // Consumers: only known queues.
    for action in ["stop", "start"] {
        let p = format!("/jobs/{action}-consumer");
        assert_422(
            app.post(&p, Some(&admin), &json!({ "queue_name": "nope" })).await,
            &["body", "queue_name"],
        )
        .await;
        assert_422(
            app.post(&p, Some(&admin), &json!({ "queue_name": 7 })).await,
            &["body", "queue_name"],
        )
        .await;
        assert_422(
            app.post(&p, Some(&admin), &json!({ "queue": "default" })).await,
            &["body", "queue"],
        )
        .await;
    }
    // Nothing was paused by the refused calls: a new job runs.
    let runs = create(&app, &admin, script("runs", "noop", json!({}))).await;
    wait_for_status(&app, &admin, id_of(&runs), "done").await;
}

// ---------------------------------------------------------------------------------------
// 6. Kill
// ---------------------------------------------------------------------------------------

async fn a_killed_job_ends_cancelled(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let a = alice.access();

    // A running script, killed by its owner.
    let nap = create(&app, a, script("long nap", "sleep", json!({ "seconds": 30 }))).await;
    let id = id_of(&nap);
    wait_for_status(&app, a, id, "running").await;
    let asked = Instant::now();
    let answer = assert_status(kill(&app, a, id).await, 200).await;
    assert_job_public(&answer);
    assert_eq!(answer["id"], id);
    let killed = wait_for_status(&app, a, id, "cancelled").await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the kill took {:?}",
        asked.elapsed()
    );
    assert_eq!(killed["error"], "killed", "{killed}");
    assert_eq!(killed["attempts"], 1, "a kill does not retry: {killed}");
    assert!(
        killed["finished_at"].is_string() && killed["result"].is_null(),
        "{killed}"
    );
    // An ended job cannot be killed again, and stays as it was.
    assert_status(kill(&app, a, id).await, 409).await;
    assert_eq!(get_job(&app, a, id).await, killed);

    // A running shell command (with its process), killed by a superuser.
    let cmd = create(
        &app,
        &admin,
        json!({ "name": "slow", "type": "command", "command": "echo started; sleep 30; echo never" }),
    )
    .await;
    let cmd_id = id_of(&cmd);
    wait_for_status(&app, &admin, cmd_id, "running").await;
    let asked = Instant::now();
    assert_status(kill(&app, &admin, cmd_id).await, 200).await;
    let killed_cmd = wait_for_status(&app, &admin, cmd_id, "cancelled").await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the kill took {:?}",
        asked.elapsed()
    );
    assert_eq!(killed_cmd["error"], "killed", "{killed_cmd}");
    let log = read_log(&app, &admin, cmd_id, None).await;
    assert!(!log["content"].as_str().unwrap().contains("never"), "{log}");
    assert_eq!(log["finished"], true);

    // A waiting job is cancelled without ever running.
    let later = create(&app, a, delayed("not yet")).await;
    assert_eq!(later["status"], "pending");
    let cancelled = assert_status(kill(&app, a, id_of(&later)).await, 200).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let after = get_job(&app, a, id_of(&later)).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["attempts"], 0);
    assert!(after["started_at"].is_null(), "{after}");
    assert_status(kill(&app, a, id_of(&later)).await, 409).await;
}

// ---------------------------------------------------------------------------------------
// 7. Retry and the allowed status changes
// ---------------------------------------------------------------------------------------

async fn failed_jobs_retry_and_only_allowed_transitions_pass(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;

    let job = create(
        &app,
        &admin,
        json!({ "name": "exit four", "type": "command", "command": "exit 4", "max_attempts": 1 }),
    )
    .await;
    let id = id_of(&job);
    let failed = wait_for_status(&app, &admin, id, "failed").await;
    assert_eq!(failed["exit_code"], 4, "{failed}");
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{failed}"
    );

    // Only `queued` moves a failed job.
    for refused in ["done", "running", "pending", "cancelled", "failed"] {
        assert_status(put_status(&app, &admin, id, refused).await, 409).await;
    }
    assert_eq!(
        get_job(&app, &admin, id).await,
        failed,
        "refused changes changed nothing"
    );

    // Retry: back in the queue with a fresh set of attempts, then it runs (and fails) again.
    let retried = assert_status(put_status(&app, &admin, id, "queued").await, 200).await;
    assert_job_public(&retried);
    assert_eq!(retried["status"], "queued", "{retried}");
    assert_eq!(retried["attempts"], 0, "{retried}");
    for k in ["exit_code", "error", "finished_at"] {
        assert!(retried[k].is_null(), "{k} is cleared by a retry: {retried}");
    }
    let again = wait_for_status(&app, &admin, id, "failed").await;
    assert_eq!(again["attempts"], 1, "{again}");
    assert_eq!(again["exit_code"], 4, "{again}");
    assert!(
        parse_time(&again, "finished_at") >= parse_time(&failed, "finished_at"),
        "{again}"
    );

    // Cancel a delayed job; cancelled is final except for a retry, which runs it now.
    let later = create(&app, &admin, delayed("later")).await;
    let later_id = id_of(&later);
    assert_eq!(later["status"], "pending");
    let cancelled = assert_status(put_status(&app, &admin, later_id, "cancelled").await, 200).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert_eq!(get_job(&app, &admin, later_id).await["status"], "cancelled");
    for refused in ["done", "cancelled", "running", "pending"] {
        assert_status(put_status(&app, &admin, later_id, refused).await, 409).await;
    }
    let requeued = assert_status(put_status(&app, &admin, later_id, "queued").await, 200).await;
    assert_eq!(requeued["status"], "queued", "{requeued}");
    let ran = wait_for_status(&app, &admin, later_id, "done").await;
    assert_eq!(ran["attempts"], 1);

    // A job that succeeded can be neither retried nor cancelled.
    for refused in ["queued", "cancelled", "failed"] {
        assert_status(put_status(&app, &admin, later_id, refused).await, 409).await;
    }
    assert_eq!(get_job(&app, &admin, later_id).await, ran);
}

// ---------------------------------------------------------------------------------------
// 8. Consumers
// ---------------------------------------------------------------------------------------

async fn a_stopped_consumer_leaves_its_queue_alone(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;

    // Regular users may neither stop nor start a consumer.
    for action in ["stop", "start"] {
        assert_status(
            app.post(
                &format!("/jobs/{action}-consumer"),
                Some(alice.access()),
                &json!({ "queue_name": "default" }),
            )
            .await,
            403,
        )
        .await;
    }
    // The refused stop changed nothing: a job runs.
    let first = create(&app, alice.access(), script("first", "noop", json!({}))).await;
    wait_for_status(&app, alice.access(), id_of(&first), "done").await;

    consumer(&app, &admin, "stop", "default").await;
    consumer(&app, &admin, "stop", "default").await; // stopping twice is harmless
    let held = create(&app, alice.access(), script("held", "noop", json!({}))).await;
    assert_eq!(held["status"], "queued");
    // The other queue still runs.
    let elsewhere = create(
        &app,
        &admin,
        json!({ "name": "elsewhere", "type": "script", "command": "noop", "queue_name": "reserved" }),
    )
    .await;
    wait_for_status(&app, &admin, id_of(&elsewhere), "done").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = get_job(&app, &admin, id_of(&held)).await;
    assert_eq!(
        still["status"], "queued",
        "a stopped consumer claims nothing: {still}"
    );
    assert_eq!(still["attempts"], 0);
    assert!(still["started_at"].is_null(), "{still}");

    consumer(&app, &admin, "start", "default").await;
    let done = wait_for_status(&app, &admin, id_of(&held), "done").await;
    assert_eq!(done["attempts"], 1);
}

// ---------------------------------------------------------------------------------------
// 9. Conflicts
// ---------------------------------------------------------------------------------------

async fn unique_keys_and_state_conflicts(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;

    // One live job per unique key.
    let mut keyed = delayed("nightly");
    keyed["unique_key"] = json!("nightly-report");
    let first = create(&app, &admin, keyed.clone()).await;
    assert_eq!(first["unique_key"], "nightly-report");
    assert_status(app.post("/jobs/", Some(&admin), &keyed).await, 409).await;
    let mut other_key = delayed("other");
    other_key["unique_key"] = json!("weekly-report");
    create(&app, &admin, other_key).await;
    assert_eq!(
        list(&app, &admin, "").await.count,
        2,
        "the duplicate was not stored"
    );
    // Once the first is no longer live, the key is free again.
    assert_status(put_status(&app, &admin, id_of(&first), "cancelled").await, 200).await;
    let second = create(&app, &admin, keyed).await;
    assert_ne!(second["id"], first["id"]);

    // A running job can be neither deleted, changed nor cancelled: kill it first.
    let nap = create(&app, &admin, script("nap", "sleep", json!({ "seconds": 30 }))).await;
    let nap_id = id_of(&nap);
    let running = wait_for_status(&app, &admin, nap_id, "running").await;
    assert_status(app.delete(&job_path(nap_id), Some(&admin)).await, 409).await;
    assert_status(
        app.put(&job_path(nap_id), Some(&admin), &json!({ "name": "renamed" }))
            .await,
        409,
    )
    .await;
    assert_status(put_status(&app, &admin, nap_id, "cancelled").await, 409).await;
    let unchanged = get_job(&app, &admin, nap_id).await;
    assert_eq!(
        (&unchanged["status"], &unchanged["name"], &unchanged["started_at"]),
        (&running["status"], &running["name"], &running["started_at"])
    );
    assert_status(kill(&app, &admin, nap_id).await, 200).await;
    wait_for_status(&app, &admin, nap_id, "cancelled").await;
    assert_status(app.delete(&job_path(nap_id), Some(&admin)).await, 200).await;
    assert_status(app.get(&job_path(nap_id), Some(&admin)).await, 404).await;

    // A finished job cannot be changed.
    let quick = create(&app, &admin, script("quick", "noop", json!({}))).await;
    let done = wait_for_status(&app, &admin, id_of(&quick), "done").await;
    assert_status(
        app.put(
            &job_path(id_of(&quick)),
            Some(&admin),
            &json!({ "priority": "high" }),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(get_job(&app, &admin, id_of(&quick)).await, done);

    // A queued job can (its consumer stopped so that it stays queued).
    consumer(&app, &admin, "stop", "default").await;
    let low = create(
        &app,
        &admin,
        json!({ "name": "low", "type": "script", "command": "echo", "priority": "low" }),
    )
    .await;
    assert_eq!(
        (low["status"].as_str(), low["priority"].as_str()),
        (Some("queued"), Some("low"))
    );
    let changes =
        json!({ "priority": "highest", "name": "urgent now", "meta": { "k": "v" }, "max_attempts": 5 });
    let updated = assert_status(app.put(&job_path(id_of(&low)), Some(&admin), &changes).await, 200).await;
    assert_job_public(&updated);
    assert_eq!(updated["priority"], "highest", "{updated}");
    assert_eq!(updated["name"], "urgent now");
    assert_eq!(updated["meta"], json!({ "k": "v" }));
    assert_eq!(updated["max_attempts"], 5);
    assert_eq!(updated["status"], "queued");
    assert_eq!(get_job(&app, &admin, id_of(&low)).await, updated);
    // A waiting job moved to now is ready at once.
    let waiting = create(&app, &admin, delayed("moved")).await;
    let moved = assert_status(
        app.put(
            &job_path(id_of(&waiting)),
            Some(&admin),
            &json!({ "run_at": rfc3339(Utc::now() - chrono::Duration::seconds(1)) }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["status"], "queued", "{moved}");
    // Both run once the consumer is back, with the changed input.
    consumer(&app, &admin, "start", "default").await;
    let ran = wait_for_status(&app, &admin, id_of(&low), "done").await;
    assert_eq!(result_json(&ran), Some(json!({ "k": "v" })), "{ran}");
    wait_for_status(&app, &admin, id_of(&waiting), "done").await;
}

// ---------------------------------------------------------------------------------------
// 10. Filters and pages
// ---------------------------------------------------------------------------------------

async fn the_list_filters_and_pages_newest_first(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;

    // One finished job, then the consumers stop so that the rest stay as created.
    let finished = id_of(&create(&app, &admin, script("finished", "noop", json!({}))).await);
    wait_for_status(&app, &admin, finished, "done").await;
    consumer(&app, &admin, "stop", "default").await;
    consumer(&app, &admin, "stop", "reserved").await;
    let mut ids = Vec::new();
    for (name, queue, priority) in [
        ("j1", "default", "normal"),
        ("j2", "default", "high"),
        ("j3", "reserved", "low"),
        ("j4", "default", "high"),
        ("j5", "reserved", "high"),
    ] {
        let job = create(
            &app,
            &admin,
            json!({ "name": name, "type": "script", "command": "noop", "queue_name": queue, "priority": priority }),
        )
        .await;
        assert_eq!(
            (
                job["status"].as_str(),
                job["queue_name"].as_str(),
                job["priority"].as_str()
            ),
            (Some("queued"), Some(queue), Some(priority)),
            "{job}"
        );
        ids.push(id_of(&job));
    }
    let (j1, j2, j3, j4, j5) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let later = id_of(&create(&app, &admin, delayed("later")).await);

    let all = list(&app, &admin, "").await;
    assert_eq!(all.count, 7);
    assert_eq!(all.ids, vec![later, j5, j4, j3, j2, j1, finished], "newest first");

    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("?status=queued", vec![j5, j4, j3, j2, j1]),
        ("?status=done", vec![finished]),
        ("?status=pending", vec![later]),
        ("?status=running", vec![]),
        ("?queue_name=reserved", vec![j5, j3]),
        ("?queue_name=default", vec![later, j4, j2, j1, finished]),
        ("?priority=high", vec![j5, j4, j2]),
        ("?priority=normal", vec![later, j1, finished]),
        ("?priority=lowest", vec![]),
        ("?queue_name=default&priority=high&status=queued", vec![j4, j2]),
        ("?status=queued&queue_name=reserved&priority=low", vec![j3]),
        // Name contains, any case; LIKE's wildcards are taken literally.
        ("?name=J4", vec![j4]),
        ("?name=j", vec![j5, j4, j3, j2, j1]),
        ("?name=ATE", vec![later]),
        ("?name=%25", vec![]),
        ("?name=_", vec![]),
        ("?name=fin&status=done", vec![finished]),
    ];
    for (query, expected) in cases {
        let got = list(&app, &admin, query).await;
        assert_eq!(got.count, expected.len() as i64, "{query}: count");
        assert_eq!(got.ids, expected, "{query}");
    }

    // Pages: count is the total that match, not the page size.
    let pages: Vec<(&str, i64, Vec<i64>)> = vec![
        ("?limit=2", 7, all.ids[..2].to_vec()),
        ("?limit=2&offset=2", 7, all.ids[2..4].to_vec()),
        ("?offset=6", 7, all.ids[6..].to_vec()),
        ("?offset=100", 7, vec![]),
        ("?limit=1000", 7, all.ids.clone()),
        ("?status=queued&limit=1&offset=1", 5, vec![j4]),
        ("?priority=high&offset=2&limit=5", 3, vec![j2]),
    ];
    for (query, count, expected) in pages {
        let got = list(&app, &admin, query).await;
        assert_eq!((got.count, got.ids), (count, expected), "{query}");
    }

    // Nothing ran meanwhile, and starting the consumers runs them all.
    assert_eq!(list(&app, &admin, "?status=queued").await.count, 5);
    consumer(&app, &admin, "start", "default").await;
    consumer(&app, &admin, "start", "reserved").await;
    for id in [j1, j2, j3, j4, j5] {
        wait_for_status(&app, &admin, id, "done").await;
    }
    let done = list(&app, &admin, "?status=done").await;
    assert_eq!(done.ids, vec![j5, j4, j3, j2, j1, finished]);
}

// ---------------------------------------------------------------------------------------
// 10. Bulk actions
// ---------------------------------------------------------------------------------------

async fn bulk(app: &TestApp, token: Option<&str>, action: &str, ids: &[i64]) -> reqwest::Response {
    app.post("/jobs/bulk", token, &json!({ "action": action, "ids": ids }))
        .await
}

/// The ids in a bulk answer's `done`, and the (id → reason) of its `skipped`.
fn bulk_parts(body: &Value) -> (Vec<i64>, Vec<(i64, String)>) {
    let done = body["done"]
        .as_array()
        .unwrap_or_else(|| panic!("no done: {body}"))
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let skipped = body["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("no skipped: {body}"))
        .iter()
        .map(|s| {
            (
                s["id"].as_i64().unwrap(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (done, skipped)
}

async fn bulk_actions_touch_only_the_callers_jobs_in_the_right_state(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    let a = alice.access();

    // Alice: two waiting jobs, one running, one that failed (an HTTP call to a closed port).
    let w1 = id_of(&create(&app, a, delayed("wait 1")).await);
    let w2 = id_of(&create(&app, a, delayed("wait 2")).await);
    let run = id_of(&create(&app, a, script("nap", "sleep", json!({ "seconds": 30 }))).await);
    let fail = id_of(
        &create(
            &app,
            a,
            json!({ "name": "refused", "type": "api_post", "command": "http://127.0.0.1:9/x", "max_attempts": 1 }),
        )
        .await,
    );
    wait_for_status(&app, a, run, "running").await;
    wait_for_status(&app, a, fail, "failed").await;
    // Bob's job.
    let bobs = id_of(&create(&app, bob.access(), delayed("bob's")).await);
    let all = [w1, w2, run, fail, bobs];
    let statuses = |ids: Vec<i64>| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let mut out = Vec::new();
            for id in ids {
                let r = app.get(&job_path(id), Some(&admin)).await;
                out.push(match r.status().as_u16() {
                    404 => "deleted".to_string(),
                    _ => r.json::<Value>().await.unwrap()["status"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                });
            }
            out
        }
    };
    let before = statuses(all.to_vec()).await;
    assert_eq!(before, ["pending", "pending", "running", "failed", "pending"]);

    // Refused outright, changing nothing: anonymous, bad action, no ids, too many, bad shape.
    assert_status(bulk(&app, None, "delete", &all).await, 401).await;
    let e = assert_status(bulk(&app, Some(a), "explode", &all).await, 422).await;
    assert_eq!(e["detail"][0]["loc"], json!(["body", "action"]), "{e}");
    let e = assert_status(bulk(&app, Some(a), "delete", &[]).await, 422).await;
    assert_eq!(e["detail"][0]["loc"], json!(["body", "ids"]), "{e}");
    let many: Vec<i64> = (1..=501).collect();
    let e = assert_status(bulk(&app, Some(a), "delete", &many).await, 422).await;
    assert_eq!(e["detail"][0]["loc"], json!(["body", "ids"]), "{e}");
    let e = assert_status(
        app.post(
            "/jobs/bulk",
            Some(a),
            &json!({ "action": "delete", "ids": ["one"] }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(e["detail"][0]["loc"], json!(["body", "ids[0]"]), "{e}");
    assert_eq!(statuses(all.to_vec()).await, before);

    // Bob may touch none of Alice's jobs: all skipped, nothing changed.
    for action in ["retry", "kill", "delete"] {
        let body = assert_status(bulk(&app, Some(bob.access()), action, &all[..4]).await, 200).await;
        let (done, skipped) = bulk_parts(&body);
        assert!(done.is_empty(), "{action}: {body}");
        assert_eq!(
            skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
            all[..4],
            "{body}"
        );
        assert!(skipped.iter().all(|s| s.1.contains("permission")), "{body}");
    }
    assert_eq!(statuses(all.to_vec()).await, before);

    // Alice retries everything: only the failed job moves; the others say why not.
    let body = assert_status(bulk(&app, Some(a), "retry", &all).await, 200).await;
    let (done, skipped) = bulk_parts(&body);
    assert_eq!(done, [fail], "{body}");
    let skipped_ids: Vec<i64> = skipped.iter().map(|s| s.0).collect();
    assert_eq!(skipped_ids, [w1, w2, run, bobs], "{body}");
    assert!(skipped[0].1.contains("cannot move"), "{body}");
    wait_for_status(&app, a, fail, "failed").await;

    // Kill (a duplicate id counts once): the waiting and running ones end cancelled,
    // together; the failed one is refused; Bob's is not hers.
    let asked = Instant::now();
    let body = assert_status(bulk(&app, Some(a), "kill", &[w1, run, w1, fail, bobs]).await, 200).await;
    let (done, skipped) = bulk_parts(&body);
    assert_eq!(done, [w1, run], "{body}");
    assert_eq!(
        skipped.iter().map(|s| s.0).collect::<Vec<_>>(),
        [fail, bobs],
        "{body}"
    );
    assert!(asked.elapsed() < Duration::from_secs(5), "{:?}", asked.elapsed());
    assert_eq!(
        statuses(all.to_vec()).await,
        ["cancelled", "pending", "cancelled", "failed", "pending"]
    );

    // Delete: all of Alice's go (none is running any more), Bob's stays.
    let body = assert_status(bulk(&app, Some(a), "delete", &all).await, 200).await;
    let (done, skipped) = bulk_parts(&body);
    assert_eq!(done, [w1, w2, run, fail], "{body}");
    assert_eq!(skipped.iter().map(|s| s.0).collect::<Vec<_>>(), [bobs], "{body}");
    assert_eq!(
        statuses(all.to_vec()).await,
        ["deleted", "deleted", "deleted", "deleted", "pending"]
    );

    // The superuser may act on anyone's job; an unknown id is skipped as not found.
    let body = assert_status(bulk(&app, Some(&admin), "kill", &[bobs, 987654321]).await, 200).await;
    let (done, skipped) = bulk_parts(&body);
    assert_eq!(done, [bobs], "{body}");
    assert_eq!(skipped, [(987654321, "Job not found".to_string())], "{body}");
    assert_eq!(statuses(vec![bobs]).await, ["cancelled"]);
}

// ---------------------------------------------------------------------------------------
// 11. The end of a log, and the whole log as a file
// ---------------------------------------------------------------------------------------

async fn the_log_tail_starts_at_a_line_and_the_download_is_the_whole_log(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    // 1..30000, one per line: 168,894 bytes, more than one 64 KiB read.
    let job = create(
        &app,
        &admin,
        json!({ "name": "counting", "type": "command", "command": "seq 1 30000" }),
    )
    .await;
    let id = id_of(&job);
    wait_for_status(&app, &admin, id, "done").await;
    let whole: String = (1..=30000).map(|n| format!("{n}\n")).collect();

    // The tail: the last 64 KiB at most, from the start of a line, ending at the end.
    let tail = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true"), Some(&admin)).await,
        200,
    )
    .await;
    let content = tail["content"].as_str().unwrap();
    let offset = tail["offset"].as_u64().unwrap() as usize;
    assert!(offset > 0 && content.len() <= 64 * 1024, "{}", content.len());
    assert_eq!(tail["next_offset"].as_u64().unwrap() as usize, whole.len());
    assert_eq!(&whole[offset..], content, "the tail is the end of the log");
    assert!(whole[..offset].ends_with('\n'), "the tail starts at a line");
    assert!(content.ends_with("30000\n"));
    assert_eq!(tail["finished"], true);
    // With an offset too: refused, naming the parameter.
    let e = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true&offset=0"), Some(&admin))
            .await,
        422,
    )
    .await;
    assert_eq!(e["detail"][0]["loc"], json!(["query", "tail"]), "{e}");

    // The download: all of it, as a text file, for the bearer or the session cookie.
    let path = format!("/jobs/{id}/log/download");
    let r = app.get(&path, Some(&admin)).await;
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(
        h["content-disposition"],
        format!("attachment; filename=\"job-{id}.log\"").as_str()
    );
    assert_eq!(r.text().await.unwrap(), whole);
    let cookie = crate::server_fns::sign_in(&app, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let r = app
        .client
        .get(app.api(&path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap().len(), whole.len());
    // Nobody else's, and not without signing in.
    assert_status(app.get(&path, Some(bob.access())).await, 403).await;
    assert_status(app.get(&path, None).await, 401).await;
    assert_status(app.get("/jobs/987654321/log/download", Some(&admin)).await, 404).await;
    assert_status(app.get("/jobs/nope/log/download", Some(&admin)).await, 422).await;

    // A job that has written nothing: an empty file, and an empty tail.
    let quiet = id_of(&create(&app, bob.access(), delayed("quiet")).await);
    let r = app
        .get(&format!("/jobs/{quiet}/log/download"), Some(bob.access()))
        .await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let tail = assert_status(
        app.get(&format!("/jobs/{quiet}/log?tail=true"), Some(bob.access()))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (tail["content"].as_str(), tail["offset"].as_u64()),
        (Some(""), Some(0))
    );
}

/// Output written to a log file (SQLite's place for it, and PostgreSQL's before output went
/// to the database) is read, tailed and downloaded from the file when the database has none.
async fn a_log_file_from_before_the_database_kept_output_is_still_read(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let job = create(
        &app,
        &admin,
        json!({ "name": "old", "type": "command", "command": "echo new", "run_at": in_an_hour() }),
    )
    .await;
    let id = id_of(&job);
    let path = app.services.job_log_path(id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "first line\nsecond line\n").unwrap();
    let log = read_log(&app, &admin, id, None).await;
    assert_eq!(log["content"], "first line\nsecond line\n", "{log}");
    let from = read_log(&app, &admin, id, Some(11)).await;
    assert_eq!(from["content"], "second line\n", "{from}");
    let tail = assert_status(
        app.get(&format!("/jobs/{id}/log?tail=true"), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(tail["content"], "first line\nsecond line\n", "{tail}");
    let download = app
        .get(&format!("/jobs/{id}/log/download"), Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(download, "first line\nsecond line\n");
}
