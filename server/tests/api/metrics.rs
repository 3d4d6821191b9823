//! `GET /metrics`: who may read it, that `promtool check metrics` accepts the output, that
//! jobs move the counters they should, and that a real Prometheus server (Debian's
//! `prometheus`) scrapes it with the documented configuration (a bearer token).
//!
//! Prometheus and promtool come from `scripts/setup.sh --test`. Without them the tests that
//! need them say so on stderr and return, unless `VCORE_REQUIRE_PROMETHEUS=1` (which the
//! test command sets): then a missing install fails.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::*;
use crate::jobs_api::{create, wait_for_status};

both_backends!(
    only_operators_superusers_and_the_token_read_metrics,
    jobs_move_the_counters_and_promtool_accepts_the_output,
);

const TOKEN: &str = "metrics-test-token-0123456789abcdef0123";

fn opts() -> Opts {
    Opts {
        env: vec![
            ("METRICS_TOKEN", TOKEN.to_string()),
            ("JOB_RETRY_BASE_SECS", "3600".to_string()),
        ],
        ..Opts::default()
    }
}

/// The path of `tool` if installed; `None` (and a line on stderr) when it is missing and not
/// required.
fn tool(tool: &str) -> Option<String> {
    let found = ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| format!("{d}/{tool}"))
        .find(|p| std::path::Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var("VCORE_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "{tool} is not installed (scripts/setup.sh --test installs Debian's prometheus)"
        );
        eprintln!("skipping: {tool} is not installed (scripts/setup.sh --test installs it)");
    }
    found
}

async fn scrape(app: &TestApp, bearer: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(app.url("/metrics"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("GET /metrics");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// The value of the sample `name{labels}` (labels exactly as the text has them), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn only_operators_superusers_and_the_token_read_metrics(b: Backend) {
    let app = spawn_app(b, opts()).await;
    let admin = app.admin_token().await;
    let mut sides: Vec<(String, Option<String>, u16)> = vec![
        ("anonymous".into(), None, 401),
        (
            "a wrong token".into(),
            Some("metrics-test-token-wrong".into()),
            401,
        ),
        ("METRICS_TOKEN".into(), Some(TOKEN.into()), 200),
        ("superuser".into(), Some(admin.clone()), 200),
    ];
    for (role, code) in [("operator", 200), ("user", 403), ("viewer", 403)] {
        app.create_user_with(json!({
            "username": role, "email": format!("{role}@example.com"),
            "password": USER_PASSWORD, "role": role,
        }))
        .await;
        let t = app.login(role, USER_PASSWORD).await.access_token;
        sides.push((role.into(), Some(t), code));
    }
    // Keys: the admin scope is needed, on top of the owner's role.
    for (scopes, code) in [
        (vec!["admin"], 200),
        (vec!["jobs:read", "jobs:write", "schedulers"], 403),
    ] {
        let made = assert_status(
            app.post(
                "/api-keys/",
                Some(&admin),
                &json!({ "name": "metrics", "scopes": scopes }),
            )
            .await,
            201,
        )
        .await;
        let secret = made["secret"].as_str().unwrap().to_string();
        sides.push((format!("superuser's key {scopes:?}"), Some(secret), code));
    }
    for (side, bearer, code) in &sides {
        let (status, body) = scrape(&app, bearer.as_deref()).await;
        assert_eq!(status, *code, "{side}: {body}");
        if *code == 200 {
            assert!(
                body.contains("# TYPE vcore_jobs_claimed_total counter")
                    || body.contains("vcore_runner_slots"),
                "{side}: {body}"
            );
        } else {
            assert!(!body.contains("vcore_"), "{side} must not see metrics: {body}");
        }
    }
    // The probes stay open (no credentials).
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// Counters of `text` that a job of type script on queue `default` moves.
fn job_figures(text: &str) -> (f64, f64, f64) {
    (
        sample(text, r#"vcore_jobs_claimed_total{queue="default"}"#).unwrap_or(0.0),
        sample(
            text,
            r#"vcore_job_duration_seconds_count{outcome="done",type="script"}"#,
        )
        .unwrap_or(0.0),
        sample(text, r#"vcore_jobs{queue="default",status="done"}"#).unwrap_or(0.0),
    )
}

async fn jobs_move_the_counters_and_promtool_accepts_the_output(b: Backend) {
    let app = spawn_app(b, opts()).await;
    let admin = app.admin_token().await;
    let (_, before) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(job_figures(&before), (0.0, 0.0, 0.0), "{before}");

    let job = create(
        &app,
        &admin,
        json!({ "name": "counted", "type": "script", "command": "noop" }),
    )
    .await;
    wait_for_status(&app, &admin, id_of(&job), "done").await;
    // A failing job that will be retried once (its retry waits an hour: see `opts`).
    let failing = create(
        &app,
        &admin,
        json!({ "name": "fails", "type": "command", "command": "sh -c 'exit 3'", "max_attempts": 2 }),
    )
    .await;
    let id = id_of(&failing);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, t) = scrape(&app, Some(TOKEN)).await;
        if sample(&t, r#"vcore_job_retries_total{queue="default"}"#) == Some(1.0) {
            break;
        }
        assert!(Instant::now() < deadline, "no retry counted for job {id}: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, after) = scrape(&app, Some(TOKEN)).await;
    assert_eq!(status, 200);
    let (claimed, durations, done) = job_figures(&after);
    assert!(claimed >= 2.0, "claimed: {after}");
    assert_eq!(durations, 1.0, "one script attempt ended done: {after}");
    assert_eq!(done, 1.0, "{after}");
    assert_eq!(
        sample(
            &after,
            r#"vcore_job_duration_seconds_count{outcome="failed",type="command"}"#
        ),
        Some(1.0),
        "{after}"
    );
    // The request that made the job, by its route's template; the job's page by its id's.
    assert_eq!(
        sample(
            &after,
            r#"vcore_http_requests_total{method="POST",route="/api/v1/jobs/",status="201"}"#
        ),
        Some(2.0),
        "{after}"
    );
    assert!(
        sample(
            &after,
            r#"vcore_http_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="200"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{after}"
    );
    assert!(
        !after.contains(&format!("/api/v1/jobs/{id}\"")),
        "raw paths make no series"
    );
    for series in [
        r#"vcore_runner_slots{queue="default",state="total"}"#,
        r#"vcore_queue_depth{queue="default"}"#,
        r#"vcore_queue_oldest_seconds{queue="default"}"#,
        r#"vcore_db_pool_connections{state="max"}"#,
        "vcore_websocket_connections",
        "vcore_jobs_rescued_total",
        "process_resident_memory_bytes",
    ] {
        assert!(sample(&after, series).is_some(), "{series} missing: {after}");
    }
    assert_eq!(
        sample(&after, r#"vcore_db_pool_connections{state="max"}"#),
        Some(4.0)
    );

    let Some(promtool) = tool("promtool") else { return };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting promtool");
    child.stdin.take().unwrap().write_all(after.as_bytes()).unwrap();
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real Prometheus scrapes vcore (the scrape configuration of docs/configuration.md, with
/// the token), and sees a job that runs after it started.
#[tokio::test]
async fn a_prometheus_server_scrapes_the_metrics() {
    let Some(prometheus) = tool("prometheus") else {
        return;
    };
    let app = spawn_app(Backend::Sqlite, opts()).await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: vcore\n    metrics_path: /metrics\n    \
             authorization:\n      credentials_file: {}\n    \
             static_configs:\n      - targets: ['127.0.0.1:{}']\n",
            token_file.display(),
            app.port
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let server = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("log")).unwrap(),
        ))
        .spawn()
        .expect("starting prometheus");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);

    let query = |q: &'static str| {
        let client = app.client.clone();
        async move {
            let resp = client
                .get(format!("http://127.0.0.1:{port}/api/v1/query"))
                .query(&[("query", q)])
                .send()
                .await
                .ok()?;
            let v: Value = resp.json().await.ok()?;
            v["data"]["result"][0]["value"][1].as_str()?.parse::<f64>().ok()
        }
    };
    let wait_for = |q: &'static str, want: f64| {
        let query = &query;
        let log = dir.path().join("log");
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if query(q).await == Some(want) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "Prometheus never saw {q} = {want}; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    };
    // The target is up (the token was accepted), with nothing run yet.
    wait_for(r#"up{job="vcore"}"#, 1.0).await;
    wait_for(r#"sum(vcore_runner_slots{state="total"})"#, 5.0).await;
    let job = create(
        &app,
        &admin,
        json!({ "name": "scraped", "type": "script", "command": "noop" }),
    )
    .await;
    wait_for_status(&app, &admin, id_of(&job), "done").await;
    wait_for(r#"vcore_jobs{queue="default",status="done"}"#, 1.0).await;
    wait_for(
        r#"vcore_job_duration_seconds_count{type="script",outcome="done"}"#,
        1.0,
    )
    .await;
}
