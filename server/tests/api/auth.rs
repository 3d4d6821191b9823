//! Sign-in, token refresh (rotation, the reuse grace, reuse detection), sign-out,
//! throttling and open registration (S3).
//!
//! Longer than our ~400-line habit on purpose: a catalogue of independent scenarios, each
//! read top to bottom; splitting it would only scatter one endpoint family over files.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

both_backends!(
    sign_in_returns_a_bearer_pair,
    sign_in_accepts_any_case_and_the_email,
    wrong_credentials_are_rejected_alike,
    sign_in_form_problems_name_the_field,
    inactive_users_cannot_sign_in,
    repeated_failures_are_throttled_per_account,
    refresh_rotates_the_pair_and_tolerates_a_quick_reuse,
    tokens_cannot_stand_in_for_each_other,
    reusing_a_spent_refresh_token_later_revokes_the_session,
    logout_ends_only_that_session,
    anonymous_and_bad_tokens_get_a_bearer_challenge,
    registration_is_refused_when_closed,
    open_registration_creates_a_regular_user,
);

async fn sign_in_returns_a_bearer_pair(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let body = assert_status(app.login_response(ADMIN_USERNAME, ADMIN_PASSWORD).await, 200).await;
    assert_eq!(body["token_type"], "bearer", "{body}");
    assert_eq!(
        body["expires_in"],
        30 * 60,
        "default ACCESS_TOKEN_EXPIRE_MINUTES is 30: {body}"
    );
    let access = body["access_token"].as_str().expect("access_token");
    let refresh = body["refresh_token"].as_str().expect("refresh_token");
    assert_ne!(access, refresh);
    assert_eq!(access.split('.').count(), 3, "a JWT: {access}");
    assert_eq!(refresh.split('.').count(), 3, "a JWT: {refresh}");

    let me = assert_status(app.post_empty("/login/test-token", Some(access)).await, 200).await;
    assert_user_public(&me);
    assert_eq!(me["username"], ADMIN_USERNAME);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["is_superuser"], true);
    assert_eq!(me["is_active"], true);

    // Two sign-ins are two sessions with different tokens.
    let again = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    assert_ne!(again.access_token, access);
    assert_ne!(again.refresh_token, refresh);
}

async fn sign_in_accepts_any_case_and_the_email(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("bob").await;
    let t = app.login("BOB", USER_PASSWORD).await;
    let me = assert_status(app.get("/users/me", Some(&t.access_token)).await, 200).await;
    assert_eq!(me["username"], "bob");
    let t = app.login("Bob@Example.com", USER_PASSWORD).await;
    let me = assert_status(app.get("/users/me", Some(&t.access_token)).await, 200).await;
    assert_eq!(me["username"], "bob");
}

async fn wrong_credentials_are_rejected_alike(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let wrong_password = app.login_response(ADMIN_USERNAME, "not-the-password").await;
    let body = assert_error(wrong_password, 401, "Incorrect username or password").await;
    assert!(body.get("access_token").is_none());
    // An unknown account gets the very same answer: nothing tells which part was wrong.
    assert_error(
        app.login_response("nobody", "not-the-password").await,
        401,
        "Incorrect username or password",
    )
    .await;
    assert_error(
        app.login_response("nobody@example.com", ADMIN_PASSWORD).await,
        401,
        "Incorrect username or password",
    )
    .await;
}

async fn sign_in_form_problems_name_the_field(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let form = "application/x-www-form-urlencoded";
    let path = "/login/access-token";

    let empty_password = app
        .send_raw(
            Method::POST,
            path,
            None,
            Some(form),
            form_body(&[("username", "admin"), ("password", "")]),
        )
        .await;
    assert_422(empty_password, &["body", "password"]).await;
    let empty_username = app
        .send_raw(
            Method::POST,
            path,
            None,
            Some(form),
            form_body(&[("username", ""), ("password", "x")]),
        )
        .await;
    assert_422(empty_username, &["body", "username"]).await;
    let missing_password = app
        .send_raw(
            Method::POST,
            path,
            None,
            Some(form),
            form_body(&[("username", "admin")]),
        )
        .await;
    assert_422(missing_password, &["body", "password"]).await;
    let missing_username = app
        .send_raw(
            Method::POST,
            path,
            None,
            Some(form),
            form_body(&[("password", ADMIN_PASSWORD)]),
        )
        .await;
    assert_422(missing_username, &["body", "username"]).await;

    // JSON where the OAuth2 form is expected: refused, not a 500, and no token.
    let as_json = app
        .send_raw(
            Method::POST,
            path,
            None,
            Some("application/json"),
            json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string(),
        )
        .await;
    let status = as_json.status().as_u16();
    assert!(
        status == 415 || status == 422,
        "JSON to the form endpoint: got {status}"
    );
    let body = assert_status(as_json, status).await;
    assert!(body.get("access_token").is_none(), "{body}");
}

async fn inactive_users_cannot_sign_in(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user_with(json!({
        "username": "sleepy",
        "email": "sleepy@example.com",
        "password": USER_PASSWORD,
        "is_active": false,
    }))
    .await;
    let body = assert_422(
        app.login_response("sleepy", USER_PASSWORD).await,
        &["body", "username"],
    )
    .await;
    let msg = validation_msg(&body, &["body", "username"]);
    assert!(
        msg.to_lowercase().contains("inactive"),
        "message should say the user is inactive: {msg}"
    );
    // An inactive account with a wrong password learns nothing more than anyone else.
    assert_error(
        app.login_response("sleepy", "wrong-password").await,
        401,
        "Incorrect username or password",
    )
    .await;
}

async fn repeated_failures_are_throttled_per_account(b: Backend) {
    let app = spawn_app(
        b,
        Opts {
            login_max_failures: Some(3),
            ..Opts::default()
        },
    )
    .await;
    app.create_user("bob").await;
    for attempt in 1..=3 {
        let resp = app.login_response("bob", "wrong-password").await;
        assert_eq!(
            resp.status().as_u16(),
            401,
            "attempt {attempt} should still be judged on its password"
        );
    }
    // The limit is reached: even the right password is refused for now.
    let blocked = assert_status(app.login_response("bob", USER_PASSWORD).await, 429).await;
    assert!(
        blocked["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{blocked}"
    );
    assert_status(app.login_response("BOB", "wrong-password").await, 429).await;
    // Per account: others sign in as usual.
    app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
}

async fn refresh_rotates_the_pair_and_tolerates_a_quick_reuse(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("bob").await;
    let first = app.login("bob", USER_PASSWORD).await;

    let second: Token =
        serde_json::from_value(assert_status(app.refresh_response(&first.refresh_token).await, 200).await)
            .unwrap();
    assert_eq!(second.token_type, "bearer");
    assert_eq!(second.expires_in, 30 * 60);
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(second.refresh_token, first.refresh_token);
    let me = assert_status(app.get("/users/me", Some(&second.access_token)).await, 200).await;
    assert_eq!(me["username"], "bob");
    // Rotation does not end the session: the earlier access token lives until it expires.
    assert_status(app.get("/users/me", Some(&first.access_token)).await, 200).await;

    // Two tabs refreshing at once: the spent token, presented again within the grace
    // period, gets a fresh pair instead of revoking the session.
    let third: Token =
        serde_json::from_value(assert_status(app.refresh_response(&first.refresh_token).await, 200).await)
            .unwrap();
    assert_ne!(third.refresh_token, second.refresh_token);
    assert_ne!(third.access_token, second.access_token);
    assert_status(app.get("/users/me", Some(&third.access_token)).await, 200).await;
    assert_status(app.get("/users/me", Some(&second.access_token)).await, 200).await;
    // And the newest tokens of both tabs still rotate.
    assert_status(app.refresh_response(&second.refresh_token).await, 200).await;
    assert_status(app.refresh_response(&third.refresh_token).await, 200).await;
}

async fn tokens_cannot_stand_in_for_each_other(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("bob").await;
    let t = app.login("bob", USER_PASSWORD).await;

    assert_unauthorized(app.refresh_response(&t.access_token).await).await;
    assert_unauthorized(app.get("/users/me", Some(&t.refresh_token)).await).await;
    assert_unauthorized(app.post_empty("/login/test-token", Some(&t.refresh_token)).await).await;
    assert_unauthorized(app.refresh_response("not-a-jwt").await).await;
    assert_unauthorized(app.get("/users/me", Some("not-a-jwt")).await).await;

    // A forged signature: the access token's header and claims with another signature.
    let (head, _) = t.access_token.rsplit_once('.').unwrap();
    let (_, other_sig) = t.refresh_token.rsplit_once('.').unwrap();
    assert_unauthorized(app.get("/users/me", Some(&format!("{head}.{other_sig}"))).await).await;
    // An unsigned token ("alg": "none") with the same claims.
    let claims = head.split('.').nth(1).unwrap();
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    assert_unauthorized(
        app.get("/users/me", Some(&format!("{none_header}.{claims}.")))
            .await,
    )
    .await;

    // The request shape is checked before any token is.
    assert_422(
        app.post("/login/refresh-token", None, &json!({})).await,
        &["body", "refresh_token"],
    )
    .await;
    assert_422(
        app.post(
            "/login/refresh-token",
            None,
            &json!({"refresh_token": t.refresh_token, "extra": 1}),
        )
        .await,
        &["body", "extra"],
    )
    .await;
    // None of this hurt the session.
    assert_status(app.get("/users/me", Some(&t.access_token)).await, 200).await;
    assert_status(app.refresh_response(&t.refresh_token).await, 200).await;
}

/// The one test that waits: reuse detection is defined by the time since the token was
/// spent (more than 10 s), and we test it from the outside.
async fn reusing_a_spent_refresh_token_later_revokes_the_session(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("bob").await;
    let stolen = app.login("bob", USER_PASSWORD).await;
    let other_device = app.login("bob", USER_PASSWORD).await;
    let rotated: Token =
        serde_json::from_value(assert_status(app.refresh_response(&stolen.refresh_token).await, 200).await)
            .unwrap();

    tokio::time::sleep(Duration::from_secs(11)).await;

    // The spent token comes back after the grace period: someone copied it.
    assert_unauthorized(app.refresh_response(&stolen.refresh_token).await).await;
    // The whole session (refresh family) is gone: its newest tokens too.
    assert_unauthorized(app.refresh_response(&rotated.refresh_token).await).await;
    assert_unauthorized(app.get("/users/me", Some(&rotated.access_token)).await).await;
    assert_unauthorized(app.get("/users/me", Some(&stolen.access_token)).await).await;
    // Only that session: the user's other device is still signed in.
    assert_status(app.get("/users/me", Some(&other_device.access_token)).await, 200).await;
    assert_status(app.refresh_response(&other_device.refresh_token).await, 200).await;
}

async fn logout_ends_only_that_session(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    app.create_user("bob").await;
    let laptop = app.login("bob", USER_PASSWORD).await;
    let phone = app.login("bob", USER_PASSWORD).await;

    let body = assert_status(app.post_empty("/logout", Some(&laptop.access_token)).await, 200).await;
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");

    assert_unauthorized(app.get("/users/me", Some(&laptop.access_token)).await).await;
    assert_unauthorized(
        app.post_empty("/login/test-token", Some(&laptop.access_token))
            .await,
    )
    .await;
    assert_unauthorized(app.refresh_response(&laptop.refresh_token).await).await;
    assert_unauthorized(app.post_empty("/logout", Some(&laptop.access_token)).await).await;

    assert_status(app.get("/users/me", Some(&phone.access_token)).await, 200).await;
    assert_status(app.refresh_response(&phone.refresh_token).await, 200).await;
}

async fn anonymous_and_bad_tokens_get_a_bearer_challenge(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let body = assert_unauthorized(app.get("/users/me", None).await).await;
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_unauthorized(app.post_empty("/login/test-token", None).await).await;
    assert_unauthorized(app.post_empty("/logout", None).await).await;
    assert_unauthorized(app.get("/users/me", Some("garbage")).await).await;
    // A scheme other than Bearer is no credential at all.
    let basic = app
        .client
        .get(app.api("/users/me"))
        .header("authorization", "Basic YWRtaW46YWRtaW4tdGVzdC1wYXNzd29yZA==")
        .send()
        .await
        .unwrap();
    assert_unauthorized(basic).await;
}

async fn registration_is_refused_when_closed(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let resp = app
        .post(
            "/register",
            None,
            &json!({"username": "carol", "email": "carol@example.com", "password": USER_PASSWORD}),
        )
        .await;
    let body = assert_status(resp, 403).await;
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    assert_eq!(app.user_count().await, 1, "nothing was created");
    assert_error(
        app.login_response("carol", USER_PASSWORD).await,
        401,
        "Incorrect username or password",
    )
    .await;
}

async fn open_registration_creates_a_regular_user(b: Backend) {
    let app = spawn_app(
        b,
        Opts {
            open_registration: true,
            ..Opts::default()
        },
    )
    .await;
    let user = assert_success(
        app.post(
            "/register",
            None,
            &json!({"username": "carol", "email": "carol@example.com", "password": USER_PASSWORD, "full_name": "Carol C"}),
        )
        .await,
    )
    .await;
    assert_user_public(&user);
    assert_eq!(user["username"], "carol");
    assert_eq!(user["email"], "carol@example.com");
    assert_eq!(user["full_name"], "Carol C");
    assert_eq!(user["is_superuser"], false);
    assert_eq!(user["is_active"], true);
    let t = app.login("carol", USER_PASSWORD).await;
    let me = assert_status(app.get("/users/me", Some(&t.access_token)).await, 200).await;
    assert_eq!(me["id"], user["id"]);

    // Nobody registers their way to privileges: the field does not exist here.
    let sneaky = app
        .post(
            "/register",
            None,
            &json!({"username": "mallory", "email": "mallory@example.com", "password": USER_PASSWORD, "is_superuser": true}),
        )
        .await;
    assert_422(sneaky, &["body", "is_superuser"]).await;
    // Same name in another case, same email: conflicts.
    let dup = app
        .post(
            "/register",
            None,
            &json!({"username": "CAROL", "email": "other@example.com", "password": USER_PASSWORD}),
        )
        .await;
    assert_status(dup, 409).await;
    let dup = app
        .post(
            "/register",
            None,
            &json!({"username": "carol2", "email": "Carol@Example.com", "password": USER_PASSWORD}),
        )
        .await;
    assert_status(dup, 409).await;
    let bad = app
        .post(
            "/register",
            None,
            &json!({"username": "dave", "email": "not-an-email", "password": USER_PASSWORD}),
        )
        .await;
    assert_422(bad, &["body", "email"]).await;
    assert_eq!(app.user_count().await, 2, "admin and carol only");
}
