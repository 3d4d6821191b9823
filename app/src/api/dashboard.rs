//! The dashboard's server function: job statistics from the domain (a regular user's own
//! jobs; all for a superuser) and, for superusers only, the machine's state (sysinfo) and
//! the nodes sharing the database.

use leptos::prelude::*;

use crate::types::{AppError, Dashboard};

#[server]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    let (me, svc) = (super::ctx::user().await?, super::ctx::services()?);
    let seq = svc.hub.next_seq();
    let stats = svc.job_stats(&me).await?;
    let mut queues: Vec<crate::types::QueueCounts> = Vec::new();
    for (queue, status, n) in stats.by_queue {
        if queues.last().is_none_or(|q| q.queue != queue) {
            queues.push(crate::types::QueueCounts {
                queue: queue.clone(),
                ..Default::default()
            });
        }
        if let Some(q) = queues.last_mut() {
            match status.as_str() {
                "pending" => q.pending = n,
                "queued" => q.queued = n,
                "running" => q.running = n,
                "done" => q.done = n,
                "failed" => q.failed = n,
                _ => q.cancelled += n,
            }
        }
    }
    let mut per_minute = vec![crate::types::MinuteCounts::default(); 60];
    for (m, status, n) in stats.per_minute {
        if let Some(slot) = usize::try_from(m).ok().and_then(|m| per_minute.get_mut(m)) {
            match status.as_str() {
                "done" => slot.done += n,
                _ => slot.failed += n,
            }
        }
    }
    let system = match me.is_superuser {
        true => system::status(&svc.config.data_dir),
        false => None,
    };
    let nodes = match me.reads_all() && me.has(vcore_domain::access::Scope::JobsRead) {
        true => {
            let list = svc.list_nodes(&me).await?;
            Some(crate::types::NodesPage {
                count: list.len() as i64,
                data: list.into_iter().map(Into::into).collect(),
                paused_queues: svc.paused_queues().await?,
            })
        }
        false => None,
    };
    Ok(Dashboard {
        queues,
        per_minute,
        recent_failures: stats.recent_failures.iter().map(Into::into).collect(),
        running: stats.running.iter().map(Into::into).collect(),
        system,
        nodes,
        seq,
    })
}

#[cfg(feature = "ssr")]
mod system {
    use std::sync::{Mutex, OnceLock};
    use std::time::Instant;

    use crate::types::SystemStatus;

    /// One `System` per process: CPU usage is measured between two readings, so each call
    /// reports the use since the previous one (the dashboard asks every few seconds).
    /// `None` where sysinfo cannot read this system.
    fn sys() -> Option<&'static Mutex<sysinfo::System>> {
        static SYS: OnceLock<Option<Mutex<sysinfo::System>>> = OnceLock::new();
        SYS.get_or_init(|| match sysinfo::System::new() {
            Ok(s) => Some(Mutex::new(s)),
            Err(e) => {
                tracing::warn!(error = %e, "system status unavailable");
                None
            }
        })
        .as_ref()
    }

    fn started() -> Instant {
        static START: OnceLock<Instant> = OnceLock::new();
        *START.get_or_init(Instant::now)
    }

    pub fn status(data_dir: &std::path::Path) -> Option<SystemStatus> {
        let process_uptime_secs = started().elapsed().as_secs();
        let mut sys = sys()?.lock().unwrap_or_else(|p| p.into_inner());
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
        // The disk whose mount point is the longest prefix of the data directory.
        let (disk_total, disk_free) = sysinfo::Disks::new_with_refreshed_list()
            .ok()
            .and_then(|disks| {
                disks
                    .iter()
                    .filter(|d| data.starts_with(d.mount_point()))
                    .max_by_key(|d| d.mount_point().as_os_str().len())
                    .map(|d| (d.total_space(), d.available_space()))
            })
            .unwrap_or((0u64, 0u64));
        Some(SystemStatus {
            cpu_percent: sys.global_cpu_usage(),
            cpus: sys.cpus().len(),
            memory_used: sys.used_memory(),
            memory_total: sys.total_memory(),
            disk_used: disk_total.saturating_sub(disk_free),
            disk_total,
            system_uptime_secs: sysinfo::System::uptime().unwrap_or(0),
            process_uptime_secs,
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }

    /// Starts the clocks (process uptime, first CPU reading) when the server starts.
    pub fn init() {
        started();
        if let Some(sys) = sys() {
            sys.lock().unwrap_or_else(|p| p.into_inner()).refresh_cpu_usage();
        }
    }
}

/// Called once at server start: process uptime counts from here.
#[cfg(feature = "ssr")]
pub fn start_system_clock() {
    system::init();
}
