//! `WS /ws/job-queue`: job changes pushed live from the in-process hub
//! (`vcore_domain::jobs::events`), only those of jobs the user may see (their own; all for a
//! superuser, operator or viewer). Never polls the database.
//!
//! An API key (`Bearer vk_…` or `?token=vk_…`) needs the `jobs:read` scope (else 403).
//!
//! Authentication: a bearer token in `Authorization`, a `token` query parameter (browsers
//! cannot set headers on a WebSocket), or the session cookie, which counts only from the
//! app's own (or a trusted) origin. Anonymous upgrades get 401, foreign origins 403.
//!
//! Messages (server → client, JSON text):
//! - `{"type":"hello","next_seq":N,"resume":"fresh"|"replay"|"gap","node":…}` first;
//!   sequence numbers are this node's (it numbers every event it sees, whichever node made
//!   it): resume with `?since=N&node=<the hello's node>`, and a different node answers
//!   `gap` instead of replaying the wrong events;
//! - `{"type":"job","seq":N,"event":"created"|"status"|"deleted","job_id":…,"status":…,"at":…}`;
//! - `{"type":"resync","reason":…}` when events were lost (a resume too old, or this client
//!   too slow): reload `GET /jobs/`, then carry on from the next events.
//!
//! - `{"type":"log","job_id":…,"stream":"stdout"|"stderr","line":…,"end":…}` for subscribed
//!   jobs; `end` is where the line ends in the job's log (`GET /jobs/{id}/log` offsets), or
//!   null when the line is not in it (a truncated log);
//! - `{"type":"subscribed"|"unsubscribed","job_id":…}`, `{"type":"error","detail":…}`.
//!
//! Client → server: `{"type":"subscribe_logs","job_id":N}` (a job the user may see; its
//! command output from then on, whichever node runs it) and `{"type":"unsubscribe_logs",…}`.
//!
//! Resume: connect with `?since=<last seq seen>` to get what was missed first.
//! A ping goes out every 20 s; the connection closes when the client does.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::request::Parts;
use axum::response::Response;
use futures_util::SinkExt;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use vcore_app::types::AppError;
use vcore_domain::access::{Actor, Scope as KeyScope};
use vcore_domain::jobs::command::LogLine;
use vcore_domain::jobs::events::{JobEvent, Resume, Scope};
use vcore_domain::relay::Watch;
use vcore_domain::session_http;
use vcore_domain::sessions::ClientInfo;
use vcore_domain::Services;

use super::error::ApiResult;
use super::extract::ValidQuery;

const PING_EVERY: Duration = Duration::from_secs(20);
/// Most waiting events sent with one write.
const BATCH: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsQuery {
    token: Option<String>,
    since: Option<u64>,
    /// The node whose numbering `since` is in (the `node` of an earlier hello).
    node: Option<String>,
}

pub async fn job_queue(
    State(svc): State<Services>,
    ValidQuery(q): ValidQuery<WsQuery>,
    parts: Parts,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    // A bearer header or a `token` parameter first: a page cannot make a browser send those.
    // The session cookie last, and only from a trusted origin: browsers send cookies with
    // any site's WebSocket handshake (SameSite=Strict stops it today; this does not rely on it).
    let (token, from_cookie) = match (session_http::bearer(&parts.headers), q.token) {
        (Some(t), _) => (t.to_string(), false),
        (None, Some(t)) => (t, false),
        (None, None) => match session_http::access_token(&parts.headers) {
            Some(t) => (t.to_string(), true),
            None => return Err(AppError::Unauthorized("Not authenticated".into()).into()),
        },
    };
    if from_cookie
        && session_http::is_cross_origin_write(&svc.config, &axum::http::Method::POST, &parts.headers)
    {
        tracing::warn!("cross-origin WebSocket refused");
        return Err(AppError::Forbidden("Cross-origin request refused".into()).into());
    }
    let client = parts.extensions.get::<ClientInfo>().cloned().unwrap_or_default();
    let me = svc.authenticate(&token, &client).await?;
    me.need(KeyScope::JobsRead)?;
    // A position in another node's numbering cannot be resumed here.
    let since = match (&q.node, q.since) {
        (Some(node), Some(_)) if node.as_str() != &*svc.node_id => Some(u64::MAX),
        _ => q.since,
    };
    // Clients send only small requests: a small read buffer (allocated per connection) and
    // a cap on what they may send. Writes are flushed per batch.
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .write_buffer_size(32 * 1024)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |socket| serve(svc, Caller { me, token, client }, since, socket)))
}

/// Who is connected, and the credentials to check again (every `WS_RECHECK_SECS`, default
/// 60): a key revoked, a session ended or expired, an owner deactivated or given another
/// role closes the socket with 1008.
struct Caller {
    me: Actor,
    token: String,
    client: ClientInfo,
}

impl Caller {
    async fn still_valid(&self, svc: &Services) -> bool {
        match svc.authenticate(&self.token, &self.client).await {
            Ok(now) => now.role() == self.me.role() && now.has(KeyScope::JobsRead),
            Err(_) => false,
        }
    }
}

fn visible(me: &Actor, e: &JobEvent) -> bool {
    me.reads_all() || e.owner_id == Some(me.id) || e.is_for_everyone()
}

fn job_message(e: &JobEvent) -> WsMessage {
    WsMessage::Text(e.json().into())
}

/// Counts an open socket in `vcore_websocket_connections` for as long as it lives.
struct Open(prometheus::IntGauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn serve(svc: Services, caller: Caller, since: Option<u64>, mut socket: WebSocket) {
    svc.metrics.ws_connections.inc();
    let _open = Open(svc.metrics.ws_connections.clone());
    let me = &caller.me;
    let scope = match me.reads_all() {
        true => Scope::All,
        false => Scope::Owner(me.id),
    };
    let (resume, mut rx) = svc.hub.subscribe_to(since, scope);
    let label = match &resume {
        Resume::Fresh => "fresh",
        Resume::Replay(_) => "replay",
        Resume::Gap => "gap",
    };
    let hello =
        json!({ "type": "hello", "next_seq": svc.hub.next_seq(), "resume": label, "node": &*svc.node_id });
    if socket.send(text(hello)).await.is_err() {
        return;
    }
    match resume {
        Resume::Replay(events) => {
            for e in events.iter().filter(|e| visible(me, e)) {
                if socket.send(job_message(e)).await.is_err() {
                    return;
                }
            }
        }
        Resume::Gap => {
            let msg = json!({ "type": "resync", "reason": "the events after `since` are no longer kept" });
            if socket.send(text(msg)).await.is_err() {
                return;
            }
        }
        Resume::Fresh => {}
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut recheck = tokio::time::interval(std::time::Duration::from_secs(svc.config.ws_recheck_secs));
    recheck.tick().await;
    // Output lines of jobs run here (if this process runs jobs), and of jobs run by other
    // nodes (through the relay, for the jobs watched here).
    let mut lines = svc.runner.as_ref().map(|r| r.subscribe_lines());
    let mut remote = svc.relay.as_ref().map(|r| r.subscribe_lines());
    let mut logs: HashMap<i64, Option<Watch>> = HashMap::new();
    loop {
        let out = tokio::select! {
            line = next_line(&mut lines) => match line {
                Ok(l) if logs.contains_key(&l.job_id) => log_message(&l),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) if !logs.is_empty() => {
                    text(json!({ "type": "resync", "reason": format!("{n} log lines were dropped: this client fell behind") }))
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => { lines = None; continue }
            },
            line = next_line(&mut remote) => match line {
                Ok(l) if logs.contains_key(&l.job_id) => log_message(&l),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) if !logs.is_empty() => {
                    text(json!({ "type": "resync", "reason": format!("{n} log lines were dropped: this client fell behind") }))
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => { remote = None; continue }
            },
            event = rx.recv() => match event {
                Ok(e) if visible(me, &e) => job_message(&e),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    text(json!({ "type": "resync", "reason": format!("{n} events were dropped: this client fell behind") }))
                }
                Err(RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(t))) => request(&svc, me, &t, &mut logs).await,
                // Pongs and binary frames are ignored; a close ends it.
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            },
            _ = ping.tick() => WsMessage::Ping(Vec::new().into()),
            _ = recheck.tick() => {
                if caller.still_valid(&svc).await {
                    continue;
                }
                let _ = socket
                    .send(WsMessage::Close(Some(axum::extract::ws::CloseFrame {
                        code: 1008,
                        reason: "credentials no longer valid".into(),
                    })))
                    .await;
                return;
            }
        };
        if socket.feed(out).await.is_err() {
            return;
        }
        // Events that are already waiting go out in the same write: under load a viewer
        // costs one write per wake-up, not one per event.
        for _ in 0..BATCH {
            let more = match rx.try_recv() {
                Ok(e) if visible(me, &e) => job_message(&e),
                Ok(_) => continue,
                Err(TryRecvError::Lagged(n)) => text(
                    json!({ "type": "resync", "reason": format!("{n} events were dropped: this client fell behind") }),
                ),
                Err(_) => break,
            };
            if socket.feed(more).await.is_err() {
                return;
            }
        }
        if socket.flush().await.is_err() {
            return;
        }
    }
}

fn log_message(l: &LogLine) -> WsMessage {
    text(json!({ "type": "log", "job_id": l.job_id, "stream": l.stream, "line": l.line, "end": l.end }))
}

fn text(v: serde_json::Value) -> WsMessage {
    WsMessage::Text(v.to_string().into())
}

/// The next output line, or never when this process runs no jobs.
async fn next_line(
    lines: &mut Option<tokio::sync::broadcast::Receiver<LogLine>>,
) -> Result<LogLine, RecvError> {
    match lines {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    SubscribeLogs { job_id: i64 },
    UnsubscribeLogs { job_id: i64 },
}

/// Answers one client message.
async fn request(svc: &Services, me: &Actor, raw: &str, logs: &mut HashMap<i64, Option<Watch>>) -> WsMessage {
    let req: Request = match serde_json::from_str(raw) {
        Ok(r) => r,
        Err(e) => return text(json!({ "type": "error", "detail": format!("unknown message: {e}") })),
    };
    match req {
        Request::SubscribeLogs { job_id } => match svc.get_job(me, job_id).await {
            Ok(_) => {
                // Watched once per socket, whichever node runs it.
                logs.entry(job_id)
                    .or_insert_with(|| svc.relay.as_ref().map(|r| r.watch(job_id)));
                text(json!({ "type": "subscribed", "job_id": job_id }))
            }
            // As REST answers it: an internal error's cause is logged (once, by the
            // conversion) and the client gets the generic message.
            Err(e) => {
                let detail = vcore_app::types::AppError::from(e).to_string();
                text(json!({ "type": "error", "job_id": job_id, "detail": detail }))
            }
        },
        Request::UnsubscribeLogs { job_id } => {
            logs.remove(&job_id);
            text(json!({ "type": "unsubscribed", "job_id": job_id }))
        }
    }
}
