//! Email and Telegram: password recovery end to end through a real SMTP server (mailin,
//! started on 127.0.0.1 by the test), and job/start-up alerts through that server and a
//! local HTTP server standing in for the Telegram Bot API. Both can be told to fail their
//! first deliveries, to show that failures are retried and never break a job.
//!
//! Waits poll every 20 ms (10 s at most).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::jobs_api::{create, wait_for_status};

both_backends!(
    password_recovery_works_end_to_end,
    password_recovery_refuses_what_it_must,
    job_and_start_up_alerts_reach_email_and_telegram,
    broken_channels_never_break_jobs,
);

// ---------------------------------------------------------------------------------------
// A real SMTP server
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Mail {
    from: String,
    to: Vec<String>,
    /// Headers and body as received.
    data: String,
}

impl Mail {
    /// The body with quoted-printable decoded (long lines, such as a link, get encoded).
    fn text(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
        let joined = body.replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = joined.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn header(&self, name: &str) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Inbox {
    mails: Vec<Mail>,
    /// `MAIL FROM`s still to refuse with 451 (a temporary failure).
    fail_next: usize,
    refused: usize,
}

#[derive(Clone)]
struct SmtpHandler {
    inbox: Arc<Mutex<Inbox>>,
    current: Option<Mail>,
}

impl mailin_embedded::Handler for SmtpHandler {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> mailin_embedded::Response {
        let mut inbox = self.inbox.lock().unwrap();
        if inbox.fail_next > 0 {
            inbox.fail_next -= 1;
            inbox.refused += 1;
            return mailin_embedded::response::INTERNAL_ERROR;
        }
        mailin_embedded::response::OK
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.current = Some(Mail {
            from: from.to_string(),
            to: to.to_vec(),
            data: String::new(),
        });
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(m) = &mut self.current {
            m.data.push_str(&String::from_utf8_lossy(buf));
        }
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let mail = self.current.take();
        self.inbox.lock().unwrap().mails.extend(mail);
        mailin_embedded::response::OK
    }
}

/// An SMTP server on 127.0.0.1 that keeps what it receives.
struct SmtpServer {
    port: u16,
    inbox: Arc<Mutex<Inbox>>,
}

impl SmtpServer {
    fn start(fail_first: usize) -> SmtpServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inbox = Arc::new(Mutex::new(Inbox {
            fail_next: fail_first,
            ..Default::default()
        }));
        let handler = SmtpHandler {
            inbox: inbox.clone(),
            current: None,
        };
        // The server runs for the rest of the test process (its threads block on accept).
        std::thread::spawn(move || {
            let mut server = mailin_embedded::Server::new(handler);
            server
                .with_name("smtp.test")
                .with_ssl(mailin_embedded::SslConfig::None)
                .unwrap()
                .with_tcp_listener(listener);
            let _ = server.serve();
        });
        SmtpServer { port, inbox }
    }

    /// The settings that point the app at this server.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SMTP_HOST", "127.0.0.1".into()),
            ("SMTP_PORT", self.port.to_string()),
            ("SMTP_TLS", "false".into()),
            ("EMAILS_FROM_EMAIL", "robot@vcore.test".into()),
            ("EMAILS_FROM_NAME", "vcore robot".into()),
            ("SMTP_TIMEOUT_SECS", "2".into()),
        ]
    }

    fn mails(&self) -> Vec<Mail> {
        self.inbox.lock().unwrap().mails.clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Mail> {
        wait_until(&format!("{n} mails"), || {
            (self.mails().len() >= n).then(|| self.mails())
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// A stand-in for the Telegram Bot API
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct BotState {
    /// (path segment, body) of each request.
    received: Vec<(String, Value)>,
    /// Status codes to answer the next requests with (then 200).
    script: VecDeque<u16>,
}

struct TelegramStub {
    url: String,
    state: Arc<Mutex<BotState>>,
}

async fn send_message(
    State(state): State<Arc<Mutex<BotState>>>,
    Path(bot): Path<String>,
    Json(body): Json<Value>,
) -> (axum::http::StatusCode, Json<Value>) {
    let mut s = state.lock().unwrap();
    s.received.push((bot, body));
    let code = s.script.pop_front().unwrap_or(200);
    let answer = match code {
        200 => json!({ "ok": true, "result": { "message_id": s.received.len() } }),
        429 => {
            json!({ "ok": false, "error_code": 429, "description": "Too Many Requests", "parameters": { "retry_after": 1 } })
        }
        _ => json!({ "ok": false, "error_code": code, "description": "scripted failure" }),
    };
    (axum::http::StatusCode::from_u16(code).unwrap(), Json(answer))
}

impl TelegramStub {
    async fn start(script: &[u16]) -> TelegramStub {
        let state = Arc::new(Mutex::new(BotState {
            script: script.iter().copied().collect(),
            ..Default::default()
        }));
        let router = axum::Router::new()
            .route("/{bot}/sendMessage", axum::routing::post(send_message))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        TelegramStub { url, state }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("NOTIFY_TELEGRAM_ENABLED", "true".into()),
            ("TELEGRAM_API_BASE_URL", self.url.clone()),
            ("TELEGRAM_API_TOKEN", "4242:test-token".into()),
            ("TELEGRAM_CHAT_ID", "-1001234".into()),
        ]
    }

    fn received(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().received.clone()
    }

    /// Texts of the requests answered 200, i.e. delivered.
    fn delivered(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .map(|(_, b)| b["text"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    }
}

async fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn token_in(mail: &Mail) -> String {
    let text = mail.text();
    let start = text
        .find("/reset-password?token=")
        .expect("the mail has a reset link")
        + 22;
    text[start..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Password recovery
// ---------------------------------------------------------------------------------------

async fn password_recovery_works_end_to_end(b: Backend) {
    let smtp = SmtpServer::start(0);
    let app = spawn_app(
        b,
        Opts {
            env: smtp.env(),
            ..Default::default()
        },
    )
    .await;
    let alice = app.create_and_login("alice").await;

    // An unknown address gets the same answer as a known one, and no mail.
    let unknown = assert_status(
        app.post_empty("/password-recovery/nobody@example.com", None)
            .await,
        200,
    )
    .await;
    let known = assert_status(
        app.post_empty("/password-recovery/Alice@Example.com", None).await,
        200,
    )
    .await;
    assert_eq!(unknown, known);
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1, "only alice gets a mail: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["alice@example.com"]);
    assert_eq!(mail.from, "robot@vcore.test");
    assert!(mail.header("From").contains("robot@vcore.test"), "{}", mail.data);
    assert!(
        mail.header("Subject").contains("password recovery"),
        "{}",
        mail.data
    );
    assert!(mail
        .text()
        .contains(&format!("{}/reset-password?token=", app.address)));
    let token = token_in(mail);

    // Bad tokens and bad passwords are refused, naming the field, and change nothing.
    let reset = |token: &str, pw: &str| json!({ "token": token, "new_password": pw });
    assert_422(
        app.post("/reset-password", None, &reset(&token, "short")).await,
        &["body", "new_password"],
    )
    .await;
    assert_422(
        app.post("/reset-password", None, &reset("not-a-token", "a-new-password"))
            .await,
        &["body", "token"],
    )
    .await;
    assert_422(
        app.post("/reset-password", None, &reset("", "a-new-password"))
            .await,
        &["body", "token"],
    )
    .await;
    // An access token is not a reset token.
    assert_422(
        app.post("/reset-password", None, &reset(alice.access(), "a-new-password"))
            .await,
        &["body", "token"],
    )
    .await;
    assert_422(
        app.post("/reset-password", None, &json!({ "token": token }))
            .await,
        &["body", "new_password"],
    )
    .await;
    app.login("alice", USER_PASSWORD).await;

    // The real reset: new password works, old one and old sessions do not.
    let body = assert_status(
        app.post("/reset-password", None, &reset(&token, "a-new-password"))
            .await,
        200,
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("Password updated"),
        "{body}"
    );
    assert_eq!(app.login_response("alice", USER_PASSWORD).await.status(), 401);
    app.login("alice", "a-new-password").await;
    assert_unauthorized(app.get("/users/me", Some(alice.access())).await).await;
    assert_eq!(
        app.refresh_response(&alice.token.refresh_token).await.status(),
        401
    );

    // The link works once.
    assert_422(
        app.post("/reset-password", None, &reset(&token, "another-password"))
            .await,
        &["body", "token"],
    )
    .await;
    app.login("alice", "a-new-password").await;
}

async fn password_recovery_refuses_what_it_must(b: Backend) {
    // Without email: 503, saying why.
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("carol").await;
    let body = assert_status(
        app.post_empty("/password-recovery/carol@example.com", None).await,
        503,
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("email is not configured"),
        "{body}"
    );
    drop(app);

    let smtp = SmtpServer::start(0);
    let app = spawn_app(
        b,
        Opts {
            env: smtp.env(),
            ..Default::default()
        },
    )
    .await;
    app.create_user("dave").await;
    let erin = app.create_user("erin").await;

    // A malformed address names the path parameter.
    assert_422(
        app.post_empty("/password-recovery/not-an-email", None).await,
        &["path", "email"],
    )
    .await;

    // An inactive account gets the usual answer and no mail.
    let admin = app.admin_token().await;
    assert_status(
        app.put(
            &format!("/users/{}", id_of(&erin)),
            Some(&admin),
            &json!({ "is_active": false }),
        )
        .await,
        200,
    )
    .await;
    assert_status(
        app.post_empty("/password-recovery/erin@example.com", None).await,
        200,
    )
    .await;

    // Three requests per address in 15 minutes, then 429.
    for _ in 0..3 {
        assert_status(
            app.post_empty("/password-recovery/dave@example.com", None).await,
            200,
        )
        .await;
    }
    assert_status(
        app.post_empty("/password-recovery/dave@example.com", None).await,
        429,
    )
    .await;
    let mails = smtp.wait_for(3).await;
    assert!(
        mails.iter().all(|m| m.to == vec!["dave@example.com"]),
        "{mails:?}"
    );

    // A token for one user does not open another account, and a tampered one is refused.
    let token = token_in(&mails[0]);
    let mut tampered = token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    assert_422(
        app.post(
            "/reset-password",
            None,
            &json!({ "token": tampered, "new_password": "a-new-password" }),
        )
        .await,
        &["body", "token"],
    )
    .await;
    // Each mail's token is valid until one is used; then all are spent.
    let second = token_in(&mails[1]);
    assert_status(
        app.post(
            "/reset-password",
            None,
            &json!({ "token": second, "new_password": "a-new-password" }),
        )
        .await,
        200,
    )
    .await;
    assert_422(
        app.post(
            "/reset-password",
            None,
            &json!({ "token": token, "new_password": "other-password" }),
        )
        .await,
        &["body", "token"],
    )
    .await;
    app.login("dave", "a-new-password").await;
}

// ---------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------

async fn job_and_start_up_alerts_reach_email_and_telegram(b: Backend) {
    // The first mail and the first Telegram message fail (451, 500) and are retried.
    let smtp = SmtpServer::start(1);
    let bot = TelegramStub::start(&[500]).await;
    let mut env = smtp.env();
    env.extend(bot.env());
    env.extend([
        ("NOTIFY_EMAIL_ENABLED", "true".to_string()),
        ("NOTIFY_EMAIL_TO", "ops@vcore.test, oncall@vcore.test".into()),
        ("NOTIFY_ON_START", "true".into()),
        ("NOTIFY_ON_SUCCESS", "true".into()),
        ("NOTIFY_RETRY_BASE_MS", "50".into()),
        ("JOB_RETRY_BASE_SECS", "1".into()),
    ]);
    let app = spawn_app(
        b,
        Opts {
            env,
            ..Default::default()
        },
    )
    .await;

    // Start-up.
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails[0].to, vec!["ops@vcore.test", "oncall@vcore.test"]);
    assert!(
        mails[0].header("Subject").contains("server started"),
        "{}",
        mails[0].data
    );
    assert_eq!(smtp.inbox.lock().unwrap().refused, 1, "the first try was refused");
    let texts = wait_until("two Telegram requests", || {
        let r = bot.received();
        (r.len() >= 2).then_some(r)
    })
    .await;
    assert_eq!(texts[0].0, "bot4242:test-token", "the token is in the path");
    assert_eq!(texts[0].1["chat_id"], "-1001234");
    assert_eq!(texts[0].1, texts[1].1, "the failed message was sent again");
    assert!(texts[1].1["text"].as_str().unwrap().contains("server started"));

    // A failing job and a successful one.
    let admin = app.admin_token().await;
    let failing = create(
        &app,
        &admin,
        json!({ "name": "nightly-export", "type": "command", "command": "echo boom >&2; exit 3", "max_attempts": 1 }),
    )
    .await;
    let failing_id = id_of(&failing);
    wait_for_status(&app, &admin, failing_id, "failed").await;
    let mails = smtp.wait_for(2).await;
    let failure = &mails[1];
    assert!(
        failure
            .header("Subject")
            .contains(&format!("Job #{failing_id} nightly-export failed")),
        "{}",
        failure.data
    );
    assert!(
        failure.text().contains("exit"),
        "the error is in the mail: {}",
        failure.text()
    );
    assert!(failure.text().contains(&format!("/jobs/{failing_id}")));
    let tg = wait_until("the failure on Telegram", || {
        bot.delivered()
            .into_iter()
            .find(|t| t.contains("nightly-export failed"))
    })
    .await;
    assert!(tg.contains(&format!("/jobs/{failing_id}")), "{tg}");

    let ok = create(
        &app,
        &admin,
        json!({ "name": "hello", "type": "script", "command": "noop" }),
    )
    .await;
    let ok_id = id_of(&ok);
    wait_for_status(&app, &admin, ok_id, "done").await;
    let mails = smtp.wait_for(3).await;
    assert!(mails[2]
        .header("Subject")
        .contains(&format!("Job #{ok_id} hello done")));
    wait_until("the success on Telegram", || {
        bot.delivered().into_iter().find(|t| t.contains("hello done"))
    })
    .await;

    // A job that fails and is retried is reported once, when it fails for good.
    let retried = create(
        &app,
        &admin,
        json!({ "name": "flaky", "type": "command", "command": "exit 1", "max_attempts": 2 }),
    )
    .await;
    let retried_id = id_of(&retried);
    wait_for_status(&app, &admin, retried_id, "failed").await;
    smtp.wait_for(4).await;
    let flaky = smtp
        .mails()
        .iter()
        .filter(|m| m.header("Subject").contains("flaky"))
        .count();
    assert_eq!(flaky, 1, "one alert for a job that failed twice");
    let notifier = app.services.notifier.clone().unwrap();
    assert_eq!(notifier.stats.failed.load(Ordering::Relaxed), 0);
}

async fn broken_channels_never_break_jobs(b: Backend) {
    // Telegram refuses the bot for good (401: not retried); the SMTP port has no server.
    let bot = TelegramStub::start(&[401, 401, 401, 401]).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut env = bot.env();
    env.extend([
        ("SMTP_HOST", "127.0.0.1".to_string()),
        ("SMTP_PORT", dead_port.to_string()),
        ("SMTP_TLS", "false".into()),
        ("EMAILS_FROM_EMAIL", "robot@vcore.test".into()),
        ("NOTIFY_EMAIL_ENABLED", "true".into()),
        ("NOTIFY_EMAIL_TO", "ops@vcore.test".into()),
        ("NOTIFY_RETRY_BASE_MS", "20".into()),
        ("NOTIFY_MAX_ATTEMPTS", "3".into()),
        ("NOTIFY_MAX_PER_MINUTE", "2".into()),
    ]);
    let app = spawn_app(
        b,
        Opts {
            env,
            ..Default::default()
        },
    )
    .await;
    let admin = app.admin_token().await;

    let mut ids = Vec::new();
    for i in 0..4 {
        let job = create(
            &app,
            &admin,
            json!({ "name": format!("doomed-{i}"), "type": "command", "command": "exit 2", "max_attempts": 1 }),
        )
        .await;
        ids.push(id_of(&job));
    }
    for id in &ids {
        let job = wait_for_status(&app, &admin, *id, "failed").await;
        assert_eq!(job["exit_code"], 2);
    }
    // Two alerts a minute get through to the channels; the other two are held back.
    let stats = app.services.notifier.clone().unwrap().stats;
    wait_until("both channels to give up on both alerts", || {
        (stats.failed.load(Ordering::Relaxed) == 4).then_some(())
    })
    .await;
    assert_eq!(stats.suppressed.load(Ordering::Relaxed), 2);
    assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
    assert_eq!(
        bot.received().len(),
        2,
        "a 401 is not retried: one request per alert"
    );

    // Recovery emails fail the same quiet way: the answer is still 200.
    app.create_user("frank").await;
    assert_status(
        app.post_empty("/password-recovery/frank@example.com", None).await,
        200,
    )
    .await;
    // And the server answers as before.
    assert_status(app.get("/users/me", Some(&admin)).await, 200).await;
}
