//! API rate limits: a token bucket per caller (a session's user, an API key) and per
//! address; a 429 with `Retry-After` beyond them, served again once the bucket refills;
//! others, the probes and the pages unaffected.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

both_backends!(
    each_caller_has_a_bucket_and_a_refusal_says_when_to_retry,
    each_address_has_a_bucket_and_pages_and_probes_are_free,
);

async fn each_caller_has_a_bucket_and_a_refusal_says_when_to_retry(b: Backend) {
    let opts = Opts {
        env: vec![
            ("RATE_LIMIT_PER_SEC", "1".into()),
            ("RATE_LIMIT_BURST", "3".into()),
        ],
        ..Default::default()
    };
    let app = spawn_app(b, opts).await;
    let alice = app.create_and_login("alice").await;
    let bob = app.create_and_login("bob").await;
    for _ in 0..3 {
        assert_status(app.get("/users/me", Some(alice.access())).await, 200).await;
    }
    let refused = app.get("/users/me", Some(alice.access())).await;
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body = assert_status(refused, 429).await;
    assert!(
        body["detail"].as_str().unwrap().starts_with("Too many requests"),
        "{body}"
    );
    // Bob has a bucket of his own.
    assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    // A key has a bucket apart from its owner's session.
    let made = assert_status(
        app.post(
            "/api-keys/",
            Some(bob.access()),
            &json!({"name": "k", "scopes": ["jobs:read"]}),
        )
        .await,
        201,
    )
    .await;
    let key = made["secret"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_status(app.get("/jobs/", Some(&key)).await, 200).await;
    }
    assert_status(app.get("/jobs/", Some(&key)).await, 429).await;
    // Once the bucket has refilled, alice is served again.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    assert_status(app.get("/users/me", Some(alice.access())).await, 200).await;
}

async fn each_address_has_a_bucket_and_pages_and_probes_are_free(b: Backend) {
    let opts = Opts {
        env: vec![
            ("RATE_LIMIT_IP_PER_SEC", "1".into()),
            ("RATE_LIMIT_IP_BURST", "2".into()),
        ],
        ..Default::default()
    };
    let app = spawn_app(b, opts).await;
    for _ in 0..2 {
        assert_status(app.get("/openapi.json", None).await, 200).await;
    }
    let refused = app.get("/openapi.json", None).await;
    assert!(refused.headers().contains_key("retry-after"));
    assert_status(refused, 429).await;
    // Sign-in is an API call too: limited by address even before any account is known.
    assert_status(app.login_response("nobody", "whatever-password").await, 429).await;
    for _ in 0..5 {
        let probe = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(probe.status(), 200);
        let page = app.client.get(app.url("/login")).send().await.unwrap();
        assert_eq!(page.status(), 200);
    }
}
