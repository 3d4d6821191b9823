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
//!
//! It must not decide who may see what (the endpoint does), nor touch the database.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

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
}

struct Inner {
    state: Mutex<State>,
    ring: usize,
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
                }),
                ring: ring.max(1),
                live,
            }),
        }
    }

    /// Records a change and hands it to the live subscribers; returns its sequence number.
    pub fn publish(&self, event: EventKind, job_id: i64, owner_id: Option<i64>, status: JobStatus) -> u64 {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let seq = state.next_seq;
        state.next_seq += 1;
        let e = Arc::new(JobEvent {
            seq,
            event,
            job_id,
            owner_id,
            status,
            at: Utc::now(),
        });
        if state.ring.len() == self.inner.ring {
            state.ring.pop_front();
        }
        state.ring.push_back(e.clone());
        // Sent under the lock, so the live order is the sequence order. No receivers is fine.
        let _ = self.inner.live.send(e);
        seq
    }

    /// `publish` for a job as stored.
    pub fn job(&self, event: EventKind, job: &Job) -> u64 {
        self.publish(event, job.id, job.owner_id, job.status)
    }

    /// Subscribes to live events, after replaying those after `since`. The replay and the
    /// live stream meet without a gap or a duplicate.
    pub fn subscribe(&self, since: Option<u64>) -> (Resume, broadcast::Receiver<Arc<JobEvent>>) {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.inner.live.subscribe();
        let resume = match since {
            None => Resume::Fresh,
            Some(since) => {
                let oldest = state.ring.front().map_or(state.next_seq, |e| e.seq);
                if since + 1 < oldest || since >= state.next_seq {
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
