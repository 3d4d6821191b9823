//! Notifications: email over SMTP (lettre) and Telegram messages (Bot API over HTTP).
//!
//! Everything is sent by one background task, so a slow or broken mail server never holds up
//! a job or a request: callers hand a message over (never waiting; a full queue drops it
//! with a warning) and go on. Each delivery is tried up to `NOTIFY_MAX_ATTEMPTS` times with
//! doubling waits; permanent refusals (an SMTP 5xx, a Telegram 4xx other than 429) are not
//! retried. Every failure is logged, none reaches the caller.
//!
//! Alerts (job failed or done, start-up) go to every enabled channel, at most
//! `NOTIFY_MAX_PER_MINUTE` a minute per process; the rest are counted and summed up in one
//! message when the minute is over, so a thousand failing jobs do not send a thousand emails.
//! Account emails (password recovery) go to their one address, unlimited here (the endpoint
//! throttles them).
//!
//! Messages wait in memory: those not yet delivered when the process stops are lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{mpsc, Semaphore};

use crate::config::{Config, NotifyConfig, SmtpConfig, SmtpSecurity, TelegramConfig};

/// Messages waiting to be sent, at most.
const QUEUE: usize = 4096;
/// Deliveries under way at once.
const SENDING: usize = 8;
/// Longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Telegram allows 4,096 characters per message; job errors are cut well before.
const MAX_DETAIL: usize = 1500;

/// Something the operators hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alert {
    JobFailed {
        id: i64,
        name: String,
        error: String,
    },
    JobDone {
        id: i64,
        name: String,
    },
    /// A `serve` or `worker` process started (`NOTIFY_ON_START`).
    Started {
        role: String,
    },
}

impl Alert {
    fn wanted(&self, cfg: &NotifyConfig) -> bool {
        match self {
            Alert::JobFailed { .. } => cfg.on_failure,
            Alert::JobDone { .. } => cfg.on_success,
            Alert::Started { .. } => cfg.on_start,
        }
    }

    fn text(&self, project: &str, base_url: &str) -> (String, String) {
        match self {
            Alert::JobFailed { id, name, error } => (
                format!("[{project}] Job #{id} {name} failed"),
                format!(
                    "Job #{id} ({name}) failed.\n\nError: {}\n\n{base_url}/jobs/{id}",
                    cut(error, MAX_DETAIL)
                ),
            ),
            Alert::JobDone { id, name } => (
                format!("[{project}] Job #{id} {name} done"),
                format!("Job #{id} ({name}) finished successfully.\n\n{base_url}/jobs/{id}"),
            ),
            Alert::Started { role } => (
                format!("[{project}] {role} started"),
                format!(
                    "{project} {} ({role}) started on {} at {}.\n\n{base_url}",
                    env!("CARGO_PKG_VERSION"),
                    host_name(),
                    chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC"),
                ),
            ),
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

enum Outgoing {
    Alert(Alert),
    Email {
        to: String,
        subject: String,
        body: String,
    },
}

/// Counts since start, for tests and `/metrics`.
#[derive(Debug, Default)]
pub struct NotifyStats {
    pub sent: AtomicU64,
    /// Deliveries given up after their last try (or refused for good).
    pub failed: AtomicU64,
    /// Alerts over the per-minute limit (summed up instead) or dropped on a full queue.
    pub suppressed: AtomicU64,
}

/// Hands messages to the sending task. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Outgoing>,
    cfg: Arc<NotifyConfig>,
    email: bool,
    pub stats: Arc<NotifyStats>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Starts the sending task when email or a notification channel is configured; `None`
    /// otherwise, or outside a Tokio runtime. Must be called once per process.
    pub fn start(config: &Config) -> Option<Notifier> {
        if config.smtp.is_none() && !config.notify.any_channel() {
            return None;
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let mailer = match config.smtp.as_ref().map(Mailer::new).transpose() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "email is configured but the mailer cannot be built; email is off");
                None
            }
        };
        let telegram = config.notify.telegram.clone().map(Telegram::new);
        let (tx, rx) = mpsc::channel(QUEUE);
        let stats = Arc::new(NotifyStats::default());
        let sender = Sender {
            mailer: mailer.map(Arc::new),
            telegram: telegram.map(Arc::new),
            cfg: config.notify.clone(),
            project: config.project_name.clone(),
            base_url: config.base_url.clone(),
            stats: stats.clone(),
            slots: Arc::new(Semaphore::new(SENDING)),
        };
        let email = sender.mailer.is_some();
        handle.spawn(sender.run(rx));
        Some(Notifier {
            tx,
            cfg: Arc::new(config.notify.clone()),
            email,
            stats,
        })
    }

    /// Whether account emails (password recovery) can be sent.
    pub fn email_enabled(&self) -> bool {
        self.email
    }

    /// Sends `alert` to the enabled channels if its kind is switched on.
    pub fn alert(&self, alert: Alert) {
        if alert.wanted(&self.cfg) && self.cfg.any_channel() {
            self.hand_over(Outgoing::Alert(alert));
        }
    }

    /// Emails one person (plain text). False when email is off or the queue is full.
    pub fn email(&self, to: &str, subject: &str, body: &str) -> bool {
        self.email
            && self.hand_over(Outgoing::Email {
                to: to.to_string(),
                subject: subject.to_string(),
                body: body.to_string(),
            })
    }

    fn hand_over(&self, msg: Outgoing) -> bool {
        match self.tx.try_send(msg) {
            Ok(()) => true,
            Err(_) => {
                self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("notification dropped: {QUEUE} are already waiting to be sent");
                false
            }
        }
    }
}

/// The sending task's state.
struct Sender {
    mailer: Option<Arc<Mailer>>,
    telegram: Option<Arc<Telegram>>,
    cfg: NotifyConfig,
    project: String,
    base_url: String,
    stats: Arc<NotifyStats>,
    slots: Arc<Semaphore>,
}

impl Sender {
    async fn run(self, mut rx: mpsc::Receiver<Outgoing>) {
        let minute = Duration::from_secs(60);
        let mut window_start = tokio::time::Instant::now();
        let mut in_window = 0u32;
        let mut held_back = 0u64;
        loop {
            let msg = if held_back > 0 {
                tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep_until(window_start + minute) => {
                        self.summary(held_back).await;
                        held_back = 0;
                        window_start = tokio::time::Instant::now();
                        in_window = 1;
                        continue;
                    }
                }
            } else {
                rx.recv().await
            };
            let Some(msg) = msg else { return };
            match msg {
                Outgoing::Email { to, subject, body } => {
                    if let Some(m) = &self.mailer {
                        self.deliver(Channel::Email(m.clone(), vec![to]), subject, body)
                            .await;
                    }
                }
                Outgoing::Alert(alert) => {
                    if window_start.elapsed() >= minute {
                        if held_back > 0 {
                            self.summary(held_back).await;
                            held_back = 0;
                        }
                        window_start = tokio::time::Instant::now();
                        in_window = 0;
                    }
                    if in_window >= self.cfg.max_per_minute {
                        held_back += 1;
                        self.stats.suppressed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    in_window += 1;
                    let (subject, body) = alert.text(&self.project, &self.base_url);
                    self.broadcast(subject, body).await;
                }
            }
        }
    }

    async fn summary(&self, held_back: u64) {
        let subject = format!("[{}] {held_back} more notifications held back", self.project);
        let body = format!(
            "{held_back} notifications were not sent in the last minute: more than {} a minute \
             (NOTIFY_MAX_PER_MINUTE). See the jobs page for what happened.\n\n{}/jobs",
            self.cfg.max_per_minute, self.base_url
        );
        self.broadcast(subject, body).await;
    }

    /// Sends to every alert channel.
    async fn broadcast(&self, subject: String, body: String) {
        if let (Some(m), false) = (&self.mailer, self.cfg.email_to.is_empty()) {
            let to = self.cfg.email_to.clone();
            self.deliver(Channel::Email(m.clone(), to), subject.clone(), body.clone())
                .await;
        }
        if let Some(t) = &self.telegram {
            self.deliver(Channel::Telegram(t.clone()), subject, body).await;
        }
    }

    /// Starts one delivery with its retries in its own task (waits only for a free slot).
    async fn deliver(&self, channel: Channel, subject: String, body: String) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let stats = self.stats.clone();
        let base = Duration::from_millis(self.cfg.retry_base_ms);
        let attempts = self.cfg.max_attempts;
        tokio::spawn(async move {
            let _slot = slot;
            let what = channel.name();
            let mut wait = base;
            for attempt in 1..=attempts {
                let res = match &channel {
                    Channel::Email(m, to) => m.send(to, &subject, &body).await,
                    Channel::Telegram(t) => t.send(&format!("{subject}\n\n{body}")).await,
                };
                match res {
                    Ok(()) => {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(channel = what, %subject, "notification sent");
                        return;
                    }
                    Err(e) if e.permanent || attempt == attempts => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(channel = what, %subject, attempt, error = %e.message, "notification not sent; giving up");
                        return;
                    }
                    Err(e) => {
                        let delay = e.retry_after.unwrap_or(wait).min(MAX_BACKOFF);
                        tracing::warn!(channel = what, %subject, attempt, error = %e.message, retry_in_ms = delay.as_millis() as u64, "notification failed; trying again");
                        tokio::time::sleep(delay).await;
                        wait = (wait * 2).min(MAX_BACKOFF);
                    }
                }
            }
        });
    }
}

enum Channel {
    Email(Arc<Mailer>, Vec<String>),
    Telegram(Arc<Telegram>),
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Email(..) => "email",
            Channel::Telegram(_) => "telegram",
        }
    }
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
    /// The server said when to try again (Telegram's 429 `retry_after`).
    pub retry_after: Option<Duration>,
}

impl SendError {
    fn transient(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: false,
            retry_after: None,
        }
    }
    fn permanent(message: impl Into<String>) -> Self {
        SendError {
            message: message.into(),
            permanent: true,
            retry_after: None,
        }
    }
}

/// An SMTP client (connections pooled by lettre).
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    deadline: Duration,
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig) -> Result<Mailer, String> {
        let tls = |host: &str| TlsParameters::new(host.to_string()).map_err(|e| format!("TLS setup: {e}"));
        let security = match cfg.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls(&cfg.host)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls(&cfg.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.as_str())
            .port(cfg.port)
            .tls(security)
            .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
        if let Some((user, password)) = &cfg.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = Mailbox::new(
            Some(cfg.from_name.clone()),
            cfg.from_email
                .parse()
                .map_err(|e| format!("EMAILS_FROM_EMAIL: {e}"))?,
        );
        Ok(Mailer {
            transport: builder.build(),
            from,
            deadline: Duration::from_secs(cfg.timeout_secs * 3),
        })
    }

    /// Sends one plain-text message to `to` (all recipients in one envelope).
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> Result<(), SendError> {
        let mut msg = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for addr in to {
            let mailbox: Mailbox = addr
                .parse()
                .map_err(|e| SendError::permanent(format!("recipient {addr:?}: {e}")))?;
            msg = msg.to(mailbox);
        }
        let msg = msg
            .body(body.to_string())
            .map_err(|e| SendError::permanent(format!("building the message: {e}")))?;
        // lettre's timeout covers each read and write; this one bounds the whole exchange.
        match tokio::time::timeout(self.deadline, self.transport.send(msg)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(SendError::permanent(e.to_string())),
            Ok(Err(e)) => Err(SendError::transient(e.to_string())),
            Err(_) => Err(SendError::transient(format!(
                "no answer from the SMTP server within {} s",
                self.deadline.as_secs()
            ))),
        }
    }
}

/// A Telegram bot sending to one chat.
pub struct Telegram {
    client: reqwest::Client,
    url: String,
    chat_id: String,
}

impl Telegram {
    pub fn new(cfg: TelegramConfig) -> Telegram {
        Telegram {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            url: format!("{}/bot{}/sendMessage", cfg.base_url, cfg.token),
            chat_id: cfg.chat_id,
        }
    }

    pub async fn send(&self, text: &str) -> Result<(), SendError> {
        let body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": text,
            "disable_web_page_preview": true,
        });
        // Errors must not carry the URL: it holds the bot token.
        let resp = self
            .client
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::transient(format!("Telegram: {}", e.without_url())))?;
        let status = resp.status();
        let answer: serde_json::Value = resp.json().await.unwrap_or_default();
        if status.is_success() && answer["ok"] == true {
            return Ok(());
        }
        let description = answer["description"].as_str().unwrap_or("no description");
        let message = format!("Telegram answered {status}: {description}");
        if status.as_u16() == 429 {
            let after = answer["parameters"]["retry_after"].as_u64().unwrap_or(5);
            return Err(SendError {
                message,
                permanent: false,
                retry_after: Some(Duration::from_secs(after)),
            });
        }
        if status.is_client_error() {
            // Bad token, unknown chat, bot blocked: trying again cannot help.
            return Err(SendError::permanent(message));
        }
        Err(SendError::transient(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_follow_their_switches_and_cut_long_errors() {
        let cfg = NotifyConfig {
            email_to: vec![],
            telegram: None,
            on_start: false,
            on_failure: true,
            on_success: false,
            retry_base_ms: 10,
            max_attempts: 1,
            max_per_minute: 1,
        };
        let failed = Alert::JobFailed {
            id: 7,
            name: "nightly".into(),
            error: "x".repeat(5000),
        };
        assert!(failed.wanted(&cfg));
        assert!(!Alert::JobDone {
            id: 7,
            name: "n".into()
        }
        .wanted(&cfg));
        assert!(!Alert::Started {
            role: "server".into()
        }
        .wanted(&cfg));
        let (subject, body) = failed.text("vcore", "http://h");
        assert_eq!(subject, "[vcore] Job #7 nightly failed");
        assert!(body.contains("http://h/jobs/7"));
        assert!(body.len() < 1700, "the error is cut: {}", body.len());
        assert_eq!(cut("héllo", 2), "hé…");
        assert_eq!(cut("hé", 2), "hé");
    }
}
