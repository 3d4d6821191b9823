//! `vcore bench-nodes`: the job engine across processes on one PostgreSQL database. For
//! each N (default 1, 2, 4) it starts N real `vcore worker` processes (this binary, each
//! with its own data directory) and measures, from outside them:
//!
//! - throughput: J no-op script jobs and C `true` command jobs stored at once (one bulk
//!   insert), from the insert to the last `done` (read from the database);
//! - enqueue→start across processes: `started_at − created_at` as the database recorded
//!   them (the bench stamps `created_at` before its INSERT, the worker `started_at` in its
//!   claim; one machine, one clock), one job at a time into idle workers, then again while
//!   a loader keeps the workers at half the throughput just measured;
//! - CPU: the database's processes (all processes named `postgres`: run it against a local
//!   cluster, as `scripts/bench.sh nodes` does) and the workers', in cores over each phase;
//! - idle cost: statements the database ran per second per idle worker, over
//!   `--idle-secs` (`pg_stat_statements` when loaded, as `scripts/bench.sh nodes` does; else
//!   committed transactions, which PostgreSQL reports up to 10 s late).
//!
//! The jobs table of the given database is emptied before each N.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use vcore_domain::cluster::bench as stats;
use vcore_domain::db::Db;
use vcore_domain::jobs::{store, JobKind, NewJob};

#[derive(Args, Debug, Clone)]
pub struct NodesBenchArgs {
    /// A scratch PostgreSQL database (its jobs are deleted).
    #[arg(long, env = "VCORE_BENCH_POSTGRES_URL")]
    postgres_url: String,
    /// Worker counts to measure, comma-separated.
    #[arg(long, default_value = "1,2,4", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=16))]
    nodes: Vec<u32>,
    /// No-op script jobs per throughput run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    jobs: u64,
    /// `true` command jobs per throughput run.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    commands: u64,
    /// Enqueue→start samples per latency run.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    samples: u64,
    /// Slots per worker (`JOB_QUEUES=default:N`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    /// Seconds of idleness over which the database's transactions are counted.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(5..=3600))]
    idle_secs: u64,
}

struct Worker {
    child: Child,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (graceful stop: the node leaves the registry).
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Figures {
    nodes: u32,
    noop_rate: f64,
    command_rate: f64,
    idle: [Duration; 2],
    loaded: [Duration; 2],
    load_rate: f64,
    db_cores: f64,
    worker_cores: f64,
    idle_tx_per_node: f64,
    /// A worker's event, and a command's output line, reaching another process (p50, p99).
    event_reach: [Duration; 2],
    line_reach: [Duration; 2],
}

pub async fn run(args: NodesBenchArgs) -> anyhow::Result<()> {
    println!("{}", crate::bench::machine());
    let db = Db::connect(&args.postgres_url, 4).await?;
    anyhow::ensure!(db.is_postgres(), "--postgres-url must name a PostgreSQL database");
    Db::migrate(&args.postgres_url, &[]).await?;
    if !stats::enable_statement_stats(&db).await {
        eprintln!("pg_stat_statements is not loaded (shared_preload_libraries): idle cost counted as transactions, which PostgreSQL reports late");
    }
    let scratch = std::env::temp_dir().join(format!("vcore-bench-nodes-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let mut rows = Vec::new();
    let mut chatty = None;
    for &n in &args.nodes {
        let r = measure(&db, &args, n, &scratch, &mut chatty).await;
        match r {
            Ok(f) => rows.push(f),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(e);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!();
    println!(
        "| workers | {} no-op jobs | {} `true` jobs | enqueue→start idle p50 / p99 | at half load (rate) p50 / p99 | event to another node p50 / p99 | output line to another node p50 / p99 | database CPU (cores) | workers' CPU (cores) | idle DB statements/s per node |",
        args.jobs, args.commands
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in &rows {
        println!(
            "| {} | {:.0} jobs/s | {:.0} jobs/s | {} / {} | {} / {} ({:.0} jobs/s) | {} / {} | {} / {} | {:.2} | {:.2} | {:.2} |",
            f.nodes,
            f.noop_rate,
            f.command_rate,
            ms(f.idle[0]),
            ms(f.idle[1]),
            ms(f.loaded[0]),
            ms(f.loaded[1]),
            f.load_rate,
            ms(f.event_reach[0]),
            ms(f.event_reach[1]),
            ms(f.line_reach[0]),
            ms(f.line_reach[1]),
            f.db_cores,
            f.worker_cores,
            f.idle_tx_per_node,
        );
    }
    if let Some(c) = &chatty {
        println!();
        println!(
            "chatty command (`seq 1 {CHATTY_LINES}`, {} kB of output): {:.0} ms per job in vcore (median of {}, output written to the database in {:.0} chunks per job on average) vs {:.0} ms for the same command writing to /dev/null",
            c.bytes / 1000,
            c.job_ms,
            CHATTY_RUNS,
            c.chunks,
            c.raw_ms
        );
    }
    println!();
    println!(
        "CPU columns: over the two throughput runs, in cores busy on average (this machine has {}).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// `vcore bench`'s job template, named.
fn job(kind: JobKind, command: &str, name: &str) -> NewJob {
    NewJob {
        name: name.into(),
        ..crate::bench::job(kind, command)
    }
}

fn start_worker(url: &str, dir: &Path, concurrency: u64) -> anyhow::Result<Worker> {
    std::fs::create_dir_all(dir)?;
    let exe = std::env::current_exe()?;
    let child = Command::new(exe)
        .arg("worker")
        .env("DB_URL", url)
        .env("DATA_DIR", dir)
        .env("JOB_QUEUES", format!("default:{concurrency}"))
        .env("JOB_RETENTION_DAYS", "0")
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("worker.log"))?)
        .spawn()?;
    Ok(Worker { child })
}

async fn measure(
    db: &Db,
    args: &NodesBenchArgs,
    n: u32,
    scratch: &Path,
    chatty: &mut Option<Chatty>,
) -> anyhow::Result<Figures> {
    stats::delete_all_jobs(db).await?;
    eprintln!("{n} worker(s): starting…");
    let mut workers = Vec::new();
    for i in 0..n {
        let dir = scratch.join(format!("n{n}-w{i}"));
        workers.push(start_worker(&args.postgres_url, &dir, args.concurrency)?);
    }
    // Wait until every worker has registered (and so is running).
    let lease = Duration::from_secs(90);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive = vcore_domain::cluster::list_alive(db, lease).await?;
        let ours = alive
            .iter()
            .filter(|node| workers.iter().any(|w| i64::from(w.pid()) == node.pid))
            .count();
        if ours == n as usize {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the workers did not all start (see {})",
            scratch.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pids: Vec<u32> = workers.iter().map(Worker::pid).collect();

    let cpu0 = (postgres_cpu(), processes_cpu(&pids));
    let t0 = Instant::now();
    eprintln!("{n} worker(s): {} no-op jobs…", args.jobs);
    let noop_rate = burn(db, &job(JobKind::Script, "noop", "bench noop"), args.jobs).await?;
    eprintln!("{n} worker(s): {} command jobs…", args.commands);
    let command_rate = burn(db, &job(JobKind::Command, "true", "bench true"), args.commands).await?;
    let wall = t0.elapsed().as_secs_f64();
    let db_cores = (postgres_cpu() - cpu0.0) / wall;
    let worker_cores = (processes_cpu(&pids) - cpu0.1) / wall;

    eprintln!("{n} worker(s): {} enqueue→start samples at idle…", args.samples);
    let heard = Heard::listen(&args.postgres_url);
    let idle = latency(db, args.samples, None).await?;
    let event_reach = heard.event_latencies();
    eprintln!(
        "{n} worker(s): {} output lines, each from a command printing the time…",
        args.samples
    );
    let line_reach = lines(db, args.samples, &heard).await?;
    heard.stop.cancel();
    if chatty.is_none() {
        eprintln!("{n} worker(s): {CHATTY_RUNS} chatty command jobs…");
        *chatty = Some(measure_chatty(db).await?);
    }
    let load_rate = noop_rate / 2.0;
    eprintln!(
        "{n} worker(s): {} samples at half load ({load_rate:.0} jobs/s)…",
        args.samples
    );
    let loaded = latency(db, args.samples, Some(load_rate)).await?;

    eprintln!("{n} worker(s): {} s idle…", args.idle_secs);
    // Let the last results and the statistics settle before counting: an idle backend
    // reports its counts up to 10 s late (PostgreSQL 15's PGSTAT_IDLE_INTERVAL).
    tokio::time::sleep(Duration::from_secs(12)).await;
    let (before, what) = stats::statements(db).await?;
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    // In steady idleness a reporting delay is the same at both ends of the window.
    let (after, _) = stats::statements(db).await?;
    eprintln!("{n} worker(s): idle cost counted as {what}");
    let idle_tx_per_node = ((after - before).max(0) as f64 / args.idle_secs as f64) / f64::from(n);

    for w in workers {
        w.stop();
    }
    Ok(Figures {
        nodes: n,
        noop_rate,
        command_rate,
        idle,
        loaded,
        load_rate,
        db_cores,
        worker_cores,
        idle_tx_per_node,
        event_reach,
        line_reach,
    })
}

/// Stores `n` copies at once and waits until all are done: jobs per second.
async fn burn(db: &Db, template: &NewJob, n: u64) -> anyhow::Result<f64> {
    stats::delete_all_jobs(db).await?;
    let jobs = vec![template.clone(); n as usize];
    let t = Instant::now();
    store::insert_many(db, &jobs).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = stats::count_status(db, "done").await?;
        if done >= n as i64 {
            break;
        }
        let failed = stats::count_status(db, "failed").await?;
        anyhow::ensure!(failed == 0, "{failed} jobs failed");
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} jobs ran within 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

/// `samples` single no-op jobs, one every few milliseconds (idle: each after the previous
/// one is done), while `load` jobs per second are enqueued beside them: the p50 and p99 of
/// `started_at − created_at`.
async fn latency(db: &Db, samples: u64, load: Option<f64>) -> anyhow::Result<[Duration; 2]> {
    stats::delete_all_jobs(db).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let loader = load.map(|rate| {
        let (db, stop) = (db.clone(), stop.clone());
        tokio::spawn(async move {
            // Batches every 10 ms.
            let per_tick = (rate / 100.0).max(1.0);
            let mut owed = 0.0;
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let filler = job(JobKind::Script, "noop", "bench load");
            while !stop.is_cancelled() {
                tick.tick().await;
                owed += per_tick;
                let k = owed.floor() as usize;
                owed -= k as f64;
                if k > 0 && store::insert_many(&db, &vec![filler.clone(); k]).await.is_err() {
                    return;
                }
            }
        })
    });
    let probe = job(JobKind::Script, "noop", "bench probe");
    let mut ids = Vec::with_capacity(samples as usize);
    for _ in 0..samples {
        let stored = store::insert(db, &probe).await?;
        ids.push(stored.id);
        if load.is_none() {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let j = store::get(db, stored.id).await?;
                if j.is_some_and(|j| j.status == vcore_domain::jobs::JobStatus::Done) {
                    break;
                }
                anyhow::ensure!(Instant::now() < deadline, "a probe job did not run within 10 s");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.cancel();
    if let Some(l) = loader {
        let _ = l.await;
    }
    // Wait for the last probes to start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats::count_unstarted(db, "bench probe").await? > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "probe jobs did not start within a minute"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let waits = stats::start_waits_ms(db, "bench probe").await?;
    anyhow::ensure!(
        waits.len() == ids.len(),
        "{} probes, {} measured",
        ids.len(),
        waits.len()
    );
    Ok(percentiles(waits))
}

/// CPU seconds (user + system) used so far by the given processes.
fn processes_cpu(pids: &[u32]) -> f64 {
    pids.iter()
        .map(|p| cpu_of(&PathBuf::from(format!("/proc/{p}"))))
        .sum()
}

/// CPU seconds used so far by every process named `postgres` (the cluster's server
/// processes, backends included; those that exited are not counted).
fn postgres_cpu() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "postgres"))
        .map(|e| cpu_of(&e.path()))
        .sum()
}

fn cpu_of(proc_dir: &Path) -> f64 {
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) in parentheses.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / clock_ticks()
}

/// `/proc` counts CPU time in clock ticks of 1/100 s (`USER_HZ`, 100 on every mainstream
/// Linux configuration; `getconf CLK_TCK` shows it).
fn clock_ticks() -> f64 {
    100.0
}

/// What this process hears on the relay's channels, as another node would: each worker's
/// `running` events (with when they were made) and output chunks, with when they arrived.
struct Heard {
    stop: tokio_util::sync::CancellationToken,
    /// (made at, in ms since the epoch; arrived at, in µs since the epoch).
    events: std::sync::Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    /// (printed at, in ns since the epoch, from the line; arrived at, in ns).
    lines: std::sync::Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

impl Heard {
    fn listen(url: &str) -> Heard {
        let stop = tokio_util::sync::CancellationToken::new();
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (e, l) = (events.clone(), lines.clone());
        vcore_domain::cluster::listen(
            url.to_string(),
            &[
                vcore_domain::relay::CHANNEL_EVENTS,
                vcore_domain::jobs::logs::CHANNEL_LOGS,
            ],
            stop.clone(),
            move |note| {
                let vcore_domain::cluster::Note::Message { channel, payload } = note else {
                    return;
                };
                let arrived = now_ns();
                if channel == vcore_domain::relay::CHANNEL_EVENTS {
                    let mut e = e.lock().unwrap_or_else(|p| p.into_inner());
                    for line in payload.lines().skip(1) {
                        let f: Vec<&str> = line.split('|').collect();
                        if f.len() == 5 && f[3] == "running" {
                            if let Ok(at) = f[4].parse::<i64>() {
                                e.push((at, arrived / 1000));
                            }
                        }
                    }
                } else if let Some(a) = vcore_domain::jobs::logs::Announced::parse(payload) {
                    let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                    for line in a.data.unwrap_or_default().lines() {
                        if let Some(printed) = line.strip_prefix("t=").and_then(|t| t.parse::<i64>().ok()) {
                            l.push((printed, arrived));
                        }
                    }
                }
            },
        );
        Heard { stop, events, lines }
    }

    /// p50 and p99 of event made → heard here (the event's time has millisecond precision,
    /// so these are up to 1 ms high).
    fn event_latencies(&self) -> [Duration; 2] {
        let mut e = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let waits: Vec<f64> = e
            .drain(..)
            .map(|(at_ms, arrived_us)| (arrived_us - at_ms * 1000) as f64 / 1000.0)
            .collect();
        percentiles(waits)
    }
}

fn percentiles(mut waits: Vec<f64>) -> [Duration; 2] {
    if waits.is_empty() {
        return [Duration::ZERO; 2];
    }
    waits.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        let i = (((waits.len() as f64) * p).ceil() as usize).clamp(1, waits.len()) - 1;
        Duration::from_secs_f64(waits[i].max(0.0) / 1000.0)
    };
    [pick(0.50), pick(0.99)]
}

/// `samples` command jobs, one at a time, each printing the time as it prints: p50 and p99
/// of printed → heard by this process (through the database, as another node hears it).
async fn lines(db: &Db, samples: u64, heard: &Heard) -> anyhow::Result<[Duration; 2]> {
    stats::delete_all_jobs(db).await?;
    heard.lines.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let printer = job(JobKind::Command, "echo t=$(date +%s%N)", "bench line");
    for i in 0..samples {
        store::insert(db, &printer).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while (heard.lines.lock().unwrap_or_else(|p| p.into_inner()).len() as u64) <= i {
            anyhow::ensure!(
                Instant::now() < deadline,
                "an output line did not arrive within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let waits: Vec<f64> = heard
        .lines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(printed, arrived)| (arrived - printed) as f64 / 1e6)
        .collect();
    Ok(percentiles(waits))
}

const CHATTY_LINES: u32 = 200_000;
const CHATTY_RUNS: usize = 10;

/// What a job that prints a lot costs (its output goes to the database).
struct Chatty {
    job_ms: f64,
    raw_ms: f64,
    bytes: u64,
    chunks: f64,
}

async fn measure_chatty(db: &Db) -> anyhow::Result<Chatty> {
    let cmd = format!("seq 1 {CHATTY_LINES}");
    let t = Instant::now();
    for _ in 0..CHATTY_RUNS {
        let ok = tokio::process::Command::new("sh")
            .args(["-c", &format!("{cmd} > /dev/null")])
            .status()
            .await?
            .success();
        anyhow::ensure!(ok, "{cmd} failed");
    }
    let raw_ms = t.elapsed().as_secs_f64() * 1000.0 / CHATTY_RUNS as f64;
    stats::delete_all_jobs(db).await?;
    let mut took = Vec::new();
    let (mut bytes, mut chunks) = (0, 0);
    for _ in 0..CHATTY_RUNS {
        let j = store::insert(db, &job(JobKind::Command, &cmd, "bench chatty")).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let done = loop {
            let now = store::get(db, j.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the job vanished"))?;
            if now.status == vcore_domain::jobs::JobStatus::Done {
                break now;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "a chatty job did not finish within 2 minutes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let (Some(s), Some(f)) = (done.started_at, done.finished_at) else {
            anyhow::bail!("a done job without times")
        };
        took.push((f - s).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        bytes = vcore_domain::jobs::logs::end(db, j.id).await?;
        chunks += stats::chunk_count(db, j.id).await?;
    }
    took.sort_by(f64::total_cmp);
    Ok(Chatty {
        job_ms: took[took.len() / 2],
        raw_ms,
        bytes,
        chunks: chunks as f64 / CHATTY_RUNS as f64,
    })
}
