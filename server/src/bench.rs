//! `vcore bench`: measures the job engine on this machine and prints a table.
//!
//! (a) burn-down: N no-op script jobs stored up front, then run to the end → jobs/s, every
//!     result committed to the database;
//! (b) latency: one job at a time into an idle runner, from the call that stores it to the
//!     moment its script starts → p50/p95/p99;
//! (c) commands: N command jobs running `true` (process group, piped output, log file) →
//!     jobs/s, next to the raw rate at which this machine forks and execs `true` at the same
//!     concurrency, measured here the same way.
//!
//! SQLite always (a fresh file in a temporary directory), PostgreSQL when given a URL to a
//! scratch database (`scripts/bench.sh` starts a throwaway cluster). Real databases, real
//! processes; nothing is simulated.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use tokio::sync::{mpsc, Semaphore};
use vcore_domain::db::Db;
use vcore_domain::jobs::runner::{QueueConfig, Runner, RunnerConfig};
use vcore_domain::jobs::scripts::{Script, ScriptCtx, ScriptRegistry};
use vcore_domain::jobs::{store, JobKind, NewJob, Priority};

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// No-op jobs in the burn-down.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    jobs: u64,
    /// Enqueue→start samples.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    samples: u64,
    /// Command jobs (`true`).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    commands: u64,
    /// Slots of the burn-down queue (and the most jobs claimed at once).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,
    /// Slots of the command queue, and processes at once in the raw spawn measurement.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    command_concurrency: u64,
    /// A scratch PostgreSQL database to measure too (its jobs table is used and emptied).
    #[arg(long, env = "VCORE_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
}

struct Row {
    backend: &'static str,
    burn_down: f64,
    enqueue: f64,
    latency: [Duration; 3],
    commands: f64,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let scratch = std::env::temp_dir().join(format!("vcore-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&args, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn measure(args: &BenchArgs, scratch: &Path) -> anyhow::Result<()> {
    println!("{}", machine());
    let cc = args.command_concurrency as usize;
    eprintln!("measuring the raw spawn rate…");
    let raw_true = raw_spawn(args.commands, cc, "true", &[]).await?;
    let raw_sh = raw_spawn(args.commands, cc, "sh", &["-c", "true"]).await?;

    let mut rows = Vec::new();
    let sqlite = format!("sqlite://{}/bench.db", scratch.display());
    rows.push(backend("SQLite", &sqlite, args, scratch).await?);
    if let Some(url) = &args.postgres_url {
        rows.push(backend("PostgreSQL", url, args, scratch).await?);
    }

    println!();
    println!(
        "| backend | (a) burn-down, {} no-op jobs | bulk enqueue | (b) enqueue→start p50 / p95 / p99 ({} samples) | (c) {} `true` command jobs | (c) ÷ raw spawn |",
        args.jobs, args.samples, args.commands
    );
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.0} jobs/s | {:.0} jobs/s | {} / {} / {} | {:.0} jobs/s | {:.0} % |",
            r.backend,
            r.burn_down,
            r.enqueue,
            ms(r.latency[0]),
            ms(r.latency[1]),
            ms(r.latency[2]),
            r.commands,
            100.0 * r.commands / raw_true
        );
    }
    println!();
    println!(
        "raw spawn at concurrency {cc}: `true` {raw_true:.0}/s, `sh -c true` {raw_sh:.0}/s (a plain command like `true` runs without sh)"
    );
    println!("peak memory (VmHWM) of this process: {}", peak_rss());
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn backend(name: &'static str, url: &str, args: &BenchArgs, scratch: &Path) -> anyhow::Result<Row> {
    Db::migrate(url, &[]).await?;
    let db = Db::connect(url, 8).await?;
    let logs = scratch.join(format!("logs-{}", name.to_lowercase()));

    // Commands first, while the process is as small as a freshly started worker: each
    // command is forked (see command.rs: the parent-death signal needs a pre-exec hook),
    // and fork costs grow with the parent's memory, which the 100,000-job vector below
    // inflates.
    eprintln!("{name}: {} command jobs…", args.commands);
    let t = job(JobKind::Command, "true");
    let (commands, _) = burn(&db, &t, args.commands, args.command_concurrency as usize, &logs).await?;

    eprintln!("{name}: burn-down of {} no-op jobs…", args.jobs);
    let noop = job(JobKind::Script, "noop");
    let (burn_down, enqueue) = burn(&db, &noop, args.jobs, args.concurrency as usize, &logs).await?;

    eprintln!("{name}: {} enqueue→start samples…", args.samples);
    let latency = latency(&db, args.samples, &logs).await?;
    Ok(Row {
        backend: name,
        burn_down,
        enqueue,
        latency,
        commands,
    })
}

pub(crate) fn job(kind: JobKind, command: &str) -> NewJob {
    NewJob {
        name: format!("bench {command}"),
        kind,
        command: command.into(),
        meta: serde_json::Value::Null,
        queue: "default".into(),
        priority: Priority::Normal,
        max_attempts: 1,
        timeout_secs: None,
        run_at: None,
        unique_key: None,
        owner_id: None,
    }
}

fn runner_config(logs: &Path, concurrency: usize) -> RunnerConfig {
    let mut cfg = RunnerConfig::new(PathBuf::from(logs));
    cfg.queues = vec![QueueConfig {
        name: "default".into(),
        concurrency,
    }];
    cfg.claim_batch = concurrency;
    cfg
}

async fn done_count(db: &Db) -> anyhow::Result<i64> {
    let counts = store::count_by_status(db).await?;
    Ok(counts.iter().find(|(s, _)| s == "done").map_or(0, |(_, n)| *n))
}

/// Stores `n` copies of `template`, runs them all, checks they all ended done.
/// Returns (run rate, bulk enqueue rate) in jobs/s.
async fn burn(
    db: &Db,
    template: &NewJob,
    n: u64,
    concurrency: usize,
    logs: &Path,
) -> anyhow::Result<(f64, f64)> {
    let before = done_count(db).await?;
    let jobs = vec![template.clone(); n as usize];
    let t = Instant::now();
    store::insert_many(db, &jobs).await?;
    let enqueue = n as f64 / t.elapsed().as_secs_f64();
    drop(jobs);

    let runner = Runner::start(
        db.clone(),
        runner_config(logs, concurrency),
        ScriptRegistry::with_builtins(),
    );
    let t = Instant::now();
    while runner.finished_count() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    runner.shutdown(Duration::from_secs(10)).await;
    let done = done_count(db).await? - before;
    anyhow::ensure!(done == n as i64, "{n} jobs ran but {done} are recorded done");
    Ok((rate, enqueue))
}

/// A script that reports when it starts.
struct Stamp(mpsc::UnboundedSender<Instant>);

impl Script for Stamp {
    const NAME: &'static str = "bench_stamp";
    const DESCRIPTION: &'static str = "Reports the moment it starts (benchmark)";
    type Input = serde_json::Value;
    type Output = ();

    async fn run(&self, _: &ScriptCtx, _: serde_json::Value) -> anyhow::Result<()> {
        let _ = self.0.send(Instant::now());
        Ok(())
    }
}

/// Enqueue→start latency into an idle runner with the default queues: p50, p95, p99.
async fn latency(db: &Db, samples: u64, logs: &Path) -> anyhow::Result<[Duration; 3]> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut scripts = ScriptRegistry::with_builtins();
    scripts.register(Stamp(tx));
    let runner = Runner::start(db.clone(), RunnerConfig::new(PathBuf::from(logs)), scripts);
    let stamp = job(JobKind::Script, "bench_stamp");
    let mut seen = Vec::with_capacity(samples as usize);
    for i in 0..samples {
        // Idle: the previous job's result is written and the dispatcher is waiting.
        while runner.finished_count() < i {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        let t = Instant::now();
        let stored = store::insert(db, &stamp).await?;
        runner.notify(&stored);
        let started = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .map_err(|_| anyhow::anyhow!("a job did not start within 10 s"))?
            .ok_or_else(|| anyhow::anyhow!("the runner stopped"))?;
        seen.push(started - t);
    }
    runner.shutdown(Duration::from_secs(10)).await;
    seen.sort_unstable();
    let pick = |p: f64| seen[(((seen.len() as f64) * p).ceil() as usize).clamp(1, seen.len()) - 1];
    Ok([pick(0.50), pick(0.95), pick(0.99)])
}

/// Forks and execs `program` `n` times, `concurrency` at once, waiting for each: per second.
async fn raw_spawn(n: u64, concurrency: usize, program: &str, args: &[&str]) -> anyhow::Result<f64> {
    let slots = Arc::new(Semaphore::new(concurrency));
    let mut set = tokio::task::JoinSet::new();
    let t = Instant::now();
    for _ in 0..n {
        let permit = slots.clone().acquire_owned().await?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        set.spawn(async move {
            let status = cmd.status().await;
            drop(permit);
            status
        });
    }
    while let Some(r) = set.join_next().await {
        let status = r??;
        anyhow::ensure!(status.success(), "{program} failed: {status}");
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "machine: {cores} cores, {cpu}, Linux {}; vcore {} ({})",
        kernel.trim(),
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "debug build: use --release for real figures"
        } else {
            "release build"
        }
    )
}

pub(crate) fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Resident memory of this process now (`VmRSS`), in kB; 0 where unknown.
pub(crate) fn current_rss_kb() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l[6..].trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
