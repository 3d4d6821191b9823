//! Running jobs: each queue's dispatcher claims as many jobs as it has free slots, each job
//! runs (script, command or HTTP call) in a task of its own, and the completer records the
//! results in batches.

use super::*;

/// Under load, how long a dispatcher may wait for more free slots before it claims.
pub(super) const CLAIM_LINGER: Duration = Duration::from_millis(1);

pub(super) async fn dispatch(inner: Arc<Inner>, queue: String) {
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
        if !jobs.is_empty() {
            inner
                .metrics
                .claimed
                .with_label_values(&[&queue])
                .inc_by(jobs.len() as u64);
        }
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
pub(super) async fn refresh_paused(inner: &Inner, queue: &str) {
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
pub(super) fn take_free(q: &QueueState, slots: &mut Vec<tokio::sync::OwnedSemaphorePermit>, most: usize) {
    while slots.len() < most {
        match q.slots.clone().try_acquire_owned() {
            Ok(p) => slots.push(p),
            Err(_) => break,
        }
    }
}

/// Runs one claimed job and records how it ended.
pub(super) async fn execute(inner: &Arc<Inner>, job: Job, running: Arc<Running>) {
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
    let started = std::time::Instant::now();
    let attempt = run_attempt(inner, &job, &running.cancel, timeout).await;
    forget();
    let outcome_name = match &attempt {
        Attempt::Stopped if running.killed.load(Ordering::SeqCst) => Some("killed"),
        Attempt::Stopped => None,
        Attempt::Done { .. } => Some("done"),
        Attempt::Failed { .. } => Some("failed"),
    };
    if let Some(o) = outcome_name {
        inner
            .metrics
            .duration
            .with_label_values(&[job.kind.as_str(), o])
            .observe(started.elapsed().as_secs_f64());
    }

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
            if job.attempts < job.max_attempts {
                inner.metrics.retries.with_label_values(&[&job.queue]).inc();
            }
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
pub(super) const COMPLETION_BATCH: usize = 1024;

/// Writes workers' results: waits for one, takes every other already waiting (up to
/// `COMPLETION_BATCH`), writes them together, repeats. Exits when `completer_stop` fires
/// and nothing is left.
pub(super) async fn completer(inner: Arc<Inner>, mut rx: mpsc::UnboundedReceiver<Completion>) {
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
pub(super) async fn record(inner: &Inner, batch: &[Completion]) {
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

pub(super) enum Attempt {
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

pub(super) async fn run_attempt(
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
                if let Err(error) =
                    owner_may_run(&inner.db, job.owner_id, &format!("script {:?}", job.command)).await
                {
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
            // The owner may have lost the right since the job was stored (a demoted operator).
            if let Err(error) = owner_may_run(&inner.db, job.owner_id, "shell commands").await {
                return Attempt::Failed {
                    error,
                    exit_code: None,
                };
            }
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
                ship: crate::jobs::logs::ShipTo::new(&inner.db, job.id, &inner.cfg.worker_id),
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
            let client = match api_post_client(inner, job).await {
                Ok(c) => c,
                Err(error) => {
                    return Attempt::Failed {
                        error: format!("POST {}: {error}", job.command),
                        exit_code: None,
                    }
                }
            };
            let post = crate::jobs::api_post::post(client, &job.command, &job.meta, timeout);
            tokio::select! {
                posted = post => match posted {
                    crate::jobs::api_post::Posted::Ok(result) => Attempt::Done { result: Some(result.to_string()), exit_code: None },
                    crate::jobs::api_post::Posted::Failed(error) => Attempt::Failed { error, exit_code: None },
                },
                _ = cancel.cancelled() => Attempt::Stopped,
            }
        }
    }
}

/// The client for an api_post job: the plain one for the server itself (no owner) and for
/// active superusers and operators; else the guarded one (see `ssrf`), after refusing a
/// forbidden address literal, which no resolver sees.
async fn api_post_client<'a>(inner: &'a Inner, job: &Job) -> Result<&'a reqwest::Client, String> {
    let Some(id) = job.owner_id else {
        return Ok(&inner.http);
    };
    match crate::users::find_user(&inner.db, id).await {
        Ok(Some(u)) if u.is_active && crate::access::Role::from_stored(&u.role).operates() => Ok(&inner.http),
        Ok(_) => {
            let url = reqwest::Url::parse(&job.command).map_err(|e| format!("not a URL: {e}"))?;
            match crate::jobs::ssrf::literal_refusal(&url, &inner.cfg.api_post_allowed) {
                Some(why) => Err(why),
                None => Ok(&inner.guarded_http),
            }
        }
        Err(e) => Err(format!("checking who may call it failed: {e}")),
    }
}

/// A superuser-only script runs for the server's CLI (no owner) or an active superuser or
/// operator: the
/// second check, for jobs stored where the registry was unknown (a web-only node) or
/// whose owner lost the right since.
pub(super) async fn owner_may_run(db: &Db, owner: Option<i64>, what: &str) -> Result<(), String> {
    let Some(id) = owner else { return Ok(()) };
    match crate::users::find_user(db, id).await {
        Ok(Some(u)) if crate::access::Role::from_stored(&u.role).operates() && u.is_active => Ok(()),
        Ok(_) => Err(format!(
            "the owner may no longer run {what}: only superusers and operators may"
        )),
        Err(e) => Err(format!("checking who may run {what} failed: {e}")),
    }
}
