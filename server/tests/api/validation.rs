//! Bad input (S6, S9): a 422 whose `detail` names the field (`loc` ends with it), for bodies,
//! query strings and path ids alike; nothing is changed by a refused request; and no input
//! makes the server answer 5xx.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(
    user_creation_names_the_bad_field,
    user_creation_accepts_values_at_the_limits,
    updates_name_the_bad_field_and_change_nothing,
    path_and_query_parameters_are_checked,
    malformed_bodies_never_cause_a_server_error,
);

/// A valid `UserCreate` with `field` replaced by `value` (or removed when `value` is None).
fn user_create_with(field: &str, value: Option<Value>) -> Value {
    let mut body = json!({
        "username": "valid",
        "email": "valid@example.com",
        "password": "valid-password",
        "full_name": "Valid Name",
    });
    let obj = body.as_object_mut().unwrap();
    match value {
        Some(v) => {
            obj.insert(field.to_string(), v);
        }
        None => {
            obj.remove(field);
        }
    }
    body
}

async fn create_raw(app: &TestApp, admin: &str, text: &'static str) -> reqwest::Response {
    app.send_raw(
        Method::POST,
        "/users/",
        Some(admin),
        Some("application/json"),
        text,
    )
    .await
}

async fn user_creation_names_the_bad_field(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("email", Some(json!("not-an-email"))),
        ("email", Some(json!("a@b"))),
        ("email", Some(json!(""))),
        ("email", Some(json!(42))),
        ("email", None),
        ("username", Some(json!(""))),
        ("username", Some(json!("ab"))),
        ("username", Some(json!("x".repeat(65)))),
        ("username", Some(json!("has space"))),
        ("username", Some(json!("ünïcödé"))),
        ("username", Some(json!(123))),
        ("username", Some(Value::Null)),
        ("username", Some(json!({"nested": "object"}))),
        ("username", None),
        ("password", Some(json!("seven77"))),
        ("password", Some(json!("x".repeat(129)))),
        ("password", Some(json!("        "))),
        ("password", Some(json!(["a", "list"]))),
        ("password", None),
        ("full_name", Some(json!("x".repeat(129)))),
        ("full_name", Some(json!("bell\u{7}char"))),
        ("full_name", Some(json!(false))),
        ("is_active", Some(json!("yes"))),
        ("is_superuser", Some(json!(1))),
        ("role", Some(json!("admin"))),
    ];
    for (field, value) in cases {
        let body = user_create_with(field, value.clone());
        let resp = app.post("/users/", Some(&admin), &body).await;
        let status = resp.status().as_u16();
        let answer = resp.text().await.unwrap();
        let parsed: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        assert_eq!(
            status, 422,
            "{field} = {value:?}: expected 422, got {status}: {answer}"
        );
        assert_validation_detail(&parsed, &["body", field]);
    }

    // Not JSON at all, or not an object: no field to name, so the location is the body.
    assert_422(
        create_raw(&app, &admin, r#"{"username": "valid", "email": "#).await,
        &["body"],
    )
    .await;
    assert_422(create_raw(&app, &admin, "this is not json").await, &["body"]).await;
    assert_422(create_raw(&app, &admin, "").await, &["body"]).await;
    for not_an_object in ["[]", "null", "42", r#""text""#] {
        let resp = create_raw(&app, &admin, not_an_object).await;
        let body = assert_status(resp, 422).await;
        let first = &body["detail"][0]["loc"][0];
        assert_eq!(first, "body", "{not_an_object}: {body}");
    }

    assert_eq!(app.user_count().await, 1, "no refused request created anything");
}

async fn user_creation_accepts_values_at_the_limits(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let longest_name = "n".repeat(64);
    let user = app
        .create_user_with(json!({
            "username": longest_name,
            "email": "edge@example.com",
            "password": "p".repeat(128),
            "full_name": "f".repeat(128),
        }))
        .await;
    assert_eq!(user["username"], longest_name);
    assert_eq!(user["full_name"].as_str().unwrap().chars().count(), 128);
    app.login(&longest_name, &"p".repeat(128)).await;

    let shortest = app
        .create_user_with(json!({"username": "abc", "email": "abc@example.com", "password": "eight888"}))
        .await;
    assert!(
        shortest["full_name"].is_null(),
        "full_name is optional: {shortest}"
    );
    app.login("abc", "eight888").await;
    // Non-ASCII is fine where free text is allowed.
    let named = app
        .create_user_with(json!({"username": "zoe", "email": "zoe@example.com", "password": "pässwörd-ü", "full_name": "Zoë Ünal"}))
        .await;
    assert_eq!(named["full_name"], "Zoë Ünal");
    app.login("zoe", "pässwörd-ü").await;
}

async fn updates_name_the_bad_field_and_change_nothing(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    let before = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;

    let me_cases = [
        (json!({"email": "bad"}), "email"),
        (json!({"email": "ok@example.com", "username": "x y"}), "username"),
        (json!({"username": 5}), "username"),
        (json!({"username": "y".repeat(65)}), "username"),
        (json!({"full_name": "x".repeat(129)}), "full_name"),
        (json!({"full_name": "line\nbreak"}), "full_name"),
        (json!({"full_name": ["not", "text"]}), "full_name"),
        (json!({"is_superuser": true}), "is_superuser"),
        (json!({"password": "new-password-1"}), "password"),
    ];
    for (body, field) in me_cases {
        let resp = app.put("/users/me", Some(bob.access()), &body).await;
        let answer = assert_status(resp, 422).await;
        assert_validation_detail(&answer, &["body", field]);
    }
    let path = format!("/users/{}", bob.id);
    let id_cases = [
        (json!({"is_active": "no"}), "is_active"),
        (json!({"is_superuser": null, "password": "short"}), "password"),
        (json!({"password": "x".repeat(129)}), "password"),
        (json!({"email": "two@@example.com"}), "email"),
        (json!({"nickname": "bobby"}), "nickname"),
    ];
    for (body, field) in id_cases {
        let answer = assert_status(app.put(&path, Some(&admin), &body).await, 422).await;
        assert_validation_detail(&answer, &["body", field]);
    }
    let malformed = app
        .send_raw(
            Method::PUT,
            "/users/me",
            Some(bob.access()),
            Some("application/json"),
            "{\"full_name\": ",
        )
        .await;
    assert_422(malformed, &["body"]).await;

    let after = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(after, before, "refused updates changed nothing");
    // And the password is still the old one.
    app.login("bob", USER_PASSWORD).await;
}

async fn path_and_query_parameters_are_checked(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bad_ids = ["abc", "1.5", "99999999999999999999", "1e3", "%20"];
    for id in bad_ids {
        let path = format!("/users/{id}");
        assert_422(app.get(&path, Some(&admin)).await, &["path", "user_id"]).await;
        assert_422(
            app.put(&path, Some(&admin), &json!({"full_name": "x"})).await,
            &["path", "user_id"],
        )
        .await;
        assert_422(app.delete(&path, Some(&admin)).await, &["path", "user_id"]).await;
    }
    // A well-formed id that matches nobody is a 404, negative or not.
    assert_status(app.get("/users/-1", Some(&admin)).await, 404).await;
    assert_status(app.get("/users/0", Some(&admin)).await, 404).await;

    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("offset=0&limit=99999999999999999999", "limit"),
    ] {
        let resp = app.get(&format!("/users/?{query}"), Some(&admin)).await;
        let body = assert_status(resp, 422).await;
        assert_validation_detail(&body, &["query", param]);
    }
    for ok in [
        "limit=1",
        "limit=1000",
        "offset=0",
        "offset=5&limit=3",
        "unknown=ignored",
    ] {
        assert_status(app.get(&format!("/users/?{ok}"), Some(&admin)).await, 200).await;
    }
}

/// S9: whatever arrives, the answer is a 4xx with a JSON `detail`, never a 5xx.
async fn malformed_bodies_never_cause_a_server_error(b: Backend) {
    let app = spawn_app(
        b,
        Opts {
            open_registration: true,
            ..Opts::default()
        },
    )
    .await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    let bob_path = format!("/users/{}", bob.id);

    let big = format!(
        r#"{{"username": "{}", "email": "big@example.com", "password": "long-enough"}}"#,
        "u".repeat(100_000)
    );
    let payloads: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("application/json"), b"".to_vec()),
        (Some("application/json"), b"{".to_vec()),
        (Some("application/json"), b"[]".to_vec()),
        (Some("application/json"), b"null".to_vec()),
        (Some("application/json"), b"\"string\"".to_vec()),
        (Some("application/json"), b"1e999".to_vec()),
        (
            Some("application/json"),
            br#"{"username": {"deep": [1, 2, {"x": null}]}}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"username": "nul\u0000byte", "email": "a@b.co", "password": "long-enough"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            b"{\"username\": \"\xff\xfe invalid utf8\"}".to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"full_name": "nul\u0000byte"}"#.to_vec(),
        ),
        (
            Some("application/json"),
            br#"{"refresh_token": "nul\u0000byte"}"#.to_vec(),
        ),
        // PostgreSQL rejects NUL in text: it must be refused before any query, not fail in one.
        (
            Some("application/x-www-form-urlencoded"),
            b"username=nul%00byte&password=whatever-1".to_vec(),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"username=nul%00byte%40example.com&password=whatever-1".to_vec(),
        ),
        (
            Some("application/x-www-form-urlencoded"),
            b"username=%FF%FE&password=%FF".to_vec(),
        ),
        (Some("application/json"), big.into_bytes()),
        (Some("text/plain"), br#"{"username": "plain"}"#.to_vec()),
        (None, br#"{"username": "no content type"}"#.to_vec()),
        (
            Some("application/x-www-form-urlencoded"),
            b"username=a&password=b".to_vec(),
        ),
    ];
    let endpoints: Vec<(Method, String, Option<String>)> = vec![
        (Method::POST, "/users/".into(), Some(admin.clone())),
        (Method::PUT, "/users/me".into(), Some(bob.access().to_string())),
        (Method::PUT, bob_path.clone(), Some(admin.clone())),
        (
            Method::POST,
            "/users/me/password".into(),
            Some(bob.access().to_string()),
        ),
        (Method::POST, "/login/refresh-token".into(), None),
        (Method::POST, "/register".into(), None),
        (Method::POST, "/login/access-token".into(), None),
    ];
    let mut failures = Vec::new();
    for (method, path, token) in &endpoints {
        for (content_type, payload) in &payloads {
            let resp = app
                .send_raw(
                    method.clone(),
                    path,
                    token.as_deref(),
                    *content_type,
                    payload.clone(),
                )
                .await;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let json_detail = serde_json::from_str::<Value>(&text).is_ok_and(|v| v.get("detail").is_some());
            // A well-formed sign-in form with unknown credentials is an ordinary 401.
            let login_form_ok = path == "/login/access-token" && status == 401 && json_detail;
            if (!(400..500).contains(&status) || !json_detail) && !login_form_ok {
                let shown: String = String::from_utf8_lossy(payload).chars().take(60).collect();
                let said: String = text.chars().take(200).collect();
                failures.push(format!(
                    "{method} {path} with {content_type:?} {shown:?}: {status} {said}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "answers that were not a 4xx with a JSON detail:\n{}",
        failures.join("\n")
    );

    // Everything still works, and nothing was changed.
    assert_eq!(app.user_count().await, 2);
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["username"], "bob");
    assert_eq!(me["full_name"], "bob Tester");
    app.login("bob", USER_PASSWORD).await;
}
