//! Parsing the configuration: defaults, every variable's checks, secrets.

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
