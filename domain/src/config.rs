//! Settings, read from the process environment, then `.env` (working directory) and
//! `data/.env`, then defaults; the variable names are the original vCore's.
//!
//! With nothing set the app starts on SQLite under `data/` and generates its JWT secrets
//! into `data/secrets.env` (mode 0600), so that a restart keeps sessions valid. With
//! `ENV_NAME=production` missing or weak secrets stop start-up instead. Every invalid value
//! is reported as one line naming the variable and the reason; nothing here panics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A configuration problem: which variable, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {var}: {reason}")]
pub struct ConfigError {
    pub var: String,
    pub reason: String,
}

fn err(var: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        reason: reason.into(),
    }
}

/// JWT signing algorithms we accept: HMAC only, since both secrets are shared keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// All settings. Secrets are kept out of `Debug` output.
#[derive(Clone)]
pub struct Config {
    pub env_name: String,
    pub debug: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    pub data_dir: PathBuf,
    pub db_url: String,
    pub db_pool_size: usize,
    pub server_host: String,
    pub server_port: u16,
    pub base_url: String,
    pub jwt_access_secret: String,
    pub jwt_refresh_secret: String,
    pub access_token_expire_minutes: i64,
    pub refresh_token_expire_minutes: i64,
    pub algorithm: JwtAlgorithm,
    pub api_v1_prefix: String,
    pub first_superuser_username: String,
    pub first_superuser_email: String,
    /// `None`: generate one on first start and write it to `data/`.
    pub first_superuser_password: Option<String>,
    pub users_open_registration: bool,
    pub project_name: String,
    pub timezone: String,
    pub accent: String,
    /// Origins besides `BASE_URL` whose cookie-authenticated writes are accepted
    /// (for example a Trunk dev server), comma separated.
    pub trusted_origins: Vec<String>,
    /// Failed sign-ins allowed per account (and per IP, times 5) in 15 minutes.
    pub login_max_failures: u32,
    /// Whether `serve` runs jobs in this process (`JOB_RUNNER`, default true). Web-only
    /// nodes set it to false and leave the jobs to `vcore worker` processes.
    pub job_runner: bool,
    /// Whether processes on PostgreSQL listen for each other's hints (`JOB_NOTIFY`, default
    /// true): new jobs, kills and stopped queues reach every node at once. false: poll only,
    /// for PgBouncer in transaction mode (where LISTEN silently does nothing). SQLite
    /// always polls.
    pub job_notify: bool,
    /// How often an idle queue looks for other processes' jobs without hints (`JOB_POLL_SECS`,
    /// default 2; SQLite, `JOB_NOTIFY=false`, or while the listener reconnects). With hints
    /// it looks only every minute (or this, if longer), as a safety net.
    pub job_poll_secs: u64,
    /// Job queues and how many jobs of each run at once in this process (`JOB_QUEUES`,
    /// `name:concurrency,…`; default `default:4,reserved:1`).
    pub job_queues: Vec<(String, usize)>,
    /// Where command jobs' output is written (`JOB_LOG_DIR`, default `<DATA_DIR>/logs`).
    pub job_log_dir: PathBuf,
    /// Largest log file per attempt (`JOB_LOG_MAX_BYTES`, default 10 MiB).
    pub job_log_max_bytes: u64,
    /// Lease a worker holds on a running job, renewed every third of it (`JOB_LEASE_SECS`).
    pub job_lease_secs: u64,
    /// How long shutdown waits for running jobs before handing them back (`JOB_SHUTDOWN_GRACE_SECS`).
    pub job_shutdown_grace_secs: u64,
    /// Finished jobs (and their logs) older than this many days are deleted hourly;
    /// 0 keeps them forever (`JOB_RETENTION_DAYS`, default 30).
    pub job_retention_days: u32,
    /// First retry delay, doubled per attempt up to an hour (`JOB_RETRY_BASE_SECS`).
    pub job_retry_base_secs: u64,
    /// Outgoing email (`SMTP_*`, `EMAILS_*`); `None` when email is off.
    pub smtp: Option<SmtpConfig>,
    /// How long a password-recovery link stays valid (`EMAIL_RESET_TOKEN_EXPIRE_HOURS`, 48).
    pub email_reset_token_expire_hours: i64,
    /// Who hears about job failures, successes and start-ups (`NOTIFY_*`, `TELEGRAM_*`).
    pub notify: NotifyConfig,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain text (`SMTP_TLS=false`): only for a relay on the same host or network.
    None,
    /// STARTTLS, required (`SMTP_TLS=true`, the default; port 587).
    StartTls,
    /// TLS from the first byte (`SMTP_SSL=true`; port 465).
    Tls,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `SMTP_USER` and `SMTP_PASSWORD`, both or neither.
    pub credentials: Option<(String, String)>,
    pub security: SmtpSecurity,
    pub from_email: String,
    pub from_name: String,
    /// Connect and command timeout (`SMTP_TIMEOUT_SECS`, 10).
    pub timeout_secs: u64,
}

#[derive(Clone)]
pub struct TelegramConfig {
    /// `TELEGRAM_API_BASE_URL` (default `https://api.telegram.org`), without a trailing `/`.
    pub base_url: String,
    pub token: String,
    pub chat_id: String,
}

#[derive(Clone)]
pub struct NotifyConfig {
    /// Where alerts are emailed (`NOTIFY_EMAIL_ENABLED`, `NOTIFY_EMAIL_TO`, comma separated).
    pub email_to: Vec<String>,
    /// Set when `NOTIFY_TELEGRAM_ENABLED`.
    pub telegram: Option<TelegramConfig>,
    pub on_start: bool,
    pub on_failure: bool,
    pub on_success: bool,
    /// First wait before re-sending a failed notification, doubled per try
    /// (`NOTIFY_RETRY_BASE_MS`, 2000).
    pub retry_base_ms: u64,
    /// Tries per notification and channel (`NOTIFY_MAX_ATTEMPTS`, 5).
    pub max_attempts: u32,
    /// Alerts sent per channel per minute at most; the rest are counted and summed up in
    /// one message (`NOTIFY_MAX_PER_MINUTE`, 20).
    pub max_per_minute: u32,
}

impl NotifyConfig {
    /// Whether any channel is switched on for alerts.
    pub fn any_channel(&self) -> bool {
        !self.email_to.is_empty() || self.telegram.is_some()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("env_name", &self.env_name)
            .field("db_url", &redact_url(&self.db_url))
            .field("server_host", &self.server_host)
            .field("server_port", &self.server_port)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// Hides the password part of a database URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

const WEAK_SECRETS: &[&str] = &["changeme", "secret", "changethis", "password", "test"];
pub const MIN_SECRET_LEN: usize = 32;

impl Config {
    /// Loads from the real environment plus `.env` files, generating secrets when allowed.
    pub fn load() -> Result<Config, ConfigError> {
        // `.env` files never override variables already set in the environment.
        let _ = dotenvy::from_filename(".env");
        let data_dir = std::env::var("DATA_DIR").unwrap_or_else(|_| "data".into());
        let _ = dotenvy::from_path(Path::new(&data_dir).join(".env"));
        let vars: HashMap<String, String> = std::env::vars().collect();
        Config::from_map(&vars, true)
    }

    /// Builds a config from a map of variables. `generate_secrets`: when a secret is
    /// missing outside production, read or create it under the data directory.
    pub fn from_map(vars: &HashMap<String, String>, generate_secrets: bool) -> Result<Config, ConfigError> {
        let get = |k: &str| {
            vars.get(k)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let env_name = get("ENV_NAME").unwrap_or_else(|| "development".into());
        let production = env_name == "production";
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "data".into()));

        let server_host = get("SERVER_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let server_port = match get("SERVER_PORT") {
            None => 3000,
            Some(v) => v.parse::<u16>().map_err(|_| {
                err(
                    "SERVER_PORT",
                    format!("expected a port number 0-65535, got {v:?}"),
                )
            })?,
        };
        let base_url = match get("BASE_URL") {
            Some(v) => {
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return Err(err(
                        "BASE_URL",
                        format!("must start with http:// or https://, got {v:?}"),
                    ));
                }
                v.trim_end_matches('/').to_string()
            }
            None => format!("http://{server_host}:{server_port}"),
        };
        let db_url =
            get("DB_URL").unwrap_or_else(|| format!("sqlite://{}", data_dir.join("vcore.db").display()));
        if !(db_url.starts_with("sqlite://")
            || db_url.starts_with("postgres://")
            || db_url.starts_with("postgresql://"))
        {
            return Err(err(
                "DB_URL",
                "must start with sqlite:// or postgres:// (for example sqlite://data/vcore.db)",
            ));
        }

        let mut secrets = SecretStore::new(&data_dir, generate_secrets && !production);
        let jwt_access_secret = secret(&get, "JWT_ACCESS_SECRET_KEY", production, &mut secrets)?;
        let jwt_refresh_secret = secret(&get, "JWT_REFRESH_SECRET_KEY", production, &mut secrets)?;
        if jwt_access_secret == jwt_refresh_secret {
            return Err(err(
                "JWT_REFRESH_SECRET_KEY",
                "must differ from JWT_ACCESS_SECRET_KEY",
            ));
        }

        let algorithm = match get("ALGORITHM").as_deref() {
            None | Some("HS256") => JwtAlgorithm::HS256,
            Some("HS384") => JwtAlgorithm::HS384,
            Some("HS512") => JwtAlgorithm::HS512,
            Some(other) => {
                return Err(err(
                    "ALGORITHM",
                    format!("must be HS256, HS384 or HS512, got {other:?}"),
                ))
            }
        };
        let api_v1_prefix = get("API_V1_PREFIX").unwrap_or_else(|| "/api/v1".into());
        if !api_v1_prefix.starts_with('/') || api_v1_prefix.ends_with('/') || api_v1_prefix.len() < 2 {
            return Err(err(
                "API_V1_PREFIX",
                "must start with '/' and not end with '/', e.g. /api/v1",
            ));
        }

        let accent = get("ACCENT").unwrap_or_else(|| "#4f46e5".into());
        let hex_ok = accent.len() == 7
            && accent.starts_with('#')
            && accent[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !hex_ok {
            return Err(err(
                "ACCENT",
                format!("must be a colour like #4f46e5, got {accent:?}"),
            ));
        }

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("human") => LogFormat::Human,
            Some("json") => LogFormat::Json,
            Some(o) => return Err(err("LOG_FORMAT", format!("must be human or json, got {o:?}"))),
        };
        let log_level = get("LOG_LEVEL").unwrap_or_else(|| "info".into()).to_lowercase();
        if !["trace", "debug", "info", "warn", "warning", "error"].contains(&log_level.as_str()) {
            return Err(err(
                "LOG_LEVEL",
                format!("must be one of trace, debug, info, warn, error; got {log_level:?}"),
            ));
        }

        let smtp = parse_smtp(&get)?;
        let notify = parse_notify(&get, smtp.is_some())?;

        let first_superuser_password = get("FIRST_SUPERUSER_PASSWORD");
        if let Some(p) = &first_superuser_password {
            if p.chars().count() < 8 {
                return Err(err("FIRST_SUPERUSER_PASSWORD", "must be at least 8 characters"));
            }
            if production && WEAK_SECRETS.contains(&p.to_lowercase().as_str()) {
                return Err(err("FIRST_SUPERUSER_PASSWORD", "is a well-known weak password"));
            }
        }
        let first_superuser_username = get("FIRST_SUPERUSER_USERNAME").unwrap_or_else(|| "admin".into());
        crate::validate::Username::parse("FIRST_SUPERUSER_USERNAME", &first_superuser_username)
            .map_err(|e| err("FIRST_SUPERUSER_USERNAME", e.to_string()))?;
        let first_superuser_email =
            get("FIRST_SUPERUSER_EMAIL").unwrap_or_else(|| "admin@example.com".into());
        crate::validate::Email::parse("FIRST_SUPERUSER_EMAIL", &first_superuser_email)
            .map_err(|e| err("FIRST_SUPERUSER_EMAIL", e.to_string()))?;

        Ok(Config {
            debug: parse_bool(&get, "DEBUG", false)?,
            log_level,
            log_format,
            db_pool_size: parse_num(&get, "DB_POOL_SIZE", 8, 1, 512)? as usize,
            server_host,
            server_port,
            base_url,
            jwt_access_secret,
            jwt_refresh_secret,
            access_token_expire_minutes: parse_num(&get, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 60 * 24 * 7)?,
            refresh_token_expire_minutes: parse_num(
                &get,
                "REFRESH_TOKEN_EXPIRE_MINUTES",
                10080,
                1,
                60 * 24 * 365,
            )?,
            algorithm,
            api_v1_prefix,
            first_superuser_username,
            first_superuser_email,
            first_superuser_password,
            users_open_registration: parse_bool(&get, "USERS_OPEN_REGISTRATION", false)?,
            project_name: get("PROJECT_NAME").unwrap_or_else(|| "vcore".into()),
            timezone: get("TIMEZONE").unwrap_or_else(|| "UTC".into()),
            accent,
            trusted_origins: get("TRUSTED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().trim_end_matches('/').to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            login_max_failures: parse_num(&get, "LOGIN_MAX_FAILURES", 10, 1, 10_000)? as u32,
            job_runner: parse_bool(&get, "JOB_RUNNER", true)?,
            job_notify: parse_bool(&get, "JOB_NOTIFY", true)?,
            job_poll_secs: parse_num(&get, "JOB_POLL_SECS", 2, 1, 3600)? as u64,
            job_queues: parse_queues(get("JOB_QUEUES"))?,
            job_log_dir: get("JOB_LOG_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("logs")),
            job_log_max_bytes: parse_num(&get, "JOB_LOG_MAX_BYTES", 10 * 1024 * 1024, 1024, 1 << 40)? as u64,
            job_lease_secs: parse_num(&get, "JOB_LEASE_SECS", 30, 3, 3600)? as u64,
            job_shutdown_grace_secs: parse_num(&get, "JOB_SHUTDOWN_GRACE_SECS", 25, 0, 3600)? as u64,
            job_retry_base_secs: parse_num(&get, "JOB_RETRY_BASE_SECS", 5, 1, 3600)? as u64,
            job_retention_days: parse_num(&get, "JOB_RETENTION_DAYS", 30, 0, 36_500)? as u32,
            email_reset_token_expire_hours: parse_num(
                &get,
                "EMAIL_RESET_TOKEN_EXPIRE_HOURS",
                48,
                1,
                24 * 30,
            )?,
            smtp: smtp.map(|mut s| {
                if s.from_name.is_empty() {
                    s.from_name = get("PROJECT_NAME").unwrap_or_else(|| "vcore".into());
                }
                s
            }),
            notify,
            db_url,
            data_dir,
            env_name,
        })
    }

    /// Where a generated first-superuser password is written (and what the start-up line
    /// names).
    pub fn first_superuser_password_file(&self) -> PathBuf {
        self.data_dir.join("first-superuser-password.txt")
    }

    pub fn is_production(&self) -> bool {
        self.env_name == "production"
    }

    /// Cookies get `Secure` when the app is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.base_url.starts_with("https://")
    }
}

/// `SMTP_*` and `EMAILS_*`. Email is on when `EMAILS_ENABLED` says so, or, when that is
/// unset, when `SMTP_HOST` is set.
fn parse_smtp(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SmtpConfig>, ConfigError> {
    let host = get("SMTP_HOST");
    if !parse_bool(get, "EMAILS_ENABLED", host.is_some())? {
        return Ok(None);
    }
    let host = host.ok_or_else(|| err("SMTP_HOST", "must be set when EMAILS_ENABLED is true"))?;
    if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
        return Err(err(
            "SMTP_HOST",
            format!("expected a host name or address, got {host:?}"),
        ));
    }
    let tls = parse_bool(get, "SMTP_TLS", true)?;
    let ssl = parse_bool(get, "SMTP_SSL", false)?;
    let security = match (ssl, tls) {
        (true, true) if get("SMTP_TLS").is_some() => {
            return Err(err(
                "SMTP_SSL",
                "cannot be combined with SMTP_TLS=true: pick TLS from the start (SSL) or STARTTLS (TLS)",
            ))
        }
        (true, _) => SmtpSecurity::Tls,
        (false, true) => SmtpSecurity::StartTls,
        (false, false) => SmtpSecurity::None,
    };
    let default_port = match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::None => 25,
    };
    let port = parse_num(get, "SMTP_PORT", default_port, 1, 65535)? as u16;
    let credentials = match (get("SMTP_USER"), get("SMTP_PASSWORD")) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        (Some(_), None) => return Err(err("SMTP_PASSWORD", "must be set when SMTP_USER is")),
        (None, Some(_)) => return Err(err("SMTP_USER", "must be set when SMTP_PASSWORD is")),
    };
    let from_email = get("EMAILS_FROM_EMAIL")
        .ok_or_else(|| err("EMAILS_FROM_EMAIL", "must be set when email is enabled"))?;
    crate::validate::Email::parse("EMAILS_FROM_EMAIL", &from_email)
        .map_err(|e| err("EMAILS_FROM_EMAIL", e.to_string()))?;
    let from_name = get("EMAILS_FROM_NAME").unwrap_or_default();
    if from_name.contains(['\r', '\n', '<', '>', '"']) {
        return Err(err(
            "EMAILS_FROM_NAME",
            "must not contain line breaks, quotes or angle brackets",
        ));
    }
    Ok(Some(SmtpConfig {
        host,
        port,
        credentials,
        security,
        from_email,
        from_name,
        timeout_secs: parse_num(get, "SMTP_TIMEOUT_SECS", 10, 1, 300)? as u64,
    }))
}

/// `NOTIFY_*` and `TELEGRAM_*`.
fn parse_notify(get: &impl Fn(&str) -> Option<String>, email_on: bool) -> Result<NotifyConfig, ConfigError> {
    let mut email_to = Vec::new();
    if parse_bool(get, "NOTIFY_EMAIL_ENABLED", false)? {
        if !email_on {
            return Err(err(
                "NOTIFY_EMAIL_ENABLED",
                "needs email: set SMTP_HOST and EMAILS_FROM_EMAIL",
            ));
        }
        let to = get("NOTIFY_EMAIL_TO")
            .ok_or_else(|| err("NOTIFY_EMAIL_TO", "must be set when NOTIFY_EMAIL_ENABLED is true"))?;
        for addr in to.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            crate::validate::Email::parse("NOTIFY_EMAIL_TO", addr)
                .map_err(|e| err("NOTIFY_EMAIL_TO", format!("{addr:?}: {e}")))?;
            email_to.push(addr.to_string());
        }
        if email_to.is_empty() {
            return Err(err("NOTIFY_EMAIL_TO", "must name at least one address"));
        }
    }
    let telegram = if parse_bool(get, "NOTIFY_TELEGRAM_ENABLED", false)? {
        let token = get("TELEGRAM_API_TOKEN").ok_or_else(|| {
            err(
                "TELEGRAM_API_TOKEN",
                "must be set when NOTIFY_TELEGRAM_ENABLED is true",
            )
        })?;
        // The token goes into the URL path: only the characters bot tokens have.
        if !token.contains(':')
            || !token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-'))
        {
            return Err(err(
                "TELEGRAM_API_TOKEN",
                "expected a bot token like 123456:ABC-DEF (from @BotFather)",
            ));
        }
        let chat_id = get("TELEGRAM_CHAT_ID").ok_or_else(|| {
            err(
                "TELEGRAM_CHAT_ID",
                "must be set when NOTIFY_TELEGRAM_ENABLED is true",
            )
        })?;
        let numeric = chat_id.parse::<i64>().is_ok_and(|n| n != 0);
        let channel = chat_id.len() > 1
            && chat_id.starts_with('@')
            && chat_id[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !numeric && !channel {
            return Err(err(
                "TELEGRAM_CHAT_ID",
                format!("expected a chat id (a non-zero number) or @channelname, got {chat_id:?}"),
            ));
        }
        let base_url = get("TELEGRAM_API_BASE_URL").unwrap_or_else(|| "https://api.telegram.org".into());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(err(
                "TELEGRAM_API_BASE_URL",
                format!("must start with http:// or https://, got {base_url:?}"),
            ));
        }
        Some(TelegramConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            token,
            chat_id,
        })
    } else {
        None
    };
    Ok(NotifyConfig {
        email_to,
        telegram,
        on_start: parse_bool(get, "NOTIFY_ON_START", false)?,
        on_failure: parse_bool(get, "NOTIFY_ON_FAILURE", true)?,
        on_success: parse_bool(get, "NOTIFY_ON_SUCCESS", false)?,
        retry_base_ms: parse_num(get, "NOTIFY_RETRY_BASE_MS", 2000, 10, 600_000)? as u64,
        max_attempts: parse_num(get, "NOTIFY_MAX_ATTEMPTS", 5, 1, 20)? as u32,
        max_per_minute: parse_num(get, "NOTIFY_MAX_PER_MINUTE", 20, 1, 10_000)? as u32,
    })
}

/// `JOB_QUEUES`: `name:concurrency` pairs; `default` and `reserved` are always there.
fn parse_queues(raw: Option<String>) -> Result<Vec<(String, usize)>, ConfigError> {
    let mut queues = vec![("default".to_string(), 4usize), ("reserved".to_string(), 1usize)];
    let Some(raw) = raw else { return Ok(queues) };
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || {
            err(
                "JOB_QUEUES",
                format!("expected name:concurrency pairs like default:4,reserved:1; got {item:?}"),
            )
        };
        let (name, n) = item.split_once(':').ok_or_else(bad)?;
        let name = name.trim();
        let n: usize = n
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(bad)?;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad());
        }
        match queues.iter_mut().find(|(q, _)| q == name) {
            Some(q) => q.1 = n,
            None => queues.push((name.to_string(), n)),
        }
    }
    Ok(queues)
}

fn parse_bool(get: &impl Fn(&str) -> Option<String>, var: &str, default: bool) -> Result<bool, ConfigError> {
    match get(var).map(|v| v.to_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(err(var, format!("expected true or false, got {v:?}"))),
        },
    }
}

fn parse_num(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(err(
                var,
                format!("expected a whole number from {min} to {max}, got {v:?}"),
            )),
        },
    }
}

fn secret(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    production: bool,
    store: &mut SecretStore,
) -> Result<String, ConfigError> {
    match get(var) {
        Some(v) => {
            if production && (v.len() < MIN_SECRET_LEN || WEAK_SECRETS.contains(&v.to_lowercase().as_str())) {
                return Err(err(var, format!("is too weak for production: use at least {MIN_SECRET_LEN} random characters (e.g. `openssl rand -hex 32`)")));
            }
            Ok(v)
        }
        None if production => Err(err(var, "must be set when ENV_NAME=production")),
        None => store.get_or_create(var),
    }
}

/// Secrets generated for zero-config starts, kept in `data/secrets.env` (0600).
struct SecretStore {
    path: PathBuf,
    enabled: bool,
    loaded: Option<HashMap<String, String>>,
}

impl SecretStore {
    fn new(data_dir: &Path, enabled: bool) -> Self {
        SecretStore {
            path: data_dir.join("secrets.env"),
            enabled,
            loaded: None,
        }
    }

    fn get_or_create(&mut self, var: &str) -> Result<String, ConfigError> {
        if !self.enabled {
            // Tests and tools without a data dir: an ephemeral secret is fine.
            return Ok(random_hex(32));
        }
        let path = self.path.clone();
        let map = self.loaded.get_or_insert_with(|| {
            std::fs::read_to_string(&path)
                .map(|text| {
                    text.lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        });
        if let Some(v) = map.get(var) {
            return Ok(v.clone());
        }
        let v = random_hex(32);
        map.insert(var.to_string(), v.clone());
        let mut text = String::from("# Generated by vcore on first start. Keep private.\n");
        let mut keys: Vec<_> = map.keys().cloned().collect();
        keys.sort();
        for k in keys {
            text.push_str(&format!("{k}={}\n", map[&k]));
        }
        write_private(&path, &text).map_err(|e| {
            err(
                var,
                format!("could not store a generated secret in {}: {e}", path.display()),
            )
        })?;
        Ok(v)
    }
}

/// Writes a file readable only by its owner (0600 on Unix), creating parent directories.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Creates `dir` (and parents) readable only by its owner (0700 on Unix) when missing; an
/// existing directory keeps its mode. The data dir holds the database and the secrets.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn zero_config_defaults() {
        let c = Config::from_map(&vars(&[]), false).unwrap();
        assert_eq!(c.server_port, 3000);
        assert_eq!(c.db_url, "sqlite://data/vcore.db");
        assert_eq!(c.access_token_expire_minutes, 30);
        assert_eq!(c.refresh_token_expire_minutes, 10080);
        assert_eq!(c.api_v1_prefix, "/api/v1");
        assert!(!c.users_open_registration);
        assert_eq!(
            c.job_queues,
            vec![("default".to_string(), 4), ("reserved".to_string(), 1)]
        );
        let c = Config::from_map(&vars(&[("JOB_QUEUES", "default:8, mail:2")]), false).unwrap();
        assert_eq!(
            c.job_queues,
            vec![("default".into(), 8), ("reserved".into(), 1), ("mail".into(), 2)]
        );
        assert_ne!(c.jwt_access_secret, c.jwt_refresh_secret);
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (k, v) in [
            ("SERVER_PORT", "abc"),
            ("SERVER_PORT", "70000"),
            ("DEBUG", "maybe"),
            ("ALGORITHM", "none"),
            ("ALGORITHM", "RS256"),
            ("ACCENT", "red"),
            ("DB_URL", "mysql://x"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("LOG_LEVEL", "loud"),
            ("BASE_URL", "example.com"),
            ("JOB_QUEUES", "default"),
            ("JOB_QUEUES", "default:0"),
            ("JOB_QUEUES", "bad name:2"),
            ("JOB_LEASE_SECS", "1"),
            ("JOB_RETENTION_DAYS", "-1"),
            ("JOB_RETENTION_DAYS", "forever"),
        ] {
            let e = Config::from_map(&vars(&[(k, v)]), false).unwrap_err();
            assert_eq!(e.var, k, "{k}={v}");
        }
    }

    #[test]
    fn email_and_notification_settings_are_checked_together() {
        let c = Config::from_map(&vars(&[]), false).unwrap();
        assert!(c.smtp.is_none() && !c.notify.any_channel());
        assert!(c.notify.on_failure && !c.notify.on_success && !c.notify.on_start);

        let mail = [
            ("SMTP_HOST", "mail.example.com"),
            ("EMAILS_FROM_EMAIL", "ops@example.com"),
        ];
        let c = Config::from_map(&vars(&mail), false).unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        assert_eq!(smtp.from_name, "vcore");
        let mut ssl = mail.to_vec();
        ssl.push(("SMTP_SSL", "true"));
        let c = Config::from_map(&vars(&ssl), false).unwrap();
        assert_eq!(c.smtp.unwrap().port, 465);
        let mut off = mail.to_vec();
        off.push(("EMAILS_ENABLED", "false"));
        assert!(Config::from_map(&vars(&off), false).unwrap().smtp.is_none());

        let tg = [
            ("NOTIFY_TELEGRAM_ENABLED", "true"),
            ("TELEGRAM_API_TOKEN", "123456:ABC-def_1"),
            ("TELEGRAM_CHAT_ID", "-100200300"),
        ];
        let c = Config::from_map(&vars(&tg), false).unwrap();
        let t = c.notify.telegram.unwrap();
        assert_eq!(
            (t.base_url.as_str(), t.chat_id.as_str()),
            ("https://api.telegram.org", "-100200300")
        );

        // Each bad combination names the variable to fix.
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("EMAILS_ENABLED", "true")], "SMTP_HOST"),
            (&[("SMTP_HOST", "mail.example.com")], "EMAILS_FROM_EMAIL"),
            (
                &[("SMTP_HOST", "mail.example.com"), ("EMAILS_FROM_EMAIL", "nope")],
                "EMAILS_FROM_EMAIL",
            ),
            (
                &[("SMTP_HOST", "a b"), ("EMAILS_FROM_EMAIL", "a@b.co")],
                "SMTP_HOST",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("EMAILS_FROM_EMAIL", "a@b.co"),
                    ("SMTP_PORT", "0"),
                ],
                "SMTP_PORT",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("EMAILS_FROM_EMAIL", "a@b.co"),
                    ("SMTP_USER", "u"),
                ],
                "SMTP_PASSWORD",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("EMAILS_FROM_EMAIL", "a@b.co"),
                    ("SMTP_TLS", "true"),
                    ("SMTP_SSL", "true"),
                ],
                "SMTP_SSL",
            ),
            (&[("NOTIFY_EMAIL_ENABLED", "true")], "NOTIFY_EMAIL_ENABLED"),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("EMAILS_FROM_EMAIL", "a@b.co"),
                    ("NOTIFY_EMAIL_ENABLED", "true"),
                ],
                "NOTIFY_EMAIL_TO",
            ),
            (
                &[
                    ("SMTP_HOST", "h"),
                    ("EMAILS_FROM_EMAIL", "a@b.co"),
                    ("NOTIFY_EMAIL_ENABLED", "true"),
                    ("NOTIFY_EMAIL_TO", "ops@example.com, oops"),
                ],
                "NOTIFY_EMAIL_TO",
            ),
            (&[("NOTIFY_TELEGRAM_ENABLED", "true")], "TELEGRAM_API_TOKEN"),
            (
                &[
                    ("NOTIFY_TELEGRAM_ENABLED", "true"),
                    ("TELEGRAM_API_TOKEN", "12/../x:y"),
                ],
                "TELEGRAM_API_TOKEN",
            ),
            (
                &[
                    ("NOTIFY_TELEGRAM_ENABLED", "true"),
                    ("TELEGRAM_API_TOKEN", "1:a"),
                    ("TELEGRAM_CHAT_ID", "0"),
                ],
                "TELEGRAM_CHAT_ID",
            ),
            (
                &[
                    ("NOTIFY_TELEGRAM_ENABLED", "true"),
                    ("TELEGRAM_API_TOKEN", "1:a"),
                    ("TELEGRAM_CHAT_ID", "5"),
                    ("TELEGRAM_API_BASE_URL", "ftp://x"),
                ],
                "TELEGRAM_API_BASE_URL",
            ),
            (&[("NOTIFY_ON_SUCCESS", "sometimes")], "NOTIFY_ON_SUCCESS"),
            (&[("NOTIFY_MAX_ATTEMPTS", "0")], "NOTIFY_MAX_ATTEMPTS"),
            (
                &[("EMAIL_RESET_TOKEN_EXPIRE_HOURS", "0")],
                "EMAIL_RESET_TOKEN_EXPIRE_HOURS",
            ),
        ];
        for (pairs, var) in cases {
            let e = Config::from_map(&vars(pairs), false).unwrap_err();
            assert_eq!(e.var, *var, "{pairs:?}: {e}");
        }
    }

    #[test]
    fn production_refuses_missing_or_weak_secrets() {
        let e = Config::from_map(&vars(&[("ENV_NAME", "production")]), true).unwrap_err();
        assert_eq!(e.var, "JWT_ACCESS_SECRET_KEY");
        let strong = "a".repeat(40);
        let e = Config::from_map(
            &vars(&[
                ("ENV_NAME", "production"),
                ("JWT_ACCESS_SECRET_KEY", &strong),
                ("JWT_REFRESH_SECRET_KEY", "changeme"),
            ]),
            true,
        )
        .unwrap_err();
        assert_eq!(e.var, "JWT_REFRESH_SECRET_KEY");
        let other = "b".repeat(40);
        assert!(Config::from_map(
            &vars(&[
                ("ENV_NAME", "production"),
                ("JWT_ACCESS_SECRET_KEY", &strong),
                ("JWT_REFRESH_SECRET_KEY", &other)
            ]),
            true
        )
        .is_ok());
    }

    #[test]
    fn generated_secrets_persist_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let a = Config::from_map(&vars(&[("DATA_DIR", d)]), true).unwrap();
        let b = Config::from_map(&vars(&[("DATA_DIR", d)]), true).unwrap();
        assert_eq!(a.jwt_access_secret, b.jwt_access_secret);
        assert_eq!(a.jwt_refresh_secret, b.jwt_refresh_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.env"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }
}
