//! The notes example, end to end over real HTTP on SQLite and PostgreSQL (vcore-testing's
//! throwaway cluster): its REST resource (from each
//! side: anonymous, the owner, another user), its place in the OpenAPI document, its script
//! (input checked, output stored, limited to the job owner's notes), its scheduler, and its
//! command line. The page and the tool are tested in a browser
//! (`end2end/tests/example_notes.spec.ts`).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use vcore_testing::{both_backends, Backend};

both_backends!(
    notes_over_rest_from_each_side,
    the_digest_script_and_its_scheduler
);

struct Server {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

const ADMIN_PASSWORD: &str = "notes-admin-pass";

async fn start(b: Backend) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db_url = vcore_testing::database_url(b, dir.path()).await;
    let vars: HashMap<String, String> = [
        ("DATA_DIR", dir.path().display().to_string()),
        ("DB_URL", db_url),
        ("SERVER_HOST", "127.0.0.1".into()),
        ("SERVER_PORT", "0".into()),
        ("LOG_LEVEL", "warn".into()),
        ("FIRST_SUPERUSER_USERNAME", "admin".into()),
        ("FIRST_SUPERUSER_EMAIL", "admin@example.com".into()),
        ("FIRST_SUPERUSER_PASSWORD", ADMIN_PASSWORD.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = vcore_domain::Config::from_map(&vars, false).expect("a valid configuration");
    let app = notes_server::app()
        .build(config)
        .await
        .expect("the notes app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending::<()>()));
    Server {
        base,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the request is sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let resp = self
            .client
            .post(format!("{}/api/v1/login/access-token", self.base))
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "signing in as {username}");
        resp.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn user(&self, admin: &str, username: &str) -> String {
        let body = json!({ "username": username, "email": format!("{username}@example.com"), "password": "long-enough-pass" });
        let (status, _) = self
            .call(reqwest::Method::POST, "/users/", Some(admin), Some(body))
            .await;
        assert_eq!(status, 201);
        self.login(username, "long-enough-pass").await
    }

    async fn wait_done(&self, token: &str, id: i64) -> Value {
        for _ in 0..200 {
            let (_, job) = self
                .call(reqwest::Method::GET, &format!("/jobs/{id}"), Some(token), None)
                .await;
            if job["status"] == "done" || job["status"] == "failed" {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish");
    }
}

fn loc(body: &Value) -> Vec<String> {
    body["detail"][0]["loc"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn notes_over_rest_from_each_side(b: Backend) {
    use reqwest::Method;
    let s = start(b).await;
    let admin = s.login("admin", ADMIN_PASSWORD).await;
    let alice = s.user(&admin, "alice").await;
    let bob = s.user(&admin, "bob").await;

    assert_eq!(s.call(Method::GET, "/notes/", None, None).await.0, 401);
    assert_eq!(
        s.call(Method::POST, "/notes/", None, Some(json!({ "title": "x" })))
            .await
            .0,
        401
    );

    let (status, body) = s
        .call(
            Method::POST,
            "/notes/",
            Some(&alice),
            Some(json!({ "title": "  " })),
        )
        .await;
    assert_eq!(
        (status, loc(&body)),
        (422, vec!["body".to_string(), "title".into()]),
        "{body}"
    );
    let (status, body) = s
        .call(
            Method::POST,
            "/notes/",
            Some(&alice),
            Some(json!({ "body": "no title" })),
        )
        .await;
    assert_eq!(
        (status, loc(&body)),
        (422, vec!["body".to_string(), "title".into()]),
        "{body}"
    );

    let (status, note) = s
        .call(
            Method::POST,
            "/notes/",
            Some(&alice),
            Some(json!({ "title": "Groceries", "body": "eggs milk bread" })),
        )
        .await;
    assert_eq!(status, 201, "{note}");
    let id = note["id"].as_i64().unwrap();
    assert_eq!(note["title"], "Groceries");

    let (_, mine) = s.call(Method::GET, "/notes/", Some(&alice), None).await;
    assert_eq!(mine["count"], 1, "{mine}");
    let (_, theirs) = s.call(Method::GET, "/notes/", Some(&bob), None).await;
    assert_eq!(
        theirs["count"], 0,
        "another user's notes are not listed: {theirs}"
    );
    // Another user's note is not found, and stays.
    assert_eq!(
        s.call(Method::GET, &format!("/notes/{id}"), Some(&bob), None)
            .await
            .0,
        404
    );
    assert_eq!(
        s.call(Method::DELETE, &format!("/notes/{id}"), Some(&bob), None)
            .await
            .0,
        404
    );
    assert_eq!(
        s.call(Method::GET, &format!("/notes/{id}"), Some(&alice), None)
            .await
            .0,
        200
    );
    let (status, body) = s.call(Method::GET, "/notes/abc", Some(&alice), None).await;
    assert_eq!(
        (status, loc(&body)),
        (422, vec!["path".to_string(), "id".into()]),
        "{body}"
    );

    // In the OpenAPI document beside vcore's resources.
    let (_, doc) = s.call(Method::GET, "/openapi.json", None, None).await;
    assert!(
        doc["paths"]["/api/v1/notes/"]["post"].is_object(),
        "{}",
        doc["paths"]
    );
    assert!(doc["paths"]["/api/v1/notes/{id}"]["delete"].is_object());
    assert!(doc["paths"]["/api/v1/jobs/"].is_object());

    // Deleted by its owner.
    assert_eq!(
        s.call(Method::DELETE, &format!("/notes/{id}"), Some(&alice), None)
            .await
            .0,
        204
    );
    assert_eq!(
        s.call(Method::GET, &format!("/notes/{id}"), Some(&alice), None)
            .await
            .0,
        404
    );
}

async fn the_digest_script_and_its_scheduler(b: Backend) {
    use reqwest::Method;
    let s = start(b).await;
    let admin = s.login("admin", ADMIN_PASSWORD).await;
    let alice = s.user(&admin, "alice").await;
    let bob = s.user(&admin, "bob").await;
    for (who, title, body) in [
        (&alice, "one", "two three"),
        (&alice, "four", ""),
        (&bob, "five six", "seven"),
    ] {
        let (status, _) = s
            .call(
                Method::POST,
                "/notes/",
                Some(who),
                Some(json!({ "title": title, "body": body })),
            )
            .await;
        assert_eq!(status, 201);
    }

    // Listed with its input's shape.
    let (_, scripts) = s.call(Method::GET, "/scripts/", Some(&alice), None).await;
    let digest = scripts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "notes_digest")
        .cloned();
    let digest = digest.unwrap_or_else(|| panic!("notes_digest is listed: {scripts}"));
    assert_eq!(digest["fields"][0]["name"], "days", "{digest}");

    // Its input is checked when the job is stored.
    let job =
        |meta: Value| json!({ "name": "digest", "type": "script", "command": "notes_digest", "meta": meta });
    for (meta, field) in [
        (json!({ "days": 0 }), "days"),
        (json!({ "days": "week" }), "days"),
        (json!({ "weeks": 1 }), "weeks"),
    ] {
        let (status, body) = s
            .call(Method::POST, "/jobs/", Some(&alice), Some(job(meta)))
            .await;
        assert_eq!(
            (status, loc(&body)),
            (422, vec!["body".to_string(), "meta".into(), field.into()]),
            "{body}"
        );
    }
    // It counts the job owner's notes only.
    let (status, created) = s
        .call(
            Method::POST,
            "/jobs/",
            Some(&alice),
            Some(job(json!({ "days": 7 }))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let done = s.wait_done(&alice, created["id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "done", "{done}");
    let result: Value = serde_json::from_str(done["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        result,
        json!({ "notes": 2, "words": 4, "days": 7 }),
        "alice's two notes: {done}"
    );

    // Its scheduler was created at start, without an owner; a regular user does not see it.
    let (_, all) = s.call(Method::GET, "/job-schedulers/", Some(&admin), None).await;
    let found: Vec<&Value> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["name"] == "notes digest")
        .collect();
    assert_eq!(found.len(), 1, "{all}");
    assert_eq!(found[0]["cron"], "0 6 * * *");
    let (_, mine) = s.call(Method::GET, "/job-schedulers/", Some(&alice), None).await;
    assert_eq!(mine["count"], 0, "{mine}");
}

#[test]
fn the_command_line_is_vcore_s_with_the_notes_parts() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_notes"))
        .arg("scripts")
        .env("DATA_DIR", dir.path())
        .env("DB_URL", format!("sqlite://{}/notes.db", dir.path().display()))
        .output()
        .expect("running notes scripts");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("notes_digest") && text.contains("sleep"), "{text}");
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_notes"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.starts_with("notes: an application built on vcore"), "{help}");
    assert!(
        help.contains("serve") && help.contains("worker") && help.contains("migrate"),
        "{help}"
    );
}
