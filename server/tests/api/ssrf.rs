//! No server-side request forgery through `api_post` jobs: a regular user's job cannot
//! reach this machine (a real HTTP server on 127.0.0.1 counts what reaches it), not by an
//! address literal (422 at enqueue), not by a name that resolves to it, not by a redirect;
//! superusers and operators can, and so can anyone for a host in API_POST_ALLOWED_HOSTS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::jobs_api::wait_for_status;

both_backends!(
    a_users_job_cannot_reach_this_machine,
    allowed_hosts_are_reachable_but_not_their_redirects,
);

/// A server on 127.0.0.1: `/hook` counts calls; `/redirect` sends to `to` + `/hook`.
async fn target(to: Option<String>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let redirect_to = to.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move || {
                let hits = counted.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
        .route(
            "/redirect",
            axum::routing::post(move || {
                let to = redirect_to.clone().unwrap_or_default();
                async move { axum::response::Redirect::temporary(&format!("{to}/hook")) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{port}"), hits)
}

fn call(url: &str) -> Value {
    json!({ "name": "call", "type": "api_post", "command": url, "max_attempts": 1 })
}

async fn a_users_job_cannot_reach_this_machine(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let (base, hits) = target(None).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    // Address literals: refused when stored, naming the field; nothing is stored.
    for url in [
        format!("{base}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://10.0.0.1/x".to_string(),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::ffff:127.0.0.1]/x".to_string(),
    ] {
        let body = assert_422(
            app.post("/jobs/", Some(alice.access()), &call(&url)).await,
            &["body", "command"],
        )
        .await;
        assert!(body.to_string().contains("API_POST_ALLOWED_HOSTS"), "{body}");
    }
    let scheduled = json!({
        "name": "poke", "trigger_type": "repeat", "repeat_every_seconds": 60,
        "job_template": { "name": "t", "type": "api_post", "command": format!("{base}/hook") }
    });
    assert_422(
        app.post("/job-schedulers/", Some(alice.access()), &scheduled)
            .await,
        &["body", "job_template", "command"],
    )
    .await;
    let listed = assert_status(app.get("/jobs/", Some(alice.access())).await, 200).await;
    assert_eq!(listed["count"], 0, "{listed}");
    // A name that resolves to this machine: stored, then refused when it runs.
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(alice.access()),
            &call(&format!("http://localhost:{port}/hook")),
        )
        .await,
        201,
    )
    .await;
    let failed = wait_for_status(&app, alice.access(), id_of(&job), "failed").await;
    assert!(failed["error"].as_str().unwrap().contains("loopback"), "{failed}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the user's job reached the server"
    );
    // A superuser's and an operator's jobs reach it.
    let job = assert_status(
        app.post("/jobs/", Some(&admin), &call(&format!("{base}/hook")))
            .await,
        201,
    )
    .await;
    wait_for_status(&app, &admin, id_of(&job), "done").await;
    app.create_user_with(json!({"username": "olga", "email": "olga@example.com", "password": USER_PASSWORD, "role": "operator"}))
        .await;
    let olga = app.login("olga", USER_PASSWORD).await.access_token;
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(&olga),
            &call(&format!("http://localhost:{port}/hook")),
        )
        .await,
        201,
    )
    .await;
    wait_for_status(&app, &olga, id_of(&job), "done").await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

async fn allowed_hosts_are_reachable_but_not_their_redirects(b: Backend) {
    let (base, hits) = target(None).await;
    let port = base.rsplit(':').next().unwrap().to_string();
    // `/redirect` on the allowed name sends the job on to the literal address.
    let (redirecting, _) = target(Some(base.clone())).await;
    let redirecting_port = redirecting.rsplit(':').next().unwrap().to_string();
    let opts = Opts {
        env: vec![("API_POST_ALLOWED_HOSTS", " LocalHost , internal.example ".into())],
        ..Default::default()
    };
    let app = spawn_app(b, opts).await;
    let alice = app.create_and_login("alice").await;
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(alice.access()),
            &call(&format!("http://localhost:{port}/hook")),
        )
        .await,
        201,
    )
    .await;
    wait_for_status(&app, alice.access(), id_of(&job), "done").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(alice.access()),
            &call(&format!("http://localhost:{redirecting_port}/redirect")),
        )
        .await,
        201,
    )
    .await;
    let failed = wait_for_status(&app, alice.access(), id_of(&job), "failed").await;
    assert!(
        failed["error"].as_str().unwrap().contains("redirected to"),
        "{failed}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the redirect reached the server");
}
