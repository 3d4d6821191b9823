//! `vcore enqueue` and `vcore jobs list`: the job queue from the command line, acting as the
//! operator (no owner, any job type). Bad input is reported like the API's 422: the field
//! and why.

use vcore_domain::jobs::{service::parse_time, JobInput};
use vcore_domain::users::Page;
use vcore_domain::{Config, Extensions, Services};

/// The arguments of `vcore enqueue`.
#[derive(clap::Args)]
pub struct JobArgs {
    /// A name for people.
    #[arg(long)]
    pub name: String,
    /// command, script or api_post.
    #[arg(long = "type", default_value = "command")]
    pub kind: String,
    /// The shell command, the script's name, or the URL.
    #[arg(long)]
    pub command: String,
    /// highest, high, normal, low or lowest.
    #[arg(long)]
    pub priority: Option<String>,
    #[arg(long = "queue")]
    pub queue_name: Option<String>,
    /// JSON object: a script's input, a POST's body, a command's env and cwd.
    #[arg(long)]
    pub meta: Option<String>,
    #[arg(long)]
    pub max_attempts: Option<i32>,
    #[arg(long)]
    pub timeout_secs: Option<i32>,
    /// RFC 3339 time to run at.
    #[arg(long)]
    pub run_at: Option<String>,
    #[arg(long)]
    pub unique_key: Option<String>,
}

pub async fn enqueue(config: Config, ext: &Extensions, a: JobArgs) -> anyhow::Result<()> {
    let meta = match a.meta.as_deref() {
        None => None,
        Some(m) => Some(serde_json::from_str(m).map_err(|e| anyhow::anyhow!("--meta: not valid JSON: {e}"))?),
    };
    let run_at = a
        .run_at
        .as_deref()
        .map(|r| parse_time("--run-at", r))
        .transpose()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = JobInput {
        name: a.name,
        kind: a.kind,
        command: a.command,
        meta,
        queue_name: a.queue_name,
        priority: a.priority,
        max_attempts: a.max_attempts,
        timeout_secs: a.timeout_secs,
        run_at,
        unique_key: a.unique_key,
    };
    let services = Services::open(config, ext.clone()).await?;
    let job = services
        .enqueue_job_as_operator(input)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "enqueued job {} ({}) on queue {}: {}",
        job.id,
        job.status.as_str(),
        job.queue,
        job.name
    );
    Ok(())
}

pub async fn list(
    config: Config,
    ext: &Extensions,
    status: Option<String>,
    queue: Option<String>,
    limit: i64,
) -> anyhow::Result<()> {
    let page = Page::parse(None, Some(limit)).map_err(|e| anyhow::anyhow!("--{e}"))?;
    let services = Services::open(config, ext.clone()).await?;
    let (jobs, total) = services
        .list_jobs_as_operator(status.as_deref(), queue.as_deref(), page)
        .await
        .map_err(|e| anyhow::anyhow!("--{e}"))?;
    println!(
        "{:>8}  {:<9}  {:<8}  {:<8}  {:>7}  {:<20}  NAME",
        "ID", "STATUS", "QUEUE", "PRIORITY", "TRIES", "CREATED"
    );
    for j in &jobs {
        println!(
            "{:>8}  {:<9}  {:<8}  {:<8}  {:>3}/{:<3}  {:<20}  {}",
            j.id,
            j.status.as_str(),
            j.queue,
            j.priority.as_str(),
            j.attempts,
            j.max_attempts,
            j.created_at.format("%Y-%m-%d %H:%M:%S"),
            j.name
        );
    }
    println!("{} of {total} job(s)", jobs.len());
    Ok(())
}

/// `vcore nodes`: the live nodes, as `GET /nodes/` lists them.
pub async fn nodes(config: Config, ext: &Extensions) -> anyhow::Result<()> {
    let services = Services::open(config, ext.clone()).await?;
    let nodes = services
        .list_nodes_as_operator()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let paused = services
        .paused_queues()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = chrono::Utc::now().naive_utc();
    println!(
        "{:<40}  {:<6}  {:<7}  {:<19}  {:>6}  QUEUES",
        "NODE", "KIND", "VERSION", "STARTED", "BEAT"
    );
    for n in &nodes {
        let queues: Vec<String> = n
            .queues
            .iter()
            .map(|q| format!("{}:{}", q.name, q.concurrency))
            .collect();
        let leader = if n.leader { "  (maintenance)" } else { "" };
        println!(
            "{:<40}  {:<6}  {:<7}  {:<19}  {:>5}s  {}{leader}",
            n.id,
            n.kind,
            n.version,
            n.started_at.format("%Y-%m-%d %H:%M:%S"),
            (now - n.heartbeat_at).num_seconds().max(0),
            if queues.is_empty() {
                "-".to_string()
            } else {
                queues.join(",")
            },
        );
    }
    println!("{} node(s)", nodes.len());
    if !paused.is_empty() {
        println!("stopped queues (every node): {}", paused.join(", "));
    }
    Ok(())
}

/// `vcore scripts`: the scripts jobs of type `script` can run, as `GET /scripts/` lists them.
pub fn scripts(ext: &Extensions) {
    println!("{:<20}  {:<9}  DESCRIPTION", "NAME", "WHO");
    for s in ext.scripts.list() {
        let who = if s.superuser_only { "superuser" } else { "anyone" };
        println!("{:<20}  {:<9}  {}", s.name, who, s.description);
    }
}
