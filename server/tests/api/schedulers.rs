//! Schedulers against real databases, with time given explicitly (no clocks, no sleeps):
//! due runs fire once, concurrent firers (separate connections, as separate processes
//! would be) make exactly one job per run, missed runs are coalesced, disabled schedulers
//! rest, templates are checked, and the runner's loop fires them.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use vcore_domain::db::Db;
use vcore_domain::jobs::schedule::Trigger;
use vcore_domain::jobs::schedulers::{self, Fired, NewScheduler, Scheduler};
use vcore_domain::jobs::JobStatus;
use vcore_domain::DomainError;

use crate::helpers::*;

both_backends!(
    a_due_run_fires_once_and_missed_runs_are_coalesced,
    concurrent_firers_make_exactly_one_job_per_run,
    disabled_schedulers_rest_and_on_start_fires_at_start,
    templates_are_checked_like_jobs_and_owners_keep_their_rights,
    the_runner_fires_schedulers_on_its_own,
    schedulers_over_rest_end_to_end,
    bad_scheduler_input_names_the_field_and_changes_nothing,
    every_scheduler_endpoint_from_every_side,
);

fn no_runner() -> Opts {
    Opts {
        env: vec![("JOB_RUNNER", "false".into())],
        ..Default::default()
    }
}

fn queues() -> Vec<String> {
    vec!["default".into(), "reserved".into()]
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
}

fn noop_template() -> serde_json::Value {
    json!({ "name": "tick", "type": "script", "command": "noop" })
}

/// A trigger as the API takes it: type, repeat interval, cron expression.
type Spec<'a> = (&'a str, Option<i64>, Option<&'a str>);

fn every(secs: i64) -> Spec<'static> {
    ("repeat", Some(secs), None)
}

async fn create(
    db: &Db,
    (trigger_type, every, cron): Spec<'_>,
    enabled: bool,
    owner: Option<i64>,
    template: serde_json::Value,
    now: DateTime<Utc>,
) -> Scheduler {
    // Unowned schedulers' names are unique (they are the application's own, found by name).
    static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let trigger = Trigger::parse(trigger_type, every, cron, None).unwrap();
    let new = NewScheduler {
        name: format!("{trigger_type} scheduler {n}"),
        description: None,
        trigger_type: trigger_type.into(),
        repeat_every_seconds: every,
        cron: cron.map(str::to_string),
        timezone: "UTC".into(),
        job_template: template,
        enabled,
        owner_id: owner,
    };
    schedulers::insert(db, &new, &trigger, now).await.unwrap()
}

fn made(fired: &[Fired]) -> usize {
    fired.iter().filter(|f| matches!(f, Fired::Made(_))).count()
}

async fn a_due_run_fires_once_and_missed_runs_are_coalesced(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let db = &app.services.db;
    let s = create(db, every(60), true, None, noop_template(), t0()).await;
    assert_eq!(s.next_run_at, Some((t0() + Duration::seconds(60)).naive_utc()));

    assert_eq!(
        made(
            &schedulers::fire_due(db, t0() + Duration::seconds(59), &queues())
                .await
                .unwrap()
        ),
        0
    );
    let fired = schedulers::fire_due(db, t0() + Duration::seconds(61), &queues())
        .await
        .unwrap();
    let [Fired::Made(job)] = fired.as_slice() else {
        panic!("one job: {fired:?}")
    };
    assert_eq!(
        (job.name.as_str(), job.command.as_str(), job.status),
        ("tick", "noop", JobStatus::Queued)
    );
    // Again at the same moment: nothing more. The cadence keeps to the due times.
    assert_eq!(
        made(
            &schedulers::fire_due(db, t0() + Duration::seconds(61), &queues())
                .await
                .unwrap()
        ),
        0
    );
    let s1 = schedulers::get(db, s.id).await.unwrap().unwrap();
    assert_eq!(s1.next_run_at, Some((t0() + Duration::seconds(120)).naive_utc()));
    assert_eq!((s1.run_count, s1.last_job_id), (1, Some(job.id)));

    // Down for an hour: one job for the missed runs, then on from now.
    let later = t0() + Duration::seconds(3600 + 30);
    assert_eq!(
        made(&schedulers::fire_due(db, later, &queues()).await.unwrap()),
        1
    );
    let s2 = schedulers::get(db, s.id).await.unwrap().unwrap();
    assert_eq!(s2.next_run_at, Some((later + Duration::seconds(60)).naive_utc()));
    assert_eq!(s2.run_count, 2);

    // A cron scheduler runs at its times.
    let c = create(
        db,
        ("cron", None, Some("*/15 * * * *")),
        true,
        None,
        noop_template(),
        t0(),
    )
    .await;
    assert_eq!(c.next_run_at, Some((t0() + Duration::minutes(15)).naive_utc()));
}

async fn concurrent_firers_make_exactly_one_job_per_run(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let db = &app.services.db;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(create(db, every(60), true, None, noop_template(), t0()).await.id);
    }
    // Four firers on their own connections race for the same 20 due runs, three times.
    let mut total = 0;
    for round in 1..=3 {
        let now = t0() + Duration::seconds(60 * round + 1);
        let mut racers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let db = db.clone();
            racers.spawn(async move { schedulers::fire_due(&db, now, &queues()).await.unwrap() });
        }
        let mut this_round = 0;
        while let Some(fired) = racers.join_next().await {
            this_round += made(&fired.unwrap());
        }
        assert_eq!(this_round, 20, "round {round}: one job per due run");
        total += this_round;
    }
    for id in ids {
        assert_eq!(schedulers::get(db, id).await.unwrap().unwrap().run_count, 3);
    }
    assert_eq!(total, 60);
}

async fn disabled_schedulers_rest_and_on_start_fires_at_start(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let db = &app.services.db;
    let off = create(db, every(10), false, None, noop_template(), t0()).await;
    assert_eq!(off.next_run_at, None);
    assert_eq!(
        made(
            &schedulers::fire_due(db, t0() + Duration::days(1), &queues())
                .await
                .unwrap()
        ),
        0
    );
    // Enabled later: the next run counts from then; nothing is made up.
    let on = schedulers::set_enabled(db, off.id, true, t0() + Duration::days(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        on.next_run_at,
        Some((t0() + Duration::days(1) + Duration::seconds(10)).naive_utc())
    );
    let none = schedulers::set_enabled(db, 999_999, true, t0()).await.unwrap();
    assert!(none.is_none());

    let start = create(db, ("on_start", None, None), true, None, noop_template(), t0()).await;
    assert_eq!(start.next_run_at, None);
    create(db, ("on_start", None, None), false, None, noop_template(), t0()).await;
    let fired = schedulers::fire_on_start(db, t0(), &queues()).await.unwrap();
    assert_eq!(made(&fired), 1, "only the enabled on_start scheduler: {fired:?}");
    assert_eq!(schedulers::get(db, start.id).await.unwrap().unwrap().run_count, 1);
}

async fn templates_are_checked_like_jobs_and_owners_keep_their_rights(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let db = &app.services.db;
    let field = |r: Result<_, DomainError>| match r {
        Err(DomainError::Invalid { field, .. }) => field,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let parse = |v: serde_json::Value| schedulers::JobTemplate::parse(&v, &queues(), None).map(|_| ());
    assert_eq!(
        field(parse(json!({ "name": "x", "type": "script" }))),
        "job_template"
    );
    assert_eq!(
        field(parse(
            json!({ "name": "x", "type": "script", "command": "noop", "extra": 1 })
        )),
        "job_template"
    );
    assert_eq!(
        field(parse(json!({ "name": "x", "type": "shell", "command": "true" }))),
        "job_template.type"
    );
    assert_eq!(
        field(parse(
            json!({ "name": "x", "type": "command", "command": "true", "queue_name": "nope" })
        )),
        "job_template.queue_name"
    );
    assert_eq!(
        field(parse(
            json!({ "name": " ", "type": "command", "command": "true" })
        )),
        "job_template.name"
    );

    // A command scheduler made by a superuser who was demoted since: its runs make no job.
    let alice = app.create_and_login("alice").await;
    let cmd = json!({ "name": "cmd", "type": "command", "command": "true" });
    let s = create(db, every(60), true, Some(alice.id), cmd, t0()).await;
    let fired = schedulers::fire_due(db, t0() + Duration::seconds(61), &queues())
        .await
        .unwrap();
    assert!(
        matches!(fired.as_slice(), [Fired::Skipped { scheduler, .. }] if *scheduler == s.id),
        "{fired:?}"
    );
    let after = schedulers::get(db, s.id).await.unwrap().unwrap();
    assert_eq!(
        after.next_run_at,
        Some((t0() + Duration::seconds(120)).naive_utc()),
        "the run is taken, not retried"
    );
    assert_eq!(after.last_job_id, None);
}

async fn the_runner_fires_schedulers_on_its_own(b: Backend) {
    // The app's own runner: a scheduler due every second makes jobs that run.
    let app = spawn_app(b, Opts::default()).await;
    let db = &app.services.db;
    let s = create(db, every(1), true, None, noop_template(), Utc::now()).await;
    app.services.runner.as_ref().unwrap().schedulers_changed();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let s = schedulers::get(db, s.id).await.unwrap().unwrap();
        if s.run_count >= 2 {
            let job = vcore_domain::jobs::store::get(db, s.last_job_id.unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(job.name, "tick");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runner fired {} run(s) in 15 s",
            s.run_count
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn path(id: i64) -> String {
    format!("/job-schedulers/{id}")
}

async fn scheduler_count(app: &TestApp, token: &str) -> i64 {
    let page = assert_status(app.get("/job-schedulers/", Some(token)).await, 200).await;
    page["count"].as_i64().unwrap()
}

async fn schedulers_over_rest_end_to_end(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let admin = app.admin_token().await;
    let body = json!({
        "name": "nightly", "description": "every night", "trigger_type": "cron",
        "cron": "30 2 * * *", "timezone": "Europe/Berlin",
        "job_template": { "name": "cleanup", "type": "script", "command": "noop", "priority": "low" }
    });
    let created = assert_status(app.post("/job-schedulers/", Some(&admin), &body).await, 201).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created["enabled"], true);
    assert_eq!(created["timezone"], "Europe/Berlin");
    assert_eq!(created["run_count"], 0);
    assert_eq!(created["job_template"]["command"], "noop");
    let next: DateTime<Utc> = created["next_run_at"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(local.format("%H:%M").to_string(), "02:30", "{created}");
    assert_eq!(
        assert_status(app.get(&path(id), Some(&admin)).await, 200).await,
        created
    );

    // A new trigger starts afresh; fields not given stay.
    let changed = assert_status(
        app.put(
            &path(id),
            Some(&admin),
            &json!({ "trigger_type": "repeat", "repeat_every_seconds": 3600 }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (changed["trigger_type"].as_str(), changed["cron"].as_str()),
        (Some("repeat"), None)
    );
    assert_eq!(changed["description"], "every night");
    let next: DateTime<Utc> = changed["next_run_at"].as_str().unwrap().parse().unwrap();
    let in_an_hour = Utc::now() + Duration::seconds(3600);
    assert!((next - in_an_hour).num_seconds().abs() < 10, "{changed}");

    let off = assert_status(
        app.post_empty(&format!("{}/toggle", path(id)), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(
        (off["enabled"].as_bool(), off["next_run_at"].as_str()),
        (Some(false), None)
    );
    let on = assert_status(
        app.post_empty(&format!("{}/toggle", path(id)), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(on["enabled"], true);
    assert!(on["next_run_at"].is_string());

    // The jobs it made: listed by scheduler, linked back to it.
    let fired = schedulers::fire_on_start(&app.services.db, Utc::now(), &queues())
        .await
        .unwrap();
    assert_eq!(made(&fired), 0, "not an on_start scheduler");
    app.execute_sql(&format!(
        "UPDATE job_schedulers SET next_run_at = '2000-01-01 00:00:00' WHERE id = {id}"
    ))
    .await;
    assert_eq!(
        made(
            &schedulers::fire_due(&app.services.db, Utc::now(), &queues())
                .await
                .unwrap()
        ),
        1
    );
    let page = assert_status(
        app.get(&format!("/jobs/?scheduler_id={id}"), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(page["count"], 1, "{page}");
    assert_eq!(page["data"][0]["scheduler_id"], id);
    assert_eq!(page["data"][0]["name"], "cleanup");
    let other = assert_status(
        app.get(&format!("/jobs/?scheduler_id={}", id + 1000), Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(other["count"], 0);

    assert_eq!(scheduler_count(&app, &admin).await, 1);
    assert_status(app.delete(&path(id), Some(&admin)).await, 200).await;
    // Its job stays, unlinked.
    let page = assert_status(app.get("/jobs/", Some(&admin)).await, 200).await;
    assert_eq!(
        (page["count"].as_i64(), page["data"][0]["scheduler_id"].is_null()),
        (Some(1), true),
        "{page}"
    );
    assert_status(app.get(&path(id), Some(&admin)).await, 404).await;
    assert_eq!(scheduler_count(&app, &admin).await, 0);
}

async fn bad_scheduler_input_names_the_field_and_changes_nothing(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let admin = app.admin_token().await;
    let base = json!({
        "name": "s", "trigger_type": "repeat", "repeat_every_seconds": 60,
        "job_template": { "name": "t", "type": "script", "command": "noop" }
    });
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let template = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b["job_template"][k] = v;
        b
    };
    let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
        (
            with("trigger_type", json!("hourly")),
            vec!["body", "trigger_type"],
        ),
        (
            with("repeat_every_seconds", json!(0)),
            vec!["body", "repeat_every_seconds"],
        ),
        (
            with("repeat_every_seconds", json!(-60)),
            vec!["body", "repeat_every_seconds"],
        ),
        (
            with("repeat_every_seconds", json!("often")),
            vec!["body", "repeat_every_seconds"],
        ),
        (
            json!({ "name": "s", "trigger_type": "cron", "cron": "61 * * * *", "job_template": base["job_template"] }),
            vec!["body", "cron"],
        ),
        (
            json!({ "name": "s", "trigger_type": "cron", "cron": "* * * *", "job_template": base["job_template"] }),
            vec!["body", "cron"],
        ),
        (
            json!({ "name": "s", "trigger_type": "cron", "job_template": base["job_template"] }),
            vec!["body", "cron"],
        ),
        (
            json!({ "name": "s", "trigger_type": "cron", "cron": "@daily", "timezone": "Mars/Olympus", "job_template": base["job_template"] }),
            vec!["body", "timezone"],
        ),
        (with("name", json!("  ")), vec!["body", "name"]),
        (with("job_template", json!([1])), vec!["body", "job_template"]),
        (
            template("type", json!("shell")),
            vec!["body", "job_template", "type"],
        ),
        (
            template("queue_name", json!("nope")),
            vec!["body", "job_template", "queue_name"],
        ),
        (
            template("command", json!("")),
            vec!["body", "job_template", "command"],
        ),
        (with("surprise", json!(1)), vec!["body"]),
    ];
    for (body, loc) in cases {
        let resp = app.post("/job-schedulers/", Some(&admin), &body).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 422, "{body}: {text}");
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        if loc.len() > 1 {
            assert_validation_detail(&parsed, &loc);
        }
    }
    assert_eq!(scheduler_count(&app, &admin).await, 0, "nothing was stored");
    // A bad change is refused whole.
    let s = assert_status(app.post("/job-schedulers/", Some(&admin), &base).await, 201).await;
    let id = s["id"].as_i64().unwrap();
    assert_422(
        app.put(
            &path(id),
            Some(&admin),
            &json!({ "cron": "bad", "trigger_type": "cron" }),
        )
        .await,
        &["body", "cron"],
    )
    .await;
    assert_eq!(
        assert_status(app.get(&path(id), Some(&admin)).await, 200).await,
        s
    );
    assert_422(
        app.get(&format!("/job-schedulers/{}", "x1"), Some(&admin)).await,
        &["path", "scheduler_id"],
    )
    .await;
}

async fn every_scheduler_endpoint_from_every_side(b: Backend) {
    let app = spawn_app(b, no_runner()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    let script = json!({
        "name": "mine", "trigger_type": "repeat", "repeat_every_seconds": 60,
        "job_template": { "name": "t", "type": "script", "command": "noop" }
    });
    let command = json!({
        "name": "cmd", "trigger_type": "repeat", "repeat_every_seconds": 60,
        "job_template": { "name": "t", "type": "command", "command": "true" }
    });
    let prune = json!({
        "name": "prune", "trigger_type": "on_start",
        "job_template": { "name": "t", "type": "script", "command": "prune_jobs" }
    });
    let mut failures = Vec::new();
    // Anonymous: 401 everywhere.
    let own = assert_status(
        app.post("/job-schedulers/", Some(alice.access()), &script).await,
        201,
    )
    .await;
    let id = own["id"].as_i64().unwrap();
    for (label, resp) in [
        ("anon list", app.get("/job-schedulers/", None).await),
        ("anon create", app.post("/job-schedulers/", None, &script).await),
        ("anon read", app.get(&path(id), None).await),
        (
            "anon update",
            app.put(&path(id), None, &json!({ "name": "x" })).await,
        ),
        (
            "anon toggle",
            app.post_empty(&format!("{}/toggle", path(id)), None).await,
        ),
        ("anon delete", app.delete(&path(id), None).await),
    ] {
        check_cell(resp, label, 401, &mut failures).await;
    }
    // A regular user: scripts yes, commands and superuser scripts no.
    check_cell(
        app.post("/job-schedulers/", Some(alice.access()), &command).await,
        "user command",
        403,
        &mut failures,
    )
    .await;
    check_cell(
        app.post("/job-schedulers/", Some(alice.access()), &prune).await,
        "user prune_jobs",
        403,
        &mut failures,
    )
    .await;
    check_cell(
        app.put(
            &path(id),
            Some(alice.access()),
            &json!({ "job_template": command["job_template"] }),
        )
        .await,
        "user changes own to a command",
        403,
        &mut failures,
    )
    .await;
    // Another user: 403 on alice's scheduler, and does not see it.
    for (label, resp) in [
        ("other read", app.get(&path(id), Some(bob.access())).await),
        (
            "other update",
            app.put(&path(id), Some(bob.access()), &json!({ "name": "x" }))
                .await,
        ),
        (
            "other toggle",
            app.post_empty(&format!("{}/toggle", path(id)), Some(bob.access()))
                .await,
        ),
        ("other delete", app.delete(&path(id), Some(bob.access())).await),
    ] {
        check_cell(resp, label, 403, &mut failures).await;
    }
    assert_eq!(scheduler_count(&app, bob.access()).await, 0);
    assert_eq!(scheduler_count(&app, alice.access()).await, 1);
    // The owner manages their own.
    check_cell(
        app.put(&path(id), Some(alice.access()), &json!({ "name": "renamed" }))
            .await,
        "owner update",
        200,
        &mut failures,
    )
    .await;
    check_cell(
        app.post_empty(&format!("{}/toggle", path(id)), Some(alice.access()))
            .await,
        "owner toggle",
        200,
        &mut failures,
    )
    .await;
    // A superuser: everything, everyone's.
    check_cell(
        app.post("/job-schedulers/", Some(&admin), &command).await,
        "superuser command",
        200,
        &mut failures,
    )
    .await;
    check_cell(
        app.post("/job-schedulers/", Some(&admin), &prune).await,
        "superuser prune_jobs",
        200,
        &mut failures,
    )
    .await;
    check_cell(
        app.get(&path(id), Some(&admin)).await,
        "superuser read other's",
        200,
        &mut failures,
    )
    .await;
    assert_eq!(scheduler_count(&app, &admin).await, 3);
    check_cell(
        app.delete(&path(id), Some(&admin)).await,
        "superuser delete other's",
        200,
        &mut failures,
    )
    .await;
    check_cell(
        app.get(&path(id), Some(&admin)).await,
        "deleted",
        404,
        &mut failures,
    )
    .await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
