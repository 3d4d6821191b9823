//! The users endpoints (S3): what each does to the stored accounts and to sessions, and the
//! invariants (unique names, the last superuser). Who may call what is in `authz`.
//!
//! Longer than our ~400-line habit on purpose: a catalogue of independent scenarios, each
//! read top to bottom; splitting it would only scatter one resource over files.

use serde_json::json;

use crate::helpers::*;

both_backends!(
    users_read_and_update_their_own_profile,
    password_change_checks_the_current_one_and_ends_sessions,
    superuser_lists_users_in_pages,
    superuser_creates_reads_and_updates_users,
    names_and_emails_are_unique_whatever_the_case,
    deactivating_a_user_ends_their_sessions,
    superuser_password_reset_ends_sessions,
    superuser_deletes_users_but_not_themselves,
    the_last_active_superuser_is_protected,
    users_may_edit_themselves_but_not_their_privileges,
);

async fn users_read_and_update_their_own_profile(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_user_public(&me);
    assert_eq!(me["id"], bob.id);
    assert_eq!(me["username"], "bob");
    assert_eq!(me["email"], "bob@example.com");
    assert_eq!(me["full_name"], "bob Tester");
    assert_eq!(me["is_superuser"], false);

    let updated = assert_status(
        app.put(
            "/users/me",
            Some(bob.access()),
            &json!({"full_name": "  Robert  ", "email": "Robert@Example.COM"}),
        )
        .await,
        200,
    )
    .await;
    assert_user_public(&updated);
    assert_eq!(updated["full_name"], "Robert", "trimmed");
    assert_eq!(
        updated["email"], "robert@example.com",
        "emails are stored lower-case"
    );
    assert_eq!(updated["username"], "bob", "untouched fields stay");
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["email"], "robert@example.com");
    assert_eq!(me["full_name"], "Robert");
    assert_eq!(me["created_at"], updated["created_at"]);

    // An empty full name clears it; an empty update changes nothing.
    let cleared = assert_status(
        app.put("/users/me", Some(bob.access()), &json!({"full_name": ""}))
            .await,
        200,
    )
    .await;
    assert!(cleared["full_name"].is_null(), "{cleared}");
    let same = assert_status(app.put("/users/me", Some(bob.access()), &json!({})).await, 200).await;
    assert_eq!(same["email"], "robert@example.com");

    // Renaming oneself works, and the new name signs in.
    assert_status(
        app.put("/users/me", Some(bob.access()), &json!({"username": "robert"}))
            .await,
        200,
    )
    .await;
    app.login("robert", USER_PASSWORD).await;

    // Privileges are not part of one's profile.
    assert_422(
        app.put("/users/me", Some(bob.access()), &json!({"is_superuser": true}))
            .await,
        &["body", "is_superuser"],
    )
    .await;
    assert_422(
        app.put("/users/me", Some(bob.access()), &json!({"is_active": false}))
            .await,
        &["body", "is_active"],
    )
    .await;
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["is_superuser"], false);
    assert_eq!(me["is_active"], true);
}

async fn password_change_checks_the_current_one_and_ends_sessions(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let other_session = app.login("bob", USER_PASSWORD).await;
    let path = "/users/me/password";
    let new_password = "brand-new-password";

    let wrong = app
        .post(
            path,
            Some(bob.access()),
            &json!({"current_password": "not-it-at-all", "new_password": new_password}),
        )
        .await;
    assert_422(wrong, &["body", "current_password"]).await;
    let short = app
        .post(
            path,
            Some(bob.access()),
            &json!({"current_password": USER_PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_422(short, &["body", "new_password"]).await;
    let same = app
        .post(
            path,
            Some(bob.access()),
            &json!({"current_password": USER_PASSWORD, "new_password": USER_PASSWORD}),
        )
        .await;
    assert_422(same, &["body", "new_password"]).await;
    let missing = app
        .post(path, Some(bob.access()), &json!({"new_password": new_password}))
        .await;
    assert_422(missing, &["body", "current_password"]).await;
    // Refused attempts changed nothing: the session and the old password still work.
    assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;

    let ok = assert_status(
        app.post(
            path,
            Some(bob.access()),
            &json!({"current_password": USER_PASSWORD, "new_password": new_password}),
        )
        .await,
        200,
    )
    .await;
    assert!(ok["message"].as_str().is_some_and(|m| !m.is_empty()), "{ok}");

    // Every session of the user ends, this one included.
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
    assert_unauthorized(app.get("/users/me", Some(&other_session.access_token)).await).await;
    assert_unauthorized(app.refresh_response(&other_session.refresh_token).await).await;
    assert_error(
        app.login_response("bob", USER_PASSWORD).await,
        401,
        "Incorrect username or password",
    )
    .await;
    let fresh = app.login("bob", new_password).await;
    assert_status(app.get("/users/me", Some(&fresh.access_token)).await, 200).await;
}

async fn superuser_lists_users_in_pages(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let alice = app.create_user("alice").await;
    let bob = app.create_user("bob").await;

    let page = assert_status(app.get("/users/", Some(&admin)).await, 200).await;
    assert_eq!(page["count"], 3, "{page}");
    let data = page["data"].as_array().expect("data is a list");
    let names: Vec<&str> = data.iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice", "bob"], "oldest first");
    data.iter().for_each(assert_user_public);

    let second = assert_status(app.get("/users/?offset=1&limit=1", Some(&admin)).await, 200).await;
    assert_eq!(
        second["count"], 3,
        "count is the total, not the page size: {second}"
    );
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["id"], alice["id"]);
    let third = assert_status(app.get("/users/?offset=2&limit=5", Some(&admin)).await, 200).await;
    assert_eq!(third["data"].as_array().unwrap().len(), 1);
    assert_eq!(third["data"][0]["id"], bob["id"]);
    let past_the_end = assert_status(app.get("/users/?offset=10", Some(&admin)).await, 200).await;
    assert_eq!(past_the_end["data"], json!([]));
    assert_eq!(past_the_end["count"], 3);
    let max = assert_status(app.get("/users/?limit=1000", Some(&admin)).await, 200).await;
    assert_eq!(max["data"].as_array().unwrap().len(), 3);
}

async fn superuser_creates_reads_and_updates_users(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let created = assert_success(
        app.post(
            "/users/",
            Some(&admin),
            &json!({"username": "Alice", "email": "alice@example.com", "password": USER_PASSWORD, "full_name": "Alice A"}),
        )
        .await,
    )
    .await;
    assert_user_public(&created);
    assert_eq!(created["username"], "alice", "usernames are stored lower-case");
    assert_eq!(created["full_name"], "Alice A");
    assert_eq!(created["is_active"], true, "active by default");
    assert_eq!(created["is_superuser"], false, "regular by default");
    let id = id_of(&created);

    let fetched = assert_status(app.get(&format!("/users/{id}"), Some(&admin)).await, 200).await;
    assert_eq!(fetched, created);

    let updated = assert_status(
        app.put(
            &format!("/users/{id}"),
            Some(&admin),
            &json!({"full_name": "Alice Admin", "is_superuser": true}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["full_name"], "Alice Admin");
    assert_eq!(updated["is_superuser"], true);
    assert_eq!(updated["email"], "alice@example.com");

    // The promotion is real: alice can now do superuser things.
    let alice = app.login("alice", USER_PASSWORD).await;
    let me = assert_status(
        app.post_empty("/login/test-token", Some(&alice.access_token))
            .await,
        200,
    )
    .await;
    assert_eq!(me["is_superuser"], true);
    assert_status(app.get("/users/", Some(&alice.access_token)).await, 200).await;

    // A superuser may also create another superuser directly, and inactive accounts.
    let root2 = app
        .create_user_with(json!({"username": "root2", "email": "root2@example.com", "password": USER_PASSWORD, "is_superuser": true, "is_active": false}))
        .await;
    assert_eq!(root2["is_superuser"], true);
    assert_eq!(root2["is_active"], false);
    assert_eq!(app.user_count().await, 3);
}

async fn names_and_emails_are_unique_whatever_the_case(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    app.create_user("alice").await;
    let bob = app.create_and_login("bob").await;

    let same_name = app
        .post(
            "/users/",
            Some(&admin),
            &json!({"username": "ALICE", "email": "new@example.com", "password": USER_PASSWORD}),
        )
        .await;
    let body = assert_status(same_name, 409).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("username")),
        "the conflict names the field: {body}"
    );
    let same_email = app
        .post(
            "/users/",
            Some(&admin),
            &json!({"username": "alice2", "email": "Alice@Example.com", "password": USER_PASSWORD}),
        )
        .await;
    let body = assert_status(same_email, 409).await;
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("email")),
        "the conflict names the field: {body}"
    );

    // Renames into someone else's name or email conflict too, from any endpoint.
    assert_status(
        app.put("/users/me", Some(bob.access()), &json!({"username": "alice"}))
            .await,
        409,
    )
    .await;
    assert_status(
        app.put(
            "/users/me",
            Some(bob.access()),
            &json!({"email": "ALICE@example.com"}),
        )
        .await,
        409,
    )
    .await;
    assert_status(
        app.put(
            &format!("/users/{}", bob.id),
            Some(&admin),
            &json!({"username": "admin"}),
        )
        .await,
        409,
    )
    .await;
    assert_status(
        app.put(
            &format!("/users/{}", bob.id),
            Some(&admin),
            &json!({"email": ADMIN_EMAIL}),
        )
        .await,
        409,
    )
    .await;
    // Keeping one's own name is no conflict.
    assert_status(
        app.put(
            "/users/me",
            Some(bob.access()),
            &json!({"username": "bob", "email": "bob@example.com"}),
        )
        .await,
        200,
    )
    .await;

    assert_eq!(app.user_count().await, 3);
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["username"], "bob");
    assert_eq!(me["email"], "bob@example.com");
}

async fn deactivating_a_user_ends_their_sessions(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    let path = format!("/users/{}", bob.id);

    let off = assert_status(
        app.put(&path, Some(&admin), &json!({"is_active": false})).await,
        200,
    )
    .await;
    assert_eq!(off["is_active"], false);
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
    assert_unauthorized(app.refresh_response(&bob.token.refresh_token).await).await;
    assert_422(
        app.login_response("bob", USER_PASSWORD).await,
        &["body", "username"],
    )
    .await;

    let on = assert_status(
        app.put(&path, Some(&admin), &json!({"is_active": true})).await,
        200,
    )
    .await;
    assert_eq!(on["is_active"], true);
    let t = app.login("bob", USER_PASSWORD).await;
    assert_status(app.get("/users/me", Some(&t.access_token)).await, 200).await;
}

async fn superuser_password_reset_ends_sessions(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let bob = app.create_and_login("bob").await;
    assert_status(
        app.put(
            &format!("/users/{}", bob.id),
            Some(&admin),
            &json!({"password": "set-by-the-admin"}),
        )
        .await,
        200,
    )
    .await;
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
    assert_error(
        app.login_response("bob", USER_PASSWORD).await,
        401,
        "Incorrect username or password",
    )
    .await;
    app.login("bob", "set-by-the-admin").await;
    // The admin's own session is unaffected.
    assert_status(app.get("/users/me", Some(&admin)).await, 200).await;
}

async fn superuser_deletes_users_but_not_themselves(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let admin_id = app.admin_id().await;
    let bob = app.create_and_login("bob").await;
    let path = format!("/users/{}", bob.id);

    let body = assert_success(app.delete(&path, Some(&admin)).await).await;
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_status(app.get(&path, Some(&admin)).await, 404).await;
    assert_status(app.delete(&path, Some(&admin)).await, 404).await;
    assert_status(
        app.put(&path, Some(&admin), &json!({"full_name": "ghost"})).await,
        404,
    )
    .await;
    // The deleted account's sessions and credentials are gone with it.
    assert_unauthorized(app.get("/users/me", Some(bob.access())).await).await;
    assert_unauthorized(app.refresh_response(&bob.token.refresh_token).await).await;
    assert_error(
        app.login_response("bob", USER_PASSWORD).await,
        401,
        "Incorrect username or password",
    )
    .await;
    assert_eq!(app.user_count().await, 1);
    // The name is free again.
    app.create_user("bob").await;

    let own = assert_status(app.delete(&format!("/users/{admin_id}"), Some(&admin)).await, 403).await;
    assert!(own["detail"].as_str().is_some_and(|d| !d.is_empty()), "{own}");
    assert_status(app.get("/users/me", Some(&admin)).await, 200).await;
}

async fn the_last_active_superuser_is_protected(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let admin = app.admin_token().await;
    let admin_path = format!("/users/{}", app.admin_id().await);

    assert_status(
        app.put(&admin_path, Some(&admin), &json!({"is_superuser": false}))
            .await,
        409,
    )
    .await;
    assert_status(
        app.put(&admin_path, Some(&admin), &json!({"is_active": false}))
            .await,
        409,
    )
    .await;
    let me = assert_status(app.post_empty("/login/test-token", Some(&admin)).await, 200).await;
    assert_eq!(me["is_superuser"], true);
    assert_eq!(me["is_active"], true);

    // An inactive superuser does not count as a way back in.
    app.create_user_with(json!({"username": "dormant", "email": "dormant@example.com", "password": USER_PASSWORD, "is_superuser": true, "is_active": false}))
        .await;
    assert_status(
        app.put(&admin_path, Some(&admin), &json!({"is_superuser": false}))
            .await,
        409,
    )
    .await;

    // With a second active superuser, the first may step down…
    let root2 = app
        .create_user_with(json!({"username": "root2", "email": "root2@example.com", "password": USER_PASSWORD, "is_superuser": true}))
        .await;
    let demoted = assert_status(
        app.put(&admin_path, Some(&admin), &json!({"is_superuser": false}))
            .await,
        200,
    )
    .await;
    assert_eq!(demoted["is_superuser"], false);
    assert_status(app.get("/users/", Some(&admin)).await, 403).await;
    // …and then the second is the last one.
    let root2_token = app.login("root2", USER_PASSWORD).await.access_token;
    let root2_path = format!("/users/{}", id_of(&root2));
    assert_status(
        app.put(&root2_path, Some(&root2_token), &json!({"is_superuser": false}))
            .await,
        409,
    )
    .await;
    assert_status(
        app.put(&root2_path, Some(&root2_token), &json!({"is_active": false}))
            .await,
        409,
    )
    .await;
    assert_status(app.get("/users/", Some(&root2_token)).await, 200).await;
}

async fn users_may_edit_themselves_but_not_their_privileges(b: Backend) {
    let app = spawn_app(b, Opts::default()).await;
    let bob = app.create_and_login("bob").await;
    let alice = app.create_user("alice").await;
    let own = format!("/users/{}", bob.id);

    let me = assert_status(app.get(&own, Some(bob.access())).await, 200).await;
    assert_eq!(me["username"], bob.username);
    let renamed = assert_status(
        app.put(&own, Some(bob.access()), &json!({"full_name": "Bobby"}))
            .await,
        200,
    )
    .await;
    assert_eq!(renamed["full_name"], "Bobby");

    for change in [
        json!({"is_superuser": true}),
        json!({"is_active": false}),
        json!({"is_active": true, "full_name": "x"}),
    ] {
        assert_status(app.put(&own, Some(bob.access()), &change).await, 403).await;
    }
    let me = assert_status(app.get("/users/me", Some(bob.access())).await, 200).await;
    assert_eq!(me["is_superuser"], false);
    assert_eq!(
        me["full_name"], "Bobby",
        "a refused request changes nothing, not even its allowed part"
    );

    let theirs = format!("/users/{}", id_of(&alice));
    assert_status(app.get(&theirs, Some(bob.access())).await, 403).await;
    assert_status(
        app.put(&theirs, Some(bob.access()), &json!({"full_name": "hacked"}))
            .await,
        403,
    )
    .await;
    assert_status(app.delete(&theirs, Some(bob.access())).await, 403).await;
    let admin = app.admin_token().await;
    let alice_now = assert_status(app.get(&theirs, Some(&admin)).await, 200).await;
    assert_eq!(alice_now, alice, "alice is untouched");
}
