//! The job engine's promises, checked against the real binary in child processes:
//! - a SIGKILL with jobs in flight loses none: after a restart every job ends done, or
//!   failed where its policy allows no further attempt, and each finished its work once
//!   (the killed process's commands die with it instead of running on unsupervised);
//! - a worker whose lease was taken over (here: frozen with SIGSTOP) cannot record a result
//!   once it wakes up: the fence stops it, and the other worker's results stand;
//! - SIGTERM stops gracefully: a job that can finish within the grace period finishes, the
//!   rest are stopped (no process left behind) and handed back without counting the attempt.
//!
//! Jobs are stored through the domain crate, straight into the database the child uses.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vcore_domain::db::Db;
use vcore_domain::jobs::{store, Job, JobKind, JobStatus, NewJob, Priority};

use crate::helpers::{both_backends, Backend};

const BIN: &str = env!("CARGO_BIN_EXE_vcore");

/// A `vcore` child process; killed if the test fails first.
pub(crate) struct Proc {
    pub(crate) child: Child,
    stderr: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub(crate) fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    pub(crate) fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.stderr) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits for the process to exit; its exit code.
    pub(crate) fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "vcore did not exit within {within:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub(crate) struct Site {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) url: String,
    pub(crate) db: Db,
}

pub(crate) async fn site(b: Backend) -> Site {
    let dir = tempfile::Builder::new().prefix("vcore-crash-").tempdir().unwrap();
    let url = match b {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("jobs.db").display()),
        Backend::Postgres => crate::pg::create_database().await,
    };
    Db::migrate(&url, &[]).await.expect("migrate");
    let db = Db::connect(&url, 2).await.expect("connect");
    Site { dir, url, db }
}

impl Site {
    /// Starts `vcore <cmd>` (serve or worker) on this site's database. Leases of 3 s, so
    /// that a lost worker's jobs are rescued within seconds; `WORKER` names the process for
    /// the commands it runs.
    pub(crate) fn start(&self, cmd: &str, worker: &str, extra: &[(&str, &str)]) -> Proc {
        let stderr = self.dir.path().join(format!("{worker}.log"));
        // Each process its own data directory (its logs, its secrets), as on separate machines.
        let data = self.dir.path().join(format!("data-{worker}"));
        let mut c = Command::new(BIN);
        c.arg(cmd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATA_DIR", &data)
            .env("DB_URL", &self.url)
            .env("SERVER_HOST", "127.0.0.1")
            .env("SERVER_PORT", "0")
            .env("LOG_LEVEL", "warn")
            .env("FIRST_SUPERUSER_PASSWORD", "crash-test-password")
            .env("JOB_LEASE_SECS", "3")
            .env("JOB_QUEUES", "default:4")
            .env("WORKER", worker)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in extra {
            c.env(k, v);
        }
        Proc {
            child: c.spawn().expect("start vcore"),
            stderr,
        }
    }

    pub(crate) async fn enqueue(&self, command: &str, priority: Priority, max_attempts: i32) -> i64 {
        let new = NewJob {
            name: "crash test".into(),
            kind: JobKind::Command,
            command: command.into(),
            meta: serde_json::Value::Null,
            queue: "default".into(),
            priority,
            max_attempts,
            timeout_secs: None,
            run_at: None,
            unique_key: None,
            owner_id: None,
        };
        store::insert(&self.db, &new).await.unwrap().id
    }

    pub(crate) async fn jobs(&self, ids: &[i64]) -> Vec<Job> {
        let mut out = Vec::new();
        for id in ids {
            out.push(store::get(&self.db, *id).await.unwrap().expect("job exists"));
        }
        out
    }

    /// Polls until `done(jobs)` holds, panicking with the jobs' states after `within`.
    pub(crate) async fn wait_for(
        &self,
        ids: &[i64],
        within: Duration,
        what: &str,
        done: impl Fn(&[Job]) -> bool,
    ) -> Vec<Job> {
        let deadline = Instant::now() + within;
        loop {
            let jobs = self.jobs(ids).await;
            if done(&jobs) {
                return jobs;
            }
            if Instant::now() > deadline {
                let states: Vec<_> = jobs
                    .iter()
                    .map(|j| (j.id, j.status, j.attempts, j.error.clone()))
                    .collect();
                panic!("timed out waiting for {what}: {states:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn marker(&self) -> PathBuf {
        self.dir.path().join("finished.txt")
    }

    /// How many times each job id was written to the marker file.
    pub(crate) fn finished_work(&self) -> BTreeMap<i64, usize> {
        let text = std::fs::read_to_string(self.marker()).unwrap_or_default();
        let mut counts = BTreeMap::new();
        for line in text.lines() {
            *counts.entry(line.trim().parse::<i64>().unwrap()).or_default() += 1;
        }
        counts
    }
}

pub(crate) fn running(jobs: &[Job]) -> usize {
    jobs.iter().filter(|j| j.status == JobStatus::Running).count()
}

pub(crate) fn ended(jobs: &[Job]) -> bool {
    jobs.iter().all(|j| {
        matches!(
            j.status,
            JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled
        )
    })
}

/// A command that works for `secs`, then records (once) that job `tag` finished its work.
pub(crate) fn work(secs: f64, tag: usize, marker: &Path) -> String {
    format!("sleep {secs}; echo {tag} >> '{}'", marker.display())
}

async fn sigkill_with_jobs_in_flight_loses_none_and_runs_none_twice(b: Backend) {
    let s = site(b).await;
    let marker = s.marker();
    // Claimed first (highest): two that allow one attempt, two that allow three.
    // Then eight more that have not started when the process dies.
    let mut ids = Vec::new();
    let mut tags = BTreeMap::new();
    for i in 0..12 {
        let (priority, attempts) = match i {
            0..2 => (Priority::Highest, 1),
            2..4 => (Priority::Highest, 3),
            _ => (Priority::Normal, 3),
        };
        let id = s.enqueue(&work(3.0, i, &marker), priority, attempts).await;
        ids.push(id);
        tags.insert(i, id);
    }

    let mut first = s.start("serve", "first", &[]);
    let at_kill = s
        .wait_for(&ids, Duration::from_secs(30), "four running jobs", |j| {
            running(j) == 4
        })
        .await;
    first.signal("KILL");
    first.exit_code(Duration::from_secs(10));
    let in_flight: Vec<i64> = at_kill
        .iter()
        .filter(|j| j.status == JobStatus::Running)
        .map(|j| j.id)
        .collect();
    assert_eq!(in_flight, ids[..4], "the four highest were running");

    let _second = s.start("serve", "second", &[]);
    let jobs = s
        .wait_for(&ids, Duration::from_secs(90), "every job to end", ended)
        .await;

    for (i, job) in jobs.iter().enumerate() {
        if i < 2 {
            // One attempt allowed, and it was lost with the process: failed, saying why.
            assert_eq!(job.status, JobStatus::Failed, "job {i}: {job:?}");
            assert!(
                job.error.as_deref().unwrap_or("").contains("lease expired"),
                "job {i}: {job:?}"
            );
        } else {
            assert_eq!(job.status, JobStatus::Done, "job {i}: {job:?}");
            let expected_attempts = if i < 4 { 2 } else { 1 };
            assert_eq!(job.attempts, expected_attempts, "job {i}: {job:?}");
        }
    }
    // Each job that ended done did its work exactly once; the killed attempts never
    // finished theirs (their commands died with the process).
    let work_done = s.finished_work();
    let expected: BTreeMap<i64, usize> = (2..12).map(|i| (i, 1)).collect();
    assert_eq!(work_done, expected, "tags of finished work (ids: {tags:?})");
}

async fn a_fenced_worker_cannot_record_after_its_lease_was_taken_over(b: Backend) {
    let s = site(b).await;
    // Fails when run by worker A, succeeds when run by worker B.
    let cmd = "sleep 2; test \"$WORKER\" = B";
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(s.enqueue(cmd, Priority::Normal, 3).await);
    }
    let a = s.start("worker", "A", &[]);
    s.wait_for(&ids, Duration::from_secs(30), "A to run all four", |j| {
        running(j) == 4
    })
    .await;
    // Frozen: no heartbeat, no results. Its commands run on and exit 1 meanwhile.
    a.signal("STOP");
    let b_proc = s.start("worker", "B", &[]);
    let by_b = s
        .wait_for(
            &ids,
            Duration::from_secs(60),
            "B to rescue and finish them",
            |j| j.iter().all(|j| j.status == JobStatus::Done),
        )
        .await;
    a.signal("CONT");
    // A wakes up and either reaps its commands (exit 1) and tries to record four failures,
    // fenced off, or its keeper first sees that it no longer holds the jobs and drops them
    // unrecorded. Either way, each job says so in A's log.
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = |log: &str, id: i64| {
        strip_ansi(log).lines().any(|l| {
            l.contains(&format!("job={id}")) && (l.contains("fenced") || l.contains("no longer holds"))
        })
    };
    while !ids.iter().all(|id| refused(&a.log(), *id)) {
        assert!(
            Instant::now() < deadline,
            "A never reported its fenced results:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = s.jobs(&ids).await;
    for (before, after) in by_b.iter().zip(&after) {
        assert_eq!(after.status, JobStatus::Done, "{after:?}");
        assert_eq!(
            after.finished_at, before.finished_at,
            "B's result stands: {after:?}"
        );
        assert_eq!(after.exit_code, Some(0));
    }
    drop(b_proc);
    drop(a);
}

async fn sigterm_finishes_what_fits_in_the_grace_period_and_hands_back_the_rest(b: Backend) {
    let s = site(b).await;
    let marker = s.marker();
    let quick = s.enqueue(&work(0.5, 1, &marker), Priority::Highest, 3).await;
    // A distinctive duration (per test run), to look for its process afterwards.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let seconds = format!("300.{nanos:09}");
    let slow = s.enqueue(&format!("sleep {seconds}"), Priority::Highest, 3).await;
    let ids = [quick, slow];
    let mut p = s.start("serve", "served", &[("JOB_SHUTDOWN_GRACE_SECS", "2")]);
    s.wait_for(&ids, Duration::from_secs(30), "both running", |j| running(j) == 2)
        .await;
    p.signal("TERM");
    assert_eq!(p.exit_code(Duration::from_secs(20)), Some(0), "log:\n{}", p.log());

    let jobs = s.jobs(&ids).await;
    assert_eq!(
        jobs[0].status,
        JobStatus::Done,
        "finished within the grace: {:?}",
        jobs[0]
    );
    assert_eq!(s.finished_work().get(&1), Some(&1));
    assert_eq!(jobs[1].status, JobStatus::Queued, "handed back: {:?}", jobs[1]);
    assert_eq!(jobs[1].attempts, 0, "the interrupted attempt does not count");
    assert_eq!(jobs[1].lease_owner, None);
    assert!(!process_running(&seconds), "the stopped job's process is gone");
}

/// `text` without terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether any process has `needle` in its command line.
pub(crate) fn process_running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(needle))
            .unwrap_or(false)
    })
}

both_backends!(
    sigkill_with_jobs_in_flight_loses_none_and_runs_none_twice,
    a_fenced_worker_cannot_record_after_its_lease_was_taken_over,
    sigterm_finishes_what_fits_in_the_grace_period_and_hands_back_the_rest,
);
