//! The dashboard and the site: job counts, the machine, the nodes sharing the database.

use serde::{Deserialize, Serialize};

use super::JobPublic;
#[cfg(feature = "ssr")]
use utoipa::ToSchema;

/// The dashboard's data: jobs per queue, throughput over the last hour, latest failures,
/// running jobs, and (for superusers) the machine's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub queues: Vec<QueueCounts>,
    /// 60 entries, oldest first: jobs that ended in each minute of the last hour.
    pub per_minute: Vec<MinuteCounts>,
    pub recent_failures: Vec<JobPublic>,
    pub running: Vec<JobPublic>,
    pub system: Option<SystemStatus>,
    /// The nodes sharing the database and the stopped queues (superusers only).
    pub nodes: Option<NodesPage>,
    /// The live updates' sequence number when the numbers were read (see `JobsPage::seq`).
    pub seq: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueCounts {
    pub queue: String,
    pub pending: i64,
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
    pub cancelled: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinuteCounts {
    pub done: i64,
    pub failed: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// All CPUs together, 0–100, since the previous reading.
    pub cpu_percent: f32,
    pub cpus: usize,
    pub memory_used: u64,
    pub memory_total: u64,
    /// The disk holding the data directory.
    pub disk_used: u64,
    pub disk_total: u64,
    pub system_uptime_secs: u64,
    pub process_uptime_secs: u64,
    pub version: String,
}

/// Public facts the UI needs before sign-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SiteInfo {
    pub project_name: String,
    pub open_registration: bool,
    pub accent: String,
    /// Whether "forgot your password?" works (the server can send email).
    #[serde(default)]
    pub password_recovery: bool,
}

/// A queue a node consumes, and how many of its jobs it runs at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodeQueuePublic {
    pub name: String,
    pub concurrency: usize,
}

/// A vcore process sharing the database (`GET /nodes/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodePublic {
    /// `host:pid:random`; also the `lease_owner` of the jobs it runs.
    pub id: String,
    /// serve or worker.
    pub kind: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// Empty for a web-only node.
    pub queues: Vec<NodeQueuePublic>,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Runs the once-only maintenance (promoting due jobs, rescuing leases, schedulers,
    /// retention).
    pub leader: bool,
}

/// The live nodes, oldest first, and the queues stopped for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodesPage {
    pub data: Vec<NodePublic>,
    pub count: i64,
    /// Queues whose consumers are stopped (stop-consumer), on every node.
    pub paused_queues: Vec<String>,
}
