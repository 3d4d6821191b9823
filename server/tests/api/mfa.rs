//! Two-factor sign-in over REST: set-up and enabling with a code computed from the secret
//! (as an authenticator app would), sign-in with a code, a code used once, recovery codes
//! spent once, wrong codes throttled like passwords, a role that requires it setting it up
//! at sign-in, turning it off, and a superuser's reset (audited). Who may call each
//! endpoint from every side is in `authz.rs`.

use serde_json::{json, Value};
use vcore_domain::mfa::{code_at, MFA_ENROL, MFA_INVALID, MFA_REQUIRED};

use crate::helpers::*;

both_backends!(
    totp_sign_in_from_set_up_to_off,
    wrong_codes_are_throttled_like_passwords,
    a_role_that_requires_it_sets_it_up_at_sign_in,
    a_superuser_resets_another_users_factor,
);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code an app shows `steps` steps (30 s each) from now.
fn code(secret: &str, steps: i64) -> String {
    code_at(secret, (unix_now() as i64 + steps * 30) as u64).unwrap()
}

async fn sign_in(app: &TestApp, username: &str, password: &str, mfa_code: Option<&str>) -> reqwest::Response {
    let mut form = vec![("username", username), ("password", password)];
    if let Some(c) = mfa_code {
        form.push(("mfa_code", c));
    }
    app.send_raw(
        reqwest::Method::POST,
        "/login/access-token",
        None,
        Some("application/x-www-form-urlencoded"),
        form_body(&form),
    )
    .await
}

/// Sets up and turns on a factor for `token`'s user; returns the secret and recovery codes.
async fn enable(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let setup = assert_status(app.post_empty("/users/me/mfa/setup", Some(token)).await, 200).await;
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["otpauth_uri"]
        .as_str()
        .unwrap()
        .contains(&format!("secret={secret}")));
    assert!(setup["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let on = assert_status(
        app.post(
            "/users/me/mfa/enable",
            Some(token),
            &json!({ "code": code(&secret, 0) }),
        )
        .await,
        200,
    )
    .await;
    let codes: Vec<String> = serde_json::from_value(on["recovery_codes"].clone()).unwrap();
    (secret, codes)
}

async fn totp_sign_in_from_set_up_to_off(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let alice = app.create_and_login("alice").await;
    let status = assert_status(app.get("/users/me/mfa", Some(alice.access())).await, 200).await;
    assert_eq!(
        status,
        json!({ "enabled": false, "recovery_codes_left": 0, "required": false })
    );
    // Enabling needs a set-up first, then the app's current code.
    assert_422(
        app.post(
            "/users/me/mfa/enable",
            Some(alice.access()),
            &json!({ "code": "123456" }),
        )
        .await,
        &["body", "code"],
    )
    .await;
    let setup = assert_status(
        app.post_empty("/users/me/mfa/setup", Some(alice.access())).await,
        200,
    )
    .await;
    let secret = setup["secret"].as_str().unwrap();
    let wrong = format!("{:06}", (code(secret, 0).parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_422(
        app.post(
            "/users/me/mfa/enable",
            Some(alice.access()),
            &json!({ "code": wrong }),
        )
        .await,
        &["body", "code"],
    )
    .await;
    // Still off: sign-in needs the password only.
    assert_status(sign_in(&app, "alice", USER_PASSWORD, None).await, 200).await;
    let (secret, recovery) = enable(&app, alice.access()).await;
    assert_eq!(recovery.len(), 10);
    assert_status(
        app.post_empty("/users/me/mfa/setup", Some(alice.access())).await,
        409,
    )
    .await;

    // Sign-in: without a code, with a wrong one, with the code just used (once only), then
    // with the next one.
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, None).await,
        401,
        MFA_REQUIRED,
    )
    .await;
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, Some("000000x")).await,
        401,
        MFA_INVALID,
    )
    .await;
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, Some(&code(&secret, 0))).await,
        401,
        MFA_INVALID,
    )
    .await;
    let next = code(&secret, 1);
    let token = assert_status(sign_in(&app, "alice", USER_PASSWORD, Some(&next)).await, 200).await;
    assert!(
        token["access_token"].is_string() && token.get("recovery_codes").is_none(),
        "{token}"
    );
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, Some(&next)).await,
        401,
        MFA_INVALID,
    )
    .await;
    // The password is still checked first.
    assert_status(
        sign_in(&app, "alice", "not-the-password", Some(&code(&secret, 1))).await,
        401,
    )
    .await;

    // A recovery code, typed loosely, works once.
    let loose = format!(" {} ", recovery[0].to_uppercase());
    let by_recovery = assert_status(sign_in(&app, "alice", USER_PASSWORD, Some(&loose)).await, 200).await;
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, Some(&recovery[0])).await,
        401,
        MFA_INVALID,
    )
    .await;
    let fresh = by_recovery["access_token"].as_str().unwrap();
    let status = assert_status(app.get("/users/me/mfa", Some(fresh)).await, 200).await;
    assert_eq!(status["enabled"], true);
    assert_eq!(status["recovery_codes_left"], 9);

    // Turning it off: not with a key, not with a wrong code; with a recovery code.
    let key = assert_status(
        app.post(
            "/api-keys/",
            Some(fresh),
            &json!({ "name": "k", "scopes": ["admin", "jobs:read"] }),
        )
        .await,
        201,
    )
    .await;
    let key = key["secret"].as_str().unwrap();
    assert_status(
        app.post(
            "/users/me/mfa/disable",
            Some(key),
            &json!({ "code": recovery[1] }),
        )
        .await,
        403,
    )
    .await;
    assert_status(app.post_empty("/users/me/mfa/setup", Some(key)).await, 403).await;
    assert_422(
        app.post(
            "/users/me/mfa/disable",
            Some(fresh),
            &json!({ "code": recovery[0] }),
        )
        .await,
        &["body", "code"],
    )
    .await;
    assert_status(
        app.post(
            "/users/me/mfa/disable",
            Some(fresh),
            &json!({ "code": recovery[1] }),
        )
        .await,
        200,
    )
    .await;
    assert_status(sign_in(&app, "alice", USER_PASSWORD, None).await, 200).await;
    assert_status(
        app.post(
            "/users/me/mfa/disable",
            Some(fresh),
            &json!({ "code": recovery[2] }),
        )
        .await,
        409,
    )
    .await;
    // Bad input: a 422 naming the field.
    assert_422(
        app.post("/users/me/mfa/enable", Some(fresh), &json!({ "code": 7 }))
            .await,
        &["body", "code"],
    )
    .await;
    assert_422(
        app.post("/users/me/mfa/enable", Some(fresh), &json!({ "cod": "1" }))
            .await,
        &["body", "cod"],
    )
    .await;

    // Audited: enabling and turning off, as alice, on alice.
    let admin = app.admin_token().await;
    let log = assert_status(app.get("/audit-log/?action=mfa.", Some(&admin)).await, 200).await;
    let entries: Vec<(String, String, String)> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
                e["target_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let alice_id = alice.id.to_string();
    for (action, outcome) in [
        ("mfa.enable", "success"),
        ("mfa.disable", "success"),
        ("mfa.disable", "denied"),
    ] {
        assert!(
            entries.contains(&(action.into(), outcome.into(), alice_id.clone())),
            "{action} {outcome} missing: {entries:?}"
        );
    }
}

async fn wrong_codes_are_throttled_like_passwords(b: Backend) {
    let app = spawn_app(
        b,
        Opts {
            login_max_failures: Some(3),
            ..Opts::default()
        },
    )
    .await;
    let alice = app.create_and_login("alice").await;
    let (secret, _) = enable(&app, alice.access()).await;
    for _ in 0..3 {
        assert_error(
            sign_in(&app, "alice", USER_PASSWORD, Some("999999")).await,
            401,
            MFA_INVALID,
        )
        .await;
    }
    // Now even the right password and code wait.
    assert_status(
        sign_in(&app, "alice", USER_PASSWORD, Some(&code(&secret, 1))).await,
        429,
    )
    .await;
    // The failures were audited as sign-in failures with the reason.
    let admin_log = {
        // The admin is another account: not throttled.
        let admin = app.admin_token().await;
        assert_status(
            app.get("/audit-log/?action=auth.login&outcome=failure", Some(&admin))
                .await,
            200,
        )
        .await
    };
    let wrong = admin_log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["reason"] == MFA_INVALID)
        .count();
    assert_eq!(wrong, 3, "{admin_log}");
}

async fn a_role_that_requires_it_sets_it_up_at_sign_in(b: Backend) {
    let app = spawn_app(
        b,
        Opts {
            env: vec![("MFA_REQUIRED_FOR", "operator".into())],
            ..Opts::default()
        },
    )
    .await;
    let setup_form = |u: &str, p: &str| form_body(&[("username", u), ("password", p)]);
    let setup = |body: String| {
        app.send_raw(
            reqwest::Method::POST,
            "/login/mfa-setup",
            None,
            Some("application/x-www-form-urlencoded"),
            body,
        )
    };
    // The superuser too (operator covers superusers): set up at the first sign-in.
    assert_error(
        sign_in(&app, ADMIN_USERNAME, ADMIN_PASSWORD, None).await,
        401,
        MFA_ENROL,
    )
    .await;
    let made = assert_status(setup(setup_form(ADMIN_USERNAME, ADMIN_PASSWORD)).await, 200).await;
    let admin = assert_status(
        sign_in(
            &app,
            ADMIN_USERNAME,
            ADMIN_PASSWORD,
            Some(&code(made["secret"].as_str().unwrap(), 0)),
        )
        .await,
        200,
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap().to_string();
    for (name, role) in [("oscar", "operator"), ("ursula", "user")] {
        let body = json!({
            "username": name, "email": format!("{name}@example.com"),
            "password": USER_PASSWORD, "role": role,
        });
        assert_status(app.post("/users/", Some(&admin), &body).await, 201).await;
    }
    assert_status(sign_in(&app, "ursula", USER_PASSWORD, None).await, 200).await;
    assert_error(sign_in(&app, "oscar", USER_PASSWORD, None).await, 401, MFA_ENROL).await;
    // The password is checked; a user whose role does not require it uses the profile.
    assert_status(setup(setup_form("oscar", "wrong-password")).await, 401).await;
    assert_status(setup(setup_form("ursula", USER_PASSWORD)).await, 409).await;
    let made = assert_status(setup(setup_form("oscar", USER_PASSWORD)).await, 200).await;
    let secret = made["secret"].as_str().unwrap();
    // A wrong code leaves it pending; the right one turns it on and answers the codes.
    assert_error(
        sign_in(&app, "oscar", USER_PASSWORD, Some("000000")).await,
        401,
        MFA_INVALID,
    )
    .await;
    let token = assert_status(
        sign_in(&app, "oscar", USER_PASSWORD, Some(&code(secret, 0))).await,
        200,
    )
    .await;
    let codes = token["recovery_codes"].as_array().expect("recovery codes");
    assert_eq!(codes.len(), 10, "{token}");
    let status = assert_status(
        app.get("/users/me/mfa", token["access_token"].as_str()).await,
        200,
    )
    .await;
    assert_eq!(
        status,
        json!({ "enabled": true, "recovery_codes_left": 10, "required": true })
    );
    // Audited as oscar's, from this address.
    let log = assert_status(
        app.get("/audit-log/?action=mfa.enable&actor=oscar", Some(&admin))
            .await,
        200,
    )
    .await;
    assert_eq!(log["count"], 1, "{log}");
    assert_eq!(log["data"][0]["ip"], "127.0.0.1", "{log}");
    assert_eq!(log["data"][0]["detail"], json!({ "at": "sign-in" }));
    // From now on the code is asked like anyone's; setting up again is refused.
    assert_error(
        sign_in(&app, "oscar", USER_PASSWORD, None).await,
        401,
        MFA_REQUIRED,
    )
    .await;
    assert_status(setup(setup_form("oscar", USER_PASSWORD)).await, 409).await;
    assert_status(
        sign_in(&app, "oscar", USER_PASSWORD, Some(&code(secret, 1))).await,
        200,
    )
    .await;
    // Bad input.
    assert_422(setup("username=oscar".into()).await, &["body", "password"]).await;
}

async fn a_superuser_resets_another_users_factor(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    enable(&app, alice.access()).await;
    let path = format!("/users/{}/mfa", alice.id);
    assert_status(app.delete(&path, None).await, 401).await;
    assert_status(app.delete(&path, Some(bob.access())).await, 403).await;
    assert_status(app.delete(&path, Some(alice.access())).await, 403).await;
    let narrow: Value = assert_status(
        app.post(
            "/api-keys/",
            Some(&admin),
            &json!({ "name": "k", "scopes": ["jobs:read", "jobs:write", "schedulers"] }),
        )
        .await,
        201,
    )
    .await;
    assert_status(app.delete(&path, narrow["secret"].as_str()).await, 403).await;
    assert_error(
        sign_in(&app, "alice", USER_PASSWORD, None).await,
        401,
        MFA_REQUIRED,
    )
    .await;
    let removed = assert_status(app.delete(&path, Some(&admin)).await, 200).await;
    assert_eq!(removed["message"], "Second factor removed");
    assert_status(sign_in(&app, "alice", USER_PASSWORD, None).await, 200).await;
    let again = assert_status(app.delete(&path, Some(&admin)).await, 200).await;
    assert_eq!(again["message"], "The user had no second factor");
    assert_status(app.delete("/users/999999/mfa", Some(&admin)).await, 404).await;
    assert_status(app.delete("/users/x/mfa", Some(&admin)).await, 422).await;

    let log = assert_status(app.get("/audit-log/?action=mfa.reset", Some(&admin)).await, 200).await;
    let rows = log["data"].as_array().unwrap();
    let ok: Vec<&Value> = rows.iter().filter(|e| e["outcome"] == "success").collect();
    assert_eq!(ok.len(), 2, "{log}");
    assert_eq!(ok[0]["detail"], json!({ "removed": false }), "newest first");
    assert_eq!(ok[1]["detail"], json!({ "removed": true }));
    let ok = &ok[1..];
    assert_eq!(ok[0]["actor_name"], ADMIN_USERNAME);
    assert_eq!(ok[0]["target_id"], alice.id.to_string());
    assert_eq!(ok[0]["ip"], "127.0.0.1");
    assert!(
        rows.iter()
            .any(|e| e["outcome"] == "denied" && e["actor_name"] == "bob"),
        "bob's refused try is recorded: {log}"
    );
}
