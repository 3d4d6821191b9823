//! Live events and output lines across nodes (PostgreSQL, with `JOB_NOTIFY`): a socket on
//! any node sees what every node does.
//!
//! - **Events**: the hub's own events ([`Hub::tap`]) are sent on `vcore_events`, as many
//!   per notification as fit (a busy node sends one notification per batch, not per
//!   event): `<node>\n` then one `<kind>|<job>|<owner>|<status>|<at ms>` line per event
//!   (`!` as the first line: events were lost before these). The other nodes put them in
//!   their hubs ([`Hub::publish_remote`]) and skip their own. Events of one node arrive in
//!   the order it made them (one sender; notifications are delivered in commit order).
//! - **Output lines**: a running job's output is written to the database in chunks, and
//!   each chunk announced on `vcore_logs` ([`crate::jobs::logs`]). A node whose viewers
//!   watch that job ([`Relay::watch`]) turns the chunk into lines for them.
//! - A (re)connect after the first one, or a lost send, means events may have been missed:
//!   every viewer is told to resync ([`Hub::resync_all`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::cluster::{self, Listening, Note};
use crate::db::{Backend, Db};
use crate::jobs::command::{LogLine, Stream};
use crate::jobs::events::{EventKind, Hub, JobEvent};
use crate::jobs::logs::{self, Announced};
use crate::jobs::JobStatus;

/// Job events' channel.
pub const CHANNEL_EVENTS: &str = "vcore_events";
/// Most bytes of events per notification (PostgreSQL's limit is 8,000).
const PAYLOAD_MAX: usize = 7_500;

/// Handle to this node's relay. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    node: String,
    lines: broadcast::Sender<LogLine>,
    /// Jobs whose output this node's viewers follow, and how many of them.
    watched: Mutex<HashMap<i64, usize>>,
    listening: std::sync::OnceLock<Listening>,
}

/// Stops following a job's output when dropped.
pub struct Watch {
    relay: Relay,
    job_id: i64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut w = self.relay.inner.watched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = w.get_mut(&self.job_id) {
            *n -= 1;
            if *n == 0 {
                w.remove(&self.job_id);
            }
        }
    }
}

fn kind_code(k: EventKind) -> char {
    match k {
        EventKind::Created => 'c',
        EventKind::Status => 's',
        EventKind::Deleted => 'd',
        EventKind::Resync => 'r',
    }
}

fn kind_of(c: &str) -> Option<EventKind> {
    match c {
        "c" => Some(EventKind::Created),
        "s" => Some(EventKind::Status),
        "d" => Some(EventKind::Deleted),
        _ => None,
    }
}

/// One event as a payload line.
fn event_line(e: &JobEvent) -> String {
    let owner = e.owner_id.map_or_else(|| "-".to_string(), |o| o.to_string());
    format!(
        "{}|{}|{owner}|{}|{}\n",
        kind_code(e.event),
        e.job_id,
        e.status.as_str(),
        e.at.timestamp_millis()
    )
}

/// A remote event: (kind, job, owner, status, at).
type Remote = (EventKind, i64, Option<i64>, JobStatus, DateTime<Utc>);

/// Reads an events payload: (node, events were lost before these, the events). Bad lines
/// are skipped.
fn parse_events(payload: &str) -> Option<(&str, bool, Vec<Remote>)> {
    let mut lines = payload.lines();
    let node = lines.next()?;
    let mut lost = false;
    let mut events = Vec::new();
    for line in lines {
        if line == "!" {
            lost = true;
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        let [kind, job, owner, status, at] = f[..] else {
            continue;
        };
        let (Some(kind), Ok(job), Ok(status), Some(at)) = (
            kind_of(kind),
            job.parse::<i64>(),
            JobStatus::parse("status", status),
            at.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis),
        ) else {
            continue;
        };
        let owner = if owner == "-" { None } else { owner.parse().ok() };
        events.push((kind, job, owner, status, at));
    }
    Some((node, lost, events))
}

/// Splits a chunk of output (whole lines, stderr ones prefixed) into live lines; `start` is
/// where the chunk begins in the job's output.
fn chunk_lines(job_id: i64, start: u64, data: &str) -> Vec<LogLine> {
    let mut end = start;
    data.split_inclusive('\n')
        .map(|raw| {
            end += raw.len() as u64;
            let text = raw.strip_suffix('\n').unwrap_or(raw);
            let (stream, line) = match text.strip_prefix("[stderr] ") {
                Some(rest) => (Stream::Stderr, rest),
                None => (Stream::Stdout, text),
            };
            LogLine {
                job_id,
                stream,
                line: line.to_string(),
                end: Some(end),
            }
        })
        .collect()
}

impl Relay {
    /// Starts relaying this node's (`node`) hub to and from the others over `url`, until
    /// `stop`. PostgreSQL only.
    pub fn start(db: Db, url: String, node: String, hub: Hub, stop: CancellationToken) -> Relay {
        let (lines, _) = broadcast::channel(4096);
        let inner = Arc::new(Inner {
            db: db.clone(),
            node: node.clone(),
            lines,
            watched: Mutex::new(HashMap::new()),
            listening: std::sync::OnceLock::new(),
        });
        tokio::spawn(send_events(db, node, hub.tap()));
        let heard = inner.clone();
        let first = std::sync::atomic::AtomicBool::new(true);
        let listening =
            cluster::listen(
                url,
                &[CHANNEL_EVENTS, logs::CHANNEL_LOGS],
                stop,
                move |note| match note {
                    Note::Connected => {
                        // The first connect misses nothing (viewers load a snapshot); later ones may.
                        if !first.swap(false, std::sync::atomic::Ordering::AcqRel) {
                            hub.resync_all();
                        }
                    }
                    Note::Message { channel, payload } if channel == CHANNEL_EVENTS => {
                        if let Some((from, lost, events)) = parse_events(payload) {
                            if from == heard.node {
                                return;
                            }
                            if lost {
                                hub.resync_all();
                            }
                            for (kind, job, owner, status, at) in events {
                                hub.publish_remote(kind, job, owner, status, at);
                            }
                        }
                    }
                    Note::Message { payload, .. } => heard.on_chunk(payload),
                },
            );
        let _ = inner.listening.set(listening);
        Relay { inner }
    }

    /// Output lines of jobs running on other nodes, for the jobs being watched here.
    pub fn subscribe_lines(&self) -> broadcast::Receiver<LogLine> {
        self.inner.lines.subscribe()
    }

    /// Follows job `job_id`'s output (from other nodes) while the guard lives.
    pub fn watch(&self, job_id: i64) -> Watch {
        *self
            .inner
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(job_id)
            .or_default() += 1;
        Watch {
            relay: self.clone(),
            job_id,
        }
    }

    /// Whether the relay's connection is up.
    pub fn is_listening(&self) -> bool {
        self.inner.listening.get().is_some_and(Listening::get)
    }
}

impl Inner {
    fn on_chunk(self: &Arc<Self>, payload: &str) {
        let Some(a) = Announced::parse(payload) else {
            return;
        };
        if a.node == self.node {
            return;
        }
        let watched = self
            .watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&a.job_id);
        if !watched {
            return;
        }
        match a.data {
            Some(data) => {
                for l in chunk_lines(a.job_id, a.start, &data) {
                    let _ = self.lines.send(l);
                }
            }
            None => {
                // Too big to carry: read it (in order with what follows is not promised
                // for such chunks; their `end` offsets say where each line belongs).
                let me = self.clone();
                tokio::spawn(async move {
                    if let Ok(Some(data)) = logs::chunk(&me.db, a.job_id, a.start).await {
                        for l in chunk_lines(a.job_id, a.start, &data) {
                            let _ = me.lines.send(l);
                        }
                    }
                });
            }
        }
    }
}

/// Sends the events made here, as many per notification as fit.
async fn send_events(db: Db, node: String, mut tap: mpsc::UnboundedReceiver<Arc<JobEvent>>) {
    let Backend::Pg(_) = db.backend() else { return };
    let mut lost = false;
    let mut carry: Option<String> = None;
    loop {
        let first = match carry.take() {
            Some(line) => line,
            None => match tap.recv().await {
                Some(e) if e.event != EventKind::Resync => event_line(&e),
                Some(_) => continue,
                None => return,
            },
        };
        let mut payload = format!("{node}\n");
        if lost {
            payload.push_str("!\n");
        }
        payload.push_str(&first);
        while payload.len() < PAYLOAD_MAX {
            match tap.try_recv() {
                Ok(e) if e.event == EventKind::Resync => {}
                Ok(e) => {
                    let line = event_line(&e);
                    if payload.len() + line.len() > PAYLOAD_MAX {
                        carry = Some(line);
                        break;
                    }
                    payload.push_str(&line);
                }
                Err(_) => break,
            }
        }
        lost = match cluster::notify(&db, CHANNEL_EVENTS, &payload).await {
            Ok(()) => false,
            Err(e) => {
                tracing::warn!(error = %e, "sending job events to the other nodes failed; their viewers will resync");
                true
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_a_payload() {
        let hub = Hub::new(16, 16);
        let mut tap = hub.tap();
        hub.publish(EventKind::Created, 7, Some(3), JobStatus::Queued);
        hub.publish(EventKind::Status, 7, None, JobStatus::Done);
        let mut payload = "node-a\n!\n".to_string();
        while let Ok(e) = tap.try_recv() {
            payload.push_str(&event_line(&e));
        }
        payload.push_str("garbage line\nx|1|-|done|0\n");
        let (node, lost, events) = parse_events(&payload).unwrap();
        assert_eq!((node, lost, events.len()), ("node-a", true, 2));
        assert_eq!(
            (events[0].0, events[0].1, events[0].2, events[0].3),
            (EventKind::Created, 7, Some(3), JobStatus::Queued)
        );
        assert_eq!((events[1].2, events[1].3), (None, JobStatus::Done));
        // Remote events are not tapped again (no echo between nodes).
        hub.publish_remote(EventKind::Status, 8, None, JobStatus::Running, Utc::now());
        assert!(tap.try_recv().is_err());
    }

    #[test]
    fn chunks_become_lines_with_their_offsets() {
        let lines = chunk_lines(5, 100, "one\n[stderr] two\nthree\n");
        let got: Vec<(Stream, &str, Option<u64>)> =
            lines.iter().map(|l| (l.stream, l.line.as_str(), l.end)).collect();
        assert_eq!(
            got,
            [
                (Stream::Stdout, "one", Some(104)),
                (Stream::Stderr, "two", Some(117)),
                (Stream::Stdout, "three", Some(123)),
            ]
        );
    }
}
