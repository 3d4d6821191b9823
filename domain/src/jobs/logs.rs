//! Command output in the database (PostgreSQL), so that any node can read and follow a job
//! that runs on another machine, with no shared disk.
//!
//! - Where: `job_logs`, one row per chunk: `(job_id, start, data)`, `start` being the byte
//!   offset of the chunk in the job's whole output (every attempt, appended), the offsets
//!   of `GET /jobs/{id}/log`. Deleted with the job (foreign key, cascade), so retention
//!   prunes output with the jobs. Capped like the file was: `JOB_LOG_MAX_BYTES` per attempt.
//! - Writing ([`Shipper`]): the command's sink hands each line to a per-job task that
//!   writes whatever has gathered as one chunk, one write in flight at a time: a quiet job
//!   costs a write per line, as soon as it is printed; a chatty one a write per batch
//!   (group commit). The same statement sends a `NOTIFY` on `vcore_logs` carrying the chunk
//!   (or, above [`INLINE_MAX`], only where it starts), which is how other nodes' viewers
//!   follow the job live.
//! - On SQLite (one machine) output stays in files under `JOB_LOG_DIR`, as before.
//!
//! PostgreSQL text cannot hold NUL: the sink writes a NUL in a command's output as U+FFFD
//! (here and in the live lines), before it counts offsets.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use tokio::sync::mpsc;

use crate::db::{Backend, Db};
use crate::error::DomainResult;
use crate::schema::job_logs;

/// Output lines' channel: `<node>\n<job>\n<start>\n=<data>`, or `…\n#` when the chunk is too
/// big to carry (read it from `job_logs`).
pub const CHANNEL_LOGS: &str = "vcore_logs";
/// Largest chunk carried in a notification (PostgreSQL's limit is 8,000 bytes).
pub const INLINE_MAX: usize = 7_000;
/// Largest chunk written at once.
const CHUNK_MAX: usize = 256 * 1024;

/// Where the job's output ends now (0 when it has none).
pub async fn end(db: &Db, job_id: i64) -> DomainResult<u64> {
    let last: Option<(i64, String)> = crate::with_conn!(db, |conn| {
        job_logs::table
            .filter(job_logs::job_id.eq(job_id))
            .order(job_logs::start.desc())
            .select((job_logs::start, job_logs::data))
            .first(conn)
            .await
            .optional()?
    });
    Ok(last.map_or(0, |(start, data)| start as u64 + data.len() as u64))
}

/// Up to `max` bytes of the job's output from `offset`.
pub async fn read(db: &Db, job_id: i64, offset: u64, max: u64) -> DomainResult<Vec<u8>> {
    let from = i64::try_from(offset).unwrap_or(i64::MAX);
    // The chunk holding `offset` (the last one starting at or before it), then those after.
    let first: Option<(i64, String)> = crate::with_conn!(db, |conn| {
        job_logs::table
            .filter(job_logs::job_id.eq(job_id))
            .filter(job_logs::start.le(from))
            .order(job_logs::start.desc())
            .select((job_logs::start, job_logs::data))
            .first(conn)
            .await
            .optional()?
    });
    let mut out = Vec::new();
    if let Some((start, data)) = first {
        let skip = (offset - start as u64) as usize;
        if skip < data.len() {
            out.extend_from_slice(&data.as_bytes()[skip..]);
        }
    }
    let mut next = from;
    while (out.len() as u64) < max {
        let rows: Vec<(i64, String)> = crate::with_conn!(db, |conn| {
            job_logs::table
                .filter(job_logs::job_id.eq(job_id))
                .filter(job_logs::start.gt(next))
                .order(job_logs::start)
                .select((job_logs::start, job_logs::data))
                .limit(64)
                .load(conn)
                .await?
        });
        let Some((last, _)) = rows.last() else { break };
        next = *last;
        for (_, data) in rows {
            out.extend_from_slice(data.as_bytes());
            if out.len() as u64 >= max {
                break;
            }
        }
    }
    out.truncate(usize::try_from(max).unwrap_or(usize::MAX));
    Ok(out)
}

/// The job's whole output, 1 MiB at a time (a download).
pub fn stream(
    db: Db,
    job_id: i64,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(0u64), move |at| {
        let db = db.clone();
        async move {
            let at = at?;
            match read(&db, job_id, at, 1 << 20).await {
                Ok(bytes) if bytes.is_empty() => None,
                Ok(bytes) => {
                    let next = at + bytes.len() as u64;
                    Some((Ok(bytes), Some(next)))
                }
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    })
}

/// One chunk, by where it starts (for a notification too big to carry it).
pub async fn chunk(db: &Db, job_id: i64, start: u64) -> DomainResult<Option<String>> {
    let start = i64::try_from(start).unwrap_or(i64::MAX);
    Ok(crate::with_conn!(db, |conn| {
        job_logs::table
            .find((job_id, start))
            .select(job_logs::data)
            .first(conn)
            .await
            .optional()?
    }))
}

/// A chunk announced on [`CHANNEL_LOGS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    pub node: String,
    pub job_id: i64,
    pub start: u64,
    /// None: too big to carry; read it with [`chunk`].
    pub data: Option<String>,
}

impl Announced {
    pub fn payload(node: &str, job_id: i64, start: u64, data: &str) -> String {
        if data.len() <= INLINE_MAX {
            format!("{node}\n{job_id}\n{start}\n={data}")
        } else {
            format!("{node}\n{job_id}\n{start}\n#")
        }
    }

    pub fn parse(payload: &str) -> Option<Announced> {
        let mut parts = payload.splitn(4, '\n');
        let node = parts.next()?.to_string();
        let job_id = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let data = match rest.strip_prefix('=') {
            Some(d) => Some(d.to_string()),
            None if rest == "#" => None,
            None => return None,
        };
        Some(Announced {
            node,
            job_id,
            start,
            data,
        })
    }
}

/// Where to ship a job's output once it prints something (a silent command costs nothing).
#[derive(Clone)]
pub struct ShipTo {
    pub db: Db,
    pub job_id: i64,
    pub node: String,
}

impl ShipTo {
    /// For `job_id` from `node`: on PostgreSQL only (None on SQLite, where output is a file).
    pub fn new(db: &Db, job_id: i64, node: &str) -> Option<ShipTo> {
        db.is_postgres().then(|| ShipTo {
            db: db.clone(),
            job_id,
            node: node.to_string(),
        })
    }
}

/// Writes one job attempt's output to `job_logs` in the background (see the module).
pub struct Shipper {
    tx: mpsc::UnboundedSender<(u64, String)>,
    task: tokio::task::JoinHandle<()>,
    /// Where this attempt's output starts (where the earlier attempts' ended).
    pub base: u64,
}

impl Shipper {
    /// Starts shipping (reads where earlier attempts' output ended); None when it cannot.
    pub async fn start(to: &ShipTo) -> Option<Shipper> {
        let (db, job_id, node) = (&to.db, to.job_id, to.node.as_str());
        let base = match end(db, job_id).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(job = job_id, error = %e, "cannot read where the job's output ends; its output is only broadcast");
                return None;
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(ship(db.clone(), job_id, node.to_string(), rx));
        Some(Shipper { tx, task, base })
    }

    /// Queues `text` (whole lines), which starts at byte `start` of the job's output.
    pub fn send(&self, start: u64, text: String) {
        let _ = self.tx.send((start, text));
    }

    /// Waits until everything sent is written (or given up on).
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

async fn ship(db: Db, job_id: i64, node: String, mut rx: mpsc::UnboundedReceiver<(u64, String)>) {
    let mut pending: Option<(u64, String)> = None;
    loop {
        let (start, mut text) = match pending.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        // Everything already waiting that follows on, as one chunk.
        while text.len() < CHUNK_MAX {
            match rx.try_recv() {
                Ok((s, t)) if s == start + text.len() as u64 => text.push_str(&t),
                Ok(other) => {
                    pending = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut wait = std::time::Duration::from_millis(50);
        for attempt in 1..=4 {
            match write(&db, job_id, &node, start, &text).await {
                Ok(()) => break,
                Err(e) if attempt < 4 => {
                    tracing::warn!(job = job_id, error = %e, "writing the job's output failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
                Err(e) => {
                    tracing::error!(job = job_id, bytes = text.len(), error = %e, "writing the job's output failed; this part is lost");
                }
            }
        }
    }
}

/// Stores one chunk and announces it, in one statement.
async fn write(db: &Db, job_id: i64, node: &str, start: u64, data: &str) -> DomainResult<()> {
    use diesel::sql_types::{BigInt, Text};
    let Backend::Pg(pool) = db.backend() else {
        return Ok(());
    };
    let start_i = i64::try_from(start).unwrap_or(i64::MAX);
    diesel::sql_query(
        "WITH stored AS (INSERT INTO job_logs (job_id, start, data) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING) SELECT pg_notify($4, $5)",
    )
    .bind::<BigInt, _>(job_id)
    .bind::<BigInt, _>(start_i)
    .bind::<Text, _>(data)
    .bind::<Text, _>(CHANNEL_LOGS)
    .bind::<Text, _>(Announced::payload(node, job_id, start, data))
    .execute(&mut *pool.get().await?)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_round_trip_and_big_chunks_are_only_named() {
        let p = Announced::payload("h:1:ab", 42, 1000, "line one\n[stderr] two\n");
        assert_eq!(
            Announced::parse(&p),
            Some(Announced {
                node: "h:1:ab".into(),
                job_id: 42,
                start: 1000,
                data: Some("line one\n[stderr] two\n".into()),
            })
        );
        let big = "x".repeat(INLINE_MAX + 1);
        let p = Announced::parse(&Announced::payload("n", 7, 0, &big)).unwrap();
        assert_eq!((p.job_id, p.start, p.data), (7, 0, None));
        for bad in ["", "n\nx\n0\n=a", "n\n1\n0\n?", "n\n1"] {
            assert_eq!(Announced::parse(bad), None, "{bad:?}");
        }
    }
}
