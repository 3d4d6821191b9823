//! The runner: claims jobs from the database and runs them, per queue, up to each queue's
//! concurrency. It owns the background loops that keep the queue healthy (heartbeat,
//! rescuer, promoter) and the shutdown path. It does not decide who may enqueue or kill;
//! the services above it do.
//!
//! - Wake-up is immediate: enqueueing in this process calls [`Runner::notify`], which wakes
//!   the queue's dispatcher (a `Notify`). Other processes' jobs wake it through the
//!   database's hints ([`crate::cluster`], PostgreSQL `LISTEN/NOTIFY`) when `listen_url` is
//!   set; every idle loop also re-checks every `idle_poll` (every `listen_poll` while the
//!   hints are being heard), so a lost hint only delays.
//! - Once-only maintenance (promoting due jobs, rescuing expired leases, firing schedulers,
//!   retention) runs on the node holding the `maintenance` lease ([`cluster::hold`]),
//!   renewed by the keeper; another node takes over when it expires. Each of those steps is
//!   also safe when two nodes run it at once (conditional updates, fenced claims, the
//!   schedulers' compare-and-set), which is what happens while a lost leader has not yet
//!   noticed: the election saves work, correctness does not depend on it.
//! - A job killed on another node, or rescued from this one, is stopped here: the kill
//!   hint says so at once, and the keeper compares the jobs it runs with the jobs the
//!   database says it holds (at each heartbeat, and every second while hints are off).
//! - Each claim takes up to `claim_batch` jobs, as many as there are free slots. Every
//!   `STARVATION_EVERY`-th claim of a queue takes the oldest jobs (see `store`).
//! - A worker holds a lease renewed by the heartbeat loop; the rescuer returns jobs whose
//!   lease expired (a crashed or hung process) to the queue, and fencing keeps their old
//!   worker from recording anything.
//! - A worker hands its result to the completer and frees its slot at once; the completer
//!   records whatever results have gathered in one write (`store::finish_batch`), so a busy
//!   queue costs one commit per batch, not per job, and an idle one still records a result
//!   as soon as it arrives. A result not yet written when the process dies is lost with
//!   it; the lease then expires and the job runs again (at-least-once).
//! - Shutdown stops claiming, lets running jobs finish within the grace period, then stops
//!   the rest and hands them back to the queue without counting the interrupted attempt.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{broadcast, mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

mod maintenance;
mod running;

use maintenance::{keeper, promoter, rescuer, retention, scheduler, wake_for};
use running::{completer, dispatch};

use super::command::{self, CommandSpec, Ended, LogLine, Output};
use super::events::{EventKind, Hub};
use super::schedulers;
use super::scripts::{ScriptCtx, ScriptRegistry};
use super::store::{self, Claim, Completion, Finished, Outcome, STARVATION_EVERY};
use super::{Job, JobKind, JobStatus};
use crate::cluster::{self, Hint, Listening};
use crate::db::Db;
use crate::notify::Alert;

/// One queue and how many of its jobs may run at once in this process.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub name: String,
    pub concurrency: usize,
}

const USER_AGENT: &str = concat!("vcore/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub queues: Vec<QueueConfig>,
    /// This process's name in `lease_owner`; unique per process.
    pub worker_id: String,
    pub lease: Duration,
    pub heartbeat_every: Duration,
    pub rescue_every: Duration,
    /// How often an idle dispatcher looks for work enqueued by other processes, without hints.
    pub idle_poll: Duration,
    /// The same while hints are heard (a safety net only).
    pub listen_poll: Duration,
    /// The PostgreSQL URL to listen for hints on; None: poll only (SQLite, `JOB_NOTIFY=false`).
    pub listen_url: Option<String>,
    /// How long the maintenance lease lasts; renewed at a third of it.
    pub maintenance_lease: Duration,
    pub claim_batch: usize,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub log_dir: PathBuf,
    pub max_log_bytes: u64,
    /// Finished jobs older than this are deleted (with their logs) every `RETENTION_EVERY`;
    /// `None` keeps them.
    pub retention: Option<Duration>,
    /// Audit log entries older than this are deleted with the same loop; `None` keeps them.
    pub audit_retention: Option<Duration>,
    /// Where the `backup_sqlite` script writes by default.
    pub backup_dir: PathBuf,
    /// Where job changes are published for live viewers.
    pub hub: Hub,
    /// Told about jobs that end (failed, or done when `NOTIFY_ON_SUCCESS`).
    pub notifier: Option<crate::notify::Notifier>,
    /// Hosts the `api_post` jobs of users below operator may call anyway (see `ssrf`).
    pub api_post_allowed: crate::jobs::ssrf::AllowedHosts,
}

impl RunnerConfig {
    /// Sane defaults: `default` (4 at once) and `reserved` (1), 30 s leases renewed every 10 s.
    pub fn new(log_dir: PathBuf) -> Self {
        RunnerConfig {
            queues: vec![
                QueueConfig {
                    name: "default".into(),
                    concurrency: 4,
                },
                QueueConfig {
                    name: "reserved".into(),
                    concurrency: 1,
                },
            ],
            worker_id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
            lease: Duration::from_secs(30),
            heartbeat_every: Duration::from_secs(10),
            rescue_every: Duration::from_secs(5),
            idle_poll: Duration::from_secs(2),
            listen_poll: Duration::from_secs(60),
            listen_url: None,
            maintenance_lease: Duration::from_secs(15),
            claim_batch: 64,
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            backup_dir: log_dir.parent().unwrap_or(&log_dir).join("backups"),
            hub: Hub::default(),
            notifier: None,
            api_post_allowed: Default::default(),
            log_dir,
            max_log_bytes: 10 * 1024 * 1024,
            retention: Some(Duration::from_secs(30 * 86_400)),
            audit_retention: None,
        }
    }
}

struct QueueState {
    concurrency: usize,
    /// Held by the dispatcher from its pause check through its claim, and by a pause
    /// once the flag is set: when `set_paused(true)` returns, no claim is under way.
    claiming: tokio::sync::Mutex<()>,
    notify: Notify,
    /// Paused in this process only ([`Runner::set_paused`]).
    paused: AtomicBool,
    /// Stopped for every node (stop-consumer): this process's copy of `paused_queues`,
    /// kept by hints and re-read while set. Claims check the table itself.
    stopped: AtomicBool,
    slots: Arc<Semaphore>,
    claims: AtomicU64,
}

/// A job running in this process.
struct Running {
    cancel: CancellationToken,
    /// Set by a kill: the job ends `cancelled`. Unset when cancelled by shutdown: the job is
    /// handed back to the queue.
    killed: AtomicBool,
}

struct Inner {
    db: Db,
    metrics: crate::metrics::RunnerMetrics,
    cfg: RunnerConfig,
    scripts: ScriptRegistry,
    queues: HashMap<String, QueueState>,
    running: Mutex<HashMap<i64, Arc<Running>>>,
    /// Stops the dispatchers and background loops.
    stop: CancellationToken,
    /// Parent of every running job's token: cancelling it stops all jobs.
    jobs_stop: CancellationToken,
    /// Wakes the promoter (a delayed job or a retry was scheduled).
    promoter: Notify,
    /// Wakes the scheduler loop (a scheduler was created or changed).
    schedules: Notify,
    lines: broadcast::Sender<LogLine>,
    tasks: tokio_util::task::TaskTracker,
    /// One HTTP client (connection pool) for the api_post jobs of superusers, operators
    /// and the server itself.
    http: reqwest::Client,
    /// The same for everyone else's: no loopback or private addresses (see `ssrf`).
    guarded_http: reqwest::Client,
    /// To the completer.
    results: mpsc::UnboundedSender<Completion>,
    /// Stops the completer once it has written everything sent before.
    completer_stop: CancellationToken,
    completer: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Attempts whose end the completer has handled (recorded, or found fenced).
    finished: AtomicU64,
    /// Set once the hint listener is started (with `listen_url`).
    listening: std::sync::OnceLock<Listening>,
    /// True while this node holds the maintenance lease.
    leader: tokio::sync::watch::Sender<bool>,
    /// Asks the keeper to compare running jobs with held leases now.
    check_leases: Notify,
}

impl QueueState {
    fn halted(&self) -> bool {
        self.paused.load(Ordering::SeqCst) || self.stopped.load(Ordering::SeqCst)
    }
}

impl Inner {
    /// How long an idle loop sleeps before looking again by itself.
    fn idle_wait(&self) -> Duration {
        match self.listening.get() {
            Some(l) if l.get() => self.cfg.listen_poll,
            _ => self.cfg.idle_poll,
        }
    }

    fn hears_hints(&self) -> bool {
        self.listening.get().is_some_and(Listening::get)
    }

    /// Acts on a hint from the database (the listener's task: nothing slow here).
    fn on_hint(&self, hint: Hint) {
        match hint {
            Hint::Ready(queue) => {
                if let Some(q) = self.queues.get(&queue) {
                    q.notify.notify_one();
                }
            }
            Hint::Pending => self.promoter.notify_one(),
            Hint::Kill(id) => {
                if self.kill(id) {
                    tracing::info!(job = id, "killed from another node");
                }
            }
            Hint::Paused(queue, paused) => {
                if let Some(q) = self.queues.get(&queue) {
                    q.stopped.store(paused, Ordering::SeqCst);
                    q.notify.notify_one();
                }
            }
            Hint::Schedulers => self.schedules.notify_one(),
            Hint::Reconnected => {
                // Whatever was said while nobody listened: look at everything.
                self.queues.values().for_each(|q| q.notify.notify_one());
                self.promoter.notify_one();
                self.schedules.notify_one();
                self.check_leases.notify_one();
            }
        }
    }

    /// Kills a job running in this process (it ends `cancelled`); false when not here.
    fn kill(&self, id: i64) -> bool {
        self.stop_job(id, true)
    }

    /// Stops a job running here; `killed`: record it cancelled, else drop it unrecorded
    /// (it is no longer ours: rescued, or cancelled elsewhere).
    fn stop_job(&self, id: i64, killed: bool) -> bool {
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        match running {
            Some(r) => {
                if killed {
                    r.killed.store(true, Ordering::SeqCst);
                }
                r.cancel.cancel();
                true
            }
            None => false,
        }
    }

    fn running_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }
}

/// Handle to the runner. Cheap to clone.
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl Runner {
    /// Starts the dispatchers and background loops.
    pub fn start(db: Db, cfg: RunnerConfig, scripts: ScriptRegistry) -> Runner {
        let queues = cfg
            .queues
            .iter()
            .map(|q| {
                let state = QueueState {
                    concurrency: q.concurrency.max(1),
                    claiming: tokio::sync::Mutex::new(()),
                    notify: Notify::new(),
                    paused: AtomicBool::new(false),
                    stopped: AtomicBool::new(false),
                    slots: Arc::new(Semaphore::new(q.concurrency.max(1))),
                    claims: AtomicU64::new(0),
                };
                (q.name.clone(), state)
            })
            .collect();
        let (lines, _) = broadcast::channel(4096);
        let (results, results_rx) = mpsc::unbounded_channel();
        let guarded_http = crate::jobs::ssrf::guarded_client(USER_AGENT, cfg.api_post_allowed.clone());
        let inner = Arc::new(Inner {
            db,
            metrics: Default::default(),
            cfg,
            scripts,
            queues,
            running: Mutex::new(HashMap::new()),
            stop: CancellationToken::new(),
            jobs_stop: CancellationToken::new(),
            promoter: Notify::new(),
            schedules: Notify::new(),
            lines,
            tasks: tokio_util::task::TaskTracker::new(),
            http: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .build()
                .unwrap_or_default(),
            guarded_http,
            results,
            completer_stop: CancellationToken::new(),
            completer: Mutex::new(None),
            finished: AtomicU64::new(0),
            listening: std::sync::OnceLock::new(),
            leader: tokio::sync::watch::channel(false).0,
            check_leases: Notify::new(),
        });
        if let Some(url) = inner.cfg.listen_url.clone() {
            let hinted = inner.clone();
            let listening = cluster::spawn_listener(url, inner.stop.clone(), move |h| hinted.on_hint(h));
            let _ = inner.listening.set(listening);
        }
        let handle = tokio::spawn(completer(inner.clone(), results_rx));
        *inner.completer.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        for q in inner.cfg.queues.iter().map(|q| q.name.clone()) {
            inner.tasks.spawn(dispatch(inner.clone(), q));
        }
        inner.tasks.spawn(keeper(inner.clone()));
        inner.tasks.spawn(rescuer(inner.clone()));
        inner.tasks.spawn(promoter(inner.clone()));
        inner.tasks.spawn(scheduler(inner.clone()));
        if inner.cfg.retention.is_some() || inner.cfg.audit_retention.is_some() {
            inner.tasks.spawn(retention(inner.clone()));
        }
        Runner { inner }
    }

    /// Wakes the runner for a job just stored: its queue's dispatcher, or the promoter when
    /// the job waits for a later `run_at`.
    pub fn notify(&self, job: &Job) {
        wake_for(&self.inner, job);
    }

    /// Tells the scheduler loop that a scheduler was created or changed, so that a run due
    /// sooner than it planned for is not late.
    pub fn schedulers_changed(&self) {
        self.inner.schedules.notify_one();
    }

    /// The queues this runner serves.
    pub fn queue_names(&self) -> Vec<String> {
        self.inner.cfg.queues.iter().map(|q| q.name.clone()).collect()
    }

    /// Stops (true) or resumes (false) claiming from `queue`; running jobs go on. A pause
    /// returns once no claim is under way, so nothing is claimed after it. Returns false
    /// for an unknown queue.
    pub async fn set_paused(&self, queue: &str, paused: bool) -> bool {
        let Some(q) = self.inner.queues.get(queue) else {
            return false;
        };
        q.paused.store(paused, Ordering::SeqCst);
        if paused {
            // Waits out a claim that passed its pause check before the flag was set.
            drop(q.claiming.lock().await);
        }
        q.notify.notify_one();
        true
    }

    /// Records here that `queue` was stopped (true) or started for every node (the caller
    /// wrote `paused_queues`); a stop returns once no claim of this process is under way.
    pub async fn set_stopped(&self, queue: &str, stopped: bool) -> bool {
        let Some(q) = self.inner.queues.get(queue) else {
            return false;
        };
        q.stopped.store(stopped, Ordering::SeqCst);
        if stopped {
            drop(q.claiming.lock().await);
        }
        q.notify.notify_one();
        true
    }

    /// Whether this process claims nothing from `queue` now (paused here, or stopped for all).
    pub fn is_paused(&self, queue: &str) -> Option<bool> {
        self.inner.queues.get(queue).map(QueueState::halted)
    }

    /// Kills a job running in this process; it ends `cancelled`. False when it is not
    /// running here.
    pub fn kill(&self, id: i64) -> bool {
        self.inner.kill(id)
    }

    /// Ids of the jobs running in this process.
    pub fn running_ids(&self) -> Vec<i64> {
        self.inner.running_ids()
    }

    /// This process's name in `lease_owner` (its node id).
    pub fn worker_id(&self) -> &str {
        &self.inner.cfg.worker_id
    }

    /// Whether this node holds the maintenance lease now.
    pub fn is_leader(&self) -> bool {
        *self.inner.leader.borrow()
    }

    /// Whether hints from the database are being heard now (PostgreSQL with `JOB_NOTIFY`).
    pub fn hears_hints(&self) -> bool {
        self.inner.hears_hints()
    }

    /// The queues and their concurrency in this process.
    pub fn queues(&self) -> Vec<(String, usize)> {
        self.inner
            .cfg
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.concurrency.max(1)))
            .collect()
    }

    /// What this runner counts (claims, run times, retries, rescues), for `GET /metrics`.
    pub fn metrics(&self) -> &crate::metrics::RunnerMetrics {
        &self.inner.metrics
    }

    /// Each queue's slots now: (queue, busy, total).
    pub fn slots(&self) -> Vec<(String, usize, usize)> {
        let mut all: Vec<(String, usize, usize)> = self
            .inner
            .queues
            .iter()
            .map(|(name, q)| {
                let busy = q.concurrency.saturating_sub(q.slots.available_permits());
                (name.clone(), busy, q.concurrency)
            })
            .collect();
        all.sort();
        all
    }

    /// How many attempts have ended and been recorded (or found fenced) since start.
    pub fn finished_count(&self) -> u64 {
        self.inner.finished.load(Ordering::Acquire)
    }

    /// Output lines of command jobs as they are written.
    pub fn subscribe_lines(&self) -> broadcast::Receiver<LogLine> {
        self.inner.lines.subscribe()
    }

    /// Graceful shutdown: stop claiming, give running jobs `grace` to finish, then stop the
    /// rest and hand them back to the queue. Returns how many were handed back.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        let inner = &self.inner;
        inner.stop.cancel();
        let drained = async {
            while !inner.running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::info!(jobs = ?self.running_ids(), "grace period over; stopping the rest");
            inner.jobs_stop.cancel();
        }
        inner.tasks.close();
        inner.tasks.wait().await;
        // Every worker has sent its result; write them before handing the rest back.
        inner.completer_stop.cancel();
        let completer = inner.completer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(handle) = completer {
            let _ = handle.await;
        }
        if *inner.leader.borrow() {
            if let Err(e) = cluster::release(&inner.db, cluster::MAINTENANCE, &inner.cfg.worker_id).await {
                tracing::warn!(error = %e, "giving up the maintenance lease failed; it expires by itself");
            }
        }
        match store::release(&inner.db, &inner.cfg.worker_id).await {
            Ok(jobs) => {
                for j in &jobs {
                    inner
                        .cfg
                        .hub
                        .publish(EventKind::Status, j.id, j.owner_id, j.status);
                }
                jobs.len()
            }
            Err(e) => {
                tracing::error!(error = %e, "handing unfinished jobs back failed; the rescuer will requeue them");
                0
            }
        }
    }
}
