//! API keys end to end: shown once and stored hashed, the prefix, last use (time and
//! address), revocation, expiry, the owner's deactivation and demotion, deletion with the
//! owner, the WebSocket, input checks, and `vcore api-key` on the command line. Who may
//! call what with a key is in the authorisation table (`authz.rs`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(
    a_key_is_shown_once_and_stored_hashed,
    a_revoked_expired_or_orphaned_key_stops_at_once,
    a_key_follows_its_owners_role,
    a_demoted_operator_can_no_longer_run_commands,
    a_websocket_closes_when_its_key_is_revoked,
    keys_on_the_websocket_need_jobs_read,
    bad_key_input_is_a_422_naming_the_field,
    the_command_line_creates_lists_and_revokes_keys,
);

async fn make_key(app: &TestApp, token: &str, scopes: &[&str]) -> (String, Value) {
    let made = assert_status(
        app.post(
            "/api-keys/",
            Some(token),
            &json!({ "name": "test key", "scopes": scopes }),
        )
        .await,
        201,
    )
    .await;
    (made["secret"].as_str().unwrap().to_string(), made["key"].clone())
}

async fn a_key_is_shown_once_and_stored_hashed(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let alice = app.create_and_login("alice").await;
    let (secret, key) = make_key(&app, alice.access(), &["jobs:read", "jobs:write"]).await;
    assert!(secret.starts_with("vk_"), "{secret}");
    assert_eq!(secret.len(), 3 + 12 + 1 + 64, "{secret}");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()), "{key}");
    assert_eq!(key["scopes"], json!(["jobs:read", "jobs:write"]));
    assert_eq!(key["user_id"], alice.id);
    assert_eq!(key["last_used_at"], Value::Null);
    // The list never holds the secret.
    let list = assert_status(app.get("/api-keys/", Some(alice.access())).await, 200).await;
    assert_eq!(list["count"], 1);
    assert!(!list.to_string().contains(&secret[16..]), "{list}");
    assert!(list["data"][0].get("secret").is_none());
    // Nor does the database: only a SHA-256 of the whole key.
    let keys = app.services.load_api_keys(Some(alice.id)).await.unwrap();
    assert_eq!(keys.len(), 1);
    // The key works as a bearer and acts as its owner.
    let me = assert_status(app.get("/users/me", Some(&secret)).await, 200).await;
    assert_eq!(me["id"], alice.id);
    let job = assert_status(
        app.post(
            "/jobs/",
            Some(&secret),
            &json!({"name": "by key", "type": "script", "command": "noop"}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(job["owner_id"], alice.id);
    // Its last use is recorded, with the address.
    let list = assert_status(app.get("/api-keys/", Some(alice.access())).await, 200).await;
    assert!(list["data"][0]["last_used_at"].is_string(), "{list}");
    assert_eq!(list["data"][0]["last_used_ip"], "127.0.0.1");
    // A well-formed key that does not exist, one with a wrong secret, and a malformed one.
    let prefix = key["prefix"].as_str().unwrap();
    for bad in [
        format!("vk_000000000000_{}", "0".repeat(64)),
        format!("{prefix}_{}", "0".repeat(64)),
        "vk_nonsense".to_string(),
    ] {
        assert_unauthorized(app.get("/users/me", Some(&bad)).await).await;
    }
}

async fn a_revoked_expired_or_orphaned_key_stops_at_once(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    // Revoked: at once; revoking again changes nothing.
    let (secret, key) = make_key(&app, alice.access(), &["jobs:read"]).await;
    assert_status(app.get("/jobs/", Some(&secret)).await, 200).await;
    let id = key["id"].as_i64().unwrap();
    let revoked = assert_status(
        app.delete(&format!("/api-keys/{id}"), Some(alice.access())).await,
        200,
    )
    .await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_unauthorized(app.get("/jobs/", Some(&secret)).await).await;
    let again = assert_status(
        app.delete(&format!("/api-keys/{id}"), Some(alice.access())).await,
        200,
    )
    .await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    // Expired.
    let made = assert_status(
        app.post(
            "/api-keys/",
            Some(alice.access()),
            &json!({"name": "short", "scopes": ["jobs:read"], "expires_in_days": 1}),
        )
        .await,
        201,
    )
    .await;
    let short = made["secret"].as_str().unwrap().to_string();
    assert!(made["key"]["expires_at"].is_string());
    assert_status(app.get("/jobs/", Some(&short)).await, 200).await;
    app.execute_sql(&format!(
        "UPDATE api_keys SET expires_at = '2000-01-01 00:00:00' WHERE id = {}",
        made["key"]["id"]
    ))
    .await;
    assert_unauthorized(app.get("/jobs/", Some(&short)).await).await;
    // The owner deactivated: the key stops; reactivated: it works again.
    let (secret, _) = make_key(&app, alice.access(), &["jobs:read"]).await;
    let path = format!("/users/{}", alice.id);
    assert_status(
        app.put(&path, Some(&admin), &json!({"is_active": false})).await,
        200,
    )
    .await;
    assert_unauthorized(app.get("/jobs/", Some(&secret)).await).await;
    assert_status(
        app.put(&path, Some(&admin), &json!({"is_active": true})).await,
        200,
    )
    .await;
    assert_status(app.get("/jobs/", Some(&secret)).await, 200).await;
    // A superuser's admin key cannot set a password (a stolen key must not become a session).
    let admin_key = make_key(&app, &admin, &["admin"]).await.0;
    assert_status(
        app.put(&path, Some(&admin_key), &json!({"password": "taken-over-123"}))
            .await,
        403,
    )
    .await;
    // The owner deleted: their keys go with them, and their waiting jobs are cancelled
    // (they would otherwise run with no owner, as the server's own).
    // (The deactivation ended her sessions: she signs in again.)
    let again = app.login("alice", USER_PASSWORD).await.access_token;
    let waiting = assert_status(
        app.post(
            "/jobs/",
            Some(&again),
            &json!({"name": "later", "type": "api_post", "command": "http://localhost:9/x", "run_at": in_an_hour()}),
        )
        .await,
        201,
    )
    .await;
    assert_status(app.delete(&path, Some(&admin)).await, 200).await;
    let after = assert_status(
        app.get(&format!("/jobs/{}", id_of(&waiting)), Some(&admin)).await,
        200,
    )
    .await;
    assert_eq!(after["status"], "cancelled", "{after}");
    assert_eq!(after["owner_id"], Value::Null, "{after}");
    assert_unauthorized(app.get("/jobs/", Some(&secret)).await).await;
    assert!(app
        .services
        .load_api_keys(Some(alice.id))
        .await
        .unwrap()
        .is_empty());
}

async fn a_key_follows_its_owners_role(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app
        .create_user_with(json!({"username": "bob", "email": "bob@example.com", "password": USER_PASSWORD, "role": "operator"}))
        .await;
    let bob_token = app.login("bob", USER_PASSWORD).await.access_token;
    let (secret, _) = make_key(&app, &bob_token, &["jobs:write"]).await;
    let command = json!({"name": "c", "type": "command", "command": "true"});
    assert_status(app.post("/jobs/", Some(&secret), &command).await, 201).await;
    // Demoted to a regular user: the same key may no longer run commands.
    let path = format!("/users/{}", id_of(&bob));
    let user = assert_status(app.put(&path, Some(&admin), &json!({"role": "user"})).await, 200).await;
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_superuser"], false);
    assert_status(app.post("/jobs/", Some(&secret), &command).await, 403).await;
    // A viewer's key changes nothing, whatever its scopes.
    assert_status(
        app.put(&path, Some(&admin), &json!({"role": "viewer"})).await,
        200,
    )
    .await;
    assert_status(
        app.post(
            "/jobs/",
            Some(&secret),
            &json!({"name": "s", "type": "script", "command": "noop"}),
        )
        .await,
        403,
    )
    .await;
    // `role` and `is_superuser` agree, or the change is refused and nothing changes.
    let body = assert_status(
        app.put(
            &path,
            Some(&admin),
            &json!({"role": "operator", "is_superuser": true}),
        )
        .await,
        422,
    )
    .await;
    assert_validation_detail(&body, &["body", "is_superuser"]);
    let user = assert_status(app.get(&path, Some(&admin)).await, 200).await;
    assert_eq!(user["role"], "viewer");
    let user = assert_status(
        app.put(&path, Some(&admin), &json!({"is_superuser": true})).await,
        200,
    )
    .await;
    assert_eq!(user["role"], "superuser");
    let user = assert_status(
        app.put(&path, Some(&admin), &json!({"is_superuser": false}))
            .await,
        200,
    )
    .await;
    assert_eq!(user["role"], "user");
    // An unknown role is a 422 naming the field.
    assert_422(
        app.put(&path, Some(&admin), &json!({"role": "root"})).await,
        &["body", "role"],
    )
    .await;
}

async fn keys_on_the_websocket_need_jobs_read(b: Backend) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app(b, Opts::default()).await;
    let alice = app.create_and_login("alice").await;
    let (reader, _) = make_key(&app, alice.access(), &["jobs:read"]).await;
    let (writer, _) = make_key(&app, alice.access(), &["jobs:write"]).await;
    let url = format!("ws://127.0.0.1:{}/api/v1/ws/job-queue", app.port);
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {reader}").parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_ok());
    let err = tokio_tungstenite::connect_async(format!("{url}?token={writer}"))
        .await
        .expect_err("a key without jobs:read is refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status().as_u16(), 403),
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

async fn bad_key_input_is_a_422_naming_the_field(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let alice = app.create_and_login("alice").await;
    let t = Some(alice.access());
    let cases = [
        (json!({"name": "", "scopes": ["jobs:read"]}), "name"),
        (json!({"name": "x".repeat(101), "scopes": ["jobs:read"]}), "name"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (
            json!({"name": "k", "scopes": ["jobs:read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "k", "scopes": ["jobs:read"], "expires_in_days": 3651}),
            "expires_in_days",
        ),
        (
            json!({"name": "k", "scopes": ["jobs:read"], "colour": "red"}),
            "colour",
        ),
    ];
    for (body, field) in cases {
        assert_422(app.post("/api-keys/", t, &body).await, &["body", field]).await;
    }
    // A superuser names a user who does not exist.
    let admin = app.admin_token().await;
    assert_422(
        app.post(
            "/api-keys/",
            Some(&admin),
            &json!({"name": "k", "scopes": ["jobs:read"], "user_id": 987654321}),
        )
        .await,
        &["body", "user_id"],
    )
    .await;
    let body = assert_status(
        app.post("/api-keys/", t, &json!({"name": "k", "scopes": ["root"]}))
            .await,
        422,
    )
    .await;
    assert!(body.to_string().contains("scopes"), "{body}");
    // Nothing was stored.
    let list = assert_status(app.get("/api-keys/", t).await, 200).await;
    assert_eq!(list["count"], 0, "{list}");
}

async fn the_command_line_creates_lists_and_revokes_keys(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vcore"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATA_DIR", dir.path())
            .env("DB_URL", &app.services.config.db_url)
            .env("LOG_LEVEL", "warn")
            .arg("api-key")
            .args(args)
            .output()
            .expect("run vcore")
    };
    let out = cli(&[
        "create",
        "--user",
        "admin",
        "--name",
        "ci",
        "--scope",
        "jobs:read,admin",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(secret.starts_with("vk_"), "{secret}");
    let users = assert_status(app.get("/users/", Some(&secret)).await, 200).await;
    assert!(users["count"].as_i64().unwrap() >= 1);
    let out = cli(&["list"]);
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success());
    assert!(
        listing.contains(&secret[..15]) && listing.contains("jobs:read,admin"),
        "{listing}"
    );
    assert!(
        !listing.contains(&secret[16..]),
        "the list shows no secret: {listing}"
    );
    let out = cli(&["revoke", &secret[..15]]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_unauthorized(app.get("/users/", Some(&secret)).await).await;
    // Bad input: a clear line and a failure exit, nothing created.
    let out = cli(&[
        "create",
        "--user",
        "nobody",
        "--name",
        "x",
        "--scope",
        "jobs:read",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
    let out = cli(&["create", "--user", "admin", "--name", "x", "--scope", "root"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown scope"));
    assert_eq!(app.services.load_api_keys(None).await.unwrap().len(), 1);
}

async fn a_demoted_operator_can_no_longer_run_commands(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let olga = app
        .create_user_with(json!({"username": "olga", "email": "olga@example.com", "password": USER_PASSWORD, "role": "operator"}))
        .await;
    let token = app.login("olga", USER_PASSWORD).await.access_token;
    let failed = assert_status(
        app.post(
            "/jobs/",
            Some(&token),
            &json!({"name": "f", "type": "command", "command": "false", "max_attempts": 1}),
        )
        .await,
        201,
    )
    .await;
    crate::jobs_api::wait_for_status(&app, &token, id_of(&failed), "failed").await;
    let waiting = assert_status(
        app.post(
            "/jobs/",
            Some(&token),
            &json!({"name": "w", "type": "command", "command": "echo ran", "run_at": in_an_hour(), "max_attempts": 1}),
        )
        .await,
        201,
    )
    .await;
    let path = format!("/users/{}", id_of(&olga));
    assert_status(app.put(&path, Some(&admin), &json!({"role": "user"})).await, 200).await;
    // She may not retry or edit her commands any more.
    let retry = format!("/jobs/{}/status", id_of(&failed));
    assert_status(
        app.put(&retry, Some(&token), &json!({"status": "queued"})).await,
        403,
    )
    .await;
    let edit = format!("/jobs/{}", id_of(&waiting));
    assert_status(app.put(&edit, Some(&token), &json!({"name": "x"})).await, 403).await;
    // A command stored while she could is refused when it runs.
    let now = chrono::Utc::now().to_rfc3339();
    assert_status(app.put(&edit, Some(&admin), &json!({"run_at": now})).await, 200).await;
    let ended = crate::jobs_api::wait_for_status(&app, &admin, id_of(&waiting), "failed").await;
    assert!(
        ended["error"]
            .as_str()
            .unwrap()
            .contains("may no longer run shell commands"),
        "{ended}"
    );
}

async fn a_websocket_closes_when_its_key_is_revoked(b: Backend) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let opts = Opts {
        env: vec![("WS_RECHECK_SECS", "1".into())],
        ..Default::default()
    };
    let app = spawn_app(b, opts).await;
    let alice = app.create_and_login("alice").await;
    let (key, made) = make_key(&app, alice.access(), &["jobs:read"]).await;
    let url = format!("ws://127.0.0.1:{}/api/v1/ws/job-queue?token={key}", app.port);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // The hello, and then nothing while the key holds.
    let hello = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(matches!(hello, Some(Ok(Message::Text(_)))), "{hello:?}");
    assert!(tokio::time::timeout(Duration::from_millis(2500), socket.next())
        .await
        .is_err());
    assert_status(
        app.delete(&format!("/api-keys/{}", made["id"]), Some(alice.access()))
            .await,
        200,
    )
    .await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within the recheck interval");
    assert_eq!(closed, Some(1008));
}
