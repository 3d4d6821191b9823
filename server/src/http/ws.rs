//! `WS /ws/job-queue`: job changes pushed live from the in-process hub
//! (`vcore_domain::jobs::events`), only those of jobs the user may see (their own; all for a
//! superuser). Never polls the database.
//!
//! Authentication: a bearer token in `Authorization`, a `token` query parameter (browsers
//! cannot set headers on a WebSocket), or the session cookie. Anonymous upgrades get 401.
//!
//! Messages (server → client, JSON text):
//! - `{"type":"hello","next_seq":N,"resume":"fresh"|"replay"|"gap"}` first;
//! - `{"type":"job","seq":N,"event":"created"|"status"|"deleted","job_id":…,"status":…,"at":…}`;
//! - `{"type":"resync","reason":…}` when events were lost (a resume too old, or this client
//!   too slow): reload `GET /jobs/`, then carry on from the next events.
//!
//! Resume: connect with `?since=<last seq seen>` to get what was missed first.
//! A ping goes out every 20 s; the connection closes when the client does.

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use vcore_app::types::AppError;
use vcore_domain::jobs::events::{JobEvent, Resume};
use vcore_domain::session_http;
use vcore_domain::users::User;
use vcore_domain::Services;

use super::error::{ApiResult, RestError};
use super::extract::ValidQuery;

const PING_EVERY: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    token: Option<String>,
    since: Option<u64>,
}

pub async fn job_queue(
    State(svc): State<Services>,
    ValidQuery(q): ValidQuery<WsQuery>,
    parts: Parts,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let token = session_http::access_token(&parts.headers)
        .map(str::to_string)
        .or(q.token)
        .ok_or_else(|| RestError::from(AppError::Unauthorized("Not authenticated".into())))?;
    let me = svc.authenticate(&token).await?;
    let since = q.since;
    Ok(upgrade.on_upgrade(move |socket| serve(svc, me, since, socket)))
}

fn visible(me: &User, e: &JobEvent) -> bool {
    me.is_superuser || e.owner_id == Some(me.id)
}

fn job_message(e: &JobEvent) -> WsMessage {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    v["type"] = json!("job");
    WsMessage::Text(v.to_string().into())
}

async fn serve(svc: Services, me: User, since: Option<u64>, mut socket: WebSocket) {
    let (resume, mut rx) = svc.hub.subscribe(since);
    let label = match &resume {
        Resume::Fresh => "fresh",
        Resume::Replay(_) => "replay",
        Resume::Gap => "gap",
    };
    let hello = json!({ "type": "hello", "next_seq": svc.hub.next_seq(), "resume": label });
    if socket
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    match resume {
        Resume::Replay(events) => {
            for e in events.iter().filter(|e| visible(&me, e)) {
                if socket.send(job_message(e)).await.is_err() {
                    return;
                }
            }
        }
        Resume::Gap => {
            let msg = json!({ "type": "resync", "reason": "the events after `since` are no longer kept" });
            if socket
                .send(WsMessage::Text(msg.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
        Resume::Fresh => {}
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let out = tokio::select! {
            event = rx.recv() => match event {
                Ok(e) if visible(&me, &e) => job_message(&e),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    let msg = json!({ "type": "resync", "reason": format!("{n} events were dropped: this client fell behind") });
                    WsMessage::Text(msg.to_string().into())
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                // Pongs and anything else the client says are ignored; a close ends it.
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => WsMessage::Ping(Vec::new().into()),
        };
        if socket.send(out).await.is_err() {
            return;
        }
    }
}
