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
    /// Where the `backup_sqlite` script writes by default.
    pub backup_dir: PathBuf,
    /// Where job changes are published for live viewers.
    pub hub: Hub,
    /// Told about jobs that end (failed, or done when `NOTIFY_ON_SUCCESS`).
    pub notifier: Option<crate::notify::Notifier>,
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
            log_dir,
            max_log_bytes: 10 * 1024 * 1024,
            retention: Some(Duration::from_secs(30 * 86_400)),
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
    /// One HTTP client (connection pool) for every api_post job.
    http: reqwest::Client,
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
        let inner = Arc::new(Inner {
            db,
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
                .user_agent(concat!("vcore/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
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
        if let Some(keep) = inner.cfg.retention {
            inner.tasks.spawn(retention(inner.clone(), keep));
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

/// Under load, how long a dispatcher may wait for more free slots before it claims.
const CLAIM_LINGER: Duration = Duration::from_millis(1);

async fn dispatch(inner: Arc<Inner>, queue: String) {
    let q = &inner.queues[&queue];
    let most = inner.cfg.claim_batch.clamp(1, q.concurrency);
    // The last claim filled every free slot, so more work is probably waiting.
    let mut busy = false;
    // Stopped before this process started (the state outlives processes).
    refresh_paused(&inner, &queue).await;
    loop {
        if inner.stop.is_cancelled() {
            return;
        }
        // Register for a wake-up before looking, so a notify between the look and the wait
        // is not lost.
        let woken = q.notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if q.halted() {
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(inner.idle_wait()) => {}
                _ = inner.stop.cancelled() => return,
            }
            // Started again on another node, maybe: the table says.
            refresh_paused(&inner, &queue).await;
            continue;
        }
        let first = tokio::select! {
            p = q.slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = inner.stop.cancelled() => return,
        };
        let mut slots = vec![first];
        take_free(q, &mut slots, most);
        if busy && slots.len() < most.div_ceil(2) {
            // A backlog and only a few free slots: wait up to CLAIM_LINGER for half of
            // them, so that one claim (one write) starts several jobs instead of one.
            // Queued jobs wait for a slot anyway; an idle queue never lingers.
            let deadline = tokio::time::Instant::now() + CLAIM_LINGER;
            while slots.len() < most.div_ceil(2) {
                match tokio::time::timeout_at(deadline, q.slots.clone().acquire_owned()).await {
                    Ok(Ok(p)) => slots.push(p),
                    _ => break,
                }
            }
            take_free(q, &mut slots, most);
        }
        let claiming = q.claiming.lock().await;
        if q.halted() {
            // Paused while this iteration waited for slots.
            drop((claiming, slots));
            continue;
        }
        let n = q.claims.fetch_add(1, Ordering::Relaxed) + 1;
        let lease_until = (Utc::now() + inner.cfg.lease).naive_utc();
        let claim = Claim {
            queue: &queue,
            limit: slots.len() as i64,
            worker: &inner.cfg.worker_id,
            lease_until,
            oldest_first: n.is_multiple_of(STARVATION_EVERY),
        };
        let jobs = match store::claim(&inner.db, &claim).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::error!(queue, error = %e, "claim failed; retrying in 1 s");
                drop((claiming, slots));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = inner.stop.cancelled() => return,
                }
            }
        };
        drop(claiming);
        busy = jobs.len() == slots.len();
        if jobs.is_empty() {
            drop(slots);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(inner.idle_wait()) => {}
                _ = inner.stop.cancelled() => return,
            }
            continue;
        }
        // Registered as running before their tasks start, so that a kill arriving right
        // after the claim finds them.
        let claimed: Vec<(Job, Arc<Running>)> = {
            let mut running = inner.running.lock().unwrap_or_else(|p| p.into_inner());
            jobs.into_iter()
                .map(|job| {
                    inner.cfg.hub.job(EventKind::Status, &job);
                    let r = Arc::new(Running {
                        cancel: inner.jobs_stop.child_token(),
                        killed: AtomicBool::new(false),
                    });
                    running.insert(job.id, r.clone());
                    (job, r)
                })
                .collect()
        };
        for ((job, running), slot) in claimed.into_iter().zip(slots) {
            let inner2 = inner.clone();
            inner.tasks.spawn(async move {
                execute(&inner2, job, running).await;
                drop(slot);
            });
        }
    }
}

/// Sets the queue's local pause flag from the database (where stop-consumer writes it).
async fn refresh_paused(inner: &Inner, queue: &str) {
    match cluster::paused_queues(&inner.db).await {
        Ok(paused) => {
            if let Some(q) = inner.queues.get(queue) {
                q.stopped
                    .store(paused.iter().any(|p| p == queue), Ordering::SeqCst);
            }
        }
        Err(e) => tracing::warn!(queue, error = %e, "reading the paused queues failed"),
    }
}

/// Adds every immediately free slot of `q` to `slots`, up to `most`.
fn take_free(q: &QueueState, slots: &mut Vec<tokio::sync::OwnedSemaphorePermit>, most: usize) {
    while slots.len() < most {
        match q.slots.clone().try_acquire_owned() {
            Ok(p) => slots.push(p),
            Err(_) => break,
        }
    }
}

/// Runs one claimed job and records how it ended.
async fn execute(inner: &Arc<Inner>, job: Job, running: Arc<Running>) {
    let forget = || {
        inner
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&job.id);
    };
    if inner.stop.is_cancelled() && !running.killed.load(Ordering::SeqCst) {
        // Claimed as shutdown began: not started, so `release` hands it back. (Starting it
        // now could outlast the grace period, which has stopped counting.)
        forget();
        return;
    }
    let timeout = job.timeout_secs.map(|s| Duration::from_secs(s.max(1) as u64));
    let attempt = run_attempt(inner, &job, &running.cancel, timeout).await;
    forget();

    let db = &inner.db;
    let outcome = match attempt {
        Attempt::Stopped => {
            if running.killed.load(Ordering::SeqCst) {
                match store::cancel(db, job.id, Some(job.fence), "killed").await {
                    Ok(true) => {
                        inner
                            .cfg
                            .hub
                            .publish(EventKind::Status, job.id, job.owner_id, JobStatus::Cancelled);
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(job = job.id, error = %e, "recording the kill failed"),
                }
            }
            // Otherwise stopped by shutdown: `release` hands it back to the queue.
            return;
        }
        Attempt::Done { result, exit_code } => Outcome::Done { result, exit_code },
        Attempt::Failed { error, exit_code } => {
            let wait = store::backoff(job.attempts, inner.cfg.retry_base, inner.cfg.retry_max);
            Outcome::Failed {
                error,
                exit_code,
                retry_at: (Utc::now() + wait).naive_utc(),
            }
        }
    };
    // Only fails once the completer has stopped, i.e. after shutdown; release() then
    // hands the job back.
    let _ = inner.results.send(Completion {
        id: job.id,
        fence: job.fence,
        owner_id: job.owner_id,
        name: match inner.cfg.notifier {
            Some(_) => job.name.clone(),
            None => String::new(),
        },
        outcome,
    });
}

/// Most results written in one go.
const COMPLETION_BATCH: usize = 1024;

/// Writes workers' results: waits for one, takes every other already waiting (up to
/// `COMPLETION_BATCH`), writes them together, repeats. Exits when `completer_stop` fires
/// and nothing is left.
async fn completer(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Completion>) {
    let mut batch = Vec::with_capacity(COMPLETION_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            c = rx.recv() => c,
            _ = inner.completer_stop.cancelled() => None,
        };
        match first {
            Some(c) => batch.push(c),
            None if rx.is_empty() => return,
            None => {}
        }
        while batch.len() < COMPLETION_BATCH {
            match rx.try_recv() {
                Ok(c) => batch.push(c),
                Err(_) => break,
            }
        }
        record(&inner, &batch).await;
        inner.finished.fetch_add(batch.len() as u64, Ordering::Release);
        batch.clear();
    }
}

/// Records a batch, trying a few times if the database is briefly unavailable. Results it
/// cannot write are left to the rescuer: their leases expire and the jobs run again.
async fn record(inner: &Inner, batch: &[Completion]) {
    let mut wait = Duration::from_millis(100);
    for attempt in 1..=5 {
        match store::finish_batch(&inner.db, batch).await {
            Ok(outcomes) => {
                for (c, f) in batch.iter().zip(outcomes) {
                    let status = match f {
                        Finished::Done => Some(JobStatus::Done),
                        Finished::Failed => Some(JobStatus::Failed),
                        Finished::Retrying => Some(JobStatus::Pending),
                        Finished::Stale => None,
                    };
                    if let Some(status) = status {
                        inner.cfg.hub.publish(EventKind::Status, c.id, c.owner_id, status);
                    }
                    if let Some(n) = &inner.cfg.notifier {
                        match (f, &c.outcome) {
                            (Finished::Done, _) => n.alert(Alert::JobDone {
                                id: c.id,
                                name: c.name.clone(),
                            }),
                            (Finished::Failed, store::Outcome::Failed { error, .. }) => {
                                n.alert(Alert::JobFailed {
                                    id: c.id,
                                    name: c.name.clone(),
                                    error: error.clone(),
                                })
                            }
                            _ => {}
                        }
                    }
                    match f {
                        Finished::Retrying => inner.promoter.notify_one(),
                        Finished::Stale => {
                            tracing::warn!(job = c.id, "result not recorded: the lease was lost (fenced)")
                        }
                        Finished::Done | Finished::Failed => {}
                    }
                }
                return;
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(jobs = batch.len(), error = %e, "recording results failed; trying again");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                let ids: Vec<i64> = batch.iter().map(|c| c.id).collect();
                tracing::error!(jobs = ?ids, error = %e, "recording results failed; the rescuer will run these jobs again");
            }
        }
    }
}

enum Attempt {
    Done {
        result: Option<String>,
        exit_code: Option<i32>,
    },
    Failed {
        error: String,
        exit_code: Option<i32>,
    },
    /// Cancelled (kill or shutdown) before it ended.
    Stopped,
}

async fn run_attempt(
    inner: &Arc<Inner>,
    job: &Job,
    cancel: &CancellationToken,
    timeout: Option<Duration>,
) -> Attempt {
    match job.kind {
        JobKind::Script => {
            let Some(script) = inner.scripts.get(&job.command) else {
                return Attempt::Failed {
                    error: format!("no script named {:?}", job.command),
                    exit_code: None,
                };
            };
            if script.info().superuser_only {
                if let Err(error) = owner_may_run(&inner.db, job.owner_id, &job.command).await {
                    return Attempt::Failed {
                        error,
                        exit_code: None,
                    };
                }
            }
            let ctx = ScriptCtx {
                job_id: job.id,
                owner_id: job.owner_id,
                db: inner.db.clone(),
                cancel: cancel.child_token(),
                log_dir: inner.cfg.log_dir.clone(),
                backup_dir: inner.cfg.backup_dir.clone(),
            };
            let run = script.run(&ctx, job.meta.clone());
            let limit = timeout.unwrap_or(Duration::MAX);
            tokio::select! {
                r = tokio::time::timeout(limit, run) => match r {
                    Ok(Ok(v)) => Attempt::Done { result: Some(v.to_string()), exit_code: None },
                    Ok(Err(e)) if cancel.is_cancelled() => { let _ = e; Attempt::Stopped }
                    Ok(Err(e)) => Attempt::Failed { error: format!("{e:#}"), exit_code: None },
                    Err(_) => { ctx.cancel.cancel(); Attempt::Failed { error: format!("timed out after {} s", limit.as_secs()), exit_code: None } }
                },
                _ = cancel.cancelled() => Attempt::Stopped,
            }
        }
        JobKind::Command => {
            let spec = match CommandSpec::from_job(&job.command, &job.meta) {
                Ok(s) => s,
                Err(e) => {
                    return Attempt::Failed {
                        error: e,
                        exit_code: None,
                    }
                }
            };
            let out = Output {
                job_id: job.id,
                log_path: store::log_file(&inner.cfg.log_dir, job.id),
                max_log_bytes: inner.cfg.max_log_bytes,
                lines: inner.lines.clone(),
                ship: super::logs::ShipTo::new(&inner.db, job.id, &inner.cfg.worker_id),
            };
            match command::run(&spec, out, cancel.clone(), timeout).await {
                Ok(Ended::Exited(0)) => Attempt::Done {
                    result: None,
                    exit_code: Some(0),
                },
                Ok(Ended::Exited(code)) => Attempt::Failed {
                    error: format!("exited with code {code}"),
                    exit_code: Some(code),
                },
                Ok(Ended::Signalled(sig)) => Attempt::Failed {
                    error: format!("killed by signal {sig}"),
                    exit_code: None,
                },
                Ok(Ended::Cancelled) => Attempt::Stopped,
                Ok(Ended::TimedOut) => Attempt::Failed {
                    error: format!("timed out after {} s", timeout.unwrap_or_default().as_secs()),
                    exit_code: None,
                },
                Err(e) => Attempt::Failed {
                    error: format!("could not start the command: {e}"),
                    exit_code: None,
                },
            }
        }
        JobKind::ApiPost => {
            let post = super::api_post::post(&inner.http, &job.command, &job.meta, timeout);
            tokio::select! {
                posted = post => match posted {
                    super::api_post::Posted::Ok(result) => Attempt::Done { result: Some(result.to_string()), exit_code: None },
                    super::api_post::Posted::Failed(error) => Attempt::Failed { error, exit_code: None },
                },
                _ = cancel.cancelled() => Attempt::Stopped,
            }
        }
    }
}

/// A superuser-only script runs for the operator (no owner) or an active superuser: the
/// second check, for jobs stored where the registry was unknown (a web-only node) or
/// whose owner lost the right since.
async fn owner_may_run(db: &Db, owner: Option<i64>, script: &str) -> Result<(), String> {
    let Some(id) = owner else { return Ok(()) };
    match crate::users::find_user(db, id).await {
        Ok(Some(u)) if u.is_superuser && u.is_active => Ok(()),
        Ok(_) => Err(format!("script {script:?} is for superusers only")),
        Err(e) => Err(format!("checking who may run {script:?} failed: {e}")),
    }
}

/// Keeps this node's claims honest, every second:
/// - the maintenance lease: taken or renewed every third of its length;
/// - while jobs run here: their leases renewed every `heartbeat_every`, and any job the
///   database no longer says this node holds (killed elsewhere, rescued) stopped at once,
///   unrecorded. Checked at each heartbeat, on request (a reconnect), and every second
///   when hints are off (so a kill from another node takes at most a second).
async fn keeper(inner: Arc<Inner>) {
    let renew_every = inner.cfg.maintenance_lease / 3;
    let mut renewed: Option<tokio::time::Instant> = None;
    let mut beat = tokio::time::Instant::now();
    let mut asked = false;
    loop {
        if renewed.is_none_or(|t| t.elapsed() >= renew_every) {
            let held = cluster::hold(
                &inner.db,
                cluster::MAINTENANCE,
                &inner.cfg.worker_id,
                inner.cfg.maintenance_lease,
            )
            .await;
            match held {
                Ok(now) => {
                    let was = inner.leader.send_replace(now);
                    if now != was {
                        tracing::info!(
                            leader = now,
                            "maintenance (promoting, rescuing, schedulers, retention) {} on this node",
                            if now { "runs" } else { "no longer runs" }
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "renewing the maintenance lease failed"),
            }
            renewed = Some(tokio::time::Instant::now());
        }
        let ids = inner.running_ids();
        if !ids.is_empty() {
            let held = if beat.elapsed() >= inner.cfg.heartbeat_every {
                beat = tokio::time::Instant::now();
                let until = (Utc::now() + inner.cfg.lease).naive_utc();
                store::heartbeat(&inner.db, &inner.cfg.worker_id, until)
                    .await
                    .map(Some)
            } else if asked || !inner.hears_hints() {
                store::held_by(&inner.db, &inner.cfg.worker_id).await.map(Some)
            } else {
                Ok(None)
            };
            match held {
                Ok(Some(held)) => {
                    for id in ids.iter().filter(|id| !held.contains(id)) {
                        if inner.stop_job(*id, false) {
                            tracing::warn!(job = id, "stopped: this node no longer holds the job (killed elsewhere, or its lease was rescued)");
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "heartbeat failed; leases may expire"),
            }
        }
        asked = false;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = inner.check_leases.notified() => asked = true,
            _ = inner.stop.cancelled() => return,
        }
    }
}

/// Waits until this node holds the maintenance lease; false when the runner stops first.
async fn lead(inner: &Inner) -> bool {
    let mut rx = inner.leader.subscribe();
    loop {
        if *rx.borrow_and_update() {
            return true;
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return false },
            _ = inner.stop.cancelled() => return false,
        }
    }
}

async fn rescuer(inner: Arc<Inner>) {
    loop {
        if !lead(&inner).await {
            return;
        }
        match store::rescue_expired(&inner.db).await {
            Ok(jobs) if !jobs.is_empty() => {
                let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
                tracing::warn!(jobs = ?ids, "rescued jobs whose lease expired");
                for j in jobs {
                    inner
                        .cfg
                        .hub
                        .publish(EventKind::Status, j.id, j.owner_id, j.status);
                    if let (Some(n), JobStatus::Failed) = (&inner.cfg.notifier, j.status) {
                        n.alert(Alert::JobFailed {
                            id: j.id,
                            name: j.name,
                            error: "lease expired: the worker stopped renewing it (crash or hang)".into(),
                        });
                    }
                }
                inner.promoter.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "rescue failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.cfg.rescue_every) => {}
            _ = inner.stop.cancelled() => return,
        }
    }
}

fn wake_for(inner: &Inner, job: &Job) {
    match job.status {
        super::JobStatus::Queued => {
            if let Some(q) = inner.queues.get(&job.queue) {
                q.notify.notify_one();
            }
        }
        _ => inner.promoter.notify_one(),
    }
}

/// Fires the schedulers: the `on_start` ones once, then every due run as it comes (sleeping
/// until the next due time, at most `idle_poll`, or until a scheduler changes). Several
/// processes may run this on one database: `schedulers` makes each run fire once.
async fn scheduler(inner: Arc<Inner>) {
    let queues: Vec<String> = inner.cfg.queues.iter().map(|q| q.name.clone()).collect();
    let made = |fired: Vec<schedulers::Fired>| {
        for f in fired {
            if let schedulers::Fired::Made(job) = f {
                inner.cfg.hub.job(EventKind::Created, &job);
                wake_for(&inner, &job);
            }
        }
    };
    match schedulers::fire_on_start(&inner.db, Utc::now(), &queues).await {
        Ok(fired) => made(fired),
        Err(e) => tracing::error!(error = %e, "firing the on_start schedulers failed"),
    }
    loop {
        if !lead(&inner).await {
            return;
        }
        let woken = inner.schedules.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match schedulers::fire_due(&inner.db, Utc::now(), &queues).await {
            Ok(fired) => made(fired),
            Err(e) => tracing::error!(error = %e, "firing due schedulers failed"),
        }
        // A run still due right after firing could not be taken (its scheduler is broken,
        // and logged): wait the full poll rather than spin on it.
        let wait = match schedulers::next_due(&inner.db).await {
            Ok(Some(at)) => (at - Utc::now().naive_utc())
                .to_std()
                .unwrap_or(inner.cfg.idle_poll)
                .min(inner.idle_wait()),
            _ => inner.idle_wait(),
        };
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(wait) => {}
            _ = inner.stop.cancelled() => return,
        }
    }
}

/// How often the retention loop prunes.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Deletes finished jobs older than `keep`, and their logs: at start, then hourly, on the
/// maintenance node (deleting twice would be harmless). A log file on another node's disk
/// stays until that node leads; the rows are what matter.
async fn retention(inner: Arc<Inner>, keep: Duration) {
    loop {
        if !lead(&inner).await {
            return;
        }
        let cutoff =
            Utc::now().naive_utc() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        match store::prune_finished(&inner.db, cutoff).await {
            Ok(ids) => {
                store::remove_logs(&inner.cfg.log_dir, &ids).await;
                if !ids.is_empty() {
                    tracing::info!(
                        deleted = ids.len(),
                        "retention: deleted finished jobs and their logs"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "retention: pruning finished jobs failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_EVERY) => {}
            _ = inner.stop.cancelled() => return,
        }
    }
}

/// Moves due `pending` jobs to `queued`, then sleeps until the next one is due (or it is
/// woken because an earlier one was scheduled).
async fn promoter(inner: Arc<Inner>) {
    loop {
        if !lead(&inner).await {
            return;
        }
        let woken = inner.promoter.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match store::promote_due(&inner.db).await {
            Ok(n) if n > 0 => inner.queues.values().for_each(|q| q.notify.notify_one()),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "promoting due jobs failed"),
        }
        let wait = match store::next_due(&inner.db).await {
            Ok(Some(at)) => (at - Utc::now().naive_utc())
                .to_std()
                .unwrap_or_default()
                .min(inner.idle_wait()),
            _ => inner.idle_wait(),
        };
        tokio::select! {
            _ = &mut woken => {}
            _ = tokio::time::sleep(wait) => {}
            _ = inner.stop.cancelled() => return,
        }
    }
}
