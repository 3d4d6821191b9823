//! The background loops: the keeper (leases, the maintenance election, stopping jobs this
//! node no longer holds), the rescuer, the promoter, the scheduler loop and retention.

use super::*;

/// Keeps this node's claims honest, every second:
/// - the maintenance lease: taken or renewed every third of its length;
/// - while jobs run here: their leases renewed every `heartbeat_every`, and any job the
///   database no longer says this node holds (killed elsewhere, rescued) stopped at once,
///   unrecorded. Checked at each heartbeat, on request (a reconnect), and every second
///   when hints are off (so a kill from another node takes at most a second).
pub(super) async fn keeper(inner: Arc<Inner>) {
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
pub(super) async fn lead(inner: &Inner) -> bool {
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

pub(super) async fn rescuer(inner: Arc<Inner>) {
    loop {
        if !lead(&inner).await {
            return;
        }
        match store::rescue_expired(&inner.db).await {
            Ok(jobs) if !jobs.is_empty() => {
                let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
                tracing::warn!(jobs = ?ids, "rescued jobs whose lease expired");
                inner.metrics.rescued.inc_by(ids.len() as u64);
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

pub(super) fn wake_for(inner: &Inner, job: &Job) {
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
pub(super) async fn scheduler(inner: Arc<Inner>) {
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
pub(super) const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Deletes finished jobs older than the job retention, and their logs, and audit log
/// entries older than the audit retention: at start, then hourly, on the maintenance node
/// (deleting twice would be harmless). A log file on another node's disk stays until that
/// node leads; the rows are what matter.
pub(super) async fn retention(inner: Arc<Inner>) {
    let cutoff = |keep: Duration| {
        Utc::now().naive_utc() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX)
    };
    loop {
        if !lead(&inner).await {
            return;
        }
        if let Some(keep) = inner.cfg.audit_retention {
            match crate::audit::prune(&inner.db, cutoff(keep)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention: deleted old audit log entries"),
                Err(e) => tracing::error!(error = %e, "retention: pruning the audit log failed"),
            }
        }
        let Some(keep) = inner.cfg.retention else {
            tokio::select! {
                _ = tokio::time::sleep(RETENTION_EVERY) => continue,
                _ = inner.stop.cancelled() => return,
            }
        };
        match store::prune_finished(&inner.db, cutoff(keep)).await {
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
pub(super) async fn promoter(inner: Arc<Inner>) {
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
