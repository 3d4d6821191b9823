//! CSRF (S3): a state-changing request authenticated by the session cookie is refused when
//! the browser says it comes from another origin (`Origin`, or `Sec-Fetch-Site` without
//! one). Our own origin passes; reads pass; bearer-token requests are never blocked (a page
//! on another site cannot make the browser attach one).

use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

use crate::helpers::*;

both_backends!(
    cookie_writes_from_other_origins_are_refused,
    cookie_writes_from_our_origin_pass,
    bearer_requests_are_never_blocked,
);

const EVIL: &str = "http://evil.example";

/// A request authenticated only by the `vcore_access` cookie.
fn with_cookie(app: &TestApp, method: Method, path: &str, token: &str) -> RequestBuilder {
    app.client
        .request(method, app.api(path))
        .header("cookie", format!("vcore_access={token}"))
}

fn json_body(req: RequestBuilder, body: &Value) -> RequestBuilder {
    req.header("content-type", "application/json")
        .body(body.to_string())
}

async fn cookie_writes_from_other_origins_are_refused(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let admin_session = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let victim = app.create_user("victim").await;
    let victim_path = format!("/users/{}", id_of(&victim));
    let hack = json!({"full_name": "Hacked"});

    // The cookie on its own authenticates (so the refusals below are the CSRF check).
    let me = assert_status(
        with_cookie(&app, Method::GET, "/users/me", bob.access())
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(me["username"], "bob");

    let refused: Vec<(&str, RequestBuilder)> = vec![
        (
            "PUT /users/me, Origin evil",
            json_body(
                with_cookie(&app, Method::PUT, "/users/me", bob.access()).header("origin", EVIL),
                &hack,
            ),
        ),
        (
            "PUT /users/me, Origin https evil",
            json_body(
                with_cookie(&app, Method::PUT, "/users/me", bob.access())
                    .header("origin", "https://evil.example"),
                &hack,
            ),
        ),
        (
            "PUT /users/me, Origin null",
            json_body(
                with_cookie(&app, Method::PUT, "/users/me", bob.access()).header("origin", "null"),
                &hack,
            ),
        ),
        (
            "PUT /users/me, same host other port",
            json_body(
                with_cookie(&app, Method::PUT, "/users/me", bob.access())
                    .header("origin", "http://127.0.0.1:1"),
                &hack,
            ),
        ),
        (
            "PUT /users/me, Sec-Fetch-Site cross-site",
            json_body(
                with_cookie(&app, Method::PUT, "/users/me", bob.access())
                    .header("sec-fetch-site", "cross-site"),
                &hack,
            ),
        ),
        (
            "POST /users/me/password",
            json_body(
                with_cookie(&app, Method::POST, "/users/me/password", bob.access()).header("origin", EVIL),
                &json!({"current_password": USER_PASSWORD, "new_password": "chosen-by-attacker"}),
            ),
        ),
        (
            "POST /logout",
            with_cookie(&app, Method::POST, "/logout", bob.access()).header("origin", EVIL),
        ),
        (
            "DELETE /users/{victim} as admin",
            with_cookie(&app, Method::DELETE, &victim_path, &admin_session.access_token)
                .header("origin", EVIL),
        ),
        (
            "PUT /users/{victim} as admin",
            json_body(
                with_cookie(&app, Method::PUT, &victim_path, &admin_session.access_token)
                    .header("origin", EVIL),
                &hack,
            ),
        ),
        (
            "POST /users/ as admin",
            json_body(
                with_cookie(&app, Method::POST, "/users/", &admin_session.access_token)
                    .header("origin", EVIL),
                &json!({"username": "planted", "email": "planted@example.com", "password": "planted-pass-1", "is_superuser": true}),
            ),
        ),
    ];
    for (what, req) in refused {
        let resp = req.send().await.unwrap();
        let (status, _, body) = read(resp).await;
        assert_eq!(status, 403, "{what}: expected 403, got {status}: {body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{what}: {body}"
        );
    }

    // Nothing happened: no change, no sign-out, no password change, no deletion, no account.
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["full_name"], "bob Tester");
    app.login("bob", USER_PASSWORD).await;
    let admin = &admin_session.access_token;
    let still_there = assert_status(app.get(&victim_path, Some(admin)).await, 200).await;
    assert_eq!(still_there["full_name"], victim["full_name"]);
    assert_eq!(app.user_count().await, 3, "admin, bob, victim");

    // Reads are not state-changing: they pass whatever the origin.
    let read_me = with_cookie(&app, Method::GET, "/users/me", bob.access())
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_status(read_me, 200).await;
}

async fn cookie_writes_from_our_origin_pass(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let own_origin = format!("http://127.0.0.1:{}", app.port);

    let resp = json_body(
        with_cookie(&app, Method::PUT, "/users/me", bob.access()).header("origin", own_origin.as_str()),
        &json!({"full_name": "Mine"}),
    )
    .send()
    .await
    .unwrap();
    let updated = assert_status(resp, 200).await;
    assert_eq!(updated["full_name"], "Mine");

    let resp = json_body(
        with_cookie(&app, Method::PUT, "/users/me", bob.access()).header("sec-fetch-site", "same-origin"),
        &json!({"full_name": "Mine too"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(assert_status(resp, 200).await["full_name"], "Mine too");

    // A client that is not a browser sends neither header: nothing a page could forge.
    let resp = json_body(
        with_cookie(&app, Method::PUT, "/users/me", bob.access()),
        &json!({"full_name": "Scripted"}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(assert_status(resp, 200).await["full_name"], "Scripted");

    let resp = with_cookie(&app, Method::POST, "/logout", bob.access())
        .header("origin", own_origin.as_str())
        .send()
        .await
        .unwrap();
    assert_status(resp, 200).await;
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
}

async fn bearer_requests_are_never_blocked(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let resp = app
        .client
        .put(app.api("/users/me"))
        .bearer_auth(bob.access())
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/json")
        .body(json!({"full_name": "Via API"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(assert_status(resp, 200).await["full_name"], "Via API");

    let resp = app
        .client
        .post(app.api("/logout"))
        .bearer_auth(bob.access())
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_status(resp, 200).await;
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
}
