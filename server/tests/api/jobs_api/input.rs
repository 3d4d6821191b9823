//! Bad job input: each field's 422, and nothing stored or changed.

use super::*;

both_backends!(bad_job_input_names_the_field_and_changes_nothing,);

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

    // Consumers: only known queues (an unknown one is not found, as a path would be).
    for action in ["stop", "start"] {
        let p = format!("/jobs/{action}-consumer");
        let e = assert_status(
            app.post(&p, Some(&admin), &json!({ "queue_name": "nope" })).await,
            404,
        )
        .await;
        assert!(e["detail"].as_str().unwrap().contains("nope"), "{e}");
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
