//! Prometheus metrics, served as text at `GET /metrics` (see docs/operations in
//! docs/configuration.md for the scrape configuration).
//!
//! What is counted as it happens lives beside the code that counts it: the HTTP layer's
//! counters and histograms and the WebSocket gauge here ([`Metrics`], one per `Services`),
//! the job engine's in its runner ([`RunnerMetrics`]). What is a state is read when scraped:
//! jobs by state and queue, each queue's depth and oldest waiting job (from the database,
//! so every node reports the same cluster-wide figures), slots, notifications, the database
//! pool and the process. Each scrape gathers them into a fresh registry; nothing is global,
//! so several servers in one process (the tests) keep their figures apart.

use prometheus::{
    core::Collector, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::error::{DomainError, DomainResult};
use crate::jobs::JobStatus;
use crate::Services;

/// Buckets of request latencies, in seconds (1 ms … 10 s).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets of job run times, in seconds (1 ms … 1 h).
const JOB_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only reachable with a malformed name or label set, fixed in this file.
    r.unwrap_or_else(|e| panic!("metric definition: {e}"))
}

/// What the HTTP layer counts.
pub struct Metrics {
    /// `vcore_http_requests_total{method, route, status}`: `route` is the route's template
    /// (`/api/v1/jobs/{job_id}`), never the raw path, so ids do not make new series.
    pub http_requests: IntCounterVec,
    /// `vcore_http_request_duration_seconds{method, route}`.
    pub http_duration: HistogramVec,
    /// `vcore_websocket_connections`: live-update sockets open now.
    pub ws_connections: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            http_requests: must(IntCounterVec::new(
                Opts::new(
                    "vcore_http_requests_total",
                    "HTTP requests answered, by route template and status",
                ),
                &["method", "route", "status"],
            )),
            http_duration: must(HistogramVec::new(
                HistogramOpts::new(
                    "vcore_http_request_duration_seconds",
                    "HTTP request latency until the answer's head",
                )
                .buckets(HTTP_BUCKETS.to_vec()),
                &["method", "route"],
            )),
            ws_connections: must(IntGauge::new(
                "vcore_websocket_connections",
                "Live-update WebSocket connections open",
            )),
        }
    }
}

/// What the job runner counts as it works.
#[derive(Clone)]
pub struct RunnerMetrics {
    /// `vcore_jobs_claimed_total{queue}`.
    pub claimed: IntCounterVec,
    /// `vcore_job_duration_seconds{type, outcome}`: one attempt's run time; outcome is
    /// `done`, `failed` or `killed`.
    pub duration: HistogramVec,
    /// `vcore_job_retries_total{queue}`: failed attempts that will run again.
    pub retries: IntCounterVec,
    /// `vcore_jobs_rescued_total`: jobs whose lease expired (their worker died or hung).
    pub rescued: IntCounter,
}

impl Default for RunnerMetrics {
    fn default() -> Self {
        RunnerMetrics {
            claimed: must(IntCounterVec::new(
                Opts::new("vcore_jobs_claimed_total", "Jobs claimed by this node's runner"),
                &["queue"],
            )),
            duration: must(HistogramVec::new(
                HistogramOpts::new(
                    "vcore_job_duration_seconds",
                    "Run time of one job attempt on this node",
                )
                .buckets(JOB_BUCKETS.to_vec()),
                &["type", "outcome"],
            )),
            retries: must(IntCounterVec::new(
                Opts::new(
                    "vcore_job_retries_total",
                    "Failed attempts on this node that will be retried",
                ),
                &["queue"],
            )),
            rescued: must(IntCounter::new(
                "vcore_jobs_rescued_total",
                "Jobs whose lease expired, rescued by this node's maintenance loop",
            )),
        }
    }
}

impl RunnerMetrics {
    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.claimed.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.retries.clone()),
            Box::new(self.rescued.clone()),
        ]
    }
}

fn register(r: &Registry, c: impl Collector + 'static) -> DomainResult<()> {
    register_boxed(r, Box::new(c))
}

fn register_boxed(r: &Registry, c: Box<dyn Collector>) -> DomainResult<()> {
    r.register(c)
        .map_err(|e| DomainError::Internal(anyhow::anyhow!("registering a metric: {e}")))
}

impl Services {
    /// Every metric, in Prometheus' text exposition format (version 0.0.4).
    pub async fn metrics_text(&self) -> DomainResult<String> {
        let r = Registry::new();
        let m = &self.metrics;
        register(&r, m.http_requests.clone())?;
        register(&r, m.http_duration.clone())?;
        register(&r, m.ws_connections.clone())?;
        #[cfg(target_os = "linux")]
        register(&r, prometheus::process_collector::ProcessCollector::for_self())?;

        // The queue, cluster-wide.
        let jobs = must(IntGaugeVec::new(
            Opts::new("vcore_jobs", "Jobs in the database by queue and state"),
            &["queue", "status"],
        ));
        let counts = crate::jobs::store::count_by_queue_status(&self.db, None).await?;
        for (queue, status, n) in &counts {
            jobs.with_label_values(&[queue, status]).set(*n);
        }
        register(&r, jobs)?;
        let depth = must(IntGaugeVec::new(
            Opts::new(
                "vcore_queue_depth",
                "Jobs waiting in each queue (queued: due, not yet claimed)",
            ),
            &["queue"],
        ));
        let oldest = must(GaugeVec::new(
            Opts::new(
                "vcore_queue_oldest_seconds",
                "How long the longest-waiting queued job of each queue has been due (0: none waits)",
            ),
            &["queue"],
        ));
        // The depth is the queued count above; only the earliest due time is read again.
        let queued = JobStatus::Queued.as_str();
        let earliest = crate::jobs::store::earliest_queued(&self.db).await?;
        let now = chrono::Utc::now().naive_utc();
        for q in self.queue_names() {
            let n = counts
                .iter()
                .find(|(queue, status, _)| *queue == q && status == queued)
                .map_or(0, |(.., n)| *n);
            depth.with_label_values(&[&q]).set(n);
            let age = earliest
                .iter()
                .find(|(queue, _)| *queue == q)
                .map_or(0.0, |(_, t)| (now - *t).num_milliseconds().max(0) as f64 / 1000.0);
            oldest.with_label_values(&[&q]).set(age);
        }
        register(&r, depth)?;
        register(&r, oldest)?;

        // This node's runner.
        if let Some(runner) = &self.runner {
            for c in runner.metrics().collectors() {
                register_boxed(&r, c)?;
            }
            let slots = must(IntGaugeVec::new(
                Opts::new(
                    "vcore_runner_slots",
                    "This node's job slots per queue: busy and total",
                ),
                &["queue", "state"],
            ));
            for (queue, busy, total) in runner.slots() {
                slots.with_label_values(&[&queue, "busy"]).set(busy as i64);
                slots.with_label_values(&[&queue, "total"]).set(total as i64);
            }
            register(&r, slots)?;
        }

        // Notifications (email, Telegram) handed to their servers, or given up.
        if let Some(n) = &self.notifier {
            let sent = must(IntCounterVec::new(
                Opts::new(
                    "vcore_notifications_total",
                    "Notifications (email, Telegram) by result",
                ),
                &["result"],
            ));
            let s = &n.stats;
            use std::sync::atomic::Ordering::Relaxed;
            sent.with_label_values(&["sent"]).inc_by(s.sent.load(Relaxed));
            sent.with_label_values(&["failed"]).inc_by(s.failed.load(Relaxed));
            sent.with_label_values(&["suppressed"])
                .inc_by(s.suppressed.load(Relaxed));
            register(&r, sent)?;
        }

        // The database pool.
        let pool = self.db.pool_status();
        let conns = must(IntGaugeVec::new(
            Opts::new(
                "vcore_db_pool_connections",
                "Database pool connections: in use, idle, and the most allowed",
            ),
            &["state"],
        ));
        conns
            .with_label_values(&["in_use"])
            .set(pool.size.saturating_sub(pool.available) as i64);
        conns.with_label_values(&["idle"]).set(pool.available as i64);
        conns.with_label_values(&["max"]).set(pool.max_size as i64);
        register(&r, conns)?;
        let waiting = must(Gauge::new(
            "vcore_db_pool_waiting",
            "Requests waiting for a database connection",
        ));
        waiting.set(pool.waiting as f64);
        register(&r, waiting)?;

        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&r.gather(), &mut out)
            .map_err(|e| DomainError::Internal(anyhow::anyhow!("encoding metrics: {e}")))?;
        String::from_utf8(out).map_err(|e| DomainError::Internal(anyhow::anyhow!("metrics text: {e}")))
    }
}
