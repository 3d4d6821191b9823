//! The in-process hub of job changes, for live viewers (the WebSocket endpoint). The runner
//! and the services publish; viewers subscribe. Publishing never waits for a viewer.
//!
//! - Every event gets the next sequence number of this process. The last `ring` events are
//!   kept, so a viewer that reconnects with the last number it saw gets what it missed
//!   ([`Hub::subscribe`] with `since`), or learns that too much happened ([`Resume::Gap`])
//!   and must reload a snapshot.
//! - Live delivery is a bounded broadcast channel: a viewer that falls behind by more than
//!   its capacity loses events (its receiver reports `Lagged`) and must resync the same way.
//! - Events carry the job's owner, so that the endpoint shows each user only their own jobs.
//!   Live events go to one channel for everything (superusers' viewers) and one per owner
//!   with viewers: a user's viewer is woken by that user's jobs only, so a thousand viewers
//!   cost one wake-up per event and interested viewer, not a thousand.
//! - Each event's JSON is made once, on first use, and shared by every viewer.
//!
//! - Several nodes (PostgreSQL): events made here are also handed to the relay
//!   ([`Hub::tap`], see [`crate::relay`]), which passes them to the other nodes, whose hubs
//!   take them in with [`Hub::publish_remote`]. Each hub numbers every event it sees, its
//!   own and the others', in the order it sees them: sequence numbers are per node, and the
//!   WebSocket's `hello` names the node (`node`), so a client that resumes on another node
//!   (behind a load balancer) is told to resync instead of replaying the wrong events.
//!   When events from other nodes may have been missed (the relay's connection dropped),
//!   [`Hub::resync_all`] tells every viewer to reload.
//!
//! It must not decide who may see what (the endpoint does), nor touch the database.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use super::{Job, JobStatus};

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Stored (enqueued, or made by a scheduler).
    Created,
    /// Its status changed.
    Status,
    /// Deleted.
    Deleted,
    /// Not a job's change: events may have been missed (from another node); reload.
    Resync,
}

/// One change to one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobEvent {
    pub seq: u64,
    pub event: EventKind,
    pub job_id: i64,
    #[serde(skip)]
    pub owner_id: Option<i64>,
    /// The status after the change.
    pub status: JobStatus,
    pub at: DateTime<Utc>,
    #[serde(skip)]
    json: OnceLock<Box<str>>,
}

impl JobEvent {
    /// The event as the WebSocket sends it: `{"type":"job",…}`, made once and shared.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| {
            if self.event == EventKind::Resync {
                return serde_json::json!({
                    "type": "resync",
                    "seq": self.seq,
                    "reason": "events from other nodes may have been missed (a lost database connection)",
                })
                .to_string()
                .into_boxed_str();
            }
            let mut v = serde_json::to_value(self).unwrap_or_default();
            v["type"] = serde_json::Value::from("job");
            v.to_string().into_boxed_str()
        })
    }

    /// Whether everyone gets this event (a resync), whoever owns what.
    pub fn is_for_everyone(&self) -> bool {
        self.event == EventKind::Resync
    }
}

/// Whose events a subscriber gets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every job's (a superuser's viewer).
    All,
    /// The jobs of this owner only.
    Owner(i64),
}

/// What a subscriber gets before the live events.
#[derive(Debug, Clone, PartialEq)]
pub enum Resume {
    /// No `since` given: live events only (load a snapshot first).
    Fresh,
    /// The events after `since`, in order (possibly none).
    Replay(Vec<Arc<JobEvent>>),
    /// Events after `since` are no longer kept: reload a snapshot.
    Gap,
}

struct State {
    next_seq: u64,
    ring: VecDeque<Arc<JobEvent>>,
    /// One channel per owner that has (or had) a viewer; dropped when its last one leaves.
    owners: HashMap<i64, broadcast::Sender<Arc<JobEvent>>>,
    /// The relay's copy of the events made here (several nodes).
    tap: Option<tokio::sync::mpsc::UnboundedSender<Arc<JobEvent>>>,
}

struct Inner {
    state: Mutex<State>,
    ring: usize,
    channel: usize,
    live: broadcast::Sender<Arc<JobEvent>>,
}

/// Cheap to clone; all clones are one hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("next_seq", &self.next_seq()).finish()
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(4096, 1024)
    }
}

impl Hub {
    /// Keeps the last `ring` events for resuming; each live subscriber may fall `channel`
    /// events behind before it loses some.
    pub fn new(ring: usize, channel: usize) -> Hub {
        let (live, _) = broadcast::channel(channel.max(1));
        Hub {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_seq: 1,
                    ring: VecDeque::with_capacity(ring.max(1)),
                    owners: HashMap::new(),
                    tap: None,
                }),
                ring: ring.max(1),
                channel: channel.max(1),
                live,
            }),
        }
    }

    /// Records a change made here and hands it to the live subscribers (and the relay);
    /// returns its sequence number.
    pub fn publish(&self, event: EventKind, job_id: i64, owner_id: Option<i64>, status: JobStatus) -> u64 {
        self.record(event, job_id, owner_id, status, Utc::now(), true)
    }

    /// Records a change another node made (from the relay), at the time it was made there.
    pub fn publish_remote(
        &self,
        event: EventKind,
        job_id: i64,
        owner_id: Option<i64>,
        status: JobStatus,
        at: DateTime<Utc>,
    ) -> u64 {
        self.record(event, job_id, owner_id, status, at, false)
    }

    /// Tells every viewer to reload: events from other nodes may have been missed.
    pub fn resync_all(&self) -> u64 {
        self.record(EventKind::Resync, 0, None, JobStatus::Queued, Utc::now(), false)
    }

    /// The events made here from now on, for the relay (one taker; a second call replaces it).
    pub fn tap(&self) -> tokio::sync::mpsc::UnboundedReceiver<Arc<JobEvent>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner()).tap = Some(tx);
        rx
    }

    fn record(
        &self,
        event: EventKind,
        job_id: i64,
        owner_id: Option<i64>,
        status: JobStatus,
        at: DateTime<Utc>,
        local: bool,
    ) -> u64 {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let seq = state.next_seq;
        state.next_seq += 1;
        let e = Arc::new(JobEvent {
            seq,
            event,
            job_id,
            owner_id,
            status,
            at,
            json: OnceLock::new(),
        });
        if local {
            if let Some(tap) = &state.tap {
                let _ = tap.send(e.clone());
            }
        }
        if state.ring.len() == self.inner.ring {
            state.ring.pop_front();
        }
        state.ring.push_back(e.clone());
        // Sent under the lock, so the live order is the sequence order. No receivers is fine.
        if e.is_for_everyone() {
            state.owners.retain(|_, tx| tx.send(e.clone()).is_ok());
        } else if let Some(owner) = owner_id {
            if let Some(tx) = state.owners.get(&owner) {
                if tx.send(e.clone()).is_err() {
                    state.owners.remove(&owner);
                }
            }
        }
        let _ = self.inner.live.send(e);
        seq
    }

    /// `publish` for a job as stored.
    pub fn job(&self, event: EventKind, job: &Job) -> u64 {
        self.publish(event, job.id, job.owner_id, job.status)
    }

    /// Subscribes to every live event, after replaying those after `since`. The replay and
    /// the live stream meet without a gap or a duplicate.
    pub fn subscribe(&self, since: Option<u64>) -> (Resume, broadcast::Receiver<Arc<JobEvent>>) {
        self.subscribe_to(since, Scope::All)
    }

    /// [`Hub::subscribe`] for the events of `scope` only (live; the replay is not filtered).
    pub fn subscribe_to(
        &self,
        since: Option<u64>,
        scope: Scope,
    ) -> (Resume, broadcast::Receiver<Arc<JobEvent>>) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let rx = match scope {
            Scope::All => self.inner.live.subscribe(),
            Scope::Owner(owner) => {
                if state.owners.len() > 1024 {
                    // Forget the channels whose viewers have all left.
                    state.owners.retain(|_, tx| tx.receiver_count() > 0);
                }
                let channel = self.inner.channel;
                state
                    .owners
                    .entry(owner)
                    .or_insert_with(|| broadcast::channel(channel).0)
                    .subscribe()
            }
        };
        let resume = match since {
            None => Resume::Fresh,
            Some(since) => {
                let oldest = state.ring.front().map_or(state.next_seq, |e| e.seq);
                if since.saturating_add(1) < oldest || since >= state.next_seq {
                    // Older than what is kept, or a number this process never gave out (it
                    // restarted): either way the viewer cannot know what it missed.
                    Resume::Gap
                } else {
                    Resume::Replay(state.ring.iter().filter(|e| e.seq > since).cloned().collect())
                }
            }
        };
        (resume, rx)
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .next_seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::TryRecvError;

    fn seqs(r: &Resume) -> Vec<u64> {
        match r {
            Resume::Replay(es) => es.iter().map(|e| e.seq).collect(),
            other => panic!("expected a replay, got {other:?}"),
        }
    }

    #[test]
    fn resume_replays_what_was_missed_then_goes_live() {
        let hub = Hub::new(4, 16);
        for id in 1..=3 {
            hub.publish(EventKind::Created, id, Some(7), JobStatus::Queued);
        }
        let (resume, mut rx) = hub.subscribe(Some(1));
        assert_eq!(seqs(&resume), [2, 3]);
        hub.publish(EventKind::Status, 1, Some(7), JobStatus::Running);
        let live = rx.try_recv().unwrap();
        assert_eq!((live.seq, live.job_id, live.status), (4, 1, JobStatus::Running));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)), "no duplicate");
        // Up to date: nothing to replay.
        assert_eq!(seqs(&hub.subscribe(Some(4)).0), Vec::<u64>::new());
        assert_eq!(hub.subscribe(None).0, Resume::Fresh);
    }

    #[test]
    fn too_old_or_unknown_positions_need_a_resync() {
        let hub = Hub::new(4, 16);
        for id in 1..=10 {
            hub.publish(EventKind::Created, id, None, JobStatus::Queued);
        }
        // Kept: 7..=10. Resuming after 6 still works; after 5, event 6 is gone.
        assert_eq!(seqs(&hub.subscribe(Some(6)).0), [7, 8, 9, 10]);
        assert_eq!(hub.subscribe(Some(5)).0, Resume::Gap);
        // A number from before a restart (this hub never gave out 11).
        assert_eq!(hub.subscribe(Some(11)).0, Resume::Gap);
    }

    #[test]
    fn owner_subscribers_get_only_their_owners_events() {
        let hub = Hub::new(64, 16);
        let (_, mut seven) = hub.subscribe_to(None, Scope::Owner(7));
        let (_, mut all) = hub.subscribe_to(None, Scope::All);
        hub.publish(EventKind::Created, 1, Some(7), JobStatus::Queued);
        hub.publish(EventKind::Created, 2, Some(8), JobStatus::Queued);
        hub.publish(EventKind::Created, 3, None, JobStatus::Queued);
        hub.publish(EventKind::Status, 1, Some(7), JobStatus::Running);
        let mine: Vec<u64> = std::iter::from_fn(|| seven.try_recv().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(mine, [1, 4]);
        let every: Vec<u64> = std::iter::from_fn(|| all.try_recv().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(every, [1, 2, 3, 4]);
        // The JSON is the WebSocket's `job` message.
        let e = hub.subscribe(Some(3)).0;
        let Resume::Replay(es) = e else { panic!("{e:?}") };
        let v: serde_json::Value = serde_json::from_str(es[0].json()).unwrap();
        assert_eq!(
            (
                v["type"].as_str(),
                v["seq"].as_u64(),
                v["job_id"].as_i64(),
                v["status"].as_str()
            ),
            (Some("job"), Some(4), Some(1), Some("running"))
        );
        assert!(v.get("owner_id").is_none(), "owners are not sent");
        // When the last viewer of an owner leaves, its channel goes at the next event.
        drop(seven);
        hub.publish(EventKind::Status, 1, Some(7), JobStatus::Done);
        assert!(hub.inner.state.lock().unwrap().owners.is_empty());
    }

    #[test]
    fn a_slow_subscriber_lags_instead_of_blocking_the_publisher() {
        let hub = Hub::new(64, 4);
        let (_, mut slow) = hub.subscribe(None);
        for id in 1..=20 {
            hub.publish(EventKind::Created, id, None, JobStatus::Queued);
        }
        assert!(matches!(slow.try_recv(), Err(TryRecvError::Lagged(16))));
        // What it can still read is the newest, in order.
        let rest: Vec<u64> = std::iter::from_fn(|| slow.try_recv().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(rest, [17, 18, 19, 20]);
    }
}
