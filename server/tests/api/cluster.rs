//! Many nodes, one system (SPEC S8): real `vcore serve` and `vcore worker` processes, each
//! with its own data directory, on one throwaway PostgreSQL database, checked from the
//! outside (HTTP, the database, /proc).
//!
//! Waits are generous and never measure speed; where a test proves a hint arrived, it does
//! so by making the fallback impossible within the wait (the worker polls every 120 s,
//! `JOB_POLL_SECS`, the wait is 20 s).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vcore_domain::jobs::{store, JobStatus, Priority};

use crate::crash::{ended, process_running, running, site, work, Proc, Site};
use crate::helpers::Backend;
use crate::ws::next;

const PASSWORD: &str = "crash-test-password";

/// Settings every node of one site shares: the same JWT keys (a token from one node works
/// on all, as behind a load balancer).
const SHARED: [(&str, &str); 2] = [
    (
        "JWT_ACCESS_SECRET_KEY",
        "cluster-test-access-key-0123456789abcdef",
    ),
    (
        "JWT_REFRESH_SECRET_KEY",
        "cluster-test-refresh-key-0123456789abcdef",
    ),
];

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A `vcore serve` node and its address.
struct WebNode {
    proc: Proc,
    base: String,
}

fn start_with(s: &Site, cmd: &str, name: &str, extra: &[(&str, &str)]) -> Proc {
    let mut env: Vec<(&str, &str)> = SHARED.to_vec();
    env.extend_from_slice(extra);
    s.start(cmd, name, &env)
}

/// Starts `vcore serve` (`runner`: with a job runner) and waits until it answers.
async fn serve(s: &Site, name: &str, runner: bool, extra: &[(&str, &str)]) -> WebNode {
    let port = free_port().to_string();
    let mut env = vec![
        ("SERVER_PORT", port.as_str()),
        ("JOB_RUNNER", if runner { "true" } else { "false" }),
    ];
    env.extend_from_slice(extra);
    let proc = start_with(s, "serve", name, &env);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/healthz")).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} never answered:\n{}",
            proc.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    WebNode { proc, base }
}

impl WebNode {
    async fn token(&self) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/login/access-token", self.base))
            .form(&[("username", "admin"), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "sign-in on {}:\n{}", self.base, self.proc.log());
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/api/v1{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, token, body).await;
        assert!(
            (200..300).contains(&status),
            "{path}: {status} {v}\n{}",
            self.proc.log()
        );
        v
    }

    async fn enqueue(&self, token: &str, command: &str) -> i64 {
        let job = self
            .ok(
                reqwest::Method::POST,
                "/jobs/",
                token,
                Some(json!({ "name": "cluster test", "type": "command", "command": command })),
            )
            .await;
        job["id"].as_i64().unwrap()
    }
}

/// Waits until `done` holds for the node list.
async fn wait_nodes(web: &WebNode, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let nodes = web.ok(reqwest::Method::GET, "/nodes/", token, None).await;
        if done(&nodes) {
            return nodes;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {nodes}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A distinctive `sleep` (per run), to find its process afterwards.
fn long_sleep() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("300.{nanos:09}")
}

async fn wait_gone(needle: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !process_running(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn pg_or_skip(test: &str) -> bool {
    crate::pg::available_or_skip(test)
}

/// Enqueued on a web-only node, run at once by a worker that polls only every 120 s: the
/// hint crossed processes. Both nodes are listed, with their kinds and queues, and the
/// worker runs the maintenance (web-only nodes do not compete for it).
#[tokio::test]
async fn a_job_enqueued_on_a_web_only_node_starts_on_a_worker_at_once() {
    if !pg_or_skip("cluster::a_job_enqueued_on_a_web_only_node_starts_on_a_worker_at_once") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let web = serve(&s, "web", false, &[]).await;
    let _worker = start_with(
        &s,
        "worker",
        "w1",
        &[("JOB_QUEUES", "default:2"), ("JOB_POLL_SECS", "120")],
    );
    let token = web.token().await;
    let nodes = wait_nodes(&web, &token, "two nodes, one leading", |n| {
        n["count"] == 2 && n["data"].as_array().unwrap().iter().any(|n| n["leader"] == true)
    })
    .await;
    let list = nodes["data"].as_array().unwrap();
    let web_row = list.iter().find(|n| n["kind"] == "serve").expect("the web node");
    let worker_row = list.iter().find(|n| n["kind"] == "worker").expect("the worker");
    assert_eq!(web_row["queues"], json!([]), "web-only: {nodes}");
    assert_eq!(web_row["leader"], false, "{nodes}");
    assert_eq!(worker_row["leader"], true, "{nodes}");
    assert!(
        worker_row["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q == &json!({"name": "default", "concurrency": 2})),
        "{nodes}"
    );
    for row in list {
        assert!(
            row["pid"].as_i64().unwrap() > 0 && row["host"].is_string(),
            "{row}"
        );
    }
    // Let the worker's first look at the queue pass: from now on only a hint wakes it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = web.enqueue(&token, "echo from-the-worker").await;
    let done = s
        .wait_for(
            &[id],
            Duration::from_secs(20),
            "the job to run on the worker",
            |j| j[0].status == JobStatus::Done,
        )
        .await;
    assert_eq!(done[0].attempts, 1);
    // Its output, written on the worker: the web node cannot read it yet (job output
    // across nodes is a later step), so only the status is checked here.

    // The CLI lists the same nodes.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vcore"))
        .arg("nodes")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", s.dir.path().join("cli"))
        .env("DB_URL", &s.url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("2 node(s)") && text.contains("(maintenance)"),
        "{text}"
    );
    assert!(text.contains("default:2"), "{text}");
}

/// Poll-only mode (`JOB_NOTIFY=false`) still runs another node's jobs, by polling.
#[tokio::test]
async fn poll_only_nodes_still_run_each_others_jobs() {
    if !pg_or_skip("cluster::poll_only_nodes_still_run_each_others_jobs") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let off = [("JOB_NOTIFY", "false"), ("JOB_POLL_SECS", "1")];
    let web = serve(&s, "web", false, &off).await;
    let _worker = start_with(&s, "worker", "w1", &off);
    let token = web.token().await;
    let id = web.enqueue(&token, "true").await;
    s.wait_for(&[id], Duration::from_secs(30), "the polled job to run", |j| {
        j[0].status == JobStatus::Done
    })
    .await;
}

/// A kill sent to a web-only node stops the command running on a worker: the process is
/// gone, the job ends cancelled, with hints and (on a poll-only worker) without.
async fn kill_across_nodes(notify: &str) {
    let s = site(Backend::Postgres).await;
    let web = serve(&s, "web", false, &[]).await;
    let _worker = start_with(&s, "worker", "w1", &[("JOB_NOTIFY", notify)]);
    let token = web.token().await;
    let secs = long_sleep();
    let id = web.enqueue(&token, &format!("sleep {secs}")).await;
    s.wait_for(&[id], Duration::from_secs(30), "the sleep to run", |j| {
        running(j) == 1
    })
    .await;
    // Running in the database a moment before the worker has spawned it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !process_running(&secs) {
        assert!(Instant::now() < deadline, "the sleep never ran on the worker");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = web
        .ok(reqwest::Method::POST, &format!("/jobs/{id}/kill"), &token, None)
        .await;
    assert_eq!(killed["status"], "cancelled", "{killed}");
    assert!(
        wait_gone(&secs, Duration::from_secs(10)).await,
        "the worker stopped the killed job's process"
    );
    let job = store::get(&s.db, id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled, "{job:?}");
}

#[tokio::test]
async fn a_kill_on_one_node_stops_the_process_on_another() {
    if pg_or_skip("cluster::a_kill_on_one_node_stops_the_process_on_another") {
        kill_across_nodes("true").await;
    }
}

#[tokio::test]
async fn a_kill_reaches_a_poll_only_worker() {
    if pg_or_skip("cluster::a_kill_reaches_a_poll_only_worker") {
        kill_across_nodes("false").await;
    }
}

/// stop-consumer on one node holds for every node, and across their restarts; start-consumer
/// on another node lets them all run.
#[tokio::test]
async fn a_stopped_queue_is_claimed_by_no_node_even_after_restarts() {
    if !pg_or_skip("cluster::a_stopped_queue_is_claimed_by_no_node_even_after_restarts") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let web = serve(&s, "web", false, &[]).await;
    let other_web = serve(&s, "web2", true, &[]).await;
    let mut w1 = start_with(&s, "worker", "w1", &[]);
    let _w2 = start_with(&s, "worker", "w2", &[("JOB_NOTIFY", "false")]);
    let token = web.token().await;
    let stopped = web
        .ok(
            reqwest::Method::POST,
            "/jobs/stop-consumer",
            &token,
            Some(json!({"queue_name": "default"})),
        )
        .await;
    assert_eq!(stopped["paused"], true, "{stopped}");
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(web.enqueue(&token, "true").await);
    }
    // Three nodes with runners (two hearing hints, one polling every 2 s), and a restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    w1.signal("TERM");
    assert_eq!(w1.exit_code(Duration::from_secs(30)), Some(0), "{}", w1.log());
    let _w1_again = start_with(&s, "worker", "w1-again", &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs = s.jobs(&ids).await;
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Queued),
        "nothing claimed from a stopped queue: {:?}",
        jobs.iter()
            .map(|j| (j.id, j.status, j.lease_owner.clone()))
            .collect::<Vec<_>>()
    );
    let nodes = web.ok(reqwest::Method::GET, "/nodes/", &token, None).await;
    assert_eq!(nodes["paused_queues"], json!(["default"]), "{nodes}");
    // Started again from the other web node.
    let started = other_web
        .ok(
            reqwest::Method::POST,
            "/jobs/start-consumer",
            &token,
            Some(json!({"queue_name": "default"})),
        )
        .await;
    assert_eq!(started["paused"], false, "{started}");
    s.wait_for(&ids, Duration::from_secs(30), "every job to run", |j| {
        j.iter().all(|j| j.status == JobStatus::Done)
    })
    .await;
}

/// A one-second scheduler on three runners makes one job per due time: as many jobs as
/// the scheduler counts runs, and about one run per second (not one per runner).
#[tokio::test]
async fn three_runners_fire_a_one_second_scheduler_once_per_tick() {
    if !pg_or_skip("cluster::three_runners_fire_a_one_second_scheduler_once_per_tick") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let web = serve(&s, "web", true, &[]).await;
    let _w1 = start_with(&s, "worker", "w1", &[]);
    let _w2 = start_with(&s, "worker", "w2", &[]);
    let token = web.token().await;
    let sched = web
        .ok(
            reqwest::Method::POST,
            "/job-schedulers/",
            &token,
            Some(json!({
                "name": "every second",
                "trigger_type": "repeat",
                "repeat_every_seconds": 1,
                "job_template": {"name": "tick", "type": "command", "command": "true"},
            })),
        )
        .await;
    let sid = sched["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stopped = web
        .ok(
            reqwest::Method::POST,
            &format!("/job-schedulers/{sid}/toggle"),
            &token,
            None,
        )
        .await;
    assert_eq!(stopped["enabled"], false, "{stopped}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = web
        .ok(
            reqwest::Method::GET,
            &format!("/job-schedulers/{sid}"),
            &token,
            None,
        )
        .await;
    let runs = after["run_count"].as_i64().unwrap();
    let (jobs, total) = store::list(
        &s.db,
        &store::ListFilter {
            scheduler_id: Some(sid),
            ..Default::default()
        },
        0,
        100,
    )
    .await
    .unwrap();
    assert_eq!(total, runs, "one job per run: {after}");
    // Three firers that each fired every due second would have made about 18.
    assert!(
        (3..=8).contains(&runs),
        "about one run per second for 6 s: {after}"
    );
    assert!(jobs.iter().all(|j| j.scheduler_id == Some(sid)));
}

/// `kill -9` of a worker mid-run: every job ends done on the other worker, and each did its
/// work once (the dead worker's commands died with it).
#[tokio::test]
async fn a_worker_killed_mid_run_leaves_every_job_done_by_the_others() {
    if !pg_or_skip("cluster::a_worker_killed_mid_run_leaves_every_job_done_by_the_others") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let marker = s.marker();
    let mut ids = Vec::new();
    for i in 0..16 {
        ids.push(s.enqueue(&work(1.0, i, &marker), Priority::Normal, 3).await);
    }
    let victim = start_with(&s, "worker", "victim", &[]);
    let _survivor = start_with(&s, "worker", "survivor", &[]);
    s.wait_for(&ids, Duration::from_secs(30), "jobs running on both", |j| {
        running(j) >= 6
    })
    .await;
    victim.signal("KILL");
    let jobs = s
        .wait_for(&ids, Duration::from_secs(90), "every job to end", ended)
        .await;
    assert!(
        jobs.iter().all(|j| j.status == JobStatus::Done),
        "{:?}",
        jobs.iter()
            .map(|j| (j.id, j.status, j.error.clone()))
            .collect::<Vec<_>>()
    );
    let work_done = s.finished_work();
    assert_eq!(work_done.len(), 16, "{work_done:?}");
    assert!(
        work_done.values().all(|n| *n == 1),
        "each job's work once: {work_done:?}"
    );
    drop(victim);
}

/// PostgreSQL restarted while jobs run on two workers: every node recovers (heartbeats,
/// hints, claims), no job is lost, and jobs enqueued afterwards run.
#[tokio::test]
async fn every_node_recovers_when_postgres_restarts_under_load() {
    if !pg_or_skip("cluster::every_node_recovers_when_postgres_restarts_under_load") {
        return;
    }
    let cluster = tokio::task::spawn_blocking(crate::pg::OwnCluster::start)
        .await
        .expect("starting a cluster of this test's own");
    let url = cluster.create_database("restart_under_load").await;
    vcore_domain::db::Db::migrate(&url, &[]).await.expect("migrate");
    let db = vcore_domain::db::Db::connect(&url, 2).await.expect("connect");
    let dir = tempfile::Builder::new()
        .prefix("vcore-restart-")
        .tempdir()
        .unwrap();
    let s = Site {
        dir,
        url: url.clone(),
        db,
    };
    let web = serve(&s, "web", false, &[]).await;
    let _w1 = start_with(&s, "worker", "w1", &[]);
    let _w2 = start_with(&s, "worker", "w2", &[("JOB_NOTIFY", "false")]);
    let token = web.token().await;
    let marker = s.marker();
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(web.enqueue(&token, &work(0.4, i, &marker)).await);
    }
    s.wait_for(&ids, Duration::from_secs(30), "jobs running", |j| running(j) >= 2)
        .await;
    // Blocks this test's thread for the restart (a second or two); the nodes are processes.
    cluster.restart();
    // The test's own pool lost its connections too: a new one.
    let db = loop {
        match vcore_domain::db::Db::connect(&url, 2).await {
            Ok(db) => break db,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    // More work once the database is back, through the web node (its pool reconnects).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut after = Vec::new();
    while after.len() < 6 {
        let (status, job) = web
            .call(
                reqwest::Method::POST,
                "/jobs/",
                &token,
                Some(json!({"name": "after the restart", "type": "command", "command": work(0.1, 100 + after.len(), &marker)})),
            )
            .await;
        if status == 201 {
            after.push(job["id"].as_i64().unwrap());
        } else {
            assert!(
                Instant::now() < deadline,
                "the web node never recovered: {status} {job}\n{}",
                web.proc.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let all: Vec<i64> = ids.iter().chain(&after).copied().collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut jobs = Vec::new();
        for id in &all {
            if let Ok(Some(j)) = store::get(&db, *id).await {
                jobs.push(j);
            }
        }
        if jobs.len() == all.len() && jobs.iter().all(|j| j.status == JobStatus::Done) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every job ended done after the restart: {:?}",
            jobs.iter()
                .map(|j| (j.id, j.status, j.error.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each job's work was done (at least once: a result that could not be written while the
    // database was down is redone after its lease expires).
    let work_done = s.finished_work();
    assert_eq!(work_done.len(), all.len(), "{work_done:?}");
    // Every node beats again.
    wait_nodes(&web, &token, "three live nodes after the restart", |n| {
        n["count"] == 3
    })
    .await;
}

/// A socket on a web-only node sees a job that a worker runs go through its states, follows
/// its output live, and the node reads and downloads the whole output, though it never ran
/// the job and shares no disk with the worker.
#[tokio::test]
async fn a_socket_on_one_node_follows_a_job_another_node_runs() {
    use futures_util::SinkExt;
    if !pg_or_skip("cluster::a_socket_on_one_node_follows_a_job_another_node_runs") {
        return;
    }
    let s = site(Backend::Postgres).await;
    let web = serve(&s, "web", false, &[]).await;
    let _worker = start_with(&s, "worker", "w1", &[]);
    let token = web.token().await;
    let url = format!(
        "{}/api/v1/ws/job-queue?token={token}",
        web.base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    let node = hello["node"]
        .as_str()
        .expect("the hello names the node")
        .to_string();
    // Output that starts a little later, so that the subscription is in place first.
    let id = web
        .enqueue(
            &token,
            "sleep 1; echo first; echo oops >&2; sleep 0.3; echo second",
        )
        .await;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            json!({"type": "subscribe_logs", "job_id": id}).to_string().into(),
        ))
        .await
        .unwrap();
    let mut statuses = Vec::new();
    let mut lines = Vec::new();
    while !(statuses.last() == Some(&"done".to_string()) && lines.len() == 3) {
        let m = next(&mut socket).await;
        match m["type"].as_str() {
            Some("job") if m["job_id"] == id => statuses.push(m["status"].as_str().unwrap().to_string()),
            Some("log") if m["job_id"] == id => lines.push((
                m["stream"].as_str().unwrap().to_string(),
                m["line"].as_str().unwrap().to_string(),
                m["end"].as_u64().expect("where the line ends"),
            )),
            Some("subscribed") | Some("job") => {}
            _ => panic!("unexpected message {m}"),
        }
    }
    assert_eq!(
        statuses,
        ["queued", "running", "done"],
        "in order, from two nodes"
    );
    let stdout: Vec<&str> = lines
        .iter()
        .filter(|l| l.0 == "stdout")
        .map(|l| l.1.as_str())
        .collect();
    assert_eq!(stdout, ["first", "second"], "{lines:?}");
    assert!(
        lines.iter().any(|l| l.0 == "stderr" && l.1 == "oops"),
        "{lines:?}"
    );
    // The log as the web node reads it: the same text, at the offsets the live lines gave.
    let log = web
        .ok(reqwest::Method::GET, &format!("/jobs/{id}/log"), &token, None)
        .await;
    let content = log["content"].as_str().unwrap().to_string();
    let last_end = lines.iter().map(|l| l.2).max().unwrap();
    assert_eq!(content.len() as u64, last_end, "{log}");
    assert!(
        content.contains("first\n") && content.contains("[stderr] oops\n") && content.ends_with("second\n"),
        "{content:?}"
    );
    assert_eq!(log["finished"], true, "{log}");
    let tail = web
        .ok(
            reqwest::Method::GET,
            &format!("/jobs/{id}/log?tail=true"),
            &token,
            None,
        )
        .await;
    assert_eq!(tail["content"], content, "{tail}");
    let from = web
        .ok(
            reqwest::Method::GET,
            &format!("/jobs/{id}/log?offset=6"),
            &token,
            None,
        )
        .await;
    assert_eq!(from["content"].as_str().unwrap(), &content[6..], "{from}");
    let download = reqwest::Client::new()
        .get(format!("{}/api/v1/jobs/{id}/log/download", web.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(download, content);
    // Resuming with a position from another node's numbering gets a resync.
    let url = format!(
        "{}/api/v1/ws/job-queue?token={token}&since=1&node=another-node",
        web.base.replace("http://", "ws://")
    );
    let (mut other, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    let hello = next(&mut other).await;
    assert_eq!(
        (hello["resume"].as_str(), hello["node"].as_str()),
        (Some("gap"), Some(node.as_str())),
        "{hello}"
    );
}
