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
    let trigger = Trigger::parse(trigger_type, every, cron, None).unwrap();
    let new = NewScheduler {
        name: format!("{trigger_type} scheduler"),
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
