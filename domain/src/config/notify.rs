//! The email and alert settings (`SMTP_*`, `EMAILS_*`, `NOTIFY_*`, `TELEGRAM_*`).

use super::{err, parse_bool, parse_num, ConfigError};

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

/// `SMTP_*` and `EMAILS_*`. Email is on when `EMAILS_ENABLED` says so, or, when that is
/// unset, when `SMTP_HOST` is set.
pub(super) fn parse_smtp(get: &impl Fn(&str) -> Option<String>) -> Result<Option<SmtpConfig>, ConfigError> {
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
pub(super) fn parse_notify(
    get: &impl Fn(&str) -> Option<String>,
    email_on: bool,
) -> Result<NotifyConfig, ConfigError> {
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
