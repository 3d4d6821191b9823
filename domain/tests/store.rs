//! The job queue's storage (`vcore_domain::jobs::store`) against real SQLite and
//! PostgreSQL: claim order, the starvation rule, unique keys, delayed jobs, retries,
//! lease rescue with fencing, graceful release, and concurrent claimers never sharing a job.

use chrono::{Duration, Utc};
use std::collections::HashSet;
use vcore_domain::db::Db;
use vcore_domain::jobs::store::{self, Claim, Finished, Outcome, STARVATION_EVERY};
use vcore_domain::jobs::{Job, JobInput, JobStatus, NewJob, Priority};
use vcore_domain::DomainError;

use vcore_testing::{both_backends, Backend, TestDb};

both_backends!(
    claims_follow_priority_then_fifo,
    a_lowest_priority_job_runs_under_a_constant_stream_of_higher_work,
    unique_keys_block_duplicates_while_live,
    delayed_jobs_wait_for_run_at,
    failed_attempts_retry_until_max_attempts,
    an_expired_lease_is_rescued_and_its_old_worker_is_fenced_off,
    graceful_release_requeues_without_counting_the_attempt,
    concurrent_claimers_never_share_a_job,
);

fn queues() -> Vec<String> {
    vec!["default".into(), "reserved".into()]
}

fn job(name: &str, priority: &str) -> NewJob {
    let input = JobInput {
        name: name.into(),
        kind: "script".into(),
        command: "noop".into(),
        priority: Some(priority.into()),
        ..Default::default()
    };
    NewJob::parse(input, &queues(), None).unwrap()
}

async fn insert(db: &Db, name: &str, priority: &str) -> Job {
    store::insert(db, &job(name, priority)).await.unwrap()
}

fn ids(taken: Vec<store::TakenBack>) -> Vec<i64> {
    taken.into_iter().map(|t| t.id).collect()
}

fn lease() -> chrono::NaiveDateTime {
    (Utc::now() + Duration::seconds(30)).naive_utc()
}

async fn claim(db: &Db, limit: i64, oldest_first: bool) -> Vec<Job> {
    let c = Claim {
        queue: "default",
        limit,
        worker: "w1",
        lease_until: lease(),
        oldest_first,
    };
    store::claim(db, &c).await.unwrap()
}

fn names(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|j| j.name.as_str()).collect()
}

fn done() -> Outcome {
    Outcome::Done {
        result: None,
        exit_code: Some(0),
    }
}

async fn claims_follow_priority_then_fifo(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    for (name, p) in [
        ("n1", "normal"),
        ("h1", "high"),
        ("l1", "low"),
        ("h2", "high"),
        ("top", "highest"),
        ("n2", "normal"),
    ] {
        insert(db, name, p).await;
    }
    // Another queue's job is never claimed for this one.
    let mut other = job("elsewhere", "highest");
    other.queue = "reserved".into();
    store::insert(db, &other).await.unwrap();

    let first = claim(db, 2, false).await;
    assert_eq!(names(&first), ["top", "h1"]);
    assert!(first
        .iter()
        .all(|j| j.status == JobStatus::Running && j.attempts == 1 && j.fence == 1));
    assert!(first
        .iter()
        .all(|j| j.lease_owner.as_deref() == Some("w1") && j.started_at.is_some()));
    let rest = claim(db, 100, false).await;
    assert_eq!(names(&rest), ["h2", "n1", "n2", "l1"]);
    assert!(claim(db, 100, false).await.is_empty(), "nothing left in default");
}

async fn a_lowest_priority_job_runs_under_a_constant_stream_of_higher_work(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    // A backlog of high-priority work, then the low job, then a new highest job per claim.
    for i in 0..20 {
        insert(db, &format!("backlog{i}"), "high").await;
    }
    let low = insert(db, "low", "lowest").await;
    let mut claims = 0u64;
    let ran_after = loop {
        insert(db, &format!("stream{claims}"), "highest").await;
        claims += 1;
        // The runner's rule: every STARVATION_EVERY-th claim takes the oldest job.
        let got = claim(db, 1, claims.is_multiple_of(STARVATION_EVERY)).await;
        assert_eq!(got.len(), 1);
        store::finish(db, got[0].id, got[0].fence, &done()).await.unwrap();
        if got[0].id == low.id {
            break claims;
        }
        assert!(claims < 1000, "the lowest job starved");
    };
    // 20 older jobs ahead of it; each FIFO turn takes one of them: at most 21 turns.
    assert!(ran_after <= 21 * STARVATION_EVERY, "ran after {ran_after} claims");
    // And priority still rules between turns: the stream's jobs ran before the backlog's.
    assert!(
        ran_after > 21,
        "FIFO turns are the exception, not the rule ({ran_after})"
    );
}

async fn unique_keys_block_duplicates_while_live(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let mut keyed = job("nightly", "normal");
    keyed.unique_key = Some("report:2026-11-24".into());
    let first = store::insert(db, &keyed).await.unwrap();
    match store::insert(db, &keyed).await {
        Err(DomainError::Conflict(m)) => assert!(m.contains("unique_key"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let running = claim(db, 1, false).await;
    assert_eq!(running[0].id, first.id);
    assert!(
        matches!(store::insert(db, &keyed).await, Err(DomainError::Conflict(_))),
        "running blocks too"
    );
    store::finish(db, first.id, running[0].fence, &done())
        .await
        .unwrap();
    let again = store::insert(db, &keyed)
        .await
        .expect("a finished job frees its key");
    assert_ne!(again.id, first.id);
}

async fn delayed_jobs_wait_for_run_at(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let mut later = job("later", "highest");
    let when = Utc::now() + Duration::hours(1);
    later.run_at = Some(when);
    let later = store::insert(db, &later).await.unwrap();
    assert_eq!(later.status, JobStatus::Pending);
    insert(db, "now", "lowest").await;
    assert_eq!(
        names(&claim(db, 10, false).await),
        ["now"],
        "a delayed job is not claimable"
    );
    assert_eq!(store::promote_due(db).await.unwrap(), 0);
    let due = store::next_due(db)
        .await
        .unwrap()
        .expect("the promoter knows when to wake");
    assert!((due - when.naive_utc()).num_milliseconds().abs() < 1000);

    t.execute_sql(&format!(
        "UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE id = {}",
        later.id
    ))
    .await;
    assert_eq!(store::promote_due(db).await.unwrap(), 1);
    assert_eq!(
        store::get(db, later.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert_eq!(names(&claim(db, 10, false).await), ["later"]);
    assert_eq!(store::next_due(db).await.unwrap(), None);
}

async fn failed_attempts_retry_until_max_attempts(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let mut j = job("flaky", "normal");
    j.max_attempts = 2;
    let j = store::insert(db, &j).await.unwrap();
    let fail = |retry_at| Outcome::Failed {
        error: "boom".into(),
        exit_code: Some(3),
        retry_at,
    };

    let c1 = claim(db, 1, false).await.remove(0);
    let retry_at = (Utc::now() + Duration::minutes(5)).naive_utc();
    assert_eq!(
        store::finish(db, j.id, c1.fence, &fail(retry_at)).await.unwrap(),
        Finished::Retrying
    );
    let after = store::get(db, j.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.attempts, after.error.as_deref()),
        (JobStatus::Pending, 1, Some("boom"))
    );
    assert!(
        (after.run_at - retry_at).num_milliseconds().abs() < 1000,
        "backoff kept"
    );
    assert!(claim(db, 1, false).await.is_empty(), "not before run_at");

    t.execute_sql(&format!(
        "UPDATE jobs SET run_at = '2000-01-01 00:00:00' WHERE id = {}",
        j.id
    ))
    .await;
    store::promote_due(db).await.unwrap();
    let c2 = claim(db, 1, false).await.remove(0);
    assert_eq!(c2.attempts, 2);
    assert_eq!(
        store::finish(db, j.id, c2.fence, &fail(retry_at)).await.unwrap(),
        Finished::Failed
    );
    let end = store::get(db, j.id).await.unwrap().unwrap();
    assert_eq!((end.status, end.exit_code), (JobStatus::Failed, Some(3)));
    assert!(end.finished_at.is_some() && end.lease_owner.is_none());
}

async fn an_expired_lease_is_rescued_and_its_old_worker_is_fenced_off(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    let j = insert(db, "long", "normal").await;
    let held = claim(db, 1, false).await.remove(0);
    assert!(
        store::rescue_expired(db).await.unwrap().is_empty(),
        "a live lease is left alone"
    );
    assert_eq!(store::heartbeat(db, "w1", lease()).await.unwrap().len(), 1);

    // The worker stops renewing (crash, hang): its lease runs out.
    t.execute_sql(&format!(
        "UPDATE jobs SET lease_expires_at = '2000-01-01 00:00:00' WHERE id = {}",
        j.id
    ))
    .await;
    assert_eq!(ids(store::rescue_expired(db).await.unwrap()), vec![j.id]);
    let rescued = store::get(db, j.id).await.unwrap().unwrap();
    assert_eq!(rescued.status, JobStatus::Pending);
    assert!(rescued
        .error
        .as_deref()
        .unwrap_or_default()
        .contains("lease expired"));

    // The old worker wakes up and tries to record its result: refused.
    assert_eq!(
        store::finish(db, j.id, held.fence, &done()).await.unwrap(),
        Finished::Stale
    );
    store::promote_due(db).await.unwrap();
    let again = claim(db, 1, false).await.remove(0);
    assert!(again.fence > held.fence);
    assert_eq!(
        store::finish(db, j.id, held.fence, &done()).await.unwrap(),
        Finished::Stale,
        "still fenced"
    );
    assert_eq!(
        store::finish(db, j.id, again.fence, &done()).await.unwrap(),
        Finished::Done
    );
    assert_eq!(
        store::get(db, j.id).await.unwrap().unwrap().status,
        JobStatus::Done
    );

    // Out of attempts, a lost lease fails the job instead.
    let mut once = job("once", "normal");
    once.max_attempts = 1;
    let once = store::insert(db, &once).await.unwrap();
    claim(db, 1, false).await;
    t.execute_sql(&format!(
        "UPDATE jobs SET lease_expires_at = '2000-01-01 00:00:00' WHERE id = {}",
        once.id
    ))
    .await;
    assert_eq!(ids(store::rescue_expired(db).await.unwrap()), vec![once.id]);
    assert_eq!(
        store::get(db, once.id).await.unwrap().unwrap().status,
        JobStatus::Failed
    );
}

async fn graceful_release_requeues_without_counting_the_attempt(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = &t.db;
    insert(db, "a", "normal").await;
    insert(db, "b", "normal").await;
    let held = claim(db, 2, false).await;
    assert_eq!(store::release(db, "someone-else").await.unwrap().len(), 0);
    assert_eq!(store::release(db, "w1").await.unwrap().len(), 2);
    for j in &held {
        let back = store::get(db, j.id).await.unwrap().unwrap();
        assert_eq!((back.status, back.attempts), (JobStatus::Queued, 0));
        assert_eq!(
            store::finish(db, j.id, j.fence, &done()).await.unwrap(),
            Finished::Stale
        );
    }
    assert_eq!(claim(db, 10, false).await.len(), 2);
}

async fn concurrent_claimers_never_share_a_job(b: Backend) {
    let t = TestDb::new(b, &[]).await;
    let db = t.db.clone();
    const N: usize = 300;
    for i in 0..N {
        insert(&db, &format!("j{i}"), Priority::ALL[i % 5].as_str()).await;
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let c = Claim {
                    queue: "default",
                    limit: 7,
                    worker: &worker,
                    lease_until: lease(),
                    oldest_first: false,
                };
                let got = store::claim(&db, &c).await.unwrap();
                if got.is_empty() {
                    break mine;
                }
                mine.extend(got.iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, N, "every job claimed exactly once");
}
