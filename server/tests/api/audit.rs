//! The audit log: one entry for each audited action of a run, in order, with the right
//! actor (user, key), target, outcome, address and request id; its filters and paging;
//! who may read it; and no way to change or delete an entry.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(
    each_audited_action_leaves_one_entry,
    the_audit_log_is_filtered_paged_and_read_only,
);

/// (action, actor name, target "type id", outcome) of every entry, oldest first.
async fn entries(app: &TestApp, admin: &str) -> Vec<(String, String, String, String)> {
    let page = assert_status(app.get("/audit-log/?limit=1000", Some(admin)).await, 200).await;
    let mut rows: Vec<(String, String, String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
            let target = match (e["target_type"].as_str(), e["target_id"].as_str()) {
                (Some(t), Some(id)) => format!("{t} {id}"),
                _ => "-".into(),
            };
            (s("action"), s("actor_name"), target, s("outcome"))
        })
        .collect();
    rows.reverse();
    rows
}

fn e(action: &str, actor: &str, target: &str, outcome: &str) -> (String, String, String, String) {
    (action.into(), actor.into(), target.into(), outcome.into())
}

async fn each_audited_action_leaves_one_entry(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;
    let bob = app.create_user("bob").await;
    let bob_id = id_of(&bob);
    // A failed and a successful sign-in.
    assert_status(app.login_response("bob", "wrong-password").await, 401).await;
    let bob_token = app.login("bob", USER_PASSWORD).await.access_token;
    // Reads are not audited.
    assert_status(app.get("/jobs/", Some(&bob_token)).await, 200).await;
    // Role and account changes by the superuser; a refused one by bob.
    let path = format!("/users/{bob_id}");
    assert_status(
        app.put(&path, Some(&admin), &json!({"role": "operator"})).await,
        200,
    )
    .await;
    assert_status(
        app.delete(&format!("/users/{admin_id}"), Some(&bob_token)).await,
        403,
    )
    .await;
    // A key: made, used to kill a job, revoked.
    let made = assert_status(
        app.post(
            "/api-keys/",
            Some(&bob_token),
            &json!({"name": "k", "scopes": ["jobs:write"]}),
        )
        .await,
        201,
    )
    .await;
    let key_id = made["key"]["id"].as_i64().unwrap();
    let secret = made["secret"].as_str().unwrap().to_string();
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(&bob_token),
            &json!({"name": "w", "type": "script", "command": "noop", "run_at": in_an_hour()}),
        )
        .await,
        201,
    )
    .await;
    let job_id = id_of(&job);
    let killed = app
        .post_empty(&format!("/jobs/{job_id}/kill"), Some(&secret))
        .await;
    let request_id = killed.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_status(killed, 200).await;
    assert_status(
        app.put(
            &format!("/jobs/{job_id}/status"),
            Some(&bob_token),
            &json!({"status": "queued"}),
        )
        .await,
        200,
    )
    .await;
    let waiting = assert_status(
        app.post(
            "/jobs/",
            Some(&bob_token),
            &json!({"name": "w2", "type": "script", "command": "noop", "run_at": in_an_hour()}),
        )
        .await,
        201,
    )
    .await;
    let waiting_id = id_of(&waiting);
    assert_status(
        app.put(
            &format!("/jobs/{waiting_id}/status"),
            Some(&bob_token),
            &json!({"status": "cancelled"}),
        )
        .await,
        200,
    )
    .await;
    crate::jobs_api::wait_for_status(&app, &bob_token, job_id, "done").await;
    assert_status(
        app.post(
            "/jobs/bulk",
            Some(&bob_token),
            &json!({"action": "delete", "ids": [job_id]}),
        )
        .await,
        200,
    )
    .await;
    assert_status(
        app.delete(&format!("/api-keys/{key_id}"), Some(&bob_token)).await,
        200,
    )
    .await;
    // A scheduler's life.
    let s = assert_status(
        app.post(
            "/job-schedulers/",
            Some(&bob_token),
            &json!({"name": "s", "trigger_type": "repeat", "repeat_every_seconds": 3600,
                    "job_template": {"name": "t", "type": "script", "command": "noop"}}),
        )
        .await,
        201,
    )
    .await;
    let sid = id_of(&s);
    let spath = format!("/job-schedulers/{sid}");
    assert_status(
        app.put(&spath, Some(&bob_token), &json!({"name": "s2"})).await,
        200,
    )
    .await;
    assert_status(
        app.post_empty(&format!("{spath}/toggle"), Some(&bob_token)).await,
        200,
    )
    .await;
    assert_status(app.delete(&spath, Some(&bob_token)).await, 200).await;
    // Consumers, by the operator.
    for verb in ["stop", "start"] {
        assert_status(
            app.post(
                &format!("/jobs/{verb}-consumer"),
                Some(&bob_token),
                &json!({"queue_name": "reserved"}),
            )
            .await,
            200,
        )
        .await;
    }
    // Password, sign-out, deletion.
    assert_status(
        app.post(
            "/users/me/password",
            Some(&bob_token),
            &json!({"current_password": USER_PASSWORD, "new_password": "a-new-password-1"}),
        )
        .await,
        200,
    )
    .await;
    let again = app.login("bob", "a-new-password-1").await.access_token;
    assert_status(app.post_empty("/logout", Some(&again)).await, 200).await;
    assert_status(app.delete(&path, Some(&admin)).await, 200).await;

    let (u, j, k, sc) = (
        format!("user {bob_id}"),
        format!("job {job_id}"),
        format!("api_key {key_id}"),
        format!("scheduler {sid}"),
    );
    let admin_target = format!("user {admin_id}");
    let expected = vec![
        e("auth.login", "admin", &admin_target, "success"),
        e("user.create", "admin", &u, "success"),
        e("auth.login", "bob", "-", "failure"),
        e("auth.login", "bob", &u, "success"),
        e("user.role_change", "admin", &u, "success"),
        e("user.update", "admin", &u, "success"),
        e("user.delete", "bob", &admin_target, "denied"),
        e("api_key.create", "bob", &k, "success"),
        e("job.kill", "bob", &j, "success"),
        e("job.retry", "bob", &j, "success"),
        e("job.cancel", "bob", &format!("job {waiting_id}"), "success"),
        e("job.bulk", "bob", "-", "success"),
        e("api_key.revoke", "bob", &k, "success"),
        e("scheduler.create", "bob", &sc, "success"),
        e("scheduler.update", "bob", &sc, "success"),
        e("scheduler.toggle", "bob", &sc, "success"),
        e("scheduler.delete", "bob", &sc, "success"),
        e("queue.stop", "bob", "queue reserved", "success"),
        e("queue.start", "bob", "queue reserved", "success"),
        e("user.password_change", "bob", &u, "success"),
        e("auth.login", "bob", &u, "success"),
        e("auth.logout", "bob", &u, "success"),
        e("user.delete", "admin", &u, "success"),
    ];
    let got = entries(&app, &admin).await;
    assert_eq!(got, expected);

    // Each entry says where it came from; the kill says which key and request.
    let page = assert_status(app.get("/audit-log/?limit=1000", Some(&admin)).await, 200).await;
    for entry in page["data"].as_array().unwrap() {
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert!(entry["request_id"].is_string(), "{entry}");
        assert!(entry["at"].as_str().unwrap().ends_with('Z'), "{entry}");
    }
    let kill = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request_id"] == request_id.as_str())
        .expect("the key's kill, by its request id");
    assert_eq!(kill["action"], "job.kill");
    assert_eq!(kill["actor_id"], bob_id);
    assert_eq!(kill["actor_key_id"], key_id);
    let role = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.role_change")
        .unwrap();
    assert_eq!(role["detail"], json!({"from": "user", "to": "operator"}));
    let failed = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["outcome"] == "failure")
        .unwrap();
    assert_eq!(failed["actor_id"], Value::Null);
    assert!(
        failed["detail"]["reason"].as_str().unwrap().contains("Incorrect"),
        "{failed}"
    );
}

async fn the_audit_log_is_filtered_paged_and_read_only(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    for _ in 0..3 {
        assert_status(app.login_response("alice", "nope-nope-nope").await, 401).await;
    }
    let count = |q: &str| {
        let (app, admin) = (&app, admin.clone());
        let q = q.to_string();
        async move {
            let page = assert_status(app.get(&format!("/audit-log/{q}"), Some(&admin)).await, 200).await;
            page["count"].as_i64().unwrap()
        }
    };
    // admin's sign-in, alice's creation, her sign-in, three failures.
    assert_eq!(count("").await, 6);
    assert_eq!(count("?actor=alice").await, 4);
    assert_eq!(count(&format!("?actor={}", alice.id)).await, 1);
    assert_eq!(count("?action=auth.login").await, 5);
    assert_eq!(count("?action=auth.").await, 5);
    assert_eq!(count("?action=user.").await, 1);
    assert_eq!(count("?outcome=failure").await, 3);
    assert_eq!(
        count(&format!("?target_type=user&target_id={}", alice.id)).await,
        2
    );
    assert_eq!(
        count("?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z").await,
        6
    );
    assert_eq!(count("?until=2000-01-01T00:00:00Z").await, 0);
    let page = assert_status(app.get("/audit-log/?limit=2&offset=1", Some(&admin)).await, 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["count"], 6);
    // Bad filters: a 422 naming the parameter.
    for (q, field) in [
        ("?since=yesterday", "since"),
        ("?outcome=maybe", "outcome"),
        ("?limit=0", "limit"),
        ("?offset=-1", "offset"),
        ("?colour=red", "colour"),
    ] {
        assert_422(
            app.get(&format!("/audit-log/{q}"), Some(&admin)).await,
            &["query", field],
        )
        .await;
    }
    // Only superusers read it.
    assert_unauthorized(app.get("/audit-log/", None).await).await;
    assert_status(app.get("/audit-log/", Some(alice.access())).await, 403).await;
    // Nothing changes or deletes an entry.
    for method in [Method::DELETE, Method::PUT, Method::PATCH, Method::POST] {
        let resp = app
            .client
            .request(method.clone(), app.api("/audit-log/"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method}");
    }
    assert_eq!(count("").await, 6);
}
