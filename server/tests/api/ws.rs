//! `WS /api/v1/ws/job-queue` with a real WebSocket client: anonymous and bad tokens refused
//! before the upgrade, the three ways to authenticate, each user seeing only their jobs'
//! changes (a superuser all), and resuming after a reconnect.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::helpers::*;

both_backends!(
    anonymous_and_bad_credentials_are_refused,
    each_user_sees_only_their_jobs_and_can_resume,
    log_lines_stream_to_subscribers_who_may_see_the_job,
    a_client_that_falls_behind_is_told_to_resync,
);

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://127.0.0.1:{}/api/v1/ws/job-queue{query}", app.port)
}

async fn connect(url: &str, header: Option<(&str, String)>) -> Result<Socket, WsError> {
    let mut req = url.into_client_request().unwrap();
    if let Some((k, v)) = header {
        req.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

/// The next JSON message (pings are skipped), within 10 s.
pub(crate) async fn next(socket: &mut Socket) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection is open")
            .expect("a valid frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Nothing arrives within `wait` (apart from pings).
async fn quiet(socket: &mut Socket, wait: Duration) {
    if let Ok(Some(Ok(Message::Text(t)))) = tokio::time::timeout(wait, socket.next()).await {
        panic!("expected nothing, got {t}");
    }
}

fn status_of(resp: &WsError) -> Option<u16> {
    match resp {
        WsError::Http(r) => Some(r.status().as_u16()),
        _ => None,
    }
}

async fn anonymous_and_bad_credentials_are_refused(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let err = connect(&ws_url(&app, ""), None)
        .await
        .expect_err("anonymous is refused");
    assert_eq!(status_of(&err), Some(401), "{err:?}");
    let err = connect(&ws_url(&app, "?token=not-a-token"), None)
        .await
        .expect_err("a bad token is refused");
    assert_eq!(status_of(&err), Some(401), "{err:?}");
    let err = connect(&ws_url(&app, ""), Some(("authorization", "Bearer x.y.z".into())))
        .await
        .expect_err("a bad bearer is refused");
    assert_eq!(status_of(&err), Some(401), "{err:?}");
    // Bad parameters: 422 naming them, before any upgrade.
    let admin = app.admin_token().await;
    // The session cookie from another site's page: refused (cross-site WebSocket hijacking);
    // from the app's own origin, fine.
    let cookie = format!("vcore_access={admin}");
    let mut req = ws_url(&app, "").into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let err = tokio_tungstenite::connect_async(req)
        .await
        .expect_err("a foreign origin is refused");
    assert_eq!(status_of(&err), Some(403), "{err:?}");
    let mut req = ws_url(&app, "").into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut().insert("origin", app.address.parse().unwrap());
    assert!(
        tokio_tungstenite::connect_async(req).await.is_ok(),
        "the app's own origin is fine"
    );
    let err = connect(&ws_url(&app, &format!("?token={admin}&since=soon")), None)
        .await
        .expect_err("a bad since is refused");
    assert_eq!(status_of(&err), Some(422), "{err:?}");
}

async fn each_user_sees_only_their_jobs_and_can_resume(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    // Three ways in: query token, bearer header, session cookie.
    let mut a = connect(&ws_url(&app, &format!("?token={}", alice.access())), None)
        .await
        .unwrap();
    let mut bo = connect(
        &ws_url(&app, ""),
        Some(("authorization", format!("Bearer {}", bob.access()))),
    )
    .await
    .unwrap();
    let mut su = connect(
        &ws_url(&app, ""),
        Some(("cookie", format!("vcore_access={admin}"))),
    )
    .await
    .unwrap();
    for s in [&mut a, &mut bo, &mut su] {
        let hello = next(s).await;
        assert_eq!(
            (hello["type"].as_str(), hello["resume"].as_str()),
            (Some("hello"), Some("fresh")),
            "{hello}"
        );
    }

    let body = json!({ "name": "hers", "type": "script", "command": "echo", "meta": {} });
    let job = assert_status(app.post("/jobs/", Some(alice.access()), &body).await, 201).await;
    let id = id_of(&job);
    let mut seen = Vec::new();
    for s in [&mut a, &mut su] {
        let mut statuses = Vec::new();
        let mut first_seq = 0;
        while statuses.last().map(String::as_str) != Some("done") {
            let m = next(s).await;
            assert_eq!(
                (m["type"].as_str(), m["job_id"].as_i64()),
                (Some("job"), Some(id)),
                "{m}"
            );
            assert!(m.get("owner_id").is_none(), "owners are not sent: {m}");
            if first_seq == 0 {
                first_seq = m["seq"].as_u64().unwrap();
            }
            statuses.push(m["status"].as_str().unwrap().to_string());
        }
        assert_eq!(statuses, ["queued", "running", "done"]);
        seen.push(first_seq);
    }
    // Bob sees nothing of Alice's job.
    quiet(&mut bo, Duration::from_millis(500)).await;

    // Alice reconnects after her first event: the rest is replayed.
    a.close(None).await.unwrap();
    let mut again = connect(
        &ws_url(&app, &format!("?token={}&since={}", alice.access(), seen[0])),
        None,
    )
    .await
    .unwrap();
    let hello = next(&mut again).await;
    assert_eq!(hello["resume"], "replay", "{hello}");
    let replayed: Vec<String> = [next(&mut again).await, next(&mut again).await]
        .iter()
        .map(|m| m["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(replayed, ["running", "done"]);
    // A position this server never gave out: told to resync.
    let mut lost = connect(
        &ws_url(&app, &format!("?token={}&since=999999", alice.access())),
        None,
    )
    .await
    .unwrap();
    assert_eq!(next(&mut lost).await["resume"], "gap");
    assert_eq!(next(&mut lost).await["type"], "resync");
}

async fn log_lines_stream_to_subscribers_who_may_see_the_job(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    let mut su = connect(&ws_url(&app, &format!("?token={admin}")), None)
        .await
        .unwrap();
    let mut bo = connect(&ws_url(&app, &format!("?token={}", bob.access())), None)
        .await
        .unwrap();
    next(&mut su).await;
    next(&mut bo).await;
    // Prints after a pause, so that the subscription is in place first.
    let body = json!({ "name": "talk", "type": "command", "command": "sleep 1; echo hello; echo oops >&2; echo world" });
    let job = assert_status(app.post("/jobs/", Some(&admin), &body).await, 201).await;
    let id = id_of(&job);
    let sub = json!({ "type": "subscribe_logs", "job_id": id }).to_string();
    su.send(Message::Text(sub.clone().into())).await.unwrap();
    bo.send(Message::Text(sub.into())).await.unwrap();

    let mut lines = Vec::new();
    let mut subscribed = false;
    while lines.len() < 3 {
        let m = next(&mut su).await;
        match m["type"].as_str() {
            Some("subscribed") => subscribed = m["job_id"] == id,
            Some("log") => {
                assert_eq!(m["job_id"], id);
                assert!(
                    m["end"].as_u64().is_some_and(|e| e > 0),
                    "where it ends in the log: {m}"
                );
                lines.push(format!(
                    "{}:{}",
                    m["stream"].as_str().unwrap(),
                    m["line"].as_str().unwrap()
                ));
            }
            Some("job") => {}
            other => panic!("unexpected {other:?}: {m}"),
        }
    }
    assert!(subscribed);
    lines.sort();
    assert_eq!(lines, ["stderr:oops", "stdout:hello", "stdout:world"]);

    // Bob may not see the job: an error, and no lines.
    let refused = next(&mut bo).await;
    assert_eq!(
        (refused["type"].as_str(), refused["job_id"].as_i64()),
        (Some("error"), Some(id)),
        "{refused}"
    );
    quiet(&mut bo, Duration::from_millis(300)).await;
    // Nonsense gets an error, not a closed connection.
    bo.send(Message::Text("{\"type\":\"dance\"}".into()))
        .await
        .unwrap();
    assert_eq!(next(&mut bo).await["type"], "error");
    // A message over the 64 KiB cap closes that connection, and only that one.
    let huge = format!(
        "{{\"type\":\"subscribe_logs\",\"pad\":\"{}\"}}",
        "x".repeat(100 * 1024)
    );
    let _ = bo.send(Message::Text(huge.into())).await;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), bo.next()).await {
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => break true,
            Ok(Some(Ok(_))) => continue,
            Err(_) => break false,
        }
    };
    assert!(closed, "the oversized message ended the connection");
    let again = connect(&ws_url(&app, &format!("?token={}", bob.access())), None).await;
    assert!(again.is_ok(), "the server still accepts viewers");
    su.send(Message::Text(
        json!({ "type": "unsubscribe_logs", "job_id": id })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    // (Job events may come first: the job ran meanwhile.)
    loop {
        let m = next(&mut su).await;
        match m["type"].as_str() {
            Some("job") => continue,
            other => break assert_eq!(other, Some("unsubscribed"), "{m}"),
        }
    }
}

/// A client that stops reading does not hold anything up: the server drops what it cannot
/// deliver and tells the client to resync. (Events are published straight into the hub, as
/// fast as it takes them.)
async fn a_client_that_falls_behind_is_told_to_resync(b: Backend) {
    use vcore_domain::jobs::events::EventKind;
    use vcore_domain::jobs::JobStatus;
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let mut slow = connect(&ws_url(&app, &format!("?token={admin}")), None)
        .await
        .unwrap();
    next(&mut slow).await;
    let started = std::time::Instant::now();
    for id in 0..200_000 {
        app.services
            .hub
            .publish(EventKind::Status, id, None, JobStatus::Running);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "publishing never waits for the client"
    );
    let mut received = 0;
    loop {
        let m = next(&mut slow).await;
        match m["type"].as_str() {
            Some("job") => received += 1,
            Some("resync") => break,
            other => panic!("unexpected {other:?}: {m}"),
        }
        assert!(received < 200_000, "all events delivered and no resync");
    }
}
