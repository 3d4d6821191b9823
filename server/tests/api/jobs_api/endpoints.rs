//! Every jobs endpoint from every side: anonymous, the owner, another user, a superuser.

use super::*;

both_backends!(every_jobs_endpoint_from_every_side,);

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
