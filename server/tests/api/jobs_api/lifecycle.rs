//! A job's life: kill, retry and the allowed transitions, stopped consumers, unique keys
//! and state conflicts.

use super::*;

both_backends!(
    a_killed_job_ends_cancelled,
    failed_jobs_retry_and_only_allowed_transitions_pass,
    a_stopped_consumer_leaves_its_queue_alone,
    unique_keys_and_state_conflicts,
);

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
