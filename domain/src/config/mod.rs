//! Settings, read from the process environment, then `.env` (working directory) and
//! `data/.env`, then defaults; the variable names are the original vCore's.
//!
//! With nothing set the app starts on SQLite under `data/` and generates its JWT secrets
//! into `data/secrets.env` (mode 0600), so that a restart keeps sessions valid. With
//! `ENV_NAME=production` missing or weak secrets stop start-up instead. Every invalid value
//! is reported as one line naming the variable and the reason; nothing here panics.

mod notify;
mod secrets;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use notify::{parse_notify, parse_smtp};
pub use notify::{NotifyConfig, SmtpConfig, SmtpSecurity, TelegramConfig};
use secrets::{secret, SecretStore};

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
    /// Hosts that `api_post` jobs of users below operator may call although they are on
    /// this machine or a private network (`API_POST_ALLOWED_HOSTS`, comma-separated).
    pub api_post_allowed_hosts: Vec<String>,
    /// Failed sign-ins allowed per account (and per IP, times 5) in 15 minutes.
    pub login_max_failures: u32,
    /// How often an open WebSocket checks its credentials again (`WS_RECHECK_SECS`).
    pub ws_recheck_secs: u64,
    /// A bearer token that may read `GET /metrics` (`METRICS_TOKEN`, at least 32
    /// characters); superusers and operators (a key needs `admin`) may read it anyway.
    pub metrics_token: Option<String>,
    /// Who must sign in with a second factor (`MFA_REQUIRED_FOR`: `none`, `superuser`,
    /// `operator` (operators and superusers), `all`).
    pub mfa_required_for: crate::mfa::MfaRequiredFor,
    /// API requests per second and burst per caller (user or key), and per client address
    /// (`RATE_LIMIT_PER_SEC`, `RATE_LIMIT_BURST`, `RATE_LIMIT_IP_PER_SEC`,
    /// `RATE_LIMIT_IP_BURST`; a rate of 0 turns that limit off).
    pub rate_limit: crate::rate_limit::Rate,
    pub rate_limit_ip: crate::rate_limit::Rate,
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
    /// Audit log entries older than this many days are deleted; 0 keeps them
    /// (`AUDIT_RETENTION_DAYS`, default 365).
    pub audit_retention_days: u32,
    /// First retry delay, doubled per attempt up to an hour (`JOB_RETRY_BASE_SECS`).
    pub job_retry_base_secs: u64,
    /// Outgoing email (`SMTP_*`, `EMAILS_*`); `None` when email is off.
    pub smtp: Option<SmtpConfig>,
    /// How long a password-recovery link stays valid (`EMAIL_RESET_TOKEN_EXPIRE_HOURS`, 48).
    pub email_reset_token_expire_hours: i64,
    /// Who hears about job failures, successes and start-ups (`NOTIFY_*`, `TELEGRAM_*`).
    pub notify: NotifyConfig,
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

pub(crate) const WEAK_SECRETS: &[&str] = &["changeme", "secret", "changethis", "password", "test"];
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
            api_post_allowed_hosts: get("API_POST_ALLOWED_HOSTS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            rate_limit: crate::rate_limit::Rate {
                per_sec: parse_num(&get, "RATE_LIMIT_PER_SEC", 20, 0, 1_000_000)? as f64,
                burst: parse_num(&get, "RATE_LIMIT_BURST", 100, 1, 1_000_000)? as f64,
            },
            rate_limit_ip: crate::rate_limit::Rate {
                per_sec: parse_num(&get, "RATE_LIMIT_IP_PER_SEC", 50, 0, 1_000_000)? as f64,
                burst: parse_num(&get, "RATE_LIMIT_IP_BURST", 200, 1, 1_000_000)? as f64,
            },
            ws_recheck_secs: parse_num(&get, "WS_RECHECK_SECS", 60, 1, 3600)? as u64,
            mfa_required_for: match get("MFA_REQUIRED_FOR") {
                None => Default::default(),
                Some(v) => crate::mfa::MfaRequiredFor::parse(&v).ok_or_else(|| {
                    err(
                        "MFA_REQUIRED_FOR",
                        format!("expected none, superuser, operator or all, got {v:?}"),
                    )
                })?,
            },
            metrics_token: match get("METRICS_TOKEN") {
                Some(t)
                    if t.chars().count() < 32 || t.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    return Err(err(
                        "METRICS_TOKEN",
                        "must be at least 32 characters, without spaces (e.g. `openssl rand -hex 32`)",
                    ))
                }
                t => t,
            },
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
            audit_retention_days: parse_num(&get, "AUDIT_RETENTION_DAYS", 365, 0, 36_500)? as u32,
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

#[cfg(test)]
mod tests;
