//! Jobs running end to end: a command with its log, a script's result, the maintenance
//! scripts, the hub's events in order, and what a regular user runs and sees.

use super::*;

both_backends!(
    a_command_job_runs_end_to_end_with_its_log,
    a_script_jobs_result_is_its_output,
    maintenance_scripts_are_for_superusers_and_do_their_work,
    the_hub_reports_each_change_of_a_job_in_order,
    regular_users_run_scripts_and_see_only_their_own_jobs,
);

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
            &format!("Only superusers and operators may run the script {name:?}"),
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
            "name": "hook", "type": "api_post", "command": "http://localhost:9/hook",
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
