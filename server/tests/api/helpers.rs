//! The test harness: [`spawn_app`] starts the real application in-process (port 0, a fresh
//! SQLite file in a temp dir or a fresh PostgreSQL database), and [`TestApp`] talks to it
//! over real HTTP. The assertion helpers read the whole body first, so a failing status
//! shows what the server said.
//!
//! Cost to keep in mind: every sign-in and every user creation runs Argon2 (tens of ms),
//! so tests sign in once and reuse the token. `admin_token()` is cached per app: a test that
//! ends the admin's sessions must sign in afresh with `login()` afterwards.
//!
//! Longer than our ~400-line habit on purpose: the whole harness in one place, so a test
//! author reads one file to learn every helper and assertion there is.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::OnceCell;
use vcore_domain::{Config, Services};
use vcore_server::startup::Application;

pub const ADMIN_USERNAME: &str = "admin";
pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "admin-test-password";
/// The password of every user made by [`TestApp::create_user`].
pub const USER_PASSWORD: &str = "user-test-password";

pub use vcore_testing::{both_backends, Backend};

/// Per-test settings beyond the defaults.
#[derive(Clone, Default)]
pub struct Opts {
    /// An application built on vcore to serve instead of vcore alone.
    pub app: Option<vcore_server::App>,
    pub open_registration: bool,
    /// `LOGIN_MAX_FAILURES`; the app's default (10) when `None`.
    pub login_max_failures: Option<u32>,
    /// Any other variables, applied last.
    pub env: Vec<(&'static str, String)>,
}

/// The answer of the sign-in and refresh endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

/// A regular user made through the API, signed in once.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: Token,
}

impl TestUser {
    pub fn access(&self) -> &str {
        &self.token.access_token
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    /// Never follows redirects and keeps no cookies: every test states its credentials.
    pub client: reqwest::Client,
    /// The app's own domain handle, for setting up state the API cannot reach.
    pub services: Services,
    admin: OnceCell<Token>,
    // Dropped last: the SQLite file and generated files live here.
    _data_dir: tempfile::TempDir,
}

fn init_test_logging() {
    // Quiet unless asked: `TEST_LOG=debug cargo test … -- --nocapture`.
    if let Ok(level) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_test_writer()
            .try_init();
    }
}

/// Starts the app on `backend` with a fresh database and returns once it accepts requests.
pub async fn spawn_app(backend: Backend, opts: Opts) -> TestApp {
    init_test_logging();
    let data_dir = tempfile::Builder::new()
        .prefix("vcore-test-")
        .tempdir()
        .expect("creating the test data dir");
    let db_url = vcore_testing::database_url(backend, data_dir.path()).await;
    let mut vars: HashMap<String, String> = [
        ("DATA_DIR", data_dir.path().display().to_string()),
        ("DB_URL", db_url),
        ("DB_POOL_SIZE", "4".to_string()),
        ("SERVER_HOST", "127.0.0.1".to_string()),
        ("SERVER_PORT", "0".to_string()),
        ("LOG_LEVEL", "warn".to_string()),
        ("FIRST_SUPERUSER_USERNAME", ADMIN_USERNAME.to_string()),
        ("FIRST_SUPERUSER_EMAIL", ADMIN_EMAIL.to_string()),
        ("FIRST_SUPERUSER_PASSWORD", ADMIN_PASSWORD.to_string()),
        ("USERS_OPEN_REGISTRATION", opts.open_registration.to_string()),
        // Tests make hundreds of requests a second from one address: no limits unless a
        // test sets them (rate_limit.rs).
        ("RATE_LIMIT_PER_SEC", "0".to_string()),
        ("RATE_LIMIT_IP_PER_SEC", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(n) = opts.login_max_failures {
        vars.insert("LOGIN_MAX_FAILURES".into(), n.to_string());
    }
    for (k, v) in opts.env {
        vars.insert(k.to_string(), v);
    }
    let config = Config::from_map(&vars, false).expect("the test configuration is valid");
    let application = match opts.app {
        Some(app) => app.build(config).await,
        None => Application::build(config).await,
    }
    .expect("the application builds");
    let port = application.port();
    let services = application.services();
    // A future of its own rather than `shutdown_signal()`: no signal handlers in the test process
    // (a Ctrl-C must still stop `cargo test`); the server ends with the test's runtime.
    tokio::spawn(async move {
        if let Err(e) = application.run_until(std::future::pending::<()>()).await {
            eprintln!("test server stopped with an error: {e:#}");
        }
    });
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the HTTP client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client,
        services,
        admin: OnceCell::new(),
        _data_dir: data_dir,
    }
}

/// `application/x-www-form-urlencoded` encoding of `pairs` (kept here so the tests do not
/// depend on the HTTP client's optional form feature).
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl TestApp {
    /// Absolute URL of an API path: `api("/users/me")` → `http://…/api/v1/users/me`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.address)
    }

    /// Absolute URL of a path outside the API (`/healthz`, `/docs`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends `method` to API `path`, with a bearer token and a JSON body when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.api(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.expect("request failed to send")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// POST without a body (test-token, logout).
    pub async fn post_empty(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::POST, path, token, None).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Sends a raw body with the given content type (malformed input tests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self.client.request(method, self.api(path)).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        req.send().await.expect("request failed to send")
    }

    /// The raw sign-in call.
    pub async fn login_response(&self, username: &str, password: &str) -> Response {
        self.send_raw(
            Method::POST,
            "/login/access-token",
            None,
            Some("application/x-www-form-urlencoded"),
            form_body(&[("username", username), ("password", password)]),
        )
        .await
    }

    /// Signs in and returns the pair; fails the test unless the server answers 200.
    pub async fn login(&self, username: &str, password: &str) -> Token {
        let body = assert_status(self.login_response(username, password).await, 200).await;
        serde_json::from_value(body).expect("the sign-in answer is a token pair")
    }

    /// The raw refresh call.
    pub async fn refresh_response(&self, refresh_token: &str) -> Response {
        self.post(
            "/login/refresh-token",
            None,
            &json!({ "refresh_token": refresh_token }),
        )
        .await
    }

    /// The first superuser's access token (signed in once per app).
    pub async fn admin_token(&self) -> String {
        self.admin
            .get_or_init(|| self.login(ADMIN_USERNAME, ADMIN_PASSWORD))
            .await
            .access_token
            .clone()
    }

    /// Creates an account through `POST /users/` as the superuser; `body` is sent as is.
    /// Returns the created user (fails the test unless the answer is a success).
    pub async fn create_user_with(&self, body: Value) -> Value {
        let admin = self.admin_token().await;
        let user = assert_success(self.post("/users/", Some(&admin), &body).await).await;
        assert_user_public(&user);
        user
    }

    /// Creates an active regular user `username` (`<username>@example.com`, [`USER_PASSWORD`]).
    pub async fn create_user(&self, username: &str) -> Value {
        self.create_user_with(json!({
            "username": username,
            "email": format!("{username}@example.com"),
            "password": USER_PASSWORD,
            "full_name": format!("{username} Tester"),
        }))
        .await
    }

    /// Creates a regular user and signs them in.
    pub async fn create_and_login(&self, username: &str) -> TestUser {
        let user = self.create_user(username).await;
        let token = self.login(username, USER_PASSWORD).await;
        TestUser {
            id: id_of(&user),
            username: username.to_string(),
            token,
        }
    }

    /// The superuser's id, as the API reports it.
    pub async fn admin_id(&self) -> i64 {
        let admin = self.admin_token().await;
        id_of(&assert_status(self.get("/users/me", Some(&admin)).await, 200).await)
    }

    /// `count` of `GET /users/` as the superuser.
    pub async fn user_count(&self) -> i64 {
        let admin = self.admin_token().await;
        let page = assert_status(self.get("/users/?limit=1000", Some(&admin)).await, 200).await;
        page["count"].as_i64().expect("count is a number")
    }

    /// Runs raw SQL on the app's own database (to break it on purpose).
    pub async fn execute_sql(&self, sql: &str) {
        vcore_testing::execute_sql(&self.services.db, sql).await
    }
}

/// The numeric `id` of a user object.
pub fn id_of(user: &Value) -> i64 {
    user["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no numeric id in {user}"))
}

/// Reads the body as JSON (`Null` when empty); panics with the raw text when it is not JSON.
pub fn body_json(status: u16, headers: &HeaderMap, text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|e| {
        panic!(
            "status {status}: body is not JSON ({e}); content-type {:?}; body: {text}",
            headers.get(CONTENT_TYPE)
        )
    })
}

/// Reads status, headers and body (as JSON) of a response.
pub async fn read(resp: Response) -> (u16, HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("reading the response body");
    let body = body_json(status, &headers, &text);
    (status, headers, body)
}

/// Asserts the status and returns the JSON body. Every error answer must carry `detail`.
pub async fn assert_status(resp: Response, expected: u16) -> Value {
    let url = resp.url().clone();
    let (status, _, body) = read(resp).await;
    assert_eq!(
        status, expected,
        "{url}: expected {expected}, got {status}: {body}"
    );
    if expected >= 400 {
        assert!(
            body.get("detail").is_some(),
            "{url}: error answer without `detail`: {body}"
        );
    }
    body
}

/// Asserts a 2xx status and returns the JSON body.
pub async fn assert_success(resp: Response) -> Value {
    let url = resp.url().clone();
    let (status, _, body) = read(resp).await;
    assert!(
        (200..300).contains(&status),
        "{url}: expected a success, got {status}: {body}"
    );
    body
}

/// Asserts an error status whose `detail` is exactly `detail`.
pub async fn assert_error(resp: Response, expected: u16, detail: &str) -> Value {
    let body = assert_status(resp, expected).await;
    assert_eq!(body["detail"], detail, "unexpected detail: {body}");
    body
}

/// Asserts a 422 whose FastAPI-style `detail` has an entry at exactly `loc`
/// (e.g. `["body", "email"]`, `["query", "limit"]`, `["path", "user_id"]`), with a message.
pub async fn assert_422(resp: Response, loc: &[&str]) -> Value {
    let body = assert_status(resp, 422).await;
    assert_validation_detail(&body, loc);
    body
}

/// The check of [`assert_422`] on an already-read body.
pub fn assert_validation_detail(body: &Value, loc: &[&str]) {
    let entries = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("422 detail is not a list: {body}"));
    assert!(!entries.is_empty(), "422 with an empty detail list: {body}");
    for e in entries {
        assert!(e["loc"].is_array(), "detail entry without a loc list: {body}");
        assert!(
            e["msg"].as_str().is_some_and(|m| !m.is_empty()),
            "detail entry without msg: {body}"
        );
        assert!(
            e["type"].as_str().is_some_and(|t| !t.is_empty()),
            "detail entry without type: {body}"
        );
    }
    let wanted: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    assert!(
        entries.iter().any(|e| e["loc"].as_array() == Some(&wanted)),
        "no 422 detail entry at loc {loc:?}: {body}"
    );
}

/// The `msg` of the 422 entry at `loc`.
pub fn validation_msg(body: &Value, loc: &[&str]) -> String {
    let wanted: Vec<Value> = loc.iter().map(|s| json!(s)).collect();
    body["detail"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["loc"].as_array() == Some(&wanted)))
        .and_then(|e| e["msg"].as_str())
        .unwrap_or_else(|| panic!("no 422 entry at {loc:?}: {body}"))
        .to_string()
}

/// A `UserPublic`: exactly its fields, valid timestamps, and never a password or hash.
pub fn assert_user_public(user: &Value) {
    let keys: BTreeSet<&str> = user
        .as_object()
        .unwrap_or_else(|| panic!("a user is a JSON object, got {user}"))
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "id",
        "username",
        "email",
        "full_name",
        "is_active",
        "is_superuser",
        "role",
        "created_at",
        "updated_at",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected, "UserPublic fields: {user}");
    assert!(user["id"].is_i64(), "id: {user}");
    assert!(
        user["username"].is_string() && user["email"].is_string(),
        "{user}"
    );
    assert!(
        user["full_name"].is_string() || user["full_name"].is_null(),
        "{user}"
    );
    assert!(
        user["is_active"].is_boolean() && user["is_superuser"].is_boolean(),
        "{user}"
    );
    // The role is one of four, and `is_superuser` says the same as it.
    let role = user["role"].as_str().unwrap_or_default();
    assert!(
        ["superuser", "operator", "user", "viewer"].contains(&role),
        "role: {user}"
    );
    assert_eq!(user["is_superuser"], role == "superuser", "{user}");
    for k in ["created_at", "updated_at"] {
        let s = user[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} is not a string: {user}"));
        assert!(
            chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            "{k} is not RFC 3339: {user}"
        );
    }
    let text = user.to_string();
    assert!(!text.contains("argon2"), "a password hash leaked: {user}");
}

/// Asserts a 401 that challenges for a bearer token.
pub async fn assert_unauthorized(resp: Response) -> Value {
    let challenge = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = assert_status(resp, 401).await;
    assert!(
        challenge
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("bearer")),
        "401 without `WWW-Authenticate: Bearer` (got {challenge:?}): {body}"
    );
    body
}

/// One cell of an authorisation table: reads the answer and records in `failures` every way
/// it differs from `expected` (200 stands for any 2xx): the status, a missing JSON `detail`
/// on an error, a 401 without a `WWW-Authenticate: Bearer` challenge. Returns the status and
/// body when the status was the expected one.
pub async fn check_cell(
    resp: Response,
    label: &str,
    expected: u16,
    failures: &mut Vec<String>,
) -> Option<(u16, Value)> {
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = resp.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let ok = if expected == 200 {
        (200..300).contains(&status)
    } else {
        status == expected
    };
    if !ok {
        failures.push(format!("{label}: expected {expected}, got {status}: {text}"));
        return None;
    }
    if status >= 400 && body.get("detail").is_none() {
        failures.push(format!("{label}: {status} without a JSON detail: {text}"));
    }
    if status == 401
        && !challenge
            .as_deref()
            .is_some_and(|c| c.to_ascii_lowercase().starts_with("bearer"))
    {
        failures.push(format!(
            "{label}: 401 without `WWW-Authenticate: Bearer` (got {challenge:?})"
        ));
    }
    Some((status, body))
}

/// An hour from now, in RFC 3339 (a `run_at` that keeps a job waiting).
pub fn in_an_hour() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
