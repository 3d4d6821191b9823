//! The job runner against real databases and real processes: priority order, per-queue
//! concurrency, retries with backoff, timeouts, kill, graceful shutdown, command output.
//! `idle_poll` is a minute here, so a job that runs promptly proves the in-process wake-up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vcore_domain::db::Db;
use vcore_domain::jobs::runner::{QueueConfig, Runner, RunnerConfig};
use vcore_domain::jobs::scripts::{Script, ScriptCtx, ScriptRegistry};
use vcore_domain::jobs::{store, Job, JobInput, JobStatus, NewJob};

use vcore_testing::{both_backends, Backend, TestDb};

both_backends!(
    jobs_run_in_priority_order_then_fifo,
    each_queue_runs_at_most_its_concurrency,
    failures_retry_with_backoff_until_max_attempts,
    a_job_over_its_timeout_fails,
    a_killed_job_ends_cancelled,
    graceful_shutdown_hands_unfinished_jobs_back,
    command_jobs_record_exit_code_and_output,
    api_post_jobs_record_the_answer_and_fail_on_errors,
    retention_deletes_old_finished_jobs_and_their_logs,
    superuser_scripts_do_not_run_for_regular_owners,
);

/// Records the order jobs ran in, and how many ran at once.
#[derive(Clone, Default)]
struct Probe {
    order: Arc<Mutex<Vec<i64>>>,
    in_flight: Arc<Mutex<(usize, usize)>>,
    attempts: Arc<Mutex<HashMap<i64, u32>>>,
}

/// `probe`: notes the job, holds it for `{"hold_ms": n}`, fails while `{"fail_first": k}`
/// attempts have not yet been made.
struct ProbeScript(Probe);

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct ProbeInput {
    #[serde(default)]
    hold_ms: u64,
    #[serde(default)]
    fail_first: u64,
}

impl Script for ProbeScript {
    const NAME: &'static str = "probe";
    const DESCRIPTION: &'static str = "test probe";
    type Input = ProbeInput;
    type Output = serde_json::Value;

    async fn run(&self, ctx: &ScriptCtx, input: ProbeInput) -> anyhow::Result<serde_json::Value> {
        let p = &self.0;
        p.order.lock().unwrap().push(ctx.job_id);
        let attempt = {
            let mut a = p.attempts.lock().unwrap();
            let n = a.entry(ctx.job_id).or_default();
            *n += 1;
            *n
        };
        {
            let mut f = p.in_flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        tokio::time::sleep(Duration::from_millis(input.hold_ms)).await;
        p.in_flight.lock().unwrap().0 -= 1;
        if u64::from(attempt) <= input.fail_first {
            anyhow::bail!("planned failure {attempt}");
        }
        Ok(serde_json::json!({ "attempt": attempt }))
    }
}

fn config(data: &std::path::Path, default_concurrency: usize) -> RunnerConfig {
    let mut cfg = RunnerConfig::new(data.join("logs"));
    cfg.queues = vec![
        QueueConfig {
            name: "default".into(),
            concurrency: default_concurrency,
        },
        QueueConfig {
            name: "reserved".into(),
            concurrency: 1,
        },
    ];
    cfg.idle_poll = Duration::from_secs(60);
    cfg.retry_base = Duration::from_millis(20);
    cfg.retry_max = Duration::from_millis(100);
    cfg
}

fn start(db: &Db, cfg: RunnerConfig, probe: &Probe) -> Runner {
    let mut scripts = ScriptRegistry::with_builtins();
    scripts.register(ProbeScript(probe.clone()));
    Runner::start(db.clone(), cfg, scripts)
}

fn input(kind: &str, command: &str, meta: serde_json::Value) -> JobInput {
    JobInput {
        name: command.into(),
        kind: kind.into(),
        command: command.into(),
        meta: Some(meta),
        ..Default::default()
    }
}

async fn enqueue(db: &Db, runner: &Runner, i: JobInput) -> Job {
    let job = store::insert(db, &NewJob::parse(i, &runner.queue_names(), None).unwrap())
        .await
        .unwrap();
    runner.notify(&job);
    job
}

/// Polls until the job satisfies `done` (10 s at most).
async fn wait_for(db: &Db, id: i64, what: &str, done: impl Fn(&Job) -> bool) -> Job {
    for _ in 0..500 {
        let job = store::get(db, id).await.unwrap().unwrap();
        if done(&job) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "job {id} never became {what}: {:?}",
        store::get(db, id).await.unwrap()
    );
}

async fn ended(db: &Db, id: i64) -> Job {
    wait_for(db, id, "ended", |j| {
        matches!(
            j.status,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        )
    })
    .await
}

async fn jobs_run_in_priority_order_then_fifo(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::default();
    let runner = start(db, config(dir.path(), 1), &probe);
    runner.set_paused("default", true).await;
    let mut ids = HashMap::new();
    for (name, p) in [
        ("n1", "normal"),
        ("l1", "lowest"),
        ("h1", "highest"),
        ("n2", "normal"),
        ("h2", "highest"),
    ] {
        let mut i = input("script", "probe", serde_json::json!({}));
        i.priority = Some(p.into());
        ids.insert(enqueue(db, &runner, i).await.id, name);
    }
    assert!(
        probe.order.lock().unwrap().is_empty(),
        "a paused queue claims nothing"
    );
    runner.set_paused("default", false).await;
    for id in ids.keys() {
        assert_eq!(ended(db, *id).await.status, JobStatus::Done);
    }
    let order: Vec<&str> = probe.order.lock().unwrap().iter().map(|id| ids[id]).collect();
    assert_eq!(order, ["h1", "h2", "n1", "n2", "l1"]);
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn each_queue_runs_at_most_its_concurrency(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::default();
    let runner = start(db, config(dir.path(), 3), &probe);
    let mut jobs = Vec::new();
    for _ in 0..9 {
        jobs.push(
            enqueue(
                db,
                &runner,
                input("script", "probe", serde_json::json!({ "hold_ms": 80 })),
            )
            .await,
        );
    }
    for j in &jobs {
        assert_eq!(ended(db, j.id).await.status, JobStatus::Done);
    }
    assert_eq!(
        probe.in_flight.lock().unwrap().1,
        3,
        "never more than the queue's concurrency, and it is used"
    );
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn failures_retry_with_backoff_until_max_attempts(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let probe = Probe::default();
    let runner = start(db, config(dir.path(), 2), &probe);
    let mut recovers = input("script", "probe", serde_json::json!({ "fail_first": 2 }));
    recovers.max_attempts = Some(3);
    let recovers = enqueue(db, &runner, recovers).await;
    let mut gives_up = input("script", "probe", serde_json::json!({ "fail_first": 10 }));
    gives_up.max_attempts = Some(2);
    let gives_up = enqueue(db, &runner, gives_up).await;

    let ok = wait_for(db, recovers.id, "done", |j| j.status == JobStatus::Done).await;
    assert_eq!(ok.attempts, 3);
    assert_eq!(ok.result.as_deref(), Some(r#"{"attempt":3}"#));
    let failed = wait_for(db, gives_up.id, "failed", |j| j.status == JobStatus::Failed).await;
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.error.as_deref(), Some("planned failure 2"));
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn a_job_over_its_timeout_fails(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let runner = start(db, config(dir.path(), 2), &Probe::default());
    let mut slow = input("script", "sleep", serde_json::json!({ "seconds": 30 }));
    slow.timeout_secs = Some(1);
    slow.max_attempts = Some(1);
    let slow = enqueue(db, &runner, slow).await;
    let job = ended(db, slow.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert!(
        job.error.as_deref().unwrap_or_default().contains("timed out"),
        "{:?}",
        job.error
    );
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn a_killed_job_ends_cancelled(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let runner = start(db, config(dir.path(), 2), &Probe::default());
    let long = enqueue(
        db,
        &runner,
        input("script", "sleep", serde_json::json!({ "seconds": 30 })),
    )
    .await;
    wait_for(db, long.id, "running", |j| j.status == JobStatus::Running).await;
    for _ in 0..100 {
        if runner.running_ids().contains(&long.id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(runner.kill(long.id));
    assert!(!runner.kill(long.id + 1000), "not running here");
    let job = ended(db, long.id).await;
    assert_eq!(
        (job.status, job.error.as_deref()),
        (JobStatus::Cancelled, Some("killed"))
    );
    assert_eq!(job.attempts, 1, "a kill does not retry");
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn graceful_shutdown_hands_unfinished_jobs_back(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 2);
    let hub = cfg.hub.clone();
    let runner = start(db, cfg, &Probe::default());
    let quick = enqueue(
        db,
        &runner,
        input("script", "sleep", serde_json::json!({ "seconds": 0.2 })),
    )
    .await;
    let long = enqueue(
        db,
        &runner,
        input("script", "sleep", serde_json::json!({ "seconds": 30 })),
    )
    .await;
    wait_for(db, long.id, "running", |j| j.status == JobStatus::Running).await;
    wait_for(db, quick.id, "running", |j| j.status != JobStatus::Queued).await;
    // The grace period lets the quick job finish; the long one is handed back, and live
    // viewers are told.
    let (_, mut events) = hub.subscribe(None);
    assert_eq!(runner.shutdown(Duration::from_millis(1500)).await, 1);
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push((e.job_id, e.status));
    }
    assert_eq!(seen.last(), Some(&(long.id, JobStatus::Queued)), "{seen:?}");
    assert_eq!(
        store::get(db, quick.id).await.unwrap().unwrap().status,
        JobStatus::Done
    );
    let back = store::get(db, long.id).await.unwrap().unwrap();
    assert_eq!(
        (back.status, back.attempts, back.lease_owner),
        (JobStatus::Queued, 0, None)
    );
    // Nothing claims after shutdown.
    let late = enqueue(db, &runner, input("script", "noop", serde_json::json!({}))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        store::get(db, late.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
}

/// A command job's output where this backend keeps it: the database on PostgreSQL (any
/// node reads it), the log file on SQLite. None when it has none.
async fn output_of(db: &Db, log_dir: &std::path::Path, id: i64) -> Option<String> {
    if db.is_postgres() {
        let bytes = vcore_domain::jobs::logs::read(db, id, 0, 1 << 20).await.unwrap();
        (!bytes.is_empty()).then(|| String::from_utf8(bytes).unwrap())
    } else {
        std::fs::read_to_string(store::log_file(log_dir, id)).ok()
    }
}

async fn command_jobs_record_exit_code_and_output(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let runner = start(db, config(dir.path(), 2), &Probe::default());
    let mut lines = runner.subscribe_lines();
    let mut fails = input(
        "command",
        "echo \"hello $WHO\"; echo oops >&2; exit 3",
        serde_json::json!({ "env": { "WHO": "vcore" } }),
    );
    fails.max_attempts = Some(1);
    let fails = enqueue(db, &runner, fails).await;
    let ok = enqueue(db, &runner, input("command", "true", serde_json::json!({}))).await;

    let job = ended(db, fails.id).await;
    assert_eq!((job.status, job.exit_code), (JobStatus::Failed, Some(3)));
    let log = output_of(db, &dir.path().join("logs"), fails.id)
        .await
        .expect("the job's output");
    assert!(log.contains("hello vcore") && log.contains("oops"), "{log}");
    let mut seen = Vec::new();
    while let Ok(l) = lines.try_recv() {
        if l.job_id == fails.id {
            seen.push(l.line);
        }
    }
    assert!(seen.contains(&"hello vcore".to_string()), "live lines: {seen:?}");
    let ok = ended(db, ok.id).await;
    assert_eq!((ok.status, ok.exit_code), (JobStatus::Done, Some(0)));
    runner.shutdown(Duration::from_secs(1)).await;
}

/// A real HTTP server on 127.0.0.1: `/ok` echoes the JSON body and the `x-token` header,
/// `/fail` answers 500, `/slow` answers after 5 s.
async fn hook_server() -> String {
    use axum::routing::post;
    use axum::Json;
    let app = axum::Router::new()
        .route(
            "/ok",
            post(
                |headers: axum::http::HeaderMap, Json(body): Json<serde_json::Value>| async move {
                    let token = headers
                        .get("x-token")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    Json(serde_json::json!({ "got": body, "token": token }))
                },
            ),
        )
        .route(
            "/fail",
            post(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "nope") }),
        )
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn api_post_jobs_record_the_answer_and_fail_on_errors(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let runner = start(db, config(dir.path(), 3), &Probe::default());
    let base = hook_server().await;
    let meta = serde_json::json!({ "body": { "a": 1 }, "headers": { "x-token": "t0k" } });
    let ok = enqueue(db, &runner, input("api_post", &format!("{base}/ok"), meta)).await;
    let mut fail = input("api_post", &format!("{base}/fail"), serde_json::json!({}));
    fail.max_attempts = Some(1);
    let fail = enqueue(db, &runner, fail).await;
    let mut slow = input("api_post", &format!("{base}/slow"), serde_json::json!({}));
    slow.max_attempts = Some(1);
    slow.timeout_secs = Some(1);
    let slow = enqueue(db, &runner, slow).await;

    let ok = ended(db, ok.id).await;
    assert_eq!(ok.status, JobStatus::Done, "{:?}", ok.error);
    let result: serde_json::Value = serde_json::from_str(ok.result.as_deref().unwrap()).unwrap();
    assert_eq!(result["status"], 200);
    let echoed: serde_json::Value = serde_json::from_str(result["body"].as_str().unwrap()).unwrap();
    assert_eq!(echoed, serde_json::json!({ "got": { "a": 1 }, "token": "t0k" }));

    let fail = ended(db, fail.id).await;
    assert_eq!(fail.status, JobStatus::Failed);
    assert!(
        fail.error
            .as_deref()
            .unwrap_or_default()
            .contains("HTTP 500: nope"),
        "{:?}",
        fail.error
    );
    let slow = ended(db, slow.id).await;
    assert_eq!(slow.status, JobStatus::Failed);
    assert!(
        slow.error.as_deref().unwrap_or_default().contains("timed out"),
        "{:?}",
        slow.error
    );
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn retention_deletes_old_finished_jobs_and_their_logs(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1);
    cfg.retention = None;
    let probe = Probe::default();
    // Three jobs that print (so they have logs) end, then one is aged past the retention.
    let runner = start(db, cfg.clone(), &probe);
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job = enqueue(db, &runner, input("command", "echo hi", serde_json::json!({}))).await;
        assert_eq!(ended(db, job.id).await.status, JobStatus::Done);
        ids.push(job.id);
    }
    let live = enqueue(
        db,
        &runner,
        input("script", "sleep", serde_json::json!({ "seconds": 30 })),
    )
    .await;
    // Claimed (running in the database) a moment before its worker can be killed.
    for _ in 0..500 {
        if runner.kill(live.id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ended(db, live.id).await.status, JobStatus::Cancelled);
    runner.shutdown(Duration::from_secs(1)).await;
    for id in &ids {
        assert!(
            output_of(db, &cfg.log_dir, *id).await.is_some(),
            "every job left a log"
        );
    }
    t.execute_sql(&format!(
        "UPDATE jobs SET finished_at = '2000-01-01 00:00:00' WHERE id IN ({}, {})",
        ids[0], live.id
    ))
    .await;

    // A runner with a retention prunes at start.
    cfg.retention = Some(Duration::from_secs(86_400));
    let runner = start(db, cfg.clone(), &probe);
    for _ in 0..500 {
        if store::get(db, ids[0]).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store::get(db, ids[0]).await.unwrap().is_none(),
        "the old job is gone"
    );
    assert!(
        store::get(db, live.id).await.unwrap().is_none(),
        "old cancelled jobs too"
    );
    assert!(output_of(db, &cfg.log_dir, ids[0]).await.is_none(), "and its log");
    for id in &ids[1..] {
        assert!(store::get(db, *id).await.unwrap().is_some(), "young jobs stay");
        assert!(
            output_of(db, &cfg.log_dir, *id).await.is_some(),
            "with their logs"
        );
    }
    runner.shutdown(Duration::from_secs(1)).await;
}

async fn superuser_scripts_do_not_run_for_regular_owners(b: Backend) {
    // Jobs stored straight into the queue (or before a script became superuser-only) are
    // checked again by the runner, against the owner's rights at run time.
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let alice = user(&t, "alice", false).await;
    let admin = user(&t, "admin", true).await;
    let dir = tempfile::tempdir().unwrap();
    let runner = start(db, config(dir.path(), 1), &Probe::default());
    let mut jobs = Vec::new();
    for owner in [Some(alice), Some(admin), None] {
        let mut new = NewJob::parse(
            input("script", "prune_jobs", serde_json::json!({})),
            &runner.queue_names(),
            owner,
        )
        .unwrap();
        new.max_attempts = 1;
        let job = store::insert(db, &new).await.unwrap();
        runner.notify(&job);
        jobs.push(job.id);
    }
    let ended_as: Vec<(JobStatus, Option<String>)> = {
        let mut v = Vec::new();
        for id in &jobs {
            let j = ended(db, *id).await;
            v.push((j.status, j.error));
        }
        v
    };
    assert_eq!(ended_as[0].0, JobStatus::Failed, "{ended_as:?}");
    assert!(
        ended_as[0]
            .1
            .as_deref()
            .unwrap_or("")
            .contains("only superusers and operators may"),
        "{ended_as:?}"
    );
    assert_eq!(ended_as[1].0, JobStatus::Done, "a superuser's: {ended_as:?}");
    assert_eq!(ended_as[2].0, JobStatus::Done, "the operator's: {ended_as:?}");
    runner.shutdown(Duration::from_secs(1)).await;
}

/// A user made through the domain's users service; returns the id.
async fn user(t: &TestDb, name: &str, superuser: bool) -> i64 {
    let vars = [
        ("DATA_DIR".to_string(), t.dir.path().display().to_string()),
        ("DB_URL".to_string(), t.url.clone()),
    ]
    .into_iter()
    .collect();
    let config = vcore_domain::Config::from_map(&vars, false).expect("a valid configuration");
    let svc = vcore_domain::Services::new(config, t.db.clone(), Default::default());
    let new = vcore_domain::users::NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password: "long-enough-pass".into(),
        full_name: None,
        is_active: true,
        is_superuser: superuser,
        role: None,
    };
    svc.create_user(None, new).await.expect("creating a user").id
}
