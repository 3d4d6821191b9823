//! `vcore bench-ws`: live updates under load. Starts the real server (SQLite in a temporary
//! directory, port 0 on 127.0.0.1), connects `--clients` WebSocket viewers to
//! `/api/v1/ws/job-queue` and enqueues `--rate` no-op jobs a second for `--secs` seconds,
//! spread over `--users` regular users. Most viewers are those users' (several tabs each:
//! they see their own jobs); `--admins` of them are superusers' dashboards (they see all).
//!
//! Delivery latency is measured per event and viewer, from the moment the hub publishes the
//! event (its `at`) to the moment the viewer has read and parsed it: one clock, one machine.
//! Each viewer knows how many events it should get (three per job it may see: created,
//! running, done); what it lacks is reported as dropped, and `resync` messages are counted.
//! A viewer that stops receiving while the load runs counts as stalled.
//!
//! Viewers run in this same process, so they share the two cores with the server: the
//! figures include the clients' cost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use vcore_domain::access::Actor;
use vcore_domain::jobs::JobInput;
use vcore_domain::sessions::ClientInfo;
use vcore_domain::users::NewUser;
use vcore_domain::Config;

#[derive(Args, Debug, Clone)]
pub struct WsBenchArgs {
    /// WebSocket viewers.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    clients: u64,
    /// Of the viewers, how many are superusers' (they see every job).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    admins: u64,
    /// Regular users owning the jobs; the other viewers are spread over them.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    users: u64,
    /// Jobs enqueued per second.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// How long the load runs, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    secs: u64,
}

const PASSWORD: &str = "bench-password-1";

/// What one viewer saw.
#[derive(Default)]
struct Seen {
    /// Microseconds from publish to receipt, per job event.
    latencies: Vec<u32>,
    resyncs: u64,
    /// The longest quiet spell while the load ran.
    longest_gap: Duration,
}

pub async fn run(args: WsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.admins <= args.clients, "--admins must not exceed --clients");
    let scratch = std::env::temp_dir().join(format!("vcore-bench-ws-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    let result = measure(&args, &scratch).await;
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

async fn measure(args: &WsBenchArgs, scratch: &std::path::Path) -> anyhow::Result<()> {
    println!("{}", crate::bench::machine());
    let vars: HashMap<String, String> = [
        ("DATA_DIR", scratch.display().to_string()),
        ("DB_URL", format!("sqlite://{}/bench.db", scratch.display())),
        ("SERVER_HOST", "127.0.0.1".into()),
        ("SERVER_PORT", "0".into()),
        ("FIRST_SUPERUSER_USERNAME", "admin".into()),
        ("FIRST_SUPERUSER_PASSWORD", PASSWORD.into()),
        ("JOB_QUEUES", "default:64".into()),
        ("JOB_RETENTION_DAYS", "0".into()),
        ("LOGIN_MAX_FAILURES", "10000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_map(&vars, false)?;
    let app = crate::startup::Application::build(config).await?;
    let port = app.port();
    let svc = app.services();
    let stop_server = CancellationToken::new();
    let stopped = stop_server.clone();
    let server = tokio::spawn(app.run_until(async move { stopped.cancelled().await }));

    eprintln!("creating {} users and signing them in…", args.users);
    let admin = Actor::session(
        svc.find_user_by_login("admin")
            .await?
            .ok_or_else(|| anyhow::anyhow!("no admin"))?,
    );
    let mut users: Vec<(Actor, String)> = Vec::new();
    for i in 0..args.users {
        let user = svc
            .create_user(
                Some(&admin),
                NewUser {
                    username: format!("viewer{i}"),
                    email: format!("viewer{i}@bench.test"),
                    password: PASSWORD.into(),
                    full_name: None,
                    is_active: true,
                    is_superuser: false,
                    role: None,
                },
            )
            .await?;
        let (_, pair) = svc
            .login(&user.username, PASSWORD, &ClientInfo::default())
            .await?;
        users.push((Actor::session(user), pair.access_token));
    }
    let (_, admin_pair) = svc.login("admin", PASSWORD, &ClientInfo::default()).await?;

    let rss_before = crate::bench::current_rss_kb();
    eprintln!("connecting {} viewers…", args.clients);
    let load = CancellationToken::new();
    let go = CancellationToken::new();
    let done = CancellationToken::new();
    let connected = Arc::new(AtomicU64::new(0));
    let mut viewers = Vec::new();
    // Viewer i watches: the superuser for the first `admins`, then the users in turn.
    let mut watching: Vec<Option<usize>> = Vec::new();
    for i in 0..args.clients as usize {
        let (token, who) = match i < args.admins as usize {
            true => (admin_pair.access_token.clone(), None),
            false => {
                let u = (i - args.admins as usize) % users.len();
                (users[u].1.clone(), Some(u))
            }
        };
        watching.push(who);
        let url = format!("ws://127.0.0.1:{port}/api/v1/ws/job-queue?token={token}");
        // Small buffers: a thousand viewers at the default 128 KiB each would dwarf the server.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(16 * 1024)
            .write_buffer_size(0);
        let (socket, _) = tokio_tungstenite::connect_async_with_config(&url, Some(ws_config), false).await?;
        let flags = Flags {
            go: go.clone(),
            load: load.clone(),
            done: done.clone(),
        };
        viewers.push(tokio::spawn(view(socket, flags, connected.clone())));
    }
    while connected.load(Ordering::Acquire) < args.clients {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let per_pair = (crate::bench::current_rss_kb() - rss_before) / args.clients as i64;

    eprintln!("{} jobs/s for {} s…", args.rate, args.secs);
    let before = svc.hub.next_seq();
    let total = args.rate * args.secs;
    let mut per_user = vec![0u64; users.len()];
    let started = Instant::now();
    go.cancel();
    let tick = Duration::from_millis(10);
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut made = 0u64;
    let mut enqueue_errors = 0u64;
    while made < total {
        ticker.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as u64).min(total);
        while made < due {
            let u = (made % users.len() as u64) as usize;
            let input = JobInput {
                name: format!("bench-{made}"),
                kind: "script".into(),
                command: "noop".into(),
                ..Default::default()
            };
            match svc.enqueue_job(&users[u].0, input).await {
                Ok(_) => per_user[u] += 1,
                Err(e) => {
                    enqueue_errors += 1;
                    tracing::warn!(error = %e, "enqueue failed");
                }
            }
            made += 1;
        }
    }
    let enqueue_secs = started.elapsed().as_secs_f64();
    // Wait for the last jobs to end (the hub has their `done` events), then for delivery.
    let expected_events = 3 * (total - enqueue_errors);
    let deadline = Instant::now() + Duration::from_secs(30);
    while svc.hub.next_seq() - before < expected_events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let run_secs = started.elapsed().as_secs_f64();
    let published = svc.hub.next_seq() - before;
    tokio::time::sleep(Duration::from_millis(500)).await;
    load.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    done.cancel();

    let mut all: Vec<u32> = Vec::new();
    let (mut resyncs, mut dropped, mut short, mut stalled) = (0u64, 0u64, 0u64, 0u64);
    let mut worst_gap = Duration::ZERO;
    for (handle, who) in viewers.into_iter().zip(&watching) {
        let seen = handle.await?;
        let expected = match who {
            None => published,
            Some(u) => 3 * per_user[*u],
        };
        let got = seen.latencies.len() as u64;
        if got < expected {
            short += 1;
            dropped += expected - got;
        }
        resyncs += seen.resyncs;
        worst_gap = worst_gap.max(seen.longest_gap);
        if seen.longest_gap > Duration::from_secs(2) {
            stalled += 1;
        }
        all.extend(seen.latencies);
    }
    stop_server.cancel();
    let _ = server.await;

    all.sort_unstable();
    let pct = |p: f64| -> String {
        match all.is_empty() {
            true => "-".into(),
            false => {
                let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
                format!("{:.2} ms", all[i] as f64 / 1000.0)
            }
        }
    };
    println!();
    println!(
        "| viewers (superusers) | jobs/s asked | jobs/s done | events | deliveries | p50 | p95 | p99 | max | dropped | resyncs | stalled |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} ({}) | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} ({} viewers) | {} | {} |",
        args.clients,
        args.admins,
        args.rate,
        (total - enqueue_errors) as f64 / run_secs,
        published,
        all.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        pct(1.0),
        dropped,
        short,
        resyncs,
        stalled,
    );
    println!();
    println!(
        "enqueue took {enqueue_secs:.2} s for {total} jobs ({enqueue_errors} failed); longest quiet spell of a viewer under load: {:.0} ms",
        worst_gap.as_secs_f64() * 1000.0
    );
    println!(
        "memory: {per_pair} kB per connected viewer (server and client side together, idle); peak of this process: {}",
        crate::bench::peak_rss()
    );
    Ok(())
}

/// The phases a viewer tells apart: the load started (`go`), the load ended (`load`), the
/// measurement is over (`done`).
struct Flags {
    go: CancellationToken,
    load: CancellationToken,
    done: CancellationToken,
}

/// Microseconds since midnight UTC of an RFC 3339 UTC time (`…THH:MM:SS.fffffffffZ`).
/// The viewer's hot path: a full date parse per message would cost more than the server's
/// work for it.
fn micros_of_day(at: &str) -> Option<i64> {
    let t = at.get(11..)?;
    let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
    let secs = num(0..2)? * 3600 + num(3..5)? * 60 + num(6..8)?;
    let frac = t.get(8..)?.trim_end_matches('Z');
    let micros = match frac.strip_prefix('.') {
        Some(f) => {
            let digits: String = f.chars().take(6).collect();
            digits.parse::<i64>().ok()? * 10i64.pow(6 - digits.len() as u32)
        }
        None => 0,
    };
    Some(secs * 1_000_000 + micros)
}

fn now_micros_of_day() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (since_epoch.as_micros() % 86_400_000_000) as i64
}

/// One viewer: reads until `done`, timing each job event; quiet spells count only between
/// messages that both arrive while the load runs.
async fn view(
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    flags: Flags,
    connected: Arc<AtomicU64>,
) -> Seen {
    let (_write, mut read) = socket.split();
    let mut seen = Seen::default();
    let mut last: Option<Instant> = None;
    let mut hello = false;
    let done = flags.done.clone().cancelled_owned();
    tokio::pin!(done);
    let (go, load) = (flags.go, flags.load);
    let mut running = false;
    loop {
        let msg = tokio::select! {
            m = read.next() => m,
            _ = &mut done => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        if text.contains("\"type\":\"job\"") {
            let at = text
                .split_once("\"at\":\"")
                .and_then(|(_, rest)| rest.split('"').next())
                .and_then(micros_of_day);
            if let Some(at) = at {
                let mut d = now_micros_of_day() - at;
                if d < -43_200_000_000 {
                    d += 86_400_000_000; // published before midnight, read after
                }
                seen.latencies.push(d.clamp(0, u32::MAX as i64) as u32);
            }
            // Quiet spells: checked per job event, between go and the end of the load.
            if !running && go.is_cancelled() {
                running = true;
            }
            if running {
                let now = Instant::now();
                if let Some(l) = last {
                    seen.longest_gap = seen.longest_gap.max(now - l);
                }
                last = Some(now);
                if seen.latencies.len() % 64 == 0 && load.is_cancelled() {
                    running = false;
                    last = None;
                }
            }
        } else if text.contains("\"type\":\"resync\"") {
            seen.resyncs += 1;
        } else if !hello && text.contains("\"type\":\"hello\"") {
            hello = true;
            connected.fetch_add(1, Ordering::Release);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_are_read_to_the_microsecond() {
        assert_eq!(micros_of_day("2026-11-24T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(
            micros_of_day("2026-11-24T10:20:30.123456789Z"),
            Some(37_230_123_456)
        );
        assert_eq!(micros_of_day("2026-11-24T10:20:30Z"), Some(37_230_000_000));
        assert_eq!(micros_of_day("garbage"), None);
    }
}
