//! The list's filters and pages, and bulk actions.

use super::*;

both_backends!(
    the_list_filters_and_pages_newest_first,
    bulk_actions_touch_only_the_callers_jobs_in_the_right_state,
);

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
            json!({ "name": "refused", "type": "api_post", "command": "http://localhost:9/x", "max_attempts": 1 }),
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
