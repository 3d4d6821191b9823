//! Many processes, one system: what vcore processes sharing one database tell each other,
//! all of it through the database (no broker).
//!
//! - **Hints** ([`Hint`]): PostgreSQL `LISTEN/NOTIFY` on two channels. `vcore_jobs` is sent
//!   by a trigger (migration `000005_cluster`) when a job becomes ready (`q:<queue>`) or
//!   starts waiting for its `run_at` (`p`); PostgreSQL folds identical notifications of one
//!   transaction into one, so a bulk enqueue sends one per queue. `vcore_control` is sent by
//!   the services: `kill:<job>`, `pause:<queue>`, `resume:<queue>`, `schedulers`. A hint
//!   only says "look now": every loop still polls, so a lost hint delays, never loses.
//! - **The listener** ([`spawn_listener`]): one dedicated connection per process (not from
//!   the pool), reconnecting with backoff after the database restarts. Each (re)connect is
//!   reported as [`Hint::Reconnected`]: whatever happened meanwhile must be looked at. A
//!   ping every [`KEEPALIVE`] notices a connection that died silently. Off with
//!   `JOB_NOTIFY=false` (PgBouncer in transaction mode, where LISTEN silently does nothing),
//!   and on SQLite, which has no notifications: then the loops poll.
//! - **Nodes** ([`register`], [`beat`], [`list_alive`]): each `serve`/`worker` process
//!   writes a row and renews it; a node whose heartbeat is older than its lease is gone.
//! - **Leases** ([`hold`]): a named lease held by one node at a time, renewed by its holder
//!   and taken over when it expires: the elected node that runs the once-only maintenance.
//! - **Paused queues** ([`set_paused`]): the stopped consumers, a table every claim reads.
//!
//! It does not run jobs or decide who may do what.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::db::{Backend, Db};
use crate::error::DomainResult;
use crate::schema::{leases, nodes, paused_queues};

/// Job hints (sent by the trigger).
pub const CHANNEL_JOBS: &str = "vcore_jobs";
/// Control hints (sent by the services).
pub const CHANNEL_CONTROL: &str = "vcore_control";
/// How often the listener checks that its connection is alive when nothing arrives.
pub const KEEPALIVE: Duration = Duration::from_secs(30);
/// The lease of the node that runs once-only maintenance.
pub const MAINTENANCE: &str = "maintenance";

/// Something another process (or the database) says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// Jobs became ready in this queue.
    Ready(String),
    /// A job now waits for its `run_at` (the promoter should look again).
    Pending,
    /// Stop this job wherever it runs (it was killed).
    Kill(i64),
    /// This queue's consumers were stopped (true) or started (false).
    Paused(String, bool),
    /// A scheduler was created, changed or deleted.
    Schedulers,
    /// The listener (re)connected: hints may have been missed, look at everything.
    Reconnected,
}

impl Hint {
    /// Reads a notification; None for anything unknown (ignored, never fatal).
    pub fn parse(channel: &str, payload: &str) -> Option<Hint> {
        match (channel, payload) {
            (CHANNEL_JOBS, "p") => Some(Hint::Pending),
            (CHANNEL_JOBS, p) => p.strip_prefix("q:").map(|q| Hint::Ready(q.to_string())),
            (CHANNEL_CONTROL, "schedulers") => Some(Hint::Schedulers),
            (CHANNEL_CONTROL, p) => {
                let (what, arg) = p.split_once(':')?;
                match what {
                    "kill" => arg.parse().ok().map(Hint::Kill),
                    "pause" => Some(Hint::Paused(arg.to_string(), true)),
                    "resume" => Some(Hint::Paused(arg.to_string(), false)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The control payload of this hint (None for the ones the database sends itself).
    fn control_payload(&self) -> Option<String> {
        match self {
            Hint::Kill(id) => Some(format!("kill:{id}")),
            Hint::Paused(q, true) => Some(format!("pause:{q}")),
            Hint::Paused(q, false) => Some(format!("resume:{q}")),
            Hint::Schedulers => Some("schedulers".into()),
            Hint::Ready(_) | Hint::Pending | Hint::Reconnected => None,
        }
    }
}

/// Tells every listening process (this one included) about `hint`. PostgreSQL only: on
/// SQLite there is no one to tell, the other processes poll.
pub async fn send(db: &Db, hint: &Hint) -> DomainResult<()> {
    match hint.control_payload() {
        Some(payload) => notify(db, CHANNEL_CONTROL, &payload).await,
        None => Ok(()),
    }
}

/// `NOTIFY channel, payload` (PostgreSQL; nothing on SQLite, which has no listeners).
pub async fn notify(db: &Db, channel: &str, payload: &str) -> DomainResult<()> {
    let Backend::Pg(pool) = db.backend() else {
        return Ok(());
    };
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(channel)
        .bind::<diesel::sql_types::Text, _>(payload)
        .execute(&mut *pool.get().await?)
        .await?;
    Ok(())
}

/// Whether a listener is connected and listening (loops may then poll rarely).
#[derive(Debug, Clone, Default)]
pub struct Listening(Arc<AtomicBool>);

impl Listening {
    pub fn get(&self) -> bool {
        AtomicBool::load(&self.0, Ordering::Acquire)
    }
}

/// What a listener hears.
#[derive(Debug, Clone, Copy)]
pub enum Note<'a> {
    /// (Re)connected and listening: anything said meanwhile was missed.
    Connected,
    Message {
        channel: &'a str,
        payload: &'a str,
    },
}

/// Listens on both hint channels over its own connection to `url` until `stop`, calling
/// `on_hint` for each hint (from the listener's task: keep it quick). Reconnects with
/// backoff (0.2 s doubling to 5 s) whenever the connection fails.
pub fn spawn_listener(
    url: String,
    stop: CancellationToken,
    on_hint: impl Fn(Hint) + Send + Sync + 'static,
) -> Listening {
    listen(
        url,
        &[CHANNEL_JOBS, CHANNEL_CONTROL],
        stop,
        move |note| match note {
            Note::Connected => on_hint(Hint::Reconnected),
            Note::Message { channel, payload } => {
                if let Some(h) = Hint::parse(channel, payload) {
                    on_hint(h);
                }
            }
        },
    )
}

/// Listens on `channels` over a connection of its own to `url` until `stop`, calling
/// `on_note` for each notification and each (re)connect. Reconnects with backoff.
pub fn listen(
    url: String,
    channels: &[&str],
    stop: CancellationToken,
    on_note: impl Fn(Note<'_>) + Send + Sync + 'static,
) -> Listening {
    let listening = Listening::default();
    let flag = listening.0.clone();
    let listen_sql: String = channels.iter().map(|c| format!("LISTEN {c}; ")).collect();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            let outcome = tokio::select! {
                r = listen_once(&url, &listen_sql, &flag, &on_note) => r,
                _ = stop.cancelled() => return,
            };
            flag.store(false, Ordering::Release);
            match outcome {
                // It worked for a while: start the backoff again.
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => tracing::debug!(error = %e, "cannot listen"),
            }
            tracing::warn!(
                retry_in_ms = backoff.as_millis() as u64,
                "the listening connection is down; polling until it is back"
            );
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.cancelled() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
    listening
}

/// One connection's life: Err when it could not start, Ok when it ended after working.
async fn listen_once(
    url: &str,
    listen_sql: &str,
    flag: &AtomicBool,
    on_note: &(impl Fn(Note<'_>) + Send + Sync),
) -> anyhow::Result<()> {
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    use futures_util::StreamExt;
    let mut conn = tokio::time::timeout(Duration::from_secs(10), AsyncPgConnection::establish(url))
        .await
        .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
    conn.batch_execute(listen_sql).await?;
    flag.store(true, Ordering::Release);
    tracing::info!(channels = listen_sql, "listening");
    on_note(Note::Connected);
    loop {
        let next = {
            let stream = conn.notifications_stream();
            tokio::pin!(stream);
            tokio::select! {
                n = stream.next() => Some(n),
                _ = tokio::time::sleep(KEEPALIVE) => None,
            }
        };
        match next {
            Some(Some(Ok(n))) => on_note(Note::Message {
                channel: &n.channel,
                payload: &n.payload,
            }),
            Some(Some(Err(e))) => {
                tracing::warn!(error = %e, "the listening connection was lost");
                return Ok(());
            }
            Some(None) => return Ok(()),
            None => {
                let ping =
                    tokio::time::timeout(Duration::from_secs(10), conn.batch_execute("SELECT 1")).await;
                if !matches!(ping, Ok(Ok(()))) {
                    tracing::warn!("the listening connection stopped answering");
                    return Ok(());
                }
            }
        }
    }
}

/// What kind of process a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// `vcore serve`: the web app and API, with or without a job runner.
    Serve,
    /// `vcore worker`: jobs only.
    Worker,
}

impl NodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Serve => "serve",
            NodeKind::Worker => "worker",
        }
    }
}

/// One queue a node consumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeQueue {
    pub name: String,
    pub concurrency: usize,
}

/// A process sharing the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub kind: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    /// Empty for a web-only node.
    pub queues: Vec<NodeQueue>,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
    /// Holds the maintenance lease.
    pub leader: bool,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = nodes)]
struct NodeRow {
    id: String,
    kind: String,
    host: String,
    pid: i64,
    version: String,
    queues: String,
    started_at: NaiveDateTime,
    heartbeat_at: NaiveDateTime,
}

/// This machine's name, for the node list.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A new node id: `host:pid:random`, unique per process start. It is also the `lease_owner`
/// of the jobs the node runs.
pub fn new_node_id() -> String {
    let rand = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", host_name(), std::process::id(), &rand[..8])
}

/// Writes (or rewrites) this node's row.
pub async fn register(db: &Db, n: &Node) -> DomainResult<()> {
    let row = NodeRow {
        id: n.id.clone(),
        kind: n.kind.clone(),
        host: n.host.clone(),
        pid: n.pid,
        version: n.version.clone(),
        queues: serde_json::to_string(&n.queues).unwrap_or_else(|_| "[]".into()),
        started_at: n.started_at,
        heartbeat_at: Utc::now().naive_utc(),
    };
    crate::with_conn!(db, |conn| {
        diesel::insert_into(nodes::table)
            .values(&row)
            .on_conflict(nodes::id)
            .do_update()
            .set(&row)
            .execute(conn)
            .await?
    });
    Ok(())
}

/// Renews this node's heartbeat; false when its row is gone (pruned while this process
/// was stopped): register again.
pub async fn beat(db: &Db, id: &str) -> DomainResult<bool> {
    let t = Utc::now().naive_utc();
    let n = crate::with_conn!(db, |conn| {
        diesel::update(nodes::table.find(id))
            .set(nodes::heartbeat_at.eq(t))
            .execute(conn)
            .await?
    });
    Ok(n == 1)
}

/// Removes this node's row (a graceful stop).
pub async fn leave(db: &Db, id: &str) -> DomainResult<()> {
    crate::with_conn!(db, |conn| {
        diesel::delete(nodes::table.find(id)).execute(conn).await?
    });
    Ok(())
}

/// Deletes the rows of nodes silent since `before` (dead); returns how many.
pub async fn prune(db: &Db, before: NaiveDateTime) -> DomainResult<usize> {
    Ok(crate::with_conn!(db, |conn| {
        diesel::delete(nodes::table.filter(nodes::heartbeat_at.lt(before)))
            .execute(conn)
            .await?
    }))
}

/// The nodes that beat within `lease`, oldest first, with the maintenance holder marked.
pub async fn list_alive(db: &Db, lease: Duration) -> DomainResult<Vec<Node>> {
    let now = Utc::now().naive_utc();
    let since = now - chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let (rows, holder): (Vec<NodeRow>, Option<String>) = crate::with_conn!(db, |conn| {
        let rows = nodes::table
            .filter(nodes::heartbeat_at.ge(since))
            .order((nodes::started_at, nodes::id))
            .select(NodeRow::as_select())
            .load(conn)
            .await?;
        let holder = leases::table
            .find(MAINTENANCE)
            .filter(leases::expires_at.gt(now))
            .select(leases::holder)
            .first::<String>(conn)
            .await
            .optional()?;
        (rows, holder)
    });
    Ok(rows
        .into_iter()
        .map(|r| Node {
            leader: holder.as_deref() == Some(r.id.as_str()),
            queues: serde_json::from_str(&r.queues).unwrap_or_default(),
            id: r.id,
            kind: r.kind,
            host: r.host,
            pid: r.pid,
            version: r.version,
            started_at: r.started_at,
            heartbeat_at: r.heartbeat_at,
        })
        .collect())
}

#[derive(QueryableByName)]
struct HolderRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    holder: String,
}

/// Takes or renews lease `name` for `holder` until now + `ttl`: succeeds when nobody holds
/// it, `holder` already does, or the holder's lease has expired. Also when the holder is a
/// process of this machine that no longer exists (a restart after `kill -9` need not wait
/// for the dead process's lease). Returns whether `holder` now holds it.
pub async fn hold(db: &Db, name: &str, holder: &str, ttl: Duration) -> DomainResult<bool> {
    // One statement when the lease is ours or free; a look at the holder only when not.
    if try_hold(db, name, holder, ttl, "").await? {
        return Ok(true);
    }
    let current: Option<String> = crate::with_conn!(db, |conn| {
        leases::table
            .find(name)
            .select(leases::holder)
            .first::<String>(conn)
            .await
            .optional()?
    });
    match current.filter(|c| c != holder && is_dead_local_process(c)) {
        Some(dead) => try_hold(db, name, holder, ttl, &dead).await,
        None => Ok(false),
    }
}

/// The upsert of [`hold`]: takes the lease when it is free, ours, expired, or held by `dead`.
async fn try_hold(db: &Db, name: &str, holder: &str, ttl: Duration, dead: &str) -> DomainResult<bool> {
    use diesel::sql_types::{Text, Timestamp};
    let now = Utc::now().naive_utc();
    let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let query = diesel::sql_query(db.numbered(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.holder = excluded.holder OR leases.expires_at < $4 OR leases.holder = $5 \
         RETURNING holder",
    ))
    .bind::<Text, _>(name)
    .bind::<Text, _>(holder)
    .bind::<Timestamp, _>(until)
    .bind::<Timestamp, _>(now)
    .bind::<Text, _>(dead);
    let rows: Vec<HolderRow> = match db.backend() {
        Backend::Sqlite(pool) => query.load(&mut *pool.get().await?).await?,
        Backend::Pg(pool) => query.load(&mut *pool.get().await?).await?,
    };
    Ok(rows.iter().any(|r| r.holder == holder))
}

/// Gives lease `name` up, if `holder` has it (a graceful stop: the next node need not wait).
pub async fn release(db: &Db, name: &str, holder: &str) -> DomainResult<()> {
    crate::with_conn!(db, |conn| {
        diesel::delete(leases::table.find(name).filter(leases::holder.eq(holder)))
            .execute(conn)
            .await?
    });
    Ok(())
}

/// Whether node id `id` (`host:pid:…`) names a process of this machine that is gone.
fn is_dead_local_process(id: &str) -> bool {
    let mut parts = id.split(':');
    let (Some(host), Some(pid)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<i32>() else {
        return false;
    };
    if host != host_name() || pid <= 0 || pid == std::process::id() as i32 {
        return false;
    }
    matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Stops (`paused`) or starts a queue's consumers on every node. On PostgreSQL the change
/// takes the table's exclusive lock, which waits for claims under way and holds new ones
/// until it commits: once this returns, no node claims from the queue (every claim reads
/// the table). On SQLite writes are serialised, to the same effect. The caller tells the
/// other nodes ([`send`]) so that they stop polling a paused queue.
pub async fn set_paused(db: &Db, queue: &str, paused: bool) -> DomainResult<()> {
    let t = Utc::now().naive_utc();
    let queue = queue.to_string();
    match db.backend() {
        Backend::Sqlite(pool) => {
            pool.get()
                .await?
                .spawn_blocking(move |c| {
                    if paused {
                        diesel::RunQueryDsl::execute(
                            diesel::insert_into(paused_queues::table)
                                .values((paused_queues::queue.eq(&queue), paused_queues::paused_at.eq(t)))
                                .on_conflict_do_nothing(),
                            c,
                        )
                    } else {
                        diesel::RunQueryDsl::execute(diesel::delete(paused_queues::table.find(&queue)), c)
                    }
                })
                .await?;
        }
        Backend::Pg(pool) => {
            use diesel_async::AsyncConnection;
            let mut conn = pool.get().await?;
            let queue = &queue;
            conn.transaction::<_, diesel::result::Error, _>(async |c| {
                diesel::sql_query("LOCK TABLE paused_queues IN ACCESS EXCLUSIVE MODE")
                    .execute(c)
                    .await?;
                if paused {
                    diesel::insert_into(paused_queues::table)
                        .values((paused_queues::queue.eq(queue), paused_queues::paused_at.eq(t)))
                        .on_conflict_do_nothing()
                        .execute(c)
                        .await?;
                } else {
                    diesel::delete(paused_queues::table.find(queue))
                        .execute(c)
                        .await?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

/// The queues whose consumers are stopped.
pub async fn paused_queues(db: &Db) -> DomainResult<Vec<String>> {
    Ok(crate::with_conn!(db, |conn| {
        paused_queues::table
            .select(paused_queues::queue)
            .order(paused_queues::queue)
            .load::<String>(conn)
            .await?
    }))
}

/// How often a node renews its row: a third of the job lease, at least every second.
pub fn beat_every(lease_secs: u64) -> Duration {
    Duration::from_secs((lease_secs / 3).max(1))
}

/// A node that has not beaten for this long is gone (three missed beats).
pub fn alive_window(lease_secs: u64) -> Duration {
    beat_every(lease_secs) * 3
}

/// This process's row in `nodes`, renewed in the background until [`Membership::leave`]
/// (a graceful stop removes the row) or drop (the row ages out).
pub struct Membership {
    db: Db,
    id: String,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Membership {
    /// Stops renewing and removes this node's row.
    pub async fn leave(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Err(e) = leave(&self.db, &self.id).await {
            tracing::warn!(error = %e, "removing this node's row failed; it ages out");
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl crate::Services {
    /// Registers this process as a node of `kind` and keeps its row alive, and (PostgreSQL
    /// with `JOB_NOTIFY`) starts relaying live events and output lines to and from the other
    /// nodes. Call once the runner (if any) is started, so that its queues are listed.
    pub fn join_cluster(&mut self, kind: NodeKind) -> Membership {
        let now = Utc::now().naive_utc();
        let node = Node {
            id: self.node_id.to_string(),
            kind: kind.as_str().into(),
            host: host_name(),
            pid: i64::from(std::process::id()),
            version: env!("CARGO_PKG_VERSION").into(),
            queues: self
                .runner
                .as_ref()
                .map(|r| {
                    r.queues()
                        .into_iter()
                        .map(|(name, concurrency)| NodeQueue { name, concurrency })
                        .collect()
                })
                .unwrap_or_default(),
            started_at: now,
            heartbeat_at: now,
            leader: false,
        };
        let stop = CancellationToken::new();
        if self.db.is_postgres() && self.config.job_notify {
            self.relay = Some(crate::relay::Relay::start(
                self.db.clone(),
                self.config.db_url.clone(),
                self.node_id.to_string(),
                self.hub.clone(),
                stop.clone(),
            ));
        }
        let (db, every, runner) = (
            self.db.clone(),
            beat_every(self.config.job_lease_secs),
            self.runner.clone(),
        );
        let forget_after = alive_window(self.config.job_lease_secs) * 20;
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut registered = false;
            let mut beats: u64 = 0;
            loop {
                let step = if registered {
                    beat(&db, &node.id).await
                } else {
                    register(&db, &node).await.map(|()| true)
                };
                match step {
                    Ok(ok) => registered = ok,
                    Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
                }
                beats += 1;
                // The maintenance node forgets long-dead nodes now and then.
                if beats.is_multiple_of(30) && runner.as_ref().is_some_and(|r| r.is_leader()) {
                    let before =
                        Utc::now().naive_utc() - chrono::Duration::from_std(forget_after).unwrap_or_default();
                    if let Err(e) = prune(&db, before).await {
                        tracing::warn!(error = %e, "forgetting dead nodes failed");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = until.cancelled() => return,
                }
            }
        });
        Membership {
            db: self.db.clone(),
            id: self.node_id.to_string(),
            stop,
            task: Some(task),
        }
    }

    /// The live nodes (superusers, operators and viewers; a key needs `jobs:read`).
    pub async fn list_nodes(&self, actor: &crate::access::Actor) -> DomainResult<Vec<Node>> {
        actor.need(crate::access::Scope::JobsRead)?;
        if !actor.reads_all() {
            return Err(crate::DomainError::Forbidden(
                "Only superusers, operators and viewers may see the nodes".into(),
            ));
        }
        self.list_nodes_as_operator().await
    }

    /// The live nodes, for the operator (the CLI).
    pub async fn list_nodes_as_operator(&self) -> DomainResult<Vec<Node>> {
        list_alive(&self.db, alive_window(self.config.job_lease_secs)).await
    }
}

/// What `vcore bench-nodes` reads from the database, from outside the workers.
pub mod bench {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;

    use crate::db::{Backend, Db};
    use crate::error::DomainResult;
    use crate::schema::jobs;

    /// Deletes every job (the benchmark's database is scratch).
    pub async fn delete_all_jobs(db: &Db) -> DomainResult<()> {
        crate::with_conn!(db, |conn| diesel::delete(jobs::table).execute(conn).await?);
        Ok(())
    }

    /// How many jobs have this status.
    pub async fn count_status(db: &Db, status: &str) -> DomainResult<i64> {
        Ok(crate::with_conn!(db, |conn| {
            jobs::table
                .filter(jobs::status.eq(status))
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// How many chunks of output job `job_id` has.
    pub async fn chunk_count(db: &Db, job_id: i64) -> DomainResult<i64> {
        use crate::schema::job_logs;
        Ok(crate::with_conn!(db, |conn| {
            job_logs::table
                .filter(job_logs::job_id.eq(job_id))
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// How many jobs named `name` have not started.
    pub async fn count_unstarted(db: &Db, name: &str) -> DomainResult<i64> {
        Ok(crate::with_conn!(db, |conn| {
            jobs::table
                .filter(jobs::name.eq(name))
                .filter(jobs::started_at.is_null())
                .count()
                .get_result(conn)
                .await?
        }))
    }

    /// `started_at − created_at` of every started job named `name`, in milliseconds.
    pub async fn start_waits_ms(db: &Db, name: &str) -> DomainResult<Vec<f64>> {
        let rows: Vec<(chrono::NaiveDateTime, Option<chrono::NaiveDateTime>)> =
            crate::with_conn!(db, |conn| {
                jobs::table
                    .filter(jobs::name.eq(name))
                    .select((jobs::created_at, jobs::started_at))
                    .load(conn)
                    .await?
            });
        Ok(rows
            .into_iter()
            .filter_map(|(c, s)| s.map(|s| (s - c).num_microseconds().unwrap_or(0) as f64 / 1000.0))
            .collect())
    }

    /// Loads `pg_stat_statements` into the database if the server preloads it (false when
    /// it cannot: [`statements`] then counts transactions).
    pub async fn enable_statement_stats(db: &Db) -> bool {
        use diesel_async::SimpleAsyncConnection;
        let Backend::Pg(pool) = db.backend() else {
            return false;
        };
        let Ok(mut conn) = pool.get().await else {
            return false;
        };
        conn.batch_execute(
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT count(*) FROM pg_stat_statements",
        )
        .await
        .is_ok()
    }

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    /// Statements the database has run so far, not counting the statistics queries
    /// themselves: from `pg_stat_statements` when it is loaded (counted as each statement
    /// ends), else transactions committed (`pg_stat_database`, reported up to 10 s late).
    /// Returns the count and which of the two it is.
    pub async fn statements(db: &Db) -> DomainResult<(i64, &'static str)> {
        let Backend::Pg(pool) = db.backend() else {
            return Ok((0, "none (SQLite)"));
        };
        let mut conn = pool.get().await?;
        let by_statement: Result<Vec<Count>, _> = diesel::sql_query(
            "SELECT COALESCE(SUM(calls), 0)::BIGINT AS n FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND query NOT ILIKE '%pg_stat%'",
        )
        .load(&mut *conn)
        .await;
        if let Ok(rows) = by_statement {
            return Ok((
                rows.iter().map(|r| r.n).next().unwrap_or(0),
                "statements (pg_stat_statements)",
            ));
        }
        let rows: Vec<Count> = diesel::sql_query(
            "SELECT xact_commit::BIGINT AS n FROM pg_stat_database WHERE datname = current_database()",
        )
        .load(&mut *conn)
        .await?;
        Ok((
            rows.iter().map(|r| r.n).next().unwrap_or(0),
            "transactions (pg_stat_database)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_round_trip_and_unknown_ones_are_ignored() {
        for h in [
            Hint::Kill(42),
            Hint::Paused("default".into(), true),
            Hint::Paused("reserved".into(), false),
            Hint::Schedulers,
        ] {
            let payload = h.control_payload().unwrap();
            assert_eq!(Hint::parse(CHANNEL_CONTROL, &payload), Some(h));
        }
        assert_eq!(
            Hint::parse(CHANNEL_JOBS, "q:default"),
            Some(Hint::Ready("default".into()))
        );
        assert_eq!(Hint::parse(CHANNEL_JOBS, "p"), Some(Hint::Pending));
        for (c, p) in [
            (CHANNEL_CONTROL, "kill:x"),
            (CHANNEL_CONTROL, "explode:1"),
            (CHANNEL_CONTROL, ""),
            (CHANNEL_JOBS, "z"),
            ("other", "q:default"),
        ] {
            assert_eq!(Hint::parse(c, p), None, "{c} {p}");
        }
    }

    #[test]
    fn node_ids_name_this_process_and_dead_local_ones_are_recognised() {
        let id = new_node_id();
        assert!(
            id.starts_with(&format!("{}:{}:", host_name(), std::process::id())),
            "{id}"
        );
        assert!(!is_dead_local_process(&id), "this process is alive");
        // A pid beyond the kernel's maximum cannot be running.
        assert!(is_dead_local_process(&format!("{}:999999999:abc", host_name())));
        assert!(!is_dead_local_process("another-host:999999999:abc"));
        assert!(!is_dead_local_process("garbage"));
    }
}
